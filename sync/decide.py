"""Deciding what one item message needs: read both sides fresh, merge every mapped field on the snapshot,
resolve references through the links, and return an `ItemPlan`. Nothing is written, enqueued or linked here:
the applier carries the plan out, a dry run prints it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.contract import Connector, Item, ItemRef, KeyFinder, Write, match_value
from mapping.fieldmap import FieldRule, SyncDirection
from mapping.transforms import Context
from state.links import Link, Side
from sync.config import ConfigError, ScenarioConfig, TandemConfig
from sync.match import find_match, match_key_of, match_rule, source_value
from sync.merge import Base, decide, winner_of
from sync.messages import ItemMessage
from sync.plan import FieldChange, ItemPlan, Merge
from sync.services import Services
from sync.sessions import session_key, target_unit

PARENT_KEY = "__parent__"
PARENT_PATH = "parent"
REF_WAITS = 3  # deliveries to wait for an optional reference's link before writing without it


# -- correlation stamps ----------------------------------------------------------------------------------
def correlation_id_for(scenario_key: str, side: Side, source_id: str) -> str:
    """The stamp put on an item this hub creates: the scenario (pair) it belongs to, the side and id of its
    origin. Readable, so a stamped item found without its link is relinked to its origin, never copied."""
    return f"{_key_hash(scenario_key)}.{side[0]}.{source_id}"


def parse_stamp(stamp: str | None) -> tuple[str, Side, str] | None:
    """(key hash, origin side, origin id) of a stamp made by `correlation_id_for`; None for other stamps."""
    if not stamp:
        return None
    parts = stamp.split(".", 2)
    if len(parts) != 3 or len(parts[0]) != 12 or parts[1] not in ("l", "r") or not parts[2]:
        return None
    return parts[0], ("left" if parts[1] == "l" else "right"), parts[2]


def _key_hash(scenario_key: str) -> str:
    return hashlib.sha256(scenario_key.encode()).hexdigest()[:12]


def backoff(attempt: int) -> float:
    return float(min(300, 2 ** max(0, attempt)))


def sides_of(direction: SyncDirection) -> tuple[Side, Side]:
    return ("left", "right") if direction == "left_to_right" else ("right", "left")


def references_of(item: Item, entity: str) -> dict[str, ItemRef]:
    """The item's references by path; its parent is the reference at "parent" (same entity)."""
    refs = dict(item.references)
    if PARENT_PATH not in refs and item.parent_id is not None:
        refs[PARENT_PATH] = ItemRef(entity=entity, id=item.parent_id)
    return refs


def ref_key(path: str) -> str:
    """The snapshot key recording a reference's last synced ids (the parent keeps its historic key)."""
    return PARENT_KEY if path == PARENT_PATH else f"__ref__|{path}"


@dataclass
class Prefetch:
    """What a batch of messages of one pair and direction read together before deciding each: links by
    source id, source items (None: not found) and target items by id, and stamp lookups on the target
    (None: nothing carries it). Absent keys are read by `decide` itself."""

    links: dict[str, Link | None] = field(default_factory=dict)
    sources: dict[str, Item | None] = field(default_factory=dict)
    targets: dict[str, Item | None] = field(default_factory=dict)
    stamps: dict[str, Item | None] = field(default_factory=dict)
    matches: dict[tuple[str, str], list[Item]] = field(default_factory=dict)  # (match key, value) -> items


class Decider:
    def __init__(self, services: Services) -> None:
        self.services = services

    def decide(self, config: TandemConfig, message: ItemMessage, pre: Prefetch | None = None) -> ItemPlan:
        try:
            scenario = config.scenario(message.scenario).view_for(message.direction, message.entity)
        except ConfigError as exc:
            base = config.scenario(message.scenario)
            return ItemPlan(message, base, "dead", reason=f"configuration: {exc}", kind="config")
        direction: SyncDirection = message.direction
        src_side, tgt_side = sides_of(direction)
        source_conn = self.services.side_connector(scenario, src_side)
        target_conn = self.services.side_connector(scenario, tgt_side)
        src_entity, tgt_entity = scenario.entity_of(src_side), scenario.entity_of(tgt_side)
        manual = message.manual
        rules = [r for r in config.rules(scenario) if r.flows(direction) and (r.mode == "auto" or manual)]

        def plan(action: Any, **kw: Any) -> ItemPlan:
            return ItemPlan(message, scenario, action, target_conn=target_conn, tgt_entity=tgt_entity, **kw)

        pre = pre or Prefetch()
        links = self.services.links
        # Prefetched values serve one message: a second message about the same item reads fresh.
        if message.source_id in pre.links:
            link = pre.links.pop(message.source_id)
        else:
            link = links.find(scenario.key, src_side, message.source_id)
        if not message.variant and already_synced(link, src_side, message):
            # The echo of our own write, or a change already applied: nothing to read or write.
            return plan("done", result="unchanged", link=link)
        if message.source_id in pre.sources:
            fetched = pre.sources.pop(message.source_id)
            found = [fetched] if fetched is not None else []
        else:
            found = source_conn.read(src_entity, [message.source_id])
        if not found:
            # Deleted at the source (deletes are not propagated): nothing to write.
            return plan("done", result="skipped", link=link)
        source = found[0]
        if link is None and source.correlation_id:
            relinked = self._stamped_source(scenario, message, source, target_conn, tgt_entity)
            if isinstance(relinked, ItemPlan):
                return relinked
            link = relinked
        if link is None and not _in_scope(scenario, direction, source):
            return plan("done", result="skipped")
        if needs_create(link, tgt_side):
            if not _creates(scenario, direction):  # the direction only updates items already linked
                return plan("done", result="skipped", link=link)
            return self._create(scenario, message, link, source, target_conn, tgt_entity, rules, plan, pre)

        target_id = link.id_of(tgt_side)
        assert target_id is not None
        if target_id in pre.targets:
            fetched = pre.targets.pop(target_id)
            targets = [fetched] if fetched is not None else []
        else:
            targets = target_conn.read(tgt_entity, [target_id])
        if not targets:
            return plan(
                "dead",
                reason=f"the linked {tgt_entity} {target_id} no longer exists on {tgt_side}",
                link=link,
            )
        target = targets[0]
        merge = self._merge(
            scenario, direction, link, source, target, rules, force=message.variant == "force"
        )
        refs = self._references(scenario, message, link, source, target, creating=False)
        if isinstance(refs, ItemPlan):
            return refs
        ref_writes, ref_snapshot, follow_ups, warnings = refs
        changes = [
            FieldChange(name, target.fields.get(name), value) for name, value in merge.fields.items()
        ] + _ref_changes(target, tgt_entity, ref_writes)
        write = None
        if merge.fields or ref_writes:
            parent = ref_writes.pop(PARENT_PATH, ...)
            write = Write(
                id=target.id,
                container=target.container,
                expected_version=target.version,
                fields=merge.fields,
                parent_id=parent if parent is not ... else None,
                set_parent=parent is not ...,
                references=ref_writes,
            )
        if merge.bounce:
            follow_ups.append(self._bounce(scenario, message, target))
        return plan(
            "update",
            link=link,
            source=source,
            target=target,
            write=write,
            merge=merge,
            ref_snapshot=ref_snapshot,
            changes=changes,
            follow_ups=follow_ups,
            warnings=warnings,
        )

    # ---- a source item that carries a stamp and has no link ----------------------------------------
    def _stamped_source(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        source: Item,
        target_conn: Connector,
        tgt_entity: str,
    ) -> Link | ItemPlan | None:
        """Created by this hub from an item on the other side: use, complete or rebuild the link to its
        origin (the stamp says which), never copy it back. Stamps of other scenarios are not ours: None."""
        links = self.services.links
        src_side, tgt_side = sides_of(message.direction)

        def plan(action: Any, **kw: Any) -> ItemPlan:
            return ItemPlan(message, scenario, action, target_conn=target_conn, tgt_entity=tgt_entity, **kw)

        stamp = source.correlation_id or ""
        parsed = parse_stamp(stamp)
        if parsed is None:
            # A stamp of an earlier release (a hash): its creator's link is indexed by it.
            creator = links.find_by_correlation(scenario.key, stamp)
            if creator is None or creator.origin == src_side:
                return None
            if creator.status == "linked" and creator.id_of(src_side) == source.id:
                return creator
            return plan("wait", delay=2.0, reason="the link of an item this hub is creating is not saved yet")
        key_hash, origin_side, origin_id = parsed
        if key_hash != _key_hash(scenario.key) or origin_side != tgt_side:
            return None  # another scenario's (or pair's) item, or one this side originated: not a copy
        creator = links.find(scenario.key, tgt_side, origin_id)
        if creator is not None:
            if creator.id_of(src_side) == source.id and creator.status == "linked":
                return creator
            if creator.id_of(src_side) not in (None, source.id):
                # The origin is linked to another item: this one is a stray copy. Never copy it back.
                return plan(
                    "done",
                    result="skipped",
                    warnings=[
                        f"{source.id} carries the stamp of {origin_id}, which is linked to another item"
                    ],
                )
            # The creator's create went through but its link save did not (yet): complete it.
            done = creator.model_copy(deep=True)
            done.set_side(src_side, source.id, None, source.container)
            done.status = "linked"
            return plan(
                "relink", link=done, source=source, reason=f"completes the link of {tgt_side} {origin_id}"
            )
        # No link at all (the links were lost): the origin is on the other side; link the two again.
        origins = target_conn.read(tgt_entity, [origin_id])
        if not origins:
            return plan(
                "done",
                result="skipped",
                warnings=[f"{source.id} was created from {tgt_side} {origin_id}, which no longer exists"],
            )
        rebuilt = Link(
            scenario=scenario.key,
            origin=tgt_side,
            origin_id=origin_id,
            status="linked",
            correlation_id=stamp,
        )
        rebuilt.set_side(tgt_side, origin_id, None, origins[0].container)
        rebuilt.set_side(src_side, source.id, None, source.container)
        return plan(
            "relink",
            link=rebuilt,
            new_link=True,
            source=source,
            target=origins[0],
            reason=f"relinks {source.id} to its origin {tgt_side} {origin_id}",
        )

    # ---- create ---------------------------------------------------------------------------------
    def _create(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        link: Link | None,
        source: Item,
        target_conn: Connector,
        tgt_entity: str,
        rules: list[FieldRule],
        plan: Any,
        pre: Prefetch,
    ) -> ItemPlan:
        direction: SyncDirection = message.direction
        src_side, tgt_side = sides_of(direction)
        routed = _route_container(scenario, direction, source, target_conn)
        if isinstance(routed, tuple):
            return plan("dead", reason=routed[0], kind="config", link=link)
        target_container = routed
        new_link = link is None
        if link is None:
            # Saved once the create is done: the stamp below finds the item if that save is ever lost.
            link = new_link_for(scenario, src_side, source)
        ctx = _context(direction, source.container, target_container)
        fields = {
            r.target_field(direction): r.convert(source.fields.get(r.source_field(direction)), direction, ctx)
            for r in rules
        }
        fields = {k: v for k, v in fields.items() if v is not None}

        # Before any create: an item carrying this link's stamp (a create whose link save was lost, or links
        # lost altogether) or the same natural key is linked, never created twice.
        if link.correlation_id in pre.stamps:
            existing = pre.stamps.pop(link.correlation_id)
        else:
            existing = target_conn.find_by_correlation(tgt_entity, link.correlation_id)
        if existing is None:
            existing = self._by_natural_key(target_conn, tgt_entity, fields)
        if existing is None and (key := match_key_of(scenario, message.match_key)):
            matched = self._by_match_key(
                scenario, direction, key, source, target_conn, tgt_entity, routed, pre.matches
            )
            if isinstance(matched, str):
                return plan("dead", reason=matched, link=link, source=source)
            existing = matched
        if existing is not None:
            found = link.model_copy(deep=True)
            found.set_side(tgt_side, existing.id, None, existing.container)
            found.status = "linked"
            return plan(
                "relink",
                link=found,
                new_link=new_link,
                source=source,
                target=existing,
                reason=f"{tgt_entity} {existing.id} is already on {tgt_side}",
            )
        refs = self._references(scenario, message, None, source, None, creating=True)
        if isinstance(refs, ItemPlan):
            return refs
        ref_writes, ref_snapshot, follow_ups, warnings = refs
        parent = ref_writes.pop(PARENT_PATH, None)
        write = Write(
            container=target_container,
            type=scenario.routed_type(direction, source.type, source.fields),
            correlation_id=link.correlation_id,
            fields=fields,
            parent_id=parent,
            set_parent=parent is not None,
            references={k: v for k, v in ref_writes.items() if v is not None},
        )
        changes = [FieldChange(name, None, value) for name, value in fields.items()]
        changes += [FieldChange(f"ref:{path}", None, value) for path, value in ref_writes.items()]
        if parent is not None:
            changes.append(FieldChange(f"ref:{PARENT_PATH}", None, parent))
        return plan(
            "create",
            link=link,
            new_link=new_link,
            source=source,
            write=write,
            ref_snapshot=ref_snapshot,
            changes=changes,
            follow_ups=follow_ups,
            warnings=warnings,
        )

    def _by_match_key(
        self,
        scenario: ScenarioConfig,
        direction: SyncDirection,
        key: str,
        source: Item,
        target_conn: Connector,
        tgt_entity: str,
        container: str | None,
        prefetched: dict[tuple[str, str], list[Item]],
    ) -> Item | str | None:
        """The item already on the target with the source's match-key value (or why none is linked)."""
        try:
            rule = match_rule(self.services.config(), scenario, key)
        except ConfigError as exc:
            return f"configuration: {exc}"
        value = source_value(rule, direction, source, _context(direction, source.container, container))
        known = prefetched.get((key, match_value(value))) if value is not None else None
        return find_match(
            self.services.links, scenario, direction, rule, value, target_conn, tgt_entity, container, known
        )

    @staticmethod
    def _by_natural_key(conn: Connector, entity: str, fields: dict[str, Any]) -> Item | None:
        spec = next((e for e in conn.entities() if e.name == entity), None)
        if spec is None or not spec.natural_key or not isinstance(conn, KeyFinder):
            return None
        value = fields.get(spec.natural_key)
        if value is None or value == "":
            return None
        return conn.find_by_key(entity, value)

    # ---- references -----------------------------------------------------------------------------
    def _references(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        link: Link | None,
        source: Item,
        target: Item | None,
        *,
        creating: bool,
    ) -> tuple[dict[str, str | None], dict[str, dict[str, Any]], list[ItemMessage], list[str]] | ItemPlan:
        """Each reference of the source resolved through its entity's links: target path -> target id (None
        clears it), the snapshot entries to record, follow-ups, warnings; or a plan to wait / give up."""
        direction: SyncDirection = message.direction
        src_side, tgt_side = sides_of(direction)
        src_entity, tgt_entity = scenario.entity_of(src_side), scenario.entity_of(tgt_side)
        force = message.variant == "force"
        writes: dict[str, str | None] = {}
        snapshot: dict[str, dict[str, Any]] = {}
        follow_ups: list[ItemMessage] = []
        warnings: list[str] = []
        target_refs = references_of(target, tgt_entity) if target is not None else {}
        config = self.services.config()
        whole = config.scenario(scenario.name)
        refs = references_of(source, src_entity)
        for key, base in link.snapshot.items() if link is not None else ():
            # A reference the source had at the last sync and has no more: cleared on the target too.
            path = PARENT_PATH if key == PARENT_KEY else key.removeprefix("__ref__|")
            if key.startswith(("__ref__|", PARENT_KEY)) and path not in refs and base.get(src_side):
                entity = src_entity if path == PARENT_PATH else scenario.entity_of(src_side)
                refs[path] = ItemRef(entity=entity, id=None)
        for path, ref in refs.items():
            if path == PARENT_PATH and not scenario.sync_parent:
                continue
            rule = scenario.reference_rule(path)
            tpath = rule.target_path or path
            key = ref_key(path)
            base = (link.snapshot.get(key) if link is not None else None) or {}
            current = target_refs.get(tpath)
            current_id = current.id if current is not None else None
            if not creating and not force and ref.id == base.get(src_side):
                continue  # the source's reference did not change since the last sync
            if ref.id is None:
                if current_id is not None:
                    writes[tpath] = None
                snapshot[key] = {src_side: None, tgt_side: None}
                continue
            try:
                ref_view = scenario if ref.entity == src_entity else whole.view_for(direction, ref.entity)
            except ConfigError:
                return ItemPlan(
                    message,
                    scenario,
                    "dead",
                    kind="config",
                    reason=f"reference {path} names entity '{ref.entity}', which is in no entity pair of "
                    f"scenario '{scenario.name}'",
                )
            ref_link = self.services.links.find(ref_view.key, src_side, ref.id)
            resolved = (
                ref_link.id_of(tgt_side) if ref_link is not None and ref_link.status == "linked" else None
            )
            if resolved is None:
                what = f"reference {path} -> {ref.entity} {ref.id}"
                follow = self._follow_up(ref_view, message, path, ref.entity, ref.id, source.id)
                if rule.required:
                    return ItemPlan(
                        message,
                        scenario,
                        "wait",
                        delay=backoff(message.attempt),
                        reason=f"required {what} has no link yet (field path '{path}')",
                        follow_ups=[follow],
                        source=source,
                    )
                if creating and message.attempt <= REF_WAITS:
                    return ItemPlan(
                        message,
                        scenario,
                        "wait",
                        delay=2.0 * message.attempt,
                        reason=f"waiting for {what} to be synced",
                        follow_ups=[follow],
                        source=source,
                    )
                if creating:
                    warnings.append(f"written without {what}: it is not synced")
                continue
            if resolved != current_id:
                writes[tpath] = resolved
            snapshot[key] = {src_side: ref.id, tgt_side: resolved}
        return writes, snapshot, follow_ups, warnings

    def _follow_up(
        self,
        view: ScenarioConfig,
        message: ItemMessage,
        path: str,
        entity: str,
        source_id: str,
        referrer: str,
    ) -> ItemMessage:
        """A message for a referenced item, so it is synced before the item that references it."""
        _, tgt_side = sides_of(message.direction)
        unit = target_unit(self.services.side_connector(view, tgt_side), view.entity_of(tgt_side))
        return ItemMessage(
            scenario=view.name,
            direction=message.direction,
            entity=entity,
            source_id=source_id,
            source_version="ref-of-" + referrer,
            session=session_key(view, message.direction, unit, source_id, None),
            origin="parent" if path == PARENT_PATH else "reference",
            trigger=message.trigger or message.origin,
            run_id=message.run_id,
        )

    def _bounce(self, scenario: ScenarioConfig, message: ItemMessage, target: Item) -> ItemMessage:
        """The target side won a conflict: run the reverse direction for the target item."""
        reverse: SyncDirection = "right_to_left" if message.direction == "left_to_right" else "left_to_right"
        src_side, tgt_side = sides_of(reverse)
        unit = target_unit(self.services.side_connector(scenario, tgt_side), scenario.entity_of(tgt_side))
        return ItemMessage(
            scenario=scenario.name,
            direction=reverse,
            entity=scenario.entity_of(src_side),
            source_id=target.id,
            source_version=target.version,
            session=session_key(scenario, reverse, unit, target.id, target.container),
            origin="bounce",
            trigger=message.trigger or message.origin,
            run_id=message.run_id,
        )

    # ---- merge ----------------------------------------------------------------------------------
    def _merge(
        self,
        scenario: ScenarioConfig,
        direction: SyncDirection,
        link: Link,
        source: Item,
        target: Item,
        rules: list[FieldRule],
        *,
        force: bool = False,
    ) -> Merge:
        src_side, tgt_side = sides_of(direction)
        ctx = _context(direction, source.container, target.container)
        merge = Merge()
        for rule in rules:
            s_val = source.fields.get(rule.source_field(direction))
            t_val = target.fields.get(rule.target_field(direction))
            stored = link.snapshot.get(rule.key)
            # A forced sync brings the source value across whatever the snapshot says.
            base = (
                Base(stored.get(src_side), stored.get(tgt_side)) if stored is not None and not force else None
            )
            decided_side = (stored or {}).get("winner")
            if decided_side in ("left", "right"):
                winner = "source" if decided_side == src_side else "target"
            else:
                winner = winner_of(
                    rule.conflict or scenario.conflict, direction, source.changed_at, target.changed_at
                )
            converted = rule.convert(s_val, direction, ctx)
            if converted is None and s_val is not None and s_val != "":
                continue  # the transform has no value for it (e.g. a state with no percentage): no write
            d = decide(s_val, t_val, converted, base, winner)  # type: ignore[arg-type]
            if d.action == "write":
                merge.fields[rule.target_field(direction)] = d.value
            if d.new_base is not None:
                merge.snapshot[rule.key] = {src_side: d.new_base[0], tgt_side: d.new_base[1]}
                if stored is not None and stored.get("flagged"):
                    merge.resolved.append(rule.key)
            # Count a conflict once: where it is settled by a write, or the first time it is flagged
            # (both directions see it; the one that leaves it to the other side does not count it).
            if (d.action == "write" and d.conflict) or (
                d.action == "conflict_flagged" and not (stored or {}).get("flagged")
            ):
                merge.conflict_count += 1
                merge.written_conflicts += d.action == "write"
            if d.action == "target_wins":
                # Remember the decision so the reverse direction applies it instead of re-deciding.
                merge.snapshot[rule.key] = dict(stored or {}) | {"winner": tgt_side}
                merge.bounce = True
            elif d.action == "conflict_flagged":
                merge.snapshot[rule.key] = dict(stored or {}) | {"flagged": True}
                merge.conflicts.append(
                    (rule, s_val, t_val, base.source if base else None, base.target if base else None)
                )
        return merge


# -- helpers ----------------------------------------------------------------------------------------
def new_link_for(scenario: ScenarioConfig, side: Side, source: Item) -> Link:
    """The link a create of `source` gets (not stored yet), with the stamp the new item carries."""
    link = Link(
        scenario=scenario.key,
        origin=side,
        origin_id=source.id,
        status="pending",
        correlation_id=correlation_id_for(scenario.key, side, source.id),
    )
    link.set_side(side, source.id, None, source.container)
    return link


def needs_create(link: Link | None, tgt_side: Side) -> bool:
    return link is None or link.status == "pending" or link.id_of(tgt_side) is None


def _ref_changes(target: Item, entity: str, writes: dict[str, str | None]) -> list[FieldChange]:
    current = references_of(target, entity)
    return [
        FieldChange(f"ref:{path}", current[path].id if path in current else None, value)
        for path, value in writes.items()
    ]


def already_synced(link: Link | None, side: Side, message: ItemMessage) -> bool:
    """The source is still at the version the last sync recorded, and no decision awaits this side."""
    if link is None or link.status != "linked" or message.source_version != link.version_of(side):
        return False
    return not any(
        isinstance(base, dict) and ("winner" in base or base.get("flagged"))
        for base in link.snapshot.values()
    )


def full_snapshot(config: TandemConfig, scenario: ScenarioConfig, left: Item, right: Item) -> dict[str, Any]:
    return {
        r.key: {"left": left.fields.get(r.left), "right": right.fields.get(r.right)}
        for r in config.rules(scenario)
        if r.mode == "auto"
    }


def _in_scope(scenario: ScenarioConfig, direction: SyncDirection, item: Item) -> bool:
    cfg = scenario.directions.get(direction)
    if cfg is None:
        return False
    containers = scenario.source_containers(direction)
    if containers and (item.container or "").lower() not in {c.lower() for c in containers}:
        return False
    types = scenario.source_types(direction)
    if types and item.type not in types:
        return False
    if cfg.start is not None:
        changed = item.changed_at or item.created_at
        if changed is not None and _aware(changed) < _aware(cfg.start):
            return False
    if any(item.fields.get(name) in (None, "", []) for name in cfg.present):
        return False
    return all(item.fields.get(name) == value for name, value in cfg.match.items())


def _creates(scenario: ScenarioConfig, direction: SyncDirection) -> bool:
    cfg = scenario.directions.get(direction)
    return cfg is None or cfg.create


def _context(direction: SyncDirection, source_container: str | None, target_container: str | None) -> Context:
    if direction == "left_to_right":
        return Context(left_container=source_container, right_container=target_container)
    return Context(left_container=target_container, right_container=source_container)


def _route_container(
    scenario: ScenarioConfig, direction: SyncDirection, source: Item, target_conn: Connector
) -> str | tuple[str] | None:
    """The container a create goes to: the direction's `container_field` value, checked to exist on the
    target (a name matching nothing is a failure, never a guess), else the scenario's container pairs.
    A 1-tuple holds the reason it has none.
    """
    _, tgt_side = sides_of(direction)
    target_name = getattr(scenario, tgt_side)
    cfg = scenario.directions.get(direction)
    field_name = cfg.container_field if cfg is not None else None
    where = f" in '{source.container}'" if source.container else ""
    what = f"{source.type or 'item'} {source.id}{where}"
    if not field_name:
        target = scenario.target_container(direction, source.container)
        if source.container is not None and target is None:
            return (f"no target project for '{source.container}': add it to scenario.containers",)
        return target
    assert cfg is not None
    raw = source.fields.get(field_name)
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    name = str(raw).strip() if raw is not None else ""
    origin = f"named by '{field_name}'"
    if not name:
        fallback = None
        if cfg.container_fallback:
            fallback = scenario.target_container(direction, source.container)
        if not fallback:
            return (f"'{field_name}' is empty for {what}: set it to the name of a project on {target_name}",)
        name, origin = fallback, f"of the same name ('{field_name}' is empty)"
    finder = getattr(target_conn, "find_container", None)
    if callable(finder):
        found = finder(name)
        if found is None:
            return (
                f"no project '{name}' on {target_name} (the project {origin}) for {what}: "
                f"correct the name or create the project",
            )
        name = str(found)
    return name


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
