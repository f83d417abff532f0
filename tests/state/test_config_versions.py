"""The config table's versions: one row per change with author, diff and document; stale edits refused."""

from __future__ import annotations

import pytest

from state.config_diff import diff
from state.config_store import ConfigStore, VersionConflict


def doc(title_right: str) -> dict:
    return {
        "connections": {"a": {"type": "memory", "url": "memory://a"}},
        "field_maps": {"m": [{"left": "title", "right": title_right}]},
        "scenarios": [{"name": "s1", "left": "a", "right": "a", "field_map": "m"}],
    }


def test_each_replace_is_a_version_with_its_diff_and_document(tables):
    store = ConfigStore(tables)
    assert store.version() == 0 and store.history() == []
    assert store.replace(doc("Title"), author="ann") == 1
    assert store.replace(doc("Name"), author="bob", expected=1, note="rename") == 2
    assert store.replace(doc("Label"), author="cid", expected=2) == 3
    latest, previous = store.history(limit=2)
    assert (latest.number, latest.author, previous.number, previous.note) == (3, "cid", 2, "rename")
    assert [(c.path, c.old, c.new) for c in previous.changes] == [("field_maps.m.0.right", "Title", "Name")]
    assert store.snapshot(1) == doc("Title") and store.snapshot(9) is None
    assert store.load() == doc("Label")


def test_a_stale_version_is_refused_before_anything_is_written(tables):
    store = ConfigStore(tables)
    store.replace(doc("Title"), author="ann")
    store.replace(doc("Name"), author="ann", expected=1)
    with pytest.raises(VersionConflict, match=r"started from version 1, it is now version 2 \(by ann\)"):
        store.replace(doc("Other"), author="bob", expected=1)
    assert store.version() == 2 and store.load() == doc("Name") and len(store.history()) == 2


def test_diff_keys_scenarios_by_name():
    old = {"scenarios": [{"name": "a", "left": "x"}, {"name": "b", "left": "y"}]}
    new = {"scenarios": [{"name": "b", "left": "z"}]}
    assert [(c.path, c.op) for c in diff(old, new)] == [
        ("scenarios.a.left", "removed"),
        ("scenarios.a.name", "removed"),
        ("scenarios.b.left", "changed"),
    ]
