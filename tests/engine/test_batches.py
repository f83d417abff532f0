"""Messages of one session applied together: one write call per target container (a PWA project's cycle)."""

from __future__ import annotations

from tests.support.harness import Harness


def test_container_targets_get_one_write_call_per_session(tables):
    h = Harness(tables)
    h.right.session_unit = "container"  # the right system writes per project, like PWA
    for i in range(50):
        h.left.add(title=f"T{i}")
    h.poll("left_to_right")
    h.drain_batches()
    assert h.right.creates == 50
    assert h.right.write_calls == 1  # fifty creates, one cycle
    for rec in list(h.left.records.values())[:20]:
        h.left.edit(rec.id, title=rec.fields["title"] + "!")
    h.clock.advance(1)
    h.poll("left_to_right")
    h.drain_batches()
    assert h.right.write_calls == 2  # twenty updates, one more cycle
    assert sorted(r.fields["Title"] for r in h.right.records.values()).count("T1!") == 1
    assert {o.result for o in h.outcomes} == {"created", "updated"}


def test_item_targets_are_still_applied_one_by_one(tables):
    h = Harness(tables)
    for i in range(3):
        h.left.add(title=f"T{i}")
    h.poll("left_to_right")
    h.drain_batches()
    assert h.right.creates == 3 and h.right.write_calls == 3


def test_a_failing_item_in_a_batch_does_not_stop_the_others(tables):
    h = Harness(tables)
    h.right.session_unit = "container"
    for i in range(5):
        h.left.add(title=f"T{i}")
    h.right.fail_next = ["VS402323: bad value"]
    h.poll("left_to_right")
    h.drain_batches()
    assert h.right.creates == 4
    assert len(h.queue.dead_letters(h.services.settings.item_queue)) == 1
