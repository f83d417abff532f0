"""Session keys: the unit that must be written serially on the target system.

Links are one-to-one, so within one direction a source item always writes the same target item:
keying item-unit sessions on the source id serializes writes per target item without a lookup. The key holds
a bucket of the source id (`hash(id) mod SESSION_BUCKETS`), not the id itself: still serial per target item,
and a session's batch then holds many items, whose source values are read in one call per 200 ids.
Container-unit targets (a PWA project) share one session per target container.

The key is computed when the change is listed (poll, hook), from the source container through the container
pairs; a create routed by a source field (`container_field`) may land in another container than its key
names. Such a write is still correct (the target connector serializes writes per container in the process
and the merge re-reads both sides), it only loses the batching of one container's writes into one cycle.

`session_key` builds every key: polls, hooks, manual runs and the engine's follow-ups (bounces, referenced
items) alike. Pairs other than a scenario's first carry their pair in the key.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from connectors.contract import Connector, SessionUnit
from mapping.fieldmap import SyncDirection
from sync.config import ScenarioConfig

log = logging.getLogger("tandem.sessions")

SESSION_BUCKETS = 16  # item-unit sessions per scenario pair and direction: the parallelism of its applies


def session_key(
    scenario: ScenarioConfig,
    direction: SyncDirection,
    target_unit: SessionUnit,
    source_id: str,
    source_container: str | None,
) -> str:
    if target_unit == "container":
        target = scenario.target_container(direction, source_container) or source_container or "-"
        return f"{scenario.key}|{direction}|c|{target}"
    return f"{scenario.key}|{direction}|i|{bucket(source_id)}"


def bucket(source_id: str) -> int:
    return int.from_bytes(hashlib.sha256(source_id.encode()).digest()[:4], "big") % SESSION_BUCKETS


def target_unit(target: Connector, entity: str) -> SessionUnit:
    """What the target system writes serially for `entity`: one item, or a whole container.

    A connector that declares `session_units` is not called (the hooks intake must answer while the
    target is down); otherwise its entities are read, and a failure falls back to "item" (correct, only
    without batching per container).
    """
    declared = getattr(target, "session_units", None)
    if isinstance(declared, Mapping):
        return declared.get(entity, "item")  # type: ignore[no-any-return]
    try:
        return next((e.session_unit for e in target.entities() if e.name == entity), "item")
    except Exception as exc:  # the target is down: key by item rather than fail the caller
        log.warning("session unit of %s unknown (%s); writing per item", entity, type(exc).__name__)
        return "item"
