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


def test_the_new_links_of_a_batch_are_saved_together(tables):
    h = Harness(tables)
    links = h.services.links
    calls: list[int] = []
    real = links.create_many

    def create_many(batch):
        calls.append(len(batch))
        return real(batch)

    links.create_many = create_many  # type: ignore[method-assign]
    _create_forty(h)
    # One save per session's batch of several (a batch of one saves its link on its own), not one per item.
    assert len(calls) < 20 and sum(calls) > 20


def _create_forty(h: Harness) -> None:
    """Forty new items synced in session batches: each created once, linked once, counted as created."""
    for i in range(40):
        h.left.add(title=f"T{i}")
    h.poll("left_to_right")
    h.drain_batches()
    assert h.right.creates == 40 and len(h.right.records) == 40  # never created twice
    assert len(h.services.links.list(h.config.scenarios[0].key)) == 40
    assert [o.result for o in h.outcomes].count("created") == 40
    assert not h.queue.dead_letters(h.services.settings.item_queue)


def test_a_link_saved_by_another_worker_during_the_batch_is_not_duplicated(tables):
    h = Harness(tables)
    links = h.services.links
    real = links.create_many
    raced: list[str] = []

    def create_many(batch):
        # Another worker (the hook echo of our create) links the first item just before our save.
        if not raced:
            first = batch[0].model_copy(deep=True)
            links.create(first)
            raced.append(first.left_id)
        return real(batch)

    links.create_many = create_many  # type: ignore[method-assign]
    _create_forty(h)  # the lost save decided again; the raced item still counts as created (it was written)
    assert raced


def test_a_write_whose_link_save_loses_the_race_is_still_counted_as_updated(tables):
    from sync.status import scenario_status

    h = Harness(tables)
    rec = h.left.add(title="A")
    h.sync()
    h.drain()
    links = h.services.links
    real = links.save
    raced: list[str] = []

    def save(link, **kwargs):
        if not raced:  # the hook echo of our write saves the link first
            raced.append(link.link_id)
            real(links.get(link.scenario, link.link_id))
        return real(link, **kwargs)

    links.save = save  # type: ignore[method-assign]
    h.left.edit(rec.id, title="B")
    h.clock.advance(1)
    h.poll("left_to_right")
    h.drain()
    assert raced
    (target,) = h.right.records.values()
    assert target.fields["Title"] == "B" and h.right.creates == 1
    run = next(r for r in scenario_status(h.services, "demo").runs if r.direction == "left_to_right")
    assert run.counts.get("updated") == 1 and not run.counts.get("unchanged")
    assert h.outcomes[-1].result == "updated"
