"""Value conversions applied when a field's value crosses from one side to the other.

A transform is declared in configuration as `{name: {params}}` and converts both ways: `to_right`
for left→right writes and `to_left` for right→left writes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mapping.planner_rules import EmailList, LabelsProgress, PlannerProgress


class Context(BaseModel):
    """What a conversion may need beyond the value: the containers (projects) on each side."""

    left_container: str | None = None
    right_container: str | None = None


class ValueMap(BaseModel):
    """Maps values one to one (e.g. workflow states); `reverse` overrides the inverse map."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["value_map"] = "value_map"
    map: dict[str, Any]
    reverse: dict[str, Any] = Field(default_factory=dict)
    default_right: Any = None  # used when a left value has no entry (None: pass the value through)
    default_left: Any = None

    def to_right(self, value: Any, ctx: Context) -> Any:
        if value is None:
            return None
        key = str(value)
        if key in self.map:
            return self.map[key]
        return self.default_right if self.default_right is not None else value

    def to_left(self, value: Any, ctx: Context) -> Any:
        if value is None:
            return None
        key = str(value)
        if key in self.reverse:
            return self.reverse[key]
        inverse = {str(v): k for k, v in self.map.items()}
        if key in inverse:
            return inverse[key]
        return self.default_left if self.default_left is not None else value


class SwapContainer(BaseModel):
    """Tree paths (area, iteration) whose first segment is the project name: swap it for the other side's."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["swap_container"] = "swap_container"
    separator: str = "\\"

    def _swap(self, value: Any, old: str | None, new: str | None) -> Any:
        if value is None or not isinstance(value, str) or old is None or new is None:
            return value
        head, sep, tail = value.partition(self.separator)
        if head.lower() != old.lower():
            return new  # a path outside the project: fall back to the project root
        return new + (sep + tail if sep else "")

    def to_right(self, value: Any, ctx: Context) -> Any:
        return self._swap(value, ctx.left_container, ctx.right_container)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return self._swap(value, ctx.right_container, ctx.left_container)


class Identity(BaseModel):
    """People by e-mail; `map` renames addresses that differ between the two directories."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["identity"] = "identity"
    map: dict[str, str] = Field(default_factory=dict)

    def to_right(self, value: Any, ctx: Context) -> Any:
        if not value:
            return None
        email = str(value).strip().lower()
        return {k.lower(): v.lower() for k, v in self.map.items()}.get(email, email)

    def to_left(self, value: Any, ctx: Context) -> Any:
        if not value:
            return None
        email = str(value).strip().lower()
        return {v.lower(): k.lower() for k, v in self.map.items()}.get(email, email)


class Tags(BaseModel):
    """Semicolon-separated tag lists compared as sets, written sorted."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["tags"] = "tags"

    @staticmethod
    def _norm(value: Any) -> Any:
        if value is None:
            return None
        tags = sorted({t.strip() for t in str(value).split(";") if t.strip()}, key=str.lower)
        return "; ".join(tags) if tags else None

    def to_right(self, value: Any, ctx: Context) -> Any:
        return self._norm(value)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return self._norm(value)


class Scale(BaseModel):
    """Numbers in different units (e.g. minutes ↔ hours): right = left * factor."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["scale"] = "scale"
    factor: float

    def to_right(self, value: Any, ctx: Context) -> Any:
        return None if value is None else round(float(value) * self.factor, 6)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return None if value is None else round(float(value) / self.factor, 6)


def _default_states() -> dict[float, str]:
    return {0: "New", 1: "Active", 100: "Closed"}


def _default_percents() -> dict[str, float]:
    return {
        "New": 0,
        "Proposed": 0,
        "To Do": 0,
        "Approved": 0,
        "Active": 50,
        "Committed": 50,
        "In Progress": 50,
        "Doing": 50,
        "Resolved": 100,
        "Done": 100,
        "Closed": 100,
        "Completed": 100,
    }


class PercentToState(BaseModel):
    """% complete ↔ a workflow state, with thresholds configurable both ways.

    Percent → state: `states` maps the lowest percentage of each band to its state; a percentage gets the
    state of the highest threshold at or below it (default 0 → New, 1-99 → Active, 100 → Closed).
    State → percent: `percents` gives the percentage each state stands for (compared without regard to
    case); a state not listed gives `default_percent`, and None leaves the percentage unchanged (no write).
    `percent_side` says which side of the rule holds the percentage.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["percent_to_state"] = "percent_to_state"
    states: dict[float, str] = Field(default_factory=_default_states)
    percents: dict[str, float] = Field(default_factory=_default_percents)
    default_percent: float | None = None
    percent_side: Literal["left", "right"] = "left"

    def state_of(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            percent = float(value)
        except (TypeError, ValueError):
            return None
        bands = sorted(self.states.items())
        chosen = bands[0][1] if bands else None
        for threshold, state in bands:
            if percent >= threshold:
                chosen = state
        return chosen

    def percent_of(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        wanted = str(value).strip().lower()
        for state, percent in self.percents.items():
            if state.strip().lower() == wanted:
                return percent
        return self.default_percent

    def to_right(self, value: Any, ctx: Context) -> Any:
        return self.state_of(value) if self.percent_side == "left" else self.percent_of(value)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return self.percent_of(value) if self.percent_side == "left" else self.state_of(value)


# -- transforms added for field-level integrations (issue 13) ------------------------------------------


class HtmlText(BaseModel):
    """HTML on one side, plain text on the other: tags stripped one way, text escaped (lines → <br>) back."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["html_text"] = "html_text"
    html_side: Literal["left", "right"] = "left"

    @staticmethod
    def plain(value: Any) -> Any:
        if value is None:
            return None
        import html
        import re

        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", str(value))
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
        return "\n".join(line.rstrip() for line in text.strip().splitlines())

    @staticmethod
    def markup(value: Any) -> Any:
        if value is None:
            return None
        import html

        return "<br>".join(html.escape(line) for line in str(value).splitlines())

    def to_right(self, value: Any, ctx: Context) -> Any:
        return self.plain(value) if self.html_side == "left" else self.markup(value)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return self.markup(value) if self.html_side == "left" else self.plain(value)


class Constant(BaseModel):
    """A fixed value: `always` writes it whatever the source holds, else only when the source is empty."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["constant"] = "constant"
    value: Any
    always: bool = False

    def _value(self, value: Any) -> Any:
        return self.value if self.always or value is None or value == "" else value

    def to_right(self, value: Any, ctx: Context) -> Any:
        return self._value(value)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return self._value(value)


class TimeZone(BaseModel):
    """Dates and times read in one zone and written in the other (a date alone is kept as the day)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["time_zone"] = "time_zone"
    left: str = "UTC"  # IANA zone names
    right: str = "UTC"

    @model_validator(mode="after")
    def _zones(self) -> TimeZone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        for zone in (self.left, self.right):
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{zone}' (an IANA name, e.g. Europe/Paris)") from None
        return self

    @staticmethod
    def _convert(value: Any, source: str, target: str) -> Any:
        from datetime import datetime
        from zoneinfo import ZoneInfo

        if value is None or value == "":
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(source))
        return moment.astimezone(ZoneInfo(target)).isoformat()

    def to_right(self, value: Any, ctx: Context) -> Any:
        return self._convert(value, self.left, self.right)

    def to_left(self, value: Any, ctx: Context) -> Any:
        return self._convert(value, self.right, self.left)


DurationUnit = Literal["minutes", "hours", "days", "weeks"]


class Duration(BaseModel):
    """Work or durations in named units (PWA minutes ↔ ADO hours); a day is `hours_per_day` hours."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["duration"] = "duration"
    left: DurationUnit = "minutes"
    right: DurationUnit = "hours"
    hours_per_day: float = 8
    days_per_week: float = 5

    def _minutes(self, unit: str) -> float:
        day = 60 * self.hours_per_day
        return {"minutes": 1.0, "hours": 60.0, "days": day, "weeks": day * self.days_per_week}[unit]

    def to_right(self, value: Any, ctx: Context) -> Any:
        if value is None or value == "":
            return None
        return round(float(value) * self._minutes(self.left) / self._minutes(self.right), 6)

    def to_left(self, value: Any, ctx: Context) -> Any:
        if value is None or value == "":
            return None
        return round(float(value) * self._minutes(self.right) / self._minutes(self.left), 6)


Transform = (
    ValueMap
    | SwapContainer
    | Identity
    | Tags
    | Scale
    | PercentToState
    | LabelsProgress
    | PlannerProgress
    | EmailList
    | HtmlText
    | Constant
    | TimeZone
    | Duration
)
TRANSFORMS: dict[str, type[BaseModel]] = {
    "percent_to_state": PercentToState,
    "value_map": ValueMap,
    "swap_container": SwapContainer,
    "identity": Identity,
    "tags": Tags,
    "scale": Scale,
    "labels_progress": LabelsProgress,
    "planner_progress": PlannerProgress,
    "email_list": EmailList,
    "html_text": HtmlText,
    "constant": Constant,
    "time_zone": TimeZone,
    "duration": Duration,
    "lookup": ValueMap,  # lookup-table values: a value map by another name (Kiplot's word)
}


def parse_transform(spec: Any) -> Transform | None:
    """Accepts `{"value_map": {...}}`, `"tags"` or an already-built transform."""
    if spec is None or isinstance(spec, BaseModel):
        return spec
    if isinstance(spec, str):
        spec = {spec: {}}
    if isinstance(spec, dict) and isinstance(spec.get("kind"), str) and spec["kind"] in TRANSFORMS:
        return TRANSFORMS[spec["kind"]].model_validate(spec)  # type: ignore[return-value]
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(
            f"a transform is one of {sorted(TRANSFORMS)} with its parameters, e.g. {{tags: {{}}}}"
        )
    ((name, params),) = spec.items()
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform '{name}'; known: {', '.join(sorted(TRANSFORMS))}")
    return TRANSFORMS[name].model_validate(params or {})  # type: ignore[return-value]
