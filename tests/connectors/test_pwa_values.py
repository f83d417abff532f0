"""PWA value conversions: offset-less dates in the PWA's time zone, durations/work in hours, custom fields."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from connectors.pwa.fields import (
    DURATION,
    FLAG,
    NUMBER,
    TEXT,
    CustomField,
    FieldCatalog,
    internal_from_property,
    json_property,
)
from connectors.pwa.values import (
    Calendar,
    parse_hours,
    parse_pwa_date,
    task_hours,
    to_pwa_date,
    to_pwa_hours,
    utc_iso,
    version_of,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("raw", "zone", "expected"),
    [
        ("2026-07-01T08:00:00", BERLIN, "2026-07-01T06:00:00Z"),  # summer: UTC+2
        ("2026-11-02T08:00:00", BERLIN, "2026-11-02T07:00:00Z"),  # winter: UTC+1
        ("2026-11-02T08:00:00", NEW_YORK, "2026-11-02T13:00:00Z"),
        ("2026-11-02T08:00:00Z", BERLIN, "2026-11-02T08:00:00Z"),  # an explicit offset is kept
        ("/Date(1793606400000)/", BERLIN, "2026-11-02T07:00:00Z"),  # verbose: local wall clock as ms
        ("0001-01-01T00:00:00", BERLIN, None),  # "no date"
        ("", BERLIN, None),
        (None, BERLIN, None),
    ],
)
def test_pwa_dates_to_utc(raw: str | None, zone: ZoneInfo, expected: str | None) -> None:
    assert utc_iso(parse_pwa_date(raw, zone)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T07:00:00Z", "2026-11-02T08:00:00"),
        ("2026-07-01T06:00:00+00:00", "2026-07-01T08:00:00"),
        ("2026-11-02T09:00:00+02:00", "2026-11-02T08:00:00"),
        (datetime(2026, 11, 2, 7, 0, tzinfo=UTC), "2026-11-02T08:00:00"),
        ("2026-11-02T07:00:00", "2026-11-02T08:00:00"),  # no offset: the hub means UTC
        ("2026-11-02", "2026-11-02T00:00:00"),  # a bare date stays that day
        (None, "0001-01-01T00:00:00"),
    ],
)
def test_hub_dates_to_pwa_local_time(value: object, expected: str) -> None:
    assert to_pwa_date(value, BERLIN) == expected


def test_round_trip_across_the_dst_change() -> None:
    for local in ("2026-03-29T01:30:00", "2026-03-29T03:30:00", "2026-10-25T03:30:00"):
        assert to_pwa_date(utc_iso(parse_pwa_date(local, BERLIN)), BERLIN) == local


def test_garbled_dates_are_refused() -> None:
    with pytest.raises(ValueError):
        to_pwa_date("next tuesday", BERLIN)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("208h", 208.0),
        ("73d", 584.0),
        ("1.5w", 60.0),
        ("2mo", 320.0),
        ("30m", 0.5),
        ("3ed", 72.0),  # elapsed days are calendar days
        ("2.5d?", 20.0),  # estimated
        ("7,5h", 7.5),
        ("P24DT8H", 584.0),
        ("PT7H30M", 7.5),
        ("PT0S", 0.0),
        (12, 12.0),
        ("", None),
        ("soon", None),
    ],
)
def test_durations_and_work_in_hours(value: object, expected: float | None) -> None:
    assert parse_hours(value) == expected


def test_days_use_the_project_calendar() -> None:
    assert parse_hours("2d", Calendar(hours_per_day=7.5)) == 15.0


def test_task_hours_prefers_timespan_then_text_then_milliseconds() -> None:
    cal = Calendar()
    assert task_hours({"WorkTimeSpan": "P41D", "Work": "984h", "WorkMilliseconds": -1}, "Work", cal) == 984.0
    assert task_hours({"Work": "10h", "WorkMilliseconds": 0}, "Work", cal) == 10.0
    assert task_hours({"WorkMilliseconds": 7_200_000}, "Work", cal) == 2.0
    assert task_hours({}, "Work", cal) is None


def test_hours_to_pwa() -> None:
    assert to_pwa_hours(12) == "12h"
    assert to_pwa_hours(7.25) == "7.25h"
    assert to_pwa_hours("3d") == "24h"
    assert to_pwa_hours(None) == "0h"
    with pytest.raises(ValueError):
        to_pwa_hours(-1)


def test_versions_compare_across_forms() -> None:
    assert version_of("2026-11-02T10:00:00") == version_of("2026-11-02T10:00:00.000")
    assert version_of("/Date(1793613600000)/") == "2026-11-02T10:00:00"


# --- custom fields -------------------------------------------------------------------------------

HEX = "0123456789abcdef0123456789abcdef"


def test_custom_field_name_forms() -> None:
    assert json_property(f"Custom_{HEX}") == f"Custom_x005f_{HEX}"
    assert internal_from_property(f"Custom_x005f_{HEX.upper()}") == f"Custom_{HEX}"
    assert internal_from_property(f"Custom_{HEX}") == f"Custom_{HEX}"
    assert internal_from_property("Custom_nothex") is None
    flag = CustomField(
        id="1", name="Sync with VSTS", internal_name=f"Custom_{HEX}", field_type=FLAG, entity="task"
    )
    project_text = CustomField(
        id="2", name="VSTS Project", internal_name="Custom_" + "f" * 32, field_type=TEXT, entity="project"
    )
    catalog = FieldCatalog([flag, project_text])
    for name in (
        "Sync with VSTS",
        "sync with vsts",
        "Custom:Sync with VSTS",
        f"Custom_{HEX}",
        f"Custom_x005f_{HEX}",
    ):
        assert catalog.find(name, "task") is flag
    assert catalog.find("VSTS Project", "task") is None  # a project field is not a task field
    assert catalog.find("VSTS Project", "project") is project_text


def test_custom_field_values_both_ways() -> None:
    lookup = CustomField(
        id="1",
        name="Work Item Type",
        internal_name=f"Custom_{HEX}",
        field_type=TEXT,
        entity="task",
        lookup_table_id="t",
        entries={"Entry_" + "1" * 32: "Bug", "Entry_" + "2" * 32: "User Story"},
    )
    assert lookup.to_hub(["Entry_" + "2" * 32], BERLIN) == "User Story"
    assert lookup.to_pwa("user story", BERLIN) == ["Entry_" + "2" * 32]
    assert lookup.to_pwa(None, BERLIN) == []
    with pytest.raises(ValueError, match="Bug, User Story"):
        lookup.to_pwa("Epic", BERLIN)
    duration = CustomField(
        id="2", name="D", internal_name="Custom_" + "d" * 32, field_type=DURATION, entity="task"
    )
    assert duration.to_hub("5d", BERLIN) == 40.0
    assert duration.to_hub(4800, BERLIN) == 8.0  # tenths of a minute
    assert duration.to_pwa(16, BERLIN) == "16h"
    number = CustomField(
        id="3", name="N", internal_name="Custom_" + "e" * 32, field_type=NUMBER, entity="task"
    )
    assert number.to_hub("8.000000", BERLIN) == 8.0
    flag = CustomField(id="4", name="F", internal_name="Custom_" + "a" * 32, field_type=FLAG, entity="task")
    assert flag.to_hub("true", BERLIN) is True and flag.to_pwa("no", BERLIN) is False
