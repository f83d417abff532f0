"""Which field types each transform accepts, so a rule whose transform cannot fit its fields is refused
when the configuration is saved (not when the first value fails to convert).

Field types are the connectors' `FieldSpec.type` words (string, text, html, integer, double, datetime,
identity, tree_path, …) or the types a rule declares (`left_type`, `right_type`) for a system that cannot
be reached.
"""

from __future__ import annotations

from pydantic import BaseModel

TEXT = frozenset({"string", "text", "html", "plaintext", "summary", "picklist", "flag"})
NUMBER = frozenset({"integer", "double", "number", "decimal", "duration", "percent"})
DATE = frozenset({"datetime", "date"})
PERSON = frozenset({"identity", "person", "email", "user"})
PEOPLE = frozenset({"identity_list", "people", "email_list"})
TREE = frozenset({"tree_path"})
LIST = frozenset({"string_list", "checklist"})
SCALAR = TEXT | NUMBER | frozenset({"boolean"}) | PERSON | TREE
ANY = SCALAR | DATE | PEOPLE | LIST

# transform -> (types accepted on the left, types accepted on the right); "side" transforms below swap
# their pair when the declaring parameter puts the special type on the right.
FIELD_TYPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "value_map": (SCALAR, SCALAR),
    "lookup": (SCALAR, SCALAR),
    "constant": (ANY, ANY),
    "identity": (PERSON | TEXT, PERSON | TEXT),
    "email_list": (PEOPLE | PERSON | TEXT, PEOPLE | PERSON | TEXT),
    "tags": (TEXT | LIST, TEXT | LIST),
    "scale": (NUMBER, NUMBER),
    "duration": (NUMBER, NUMBER),
    "time_zone": (DATE, DATE),
    "html_text": (TEXT, TEXT),
    "swap_container": (TREE | TEXT, TREE | TEXT),
    "percent_to_state": (NUMBER, TEXT),  # percent on the left (percent_side: left)
    "labels_progress": (TEXT | LIST, NUMBER | TEXT),
    "planner_progress": (NUMBER | TEXT, NUMBER | TEXT),
}
DESCRIPTIONS: dict[str, str] = {
    "value_map": "values mapped one to one (states, priorities), with an optional reverse map and defaults",
    "lookup": "lookup-table values: a value map by Kiplot's name",
    "constant": "a fixed value, always or when the source is empty (a default)",
    "identity": "people by e-mail, with a map for addresses that differ between directories",
    "email_list": "lists of people by e-mail",
    "tags": "semicolon-separated tags compared as sets",
    "scale": "numbers in other units: right = left * factor",
    "duration": "durations in named units (minutes, hours, days, weeks; a day is hours_per_day hours)",
    "time_zone": "dates and times read in one IANA zone and written in the other",
    "html_text": "HTML on one side, plain text on the other",
    "swap_container": "area/iteration paths whose first segment is the project: swapped for the other side's",
    "percent_to_state": "% complete ↔ a workflow state, with thresholds",
    "labels_progress": "Planner labels ↔ progress",
    "planner_progress": "Planner percent complete (0, 50, 100) ↔ a percentage or state",
}


def accepted(name: str, transform: BaseModel | None) -> tuple[frozenset[str], frozenset[str]]:
    left, right = FIELD_TYPES.get(name, (ANY, ANY))
    side = getattr(transform, "percent_side", None) or getattr(transform, "html_side", None)
    if name == "percent_to_state" and side == "right":
        left, right = right, left
    return left, right


def transform_name(transform: BaseModel | None) -> str | None:
    return None if transform is None else str(getattr(transform, "kind", type(transform).__name__))


def type_problem(transform: BaseModel | None, left_type: str | None, right_type: str | None) -> str | None:
    """Why `transform` cannot convert between fields of these types, or None when it fits (or a type is
    unknown: then nothing can be said)."""
    name = transform_name(transform)
    if name is None:
        return None
    left, right = accepted(name, transform)
    for side, wanted, have in (("left", left, left_type), ("right", right, right_type)):
        if have and have.lower() not in wanted:
            return (
                f"transform '{name}' does not fit a {side} field of type '{have}' "
                f"(it accepts {', '.join(sorted(wanted))})"
            )
    return None


def compatible(left_type: str | None, right_type: str | None) -> bool:
    """Whether values of these two field types can be copied as they are (auto-map's test)."""
    if not left_type or not right_type:
        return True
    a, b = left_type.lower(), right_type.lower()
    if a == b:
        return True
    return any(a in group and b in group for group in (TEXT, NUMBER, DATE, PERSON, PEOPLE, LIST))
