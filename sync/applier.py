"""Apply one item message: read both sides fresh, merge every mapped field on the snapshot, write the target.

Creates are idempotent (a pending link with a correlation id is saved before the create, the id is
stamped on the new item and looked up before any retry creates). Writes are conditional on the
target's version; a lost race re-reads and re-merges, a bounded number of times.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from connectors.contract import Connector, Item, Write, WriteResult
from connectors.errors import ConnectorError, TransientError, VersionConflict
from mapping.fieldmap import FieldRule, SyncDirection
from mapping.transforms import Context
from state.links import Link, LinkConflict, Side
from state.problems import Conflict, Failure
from state.redact import redact
from sync import telemetry
from sync.config import ScenarioConfig, TandemConfig
from sync.merge import Base, decide, winner_of
from sync.messages import ItemMessage
from sync.outcome import DeadLetter, Done, Outcome, Retry
from sync.services import Services
from sync.sessions import target_unit

log = logging.getLogger("tandem.apply")
PARENT_KEY = "__parent__"
MAX_MERGE_ROUNDS = 4  # re-read / re-merge after a version conflict or a lost link race
PARENT_WAITS = 3  # deliveries to wait for a parent's link before creating without the parent


def correlation_id_for(scenario: str, side: Side, source_id: str) -> str:
    return hashlib.sha256(f"{scenario}|{side}|{source_id}".encode()).hexdigest()[:32]


def backoff(attempt: int) -> float:
    return float(min(300, 2 ** max(0, attempt)))


@dataclass
class Plan:
    fields: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: list[tuple[FieldRule, Any, Any, Any, Any]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # rule keys whose flagged conflict went away
    bounce: bool = False  # the target side won a conflict: run the reverse direction for the target
    parent: tuple[bool, str | None] | None = None  # (set, target parent id)
    conflict_count: int = 0
    written_conflicts: int = 0  # of conflict_count: settled by a write of this plan


@dataclass
class Prepared:
    """One item decided and ready to write: the write (None when nothing needs writing) and its context."""

    message: ItemMessage
    scenario: ScenarioConfig
    kind: Literal["create", "update"]
    link: Link
    source: Item
    target: Item | None  # update: the target as read; create: an item found by correlation id
    write: Write | None
    target_conn: Connector
    tgt_entity: str
    plan: Plan | None = None


class Applier:
    def __init__(self, services: Services) -> None:
        self.services = services

    # ---- entry point -------------------------------------------------------------------------
    def apply(self, message: ItemMessage) -> Outcome:
        services = self.services
        try:
            config = services.config()
            scenario = config.scenario(message.scenario)
        except Exception as exc:  # a scenario removed while its messages were queued
            return self._dead(message, f"configuration: {exc}", kind="config")
        try:
            for _ in range(MAX_MERGE_ROUNDS):
                outcome = self._apply_once(config, scenario, message)
                if outcome is not None:
                    return self._bounded(message, outcome)
            services.runs.add(scenario.name, message.run_id, retried=1)
            return Retry(delay=backoff(message.attempt), reason="target kept changing during the merge")
        except TransientError as exc:
            return self._transient(scenario, message, exc)
        except ConnectorError as exc:
            return self._dead(message, str(exc), kind="permanent")

    def apply_many(self, messages: list[ItemMessage]) -> list[Outcome]:
        """Apply a session's messages together: for targets written per container (a PWA project: check
        out, update, publish), all their writes go to the connector in one call, so one cycle serves them.
        """
        outcomes: list[Outcome | None] = [None] * len(messages)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, message in enumerate(messages):
            groups.setdefault((message.scenario, message.direction), []).append(i)
        for (scenario_name, direction), indexes in groups.items():
            batched = False
            try:
                config = self.services.config()
                scenario = config.scenario(scenario_name)
                tgt_side = "right" if direction == "left_to_right" else "left"
                target_conn = self.services.connector(getattr(scenario, tgt_side))
                entity = scenario.entity_of(tgt_side)  # type: ignore[arg-type]
                batched = target_unit(target_conn, entity) == "container" and len(indexes) > 1
            except Exception:  # noqa: S110 - each message then reports its own configuration error
                pass
            if not batched:
                for i in indexes:
                    outcomes[i] = self.apply(messages[i])
                continue
            for i, outcome in self._apply_together(config, scenario, [messages[i] for i in indexes], indexes):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _apply_together(
        self, config: TandemConfig, scenario: ScenarioConfig, messages: list[ItemMessage], indexes: list[int]
    ) -> list[tuple[int, Outcome]]:
        done: list[tuple[int, Outcome]] = []
        ready: list[tuple[int, Prepared]] = []
        for i, message in zip(indexes, messages, strict=True):
            try:
                prepared = self._prepare(config, scenario, message)
            except TransientError as exc:
                done.append((i, self._transient(scenario, message, exc)))
                continue
            except ConnectorError as exc:
                done.append((i, self._dead(message, str(exc), kind="permanent")))
                continue
            if isinstance(prepared, Prepared):
                ready.append((i, prepared))
            elif prepared is None:
                done.append((i, self.apply(message)))  # lost a race: the one-by-one path retries it
            else:
                done.append((i, self._bounded(message, prepared)))
        writes = [(i, p) for i, p in ready if p.write is not None]
        results: dict[int, WriteResult] = {}
        if writes:
            conn, entity = writes[0][1].target_conn, writes[0][1].tgt_entity
            try:
                written = conn.write(entity, [p.write for _, p in writes if p.write is not None])
            except TransientError as exc:
                return done + [(i, self._transient(scenario, p.message, exc)) for i, p in ready]
            results = {i: r for (i, _), r in zip(writes, written, strict=True)}
        for i, p in ready:
            try:
                outcome = self._commit(p, results.get(i))
            except TransientError as exc:
                outcome = self._transient(scenario, p.message, exc)
            except ConnectorError as exc:
                outcome = self._dead(p.message, str(exc), kind="permanent")
            done.append((i, outcome if outcome is not None else self.apply(p.message)))
        return done

    def _bounded(self, message: ItemMessage, outcome: Outcome) -> Outcome:
        if isinstance(outcome, Retry) and message.attempt >= self.services.settings.max_attempts:
            return self._dead(message, f"gave up after {message.attempt} attempts: {outcome.reason}")
        return outcome

    # ---- one merge round; None = lost a race, go again ------------------------------------------
    def _apply_once(
        self, config: TandemConfig, scenario: ScenarioConfig, message: ItemMessage
    ) -> Outcome | None:
        prepared = self._prepare(config, scenario, message)
        if not isinstance(prepared, Prepared):
            return prepared
        result = None
        if prepared.write is not None:
            result = prepared.target_conn.write(prepared.tgt_entity, [prepared.write])[0]
        return self._commit(prepared, result)

    def _prepare(
        self, config: TandemConfig, scenario: ScenarioConfig, message: ItemMessage
    ) -> Prepared | Outcome | None:
        """Read both sides and decide; returns the write to make (if any) with what finishing it needs."""
        direction: SyncDirection = message.direction
        src_side: Side = "left" if direction == "left_to_right" else "right"
        tgt_side: Side = "right" if src_side == "left" else "left"
        source_conn = self.services.connector(getattr(scenario, src_side))
        target_conn = self.services.connector(getattr(scenario, tgt_side))
        src_entity, tgt_entity = scenario.entity_of(src_side), scenario.entity_of(tgt_side)
        rules = [r for r in config.rules(scenario) if r.flows(direction)]

        link = self.services.links.find(scenario.name, src_side, message.source_id)
        if self._already_synced(link, src_side, message):
            # The echo of our own write, or a change already applied: nothing to read or write.
            return self._done(scenario, message, "unchanged", link)
        found = source_conn.read(src_entity, [message.source_id])
        if not found:
            # Deleted at the source (deletes are not propagated): nothing to write.
            return self._done(scenario, message, "skipped", link)
        source = found[0]
        if link is None and source.correlation_id:
            # Created by this hub: its link may not have the new id yet (the create's hook can beat the
            # link save). Never create a copy of it; wait for the link or let the creator's retry finish.
            creator = self.services.links.find_by_correlation(scenario.name, source.correlation_id)
            if creator is not None and creator.origin != src_side:
                if creator.status == "linked" and creator.id_of(src_side) == source.id:
                    link = creator
                else:
                    return Retry(
                        delay=2.0, reason="the link of an item this hub is creating is not saved yet"
                    )
        if link is None and not self._in_scope(scenario, direction, source):
            return self._done(scenario, message, "skipped", None)
        if link is None or link.status == "pending" or link.id_of(tgt_side) is None:
            return self._prepare_create(scenario, message, link, source, target_conn, tgt_entity, rules)

        target_id = link.id_of(tgt_side)
        assert target_id is not None
        targets = target_conn.read(tgt_entity, [target_id])
        if not targets:
            return self._dead(message, f"the linked {tgt_entity} {target_id} no longer exists on {tgt_side}")
        target = targets[0]
        plan = self._merge(scenario, direction, link, source, target, rules)
        if plan.parent is None and scenario.sync_parent:
            parent = self._parent_plan(scenario, direction, link, source, target)
            if isinstance(parent, Retry):
                return parent
            plan.parent = parent
        write = None
        if plan.fields or plan.parent is not None:
            write = Write(
                id=target.id,
                container=target.container,
                expected_version=target.version,
                fields=plan.fields,
                parent_id=plan.parent[1] if plan.parent else None,
                set_parent=plan.parent is not None,
            )
        return Prepared(
            message, scenario, "update", link, source, target, write, target_conn, tgt_entity, plan
        )

    def _commit(self, p: Prepared, result: WriteResult | None) -> Outcome | None:
        """Record what the write did on the link and the run; None when the round must be run again."""
        if result is not None:
            if isinstance(result.error, VersionConflict):
                return None
            if result.error is not None:
                raise result.error
            assert result.item is not None
            for warning in result.warnings:
                log.warning(
                    "write warning: %s",
                    redact(warning),
                    extra={"scenario": p.scenario.name, "source_id": p.source.id},
                )
            if result.warnings:
                self.services.runs.add(p.scenario.name, p.message.run_id, warnings=len(result.warnings))
            item = result.item
        else:
            item = p.target
        assert item is not None
        src_side: Side = "left" if p.message.direction == "left_to_right" else "right"
        if p.kind == "create":
            return self._finish_create(
                p.scenario, p.message, p.link, p.source, item, created=result is not None
            )
        assert p.plan is not None
        return self._finish_update(p.scenario, p.message, p.link, src_side, p.source, item, p.plan)

    # ---- create ---------------------------------------------------------------------------------
    def _prepare_create(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        link: Link | None,
        source: Item,
        target_conn: Connector,
        tgt_entity: str,
        rules: list[FieldRule],
    ) -> Prepared | Outcome | None:
        direction: SyncDirection = message.direction
        src_side: Side = "left" if direction == "left_to_right" else "right"
        tgt_side: Side = "right" if src_side == "left" else "left"
        routed = self._route_container(scenario, message, source, target_conn)
        if isinstance(routed, DeadLetter):
            return routed
        target_container = routed
        fresh = link is None
        if link is None:
            pending = Link(
                scenario=scenario.name,
                origin=src_side,
                origin_id=source.id,
                status="pending",
                correlation_id=correlation_id_for(scenario.name, src_side, source.id),
            )
            pending.set_side(src_side, source.id, None, source.container)
            try:
                link = self.services.links.create(pending)
            except LinkConflict:
                return None  # another worker created it first: decide again on fresh state

        # A crash between create and link save left the item behind: find it, never create twice. A link
        # this attempt has just created had no earlier attempt, so there is nothing to find.
        existing = None if fresh else target_conn.find_by_correlation(tgt_entity, link.correlation_id)
        if existing is not None:
            return Prepared(
                message, scenario, "create", link, source, existing, None, target_conn, tgt_entity
            )
        parent_id: str | None = None
        if scenario.sync_parent and source.parent_id:
            parent_link = self.services.links.find(scenario.name, src_side, source.parent_id)
            parent_id = parent_link.id_of(tgt_side) if parent_link else None
            if parent_id is None and message.attempt <= PARENT_WAITS:
                self._enqueue_parent(scenario, message, source)
                return Retry(delay=2.0 * message.attempt, reason="waiting for the parent to be synced")
        ctx = self._context(direction, source.container, target_container)
        fields = {
            r.target_field(direction): r.convert(source.fields.get(r.source_field(direction)), direction, ctx)
            for r in rules
        }
        write = Write(
            container=target_container,
            type=scenario.routed_type(direction, source.type, source.fields),
            correlation_id=link.correlation_id,
            fields={k: v for k, v in fields.items() if v is not None},
            parent_id=parent_id,
            set_parent=parent_id is not None,
        )
        return Prepared(message, scenario, "create", link, source, None, write, target_conn, tgt_entity)

    @staticmethod
    def _already_synced(link: Link | None, side: Side, message: ItemMessage) -> bool:
        """The source is still at the version the last sync recorded, and no decision awaits this side."""
        if link is None or link.status != "linked" or message.source_version != link.version_of(side):
            return False
        return not any(
            isinstance(base, dict) and ("winner" in base or base.get("flagged"))
            for base in link.snapshot.values()
        )

    def _route_container(
        self, scenario: ScenarioConfig, message: ItemMessage, source: Item, target_conn: Connector
    ) -> str | DeadLetter | None:
        """The container a create goes to: the direction's `container_field` value, checked to exist on the
        target (a name matching nothing is a failure, never a guess), else the scenario's container pairs.
        """
        direction: SyncDirection = message.direction
        tgt_side = "right" if direction == "left_to_right" else "left"
        target_name = getattr(scenario, tgt_side)
        cfg = scenario.directions.get(direction)
        field_name = cfg.container_field if cfg is not None else None
        where = f" in '{source.container}'" if source.container else ""
        what = f"{source.type or 'item'} {source.id}{where}"
        if not field_name:
            target = scenario.target_container(direction, source.container)
            if source.container is not None and target is None:
                return self._dead(
                    message,
                    f"no target project for '{source.container}': add it to scenario.containers",
                    kind="config",
                )
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
                return self._dead(
                    message,
                    f"'{field_name}' is empty for {what}: set it to the name of a project on {target_name}",
                    kind="config",
                )
            name, origin = fallback, f"of the same name ('{field_name}' is empty)"
        finder = getattr(target_conn, "find_container", None)
        if callable(finder):
            found = finder(name)
            if found is None:
                return self._dead(
                    message,
                    f"no project '{name}' on {target_name} (the project {origin}) for {what}: "
                    f"correct the name or create the project",
                    kind="config",
                )
            name = str(found)
        return name

    def _finish_create(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        link: Link,
        source: Item,
        target: Item,
        created: bool,
    ) -> Outcome | None:
        src_side: Side = "left" if message.direction == "left_to_right" else "right"
        tgt_side: Side = "right" if src_side == "left" else "left"
        left, right = (source, target) if src_side == "left" else (target, source)
        link.set_side(src_side, source.id, source.version, source.container)
        link.set_side(tgt_side, target.id, target.version, target.container)
        link.status = "linked"
        link.snapshot = self._full_snapshot(self.services.config(), scenario, left, right)
        link.snapshot[PARENT_KEY] = {"left": left.parent_id, "right": right.parent_id}
        link.last_error = None
        link.synced_at = self.services.clock()
        try:
            self.services.links.save(link, new_index=(tgt_side, target.id))
        except LinkConflict:
            return None
        if not created:
            # The item existed already: merge once more so nothing written since is lost.
            return None
        return self._done(scenario, message, "created", link)

    # ---- merge ----------------------------------------------------------------------------------
    def _merge(
        self,
        scenario: ScenarioConfig,
        direction: SyncDirection,
        link: Link,
        source: Item,
        target: Item,
        rules: list[FieldRule],
    ) -> Plan:
        src_side: Side = "left" if direction == "left_to_right" else "right"
        tgt_side: Side = "right" if src_side == "left" else "left"
        ctx = self._context(direction, source.container, target.container)
        plan = Plan()
        for rule in rules:
            s_val = source.fields.get(rule.source_field(direction))
            t_val = target.fields.get(rule.target_field(direction))
            stored = link.snapshot.get(rule.key)
            base = Base(stored.get(src_side), stored.get(tgt_side)) if stored is not None else None
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
                plan.fields[rule.target_field(direction)] = d.value
            if d.new_base is not None:
                plan.snapshot[rule.key] = {src_side: d.new_base[0], tgt_side: d.new_base[1]}
                if stored is not None and stored.get("flagged"):
                    plan.resolved.append(rule.key)
            # Count a conflict once: where it is settled by a write, or the first time it is flagged
            # (both directions see it; the one that leaves it to the other side does not count it).
            if (d.action == "write" and d.conflict) or (
                d.action == "conflict_flagged" and not (stored or {}).get("flagged")
            ):
                plan.conflict_count += 1
                plan.written_conflicts += d.action == "write"
            if d.action == "target_wins":
                # Remember the decision so the reverse direction applies it instead of re-deciding.
                plan.snapshot[rule.key] = dict(stored or {}) | {"winner": tgt_side}
                plan.bounce = True
            elif d.action == "conflict_flagged":
                plan.snapshot[rule.key] = dict(stored or {}) | {"flagged": True}
                plan.conflicts.append(
                    (rule, s_val, t_val, base.source if base else None, base.target if base else None)
                )
        return plan

    def _parent_plan(
        self, scenario: ScenarioConfig, direction: SyncDirection, link: Link, source: Item, target: Item
    ) -> tuple[bool, str | None] | Retry | None:
        src_side: Side = "left" if direction == "left_to_right" else "right"
        tgt_side: Side = "right" if src_side == "left" else "left"
        base = link.snapshot.get(PARENT_KEY, {})
        if source.parent_id == base.get(src_side):
            return None  # the source's parent did not change
        if source.parent_id is None:
            return (True, None) if target.parent_id is not None else None
        parent_link = self.services.links.find(scenario.name, src_side, source.parent_id)
        parent_target = parent_link.id_of(tgt_side) if parent_link else None
        if parent_target is None:
            return None
        if parent_target == target.parent_id:
            return None
        return (True, parent_target)

    # ---- bookkeeping ----------------------------------------------------------------------------
    def _finish_update(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        link: Link,
        src_side: Side,
        source: Item,
        target: Item,
        plan: Plan,
    ) -> Outcome | None:
        tgt_side: Side = "right" if src_side == "left" else "left"
        link.snapshot.update(plan.snapshot)
        link.snapshot[PARENT_KEY] = {
            src_side: source.parent_id,
            tgt_side: target.parent_id,
        }
        link.set_side(src_side, source.id, source.version, source.container)
        link.set_side(tgt_side, target.id, target.version, target.container)
        link.last_error = None
        link.synced_at = self.services.clock()
        if plan.written_conflicts:
            # Written already: count it now, as a lost link race re-merges to "nothing to do".
            self.services.runs.add(scenario.name, message.run_id, conflicts=plan.written_conflicts)
        try:
            self.services.links.save(link)
        except LinkConflict:
            return None
        now = self.services.clock()
        for rule, s_val, t_val, b_s, b_t in plan.conflicts:
            left_val, right_val = (s_val, t_val) if src_side == "left" else (t_val, s_val)
            base_l, base_r = (b_s, b_t) if src_side == "left" else (b_t, b_s)
            self.services.conflicts.record(
                Conflict(
                    scenario=scenario.name,
                    link_id=link.link_id,
                    rule=rule.key,
                    left_value=left_val,
                    right_value=right_val,
                    base_left=base_l,
                    base_right=base_r,
                    at=now,
                )
            )
            telemetry.conflict(scenario.name, message.direction)
        for key in plan.resolved:
            self.services.conflicts.clear(scenario.name, link.link_id, key)
        if plan.bounce:
            self._bounce(scenario, message, target)
        result = "updated" if plan.fields or plan.parent is not None else "unchanged"
        flagged = plan.conflict_count - plan.written_conflicts
        if flagged:
            self.services.runs.add(scenario.name, message.run_id, conflicts=flagged)
        return self._done(scenario, message, result, link)

    def _full_snapshot(
        self, config: TandemConfig, scenario: ScenarioConfig, left: Item, right: Item
    ) -> dict[str, dict[str, Any]]:
        return {
            r.key: {"left": left.fields.get(r.left), "right": right.fields.get(r.right)}
            for r in config.rules(scenario)
        }

    def _in_scope(self, scenario: ScenarioConfig, direction: SyncDirection, item: Item) -> bool:
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
        return all(item.fields.get(name) == value for name, value in cfg.match.items())

    @staticmethod
    def _context(
        direction: SyncDirection, source_container: str | None, target_container: str | None
    ) -> Context:
        if direction == "left_to_right":
            return Context(left_container=source_container, right_container=target_container)
        return Context(left_container=target_container, right_container=source_container)

    def _enqueue_parent(self, scenario: ScenarioConfig, message: ItemMessage, source: Item) -> None:
        from sync.runtime import enqueue_items  # local import: runtime depends on this module

        parent = message.model_copy(
            update={
                "source_id": source.parent_id,
                "source_version": "parent-of-" + source.id,
                "origin": "parent",
                "attempt": 1,
                "session": message.session.rsplit("|", 1)[0] + "|" + str(source.parent_id)
                if "|i|" in message.session
                else message.session,
            }
        )
        enqueue_items(self.services, [parent])

    def _bounce(self, scenario: ScenarioConfig, message: ItemMessage, target: Item) -> None:
        from sync.runtime import enqueue_items

        reverse: SyncDirection = "right_to_left" if message.direction == "left_to_right" else "left_to_right"
        bounce = ItemMessage(
            scenario=scenario.name,
            direction=reverse,
            entity=scenario.entity_of("left" if reverse == "left_to_right" else "right"),
            source_id=target.id,
            source_version=target.version,
            session=f"{scenario.name}|{reverse}|i|{target.id}",
            origin="bounce",
            run_id=message.run_id,
        )
        enqueue_items(self.services, [bounce])

    def _done(self, scenario: ScenarioConfig, message: ItemMessage, result: str, link: Link | None) -> Done:
        self.services.runs.add(scenario.name, message.run_id, **{result: 1})
        self.services.failures.clear(scenario.name, message.direction, message.entity, message.source_id)
        if result in ("created", "updated"):
            telemetry.items_synced(scenario.name, message.direction)
            if message.origin == "hook" and message.enqueued_at is not None:
                seconds = (self.services.clock() - _aware(message.enqueued_at)).total_seconds()
                telemetry.hook_to_write_latency(scenario.name, message.direction, seconds)
        log.info(
            "item %s",
            result,
            extra={
                "scenario": scenario.name,
                "direction": message.direction,
                "source_id": message.source_id,
                "link": link.link_id if link else None,
            },
        )
        return Done(result)

    def _transient(self, scenario: ScenarioConfig, message: ItemMessage, exc: TransientError) -> Outcome:
        if message.attempt >= self.services.settings.max_attempts:
            return self._dead(
                message,
                f"gave up after {message.attempt} attempts: {exc}",
                kind="exhausted",
            )
        delay = max(exc.retry_after or 0.0, backoff(message.attempt) if exc.retry_after is None else 0.0)
        self.services.runs.add(scenario.name, message.run_id, retried=1)
        telemetry.failure(scenario.name, message.direction, "transient")
        reason = redact(str(exc))
        # Status shows why the item waits (a project checked out to someone, throttling) until it is
        # written (`_done` clears the row) or given up on (`_dead` replaces it).
        self.services.failures.record(
            Failure(
                scenario=message.scenario,
                direction=message.direction,
                entity=message.entity,
                source_id=message.source_id,
                kind="retrying",
                reason=f"retrying in {delay:g} s: {reason}",
                message_id=message.message_id,
                run_id=message.run_id,
                attempts=message.attempt,
                at=self.services.clock(),
            )
        )
        return Retry(delay=delay, reason=reason)

    def _dead(self, message: ItemMessage, reason: str, kind: str = "permanent") -> DeadLetter:
        services = self.services
        reason = redact(reason)  # systems sometimes echo credentials in their error text
        services.failures.record(
            Failure(
                scenario=message.scenario,
                direction=message.direction,
                entity=message.entity,
                source_id=message.source_id,
                kind=kind,
                reason=reason,
                message_id=message.message_id,
                run_id=message.run_id,
                attempts=message.attempt,
                at=services.clock(),
            )
        )
        src_side: Literal["left", "right"] = "left" if message.direction == "left_to_right" else "right"
        try:
            link = services.links.find(message.scenario, src_side, message.source_id)
            if link is not None:
                link.last_error = reason[:2000]
                link.last_error_at = services.clock()
                services.links.save(link)
        except LinkConflict:
            pass  # the failure row above already records it
        services.runs.add(message.scenario, message.run_id, failed=1)
        telemetry.failure(message.scenario, message.direction, kind)
        log.warning(
            "item dead-lettered",
            extra={
                "scenario": message.scenario,
                "direction": message.direction,
                "source_id": message.source_id,
            },
        )
        return DeadLetter(reason=reason[:1000], description=kind)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
