"""Enterprise custom fields: names in their three forms, lookup-table values and value conversions.

A custom field has a display name ("Sync with VSTS"), an internal name (`Custom_<32hex>`) and, in task
and project JSON, a property name (`Custom_x005f_<32hex>`, the underscore XML-escaped). Lookup-table
values travel as entry internal names (`Entry_<32hex>`) and are shown to the hub as their text.

Naming convention towards the hub: task custom fields by display name; project custom fields by
`options.project_field_prefix` + display name ("Project:VSTS Project"). On writes `Custom:<Name>`,
`Custom_<32hex>` and `Custom_x005f_<32hex>` are accepted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from connectors.pwa.values import Calendar, parse_hours, parse_pwa_date, to_pwa_date, to_pwa_hours, utc_iso

EntityKind = Literal["project", "task", "resource", "assignment", "other"]

# CustomFieldType
DATE, DURATION, COST, NUMBER, FLAG, TEXT, FINISHDATE = 4, 6, 9, 15, 17, 21, 27
FIELD_TYPE_NAMES = {
    DATE: "date",
    DURATION: "duration",
    COST: "cost",
    NUMBER: "number",
    FLAG: "flag",
    TEXT: "text",
    FINISHDATE: "finishdate",
}
_HUB_TYPES = {
    DATE: "datetime",
    FINISHDATE: "datetime",
    DURATION: "double",
    COST: "double",
    NUMBER: "double",
    FLAG: "boolean",
    TEXT: "string",
}
_HEX = re.compile(r"^(?:Custom_x005f_|Custom_)([0-9a-fA-F]{32})$")
ENTRY = re.compile(r"^Entry_[0-9a-fA-F]{32}$")
CUSTOM_PREFIX = "Custom:"
_DEFAULT_CALENDAR = Calendar()


def json_property(internal_name: str) -> str:
    """`Custom_<hex>` → `Custom_x005f_<hex>`, the property name in task and project JSON."""
    return internal_name.replace("_", "_x005f_")


def internal_from_property(name: str) -> str | None:
    found = _HEX.match(name)
    return f"Custom_{found.group(1).lower()}" if found else None


@dataclass
class CustomField:
    id: str
    name: str
    internal_name: str
    field_type: int
    entity: EntityKind
    lookup_table_id: str | None = None
    multi_select: bool = False
    formula: bool = False
    # Lookup entries: internal name (Entry_<hex>) → full text, and the reverse (case-insensitive).
    entries: dict[str, str] = field(default_factory=dict)

    @property
    def json_name(self) -> str:
        return json_property(self.internal_name)

    @property
    def is_lookup(self) -> bool:
        return bool(self.lookup_table_id)

    @property
    def type_name(self) -> str:
        return FIELD_TYPE_NAMES.get(self.field_type, str(self.field_type))

    @property
    def hub_type(self) -> str:
        return "string" if self.is_lookup else _HUB_TYPES.get(self.field_type, "string")

    def entry_for(self, text: str) -> str | None:
        if ENTRY.match(text):
            return text
        wanted = text.strip().lower()
        for internal, value in self.entries.items():
            if value.strip().lower() == wanted:
                return internal
        return None

    # --- values ---------------------------------------------------------------------------------

    def to_hub(self, raw: Any, zone: ZoneInfo, calendar: Calendar = _DEFAULT_CALENDAR) -> Any:
        """The value as the hub sees it: lookup text, UTC ISO date, hours, bool, number or text."""
        if raw is None:
            return None
        if self.is_lookup:
            values = raw if isinstance(raw, list) else [raw]
            texts = [self.entries.get(str(v), str(v)) for v in values if v not in (None, "")]
            if self.multi_select:
                return texts
            return texts[0] if texts else None
        if self.field_type in (DATE, FINISHDATE):
            return utc_iso(parse_pwa_date(raw, zone))
        if self.field_type == DURATION:
            # REST shows durations as text ("5d"); a bare number is PWA's storage unit, tenths of a minute.
            if _is_number(raw):
                return round(float(raw) / 600, 6)
            return parse_hours(raw, calendar)
        if self.field_type == COST:
            return float(raw) if _is_number(raw) else None
        if self.field_type == NUMBER:
            return float(raw) if _is_number(raw) else None
        if self.field_type == FLAG:
            if isinstance(raw, str):
                return raw.strip().lower() in ("true", "1", "yes")
            return bool(raw)
        return str(raw) if raw != "" else None

    def to_pwa(self, value: Any, zone: ZoneInfo) -> Any:
        """The hub's value as PWA stores it; ValueError (with the reason) when it cannot be converted."""
        if self.formula:
            raise ValueError(f"custom field '{self.name}' is calculated by a formula and cannot be written")
        if value is None or value == "":
            if self.is_lookup:
                return []
            return None
        if self.is_lookup:
            values = value if isinstance(value, list | tuple) else [value]
            entries = []
            for v in values:
                entry = self.entry_for(str(v))
                if entry is None:
                    known = ", ".join(sorted(self.entries.values())[:20]) or "none"
                    raise ValueError(
                        f"'{v}' is not a value of the lookup table of custom field '{self.name}' "
                        f"(known: {known}); add it to the lookup table in PWA Settings"
                    )
                entries.append(entry)
            if len(entries) > 1 and not self.multi_select:
                raise ValueError(f"custom field '{self.name}' takes one value, got {len(entries)}")
            return entries
        if self.field_type in (DATE, FINISHDATE):
            return to_pwa_date(value, zone)
        if self.field_type == DURATION:
            return to_pwa_hours(value)
        if self.field_type == COST:
            return float(value)
        if self.field_type == NUMBER:
            return float(value)
        if self.field_type == FLAG:
            if isinstance(value, str):
                return value.strip().lower() in ("true", "1", "yes")
            return bool(value)
        return str(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class FieldCatalog:
    """Every custom field of one PWA with its lookup entries, looked up by any of its names."""

    def __init__(self, fields: list[CustomField]) -> None:
        self.fields = fields
        self._by_internal = {f.internal_name.lower(): f for f in fields}

    def of(self, entity: EntityKind) -> list[CustomField]:
        return [f for f in self.fields if f.entity == entity]

    def by_internal(self, internal_name: str) -> CustomField | None:
        return self._by_internal.get(internal_name.lower())

    def by_property(self, prop: str) -> CustomField | None:
        internal = internal_from_property(prop)
        return self.by_internal(internal) if internal else None

    def find(self, name: str, entity: EntityKind) -> CustomField | None:
        """A field of `entity` by display name (any case), `Custom:<Name>`, internal or property name."""
        if name.startswith(CUSTOM_PREFIX):
            name = name[len(CUSTOM_PREFIX) :]
        by_hex = self.by_property(name)
        if by_hex is not None:
            return by_hex if by_hex.entity == entity else None
        wanted = name.strip().lower()
        for f in self.fields:
            if f.entity == entity and f.name.strip().lower() == wanted:
                return f
        return None
