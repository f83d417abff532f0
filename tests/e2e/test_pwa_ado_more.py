"""More of the PWA ↔ ADO scenario (issue 5) end to end through the local stack: progress from ADO through
the service hook, a project checked out to someone else, a failing queue job, replayed hook deliveries and
redelivered queue messages. The sample configuration `tandem/pwa_ado_config.yaml` runs with its polls
scheduled once a year and short PWA retry/queue timings, so only hooks and explicit polls move anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from state.queue import QueueMessage, replay_message_id
from sync.config import parse_config
from tandem.configfile import substitute
from tandem.demo import AdoRest, StackClient, wait_for
from tandem.serve import write_stack_file
from tandem.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tandem" / "pwa_ado_config.yaml"
pytestmark = pytest.mark.e2e

NEVER = "0 0 0 1 1 *"
SCENARIO = "pwa-ado"
ANN = "ann.chen@contoso.com"
WAIT = 60.0  # a deadline for condition waits: generous, so load only makes the tests slower
STATE, COMPLETED, REMAINING = (
    "System.State",
    "Microsoft.VSTS.Scheduling.CompletedWork",
    "Microsoft.VSTS.Scheduling.RemainingWork",
)


class Env:
    def __init__(self, stack: LocalStack, info: dict[str, Any], home: Path, sent: list[QueueMessage]) -> None:
        self.stack = stack
        self.info = info
        self.home = home
        self.sent = sent
        self.client = StackClient(info)
        self.ado: AdoRest = self.client.services
        self.pwa = str(info["pwa"])
        self.token = str(info["credentials"]["pwa"]["access_token"])
        self.http = httpx.Client(timeout=60.0)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AzureWebJobsStorage", "ServiceBus", "TANDEM"))
        }
        self.env["PYTHONPATH"] = str(REPO) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.env["TANDEM_HOME"] = str(home / ".tandem")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tandem.cli", *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,  # a deadline, not a wait: the CLI is slow to start on a loaded machine
        )

    def status_cli(self) -> dict[str, Any]:
        done = self.cli("status", SCENARIO, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(json.loads(done.stdout))

    def pwa_control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.pwa}/_emulator/{path}", json=body)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def pwa_writes(self) -> dict[str, int]:
        return dict(self.pwa_control("GET", "counters")["writes"])

    def published(self, project_id: str, task_id: str) -> dict[str, Any]:
        """The published task as PWA's REST API shows it to the service account."""
        response = self.http.get(
            f"{self.pwa}/_api/ProjectServer/Projects('{project_id}')/Tasks('{task_id}')",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json;odata=nometadata"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def project_state(self, project_id: str) -> dict[str, Any]:
        state = self.pwa_control("GET", "state")
        return dict(next(p for p in state["projects"] if p["id"] == project_id))

    def run_ids(self) -> set[str]:
        return {r["run_id"] for r in self.client.status(SCENARIO)["runs"]}

    def new_runs(self, before: set[str]) -> list[dict[str, Any]]:
        return [r for r in self.client.status(SCENARIO)["runs"] if r["run_id"] not in before]

    def poll(self, direction: str) -> None:
        before = self.run_ids()
        self.client.run(SCENARIO, direction)

        def finished() -> bool:
            runs = self.new_runs(before)
            return bool(runs) and all(r["status"] != "running" for r in runs)

        wait_for(f"the {direction} poll finished", finished, WAIT)
        self.quiet()

    def quiet(self, timeout: float = WAIT) -> None:
        wait_for("hooks delivered and the queue idle", lambda: self.ado.hooks_idle(timeout), timeout)
        wait_for("the queue is idle", lambda: self.client.queue_quiet(timeout), timeout)

    def linked(self, side: str, item_id: str) -> str | None:
        link = self.stack.services.links.find(SCENARIO, side, item_id)  # type: ignore[union-attr, arg-type]
        other = "right" if side == "left" else "left"
        return link.id_of(other) if link is not None and link.status == "linked" else None

    def seed_project(self, prefix: str, tasks: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
        """A published project for the Fabrikam ADO project; its id and task name → item id."""
        seeded = self.pwa_control(
            "POST",
            "seed",
            {
                "projects": [
                    {
                        "name": f"{prefix} {uuid.uuid4().hex[:6]}",
                        "customFields": {"VSTS Project": "Fabrikam"},
                        "tasks": tasks,
                    }
                ]
            },
        )
        project = seeded["projects"][0]
        return project["id"], {t["name"]: f"{project['id']}:{t['id']}" for t in project["tasks"]}

    def synced(self, prefix: str, task: dict[str, Any]) -> tuple[str, str, str]:
        """One flagged task polled into ADO: (project id, PWA task id, work item id)."""
        flags = {"Sync with VSTS": True, "Work Item Type": "Task"}
        project_id, tasks = self.seed_project(prefix, [{**task, "customFields": flags}])
        task_id = tasks[task["name"]]
        self.poll("left_to_right")
        work_item, _ = wait_for("the task is linked", lambda: self.linked("left", task_id), WAIT)
        return project_id, task_id, str(work_item)


def hours(value: Any) -> float:
    """PWA work ("12h", "7.5h") in hours."""
    return float(str(value).removesuffix("h"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("pwa-ado-more")
    empty = home / "empty.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    stack = LocalStack(empty)
    sent: list[QueueMessage] = []
    send = stack.queue.send

    def recording_send(messages: Any) -> None:
        sent.extend(m.model_copy(deep=True) for m in messages)
        send(messages)

    stack.queue.send = recording_send  # type: ignore[method-assign]
    info = stack.start()
    try:
        write_stack_file(
            home / ".tandem" / "stack.json",
            {**info, "pid": os.getpid(), "variables": stack.emulator_variables()},
        )
        e = Env(stack, info, home, sent)
        e.ado.control(
            "POST",
            "seed",
            {
                "users": [{"displayName": "Ann Chen", "uniqueName": ANN, "email": ANN}],
                "fields": [
                    {
                        "referenceName": "Custom.SyncwithProjectOnline",
                        "name": "Sync with Project Online",
                        "type": "boolean",
                    },
                    {
                        "referenceName": "Custom.ProjectOnlineProject",
                        "name": "Project Online Project",
                        "type": "string",
                    },
                ],
                "projects": [{"name": "Fabrikam"}],
            },
        )
        document = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        for direction in document["scenarios"][0]["directions"].values():
            direction["schedule"] = NEVER
        # Wait 10 s (not 5 min) for a project checked out to someone else: the item's 8 attempts then
        # outlast the `tandem status` calls made meanwhile, however slow a loaded machine makes them
        # (with 1 s the item was dead-lettered before the check-in). Queue jobs give up after 10 s.
        document["connections"]["pwa"]["options"].update(checkout_retry_seconds=10, queue_timeout_seconds=10)
        document, problems = substitute(document, stack.variables())
        assert not problems
        stack.apply_config(parse_config(document))
        # The PWA custom fields (the ADO side's are seeded above, whatever `setup fields` says of them).
        created = e.cli("setup", "fields", SCENARIO)
        assert "left (pwa): ok" in created.stdout, created.stdout + created.stderr
        e.pwa_control(
            "POST",
            "seed",
            {
                "users": [{"email": ANN, "displayName": "Ann Chen"}],
                "resources": [{"name": "Ann Chen", "email": ANN}],
            },
        )
        yield e
        e.http.close()
        e.client.close()
    finally:
        stack.stop()


def test_progress_in_ado_reaches_pwa_through_the_hook(env: Env):
    project_id, task_id, work_item = env.synced("Hermes", {"name": "Write the API", "work": "20h"})
    pwa_task = task_id.split(":", 1)[1]
    before_runs = env.run_ids()
    writes = env.pwa_writes()

    env.ado.update(work_item, {STATE: "Active", COMPLETED: 6, REMAINING: 14})

    def active() -> dict[str, Any] | None:
        task = env.published(project_id, pwa_task)
        done = task["PercentComplete"] == 50 and hours(task["ActualWork"]) == 6
        return task if done and hours(task["RemainingWork"]) == 14 else None

    wait_for("Active, 6 h done and 14 h left are in PWA", active, WAIT)

    env.ado.update(work_item, {STATE: "Closed", COMPLETED: 18, REMAINING: 0})

    def closed() -> dict[str, Any] | None:
        task = env.published(project_id, pwa_task)
        done = task["PercentComplete"] == 100 and hours(task["ActualWork"]) == 18
        return task if done and hours(task["RemainingWork"]) == 0 else None

    wait_for("Closed with 18 h done is in PWA", closed, WAIT)
    env.quiet()

    # Through the hook only: no poll ran; each change took one check-out and one publish, checked in.
    runs = env.new_runs(before_runs)
    assert runs and {r["trigger"] for r in runs} == {"hook"}, runs
    after = env.pwa_writes()
    assert after.get(f"checkout:{project_id}", 0) - writes.get(f"checkout:{project_id}", 0) == 2
    assert after.get(f"publish:{project_id}", 0) - writes.get(f"publish:{project_id}", 0) == 2
    assert not env.project_state(project_id).get("checkedOutBy")
    status = env.client.status(SCENARIO)
    assert not [f for f in status["failures"] if f["source_id"] in (task_id, work_item)]


def test_a_project_checked_out_to_someone_else_waits_and_then_lands(env: Env):
    project_id, task_id, work_item = env.synced("Iris", {"name": "Ship the release", "work": "10h"})
    pwa_task = task_id.split(":", 1)[1]
    env.pwa_control("POST", f"projects/{project_id}/checkout", {"user": ANN})
    before_runs = env.run_ids()

    env.ado.update(work_item, {STATE: "Active", COMPLETED: 4, REMAINING: 6})

    def retried() -> int:
        runs = env.new_runs(before_runs)
        return sum((r.get("counts") or {}).get("retried", 0) for r in runs)

    wait_for("the write was retried at least twice", lambda: retried() >= 2, WAIT)
    assert env.published(project_id, pwa_task)["PercentComplete"] == 0  # nothing written past her check-out
    assert env.project_state(project_id)["checkedOutBy"]  # still hers

    # `tandem status` says why the write waits: the project is checked out, and to whom.
    status = env.status_cli()
    runs = [r for r in status["runs"] if r["run_id"] not in before_runs]
    assert sum((r.get("counts") or {}).get("retried", 0) for r in runs) >= 2
    reasons = [f["reason"] for f in status["failures"] if f["source_id"] == work_item]
    assert reasons and "checked out to" in reasons[0] and ANN in reasons[0], status["failures"]
    text = env.cli("status", SCENARIO)
    assert "checked out to" in text.stdout, text.stdout

    env.pwa_control("DELETE", f"projects/{project_id}/checkout")

    def landed() -> bool:
        task = env.published(project_id, pwa_task)
        return task["PercentComplete"] == 50 and hours(task["ActualWork"]) == 4

    wait_for("the change is in PWA after the check-in", landed, WAIT)
    env.quiet()
    assert not env.project_state(project_id).get("checkedOutBy")
    status = env.client.status(SCENARIO)
    assert not [f for f in status["failures"] if f["source_id"] == work_item]
    assert not [d for d in status["dead_letters"] if d["source_id"] == work_item]


def test_a_failing_queue_job_is_reported_and_nothing_is_lost(env: Env):
    project_id, task_id, work_item = env.synced("Juno", {"name": "Migrate the data", "work": "8h"})
    pwa_task = task_id.split(":", 1)[1]
    env.pwa_control("POST", "queue/fail-next", {"projectId": project_id})

    env.ado.update(work_item, {STATE: "Active", COMPLETED: 2, REMAINING: 6})

    def reported() -> dict[str, Any] | None:
        status = env.client.status(SCENARIO)
        found = [f for f in status["failures"] if f["source_id"] == work_item and f["kind"] != "retrying"]
        dead = [d for d in status["dead_letters"] if d["source_id"] == work_item]
        return found[0] if found and dead else None  # kept as a dead letter, not dropped

    failure, _ = wait_for("the failed job is in status, the message dead-lettered", reported, WAIT)
    assert "job" in failure["reason"] and "Failed" in failure["reason"], failure
    assert "Manage Queue Jobs" in failure["reason"]  # what an administrator does about it
    assert env.published(project_id, pwa_task)["PercentComplete"] == 0
    text = env.cli("status", SCENARIO)
    assert "Failures:" in text.stdout and "job" in text.stdout, text.stdout

    # The administrator clears the failed job and replays the dead letter: the change lands (nothing lost).
    for job in env.pwa_control("GET", "queue")["value"]:
        if job["projectId"] == project_id and job["state"] in (5, 8):  # Failed, CorrelationBlocked
            env.pwa_control("POST", f"queue/{job['id']}/cancel")
    replayed = env.cli("deadletters", "replay")
    assert replayed.returncode == 0 and "1 message(s) replayed" in replayed.stdout, replayed.stdout

    def landed() -> bool:
        task = env.published(project_id, pwa_task)
        return task["PercentComplete"] == 50 and hours(task["ActualWork"]) == 2

    wait_for("the change is in PWA after the replay", landed, WAIT)
    env.quiet()
    assert not env.project_state(project_id).get("checkedOutBy")
    assert not [f for f in env.client.status(SCENARIO)["failures"] if f["source_id"] == work_item]


def test_replayed_hooks_and_redelivered_messages_create_no_duplicates(env: Env):
    title = f"Replayed {uuid.uuid4().hex[:6]}"
    flags = {"Sync with VSTS": True, "Work Item Type": "Task"}
    project_id, tasks = env.seed_project(
        "Kronos",
        [{"name": "Phase", "customFields": flags}, {"name": title, "parent": "Phase", "customFields": flags}],
    )
    env.poll("left_to_right")
    work_item, _ = wait_for("the task is linked", lambda: env.linked("left", tasks[title]), WAIT)
    env.ado.update(str(work_item), {STATE: "Active", COMPLETED: 1})
    wait_for(
        "the progress is in PWA",
        lambda: env.published(project_id, tasks[title].split(":", 1)[1])["PercentComplete"] == 50,
        WAIT,
    )
    env.quiet()
    pwa_tasks = len(env.project_state(project_id)["tasks"])
    ado_writes, pwa_writes = env.ado.writes(), env.pwa_writes()
    links = env.client.status(SCENARIO)["links"]["total"]

    # ADO delivers the hooks again (a retry after a timeout, an operator's "resend"), twice.
    replays = [
        d["payload"]
        for d in env.ado.deliveries()
        if str(d["payload"]["resource"].get("workItemId") or d["payload"]["resource"].get("id"))
        == str(work_item)
    ]
    assert {p["eventType"] for p in replays} >= {"workitem.created", "workitem.updated"}
    for _ in range(2):
        for payload in replays:
            reply = env.client.hook("ado", SCENARIO, json.dumps(payload).encode())
            assert reply.status_code in (200, 202), reply.text

    # Service Bus delivers the item messages again after a lost lock: same body, fresh delivery.
    about_it = [
        m
        for m in env.sent
        if m.body.get("kind") == "item" and m.body.get("source_id") in (tasks[title], str(work_item))
    ]
    assert {m.body["direction"] for m in about_it} == {"left_to_right", "right_to_left"}
    env.stack.queue.send(
        [
            m.model_copy(update={"message_id": replay_message_id(m.message_id), "delivery_count": 0})
            for m in about_it
            for _ in range(2)
        ]
    )
    env.quiet()

    assert env.ado.wiql(f"SELECT [System.Id] FROM WorkItems WHERE [System.Title] = '{title}'") == [
        int(work_item)
    ]
    assert len(env.project_state(project_id)["tasks"]) == pwa_tasks
    assert env.ado.writes() == ado_writes
    assert env.pwa_writes() == pwa_writes
    status = env.client.status(SCENARIO)
    assert status["links"]["total"] == links
    assert not [d for d in status["dead_letters"] if d["source_id"] in (tasks[title], str(work_item))]
