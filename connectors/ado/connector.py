"""`AdoConnector`: work items of Azure DevOps Services or Server behind the connector contract."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors.ado import hooks as hooks_mod
from connectors.ado import patch, wiql
from connectors.ado.auth import entra_auth, pat_auth
from connectors.ado.client import AdoClient, WiqlResult, WorkItem
from connectors.ado.config import AdoOptions
from connectors.ado.identities import BUILTIN_IDENTITY_FIELDS, IdentityMapper
from connectors.ado.setup import DEFAULT_TYPES, ProcessFieldsReport
from connectors.contract import (
    Change,
    ChangePage,
    CheckReport,
    Container,
    EntitySpec,
    FieldSpec,
    FieldsSetupReport,
    HookEvent,
    Item,
    Scope,
    SessionUnit,
    Watermark,
    Write,
    WriteResult,
    match_value,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    ThrottledError,
    TransientError,
    VersionConflict,
)
from connectors.http import CallStats, HttpClient, RetryPolicy, safe_url

log = logging.getLogger("tandem.connectors.ado")

ENTITY = "workitem"
_CHANGE_FIELDS = ("System.Id", "System.Rev", "System.ChangedDate", "System.TeamProject")
_ALL_PROJECTS = "*"  # cursor key when the scope names no project
_FIELD_TYPES = {
    "string": "string",
    "plainText": "text",
    "html": "html",
    "history": "html",
    "integer": "integer",
    "double": "double",
    "boolean": "boolean",
    "dateTime": "datetime",
    "treePath": "tree_path",
    "identity": "identity",
    "guid": "string",
    "picklistString": "string",
    "picklistInteger": "integer",
    "picklistDouble": "double",
}


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


# Fields the engine sets from where an item goes (its project from the container pairs, its type from
# `types`/`type_map`), never by writing a value: listed as read-only so auto-map does not pair them.
ROUTED_FIELDS = frozenset({"System.TeamProject", "System.WorkItemType"})


class AdoConnector:
    """Azure DevOps work items (entity `workitem`, one session per item) for Services and Server."""

    # Declared, not read from the system: the hooks intake keys sessions without calling it.
    session_units: ClassVar[dict[str, SessionUnit]] = {ENTITY: "item"}

    def __init__(
        self,
        system: str,
        base_url: str,
        options: AdoOptions | None = None,
        *,
        get_secret: Callable[[], str] | None = None,
        credential: Any | None = None,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`base_url` is `https://dev.azure.com/{org}` or `{server}/{collection}`.

        Credentials: `get_secret` returns a PAT; `credential` is an azure-identity credential (or
        "default" for DefaultAzureCredential, Services only); `auth` is any httpx.Auth (tests, emulators).
        """
        self.system = system
        self.options = options or AdoOptions()
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{system}: base URL must be http(s)://host/..., got {safe_url(base_url)!r}")
        if url.userinfo:
            raise ValueError(f"{system}: put credentials in the secret store, not in the base URL")
        if sum(x is not None for x in (get_secret, credential, auth)) > 1:
            raise ValueError(f"{system}: pass only one of get_secret, credential, auth")
        if get_secret is not None:
            auth = pat_auth(get_secret)
        elif credential is not None:
            if self.options.deployment == "server":
                raise ValueError(f"{system}: Azure DevOps Server does not accept Entra tokens; use a PAT")
            auth = entra_auth(None if credential == "default" else credential)
        self.http = HttpClient(
            system=system,
            auth=auth,
            timeout=self.options.timeout_seconds,
            retry=retry,
            transport=transport,
            sleep=sleep,
        )
        self.client = AdoClient(base_url, self.options, self.http)
        self.identities = IdentityMapper(self.options.identity_map)
        self._field_specs: list[FieldSpec] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AdoConnector(system={self.system!r}, base_url={safe_url(self.client.base_url)!r})"

    @property
    def stats(self) -> CallStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdoConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- metadata -----------------------------------------------------------------------------------

    def check(self) -> CheckReport:
        details: dict[str, Any] = {
            "deployment": self.options.deployment,
            "base_url": safe_url(self.client.base_url),
        }
        problems: list[str] = []
        try:
            details["api_version"] = self.client.api_version
            projects = self.client.list_projects()
            details["projects"] = sorted(str(p.get("name")) for p in projects)
            if not projects:
                problems.append(
                    "no projects are visible to this identity; add it to the projects to sync "
                    "(Project settings → Permissions → Contributors)"
                )
            details["fields"] = len(self.list_fields())
        except AuthError as exc:
            problems.append(
                f"{exc}. For a PAT: renew it if expired and give it the scopes Work Items (Read & write), "
                "Project and Team (Read) and Service Hooks (Read & write); for Entra ID: add the identity "
                "to the organization with Basic access"
            )
        except TransientError as exc:
            problems.append(f"{exc}. Check the base URL, DNS and firewall, then try again")
        except ConnectorError as exc:
            problems.append(str(exc))
        details["calls"] = self.stats.total_calls
        return CheckReport(ok=not problems, problems=problems, details=details)

    def list_fields(self) -> list[FieldSpec]:
        """Every work item field of the organization/collection (cached for this connector's life)."""
        with self._lock:
            if self._field_specs is None:
                self._field_specs = [
                    FieldSpec(
                        name=str(f["referenceName"]),
                        type="identity"
                        if f.get("isIdentity")
                        else _FIELD_TYPES.get(str(f.get("type")), "string"),
                        read_only=bool(f.get("readOnly", False)) or f["referenceName"] in ROUTED_FIELDS,
                        label=str(f.get("name", "")),
                    )
                    for f in self.client.list_fields()
                    if f.get("referenceName")
                ]
            return list(self._field_specs)

    def list_work_item_types(self, project: str) -> list[str]:
        return [str(t["name"]) for t in self.client.list_work_item_types(project) if t.get("name")]

    def list_projects(self) -> list[dict[str, Any]]:
        """`{id, name, …}` of every project the identity can see."""
        return self.client.list_projects()

    def list_containers(self) -> list[Container]:
        """Every project the identity can see; a scenario pairs projects by name."""
        names = sorted({str(p["name"]) for p in self.list_projects() if p.get("name")}, key=str.lower)
        return [Container(id=n, name=n) for n in names]

    def find_container(self, name: str) -> str | None:
        """The project named `name` (any case) as ADO spells it, or None."""
        wanted = name.strip().lower()
        for p in self.list_projects():
            if str(p.get("name", "")).strip().lower() == wanted:
                return str(p["name"])
        return None

    def entities(self) -> list[EntitySpec]:
        unit = self.session_units[ENTITY]
        return [EntitySpec(name=ENTITY, session_unit=unit, fields=tuple(self.list_fields()))]

    def _entity(self, entity: str) -> None:
        if entity != ENTITY:
            raise PermanentError(
                f"unknown entity {entity!r}; the ADO connector offers {ENTITY!r}", system=self.system
            )

    # --- changes ------------------------------------------------------------------------------------

    def changes(self, entity: str, since: Watermark, scope: Scope) -> Iterator[ChangePage]:
        """Ids and revs changed since the watermark, oldest first, one page per workitemsbatch (≤ 200).

        Each page's watermark is safe to store once the page is enqueued: per project the cursor keeps the
        ChangedDate up to which every item was listed, and `at` is the earliest of them.
        """
        self._entity(entity)
        projects: list[str | None] = list(scope.containers) or [None]
        previous = _decode_cursor(since.cursor)
        marks: dict[str, datetime | None] = {
            (p or _ALL_PROJECTS): previous.get(p or _ALL_PROJECTS, since.at) for p in projects
        }
        last: Watermark | None = None
        for project in projects:
            key = project or _ALL_PROJECTS
            lower = marks[key]
            if lower is not None:
                lower -= timedelta(seconds=self.options.overlap_seconds)
            if scope.start is not None and (lower is None or scope.start > lower):
                lower = scope.start
            for changes, mark in self._project_changes(project, lower, marks[key], scope):
                if mark is not None:
                    marks[key] = mark
                # Empty windows only move the mark; the closing page below carries it.
                if changes:
                    last = _watermark(marks)
                    yield ChangePage(changes=changes, next_watermark=last)
        final = _watermark(marks)
        if last is None or final != last:
            yield ChangePage(changes=[], next_watermark=final)

    def _project_changes(
        self, project: str | None, lower: datetime | None, mark: datetime | None, scope: Scope
    ) -> Iterator[tuple[list[Change], datetime | None]]:
        """(changes, progress) per page; `lower` is where the query starts, `mark` the progress so far."""

        def run(window: wiql.Window) -> WiqlResult:
            query = wiql.changes_query(
                window=window, in_project=project is not None, types=scope.types, extra=scope.filter
            )
            return self.client.wiql(query, project=project)

        windows = wiql.bisect(
            run,
            wiql.Window(lower, None),
            now=lambda: datetime.now(UTC),
            min_seconds=self.options.min_bisect_seconds,
        )
        for window, result in windows:
            ids = result.ids
            as_of = result.as_of
            chunks = list(_chunks(ids, self.options.page_size))
            if not chunks:
                mark = _later(mark, _window_done(window, as_of, mark))
                yield [], mark
                continue
            for index, chunk in enumerate(chunks):
                items = self.client.get_batch(chunk, project=project, fields=_CHANGE_FIELDS)
                changes = [
                    Change(
                        id=str(w.id),
                        version=str(w.rev or w.fields.get("System.Rev", "")),
                        container=w.fields.get("System.TeamProject"),
                        changed_at=_as_datetime(w.fields.get("System.ChangedDate")),
                    )
                    for w in items
                ]
                if index == len(chunks) - 1:
                    # The whole window is listed: everything before its end (or the query time) is done.
                    mark = _later(mark, _window_done(window, as_of, _latest(changes, mark)))
                else:
                    mark = _safe_mark(changes, as_of, mark)
                yield changes, mark

    # --- read ---------------------------------------------------------------------------------------

    def read(self, entity: str, ids: Sequence[str]) -> list[Item]:
        """Fresh items with relations; ids that do not exist (or are not visible) are left out."""
        self._entity(entity)
        numeric = [int(i) for i in ids if str(i).strip().isdigit()]
        items: list[Item] = []
        for chunk in _chunks(numeric, self.options.page_size):
            items.extend(self._item(w) for w in self.client.get_batch(chunk, expand="relations"))
        return items

    def _item(self, w: WorkItem) -> Item:
        f = w.fields
        fields = self.identities.normalise_fields(f, self._identity_fields(load=False))
        correlation: str | None = None
        if self.options.correlation_field:
            correlation = fields.pop(self.options.correlation_field, None) or None
        elif patch.TAGS in fields:
            prefix = self.options.correlation_tag_prefix
            tags = patch.split_tags(fields[patch.TAGS])
            ours = [t for t in tags if t.startswith(prefix)]
            if ours:
                correlation = ours[0][len(prefix) :]
            user_tags = [t for t in tags if not t.startswith(prefix)]
            # ADO leaves empty fields out of a work item; do the same once our tag is gone.
            if user_tags:
                fields[patch.TAGS] = patch.join_tags(user_tags)
            else:
                del fields[patch.TAGS]
        parent = self._parent(w)
        return Item(
            id=str(w.id),
            version=str(w.rev),
            container=f.get("System.TeamProject"),
            type=f.get("System.WorkItemType"),
            changed_at=_as_datetime(f.get("System.ChangedDate")),
            changed_by=self.identities.to_email(f.get("System.ChangedBy")),
            created_at=_as_datetime(f.get("System.CreatedDate")),
            parent_id=str(parent[1]) if parent else None,
            correlation_id=str(correlation) if correlation else None,
            fields=fields,
        )

    @staticmethod
    def _parent(w: WorkItem) -> tuple[int, int] | None:
        """(index in relations, parent id) of the Hierarchy-Reverse link, if any."""
        for index, rel in enumerate(w.relations):
            if rel.rel == patch.PARENT:
                tail = rel.url.rstrip("/").rsplit("/", 1)[-1]
                if tail.isdigit():
                    return index, int(tail)
        return None

    def _identity_fields(self, *, load: bool) -> set[str]:
        names = set(BUILTIN_IDENTITY_FIELDS) | set(self.options.identity_fields)
        if self._field_specs is None and load:
            try:
                self.list_fields()
            except ConnectorError as exc:
                log.warning("could not list fields to find identity fields: %s", exc)
        if self._field_specs is not None:
            names |= {f.name for f in self._field_specs if f.type == "identity"}
        return names

    # --- write --------------------------------------------------------------------------------------

    def write(self, entity: str, writes: Sequence[Write]) -> list[WriteResult]:
        """One create (POST) or update (PATCH) per write, in order; never raises for an item's failure.

        Errors come back in `WriteResult.error`: VersionConflict (412 / stale `expected_version`),
        PermanentError and its subclasses (validation, permission, missing item), and TransientError /
        ThrottledError (429, 5xx, time-out). After a transient error the rest of the batch is not attempted;
        those writes get a TransientError (a ThrottledError when throttled) with the same `retry_after`.
        A create that timed out may still have happened: look it up by correlation id before retrying.
        """
        self._entity(entity)
        results: list[WriteResult] = []
        for index, w in enumerate(writes):
            try:
                item = self._create(w) if w.is_create else self._update(w)
                results.append(WriteResult(item=item))
            except TransientError as exc:
                results.append(WriteResult(error=exc))
                kind = ThrottledError if isinstance(exc, ThrottledError) else TransientError
                for rest in writes[index + 1 :]:
                    results.append(
                        WriteResult(
                            error=kind(
                                f"write of {rest.id or 'a new item'} not attempted after: {exc.message}",
                                retry_after=exc.retry_after,
                                system=self.system,
                                status=exc.status,
                                code=exc.code,
                            )
                        )
                    )
                break
            except ConnectorError as exc:
                results.append(WriteResult(error=exc))
        return results

    def _outgoing(self, name: str, value: Any, identity_fields: set[str]) -> Any:
        if name in identity_fields and (value is None or isinstance(value, str)):
            return self.identities.to_ado(value)
        return _jsonable(value)

    def _write_identity_fields(self) -> set[str]:
        # Only a Server with an identity map rewrites values, and only then are custom identity fields
        # worth one metadata call.
        return self._identity_fields(load=bool(self.options.identity_map))

    def _create(self, w: Write) -> Item:
        if not w.container or not w.type:
            raise PermanentError(
                "a work item create needs container (the project) and type (e.g. Task)", system=self.system
            )
        fields = dict(w.fields)
        tags = patch.split_tags(fields.pop(patch.TAGS, None))
        if w.correlation_id:
            if self.options.correlation_field:
                fields[self.options.correlation_field] = w.correlation_id
            else:
                tags.append(self._correlation_tag(w.correlation_id))
        identity_fields = self._write_identity_fields()
        ops = [
            patch.set_field(n, self._outgoing(n, v, identity_fields))
            for n, v in fields.items()
            if v is not None
        ]
        if tags:
            ops.append(patch.set_field(patch.TAGS, patch.join_tags(tags)))
        if w.parent_id:
            ops.append(patch.add_parent(self.client.work_item_url(self._number(w.parent_id, "parent_id"))))
        return self._item(self.client.create_work_item(w.container, w.type, ops))

    def _number(self, value: str, what: str) -> int:
        if not str(value).strip().isdigit():
            raise PermanentError(f"{what} must be a work item number, got {value!r}", system=self.system)
        return int(value)

    def _correlation_tag(self, correlation_id: str) -> str:
        if any(c in correlation_id for c in ";,"):
            raise PermanentError(
                f"correlation id {correlation_id!r} cannot be a tag (contains ';' or ',')", system=self.system
            )
        return self.options.correlation_tag_prefix + correlation_id

    def _update(self, w: Write) -> Item:
        assert w.id is not None
        item_id = self._number(w.id, "id")
        expected = (
            None if w.expected_version is None else self._number(w.expected_version, "expected_version")
        )
        fields = dict(w.fields)
        tag_mode = self.options.correlation_field is None
        needs_current = (
            w.set_parent or any(v is None for v in fields.values()) or (tag_mode and patch.TAGS in fields)
        )
        current = self.client.get_work_item(item_id) if needs_current else None
        if current is not None and expected is not None and current.rev != expected:
            raise VersionConflict(
                f"work item {item_id} is at rev {current.rev}, not {expected}; re-read and merge",
                system=self.system,
                status=412,
            )
        identity_fields = self._write_identity_fields()
        ops: list[dict[str, Any]] = []
        for name, value in fields.items():
            if tag_mode and name == patch.TAGS:
                assert current is not None
                ops.extend(self._tag_ops(value, current))
            elif value is None:
                # ADO rejects removing a field that has no value.
                if current is not None and name in current.fields:
                    ops.append(patch.remove_field(name))
            else:
                ops.append(patch.set_field(name, self._outgoing(name, value, identity_fields)))
        relation_ops: list[dict[str, Any]] = []
        if w.set_parent:
            assert current is not None
            existing = self._parent(current)
            wanted = self._number(w.parent_id, "parent_id") if w.parent_id else None
            if (existing[1] if existing else None) != wanted:
                if existing:
                    relation_ops.append(patch.remove_relation(existing[0]))
                if wanted:
                    relation_ops.append(patch.add_parent(self.client.work_item_url(wanted)))
        ops.extend(relation_ops)
        if not ops:
            # Nothing to change: answer with the item as it is, without creating a revision.
            return self._item(current or self.client.get_work_item(item_id))
        if expected is None and relation_ops and current is not None:
            # A relation index is only valid for the rev it was read at.
            expected = current.rev
        if expected is not None:
            ops.insert(0, patch.test_rev(expected))
        try:
            return self._item(self.client.update_work_item(item_id, ops))
        except VersionConflict as exc:
            raise VersionConflict(
                f"work item {item_id} changed since rev {expected}; re-read and merge ({exc.message})",
                system=self.system,
                status=exc.status,
                code=exc.code,
            ) from None

    def _tag_ops(self, value: Any, current: WorkItem) -> list[dict[str, Any]]:
        """Replace the user's tags but keep the hub's correlation tag."""
        prefix = self.options.correlation_tag_prefix
        existing = patch.split_tags(current.fields.get(patch.TAGS))
        ours = [t for t in existing if t.startswith(prefix)]
        users = [t for t in patch.split_tags(value) if not t.startswith(prefix)]
        wanted = patch.join_tags(users + ours)
        if wanted == patch.join_tags(existing):
            return []
        if not wanted:
            return [patch.remove_field(patch.TAGS)]
        return [patch.set_field(patch.TAGS, wanted)]

    # --- correlation --------------------------------------------------------------------------------

    def find_by_correlation(self, entity: str, correlation_id: str) -> Item | None:
        """The item this hub created with `correlation_id`, searched across the whole organization."""
        return self.find_by_correlations(entity, [correlation_id]).get(correlation_id)

    def find_by_correlations(self, entity: str, correlation_ids: Sequence[str]) -> dict[str, Item]:
        """The items carrying any of `correlation_ids`, one WIQL query per 50 stamps (a batch of creates)."""
        self._entity(entity)
        found: dict[str, list[Item]] = {}
        wanted = list(dict.fromkeys(correlation_ids))
        for start in range(0, len(wanted), 50):
            chunk = wanted[start : start + 50]
            if self.options.correlation_field:
                query = wiql.correlation_query(field=self.options.correlation_field, values=chunk)
            else:
                query = wiql.correlation_query(tags=[self._correlation_tag(c) for c in chunk])
            ids = self.client.wiql(query, time_precision=False).ids
            if not ids:
                continue
            # CONTAINS may match more loosely than the exact tag; confirm on the items themselves.
            keep = set(chunk)
            for start_ids in range(0, len(ids), 200):
                for item in self.read(entity, [str(i) for i in ids[start_ids : start_ids + 200]]):
                    if item.correlation_id in keep:
                        found.setdefault(item.correlation_id, []).append(item)
        out: dict[str, Item] = {}
        for stamp, matches in found.items():
            if len(matches) > 1:
                log.warning(
                    "correlation id %s is on %d work items (%s); using the oldest",
                    stamp,
                    len(matches),
                    ", ".join(m.id for m in matches),
                )
            out[stamp] = min(matches, key=lambda m: int(m.id) if m.id.isdigit() else 0)
        return out

    # --- match keys (connectors.contract.FieldFinder) -------------------------------------------------

    def find_by_field(
        self, entity: str, field: str, values: Sequence[Any], container: str | None = None
    ) -> dict[str, list[Item]]:
        """The work items (in project `container`, if given) whose `field` equals one of `values`: one WIQL
        query per 50 values, then the items read and the values confirmed on them."""
        self._entity(entity)
        wanted = {match_value(v): str(v) for v in values if v is not None and str(v).strip()}
        found: dict[str, list[Item]] = {}
        keys = list(wanted)
        for start in range(0, len(keys), 50):
            chunk = [wanted[k] for k in keys[start : start + 50]]
            ids = self.client.wiql(wiql.field_query(field, chunk, container), time_precision=False).ids
            for start_ids in range(0, len(ids), 200):
                for item in self.read(entity, [str(i) for i in ids[start_ids : start_ids + 200]]):
                    value = item.fields.get(field)
                    if value is not None and match_value(value) in wanted:
                        found.setdefault(match_value(value), []).append(item)
        return found

    # --- setup (connectors.contract.FieldSetup) ---------------------------------------------------

    def ensure_fields(self, specs: Sequence[dict[str, Any]]) -> FieldsSetupReport:
        """Creates the scenario's custom fields on their types in the inherited process of each project
        (`specs[i].projects`, else every visible project); a project on a system process is a problem
        telling the admin to move it to an inherited process."""
        from connectors.ado import setup

        return setup.ensure_fields(self, specs)

    def ensure_process_fields(
        self, project: str, fields: Sequence[tuple[str, str]], types: Sequence[str] = DEFAULT_TYPES
    ) -> ProcessFieldsReport:
        """Adds `fields` (name, hub type) to `types` of `project`'s inherited process, creating the
        organization fields and inherited work item types it needs; idempotent."""
        from connectors.ado import setup

        specs = [setup.AdoFieldSpec(name=n, type=t, types=list(types)) for n, t in fields]
        return setup.ensure_process_fields(self, project, specs)

    def verify_fields(self, specs: Sequence[dict[str, Any]]) -> CheckReport:
        from connectors.ado import setup

        return setup.verify_fields(self, specs)

    # --- hooks --------------------------------------------------------------------------------------

    def parse_hook(self, payload: Any) -> list[HookEvent]:
        return hooks_mod.parse_hook(payload)

    def ensure_hook_subscriptions(
        self,
        hook_url: str,
        username: str,
        password: str,
        project_ids: Sequence[str],
        event_types: Sequence[str] = hooks_mod.WORK_ITEM_EVENTS,
    ) -> hooks_mod.SubscriptionReport:
        """Make every project send `event_types` to `hook_url` with basic auth; returns what changed."""
        return hooks_mod.ensure_subscriptions(
            self.client,
            hook_url=hook_url,
            username=username,
            password=password,
            project_ids=project_ids,
            event_types=event_types,
        )


# --- watermark helpers ---------------------------------------------------------------------------


def _decode_cursor(cursor: str | None) -> dict[str, datetime | None]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
        projects = data["projects"]
        return {str(k): _as_datetime(v) for k, v in projects.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("ignoring an unreadable ADO watermark cursor")
        return {}


def _watermark(marks: Mapping[str, datetime | None]) -> Watermark:
    values = list(marks.values())
    at = None if any(v is None for v in values) else min(v for v in values if v is not None)
    cursor = json.dumps(
        {"projects": {k: (v.isoformat() if v else None) for k, v in sorted(marks.items())}},
        separators=(",", ":"),
    )
    return Watermark(at=at, cursor=cursor)


def _window_done(window: wiql.Window, as_of: datetime | None, fallback: datetime | None) -> datetime | None:
    """Progress once a window is fully listed: its end, but never past the time the query ran."""
    if window.end is not None and as_of is not None:
        return min(window.end, as_of)
    return window.end or as_of or fallback


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return b if a is None else a
    return max(a, b)


def _latest(changes: Sequence[Change], fallback: datetime | None) -> datetime | None:
    dates = [c.changed_at for c in changes if c.changed_at is not None]
    return max(dates) if dates else fallback


def _safe_mark(
    changes: Sequence[Change], as_of: datetime | None, fallback: datetime | None
) -> datetime | None:
    """Progress after a page that is not the last of its window.

    WIQL sorted the ids by their ChangedDate when it ran; an item changed since then now reads later
    and may overtake items still to come. Items unchanged since the query (ChangedDate <= asOf) still
    hold their sort key, so the latest of those is a bound every later page is at or after.
    """
    if as_of is None:
        return fallback
    steady = [c.changed_at for c in changes if c.changed_at is not None and c.changed_at <= as_of]
    best = max(steady) if steady else None
    if best is None:
        return fallback
    return best if fallback is None else max(best, fallback)
