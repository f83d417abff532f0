"""The Planner emulator against the Graph v1.0 Planner spec (`specs/graph/`): response shapes, request rules
(If-Match, Prefer, open types), paging, token endpoint, faults, counters and the control API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulators.planner import PlannerEmulator
from tests.support import graph_spec

ASSIGNMENT = {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"}


@pytest.fixture
def planner() -> Iterator[PlannerEmulator]:
    with PlannerEmulator(page_size=4) as emulator:
        yield emulator


@pytest.fixture
def graph(planner: PlannerEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=planner.base_url + "/", headers=planner.auth_header(), timeout=10) as c:
        yield c


@pytest.fixture
def plan(planner: PlannerEmulator) -> str:
    planner.add_user("Ann Chen", "ann.chen@contoso.com")
    return planner.seed_plan("Apollo", buckets=["To do"], category_descriptions={"category4": "75 %"})


def new_task(graph: httpx.Client, plan: str, **fields) -> dict:
    response = graph.post("planner/tasks", json={"planId": plan, "title": "Build", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_task_plan_bucket_and_details_match_the_spec(planner, graph, plan):
    ann = planner.user_id("ann.chen@contoso.com")
    task = new_task(
        graph,
        plan,
        bucketId=planner.bucket_id(plan, "To do"),
        assignments={ann: ASSIGNMENT},
        appliedCategories={"category4": True},
        dueDateTime="2026-12-11T17:00:00+02:00",
        percentComplete=50,
    )
    for name, body in (
        ("plannerTask", task),
        ("plannerTask", graph.get(f"planner/tasks/{task['id']}").json()),
        ("plannerTaskDetails", graph.get(f"planner/tasks/{task['id']}/details").json()),
        ("plannerPlan", graph.get(f"planner/plans/{plan}").json()),
        ("plannerPlanDetails", graph.get(f"planner/plans/{plan}/details").json()),
        ("plannerBucketCollectionResponse", graph.get(f"planner/plans/{plan}/buckets").json()),
        ("plannerTaskCollectionResponse", graph.get(f"planner/plans/{plan}/tasks").json()),
    ):
        graph_spec.validate(name, body)
        if not name.endswith("CollectionResponse"):
            assert graph_spec.undeclared(name, body) == set(), name
            assert body["@odata.etag"].startswith('W/"') and body["@odata.context"].startswith(
                planner.base_url
            )
    assignment = task["assignments"][ann]
    graph_spec.validate("plannerAssignment", assignment)
    assert graph_spec.undeclared("plannerAssignment", assignment) == set()
    assert assignment["orderHint"] and assignment["orderHint"] != " !"
    assert task["dueDateTime"] == "2026-12-11T15:00:00Z" and task["createdDateTime"].endswith("Z")
    assert task["appliedCategories"] == {"category4": True} and len(task["id"]) == 28
    described = graph.get(f"planner/plans/{plan}/details").json()["categoryDescriptions"]
    assert set(described) == {f"category{i}" for i in range(1, 26)} and described["category4"] == "75 %"


def test_patch_and_delete_need_the_current_etag(planner, graph, plan):
    task = new_task(graph, plan)
    url = f"planner/tasks/{task['id']}"
    missing = graph.patch(url, json={"title": "x"})
    assert missing.status_code == 412 and missing.json()["error"]["code"] == "PreconditionFailed"
    graph_spec.validate("ODataErrors.ODataError", missing.json())
    quiet = graph.patch(url, json={"title": "Renamed"}, headers={"If-Match": task["@odata.etag"]})
    assert quiet.status_code == 204 and quiet.content == b""
    stale = graph.patch(url, json={"title": "Again"}, headers={"If-Match": task["@odata.etag"]})
    assert stale.status_code == 412
    current = graph.get(url).json()
    shown = graph.patch(
        url,
        json={"percentComplete": 100},
        headers={"If-Match": current["@odata.etag"], "Prefer": "return=representation"},
    )
    assert shown.status_code == 200 and shown.json()["percentComplete"] == 100
    assert shown.json()["completedDateTime"] and shown.json()["completedBy"]["user"]["id"]
    assert shown.json()["@odata.etag"] > current["@odata.etag"]  # ordinal: newer is greater
    assert graph.delete(url, headers={"If-Match": current["@odata.etag"]}).status_code == 412
    assert graph.delete(url, headers={"If-Match": shown.json()["@odata.etag"]}).status_code == 204
    assert graph.get(url).status_code == 404


def test_details_etag_is_separate_and_a_raced_details_update_is_409(planner, graph, plan):
    task = new_task(graph, plan)
    details = graph.get(f"planner/tasks/{task['id']}/details").json()
    graph.patch(
        f"planner/tasks/{task['id']}", json={"priority": 1}, headers={"If-Match": task["@odata.etag"]}
    )
    assert graph.get(f"planner/tasks/{task['id']}/details").json()["@odata.etag"] == details["@odata.etag"]
    planner.conflict_next_details(task["id"])
    raced = graph.patch(
        f"planner/tasks/{task['id']}/details",
        json={"description": "x"},
        headers={"If-Match": details["@odata.etag"]},
    )
    assert raced.status_code == 409 and raced.json()["error"]["code"] == "Conflict"
    before = graph.get(f"planner/tasks/{task['id']}").json()["@odata.etag"]
    ok = graph.patch(
        f"planner/tasks/{task['id']}/details",
        json={
            "description": "Scope",
            "checklist": {
                "95e27074-6c4a-447a-aa24-9d718a0b86fa": {
                    "@odata.type": "#microsoft.graph.plannerChecklistItem",
                    "title": "Design",
                }
            },
            "references": {
                "https%3A%2F%2Fexample%2Ecom%2Fspec": {
                    "@odata.type": "#microsoft.graph.plannerExternalReference",
                    "alias": "Spec",
                    "type": "Other",
                }
            },
        },
        headers={"If-Match": details["@odata.etag"], "Prefer": "return=representation"},
    )
    assert ok.status_code == 200, ok.text
    graph_spec.validate("plannerTaskDetails", ok.json())
    for item in ok.json()["checklist"].values():
        assert graph_spec.undeclared("plannerChecklistItem", item) == set()
    for ref in ok.json()["references"].values():
        assert graph_spec.undeclared("plannerExternalReference", ref) == set()
    after = graph.get(f"planner/tasks/{task['id']}").json()
    # The task summarises its details: its counts and ETag change with them.
    assert after["hasDescription"] and after["checklistItemCount"] == 1 and after["referenceCount"] == 1
    assert after["@odata.etag"] != before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": "x"}, "read-only or does not exist"),
        ({"completedDateTime": "2026-12-01T00:00:00Z"}, "read-only or does not exist"),
        ({"assignments": {"9d1b4fb5-77a8-4c43-8e48-f1e3b5b3c2a1": {"orderHint": " !"}}}, "@odata.type"),
        ({"appliedCategories": {"category26": True}}, "not a valid category"),
        ({"percentComplete": 101}, "0 to 100"),
        ({"priority": 11}, "0 to 10"),
        ({"startDateTime": "2026-12-10T00:00:00Z", "dueDateTime": "2026-12-01T00:00:00Z"}, "startDateTime"),
        ({"dueDateTime": "2026-12-10T00:00:00"}, "no offset"),
        ({"orderHint": "abc"}, "order hint"),
    ],
)
def test_invalid_task_writes_are_400_with_a_reason(graph, plan, body, message):
    task = new_task(graph, plan)
    response = graph.patch(
        f"planner/tasks/{task['id']}", json=body, headers={"If-Match": task["@odata.etag"]}
    )
    assert response.status_code == 400 and message in response.json()["error"]["message"]


def test_listing_pages_by_next_link_and_ignores_top(planner, graph, plan):
    planner.seed_tasks(plan, 10)
    first = graph.get(f"planner/plans/{plan}/tasks", params={"$top": "2", "$select": "id"}).json()
    assert len(first["value"]) == 4 and "@odata.nextLink" in first
    graph_spec.validate("plannerTaskCollectionResponse", first)
    seen = [t["id"] for t in first["value"]]
    link = first["@odata.nextLink"]
    while link:
        page = graph.get(link).json()
        assert all(set(t) == {"id", "@odata.etag"} for t in page["value"])  # $select kept in the link
        seen += [t["id"] for t in page["value"]]
        link = page.get("@odata.nextLink")
    assert len(seen) == len(set(seen)) == 10
    assert "$skiptoken" in first["@odata.nextLink"]
    op = graph_spec.operation("/planner/plans/{plannerPlan-id}/tasks", "get")
    assert op["x-ms-pageable"]["nextLinkName"] == "@odata.nextLink"


def test_users_by_id_mail_and_upn(planner, graph):
    ann = planner.add_user("Ann Chen", "ann.chen@contoso.com")
    bo = planner.add_user("Bo Li", None, "bo.li@contoso.onmicrosoft.com")
    assert graph.get(f"users/{ann.id}").json()["mail"] == "ann.chen@contoso.com"
    by_mail = graph.get("users", params={"$filter": "mail eq 'ANN.CHEN@contoso.com'", "$select": "id"}).json()
    assert [u["id"] for u in by_mail["value"]] == [ann.id]
    by_upn = graph.get("users", params={"$filter": "userPrincipalName eq 'bo.li@contoso.onmicrosoft.com'"})
    assert by_upn.json()["value"][0]["mail"] is None and by_upn.json()["value"][0]["id"] == bo.id
    unsupported = graph.get("users", params={"$filter": "startswith(mail,'a')"})
    assert unsupported.status_code == 400
    assert graph.get("users/00000000-0000-0000-0000-000000000000").status_code == 404


def test_token_endpoint_rotates_refresh_tokens_and_checks_client_secrets(planner, plan):
    form = {"client_id": planner.client_id, "scope": "https://graph.microsoft.com/.default offline_access"}
    first = httpx.post(
        planner.token_url,
        data={**form, "grant_type": "refresh_token", "refresh_token": planner.refresh_token},
    ).json()
    assert first["access_token"] and first["refresh_token"] != planner.refresh_token
    reused = httpx.post(
        planner.token_url,
        data={**form, "grant_type": "refresh_token", "refresh_token": planner.refresh_token},
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    assert httpx.get(f"{planner.base_url}/planner/plans/{plan}", headers=headers).status_code == 200
    planner.clock.advance(3600)
    expired = httpx.get(f"{planner.base_url}/planner/plans/{plan}", headers=headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "InvalidAuthenticationToken"
    app = {
        "client_id": planner.client_id,
        "grant_type": "client_credentials",
        "scope": "https://graph.microsoft.com/.default",
    }
    wrong = httpx.post(planner.token_url, data={**app, "client_secret": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    no_default = httpx.post(
        planner.token_url,
        data={**app, "client_secret": planner.client_secret, "scope": "Tasks.ReadWrite.All"},
    )
    assert no_default.json()["error"] == "invalid_scope"
    assert httpx.post(planner.token_url, data={**app, "client_secret": planner.client_secret}).json()[
        "access_token"
    ]
    assert httpx.get(f"{planner.base_url}/planner/plans/{plan}").status_code == 401


def test_faults_counters_and_control_routes(planner, graph):
    control = httpx.Client(base_url=planner.control_url + "/", timeout=10)
    seeded = control.post(
        "seed",
        json={
            "users": [{"displayName": "Cy", "mail": "cy@contoso.com"}],
            "plans": [
                {
                    "title": "Zeus",
                    "buckets": ["Now"],
                    "tasks": [
                        {
                            "title": "T1",
                            "bucket": "Now",
                            "assignees": ["cy@contoso.com"],
                            "appliedCategories": ["category2"],
                            "description": "d",
                        }
                    ],
                    "generatedTasks": 3,
                }
            ],
        },
    ).json()
    plan = seeded["plans"][0]["id"]
    assert len(planner.tasks(plan)) == 4
    control.post("faults", json={"endpoint": "planner.plans.tasks.list", "status": 429, "retryAfter": 3})
    throttled = graph.get(f"planner/plans/{plan}/tasks")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert graph.get(f"planner/plans/{plan}/tasks").status_code == 200
    counters = control.get("counters").json()
    assert counters["calls"]["planner.plans.tasks.list"] == 2 and counters["writes"]["task.create"] == 4
    task_id = seeded["plans"][0]["tasks"][0]
    edited = control.post(
        f"tasks/{task_id}/edit", json={"task": {"percentComplete": 50}, "details": {"description": "e"}}
    )
    assert edited.json()["percentComplete"] == 50 and planner.task_details(task_id)["description"] == "e"
    control.post(f"tasks/{task_id}/conflict-next-details", json={})
    details = planner.task_details(task_id)
    assert (
        graph.patch(
            f"planner/tasks/{task_id}/details",
            json={"description": "z"},
            headers={"If-Match": details["@odata.etag"]},
        ).status_code
        == 409
    )
    control.post("config", json={"pageSize": 1})
    assert len(graph.get(f"planner/plans/{plan}/tasks").json()["value"]) == 1
    state = control.get("state").json()
    assert state["plans"][0]["title"] == "Zeus" and state["config"]["pageSize"] == 1
    assert control.post("seed", json={"plans": [{"title": "x", "unknown": 1}]}).status_code == 400
    control.post("reset")
    assert graph.get(f"planner/plans/{plan}").status_code == 404


def test_standalone_runner_prints_urls_and_credentials_and_serves(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"plans": [{"title": "Demo", "generatedTasks": 2}]}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [
        sys.executable,
        "-m",
        "emulators.planner",
        "--client-secret",
        "s3cret-value",
        "--seed",
        str(seed),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["baseUrl"].endswith("/v1.0") and info["credentials"]["client_secret"] == "s3cret-value"
        state = httpx.get(f"{info['controlUrl']}/state", timeout=10).json()
        plan = state["plans"][0]
        assert plan["title"] == "Demo" and plan["taskCount"] == 2
        tasks = httpx.get(
            f"{info['baseUrl']}/planner/plans/{plan['id']}/tasks",
            headers={"Authorization": "Bearer s3cret-value"},
            timeout=10,
        )
        assert len(tasks.json()["value"]) == 2
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_rate_limit_answers_429_with_retry_after_until_the_minute_has_passed(planner, graph, plan):
    planner.clock.freeze()  # the window is counted on the emulator clock; a slow machine must not shift it
    httpx.post(f"{planner.control_url}/config", json={"rateLimitPerMinute": 3}, timeout=10)
    assert [graph.get(f"planner/plans/{plan}").status_code for _ in range(3)] == [200, 200, 200]
    planner.clock.advance(20)
    throttled = graph.get(f"planner/plans/{plan}")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "40"
    graph_spec.validate("ODataErrors.ODataError", throttled.json())
    planner.clock.advance(41)
    assert graph.get(f"planner/plans/{plan}").status_code == 200
    httpx.post(f"{planner.control_url}/config", json={"rateLimitPerMinute": 0}, timeout=10)
    assert all(graph.get(f"planner/plans/{plan}").status_code == 200 for _ in range(5))


def test_paths_outside_the_planner_slice_answer_in_graph_shape(graph):
    response = graph.get("planner/rosters")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Resource not found for the segment 'rosters'."
    graph_spec.validate("ODataErrors.ODataError", response.json())
