"""Azure DevOps objects as SCIM resources and back: user entitlement ↔ User, group entitlement ↔ Group,
project ↔ Project. ADO's licence value "none" is the absence of a value in SCIM."""

from __future__ import annotations

from typing import Any

from scim.errors import invalid, missing
from scim.models import GROUP_EXTENSION, PROJECT_SCHEMA, USER_EXTENSION
from scim.store import ScimRecord

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LICENCE_KEYS = ("accountLicenseType", "licensingSource", "msdnLicenseType")
DEFAULT_ACCESS = {"licensingSource": "account", "accountLicenseType": "express", "msdnLicenseType": "none"}
STAKEHOLDER = {"licensingSource": "account", "accountLicenseType": "stakeholder", "msdnLicenseType": "none"}


def get(node: Any, key: str) -> Any:
    """A key of a SCIM object, matched case-insensitively (attribute names are not case-sensitive)."""
    if not isinstance(node, dict):
        return None
    lowered = key.lower()
    return next((v for k, v in node.items() if k.lower() == lowered), None)


def _some(value: Any) -> Any:
    return None if value in (None, "", "none") else value


def _prune(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if v not in (None, [], {})}


# --- users ---------------------------------------------------------------------------------------------


def user_resource(entitlement: dict[str, Any], record: ScimRecord, base_url: str) -> dict[str, Any]:
    user = entitlement.get("user") or {}
    access = entitlement.get("accessLevel") or {}
    mail = user.get("mailAddress")
    extension = _prune(
        {
            "accountLicenseType": _some(access.get("accountLicenseType")),
            "licensingSource": _some(access.get("licensingSource")),
            "msdnLicenseType": _some(access.get("msdnLicenseType")),
            "licenseDisplayName": access.get("licenseDisplayName"),
            "status": access.get("status"),
            "statusMessage": access.get("statusMessage") or None,
            "assignmentSource": access.get("assignmentSource"),
            "origin": user.get("origin"),
            "originId": user.get("originId"),
            "descriptor": user.get("descriptor"),
            "subjectKind": user.get("subjectKind"),
            "metaType": user.get("metaType"),
            "domain": user.get("domain"),
            "directoryAlias": user.get("directoryAlias"),
            "projectEntitlements": [
                _prune(
                    {
                        "value": (p.get("projectRef") or {}).get("id"),
                        "display": (p.get("projectRef") or {}).get("name"),
                        "type": (p.get("group") or {}).get("groupType"),
                    }
                )
                for p in entitlement.get("projectEntitlements") or []
            ],
        }
    )
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA, USER_EXTENSION],
        "id": entitlement["id"],
        "externalId": record.external_id,
        "userName": user.get("principalName"),
        "displayName": user.get("displayName"),
        "active": record.active,
        "emails": [{"value": mail, "type": "work", "primary": True}] if mail else None,
        "groups": [
            {
                "value": g["id"],
                "display": (g.get("group") or {}).get("displayName"),
                "$ref": f"{base_url}/Groups/{g['id']}",
                "type": "direct",
            }
            for g in entitlement.get("groupAssignments") or []
            if g.get("id")
        ],
        USER_EXTENSION: extension,
        "meta": _prune(
            {
                "resourceType": "User",
                "created": _date(entitlement.get("dateCreated")),
                "location": f"{base_url}/Users/{entitlement['id']}",
            }
        ),
    }
    return _prune(resource)


def licence_of(resource: dict[str, Any], urn: str) -> dict[str, str]:
    """The access level a resource's extension asks for, ADO-shaped (absent values are "none")."""
    extension = get(resource, urn) or {}
    out = {key: str(get(extension, key) or "none") for key in LICENCE_KEYS}
    if out["licensingSource"] == "none" and out["accountLicenseType"] != "none":
        out["licensingSource"] = "account"
    return out


def _date(value: Any) -> str | None:
    text = str(value or "")
    return None if not text or text.startswith("0001-") else text


# --- groups --------------------------------------------------------------------------------------------


def group_resource(
    entitlement: dict[str, Any],
    members: list[dict[str, Any]] | None,
    record: ScimRecord,
    base_url: str,
) -> dict[str, Any]:
    group = entitlement.get("group") or {}
    rule = entitlement.get("licenseRule") or {}
    resource: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA, GROUP_EXTENSION],
        "id": entitlement["id"],
        "externalId": record.external_id,
        "displayName": group.get("displayName"),
        "members": None
        if members is None
        else [
            {
                "value": m["id"],
                "type": "User",
                "$ref": f"{base_url}/Users/{m['id']}",
            }
            for m in members
        ],
        GROUP_EXTENSION: _prune(
            {
                "accountLicenseType": rule.get("accountLicenseType"),
                "licensingSource": rule.get("licensingSource"),
                "msdnLicenseType": rule.get("msdnLicenseType") or "none",
                "licenseDisplayName": rule.get("licenseDisplayName"),
                "status": rule.get("status"),
                "origin": group.get("origin"),
                "originId": group.get("originId"),
                "descriptor": group.get("descriptor"),
            }
        ),
        "meta": _prune(
            {
                "resourceType": "Group",
                "lastModified": _date(entitlement.get("lastExecuted")),
                "location": f"{base_url}/Groups/{entitlement['id']}",
            }
        ),
    }
    return _prune(resource)


def group_licence(resource: dict[str, Any], *, creating: bool) -> dict[str, str]:
    extension = get(resource, GROUP_EXTENSION) or {}
    out: dict[str, str] = {}
    for key in LICENCE_KEYS:
        value = get(extension, key)
        if value in (None, ""):
            if creating:
                raise missing(f"{GROUP_EXTENSION}:{key}", "Group")
            value = "none"
        out[key] = str(value)
    return out


def member_ids(resource: dict[str, Any]) -> list[str]:
    ids = []
    for member in get(resource, "members") or []:
        value = get(member, "value") if isinstance(member, dict) else member
        if not value:
            raise invalid("each member needs a 'value' (the SCIM id of a User)")
        ids.append(str(value).lower())
    return ids


# --- projects ------------------------------------------------------------------------------------------


def project_resource(project: dict[str, Any], record: ScimRecord, base_url: str) -> dict[str, Any]:
    capabilities = project.get("capabilities") or {}
    versioning = capabilities.get("versioncontrol") or {}
    process = capabilities.get("processTemplate") or {}
    team = project.get("defaultTeam") or {}
    resource: dict[str, Any] = {
        "schemas": [PROJECT_SCHEMA],
        "id": project["id"],
        "externalId": record.external_id,
        "displayName": project.get("name"),
        "description": project.get("description") or None,
        "state": project.get("state"),
        "visibility": project.get("visibility"),
        "revision": project.get("revision"),
        "processTemplateTypeId": process.get("templateTypeId"),
        "processTemplateName": process.get("templateName"),
        "versionControl": versioning.get("sourceControlType"),
        "gitEnabled": _flag(versioning.get("gitEnabled")),
        "tfvcEnabled": _flag(versioning.get("tfvcEnabled")),
        "defaultTeam": _prune({"value": team.get("id"), "display": team.get("name")}) or None,
        "meta": _prune(
            {
                "resourceType": "Project",
                "lastModified": _date(project.get("lastUpdateTime")),
                "location": f"{base_url}/Projects/{project['id']}",
            }
        ),
    }
    return _prune(resource)


def _flag(value: Any) -> bool | None:
    return None if value is None else str(value).lower() == "true"


def project_body(resource: dict[str, Any]) -> dict[str, Any]:
    """The `POST _apis/projects` body for a SCIM Project; a 400 names the first missing attribute."""
    for key in ("displayName", "processTemplateTypeId", "versionControl"):
        if not get(resource, key):
            raise missing(key, "Project")
    body: dict[str, Any] = {
        "name": str(get(resource, "displayName")),
        "description": str(get(resource, "description") or ""),
        "visibility": str(get(resource, "visibility") or "private"),
        "capabilities": {
            "versioncontrol": {"sourceControlType": str(get(resource, "versionControl"))},
            "processTemplate": {"templateTypeId": str(get(resource, "processTemplateTypeId"))},
        },
    }
    return body
