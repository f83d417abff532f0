"""Flagged conflicts for people: listed with both values, the snapshot and the field names, and resolved by
choosing a side or typing a value.

A resolution is a forced plan of that one field, carried out by the applier like any update: each side that
does not hold the chosen value yet is written conditionally on its version (a stale version is read again and
retried), the link records both versions (so the systems' echoes of these writes change nothing), and the last
step stores the snapshot of what both sides now hold and clears the conflict (so the next poll writes
nothing). A side whose field changed again since the conflict was flagged stops the resolution (409).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from connectors.contract import Connector, Item, Write
from connectors.errors import ConnectorError, TransientError
from mapping.fieldmap import FieldRule, SyncDirection
from state.links import Link, Side, other
from state.problems import Conflict
from sync.config import ConfigError, ScenarioConfig
from sync.decide import _context
from sync.merge import same
from sync.messages import ItemMessage
from sync.plan import FieldChange, ItemPlan, Merge
from sync.refusal import Refused
from sync.services import Services

MAX_ROUNDS = 6  # reads and conditional writes before giving up on an item that keeps changing


class ResolveError(Refused):
    """A resolution refused (404: no such conflict, 409: a side changed again, 503: a system is down)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message, field or "", status)


class ConflictView(BaseModel):
    id: str
    link_id: str
    entity: str
    rule: str
    left_field: str | None = None
    right_field: str | None = None
    left_id: str | None = None
    right_id: str | None = None
    left_value: Any = None
    right_value: Any = None
    base_left: Any = None
    base_right: Any = None
    at: datetime


def conflict_id(pair: str, link_id: str, rule: str) -> str:
    """An opaque id safe in a URL path segment: the pair, link and rule, base64url-encoded."""
    raw = json.dumps([pair, link_id, rule], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_conflict_id(value: str) -> tuple[str, str, str] | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not (isinstance(parts, list) and len(parts) == 3 and all(isinstance(p, str) for p in parts)):
        return None
    return parts[0], parts[1], parts[2]


def _rule(services: Services, view: ScenarioConfig, key: str) -> FieldRule | None:
    return next((r for r in services.config().rules(view) if r.key == key), None)


def list_conflicts(services: Services, name: str) -> list[ConflictView]:
    scenario = services.config().scenario(name)
    out: list[ConflictView] = []
    for view in scenario.views():
        for c in services.conflicts.list(view.key):
            link = services.links.get(view.key, c.link_id)
            rule = _rule(services, view, c.rule)
            out.append(
                ConflictView(
                    id=conflict_id(view.pair, c.link_id, c.rule),
                    link_id=c.link_id,
                    entity=view.pair,
                    rule=c.rule,
                    left_field=rule.left if rule else None,
                    right_field=rule.right if rule else None,
                    left_id=link.left_id if link else None,
                    right_id=link.right_id if link else None,
                    left_value=c.left_value,
                    right_value=c.right_value,
                    base_left=c.base_left,
                    base_right=c.base_right,
                    at=c.at,
                )
            )
    out.sort(key=lambda c: c.at)
    return out


class Resolution(BaseModel):
    resolved: bool = True
    value: Any = None  # the chosen value, in the left field's terms
    left_value: Any = None
    right_value: Any = None
    written: list[Side] = []


def _plain(value: Any) -> Any:
    """A value as the conflict row stores it (JSON), to compare what a system reads now with it."""
    return json.loads(json.dumps(value, default=str))


def _direction_to(side: Side) -> SyncDirection:
    return "left_to_right" if side == "right" else "right_to_left"


class Resolver:
    def __init__(self, services: Services, name: str) -> None:
        from sync.applier import Applier

        self.services = services
        self.scenario = services.config().scenario(name)
        self.applier = Applier(services)

    def _find(self, conflict: str) -> tuple[ScenarioConfig, Conflict, FieldRule]:
        parsed = parse_conflict_id(conflict)
        if parsed is None:
            raise ResolveError(404, f"no conflict with id '{conflict[:80]}'", "id")
        pair, link_id, rule_key = parsed
        try:
            view = self.scenario.pair_view(pair)
        except ConfigError:
            raise ResolveError(404, f"no conflict with id '{conflict[:80]}'", "id") from None
        found = next(
            (
                c
                for c in self.services.conflicts.list(view.key)
                if c.link_id == link_id and c.rule == rule_key
            ),
            None,
        )
        if found is None:
            raise ResolveError(404, f"no conflict with id '{conflict[:80]}' (resolved already?)", "id")
        rule = _rule(self.services, view, rule_key)
        if rule is None:
            raise ResolveError(409, f"the field map no longer has the rule {rule_key}", "id")
        return view, found, rule

    def resolve(
        self,
        conflict: str,
        *,
        side: Side | None = None,
        value: Any = None,
        terms: Side = "left",
    ) -> Resolution:
        view, found, rule = self._find(conflict)
        conns = {s: self.services.side_connector(view, s) for s in ("left", "right")}
        field = {"left": rule.left, "right": rule.right}
        chosen: dict[Side, Any] | None = None
        written: list[Side] = []
        try:
            for _ in range(MAX_ROUNDS):
                link = self.services.links.get(view.key, found.link_id)
                if link is None or not link.left_id or not link.right_id:
                    raise ResolveError(409, f"the link {found.link_id} is gone or incomplete", "id")
                items = self._read(view, link, conns)
                now = {s: items[s].fields.get(field[s]) for s in items}
                if chosen is None:
                    self._unchanged_since(found, now)
                    chosen = self._chosen(rule, items, now, side, value, terms)
                for s in ("left", "right"):
                    moved = not same(_plain(now[s]), _plain(self._recorded(found, s)))
                    if moved and s not in written and not same(now[s], chosen[s]):
                        raise ResolveError(409, self._changed(s, now[s]), "side" if side else "value")
                pending = [s for s in ("left", "right") if s not in written and not same(now[s], chosen[s])]
                if pending:
                    target: Side = pending[0]  # type: ignore[assignment]
                    plan = self._plan(view, rule, link, items, conns, target, chosen[target], final=False)
                    if self.applier.carry_out(plan) is not None:
                        written.append(target)
                    continue
                plan = self._plan(view, rule, link, items, conns, "right", None, final=True, now=now)
                if self.applier.carry_out(plan) is not None:
                    return Resolution(
                        value=chosen["left"],
                        left_value=now["left"],
                        right_value=now["right"],
                        written=written,
                    )
        except TransientError as exc:
            raise ResolveError(503, f"a system is unavailable, try again: {exc}") from None
        except ConnectorError as exc:
            raise ResolveError(
                409, f"the write was refused: {exc}", "value" if value is not None else "side"
            ) from None
        raise ResolveError(409, "the item kept changing while resolving; try again", "id")

    @staticmethod
    def _recorded(found: Conflict, side: Side) -> Any:
        return found.left_value if side == "left" else found.right_value

    @staticmethod
    def _changed(side: Side, current: Any) -> str:
        return (
            f"the {side} side changed again since the conflict was flagged "
            f"(now {json.dumps(_plain(current))}); reload the conflicts and choose again"
        )

    def _unchanged_since(self, found: Conflict, now: dict[Side, Any]) -> None:
        for s in ("left", "right"):
            if not same(_plain(now[s]), _plain(self._recorded(found, s))):  # type: ignore[arg-type]
                raise ResolveError(409, self._changed(s, now[s]), "id")  # type: ignore[arg-type]

    def _read(self, view: ScenarioConfig, link: Link, conns: dict[str, Connector]) -> dict[Side, Item]:
        items: dict[Side, Item] = {}
        for s in ("left", "right"):
            item_id = link.id_of(s)  # type: ignore[arg-type]
            found = conns[s].read(view.entity_of(s), [item_id]) if item_id else []  # type: ignore[arg-type]
            if not found:
                raise ResolveError(409, f"the {s} item {item_id} no longer exists", "id")
            items[s] = found[0]  # type: ignore[index]
        return items

    def _chosen(
        self,
        rule: FieldRule,
        items: dict[Side, Item],
        now: dict[Side, Any],
        side: Side | None,
        value: Any,
        terms: Side,
    ) -> dict[Side, Any]:
        origin: Side = side or terms
        start = now[origin] if side is not None else value
        converted = rule.convert(
            start,
            _direction_to(other(origin)),
            _context(_direction_to(other(origin)), items[origin].container, items[other(origin)].container),
        )
        if converted is None and start not in (None, ""):
            raise ResolveError(
                400,
                f"{json.dumps(_plain(start))} has no value on the {other(origin)} side ({rule.key})",
                "value",
            )
        return {origin: start, other(origin): converted}  # type: ignore[dict-item]

    def _plan(
        self,
        view: ScenarioConfig,
        rule: FieldRule,
        link: Link,
        items: dict[Side, Item],
        conns: dict[str, Connector],
        target: Side,
        value: Any,
        *,
        final: bool,
        now: dict[Side, Any] | None = None,
    ) -> ItemPlan:
        """The forced plan of the rule's one field toward `target`; the final one writes nothing and records
        the snapshot of what both sides hold, clearing the conflict."""
        source_side = other(target)
        source, item = items[source_side], items[target]
        direction = _direction_to(target)
        message = ItemMessage(
            scenario=self.scenario.name,
            direction=direction,
            entity=view.entity_of(source_side),
            source_id=source.id,
            source_version=source.version or "",
            session=f"{view.key}|resolve|{link.link_id}",
            origin="manual",
            variant="force",
        )
        merge = Merge()
        write = None
        changes: list[FieldChange] = []
        if final:
            assert now is not None
            merge.snapshot[rule.key] = {"left": now["left"], "right": now["right"]}
            merge.resolved.append(rule.key)
        else:
            merge.fields[rule.target_field(direction)] = value
            write = Write(
                id=item.id,
                container=item.container,
                expected_version=item.version,
                fields={rule.target_field(direction): value},
            )
            changes.append(
                FieldChange(
                    rule.target_field(direction), item.fields.get(rule.target_field(direction)), value
                )
            )
        return ItemPlan(
            message,
            view,
            "update",
            link=link,
            source=source,
            target=item,
            write=write,
            merge=merge,
            changes=changes,
            target_conn=conns[target],
            tgt_entity=view.entity_of(target),
        )


def resolve_conflict(
    services: Services,
    name: str,
    conflict: str,
    *,
    side: Literal["left", "right"] | None = None,
    value: Any = None,
    terms: Literal["left", "right"] = "left",
) -> Resolution:
    return Resolver(services, name).resolve(conflict, side=side, value=value, terms=terms)
