"""An in-memory system implementing the connector contract faithfully, for engine tests.

Versions increase on every write, a stale expected version is a VersionConflict, changes are paged
by change time, faults (throttling, permanent errors, a crash right after a create) can be injected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.contract import (
    Change,
    ChangePage,
    CheckReport,
    EntitySpec,
    HookEvent,
    HookPayloadError,
    Item,
    ItemRef,
    Scope,
    Watermark,
    Write,
    WriteResult,
)
from connectors.errors import PermanentError, ThrottledError, VersionConflict


class Crash(Exception):
    """Simulates the worker dying (process killed) at an injected point."""


@dataclass
class Record:
    id: str
    container: str
    type: str
    version: int
    changed_at: datetime
    created_at: datetime
    fields: dict[str, Any]
    parent_id: str | None = None
    correlation_id: str | None = None
    changed_by: str = "user@example.com"
    entity: str = "item"
    refs: dict[str, ItemRef] = field(default_factory=dict)  # field path -> referenced item


@dataclass
class MemorySystem:
    """The 'server' side: records, a clock, counters and fault switches."""

    name: str
    clock_start: datetime = field(default_factory=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    records: dict[str, Record] = field(default_factory=dict)
    writes: int = 0
    write_calls: int = 0  # calls of write(): one per publish cycle for container-unit systems
    creates: int = 0
    reads: int = 0
    change_calls: int = 0
    throttle_next: list[float] = field(default_factory=list)  # Retry-After values for the next writes
    fail_next: list[str] = field(default_factory=list)  # permanent error messages for the next writes
    crash_after_create: int = 0  # crash the caller right after this many creates succeed
    session_unit: str = "item"
    containers: list[str] | None = None  # projects that exist; None: those of the records
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # project -> hook subscription
    natural_keys: dict[str, str] = field(default_factory=dict)  # entity -> its natural-key field
    no_feed: set[str] = field(default_factory=set)  # entities listed by version only (no change feed)
    list_calls: int = 0
    correlation_calls: int = 0
    list_page: int = 1000
    entity_names: list[str] = field(default_factory=lambda: ["item"])
    created_order: list[str] = field(default_factory=list)  # ids of created records, in order
    _seq: int = 0
    ticker: list[int] = field(default_factory=lambda: [0])  # share one between systems: one timeline
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        self.ticker[0] += 1
        return self.clock_start + timedelta(seconds=self.ticker[0])

    def add(
        self,
        container: str = "P1",
        type: str = "Task",
        parent_id: str | None = None,
        entity: str = "item",
        refs: dict[str, tuple[str, str | None]] | None = None,
        **fields: Any,
    ) -> Record:
        with self.lock:
            self._seq += 1
            now = self.now()
            rec = Record(
                id=f"{self.name}-{self._seq}",
                container=container,
                type=type,
                version=1,
                changed_at=now,
                created_at=now,
                fields=dict(fields),
                parent_id=parent_id,
                entity=entity,
                refs={path: ItemRef(entity=e, id=i) for path, (e, i) in (refs or {}).items()},
            )
            self.records[rec.id] = rec
            return rec

    def of(self, entity: str) -> list[Record]:
        return [r for r in self.records.values() if r.entity == entity]

    def edit(self, item_id: str, **fields: Any) -> Record:
        """A person editing the item in the system's UI."""
        with self.lock:
            rec = self.records[item_id]
            rec.fields.update(fields)
            rec.version += 1
            rec.changed_at = self.now()
            rec.changed_by = "person@example.com"
            return rec


class MemoryConnector:
    def __init__(self, system: MemorySystem, page_size: int = 3) -> None:
        self.system = system
        self.page_size = page_size

    def check(self) -> CheckReport:
        return CheckReport(ok=True)

    def entities(self) -> list[EntitySpec]:
        return [
            EntitySpec(
                name=name,
                session_unit=self.system.session_unit,  # type: ignore[arg-type]
                natural_key=self.system.natural_keys.get(name),
                change_feed=name not in self.system.no_feed,
            )
            for name in self.system.entity_names
        ]

    def changes(self, entity: str, since: Watermark, scope: Scope) -> Iterator[ChangePage]:
        sys = self.system
        sys.change_calls += 1
        with sys.lock:
            as_of = sys.now()
            recs = sorted(sys.records.values(), key=lambda r: (r.changed_at, r.id))
            recs = [
                r
                for r in recs
                if r.entity == entity
                and (since.at is None or r.changed_at >= since.at)
                and (scope.start is None or r.changed_at >= scope.start)
                and (not scope.containers or r.container in scope.containers)
                and (not scope.types or r.type in scope.types)
            ]
        for i in range(0, len(recs), self.page_size):
            chunk = recs[i : i + self.page_size]
            last = i + self.page_size >= len(recs)
            mark = Watermark(at=as_of if last else chunk[-1].changed_at)
            yield ChangePage(
                changes=[
                    Change(id=r.id, version=str(r.version), container=r.container, changed_at=r.changed_at)
                    for r in chunk
                ],
                next_watermark=mark,
            )
        if not recs:
            yield ChangePage(changes=[], next_watermark=Watermark(at=as_of))

    def list_versions(self, entity: str, scope: Scope) -> Iterator[list[Change]]:
        """Every in-scope item as (id, version), a page per call, like a system with no change feed."""
        sys = self.system
        with sys.lock:
            recs = [
                r
                for r in sys.records.values()
                if r.entity == entity
                and (scope.start is None or r.changed_at >= scope.start)
                and (not scope.containers or r.container in scope.containers)
                and (not scope.types or r.type in scope.types)
            ]
        for i in range(0, max(len(recs), 1), sys.list_page):
            sys.list_calls += 1
            yield [
                Change(id=r.id, version=str(r.version), container=r.container)
                for r in recs[i : i + sys.list_page]
            ]

    def _item(self, rec: Record) -> Item:
        return Item(
            id=rec.id,
            version=str(rec.version),
            container=rec.container,
            type=rec.type,
            changed_at=rec.changed_at,
            created_at=rec.created_at,
            changed_by=rec.changed_by,
            parent_id=rec.parent_id,
            correlation_id=rec.correlation_id,
            fields=dict(rec.fields),
            references=dict(rec.refs),
        )

    def find_container(self, name: str) -> str | None:
        sys = self.system
        with sys.lock:
            known = sys.containers
            if known is None:
                known = sorted({r.container for r in sys.records.values()})
        return next((c for c in known if c.lower() == name.strip().lower()), None)

    def read(self, entity: str, ids: Sequence[str]) -> list[Item]:
        sys = self.system
        with sys.lock:
            sys.reads += 1
            return [
                self._item(sys.records[i])
                for i in ids
                if i in sys.records and sys.records[i].entity == entity
            ]

    def write(self, entity: str, writes: Sequence[Write]) -> list[WriteResult]:
        sys = self.system
        sys.write_calls += 1
        results = []
        for w in writes:
            with sys.lock:
                if sys.throttle_next:
                    delay = sys.throttle_next.pop(0)
                    raise ThrottledError("too many requests", retry_after=delay, system=sys.name, status=429)
                if sys.fail_next:
                    results.append(
                        WriteResult(error=PermanentError(sys.fail_next.pop(0), system=sys.name, status=400))
                    )
                    continue
                now = sys.now()
                if w.is_create:
                    sys._seq += 1
                    rec = Record(
                        id=f"{sys.name}-{sys._seq}",
                        container=w.container or "P1",
                        type=w.type or "Task",
                        version=1,
                        changed_at=now,
                        created_at=now,
                        fields={k: v for k, v in w.fields.items() if v is not None},
                        parent_id=w.parent_id if w.set_parent else None,
                        correlation_id=w.correlation_id,
                        changed_by="tandem@example.com",
                        entity=entity,
                    )
                    self._put_refs(rec, w.references)
                    sys.records[rec.id] = rec
                    sys.created_order.append(rec.id)
                    sys.writes += 1
                    sys.creates += 1
                    if sys.crash_after_create and sys.creates >= sys.crash_after_create:
                        sys.crash_after_create = 0
                        raise Crash("worker stopped between create and link save")
                    results.append(WriteResult(item=self._item(rec)))
                    continue
                rec = sys.records.get(w.id or "")
                if rec is None:
                    results.append(WriteResult(error=PermanentError(f"no item {w.id}", system=sys.name)))
                    continue
                if w.expected_version is not None and w.expected_version != str(rec.version):
                    results.append(
                        WriteResult(error=VersionConflict("stale version", system=sys.name, status=412))
                    )
                    continue
                for k, v in w.fields.items():
                    if v is None:
                        rec.fields.pop(k, None)
                    else:
                        rec.fields[k] = v
                if w.set_parent:
                    rec.parent_id = w.parent_id
                self._put_refs(rec, w.references)
                rec.version += 1
                rec.changed_at = now
                rec.changed_by = "tandem@example.com"
                sys.writes += 1
                results.append(WriteResult(item=self._item(rec)))
        return results

    def _put_refs(self, rec: Record, references: dict[str, str | None]) -> None:
        """The target puts each resolved id at its path (the referenced record's entity kept alongside)."""
        for path, ref_id in references.items():
            if ref_id is None:
                rec.refs.pop(path, None)
            else:
                found = self.system.records.get(ref_id)
                rec.refs[path] = ItemRef(entity=found.entity if found else "?", id=ref_id)

    def find_by_correlation(self, entity: str, correlation_id: str) -> Item | None:
        with self.system.lock:
            for rec in self.system.records.values():
                if rec.entity == entity and rec.correlation_id == correlation_id:
                    return self._item(rec)
        return None

    def find_by_correlations(self, entity: str, correlation_ids: Sequence[str]) -> dict[str, Item]:
        wanted = set(correlation_ids)
        self.system.correlation_calls += 1
        with self.system.lock:
            return {
                r.correlation_id: self._item(r)
                for r in self.system.records.values()
                if r.entity == entity and r.correlation_id in wanted and r.correlation_id is not None
            }

    def find_by_key(self, entity: str, value: Any) -> Item | None:
        key = self.system.natural_keys.get(entity)
        with self.system.lock:
            for rec in self.system.records.values():
                if key and rec.entity == entity and rec.fields.get(key) == value:
                    return self._item(rec)
        return None

    def find_by_field(
        self, entity: str, field: str, values: Sequence[Any], container: str | None = None
    ) -> dict[str, list[Item]]:
        from connectors.contract import match_value

        wanted = {match_value(v) for v in values if v is not None}
        found: dict[str, list[Item]] = {}
        with self.system.lock:
            for rec in self.system.records.values():
                value = rec.fields.get(field)
                if rec.entity != entity or value is None or match_value(value) not in wanted:
                    continue
                if container is not None and (rec.container or "").lower() != container.lower():
                    continue
                found.setdefault(match_value(value), []).append(self._item(rec))
        return found

    def ensure_hook_subscriptions(
        self, hook_url: str, username: str, password: str, project_ids: Sequence[str]
    ) -> Any:
        from types import SimpleNamespace

        report = SimpleNamespace(created=[], repaired=[], repointed=[], problems=[])
        for project in project_ids:
            sub = self.system.subscriptions.get(project)
            if sub is None:
                self.system.subscriptions[project] = {
                    "url": hook_url,
                    "user": username,
                    "password": password,
                    "enabled": True,
                }
                report.created.append(project)
            elif sub["url"] != hook_url:  # moved, or given an older hook secret: the new one is sent
                sub.update(url=hook_url, user=username, password=password, enabled=True)
                report.repointed.append(project)
            elif not sub["enabled"]:
                sub["enabled"] = True
                report.repaired.append(project)
        return report

    def parse_hook(self, payload: Any) -> list[HookEvent]:
        if not isinstance(payload, dict) or payload.get("eventType") != "item.changed":
            raise HookPayloadError(
                f"unknown event type {payload.get('eventType') if isinstance(payload, dict) else None!r}"
            )
        return [
            HookEvent(
                event_type="item.changed",
                entity="item",
                id=str(payload["id"]),
                version=str(payload["version"]),
                container=payload.get("container"),
            )
        ]
