"""The operations routes (sync/admin/ops_routes.py) through the function app's admin functions, on the harness
stack (Azurite tables, the local queue, memory systems): overview, failures, dead letters and their replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sync import triggers
from tests.support.harness import Harness


def call(
    method: str, path: str, body: object = None, params: dict[str, str] | None = None
) -> tuple[int, dict]:
    resp = triggers.call_admin(method, path, body, params)
    return resp.status_code, json.loads(resp.get_body() or b"{}")


def dead_letter_two(harness: Harness) -> list[str]:
    """Two items whose creates fail permanently: both dead-lettered; their source ids."""
    a = harness.left.add(title="A")
    b = harness.left.add(title="B")
    harness.right.fail_next = ["VS402323: field Title is required", "VS402323: field Title is required"]
    harness.poll()
    harness.drain()
    return [a.id, b.id]


def test_the_overview_shows_directions_runs_links_and_hourly_throughput(harness: Harness):
    for n in range(3):
        harness.left.add(title=f"item {n}")
    harness.sync()
    status, reply = call("GET", "admin/overview")
    assert status == 200
    [demo] = reply["integrations"]
    assert demo["name"] == "demo" and demo["links"] == 3
    assert {d["direction"] for d in demo["directions"]} == {"left_to_right", "right_to_left"}
    assert all(d["trigger"] == "automatic" and d["schedule"] for d in demo["directions"])
    created = [r for r in demo["last_runs"] if r["created"]]
    assert [(r["direction"], r["created"], r["failed"]) for r in created] == [("left_to_right", 3, 0)]
    assert demo["open_conflicts"] == 0 and demo["failures"] == 0 and demo["dead_letters"] == 0
    buckets = demo["throughput"]
    assert len(buckets) == 24
    starts = [datetime.fromisoformat(b["at"]) for b in buckets]
    assert starts == sorted(starts) and starts[1] - starts[0] == timedelta(hours=1)
    assert starts[-1] <= datetime.now(UTC) < starts[-1] + timedelta(hours=1)  # runs carry wall time
    assert buckets[-1]["items"] == 3 and sum(b["items"] for b in buckets) == 3


def test_failures_and_dead_letters_are_listed_with_reasons_then_replayed_one_by_one(harness: Harness):
    ids = dead_letter_two(harness)
    status, failures = call("GET", "scenarios/demo/failures")
    assert status == 200
    assert sorted(f["source_id"] for f in failures["items"]) == sorted(ids)
    assert all(f["kind"] == "permanent" and "VS402323" in f["reason"] for f in failures["items"])
    assert all(f["direction"] == "left_to_right" and f["entity"] and f["at"] for f in failures["items"])

    status, dead = call("GET", "admin/deadletters", params={"scenario": "demo"})
    assert status == 200 and len(dead["items"]) == 2
    first = dead["items"][0]
    assert first["queue"] == harness.services.settings.item_queue
    assert first["scenario"] == "demo" and first["direction"] == "left_to_right"
    assert first["source_id"] in ids and "VS402323" in first["reason"] and first["attempts"] >= 1
    assert first["dead_lettered_at"]
    assert call("GET", "admin/deadletters", params={"scenario": "other"})[1] == {"items": []}
    status, overview = call("GET", "admin/overview")
    assert overview["integrations"][0]["dead_letters"] == 2 and overview["integrations"][0]["failures"] == 2

    # Fixed on the target; one replayed: only it is written, the other stays dead-lettered.
    status, reply = call("POST", "admin/deadletters/replay", {"message_ids": [first["message_id"]]})
    assert (status, reply) == (200, {"replayed": 1})
    harness.drain()
    assert harness.right.creates == 1
    [left_over] = call("GET", "admin/deadletters")[1]["items"]
    assert left_over["message_id"] != first["message_id"]
    assert [f["source_id"] for f in call("GET", "scenarios/demo/failures")[1]["items"]] == [
        left_over["source_id"]
    ]
    assert call("POST", "admin/deadletters/replay", {"message_ids": ["no-such-id"]})[1] == {"replayed": 0}


def test_replay_all_of_a_scenario(harness: Harness):
    dead_letter_two(harness)
    assert call("POST", "admin/deadletters/replay", {"all": True, "scenario": "other"})[1] == {"replayed": 0}
    assert call("POST", "admin/deadletters/replay", {"all": True, "scenario": "demo"})[1] == {"replayed": 2}
    harness.drain()
    assert harness.right.creates == 2
    assert call("GET", "admin/deadletters")[1] == {"items": []}
    assert call("GET", "scenarios/demo/failures")[1] == {"items": []}


def test_replay_requests_name_what_is_wrong(harness: Harness):
    assert call("POST", "admin/deadletters/replay", {}) == (
        400,
        {"error": "name the message_ids to replay, or set all to true", "field": "message_ids"},
    )
    status, reply = call("POST", "admin/deadletters/replay", {"all": True, "message_ids": ["a"]})
    assert status == 400 and reply["field"] == "all"
    status, reply = call("POST", "admin/deadletters/replay", {"message_ids": []})
    assert status == 400 and reply["field"] == "message_ids"
    status, reply = call("GET", "admin/deadletters", params={"limit": "0"})
    assert status == 400 and reply["field"] == "limit"
    status, reply = call("GET", "scenarios/nope/failures")
    assert status == 404 and reply["field"] == "scenario"


def flagged(harness: Harness) -> tuple[str, str]:
    """A title edited on both sides since the last sync, under the `flag` rule: (left id, right id)."""
    from tests.support.harness import config_document

    harness.apply(config_document(conflict="flag"))
    rec = harness.left.add(title="A")
    harness.sync()
    [target] = harness.right.of("item")
    harness.left.edit(rec.id, title="L")
    harness.right.edit(target.id, Title="R")
    harness.sync()
    return rec.id, target.id


def test_a_conflict_is_listed_with_both_values_the_snapshot_and_the_fields(harness: Harness):
    left_id, right_id = flagged(harness)
    status, reply = call("GET", "scenarios/demo/conflicts")
    assert status == 200
    [c] = reply["items"]
    assert (c["rule"], c["left_field"], c["right_field"]) == ("title<->Title", "title", "Title")
    assert (c["left_id"], c["right_id"]) == (left_id, right_id)
    assert (c["left_value"], c["right_value"], c["base_left"], c["base_right"]) == ("L", "R", "A", "A")
    assert c["entity"] == "item" and c["link_id"] and c["id"] and c["at"]


def test_resolving_by_side_writes_both_systems_once_and_the_next_poll_writes_nothing(harness: Harness):
    left_id, right_id = flagged(harness)
    [c] = call("GET", "scenarios/demo/conflicts")[1]["items"]
    writes = harness.left.writes + harness.right.writes
    status, reply = call("POST", f"scenarios/demo/conflicts/{c['id']}/resolve", {"side": "left"})
    assert status == 200 and reply["resolved"] is True and reply["value"] == "L"
    assert reply["written"] == ["right"]
    assert harness.right.records[right_id].fields["Title"] == "L"
    assert harness.left.writes + harness.right.writes == writes + 1
    assert call("GET", "scenarios/demo/conflicts")[1] == {"items": []}
    harness.sync()  # the echo of the write and a poll of both sides: nothing to write
    assert harness.left.writes + harness.right.writes == writes + 1
    link = harness.services.links.find("demo", "left", left_id)
    assert link is not None and link.snapshot["title<->Title"] == {"left": "L", "right": "L"}
    status, reply = call("POST", f"scenarios/demo/conflicts/{c['id']}/resolve", {"side": "left"})
    assert status == 404 and reply["field"] == "id"


def test_resolving_with_a_typed_value_writes_it_to_both_sides(harness: Harness):
    left_id, right_id = flagged(harness)
    [c] = call("GET", "scenarios/demo/conflicts")[1]["items"]
    status, reply = call("POST", f"scenarios/demo/conflicts/{c['id']}/resolve", {"value": "Both"})
    assert status == 200 and sorted(reply["written"]) == ["left", "right"]
    assert harness.left.records[left_id].fields["title"] == "Both"
    assert harness.right.records[right_id].fields["Title"] == "Both"
    writes = harness.left.writes + harness.right.writes
    harness.sync()
    assert harness.left.writes + harness.right.writes == writes
    assert call("GET", "scenarios/demo/conflicts")[1] == {"items": []}


def test_a_side_changed_again_since_is_a_409_and_nothing_is_written(harness: Harness):
    _left_id, right_id = flagged(harness)
    [c] = call("GET", "scenarios/demo/conflicts")[1]["items"]
    harness.right.edit(right_id, Title="R2")
    writes = harness.left.writes + harness.right.writes
    status, reply = call("POST", f"scenarios/demo/conflicts/{c['id']}/resolve", {"side": "left"})
    assert status == 409 and "right side changed again" in reply["error"]
    assert harness.left.writes + harness.right.writes == writes
    assert len(call("GET", "scenarios/demo/conflicts")[1]["items"]) == 1


def test_a_stale_version_during_the_write_is_read_again_and_retried(harness: Harness):
    _left_id, right_id = flagged(harness)
    [c] = call("GET", "scenarios/demo/conflicts")[1]["items"]
    real_write = harness.right.records[right_id]
    edited = []

    # Someone saves an unrelated field of the right item between the resolver's read and its write.
    from tests.support import memory_connector

    original = memory_connector.MemoryConnector.write

    def racing(self, entity, writes):
        if self.system is harness.right and not edited:
            edited.append(harness.right.edit(right_id, Description="by someone"))
        return original(self, entity, writes)

    memory_connector.MemoryConnector.write = racing
    try:
        status, reply = call("POST", f"scenarios/demo/conflicts/{c['id']}/resolve", {"side": "left"})
    finally:
        memory_connector.MemoryConnector.write = original
    assert status == 200, reply
    assert real_write.fields["Title"] == "L" and real_write.fields["Description"] == "by someone"


def test_resolve_requests_name_what_is_wrong(harness: Harness):
    flagged(harness)
    [c] = call("GET", "scenarios/demo/conflicts")[1]["items"]
    path = f"scenarios/demo/conflicts/{c['id']}/resolve"
    status, reply = call("POST", path, {})
    assert status == 400 and reply["field"] == "side"
    status, reply = call("POST", path, {"side": "left", "value": "x"})
    assert status == 400 and reply["field"] == "side"
    status, reply = call("POST", path, {"side": "middle"})
    assert status == 400 and reply["field"] == "side"
    status, reply = call("POST", "scenarios/demo/conflicts/bm9wZQ/resolve", {"side": "left"})
    assert status == 404 and reply["field"] == "id"
    status, reply = call("POST", "scenarios/demo/conflicts/%%%/resolve", {"side": "left"})
    assert status == 404


def test_an_item_is_found_by_either_id_with_its_link_snapshot_versions_and_journal(harness: Harness):
    rec = harness.left.add(title="A", owner="ann@example.com")
    harness.sync()
    [target] = harness.right.of("item")
    harness.left.edit(rec.id, title="B")
    harness.sync()
    status, reply = call("GET", "scenarios/demo/items", params={"id": target.id})
    assert status == 200
    item = reply["item"]
    assert (item["entity"], item["left_id"], item["right_id"]) == ("item", rec.id, target.id)
    assert item["link"]["status"] == "linked" and item["link"]["link_id"] == f"left|{rec.id}"
    assert item["snapshot"]["title<->Title"] == {"left": "B", "right": "B"}
    assert item["versions"] == {"left": str(rec.version), "right": str(target.version)}
    actions = [(e["direction"], e["action"]) for e in item["events"]]
    assert actions[-1] == ("left_to_right", "created")  # newest first
    [update] = [e for e in item["events"] if e["action"] == "updated"]
    assert update["direction"] == "left_to_right" and update["fields"] == ["Title"] and update["run_id"]
    assert actions.index(("left_to_right", "updated")) < len(actions) - 1
    assert "B" not in json.dumps(item["events"]) and "ann@" not in json.dumps(item["events"])  # names only
    assert call("GET", "scenarios/demo/items", params={"id": rec.id, "side": "left"})[1] == reply
    status, other = call("GET", "scenarios/demo/items", params={"id": rec.id, "side": "right"})
    assert status == 404 and other["field"] == "id"


def test_the_journal_keeps_the_last_fifty_runs_of_an_item(harness: Harness):
    from state.item_journal import MAX_EVENTS

    rec = harness.left.add(title="0")
    harness.sync()
    for n in range(MAX_EVENTS + 3):
        harness.left.edit(rec.id, title=str(n + 1))
        harness.poll()
        harness.drain()
    events = call("GET", "scenarios/demo/items", params={"id": rec.id})[1]["item"]["events"]
    assert len(events) == MAX_EVENTS
    actions = [e["action"] for e in events]
    # The oldest (the create) fell off; polls overlap, so a re-listed old version may add an "unchanged".
    assert "created" not in actions and actions.count("updated") >= MAX_EVENTS - 5


def test_an_unlinked_or_failed_item_and_an_unknown_one(harness: Harness):
    [a, _] = dead_letter_two(harness)
    status, reply = call("GET", "scenarios/demo/items", params={"id": a})
    assert status == 200 and reply["item"]["link"] is None and reply["item"]["left_id"] == a
    assert any("VS402323" in n for n in reply["item"]["notes"])
    status, reply = call("GET", "scenarios/demo/items", params={"id": "nope-1"})
    assert status == 404 and reply["field"] == "id" and "nope-1" in reply["error"]
    status, reply = call("GET", "scenarios/demo/items", params={"id": a, "entity": "nope"})
    assert status == 404 and reply["field"] == "entity"
    status, reply = call("GET", "scenarios/demo/items")
    assert status == 400 and reply["field"] == "id"
