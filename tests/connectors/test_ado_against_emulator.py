"""AdoConnector against the ADO emulator over real loopback HTTP (Services and Server flavours)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from connectors.ado import AdoConnector, AdoOptions
from connectors.contract import Scope, Watermark, Write
from connectors.errors import AuthError, ThrottledError, VersionConflict
from emulators.ado import AdoEmulator, HookPolicy

PAT = "emulator-canary-pat-0123456789"
HOOK_USER, HOOK_PASSWORD = "tandem", "hook-canary-secret-987"


class Receiver:
    """A webhook endpoint on loopback that records deliveries and can be told to fail."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict[str, Any]]] = []  # (Authorization, body)
        self.status = 200
        self._event = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with receiver._event:
                    if receiver.status == 200:
                        receiver.deliveries.append((self.headers.get("Authorization", ""), body))
                    receiver._event.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/hooks/ado"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self._event:
            self._event.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return [body for _, body in self.deliveries]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def services_emulator() -> Iterator[AdoEmulator]:
    with AdoEmulator("services", pat=PAT, hook_policy=HookPolicy.fast()) as ado:
        yield ado


@pytest.fixture(scope="module")
def server_emulator() -> Iterator[AdoEmulator]:
    with AdoEmulator("server", pat=PAT, max_api_version="6.0", hook_policy=HookPolicy.fast()) as ado:
        yield ado


@pytest.fixture
def ado(services_emulator: AdoEmulator) -> AdoEmulator:
    services_emulator.reset()
    services_emulator.seed_project("Fabrikam")
    return services_emulator


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connector(ado: AdoEmulator, sleeps: list[float]) -> Iterator[AdoConnector]:
    with AdoConnector("ado_services", ado.base_url, get_secret=lambda: PAT, sleep=sleeps.append) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def seed_dated(
    ado: AdoEmulator, count: int, start: datetime, step: timedelta, project: str = "Fabrikam"
) -> list[int]:
    """Items whose last change lies in the past, `step` apart (rules are bypassed when seeding)."""
    ids = []
    for i in range(count):
        when = (start + step * i).isoformat().replace("+00:00", "Z")
        fields = {"System.Title": f"item {i}", "System.ChangedDate": when, "System.CreatedDate": when}
        ids.append(ado.seed_work_item(project, "Task", fields))
    return ids


# --- work items ----------------------------------------------------------------------------------


def test_create_read_update_and_stale_rev(ado: AdoEmulator, connector: AdoConnector) -> None:
    (parent,) = connector.write(
        "workitem", [Write(container="Fabrikam", type="User Story", fields={"System.Title": "Epicish"})]
    )
    assert parent.ok and parent.item is not None
    (child,) = connector.write(
        "workitem",
        [
            Write(
                container="Fabrikam",
                type="Task",
                correlation_id="corr-1",
                parent_id=parent.item.id,
                fields={
                    "System.Title": "Do it",
                    "System.AssignedTo": "ann.chen@contoso.com",
                    "System.Tags": "Customer",
                },
            )
        ],
    )
    assert child.ok, child.error
    assert child.item is not None
    item_id = child.item.id

    (item,) = connector.read("workitem", [item_id])
    assert item.fields["System.Title"] == "Do it"
    assert item.fields["System.AssignedTo"] == "ann.chen@contoso.com"
    assert item.fields["System.Tags"] == "Customer"
    assert item.correlation_id == "corr-1"
    assert item.parent_id == parent.item.id
    assert (item.container, item.type, item.version) == ("Fabrikam", "Task", "1")
    assert item.changed_by == "tandem-sync@contoso.com"

    (updated,) = connector.write(
        "workitem",
        [Write(id=item_id, expected_version="1", fields={"System.Title": "Done it", "System.Tags": "VIP"})],
    )
    assert updated.ok, updated.error
    assert updated.item is not None and updated.item.version == "2"
    assert updated.item.fields["System.Tags"] == "VIP" and updated.item.correlation_id == "corr-1"

    (stale,) = connector.write(
        "workitem", [Write(id=item_id, expected_version="1", fields={"System.Title": "late"})]
    )
    assert isinstance(stale.error, VersionConflict)
    assert ado.state.get(int(item_id)).fields["System.Title"] == "Done it"


def test_stale_rev_rejected_by_the_server_is_a_version_conflict(
    ado: AdoEmulator, connector: AdoConnector
) -> None:
    item_id = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "a"})
    ado.state.update_work_item(item_id, {"System.Title": "someone else"}, by="ann.chen@contoso.com")
    (result,) = connector.write(
        "workitem", [Write(id=str(item_id), expected_version="1", fields={"System.Title": "b"})]
    )
    assert isinstance(result.error, VersionConflict)
    assert result.error.status == 412


def test_parent_change_and_field_removal(ado: AdoEmulator, connector: AdoConnector) -> None:
    a = ado.seed_work_item("Fabrikam", "User Story", {"System.Title": "A"})
    b = ado.seed_work_item("Fabrikam", "User Story", {"System.Title": "B"})
    child = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "c", "System.Description": "x"}, parent=a)
    (result,) = connector.write(
        "workitem",
        [Write(id=str(child), set_parent=True, parent_id=str(b), fields={"System.Description": None})],
    )
    assert result.ok, result.error
    assert result.item is not None
    assert result.item.parent_id == str(b)
    assert "System.Description" not in result.item.fields
    (old_parent,) = connector.read("workitem", [str(a)])
    assert old_parent.parent_id is None


def test_changes_since_a_watermark(ado: AdoEmulator, connector: AdoConnector) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    ids = seed_dated(ado, 5, start, timedelta(hours=1))
    pages = list(connector.changes("workitem", Watermark(), Scope(containers=["Fabrikam"])))
    assert [c.id for p in pages for c in p.changes] == [str(i) for i in ids]
    mark = pages[-1].next_watermark
    assert mark.at is not None

    assert [
        c for p in connector.changes("workitem", mark, Scope(containers=["Fabrikam"])) for c in p.changes
    ] == []

    ado.clock.advance(120)  # past the poll overlap
    ado.state.update_work_item(ids[2], {"System.Title": "edited"}, by="bob.smith@contoso.com")
    again = list(connector.changes("workitem", mark, Scope(containers=["Fabrikam"])))
    changes = [c for p in again for c in p.changes]
    assert [(c.id, c.version) for c in changes] == [(str(ids[2]), "2")]
    assert again[-1].next_watermark.at is not None and again[-1].next_watermark.at > mark.at


def test_scope_types_filter_and_start(ado: AdoEmulator, connector: AdoConnector) -> None:
    now = datetime.now(UTC)
    old = seed_dated(ado, 1, now - timedelta(days=10), timedelta(0))
    task = seed_dated(ado, 1, now - timedelta(days=1), timedelta(0))
    bug = ado.seed_work_item("Fabrikam", "Bug", {"System.Title": "bug"})
    scope = Scope(containers=["Fabrikam"], types=["Task"], start=now - timedelta(days=5))
    ids = [c.id for p in connector.changes("workitem", Watermark(), scope) for c in p.changes]
    assert ids == [str(task[0])]
    assert str(old[0]) not in ids and str(bug) not in ids
    filtered = Scope(containers=["Fabrikam"], filter="[System.Title] = 'bug'")
    assert [c.id for p in connector.changes("workitem", Watermark(), filtered) for c in p.changes] == [
        str(bug)
    ]


def test_paging_by_200(ado: AdoEmulator, connector: AdoConnector) -> None:
    seed_dated(ado, 450, datetime.now(UTC) - timedelta(days=3), timedelta(seconds=10))
    ado.counters.reset()
    pages = list(connector.changes("workitem", Watermark(), Scope(containers=["Fabrikam"])))
    assert [len(p.changes) for p in pages if p.changes] == [200, 200, 50]
    assert ado.counters.calls("wit.wiql") == 1
    assert ado.counters.calls("wit.workitemsbatch") == 3
    assert len(connector.read("workitem", [c.id for p in pages for c in p.changes])) == 450
    assert ado.counters.calls("wit.workitemsbatch") == 6


def test_bisection_past_the_wiql_cap(ado: AdoEmulator, connector: AdoConnector) -> None:
    ado.configure(wiql_max_results=60)
    try:
        ids = seed_dated(ado, 150, datetime.now(UTC) - timedelta(days=4), timedelta(minutes=30))
        ado.counters.reset()
        pages = list(
            connector.changes(
                "workitem",
                Watermark(at=datetime.now(UTC) - timedelta(days=5)),
                Scope(containers=["Fabrikam"]),
            )
        )
        assert [c.id for p in pages for c in p.changes] == [str(i) for i in ids]
        assert ado.counters.calls("wit.wiql") > 3
    finally:
        ado.configure(wiql_max_results=20_000)


def test_throttling(ado: AdoEmulator, connector: AdoConnector, sleeps: list[float]) -> None:
    item_id = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "t"})
    # A short Retry-After is slept through inside the call.
    ado.faults.add(endpoint="wit.workitemsbatch", status=429, retry_after=1, times=1)
    assert len(connector.read("workitem", [str(item_id)])) == 1
    assert sleeps == [1.0]
    # A long one comes back to the engine in the write result.
    ado.faults.add(endpoint="wit.workitems.update", status=429, retry_after=30, times=1)
    results = connector.write(
        "workitem",
        [
            Write(id=str(item_id), fields={"System.Title": "u"}),
            Write(id=str(item_id), fields={"System.Title": "v"}),
        ],
    )
    assert all(isinstance(r.error, ThrottledError) and r.error.retry_after == 30 for r in results)
    assert ado.state.get(item_id).fields["System.Title"] == "t"


def test_retry_after_on_a_success_paces_the_next_call(
    ado: AdoEmulator, connector: AdoConnector, sleeps: list[float]
) -> None:
    ado.faults.add(endpoint="wit.wiql", status=None, retry_after=2, times=1)
    list(connector.changes("workitem", Watermark(), Scope(containers=["Fabrikam"])))
    connector.read("workitem", ["1"])
    assert sleeps and sleeps[0] == pytest.approx(2.0, abs=0.2)


def test_check_and_metadata(ado: AdoEmulator, connector: AdoConnector) -> None:
    report = connector.check()
    assert report.ok, report.problems
    assert report.details["projects"] == ["Fabrikam"]
    assert "Task" in connector.list_work_item_types("Fabrikam")
    names = {f.name: f for f in connector.entities()[0].fields}
    assert names["System.AssignedTo"].type == "identity"
    assert names["System.ChangedDate"].type == "datetime"


def test_wrong_pat_is_an_auth_error_without_the_pat(ado: AdoEmulator) -> None:
    wrong = "wrong-canary-pat-555555555"
    with AdoConnector("ado_services", ado.base_url, get_secret=lambda: wrong) as c:
        report = c.check()
        assert not report.ok and wrong not in " ".join(report.problems)
        with pytest.raises(AuthError) as caught:
            c.read("workitem", ["1"])
    assert wrong not in str(caught.value)


# --- service hooks -------------------------------------------------------------------------------


def _auth_header() -> str:
    return "Basic " + base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode()


def test_hook_subscriptions_and_the_payloads_they_deliver(
    ado: AdoEmulator, connector: AdoConnector, receiver: Receiver
) -> None:
    report = connector.ensure_hook_subscriptions(receiver.url, HOOK_USER, HOOK_PASSWORD, ["Fabrikam"])
    assert len(report.created) == 4 and report.ok
    again = connector.ensure_hook_subscriptions(receiver.url, HOOK_USER, HOOK_PASSWORD, ["Fabrikam"])
    assert sorted(again.unchanged) == sorted(report.created) and not again.created

    (created,) = connector.write(
        "workitem", [Write(container="Fabrikam", type="Task", fields={"System.Title": "hooked"})]
    )
    assert created.item is not None
    item_id = int(created.item.id)
    ado.state.update_work_item(item_id, {"System.State": "Active"}, by="ann.chen@contoso.com", notify=True)
    auth = {"Authorization": ado.auth_header(PAT)["Authorization"]}
    base = ado.base_url
    httpx.delete(
        f"{base}/Fabrikam/_apis/wit/workitems/{item_id}?api-version=7.1", headers=auth
    ).raise_for_status()
    httpx.patch(
        f"{base}/Fabrikam/_apis/wit/recyclebin/{item_id}?api-version=7.1",
        headers=auth,
        json={"isDeleted": False},
    ).raise_for_status()
    bodies = receiver.wait_for(4)
    assert all(header == _auth_header() for header, _ in receiver.deliveries)

    events = [e for body in bodies for e in connector.parse_hook(body)]
    by_type = {e.event_type: e for e in events}
    assert set(by_type) == {"workitem.created", "workitem.updated", "workitem.deleted", "workitem.restored"}
    assert all(e.id == str(item_id) and e.container == "Fabrikam" for e in events)
    assert by_type["workitem.created"].version == "1"
    assert by_type["workitem.updated"].version == "2"
    assert by_type["workitem.deleted"].deleted
    (fresh,) = connector.read("workitem", [str(item_id)])
    assert by_type["workitem.restored"].version == fresh.version


def test_hook_subscriptions_disabled_by_the_system_are_repaired(
    ado: AdoEmulator, connector: AdoConnector, receiver: Receiver
) -> None:
    report = connector.ensure_hook_subscriptions(
        receiver.url, HOOK_USER, HOOK_PASSWORD, ["Fabrikam"], event_types=["workitem.updated"]
    )
    (sub_id,) = report.created
    receiver.status = 500  # an enduring failure: probation, then disabled
    item_id = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "x"})
    ado.state.update_work_item(item_id, {"System.Title": "y"}, notify=True)
    assert ado.hooks.wait_idle(5)
    assert ado.hooks.get(sub_id).status == "disabledBySystem"

    receiver.status = 200
    repaired = connector.ensure_hook_subscriptions(
        receiver.url, HOOK_USER, HOOK_PASSWORD, ["Fabrikam"], event_types=["workitem.updated"]
    )
    assert repaired.repaired == [sub_id]
    assert ado.hooks.get(sub_id).status == "enabled"
    ado.state.update_work_item(item_id, {"System.Title": "z"}, notify=True)
    (body,) = receiver.wait_for(1)
    (event,) = connector.parse_hook(body)
    assert (event.id, event.version) == (str(item_id), "3")


# --- Server --------------------------------------------------------------------------------------


@pytest.fixture
def onprem(server_emulator: AdoEmulator) -> AdoEmulator:
    server_emulator.reset()
    server_emulator.configure(max_api_version="6.0")
    server_emulator.seed_project("Fabrikam")
    return server_emulator


def server_connector(ado: AdoEmulator, **options: Any) -> AdoConnector:
    identity_map = {
        "CONTOSO\\ann.chen": "ann.chen@contoso.com",
        "CONTOSO\\tandem-sync": "tandem-sync@contoso.com",
    }
    return AdoConnector(
        "ado_server",
        ado.base_url,
        AdoOptions(deployment="server", identity_map=identity_map, **options),
        get_secret=lambda: PAT,
    )


def test_server_probes_the_api_version_and_maps_identities(onprem: AdoEmulator) -> None:
    with server_connector(onprem) as connector:
        report = connector.check()
        assert report.ok, report.problems
        assert report.details["api_version"] == "6.0"
        (created,) = connector.write(
            "workitem",
            [
                Write(
                    container="Fabrikam",
                    type="Task",
                    correlation_id="srv-1",
                    fields={"System.Title": "t", "System.AssignedTo": "ann.chen@contoso.com"},
                )
            ],
        )
        assert created.ok, created.error
        assert created.item is not None
        assert (
            onprem.state.get(int(created.item.id)).fields["System.AssignedTo"].unique_name
            == "CONTOSO\\ann.chen"
        )
        assert created.item.fields["System.AssignedTo"] == "ann.chen@contoso.com"
        assert created.item.changed_by == "tandem-sync@contoso.com"
        found = connector.find_by_correlation("workitem", "srv-1")
        assert found is not None and found.id == created.item.id
        pages = list(connector.changes("workitem", Watermark(), Scope(containers=["Fabrikam"])))
        assert [c.id for p in pages for c in p.changes] == [created.item.id]


def test_server_old_api_version_identity_strings(onprem: AdoEmulator) -> None:
    onprem.configure(max_api_version="4.1")
    item_id = onprem.seed_work_item(
        "Fabrikam", "Task", {"System.Title": "t", "System.AssignedTo": "CONTOSO\\ann.chen"}
    )
    with server_connector(onprem) as connector:
        (item,) = connector.read("workitem", [str(item_id)])
        assert connector.client.api_version == "4.1"
        assert item.fields["System.AssignedTo"] == "ann.chen@contoso.com"


def test_server_hook_payloads(onprem: AdoEmulator, receiver: Receiver) -> None:
    with server_connector(onprem) as connector:
        report = connector.ensure_hook_subscriptions(
            receiver.url, HOOK_USER, HOOK_PASSWORD, ["Fabrikam"], event_types=["workitem.updated"]
        )
        assert len(report.created) == 1
        item_id = onprem.seed_work_item("Fabrikam", "Task", {"System.Title": "x"})
        onprem.state.update_work_item(item_id, {"System.Title": "y"}, by="CONTOSO\\ann.chen", notify=True)
        (body,) = receiver.wait_for(1)
        (event,) = connector.parse_hook(body)
        assert (event.id, event.version, event.container) == (str(item_id), "2", "Fabrikam")


def test_find_by_field_matches_without_regard_to_case_within_a_project(
    ado: AdoEmulator, connector: AdoConnector
) -> None:
    ado.seed_project("Other")
    one = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "Pay by invoice"})
    twins = [ado.seed_work_item("Fabrikam", "Task", {"System.Title": "It's twice"}) for _ in range(2)]
    elsewhere = ado.seed_work_item("Other", "Task", {"System.Title": "pay BY invoice"})
    wanted = ["pay by INVOICE", "It's twice", "Nowhere"]

    found = connector.find_by_field("workitem", "System.Title", wanted, "Fabrikam")
    assert set(found) == {"pay by invoice", "it's twice"}  # the value matching nothing is absent
    assert [i.id for i in found["pay by invoice"]] == [str(one)]
    assert sorted(i.id for i in found["it's twice"]) == sorted(str(t) for t in twins)
    everywhere = connector.find_by_field("workitem", "System.Title", wanted[:1])
    assert sorted(i.id for i in everywhere["pay by invoice"]) == sorted([str(one), str(elsewhere)])
    with pytest.raises(ValueError, match="field reference name"):
        connector.find_by_field("workitem", "System.Title] = 'x' OR [System.Id", ["x"])
