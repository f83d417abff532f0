"""What the engine decided for one item message: the write with its per-field before/after, the link changes
and the follow-up messages. Deciding (`sync.decide`) builds a plan without side effects; the applier
carries it out; a dry run prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.contract import Connector, Item, Write
from mapping.fieldmap import FieldRule
from state.links import Link
from sync.config import ScenarioConfig
from sync.messages import ItemMessage

# create: a new target item (with a pending link saved first); update: write the linked target (or only
# record the sync on the link); relink: an item already on the target (found by its stamp or natural key, or
# the origin of a stamped source) is linked, then decided again; done: nothing to write; wait: try again
# later; dead: cannot succeed.
Action = Literal["create", "update", "relink", "done", "wait", "dead"]


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass
class Merge:
    """The three-way merge of one linked pair, rule by rule."""

    fields: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: list[tuple[FieldRule, Any, Any, Any, Any]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # rule keys whose flagged conflict went away
    bounce: bool = False  # the target side won a conflict: run the reverse direction for the target
    conflict_count: int = 0
    written_conflicts: int = 0  # of conflict_count: settled by a write of this plan


@dataclass
class ItemPlan:
    message: ItemMessage
    scenario: ScenarioConfig  # the view of the message's entity pair
    action: Action
    result: str = ""  # done: unchanged | skipped
    reason: str = ""  # wait / dead / relink: why
    kind: str = "permanent"  # dead: permanent | config
    delay: float = 0.0  # wait: seconds
    link: Link | None = None  # the link as it is to be created (new_link) or saved
    new_link: bool = False
    source: Item | None = None
    target: Item | None = None  # update: as read; relink: the item found
    write: Write | None = None
    merge: Merge | None = None
    ref_snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[FieldChange] = field(default_factory=list)
    follow_ups: list[ItemMessage] = field(default_factory=list)  # sent once the plan is carried out
    warnings: list[str] = field(default_factory=list)
    target_conn: Connector | None = None
    tgt_entity: str = ""

    @property
    def writes(self) -> bool:
        return self.write is not None

    def summary(self) -> dict[str, Any]:
        """The plan as a dry run shows it (JSON-safe)."""
        m = self.message
        return {
            "scenario": m.scenario,
            "entity": self.scenario.pair,
            "direction": m.direction,
            "source_id": m.source_id,
            "target_id": self.target.id if self.target is not None else None,
            "action": self.action,
            "result": self.result or None,
            "reason": self.reason or None,
            "changes": [
                {"field": c.field, "before": _plain(c.before), "after": _plain(c.after)} for c in self.changes
            ],
            "link": None
            if self.link is None
            else {"new": self.new_link, "left_id": self.link.left_id, "right_id": self.link.right_id},
            "follow_ups": [
                {"direction": f.direction, "entity": f.entity, "source_id": f.source_id}
                for f in self.follow_ups
            ],
            "warnings": list(self.warnings),
        }


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def render_plans(plans: list[dict[str, Any]]) -> str:
    """Plans as a per-field diff for people."""
    if not plans:
        return "Nothing to do: no changes found."
    out = []
    for p in plans:
        target = p.get("target_id") or ("(new)" if p["action"] == "create" else "-")
        head = f"{p['direction']:<14} {p['entity']:<12} {p['source_id']} -> {target}: {p['action']}"
        if p["action"] == "not_attempted":
            head = head.removesuffix("not_attempted") + "not attempted"
        elif p.get("result"):
            head += f" ({p['result']})"
        if p.get("reason"):
            head += f": {p['reason']}"
        out.append(head)
        for c in p.get("changes") or []:
            out.append(f"    {c['field']}: {_show(c['before'])} -> {_show(c['after'])}")
        for w in p.get("warnings") or []:
            out.append(f"    warning: {w}")
    writes = sum(1 for p in plans if p.get("changes"))
    out.append(f"{len(plans)} item(s) looked at, {writes} with changes; nothing was written (dry run).")
    return "\n".join(out)


def render_preflight(checks: list[dict[str, Any]]) -> str:
    """Pre-flight results of a dry run, per direction, for people ("" when no connector has one)."""
    out = []
    for c in checks:
        problems, notes = c.get("problems") or [], c.get("notes") or []
        state = f"{len(problems)} problem(s)" if problems else "ready"
        out.append(f"Pre-flight {c['source']} -> {c['target']} ({c['direction']}): {state}")
        out += [f"  - {p}" for p in problems]
        out += [f"  {n}" for n in notes]
    return "\n".join(out)


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(str(text).split())
    return json.dumps(text if len(text) <= 80 else text[:79] + "…")
