"""In-memory state of one emulated organization/collection: projects, work items with their full
revision history, the recycle bin, a ChangedDate index for fast WIQL polls and the global revision log
the reporting API pages through. Every write goes through `create`/`update` so that rules, system
fields, reciprocal links and change events stay consistent whoever writes (HTTP handler or test)."""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from emulators.ado import errors
from emulators.ado.identities import IdentityDirectory, User
from emulators.ado.patch import LINK_TYPES, Draft, PatchOp, Relation, apply_ops, values_equal
from emulators.ado.processes import (
    PROCESS_TYPE_IDS,
    PROCESSES,
    FieldDef,
    FieldKind,
    FieldRegistry,
    ProcessDef,
    WorkItemTypeDef,
    find_process,
    system_processes,
)
from emulators.ado.values import truncate_ms
from emulators.common import Clock

ChangeKind = Literal["created", "updated", "deleted", "restored"]

MAX_REVISIONS = 10_000
MAX_TAGS = 100
_NS = uuid.UUID("0f3c7f61-8b7e-4a43-9f0e-1d2b6f4e8a90")
_HIER_FWD = "System.LinkTypes.Hierarchy-Forward"
_HIER_REV = "System.LinkTypes.Hierarchy-Reverse"
# Fields the store maintains itself; a write that only touches these is not a change.
_DERIVED = frozenset(
    {
        "System.Rev",
        "System.ChangedDate",
        "System.ChangedBy",
        "System.History",
        "System.Parent",
        "Microsoft.VSTS.Common.StateChangeDate",
    }
)


@dataclass
class Project:
    id: str
    name: str
    process: str
    description: str
    created: datetime
    areas: dict[str, str] = field(default_factory=dict)  # lower-case full path -> full path
    iterations: dict[str, str] = field(default_factory=dict)
    revision: int = 1
    process_id: str = ""  # an inherited process's type id; empty: the system process `process`
    process_name: str = ""
    source_control: str = "Git"  # Git or Tfvc, chosen at creation
    visibility: str = "private"

    @property
    def process_type_id(self) -> str:
        return self.process_id or PROCESS_TYPE_IDS[self.process]

    @property
    def template_name(self) -> str:
        return self.process_name or self.process

    @property
    def types(self) -> dict[str, WorkItemTypeDef]:
        return PROCESSES[self.process]

    def find_type(self, name: str) -> WorkItemTypeDef | None:
        lowered = name.strip().lower()
        return next((t for t in self.types.values() if t.name.lower() == lowered), None)

    @property
    def default_team_id(self) -> str:
        return str(uuid.uuid5(_NS, f"team:{self.id}"))


@dataclass
class Revision:
    rev: int
    fields: dict[str, Any]
    relations: tuple[Relation, ...]
    changed_ts: float

    def parent_id(self) -> int | None:
        return next((r.target_id for r in self.relations if r.rel == _HIER_REV), None)


@dataclass
class Deletion:
    at: datetime
    by: User


@dataclass
class WorkItem:
    id: int
    revisions: list[Revision]
    deleted: Deletion | None = None

    @property
    def current(self) -> Revision:
        return self.revisions[-1]

    @property
    def rev(self) -> int:
        return self.current.rev

    @property
    def fields(self) -> dict[str, Any]:
        return self.current.fields

    @property
    def project_name(self) -> str:
        return str(self.current.fields["System.TeamProject"])

    def revision_at(self, ts: float) -> Revision | None:
        """The revision that was current at `ts` (None if the item did not exist yet)."""
        keys = [r.changed_ts for r in self.revisions]
        index = bisect.bisect_right(keys, ts)
        return self.revisions[index - 1] if index else None


@dataclass
class WriteContext:
    user: User
    bypass_rules: bool = False
    validate_only: bool = False
    suppress_notifications: bool = False
    silent: bool = False  # seeding: no service hook events at all


@dataclass
class ChangeEvent:
    kind: ChangeKind
    item: WorkItem
    previous: Revision | None
    revision: Revision
    user: User
    at: datetime
    suppress_notifications: bool = False
    silent: bool = False


@dataclass
class _Planned:
    """A new revision computed for one item, not yet committed."""

    item: WorkItem
    revision: Revision
    kind: ChangeKind


class AdoState:
    """Everything the emulated organization holds. Thread-safe: all access goes through `lock`."""

    def __init__(self, identities: IdentityDirectory, clock: Clock, *, collection_name: str) -> None:
        self.lock = threading.RLock()
        self.identities = identities
        self.clock = clock
        self.collection_name = collection_name
        self.collection_id = str(uuid.uuid5(_NS, f"collection:{collection_name}"))
        self.fields = FieldRegistry()
        self.processes: dict[str, ProcessDef] = system_processes()
        self.projects: dict[str, Project] = {}
        self.items: dict[int, WorkItem] = {}
        self.revision_log: list[tuple[int, int]] = []  # (item id, rev) in commit order
        self.listeners: list[Callable[[ChangeEvent], None]] = []
        self._next_id = 1
        self._changed: list[tuple[float, int]] = []  # (ChangedDate ts, id) of live items, sorted

    def now(self) -> datetime:
        """The clock at the millisecond precision work item dates are stored with."""
        return truncate_ms(self.clock.now())

    def reset(self) -> None:
        """Forget every project, field added at run time and work item (listeners stay)."""
        with self.lock:
            self.fields = FieldRegistry()
            self.processes = system_processes()
            self.projects.clear()
            self.items.clear()
            self.revision_log.clear()
            self._changed.clear()
            self._next_id = 1

    # --- projects ---------------------------------------------------------------------------------

    def seed_project(
        self,
        name: str,
        process: str = "Agile",
        *,
        description: str = "",
        areas: Iterable[str] = (),
        iterations: Iterable[str] = ("Sprint 1", "Sprint 2", "Sprint 3"),
        project_id: str | None = None,
        source_control: str = "Git",
        visibility: str = "private",
    ) -> Project:
        with self.lock:
            if self.find_project(name) is not None:
                raise ValueError(f"project {name!r} already exists")
            inherited = self.find_process(process)
            if inherited is not None and inherited.is_system:
                inherited = None
            project = Project(
                id=project_id or str(uuid.uuid5(_NS, f"project:{self.collection_name}:{name.lower()}")),
                name=name,
                process=inherited.parent if inherited else find_process(process),
                description=description,
                created=self.now(),
                process_id=inherited.type_id if inherited else "",
                process_name=inherited.name if inherited else "",
                source_control=source_control,
                visibility=visibility,
            )
            project.areas[name.lower()] = name
            project.iterations[name.lower()] = name
            for path in areas:
                self._add_node(project.areas, name, path)
            for path in iterations:
                self._add_node(project.iterations, name, path)
            self.projects[project.id] = project
            return project

    # --- processes --------------------------------------------------------------------------------

    def find_process(self, key: str) -> ProcessDef | None:
        """A process by type id or name (any case)."""
        with self.lock:
            lowered = key.strip().lower()
            found = self.processes.get(lowered)
            if found is not None:
                return found
            return next((p for p in self.processes.values() if p.name.lower() == lowered), None)

    def seed_process(
        self, name: str, parent: str = "Agile", *, description: str = "", process_id: str | None = None
    ) -> ProcessDef:
        """An inherited process derived from the system process `parent`."""
        with self.lock:
            if self.find_process(name) is not None:
                raise ValueError(f"process {name!r} already exists")
            base = find_process(parent)
            process = ProcessDef(
                type_id=process_id or str(uuid.uuid5(_NS, f"process:{self.collection_name}:{name.lower()}")),
                name=name,
                parent=base,
                customization="inherited",
                reference_name="Inherited." + "".join(c for c in name if c.isalnum()),
                description=description,
            )
            self.processes[process.type_id] = process
            return process

    def process_of(self, project: Project) -> ProcessDef:
        return self.processes[project.process_type_id]

    def add_area(self, project: str, path: str) -> str:
        with self.lock:
            p = self.project(project)
            return self._add_node(p.areas, p.name, path)

    def add_iteration(self, project: str, path: str) -> str:
        with self.lock:
            p = self.project(project)
            return self._add_node(p.iterations, p.name, path)

    @staticmethod
    def _add_node(nodes: dict[str, str], root: str, path: str) -> str:
        parts = [part for part in path.replace("/", "\\").split("\\") if part]
        if parts and parts[0].lower() == root.lower():
            parts = parts[1:]
        full = root
        for part in parts:
            full = f"{full}\\{part}"
            nodes.setdefault(full.lower(), full)
        return full

    def find_project(self, key: str) -> Project | None:
        with self.lock:
            found = self.projects.get(key.lower()) or self.projects.get(key)
            if found is not None:
                return found
            lowered = key.lower()
            return next((p for p in self.projects.values() if p.name.lower() == lowered), None)

    def project(self, key: str) -> Project:
        found = self.find_project(key)
        if found is None:
            raise errors.project_not_found(key)
        return found

    # --- fields -----------------------------------------------------------------------------------

    def add_field(
        self,
        ref: str,
        name: str | None = None,
        kind: FieldKind = "string",
        *,
        description: str = "",
        scoped: bool = False,
    ) -> FieldDef:
        """Add an organization field (e.g. ``Custom.TandemCorrelationId``); valid on every type unless
        `scoped` (then only on the types of an inherited process it has been added to)."""
        definition = FieldDef(
            ref=ref, name=name or ref.split(".")[-1], kind=kind, description=description, scoped=scoped
        )
        return self.fields.add(definition)

    # --- reads ------------------------------------------------------------------------------------

    def get(self, item_id: int, *, include_deleted: bool = False) -> WorkItem:
        with self.lock:
            item = self.items.get(item_id)
            if item is None or (item.deleted is not None and not include_deleted):
                raise errors.work_item_not_found(item_id)
            return item

    def live_items(self) -> list[WorkItem]:
        with self.lock:
            return [item for item in self.items.values() if item.deleted is None]

    def ids_changed_between(self, lo: float | None, hi: float | None) -> list[int]:
        """Ids of live items whose ChangedDate is within [lo, hi] (either bound open when None)."""
        with self.lock:
            start = 0 if lo is None else bisect.bisect_left(self._changed, (lo, -1))
            end = len(self._changed) if hi is None else bisect.bisect_right(self._changed, (hi, 1 << 62))
            return [item_id for _, item_id in self._changed[start:end]]

    def _exists(self, item_id: int) -> bool:
        item = self.items.get(item_id)
        return item is not None and item.deleted is None

    # --- writes -----------------------------------------------------------------------------------

    def create(self, project_key: str, type_name: str, ops: list[PatchOp], ctx: WriteContext) -> WorkItem:
        """Create a work item from a JSON Patch document. With `ctx.validate_only` nothing is stored and the
        returned item has id 0."""
        with self.lock:
            project = self.project(project_key)
            wit = project.find_type(type_name)
            if wit is None:
                raise errors.work_item_type_not_found(type_name, project.id)
            fields: dict[str, Any] = {
                "System.TeamProject": project.name,
                "System.WorkItemType": wit.name,
                "System.State": wit.initial_state,
                "System.AreaPath": project.name,
                "System.IterationPath": project.name,
                **wit.defaults,
            }
            draft = Draft(fields=fields, relations=[])
            new_id = 0 if ctx.validate_only else self._next_id
            apply_ops(
                draft,
                ops,
                registry=self.fields,
                identities=self.identities,
                target_exists=self._exists,
                item_id=new_id,
                current_rev=0,
            )
            item = WorkItem(id=new_id, revisions=[])
            planned = self._plan(item, draft, ctx, creating=True)
            if ctx.validate_only:
                return WorkItem(id=0, revisions=[planned[0].revision])
            self._next_id += 1
            self.items[item.id] = item
            self._commit(planned, ctx)
            return item

    def update(self, item_id: int, ops: list[PatchOp], ctx: WriteContext) -> WorkItem:
        with self.lock:
            item = self.get(item_id)
            if len(item.revisions) >= MAX_REVISIONS:
                raise errors.too_many_revisions(item_id)
            current = item.current
            fields = {k: v for k, v in current.fields.items() if k != "System.History"}
            draft = Draft(fields=fields, relations=list(current.relations))
            apply_ops(
                draft,
                ops,
                registry=self.fields,
                identities=self.identities,
                target_exists=self._exists,
                item_id=item_id,
                current_rev=current.rev,
            )
            planned = self._plan(item, draft, ctx, creating=False)
            if not planned:
                return item  # nothing changed: no new revision, no event
            if ctx.validate_only:
                preview = planned[0].revision
                preview.rev = current.rev
                preview.fields["System.Rev"] = current.rev
                return WorkItem(id=item.id, revisions=[*item.revisions[:-1], preview])
            self._commit(planned, ctx)
            return item

    def delete(self, item_id: int, ctx: WriteContext, *, destroy: bool = False) -> WorkItem:
        with self.lock:
            item = self.get(item_id, include_deleted=destroy)
            if item.deleted is None:
                item.deleted = Deletion(at=self.now(), by=ctx.user)
                self._index_remove(item.current)
                self._emit(
                    ChangeEvent(
                        "deleted",
                        item,
                        item.current,
                        item.current,
                        ctx.user,
                        item.deleted.at,
                        silent=ctx.silent,
                    )
                )
            if destroy:
                del self.items[item_id]
            return item

    def restore(self, item_id: int, ctx: WriteContext) -> WorkItem:
        with self.lock:
            item = self.items.get(item_id)
            if item is None or item.deleted is None:
                raise errors.work_item_not_found(item_id)
            item.deleted = None
            self._index_add(item.current)
            self._emit(
                ChangeEvent(
                    "restored",
                    item,
                    item.current,
                    item.current,
                    ctx.user,
                    self.now(),
                    silent=ctx.silent,
                )
            )
            return item

    def deleted_items(self) -> list[WorkItem]:
        with self.lock:
            return [item for item in self.items.values() if item.deleted is not None]

    # --- convenience for tests and seeding ---------------------------------------------------------

    def create_work_item(
        self,
        project: str,
        type_name: str,
        fields: Mapping[str, Any] | None = None,
        *,
        parent: int | None = None,
        by: User | str | None = None,
        notify: bool = False,
    ) -> WorkItem:
        """Create an item the way a client would, with rules bypassed so tests may set CreatedDate,
        ChangedDate, CreatedBy…; `by` is a User or anything `identities.resolve` accepts."""
        ops = [PatchOp(op="add", path=f"/fields/{ref}", value=value) for ref, value in (fields or {}).items()]
        if parent is not None:
            ops.append(
                PatchOp(
                    op="add",
                    path="/relations/-",
                    value={"rel": _HIER_REV, "url": f"/_apis/wit/workItems/{parent}"},
                )
            )
        ctx = WriteContext(user=self._user(by), bypass_rules=True, silent=not notify)
        return self.create(project, type_name, ops, ctx)

    def update_work_item(
        self, item_id: int, fields: Mapping[str, Any], *, by: User | str | None = None, notify: bool = False
    ) -> WorkItem:
        """Change fields as a person would (``None`` clears a field); `notify` fires service hooks."""
        ops = [PatchOp(op="add", path=f"/fields/{ref}", value=value) for ref, value in fields.items()]
        ctx = WriteContext(user=self._user(by), bypass_rules=True, silent=not notify)
        return self.update(item_id, ops, ctx)

    def _user(self, by: User | str | None) -> User:
        if isinstance(by, User):
            return by
        if by is None:
            return self.identities.first()
        user = self.identities.resolve(by)
        if user is None:
            raise ValueError(f"unknown user {by!r}")
        return user

    # --- internals --------------------------------------------------------------------------------

    def _plan(self, item: WorkItem, draft: Draft, ctx: WriteContext, *, creating: bool) -> list[_Planned]:
        """Apply rules and system fields; returns the new revision of `item` first, then the revisions the
        reciprocal link changes cause on other items. Empty when an update changes nothing."""
        previous = None if creating else item.current
        old_fields = previous.fields if previous else {}
        fields = draft.fields
        self._check_explicit(draft, ctx)
        project = self.project(str(fields.get("System.TeamProject", "")))
        wit = self._check_type(project, fields, old_fields, ctx, item.id)
        self._check_type_fields(project, wit, fields)
        self._check_paths(project, fields, old_fields, draft, item.id)
        if not ctx.bypass_rules:
            self._check_rules(wit, fields)
        tags = fields.get("System.Tags")
        if isinstance(tags, str):
            normalized = _normalize_tags(tags)
            if normalized:
                if len(normalized.split("; ")) > MAX_TAGS:
                    raise errors.bad_request(f"VS403402: A work item can have at most {MAX_TAGS} tags.")
                fields["System.Tags"] = normalized
            else:
                fields.pop("System.Tags", None)
        relations = tuple(draft.relations)
        old_relations = previous.relations if previous else ()
        history = draft.explicit.get("System.History") is not None
        changed = [
            ref
            for ref in set(fields) | set(old_fields)
            if ref not in _DERIVED and not values_equal(fields.get(ref), old_fields.get(ref))
        ]
        if not creating and not changed and relations == old_relations and not history:
            return []
        self._check_hierarchy(item.id, relations, old_relations)

        now = self.now()
        changed_date = self._changed_date(draft, ctx, previous, now)
        user = ctx.user
        changed_by = draft.fields.get("System.ChangedBy") if "System.ChangedBy" in draft.explicit else user
        fields["System.ChangedDate"] = changed_date
        fields["System.ChangedBy"] = changed_by or user
        if creating:
            if "System.CreatedDate" not in draft.explicit or fields.get("System.CreatedDate") is None:
                fields["System.CreatedDate"] = changed_date
            if "System.CreatedBy" not in draft.explicit or fields.get("System.CreatedBy") is None:
                fields["System.CreatedBy"] = user
            fields["System.Id"] = item.id
        if creating or "System.State" in changed:
            self._state_fields(wit, fields, draft, changed_date, user, creating)
        rev = 1 if previous is None else previous.rev + 1
        fields["System.Rev"] = rev
        parent = next((r.target_id for r in relations if r.rel == _HIER_REV), None)
        if parent is None:
            fields.pop("System.Parent", None)
        else:
            fields["System.Parent"] = parent
        revision = Revision(rev=rev, fields=fields, relations=relations, changed_ts=changed_date.timestamp())
        planned = [_Planned(item, revision, "created" if creating else "updated")]
        if not ctx.validate_only:
            planned.extend(self._mirror_links(item.id, relations, old_relations, user, now))
        return planned

    def _check_explicit(self, draft: Draft, ctx: WriteContext) -> None:
        for ref in draft.explicit:
            definition = self.fields.find(ref)
            if definition is None:
                continue
            if definition.system or (definition.rules_read_only and not ctx.bypass_rules):
                raise errors.field_invalid_status(ref, "ReadOnly")

    def _check_type(
        self, project: Project, fields: dict[str, Any], old: dict[str, Any], ctx: WriteContext, item_id: int
    ) -> WorkItemTypeDef:
        type_name = str(fields.get("System.WorkItemType", ""))
        wit = project.find_type(type_name)
        if wit is None:
            raise errors.work_item_type_not_found(type_name, project.id)
        fields["System.WorkItemType"] = wit.name
        state = fields.get("System.State")
        if isinstance(state, str) and wit.state(state) is not None:
            fields["System.State"] = wit.state(state).name  # type: ignore[union-attr]
        elif old and old.get("System.WorkItemType") != wit.name and state == old.get("System.State"):
            fields["System.State"] = wit.initial_state  # type change: state not valid on the new type
        return wit

    def _check_type_fields(self, project: Project, wit: WorkItemTypeDef, fields: dict[str, Any]) -> None:
        """A field created over REST is only valid on the types of the process it was added to."""
        allowed = self.processes[project.process_type_id].type_fields.get(wit.name, [])
        for ref in fields:
            definition = self.fields.find(ref)
            if definition is not None and definition.scoped and definition.ref not in allowed:
                raise errors.field_not_found(definition.ref)

    def _check_paths(
        self, project: Project, fields: dict[str, Any], old: dict[str, Any], draft: Draft, item_id: int
    ) -> None:
        moved = bool(old) and old.get("System.TeamProject") != project.name
        fields["System.TeamProject"] = project.name
        for ref, nodes in (("System.AreaPath", project.areas), ("System.IterationPath", project.iterations)):
            value = fields.get(ref)
            if value is None or (moved and ref not in draft.explicit):
                fields[ref] = project.name
                continue
            canonical = nodes.get(str(value).replace("/", "\\").lower())
            if canonical is None:
                raise errors.invalid_tree_path(item_id or -1, ref)
            fields[ref] = canonical

    def _check_rules(self, wit: WorkItemTypeDef, fields: dict[str, Any]) -> None:
        title = fields.get("System.Title")
        if title is None or not str(title).strip():
            raise errors.rule_error("Title", "System.Title", "Required, InvalidEmpty")
        if len(str(title)) > 255:
            raise errors.rule_error("Title", "System.Title", "InvalidTooLong")
        state = fields.get("System.State")
        if not isinstance(state, str) or wit.state(state) is None:
            raise errors.rule_error(
                "State", "System.State", "Required, HasValues, LimitedToValues, AllowsOldValue, InvalidEmpty"
            )

    def _check_hierarchy(
        self, item_id: int, relations: tuple[Relation, ...], old: tuple[Relation, ...]
    ) -> None:
        parents = [r.target_id for r in relations if r.rel == _HIER_REV]
        if len(parents) > 1:
            raise errors.link_error(
                f"TF201036: You cannot add a Child link between work items {parents[1]} and {item_id} "
                "because a work item can have only one Parent link."
            )
        old_keys = {r.key() for r in old}
        for relation in relations:
            if relation.key() in old_keys or relation.target_id is None:
                continue
            target = self.items[relation.target_id]
            if relation.rel == _HIER_FWD:
                existing_parent = target.current.parent_id()
                if existing_parent is not None and existing_parent != item_id:
                    raise errors.link_error(
                        f"TF201036: You cannot add a Child link between work items {item_id} and "
                        f"{relation.target_id} because a work item can have only one Parent link."
                    )
                if item_id and self._is_ancestor(relation.target_id, item_id):
                    raise errors.link_error(_circular(item_id, relation.target_id))
            elif relation.rel == _HIER_REV and item_id and self._is_ancestor(item_id, relation.target_id):
                raise errors.link_error(_circular(item_id, relation.target_id))

    def _is_ancestor(self, candidate: int, item_id: int) -> bool:
        """True when `candidate` is `item_id` or one of its ancestors."""
        seen: set[int] = set()
        current: int | None = item_id
        while current is not None and current not in seen:
            if current == candidate:
                return True
            seen.add(current)
            item = self.items.get(current)
            current = item.current.parent_id() if item else None
        return False

    def _changed_date(
        self, draft: Draft, ctx: WriteContext, previous: Revision | None, now: datetime
    ) -> datetime:
        explicit = draft.fields.get("System.ChangedDate") if "System.ChangedDate" in draft.explicit else None
        if explicit is not None:
            if previous is not None and explicit.timestamp() < previous.changed_ts:
                raise errors.dates_must_increase()
            return explicit
        if previous is not None and now.timestamp() <= previous.changed_ts:
            return datetime.fromtimestamp(previous.changed_ts, tz=now.tzinfo) + timedelta(milliseconds=1)
        return now

    def _state_fields(
        self,
        wit: WorkItemTypeDef,
        fields: dict[str, Any],
        draft: Draft,
        when: datetime,
        user: User,
        creating: bool,
    ) -> None:
        state_name = str(fields.get("System.State", ""))
        state = wit.state(state_name)
        if "System.Reason" not in draft.explicit:
            initial = creating or state_name == wit.initial_state
            fields["System.Reason"] = wit.initial_reason if initial else f"Moved to state {state_name}"
        fields["Microsoft.VSTS.Common.StateChangeDate"] = when
        category = state.category if state else ""
        if category == "InProgress":
            fields.setdefault("Microsoft.VSTS.Common.ActivatedDate", when)
            fields.setdefault("Microsoft.VSTS.Common.ActivatedBy", user)
        if category == "Completed":
            fields["Microsoft.VSTS.Common.ClosedDate"] = when
            fields["Microsoft.VSTS.Common.ClosedBy"] = user
        else:
            fields.pop("Microsoft.VSTS.Common.ClosedDate", None)
            fields.pop("Microsoft.VSTS.Common.ClosedBy", None)
        if category == "Proposed":
            fields.pop("Microsoft.VSTS.Common.ActivatedDate", None)
            fields.pop("Microsoft.VSTS.Common.ActivatedBy", None)

    def _mirror_links(
        self,
        item_id: int,
        relations: tuple[Relation, ...],
        old: tuple[Relation, ...],
        user: User,
        now: datetime,
    ) -> list[_Planned]:
        """Each added/removed work item link also changes the other end (a new revision there too)."""
        new_keys = {r.key(): r for r in relations if r.is_work_item_link}
        old_keys = {r.key(): r for r in old if r.is_work_item_link}
        per_target: dict[int, tuple[list[Relation], list[Relation]]] = {}
        for key, relation in new_keys.items():
            if key not in old_keys:
                per_target.setdefault(relation.target_id, ([], []))[0].append(relation)  # type: ignore[arg-type]
        for key, relation in old_keys.items():
            if key not in new_keys:
                per_target.setdefault(relation.target_id, ([], []))[1].append(relation)  # type: ignore[arg-type]
        planned: list[_Planned] = []
        for target_id, (added, removed) in sorted(per_target.items()):
            target = self.items.get(target_id)
            if target is None or target.deleted is not None:
                continue
            current = target.current
            rels = list(current.relations)
            for relation in removed:
                mirror = Relation(rel=LINK_TYPES[relation.rel][1], target_id=item_id)
                rels = [r for r in rels if r.key() != mirror.key()]
            for relation in added:
                mirror = Relation(
                    rel=LINK_TYPES[relation.rel][1], target_id=item_id, attributes=relation.attributes
                )
                if all(r.key() != mirror.key() for r in rels):
                    rels.append(mirror)
            fields = {k: v for k, v in current.fields.items() if k != "System.History"}
            when = (
                now
                if now.timestamp() > current.changed_ts
                else datetime.fromtimestamp(current.changed_ts, tz=now.tzinfo) + timedelta(milliseconds=1)
            )
            fields["System.ChangedDate"] = when
            fields["System.ChangedBy"] = user
            fields["System.Rev"] = current.rev + 1
            parent = next((r.target_id for r in rels if r.rel == _HIER_REV), None)
            if parent is None:
                fields.pop("System.Parent", None)
            else:
                fields["System.Parent"] = parent
            revision = Revision(current.rev + 1, fields, tuple(rels), when.timestamp())
            planned.append(_Planned(target, revision, "updated"))
        return planned

    def _commit(self, planned: list[_Planned], ctx: WriteContext) -> None:
        for plan in planned:
            item = plan.item
            previous = item.revisions[-1] if item.revisions else None
            if previous is not None:
                self._index_remove(previous)
            item.revisions.append(plan.revision)
            self._index_add(plan.revision)
            self.revision_log.append((item.id, plan.revision.rev))
            self._emit(
                ChangeEvent(
                    plan.kind,
                    item,
                    previous,
                    plan.revision,
                    ctx.user,
                    self.now(),
                    suppress_notifications=ctx.suppress_notifications,
                    silent=ctx.silent,
                )
            )

    def _emit(self, event: ChangeEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def _index_add(self, revision: Revision) -> None:
        bisect.insort(self._changed, (revision.changed_ts, int(revision.fields["System.Id"])))

    def _index_remove(self, revision: Revision) -> None:
        key = (revision.changed_ts, int(revision.fields["System.Id"]))
        index = bisect.bisect_left(self._changed, key)
        if index < len(self._changed) and self._changed[index] == key:
            del self._changed[index]


def _normalize_tags(text: str) -> str:
    seen: dict[str, str] = {}
    for part in text.split(";"):
        tag = part.strip()
        if tag and tag.lower() not in seen:
            seen[tag.lower()] = tag
    return "; ".join(sorted(seen.values(), key=str.lower))


def _circular(a: int, b: int) -> str:
    return (
        f"TF201065: You cannot add a link between work items {a} and {b} because it would create a circular "
        "relationship in the hierarchy."
    )
