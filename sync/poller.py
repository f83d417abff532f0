"""Poll one scenario direction: list changes since the watermark and enqueue one item message each.

A scenario of several entity pairs polls them in dependency order, each with its own watermark and run.

The watermark advances only after a page's messages are enqueued, and the next poll starts a
little before it (overlap) so clock skew and lagging feeds lose nothing; duplicates are dropped by
message-id deduplication and by the merge.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from connectors.contract import Change, Connector, Scope, VersionLister, Watermark
from connectors.errors import ConnectorError
from mapping.fieldmap import SyncDirection
from state.redact import redact
from state.runs import Run
from state.version_index import VersionIndex, VersionIndexMoved, shard_of
from sync import telemetry
from sync.config import ScenarioConfig
from sync.enqueue import item_queue_message, poll_queue_message
from sync.messages import MANUAL_TRIGGERS, ItemMessage, PollMessage
from sync.services import Services
from sync.sessions import session_key, target_unit

log = logging.getLogger("tandem.poll")
OVERLAP = timedelta(minutes=2)


def sides(direction: str) -> tuple[str, str]:
    return ("left", "right") if direction == "left_to_right" else ("right", "left")


def scope_for(scenario: ScenarioConfig, direction: str) -> Scope:
    cfg = scenario.directions[direction]  # type: ignore[index]
    return Scope(
        containers=scenario.source_containers(direction),  # type: ignore[arg-type]
        types=scenario.source_types(direction),  # type: ignore[arg-type]
        start=cfg.start,
        filter=cfg.filter,
    )


def poll(services: Services, message: PollMessage, overlap: timedelta = OVERLAP) -> Run:
    """Poll every entity pair of the scenario in dependency order (a pair after those it references), so a
    referenced item is enqueued before the items referencing it. One run per pair; the first pair's run
    is returned (the only one of a single-entity scenario)."""
    scenario = services.config().scenario(message.scenario)
    runs = [poll_pair(services, view, message, overlap) for view in scenario.views()]
    first = scenario.pair_view().key
    return next((r for r in runs if r.scenario == first), runs[0])


def listed_messages(
    services: Services,
    scenario: ScenarioConfig,
    direction: SyncDirection,
    changes: list[Change],
    trigger: str,
    run_id: str,
) -> list[ItemMessage]:
    """Item messages for changes of one pair's source (poll, manual run, dry run)."""
    source_side, target_side = sides(direction)
    target = services.side_connector(scenario, target_side)
    source_entity = scenario.entity_of(source_side)  # type: ignore[arg-type]
    unit = target_unit(target, scenario.entity_of(target_side))  # type: ignore[arg-type]
    manual_rules = trigger in MANUAL_TRIGGERS and any(
        r.mode == "manual" for r in services.config().rules(scenario)
    )
    return [
        ItemMessage(
            scenario=scenario.name,
            direction=direction,
            entity=source_entity,
            source_id=change.id,
            source_version=change.version,
            session=session_key(scenario, direction, unit, change.id, change.container),
            origin=trigger,  # type: ignore[arg-type]
            run_id=run_id,
            enqueued_at=services.clock(),
            deleted=change.deleted,
            variant="manual" if manual_rules else "",
        )
        for change in changes
    ]


def lists_versions(source: Connector, entity: str) -> bool:
    """The source has no change feed for `entity`: polls list (id, version) pairs instead."""
    spec = next((e for e in source.entities() if e.name == entity), None)
    return spec is not None and not spec.change_feed and isinstance(source, VersionLister)


def poll_pair(services: Services, scenario: ScenarioConfig, message: PollMessage, overlap: timedelta) -> Run:
    direction = message.direction
    source_side, _ = sides(direction)
    source = services.side_connector(scenario, source_side)
    source_entity = scenario.entity_of(source_side)  # type: ignore[arg-type]
    if lists_versions(source, source_entity):
        return poll_listing(services, scenario, message, source)
    run = services.runs.start(scenario.key, direction, message.trigger)
    mark, etag = services.watermarks.get(scenario.key, direction)
    since = Watermark(at=mark.at - overlap if mark.at else None, cursor=mark.cursor)
    total = 0
    try:
        for page in source.changes(source_entity, since, scope_for(scenario, direction)):
            items = listed_messages(services, scenario, direction, page.changes, message.trigger, run.run_id)
            if items:
                services.queue.send([item_queue_message(services, m) for m in items])
            # Only now that the page is safely enqueued may the watermark move past it.
            if page.next_watermark.at is not None or page.next_watermark.cursor is not None:
                etag = services.watermarks.advance(scenario.key, direction, page.next_watermark, etag)
            total += len(items)
            services.runs.add(scenario.key, run.run_id, changes=len(page.changes), enqueued=len(items))
    except ConnectorError as exc:
        error = redact(str(exc))
        log.warning("poll failed", extra={"scenario": scenario.name, "direction": direction, "error": error})
        telemetry.failure(scenario.name, direction, "poll")
        services.runs.finish(scenario.key, run.run_id, "failed", error=error)
        return services.runs.get(scenario.key, run.run_id) or run
    services.runs.finish(scenario.key, run.run_id, "enqueued")
    telemetry.poll_succeeded(scenario.name, direction)
    log.info("poll enqueued", extra={"scenario": scenario.name, "direction": direction, "items": total})
    return services.runs.get(scenario.key, run.run_id) or run


__all__ = ["item_queue_message", "listed_messages", "poll", "poll_queue_message", "scope_for", "sides"]


def poll_listing(
    services: Services, scenario: ScenarioConfig, message: PollMessage, source: Connector
) -> Run:
    """Poll a source with no change feed: list every in-scope (id, version) and enqueue only the items whose
    version differs from the one the last poll saw (kept in the version index: a fixed number of table rows,
    so a poll that finds no change costs the listing calls and a few table calls, whatever the item count).
    The index is saved once the changed items are enqueued, like a watermark."""
    direction = message.direction
    source_side, _ = sides(direction)
    entity = scenario.entity_of(source_side)  # type: ignore[arg-type]
    assert isinstance(source, VersionLister)
    index = VersionIndex(services.tables)
    run = services.runs.start(scenario.key, direction, message.trigger)
    listed = enqueued = 0
    try:
        shards, etags = index.load(scenario.key, direction)
        seen: set[str] = set()
        changed: set[int] = set()
        for page in source.list_versions(entity, scope_for(scenario, direction)):
            fresh = []
            for change in page:
                seen.add(change.id)
                shard = shard_of(change.id)
                known = shards.setdefault(shard, {})
                if known.get(change.id) != change.version:
                    known[change.id] = change.version
                    changed.add(shard)
                    fresh.append(change)
            listed += len(page)
            items = listed_messages(services, scenario, direction, fresh, message.trigger, run.run_id)
            if items:
                services.queue.send([item_queue_message(services, m) for m in items])
            enqueued += len(items)
        for shard, known in shards.items():  # items no longer listed (deleted, out of scope): forgotten
            gone = [i for i in known if i not in seen]
            for item_id in gone:
                del known[item_id]
            if gone:
                changed.add(shard)
        index.save(scenario.key, direction, shards, etags, changed)
    except (ConnectorError, VersionIndexMoved) as exc:
        error = redact(str(exc))
        log.warning("poll failed", extra={"scenario": scenario.name, "direction": direction, "error": error})
        telemetry.failure(scenario.name, direction, "poll")
        services.runs.add(scenario.key, run.run_id, changes=listed, enqueued=enqueued)
        services.runs.finish(scenario.key, run.run_id, "failed", error=error)
        return services.runs.get(scenario.key, run.run_id) or run
    if listed or enqueued:
        services.runs.add(scenario.key, run.run_id, changes=enqueued, enqueued=enqueued)
    services.runs.finish(scenario.key, run.run_id, "enqueued")
    telemetry.poll_succeeded(scenario.name, direction)
    log.info("poll enqueued", extra={"scenario": scenario.name, "direction": direction, "items": enqueued})
    return run.model_copy(
        update={"status": "enqueued", "counts": {"changes": enqueued, "enqueued": enqueued}}
    )
