"""Scenarios of several entity pairs: dependency order, references resolved through links, natural keys."""

from __future__ import annotations

from typing import Any

import pytest

from sync.config import ConfigError, parse_config
from sync.status import scenario_status
from tests.support.harness import Harness, config_document


def three_entities(required: bool = True) -> dict[str, Any]:
    """A <- B <- C: B references an A (optional), C references a B (required)."""
    doc = config_document(rules=[{"left": "name", "right": "Name"}])
    scenario = doc["scenarios"][0]
    scenario["containers"] = []
    scenario["entities"] = [
        # listed out of order on purpose: the polls follow depends_on, not the list
        {
            "name": "C",
            "depends_on": ["B"],
            "references": [{"path": "owner", "required": required}],
        },
        {"name": "B", "depends_on": ["A"], "references": [{"path": "group"}]},
        {"name": "A"},
    ]
    return doc


def harness(tables, doc: dict[str, Any] | None = None) -> Harness:
    h = Harness(tables, doc or three_entities())
    for system in (h.left, h.right):
        system.entity_names = ["A", "B", "C"]
    return h


def test_pairs_poll_in_dependency_order_and_references_resolve_to_target_ids(tables):
    h = harness(tables)
    a = h.left.add(entity="A", name="a1")
    b = h.left.add(entity="B", name="b1", refs={"group": ("A", a.id)})
    c = h.left.add(entity="C", name="c1", refs={"owner": ("B", b.id)})
    h.poll("left_to_right")
    h.settle()
    order = [h.right.records[i].entity for i in h.right.created_order]
    assert order == ["A", "B", "C"]
    (ra,), (rb,), (rc,) = h.right.of("A"), h.right.of("B"), h.right.of("C")
    assert rb.refs["group"].id == ra.id  # the target's id, never the source's
    assert rc.refs["owner"].id == rb.id
    # links are kept per entity pair: the first pair listed keeps the scenario's own key
    assert h.services.links.find("demo", "left", c.id).right_id == rc.id
    assert h.services.links.find("demo|B", "left", b.id).right_id == rb.id
    assert h.services.links.find("demo|A", "left", a.id).right_id == ra.id
    status = scenario_status(h.services, "demo")
    assert status.links["total"] == 3 and status.failures == [] and status.dead_letters == []

    # a rerun writes nothing and creates no duplicate
    writes = (h.left.writes, h.right.writes)
    h.sync()
    h.settle()
    assert (h.left.writes, h.right.writes) == writes
    assert len(h.right.records) == 3 and len(h.left.records) == 3


def test_an_item_waits_for_its_required_reference_and_is_written_after_it(tables):
    h = harness(tables)
    b = h.left.add(entity="B", name="b1")
    c = h.left.add(entity="C", name="c1", refs={"owner": ("B", b.id)})
    h.right.throttle_next = [30.0]  # B's create is refused for 30 s
    h.poll("left_to_right")
    h.drain()
    assert h.right.of("C") == []  # C waits: its reference has no link yet
    (waiting,) = [f for f in scenario_status(h.services, "demo").failures if f.source_id == c.id]
    assert waiting.kind == "retrying" and f"owner -> B {b.id}" in waiting.reason
    h.settle()
    (rb,), (rc,) = h.right.of("B"), h.right.of("C")
    assert h.right.created_order == [rb.id, rc.id]
    assert rc.refs["owner"].id == rb.id
    assert scenario_status(h.services, "demo").failures == []


def test_a_required_reference_that_never_resolves_is_dead_lettered_naming_it(tables):
    h = harness(tables)
    c = h.left.add(entity="C", name="orphan", refs={"owner": ("B", "L-999")})
    h.poll("left_to_right")
    h.settle(seconds=1200, step=20)
    assert h.right.of("C") == []  # never written with a source id in it
    status = scenario_status(h.services, "demo")
    (failure,) = [f for f in status.failures if f.source_id == c.id]
    assert failure.kind == "permanent"
    assert "required reference owner -> B L-999" in failure.reason and "'owner'" in failure.reason
    assert [d["source_id"] for d in status.dead_letters] == [c.id]


def test_an_optional_reference_is_written_without_after_a_few_waits_with_a_warning(tables):
    h = harness(tables, three_entities(required=False))
    c = h.left.add(entity="C", name="c", refs={"owner": ("B", "L-999")})
    h.poll("left_to_right")
    h.settle()
    (rc,) = h.right.of("C")
    assert "owner" not in rc.refs
    assert h.services.links.find("demo", "left", c.id).right_id == rc.id
    runs = scenario_status(h.services, "demo").runs
    assert sum(r.counts.get("warnings", 0) for r in runs) == 1


def test_a_changed_reference_is_resolved_on_update(tables):
    h = harness(tables)
    b1 = h.left.add(entity="B", name="b1")
    b2 = h.left.add(entity="B", name="b2")
    c = h.left.add(entity="C", name="c", refs={"owner": ("B", b1.id)})
    h.poll("left_to_right")
    h.settle()
    h.left.records[c.id].refs["owner"] = h.left.records[c.id].refs["owner"].model_copy(update={"id": b2.id})
    h.left.edit(c.id)
    h.poll("left_to_right")
    h.settle()
    (rc,) = h.right.of("C")
    assert rc.refs["owner"].id == h.services.links.find("demo|B", "left", b2.id).right_id


def test_natural_key_links_an_existing_item_instead_of_creating_one(tables):
    h = harness(tables)
    h.right.natural_keys = {"A": "Name"}
    existing = h.right.add(entity="A", Name="shared")
    a = h.left.add(entity="A", name="shared")
    h.poll("left_to_right")
    h.settle()
    assert h.right.creates == 0 and len(h.right.of("A")) == 1
    assert h.services.links.find("demo|A", "left", a.id).right_id == existing.id


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        (
            [
                {"name": "A", "depends_on": ["C"]},
                {"name": "B", "depends_on": ["A"]},
                {"name": "C", "depends_on": ["B"]},
            ],
            "scenarios.0.entities.depends_on: dependency cycle",
        ),
        ([{"name": "A", "depends_on": ["Z"]}], "scenarios.0.entities.0.depends_on: unknown entity pair 'Z'"),
        ([{"name": "A"}, {"name": "A"}], "scenarios.0.entities.1.name: duplicate entity pair 'A'"),
    ],
)
def test_bad_entity_pairs_are_refused_naming_the_field(entities, expected):
    doc = three_entities()
    doc["scenarios"][0]["entities"] = entities
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert expected in str(err.value)
    if "cycle" in expected:
        cycle = str(err.value).split("dependency cycle ")[1].split()[0:5]
        assert {"A", "B", "C"} <= set(cycle)


def test_single_entity_documents_are_the_one_element_case():
    scenario = parse_config(config_document()).scenario("demo")
    (view,) = scenario.views()
    assert view.key == "demo" and view.entity_of("left") == "item" == view.entity_of("right")
