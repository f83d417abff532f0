"""The PWA write cycle on the emulator: check-out ownership (10100/10101/10102), draft task adds and
updates (values, scheduling, custom fields), assignments, project custom fields, publish with check-in,
check-in without publish, forced check-in, and the counters behind "one check-out, one publish"."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pwa_testkit import Scenario, client, hex32, ps, running, seed_scenario, wait_job

from emulators.pwa import PwaEmulator

PS_ERROR = "Microsoft.ProjectServer.PJClientCallableException"


@pytest.fixture
def pwa() -> Iterator[PwaEmulator]:
    with running(time_zone="Europe/Berlin") as emulator:
        yield emulator


@pytest.fixture
def scenario(pwa: PwaEmulator) -> Scenario:
    return seed_scenario(pwa)


@pytest.fixture
def c(pwa: PwaEmulator) -> Iterator[httpx.Client]:
    api = client(pwa)
    yield api
    api.close()


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    inner = body.get("odata.error") or body["error"]
    return response.status_code, inner["code"], inner["message"]["value"]


def test_check_out_ownership(pwa: PwaEmulator, scenario: Scenario, c: httpx.Client) -> None:
    pwa.add_user("ann.chen@contoso.com", "Ann Chen", password="ann")
    draft = c.post(ps(scenario.project, "/checkOut()"))
    assert draft.status_code == 200
    assert draft.json()["IsCheckedOut"] is True and draft.json()["Name"] == "Apollo"
    assert _error(c.post(ps(scenario.project, "/checkOut()"))) == (
        403,
        f"10101, {PS_ERROR}",
        "CICOAlreadyCheckedOutToYou",
    )
    ann = client(pwa, user="ann.chen@contoso.com")
    assert _error(ann.post(ps(scenario.project, "/checkOut()"))) == (
        403,
        f"10100, {PS_ERROR}",
        "CICOCheckedOutToOtherUser",
    )
    edit = ann.patch(ps(scenario.project, f"/Draft/Tasks('{scenario.build.id}')"), json={"Name": "x"})
    assert _error(edit)[1] == f"10100, {PS_ERROR}"
    who = c.get(ps(scenario.project, "/CheckedOutBy")).json()
    assert who["Email"] == pwa.service_user.email
    project = c.get(
        ps(scenario.project),
        params={"$select": "IsCheckedOut,CheckOutId,CheckedOutBy/Title", "$expand": "CheckedOutBy"},
    )
    assert project.json()["CheckedOutBy"] == {"Title": "Tandem Sync"}


def test_someone_else_holding_the_project(pwa: PwaEmulator, scenario: Scenario, c: httpx.Client) -> None:
    pwa.add_user("ann.chen@contoso.com", "Ann Chen")
    pwa.set_checkout(scenario.project, "ann.chen@contoso.com")
    response = c.post(ps(scenario.project, "/checkOut()"))
    assert _error(response) == (403, f"10100, {PS_ERROR}", "CICOCheckedOutToOtherUser")
    assert c.get(ps(scenario.project, "/CheckedOutBy")).json()["Email"] == "ann.chen@contoso.com"
    assert _error(c.post(ps(scenario.project, "/Draft/publish(true)")))[2] == "CICOCheckedOutToOtherUser"
    assert _error(c.post(ps(scenario.project, "/Draft/checkIn(false)")))[2] == "CICOCheckedOutToOtherUser"
    forced = c.post(ps(scenario.project, "/Draft/checkIn(force=true)"))  # the service account is an admin
    assert forced.status_code == 200 and forced.json()["MessageType"] == 21
    assert wait_job(c, scenario.project.id, forced.json()["Id"])["JobState"] == 4
    assert c.post(ps(scenario.project, "/checkOut()")).status_code == 200


def test_draft_writes_need_a_check_out(pwa: PwaEmulator, scenario: Scenario, c: httpx.Client) -> None:
    update = c.patch(ps(scenario.project, f"/Draft/Tasks('{scenario.build.id}')"), json={"Name": "x"})
    assert _error(update) == (403, f"10102, {PS_ERROR}", "CICONotCheckedOut")
    add = c.post(ps(scenario.project, "/Draft/Tasks/Add"), json={"parameters": {"Name": "x"}})
    assert _error(add)[2] == "CICONotCheckedOut"
    assert _error(c.post(ps(scenario.project, "/Draft/publish(true)")))[2] == "CICONotCheckedOut"
    assert _error(c.post(ps(scenario.project, "/Draft/checkIn(false)")))[2] == "CICONotCheckedOut"
    assert c.get(ps(scenario.project, "/Draft/Tasks")).status_code == 200  # reading the draft is fine


def test_full_cycle_add_update_assign_publish(pwa: PwaEmulator, scenario: Scenario, c: httpx.Client) -> None:
    project = scenario.project
    assert c.post(ps(project, "/checkOut()")).status_code == 200
    flag = f"Custom_x005f_{hex32(scenario.flag.id)}"
    wit = f"Custom_x005f_{hex32(scenario.wit.id)}"
    story = scenario.types.entry_by_value("User Story")
    assert story is not None
    new_id = "11111111-2222-3333-4444-555555555555"
    added = c.post(
        ps(project, "/Draft/Tasks/Add"),
        json={
            "parameters": {
                "Id": new_id,
                "Name": "Document",
                "ParentId": scenario.phase.id,
                "Start": "2026-11-09T08:00:00",
                "Duration": "2d",
                "IsManual": True,
                "Notes": "from ADO",
            }
        },
    )
    assert added.status_code == 200
    body = added.json()
    assert (body["Id"], body["ParentId"], body["Finish"], body["IsManual"]) == (
        new_id,
        scenario.phase.id,
        "2026-11-10T17:00:00",
        True,
    )
    duplicate = c.post(ps(project, "/Draft/Tasks/Add"), json={"parameters": {"Id": new_id, "Name": "again"}})
    assert duplicate.status_code == 400
    patch = c.patch(
        ps(project, f"/Draft/Tasks('{new_id}')"),
        json={"Work": "12h", "PercentComplete": 50, flag: True, wit: [f"Entry_{hex32(story.id)}"]},
        headers={"If-Match": "*"},
    )
    assert patch.status_code == 204
    merge = c.post(
        ps(project, f"/Draft/Tasks('{scenario.build.id}')"),
        json={"ActualWork": "8h", "Name": "Build it"},
        headers={"X-HTTP-Method": "MERGE"},
    )
    assert merge.status_code == 204
    assign = c.post(
        ps(project, "/Draft/Assignments/Add"),
        json={"parameters": {"ResourceId": scenario.bob.id, "TaskId": new_id}},
    )
    assert assign.status_code == 200
    assert assign.json()["ResourceId"] == scenario.bob.id and assign.json()["TaskId"] == new_id
    draft = c.get(ps(project, f"/Draft/Tasks('{new_id}')")).json()
    assert draft["ActualWork"] == "6h" and draft["PercentComplete"] == 50 and draft[flag] is True
    assert draft[wit] == [f"Entry_{hex32(story.id)}"]
    assert c.get(ps(project, f"/Tasks('{new_id}')")).status_code == 404  # not published yet
    job = c.post(ps(project, "/Draft/publish(true)")).json()
    assert job["MessageType"] == 24 and job["JobState"] in (1, 3)
    assert wait_job(c, project.id, job["Id"])["JobState"] == 4
    published = c.get(ps(project, f"/Tasks('{new_id}')")).json()
    assert published["Name"] == "Document" and published["Notes"] == "from ADO" and published["Work"] == "12h"
    assert c.get(ps(project, f"/Tasks('{scenario.build.id}')")).json()["ActualWork"] == "8h"
    state = c.get(ps(project), params={"$select": "IsCheckedOut,LastPublishedDate"}).json()
    assert state["IsCheckedOut"] is False
    team = {m["Email"] for m in c.get(ps(project, "/ProjectResources")).json()["value"]}
    assert team == {"ann.chen@contoso.com", "bob.stone@contoso.com"}
    assert pwa.checkouts(project) == 1 and pwa.publishes(project) == 1
    assert pwa.counters.writes("task.create") == 1 and pwa.counters.writes("task.update") == 2


def test_scheduling_auto_versus_manual_and_time_zone(
    pwa: PwaEmulator, scenario: Scenario, c: httpx.Client
) -> None:
    project = scenario.project
    c.post(ps(project, "/checkOut()"))
    saturday = "2026-11-07T10:00:00"
    auto = c.patch(ps(project, f"/Draft/Tasks('{scenario.test.id}')"), json={"Start": saturday})
    assert auto.status_code == 204
    task = c.get(ps(project, f"/Draft/Tasks('{scenario.test.id}')")).json()
    assert task["Start"] == "2026-11-09T08:00:00"  # moved to the next working time
    assert task["Finish"] == "2026-11-10T17:00:00" and task["ConstraintType"] == 4
    c.patch(ps(project, f"/Draft/Tasks('{scenario.test.id}')"), json={"IsManual": True})
    manual = c.patch(
        ps(project, f"/Draft/Tasks('{scenario.test.id}')"),
        json={"Start": "2026-11-07T09:00:00Z", "Finish": "2026-11-12T17:00:00"},
    )
    assert manual.status_code == 204
    task = c.get(ps(project, f"/Draft/Tasks('{scenario.test.id}')")).json()
    assert task["Start"] == "2026-11-07T10:00:00"  # UTC converted to Europe/Berlin, kept on a Saturday
    assert task["Duration"] == "4d"  # Mon-Thu are working days
    summary = c.get(ps(project, f"/Draft/Tasks('{scenario.phase.id}')")).json()
    assert summary["Start"] == "2026-11-02T08:00:00" and summary["Finish"] == "2026-11-12T17:00:00"
    backwards = c.patch(
        ps(project, f"/Draft/Tasks('{scenario.test.id}')"), json={"Finish": "2026-11-01T08:00:00"}
    )
    assert backwards.status_code == 400
    milestone = c.patch(ps(project, f"/Draft/Tasks('{scenario.build.id}')"), json={"Duration": "0d"})
    assert milestone.status_code == 204
    assert c.get(ps(project, f"/Draft/Tasks('{scenario.build.id}')")).json()["IsMilestone"] is True
    for fields in (
        {"Duration": "10 parsecs"},
        {"Start": "not a date"},
        {"PercentComplete": 101},
        {"Priority": "high"},
    ):
        response = c.patch(ps(project, f"/Draft/Tasks('{scenario.build.id}')"), json=fields)
        assert response.status_code == 400, fields
        assert (
            response.json()["odata.error"]["code"]
            == "-1, Microsoft.SharePoint.Client.InvalidClientQueryException"
        )


def test_unknown_and_read_only_properties(pwa: PwaEmulator, scenario: Scenario, c: httpx.Client) -> None:
    project = scenario.project
    c.post(ps(project, "/checkOut()"))
    url = ps(project, f"/Draft/Tasks('{scenario.build.id}')")
    unknown = c.patch(url, json={"Colour": "red"})
    assert unknown.status_code == 400
    assert (
        "The property 'Colour' does not exist on type 'PS.DraftTask'"
        in unknown.json()["odata.error"]["message"]["value"]
    )
    assert c.patch(url, json={"IsSummary": True}).status_code == 400
    assert c.patch(url, json={"ParentId": scenario.test.id}).status_code == 400
    assert c.patch(url, json={"Custom_x005f_" + "0" * 32: "x"}).status_code == 400
    vsts = f"Custom_x005f_{hex32(scenario.vsts.id)}"  # a project field on a task
    wrong_entity = c.patch(url, json={vsts: "x"})
    assert wrong_entity.json()["odata.error"]["code"] == f"11520, {PS_ERROR}"
    wit = f"Custom_x005f_{hex32(scenario.wit.id)}"
    not_an_entry = c.patch(url, json={wit: ["Entry_" + "f" * 32]})
    assert not_an_entry.json()["odata.error"]["code"] == f"11706, {PS_ERROR}"
    assert c.patch(url, json={wit: "Bug"}).status_code == 403  # lookup fields take Entry_ names, not text
    bad_add = c.post(ps(project, "/Draft/Tasks/Add"), json={"parameters": {"Name": "x", "Colour": "red"}})
    assert bad_add.status_code == 400
    assert c.post(ps(project, "/Draft/Tasks/Add"), json={"Name": "x"}).status_code == 400
    assert c.patch(url, content=b"{not json").status_code == 400


def test_set_custom_field_value_and_verbose_bodies(pwa: PwaEmulator, scenario: Scenario) -> None:
    project = scenario.project
    c = client(pwa, "verbose")
    c.post(ps(project, "/checkOut()"))
    bug = scenario.types.entry_by_value("Task")
    assert bug is not None
    response = c.post(
        ps(project, f"/Draft/Tasks('{scenario.test.id}')/SetCustomFieldValue"),
        json={"FieldName": scenario.wit.internal_name, "Value": [f"Entry_{hex32(bug.id)}"]},
    )
    assert response.status_code == 200 and response.json() == {"d": {"SetCustomFieldValue": None}}
    verbose_patch = c.patch(
        ps(project, f"/Draft/Tasks('{scenario.test.id}')"),
        json={
            "__metadata": {"type": "PS.DraftTask"},
            f"Custom_x005f_{hex32(scenario.flag.id)}": True,
            f"Custom_x005f_{hex32(scenario.wit.id)}": {
                "__metadata": {"type": "Collection(Edm.String)"},
                "results": [f"Entry_{hex32(bug.id)}"],
            },
        },
    )
    assert verbose_patch.status_code == 204
    task = c.get(ps(project, f"/Draft/Tasks('{scenario.test.id}')")).json()["d"]
    assert task[f"Custom_x005f_{hex32(scenario.flag.id)}"] is True
    assert task[f"Custom_x005f_{hex32(scenario.wit.id)}"]["results"] == [f"Entry_{hex32(bug.id)}"]
    added = c.post(
        ps(project, "/Draft/Tasks/Add"),
        json={"parameters": {"__metadata": {"type": "PS.TaskCreationInformation"}, "Name": "Verbose"}},
    )
    assert added.json()["d"]["__metadata"]["type"] == "PS.DraftTask"


def test_project_custom_fields_and_delete(pwa: PwaEmulator, scenario: Scenario, c: httpx.Client) -> None:
    project = scenario.project
    c.post(ps(project, "/checkOut()"))
    job = c.post(
        ps(project, "/Draft/UpdateCustomFields"),
        json={
            "customFieldDictionary": [
                {"Key": scenario.vsts.internal_name, "Value": "Contoso Web", "ValueType": "Edm.String"}
            ]
        },
    ).json()
    assert job["MessageType"] == 28
    bad = c.post(
        ps(project, "/Draft/UpdateCustomFields"),
        json={
            "customFieldDictionary": [
                {"Key": scenario.flag.internal_name, "Value": "true", "ValueType": "Edm.Boolean"}
            ]
        },
    )
    assert bad.json()["odata.error"]["code"] == f"11520, {PS_ERROR}"
    assert c.delete(ps(project, f"/Draft/Tasks('{scenario.test.id}')")).status_code == 200
    deleted = c.post(ps(project, f"/Draft/Tasks('{scenario.build.id}')/DeleteObject()"))
    assert deleted.status_code == 200
    publish = c.post(ps(project, "/Draft/publish(true)")).json()
    assert wait_job(c, project.id, publish["Id"])["JobState"] == 4
    fields = c.get(ps(project, "/IncludeCustomFields")).json()
    assert fields[f"Custom_x005f_{hex32(scenario.vsts.id)}"] == "Contoso Web"
    assert [t["Name"] for t in c.get(ps(project, "/Tasks")).json()["value"]] == ["Phase 1"]
    assert c.get(ps(project, "/Assignments")).json()["value"] == []


def test_check_in_without_publish_drops_unsaved_changes(
    pwa: PwaEmulator, scenario: Scenario, c: httpx.Client
) -> None:
    project = scenario.project
    c.post(ps(project, "/checkOut()"))
    c.patch(ps(project, f"/Draft/Tasks('{scenario.build.id}')"), json={"Name": "Saved"})
    saved = c.post(ps(project, "/Draft/update()")).json()
    assert saved["MessageType"] == 28
    c.patch(ps(project, f"/Draft/Tasks('{scenario.build.id}')"), json={"Notes": "unsaved"})
    job = c.post(ps(project, "/Draft/checkIn(false)")).json()
    assert wait_job(c, project.id, job["Id"])["JobState"] == 4
    draft = c.get(ps(project, f"/Draft/Tasks('{scenario.build.id}')")).json()
    assert draft["Name"] == "Saved" and draft["Notes"] == ""
    assert c.get(ps(project, f"/Tasks('{scenario.build.id}')")).json()["Name"] == "Build"  # never published
    assert c.get(ps(project)).json()["IsCheckedOut"] is False


def test_fifty_tasks_in_one_check_out_and_one_publish(
    pwa: PwaEmulator, scenario: Scenario, c: httpx.Client
) -> None:
    project = scenario.project
    c.post(ps(project, "/checkOut()"))
    for i in range(50):
        response = c.post(
            ps(project, "/Draft/Tasks/Add"),
            json={"parameters": {"Name": f"Item {i}", "ParentId": scenario.phase.id, "Duration": "1d"}},
        )
        assert response.status_code == 200
    job = c.post(ps(project, "/Draft/publish(true)")).json()
    assert wait_job(c, project.id, job["Id"])["JobState"] == 4
    assert len(c.get(ps(project, "/Tasks")).json()["value"]) == 53
    assert pwa.checkouts(project) == 1 and pwa.publishes(project) == 1
    assert pwa.counters.writes(f"task.create:{project.id}") == 50
    assert pwa.counters.calls("ps.draft.tasks.add") == 50


def test_projects_and_definitions_can_be_created(pwa: PwaEmulator, c: httpx.Client) -> None:
    from emulators.pwa import TASK_ENTITY_ID

    table = c.post(
        "ProjectServer/LookupTables/Add",
        json={
            "parameters": {
                "Name": "Work Item Types",
                "SortOrder": 0,
                "Entries": [
                    {"Value": {"TextValue": "Bug"}, "SortIndex": 1},
                    {"Value": {"TextValue": "Task"}, "SortIndex": 2},
                ],
            }
        },
    )
    assert table.status_code == 200
    table_id = table.json()["Id"]
    field = c.post(
        "ProjectServer/CustomFields/Add",
        json={
            "parameters": {
                "Name": "Work Item Type",
                "FieldType": 21,
                "EntityTypeId": TASK_ENTITY_ID,
                "LookupTableId": table_id,
                "IsRequired": False,
                "IsMultilineText": False,
                "Description": "ADO type",
            }
        },
    )
    assert field.status_code == 200
    assert field.json()["InternalName"] == f"Custom_{hex32(field.json()['Id'])}"
    assert field.json()["LookupTableId"] == table_id
    again = c.post(
        "ProjectServer/CustomFields/Add",
        json={"parameters": {"Name": "Work Item Type", "FieldType": 21, "EntityTypeId": TASK_ENTITY_ID}},
    )
    assert again.json()["odata.error"]["code"] == f"11519, {PS_ERROR}"
    bad_entity = c.post(
        "ProjectServer/CustomFields/Add",
        json={
            "parameters": {
                "Name": "Other",
                "FieldType": 21,
                "EntityTypeId": "00000000-0000-0000-0000-000000000001",
            }
        },
    )
    assert bad_entity.json()["odata.error"]["code"] == f"11520, {PS_ERROR}"
    dup_table = c.post("ProjectServer/LookupTables/Add", json={"parameters": {"Name": "Work Item Types"}})
    assert dup_table.json()["odata.error"]["code"] == f"11068, {PS_ERROR}"
    unknown = c.post("ProjectServer/CustomFields/Add", json={"parameters": {"Name": "X", "Colour": 1}})
    assert unknown.status_code == 400
    project = c.post(
        "ProjectServer/Projects/Add", json={"parameters": {"Name": "Hermes", "Start": "2026-12-01T08:00:00"}}
    )
    assert project.status_code == 200 and project.json()["Name"] == "Hermes"
    resource = c.post(
        "ProjectServer/EnterpriseResources/Add", json={"parameters": {"Name": "Cara Diaz"}}
    ).json()
    assert (
        c.patch(
            f"ProjectServer/EnterpriseResources('{resource['Id']}')", json={"Email": "cara@contoso.com"}
        ).status_code
        == 204
    )
    found = c.get(
        "ProjectServer/EnterpriseResources", params={"$filter": "Email eq 'cara@contoso.com'"}
    ).json()
    assert [r["Name"] for r in found["value"]] == ["Cara Diaz"]
    assert pwa.counters.writes("customfield.create") == 1 and pwa.counters.writes("lookuptable.create") == 1
