"""Projects through SCIM: creation waits for ADO's asynchronous operation, then the project exists with the
requested process and version control, and the SCIM response says so."""

from __future__ import annotations

import uuid

import pytest

from tests.scim.conftest import ScimEnv

PROJECT_SCHEMA = "urn:tandem:params:scim:schemas:azuredevops:2.0:Project"
AGILE = "adcc42ab-9882-485e-a3ed-7678f01f66bc"
SCRUM = "6b724908-ef14-45cf-84f8-768b5384da45"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("process", "process_name", "vc"), [(AGILE, "Agile", "Git"), (SCRUM, "Scrum", "Tfvc")]
)
def test_project_created_through_scim_exists_once_the_operation_completes(
    env: ScimEnv, process: str, process_name: str, vc: str
) -> None:
    name = f"Provisioned {vc} {uuid.uuid4().hex[:6]}"
    polls_before = env.emulator.counters.calls("operations.get")
    body = {
        "schemas": [PROJECT_SCHEMA],
        "displayName": name,
        "description": "created by the identity provider",
        "processTemplateTypeId": process,
        "versionControl": vc,
        "externalId": f"proj-{vc}",
    }
    response = env.scim.post("/Projects", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    # The operation was polled until it succeeded (the emulator needs two polls).
    assert env.emulator.counters.calls("operations.get") - polls_before >= 2
    project = env.ado.get(f"/_apis/projects/{created['id']}", params={"includeCapabilities": "true"}).json()
    assert project["name"] == name
    assert project["capabilities"]["processTemplate"]["templateTypeId"] == process
    assert project["capabilities"]["versioncontrol"]["sourceControlType"] == vc
    assert created["displayName"] == name
    assert created["processTemplateTypeId"] == process and created["processTemplateName"] == process_name
    assert created["versionControl"] == vc
    assert created["gitEnabled"] is (vc == "Git") and created["tfvcEnabled"] is (vc == "Tfvc")
    assert created["state"] == "wellFormed" and created["externalId"] == f"proj-{vc}"
    assert response.headers["Location"] == created["meta"]["location"]

    listed = env.scim.get("/Projects", params={"filter": f'displayName eq "{name}"'}).json()
    assert [p["id"] for p in listed["Resources"]] == [created["id"]]

    # Rename (asynchronous too), then the process cannot change.
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
    renamed = env.scim.patch(
        f"/Projects/{created['id']}",
        json={**patch, "Operations": [{"op": "replace", "path": "description", "value": "renamed"}]},
    )
    assert renamed.status_code == 200, renamed.text
    assert env.ado.get(f"/_apis/projects/{created['id']}").json()["description"] == "renamed"
    refused = env.scim.patch(
        f"/Projects/{created['id']}",
        json={**patch, "Operations": [{"op": "replace", "path": "versionControl", "value": "Other"}]},
    )
    assert refused.status_code == 400 and refused.json()["scimType"] == "mutability"

    assert env.scim.delete(f"/Projects/{created['id']}").status_code == 204
    assert env.ado.get(f"/_apis/projects/{created['id']}").status_code == 404


@pytest.mark.e2e
@pytest.mark.parametrize("missing", ["displayName", "processTemplateTypeId", "versionControl"])
def test_project_creation_names_the_missing_attribute(env: ScimEnv, missing: str) -> None:
    body = {
        "schemas": [PROJECT_SCHEMA],
        "displayName": f"Incomplete {uuid.uuid4().hex[:6]}",
        "processTemplateTypeId": AGILE,
        "versionControl": "Git",
    }
    del body[missing]
    response = env.scim.post("/Projects", json=body)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert f"'{missing}'" in response.json()["detail"]


@pytest.mark.e2e
def test_an_unknown_process_is_refused_with_ados_reason(env: ScimEnv) -> None:
    body = {
        "schemas": [PROJECT_SCHEMA],
        "displayName": f"Bad process {uuid.uuid4().hex[:6]}",
        "processTemplateTypeId": str(uuid.uuid4()),
        "versionControl": "Git",
    }
    response = env.scim.post("/Projects", json=body)
    assert response.status_code == 400
    assert "VS402361" in response.json()["detail"]
