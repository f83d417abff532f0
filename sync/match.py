"""Match keys: before a create, an item already on the target whose key field holds the same value as the
source's is linked instead of copied. The key names a rule of the scenario's field map (by either side's
field), so the source value is converted the way the rule converts it and compared with the target field.
One target carrying the value is linked; two or more, or one already linked to another item, is reported on
the item, never guessed.
"""

from __future__ import annotations

from typing import Any

from connectors.contract import Connector, FieldFinder, Item, match_value
from mapping.fieldmap import FieldRule, SyncDirection
from mapping.transforms import Context
from state.links import LinkStore, Side
from sync.config import ConfigError, ScenarioConfig, TandemConfig


def match_rule(config: TandemConfig, scenario: ScenarioConfig, key: str) -> FieldRule:
    """The field-map rule a match key names (its left or right field). ConfigError names the key when no
    rule (or more than one) has that field."""
    rules = [r for r in config.rules(scenario) if key in (r.left, r.right)]
    if not rules:
        fields = sorted({f for r in config.rules(scenario) for f in (r.left, r.right)})
        raise ConfigError(
            f"match key '{key}' is no field of scenario '{scenario.name}''s field map "
            f"(its fields: {', '.join(fields) or 'none'})"
        )
    if len({r.key for r in rules}) > 1:
        raise ConfigError(
            f"match key '{key}' is in several rules of scenario '{scenario.name}': name one side"
        )
    return rules[0]


def match_key_of(scenario: ScenarioConfig, requested: str | None) -> str | None:
    """The key a create matches on: the run's (a bulk job's `match_key`), else the scenario's `match_on`."""
    return requested or scenario.match_on


def source_value(rule: FieldRule, direction: SyncDirection, source: Item, ctx: Context) -> Any:
    """The source's key value as the target holds it (the rule's transform applied, whichever way the rule
    itself flows); None when the source has none."""
    raw = source.fields.get(rule.source_field(direction))
    if raw is None or raw == "":
        return None
    value = rule.convert(raw, direction, ctx)
    return None if value is None or value == "" else value


def find_match(
    links: LinkStore,
    scenario: ScenarioConfig,
    direction: SyncDirection,
    rule: FieldRule,
    value: Any,
    target_conn: Connector,
    tgt_entity: str,
    container: str | None,
    known: list[Item] | None = None,
) -> Item | str | None:
    """The one target item (in `container`) whose key field holds `value`: the item, None when there is
    none, or the reason it cannot be linked (several carry the value, or it is linked to another item).
    `known`: the items a batch lookup found with the value in any container (`prefetch_matches`)."""
    if value is None:
        return None
    if not isinstance(target_conn, FieldFinder):
        return f"configuration: the target of scenario '{scenario.name}' cannot look items up by a match key"
    field = rule.target_field(direction)
    if known is not None:
        where = (container or "").lower()
        found = [i for i in known if not container or (i.container or "").lower() == where]
    else:
        found = target_conn.find_by_field(tgt_entity, field, [value], container).get(match_value(value), [])
    if not found:
        return None
    if len(found) > 1:
        ids = ", ".join(sorted((i.id for i in found), key=_id_order))
        return (
            f"ambiguous match key: {len(found)} {tgt_entity}s have {field} = {value!r} ({ids}); none linked"
        )
    target = found[0]
    tgt_side: Side = "right" if direction == "left_to_right" else "left"
    src_side: Side = "left" if tgt_side == "right" else "right"
    linked = links.find(scenario.key, tgt_side, target.id)
    if linked is not None and linked.id_of(src_side):
        return (
            f"ambiguous match key: {tgt_entity} {target.id} with {field} = {value!r} is already linked to "
            f"{src_side} {linked.id_of(src_side)}; none linked"
        )
    return target


def prefetch_matches(
    config: TandemConfig,
    scenario: ScenarioConfig,
    requests: list[tuple[str | None, Item | None, bool]],
    direction: SyncDirection,
    target_conn: Connector,
    tgt_entity: str,
) -> dict[tuple[str, str], list[Item]]:
    """The target items carrying the key values of a batch's creates, in one lookup per key (and 50 values):
    (key, match_value) -> items in any container. `requests`: (the message's match key, its source item,
    whether it is to be created)."""
    if not isinstance(target_conn, FieldFinder):
        return {}
    src_side: Side = "left" if direction == "left_to_right" else "right"
    wanted: dict[str, tuple[FieldRule, list[Any]]] = {}
    for requested, source, creates in requests:
        key = match_key_of(scenario, requested)
        if not key or source is None or not creates:
            continue
        try:
            rule = match_rule(config, scenario, key)
        except ConfigError:
            continue  # the decision reports it, item by item
        container = scenario.target_container(direction, source.container)
        sides = (source.container, container) if src_side == "left" else (container, source.container)
        value = source_value(
            rule, direction, source, Context(left_container=sides[0], right_container=sides[1])
        )
        if value is not None:
            wanted.setdefault(key, (rule, []))[1].append(value)
    out: dict[tuple[str, str], list[Item]] = {}
    for key, (rule, values) in wanted.items():
        found = target_conn.find_by_field(tgt_entity, rule.target_field(direction), values, None)
        for value in values:
            out[(key, match_value(value))] = found.get(match_value(value), [])
    return out


def _id_order(item_id: str) -> tuple[int, str]:
    return (int(item_id), "") if item_id.isdigit() else (0, item_id)


__all__ = ["find_match", "match_key_of", "match_rule", "prefetch_matches", "source_value"]
