"""Transforms for the Project ↔ Planner scenario rules: labels as progress markers, Planner's three-state
progress, and assignees as e-mail lists. Registered in `mapping.transforms` under their `kind`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _percent(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return max(0.0, min(100.0, float(value)))
    except (TypeError, ValueError):
        return None


def _default_markers() -> dict[str, float]:
    # Planner's label colours by index: 1 Pink, 2 Red, 3 Yellow, 4 Green, 5 Blue, 6 Purple.
    return {
        "category1": 0,
        "category2": 25,
        "category3": 50,
        "category4": 75,
        "category5": 90,
        "category6": 100,
    }


class LabelsProgress(BaseModel):
    """ "Use task labels as progress markers": % complete ↔ exactly one marker label.

    Percent → labels: the marker with the highest percentage at or below the value, as a patch that sets it
    and clears the other markers (labels that are not markers are left alone). Labels → percent: the
    applied marker's percentage (the furthest one when several are applied); no marker → None (no write).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["labels_progress"] = "labels_progress"
    markers: dict[str, float] = Field(default_factory=_default_markers)
    percent_side: Literal["left", "right"] = "left"

    @field_validator("markers")
    @classmethod
    def _markers(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("markers needs at least one label, e.g. {category4: 75}")
        bad = [k for k in v if not (k.startswith("category") and k[8:].isdigit() and 1 <= int(k[8:]) <= 25)]
        if bad:
            raise ValueError(f"markers: {bad} are not Planner labels (category1 to category25)")
        return v

    def labels_of(self, value: Any) -> dict[str, bool] | None:
        percent = _percent(value)
        if percent is None:
            return None
        bands = sorted(self.markers.items(), key=lambda kv: kv[1])
        chosen = bands[0][0]
        for label, threshold in bands:
            if percent >= threshold:
                chosen = label
        return {label: label == chosen for label in self.markers}

    def percent_of(self, value: Any) -> float | None:
        if isinstance(value, dict):
            labels = [k for k, v in value.items() if v]
        elif isinstance(value, list | tuple | set):
            labels = list(value)
        else:
            return None
        found = [self.markers[label] for label in labels if label in self.markers]
        return max(found) if found else None

    def to_right(self, value: Any, ctx: Any) -> Any:
        return self.labels_of(value) if self.percent_side == "left" else self.percent_of(value)

    def to_left(self, value: Any, ctx: Any) -> Any:
        return self.percent_of(value) if self.percent_side == "left" else self.labels_of(value)


class PlannerProgress(BaseModel):
    """% complete ↔ Planner progress, which its UI shows as Not started (0), In progress, Completed (100).

    To Planner: 0 → 0, `done_at` and above → 100, anything between → `in_progress` (50), so the value is
    one the Planner UI keeps. From Planner: 0 and 100 as they are; any other value is taken as it is
    (the UI writes 50; the API may hold 10 or 78).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["planner_progress"] = "planner_progress"
    in_progress: int = Field(50, ge=1, le=99)
    done_at: float = Field(100, gt=0, le=100)
    percent_side: Literal["left", "right"] = "left"

    def planner_of(self, value: Any) -> int | None:
        percent = _percent(value)
        if percent is None:
            return None
        if percent >= self.done_at:
            return 100
        return 0 if percent <= 0 else self.in_progress

    def percent_of(self, value: Any) -> float | None:
        return _percent(value)

    def to_right(self, value: Any, ctx: Any) -> Any:
        return self.planner_of(value) if self.percent_side == "left" else self.percent_of(value)

    def to_left(self, value: Any, ctx: Any) -> Any:
        return self.percent_of(value) if self.percent_side == "left" else self.planner_of(value)


class EmailList(BaseModel):
    """Assignees as e-mail lists: lower case, no duplicates, sorted; `map` renames addresses that differ
    between the two directories (left → right). A side whose `…_format` is `text` holds "a; b" strings."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["email_list"] = "email_list"
    map: dict[str, str] = Field(default_factory=dict)
    left_format: Literal["list", "text"] = "list"
    right_format: Literal["list", "text"] = "list"

    @staticmethod
    def _emails(value: Any) -> list[str]:
        if value is None:
            return []
        items = value.split(";") if isinstance(value, str) else list(value)
        return sorted({str(e).strip().lower() for e in items if str(e).strip()})

    @staticmethod
    def _format(emails: list[str], fmt: str) -> Any:
        if fmt == "text":
            return "; ".join(emails) or None
        return emails

    def to_right(self, value: Any, ctx: Any) -> Any:
        rename = {k.lower(): v.lower() for k, v in self.map.items()}
        emails = sorted({rename.get(e, e) for e in self._emails(value)})
        return self._format(emails, self.right_format)

    def to_left(self, value: Any, ctx: Any) -> Any:
        rename = {v.lower(): k.lower() for k, v in self.map.items()}
        emails = sorted({rename.get(e, e) for e in self._emails(value)})
        return self._format(emails, self.left_format)
