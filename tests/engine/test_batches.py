"""Messages of one session applied together: one write call per target container (a PWA project's cycle)."""

from __future__ import annotations

from sync.runtime import handle_items
from tests.support.harness import Harness


def _drain_in_batches(h: Harness) -> None:
    settings = h.services.settings
    while True:
        poll = h.queue.receive(settings.poll_queue)
        if poll is not None:
            from sync.runtime import handle_poll

            handle_poll(h.services, poll.message)
            h.queue.complete(poll)
            continue
        batch = h.queue.receive_batch(settings.item_queue, 100)
        if not batch:
            return
        h.outcomes.extend(handle_items(h.services, [d.message for d in batch]))
        for delivery in batch:
            h.queue.complete(delivery)


def test_container_targets_get_one_write_call_per_session(tables):
    h = Harness(tables)
    h.right.session_unit = "container"  # the right system writes per project, like PWA
    for i in range(50):
        h.left.add(title=f"T{i}")
    h.poll("left_to_right")
    _drain_in_batches(h)
    assert h.right.creates == 50
    assert h.right.write_calls == 1  # fifty creates, one cycle
    for rec in list(h.left.records.values())[:20]:
        h.left.edit(rec.id, title=rec.fields["title"] + "!")
    h.clock.advance(1)
    h.poll("left_to_right")
    _drain_in_batches(h)
    assert h.right.write_calls == 2  # twenty updates, one more cycle
    assert sorted(r.fields["Title"] for r in h.right.records.values()).count("T1!") == 1
    assert {o.result for o in h.outcomes} == {"created", "updated"}


def test_item_targets_are_still_applied_one_by_one(tables):
    h = Harness(tables)
    for i in range(3):
        h.left.add(title=f"T{i}")
    h.poll("left_to_right")
    _drain_in_batches(h)
    assert h.right.creates == 3 and h.right.write_calls == 3


def test_a_failing_item_in_a_batch_does_not_stop_the_others(tables):
    h = Harness(tables)
    h.right.session_unit = "container"
    for i in range(5):
        h.left.add(title=f"T{i}")
    h.right.fail_next = ["VS402323: bad value"]
    h.poll("left_to_right")
    _drain_in_batches(h)
    assert h.right.creates == 4
    assert len(h.queue.dead_letters(h.services.settings.item_queue)) == 1
