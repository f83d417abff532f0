"""The link filter on Azurite: never hides a link (old rows, index rows, concurrent markers), and spares
the reads of ids that were never linked."""

from __future__ import annotations

import threading
from typing import Any

from state.link_filter import Bits
from state.links import Link, LinkStore, _idx_rk, _link_rk
from state.tables import escape_key

SCENARIO = "demo|left=a|right=b"


def linked(origin: str, origin_id: str, other_id: str, stamp: str = "") -> Link:
    link = Link(scenario=SCENARIO, origin=origin, origin_id=origin_id, status="linked", correlation_id=stamp)  # type: ignore[arg-type]
    other = "right" if origin == "left" else "left"
    link.set_side(origin, origin_id, "1", None)  # type: ignore[arg-type]
    link.set_side(other, other_id, "1", None)  # type: ignore[arg-type]
    return link


class CountingReads:
    """Counts the point reads of link and index rows a LinkStore sends."""

    def __init__(self, store: LinkStore) -> None:
        self.rows: list[str] = []
        real = store.client.get_entity

        def get_entity(pk: str, rk: str, **kw: Any) -> Any:
            self.rows.append(rk)
            return real(pk, rk, **kw)

        store.client.get_entity = get_entity  # type: ignore[method-assign]

    def link_reads(self) -> list[str]:
        return [rk for rk in self.rows if not rk.startswith("filter")]


def write_old_rows(store: LinkStore, link: Link) -> None:
    """A link as an earlier release saved it: link row and index rows, no filter marks."""
    pk = escape_key(SCENARIO)
    entity = store._to_entity(link)
    store.client.create_entity(entity)
    other = "right" if link.origin == "left" else "left"
    store.client.create_entity(store._index(pk, other, link.id_of(other), link.link_id))  # type: ignore[arg-type]


def test_bits_mark_and_never_forget():
    bits = Bits()
    ids = [str(i) for i in range(5000)]
    for i in ids:
        bits.add(i)
    assert all(bits.may_hold(i) for i in ids)
    false_positives = sum(bits.may_hold(f"other-{i}") for i in range(20_000))
    assert false_positives < 20  # about 0.04 % expected at 5,000 ids


def test_fresh_ids_cost_no_link_reads_and_linked_ones_are_found(tables):
    store = LinkStore(tables)
    saved = store.create_many([linked("left", str(i), f"r{i}") for i in range(20)])
    assert all(saved)
    assert store.find_many(SCENARIO, "left", ["0"])["0"] is not None  # builds the filter (incomplete so far)
    reads = CountingReads(store)
    wanted = [str(i) for i in range(10)] + [str(i) for i in range(100, 140)]
    found = store.find_many(SCENARIO, "left", wanted)
    assert [found[str(i)].id_of("right") for i in range(10)] == [f"r{i}" for i in range(10)]  # type: ignore[union-attr]
    assert all(found[str(i)] is None for i in range(100, 140))
    # The linked ids are read (one link row each); the 40 fresh ones cost nothing beyond the filter row.
    assert len(reads.link_reads()) <= 10 + 2
    assert reads.rows.count(escape_key("filter|left")) == 1
    right = store.find_many(SCENARIO, "right", ["r3", "r99"])
    assert right["r3"] is not None and right["r3"].origin_id == "3" and right["r99"] is None


def test_links_saved_before_the_filter_existed_are_still_found(tables):
    store = LinkStore(tables)
    write_old_rows(store, linked("left", "7", "r7", stamp="0123abcd"))  # an earlier release's stamp
    write_old_rows(store, linked("right", "r8", "8"))
    # A new link marks the filter first; the filter is still incomplete until a reader builds it.
    store.create(linked("left", "9", "r9"))
    left = store.find_many(SCENARIO, "left", ["7", "8", "9", "10"])
    assert left["7"] is not None and left["7"].link_id == "left|7"
    assert left["8"] is not None and left["8"].link_id == "right|r8"  # through the old index row
    assert left["9"] is not None and left["10"] is None
    right = store.find_many(SCENARIO, "right", ["r7", "r8", "r9"])
    assert all(right[i] is not None for i in ("r7", "r8", "r9"))
    # Built once: the next batch reads the complete filter, not the whole partition.
    reads = CountingReads(store)
    assert store.find_many(SCENARIO, "left", ["11"]) == {"11": None}
    assert reads.rows == [escape_key("filter|left")]


def test_a_lost_filter_is_rebuilt_from_the_links(tables):
    store = LinkStore(tables)
    store.create_many([linked("left", str(i), f"r{i}") for i in range(5)])
    assert store.find_many(SCENARIO, "left", ["1"])["1"] is not None
    pk = escape_key(SCENARIO)
    store.client.delete_entity(pk, escape_key("filter|left"))
    assert store.find_many(SCENARIO, "left", ["1", "2", "50"]) == {
        "1": store.find(SCENARIO, "left", "1"),
        "2": store.find(SCENARIO, "left", "2"),
        "50": None,
    }


def test_a_new_index_is_marked_before_it_is_saved(tables):
    store = LinkStore(tables)
    pending = Link(scenario=SCENARIO, origin="left", origin_id="1", status="pending")
    pending.set_side("left", "1", None, None)
    created = store.create(pending)
    assert store.find_many(SCENARIO, "right", ["r1"]) == {"r1": None}
    created.set_side("right", "r1", "1", None)
    created.status = "linked"
    store.save(created, new_index=("right", "r1"))
    found = store.find_many(SCENARIO, "right", ["r1"])["r1"]
    assert found is not None and found.link_id == "left|1"


def test_concurrent_markers_keep_each_others_bits(tables):
    store = LinkStore(tables)
    store.find_many(SCENARIO, "left", ["x"])  # the filter exists and is complete

    def create(worker: int) -> None:
        for n in range(5):
            store.create_many([linked("left", f"{worker}-{n}-{k}", f"r{worker}-{n}-{k}") for k in range(3)])

    threads = [threading.Thread(target=create, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [f"{w}-{n}-{k}" for w in range(6) for n in range(5) for k in range(3)]
    found = store.find_many(SCENARIO, "left", ids)
    assert all(found[i] is not None for i in ids)


def test_stamps_naming_their_origin_need_no_correlation_index(tables):
    store = LinkStore(tables)
    pk = escape_key(SCENARIO)
    store.create(linked("left", "1", "r1", stamp="abcdef012345.l.1"))
    store.create(linked("left", "2", "r2", stamp="0f0f0f0f0f0f0f0f"))  # an earlier release's hash stamp
    rows = {r["RowKey"] for r in store.client.query_entities("PartitionKey eq @pk", parameters={"pk": pk})}
    assert _link_rk("left|1") in rows and _idx_rk("corr", "abcdef012345.l.1") not in rows
    assert _idx_rk("corr", "0f0f0f0f0f0f0f0f") in rows
    found = store.find_by_correlation(SCENARIO, "0f0f0f0f0f0f0f0f")
    assert found is not None and found.origin_id == "2"


def test_a_stale_index_row_does_not_stop_a_batch_of_new_links(tables):
    store = LinkStore(tables)
    pk = escape_key(SCENARIO)
    # An index row left for r2 (its link deleted by hand): the batch's insert of it fails, the links are
    # then created one by one, and r2's index row now points to the new link.
    store.client.create_entity(store._index(pk, "right", "r2", "left|old"))
    saved = store.create_many([linked("left", str(i), f"r{i}") for i in range(4)])
    assert all(saved)
    found = store.find_many(SCENARIO, "right", ["r1", "r2"])
    assert found["r2"] is not None and found["r2"].link_id == "left|2"
    assert found["r1"] is not None and found["r1"].link_id == "left|1"
