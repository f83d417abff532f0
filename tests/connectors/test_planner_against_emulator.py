"""The Planner connector against the Planner emulator over real HTTP: auth flows, create/read/update with
ETags (task and details separately), conflicts, listing pages, throttling, correlation and people.

`tests.support.planner.planner_connector(emulator, …)` builds the connector the way the registry does
(factory + secret store), so a shared contract suite can take it as its fixture.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connectors.contract import Scope, VersionLister, Watermark, Write
from connectors.errors import AuthError, NotFoundError, PermanentError, VersionConflict
from connectors.oauth import EntraTokenProvider, TokenAuth
from connectors.planner.auth import graph_auth
from connectors.planner.config import PlannerOptions
from connectors.planner.connector import PlannerConnector
from connectors.planner.factory import build
from emulators.planner import PlannerEmulator
from sync.registry import ConnectorRegistry
from tests.support import graph_spec
from tests.support.planner import Secrets, config, planner_connector


@pytest.fixture
def planner() -> Iterator[PlannerEmulator]:
    with PlannerEmulator(page_size=3) as emulator:
        emulator.add_user("Ann Chen", "ann.chen@contoso.com")
        emulator.add_user("Bo Li", None, "bo.li@contoso.onmicrosoft.com")  # no mail: UPN stands in
        yield emulator


@pytest.fixture
def plan(planner: PlannerEmulator) -> str:
    return planner.seed_plan("Apollo", buckets=["To do", "Doing"])


@pytest.fixture
def connector(planner: PlannerEmulator) -> Iterator[PlannerConnector]:
    with planner_connector(planner) as c:
        yield c


def create(connector: PlannerConnector, plan: str, correlation: str | None = None, **fields: Any) -> Any:
    values = {"title": "Build the thing", **fields}
    (result,) = connector.write("task", [Write(container=plan, fields=values, correlation_id=correlation)])
    return result


def test_create_writes_planner_shapes_and_reads_back_hub_values(planner, plan, connector):
    bucket = planner.bucket_id(plan, "Doing")
    result = create(
        connector,
        plan,
        "corr-1",
        bucketId=bucket,
        startDateTime="2026-12-07T09:00:00+01:00",
        dueDateTime=datetime(2026, 12, 11, 17, 0, tzinfo=UTC),
        percentComplete=50,
        priority=3,
        appliedCategories=["category4"],
        assignments=["Ann.Chen@contoso.com", "bo.li@contoso.onmicrosoft.com", "ghost@contoso.com"],
        **{"details.description": "Scope and plan", "details.checklist": ["Design", "Review"]},
    )
    assert result.ok, result.error
    assert result.warnings == [
        "no Entra user has the e-mail ghost@contoso.com: the task was synced without that assignee"
    ]
    item = result.item
    assert item.container == plan and item.correlation_id == "corr-1"
    assert item.fields["startDateTime"] == "2026-12-07T08:00:00Z"  # UTC
    assert item.fields["dueDateTime"] == "2026-12-11T17:00:00Z"
    assert item.fields["assignments"] == ["ann.chen@contoso.com", "bo.li@contoso.onmicrosoft.com"]
    assert item.fields["appliedCategories"] == ["category4"]
    assert item.fields["details.description"] == "Scope and plan"
    assert item.fields["details.checklist"] == [
        {"title": "Design", "isChecked": False},
        {"title": "Review", "isChecked": False},
    ]
    # On the wire: assignments keyed by user id with the plannerAssignment type, the stamp a reference.
    task = planner.task(item.id)
    assert item.version == task["@odata.etag"]
    assert set(task["assignments"]) == {
        planner.user_id("ann.chen@contoso.com"),
        planner.user_id("bo.li@contoso.onmicrosoft.com"),
    }
    assert all(a["@odata.type"] == "#microsoft.graph.plannerAssignment" for a in task["assignments"].values())
    assert task["bucketId"] == bucket and task["percentComplete"] == 50 and task["referenceCount"] == 1
    refs = planner.task_details(item.id)["references"]
    assert list(refs) == ["https%3A%2F%2Ftandem%2Einvalid%2Flink%2Fcorr-1"]
    assert refs[next(iter(refs))]["alias"] == "Synced by Tandem"
    # Read gives the same values as the write returned.
    (again,) = connector.read("task", [item.id])
    assert again.fields == item.fields and again.version == item.version


def test_update_with_a_stale_etag_is_a_conflict_then_rereading_lets_it_through(planner, plan, connector):
    item = create(connector, plan).item
    planner.edit_task(item.id, {"title": "Renamed in Planner"})  # a person, between read and write
    (stale,) = connector.write(
        "task", [Write(id=item.id, expected_version=item.version, fields={"percentComplete": 100})]
    )
    assert isinstance(stale.error, VersionConflict)
    assert planner.task(item.id)["percentComplete"] == 0  # nothing was written
    (fresh,) = connector.read("task", [item.id])
    assert fresh.fields["title"] == "Renamed in Planner" and fresh.version != item.version
    (ok,) = connector.write(
        "task", [Write(id=item.id, expected_version=fresh.version, fields={"percentComplete": 100})]
    )
    assert ok.ok and ok.item.fields["title"] == "Renamed in Planner"
    assert planner.task(item.id)["completedDateTime"] is not None


def test_a_stale_if_match_on_the_wire_is_a_conflict(planner, plan, connector):
    item = create(connector, plan).item
    planner.edit_task(item.id, {"priority": 1})
    with pytest.raises(VersionConflict):
        connector.client.patch(connector.client.task(item.id), {"priority": 9}, item.version)
    with pytest.raises(VersionConflict):
        connector.delete(item.id, expected_version=item.version)
    connector.delete(item.id)  # with the current ETag
    assert connector.read("task", [item.id]) == []


def test_details_have_their_own_etag_and_a_raced_details_update_is_a_conflict(planner, plan, connector):
    item = create(connector, plan, **{"details.description": "one"}).item
    details_before = planner.task_details(item.id)["@odata.etag"]
    planner.edit_task(item.id, {"title": "Task edit only"})
    assert planner.task_details(item.id)["@odata.etag"] == details_before  # separate ETags
    (current,) = connector.read("task", [item.id])
    planner.conflict_next_details(item.id)
    (raced,) = connector.write(
        "task", [Write(id=item.id, expected_version=current.version, fields={"details.description": "two"})]
    )
    assert isinstance(raced.error, VersionConflict) and raced.error.status == 409
    (again,) = connector.read("task", [item.id])
    (ok,) = connector.write(
        "task", [Write(id=item.id, expected_version=again.version, fields={"details.description": "two"})]
    )
    assert ok.ok and planner.task_details(item.id)["description"] == "two"
    assert planner.task_details(item.id)["@odata.etag"] != details_before


def test_listing_pages_through_next_links_and_gives_etags(planner, plan, connector):
    planner.seed_tasks(plan, 7)
    planner.counters.reset()
    assert isinstance(connector, VersionLister)
    pages = list(connector.list_versions("task", Scope(containers=[plan])))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert planner.counters.calls("planner.plans.tasks.list") == 3
    assert planner.counters.calls("planner.*") + planner.counters.calls("users.*") == 3  # pages only
    listed = {c.id: c.version for p in pages for c in p}
    assert listed == {t["id"]: t["@odata.etag"] for t in planner.tasks(plan)}
    assert {c.container for p in pages for c in p} == {plan}
    # A task created after the scope's start is listed; older ones are not.
    later = datetime.now(UTC)
    planner.clock.advance(60)
    newer = planner.seed_task(plan, "Later")
    assert [
        c.id for p in connector.list_versions("task", Scope(containers=[plan], start=later)) for c in p
    ] == [newer["id"]]
    # changes() falls back to the full listing.
    pages = list(connector.changes("task", Watermark(), Scope(containers=[plan])))
    assert sum(len(p.changes) for p in pages) == 8 and all(p.next_watermark.at for p in pages)
    assert not connector.entities()[0].change_feed


def test_throttling_honours_retry_after(planner, plan):
    slept: list[float] = []
    connector = planner_connector(planner, sleep=slept.append)
    planner.seed_tasks(plan, 2)
    planner.faults.add(endpoint="planner.plans.tasks.list", status=429, retry_after=1, times=1)
    planner.faults.add(endpoint="planner.tasks.get", status=503, retry_after=2, times=1)
    pages = list(connector.list_versions("task", Scope(containers=[plan])))
    assert sum(len(p) for p in pages) == 2 and slept == [1.0]
    task_id = pages[0][0].id
    assert connector.read("task", [task_id])[0].id == task_id and slept == [1.0, 2.0]
    assert connector.stats.throttled["127.0.0.1"] == 1


def test_correlation_lookup_finds_a_create_from_another_process(planner, plan, connector):
    planner.seed_tasks(plan, 5)
    created = create(connector, plan, "corr-42").item
    create(connector, plan, "corr-43")
    other = planner_connector(planner, kind="entra", options={"plans": [plan]})  # fresh cache
    found = other.find_by_correlation("task", "corr-42")
    assert found is not None and found.id == created.id and found.correlation_id == "corr-42"
    assert other.find_by_correlation("task", "corr-missing") is None
    # Only tasks with references had their details read.
    details_reads = planner.counters.calls("planner.tasks.details.get")
    other.find_by_correlation("task", "corr-missing")
    assert planner.counters.calls("planner.tasks.details.get") - details_reads == 2
    # A create retried in the same process updates the task it made instead of adding a second one.
    again = create(connector, plan, "corr-42", title="Build the thing, again")
    assert again.item.id == created.id and len(planner.tasks(plan)) == 7


def test_people_map_to_email_through_the_directory_and_are_cached(planner, plan, connector):
    task = planner.seed_task(
        plan, "Pair", assignees=["ann.chen@contoso.com", "bo.li@contoso.onmicrosoft.com"]
    )
    (item,) = connector.read("task", [task["id"]])
    assert item.fields["assignments"] == ["ann.chen@contoso.com", "bo.li@contoso.onmicrosoft.com"]
    lookups = planner.counters.calls("users.*")
    connector.read("task", [task["id"]])
    assert planner.counters.calls("users.*") == lookups  # cached
    (result,) = connector.write(
        "task",
        [Write(id=item.id, expected_version=item.version, fields={"assignments": ["ann.chen@contoso.com"]})],
    )
    assert result.ok and result.item.fields["assignments"] == ["ann.chen@contoso.com"]
    assert list(planner.task(item.id)["assignments"]) == [planner.user_id("ann.chen@contoso.com")]


def test_labels_written_as_a_patch_keep_other_labels(planner, plan, connector):
    task = planner.seed_task(plan, "Labelled", categories=["category2", "category9"])
    (item,) = connector.read("task", [task["id"]])
    markers = {f"category{i}": i == 4 for i in range(1, 7)}
    (result,) = connector.write(
        "task", [Write(id=item.id, expected_version=item.version, fields={"appliedCategories": markers})]
    )
    assert result.ok and result.item.fields["appliedCategories"] == ["category4", "category9"]
    (result,) = connector.write("task", [Write(id=item.id, fields={"appliedCategories": ["category1"]})])
    assert result.item.fields["appliedCategories"] == ["category1"]  # a list replaces the set


def test_refresh_token_is_rotated_into_the_secret_store(planner, plan):
    secrets = Secrets({"planner-secret": planner.refresh_token})
    connector = planner_connector(planner, secrets=secrets)
    connector.list_versions("task", Scope(containers=[plan])).__next__()
    rotated = secrets.values["planner-secret"]
    assert rotated != planner.refresh_token
    # The first refresh token was single-use: a second connector holding it is refused, clearly.
    stale = planner_connector(planner, secrets=Secrets({"planner-secret": planner.refresh_token}))
    with pytest.raises(AuthError, match="refresh token in secret 'planner-secret' was refused"):
        next(stale.list_versions("task", Scope(containers=[plan])))
    # When Graph refuses the access token (expired on the emulator clock), one fresh token is fetched with
    # the rotated refresh token from the store, and the new rotation is stored again.
    planner.clock.advance(3600)
    assert sum(len(p) for p in connector.list_versions("task", Scope(containers=[plan]))) == 0
    assert secrets.values["planner-secret"] not in (rotated, planner.refresh_token)


def test_app_only_client_credentials_and_a_wrong_secret(planner, plan):
    ok = planner_connector(planner, kind="entra")
    assert ok.check().ok
    wrong = planner_connector(planner, kind="entra", secrets=Secrets({"planner-secret": "not-the-secret"}))
    report = wrong.check()
    assert not report.ok and "client secret in secret 'planner-secret' was refused" in report.problems[0]
    assert "not-the-secret" not in report.problems[0]


def test_bad_writes_are_clear_item_errors(planner, plan, connector):
    no_plan, unknown, bad_date = connector.write(
        "task",
        [
            Write(fields={"title": "x"}),
            Write(container=plan, fields={"title": "x", "Colour": "red"}),
            Write(container=plan, fields={"title": "x", "startDateTime": "next week"}),
        ],
    )
    assert "needs container: the plan id" in str(no_plan.error)
    assert "no field(s) ['Colour']" in str(unknown.error)
    assert "startDateTime: 'next week' is not an ISO 8601 date-time" in str(bad_date.error)
    (late,) = connector.write(
        "task",
        [
            Write(
                container=plan,
                fields={
                    "title": "x",
                    "startDateTime": "2026-12-10T00:00:00Z",
                    "dueDateTime": "2026-12-01T00:00:00Z",
                },
            )
        ],
    )
    assert late.error is not None and late.error.status == 400 and "startDateTime" in late.error.message


def test_registry_builds_planner_connections(planner, tmp_path):
    from state.secrets import LocalSecretStore

    store = LocalSecretStore(env={})
    store.set("planner-secret", planner.client_secret)
    connector = ConnectorRegistry(store).get("planner-1", config(planner, "entra"))
    assert isinstance(connector, PlannerConnector) and connector.system == "planner-1"
    assert connector.check().ok


def test_unsupported_auth_kind_names_the_choices():
    cfg = SimpleNamespace(
        url="https://graph.microsoft.com/v1.0", auth=SimpleNamespace(kind="ntlm", secret="s"), options={}
    )
    with pytest.raises(ValueError, match="not supported for Planner"):
        build("p", cfg, Secrets({}))


class Recording(httpx.HTTPTransport):
    """The real transport, keeping every request the connector sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def test_requests_match_the_graph_spec(planner, plan):
    wire = Recording()
    connector = planner_connector(planner, transport=wire)
    item = create(
        connector,
        plan,
        "corr-wire",
        appliedCategories=["category3"],
        assignments=["ann.chen@contoso.com"],
        **{"details.description": "text", "details.checklist": [{"title": "A", "isChecked": True}]},
    ).item
    connector.write(
        "task",
        [
            Write(
                id=item.id,
                expected_version=item.version,
                fields={"dueDateTime": "2026-12-24T12:00:00Z", "details.description": "new"},
            )
        ],
    )
    connector.delete(item.id)
    schemas = {"tasks": "plannerTask", "details": "plannerTaskDetails"}
    checked = 0
    for request in wire.requests:
        if request.method in ("PATCH", "DELETE"):
            assert request.headers["If-Match"].startswith('W/"'), request.url  # always the current ETag
        if request.method == "PATCH":
            assert request.headers["Prefer"] == "return=representation"
        if request.method in ("POST", "PATCH"):
            body = json.loads(request.content)
            name = schemas["details" if request.url.path.endswith("/details") else "tasks"]
            graph_spec.validate(name, body)
            assert graph_spec.undeclared(name, body) == set()
            for value in (body.get("assignments") or {}).values():
                assert value["@odata.type"] == "#microsoft.graph.plannerAssignment" and value["orderHint"]
            checked += 1
    assert checked == 4  # POST task, PATCH details (create), PATCH task, PATCH details (update)


def test_plan_bucket_and_label_lookups(planner, plan, connector):
    assert connector.plan(plan)["title"] == "Apollo"
    assert set(connector.buckets(plan)) == {"To do", "Doing"}
    assert connector.buckets(plan)["Doing"] == planner.bucket_id(plan, "Doing")
    group = planner.seed_group("Project Team")
    assert [p["id"] for p in connector.plans_of_group(group)] == [plan]
    names = connector.name_categories(plan, {"category1": "0 %", "category4": "75 %"})
    assert names["category4"] == "75 %" and connector.category_names(plan)["category1"] == "0 %"
    with pytest.raises(NotFoundError, match="does not exist or the sync identity cannot see it"):
        connector.plan("no-such-plan")
    # No plan configured: a delegated identity lists the plans shared with it (GET /me/planner/plans) …
    task = planner.seed_task(plan, "Shared")
    assert [c.id for page in connector.list_versions("task", Scope()) for c in page] == [task["id"]]
    # … an app-only one cannot, and is told what to set.
    wanted = "with app-only auth set the connection's options\\.groups"
    with planner_connector(planner, kind="entra") as app_only, pytest.raises(PermanentError, match=wanted):
        next(app_only.list_versions("task", Scope()))


def test_managed_identity_uses_an_azure_identity_credential_for_graph(planner, plan):
    chosen = graph_auth(
        "p",
        SimpleNamespace(kind="entra", secret=None, client_id="mi-client-id", tenant=None),
        PlannerOptions(),
        Secrets({}),
    )
    assert isinstance(chosen, TokenAuth) and isinstance(chosen.provider, EntraTokenProvider)
    asked: list[str] = []

    class Credential:  # azure-identity's get_token interface, handing out the emulator's static token
        def get_token(self, scope: str) -> Any:
            asked.append(scope)
            return SimpleNamespace(token=planner.access_token, expires_on=time.time() + 3600)

    auth = TokenAuth(EntraTokenProvider(Credential(), scope=PlannerOptions().scope))
    with PlannerConnector("mi", planner.base_url, PlannerOptions(plans=[plan]), auth=auth) as connector:
        assert connector.check().ok
        assert connector.check().ok
    assert asked == ["https://graph.microsoft.com/.default"]  # cached until five minutes before expiry


def test_a_create_whose_stamp_failed_is_stamped_by_its_retry_not_duplicated(planner, plan, connector):
    planner.faults.add(endpoint="planner.tasks.details.update", status=500, times=1)
    (failed,) = connector.write(
        "task", [Write(container=plan, fields={"title": "Once"}, correlation_id="c-9")]
    )
    assert failed.error is not None and failed.error.retryable
    assert len(planner.tasks(plan)) == 1 and planner.tasks(plan)[0]["referenceCount"] == 0
    (retried,) = connector.write(
        "task", [Write(container=plan, fields={"title": "Once"}, correlation_id="c-9")]
    )
    assert retried.ok and retried.item.correlation_id == "c-9"
    assert len(planner.tasks(plan)) == 1 and planner.tasks(plan)[0]["referenceCount"] == 1
    assert retried.item.version == planner.tasks(plan)[0]["@odata.etag"]


def test_a_description_edited_after_the_read_is_not_overwritten(planner, plan, connector):
    created = create(connector, plan, **{"details.description": "first"}).item
    (read,) = connector.read("task", [created.id])
    planner.edit_task(created.id, details={"description": "a person's words"})
    assert planner.task(created.id)["@odata.etag"] == read.version  # the task's ETag does not show it
    (stale,) = connector.write(
        "task",
        [
            Write(
                id=read.id,
                expected_version=read.version,
                fields={"title": "T", "details.description": "merged"},
            )
        ],
    )
    assert isinstance(stale.error, VersionConflict) and "details" in stale.error.message
    assert planner.task_details(created.id)["description"] == "a person's words"
    assert planner.task(created.id)["title"] == "Build the thing"  # nothing half-written
    (again,) = connector.read("task", [created.id])
    (ok,) = connector.write(
        "task", [Write(id=again.id, expected_version=again.version, fields={"details.description": "merged"})]
    )
    assert ok.ok and planner.task_details(created.id)["description"] == "merged"


def test_a_project_field_names_a_plan_by_id_or_title_and_buckets_go_by_name(planner, plan):
    group = planner.state.plans[plan].body["container"]["containerId"]
    other = planner.seed_plan("Zeus", group="Other team")
    with planner_connector(planner, options={"groups": [group]}) as c:
        assert c.find_container(plan) == plan  # by id
        assert c.find_container("  apollo ") == plan  # by title, any case, among the groups' plans
        assert c.find_container(other) == other  # an id the sync identity can read
        assert c.find_container("Hermes") is None  # names nothing: no guess
        # No plans configured: the groups' plans are listed.
        listed = [ch.id for page in c.list_versions("task", Scope()) for ch in page]
        assert listed == []
        result = create(c, plan, bucket="doing")
        assert result.ok, result.error
        task = planner.task(result.item.id)
        assert task["bucketId"] == planner.bucket_id(plan, "Doing")
        assert result.item.fields["bucket"] == "Doing" and result.item.fields["planTitle"] == "Apollo"
        (moved,) = c.write("task", [Write(id=result.item.id, fields={"bucket": "To do"})])
        assert moved.ok and planner.task(result.item.id)["bucketId"] == planner.bucket_id(plan, "To do")
        (missing,) = c.write("task", [Write(id=result.item.id, fields={"bucket": "Nowhere"})])
        assert missing.ok and "no bucket named 'Nowhere'" in missing.warnings[0]
        assert [ch.id for page in c.list_versions("task", Scope()) for ch in page] == [result.item.id]
