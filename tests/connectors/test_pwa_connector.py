"""PwaConnector unit tests over httpx.MockTransport: reads, change detection, the write cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.contract import Connector, Scope, Watermark, Write
from connectors.errors import (
    NotFoundError,
    PermanentError,
    TransientError,
    VersionConflict,
)
from connectors.pwa import PwaConnector, PwaOptions
from connectors.pwa.tasks import task_id_for
from tests.connectors.pwa_fakes import (
    ANN,
    BASE,
    CORR_HEX,
    DIGEST,
    ENTRY_BUG,
    FLAG_HEX,
    PROJECT_ID,
    SUMMARY_ID,
    WIT_HEX,
    FakeClock,
    FakePwa,
    new_id,
    ps_error,
    task,
)


@pytest.fixture
def fake() -> FakePwa:
    return FakePwa()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(fake: FakePwa, clock: FakeClock, **options: Any) -> PwaConnector:
    options.setdefault("time_zone", "Europe/Berlin")
    return PwaConnector(
        "pwa",
        BASE,
        PwaOptions(**options),
        transport=fake.transport,
        sleep=clock.sleep,
        clock=clock,
    )


def item_id(task_id: str) -> str:
    return f"{PROJECT_ID}:{task_id}"


# --- contract and metadata -----------------------------------------------------------------------


def test_is_a_connector_with_one_session_per_project(fake: FakePwa, clock: FakeClock) -> None:
    conn = make(fake, clock)
    assert isinstance(conn, Connector)
    (spec,) = conn.entities()
    assert spec.name == "task" and spec.session_unit == "container"
    names = {f.name: f for f in spec.fields}
    assert {"Name", "Start", "Finish", "PercentComplete", "Work", "ActualWork", "RemainingWork"} <= set(names)
    assert names["Sync with VSTS"].type == "boolean"
    assert names["Work Item Type"].type == "string"
    assert names["Project:VSTS Project"].read_only
    assert "Tandem Correlation" not in names  # the hub's own stamp is not a mappable field


# --- read ----------------------------------------------------------------------------------------


def test_read_converts_dates_work_custom_fields_and_parent(fake: FakePwa, clock: FakeClock) -> None:
    parent = new_id(50)
    tid = new_id(1)
    fake.tasks[parent] = task(parent, "Phase 1", IsSummary=True)
    fake.tasks[tid] = task(
        tid,
        "Build",
        parent=parent,
        Notes="Do it",
        **{
            f"Custom_x005f_{FLAG_HEX}": True,
            f"Custom_x005f_{WIT_HEX}": [ENTRY_BUG],
            f"Custom_x005f_{CORR_HEX}": "corr-123",
        },
    )
    fake.assignments[tid] = [
        {
            "Id": new_id(70),
            "Created": "2026-11-01T09:00:00",
            "Resource": {"Id": ANN["Id"], "Email": ANN["Email"]},
        }
    ]
    conn = make(fake, clock)
    (item,) = conn.read("task", [item_id(tid)])
    assert item.id == item_id(tid)
    assert item.container == "Apollo"
    assert item.parent_id == item_id(parent)
    assert item.version == "2026-11-02T10:00:00"
    assert item.correlation_id == "corr-123"
    f = item.fields
    # Berlin is UTC+1 in November: 08:00 local is 07:00Z.
    assert f["Start"] == "2026-11-02T07:00:00Z"
    assert f["Finish"] == "2026-11-04T16:00:00Z"
    assert f["Work"] == 24.0 and f["Duration"] == 24.0  # TimeSpan P1DT0H wins over "3d"
    assert f["Sync with VSTS"] is True
    assert f["Work Item Type"] == "Bug"
    assert f["Project:VSTS Project"] == "Fabrikam"
    assert f["AssignedTo"] == "ann.chen@contoso.com"
    assert f["Notes"] == "Do it"
    assert "Tandem Correlation" not in f


def test_top_level_task_has_no_parent_and_missing_ids_are_left_out(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1)
    conn = make(fake, clock)
    items = conn.read("task", [item_id(tid), item_id(new_id(99)), "not-a-guid"])
    assert [i.id for i in items] == [item_id(tid)]
    assert items[0].parent_id is None


def test_read_in_verbose_mode(clock: FakeClock) -> None:
    fake = FakePwa(odata="verbose")
    (tid,) = fake.add_tasks(1)
    conn = make(fake, clock, odata="verbose")
    (item,) = conn.read("task", [item_id(tid)])
    assert item.fields["Name"] == "Task 1"
    assert fake.requests[0].headers["Accept"] == "application/json;odata=verbose"


# --- changes -------------------------------------------------------------------------------------


def test_changes_query_the_feed_in_pwa_time_with_overlap_and_scope(fake: FakePwa, clock: FakeClock) -> None:
    t1, t2 = new_id(1), new_id(2)
    fake.feed = [
        [
            {
                "ProjectId": PROJECT_ID,
                "ProjectName": "Apollo",
                "TaskId": SUMMARY_ID,
                "TaskModifiedDate": "2026-11-02T10:00:00",
                "TaskIsProjectSummary": True,
            },
            {
                "ProjectId": PROJECT_ID,
                "ProjectName": "Apollo",
                "TaskId": t1,
                "TaskModifiedDate": "2026-11-02T10:00:00",
            },
        ],
        [
            {
                "ProjectId": PROJECT_ID,
                "ProjectName": "Apollo",
                "TaskId": t2,
                "TaskModifiedDate": "2026-11-02T11:30:00",
            }
        ],
    ]
    conn = make(fake, clock, overlap_seconds=600)
    since = Watermark(at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    pages = list(conn.changes("task", since, Scope(containers=["Apollo", "O'Hare"])))
    first = fake.sent("GET", "ProjectData/Tasks")[0]
    # 08:00Z - 10 min = 07:50Z = 08:50 in Berlin.
    assert first.url.params["$filter"] == (
        "TaskModifiedDate gt datetime'2026-11-02T08:50:00' and "
        "(ProjectName eq 'Apollo' or ProjectName eq 'O''Hare')"
    )
    assert first.url.params["$orderby"] == "TaskModifiedDate"
    assert [[c.id for c in p.changes] for p in pages] == [[item_id(t1)], [item_id(t2)]]
    assert pages[0].changes[0].container == "Apollo"
    assert pages[0].next_watermark.at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert pages[1].next_watermark.at == datetime(2026, 11, 2, 10, 30, tzinfo=UTC)


def test_changes_already_listed_in_the_overlap_are_not_listed_again(fake: FakePwa, clock: FakeClock) -> None:
    t1, t2 = new_id(1), new_id(2)
    row = {"ProjectId": PROJECT_ID, "ProjectName": "Apollo", "TaskModifiedDate": "2026-11-02T10:00:00"}
    fake.feed = [[{**row, "TaskId": t1}]]
    conn = make(fake, clock)
    (first,) = list(conn.changes("task", Watermark(), Scope()))
    assert [c.id for c in first.changes] == [item_id(t1)]
    # Next poll: the overlap lists t1 again (same version), t2 arrived late with an earlier date.
    fake.feed = [[{**row, "TaskId": t2, "TaskModifiedDate": "2026-11-02T09:58:00"}, {**row, "TaskId": t1}]]
    (second,) = list(conn.changes("task", first.next_watermark, Scope()))
    assert [c.id for c in second.changes] == [item_id(t2)]
    # t1 edited again: listed again.
    fake.feed = [[{**row, "TaskId": t1, "TaskModifiedDate": "2026-11-02T10:05:00"}]]
    (third,) = list(conn.changes("task", second.next_watermark, Scope()))
    assert [c.version for c in third.changes] == ["2026-11-02T10:05:00"]


def test_changes_start_date_wins_over_an_older_watermark(fake: FakePwa, clock: FakeClock) -> None:
    conn = make(fake, clock, time_zone="UTC")
    pages = list(
        conn.changes(
            "task",
            Watermark(),
            Scope(start=datetime(2026, 11, 1, tzinfo=UTC), filter="SyncwithVSTS eq true"),
        )
    )
    assert pages[-1].changes == [] and pages[-1].next_watermark.at is None
    params = fake.sent("GET", "ProjectData/Tasks")[0].url.params
    assert params["$filter"] == "TaskModifiedDate gt datetime'2026-11-01T00:00:00' and (SyncwithVSTS eq true)"


# --- write cycle ---------------------------------------------------------------------------------


def writes_for(ids: list[str], **fields: Any) -> list[Write]:
    return [Write(id=item_id(t), fields=dict(fields)) for t in ids]


def test_update_cycle_digest_checkout_patch_publish_in_order(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    conn = make(fake, clock)
    (result,) = conn.write("task", [Write(id=item_id(tid), fields={"PercentComplete": 50, "ActualWork": 12})])
    assert result.ok, result.error
    writes = [c for c in fake.calls() if not c.startswith("GET")]
    assert writes == [
        "POST contextinfo",
        f"POST ProjectServer/Projects('{PROJECT_ID}')/checkOut()",
        f"PATCH ProjectServer/Projects('{PROJECT_ID}')/Draft/Tasks('{tid}')",
        f"POST ProjectServer/Projects('{PROJECT_ID}')/Draft/publish(true)",
    ]
    for request in fake.requests:
        if request.method != "GET" and not request.url.path.endswith("contextinfo"):
            assert request.headers["X-RequestDigest"] == DIGEST
    patch = fake.sent("PATCH", "Draft/Tasks")[0]
    assert fake.body(patch) == {"PercentComplete": 50, "ActualWork": "12h"}
    assert patch.headers["IF-MATCH"] == "*"
    assert result.item is not None and result.item.fields["PercentComplete"] == 50
    assert result.item.version != "2026-11-02T10:00:00"  # the publish gave it a new version


def test_fifty_tasks_one_checkout_one_publish(fake: FakePwa, clock: FakeClock) -> None:
    ids = fake.add_tasks(50, IsManual=True)
    conn = make(fake, clock)
    results = conn.write("task", writes_for(ids, PercentComplete=100))
    assert all(r.ok for r in results)
    assert len(fake.sent("POST", r"/checkOut\(\)$")) == 1
    assert len(fake.sent("POST", r"/publish\(true\)$")) == 1
    assert len(fake.sent("PATCH", "Draft/Tasks")) == 50
    assert len(fake.sent("POST", "contextinfo")) == 1  # the digest is cached
    # The reads are batched: 50 ids in chunks of 20.
    assert (
        len(fake.sent("GET", rf"Projects\('{PROJECT_ID}'\)/Tasks$")) == 1 + 3 + 3
    )  # master probe + before + after


def test_large_cycles_save_the_draft_between_batches(fake: FakePwa, clock: FakeClock) -> None:
    ids = fake.add_tasks(25, IsManual=True)
    conn = make(fake, clock, max_tasks_per_save=10)
    assert all(r.ok for r in conn.write("task", writes_for(ids, Notes="x")))
    sequence = [c.rsplit("/", 1)[-1] for c in fake.calls() if c.startswith("POST") and "Draft/" in c]
    assert sequence == ["update()", "update()", "publish(true)"]


def test_checked_out_to_someone_else_is_transient_with_who_and_when(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1)
    fake.on("POST", r"/checkOut\(\)$", ps_error(403, 10100, "CICOCheckedOutToOtherUser"))
    fake.on(
        "GET",
        rf"Projects\('{PROJECT_ID}'\)$",
        httpx.Response(
            200,
            json={
                "Id": PROJECT_ID,
                "CheckedOutDate": "2026-11-02T09:15:00",
                "CheckedOutBy": {"Title": "Jane Doe", "Email": "jane@contoso.com"},
            },
        ),
    )
    conn = make(fake, clock, checkout_retry_seconds=120)
    (result,) = conn.write("task", writes_for([tid], Name="New name"))
    error = result.error
    assert isinstance(error, TransientError)
    assert error.retry_after == 120
    assert "Jane Doe (jane@contoso.com) since 2026-11-02T08:15:00Z" in error.message
    assert "Apollo" in error.message
    assert not fake.sent("PATCH", "Draft") and not fake.sent("POST", "publish")


def test_already_checked_out_to_us_continues(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    fake.on("POST", r"/checkOut\(\)$", ps_error(403, 10101, "CICOAlreadyCheckedOutToYou"))
    (result,) = make(fake, clock).write("task", writes_for([tid], Name="x"))
    assert result.ok, result.error
    assert len(fake.sent("POST", "publish")) == 1


def test_failed_publish_job_forces_check_in_and_reports(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    fake.job_states = [3, 5, 4]  # publish: processing, then failed; the forced check-in succeeds
    (result,) = make(fake, clock).write("task", writes_for([tid], Name="x"))
    assert isinstance(result.error, PermanentError)
    assert "Manage Queue Jobs" in result.error.message and "'Apollo'" in result.error.message
    assert fake.sent("POST", r"Draft/checkIn\(true\)$")


def test_cancelled_job_is_transient_and_checks_in(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    fake.job_states = [9, 4]
    (result,) = make(fake, clock).write("task", writes_for([tid], Name="x"))
    assert isinstance(result.error, TransientError) and "Canceled" in result.error.message
    assert fake.sent("POST", r"Draft/checkIn\(true\)$")


def test_queue_timeout_is_transient_and_leaves_the_job_alone(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    fake.job_states = [3]
    (result,) = make(fake, clock, queue_timeout_seconds=10).write("task", writes_for([tid], Name="x"))
    assert isinstance(result.error, TransientError)
    assert "still Processing" in result.error.message
    assert sum(clock.sleeps) >= 10
    assert not fake.sent("POST", "checkIn")


def test_manual_mode_switches_auto_tasks_before_dates(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=False)
    (result,) = make(fake, clock).write("task", writes_for([tid], Start="2026-11-10T07:00:00Z"))
    assert result.ok and not result.warnings
    patches = [fake.body(r) for r in fake.sent("PATCH", "Draft/Tasks")]
    assert patches == [{"IsManual": True}, {"Start": "2026-11-10T08:00:00"}]


def test_manual_mode_off_keeps_auto_and_warns(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=False)
    conn = make(fake, clock, allow_manual_mode=False)
    (result,) = conn.write("task", writes_for([tid], Finish="2026-11-12T16:00:00Z"))
    assert result.ok
    assert [fake.body(r) for r in fake.sent("PATCH", "Draft/Tasks")] == [{"Finish": "2026-11-12T17:00:00"}]
    assert any("may recalculate" in w for w in result.warnings)


def test_summary_tasks_keep_their_rollups(fake: FakePwa, clock: FakeClock) -> None:
    tid = new_id(5)
    fake.tasks[tid] = task(tid, "Phase", IsSummary=True, IsManual=True)
    (result,) = make(fake, clock).write("task", writes_for([tid], Name="Phase A", PercentComplete=40))
    assert result.ok
    assert [fake.body(r) for r in fake.sent("PATCH", "Draft/Tasks")] == [{"Name": "Phase A"}]
    assert any("summary task" in w for w in result.warnings)


def test_stale_expected_version_is_a_conflict(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    write = Write(id=item_id(tid), expected_version="2026-11-01T00:00:00", fields={"Name": "x"})
    (result,) = make(fake, clock).write("task", [write])
    assert isinstance(result.error, VersionConflict)
    assert not fake.sent("PATCH", "Draft") and fake.sent("POST", r"checkIn\(false\)")


def test_unknown_custom_field_fails_that_write_only(fake: FakePwa, clock: FakeClock) -> None:
    a, b = fake.add_tasks(2, IsManual=True)
    results = make(fake, clock).write(
        "task", [Write(id=item_id(a), fields={"Color": "red"}), Write(id=item_id(b), fields={"Name": "ok"})]
    )
    assert isinstance(results[0].error, PermanentError) and "'Color'" in results[0].error.message
    assert results[1].ok


def test_custom_field_name_forms_and_lookup_values(fake: FakePwa, clock: FakeClock) -> None:
    a, b, c = fake.add_tasks(3, IsManual=True)
    writes = [
        Write(id=item_id(a), fields={"Work Item Type": "bug"}),
        Write(id=item_id(b), fields={"Custom:Sync with VSTS": True}),
        Write(id=item_id(c), fields={f"Custom_{FLAG_HEX}": False, f"Custom_x005f_{WIT_HEX}": "Task"}),
    ]
    assert all(r.ok for r in make(fake, clock).write("task", writes))
    bodies = [fake.body(r) for r in fake.sent("PATCH", "Draft/Tasks")]
    assert bodies == [
        {f"Custom_x005f_{WIT_HEX}": [ENTRY_BUG]},
        {f"Custom_x005f_{FLAG_HEX}": True},
        {f"Custom_x005f_{FLAG_HEX}": False, f"Custom_x005f_{WIT_HEX}": ["Entry_" + "e2" * 16]},
    ]


def test_unknown_lookup_value_is_permanent_and_names_the_choices(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1)
    (result,) = make(fake, clock).write("task", writes_for([tid], **{"Work Item Type": "Epic"}))
    assert isinstance(result.error, PermanentError)
    assert "'Epic'" in result.error.message and "Bug, Task" in result.error.message
    assert not fake.sent("POST", "checkOut")  # nothing valid to write: no check-out at all


def test_create_stamps_correlation_derives_the_id_and_indents(fake: FakePwa, clock: FakeClock) -> None:
    parent = new_id(50)
    fake.tasks[parent] = task(parent, "Phase 1", IsSummary=True)
    write = Write(
        container="apollo",
        correlation_id="corr-1",
        parent_id=item_id(parent),
        fields={"Name": "New", "Start": "2026-11-10T07:00:00Z", "Work": 16, "Sync with VSTS": True},
    )
    (result,) = make(fake, clock).write("task", [write])
    assert result.ok, result.error
    tid = task_id_for("corr-1")
    add = fake.body(fake.sent("POST", "Draft/Tasks/Add")[0])
    assert add == {
        "parameters": {
            "Id": tid,
            "Name": "New",
            "Start": "2026-11-10T08:00:00",
            "IsManual": True,
            "ParentId": parent,
        }
    }
    assert fake.body(fake.sent("PATCH", "Draft/Tasks")[0]) == {
        "Work": "16h",
        f"Custom_x005f_{FLAG_HEX}": True,
        f"Custom_x005f_{CORR_HEX}": "corr-1",
    }
    assert result.item is not None and result.item.id == item_id(tid)


def test_retried_create_updates_the_task_it_already_made(fake: FakePwa, clock: FakeClock) -> None:
    tid = task_id_for("corr-2")
    fake.tasks[tid] = task(tid, "Half made", IsManual=True)  # e.g. added before a crash
    write = Write(container="Apollo", correlation_id="corr-2", fields={"Name": "New"})
    (result,) = make(fake, clock).write("task", [write])
    assert result.ok
    assert not fake.sent("POST", "Draft/Tasks/Add")
    assert fake.body(fake.sent("PATCH", "Draft/Tasks")[0])["Name"] == "New"


def test_create_in_unknown_project_names_it(fake: FakePwa, clock: FakeClock) -> None:
    (result,) = make(fake, clock).write("task", [Write(container="Zeus", fields={"Name": "x"})])
    assert isinstance(result.error, NotFoundError) and "'Zeus'" in result.error.message


def test_master_projects_are_refused_by_name(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1)
    fake.project["ProjectType"] = 6
    (result,) = make(fake, clock).write("task", writes_for([tid], Name="x"))
    assert isinstance(result.error, PermanentError)
    assert "'Apollo' is a master project" in result.error.message
    assert not fake.sent("POST", "checkOut")


def test_assignment_by_email_and_unmatched_email_warns(fake: FakePwa, clock: FakeClock) -> None:
    a, b = fake.add_tasks(2, IsManual=True)
    results = make(fake, clock).write(
        "task",
        [
            Write(id=item_id(a), fields={"AssignedTo": "ann.chen@CONTOSO.com"}),
            Write(id=item_id(b), fields={"AssignedTo": "nobody@contoso.com", "Name": "still written"}),
        ],
    )
    assert results[0].ok and not results[0].warnings
    add = fake.body(fake.sent("POST", "Draft/Assignments/Add")[0])["parameters"]
    assert add["ResourceId"] == ANN["Id"] and add["TaskId"] == a
    assert fake.sent("POST", "AddEnterpriseResourceById")  # Ann joined the team first
    assert results[1].ok
    assert any("nobody@contoso.com" in w for w in results[1].warnings)
    assert fake.tasks[b]["Name"] == "still written"


def test_transient_error_mid_cycle_publishes_what_was_written(fake: FakePwa, clock: FakeClock) -> None:
    a, b, c = fake.add_tasks(3, IsManual=True)
    fake.on(
        "PATCH",
        rf"Draft/Tasks\('{b}'\)",
        httpx.Response(
            503, headers={"Retry-After": "30"}, json={"odata.error": {"message": {"value": "busy"}}}
        ),
    )
    results = make(fake, clock).write("task", writes_for([a, b, c], Name="x"))
    assert results[0].ok
    assert isinstance(results[1].error, TransientError) and results[1].error.retry_after == 30
    assert isinstance(results[2].error, TransientError) and "not attempted" in results[2].error.message
    assert len(fake.sent("POST", "publish")) == 1


def test_expired_digest_is_renewed_once(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    digest_error = httpx.Response(
        403,
        json={
            "odata.error": {
                "code": "-2130575251, Microsoft.SharePoint.SPException",
                "message": {
                    "value": "The security validation for this page is invalid and might be corrupted."
                },
            }
        },
    )
    fake.on("POST", r"/checkOut\(\)$", digest_error, httpx.Response(200, json={"Id": PROJECT_ID}))
    (result,) = make(fake, clock).write("task", writes_for([tid], Name="x"))
    assert result.ok
    assert len(fake.sent("POST", "contextinfo")) == 2


def test_writes_for_two_projects_run_two_cycles(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    other = "55555555-5555-5555-5555-555555555555"
    fake.on("POST", rf"Projects\('{other}'\)/checkOut", ps_error(403, 10100, "CICOCheckedOutToOtherUser"))
    results = make(fake, clock).write(
        "task",
        [
            Write(id=f"{other}:{new_id(7)}", fields={"Name": "y"}),
            Write(id=item_id(tid), fields={"Name": "x"}),
        ],
    )
    assert isinstance(results[0].error, TransientError)
    assert results[1].ok


def test_find_by_correlation_uses_creates_then_the_feed(fake: FakePwa, clock: FakeClock) -> None:
    conn = make(fake, clock)
    (created,) = conn.write("task", [Write(container="Apollo", correlation_id="c-9", fields={"Name": "n"})])
    assert created.item is not None
    fake.tasks[task_id_for("c-9")][f"Custom_x005f_{CORR_HEX}"] = "c-9"
    found = conn.find_by_correlation("task", "c-9")
    assert found is not None and found.id == created.item.id
    fresh = make(fake, clock)
    fake.feed = [[{"ProjectId": PROJECT_ID, "TaskId": task_id_for("c-9")}]]
    found = fresh.find_by_correlation("task", "c-9")
    assert found is not None and found.correlation_id == "c-9"
    assert (
        f"TaskId eq guid'{task_id_for('c-9')}'"
        in fake.sent("GET", "ProjectData/Tasks")[-1].url.params["$filter"]
    )
    fake.feed = [[]]
    assert fresh.find_by_correlation("task", "c-unknown") is None


def test_failure_before_any_write_fails_every_write_with_its_reason(fake: FakePwa, clock: FakeClock) -> None:
    a, b = fake.add_tasks(2, IsManual=True)
    fake.on("GET", r"Draft/Tasks$", httpx.Response(503, json={"odata.error": {"message": {"value": "x"}}}))
    results = make(fake, clock).write(
        "task",
        [Write(id=item_id(a), fields={"Name": "ok"}), Write(id=item_id(b), fields={"Color": "red"})],
    )
    assert isinstance(results[0].error, TransientError) and "not published" in results[0].error.message
    assert isinstance(results[1].error, PermanentError) and "'Color'" in results[1].error.message
    assert fake.sent("POST", r"checkIn\(false\)")  # the project is released


def test_verbose_bodies_carry_their_types(clock: FakeClock) -> None:
    fake = FakePwa(odata="verbose")
    (tid,) = fake.add_tasks(1, IsManual=True)
    conn = make(fake, clock, odata="verbose")
    (result,) = conn.write("task", writes_for([tid], Name="v", **{"Work Item Type": "Bug"}))
    assert result.ok, result.error
    body = fake.body(fake.sent("PATCH", "Draft/Tasks")[0])
    assert body == {
        "__metadata": {"type": "PS.DraftTask"},
        "Name": "v",
        f"Custom_x005f_{WIT_HEX}": {"__metadata": {"type": "Collection(Edm.String)"}, "results": [ENTRY_BUG]},
    }
    assert fake.sent("PATCH", "Draft/Tasks")[0].headers["Content-Type"] == "application/json;odata=verbose"


def test_a_field_created_after_the_catalog_was_read_is_found(fake: FakePwa, clock: FakeClock) -> None:
    (tid,) = fake.add_tasks(1, IsManual=True)
    conn = make(fake, clock)
    conn.catalog()
    fake.custom_fields.append(
        {
            "Id": "c0000000-0000-0000-0000-000000000009",
            "Name": "Area",
            "InternalName": "Custom_" + "9" * 32,
            "FieldType": 21,
            "EntityTypeId": "aaaaaaaa-0000-0000-0000-000000000002",
        }
    )
    (result,) = conn.write("task", writes_for([tid], Area="North"))
    assert result.ok, result.error
    assert fake.body(fake.sent("PATCH", "Draft/Tasks")[0]) == {"Custom_x005f_" + "9" * 32: "North"}
    (missing,) = conn.write("task", writes_for([tid], Nope="x"))
    assert isinstance(missing.error, PermanentError)
    assert len(fake.sent("GET", "ProjectServer/CustomFields$")) == 3  # first read + one refresh per miss
