"""Acceptance of the PWA ↔ Planner scenario (issue 14), end to end through the local stack: the sample
configuration `tandem/pwa_planner_config.yaml` with its polls scheduled once a year, PWA seeded through its
control API and read through its REST API, Planner driven over Graph v1.0 (a person's edits through the
emulator's control API, as the Planner UI makes them), polls started through the app's admin API.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.config import parse_config
from tandem.configfile import read_document, substitute
from tandem.demo import DemoError, StackClient, wait_for
from tandem.serve import write_stack_file
from tandem.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tandem" / "pwa_planner_config.yaml"
pytestmark = pytest.mark.e2e

NEVER = "0 0 0 1 1 *"
SCENARIO = "pwa-planner"
ANN = "ann.chen@contoso.com"
CAROL = "carol.diaz@contoso.com"  # a PWA resource with no Entra user
WAIT = 60.0  # a deadline for condition waits: generous, so load only makes the tests slower


class Env:
    def __init__(self, stack: LocalStack, info: dict[str, Any]) -> None:
        self.stack = stack
        self.client = StackClient(info)
        self.pwa = str(info["pwa"]).rstrip("/")
        self.pwa_token = str(info["credentials"]["pwa"]["access_token"])
        self.graph = str(info["planner"]).rstrip("/")
        self.graph_token = str(info["credentials"]["planner"]["access_token"])
        self.planner_root = self.graph.rsplit("/v1.0", 1)[0]
        self.http = httpx.Client(timeout=60.0)
        self.document: dict[str, Any] = {}

    # configuration: the sample, with the scenario's options changed the way an administrator would
    def apply(self, change: Any = None) -> None:
        """Apply the sample (changed by `change`), then poll PWA: Planner's side lists the plans that the
        PWA projects' field names (a new configuration starts with none known)."""
        document = copy.deepcopy(self.document)
        if change is not None:
            change(document)
        resolved, problems = substitute(document, self.stack.variables())
        assert not problems
        self.stack.apply_config(parse_config(resolved))
        self.poll("left_to_right")

    # PWA
    def pwa_control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.pwa}/_emulator/{path}", json=body)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def pwa_task(self, project_id: str, task_id: str) -> dict[str, Any]:
        response = self.http.get(
            f"{self.pwa}/_api/ProjectServer/Projects('{project_id}')/Tasks('{task_id}')",
            headers={
                "Authorization": f"Bearer {self.pwa_token}",
                "Accept": "application/json;odata=nometadata",
            },
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    # Planner
    def graph_call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method,
            f"{self.graph}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.graph_token}"},
        )
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def planner_control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.planner_root}/_emulator/{path}", json=body)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def person_edits(self, task_id: str, task: dict[str, Any]) -> None:
        self.planner_control("POST", f"tasks/{task_id}/edit", {"task": task})

    def writes(self) -> tuple[dict[str, int], dict[str, int]]:
        return (
            dict(self.pwa_control("GET", "counters")["writes"]),
            dict(self.planner_control("GET", "counters")["writes"]),
        )

    # the engine
    def poll(self, direction: str) -> None:
        self.client.run_and_wait(SCENARIO, direction, WAIT)

    def failures(self) -> list[str]:
        return [f["reason"] for f in self.client.status(SCENARIO)["failures"]]

    def linked(self, side: str, item_id: str) -> str | None:
        link = self.stack.services.links.find(SCENARIO, side, item_id)  # type: ignore[union-attr, arg-type]
        other = "right" if side == "left" else "left"
        return link.id_of(other) if link is not None and link.status == "linked" else None

    def project(self, tasks: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
        """A PWA project linked (by id) to a new plan of the same title; (seeded project, plan id)."""
        name = f"Apollo {uuid.uuid4().hex[:6]}"
        plan = self.planner_control(
            "POST", "seed", {"plans": [{"title": name, "buckets": ["To do", "Doing"]}]}
        )
        plan_id = plan["plans"][0]["id"]
        seeded = self.pwa_control(
            "POST",
            "seed",
            {"projects": [{"name": name, "customFields": {"Planner Plan": plan_id}, "tasks": tasks}]},
        )
        return seeded["projects"][0], plan_id


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("pwa-planner")
    empty = home / "empty.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    stack = LocalStack(empty)
    info = stack.start()
    try:
        write_stack_file(
            home / ".tandem" / "stack.json",
            {**info, "pid": os.getpid(), "variables": stack.emulator_variables()},
        )
        e = Env(stack, info)
        e.pwa_control(
            "POST",
            "seed",
            {
                "resources": [{"name": "Ann Chen", "email": ANN}, {"name": "Carol Diaz", "email": CAROL}],
                "customFields": [
                    {"name": "Planner Plan", "type": "text", "entity": "project"},
                    {"name": "Planner Bucket", "type": "text", "entity": "task"},
                ],
            },
        )
        e.planner_control("POST", "seed", {"users": [{"displayName": "Ann Chen", "mail": ANN}]})
        document = read_document(CONFIG)
        for direction in document["scenarios"][0]["directions"].values():
            direction["schedule"] = NEVER
        e.document = document
        e.stack.apply_config(parse_config(substitute(document, stack.variables())[0]))
        yield e
        e.http.close()
        e.client.close()
    finally:
        stack.stop()


def leaf(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "start": "2026-12-07T08:00:00",
        "duration": "3d",
        "work": "24h",
        **extra,
    }


def test_tasks_of_a_linked_project_appear_in_the_plan_with_dates_people_and_bucket(env: Env):
    project, plan_id = env.project(
        [leaf("Design the API", assignments=[ANN, CAROL], customFields={"Planner Bucket": "Doing"})]
    )
    task_id = f"{project['id']}:{project['tasks'][0]['id']}"
    env.poll("left_to_right")
    planner_id, _ = wait_for("the task is in the plan", lambda: env.linked("left", task_id), WAIT)
    task = env.graph_call("GET", f"planner/tasks/{planner_id}")
    pwa = env.pwa_task(project["id"], project["tasks"][0]["id"])
    assert task["planId"] == plan_id and task["title"] == "Design the API"
    assert task["startDateTime"].startswith(pwa["Start"][:19]) and task["startDateTime"].endswith("Z")
    assert task["dueDateTime"].startswith(pwa["Finish"][:19])
    buckets = env.graph_call("GET", f"planner/plans/{plan_id}/buckets")["value"]
    assert task["bucketId"] == next(b["id"] for b in buckets if b["name"] == "Doing")
    ann = env.graph_call("GET", f"users/{ANN}")["id"]
    assert list(task["assignments"]) == [ann]  # Carol has no Entra user: left out, with a warning
    runs = env.client.status(SCENARIO)["runs"]
    assert any((r.get("counts") or {}).get("warnings") for r in runs if r["direction"] == "left_to_right")


def test_the_green_label_sets_75_percent(env: Env):
    project, _ = env.project([leaf("Build the API")])
    task_id = f"{project['id']}:{project['tasks'][0]['id']}"
    env.poll("left_to_right")
    planner_id, _ = wait_for("the task is in the plan", lambda: env.linked("left", task_id), WAIT)
    env.person_edits(planner_id, {"appliedCategories": {"category4": True}})  # Green
    env.poll("right_to_left")
    assert env.pwa_task(project["id"], project["tasks"][0]["id"])["PercentComplete"] == 75


def test_without_the_labels_option_planner_progress_50_sets_50_percent(env: Env):
    def progress_not_labels(document: dict[str, Any]) -> None:
        rules = document["field_maps"]["pwa-planner-default"]
        rule = next(r for r in rules if r["left"] == "PercentComplete")
        rule.update(right="percentComplete", transform={"planner_progress": {}})

    env.apply(progress_not_labels)
    try:
        project, _ = env.project([leaf("Test the API")])
        task_id = f"{project['id']}:{project['tasks'][0]['id']}"
        env.poll("left_to_right")
        env.poll("left_to_right")
        planner_id = env.linked("left", task_id)
        assert planner_id, env.failures()
        env.person_edits(planner_id, {"percentComplete": 50})
        env.poll("right_to_left")
        assert env.pwa_task(project["id"], project["tasks"][0]["id"])["PercentComplete"] == 50
    finally:
        env.apply()


def test_a_task_created_in_planner_reaches_pwa_only_with_push_new_plan_tasks(env: Env):
    project, plan_id = env.project([leaf("Plan the release")])
    env.poll("left_to_right")  # the plan is now known to the Planner side through the project field

    def push_off(document: dict[str, Any]) -> None:
        document["scenarios"][0]["directions"]["right_to_left"]["create"] = False

    env.apply(push_off)
    try:
        created = env.graph_call("POST", "planner/tasks", {"planId": plan_id, "title": "Found in review"})
        env.poll("right_to_left")
        assert env.linked("right", created["id"]) is None
    finally:
        env.apply()
    env.person_edits(created["id"], {"title": "Found in review (kept)"})
    env.poll("right_to_left")
    pwa_id = env.linked("right", created["id"])
    runs = [r.get("error") for r in env.client.status(SCENARIO)["runs"] if r["direction"] == "right_to_left"]
    assert pwa_id, (env.failures(), runs)
    project_id, task_id = pwa_id.split(":")
    assert project_id == project["id"]
    assert env.pwa_task(project_id, task_id)["Name"] == "Found in review (kept)"


def test_an_edit_in_planner_between_read_and_write_is_merged_not_overwritten(env: Env):
    project, _ = env.project([leaf("Write the docs")])
    pwa_task = project["tasks"][0]["id"]
    task_id = f"{project['id']}:{pwa_task}"
    env.poll("left_to_right")
    planner_id, _ = wait_for("the task is in the plan", lambda: env.linked("left", task_id), WAIT)

    # PWA renames the task; the engine's task PATCH is held, and meanwhile a person labels it Green.
    env.pwa_control(
        "POST", f"projects/{project['id']}/edit", {"tasks": {pwa_task: {"Name": "Write the guide"}}}
    )
    env.planner_control(
        "POST", "faults", {"endpoint": "planner.tasks.update", "status": None, "latencyMs": 3000, "times": 1}
    )
    updates = env.planner_control("GET", "counters")["calls"].get("planner.tasks.update", 0)
    _, before = env.writes()

    def patch_in_flight() -> bool:
        return env.planner_control("GET", "counters")["calls"].get("planner.tasks.update", 0) > updates

    def polled_until_the_patch_is_sent() -> bool:  # PWA's reporting feed shows the rename after a delay
        env.client.run(SCENARIO, "left_to_right")
        try:
            return wait_for("the engine's PATCH is in flight", patch_in_flight, 2.0)[0]
        except DemoError:
            return False

    wait_for("the engine's PATCH is in flight", polled_until_the_patch_is_sent, WAIT, interval=0.5)
    env.person_edits(planner_id, {"appliedCategories": {"category4": True}})
    wait_for("the queue is idle", lambda: env.client.queue_quiet(WAIT), WAIT)
    wait_for(
        "the rename reached Planner",
        lambda: env.graph_call("GET", f"planner/tasks/{planner_id}")["title"] == "Write the guide",
        WAIT,
    )
    task = env.graph_call("GET", f"planner/tasks/{planner_id}")
    assert task["appliedCategories"].get("category4") is True  # the person's label is kept
    _, after = env.writes()
    engine_writes = sum(after.values()) - sum(before.values()) - 1  # minus the person's edit
    assert engine_writes == 1, (before, after)  # the stale PATCH wrote nothing; the merged one once
    sent = env.planner_control("GET", "counters")["calls"].get("planner.tasks.update", 0) - updates
    assert sent == 2  # the held PATCH (answered 412: its ETag went stale) and the merged one


def test_after_convergence_polls_write_nothing(env: Env):
    env.poll("left_to_right")
    env.poll("right_to_left")
    env.poll("left_to_right")
    env.poll("right_to_left")
    before = env.writes()
    env.poll("left_to_right")
    env.poll("right_to_left")
    assert env.writes() == before
