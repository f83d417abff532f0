"""ADO emulator inherited-process customization (`_apis/work/processes`): processes, deriving system work
item types, adding organization fields to a type; system processes refuse changes. Responses are checked
against the processes 7.1 spec."""

from __future__ import annotations

import httpx
from ado_testkit import SpecValidator, add_fields, create

from emulators.ado import AdoEmulator
from emulators.ado.processes import PROCESS_TYPE_IDS

AGILE = PROCESS_TYPE_IDS["Agile"]
BUG = "Microsoft.VSTS.WorkItemTypes.Bug"
FIELD = {
    "name": "Sync with Project Online",
    "referenceName": "Custom.SyncwithProjectOnline",
    "type": "boolean",
}


def _types(client: httpx.Client, process_id: str) -> dict[str, dict]:
    body = client.get(f"/_apis/work/processes/{process_id}/workItemTypes").json()
    return {t["name"]: t for t in body["value"]}


def test_processes_list_system_and_inherited(ado: AdoEmulator, client: httpx.Client, spec: SpecValidator):
    inherited = ado.seed_process("Agile-Tandem", "Agile")
    body = client.get("/_apis/work/processes").json()
    spec.check("processes", "Processes_List", body)
    by_name = {p["name"]: p for p in body["value"]}
    assert {"Agile", "Scrum", "CMMI", "Basic", "Agile-Tandem"} <= set(by_name)
    assert by_name["Agile"]["customizationType"] == "system"
    assert by_name["Agile"]["parentProcessTypeId"] == "00000000-0000-0000-0000-000000000000"
    assert by_name["Agile-Tandem"]["customizationType"] == "inherited"
    assert by_name["Agile-Tandem"]["parentProcessTypeId"] == AGILE
    one = client.get(f"/_apis/work/processes/{inherited.type_id}").json()
    spec.check("processes", "Processes_Get", one)
    assert client.get("/_apis/work/processes/00000000-0000-0000-0000-00000000abcd").status_code == 404


def test_project_capabilities_name_its_inherited_process(ado: AdoEmulator, client: httpx.Client):
    inherited = ado.seed_process("Agile-Tandem", "Agile")
    project = ado.seed_project("Fabrikam", "Agile-Tandem")
    body = client.get(f"/_apis/projects/{project.id}", params={"includeCapabilities": "true"}).json()
    template = body["capabilities"]["processTemplate"]
    assert template == {"templateName": "Agile-Tandem", "templateTypeId": inherited.type_id}
    # the project has the parent's work item types
    names = {t["name"] for t in client.get("/Fabrikam/_apis/wit/workitemtypes").json()["value"]}
    assert {"Bug", "User Story", "Task"} <= names


def test_derive_a_type_add_a_field_then_work_items_accept_it(
    ado: AdoEmulator, client: httpx.Client, spec: SpecValidator
):
    process = ado.seed_process("Agile-Tandem", "Agile").type_id
    ado.seed_project("Fabrikam", "Agile-Tandem")
    before = _types(client, process)
    spec.check("processes", "Work Item Types_List", {"count": len(before), "value": list(before.values())})
    assert before["Bug"]["customization"] == "system" and before["Bug"]["referenceName"] == BUG

    assert client.post("/_apis/wit/fields", json={**FIELD, "usage": "workItem"}).status_code == 200
    flag = {"op": "add", "path": "/fields/Custom.SyncwithProjectOnline", "value": True}
    ops = [*add_fields(System_Title="x"), flag]
    refused = create(client, "Fabrikam", "Bug", ops)
    assert refused.status_code == 400 and "TF51535" in refused.json()["message"]

    base = f"/_apis/work/processes/{process}/workItemTypes"
    # a system type must be derived before it is customized
    assert (
        client.post(f"{base}/{BUG}/fields", json={"referenceName": FIELD["referenceName"]}).status_code == 400
    )
    derived = client.post(base, json={"inheritsFrom": BUG, "name": "Bug"})
    assert derived.status_code == 200, derived.text
    spec.check("processes", "Work Item Types_Create", derived.json())
    ref = derived.json()["referenceName"]
    assert ref == "AgileTandem.Bug" and derived.json()["inherits"] == BUG
    assert derived.json()["customization"] == "inherited"
    assert client.post(base, json={"inheritsFrom": BUG}).status_code == 409
    assert _types(client, process)["Bug"]["referenceName"] == ref

    added = client.post(
        f"{base}/{ref}/fields", json={"referenceName": FIELD["referenceName"], "required": False}
    )
    assert added.status_code == 200, added.text
    spec.check("processes", "Fields_Add", added.json())
    assert added.json()["type"] == "boolean" and added.json()["customization"] == "custom"
    fields = client.get(f"{base}/{ref}/fields").json()
    spec.check("processes", "Fields_List", fields)
    assert FIELD["referenceName"] in {f["referenceName"] for f in fields["value"]}

    made = create(client, "Fabrikam", "Bug", ops)
    assert made.status_code == 200, made.text
    assert made.json()["fields"]["Custom.SyncwithProjectOnline"] is True
    # other types of the process still refuse it; unknown fields still 400
    assert create(client, "Fabrikam", "Task", [*add_fields(System_Title="t"), flag]).status_code == 400
    unknown = add_fields(System_Title="x", Custom_Nope="y")
    assert create(client, "Fabrikam", "Bug", unknown).status_code == 400
    assert client.post(f"{base}/{ref}/fields", json={"referenceName": "Custom.Nope"}).status_code == 400


def test_system_processes_refuse_changes(ado: AdoEmulator, client: httpx.Client):
    client.post("/_apis/wit/fields", json=FIELD)
    base = f"/_apis/work/processes/{AGILE}/workItemTypes"
    derived = client.post(base, json={"inheritsFrom": BUG})
    assert derived.status_code == 403
    assert derived.json()["message"].startswith("VS402356")
    added = client.post(f"{base}/{BUG}/fields", json={"referenceName": FIELD["referenceName"]})
    assert added.status_code == 403


def test_seed_processes_through_the_control_api(ado: AdoEmulator, client: httpx.Client):
    seeded = httpx.post(
        f"{ado.control_url}/seed",
        json={
            "processes": [{"name": "Basic-Tandem", "parent": "Basic"}],
            "projects": [{"name": "B", "process": "Basic-Tandem"}],
        },
    )
    assert seeded.status_code < 300, seeded.text
    body = client.get("/_apis/work/processes").json()
    basic = next(p for p in body["value"] if p["name"] == "Basic-Tandem")
    assert basic["parentProcessTypeId"] == PROCESS_TYPE_IDS["Basic"]
    assert set(_types(client, basic["typeId"])) == {"Epic", "Issue", "Task"}
