"""The organization's members and group rules as Member Entitlement Management keeps them (Services only):
user entitlements with their access level, group entitlements with their licence rule and members, and
the quirks identity providers have to live with: adding an existing user returns it, a deleted user
added again gets its old id back, a group name once used is refused even after the group is deleted, and
refusals come back as HTTP 200 with ``isSuccess: false``."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_NS = uuid.UUID("5d0c2f7e-1b1a-4c7e-8f43-6a0b7c2d9e11")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

ACCOUNT_LICENSES = {
    "none": "No access",
    "stakeholder": "Stakeholder",
    "express": "Basic",
    "advanced": "Basic + Test Plans",
    "professional": "Visual Studio Professional",
    "earlyadopter": "Early Adopter",
}
_ACCOUNT_CANONICAL = {k.lower(): k for k in ("none", "stakeholder", "express", "advanced", "professional")}
_ACCOUNT_CANONICAL["earlyadopter"] = "earlyAdopter"
MSDN_LICENSES = {
    "none": "none",
    "eligible": "eligible",
    "professional": "professional",
    "platforms": "platforms",
    "testprofessional": "testProfessional",
    "premium": "premium",
    "ultimate": "ultimate",
    "enterprise": "enterprise",
}
LICENSING_SOURCES = {"none", "account", "msdn", "profile", "auto", "trial"}
GROUP_TYPES = {
    "projectstakeholder": ("projectStakeholder", "Project Stakeholders"),
    "projectreader": ("projectReader", "Readers"),
    "projectcontributor": ("projectContributor", "Contributors"),
    "projectadministrator": ("projectAdministrator", "Project Administrators"),
}


class EntitlementRefused(Exception):
    """An entitlement call ADO answers with 200 and ``isSuccess: false``; `code` is its error key."""

    def __init__(self, message: str, code: int = 5000) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _descriptor(prefix: str, ident: str) -> str:
    return f"{prefix}." + base64.urlsafe_b64encode(ident.encode()).decode().rstrip("=")


def access_level(raw: Any, *, assignment: str = "unknown", status: str = "active") -> dict[str, Any]:
    """A validated `AccessLevel` from a request's value; unknown values are refused as ADO does."""
    if not isinstance(raw, dict):
        raise EntitlementRefused("VS403283: The access level is missing or not an object.")
    source = str(raw.get("licensingSource") or "account").strip()
    if source.lower() not in LICENSING_SOURCES:
        raise EntitlementRefused(f"VS403283: '{source}' is not a valid licensing source.")
    account_raw = str(raw.get("accountLicenseType") or "none").strip()
    account = _ACCOUNT_CANONICAL.get(account_raw.lower())
    if account is None:
        raise EntitlementRefused(f"VS403283: '{account_raw}' is not a valid account license type.")
    msdn_raw = str(raw.get("msdnLicenseType") or "none").strip()
    msdn = MSDN_LICENSES.get(msdn_raw.lower())
    if msdn is None:
        raise EntitlementRefused(f"VS403283: '{msdn_raw}' is not a valid MSDN license type.")
    source = source.lower()
    if source == "msdn":
        display = (
            "Visual Studio Subscriber" if msdn in ("none", "eligible") else f"Visual Studio {msdn.title()}"
        )
    else:
        display = ACCOUNT_LICENSES[account.lower()]
    return {
        "licensingSource": source,
        "accountLicenseType": account,
        "msdnLicenseType": msdn,
        "licenseDisplayName": display,
        "status": status,
        "statusMessage": "",
        "assignmentSource": assignment,
    }


@dataclass
class Member:
    """One user entitlement."""

    id: str
    principal_name: str
    display_name: str
    mail: str
    origin_id: str
    descriptor: str
    access: dict[str, Any]
    created: datetime
    project_entitlements: list[dict[str, Any]] = field(default_factory=list)
    extensions: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False


@dataclass
class GroupRule:
    """One group entitlement (a group rule): an Entra group or an organization group with a licence."""

    id: str
    display_name: str
    origin: str
    origin_id: str
    descriptor: str
    description: str
    license_rule: dict[str, Any]
    created: datetime
    project_entitlements: list[dict[str, Any]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # member ids, in the order they were added
    deleted: bool = False


class Directory:
    """Members and group rules of one organization. Thread-safe through `lock`."""

    def __init__(self, organization: str, domain: str) -> None:
        self.lock = threading.RLock()
        self.organization = organization
        self.domain = domain
        self.members: dict[str, Member] = {}
        self.groups: dict[str, GroupRule] = {}
        self._ids_by_principal: dict[str, str] = {}  # kept after deletion: a re-added user gets its id back
        self._group_names_used: set[str] = set()

    def reset(self) -> None:
        with self.lock:
            self.members.clear()
            self.groups.clear()
            self._ids_by_principal.clear()
            self._group_names_used.clear()

    # --- users ------------------------------------------------------------------------------------

    def live_members(self) -> list[Member]:
        with self.lock:
            return sorted(
                (m for m in self.members.values() if not m.deleted), key=lambda m: m.principal_name.lower()
            )

    def member(self, member_id: str) -> Member | None:
        with self.lock:
            found = self.members.get(member_id.lower())
            return found if found is not None and not found.deleted else None

    def find_member(self, principal_name: str) -> Member | None:
        with self.lock:
            member_id = self._ids_by_principal.get(principal_name.strip().lower())
            return self.member(member_id) if member_id else None

    def add_member(
        self,
        principal_name: str,
        access: Any,
        now: datetime,
        *,
        display_name: str | None = None,
        project_entitlements: list[dict[str, Any]] | None = None,
        extensions: list[dict[str, Any]] | None = None,
    ) -> Member:
        principal = principal_name.strip()
        if not _EMAIL.match(principal):
            raise EntitlementRefused(
                f"VS403283: Could not add user '{principal}'. The principal name must be the user's "
                "e-mail address (UPN) in the directory.",
                5001,
            )
        level = access_level(access, status="pending")
        with self.lock:
            existing = self.find_member(principal)
            if existing is not None:
                return existing  # ADO answers an add of an existing user with that user, not a conflict
            key = principal.lower()
            member_id = self._ids_by_principal.get(key) or str(uuid.uuid5(_NS, f"user:{key}"))
            self._ids_by_principal[key] = member_id
            member = Member(
                id=member_id,
                principal_name=principal,
                display_name=display_name or principal,
                mail=principal,
                origin_id=str(uuid.uuid5(_NS, f"aad:{key}")),
                descriptor=_descriptor("aad", member_id),
                access=level,
                created=now,
                project_entitlements=list(project_entitlements or []),
                extensions=list(extensions or []),
            )
            self.members[member_id] = member
            return member

    def set_access(self, member: Member, access: Any) -> None:
        status = member.access.get("status", "active")
        level = access_level(access, status=status)
        with self.lock:
            member.access = level

    def remove_member(self, member_id: str) -> bool:
        with self.lock:
            member = self.member(member_id)
            if member is None:
                return False
            member.deleted = True
            for group in self.groups.values():
                if member.id in group.members:
                    group.members.remove(member.id)
            return True

    def groups_of(self, member_id: str) -> list[GroupRule]:
        with self.lock:
            return [g for g in self.groups.values() if not g.deleted and member_id in g.members]

    # --- groups -----------------------------------------------------------------------------------

    def live_groups(self) -> list[GroupRule]:
        with self.lock:
            return sorted((g for g in self.groups.values() if not g.deleted), key=lambda g: g.created)

    def group(self, group_id: str) -> GroupRule | None:
        with self.lock:
            found = self.groups.get(group_id.lower())
            return found if found is not None and not found.deleted else None

    def add_group(self, raw_group: Any, license_rule: Any, now: datetime) -> GroupRule:
        if not isinstance(raw_group, dict):
            raise EntitlementRefused("VS403283: The group is missing.")
        origin = str(raw_group.get("origin") or "vsts").lower()
        origin_id = str(raw_group.get("originId") or "")
        name = str(raw_group.get("displayName") or raw_group.get("principalName") or "").strip()
        if origin == "aad" and not origin_id:
            raise EntitlementRefused("VS403283: An Entra ID group needs its originId (object id).")
        if origin != "aad" and not name:
            raise EntitlementRefused("VS403283: An organization group needs a displayName.")
        rule = access_level(license_rule, assignment="groupRule")
        with self.lock:
            if origin == "aad":
                same = next((g for g in self.live_groups() if g.origin_id.lower() == origin_id.lower()), None)
                if same is not None:
                    return same
                name = name or f"[aad] {origin_id}"
            key = name.lower()
            if key in self._group_names_used:
                raise EntitlementRefused(
                    f"VS403294: The group name '{name}' has already been used in this organization. "
                    "Group names cannot be reused, even after the group is deleted.",
                    5002,
                )
            self._group_names_used.add(key)
            group_id = str(uuid.uuid4())
            group = GroupRule(
                id=group_id,
                display_name=name,
                origin=origin,
                origin_id=origin_id or group_id,
                descriptor=_descriptor("aadgp" if origin == "aad" else "vssgp", group_id),
                description=str(raw_group.get("description") or ""),
                license_rule=rule,
                created=now,
            )
            self.groups[group_id] = group
            return group

    def remove_group(self, group_id: str) -> bool:
        with self.lock:
            group = self.group(group_id)
            if group is None:
                return False
            group.deleted = True
            group.members.clear()
            return True

    def add_group_member(self, group: GroupRule, member: Member) -> None:
        with self.lock:
            if member.id not in group.members:
                group.members.append(member.id)

    def remove_group_member(self, group: GroupRule, member_id: str) -> bool:
        with self.lock:
            if member_id.lower() in group.members:
                group.members.remove(member_id.lower())
                return True
            return False
