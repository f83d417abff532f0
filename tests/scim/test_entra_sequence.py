"""Microsoft Entra ID's provisioning sequence, in both PATCH shapes it sends (default, and with the
`aadOptscim062020` feature flag), checked step by step in the Azure DevOps emulator through its REST API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.scim.conftest import USER_EXT, ScimEnv

# Entra's default User mapping sends more than ADO holds (name, title, emails…): accepted and skipped.
ENTRA_USER_EXTRAS: dict[str, Any] = {
    "active": True,
    "displayName": "Ann Chen",
    "emails": [{"primary": True, "type": "work", "value": "placeholder"}],
    "name": {"formatted": "Ann Chen", "familyName": "Chen", "givenName": "Ann"},
    "title": "Engineer",
    "preferredLanguage": "en-GB",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
}

SHAPES: dict[str, dict[str, Any]] = {
    # Without the flag: capitalised ops, booleans as strings, member removal by value list also possible.
    "default": {
        "deactivate": {"op": "Replace", "path": "active", "value": "False"},
        "reactivate": {"op": "Replace", "path": "active", "value": "True"},
        "title": {"op": "Replace", "path": "title", "value": "Lead"},
        "licence": {"op": "Replace", "path": f"{USER_EXT}:accountLicenseType", "value": "advanced"},
        "add_member": lambda uid: {"op": "Add", "path": "members", "value": [{"value": uid}]},
        "remove_member": lambda uid: {"op": "Remove", "path": f'members[value eq "{uid}"]'},
    },
    # With aadOptscim062020: lower-case ops, real booleans, path-less replace with dotted/URN keys.
    "aadOptscim062020": {
        "deactivate": {"op": "replace", "value": {"active": False}},
        "reactivate": {"op": "replace", "path": "active", "value": True},
        "title": {"op": "replace", "value": {"title": "Lead", "name.givenName": "Annie"}},
        "licence": {"op": "replace", "value": {f"{USER_EXT}:accountLicenseType": "advanced"}},
        "add_member": lambda uid: {"op": "add", "path": "members", "value": [{"value": uid}]},
        "remove_member": lambda uid: {"op": "remove", "path": f'members[value eq "{uid}"]'},
    },
}


@pytest.mark.e2e
@pytest.mark.parametrize("shape", list(SHAPES))
def test_entra_provisioning_sequence(env: ScimEnv, shape: str) -> None:
    ops = SHAPES[shape]
    user_name = f"ann.{shape.lower()}.{uuid.uuid4().hex[:6]}@contoso.com"

    # Entra first looks the user up by userName: nothing yet, an empty ListResponse.
    found = env.scim.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert found.status_code == 200 and found.json()["totalResults"] == 0
    assert found.headers["content-type"].startswith("application/scim+json")

    # Create: ADO gets a user entitlement with a Basic licence.
    extras = {**ENTRA_USER_EXTRAS, "emails": [{"primary": True, "type": "work", "value": user_name}]}
    created = env.create_user(user_name, externalId=f"ext-{shape}", **extras)
    user_id = created["id"]
    assert env.user(user_id)["user"]["principalName"] == user_name
    assert env.access(user_id) == "express"
    assert created["active"] is True and created["externalId"] == f"ext-{shape}"

    # Filter by userName finds it, with the same id.
    found = env.scim.get("/Users", params={"filter": f'userName eq "{user_name.upper()}"'}).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == user_id
    by_external = env.scim.get("/Users", params={"filter": f'externalId eq "ext-{shape}"'}).json()
    assert [r["id"] for r in by_external["Resources"]] == [user_id]

    # Attributes ADO cannot hold are accepted (and skipped) so Entra's updates do not fail.
    assert env.patch(f"/Users/{user_id}", ops["title"]).status_code == 200

    # active "False": the licence goes (stakeholder), the user stays.
    response = env.patch(f"/Users/{user_id}", ops["deactivate"])
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert env.access(user_id) == "stakeholder"
    inactive = env.scim.get("/Users", params={"filter": f'userName eq "{user_name}"'}).json()
    assert inactive["Resources"][0]["active"] is False  # inactive users are still returned

    # Back to active: the licence it had is restored.
    response = env.patch(f"/Users/{user_id}", ops["reactivate"])
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True
    assert env.access(user_id) == "express"

    # A licence change through the extension.
    response = env.patch(f"/Users/{user_id}", ops["licence"])
    assert response.status_code == 200, response.text
    assert env.access(user_id) == "advanced"

    # A group with a licence rule; "Add members" puts the user in it.
    group = env.create_group(f"Engineering {shape} {uuid.uuid4().hex[:6]}")
    group_id = group["id"]
    assert env.members(group_id) == []
    groups = env.scim.get(
        "/Groups",
        params={"filter": f'displayName eq "{group["displayName"]}"', "excludedAttributes": "members"},
    ).json()
    assert [g["id"] for g in groups["Resources"]] == [group_id] and "members" not in groups["Resources"][0]
    response = env.patch(f"/Groups/{group_id}", ops["add_member"](user_id))
    assert response.status_code == 200, response.text
    assert env.members(group_id) == [user_id]
    assert [g["id"] for g in env.user(user_id)["groupAssignments"]] == [group_id]
    assert [g["value"] for g in env.scim.get(f"/Users/{user_id}").json()["groups"]] == [group_id]

    # Removal by the members[value eq "…"] path.
    response = env.patch(f"/Groups/{group_id}", ops["remove_member"](user_id))
    assert response.status_code == 200, response.text
    assert env.members(group_id) == []
    assert env.user(user_id)["groupAssignments"] == []

    # Deprovisioning: DELETE removes the user from the organization.
    assert env.scim.delete(f"/Users/{user_id}").status_code == 204
    assert env.ado.get(f"/_apis/userentitlements/{user_id}").status_code == 404
    assert env.scim.get(f"/Users/{user_id}").status_code == 404


@pytest.mark.e2e
def test_member_removal_by_a_value_list(env: ScimEnv) -> None:
    """Entra without the flag: `{"op":"Remove","path":"members","value":[{"value":id}]}` removes those."""
    first = env.create_user(f"first.{uuid.uuid4().hex[:6]}@contoso.com")["id"]
    second = env.create_user(f"second.{uuid.uuid4().hex[:6]}@contoso.com")["id"]
    group_id = env.create_group(
        f"Pair {uuid.uuid4().hex[:6]}", members=[{"value": first}, {"value": second}]
    )["id"]
    assert sorted(env.members(group_id)) == sorted([first, second])
    response = env.patch(
        f"/Groups/{group_id}", {"op": "Remove", "path": "members", "value": [{"value": first}]}
    )
    assert response.status_code == 200, response.text
    assert env.members(group_id) == [second]
    assert [m["value"] for m in response.json()["members"]] == [second]
