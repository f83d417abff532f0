"""The ProjectData reporting feed of the PWA emulator: lag behind publish, ``$filter`` on modified dates
with ``datetime'…'`` literals, ``$select``/``$orderby``/``$top``/``$skip``, server paging, both JSON
shapes (``/Date()/`` and decimal strings in verbose), site-local dates and custom fields by name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pwa_testkit import Scenario, client, ps, running, seed_scenario, wait_job

from emulators.pwa import PwaEmulator

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


@pytest.fixture
def pwa() -> Iterator[PwaEmulator]:
    with running(time_zone="Europe/Berlin", queue_delay=1.0, reporting_delay=30.0) as emulator:
        emulator.clock.freeze(START)
        yield emulator


@pytest.fixture
def scenario(pwa: PwaEmulator) -> Scenario:
    return seed_scenario(pwa)


def _names(body: dict) -> list[str]:
    rows = body["d"]["results"] if "d" in body else body["value"]
    return [r.get("TaskName") or r.get("ProjectName") for r in rows]


def test_seeded_rows_and_custom_fields_by_display_name(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    projects = c.get("ProjectData/Projects").json()["value"]
    assert len(projects) == 1
    row = projects[0]
    assert row["ProjectId"] == scenario.project.id and row["ProjectName"] == "Apollo"
    assert row["VSTSProject"] == "Fabrikam" and row["ProjectType"] == 0
    assert row["ProjectModifiedDate"].startswith("2026-11-02T09:00:00")
    assert row["ProjectWork"] == "40.000000" and row["ProjectDuration"] == "3.000000"
    tasks = c.get("ProjectData/Tasks", params={"$orderby": "TaskIndex"}).json()["value"]
    assert [t["TaskName"] for t in tasks] == ["Apollo", "Phase 1", "Build", "Test"]
    summary, phase, build, _ = tasks
    assert summary["TaskIsProjectSummary"] is True and summary["TaskIndex"] == 0
    assert summary["ParentTaskId"] == summary["TaskId"]
    assert phase["ParentTaskId"] == summary["TaskId"] and build["ParentTaskId"] == scenario.phase.id
    assert build["SyncwithVSTS"] is True and build["WorkItemType"] == "Bug"
    assert phase["SyncwithVSTS"] is None
    assert build["TaskWork"] == "24.000000" and build["TaskDuration"] == "3.000000"
    assert build["TaskStartDate"] == "2026-11-02T08:00:00" and build["TaskOutlineNumber"] == "1.1"
    one = c.get(f"ProjectData/Projects(guid'{scenario.project.id}')").json()
    assert one["ProjectName"] == "Apollo"
    nav = c.get(f"ProjectData/Projects(guid'{scenario.project.id}')/Tasks", params={"$select": "TaskName"})
    assert len(nav.json()["value"]) == 4
    assert c.get("ProjectData/Projects(guid'00000000-0000-0000-0000-000000000001')").status_code == 404
    resources = c.get(
        "ProjectData/Resources", params={"$filter": "ResourceEmailAddress eq 'ann.chen@contoso.com'"}
    )
    assert [r["ResourceName"] for r in resources.json()["value"]] == ["Ann Chen"]
    assignments = c.get("ProjectData/Assignments").json()["value"]
    assert assignments[0]["ResourceId"] == scenario.ann.id and assignments[0]["AssignmentWork"] == "24.000000"


def test_publish_reaches_projectdata_only_after_the_lag(pwa: PwaEmulator, scenario: Scenario) -> None:
    pid = scenario.project.id
    watermark = "2026-11-02T09:30:00"
    query = {
        "$filter": f"TaskModifiedDate gt datetime'{watermark}'",
        "$select": "TaskId,TaskName,TaskModifiedDate",
    }
    pwa.clock.advance(3600)  # 10:00 Berlin
    c = client(pwa)  # a digest lives 30 minutes
    c.post(ps(pid, "/checkOut()"))
    c.patch(ps(pid, f"/Draft/Tasks('{scenario.build.id}')"), json={"PercentComplete": 40})
    saved = c.post(ps(pid, "/Draft/update()")).json()
    pwa.clock.advance(60)
    assert wait_job(c, pid, saved["Id"])["JobState"] == 4
    pwa.clock.advance(60)
    assert c.get("ProjectData/Tasks", params=query).json()["value"] == []  # a draft save never shows
    job = c.post(ps(pid, "/Draft/publish(true)")).json()
    pwa.clock.advance(1)
    assert wait_job(c, pid, job["Id"])["JobState"] == 4
    assert c.get("ProjectData/Tasks", params=query).json()["value"] == []  # published, reporting lags
    pwa.clock.advance(29)  # 10:02:30, the publish finished at 10:02:01
    assert c.get("ProjectData/Tasks", params=query).json()["value"] == []
    pwa.clock.advance(1)
    rows = c.get("ProjectData/Tasks", params=query).json()["value"]
    assert {r["TaskName"] for r in rows} == {"Build", "Apollo"}  # the task and the project summary row
    assert all(r["TaskModifiedDate"].startswith("2026-11-02T10:00:00") for r in rows)  # saved, Berlin time
    project = c.get(
        "ProjectData/Projects", params={"$select": "ProjectModifiedDate,ProjectLastPublishedDate"}
    )
    assert project.json()["value"][0]["ProjectLastPublishedDate"] == "2026-11-02T10:02:01"
    pct = c.get("ProjectData/Tasks", params={"$filter": f"TaskId eq guid'{scenario.build.id}'"}).json()[
        "value"
    ]
    assert pct[0]["TaskPercentCompleted"] == 40 and pct[0]["TaskActualWork"] == "9.600000"


def test_person_edits_lag_too(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    pwa.add_user("ann.chen@contoso.com", "Ann Chen")
    pwa.clock.advance(10)
    pwa.edit_task(
        scenario.project,
        scenario.test,
        {"Name": "Test all", "Work Item Type": "Task"},
        by="ann.chen@contoso.com",
    )
    assert c.get(ps(scenario.project, f"/Tasks('{scenario.test.id}')")).json()["Name"] == "Test all"
    query = {"$filter": f"TaskId eq guid'{scenario.test.id}'"}
    assert c.get("ProjectData/Tasks", params=query).json()["value"][0]["TaskName"] == "Test"
    pwa.clock.advance(30)
    row = c.get("ProjectData/Tasks", params=query).json()["value"][0]
    assert row["TaskName"] == "Test all" and row["WorkItemType"] == "Task"
    pwa.set_checkout(scenario.project, pwa.service_user.email)
    with pytest.raises(Exception, match="CICOCheckedOutToOtherUser"):
        pwa.edit_task(scenario.project, scenario.test, {"Name": "again"}, by="ann.chen@contoso.com")


def test_filters_and_query_options(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    pid = scenario.project.id
    cases = {
        "TaskModifiedDate ge datetime'2026-11-02T09:00:00' and TaskIsSummary eq false": ["Build", "Test"],
        "TaskModifiedDate lt datetime'2026-11-02T09:00:00'": [],
        f"ProjectId eq guid'{pid}' and (TaskName eq 'Build' or TaskName eq 'Test')": ["Build", "Test"],
        "not TaskIsSummary and TaskWork gt 20": ["Build"],
        "TaskDuration eq 2M": ["Test"],
        "substringof('uil', TaskName)": ["Build"],
        "startswith(TaskName, 'Pha') eq true": ["Phase 1"],
        "TaskPercentCompleted le 0 and TaskIndex ge 2": ["Build", "Test"],
        "WorkItemType eq 'Bug'": ["Build"],
        "ParentTaskName eq null": [],
    }
    for expression, expected in cases.items():
        body = c.get("ProjectData/Tasks", params={"$filter": expression, "$orderby": "TaskIndex"}).json()
        assert _names(body) == expected, expression
    selected = c.get(
        "ProjectData/Tasks", params={"$select": "TaskName,TaskId", "$top": "1", "$orderby": "TaskName desc"}
    )
    assert selected.json()["value"] == [{"TaskName": "Test", "TaskId": scenario.test.id}]
    skipped = c.get(
        "ProjectData/Tasks", params={"$orderby": "TaskIndex", "$skip": "3", "$select": "TaskName"}
    )
    assert _names(skipped.json()) == ["Test"]
    for bad in (
        {"$filter": "Nope eq 1"},
        {"$filter": "TaskName eq"},
        {"$select": "Nope"},
        {"$orderby": "Nope"},
        {"$top": "x"},
    ):
        response = c.get("ProjectData/Tasks", params=bad)
        assert response.status_code == 400, bad
        assert response.json()["odata.error"]["code"].endswith("InvalidClientQueryException")


def test_paging_follows_next_links_in_both_shapes(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Big")
    for i in range(25):
        pwa.seed_task(project, f"T{i:02d}")
    pwa.configure(project_data_page_size=10)
    for kind in ("nometadata", "verbose", "minimal"):
        c = client(pwa, kind, digest=False)
        url: str | None = (
            f"{pwa.base_url}/_api/ProjectData/Tasks?$select=TaskId,TaskName&$filter=TaskIndex gt 0"
        )
        seen: list[str] = []
        pages = 0
        while url:
            body = c.get(url).json()
            pages += 1
            if kind == "verbose":
                rows, url = body["d"]["results"], body["d"].get("__next")
                assert all(r["__metadata"]["type"] == "ReportingData.Task" for r in rows)
            else:
                rows, url = body["value"], body.get("odata.nextLink")
            if url:
                assert "$skiptoken=" in url and "$select=TaskId" in url
            seen.extend(r["TaskName"] for r in rows)
        assert pages == 3 and sorted(seen) == [f"T{i:02d}" for i in range(25)], kind
    ordered = client(pwa)
    top = ordered.get(
        "ProjectData/Tasks",
        params={"$orderby": "TaskName", "$top": "15", "$select": "TaskName", "$filter": "TaskIndex gt 0"},
    ).json()
    assert len(top["value"]) == 10 and "$top=5" in top["odata.nextLink"]
    rest = ordered.get(top["odata.nextLink"]).json()
    assert [r["TaskName"] for r in rest["value"]] == ["T10", "T11", "T12", "T13", "T14"]
    assert "odata.nextLink" not in rest


def test_verbose_dates_and_decimals(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa, "verbose")
    body = c.get("ProjectData/Tasks", params={"$filter": f"TaskId eq guid'{scenario.build.id}'"}).json()
    row = body["d"]["results"][0]
    assert row["__metadata"]["uri"].endswith(
        f"/ProjectData/Tasks(ProjectId=guid'{scenario.project.id}',TaskId=guid'{scenario.build.id}')"
    )
    ms = int((datetime(2026, 11, 2, 8, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)
    assert row["TaskStartDate"] == f"/Date({ms})/"  # local wall time read as UTC, WCF style
    assert row["TaskWork"] == "24.000000"
    minimal = client(pwa, "minimal").get("ProjectData/Projects").json()
    assert minimal["odata.metadata"].endswith("ProjectData/$metadata#Projects")


def test_projectdata_is_read_only(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    assert c.post("ProjectData/Tasks", json={}).status_code == 405
    plain = httpx.get(f"{pwa.base_url}/_api/ProjectData/Tasks", headers={"Accept": "application/json"})
    assert plain.status_code == 401
