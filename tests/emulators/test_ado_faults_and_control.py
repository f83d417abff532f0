"""Fault injection, throttling headers, latency, counters and the `/_emulator/` control API of the ADO
emulator, driven both from Python and over HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from ado_testkit import add_fields, create, make_client, update

from emulators.ado import AdoEmulator


@pytest.fixture
def control(ado: AdoEmulator) -> httpx.Client:
    with httpx.Client(base_url=ado.control_url) as c:
        yield c


def test_throttle_fault_returns_429_with_rate_limit_headers(ado: AdoEmulator, client: httpx.Client) -> None:
    ado.seed_project("P")
    ado.faults.add(endpoint="wit.wiql", status=429, retry_after=2, times=2)
    query = {"query": "SELECT [System.Id] FROM WorkItems"}
    for _ in range(2):
        response = client.post("/P/_apis/wit/wiql", json=query)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.headers["x-ratelimit-resource"] == "ATCPU"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.headers["x-ratelimit-limit"] == "200"
        assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())
        assert response.json()["message"].startswith("TF400733:")
        assert response.json()["typeKey"] == "RequestBlockedException"
    assert client.post("/P/_apis/wit/wiql", json=query).status_code == 200
    assert ado.counters.calls("wit.wiql") == 3


def test_fault_rules_match_endpoint_patterns_and_methods(ado: AdoEmulator, client: httpx.Client) -> None:
    ado.seed_project("P")
    item = ado.seed_work_item("P", "Task", {"System.Title": "x"})
    ado.faults.add(endpoint="wit.workitems.*", method="PATCH", status=503, times=1)
    assert client.get(f"/_apis/wit/workitems/{item}").status_code == 200
    failed = update(client, item, add_fields(System_Title="y"))
    assert failed.status_code == 503 and failed.json()["message"].startswith("TF400898")
    assert update(client, item, add_fields(System_Title="y")).status_code == 200
    assert ado.counters.writes("update") == 1


def test_unlimited_rule_until_cleared_and_custom_message(ado: AdoEmulator, client: httpx.Client) -> None:
    ado.faults.add(endpoint="core.projects.list", status=500, times=None, message="boom")
    for _ in range(3):
        response = client.get("/_apis/projects")
        assert response.status_code == 500 and response.json()["message"] == "boom"
    ado.faults.clear()
    assert client.get("/_apis/projects").status_code == 200


def test_pass_through_rule_adds_retry_after_to_a_success(ado: AdoEmulator, client: httpx.Client) -> None:
    ado.faults.add(endpoint="core.projects.list", status=None, retry_after=1.5)
    response = client.get("/_apis/projects")
    assert response.status_code == 200
    assert response.headers["retry-after"] == "1.5"
    assert response.headers["x-ratelimit-delay"] == "1.5"


def test_server_flavor_has_no_rate_limit_headers(
    ado_server: AdoEmulator, server_client: httpx.Client
) -> None:
    ado_server.faults.add(endpoint="*", status=429, retry_after=3)
    response = server_client.get("/_apis/projects")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert not any(h.startswith("x-ratelimit") for h in response.headers)


def test_faults_apply_after_authentication(ado: AdoEmulator) -> None:
    ado.faults.add(endpoint="*", status=429, retry_after=1)
    assert httpx.get(f"{ado.base_url}/_apis/projects?api-version=7.1").status_code == 401
    with make_client(ado) as c:
        assert c.get("/_apis/projects").status_code == 429  # an anonymous call does not use up the rule
        assert c.get("/_apis/projects").status_code == 200


def test_latency_global_and_per_rule(ado: AdoEmulator, client: httpx.Client) -> None:
    client.get("/_apis/projects")
    ado.faults.latency_ms = 60
    started = time.perf_counter()
    client.get("/_apis/projects")
    assert time.perf_counter() - started >= 0.06
    ado.faults.latency_ms = 0
    ado.faults.add(endpoint="core.projects.list", status=None, latency_ms=80)
    started = time.perf_counter()
    client.get("/_apis/projects")
    assert time.perf_counter() - started >= 0.08


def test_counters_per_endpoint_and_writes(ado: AdoEmulator, client: httpx.Client) -> None:
    ado.seed_project("P")
    item = create(client, "P", "Task", add_fields(System_Title="a")).json()["id"]
    update(client, item, add_fields(System_Title="b"))
    update(client, item, add_fields(System_Title="b"))
    client.get(f"/_apis/wit/workitems/{item}")
    client.get(f"/_apis/wit/workitems/{item}")
    snapshot = ado.counters.snapshot()
    assert snapshot["calls"] == {"wit.workitems.create": 1, "wit.workitems.get": 2, "wit.workitems.update": 2}
    assert snapshot["writes"] == {"create": 1, "update": 1, "update_noop": 1}
    assert ado.counters.calls("wit.workitems.*") == 5 and ado.counters.calls() == 5
    ado.counters.reset()
    assert ado.counters.calls() == 0


def test_control_api_faults_counters_latency(
    ado: AdoEmulator, client: httpx.Client, control: httpx.Client
) -> None:
    assert control.get("/health").json() == {"ok": True}
    assert httpx.get(f"{ado.base_url}/_emulator/health").json() == {"ok": True}
    added = control.post(
        "/faults", json=[{"endpoint": "core.projects.*", "status": 429, "retryAfter": 1, "times": 1}]
    )
    assert added.status_code == 200 and added.json()["rules"][0]["retryAfter"] == 1
    assert client.get("/_apis/projects").status_code == 429
    assert control.get("/faults").json()["rules"] == []
    assert control.post("/faults", json={"bogus": 1}).status_code == 400
    counters = control.get("/counters").json()
    assert counters["calls"]["core.projects.list"] == 1 and counters["totalCalls"] == 1
    assert control.post("/reset-counters").json()["totalCalls"] == 0
    assert control.post("/latency", json={"ms": 5}).json()["latencyMs"] == 5
    assert control.post("/latency", json={"ms": -1}).status_code == 400
    assert control.delete("/faults").json() == {"latencyMs": 0, "rules": []}


def test_control_api_seed_state_edit_and_reset(
    ado: AdoEmulator, client: httpx.Client, control: httpx.Client
) -> None:
    seed = {
        "users": [{"displayName": "Dana Kim", "uniqueName": "dana.kim@contoso.com", "pat": "dana-pat"}],
        "fields": [{"referenceName": "Custom.TandemId", "name": "Tandem Id"}],
        "projects": [{"name": "Seeded", "process": "Scrum", "areas": ["Team A"]}],
        "workItems": [
            {
                "project": "Seeded",
                "type": "Product Backlog Item",
                "fields": {"System.Title": "PBI", "Custom.TandemId": "c-1"},
            },
            {
                "project": "Seeded",
                "type": "Task",
                "fields": {"System.Title": "Child", "System.AssignedTo": "Dana Kim"},
                "parent": 1,
            },
        ],
    }
    result = control.post("/seed", json=seed)
    assert result.status_code == 200, result.text
    body = result.json()
    assert [w["id"] for w in body["workItems"]] == [1, 2]
    assert body["projects"][0]["name"] == "Seeded"
    state = control.get("/state").json()
    assert state["workItems"] == 2 and state["projects"][0]["process"] == "Scrum"
    assert client.get("/_apis/wit/workitems/2").json()["fields"]["System.Parent"] == 1
    with make_client(ado, pat="dana-pat") as dana:
        assert (
            dana.get("/_apis/connectionData").json()["authenticatedUser"]["providerDisplayName"] == "Dana Kim"
        )

    edited = control.post(
        "/work-items/1", json={"fields": {"System.Title": "PBI v2"}, "by": "dana.kim@contoso.com"}
    )
    assert edited.json() == {"id": 1, "rev": 3}  # rev 2 came from the child link
    fields = client.get("/_apis/wit/workitems/1").json()["fields"]
    assert (
        fields["System.Title"] == "PBI v2"
        and fields["System.ChangedBy"]["uniqueName"] == "dana.kim@contoso.com"
    )

    assert control.post("/seed", json={"projects": [{"name": "Seeded"}]}).status_code == 400
    assert (
        control.post(
            "/seed", json={"workItems": [{"project": "Seeded", "type": "Nope", "fields": {}}]}
        ).status_code
        == 404
    )
    assert control.post("/work-items/99", json={"fields": {"System.Title": "x"}}).status_code == 404

    config = control.post(
        "/config", json={"maxApiVersion": "6.0", "wiqlMaxResults": 5, "batchLimit": 10}
    ).json()
    assert config == {
        "maxApiVersion": "6.0",
        "previewApiVersion": None,
        "wiqlMaxResults": 5,
        "batchLimit": 10,
    }
    assert client.get("/_apis/projects").status_code == 400

    assert control.post("/reset").json() == {"ok": True}
    after = control.get("/state").json()
    assert after["projects"] == [] and after["workItems"] == 0


def test_control_api_clock(ado: AdoEmulator, client: httpx.Client, control: httpx.Client) -> None:
    ado.seed_project("P")
    frozen = control.post("/clock", json={"freeze": "2026-05-01T12:00:00+00:00"}).json()
    assert frozen == {"now": "2026-05-01T12:00:00Z"}
    item = create(client, "P", "Task", add_fields(System_Title="x")).json()
    assert item["fields"]["System.CreatedDate"] == "2026-05-01T12:00:00Z"
    control.post("/clock", json={"advanceSeconds": 90})
    changed = update(client, item["id"], add_fields(System_Title="y")).json()
    assert changed["fields"]["System.ChangedDate"] == "2026-05-01T12:01:30Z"
    assert control.post("/clock", json={"freeze": "not a date"}).status_code == 400
    control.post("/clock", json={"unfreeze": True})
    now = datetime.fromisoformat(control.get("/clock").json()["now"])
    assert now >= datetime(2026, 5, 1, 12, 1, 30, tzinfo=UTC)
