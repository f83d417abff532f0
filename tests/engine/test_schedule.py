"""Each direction is polled by its own schedule; the timer slot makes the poll message id."""

import re
from datetime import UTC, datetime

import pytest

from sync.config import ConfigError, parse_config
from sync.ncrontab import NcrontabError, parse_ncrontab
from sync.schedule import due_polls, previous_fire
from tests.support.harness import config_document


def test_previous_fire_handles_seconds_first_ncrontab():
    now = datetime(2026, 1, 1, 10, 16, 30, tzinfo=UTC)
    assert previous_fire("0 */15 * * * *", now) == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert previous_fire("30 * * * * *", now) == now


def test_directions_are_due_by_their_own_schedule():
    doc = config_document()
    doc["scenarios"][0]["directions"]["left_to_right"]["schedule"] = "0 */15 * * * *"
    doc["scenarios"][0]["directions"]["right_to_left"]["schedule"] = "0 0 * * * *"
    config = parse_config(doc)
    at_quarter = due_polls(config, datetime(2026, 1, 1, 10, 15, 2, tzinfo=UTC))
    assert [p.direction for p in at_quarter] == ["left_to_right"]
    at_hour = due_polls(config, datetime(2026, 1, 1, 11, 0, 5, tzinfo=UTC))
    assert [p.direction for p in at_hour] == ["left_to_right", "right_to_left"]
    assert due_polls(config, datetime(2026, 1, 1, 10, 20, tzinfo=UTC)) == []


def test_two_ticks_in_one_slot_make_the_same_poll_message():
    config = parse_config(config_document())
    a = due_polls(config, datetime(2026, 1, 1, 10, 15, 1, tzinfo=UTC))
    b = due_polls(config, datetime(2026, 1, 1, 10, 15, 40, tzinfo=UTC))
    assert [p.message_id for p in a] == [p.message_id for p in b]


def test_disabled_directions_are_never_due():
    doc = config_document()
    doc["scenarios"][0]["directions"]["right_to_left"]["enabled"] = False
    polls = due_polls(parse_config(doc), datetime(2026, 1, 1, 10, 0, tzinfo=UTC))
    assert [p.direction for p in polls] == ["left_to_right"]


# --- NCRONTAB: what the configuration accepts is what NCrontab accepts, and means the same ---------

VALID = [
    "0 */5 * * * *",
    "5,10 */5 * * * *",  # a list in the seconds field
    "0-30 * * * * *",  # a range in the seconds field
    "0-30/10 * * * * *",  # a stepped range in the seconds field
    "*/15 * * * * *",
    "5/15 * * * * *",  # N/step runs from N to the maximum
    "0 0 9-17 * * 1-5",
    "0 0 0 1 JAN *",
    "0 0 0 1 january,Jul *",  # names are any case-insensitive prefix
    "0 0 12 * * MON-FRI",
    "0 0 12 * * sun",
    "0 30 9 15 * *",
    "59 59 23 31 12 6",  # every field at its maximum
    "0 0 0 1 1 0",  # and at its minimum
    "30-10 * * * * *",  # NCrontab reads a backwards range forwards
    "*/0 * * * * *",  # NCrontab reads a step of 0 as 1
    "0  */5  *  *  *  *",  # any whitespace between fields
]

INVALID = [
    ("99 * * * * *", "second field's range 0-59"),
    ("0 60 * * * *", "minute field's range 0-59"),
    ("0 0 24 * * *", "hour field's range 0-23"),
    ("0 0 0 0 * *", "day field's range 1-31"),
    ("0 0 0 32 * *", "day field's range 1-31"),
    ("0 0 0 * 13 *", "month field's range 1-12"),
    ("0 0 0 * * 7", "day-of-week field's range 0-6"),
    ("0-60 * * * * *", "second field's range 0-59"),
    ("0 */5 * * *", "5 fields"),
    ("0 0 0 * * * 2027", "7 fields"),
    ("", "0 fields"),
    ("every minute", "2 fields"),
    ("0 0 0 L * *", "day field"),  # croniter's extensions are not NCRONTAB
    ("0 0 0 1W * *", "day field"),
    ("0 0 0 * * 1#2", "day-of-week field"),
    ("0 0 0 ? * *", "day field"),
    ("H * * * * *", "second field"),
    ("0 0 0 * * 5L", "day-of-week field"),
    ("0 0 0 * Foo *", "'Foo' in the month field"),
    ("a * * * * *", "'a' in the second field"),
    ("1,,2 * * * * *", "second field"),
    ("-5 * * * * *", "second field"),
    ("5- * * * * *", "second field"),
    ("*/ * * * * *", "second field"),
    ("1-2-3 * * * * *", "second field"),
]


@pytest.mark.parametrize("expression", VALID)
def test_valid_ncrontab_expressions_are_accepted(expression):
    doc = config_document()
    doc["scenarios"][0]["directions"]["left_to_right"]["schedule"] = expression
    config = parse_config(doc)
    assert config.scenarios[0].directions["left_to_right"].schedule == expression
    parse_ncrontab(expression).next(datetime(2026, 1, 1, tzinfo=UTC))  # and it can be evaluated


@pytest.mark.parametrize(("expression", "reason"), INVALID)
def test_invalid_ncrontab_expressions_are_refused_naming_the_field(expression, reason):
    with pytest.raises(NcrontabError, match=re.escape(reason)):
        parse_ncrontab(expression)
    doc = config_document()
    doc["scenarios"][0]["directions"]["left_to_right"]["schedule"] = expression
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert "scenarios.0.directions.left_to_right.schedule" in str(err.value)
    assert reason in str(err.value)


def fires(expression, start, count):
    schedule, at, out = parse_ncrontab(expression), start, []
    for _ in range(count):
        at = schedule.next(at)
        out.append(at)
    return out


T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expression", "expected_seconds"),
    [
        ("5,10 * * * * *", [5, 10, 65, 70]),
        ("0-30/10 * * * * *", [10, 20, 30, 60]),  # T0 itself is not "after T0"
        ("5/15 * * * * *", [5, 20, 35, 50]),
        ("30-10 * * * * *", [10, 11, 12, 13]),  # forwards: 10-30, not 30-59 and 0-10
        ("*/0 * * * * *", [1, 2, 3, 4]),
        ("0 */20 * * * *", [1200, 2400, 3600, 4800]),
    ],
)
def test_evaluation_agrees_with_validation_in_the_seconds_field(expression, expected_seconds):
    assert [int((t - T0).total_seconds()) for t in fires(expression, T0, 4)] == expected_seconds


def test_day_and_day_of_week_must_both_match_as_in_ncrontab():
    # the 13th that is a Friday (croniter's default would fire on every 13th and every Friday)
    assert fires("0 0 0 13 * FRI", T0, 2) == [
        datetime(2026, 2, 13, tzinfo=UTC),
        datetime(2026, 3, 13, tzinfo=UTC),
    ]


def test_previous_fire_on_a_seconds_list_is_the_latest_slot():
    now = datetime(2026, 1, 1, 10, 16, 7, tzinfo=UTC)
    assert previous_fire("5,10 */5 * * * *", now) == datetime(2026, 1, 1, 10, 15, 10, tzinfo=UTC)
    assert previous_fire("0-30 * * * * *", now) == now
    assert previous_fire("0 0 12 * * Mon-Fri", now) == datetime(2025, 12, 31, 12, tzinfo=UTC)
