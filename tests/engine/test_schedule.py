"""Each direction is polled by its own schedule; the timer slot makes the poll message id."""

from datetime import UTC, datetime

from sync.config import parse_config
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
