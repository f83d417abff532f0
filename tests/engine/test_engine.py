"""The data path end to end on real tables (Azurite) and the local queue, with in-memory systems."""

from __future__ import annotations

import base64
import json

import pytest

from connectors.contract import Watermark
from sync.hooks import receive_hook
from sync.status import scenario_status
from tests.support.harness import HOOK_PASSWORD, Harness, config_document


def right_items(h: Harness):
    return list(h.right.records.values())


def test_create_maps_fields_and_converges(tables):
    h = Harness(tables)
    rec = h.left.add(title="Write spec", state="open", owner="Ann@Example.com", notes="ignored")
    h.sync()
    (created,) = right_items(h)
    assert created.fields == {"Title": "Write spec", "State": "Active", "AssignedTo": "Ann@Example.com"}
    assert created.container == "Q1"
    assert created.correlation_id  # stamped on the new item
    link = h.services.links.find("demo", "left", rec.id)
    assert link.status == "linked" and link.right_id == created.id
    assert link.snapshot["title<->Title"] == {"left": "Write spec", "right": "Write spec"}

    writes = (h.left.writes, h.right.writes)
    for _ in range(3):
        h.sync()
    assert (h.left.writes, h.right.writes) == writes  # converged: further polls write nothing


def test_updates_flow_both_ways_without_echo(tables):
    h = Harness(tables)
    rec = h.left.add(title="A", state="open")
    h.sync()
    (target,) = right_items(h)
    h.right.edit(target.id, Description="from right", State="Closed")
    h.sync()
    assert h.left.records[rec.id].fields["notes"] == "from right"
    assert h.left.records[rec.id].fields["state"] == "done"
    writes = (h.left.writes, h.right.writes)
    h.sync()  # the left change we just wrote must not echo back to the right
    assert (h.left.writes, h.right.writes) == writes


def test_one_way_rules_do_not_flow_back(tables):
    h = Harness(tables)
    rec = h.left.add(title="A", owner="a@x.com")
    h.sync()
    (target,) = right_items(h)
    h.right.edit(target.id, AssignedTo="b@x.com")
    h.sync()
    assert h.left.records[rec.id].fields["owner"] == "a@x.com"


def test_concurrent_edits_of_different_fields_are_both_kept(tables):
    h = Harness(tables)
    rec = h.left.add(title="A", state="open")
    h.sync()
    (target,) = right_items(h)
    h.left.edit(rec.id, title="A2")
    h.right.edit(target.id, State="Closed")
    h.sync()
    assert h.left.records[rec.id].fields == {"title": "A2", "state": "done"}
    assert h.right.records[target.id].fields["Title"] == "A2"
    assert h.right.records[target.id].fields["State"] == "Closed"


@pytest.mark.parametrize(
    ("rule", "left_edit_last", "expected"),
    [
        ("newest_wins", True, "from-left"),
        ("newest_wins", False, "from-right"),
        ("left_wins", False, "from-left"),
        ("right_wins", True, "from-right"),
    ],
)
def test_same_field_conflict_follows_the_rule(tables, rule, left_edit_last, expected):
    h = Harness(tables, config_document(conflict=rule))
    rec = h.left.add(title="A")
    h.sync()
    (target,) = right_items(h)
    if left_edit_last:
        h.right.edit(target.id, Title="from-right")
        h.left.edit(rec.id, title="from-left")
    else:
        h.left.edit(rec.id, title="from-left")
        h.right.edit(target.id, Title="from-right")
    h.sync()
    h.sync()
    assert h.left.records[rec.id].fields["title"] == expected
    assert h.right.records[target.id].fields["Title"] == expected
    runs = scenario_status(h.services, "demo").runs
    assert sum(r.counts.get("conflicts", 0) for r in runs) >= 1


@pytest.mark.parametrize("rule", ["source_wins", "target_wins"])
def test_source_and_target_wins_converge(tables, rule):
    h = Harness(tables, config_document(conflict=rule))
    rec = h.left.add(title="A")
    h.sync()
    (target,) = right_items(h)
    h.left.edit(rec.id, title="L")
    h.right.edit(target.id, Title="R")
    # only the left→right direction sees the conflict first
    h.poll("left_to_right")
    h.drain()
    expected = "L" if rule == "source_wins" else "R"
    h.sync()
    assert h.left.records[rec.id].fields["title"] == expected
    assert h.right.records[target.id].fields["Title"] == expected


def test_flagged_conflict_is_recorded_and_resolved_when_sides_agree(tables):
    h = Harness(tables, config_document(conflict="flag"))
    rec = h.left.add(title="A")
    h.sync()
    (target,) = right_items(h)
    h.left.edit(rec.id, title="L")
    h.right.edit(target.id, Title="R")
    h.sync()
    assert h.left.records[rec.id].fields["title"] == "L"
    assert h.right.records[target.id].fields["Title"] == "R"
    (conflict,) = scenario_status(h.services, "demo").conflicts
    assert (conflict.rule, conflict.left_value, conflict.right_value) == ("title<->Title", "L", "R")
    # a person settles it by making both sides agree
    h.right.edit(target.id, Title="L")
    h.sync()
    assert scenario_status(h.services, "demo").conflicts == []


def test_redelivered_item_message_creates_one_item(tables):
    h = Harness(tables)
    h.left.add(title="A")
    sent = []
    real_send = h.queue.send
    h.queue.send = lambda messages: (sent.extend(messages), real_send(messages))[1]
    h.poll()
    h.drain()
    (message,) = [m for m in sent if m.queue == h.services.settings.item_queue]
    assert h.right.creates == 1
    # at-least-once: the same message delivered again, long after the duplicate-detection window
    h.clock.advance(3600)
    h.queue.send([message])
    assert h.drain() == 1
    assert h.outcomes[-1].result == "unchanged"
    assert h.right.creates == 1 and len(h.right.records) == 1


def test_duplicate_poll_page_creates_one_item(tables):
    h = Harness(tables)
    h.left.add(title="A")
    h.left.add(title="B")
    h.poll()
    h.poll()  # a second poll with the same watermark sends the same page again
    h.drain()
    h.services.watermarks.advance(
        "demo", "left_to_right", Watermark(), h.services.watermarks.get("demo", "left_to_right")[1]
    )
    h.clock.advance(3600)
    h.poll()
    h.drain()
    assert h.right.creates == 2
    assert len(h.right.records) == 2


def test_worker_stopped_between_create_and_link_save_leaves_one_item(tables):
    h = Harness(tables)
    rec = h.left.add(title="A")
    h.right.crash_after_create = 1
    h.poll()
    h.drain(crash_ok=True)
    assert h.right.creates == 1
    (target,) = right_items(h)
    link = h.services.links.find("demo", "left", rec.id)
    assert link.status == "linked" and link.right_id == target.id


def test_version_conflict_rereads_and_remerges(tables):
    h = Harness(tables)
    rec = h.left.add(title="A", state="open")
    h.sync()
    (target,) = right_items(h)
    h.left.edit(rec.id, title="A2")
    # someone edits the target between our read and our write
    original = h.right.records[target.id]
    connector_write = h.services.connector("mem-right").write
    calls = []

    def racing_write(entity, writes):
        if not calls:
            calls.append(1)
            h.right.edit(original.id, State="Closed")
        return connector_write(entity, writes)

    h.services.connector("mem-right").write = racing_write
    h.poll()
    h.drain()
    assert calls
    assert h.right.records[target.id].fields["Title"] == "A2"
    assert h.right.records[target.id].fields["State"] == "Closed"  # the concurrent edit is kept


def test_watermark_advances_only_after_the_page_is_enqueued(tables):
    h = Harness(tables)
    for i in range(7):  # pages of 3
        h.left.add(title=f"T{i}")
    sent = []
    real_send = h.queue.send

    def failing_send(messages):
        if any(m.queue == h.services.settings.item_queue for m in messages):
            sent.append(len(messages))
            if len(sent) == 2:
                raise RuntimeError("broker unavailable")
        return real_send(messages)

    h.queue.send = failing_send
    h.poll()
    with pytest.raises(RuntimeError):
        h.drain()
    mark, _ = h.services.watermarks.get("demo", "left_to_right")
    third = sorted(h.left.records.values(), key=lambda r: r.changed_at)[2]
    assert mark.at == third.changed_at  # the end of the first page, not further
    h.queue.send = real_send
    h.clock.advance(3600)
    h.poll()
    h.drain()
    assert len(h.right.records) == 7


def test_next_poll_overlaps_the_watermark(tables):
    h = Harness(tables)
    h.left.add(title="A")
    h.sync()
    seen = []
    conn = h.services.connector("mem-left")
    real = conn.changes

    def spy(entity, since, scope):
        seen.append(since)
        return real(entity, since, scope)

    conn.changes = spy
    h.poll()
    h.drain()
    mark, _ = h.services.watermarks.get("demo", "left_to_right")
    assert seen and seen[0].at is not None
    assert seen[0].at < mark.at


def test_throttled_write_is_redelivered_no_sooner_than_retry_after(tables):
    h = Harness(tables)
    h.left.add(title="A")
    h.right.throttle_next = [7.0]
    h.poll()
    h.drain()
    assert h.right.creates == 0
    h.clock.advance(6.9)
    assert h.drain() == 0  # not yet
    h.clock.advance(0.1)
    assert h.drain() == 1
    assert h.right.creates == 1
    status = scenario_status(h.services, "demo")
    assert sum(r.counts.get("retried", 0) for r in status.runs) == 1


def test_permanent_error_is_dead_lettered_with_reason(tables):
    h = Harness(tables)
    rec = h.left.add(title="A")
    h.right.fail_next = ["VS402323: field Title is required"]
    h.poll()
    h.drain()
    status = scenario_status(h.services, "demo")
    (failure,) = status.failures
    assert failure.source_id == rec.id and "VS402323" in failure.reason
    assert any("VS402323" in d["reason"] for d in status.dead_letters)
    assert sum(r.counts.get("failed", 0) for r in status.runs) == 1
    # nothing was created, so nothing is linked: the failure row and the dead letter hold the reason
    assert h.services.links.find("demo", "left", rec.id) is None
    # fixed and retried: the failure goes away
    assert h.queue.replay_dead_letters(h.services.settings.item_queue) == 1
    h.drain()
    assert scenario_status(h.services, "demo").failures == []
    assert h.right.creates == 1


def test_transient_errors_give_up_after_max_attempts(tables):
    h = Harness(tables)
    h.left.add(title="A")
    h.right.throttle_next = [1.0] * 20
    h.poll()
    h.drain()
    for _ in range(h.services.settings.max_attempts + 1):
        h.clock.advance(2)
        h.drain()
    (failure,) = scenario_status(h.services, "demo").failures
    assert failure.kind == "exhausted"


def test_out_of_scope_items_are_never_touched(tables):
    doc = config_document(start="2026-11-01T00:00:30Z", match={"sync": True})
    h = Harness(tables, doc)
    old = h.left.add(title="old", sync=True)  # changed before the start date
    h.left.clock_start = h.left.clock_start.replace(minute=5)
    other_project = h.left.add(container="P9", title="elsewhere", sync=True)
    unflagged = h.left.add(title="not flagged", sync=False)
    wanted = h.left.add(title="wanted", sync=True)
    h.sync()
    titles = sorted(r.fields["Title"] for r in h.right.records.values())
    assert titles == ["wanted"]
    for rec in (old, other_project, unflagged):
        assert h.services.links.find("demo", "left", rec.id) is None
    assert wanted


def test_child_is_linked_to_the_parents_counterpart(tables):
    h = Harness(tables)
    parent = h.left.add(title="Epic")
    child = h.left.add(title="Story", parent_id=parent.id)
    h.sync()
    h.clock.advance(10)
    h.drain()
    h.clock.advance(10)
    h.sync()
    p_link = h.services.links.find("demo", "left", parent.id)
    c_link = h.services.links.find("demo", "left", child.id)
    assert h.right.records[c_link.right_id].parent_id == p_link.right_id
    assert h.right.creates == 2


def _auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_hook_enqueues_in_scope_changes_with_the_poll_message_id(tables):
    h = Harness(tables)
    rec = h.left.add(title="A")
    body = json.dumps({"eventType": "item.changed", "id": rec.id, "version": "1", "container": "P1"}).encode()
    reply = receive_hook(h.services, "mem-left", "demo", _auth("tandem", HOOK_PASSWORD), body)
    assert reply.status == 202 and reply.body["enqueued"] == 1
    h.poll()  # the poll finds the same change: deduplicated by message id
    h.drain()
    assert h.right.creates == 1
    assert len(h.outcomes) == 1
    (hook_run,) = [r for r in scenario_status(h.services, "demo").runs if r.trigger == "hook"]
    assert hook_run.counts["enqueued"] == 1 and hook_run.counts["created"] == 1


@pytest.mark.parametrize(
    ("auth", "body", "status"),
    [
        (_auth("tandem", "wrong"), b'{"eventType":"item.changed","id":"1","version":"1"}', 401),
        (None, b'{"eventType":"item.changed","id":"1","version":"1"}', 401),
        (_auth("tandem", HOOK_PASSWORD), b"{not json", 400),
        (_auth("tandem", HOOK_PASSWORD), b'{"eventType":"something.else"}', 400),
    ],
)
def test_hook_rejections_enqueue_nothing(tables, auth, body, status):
    h = Harness(tables)
    reply = receive_hook(h.services, "mem-left", "demo", auth, body)
    assert reply.status == status
    assert HOOK_PASSWORD not in json.dumps(reply.body)
    assert h.drain() == 0


def test_hook_about_an_item_outside_every_scope_is_acknowledged_and_ignored(tables):
    h = Harness(tables)
    body = json.dumps(
        {"eventType": "item.changed", "id": "x", "version": "1", "container": "Elsewhere"}
    ).encode()
    reply = receive_hook(h.services, "mem-left", "demo", _auth("tandem", HOOK_PASSWORD), body)
    assert reply.status == 200 and reply.body == {"enqueued": 0, "ignored": 1}
    assert h.drain() == 0


def test_hook_about_an_item_being_created_never_creates_a_copy(tables):
    """The target's `created` hook can arrive before the creator saved the link: no echo create."""
    h = Harness(tables)
    rec = h.left.add(title="A")
    h.right.crash_after_create = 1  # the creator stops after the create, before the link save
    h.poll()
    h.drain(max_messages=1)  # the poll
    delivery = h.queue.receive(h.services.settings.item_queue)
    from tests.support.memory_connector import Crash

    try:
        from sync.runtime import handle_item

        handle_item(h.services, delivery.message)
    except Crash:
        pass
    (created,) = right_items(h)
    # the right system's hook about the new item arrives now
    body = json.dumps({"eventType": "item.changed", "id": created.id, "version": "1", "container": "Q1"})
    reply = receive_hook(h.services, "mem-right", "demo", _auth("tandem", HOOK_PASSWORD), body.encode())
    assert reply.status == 202
    h.drain()  # the hook's item message waits (retry) instead of creating on the left
    assert len(h.left.records) == 1
    h.queue.abandon(delivery)  # the creator's message comes back and saves the link
    for _ in range(4):
        h.clock.advance(5)
        h.drain()
    assert len(h.left.records) == 1 and len(h.right.records) == 1
    link = h.services.links.find("demo", "right", created.id)
    assert link.left_id == rec.id and link.status == "linked"


@pytest.mark.parametrize("rule", ["newest_wins", "flag"])
def test_a_conflict_is_counted_once(tables, rule):
    h = Harness(tables, config_document(conflict=rule))
    rec = h.left.add(title="A")
    h.sync()
    (target,) = right_items(h)
    h.left.edit(rec.id, title="L")
    h.right.edit(target.id, Title="R")
    h.sync()
    h.sync()
    runs = scenario_status(h.services, "demo").runs
    assert sum(r.counts.get("conflicts", 0) for r in runs) == 1
