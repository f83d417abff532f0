"""Plans without side effects: dry runs change nothing, forced syncs overwrite, manual-mode rules."""

from __future__ import annotations

import base64
import json

from sync.hooks import receive_hook
from sync.manual import dry_run, sync_items
from sync.status import scenario_status
from tests.support.harness import DEFAULT_RULES, HOOK_PASSWORD, Harness, config_document

BOTH = ["left_to_right", "right_to_left"]


def _state(h: Harness) -> tuple:
    links = sorted((link.link_id, link.etag) for link in h.services.links.list("demo"))
    marks = [h.services.watermarks.get("demo", d)[0] for d in BOTH]
    return (h.left.writes, h.right.writes, h.left.creates, h.right.creates, links, marks)


def test_a_dry_run_changes_nothing_and_lists_what_the_run_then_does(tables):
    h = Harness(tables)
    rec = h.left.add(title="A", state="open")
    h.sync()
    (target,) = h.right.records.values()
    h.left.edit(rec.id, title="A2")
    h.right.edit(target.id, Description="notes from the right")
    new = h.left.add(title="B", state="done", owner="b@x.com")
    before = _state(h)
    sent = h.queue.send
    h.queue.send = lambda messages: (_ for _ in ()).throw(AssertionError("a dry run enqueued"))
    plans = dry_run(h.services, "demo", BOTH)
    h.queue.send = sent
    assert _state(h) == before  # no write, no link, no watermark moved
    changes = {
        (p["direction"], p["source_id"], p["action"]): {
            c["field"]: (c["before"], c["after"]) for c in p["changes"]
        }
        for p in plans
        if p["changes"]
    }
    assert changes == {
        ("left_to_right", rec.id, "update"): {"Title": ("A", "A2")},
        ("left_to_right", new.id, "create"): {
            "Title": (None, "B"),
            "State": (None, "Closed"),
            "AssignedTo": (None, "b@x.com"),
        },
        ("right_to_left", target.id, "update"): {"notes": (None, "notes from the right")},
    }
    h.sync()
    (created,) = [r for r in h.right.records.values() if r.id != target.id]
    assert h.right.records[target.id].fields["Title"] == "A2"
    assert created.fields == {"Title": "B", "State": "Closed", "AssignedTo": "b@x.com"}
    assert h.left.records[rec.id].fields["notes"] == "notes from the right"
    assert (h.left.writes, h.right.writes) == (before[0] + 1, before[1] + 2)  # exactly what was planned


def test_a_forced_sync_overwrites_the_target_even_when_the_source_did_not_change(tables):
    h = Harness(tables)
    rec = h.left.add(title="A", state="open")
    h.sync()
    (target,) = h.right.records.values()
    h.right.edit(target.id, Title="changed on the right")
    # an ordinary sync of the item: the source did not change, nothing to write
    sync_items(h.services, "demo", "left_to_right", [rec.id])
    h.drain()
    assert h.right.records[target.id].fields["Title"] == "changed on the right"
    (plan,) = dry_run(h.services, "demo", ["left_to_right"], items=[rec.id], force=True)
    assert plan["changes"] == [{"field": "Title", "before": "changed on the right", "after": "A"}]
    sync_items(h.services, "demo", "left_to_right", [rec.id], force=True)
    h.drain()
    assert h.right.records[target.id].fields["Title"] == "A"
    runs = scenario_status(h.services, "demo").runs
    assert runs[0].trigger == "manual" and runs[0].counts.get("updated") == 1


def _auth() -> str:
    return "Basic " + base64.b64encode(f"tandem:{HOOK_PASSWORD}".encode()).decode()


def test_manual_mode_rules_flow_only_on_manual_runs(tables):
    rules = [dict(r) for r in DEFAULT_RULES]
    rules[2] = {"left": "owner", "right": "AssignedTo", "direction": "left_to_right", "mode": "manual"}
    h = Harness(tables, config_document(rules=rules))
    rec = h.left.add(title="A", owner="a@x.com")
    h.sync(trigger="timer")
    (target,) = h.right.records.values()
    assert "AssignedTo" not in target.fields  # not on a timer poll
    h.left.edit(rec.id, owner="b@x.com", title="A2")
    body = json.dumps(
        {
            "eventType": "item.changed",
            "id": rec.id,
            "version": str(h.left.records[rec.id].version),
            "container": "P1",
        }
    )
    assert receive_hook(h.services, "mem-left", "demo", _auth(), body.encode()).status == 202
    h.drain()
    assert target.fields["Title"] == "A2" and "AssignedTo" not in target.fields  # not on a hook
    h.sync(trigger="manual")
    assert target.fields["AssignedTo"] == "b@x.com"  # a manual run brings it across
    writes = h.right.writes
    h.sync(trigger="manual")
    h.sync(trigger="timer")
    assert h.right.writes == writes  # and nothing flows back or again
