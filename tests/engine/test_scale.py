"""Cheaper at scale: batched fresh reads and stamp lookups per session batch, listing-only sources."""

from __future__ import annotations

from sync.manual import dry_run
from sync.sessions import SESSION_BUCKETS
from sync.status import scenario_status
from tests.support.harness import Harness


def test_a_batch_reads_its_source_items_in_one_call_and_looks_up_stamps_together(tables):
    h = Harness(tables)
    h.left.page_size = 200
    for i in range(120):
        h.left.add(title=f"T{i}")
    h.poll("left_to_right")
    reads = h.left.reads
    h.drain_batches()
    assert h.right.creates == 120
    # one read per session batch (item sessions are buckets of source ids), not one per item
    assert h.left.reads - reads <= SESSION_BUCKETS
    assert h.right.correlation_calls <= SESSION_BUCKETS  # every create was checked for a stamp first
    assert {o.result for o in h.outcomes} == {"created"}
    runs = scenario_status(h.services, "demo").runs
    assert sum(r.counts.get("created", 0) for r in runs) == 120  # counters written once per batch, all there

    for rec in list(h.left.records.values())[:30]:
        h.left.edit(rec.id, title=rec.fields["title"] + "!")
    h.clock.advance(1)
    h.poll("left_to_right")
    right_reads = h.right.reads
    h.drain_batches()
    assert sorted(r.fields["Title"] for r in h.right.records.values()).count("T1!") == 1
    assert h.right.reads - right_reads <= SESSION_BUCKETS  # the linked targets too, per batch


def test_a_listing_only_source_enqueues_only_what_changed(tables):
    h = Harness(tables)
    h.left.no_feed = {"item"}  # no change feed: the poll lists (id, version) pairs
    h.left.list_page = 4
    recs = [h.left.add(title=f"T{i}") for i in range(10)]
    h.poll("left_to_right")
    h.drain()
    assert h.right.creates == 10
    assert h.left.change_calls == 0 and h.left.list_calls == 3

    sent = []
    real_send = h.queue.send
    h.queue.send = lambda messages: (sent.extend(messages), real_send(messages))[1]
    h.poll("left_to_right")
    h.drain()
    items = [m for m in sent if m.queue == h.services.settings.item_queue]
    assert items == []  # nothing changed: nothing enqueued
    h.left.edit(recs[3].id, title="changed")
    (plan,) = [p for p in dry_run(h.services, "demo", ["left_to_right"]) if p["changes"]]
    assert plan["source_id"] == recs[3].id  # a dry run sees the same, and saves nothing
    h.poll("left_to_right")
    h.drain()
    items = [m for m in sent if m.queue == h.services.settings.item_queue]
    assert [m.body["source_id"] for m in items] == [recs[3].id]
    assert any(r.fields.get("Title") == "changed" for r in h.right.records.values())
    # the versions live in a fixed number of rows beside the watermark, however many items there are
    rows = list(h.services.tables.table("watermarks").query_entities("PartitionKey eq 'demo'"))
    assert 1 <= len([r for r in rows if "|v|" in r["RowKey"]]) <= 64
