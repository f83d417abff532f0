"""Three-way merge of one field rule: the snapshot of the last sync is the base.

Pure decisions, no I/O: `decide()` returns what to write and how to update the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mapping.fieldmap import ConflictRule, SyncDirection

Action = Literal["write", "none", "conflict_flagged", "target_wins"]


@dataclass(frozen=True)
class Base:
    """What the snapshot holds for one rule: source and target values right after the last sync."""

    source: Any
    target: Any


@dataclass(frozen=True)
class Decision:
    action: Action
    value: Any = None  # for "write": the converted value to put on the target
    conflict: bool = False  # both sides changed to different values
    # snapshot to store for the rule after this apply: (source, target), or None to keep the old one
    new_base: tuple[Any, Any] | None = None
    winner: Literal["source", "target"] | None = None


def same(a: Any, b: Any) -> bool:
    """Equality that treats empty strings and None alike and ignores float noise."""
    a = None if a == "" else a
    b = None if b == "" else b
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def winner_of(
    rule: ConflictRule,
    direction: SyncDirection,
    source_changed_at: datetime | None,
    target_changed_at: datetime | None,
) -> Literal["source", "target"] | None:
    """Which side a conflict goes to; None means flag it for a person."""
    source_side = "left" if direction == "left_to_right" else "right"
    if rule == "flag":
        return None
    if rule == "source_wins":
        return "source"
    if rule == "target_wins":
        return "target"
    if rule in ("left_wins", "right_wins"):
        return "source" if rule.startswith(source_side) else "target"
    # newest_wins: the later change wins; a tie goes to the left side so both directions agree
    if source_changed_at and target_changed_at and source_changed_at != target_changed_at:
        return "source" if source_changed_at > target_changed_at else "target"
    return "source" if source_side == "left" else "target"


def decide(
    source: Any,
    target: Any,
    converted: Any,
    base: Base | None,
    winner: Literal["source", "target"] | None,
) -> Decision:
    """Decide one field.

    source/target: current values on each side; converted: source as the target should hold it;
    base: the snapshot (None when the pair was never synced); winner: the conflict rule's answer.
    """
    if base is None:
        # Never synced: the source value is the one to bring across (creates, new rules).
        if same(converted, target):
            return Decision("none", new_base=(source, target))
        return Decision("write", value=converted, new_base=(source, converted))

    source_changed = not same(source, base.source)
    target_changed = not same(target, base.target)

    if not source_changed:
        # Nothing new on the source (or the echo of our own write): never write.
        return Decision("none")
    if same(converted, target):
        # Both already agree (e.g. the same edit on both sides, or our earlier write): just record it.
        return Decision("none", new_base=(source, target))
    if not target_changed:
        return Decision("write", value=converted, new_base=(source, converted))

    # Both changed to different values: the conflict rule decides.
    if winner == "source":
        return Decision(
            "write", value=converted, conflict=True, new_base=(source, converted), winner="source"
        )
    if winner == "target":
        return Decision("target_wins", conflict=True, winner="target")
    return Decision("conflict_flagged", conflict=True)
