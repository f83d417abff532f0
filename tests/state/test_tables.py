"""Table stores on Azurite: ETag concurrency, large snapshots, links, watermarks, runs."""

from __future__ import annotations

import threading

import pytest

from connectors.contract import Watermark
from state.links import Link, LinkConflict, LinkStore
from state.runs import RunStore
from state.tables import StateError, modify, pack_json, unpack_json
from state.watermarks import WatermarkMoved, WatermarkStore


def test_pack_json_round_trips_and_compresses_large_values():
    small = {"a": 1}
    assert unpack_json("v", pack_json("v", small)) == small
    big = {"text": "lorem ipsum " * 50_000}  # 600 KB of text
    props = pack_json("v", big)
    assert props["v_enc"] == "zlib"
    assert all(len(v) <= 30_000 for v in props.values() if isinstance(v, str))
    assert unpack_json("v", props) == big


def test_pack_json_refuses_what_cannot_fit():
    import os

    noise = os.urandom(900_000).hex()  # incompressible
    with pytest.raises(StateError, match="too large"):
        pack_json("v", {"x": noise})


def test_link_with_large_snapshot_is_stored(tables):
    store = LinkStore(tables)
    link = Link(scenario="s", origin="left", origin_id="1", left_id="1", correlation_id="c")
    link.snapshot = {"desc": {"left": "x" * 200_000, "right": "y" * 200_000}}
    saved = store.create(link)
    assert store.find("s", "left", "1").snapshot == link.snapshot
    saved.right_id = "R9"
    store.save(saved, new_index=("right", "R9"))
    assert store.find("s", "right", "R9").left_id == "1"


def test_link_save_is_etag_conditional(tables):
    store = LinkStore(tables)
    store.create(Link(scenario="s", origin="left", origin_id="1", left_id="1"))
    a = store.get("s", "left|1")
    b = store.get("s", "left|1")
    a.right_id = "A"
    store.save(a)
    b.right_id = "B"
    with pytest.raises(LinkConflict):
        store.save(b)
    with pytest.raises(LinkConflict):
        store.create(Link(scenario="s", origin="left", origin_id="1", left_id="1"))
    assert store.get("s", "left|1").right_id == "A"


def test_watermark_advance_needs_the_etag_it_read(tables):
    store = WatermarkStore(tables)
    mark, etag = store.get("s", "left_to_right")
    assert mark == Watermark() and etag is None
    from datetime import UTC, datetime

    etag = store.advance("s", "left_to_right", Watermark(at=datetime(2026, 1, 1, tzinfo=UTC)), etag)
    with pytest.raises(WatermarkMoved):
        store.advance("s", "left_to_right", Watermark(at=datetime(2026, 1, 2, tzinfo=UTC)), None)
    store.advance("s", "left_to_right", Watermark(at=datetime(2026, 1, 2, tzinfo=UTC)), etag)
    assert store.get("s", "left_to_right")[0].at.day == 2


def test_run_counters_survive_concurrent_workers(tables):
    runs = RunStore(tables)
    run = runs.start("s", "left_to_right", "timer")

    def work():
        for _ in range(10):
            runs.add("s", run.run_id, updated=1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs.get("s", run.run_id).counts["updated"] == 40
    runs.finish("s", run.run_id, "enqueued")
    assert runs.recent("s")[0].status == "enqueued"


def test_recent_runs_are_newest_first(tables):
    runs = RunStore(tables)
    first = runs.start("s", "left_to_right", "timer")
    second = runs.start("s", "left_to_right", "manual")
    assert [r.run_id for r in runs.recent("s")][:2] in (
        [second.run_id, first.run_id],
        [first.run_id, second.run_id],
    )
    assert runs.recent("s", 1)[0].started_at >= first.started_at


def test_modify_retries_on_a_lost_race(tables):
    client = tables.table("runs")
    client.create_entity({"PartitionKey": "p", "RowKey": "r", "n": 0})
    raced = []

    def change(entity):
        if not raced:
            raced.append(1)
            other = dict(client.get_entity("p", "r"))
            other["n"] = 100
            client.update_entity(other)
        entity["n"] += 1
        return entity

    modify(client, "p", "r", change)
    assert client.get_entity("p", "r")["n"] == 101


def test_a_link_transaction_is_sent_again_after_a_connection_reset(tables):
    from azure.core.exceptions import ServiceResponseError

    store = LinkStore(tables)
    real = store.client.submit_transaction
    failures = ["reset before"]

    def flaky(ops, **kwargs):
        if failures and failures[0] == "reset before":
            failures.pop(0)
            raise ServiceResponseError("Connection reset by peer")  # nothing written
        if failures:
            failures.pop(0)
            real(ops, **kwargs)  # written, but the answer never came back
            raise ServiceResponseError("Connection aborted")
        return real(ops, **kwargs)

    store.client.submit_transaction = flaky  # type: ignore[method-assign]
    saved = store.create(Link(scenario="s", origin="left", origin_id="1", left_id="1", right_id="R1"))
    assert saved.etag and store.find("s", "right", "R1").left_id == "1"
    # The replay of a transaction that went through finds its own rows: a lost race, decided again.
    batch = [Link(scenario="s", origin="left", origin_id=str(i), left_id=str(i)) for i in (2, 3)]
    failures.append("lost answer")
    assert store.create_many(batch) == [None, None]
    assert store.find("s", "left", "2") is not None and store.find("s", "left", "3") is not None
