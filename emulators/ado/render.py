"""Wire shapes of work item tracking resources: WorkItem (fields, relations, _links), WorkItemUpdate,
projects, fields and work item types, written exactly as the 7.1 REST API and its examples show them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from emulators.ado.identities import IdentityDirectory, User
from emulators.ado.patch import LINK_TYPES, Relation
from emulators.ado.processes import BUILTIN_FIELD_REFS, CORE_TYPE_FIELDS, FieldDef, WorkItemTypeDef
from emulators.ado.store import AdoState, Project, Revision, WorkItem
from emulators.ado.values import format_date, wire_number

IdentityStyle = Literal["ref", "string"]
Expand = Literal["none", "relations", "fields", "links", "all"]

# Fields a plain read leaves out; `$expand=fields|all` or an explicit field list brings them back.
HIDDEN_BY_DEFAULT = frozenset({"System.Id", "System.Rev"})
_ORDER = (
    "System.Id", "System.AreaPath", "System.TeamProject", "System.IterationPath", "System.WorkItemType",
    "System.State", "System.Reason", "System.AssignedTo", "System.CreatedDate", "System.CreatedBy",
    "System.ChangedDate", "System.ChangedBy", "System.Rev", "System.Title",
)  # fmt: skip
_RANK = {ref: i for i, ref in enumerate(_ORDER)}


class Renderer:
    """Turns stored items into JSON for one emulator; `base_url` is read lazily (known after start)."""

    def __init__(self, state: AdoState, base_url: Callable[[], str]) -> None:
        self.state = state
        self._base_url = base_url

    @property
    def base(self) -> str:
        return self._base_url()

    @property
    def identities(self) -> IdentityDirectory:
        return self.state.identities

    # --- values -----------------------------------------------------------------------------------

    def value(self, definition: FieldDef | None, value: Any, style: IdentityStyle) -> Any:
        if isinstance(value, User):
            return self.identities.identity_ref(value) if style == "ref" else value.wire_string
        if isinstance(value, datetime):
            return format_date(value)
        if isinstance(value, float):
            return wire_number(value)
        return value

    def fields(
        self,
        revision: Revision,
        *,
        select: Sequence[FieldDef] | None = None,
        include_hidden: bool = False,
        style: IdentityStyle = "ref",
    ) -> dict[str, Any]:
        stored = revision.fields
        out: dict[str, Any] = {}
        if select is not None:
            for definition in select:
                if definition.ref in stored:
                    out[definition.ref] = self.value(definition, stored[definition.ref], style)
            return out
        for ref in sorted(stored, key=lambda r: _RANK.get(r, len(_RANK))):
            if not include_hidden and ref in HIDDEN_BY_DEFAULT:
                continue
            out[ref] = self.value(self.state.fields.find(ref), stored[ref], style)
        return out

    def relation(self, relation: Relation) -> dict[str, Any]:
        attributes: dict[str, Any] = {"isLocked": False}
        if relation.is_work_item_link:
            attributes["name"] = LINK_TYPES[relation.rel][0]
            url = self.item_url(relation.target_id)  # type: ignore[arg-type]
        else:
            attributes["name"] = relation.rel
            url = relation.url or ""
        attributes.update(relation.attrs())
        return {"rel": relation.rel, "url": url, "attributes": attributes}

    # --- urls -------------------------------------------------------------------------------------

    def item_url(self, item_id: int) -> str:
        return f"{self.base}/_apis/wit/workItems/{item_id}"

    def project_of(self, revision: Revision) -> Project | None:
        return self.state.find_project(str(revision.fields.get("System.TeamProject", "")))

    def item_links(self, item_id: int, revision: Revision) -> dict[str, Any]:
        url = self.item_url(item_id)
        project = self.project_of(revision)
        type_name = quote(str(revision.fields.get("System.WorkItemType", "")))
        links: dict[str, Any] = {
            "self": {"href": url},
            "workItemUpdates": {"href": f"{url}/updates"},
            "workItemRevisions": {"href": f"{url}/revisions"},
            "workItemComments": {"href": f"{url}/comments"},
            "html": {"href": f"{self.base}/web/wi.aspx?pcguid={self.state.collection_id}&id={item_id}"},
            "workItemType": {
                "href": f"{self.base}/{project.id if project else ''}/_apis/wit/workItemTypes/{type_name}"
            },
            "fields": {"href": f"{self.base}/_apis/wit/fields"},
        }
        parent = revision.parent_id()
        if parent is not None:
            links["parent"] = {"href": self.item_url(parent)}
        return links

    # --- resources --------------------------------------------------------------------------------

    def work_item(
        self,
        item: WorkItem,
        revision: Revision | None = None,
        *,
        select: Sequence[FieldDef] | None = None,
        expand: Expand = "none",
        links: bool = False,
        relations: bool = False,
        style: IdentityStyle = "ref",
        url: str | None = None,
    ) -> dict[str, Any]:
        revision = revision or item.current
        body: dict[str, Any] = {"id": item.id, "rev": revision.rev}
        body["fields"] = self.fields(
            revision, select=select, include_hidden=expand in ("fields", "all"), style=style
        )
        if (relations or expand in ("relations", "all")) and revision.relations:
            body["relations"] = [self.relation(r) for r in revision.relations]
        if links or expand in ("links", "all"):
            body["_links"] = self.item_links(item.id, revision)
        body["url"] = url or self.item_url(item.id)
        return body

    def revision_resource(
        self, item: WorkItem, revision: Revision, *, expand: Expand = "none", style: IdentityStyle = "ref"
    ) -> dict[str, Any]:
        """A work item as `revisions` returns it: the revision's fields and its own url."""
        body = self.work_item(item, revision, expand=expand, style=style)
        body["url"] = f"{self.item_url(item.id)}/revisions/{revision.rev}"
        return body

    def update(
        self, item: WorkItem, index: int, *, style: IdentityStyle = "ref", links: bool = False
    ) -> dict[str, Any]:
        """WorkItemUpdate number `index + 1`: the deltas between revision `index` and the one before."""
        revision = item.revisions[index]
        previous = item.revisions[index - 1] if index > 0 else None
        later = item.revisions[index + 1] if index + 1 < len(item.revisions) else None
        changed_by = revision.fields.get("System.ChangedBy")
        body: dict[str, Any] = {"id": index + 1, "workItemId": item.id, "rev": revision.rev}
        if isinstance(changed_by, User):
            body["revisedBy"] = self.identities.identity_reference(changed_by)
        body["revisedDate"] = (
            format_date(datetime.fromtimestamp(later.changed_ts, tz=UTC)) if later else "9999-01-01T00:00:00Z"
        )
        deltas = field_deltas(previous, revision)
        if deltas:
            body["fields"] = {
                ref: {
                    key: self.value(self.state.fields.find(ref), value, style)
                    for key, value in change.items()
                }
                for ref, change in deltas.items()
            }
        rel_changes = self.relation_deltas(previous, revision)
        if rel_changes:
            body["relations"] = rel_changes
        url = f"{self.item_url(item.id)}/updates/{index + 1}"
        if links:  # hook payloads carry them; the updates API does not
            body["_links"] = {
                "self": {"href": url},
                "workItemUpdates": {"href": f"{self.item_url(item.id)}/updates"},
                "parent": {"href": self.item_url(item.id)},
            }
        body["url"] = url
        return body

    def relation_deltas(self, previous: Revision | None, revision: Revision) -> dict[str, Any]:
        old = {r.key(): r for r in (previous.relations if previous else ())}
        new = {r.key(): r for r in revision.relations}
        out: dict[str, Any] = {}
        added = [self.relation(r) for key, r in new.items() if key not in old]
        removed = [self.relation(r) for key, r in old.items() if key not in new]
        updated = [self.relation(r) for key, r in new.items() if key in old and old[key] != r]
        if added:
            out["added"] = added
        if removed:
            out["removed"] = removed
        if updated:
            out["updated"] = updated
        return out

    def project(self, project: Project, *, full: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": project.id,
            "name": project.name,
            "url": f"{self.base}/_apis/projects/{project.id}",
            "state": "wellFormed",
            "revision": project.revision,
            "visibility": project.visibility,
            "lastUpdateTime": format_date(project.created),
        }
        if project.description:
            body["description"] = project.description
        if full:
            body["_links"] = {
                "self": {"href": body["url"]},
                "collection": {"href": f"{self.base}/_apis/projectCollections/{self.state.collection_id}"},
                "web": {"href": f"{self.base}/{quote(project.name)}"},
            }
            body["defaultTeam"] = {
                "id": project.default_team_id,
                "name": f"{project.name} Team",
                "url": f"{self.base}/_apis/projects/{project.id}/teams/{project.default_team_id}",
            }
        return body

    def project_capabilities(self, project: Project) -> dict[str, dict[str, str]]:
        return {
            "versioncontrol": {
                "sourceControlType": project.source_control,
                "gitEnabled": str(project.source_control == "Git"),
                "tfvcEnabled": str(project.source_control == "Tfvc"),
            },
            "processTemplate": {
                "templateName": project.template_name,
                "templateTypeId": project.process_type_id,
            },
        }

    def field(self, definition: FieldDef) -> dict[str, Any]:
        body: dict[str, Any] = {"name": definition.name, "referenceName": definition.ref}
        if definition.description:
            body["description"] = definition.description
        body.update(
            {
                "type": definition.wire_type,
                "usage": "workItem",
                "readOnly": definition.system or definition.rules_read_only,
                "canSortBy": definition.kind not in ("html", "plainText", "history"),
                "isQueryable": True,
                "supportedOperations": definition.supported_operations(),
                "isIdentity": definition.is_identity,
                "isPicklist": False,
                "isPicklistSuggested": False,
                "url": f"{self.base}/_apis/wit/fields/{definition.ref}",
            }
        )
        return body

    def field_reference(self, definition: FieldDef) -> dict[str, Any]:
        return {
            "referenceName": definition.ref,
            "name": definition.name,
            "url": f"{self.base}/_apis/wit/fields/{definition.ref}",
        }

    def type_fields(self, wit: WorkItemTypeDef) -> list[FieldDef]:
        """The type's own fields, then every organization field added at run time (valid on all types)."""
        refs = list(CORE_TYPE_FIELDS) + [ref for ref in wit.extra_fields if ref not in CORE_TYPE_FIELDS]
        definitions = [d for d in (self.state.fields.find(ref) for ref in refs) if d is not None]
        added = [d for d in self.state.fields.all() if d.ref not in BUILTIN_FIELD_REFS]
        return definitions + added

    def work_item_type(self, project: Project, wit: WorkItemTypeDef) -> dict[str, Any]:
        instances = []
        for definition in self.type_fields(wit):
            instance: dict[str, Any] = {
                "alwaysRequired": definition.ref in ("System.Title", "System.State"),
                "referenceName": definition.ref,
                "name": definition.name,
                "url": f"{self.base}/_apis/wit/fields/{definition.ref}",
            }
            if definition.ref in wit.defaults:
                instance["defaultValue"] = str(wit.defaults[definition.ref])
            instances.append(instance)
        transitions: dict[str, list[dict[str, Any]]] = {"": [{"to": wit.initial_state}]}
        for state in wit.states:
            transitions[state.name] = [{"to": other.name} for other in wit.states if other.name != state.name]
        url = f"{self.base}/{project.id}/_apis/wit/workItemTypes/{quote(wit.name)}"
        return {
            "name": wit.name,
            "referenceName": wit.reference_name,
            "description": wit.description,
            "color": wit.color,
            "icon": {
                "id": wit.icon,
                "url": f"{self.base}/_apis/wit/workItemIcons/{wit.icon}?color={wit.color}&v=2",
            },
            "isDisabled": False,
            "fields": instances,
            "fieldInstances": instances,
            "transitions": transitions,
            "states": [{"name": s.name, "color": s.color, "category": s.category} for s in wit.states],
            "_links": {"self": {"href": url}},
            "url": url,
        }


def field_deltas(previous: Revision | None, revision: Revision) -> dict[str, dict[str, Any]]:
    """``{ref: {"oldValue"?, "newValue"?}}`` for every field that differs (History counts when set)."""
    old = previous.fields if previous else {}
    new = revision.fields
    deltas: dict[str, dict[str, Any]] = {}
    for ref in list(new) + [r for r in old if r not in new]:
        before = old.get(ref) if ref != "System.History" else None
        after = new.get(ref)
        if before == after or (
            isinstance(before, User) and isinstance(after, User) and before.id == after.id
        ):
            continue
        change: dict[str, Any] = {}
        if before is not None:
            change["oldValue"] = before
        if after is not None:
            change["newValue"] = after
        deltas[ref] = change
    return deltas
