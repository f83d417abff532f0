"""Ids-only messages, message ids that deduplicate, session keys per target unit."""

from datetime import UTC, datetime

from sync.config import parse_config
from sync.messages import ItemMessage, PollMessage
from sync.sessions import SESSION_BUCKETS, session_key
from tests.support.harness import config_document


def _item(**kw):
    base = dict(
        scenario="demo",
        direction="left_to_right",
        entity="item",
        source_id="42",
        source_version="7",
        session="s",
    )
    return ItemMessage(**(base | kw))


def test_item_messages_carry_ids_and_versions_only():
    body = _item().model_dump(mode="json")
    assert set(body) == {
        "kind",
        "scenario",
        "direction",
        "entity",
        "source_id",
        "source_version",
        "session",
        "origin",
        "run_id",
        "attempt",
        "enqueued_at",
        "deleted",
        "trigger",
        "variant",
        "match_key",  # a field name (a bulk job's match key), never its value
    }
    # a field value cannot be smuggled in
    try:
        ItemMessage.model_validate(body | {"fields": {"title": "x"}})
    except ValueError as exc:
        assert "fields" in str(exc)
    else:
        raise AssertionError("extra keys must be rejected")


def test_poll_and_hook_for_the_same_change_share_a_message_id():
    from_poll = _item(origin="timer", run_id="r1", enqueued_at=datetime(2026, 1, 1, tzinfo=UTC))
    from_hook = _item(origin="hook", run_id="", enqueued_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert from_poll.message_id == from_hook.message_id
    assert _item(source_version="8").message_id != from_poll.message_id
    assert _item(direction="right_to_left").message_id != from_poll.message_id
    assert _item(scenario="other").message_id != from_poll.message_id


def test_retries_get_fresh_message_ids():
    first = _item()
    assert _item(attempt=2).message_id != first.message_id
    assert _item(attempt=2).message_id != _item(attempt=3).message_id


def test_poll_message_id_is_stable_per_schedule_slot():
    due = datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    a = PollMessage(scenario="demo", direction="left_to_right", due=due)
    b = PollMessage(scenario="demo", direction="left_to_right", due=due, trigger="manual")
    assert a.message_id == b.message_id
    assert a.session_id != PollMessage(scenario="demo", direction="right_to_left", due=due).session_id


def test_session_keys_follow_the_target_unit():
    scenario = parse_config(config_document()).scenario("demo")
    a = session_key(scenario, "left_to_right", "item", "1", "P1")
    # item-unit targets: keyed by a bucket of the source id (one item always in the same session), so that
    # a session's batch holds many items but never more sessions than buckets
    assert a == session_key(scenario, "left_to_right", "item", "1", "P9")
    keys = {session_key(scenario, "left_to_right", "item", str(i), "P1") for i in range(1000)}
    assert len(keys) == SESSION_BUCKETS
    c = session_key(scenario, "left_to_right", "container", "1", "P1")
    d = session_key(scenario, "left_to_right", "container", "2", "P1")
    assert c == d and c.endswith("|Q1")  # container-unit targets: one session per target project
