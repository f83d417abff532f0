"""Apply item messages: decide (`sync.decide`, no side effects) and carry the plan out.

Creates are idempotent (a pending link with a correlation stamp is saved before the create, the stamp is put
on the new item, and before any create the target is searched for it). Writes are conditional on the target's
version; a lost race decides again on fresh reads, a bounded number of times. Follow-up messages (bounces,
referenced items) are plan output, sent here once the plan is carried out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal

from connectors.contract import CorrelationBatchFinder, Item, WriteResult
from connectors.errors import ConnectorError, TransientError, VersionConflict
from state.item_journal import Action as JournalAction
from state.item_journal import ItemEvent
from state.links import NOTES_KEY, Link, LinkConflict
from state.problems import Conflict, Failure, FailureStore
from state.redact import redact
from state.tables import transient_table_error
from sync import telemetry
from sync.config import ScenarioConfig, TandemConfig
from sync.decide import (
    PARENT_KEY,
    Decider,
    Prefetch,
    already_synced,
    backoff,
    correlation_id_for,
    full_snapshot,
    needs_create,
    new_link_for,
    sides_of,
)
from sync.enqueue import enqueue_items
from sync.match import prefetch_matches
from sync.messages import ItemMessage
from sync.outcome import DeadLetter, Done, Outcome, Retry
from sync.plan import ItemPlan
from sync.services import Services
from sync.sessions import target_unit

log = logging.getLogger("tandem.apply")
MAX_MERGE_ROUNDS = 4  # decide again after a version conflict, a lost link race or a relink
READ_BATCH = 200  # ids per batch read (ADO's workitemsbatch cap)

# The outcome of a create whose new link is saved with its batch's others (`Applier._save_created`).
_SAVED_LATER = Done("created")

__all__ = ["PARENT_KEY", "Applier", "backoff", "correlation_id_for"]


class Applier:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.decider = Decider(services)
        self._depth = 0
        self._counts: dict[tuple[str, str], Counter[str]] = {}
        self._failure_keys: dict[str, set[str]] = {}
        # New links of a batch's creates, saved together (`_save_created`); None outside a batch.
        self._created: list[tuple[ItemPlan, Link, list[str]]] | None = None
        self._settled: dict[int, Outcome | None] = {}  # id(message) -> its outcome once saved (None: lost)
        # id(message) -> "created"/"updated": written, but the link save lost a race (an echo saved first);
        # the next round finds nothing left to do and must still count the write that happened.
        self._written: dict[int, str] = {}

    @contextmanager
    def _unit(self) -> Iterator[None]:
        """One call of the applier: run counters add up in memory and are written once at the end (two
        table calls per run and batch instead of two per item); failure rows are listed once per pair."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                counts, self._counts = self._counts, {}
                self._failure_keys = {}
                self._written = {}
                for (key, run_id), counter in counts.items():
                    try:
                        self.services.runs.add(key, run_id, **dict(counter))
                    except Exception as exc:  # the items are settled: only their counters are lost
                        if not transient_table_error(exc):
                            raise
                        log.warning("run counters of %s not saved: %s", run_id, type(exc).__name__)

    def _count(self, key: str, run_id: str, **counts: int) -> None:
        if run_id:
            self._counts.setdefault((key, run_id), Counter()).update(counts)

    # ---- entry points ------------------------------------------------------------------------
    def apply(self, message: ItemMessage, pre: Prefetch | None = None) -> Outcome:
        with self._unit():
            return self._apply(message, pre)

    def _apply(self, message: ItemMessage, pre: Prefetch | None = None) -> Outcome:
        services = self.services
        try:
            config = services.config()
            scenario = config.scenario(message.scenario).view_for(message.direction, message.entity)
        except Exception as exc:  # a scenario removed while its messages were queued
            return self._dead(None, message, f"configuration: {exc}", kind="config")
        try:
            for _ in range(MAX_MERGE_ROUNDS):
                outcome = self._apply_once(config, message, pre)
                pre = None  # a second round reads everything fresh
                if outcome is not None:
                    return self._bounded(scenario, message, outcome)
            self._count(scenario.key, message.run_id, retried=1)
            return Retry(delay=backoff(message.attempt), reason="target kept changing during the merge")
        except TransientError as exc:
            return self._transient(scenario, message, exc)
        except ConnectorError as exc:
            return self._dead(scenario, message, str(exc), kind="permanent")
        except Exception as exc:
            if not transient_table_error(exc):
                raise
            # Table Storage reset the connection or answered 5xx: this message again later, with back-off.
            reason = f"state storage unavailable ({type(exc).__name__})"
            return self._transient(scenario, message, TransientError(reason))

    def prefetch(self, config: TandemConfig, messages: Sequence[ItemMessage]) -> Prefetch:
        """Read what the messages of one pair and direction need, together: their links, then the source
        items in one call per 200 ids, the linked targets likewise, and the stamps of the creates in one
        lookup where the target connector can (every decision still sees values read just now)."""
        pre = Prefetch()
        if not messages:
            return pre
        first = messages[0]
        scenario = config.scenario(first.scenario).view_for(first.direction, first.entity)
        src_side, tgt_side = sides_of(first.direction)
        source_conn = self.services.side_connector(scenario, src_side)
        target_conn = self.services.side_connector(scenario, tgt_side)
        # Point reads: an OR of row keys in one query is a partition scan on Table Storage (and on
        # Azurite), slower than the reads it replaces once a scenario holds thousands of links.
        for m in messages:
            if m.source_id not in pre.links:
                pre.links[m.source_id] = self.services.links.find(scenario.key, src_side, m.source_id)
        wanted = [
            m.source_id
            for m in messages
            if m.variant or not already_synced(pre.links[m.source_id], src_side, m)
        ]
        wanted = list(dict.fromkeys(wanted))
        for start in range(0, len(wanted), READ_BATCH):
            chunk = wanted[start : start + READ_BATCH]
            found = {i.id: i for i in source_conn.read(scenario.entity_of(src_side), chunk)}
            pre.sources.update({i: found.get(i) for i in chunk})
        linked = [
            link.id_of(tgt_side)
            for i in wanted
            if (link := pre.links[i]) is not None and not needs_create(link, tgt_side)
        ]
        linked_ids = [t for t in dict.fromkeys(linked) if t]
        for start in range(0, len(linked_ids), READ_BATCH):
            chunk = linked_ids[start : start + READ_BATCH]
            found = {i.id: i for i in target_conn.read(scenario.entity_of(tgt_side), chunk)}
            pre.targets.update({i: found.get(i) for i in chunk})
        if isinstance(target_conn, CorrelationBatchFinder):
            stamps = []
            for i in wanted:
                link, source = pre.links[i], pre.sources.get(i)
                if source is None or source.correlation_id or not needs_create(link, tgt_side):
                    continue
                stamps.append((link or new_link_for(scenario, src_side, source)).correlation_id)
            if stamps:
                found_stamps = target_conn.find_by_correlations(scenario.entity_of(tgt_side), stamps)
                pre.stamps = {s: found_stamps.get(s) for s in stamps}
        if any(m.match_key for m in messages) or scenario.match_on:
            # Items already on the target with the creates' match-key values: one lookup per key.
            asks = [
                (m.match_key, pre.sources.get(m.source_id), needs_create(pre.links[m.source_id], tgt_side))
                for m in messages
            ]
            pre.matches = prefetch_matches(
                config, scenario, asks, first.direction, target_conn, scenario.entity_of(tgt_side)
            )
        return pre

    def plan(self, message: ItemMessage) -> ItemPlan:
        """Decide only (a dry run): what applying `message` would do, with nothing written or sent."""
        return self.decider.decide(self.services.config(), message)

    def carry_out(self, plan: ItemPlan) -> Outcome | None:
        """Carry out a plan decided elsewhere (a conflict's resolution, `sync.resolve`): its write, then the
        link, snapshot and conflict bookkeeping as for any update. None: lost a race, decide again."""
        with self._unit():
            result = None
            if plan.write is not None and plan.target_conn is not None:
                result = plan.target_conn.write(plan.tgt_entity, [plan.write])[0]
            return self._finish(plan, result)

    def apply_many(self, messages: list[ItemMessage]) -> list[Outcome]:
        """Apply a session's messages together: for targets written per container (a PWA project: check
        out, update, publish), all their writes go to the connector in one call, so one cycle serves them.
        """
        with self._unit():
            return self._apply_many(messages)

    def _apply_many(self, messages: list[ItemMessage]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(messages)
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i, message in enumerate(messages):
            groups.setdefault((message.scenario, message.direction, message.entity), []).append(i)
        for (scenario_name, direction, entity), indexes in groups.items():
            batched = False
            pre: Prefetch | None = None
            try:
                config = self.services.config()
                scenario = config.scenario(scenario_name).view_for(direction, entity)  # type: ignore[arg-type]
                _, tgt_side = sides_of(direction)  # type: ignore[arg-type]
                target_conn = self.services.side_connector(scenario, tgt_side)
                batched = target_unit(target_conn, scenario.entity_of(tgt_side)) == "container"
                batched = batched and len(indexes) > 1
                if len(indexes) > 1:
                    pre = self.prefetch(config, [messages[i] for i in indexes])
            except Exception:  # each message then reads (and reports) on its own
                pre = None
            if not batched:
                self._apply_each(messages, indexes, pre, outcomes)
                continue
            try:
                group = [messages[i] for i in indexes]
                together = self._apply_together(config, scenario, group, indexes, pre)
            except Exception as exc:
                if not transient_table_error(exc):
                    raise
                reason = TransientError(f"state storage unavailable ({type(exc).__name__})")
                together = [(i, self._transient(scenario, messages[i], reason)) for i in indexes]
            for i, outcome in together:
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _apply_each(
        self,
        messages: list[ItemMessage],
        indexes: list[int],
        pre: Prefetch | None,
        outcomes: list[Outcome | None],
    ) -> None:
        """One by one, the new links of their creates saved together at the end (or before a message
        about an item created meanwhile, or a reference that waits: either may need one of them)."""
        self._created = []
        try:
            for i in indexes:
                if any(p.message.source_id == messages[i].source_id for p, _, _ in self._created):
                    self._save_created()
                outcomes[i] = self._apply(messages[i], pre)
            self._save_created()
        finally:
            self._created = None
        for i in indexes:
            if outcomes[i] is _SAVED_LATER:
                settled = self._settled.pop(id(messages[i]), None)
                # None: another worker linked it first (or the save failed): decide again on fresh state
                outcomes[i] = settled if settled is not None else self._apply(messages[i])
        self._settled = {}

    def _save_created(self) -> None:
        created, self._created = self._created or [], []
        if not created:
            return
        try:
            saved = self.services.links.create_many([link for _, link, _ in created])
        except Exception as exc:  # each message decides again (its stamp finds the item it created)
            log.warning("saving %d new links failed: %s", len(created), type(exc).__name__)
            saved = [None] * len(created)
        for (plan, _, warnings), link in zip(created, saved, strict=True):
            if link is None:
                self._settled[id(plan.message)] = None
                self._written[id(plan.message)] = "created"
                continue
            self._settled[id(plan.message)] = self._created_done(plan, link, warnings)

    def _apply_together(
        self,
        config: TandemConfig,
        scenario: ScenarioConfig,
        messages: list[ItemMessage],
        indexes: list[int],
        pre: Prefetch | None,
    ) -> list[tuple[int, Outcome]]:
        done: list[tuple[int, Outcome]] = []
        ready: list[tuple[int, ItemPlan]] = []
        for i, message in zip(indexes, messages, strict=True):
            try:
                plan = self.decider.decide(config, message, pre)
                prepared = self._before_write(plan)
            except TransientError as exc:
                done.append((i, self._transient(scenario, message, exc)))
                continue
            except ConnectorError as exc:
                done.append((i, self._dead(scenario, message, str(exc), kind="permanent")))
                continue
            if prepared is None:
                done.append((i, self._apply(message)))  # lost a race: the one-by-one path retries it
            elif plan.action in ("create", "update"):
                ready.append((i, plan))
            else:
                outcome = self._finish(plan, None)
                done.append(
                    (
                        i,
                        self._apply(message)
                        if outcome is None
                        else self._bounded(scenario, message, outcome),
                    )
                )
        writes = [(i, p) for i, p in ready if p.write is not None]
        results: dict[int, WriteResult] = {}
        if writes:
            conn, entity = writes[0][1].target_conn, writes[0][1].tgt_entity
            assert conn is not None
            try:
                written = conn.write(entity, [p.write for _, p in writes if p.write is not None])
            except TransientError as exc:
                return done + [(i, self._transient(scenario, p.message, exc)) for i, p in ready]
            results = {i: r for (i, _), r in zip(writes, written, strict=True)}
        for i, p in ready:
            try:
                outcome = self._finish(p, results.get(i))
            except TransientError as exc:
                outcome = self._transient(scenario, p.message, exc)
            except ConnectorError as exc:
                outcome = self._dead(scenario, p.message, str(exc), kind="permanent")
            done.append((i, outcome if outcome is not None else self._apply(p.message)))
        return done

    def _bounded(self, scenario: ScenarioConfig, message: ItemMessage, outcome: Outcome) -> Outcome:
        if isinstance(outcome, Retry) and message.attempt >= self.services.settings.max_attempts:
            return self._dead(
                scenario, message, f"gave up after {message.attempt} attempts: {outcome.reason}"
            )
        return outcome

    # ---- one round: decide, then carry out; None = lost a race or relinked, decide again ----------
    def _apply_once(self, config: TandemConfig, message: ItemMessage, pre: Prefetch | None) -> Outcome | None:
        plan = self.decider.decide(config, message, pre)
        if self._before_write(plan) is None:
            return None
        result = None
        if plan.write is not None and plan.action in ("create", "update"):
            assert plan.target_conn is not None
            result = plan.target_conn.write(plan.tgt_entity, [plan.write])[0]
        return self._finish(plan, result)

    def _before_write(self, plan: ItemPlan) -> ItemPlan | None:
        """What must be stored before the write (None: decide again). Nothing today: a create's link is
        saved after it, and its stamp, looked up before any create, finds the item if that save is lost."""
        return plan

    def _finish(self, plan: ItemPlan, result: WriteResult | None) -> Outcome | None:
        """Record what the write did on the link and the run; None when the round must be run again."""
        scenario, message = plan.scenario, plan.message
        if plan.action == "done":
            for warning in plan.warnings:
                log.warning("item skipped: %s", redact(warning), extra={"scenario": scenario.name})
            return self._done(scenario, message, plan.result or "unchanged", plan.link, plan.warnings)
        if plan.action == "dead":
            return self._dead(scenario, message, plan.reason, kind=plan.kind)
        if plan.action == "wait":
            if self._created:
                self._save_created()  # the reference waited on may be among them
                return None
            enqueue_items(self.services, plan.follow_ups)
            return self._waiting(scenario, message, plan.reason, plan.delay)
        if plan.action == "relink":
            return self._relink(plan)
        warnings = list(plan.warnings)
        if result is not None:
            if isinstance(result.error, VersionConflict):
                return None
            if result.error is not None:
                raise result.error
            assert result.item is not None
            warnings += result.warnings
            item = result.item
        else:
            item = plan.target
        if plan.action == "create":
            assert item is not None
            return self._finish_create(plan, item, warnings)
        assert item is not None
        return self._finish_update(plan, item, warnings)

    # ---- link bookkeeping -----------------------------------------------------------------------------
    def _relink(self, plan: ItemPlan) -> None:
        """Link an item found on the target (or a stamped source's origin) instead of creating one; the
        empty snapshot makes the next round bring the source's values across where they differ."""
        link = plan.link
        assert link is not None
        src_side, tgt_side = sides_of(plan.message.direction)
        link.snapshot = {}
        link.synced_at = self.services.clock()
        log.info(
            "item relinked",
            extra={
                "scenario": plan.scenario.name,
                "source_id": plan.message.source_id,
                "reason": plan.reason,
            },
        )
        try:
            if plan.new_link:
                self.services.links.create(link)
            else:
                other = tgt_side if link.origin == src_side else src_side
                item_id = link.id_of(other)
                index = (other, item_id) if item_id else None
                self.services.links.save(link, new_index=index)
        except LinkConflict:
            pass  # another worker linked it meanwhile: decide again on fresh state
        return None

    def _finish_create(self, plan: ItemPlan, target: object, warnings: list[str]) -> Outcome | None:
        assert isinstance(target, Item) and plan.link is not None and plan.source is not None
        scenario, message, link, source = plan.scenario, plan.message, plan.link, plan.source
        src_side, tgt_side = sides_of(message.direction)
        left, right = (source, target) if src_side == "left" else (target, source)
        link.set_side(src_side, source.id, source.version, source.container)
        link.set_side(tgt_side, target.id, target.version, target.container)
        link.status = "linked"
        link.snapshot = full_snapshot(self.services.config(), scenario, left, right)
        link.snapshot.update(plan.ref_snapshot)
        if warnings:  # e.g. "needs secret": kept with the item, listed per item by `tandem status`
            link.snapshot[NOTES_KEY] = {"warnings": list(warnings)}
        link.last_error = None
        link.synced_at = self.services.clock()
        self._journal(link, message, "created", [c.field for c in plan.changes])
        if plan.new_link and self._created is not None:
            self._created.append((plan, link, warnings))  # saved with the batch's other new links
            return _SAVED_LATER
        try:
            if plan.new_link:
                self.services.links.create(link)
            else:
                self.services.links.save(link, new_index=(tgt_side, target.id))
        except LinkConflict:
            self._written[id(message)] = "created"
            return None
        return self._created_done(plan, link, warnings)

    def _created_done(self, plan: ItemPlan, link: Link, warnings: list[str]) -> Outcome:
        self._warn(plan.scenario, plan.message, warnings)
        enqueue_items(self.services, plan.follow_ups)
        return self._done(plan.scenario, plan.message, "created", link)

    def _finish_update(self, plan: ItemPlan, target: object, warnings: list[str]) -> Outcome | None:
        assert isinstance(target, Item) and plan.link is not None and plan.source is not None
        assert plan.merge is not None
        scenario, message, link, source, merge = (
            plan.scenario,
            plan.message,
            plan.link,
            plan.source,
            plan.merge,
        )
        src_side, tgt_side = sides_of(message.direction)
        link.snapshot.update(merge.snapshot)
        link.snapshot.update(plan.ref_snapshot)
        if warnings:  # an update's warnings join the item's standing notes, as a create's do
            kept = list((link.snapshot.get(NOTES_KEY) or {}).get("warnings") or [])
            link.snapshot[NOTES_KEY] = {
                "warnings": kept + [w for w in dict.fromkeys(warnings) if w not in kept]
            }
        link.set_side(src_side, source.id, source.version, source.container)
        link.set_side(tgt_side, target.id, target.version, target.container)
        link.last_error = None
        link.synced_at = self.services.clock()
        if plan.write is not None:
            self._journal(link, message, "updated", [c.field for c in plan.changes])
        elif merge.conflicts:
            self._journal(
                link, message, "conflict", [r.target_field(message.direction) for r, *_ in merge.conflicts]
            )
        else:
            self._journal(link, message, "unchanged", [])
        if merge.written_conflicts:
            # Written already: count it now, as a lost link race re-merges to "nothing to do".
            self._count(scenario.key, message.run_id, conflicts=merge.written_conflicts)
        try:
            self.services.links.save(link)
        except LinkConflict:
            if plan.write is not None:
                self._written.setdefault(id(message), "updated")
            return None
        self._warn(scenario, message, warnings)
        now = self.services.clock()
        for rule, s_val, t_val, b_s, b_t in merge.conflicts:
            left_val, right_val = (s_val, t_val) if src_side == "left" else (t_val, s_val)
            base_l, base_r = (b_s, b_t) if src_side == "left" else (b_t, b_s)
            self.services.conflicts.record(
                Conflict(
                    scenario=scenario.key,
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
        for key in merge.resolved:
            self.services.conflicts.clear(scenario.key, link.link_id, key)
        enqueue_items(self.services, plan.follow_ups)
        result = "updated" if plan.write is not None else "unchanged"
        flagged = merge.conflict_count - merge.written_conflicts
        if flagged:
            self._count(scenario.key, message.run_id, conflicts=flagged)
        return self._done(scenario, message, result, link)

    def _journal(self, link: Link, message: ItemMessage, action: JournalAction, fields: list[str]) -> None:
        """Add this apply to the item's journal, saved with the link (names of fields only, no values)."""
        event = ItemEvent(
            at=self.services.clock(),
            run_id=message.run_id,
            direction=message.direction,
            action=action,
            fields=fields,
        )
        link.record(event)

    def _warn(self, scenario: ScenarioConfig, message: ItemMessage, warnings: list[str]) -> None:
        for warning in warnings:
            log.warning(
                "write warning: %s",
                redact(warning),
                extra={"scenario": scenario.name, "source_id": message.source_id},
            )
        if warnings:
            self._count(scenario.key, message.run_id, warnings=len(warnings))

    # ---- outcomes -------------------------------------------------------------------------------
    def _done(
        self,
        scenario: ScenarioConfig,
        message: ItemMessage,
        result: str,
        link: Link | None,
        warnings: list[str] | None = None,
    ) -> Done:
        written = self._written.pop(id(message), None)
        if written is not None and result == "unchanged":
            result = written  # the write happened in an earlier round whose link save lost the race
        counts = {result: 1} | ({"warnings": len(warnings)} if warnings else {})
        self._count(scenario.key, message.run_id, **counts)
        row = FailureStore.row_key(message.direction, message.entity, message.source_id)
        if row in self._failures(scenario.key):
            self.services.failures.clear(scenario.key, message.direction, message.entity, message.source_id)
            self._failures(scenario.key).discard(row)
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

    def _failures(self, key: str) -> set[str]:
        """Keys of the pair's failure rows, listed once per applier call: a row is cleared only if there."""
        if key not in self._failure_keys:
            self._failure_keys[key] = self.services.failures.row_keys(key)
        return self._failure_keys[key]

    def _record_failure(self, failure: Failure) -> None:
        self.services.failures.record(failure)
        self._failures(failure.scenario).add(
            FailureStore.row_key(failure.direction, failure.entity, failure.source_id)
        )

    def _record_failure_if_possible(self, failure: Failure) -> None:
        """A retry is rescheduled even when its status row cannot be written (Table Storage down)."""
        try:
            self._record_failure(failure)
        except Exception as exc:
            if not transient_table_error(exc):
                raise
            log.warning("retry of %s not recorded: %s", failure.source_id, type(exc).__name__)

    def _waiting(self, scenario: ScenarioConfig, message: ItemMessage, reason: str, delay: float) -> Retry:
        """Rescheduled (a reference not linked yet, throttling): status shows why until it is written
        (`_done` clears the row) or given up on (`_dead` replaces it)."""
        self._count(scenario.key, message.run_id, retried=1)
        self._record_failure_if_possible(
            Failure(
                scenario=scenario.key,
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

    def _transient(self, scenario: ScenarioConfig, message: ItemMessage, exc: TransientError) -> Outcome:
        if message.attempt >= self.services.settings.max_attempts:
            return self._dead(
                scenario, message, f"gave up after {message.attempt} attempts: {exc}", "exhausted"
            )
        delay = max(exc.retry_after or 0.0, backoff(message.attempt) if exc.retry_after is None else 0.0)
        telemetry.failure(scenario.name, message.direction, "transient")
        return self._waiting(scenario, message, redact(str(exc)), delay)

    def _dead(
        self, scenario: ScenarioConfig | None, message: ItemMessage, reason: str, kind: str = "permanent"
    ) -> DeadLetter:
        services = self.services
        key = scenario.key if scenario is not None else message.scenario
        reason = redact(reason)  # systems sometimes echo credentials in their error text
        self._record_failure(
            Failure(
                scenario=key,
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
            link = services.links.find(key, src_side, message.source_id)
            if link is not None:
                link.last_error = reason[:2000]
                link.last_error_at = services.clock()
                self._journal(link, message, "failed", [])
                services.links.save(link)
        except LinkConflict:
            pass  # the failure row above already records it
        self._count(key, message.run_id, failed=1)
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
    return value if value.tzinfo else value.replace(tzinfo=UTC)
