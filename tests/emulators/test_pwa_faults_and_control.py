"""Throttling, fault injection, latency, counters and the ``/_emulator/`` control API of the PWA emulator,
and its standalone runner."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from pwa_testkit import REPO_ROOT, Scenario, client, ps, running, seed_scenario

from emulators.pwa import PwaEmulator


@pytest.fixture
def pwa() -> Iterator[PwaEmulator]:
    with running() as emulator:
        yield emulator


@pytest.fixture
def control(pwa: PwaEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pwa.control_url) as c:
        yield c


def test_throttling_faults_carry_retry_after(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Apollo")
    c = client(pwa)
    pwa.faults.add(endpoint="ps.tasks.*", status=429, retry_after=2, times=2)
    for _ in range(2):
        response = c.get(ps(project, "/Tasks"))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.headers["ratelimit-remaining"] == "0" and response.headers["ratelimit-reset"] == "2"
        assert "odata.error" in response.json()
    assert c.get(ps(project, "/Tasks")).status_code == 200
    pwa.faults.add(endpoint="ps.draft.publish", method="POST", status=503, retry_after=1.5)
    c.post(ps(project, "/checkOut()"))
    busy = c.post(ps(project, "/Draft/publish(true)"))
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1.5"
    assert c.post(ps(project, "/Draft/publish(true)")).status_code == 200
    assert pwa.counters.calls("ps.tasks.list") == 3 and pwa.counters.writes("publish") == 1


def test_pass_through_rule_and_custom_message(pwa: PwaEmulator) -> None:
    c = client(pwa, "verbose")
    pwa.faults.add(endpoint="ps.projects.list", status=None, retry_after=3)
    ok = c.get("ProjectServer/Projects")
    assert ok.status_code == 200 and ok.headers["retry-after"] == "3"
    pwa.faults.add(endpoint="*", status=500, message="boom", times=None)
    failing = c.get("ProjectServer/Projects")
    assert failing.status_code == 500 and failing.json()["error"]["message"]["value"] == "boom"
    pwa.faults.clear()
    assert c.get("ProjectServer/Projects").status_code == 200


def test_rate_limit_per_minute(pwa: PwaEmulator) -> None:
    pwa.configure(rate_limit_per_minute=3)
    c = client(pwa, digest=False)
    for _ in range(3):
        assert c.get("ProjectServer/Projects").status_code == 200
    throttled = c.get("ProjectServer/Projects")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1 and throttled.headers["ratelimit-limit"] == "3"
    pwa.clock.advance(61)
    assert c.get("ProjectServer/Projects").status_code == 200


def test_request_size_limit(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Apollo")
    pwa.configure(max_request_bytes=1000)
    c = client(pwa)
    c.post(ps(project, "/checkOut()"))
    big = c.post(ps(project, "/Draft/Tasks/Add"), json={"parameters": {"Name": "x" * 2000}})
    assert big.status_code == 400
    assert "too big" in big.json()["odata.error"]["message"]["value"]


def test_latency_and_counters_over_http(pwa: PwaEmulator, control: httpx.Client) -> None:
    assert control.post("/latency", json={"ms": 30}).status_code == 200
    c = client(pwa, digest=False)
    response = c.get("ProjectServer/Projects")
    assert float(response.headers["x-emulator-elapsed-ms"]) >= 30
    assert response.headers["sprequestguid"] and response.headers["dataserviceversion"] == "3.0"
    counters = control.get("/counters").json()
    assert counters["calls"] == {"ps.projects.list": 1}
    assert control.post("/reset-counters").json()["totalCalls"] == 0
    assert (
        control.post("/faults", json={"endpoint": "pd.*", "status": 429, "retryAfter": 1}).status_code == 200
    )
    assert c.get("ProjectData/Tasks").status_code == 429
    assert control.delete("/faults").json()["rules"] == []
    assert control.get("/health").json() == {"ok": True}
    site_level = httpx.get(f"{pwa.base_url}/_emulator/health")
    assert site_level.json() == {"ok": True}


def test_seed_state_config_edit_and_reset(pwa: PwaEmulator, control: httpx.Client) -> None:
    seed = {
        "users": [{"email": "ann.chen@contoso.com", "displayName": "Ann Chen", "password": "ann"}],
        "resources": [{"name": "Ann Chen", "email": "ann.chen@contoso.com"}],
        "lookupTables": [{"name": "Work Item Types", "entries": ["Bug", "Task"]}],
        "customFields": [
            {"name": "Sync with VSTS", "type": "flag", "entity": "task"},
            {"name": "Work Item Type", "type": "text", "entity": "task", "lookupTable": "Work Item Types"},
            {"name": "VSTS Project", "type": "text", "entity": "project"},
        ],
        "projects": [
            {
                "name": "Apollo",
                "customFields": {"VSTS Project": "Fabrikam"},
                "tasks": [
                    {"name": "Phase"},
                    {
                        "name": "Build",
                        "parent": "Phase",
                        "duration": "2d",
                        "customFields": {"Sync with VSTS": True, "Work Item Type": "Bug"},
                        "assignments": ["ann.chen@contoso.com"],
                    },
                ],
            }
        ],
    }
    created = control.post("/seed", json=seed)
    assert created.status_code == 200, created.text
    body = created.json()
    project_id = body["projects"][0]["id"]
    build_id = body["projects"][0]["tasks"][1]["id"]
    assert body["customFields"][0]["internalName"].startswith("Custom_")
    assert set(body["lookupTables"][0]["entries"]) == {"Bug", "Task"}
    assert control.post("/seed", json={"projects": [{"name": "Apollo"}]}).status_code == 400
    assert control.post("/seed", json={"nope": []}).status_code == 400
    state = control.get("/state").json()
    assert state["flavor"] == "online" and state["projects"][0]["name"] == "Apollo"
    assert state["entityTypes"]["task"]
    config = control.post(
        "/config", json={"reportingDelay": 0, "projectDataPageSize": 5, "psPageSize": 0}
    ).json()
    assert (
        config["reportingDelay"] == 0 and config["projectDataPageSize"] == 5 and config["psPageSize"] is None
    )
    assert control.post("/config", json={"queueDelay": -1}).status_code == 400
    edit = control.post(
        f"/projects/{project_id}/edit",
        json={
            "tasks": {build_id: {"PercentComplete": 60, "Sync with VSTS": False}},
            "by": "ann.chen@contoso.com",
        },
    )
    assert edit.status_code == 200, edit.text
    c = client(pwa)
    task = c.get(ps(project_id, f"/Tasks('{build_id}')")).json()
    assert task["PercentComplete"] == 60
    assert (
        c.get("ProjectData/Tasks", params={"$filter": f"TaskId eq guid'{build_id}'"}).json()["value"][0][
            "SyncwithVSTS"
        ]
        is False
    )
    assert (
        control.post(f"/projects/{project_id}/checkout", json={"user": "ann.chen@contoso.com"}).status_code
        == 200
    )
    assert control.get("/state").json()["projects"][0]["checkedOutBy"] == "ann.chen@contoso.com"
    blocked = control.post(f"/projects/{project_id}/edit", json={"tasks": {build_id: {"Name": "x"}}})
    assert blocked.status_code == 403
    assert control.delete(f"/projects/{project_id}/checkout").status_code == 200
    assert (
        control.post(f"/projects/{project_id}/checkout", json={"user": "nobody@contoso.com"}).status_code
        == 400
    )
    assert control.post("/reset").json() == {"ok": True}
    assert c.get("ProjectServer/Projects").json()["value"] == []
    assert control.get("/counters").json()["totalCalls"] == 1


def test_python_helpers(pwa: PwaEmulator) -> None:
    scenario: Scenario = seed_scenario(pwa)
    published = pwa.published_task(scenario.project, "Build")
    assert published["Name"] == "Build" and "__metadata" not in published
    pwa.set_checkout(scenario.project, pwa.service_user)
    assert pwa.draft_task(scenario.project, scenario.build)["ParentId"] == scenario.phase.id
    pwa.release_checkout(scenario.project)
    with pytest.raises(ValueError):
        pwa.seed_project("Apollo")
    with pytest.raises(ValueError):
        pwa.configure(nonsense=1)
    with pytest.raises(ValueError):
        PwaEmulator("cloud")  # type: ignore[arg-type]
    assert pwa.checkouts("Apollo") == 0 and pwa.publishes(scenario.project.id) == 0


def test_standalone_runner_prints_its_urls() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.pwa", "--flavor", "server", "--password", "pw"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["baseUrl"].endswith("/pwa") and info["credentials"]["password"] == "pw"
        response = httpx.get(
            f"{info['baseUrl']}/_api/ProjectServer/Projects",
            auth=("CONTOSO\\tandem", "pw"),
            headers={"Accept": "application/json;odata=nometadata"},
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
