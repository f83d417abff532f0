"""Poll one scenario direction: list changes since the watermark and enqueue one item message each.

The watermark advances only after a page's messages are enqueued, and the next poll starts a
little before it (overlap) so clock skew and lagging feeds lose nothing; duplicates are dropped by
message-id deduplication and by the merge.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from connectors.contract import Scope, Watermark
from connectors.errors import ConnectorError
from state.queue import QueueMessage
from state.redact import redact
from state.runs import Run
from sync import telemetry
from sync.config import ScenarioConfig
from sync.messages import ItemMessage, PollMessage
from sync.services import Services
from sync.sessions import session_key, target_unit

log = logging.getLogger("tandem.poll")
OVERLAP = timedelta(minutes=2)


def sides(direction: str) -> tuple[str, str]:
    return ("left", "right") if direction == "left_to_right" else ("right", "left")


def item_queue_message(services: Services, message: ItemMessage) -> QueueMessage:
    return QueueMessage(
        queue=services.settings.item_queue,
        body=message.model_dump(mode="json"),
        message_id=message.message_id,
        session_id=message.session,
    )


def poll_queue_message(services: Services, message: PollMessage) -> QueueMessage:
    return QueueMessage(
        queue=services.settings.poll_queue,
        body=message.model_dump(mode="json"),
        message_id=message.message_id,
        session_id=message.session_id,
    )


def scope_for(scenario: ScenarioConfig, direction: str) -> Scope:
    cfg = scenario.directions[direction]  # type: ignore[index]
    return Scope(
        containers=scenario.source_containers(direction),  # type: ignore[arg-type]
        types=scenario.source_types(direction),  # type: ignore[arg-type]
        start=cfg.start,
        filter=cfg.filter,
    )


def poll(services: Services, message: PollMessage, overlap: timedelta = OVERLAP) -> Run:
    config = services.config()
    scenario = config.scenario(message.scenario)
    direction = message.direction
    source_side, target_side = sides(direction)
    source = services.connector(getattr(scenario, source_side))
    target = services.connector(getattr(scenario, target_side))
    source_entity = scenario.entity_of(source_side)  # type: ignore[arg-type]
    unit = target_unit(target, scenario.entity_of(target_side))  # type: ignore[arg-type]
    run = services.runs.start(scenario.name, direction, message.trigger)
    mark, etag = services.watermarks.get(scenario.name, direction)
    since = Watermark(at=mark.at - overlap if mark.at else None, cursor=mark.cursor)
    total = 0
    try:
        for page in source.changes(source_entity, since, scope_for(scenario, direction)):
            items = [
                ItemMessage(
                    scenario=scenario.name,
                    direction=direction,
                    entity=source_entity,
                    source_id=change.id,
                    source_version=change.version,
                    session=session_key(scenario, direction, unit, change.id, change.container),
                    origin=message.trigger,
                    run_id=run.run_id,
                    enqueued_at=services.clock(),
                    deleted=change.deleted,
                )
                for change in page.changes
            ]
            if items:
                services.queue.send([item_queue_message(services, m) for m in items])
            # Only now that the page is safely enqueued may the watermark move past it.
            if page.next_watermark.at is not None or page.next_watermark.cursor is not None:
                etag = services.watermarks.advance(scenario.name, direction, page.next_watermark, etag)
            total += len(items)
            services.runs.add(scenario.name, run.run_id, changes=len(page.changes), enqueued=len(items))
    except ConnectorError as exc:
        error = redact(str(exc))
        log.warning("poll failed", extra={"scenario": scenario.name, "direction": direction, "error": error})
        telemetry.failure(scenario.name, direction, "poll")
        services.runs.finish(scenario.name, run.run_id, "failed", error=error)
        return services.runs.get(scenario.name, run.run_id) or run
    services.runs.finish(scenario.name, run.run_id, "enqueued")
    telemetry.poll_succeeded(scenario.name, direction)
    log.info("poll enqueued", extra={"scenario": scenario.name, "direction": direction, "items": total})
    return services.runs.get(scenario.name, run.run_id) or run
