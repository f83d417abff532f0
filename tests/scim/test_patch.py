"""PATCH applied to SCIM resources in both shapes Entra ID sends, and the filter grammar (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from scim.errors import ScimError
from scim.filters import parse_filter
from scim.patch import PATCH_OP, apply_patch
from scim.provider import GROUP_INFO, USER_INFO

EXT = "urn:tandem:params:scim:schemas:extension:azuredevops:2.0:User"
USER: dict[str, Any] = {
    "id": "u1",
    "userName": "ann@contoso.com",
    "active": True,
    "displayName": "Ann",
    EXT: {"accountLicenseType": "express", "licensingSource": "account"},
}
GROUP: dict[str, Any] = {"id": "g1", "displayName": "Devs", "members": [{"value": "a"}, {"value": "b"}]}


def patch(resource: dict[str, Any], *ops: dict[str, Any], info: Any = USER_INFO) -> dict[str, Any]:
    return apply_patch(resource, {"schemas": [PATCH_OP], "Operations": list(ops)}, info).resource


@pytest.mark.parametrize(
    "op",
    [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "value": {"active": False}},
        {"op": "Replace", "value": {"active": "False"}},
        {"op": "REPLACE", "path": "ACTIVE", "value": "false"},
    ],
)
def test_active_false_in_every_shape(op: dict[str, Any]) -> None:
    assert patch(USER, op)["active"] is False


@pytest.mark.parametrize(
    "op",
    [
        {"op": "Replace", "path": f"{EXT}:accountLicenseType", "value": "advanced"},
        {"op": "replace", "value": {f"{EXT}:accountLicenseType": "advanced"}},
        {"op": "replace", "value": {EXT: {"accountLicenseType": "advanced"}}},
        {"op": "replace", "path": EXT, "value": {"accountLicenseType": "advanced"}},
    ],
)
def test_extension_attributes_with_and_without_a_path(op: dict[str, Any]) -> None:
    result = patch(USER, op)
    assert result[EXT] == {"accountLicenseType": "advanced", "licensingSource": "account"}


def test_attributes_ado_does_not_hold_are_skipped_and_listed() -> None:
    body = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "value": {"name.givenName": "Annie", "title": "Lead", "displayName": "A"}},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "x@y.z"},
            {
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "R",
            },
        ],
    }
    patched = apply_patch(USER, body, USER_INFO)
    assert patched.resource == USER
    assert len(patched.ignored) == 5


def test_member_add_and_the_two_removal_shapes() -> None:
    added = patch(
        GROUP, {"op": "Add", "path": "members", "value": [{"value": "c"}, {"value": "a"}]}, info=GROUP_INFO
    )
    assert [m["value"] for m in added["members"]] == ["a", "b", "c"]
    by_filter = patch(GROUP, {"op": "remove", "path": 'members[value eq "a"]'}, info=GROUP_INFO)
    assert [m["value"] for m in by_filter["members"]] == ["b"]
    by_list = patch(GROUP, {"op": "Remove", "path": "members", "value": [{"value": "b"}]}, info=GROUP_INFO)
    assert [m["value"] for m in by_list["members"]] == ["a"]
    everyone = patch(GROUP, {"op": "remove", "path": "members"}, info=GROUP_INFO)
    assert "members" not in everyone
    replaced = patch(GROUP, {"op": "replace", "path": "members", "value": [{"value": "z"}]}, info=GROUP_INFO)
    assert replaced["members"] == [{"value": "z"}]


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"Operations": [{"op": "add", "path": "active", "value": True}]}, "invalidSyntax"),  # no schemas
        ({"schemas": [PATCH_OP], "Operations": []}, "invalidSyntax"),
        ({"schemas": [PATCH_OP], "Operations": [{"op": "move", "path": "active"}]}, "invalidSyntax"),
        ({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]}, "noTarget"),
        ({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": "x"}]}, "invalidValue"),
        (
            {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "a b", "value": 1}]},
            "invalidPath",
        ),
    ],
)
def test_malformed_patches(body: dict[str, Any], scim_type: str) -> None:
    with pytest.raises(ScimError) as caught:
        apply_patch(USER, body, USER_INFO)
    assert caught.value.status == 400 and caught.value.scim_type == scim_type


def test_filters() -> None:
    clauses = parse_filter('userName eq "Ann@Contoso.com" and active eq true')
    assert [c.name for c in clauses] == ["userName", "active"]
    assert all(c.matches({"userName": "ann@contoso.com", "active": True}, "x") for c in clauses)
    ext = parse_filter(f'{EXT}:accountLicenseType eq "express"')
    assert ext[0].matches(USER, "urn:ietf:params:scim:schemas:core:2.0:User")
    emails = parse_filter('emails.value eq "a@b.c"')
    assert emails[0].matches({"emails": [{"value": "x@y.z"}, {"value": "A@b.c"}]}, "x")
    for bad in (
        'userName sw "a"',
        'userName eq "a" or userName eq "b"',
        'not (userName eq "a")',
        "userName eq",
    ):
        with pytest.raises(ScimError) as caught:
            parse_filter(bad)
        assert caught.value.scim_type == "invalidFilter"
