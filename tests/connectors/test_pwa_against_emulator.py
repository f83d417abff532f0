"""PwaConnector against the PWA emulator over real loopback HTTP (Project Online and Project Server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.contract import Scope, Watermark, Write
from connectors.errors import NotFoundError, PermanentError, TransientError
from connectors.http import BasicAuth
from connectors.pwa import PwaConnector, PwaOptions
from connectors.pwa.auth import TokenAuth
from connectors.pwa.factory import build
from emulators.pwa import PwaEmulator

ZONE = "Europe/Berlin"
FAST = {"queue_poll_seconds": 0.01, "time_zone": ZONE}


@pytest.fixture(scope="module")
def online() -> Iterator[PwaEmulator]:
    with PwaEmulator("online", time_zone=ZONE, queue_delay=0.01, reporting_delay=0.05) as pwa:
        yield pwa


@pytest.fixture
def pwa(online: PwaEmulator) -> PwaEmulator:
    online.reset()
    online.configure(queue_delay=0.01, reporting_delay=0.05)
    types = online.seed_lookup_table("Work Item Types", ["Bug", "Task", "User Story"])
    online.seed_custom_field("Sync with VSTS", "flag", entity="task")
    online.seed_custom_field("Work Item Type", "text", entity="task", lookup_table=types)
    online.seed_custom_field("VSTS Project", "text", entity="project")
    online.seed_custom_field("Tandem Correlation", "text", entity="task")
    online.seed_resource("Ann Chen", "ann.chen@contoso.com")
    return online


def connect(pwa: PwaEmulator, **options: Any) -> PwaConnector:
    token = pwa.access_token
    return PwaConnector(
        "pwa",
        pwa.base_url,
        PwaOptions(**{**FAST, **options}),
        auth=TokenAuth(lambda force=False: token),
    )


def tid(project: Any, task: Any) -> str:
    return f"{project.id}:{task.id}"


def seed_apollo(pwa: PwaEmulator) -> tuple[Any, Any, Any]:
    project = pwa.seed_project("Apollo", custom_fields={"VSTS Project": "Fabrikam"})
    phase = pwa.seed_task(project, "Phase 1")
    build_task = pwa.seed_task(
        project,
        "Build",
        parent=phase,
        start="2026-11-02T08:00:00",
        duration="3d",
        work="24h",
        custom_fields={"Sync with VSTS": True, "Work Item Type": "Bug"},
        assignments=["ann.chen@contoso.com"],
    )
    return project, phase, build_task


def test_read_published_task_with_custom_and_project_fields(pwa: PwaEmulator) -> None:
    project, phase, task = seed_apollo(pwa)
    (item,) = connect(pwa).read("task", [tid(project, task)])
    assert item.container == "Apollo"
    assert item.parent_id == tid(project, phase)
    f = item.fields
    assert f["Start"] == "2026-11-02T07:00:00Z"  # 08:00 in Berlin
    assert f["Work"] == 24.0 and f["Duration"] == 24.0
    assert f["Sync with VSTS"] is True and f["Work Item Type"] == "Bug"
    assert f["Project:VSTS Project"] == "Fabrikam"
    assert f["AssignedTo"] == "ann.chen@contoso.com"
    (summary,) = connect(pwa).read("task", [tid(project, phase)])
    assert summary.parent_id is None and summary.fields["IsSummary"] is True


def test_changes_follow_the_lagging_feed(pwa: PwaEmulator) -> None:
    project, _, task = seed_apollo(pwa)
    conn = connect(pwa)
    scope = Scope(containers=["Apollo"])
    pages = list(conn.changes("task", Watermark(), scope))
    assert {c.id for p in pages for c in p.changes} >= {tid(project, task)}
    mark = pages[-1].next_watermark
    pwa.edit_task(project, task, {"PercentComplete": 50}, by="tandem.sync@contoso.onmicrosoft.com")
    pwa.clock.advance(1)  # past the reporting delay
    pages = list(conn.changes("task", mark, scope))
    changed = [c for p in pages for c in p.changes]
    assert [c.id for c in changed] == [tid(project, task)]
    (item,) = conn.read("task", [changed[0].id])
    assert item.fields["PercentComplete"] == 50
    # Nothing new: the next poll lists nothing.
    again = list(conn.changes("task", pages[-1].next_watermark, scope))
    assert [c for p in again for c in p.changes] == []


def test_fifty_tasks_one_checkout_one_publish_and_checked_in(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Big")
    tasks = [pwa.seed_task(project, f"T{n}", work="10h", is_manual=True) for n in range(50)]
    conn = connect(pwa)
    writes = [Write(id=tid(project, t), fields={"PercentComplete": 100, "ActualWork": 10}) for t in tasks]
    results = conn.write("task", writes)
    assert all(r.ok for r in results), [r.error for r in results if r.error]
    assert pwa.checkouts(project) == 1 and pwa.publishes(project) == 1
    assert pwa.project(project).checkout is None
    assert all(r.item and r.item.fields["PercentComplete"] == 100 for r in results)
    assert pwa.published_task(project, tasks[0])["PercentComplete"] == 100


def test_checked_out_to_someone_else_waits_then_succeeds(pwa: PwaEmulator) -> None:
    project, _, task = seed_apollo(pwa)
    pwa.add_user("ann.chen@contoso.com", "Ann Chen")
    pwa.set_checkout(project, "ann.chen@contoso.com")
    conn = connect(pwa, checkout_retry_seconds=90)
    (result,) = conn.write("task", [Write(id=tid(project, task), fields={"Notes": "from ADO"})])
    assert isinstance(result.error, TransientError) and result.error.retry_after == 90
    assert "Ann Chen" in result.error.message and "'Apollo'" in result.error.message
    pwa.release_checkout(project)
    (result,) = conn.write("task", [Write(id=tid(project, task), fields={"Notes": "from ADO"})])
    assert result.ok and pwa.published_task(project, task)["Notes"] == "from ADO"


def test_failed_publish_is_reported_and_names_the_fix(pwa: PwaEmulator) -> None:
    project, _, task = seed_apollo(pwa)
    pwa.fail_next_job(project)
    (result,) = connect(pwa).write("task", [Write(id=tid(project, task), fields={"Notes": "x"})])
    assert isinstance(result.error, PermanentError)
    assert "Manage Queue Jobs" in result.error.message


def test_create_with_parent_assignment_and_correlation(pwa: PwaEmulator) -> None:
    project, phase, _ = seed_apollo(pwa)
    conn = connect(pwa)
    write = Write(
        container="Apollo",
        correlation_id="corr-77",
        parent_id=tid(project, phase),
        fields={
            "Name": "From ADO",
            "Start": "2026-11-09T07:00:00Z",
            "Work": 16,
            "Work Item Type": "User Story",
            "Sync with VSTS": True,
            "AssignedTo": "ann.chen@contoso.com",
        },
    )
    (result,) = conn.write("task", [write])
    assert result.ok, result.error
    item = result.item
    assert item is not None and item.parent_id == tid(project, phase)
    assert item.correlation_id == "corr-77"
    assert item.fields["Start"] == "2026-11-09T07:00:00Z" and item.fields["IsManual"] is True
    assert (
        item.fields["Work Item Type"] == "User Story" and item.fields["AssignedTo"] == "ann.chen@contoso.com"
    )
    # A retry of the same create (say after a crash) does not add a second task.
    (again,) = conn.write("task", [write])
    assert again.ok and again.item is not None and again.item.id == item.id
    found = connect(pwa).find_by_correlation("task", "corr-77")  # a fresh process: through the feed
    pwa.clock.advance(1)
    found = found or connect(pwa).find_by_correlation("task", "corr-77")
    assert found is not None and found.id == item.id


def test_unmatched_email_is_a_warning_and_the_task_is_still_written(pwa: PwaEmulator) -> None:
    project, _, task = seed_apollo(pwa)
    (result,) = connect(pwa).write(
        "task", [Write(id=tid(project, task), fields={"AssignedTo": "ghost@contoso.com", "Notes": "n"})]
    )
    assert result.ok and any("ghost@contoso.com" in w for w in result.warnings)
    assert pwa.published_task(project, task)["Notes"] == "n"


def test_manual_mode_option(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Modes")
    auto = pwa.seed_task(project, "Auto", start="2026-11-02T08:00:00", duration="2d")
    start = "2026-11-16T07:00:00Z"  # a Monday 08:00 in Berlin
    (kept,) = connect(pwa).write("task", [Write(id=tid(project, auto), fields={"Start": start})])
    assert kept.ok and kept.item is not None
    assert kept.item.fields["IsManual"] is True and kept.item.fields["Start"] == start
    other = pwa.seed_task(project, "Auto 2", start="2026-11-02T08:00:00", duration="2d")
    conn = connect(pwa, allow_manual_mode=False)
    (warned,) = conn.write("task", [Write(id=tid(project, other), fields={"Start": start})])
    assert warned.ok and warned.item is not None and warned.item.fields["IsManual"] is False
    assert any("may recalculate" in w for w in warned.warnings)


def test_master_project_is_refused(pwa: PwaEmulator) -> None:
    master = pwa.seed_project("Programme", master=True, subprojects=["Sub A"])
    task = pwa.seed_task(master, "Own task")
    (result,) = connect(pwa).write("task", [Write(id=tid(master, task), fields={"Notes": "x"})])
    assert (
        isinstance(result.error, PermanentError) and "'Programme' is a master project" in result.error.message
    )
    assert pwa.checkouts(master) == 0


def test_unknown_project_name_is_an_error_not_a_guess(pwa: PwaEmulator) -> None:
    seed_apollo(pwa)
    (result,) = connect(pwa).write("task", [Write(container="Apolo", fields={"Name": "x"})])
    assert isinstance(result.error, NotFoundError) and "'Apolo'" in result.error.message


def test_create_fields_then_verify_on_an_empty_pwa(online: PwaEmulator) -> None:
    online.reset()
    conn = connect(online)
    missing = conn.verify()
    assert not missing.ok
    assert any("'Sync with VSTS'" in p for p in missing.problems)
    report = conn.ensure_custom_fields()
    assert report.ok and len(report.created) == 4
    assert conn.verify().ok


def test_throttled_publish_is_retried_inline(pwa: PwaEmulator) -> None:
    project, _, task = seed_apollo(pwa)
    pwa.faults.add(endpoint="ps.draft.publish", status=429, retry_after=0, times=1)
    (result,) = connect(pwa).write("task", [Write(id=tid(project, task), fields={"Notes": "t"})])
    assert result.ok, result.error
    assert pwa.publishes(project) == 1


def test_refresh_token_rotation_against_the_token_endpoint(pwa: PwaEmulator) -> None:
    seed_apollo(pwa)
    creds = pwa.credentials()

    class Secrets:
        values = {"pwa-rt": creds["refresh_token"]}

        def get(self, name: str) -> str:
            return self.values[name]

        def set(self, name: str, value: str) -> None:
            self.values[name] = value

    secrets = Secrets()
    config = SimpleNamespace(
        url=pwa.base_url,
        auth=SimpleNamespace(
            kind="oauth_refresh_token", client_id=creds["client_id"], tenant=creds["tenant"], secret="pwa-rt"
        ),
        options={**FAST, "authority": pwa.root_url},
    )
    conn = build("pwa", config, secrets)
    assert conn.check().ok
    assert secrets.values["pwa-rt"] != creds["refresh_token"]  # rotated and stored
    password = SimpleNamespace(
        url=pwa.base_url,
        auth=SimpleNamespace(
            kind="user_password",
            client_id=creds["client_id"],
            tenant=creds["tenant"],
            username=creds["username"],
            secret="pw",
        ),
        options={**FAST, "authority": pwa.root_url},
    )
    secrets.values["pw"] = creds["password"]
    assert build("pwa", password, secrets).check().ok


def test_project_server_with_windows_account_and_verbose_json() -> None:
    with PwaEmulator("server", time_zone="America/New_York", queue_delay=0.01, reporting_delay=0.05) as pwa:
        pwa.seed_custom_field("Sync with VSTS", "flag", entity="task")
        project = pwa.seed_project("Onprem")
        task = pwa.seed_task(project, "Task", start="2026-11-02T08:00:00", duration="1d", is_manual=True)
        creds = pwa.credentials()
        conn = PwaConnector(
            "pwa-server",
            pwa.base_url,
            PwaOptions(time_zone="America/New_York", odata="verbose", queue_poll_seconds=0.01),
            auth=BasicAuth(creds["username"], creds["password"]),
        )
        assert conn.check().ok
        (item,) = conn.read("task", [tid(project, task)])
        assert item.fields["Start"] == "2026-11-02T13:00:00Z"
        finish = datetime(2026, 11, 3, 22, 0, tzinfo=UTC)  # 17:00 in New York
        (result,) = conn.write(
            "task", [Write(id=item.id, fields={"Finish": finish.isoformat(), "Sync with VSTS": True})]
        )
        assert result.ok, result.error
        assert result.item is not None and result.item.fields["Finish"] == "2026-11-03T22:00:00Z"
        assert result.item.fields["Sync with VSTS"] is True
        pwa.clock.advance(1)
        since = Watermark(at=datetime.now(UTC) - timedelta(hours=1))
        changed = [c.id for p in conn.changes("task", since, Scope()) for c in p.changes]
        assert item.id in changed
