"""The transforms added for field-level integrations, and which field types each accepts."""

from __future__ import annotations

import pytest

from mapping.transform_types import FIELD_TYPES, compatible, type_problem
from mapping.transforms import TRANSFORMS, Context, parse_transform

CTX = Context()


def test_html_text_strips_markup_one_way_and_escapes_back():
    t = parse_transform({"html_text": {"html_side": "right"}})
    assert (
        t.to_left("<p>Fix <b>login</b> &amp; logout</p><div>second</div>", CTX)
        == "Fix login & logout\nsecond"
    )
    assert t.to_right("a < b\nnext", CTX) == "a &lt; b<br>next"
    assert t.to_right(None, CTX) is None


def test_constant_is_a_default_or_always():
    default = parse_transform({"constant": {"value": "Unassigned"}})
    assert default.to_right("", CTX) == "Unassigned" and default.to_right("Ann", CTX) == "Ann"
    always = parse_transform({"constant": {"value": 2, "always": True}})
    assert always.to_left(7, CTX) == 2


def test_time_zone_converts_and_refuses_unknown_zones():
    t = parse_transform({"time_zone": {"left": "Europe/Paris", "right": "UTC"}})
    assert t.to_right("2026-12-03T10:00:00", CTX) == "2026-12-03T09:00:00+00:00"
    assert t.to_left("2026-07-01T10:00:00+00:00", CTX) == "2026-07-01T12:00:00+02:00"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        parse_transform({"time_zone": {"left": "Mars/Olympus"}})


def test_duration_units():
    t = parse_transform({"duration": {"left": "minutes", "right": "hours"}})
    assert t.to_right(90, CTX) == 1.5 and t.to_left(2, CTX) == 120
    days = parse_transform({"duration": {"left": "days", "right": "hours", "hours_per_day": 7.5}})
    assert days.to_right(2, CTX) == 15


def test_lookup_is_a_value_map():
    t = parse_transform({"lookup": {"map": {"High": 1, "Low": 3}}})
    assert t.to_right("High", CTX) == 1 and t.to_left(3, CTX) == "Low"


def test_every_transform_declares_its_field_types():
    assert set(TRANSFORMS) == set(FIELD_TYPES)


@pytest.mark.parametrize(
    ("spec", "left", "right", "fits"),
    [
        ("tags", "string", "string_list", True),
        ({"scale": {"factor": 60}}, "double", "integer", True),
        ({"scale": {"factor": 60}}, "string", "double", False),
        ("time_zone", "datetime", "datetime", True),
        ("time_zone", "datetime", "double", False),
        ({"percent_to_state": {}}, "double", "string", True),
        ({"percent_to_state": {"percent_side": "right"}}, "double", "string", False),
        ({"percent_to_state": {"percent_side": "right"}}, "string", "integer", True),
        ("identity", "identity", "string", True),
        ("html_text", "html", "text", True),
        ("html_text", "html", "boolean", False),
        ({"constant": {"value": 1}}, "identity_list", None, True),
    ],
)
def test_type_fit(spec, left, right, fits):
    assert (type_problem(parse_transform(spec), left, right) is None) is fits


def test_compatible_types_for_auto_map():
    assert compatible("string", "html") and compatible("integer", "double")
    assert not compatible("datetime", "string") and compatible(None, "string")


def test_a_transform_whose_kind_is_not_a_name_is_refused_with_a_reason() -> None:
    # Found by the admin API fuzzing: `kind` holding an object must be a 4xx reason, not a server error.
    with pytest.raises(ValueError, match="a transform is one of"):
        parse_transform({"kind": {}, "left": "minutes", "right": "hours"})
