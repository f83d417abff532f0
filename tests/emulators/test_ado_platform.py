"""ADO emulator platform behaviour: base URLs, authentication, api-version negotiation, error shape,
projects, fields, work item types and connection data — each response checked against the 7.1 specs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from ado_testkit import PAT, REPO_ROOT, SpecValidator, make_client

from emulators.ado import AdoEmulator

ERROR_KEYS = {"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}


def test_base_urls_follow_the_flavor(ado: AdoEmulator, ado_server: AdoEmulator) -> None:
    assert ado.base_url == f"http://127.0.0.1:{ado.port}/contoso"
    assert ado_server.base_url == f"http://127.0.0.1:{ado_server.port}/tfs/DefaultCollection"


def test_context_manager_starts_and_stops() -> None:
    with AdoEmulator("services", org_or_collection="fabrikam", pat="p") as emu:
        assert emu.base_url.endswith("/fabrikam")
        response = httpx.get(f"{emu.base_url}/_apis/projects?api-version=7.1", headers=emu.auth_header())
        assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{emu.base_url}/_apis/projects?api-version=7.1", headers=emu.auth_header(), timeout=1)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b":wrong").decode()},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer wrong-token"},
    ],
)
def test_bad_credentials_get_401(ado: AdoEmulator, headers: dict[str, str]) -> None:
    response = httpx.get(f"{ado.base_url}/_apis/projects", params={"api-version": "7.1"}, headers=headers)
    assert response.status_code == 401
    assert set(response.json()) >= ERROR_KEYS
    assert response.json()["typeKey"] == "UnauthorizedRequestException"


def test_pat_works_with_any_user_name_and_bearer_token(ado: AdoEmulator) -> None:
    basic = base64.b64encode(f"someone@contoso.com:{PAT}".encode()).decode()
    for header in (f"Basic {basic}", "Bearer entra-token"):
        response = httpx.get(
            f"{ado.base_url}/_apis/projects", params={"api-version": "7.1"}, headers={"Authorization": header}
        )
        assert response.status_code == 200, header


def test_server_refuses_bearer_tokens() -> None:
    with pytest.raises(ValueError, match="bearer"):
        AdoEmulator("server", bearer_token="t")


def test_missing_api_version_is_400_with_real_message(ado: AdoEmulator) -> None:
    with make_client(ado, api_version=None) as c:
        response = c.post("/_apis/wit/wiql", json={"query": "SELECT [System.Id] FROM WorkItems"})
    assert response.status_code == 400
    body = response.json()
    assert body["typeKey"] == "VssVersionNotSpecifiedException"
    assert body["message"].startswith('No api-version was supplied for the "POST" request.')


def test_api_version_in_accept_header_is_honoured(ado: AdoEmulator) -> None:
    with make_client(ado, api_version=None) as c:
        response = c.get("/_apis/projects", headers={"Accept": "application/json;api-version=7.1"})
    assert response.status_code == 200
    assert "api-version=7.1" in response.headers["content-type"]


@pytest.mark.parametrize("version", ["7.1", "7.1-preview.3", "7.0", "6.0", "5.1", "7.2-preview.1", "4.1"])
def test_services_accepts_versions_up_to_7_1_and_7_2_preview(client: httpx.Client, version: str) -> None:
    assert client.get("/_apis/projects", params={"api-version": version}).status_code == 200


def test_services_wants_preview_flag_for_7_2_and_rejects_newer(client: httpx.Client) -> None:
    response = client.get("/_apis/projects", params={"api-version": "7.2"})
    assert response.status_code == 400
    assert response.json()["typeKey"] == "VssInvalidPreviewVersionException"
    response = client.get("/_apis/projects", params={"api-version": "8.0"})
    assert response.status_code == 400
    assert response.json()["typeKey"] == "VssVersionOutOfRangeException"


def test_invalid_api_version_is_400(client: httpx.Client) -> None:
    response = client.get("/_apis/projects", params={"api-version": "latest"})
    assert response.status_code == 400
    assert response.json()["typeKey"] == "VssInvalidApiVersionException"


def test_server_with_lower_ceiling_lets_the_connector_probe_and_fall_back(ado_server: AdoEmulator) -> None:
    ado_server.configure(max_api_version="6.0")
    with make_client(ado_server, api_version="7.1") as c:
        response = c.get("/_apis/projects")
        assert response.status_code == 400
        body = response.json()
        assert body["typeKey"] == "VssVersionOutOfRangeException"
        assert body["message"] == (
            "The requested REST API version of 7.1 is out of range for this server. "
            "The latest REST API version this server supports is 6.0."
        )
        assert c.get("/_apis/projects", params={"api-version": "6.0"}).status_code == 200


def test_unknown_route_is_404_and_wrong_method_405(client: httpx.Client, ado: AdoEmulator) -> None:
    assert client.get("/_apis/nothing-here").status_code == 404
    assert (
        httpx.get(
            f"{ado.root_url}/other-org/_apis/projects?api-version=7.1", headers=ado.auth_header()
        ).status_code
        == 404
    )
    response = client.put("/_apis/projects")
    assert response.status_code == 405


def test_projects_list_and_get_match_spec(
    ado: AdoEmulator, client: httpx.Client, spec: SpecValidator
) -> None:
    fabrikam = ado.seed_project("Fabrikam", "Agile", description="Main")
    ado.seed_project("Scrummy", "Scrum")
    listing = client.get("/_apis/projects").json()
    spec.check("core", "Projects_List", listing)
    assert [p["name"] for p in listing["value"]] == ["Fabrikam", "Scrummy"]
    assert listing["value"][0]["url"] == f"{ado.base_url}/_apis/projects/{fabrikam.id}"

    for key in (fabrikam.id, "Fabrikam", "fabrikam"):
        body = client.get(f"/_apis/projects/{key}", params={"includeCapabilities": "true"}).json()
        spec.check("core", "Projects_Get", body)
        assert body["id"] == fabrikam.id
    assert body["capabilities"]["processTemplate"] == {
        "templateName": "Agile",
        "templateTypeId": "adcc42ab-9882-485e-a3ed-7678f01f66bc",
    }
    missing = client.get("/_apis/projects/Nope")
    assert missing.status_code == 404
    assert missing.json()["message"].startswith("TF200016: The following project does not exist: Nope.")


def test_projects_page_with_top_and_continuation_token(ado: AdoEmulator, client: httpx.Client) -> None:
    for name in ("A", "B", "C"):
        ado.seed_project(name)
    first = client.get("/_apis/projects", params={"$top": 2})
    assert [p["name"] for p in first.json()["value"]] == ["A", "B"]
    token = first.headers["x-ms-continuationtoken"]
    second = client.get("/_apis/projects", params={"$top": 2, "continuationToken": token})
    assert [p["name"] for p in second.json()["value"]] == ["C"]
    assert "x-ms-continuationtoken" not in second.headers


def test_fields_org_and_project_scope(ado: AdoEmulator, client: httpx.Client, spec: SpecValidator) -> None:
    ado.seed_project("Fabrikam")
    for path in ("/_apis/wit/fields", "/Fabrikam/_apis/wit/fields"):
        body = client.get(path).json()
        spec.check("wit", "Fields_List", body)
        by_ref = {f["referenceName"]: f for f in body["value"]}
        assert by_ref["System.AssignedTo"]["isIdentity"] is True
        assert by_ref["System.AssignedTo"]["type"] == "string"
        assert by_ref["Microsoft.VSTS.Scheduling.RemainingWork"]["type"] == "double"
        assert by_ref["System.ChangedDate"]["readOnly"] is True
    one = client.get("/_apis/wit/fields/System.Title").json()
    spec.check("wit", "Fields_Get", one)
    assert one["name"] == "Title"
    assert client.get("/_apis/wit/fields/Title").json()["referenceName"] == "System.Title"
    assert client.get("/_apis/wit/fields/Custom.Nope").status_code == 404


def test_create_field_then_use_it(ado: AdoEmulator, client: httpx.Client, spec: SpecValidator) -> None:
    body = {"name": "Tandem Id", "referenceName": "Custom.TandemId", "type": "string", "usage": "workItem"}
    created = client.post("/_apis/wit/fields", json=body)
    assert created.status_code == 200
    spec.check("wit", "Fields_Create", created.json())
    assert client.post("/_apis/wit/fields", json=body).status_code == 409
    # A field created over REST is valid only on the types of an inherited process it was added to.
    process = ado.seed_process("Agile-Tandem", "Agile")
    ado.seed_project("Fabrikam", "Agile-Tandem")
    with pytest.raises(Exception, match="TF51535"):
        ado.seed_work_item("Fabrikam", "Task", {"System.Title": "x", "Custom.TandemId": "abc"})
    base = f"/_apis/work/processes/{process.type_id}/workItemTypes"
    derived = client.post(base, json={"inheritsFrom": "Microsoft.VSTS.WorkItemTypes.Task"}).json()
    client.post(f"{base}/{derived['referenceName']}/fields", json={"referenceName": "Custom.TandemId"})
    item = ado.seed_work_item("Fabrikam", "Task", {"System.Title": "x", "Custom.TandemId": "abc"})
    assert client.get(f"/_apis/wit/workitems/{item}").json()["fields"]["Custom.TandemId"] == "abc"


def test_work_item_types_and_states(ado: AdoEmulator, client: httpx.Client, spec: SpecValidator) -> None:
    ado.seed_project("Agile1", "Agile")
    ado.seed_project("Scrum1", "Scrum")
    ado.seed_project("Basic1", "Basic")
    agile = client.get("/Agile1/_apis/wit/workitemtypes").json()
    spec.check("wit", "Work Item Types_List", agile)
    assert {t["name"] for t in agile["value"]} >= {"Epic", "Feature", "User Story", "Task", "Bug"}
    scrum = {t["name"] for t in client.get("/Scrum1/_apis/wit/workitemtypes").json()["value"]}
    assert "Product Backlog Item" in scrum
    basic = {t["name"] for t in client.get("/Basic1/_apis/wit/workitemtypes").json()["value"]}
    assert basic == {"Epic", "Issue", "Task"}

    story = client.get("/Agile1/_apis/wit/workitemtypes/User%20Story").json()
    spec.check("wit", "Work Item Types_Get", story)
    assert story["referenceName"] == "Microsoft.VSTS.WorkItemTypes.UserStory"
    assert [s["name"] for s in story["states"]] == ["New", "Active", "Resolved", "Closed", "Removed"]
    states = client.get("/Agile1/_apis/wit/workitemtypes/Task/states").json()
    spec.check("wit", "Work Item Type States_List", states)
    assert {s["category"] for s in states["value"]} == {"Proposed", "InProgress", "Completed", "Removed"}
    missing = client.get("/Agile1/_apis/wit/workitemtypes/Spaceship")
    assert missing.status_code == 404
    assert missing.json()["message"].startswith("VS402323: Work item type Spaceship does not exist")


def test_connection_data_names_the_pat_owner(ado: AdoEmulator, ado_server: AdoEmulator) -> None:
    with make_client(ado) as c:
        body = c.get("/_apis/connectionData").json()
    assert body["authenticatedUser"]["providerDisplayName"] == "Tandem Sync"
    assert body["deploymentType"] == "hosted"
    with make_client(ado_server) as c:
        body = c.get("/_apis/connectionData").json()
    assert body["deploymentType"] == "onPremises"
    assert body["authenticatedUser"]["properties"]["Account"]["$value"] == "CONTOSO\\tandem-sync"


def test_server_responses_match_the_onprem_spec(
    ado_server: AdoEmulator, server_client: httpx.Client, spec: SpecValidator
) -> None:
    ado_server.seed_project("OnPrem")
    spec.check("core", "Projects_List", server_client.get("/_apis/projects").json(), flavor="server")
    spec.check("wit", "Fields_List", server_client.get("/_apis/wit/fields").json(), flavor="server")
    spec.check(
        "wit",
        "Work Item Types_List",
        server_client.get("/OnPrem/_apis/wit/workitemtypes").json(),
        flavor="server",
    )


def test_other_users_can_have_their_own_pats(ado: AdoEmulator) -> None:
    ado.seed_project("Fabrikam")
    ado.add_pat("ann-pat", "ann.chen@contoso.com")
    with make_client(ado, pat="ann-pat") as c:
        assert c.get("/_apis/connectionData").json()["authenticatedUser"]["providerDisplayName"] == "Ann Chen"


def test_standalone_runner_prints_urls_and_serves(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"projects": [{"name": "Demo"}]}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "emulators.ado", "--flavor", "server", "--pat", "x", "--seed", str(seed)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["baseUrl"].endswith("/tfs/DefaultCollection") and info["flavor"] == "server"
        auth = {"Authorization": "Basic " + base64.b64encode(b":x").decode()}
        projects = httpx.get(f"{info['baseUrl']}/_apis/projects?api-version=7.1", headers=auth).json()
        assert [p["name"] for p in projects["value"]] == ["Demo"]
        assert httpx.get(f"{info['controlUrl']}/health").json() == {"ok": True}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_classification_nodes(ado: AdoEmulator, client: httpx.Client, spec: SpecValidator) -> None:
    ado.seed_project("Fabrikam", areas=["Web\\Frontend", "Mobile"], iterations=["Release 1\\Sprint 1"])
    roots = client.get("/Fabrikam/_apis/wit/classificationnodes", params={"$depth": 1}).json()
    spec.check("wit", "Classification Nodes_Get Root Nodes", roots)
    area, iteration = roots["value"]
    assert area["structureType"] == "area" and area["path"] == "\\Fabrikam\\Area"
    assert [c["name"] for c in area["children"]] == ["Mobile", "Web"]
    assert "children" not in area["children"][1]  # depth 1
    deep = client.get("/Fabrikam/_apis/wit/classificationnodes/Areas/Web", params={"$depth": 5}).json()
    spec.check("wit", "Classification Nodes_Get", deep)
    assert deep["path"] == "\\Fabrikam\\Area\\Web" and deep["children"][0]["name"] == "Frontend"
    sprint = client.get("/Fabrikam/_apis/wit/classificationnodes/Iterations/Release%201/Sprint%201").json()
    assert sprint["path"] == "\\Fabrikam\\Iteration\\Release 1\\Sprint 1" and sprint["hasChildren"] is False
    assert iteration["hasChildren"] is True
    assert client.get("/Fabrikam/_apis/wit/classificationnodes/Areas/Nowhere").status_code == 404
