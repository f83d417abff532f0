"""Bulk synchronization through the admin API (sync/bulk.py, its routes) on the harness stack: the request
answers 202 at once, the job runs from the queue (a listing step, then batches in the job's session), its
progress is read while it runs, a match key links what already matches, a job never runs twice."""

from __future__ import annotations

import json

from sync import triggers
from tests.support.harness import Harness


def call(
    method: str, path: str, body: object = None, params: dict[str, str] | None = None
) -> tuple[int, dict]:
    resp = triggers.call_admin(method, path, body, params)
    return resp.status_code, json.loads(resp.get_body() or b"{}")


def job_of(job_id: str) -> dict:
    status, job = call("GET", f"admin/bulk/{job_id}")
    assert status == 200, job
    return job


def test_the_request_answers_at_once_and_the_job_runs_from_the_queue(harness: Harness):
    ids = [harness.left.add(title=f"T{i}").id for i in range(25)]
    request = {"directions": ["left_to_right"], "batch_size": 10}
    status, job = call("POST", "scenarios/demo/bulk", request, {"job_id": "job1"})
    assert status == 202 and job["status"] == "queued" and job["job_id"] == "job1"
    assert harness.right.creates == 0  # nothing done within the request

    # The listing step, then the three batches (one session: in order); the items wait on the item queue.
    settings = harness.services.settings
    readings = []
    while (delivery := harness.queue.receive(settings.poll_queue)) is not None:
        from sync.runtime import handle_poll

        handle_poll(harness.services, delivery.message)
        harness.queue.complete(delivery)
        readings.append(job_of("job1")["enqueued"])
    assert readings == [0, 10, 20, 25]
    running = job_of("job1")
    assert running["status"] == "running" and running["done"] == 0
    assert (running["total"], running["batches"], running["batches_total"]) == (25, 3, 3)

    harness.drain(max_messages=10)
    partial = job_of("job1")
    assert partial["status"] == "running" and partial["done"] == 10 and partial["rate"] > 0
    harness.drain()
    done = job_of("job1")
    assert done["status"] == "done" and done["done"] == 25 and done["counts"]["created"] == 25
    assert harness.right.creates == 25 and {r.fields["Title"] for r in harness.right.of("item")} == {
        f"T{i}" for i in range(25)
    }
    runs = [r for r in call("GET", "scenarios/demo/status")[1]["runs"] if r["trigger"] == "bulk"]
    assert len(runs) == 1 and runs[0]["counts"]["created"] == 25 and runs[0]["status"] == "enqueued"
    assert all(harness.services.links.find("demo", "left", i) is not None for i in ids)


def test_a_bulk_dry_run_plans_exactly_what_the_real_run_then_does(harness: Harness):
    ids = [harness.left.add(title=f"T{i}").id for i in range(25)]
    request = {"directions": ["left_to_right"], "batch_size": 10, "dry_run": True}
    status, job = call("POST", "scenarios/demo/bulk", request, {"job_id": "dry1"})
    assert status == 202
    harness.drain()
    job = job_of("dry1")
    assert job["status"] == "done" and (job["total"], job["done"], job["batches"]) == (25, 25, 3)
    status, plans = call("GET", "admin/bulk/dry1/plans")
    planned = {p["source_id"]: p for p in plans}
    assert status == 200 and set(planned) == set(ids)
    assert {p["action"] for p in planned.values()} == {"create"}
    assert harness.right.creates == 0  # a dry run changes nothing

    status, _ = call("POST", "scenarios/demo/bulk", {**request, "dry_run": False}, {"job_id": "run1"})
    harness.drain()
    assert job_of("run1")["status"] == "done" and harness.right.creates == 25
    for record in harness.right.of("item"):
        origin = record.correlation_id.rsplit(".", 1)[-1]
        after = {c["field"]: c["after"] for c in planned[origin]["changes"]}
        assert after == {k: v for k, v in record.fields.items() if v is not None}
    # Everything matches now: a second dry run plans no field change.
    call("POST", "scenarios/demo/bulk", request, {"job_id": "dry2"})
    harness.drain()
    again = call("GET", "admin/bulk/dry2/plans")[1]
    assert len(again) == 25 and all(p["changes"] == [] for p in again)
    status, reply = call("GET", "admin/bulk/run1/plans")
    assert status == 400 and reply["field"] == "job_id"


def test_a_match_key_links_what_already_matches_and_reports_ambiguity(harness: Harness):
    left = {i: harness.left.add(title=f"Item {i}", owner=f"o{i}").id for i in range(8)}
    # On the target already: items 0-2 (owner o1; item 0's title in other case), and item 3 twice.
    titles = ["item 0", "Item 1", "Item 2"]
    existing = {i: harness.right.add(container="Q1", Title=titles[i], AssignedTo="o1").id for i in range(3)}
    twins = [harness.right.add(container="Q1", Title="Item 3").id for _ in range(2)]
    request = {"directions": ["left_to_right"], "match_key": "title", "batch_size": 5}

    call("POST", "scenarios/demo/bulk", {**request, "dry_run": True}, {"job_id": "dry"})
    harness.drain()
    plans = {p["source_id"]: p for p in call("GET", "admin/bulk/dry/plans")[1]}
    assert plans[left[0]]["action"] == "relink" and plans[left[0]]["target_id"] == existing[0]
    # A relinked item shows what the run then writes to it (values compare without regard to case).
    assert [c["field"] for c in plans[left[0]]["changes"]] == ["Title", "AssignedTo"]
    assert plans[left[1]]["changes"] == []
    assert [c["field"] for c in plans[left[2]]["changes"]] == ["AssignedTo"]
    assert plans[left[3]]["action"] == "dead" and "ambiguous match key" in plans[left[3]]["reason"]
    assert all(t in plans[left[3]]["reason"] for t in twins)
    assert {plans[left[i]]["action"] for i in (4, 5, 6, 7)} == {"create"}

    call("POST", "scenarios/demo/bulk", request, {"job_id": "real"})
    harness.settle()
    job = job_of("real")
    assert job["status"] == "done" and job["done"] == 8
    assert job["counts"]["created"] == 4 and job["counts"]["failed"] == 1
    assert harness.right.creates == 4  # 0-2 linked, 3 not guessed, 4-7 created
    assert len(harness.right.of("item")) == 3 + 2 + 4
    for i in range(3):
        link = harness.services.links.find("demo", "left", left[i])
        assert link is not None and link.right_id == existing[i]
    assert harness.right.records[existing[0]].fields == {"Title": "Item 0", "AssignedTo": "o0"}
    status = call("GET", "scenarios/demo/status")[1]
    (failure,) = status["failures"]
    assert failure["source_id"] == left[3] and "ambiguous match key" in failure["reason"]


def test_a_target_already_linked_to_another_item_is_not_matched_again(harness: Harness):
    first = harness.left.add(title="Same").id
    harness.right.add(container="Q1", Title="Same")
    call(
        "POST",
        "scenarios/demo/bulk",
        {"directions": ["left_to_right"], "match_key": "Title"},
        {"job_id": "a"},
    )
    harness.settle()
    second = harness.left.add(title="same").id
    call(
        "POST",
        "scenarios/demo/bulk",
        {"directions": ["left_to_right"], "match_key": "Title"},
        {"job_id": "b"},
    )
    harness.settle()
    assert harness.services.links.find("demo", "left", first) is not None
    assert harness.services.links.find("demo", "left", second) is None
    assert harness.right.creates == 0
    (failure,) = call("GET", "scenarios/demo/status")[1]["failures"]
    assert failure["source_id"] == second and "already linked" in failure["reason"]


def test_a_scenario_match_on_links_on_an_ordinary_poll(harness: Harness):
    import pytest

    from sync.config import parse_config
    from tests.support.harness import config_document

    document = config_document()
    document["scenarios"][0]["match_on"] = "Nope"
    with pytest.raises(ValueError, match=r"scenarios\.0\.match_on: 'Nope' is no field"):
        parse_config(document)
    document["scenarios"][0]["match_on"] = "title"
    harness.apply(document)
    target = harness.right.add(container="Q1", Title="Kept").id
    source = harness.left.add(title="Kept").id
    harness.poll("left_to_right")
    harness.drain()
    link = harness.services.links.find("demo", "left", source)
    assert link is not None and link.right_id == target and harness.right.creates == 0


def test_a_job_never_runs_twice(harness: Harness):
    for i in range(6):
        harness.left.add(title=f"T{i}")
    request = {"directions": ["left_to_right"], "batch_size": 3}
    call("POST", "scenarios/demo/bulk", request, {"job_id": "once"})
    sent = []
    send = harness.queue.send

    def recording(messages):  # type: ignore[no-untyped-def]
        sent.extend(m.model_copy(deep=True) for m in messages)
        send(messages)

    harness.queue.send = recording  # type: ignore[method-assign]
    harness.drain()
    assert harness.right.creates == 6
    # The same job started again answers the job as it stands; its steps delivered again change nothing.
    status, job = call("POST", "scenarios/demo/bulk", request, {"job_id": "once"})
    assert status == 202 and job["status"] == "done" and job["done"] == 6
    steps = [m for m in sent if m.body.get("kind") == "bulk"]
    assert len(steps) == 2  # the two batches the listing sent
    items = [m for m in sent if m.body.get("kind") == "item"]
    from sync.bulk import handle_bulk
    from sync.runtime import handle_item

    for step in steps:
        handle_bulk(harness.services, step)
    for item in items:
        handle_item(harness.services, item)  # a redelivered item message: already applied for this job
    harness.drain()
    assert harness.right.creates == 6 and len(harness.right.of("item")) == 6
    assert job_of("once")["batches"] == 2


def test_bulk_of_selected_items_in_both_directions(harness: Harness):
    left = harness.left.add(title="L").id
    status, job = call("POST", "scenarios/demo/bulk", {"directions": ["left_to_right"], "items": [left]})
    assert status == 202 and job["directions"] == ["left_to_right"]
    harness.drain()
    assert job_of(job["job_id"])["total"] == 1
    status, job = call("POST", "scenarios/demo/bulk", {})
    assert status == 202 and job["directions"] == ["left_to_right", "right_to_left"]
    harness.drain()
    assert job_of(job["job_id"])["total"] == 2  # the item on each side, each forced across


def test_bulk_errors_name_the_field(harness: Harness):
    assert call("POST", "scenarios/demo/bulk", {"batch_size": 0})[1]["field"] == "batch_size"
    assert call("POST", "scenarios/demo/bulk", {"directions": ["up"]})[1]["field"] == "directions.0"
    status, reply = call("POST", "scenarios/demo/bulk", {"match_key": "Nope"})
    assert status == 400 and reply["field"] == "match_key" and "Nope" in reply["error"]
    assert "title" in reply["error"]  # the fields it could be
    status, reply = call("POST", "scenarios/nope/bulk", {})
    assert status == 404 and reply["field"] == "scenario"
    status, reply = call("GET", "admin/bulk/unknown")
    assert status == 404 and reply["field"] == "job_id"
    status, reply = call("GET", "admin/bulk/not-a-job!")
    assert status == 400 and reply["field"] == "job_id"
    assert harness.drain() == 0


def test_a_job_whose_scenario_is_removed_fails_with_the_reason(harness: Harness):
    from tests.support.harness import config_document

    harness.left.add(title="T")
    call("POST", "scenarios/demo/bulk", {"directions": ["left_to_right"]}, {"job_id": "gone"})
    document = config_document()
    document["scenarios"][0]["name"] = "other"
    harness.apply(document)
    harness.drain()
    job = job_of("gone")
    assert job["status"] == "failed" and "demo" in job["error"]


def test_read_and_write_map_onto_the_direction_of_the_ado_side(harness: Harness):
    from sync.config import parse_config
    from sync.manual import ado_direction
    from tests.support.harness import config_document

    status, reply = call("POST", "scenarios/demo/run", {"ado": "read", "items": ["1"]})
    assert status == 400 and reply["field"] == "ado" and "no Azure DevOps side" in reply["error"]
    status, reply = call("POST", "scenarios/demo/run", {"ado": "read", "direction": "left_to_right"})
    assert status == 400 and reply["field"] == "ado"

    class Config:
        def __init__(self, left: str, right: str) -> None:
            document = config_document()
            document["connections"]["mem-left"]["type"] = left
            document["connections"]["mem-right"]["type"] = right
            self.config = parse_config(document)

        def scenario(self) -> object:
            return self.config.scenario("demo")

    for left, right, read in [
        ("azure_devops", "memory", "left_to_right"),
        ("memory", "azure_devops", "right_to_left"),
        ("azure_devops", "azure_devops", "right_to_left"),  # ADO Server ↔ Services: Services is the ADO side
    ]:
        config = Config(left, right)
        services = type("S", (), {"config": lambda self, c=config.config: c})()
        assert ado_direction(services, config.scenario(), "read") == read  # type: ignore[arg-type]
        write = "left_to_right" if read == "right_to_left" else "right_to_left"
        assert ado_direction(services, config.scenario(), "write") == write  # type: ignore[arg-type]


def test_a_match_key_towards_a_system_that_cannot_look_items_up_is_refused(harness: Harness, monkeypatch):
    from tests.support.memory_connector import MemoryConnector

    class Blind(MemoryConnector):
        find_by_field = None  # a system that cannot look items up by a field value

    systems = {"mem-left": harness.left, "mem-right": harness.right}
    monkeypatch.setattr(harness.services, "connector", lambda name: Blind(systems[name]))
    body = {"directions": ["right_to_left"], "match_key": "title"}
    status, reply = call("POST", "scenarios/demo/bulk", body)
    assert status == 400 and reply["field"] == "match_key" and "cannot look items up" in reply["error"]
    assert harness.drain() == 0  # nothing started
