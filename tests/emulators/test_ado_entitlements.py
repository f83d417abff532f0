"""The emulator's Member Entitlement Management, project creation and operations endpoints: their
behaviours (paging, refusals as 200 + isSuccess false, no 409 for an existing user, ids kept across
re-adds, group names never reused, asynchronous projects) and their bodies against the 7.1 specs and
Microsoft's httpExamples (copies under specs/ado)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from ado_testkit import PATCH_HEADERS, REPO_ROOT

EXAMPLES = REPO_ROOT / "specs" / "ado" / "memberEntitlementManagement" / "7.1" / "httpExamples"
SCRUM = "6b724908-ef14-45cf-84f8-768b5384da45"
BASIC = {"licensingSource": "account", "accountLicenseType": "express"}


# The httpExamples predate 7.1; these keys are not in the 7.1 definitions, so the emulator leaves them out.
NOT_IN_71 = {"extensions", "extensionRules", "projectEntitlements.isProjectPermissionInherited"}


def _example(path: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / path).read_text(encoding="utf-8-sig"))["responses"]["200"]["body"]


def _keys(node: Any) -> set[str]:
    """Every key path in a JSON value (lists by their first element)."""
    out: set[str] = set()

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                out.add(prefix + key)
                walk(child, prefix + key + ".")
        elif isinstance(value, list) and value:
            walk(value[0], prefix)

    walk(node, "")
    return out


def add_user(client: httpx.Client, principal: str, access: dict[str, str] | None = None) -> httpx.Response:
    body = {"accessLevel": access or BASIC, "user": {"principalName": principal, "subjectKind": "user"}}
    return client.post("/_apis/userentitlements", json=body)


def add_group(client: httpx.Client, name: str, project_id: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "group": {"origin": "vsts", "displayName": name, "subjectKind": "group"},
        "licenseRule": BASIC,
    }
    if project_id:
        body["projectEntitlements"] = [
            {"group": {"groupType": "projectContributor"}, "projectRef": {"id": project_id}}
        ]
    return client.post("/_apis/groupentitlements", json=body)


def test_user_entitlements_match_the_spec_and_the_example(client: httpx.Client, spec: Any) -> None:
    response = add_user(client, "ann@fabrikam.com")
    assert response.status_code == 200
    body = response.json()
    spec.check("entitlements", "User Entitlements_Add", body)
    assert body["isSuccess"] is True and body["operationResult"]["isSuccess"] is True
    user_id = body["userEntitlement"]["id"]
    got = client.get(f"/_apis/userentitlements/{user_id}").json()
    spec.check("entitlements", "User Entitlements_Get", got)
    example = _example("UserEntitlements/GET__memberEntitlementManagement_UserEntitlementById.json")
    assert _keys(example) - NOT_IN_71 <= _keys(got), _keys(example) - NOT_IN_71 - _keys(got)
    assert got["user"]["principalName"] == "ann@fabrikam.com"
    assert got["accessLevel"]["licenseDisplayName"] == "Basic"
    assert got["accessLevel"]["status"] == "pending"  # never signed in yet


def test_adding_an_existing_user_returns_it_and_a_re_added_user_keeps_its_id(client: httpx.Client) -> None:
    first = add_user(client, "bob@fabrikam.com").json()["userEntitlement"]
    advanced = {"licensingSource": "account", "accountLicenseType": "advanced"}
    again = add_user(client, "BOB@fabrikam.com", advanced)
    assert again.status_code == 200  # no 409
    assert again.json()["userEntitlement"]["id"] == first["id"]
    assert again.json()["userEntitlement"]["accessLevel"]["accountLicenseType"] == "express"  # unchanged
    assert client.delete(f"/_apis/userentitlements/{first['id']}").status_code == 204
    assert client.get(f"/_apis/userentitlements/{first['id']}").status_code == 404
    re_added = add_user(client, "bob@fabrikam.com").json()["userEntitlement"]
    assert re_added["id"] == first["id"]


def test_refusals_are_200_with_is_success_false(client: httpx.Client, spec: Any) -> None:
    response = add_user(client, "not-an-email")
    assert response.status_code == 200
    body = response.json()
    spec.check("entitlements", "User Entitlements_Add", body)
    assert body["isSuccess"] is False
    assert "VS403283" in body["operationResult"]["errors"][0]["value"]
    user_id = add_user(client, "cy@fabrikam.com").json()["userEntitlement"]["id"]
    ops = [{"op": "replace", "path": "/accessLevel", "value": {"accountLicenseType": "gold"}}]
    patched = client.patch(f"/_apis/userentitlements/{user_id}", json=ops, headers=PATCH_HEADERS)
    assert patched.status_code == 200
    spec.check("entitlements", "User Entitlements_Update User Entitlement", patched.json())
    assert patched.json()["isSuccess"] is False
    level = {"licensingSource": "account", "accountLicenseType": "stakeHolder"}  # ADO's example spelling
    ops = [{"op": "replace", "path": "/accessLevel", "value": level}]
    patched = client.patch(f"/_apis/userentitlements/{user_id}", json=ops, headers=PATCH_HEADERS).json()
    assert patched["isSuccess"] is True
    assert patched["userEntitlement"]["accessLevel"]["accountLicenseType"] == "stakeholder"


def test_users_are_paged_by_100_with_continuation_tokens(ado: Any, client: httpx.Client, spec: Any) -> None:
    for i in range(230):
        ado.directory.add_member(f"user{i:03}@fabrikam.com", BASIC, ado.state.now())
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        response = client.get("/_apis/userentitlements", params={"continuationToken": token} if token else {})
        body = response.json()
        spec.check("entitlements", "User Entitlements_Search User Entitlements", body)
        assert body["totalCount"] == 230
        seen += [u["user"]["principalName"] for u in body["items"]]
        pages += 1
        token = body.get("continuationToken")
        assert response.headers.get("x-ms-continuationtoken") == token
        if not token:
            break
    assert pages == 3 and len(seen) == 230 == len(set(seen))
    found = client.get("/_apis/userentitlements", params={"$filter": "name eq 'user007'"}).json()
    assert [u["user"]["principalName"] for u in found["items"]] == ["user007@fabrikam.com"]


def test_group_entitlements_members_and_names_never_reused(ado: Any, client: httpx.Client, spec: Any) -> None:
    project = ado.seed_project("HockeyApp")
    created = add_group(client, "Web Team", project.id)
    assert created.status_code == 201
    spec.check_definition("entitlements", "GroupEntitlementOperationReference", created.json())
    group = created.json()["results"][0]["result"]
    got = client.get(f"/_apis/groupentitlements/{group['id']}").json()
    spec.check("entitlements", "Group Entitlements_Get", got)
    example = _example("GroupEntitlements/GET__memberEntitlementManagement_GroupEntitlement.json")
    assert _keys(example) - NOT_IN_71 <= _keys(got), _keys(example) - NOT_IN_71 - _keys(got)
    listed = client.get("/_apis/groupentitlements").json()
    spec.check("entitlements", "Group Entitlements_List", listed)
    user_id = add_user(client, "dee@fabrikam.com").json()["userEntitlement"]["id"]
    members_url = f"/_apis/GroupEntitlements/{group['id']}/members"
    assert client.put(f"{members_url}/{user_id}").status_code == 200
    members = client.get(members_url).json()
    spec.check("entitlements", "Members_Get", members)
    assert [m["id"] for m in members["members"]] == [user_id]
    user = client.get(f"/_apis/userentitlements/{user_id}").json()
    assert [g["id"] for g in user["groupAssignments"]] == [group["id"]]
    assert client.delete(f"{members_url}/{user_id}").status_code == 200
    assert client.get(members_url).json()["members"] == []
    deleted = client.delete(f"/_apis/groupentitlements/{group['id']}")
    spec.check("entitlements", "Group Entitlements_Delete", deleted.json())
    again = add_group(client, "web team").json()
    assert again["haveResultsSucceeded"] is False
    assert "VS403294" in again["results"][0]["errors"][0]["value"]


def test_entitlements_do_not_exist_on_server(server_client: httpx.Client) -> None:
    assert server_client.get("/_apis/userentitlements").status_code == 404


@pytest.mark.parametrize("source_control", ["Git", "Tfvc"])
def test_project_creation_is_asynchronous(client: httpx.Client, spec: Any, source_control: str) -> None:
    name = f"Provisioned-{source_control}"
    body = {
        "name": name,
        "description": "made by SCIM",
        "visibility": "private",
        "capabilities": {
            "versioncontrol": {"sourceControlType": source_control},
            "processTemplate": {"templateTypeId": SCRUM},
        },
    }
    queued = client.post("/_apis/projects", json=body)
    assert queued.status_code == 202
    spec.check_definition("core", "OperationReference", queued.json())
    assert client.get(f"/_apis/projects/{name}").status_code == 404  # not there until the operation ends
    op_url = f"/_apis/operations/{queued.json()['id']}"
    first = client.get(op_url).json()
    spec.check("operations", "Operations_Get", first)
    assert first["status"] == "inProgress"
    assert client.get(op_url).json()["status"] == "succeeded"
    project = client.get(f"/_apis/projects/{name}", params={"includeCapabilities": "true"}).json()
    spec.check("core", "Projects_Get", project)
    assert project["capabilities"]["processTemplate"]["templateTypeId"] == SCRUM
    assert project["capabilities"]["versioncontrol"]["sourceControlType"] == source_control
    assert client.post("/_apis/projects", json=body).status_code == 409


def test_project_creation_refuses_an_unknown_process(client: httpx.Client) -> None:
    body = {
        "name": "X",
        "capabilities": {
            "versioncontrol": {"sourceControlType": "Git"},
            "processTemplate": {"templateTypeId": "00000000-0000-0000-0000-00000000000f"},
        },
    }
    response = client.post("/_apis/projects", json=body)
    assert response.status_code == 400
    assert "VS402361" in response.json()["message"]


def test_example_files_are_copied_with_their_licence() -> None:
    assert (REPO_ROOT / "specs" / "ado" / "LICENSE").is_file()
    assert Path(EXAMPLES).is_dir()


def test_graph_views_of_members_and_groups(ado: Any, client: httpx.Client, spec: Any) -> None:
    for i in range(120):
        ado.directory.add_member(f"g{i:03}@fabrikam.com", BASIC, ado.state.now())
    user = add_user(client, "eve@fabrikam.com").json()["userEntitlement"]
    group = add_group(client, "Graph Team").json()["results"][0]["result"]
    client.put(f"/_apis/GroupEntitlements/{group['id']}/members/{user['id']}")
    first = client.get("/_apis/graph/users")
    spec.check("graph", "Users_List", first.json())
    assert first.json()["count"] == 100
    token = first.headers["X-MS-ContinuationToken"]
    rest = client.get("/_apis/graph/users", params={"continuationToken": token}).json()
    assert rest["count"] == 21 and "X-MS-ContinuationToken" not in client.get("/_apis/graph/groups").headers
    descriptor = user["user"]["descriptor"]
    got = client.get(f"/_apis/graph/users/{descriptor}").json()
    spec.check("graph", "Users_Get", got)
    assert got == user["user"]
    # The links an entitlement carries resolve.
    assert client.get(user["user"]["_links"]["self"]["href"].split("/contoso")[1]).status_code == 200
    groups = client.get("/_apis/graph/groups").json()
    spec.check("graph", "Groups_List", groups)
    group_descriptor = group["group"]["descriptor"]
    spec.check("graph", "Groups_Get", client.get(f"/_apis/graph/groups/{group_descriptor}").json())
    up = client.get(f"/_apis/graph/memberships/{descriptor}", params={"direction": "up"}).json()
    spec.check("graph", "Memberships_List", up)
    assert [m["containerDescriptor"] for m in up["value"]] == [group_descriptor]
    down = client.get(f"/_apis/graph/memberships/{group_descriptor}", params={"direction": "down"}).json()
    assert [m["memberDescriptor"] for m in down["value"]] == [descriptor]
    key = client.get(f"/_apis/graph/storagekeys/{descriptor}").json()
    spec.check("graph", "Storage Keys_Get", key)
    assert key["value"] == user["id"]
    back = client.get(f"/_apis/graph/descriptors/{user['id']}").json()
    spec.check("graph", "Descriptors_Get", back)
    assert back["value"] == descriptor
    assert client.get("/_apis/graph/users/aad.bm9ib2R5").status_code == 404
