"""Bulk synchronization through the admin API (sync/bulk.py, its routes) on the harness stack."""

from __future__ import annotations

import json

from sync import triggers
from tests.support.harness import Harness


def call(
    method: str, path: str, body: object = None, params: dict[str, str] | None = None
) -> tuple[int, dict]:
    resp = triggers.call_admin(method, path, body, params)
    return resp.status_code, json.loads(resp.get_body() or b"{}")


def test_a_bulk_dry_run_plans_exactly_what_the_real_run_then_does(harness: Harness):
    ids = [harness.left.add(title=f"T{i}").id for i in range(25)]
    request = {"directions": ["left_to_right"], "batch_size": 10, "dry_run": True}
    status, reply = call("POST", "scenarios/demo/bulk", request)
    assert status == 200, reply
    planned = {p["source_id"]: p for p in reply["plans"]}
    assert set(planned) == set(ids) and {p["action"] for p in planned.values()} == {"create"}
    assert reply["job"]["total"] == 25 and reply["job"]["done"] == 25 and reply["job"]["batches"] == 3
    assert harness.drain() == 0 and harness.right.creates == 0  # a dry run changes nothing

    status, reply = call("POST", "scenarios/demo/bulk", {**request, "dry_run": False}, {"job_id": "job1"})
    assert status == 200 and len(reply["runs"]) == 3  # one manual run per batch
    status, job = call("GET", "admin/bulk/job1")
    assert status == 200 and job["status"] == "done"
    assert (job["total"], job["done"], job["batches"]) == (25, 25, 3)
    harness.drain()
    assert harness.right.creates == 25
    status, after = call("GET", "scenarios/demo/status")
    assert after["links"]["linked"] == 25
    # Everything matches now: a second dry run plans no field change.
    status, reply = call("POST", "scenarios/demo/bulk", request)
    assert len(reply["plans"]) == 25 and all(p["changes"] == [] for p in reply["plans"])


def test_bulk_of_selected_items_in_both_directions(harness: Harness):
    left = harness.left.add(title="L").id
    status, reply = call("POST", "scenarios/demo/bulk", {"directions": ["left_to_right"], "items": [left]})
    assert status == 200 and reply["job"]["directions"] == ["left_to_right"] and reply["job"]["total"] == 1
    harness.drain()
    status, reply = call("POST", "scenarios/demo/bulk", {})
    assert status == 200 and reply["job"]["directions"] == ["left_to_right", "right_to_left"]
    assert reply["job"]["total"] == 2  # the item on each side, each forced across


def test_bulk_errors_name_the_field(harness: Harness):
    assert call("POST", "scenarios/demo/bulk", {"batch_size": 0})[1]["field"] == "batch_size"
    assert call("POST", "scenarios/demo/bulk", {"directions": ["up"]})[1]["field"] == "directions.0"
    status, reply = call("POST", "scenarios/nope/bulk", {})
    assert status == 404 and reply["field"] == "scenario"
    status, reply = call("GET", "admin/bulk/unknown")
    assert status == 404 and reply["field"] == "job_id"
    status, reply = call("GET", "admin/bulk/not-a-job!")
    assert status == 400 and reply["field"] == "job_id"
    assert harness.drain() == 0


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
