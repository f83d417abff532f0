"""SCIM behaviours over real HTTP: bearer-token auth, SCIM error bodies, mandatory attributes, Azure
DevOps's own behaviours surfaced (existing users, re-added users, group names, isSuccess false, 429),
paging over ADO's pages of 100, attributes/excludedAttributes, discovery."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest

from tests.scim.conftest import GROUP_EXT, USER_EXT, ScimEnv

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@contoso.com"


@pytest.mark.e2e
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic Zm9vOmJhcg==", "Bearer"])
def test_a_401_says_nothing_more(env: ScimEnv, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = httpx.get(f"{env.url}/Users", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"schemas": [ERROR], "status": "401", "detail": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.e2e
def test_discovery_documents(env: ScimEnv) -> None:
    config = env.scim.get("/ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = {t["id"]: t for t in env.scim.get("/ResourceTypes").json()["Resources"]}
    assert set(types) == {"User", "Group", "Project"}
    assert types["Project"]["endpoint"] == "/Projects"
    assert types["Group"]["schemaExtensions"] == [{"schema": GROUP_EXT, "required": True}]
    schema_ids = {s["id"] for s in env.scim.get("/Schemas").json()["Resources"]}
    assert {USER_EXT, GROUP_EXT, "urn:tandem:params:scim:schemas:azuredevops:2.0:Project"} <= schema_ids
    user_schema = env.scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    user_name = next(a for a in user_schema["attributes"] if a["name"] == "userName")
    assert user_name["required"] is True and user_name["mutability"] == "immutable"
    assert env.scim.get("/Schemas/urn:nope").status_code == 404
    assert env.scim.post("/ServiceProviderConfig", json={}).status_code == 405
    assert env.scim.get("/Nothing").json()["schemas"] == [ERROR]


@pytest.mark.e2e
def test_user_name_is_mandatory_and_named(env: ScimEnv) -> None:
    response = env.scim.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})
    assert response.status_code == 400
    body = response.json()
    assert body["schemas"] == [ERROR] and body["scimType"] == "invalidValue"
    assert "'userName'" in body["detail"]
    assert response.headers["content-type"].startswith("application/scim+json")


@pytest.mark.e2e
@pytest.mark.parametrize(
    "missing", ["displayName", "accountLicenseType", "licensingSource", "msdnLicenseType"]
)
def test_group_mandatory_attributes_are_named(env: ScimEnv, missing: str) -> None:
    rule = {"accountLicenseType": "express", "licensingSource": "account", "msdnLicenseType": "none"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "X", GROUP_EXT: rule}
    if missing == "displayName":
        del body["displayName"]
    else:
        del rule[missing]
    response = env.scim.post("/Groups", json=body)
    assert response.status_code == 400
    assert missing in response.json()["detail"]


@pytest.mark.e2e
def test_a_non_email_user_name_is_refused_with_ados_reason(env: ScimEnv) -> None:
    # ADO answers 200 with isSuccess false: an error, not a success.
    response = env.scim.post("/Users", json={"userName": "not-an-address"})
    assert response.status_code == 400
    assert "VS403283" in response.json()["detail"]


@pytest.mark.e2e
def test_creating_an_existing_user_returns_the_existing_one(env: ScimEnv) -> None:
    user_name = _unique("twice")
    first = env.create_user(user_name)
    second = env.create_user(user_name.upper())  # ADO answers with the user it has: no 409
    assert second["id"] == first["id"]


@pytest.mark.e2e
def test_a_deleted_then_re_added_user_keeps_its_id(env: ScimEnv) -> None:
    user_name = _unique("back")
    first = env.create_user(user_name)
    assert env.scim.delete(f"/Users/{first['id']}").status_code == 204
    again = env.create_user(user_name)
    assert again["id"] == first["id"]


@pytest.mark.e2e
def test_a_group_name_used_before_is_refused_even_after_deletion(env: ScimEnv) -> None:
    name = f"Reused {uuid.uuid4().hex[:6]}"
    group = env.create_group(name)
    assert env.scim.delete(f"/Groups/{group['id']}").status_code == 204
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
    body[GROUP_EXT] = {
        "accountLicenseType": "express",
        "licensingSource": "account",
        "msdnLicenseType": "none",
    }
    response = env.scim.post("/Groups", json=body)
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert "VS403294" in response.json()["detail"]


@pytest.mark.e2e
def test_user_name_and_group_name_cannot_change(env: ScimEnv) -> None:
    user = env.create_user(_unique("fixed"))
    response = env.patch(
        f"/Users/{user['id']}", {"op": "replace", "path": "userName", "value": _unique("other")}
    )
    assert response.status_code == 400 and response.json()["scimType"] == "mutability"
    group = env.create_group(f"Fixed {uuid.uuid4().hex[:6]}")
    response = env.patch(f"/Groups/{group['id']}", {"op": "replace", "path": "displayName", "value": "Other"})
    assert response.status_code == 400 and response.json()["scimType"] == "mutability"


@pytest.mark.e2e
def test_malformed_patches_are_400(env: ScimEnv) -> None:
    user = env.create_user(_unique("patchy"))
    no_ops = env.scim.patch(
        f"/Users/{user['id']}", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
    )
    assert no_ops.status_code == 400 and no_ops.json()["scimType"] == "invalidSyntax"
    bad_op = env.patch(f"/Users/{user['id']}", {"op": "Frobnicate", "path": "active", "value": True})
    assert bad_op.status_code == 400
    bad_bool = env.patch(f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "maybe"})
    assert bad_bool.status_code == 400 and "active" in bad_bool.json()["detail"]


@pytest.mark.e2e
def test_filters_other_than_eq_and_and_are_refused(env: ScimEnv) -> None:
    response = env.scim.get("/Users", params={"filter": 'userName co "ann"'})
    assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter"
    probe = env.scim.get("/Users", params={"filter": f'userName eq "{uuid.uuid4()}@x.com"'})
    assert probe.status_code == 200 and probe.json()["totalResults"] == 0 and probe.json()["Resources"] == []


@pytest.mark.e2e
def test_and_filters_and_attributes(env: ScimEnv) -> None:
    user_name = _unique("attrs")
    user = env.create_user(user_name, externalId="attrs-ext", active=True)
    both = env.scim.get(
        "/Users", params={"filter": f'userName eq "{user_name}" and externalId eq "attrs-ext"'}
    ).json()
    assert [r["id"] for r in both["Resources"]] == [user["id"]]
    neither = env.scim.get(
        "/Users", params={"filter": f'userName eq "{user_name}" and externalId eq "other"'}
    ).json()
    assert neither["totalResults"] == 0
    only = env.scim.get(f"/Users/{user['id']}", params={"attributes": "userName"}).json()
    assert set(only) == {"schemas", "id", "userName"}
    without = env.scim.get(f"/Users/{user['id']}", params={"excludedAttributes": "emails,active"}).json()
    assert "emails" not in without and "active" not in without and without["userName"] == user_name
    details = env.scim.get(f"/Users/{user['id']}", params={"attributes": f"{USER_EXT}:descriptor"}).json()
    assert details[USER_EXT]["descriptor"].startswith("aad.")


@pytest.mark.e2e
def test_start_index_and_count_over_ados_pages_of_100(env: ScimEnv) -> None:
    directory = env.emulator.directory
    for i in range(230):
        directory.add_member(
            f"paged{i:03}.{uuid.uuid4().hex[:4]}@contoso.com",
            {"licensingSource": "account", "accountLicenseType": "stakeholder"},
            env.emulator.state.now(),
        )
    expected = [m.id for m in directory.live_members()]  # ADO's order
    calls_before = env.emulator.counters.calls("mem.userentitlements.search")
    page = env.scim.get("/Users", params={"startIndex": 95, "count": 10}).json()
    assert page["totalResults"] == len(expected)
    assert page["startIndex"] == 95 and page["itemsPerPage"] == 10
    assert [r["id"] for r in page["Resources"]] == expected[94:104]  # spans ADO's first two pages
    assert env.emulator.counters.calls("mem.userentitlements.search") - calls_before == 2  # not all pages
    tail = env.scim.get("/Users", params={"startIndex": len(expected) - 2, "count": 10}).json()
    assert [r["id"] for r in tail["Resources"]] == expected[-3:]
    none = env.scim.get("/Users", params={"count": 0}).json()
    assert none["totalResults"] == len(expected) and none["Resources"] == []


@pytest.mark.e2e
def test_throttling_is_passed_on_with_retry_after(env: ScimEnv) -> None:
    env.emulator.faults.add(endpoint="mem.userentitlements.add", status=429, retry_after=3, times=1)
    response = env.scim.post("/Users", json={"userName": _unique("throttled")})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["schemas"] == [ERROR]
    # The identity provider retries after the pause and succeeds.
    env.emulator.faults.clear()
    assert env.scim.post("/Users", json={"userName": _unique("retried")}).status_code == 201


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("connection", "status", "text"),
    [("ado-server", 501, "admin console"), ("", 503, "SCIM_ADO_CONNECTION"), ("nope", 503, "'nope'")],
)
def test_the_connection_must_be_an_ado_services_organization(
    env: ScimEnv, connection: str, status: int, text: str
) -> None:
    services = env.stack.services
    assert services is not None
    original = services.settings
    services.settings = original.model_copy(update={"scim_ado_connection": connection})
    try:
        response = env.scim.get("/Users")
    finally:
        services.settings = original
    assert response.status_code == status
    assert text in response.json()["detail"]


@pytest.mark.e2e
def test_an_unknown_member_is_a_400_not_a_missing_group(env: ScimEnv) -> None:
    group = env.create_group(f"Strict {uuid.uuid4().hex[:6]}")
    stranger = str(uuid.uuid4())
    response = env.patch(
        f"/Groups/{group['id']}", {"op": "Add", "path": "members", "value": [{"value": stranger}]}
    )
    assert response.status_code == 400 and stranger in response.json()["detail"]
    assert env.members(group["id"]) == []


@pytest.mark.e2e
def test_a_put_without_the_licence_keeps_it(env: ScimEnv) -> None:
    """Clients that replace users with PUT (Okta) and do not map the licence must not strip it."""
    user_name = _unique("put")
    user = env.create_user(user_name, active=True, **{USER_EXT: {"accountLicenseType": "advanced"}})
    assert env.access(user["id"]) == "advanced"
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": "p",
    }
    replaced = env.scim.put(f"/Users/{user['id']}", json=body)
    assert replaced.status_code == 200, replaced.text
    assert env.access(user["id"]) == "advanced"
    assert replaced.json()["active"] is True and replaced.json()["externalId"] == "p"
    body[USER_EXT] = {"accountLicenseType": "stakeholder"}
    assert env.scim.put(f"/Users/{user['id']}", json=body).status_code == 200
    assert env.access(user["id"]) == "stakeholder"


@pytest.mark.e2e
def test_tokens_never_reach_logs_tables_or_replies(env: ScimEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "canary-scim-token-5ecret"
    refused = httpx.get(f"{env.url}/Users", headers={"Authorization": f"Bearer {canary}"})
    accepted = env.create_user(_unique("canary"), externalId="canary-ext")
    replies = refused.text + json.dumps(accepted) + json.dumps(dict(refused.headers))
    services = env.stack.services
    assert services is not None
    rows = json.dumps([dict(r) for r in services.tables.table("scim").list_entities()], default=str)
    for secret in (canary, env.token):
        assert secret not in caplog.text
        assert secret not in replies
        assert secret not in rows
