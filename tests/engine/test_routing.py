"""Routing of creates by source fields: the target type (`type_field`) and the target container
(`container_field`, checked to exist; a name matching nothing is a failure in status, never a guess)."""

from __future__ import annotations

from typing import Any

from sync.status import scenario_status
from tests.support.harness import Harness, config_document


def routed_document(**direction_options: Any) -> dict[str, Any]:
    """No container pairs (same names); left → right routed by the left item's `wit` and `project` fields."""
    doc = config_document(containers=[], match={"sync": True})
    scenario = doc["scenarios"][0]
    scenario["type_map"] = {"task": "Task"}
    left = scenario["directions"]["left_to_right"]
    left.update({"type_field": "wit", "container_field": "project", **direction_options})
    return doc


def failures(h: Harness) -> list[str]:
    return [f.reason for f in scenario_status(h.services, "demo").failures]


def test_type_and_container_come_from_source_fields(tables):
    h = Harness(tables, routed_document())
    h.right.containers = ["Fabrikam", "Contoso"]
    h.left.add(container="Apollo", type="task", title="Fix login", sync=True, wit="Bug", project="fabrikam")
    h.left.add(container="Apollo", type="task", title="Plain", sync=True, project="Contoso")
    h.left.add(container="Apollo", type="task", title="Unflagged", sync=False, wit="Bug", project="Contoso")
    h.sync()
    created = {r.fields["Title"]: r for r in h.right.records.values()}
    assert set(created) == {"Fix login", "Plain"}  # the unflagged task never appears
    # the target's own spelling of the project
    assert (created["Fix login"].type, created["Fix login"].container) == ("Bug", "Fabrikam")
    assert (created["Plain"].type, created["Plain"].container) == ("Task", "Contoso")  # type map fallback
    assert failures(h) == []


def test_a_project_name_matching_nothing_is_a_failure_not_a_guess(tables):
    h = Harness(tables, routed_document())
    h.right.containers = ["Fabrikam"]
    rec = h.left.add(container="Apollo", type="task", title="T", sync=True, wit="Bug", project="Fabrikan")
    h.sync()
    assert h.right.records == {}
    (reason,) = failures(h)
    assert "no project 'Fabrikan' on mem-right" in reason and "named by 'project'" in reason
    assert rec.id in reason
    run = next(r for r in scenario_status(h.services, "demo").runs if r.direction == "left_to_right")
    assert run.counts.get("failed") == 1

    # Once a person corrects the name, the next poll creates it and the failure goes away.
    h.left.edit(rec.id, project="Fabrikam")
    h.sync()
    (created,) = h.right.records.values()
    assert created.container == "Fabrikam" and created.type == "Bug"
    assert failures(h) == []


def test_an_empty_project_field_without_fallback_is_a_failure(tables):
    h = Harness(tables, routed_document(container_fallback=False))
    h.right.containers = ["Apollo"]
    h.left.add(container="Apollo", type="task", title="T", sync=True)
    h.sync()
    assert h.right.records == {}
    (reason,) = failures(h)
    assert "'project' is empty" in reason and "Apollo" in reason


def test_an_empty_project_field_falls_back_to_the_same_name_when_it_exists(tables):
    doc = routed_document()
    doc["scenarios"][0]["directions"]["right_to_left"].update(
        {"container_field": "Project", "match": {"Sync": True}}
    )
    h = Harness(tables, doc)
    h.right.containers = ["Apollo"]
    h.left.containers = ["Apollo", "Zeus"]
    h.left.add(container="Apollo", type="task", title="from left", sync=True)
    h.right.add(container="Apollo", type="Task", Title="same name", Sync=True)
    h.right.add(container="Apollo", type="Task", Title="routed", Sync=True, Project="zeus")
    h.right.add(container="Hermes", type="Task", Title="no such project", Sync=True)
    h.sync()
    from_left = [r.container for r in h.right.records.values() if r.fields.get("Title") == "from left"]
    assert from_left == ["Apollo"]
    on_left = {r.fields["title"]: r.container for r in h.left.records.values() if r.id != "L-1"}
    assert on_left == {"same name": "Apollo", "routed": "Zeus"}
    (reason,) = failures(h)
    assert "no project 'Hermes' on mem-left" in reason and "same name" in reason


def test_routing_applies_to_creates_only(tables):
    h = Harness(tables, routed_document())
    h.right.containers = ["Fabrikam", "Contoso"]
    rec = h.left.add(container="Apollo", type="task", title="T", sync=True, wit="Bug", project="Fabrikam")
    h.sync()
    h.left.edit(rec.id, title="T2", wit="Epic", project="Contoso")
    h.sync()
    (created,) = h.right.records.values()
    assert (created.fields["Title"], created.type, created.container) == ("T2", "Bug", "Fabrikam")


def test_a_direction_with_create_off_updates_linked_items_and_creates_none(tables):
    doc = config_document(containers=[{"left": "P1", "right": "Q1"}])
    doc["scenarios"][0]["directions"]["right_to_left"]["create"] = False
    h = Harness(tables, doc)
    rec = h.left.add(container="P1", type="Task", title="from left")
    h.sync()
    (copy,) = h.right.records.values()
    h.right.add(container="Q1", type="Task", Title="made on the right")  # never copied to the left
    h.right.edit(copy.id, Title="edited on the right")  # a linked item still flows back
    h.sync()
    assert [r.fields["title"] for r in h.left.records.values()] == ["edited on the right"]
    assert h.left.records[rec.id].fields["title"] == "edited on the right"
    assert failures(h) == []

    # Turned on, the next poll creates it.
    doc["scenarios"][0]["directions"]["right_to_left"]["create"] = True
    h.apply(doc)
    h.right.edit(next(r.id for r in h.right.records.values() if r.id != copy.id), Title="made, now copied")
    h.sync()
    assert sorted(r.fields["title"] for r in h.left.records.values()) == [
        "edited on the right",
        "made, now copied",
    ]


def test_present_keeps_only_items_whose_field_is_set(tables):
    doc = routed_document(present=["project"])
    h = Harness(tables, doc)
    h.right.containers = ["Fabrikam"]
    h.left.add(container="Apollo", type="task", title="Routed", sync=True, project="Fabrikam")
    h.left.add(container="Apollo", type="task", title="No project", sync=True, project="")
    h.left.add(container="Apollo", type="task", title="Never set", sync=True)
    h.sync()
    assert [r.fields["Title"] for r in h.right.records.values()] == ["Routed"]
    assert failures(h) == []  # out of scope, not a failure
