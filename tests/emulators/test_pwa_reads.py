"""Reading from the PWA emulator's ProjectServer API: projects (with project custom fields), published
tasks with custom field values, assignments, resources, custom fields, lookup tables, entity types,
query options, both JSON shapes, and every entity checked against the ProjectServer ``$metadata``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pwa_testkit import (
    SP2019_METADATA,
    Scenario,
    client,
    hex32,
    metadata,
    ps,
    running,
    seed_scenario,
    shape_problems,
)

from emulators.pwa import PROJECT_ENTITY_ID, TASK_ENTITY_ID, PwaEmulator


@pytest.fixture
def pwa() -> Iterator[PwaEmulator]:
    with running(time_zone="Europe/Berlin") as emulator:
        yield emulator


@pytest.fixture
def scenario(pwa: PwaEmulator) -> Scenario:
    return seed_scenario(pwa)


def test_projects_list_get_select_filter(pwa: PwaEmulator, scenario: Scenario) -> None:
    pwa.seed_project("Zeus")
    c = client(pwa)
    projects = c.get("ProjectServer/Projects", params={"$select": "Id,Name,IsCheckedOut,ProjectType"}).json()
    assert {p["Name"] for p in projects["value"]} == {"Apollo", "Zeus"}
    assert all(set(p) == {"Id", "Name", "IsCheckedOut", "ProjectType"} for p in projects["value"])
    filtered = c.get("ProjectServer/Projects", params={"$filter": "Name eq 'Apollo'"}).json()["value"]
    assert [p["Id"] for p in filtered] == [scenario.project.id]
    by_guid = c.get(f"ProjectServer/Projects/GetByGuid('{scenario.project.id}')").json()
    assert by_guid["Name"] == "Apollo"
    project = c.get(ps(scenario.project)).json()
    assert project["SummaryTaskId"] and project["IsCheckedOut"] is False
    assert project["StartDate"] == "2026-11-02T08:00:00" and project["FinishDate"] == "2026-11-04T17:00:00"
    assert f"Custom_x005f_{hex32(scenario.vsts.id)}" not in project
    with_fields = c.get(ps(scenario.project, "/IncludeCustomFields")).json()
    assert with_fields[f"Custom_x005f_{hex32(scenario.vsts.id)}"] == "Fabrikam"
    expanded = c.get(
        "ProjectServer/Projects",
        params={"$expand": "IncludeCustomFields", "$select": "Name,IncludeCustomFields"},
    ).json()["value"]
    apollo = next(p for p in expanded if p["Name"] == "Apollo")
    assert apollo["IncludeCustomFields"][f"Custom_x005f_{hex32(scenario.vsts.id)}"] == "Fabrikam"
    ordered = c.get("ProjectServer/Projects", params={"$orderby": "Name desc", "$top": "1"}).json()["value"]
    assert [p["Name"] for p in ordered] == ["Zeus"]
    assert c.get("ProjectServer/Projects", params={"$select": "Nope"}).status_code == 400
    assert c.get("ProjectServer/Projects", params={"$filter": "Name eq"}).status_code == 400


def test_published_tasks_carry_custom_fields_and_outline(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    tasks = c.get(ps(scenario.project, "/Tasks")).json()["value"]
    assert [t["Name"] for t in tasks] == ["Phase 1", "Build", "Test"]
    phase, build, test = tasks
    assert phase["IsSummary"] is True and phase["OutlineLevel"] == 1 and phase["OutlinePosition"] == "1"
    assert (
        build["OutlineLevel"] == 2 and build["OutlinePosition"] == "1.1" and test["OutlinePosition"] == "1.2"
    )
    assert build["Duration"] == "3d" and build["DurationMilliseconds"] == 3 * 8 * 3600 * 1000
    assert build["DurationTimeSpan"] == "P1D" and build["WorkTimeSpan"] == "P1D"
    assert build["Work"] == "24h" and build["RemainingWork"] == "24h" and build["ActualWork"] == "0h"
    assert build["Start"] == "2026-11-02T08:00:00" and build["Finish"] == "2026-11-04T17:00:00"
    assert test["Start"] == "2026-11-02T08:00:00" and test["Finish"] == "2026-11-03T17:00:00"
    assert phase["Work"] == "40h" and phase["Duration"] == "3d"
    flag = f"Custom_x005f_{hex32(scenario.flag.id)}"
    wit = f"Custom_x005f_{hex32(scenario.wit.id)}"
    bug = scenario.types.entry_by_value("Bug")
    assert bug is not None
    assert build[flag] is True
    assert build[wit] == [f"Entry_{hex32(bug.id)}"]
    assert flag not in test and wit not in test  # unset values are absent
    assert "ParentId" not in build  # PublishedTask has the Parent navigation only
    parents = c.get(
        ps(scenario.project, "/Tasks"), params={"$select": "Name,Parent/Id", "$expand": "Parent"}
    ).json()["value"]
    summary_id = c.get(ps(scenario.project)).json()["SummaryTaskId"]
    assert parents[0]["Parent"] == {"Id": summary_id}
    assert parents[1]["Parent"] == {"Id": scenario.phase.id}
    one = c.get(ps(scenario.project, f"/Tasks('{scenario.build.id}')")).json()
    assert one["Name"] == "Build"
    assert c.get(ps(scenario.project, "/Tasks('00000000-0000-0000-0000-000000000009')")).status_code == 404
    flagged = c.get(ps(scenario.project, "/Tasks"), params={"$filter": f"{flag} eq true"}).json()
    assert [t["Name"] for t in flagged["value"]] == ["Build"]


def test_verbose_collections_and_lookup_values(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa, "verbose")
    body = c.get(ps(scenario.project, "/Tasks")).json()
    results = body["d"]["results"]
    build = results[1]
    assert build["__metadata"]["type"] == "PS.PublishedTask"
    assert build["__metadata"]["uri"].endswith(f"/Tasks('{scenario.build.id}')")
    assert build["Assignments"] == {"__deferred": {"uri": build["__metadata"]["uri"] + "/Assignments"}}
    wit = build[f"Custom_x005f_{hex32(scenario.wit.id)}"]
    assert wit["__metadata"] == {"type": "Collection(Edm.String)"} and len(wit["results"]) == 1
    summary = c.get(ps(scenario.project, "/ProjectSummaryTask")).json()["d"]
    assert summary["__metadata"]["type"] == "PS.ProjectSummaryTask" and summary["Name"] == "Apollo"


def test_assignments_team_and_resources(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    assignments = c.get(
        ps(scenario.project, "/Assignments"),
        params={"$select": "Id,Work,Resource/Email,Task/Id", "$expand": "Resource,Task"},
    ).json()["value"]
    assert len(assignments) == 1
    assert assignments[0]["Resource"] == {"Email": "ann.chen@contoso.com"}
    assert assignments[0]["Task"] == {"Id": scenario.build.id}
    assert assignments[0]["Work"] == "24h"
    per_task = c.get(ps(scenario.project, f"/Tasks('{scenario.test.id}')/Assignments")).json()["value"]
    assert per_task == []
    team = c.get(ps(scenario.project, "/ProjectResources")).json()["value"]
    assert [m["Email"] for m in team] == ["ann.chen@contoso.com"]
    resources = c.get(
        "ProjectServer/EnterpriseResources", params={"$filter": "Email eq 'bob.stone@contoso.com'"}
    )
    assert [r["Name"] for r in resources.json()["value"]] == ["Bob Stone"]
    one = c.get(f"ProjectServer/EnterpriseResources('{scenario.ann.id}')").json()
    assert one["Email"] == "ann.chen@contoso.com" and one["IsActive"] is True and one["ResourceType"] == 2


def test_custom_fields_lookup_tables_and_entity_types(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    fields = c.get(
        "ProjectServer/CustomFields",
        params={"$select": "Id,Name,InternalName,FieldType,EntityTypeId,LookupTableId"},
    )
    by_name = {f["Name"]: f for f in fields.json()["value"]}
    assert by_name["Sync with VSTS"]["InternalName"] == f"Custom_{hex32(scenario.flag.id)}"
    assert by_name["Sync with VSTS"]["FieldType"] == 17
    assert by_name["Sync with VSTS"]["EntityTypeId"] == TASK_ENTITY_ID
    assert by_name["Sync with VSTS"]["LookupTableId"] == "00000000-0000-0000-0000-000000000000"
    assert by_name["VSTS Project"]["EntityTypeId"] == PROJECT_ENTITY_ID
    assert by_name["Work Item Type"]["LookupTableId"] == scenario.types.id
    entries = c.get(f"ProjectServer/CustomFields('{scenario.wit.id}')/LookupEntries").json()["value"]
    assert [(e["Value"], e["FullValue"]) for e in entries] == [
        ("Bug", "Bug"),
        ("Task", "Task"),
        ("User Story", "User Story"),
    ]
    assert all(e["InternalName"] == f"Entry_{hex32(e['Id'])}" for e in entries)
    table = c.get(f"ProjectServer/CustomFields('{scenario.wit.id}')/LookupTable").json()
    assert table["Name"] == "Work Item Types"
    tables = c.get("ProjectServer/LookupTables", params={"$expand": "Entries"}).json()["value"]
    assert [e["Value"] for e in tables[0]["Entries"]] == ["Bug", "Task", "User Story"]
    assert (
        c.get(f"ProjectServer/LookupTables('{scenario.types.id}')/Entries").json()["value"][0]["Value"]
        == "Bug"
    )
    types = client(pwa, "verbose").get("ProjectServer/EntityTypes").json()["d"]
    assert set(types) >= {"TaskEntity", "ProjectEntity", "ResourceEntity", "AssignmentEntity"}
    task_entity = c.get("ProjectServer/EntityTypes/TaskEntity").json()
    assert task_entity == {"Name": "TaskEntity", "ID": TASK_ENTITY_ID}
    expanded = c.get("ProjectServer/EntityTypes", params={"$expand": "ProjectEntity"}).json()
    assert expanded["ProjectEntity"]["ID"] == PROJECT_ENTITY_ID


def test_master_projects_are_marked(pwa: PwaEmulator) -> None:
    pwa.seed_project("Child")
    master = pwa.seed_project("Programme", master=True, subprojects=["Child", "Other"])
    c = client(pwa)
    body = c.get(ps(master), params={"$select": "Name,ProjectType"}).json()
    assert body == {"Name": "Programme", "ProjectType": 6}
    inserted = c.get(ps(master, "/Tasks"), params={"$select": "Name,IsSubProject,ExternalProjectUid"}).json()
    child = pwa.project("Child")
    assert inserted["value"][0] == {"Name": "Child", "IsSubProject": True, "ExternalProjectUid": child.id}
    other = c.get("ProjectServer/Projects", params={"$filter": "Name eq 'Other'"}).json()["value"][0]
    assert other["ProjectType"] == 5


def test_every_entity_matches_the_metadata(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    pwa.set_checkout(scenario.project, pwa.service_user.email)
    checks = [
        ("PS.PublishedProject", c.get(ps(scenario.project, "/IncludeCustomFields")).json()),
        ("PS.DraftProject", c.get(ps(scenario.project, "/Draft")).json()),
        ("PS.ProjectSummaryTask", c.get(ps(scenario.project, "/ProjectSummaryTask")).json()),
        ("PS.EnterpriseResource", c.get(f"ProjectServer/EnterpriseResources('{scenario.ann.id}')").json()),
        ("PS.CustomField", c.get(f"ProjectServer/CustomFields('{scenario.wit.id}')").json()),
        ("PS.LookupTable", c.get(f"ProjectServer/LookupTables('{scenario.types.id}')").json()),
        ("PS.EntityType", c.get("ProjectServer/EntityTypes/TaskEntity").json()),
    ]
    checks += [("PS.PublishedTask", t) for t in c.get(ps(scenario.project, "/Tasks")).json()["value"]]
    checks += [("PS.DraftTask", t) for t in c.get(ps(scenario.project, "/Draft/Tasks")).json()["value"]]
    checks += [
        ("PS.PublishedAssignment", a) for a in c.get(ps(scenario.project, "/Assignments")).json()["value"]
    ]
    checks += [
        ("PS.DraftAssignment", a) for a in c.get(ps(scenario.project, "/Draft/Assignments")).json()["value"]
    ]
    checks += [
        ("PS.PublishedProjectResource", m)
        for m in c.get(ps(scenario.project, "/ProjectResources")).json()["value"]
    ]
    checks += [
        ("PS.DraftProjectResource", m)
        for m in c.get(ps(scenario.project, "/Draft/ProjectResources")).json()["value"]
    ]
    checks += [
        ("PS.LookupText", e)
        for e in c.get(f"ProjectServer/LookupTables('{scenario.types.id}')/Entries").json()["value"]
    ]
    job = c.post(ps(scenario.project, "/Draft/update()")).json()
    checks.append(("PS.QueueJob", job))
    problems = [p for type_name, entity in checks for p in shape_problems(type_name, entity)]
    assert problems == []
    # every declared property is present (nothing the metadata promises is missing)
    task = c.get(ps(scenario.project, f"/Tasks('{scenario.build.id}')")).json()
    declared = set(metadata()["PS.PublishedTask"].properties)
    assert declared <= set(task)


def test_server_flavor_matches_the_project_server_2019_metadata() -> None:
    with running("server") as server:
        scenario = seed_scenario(server)
        c = client(server)
        task = c.get(ps(scenario.project, f"/Tasks('{scenario.build.id}')")).json()
        field = c.get(f"ProjectServer/CustomFields('{scenario.wit.id}')").json()
        resource = c.get(f"ProjectServer/EnterpriseResources('{scenario.ann.id}')").json()
        assert shape_problems("PS.PublishedTask", task, SP2019_METADATA) == []
        assert shape_problems("PS.CustomField", field, SP2019_METADATA) == []
        assert shape_problems("PS.EnterpriseResource", resource, SP2019_METADATA) == []
        assert "IsDurationEstimate" not in task and "ShowToolTip" not in field
