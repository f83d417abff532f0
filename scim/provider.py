"""The SCIM operations (create, get, list, replace, patch, delete) on Users, Groups and Projects, carried
out against the Azure DevOps organization through `EntitlementsClient`. Resources travel as SCIM dicts;
`scim.api` turns them into responses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from connectors.ado.entitlements import EntitlementsClient
from connectors.errors import NotFoundError
from scim import mapping
from scim.errors import ScimError, immutable, invalid, missing, not_found
from scim.filters import Equals, parse_filter
from scim.mapping import DEFAULT_ACCESS, STAKEHOLDER, get
from scim.models import GROUP_EXTENSION, USER_EXTENSION, Group, Project, User
from scim.patch import SchemaInfo, apply_patch
from scim.store import ScimRecord, ScimStore

log = logging.getLogger("tandem.scim")

USER_INFO = SchemaInfo.of(User)
GROUP_INFO = SchemaInfo.of(Group)
PROJECT_INFO = SchemaInfo.of(Project)


@dataclass(frozen=True)
class Listing:
    total: int
    start: int  # 1-based
    resources: list[dict[str, Any]]


def _bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid(f"'{name}' must be true or false, not {value!r}")


def _is_guid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _page(items: list[dict[str, Any]], start: int, count: int | None) -> Listing:
    chosen = items[start - 1 :] if count is None else items[start - 1 : start - 1 + count]
    return Listing(total=len(items), start=start, resources=chosen)


def _keep(resources: Iterator[dict[str, Any]], clauses: list[Equals], core: str) -> list[dict[str, Any]]:
    return [r for r in resources if all(c.matches(r, core) for c in clauses)]


class ScimProvider:
    """One organization's users, groups and projects as SCIM resources."""

    def __init__(self, ado: EntitlementsClient, store: ScimStore, base_url: str) -> None:
        self.ado = ado
        self.store = store
        self.base_url = base_url.rstrip("/")

    # --- users ------------------------------------------------------------------------------------

    def _user(self, entitlement: dict[str, Any]) -> dict[str, Any]:
        return mapping.user_resource(entitlement, self.store.get("User", entitlement["id"]), self.base_url)

    def _user_entitlement(self, user_id: str) -> dict[str, Any]:
        if not _is_guid(user_id):
            raise not_found("User", user_id)
        try:
            return self.ado.get_user(user_id)
        except NotFoundError:
            raise not_found("User", user_id) from None

    def get_user(self, user_id: str) -> dict[str, Any]:
        return self._user(self._user_entitlement(user_id))

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        user_name = get(body, "userName")
        if not user_name or not str(user_name).strip():
            raise missing("userName", "User")
        active = _bool(get(body, "active"), "active")
        wanted = (
            mapping.licence_of(body, USER_EXTENSION) if get(body, USER_EXTENSION) else dict(DEFAULT_ACCESS)
        )
        # ADO answers an add of an existing user with that user (no 409): the response shows it as it is.
        entitlement = self.ado.add_user(str(user_name).strip(), STAKEHOLDER if active is False else wanted)
        record = self.store.get("User", entitlement["id"])
        record.external_id = get(body, "externalId") or record.external_id
        if active is not None:
            record.active = active
        if active is False:
            record.suspended_access = wanted
        self.store.put("User", entitlement["id"], record)
        return mapping.user_resource(entitlement, record, self.base_url)

    def list_users(self, filter_text: str | None, start: int, count: int | None) -> Listing:
        clauses = parse_filter(filter_text)
        by_name = next((c for c in clauses if c.uri is None and c.name.lower() == "username"), None)
        by_external = next((c for c in clauses if c.uri is None and c.name.lower() == "externalid"), None)
        if by_name is not None:
            found = self.ado.find_user(str(by_name.value))
            candidates = iter([self._user(found)] if found else [])
        elif by_external is not None:
            ids = self.store.ids_with_external_id("User", str(by_external.value))
            candidates = (self._user(e) for e in self._existing(ids, self.ado.get_user))
        elif not clauses:
            return self._page_all_users(start, count)
        else:
            candidates = (self._user(e) for e in self.ado.iter_users())
        return _page(_keep(candidates, clauses, mapping.USER_SCHEMA), start, count)

    def _page_all_users(self, start: int, count: int | None) -> Listing:
        """`startIndex`/`count` over ADO's pages of 100: read pages only until the slice is complete."""
        wanted_end = None if count is None else start - 1 + count
        items: list[dict[str, Any]] = []
        total: int | None = None
        token: str | None = None
        while True:
            page = self.ado.list_users(continuation=token)
            total = page.total if page.total is not None else total
            items.extend(page.items)
            token = page.continuation
            if not token or (wanted_end is not None and len(items) >= wanted_end and total is not None):
                break
        chosen = items[start - 1 :] if wanted_end is None else items[start - 1 : wanted_end]
        return Listing(
            total=total if total is not None else len(items),
            start=start,
            resources=[self._user(e) for e in chosen],
        )

    @staticmethod
    def _existing(ids: list[str], fetch: Callable[[str], dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for resource_id in ids:
            try:
                yield fetch(resource_id)
            except NotFoundError:
                continue

    def replace_user(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.get_user(user_id)
        desired = dict(body)
        if not get(desired, "userName"):
            raise missing("userName", "User")
        # A client whose mapping has no licence (or no `active`) must not strip the licence by replacing.
        if get(desired, USER_EXTENSION) is None and USER_EXTENSION in current:
            desired[USER_EXTENSION] = current[USER_EXTENSION]
        if get(desired, "active") is None and "active" in current:
            desired["active"] = current["active"]
        return self._write_user(current, desired)

    def patch_user(self, user_id: str, body: Any) -> dict[str, Any]:
        current = self.get_user(user_id)
        patched = apply_patch(current, body, USER_INFO)
        if patched.ignored:
            log.info(
                "SCIM PATCH of user %s: skipped attributes ADO does not hold: %s", user_id, patched.ignored
            )
        return self._write_user(current, patched.resource)

    def _write_user(self, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        user_id = current["id"]
        name = str(get(desired, "userName") or current.get("userName"))
        if name.lower() != str(current.get("userName", "")).lower():
            raise immutable("userName", "Azure DevOps keeps a user's sign-in name; add a new user instead")
        record = self.store.get("User", user_id)
        was_active = record.active
        active = _bool(get(desired, "active"), "active")
        licence_now = mapping.licence_of(current, USER_EXTENSION)
        licence_wanted = mapping.licence_of(desired, USER_EXTENSION)
        access: dict[str, str] | None = licence_wanted if licence_wanted != licence_now else None
        if active is False and was_active is not False:
            record.suspended_access = access or licence_now
            access = STAKEHOLDER  # the licence goes, the user stays (as ADO does for removed licences)
        elif active is not False and was_active is False:
            access = access or record.suspended_access or dict(DEFAULT_ACCESS)
            record.suspended_access = None
        record.active = active
        record.external_id = get(desired, "externalId")
        entitlement = self.ado.set_access_level(user_id, access) if access is not None else None
        self.store.put("User", user_id, record)
        if entitlement is None:
            entitlement = self._user_entitlement(user_id)
        return mapping.user_resource(entitlement, record, self.base_url)

    def delete_user(self, user_id: str) -> None:
        self._user_entitlement(user_id)
        self.ado.delete_user(user_id)
        self.store.delete("User", user_id)

    # --- groups -----------------------------------------------------------------------------------

    def _group(self, entitlement: dict[str, Any], with_members: bool = True) -> dict[str, Any]:
        members = self.ado.group_members(entitlement["id"]) if with_members else None
        record = self.store.get("Group", entitlement["id"])
        return mapping.group_resource(entitlement, members, record, self.base_url)

    def _group_entitlement(self, group_id: str) -> dict[str, Any]:
        if not _is_guid(group_id):
            raise not_found("Group", group_id)
        try:
            return self.ado.get_group(group_id)
        except NotFoundError:
            raise not_found("Group", group_id) from None

    def _known_member(self, user_id: str) -> None:
        """A member must be a provisioned user; a 404 here would tell the client the *group* is gone."""
        try:
            self._user_entitlement(user_id)
        except ScimError as exc:
            if exc.status != 404:
                raise
            raise invalid(
                f"member '{user_id}' is not a user of this organization; provision the user first"
            ) from None

    def get_group(self, group_id: str, *, with_members: bool = True) -> dict[str, Any]:
        return self._group(self._group_entitlement(group_id), with_members)

    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        name = get(body, "displayName")
        if not name or not str(name).strip():
            raise missing("displayName", "Group")
        licence = mapping.group_licence(body, creating=True)
        external_id = get(body, "externalId")
        group: dict[str, Any] = {"subjectKind": "group", "displayName": str(name).strip()}
        if external_id and _is_guid(external_id):
            group.update(origin="aad", originId=str(external_id))  # Entra sends the group's object id
        else:
            group["origin"] = "vsts"
        members = mapping.member_ids(body)
        for member in members:
            self._known_member(member)  # refused before anything is created
        entitlement = self.ado.add_group(
            {"group": group, "licenseRule": licence, "projectEntitlements": [], "extensionRules": []}
        )
        for member in members:
            self.ado.add_group_member(entitlement["id"], member)
        if external_id:
            self.store.put("Group", entitlement["id"], ScimRecord(external_id=str(external_id)))
        return self._group(entitlement)

    def list_groups(
        self, filter_text: str | None, start: int, count: int | None, with_members: bool
    ) -> Listing:
        clauses = parse_filter(filter_text)
        needs_members = with_members or any(c.name.lower().startswith("members") for c in clauses)
        groups = self.ado.list_groups()  # ADO does not page group rules
        by_name = next((c for c in clauses if c.uri is None and c.name.lower() == "displayname"), None)
        if by_name is not None:
            wanted = str(by_name.value).lower()
            groups = [
                g for g in groups if str((g.get("group") or {}).get("displayName", "")).lower() == wanted
            ]
        cheap = [
            mapping.group_resource(g, None, self.store.get("Group", g["id"]), self.base_url) for g in groups
        ]
        if not needs_members:
            return _page(_keep(iter(cheap), clauses, mapping.GROUP_SCHEMA), start, count)
        full = (self._group(g) for g in groups)
        return _page(_keep(full, clauses, mapping.GROUP_SCHEMA), start, count)

    def replace_group(self, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.get_group(group_id)
        if not get(body, "displayName"):
            raise missing("displayName", "Group")
        desired = dict(body)
        if get(desired, GROUP_EXTENSION) is None:
            desired[GROUP_EXTENSION] = current.get(GROUP_EXTENSION, {})
        return self._write_group(current, desired)

    def patch_group(self, group_id: str, body: Any) -> dict[str, Any]:
        current = self.get_group(group_id)
        patched = apply_patch(current, body, GROUP_INFO)
        if patched.ignored:
            log.info(
                "SCIM PATCH of group %s: skipped attributes ADO does not hold: %s", group_id, patched.ignored
            )
        return self._write_group(current, patched.resource)

    def _write_group(self, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        group_id = current["id"]
        name = str(get(desired, "displayName") or current.get("displayName"))
        if name.lower() != str(current.get("displayName", "")).lower():
            raise immutable("displayName", "Azure DevOps cannot rename a group rule; create a new group")
        licence_now = mapping.group_licence(current, creating=False)
        licence_wanted = mapping.group_licence(desired, creating=False)
        if licence_wanted != licence_now:
            if "none" in (licence_wanted["accountLicenseType"], licence_wanted["licensingSource"]):
                raise invalid("a group rule needs accountLicenseType and licensingSource")
            self.ado.update_group(
                group_id, [{"op": "replace", "path": "/licenseRule", "value": licence_wanted}]
            )
        now = mapping.member_ids(current)
        wanted = mapping.member_ids(desired)
        for member in wanted:
            if member not in now:
                self._known_member(member)
                self.ado.add_group_member(group_id, member)
        for member in now:
            if member not in wanted:
                self.ado.remove_group_member(group_id, member)
        record = self.store.get("Group", group_id)
        record.external_id = get(desired, "externalId")
        self.store.put("Group", group_id, record)
        return self.get_group(group_id)

    def delete_group(self, group_id: str) -> None:
        self._group_entitlement(group_id)
        self.ado.delete_group(group_id)
        self.store.delete("Group", group_id)

    # --- projects ---------------------------------------------------------------------------------

    def _project(self, project: dict[str, Any]) -> dict[str, Any]:
        return mapping.project_resource(project, self.store.get("Project", project["id"]), self.base_url)

    def _project_raw(self, project_id: str) -> dict[str, Any]:
        if not _is_guid(project_id):
            raise not_found("Project", project_id)
        try:
            return self.ado.get_project(project_id)
        except NotFoundError:
            raise not_found("Project", project_id) from None

    def get_project(self, project_id: str) -> dict[str, Any]:
        return self._project(self._project_raw(project_id))

    def create_project(self, body: dict[str, Any]) -> dict[str, Any]:
        project = self.ado.create_project(mapping.project_body(body))
        external_id = get(body, "externalId")
        if external_id:
            self.store.put("Project", project["id"], ScimRecord(external_id=str(external_id)))
        return self._project(project)

    def list_projects(self, filter_text: str | None, start: int, count: int | None) -> Listing:
        clauses = parse_filter(filter_text)
        shallow: list[dict[str, Any]] = []
        token: str | None = None
        while True:  # ADO pages projects 100 at a time
            page = self.ado.list_projects(top=100, continuation=token)
            shallow.extend(page.items)
            token = page.continuation
            if not token:
                break
        by_name = next((c for c in clauses if c.uri is None and c.name.lower() == "displayname"), None)
        if by_name is not None:
            shallow = [p for p in shallow if str(p.get("name", "")).lower() == str(by_name.value).lower()]
        shallow.sort(key=lambda p: str(p.get("name", "")).lower())
        if clauses == [by_name]:
            listing = _page(shallow, start, count)
            return Listing(listing.total, start, [self.get_project(p["id"]) for p in listing.resources])
        full = (self.get_project(p["id"]) for p in shallow)
        return _page(_keep(full, clauses, Project.to_schema().id), start, count)

    def replace_project(self, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.get_project(project_id)
        return self._write_project(current, dict(body))

    def patch_project(self, project_id: str, body: Any) -> dict[str, Any]:
        current = self.get_project(project_id)
        return self._write_project(current, apply_patch(current, body, PROJECT_INFO).resource)

    def _write_project(self, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        project_id = current["id"]
        for key, why in (
            ("processTemplateTypeId", "a project's process is chosen at creation (change it in ADO)"),
            ("versionControl", "a project's version control is chosen at creation"),
        ):
            wanted = get(desired, key)
            if wanted is not None and str(wanted).lower() != str(current.get(key, "")).lower():
                raise immutable(key, why)
        changes: dict[str, Any] = {}
        for key, ado_key in (
            ("displayName", "name"),
            ("description", "description"),
            ("visibility", "visibility"),
        ):
            wanted = get(desired, key)
            if key == "displayName" and not wanted:
                raise missing("displayName", "Project")
            if (wanted or None) != (current.get(key) or None):
                changes[ado_key] = wanted if wanted is not None else ""
        record = self.store.get("Project", project_id)
        record.external_id = get(desired, "externalId")
        self.store.put("Project", project_id, record)
        if changes:
            return self._project(self.ado.update_project(project_id, changes))
        return self.get_project(project_id)

    def delete_project(self, project_id: str) -> None:
        self._project_raw(project_id)
        self.ado.delete_project(project_id)
        self.store.delete("Project", project_id)
