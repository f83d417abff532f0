"""The admin API (sync/admin/app.py) through the function app's own admin functions, on the harness stack."""

from __future__ import annotations

import json

from sync import triggers
from sync.admin.openapi import COMMITTED, render
from tests.support.harness import Harness


def call(method: str, path: str, body: object = None) -> tuple[int, dict]:
    resp = triggers.call_admin(method, path, body)
    return resp.status_code, json.loads(resp.get_body() or b"{}")


def test_the_committed_openapi_document_is_the_apps():
    # `make openapi` refreshes openapi/admin.json when the routes change.
    assert COMMITTED.read_text(encoding="utf-8") == render()


def test_the_openapi_document_is_served(harness: Harness):
    status, document = call("GET", "openapi.json")
    assert status == 200
    assert "/api/scenarios/{scenario}/run" in document["paths"]
    assert document == json.loads(render())


def test_a_4xx_names_the_offending_field(harness: Harness):
    assert call("POST", "scenarios/demo/run", {"items": "A"}) == (
        400,
        {"error": "items: Input should be a valid list", "field": "items"},
    )
    status, reply = call("POST", "scenarios/demo/run", {"colour": "red"})
    assert status == 400 and reply["field"] == "colour"
    status, reply = call("POST", "scenarios/demo/run", {"direction": "left_to_right", "force": True})
    assert status == 400 and reply["field"] == "items"
    status, reply = call("POST", "scenarios/demo/run", {"force": True, "items": ["1"]})
    assert status == 400 and reply["field"] == "direction"
    status, reply = call("POST", "scenarios/nope/run", {})
    assert status == 404 and reply["field"] == "scenario" and "nope" in reply["error"]
    status, reply = call("POST", "scenarios/demo/run", {"direction": "left_to_right", "entity": "nope"})
    assert status == 404 and reply["field"] == "entity"
    status, reply = call("GET", "scenarios/demo/nothing-here")
    assert status == 404 and reply["error"]
    assert harness.drain() == 0


def test_bodies_are_size_and_depth_checked(harness: Harness):
    limit = harness.services.settings.request_body_limit
    status, reply = call("POST", "scenarios/demo/run", b'{"items": ["' + b"x" * limit + b'"]}')
    assert status == 413 and str(limit) in reply["error"]
    status, reply = call("POST", "scenarios/demo/run", b"[" * 100 + b"]" * 100)
    assert status == 400 and "nests deeper" in reply["error"]
    status, reply = call("POST", "scenarios/demo/run", b"{not json")
    assert status == 400 and reply["field"] == "body"
    assert harness.drain() == 0


def test_a_dry_run_and_a_forced_sync_of_selected_items(harness: Harness):
    rec = harness.left.add(title="A")
    status, reply = call(
        "POST", "scenarios/demo/run", {"direction": "left_to_right", "items": [rec.id], "dry_run": True}
    )
    assert status == 200 and reply["dry_run"] is True
    assert [p["action"] for p in reply["plans"]] == ["create"]
    assert harness.drain() == 0 and harness.right.creates == 0  # a dry run changes nothing
    status, reply = call("POST", "scenarios/demo/run", {"direction": "left_to_right", "items": [rec.id]})
    assert status == 202 and reply["items"] == [rec.id] and reply["run_id"]
    harness.drain()
    assert harness.right.creates == 1


def test_a_run_without_a_body_takes_the_direction_from_the_query(harness: Harness):
    resp = triggers.call_admin("POST", "scenarios/demo/run", params={"direction": "right_to_left"})
    assert resp.status_code == 202
    assert json.loads(resp.get_body())["enqueued"] == ["right_to_left"]
