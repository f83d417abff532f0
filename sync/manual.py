"""Manual runs of a scenario beyond a poll: a dry run (the plans of what a run would do, with nothing
changed on either system or in the tables) and a sync of selected items (optionally forced: the mapped
source values are written even where the snapshot says the source did not change).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from connectors.contract import Change, VersionLister, Watermark
from mapping.fieldmap import SyncDirection
from state.version_index import VersionIndex, shard_of
from sync.applier import Applier
from sync.config import ConfigError, ScenarioConfig
from sync.decide import Decider, Prefetch
from sync.enqueue import enqueue_items
from sync.messages import ItemMessage, Origin
from sync.poller import OVERLAP, listed_messages, lists_versions, scope_for, sides
from sync.services import Services
from sync.setup import PreflightCheck, preflight_checks


def _views(scenario: ScenarioConfig, entity: str | None) -> list[ScenarioConfig]:
    if entity is None:
        return scenario.views()
    return [scenario.pair_view(entity)]


def selected_messages(
    services: Services,
    view: ScenarioConfig,
    direction: SyncDirection,
    items: Sequence[str],
    *,
    force: bool,
    run_id: str = "",
    version: str | None = None,
    origin: Origin = "manual",
    match_key: str | None = None,
) -> list[ItemMessage]:
    """Messages for items named by a person (source ids of `direction`'s source side). `version` stands for
    the request in the message ids: by default a fresh one per request (never dropped as a repeat); a bulk
    job gives its own, so a batch sent twice is applied once."""
    version = version or f"selected@{services.clock().isoformat()}"
    changes = [Change(id=str(i), version=version) for i in dict.fromkeys(items)]
    messages = listed_messages(services, view, direction, changes, origin, run_id)
    update: dict[str, Any] = {"variant": "force"} if force else {}
    if match_key:
        update["match_key"] = match_key
    return [m.model_copy(update=update) for m in messages] if update else messages


def dry_run(
    services: Services,
    scenario_name: str,
    directions: Sequence[SyncDirection],
    *,
    items: Sequence[str] = (),
    force: bool = False,
    entity: str | None = None,
    checks: Sequence[PreflightCheck] | None = None,
    match_key: str | None = None,
) -> list[dict[str, Any]]:
    """What a run would do, item by item: the per-field before/after, link changes and follow-ups. Reads
    both systems and the tables; writes, enqueues and links nothing, and leaves the watermarks where they are.
    An item the pre-flight (`checks`, computed when not given) blocks is shown as not attempted, with why;
    an item that would be linked to one already on the target shows what the run then writes to it.
    """
    scenario = services.config().scenario(scenario_name)
    if checks is None:
        checks = preflight_checks(services, scenario, directions)
    applier = Applier(services)
    plans: list[dict[str, Any]] = []
    for direction in directions:
        source_side, _ = sides(direction)
        blocking = [c for c in checks if c.direction == direction and c.blocked]
        views = [scenario.pair_view(entity)] if items else _views(scenario, entity)
        for view in views:
            if items:
                messages = selected_messages(
                    services, view, direction, items, force=force, match_key=match_key
                )
            else:
                messages = listed_messages(
                    services, view, direction, _pending_changes(services, view, direction), "manual", ""
                )
            source_entity = view.entity_of(source_side)  # type: ignore[arg-type]
            # Read together, as the item workers read a batch: links, items and match keys in few calls.
            pre = applier.prefetch(services.config(), messages) if len(messages) > 1 else Prefetch()
            for message in messages:
                summary = _planned(services, message, pre)
                blocked = next(
                    (b for c in blocking if (b := c.blocks(source_entity, message.source_id)) is not None),
                    None,
                )
                if blocked is not None and summary["action"] in ("create", "update", "relink", "wait"):
                    summary.update(
                        action="not_attempted",
                        result="not attempted",
                        reason=f"pre-flight: {'; '.join(blocked.reasons)}",
                    )
                plans.append(summary)
    return plans


def _planned(services: Services, message: ItemMessage, pre: Prefetch) -> dict[str, Any]:
    """The plan of one message; a relink is followed by the update the run decides once it is linked."""
    plan = Decider(services).decide(services.config(), message, pre)
    summary = plan.summary()
    if plan.action != "relink" or plan.link is None:
        return summary
    then = Decider(services).decide(
        services.config(), message, Prefetch(links={message.source_id: plan.link})
    )
    if then.action == "update":
        summary["changes"] = then.summary()["changes"]
        summary["target_id"] = summary["target_id"] or then.summary()["target_id"]
    return summary


def _pending_changes(services: Services, view: ScenarioConfig, direction: SyncDirection) -> list[Change]:
    """What the next poll of this pair would list (from the same watermark), without moving it."""
    source_side, _ = sides(direction)
    source = services.side_connector(view, source_side)
    entity = view.entity_of(source_side)  # type: ignore[arg-type]
    if lists_versions(source, entity):
        # No change feed: what differs from the versions the last poll recorded (the index is not saved).
        assert isinstance(source, VersionLister)
        shards, _ = VersionIndex(services.tables).load(view.key, direction)
        return [
            change
            for page in source.list_versions(entity, scope_for(view, direction))
            for change in page
            if shards.get(shard_of(change.id), {}).get(change.id) != change.version
        ]
    mark, _ = services.watermarks.get(view.key, direction)
    since = Watermark(at=mark.at - OVERLAP if mark.at else None, cursor=mark.cursor)
    found: dict[str, Change] = {}
    for page in source.changes(view.entity_of(source_side), since, scope_for(view, direction)):  # type: ignore[arg-type]
        for change in page.changes:
            found[change.id] = change  # pages overlap: the latest listing of an item counts
    return list(found.values())


AdoMode = Literal["read", "write"]


def ado_direction(services: Services, scenario: ScenarioConfig, mode: AdoMode) -> SyncDirection:
    """The direction of a per-item read (from Azure DevOps) or write (to Azure DevOps). The ADO side is the
    side whose connection is Azure DevOps; when both are (ADO Server ↔ Services), the right side: the
    scenario's target organisation. ConfigError when neither side is Azure DevOps."""
    connections = services.config().connections
    kinds = {side: connections[getattr(scenario, side)].type for side in ("left", "right")}
    ado = "right" if kinds["right"] == "azure_devops" else "left" if kinds["left"] == "azure_devops" else None
    if ado is None:
        raise ConfigError(f"scenario '{scenario.name}' has no Azure DevOps side to {mode}")
    from_ado: SyncDirection = "left_to_right" if ado == "left" else "right_to_left"
    to_ado: SyncDirection = "right_to_left" if ado == "left" else "left_to_right"
    return from_ado if mode == "read" else to_ado


def sync_items(
    services: Services,
    scenario_name: str,
    direction: SyncDirection,
    items: Sequence[str],
    *,
    force: bool = False,
    entity: str | None = None,
) -> dict[str, Any]:
    """Enqueue the selected items of one direction as a manual run (forced: source values written)."""
    scenario = services.config().scenario(scenario_name)
    if direction not in scenario.enabled_directions():
        raise ConfigError(f"direction {direction} is not enabled for scenario '{scenario_name}'")
    view = scenario.pair_view(entity)  # the first pair unless named
    run = services.runs.start(view.key, direction, "manual")
    messages = selected_messages(services, view, direction, items, force=force, run_id=run.run_id)
    enqueue_items(services, messages)
    services.runs.add(view.key, run.run_id, changes=len(messages), enqueued=len(messages))
    services.runs.finish(view.key, run.run_id, "enqueued")
    return {"run_id": run.run_id, "items": [m.source_id for m in messages], "force": force}


__all__ = ["ado_direction", "dry_run", "selected_messages", "sync_items"]
