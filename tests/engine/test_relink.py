"""The create path never duplicates: lost links are rebuilt from the stamps on the items, never re-created."""

from __future__ import annotations

import uuid

from azure.data.tables import TableServiceClient

from state.tables import Tables
from sync.status import scenario_status
from tests.support.harness import Harness


def _drop_links(h: Harness) -> None:
    """The links table is lost (a restore, a new storage account): dropped and created empty."""
    tables = h.services.tables
    service: TableServiceClient = tables.service
    service.delete_table(tables.name("links"))
    service.create_table_if_not_exists(tables.name("links"))


def _synced(h: Harness) -> tuple[list[str], list[str]]:
    made_left = h.left.add(title="from left", state="open")
    h.left.add(title="another", state="done")
    made_right = h.right.add(container="Q1", Title="from right", State="Active")
    h.sync()
    h.settle(60)
    assert len(h.left.records) == len(h.right.records) == 3
    return [made_left.id], [made_right.id]


def test_resync_after_the_links_table_is_lost_creates_no_duplicate(tables):
    h = Harness(tables)
    _synced(h)
    creates = (h.left.creates, h.right.creates)
    _drop_links(h)
    for direction in ("left_to_right", "right_to_left"):
        h.services.watermarks.reset("demo", direction)  # everything is listed again
    h.sync()
    h.settle(60)
    assert (h.left.creates, h.right.creates) == creates
    assert len(h.left.records) == len(h.right.records) == 3
    status = scenario_status(h.services, "demo")
    assert status.links == {"total": 3, "linked": 3}
    assert status.failures == [] and status.dead_letters == []
    writes = (h.left.writes, h.right.writes)
    h.sync()
    h.settle(60)
    assert (h.left.writes, h.right.writes) == writes  # converged again


def test_a_new_table_prefix_relinks_every_item(tables, azurite):
    h = Harness(tables)
    _synced(h)
    creates = (h.left.creates, h.right.creates)
    document = h.config.model_dump(mode="json", exclude_none=True)
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    fresh = Tables(service, prefix=f"t{uuid.uuid4().hex[:12]}")
    fresh.create_all()
    try:
        h.services.tables = fresh
        h.services.__post_init__()  # the stores on the new tables
        h.apply(document)
        h.sync()
        h.settle(60)
        assert (h.left.creates, h.right.creates) == creates
        assert scenario_status(h.services, "demo").links["linked"] == 3
    finally:
        for name in ("config", "links", "watermarks", "runs", "failures", "conflicts"):
            service.delete_table(fresh.name(name))


def test_an_edit_of_a_hub_made_copy_after_links_are_lost_goes_to_its_origin(tables):
    h = Harness(tables)
    (left_id,), _ = _synced(h)
    copy = next(r for r in h.right.records.values() if r.fields.get("Title") == "from left")
    assert copy.correlation_id
    _drop_links(h)  # watermarks kept: only what changes is listed again
    h.right.edit(copy.id, Title="edited on the right")
    h.sync()
    h.settle(60)
    assert len(h.left.records) == 3  # not copied back as if a person had made it
    assert h.left.records[left_id].fields["title"] == "edited on the right"
    link = h.services.links.find("demo", "right", copy.id)
    assert link.left_id == left_id and link.status == "linked"
