"""Acceptance of the PWA ↔ ADO scenario (issue 5), end to end through the local stack: the sample
configuration `tandem/pwa_ado_config.yaml` with its polls scheduled once a year, the PWA emulator seeded
through its control API, Azure DevOps Services driven over REST, the app's admin API and the command line.
"""

from __future__ import annotations

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

from sync.config import parse_config
from tandem.configfile import substitute
from tandem.demo import AdoRest, StackClient, parent_of, wait_for
from tandem.serve import write_stack_file
from tandem.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tandem" / "pwa_ado_config.yaml"
pytestmark = pytest.mark.e2e

NEVER = "0 0 0 1 1 *"
SCENARIO = "pwa-ado"
ANN = "ann.chen@contoso.com"
BOB = "bob.smith@contoso.com"  # in ADO, not a PWA resource
WAIT = 60.0  # a deadline for condition waits: generous, so load only makes the tests slower


class Env:
    def __init__(self, stack: LocalStack, info: dict[str, Any], home: Path) -> None:
        self.stack = stack
        self.info = info
        self.home = home
        self.client = StackClient(info)
        self.ado: AdoRest = self.client.services
        self.pwa = str(info["pwa"])
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

    fields_created = False

    def setup_fields(self) -> subprocess.CompletedProcess[str]:
        result = self.cli("setup", "fields", SCENARIO)
        self.fields_created = self.fields_created or result.returncode == 0
        return result

    def need_fields(self) -> None:
        """Both sides' custom fields, created through `tandem setup fields` once per stack (tests of this
        module may run on another xdist worker than test_create_fields_then_verify)."""
        if not self.fields_created:
            result = self.setup_fields()
            assert result.returncode == 0, result.stdout + result.stderr

    def pwa_control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.pwa}/_emulator/{path}", json=body)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def pwa_writes(self) -> dict[str, int]:
        return dict(self.pwa_control("GET", "counters")["writes"])

    def poll(self, direction: str) -> None:
        before = {r["run_id"] for r in self.client.status(SCENARIO)["runs"]}
        self.client.run(SCENARIO, direction)

        def finished() -> bool:
            runs = [r for r in self.client.status(SCENARIO)["runs"] if r["run_id"] not in before]
            return bool(runs) and all(r["status"] != "running" for r in runs)

        wait_for(f"the {direction} poll finished", finished, WAIT)
        wait_for("the queue is idle", lambda: self.client.queue_quiet(WAIT), WAIT)

    def linked(self, side: str, item_id: str) -> str | None:
        link = self.stack.services.links.find(SCENARIO, side, item_id)  # type: ignore[union-attr, arg-type]
        other = "right" if side == "left" else "left"
        return link.id_of(other) if link is not None and link.status == "linked" else None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("pwa-ado")
    empty = home / "empty.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    stack = LocalStack(empty)
    info = stack.start()
    try:
        write_stack_file(
            home / ".tandem" / "stack.json",
            {**info, "pid": os.getpid(), "variables": stack.emulator_variables()},
        )
        e = Env(stack, info, home)
        # ADO: the people and a project on an inherited process; `tandem setup fields` adds the two custom
        # fields to its work item types (test_create_fields_then_verify).
        e.ado.control(
            "POST",
            "seed",
            {
                "users": [
                    {"displayName": "Ann Chen", "uniqueName": ANN, "email": ANN},
                    {"displayName": "Bob Smith", "uniqueName": BOB, "email": BOB},
                ],
                "processes": [{"name": "Agile-Tandem", "parent": "Agile"}],
                "projects": [{"name": "Fabrikam", "process": "Agile-Tandem"}],
            },
        )
        document = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
        for direction in document["scenarios"][0]["directions"].values():
            direction["schedule"] = NEVER
        document, problems = substitute(document, stack.variables())
        assert not problems
        stack.apply_config(parse_config(document))
        yield e
        e.http.close()
        e.client.close()
    finally:
        stack.stop()


def test_stack_lists_the_pwa_emulator_with_its_credentials(env: Env):
    assert env.info["pwa"].endswith("/sites/pwa")
    creds = env.info["credentials"]["pwa"]
    assert creds["refresh_token"] and creds["token_url"].startswith(env.info["pwa"].rsplit("/sites/", 1)[0])
    # the connection's named secret holds what the emulator accepts
    assert env.stack.services.secrets.get("pwa-refresh-token") == creds["password"]  # type: ignore[union-attr]


def test_create_fields_then_verify(env: Env):
    # Runs on the empty stack: the module's tests stay together and in file order (`--dist loadfile`).
    assert not env.fields_created, "run this module's tests together, in order (pytest --dist loadfile)"
    before = env.cli("setup", "verify", SCENARIO)
    assert before.returncode == 1, before.stdout + before.stderr
    assert "'Sync with VSTS'" in before.stdout and "missing" in before.stdout
    assert (
        "field 'Sync with Project Online' (Custom.SyncwithProjectOnline, Boolean) is missing" in before.stdout
    )

    created = env.setup_fields()
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created: Sync with VSTS, Work Item Type, VSTS Project" in created.stdout
    # ADO: organization fields, inherited types and each field on each type of Fabrikam's process
    assert (
        "field 'Project Online Project' (Custom.ProjectOnlineProject, Text (single line))" in created.stdout
    )
    assert "inherited type 'User Story' in process 'Agile-Tandem'" in created.stdout
    assert "'Sync with Project Online' on Bug" in created.stdout
    assert "note: process 'Agile-Tandem' has no work item type 'Test Case'; skipped" in created.stdout

    after = env.cli("setup", "verify", SCENARIO)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "Sync with Project Online" in after.stdout  # the ADO fields were checked
    assert "service hooks" in after.stdout

    again = env.cli("setup", "fields", SCENARIO)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "right (ado): ok" in again.stdout
    right = again.stdout.split("right (ado)")[1]
    assert "created:" not in right and "'Project Online Project' on Task" in right  # nothing twice


def test_flagged_tasks_become_work_items_of_their_type_in_the_named_project(env: Env):
    env.need_fields()
    env.pwa_control("POST", "seed", {"resources": [{"name": "Ann Chen", "email": ANN}]})
    name = f"Apollo {uuid.uuid4().hex[:6]}"
    seeded = env.pwa_control(
        "POST",
        "seed",
        {
            "projects": [
                {
                    "name": name,
                    "customFields": {"VSTS Project": "Fabrikam"},
                    "tasks": [
                        {
                            "name": "Phase 1",
                            "customFields": {"Sync with VSTS": True, "Work Item Type": "Feature"},
                        },
                        {
                            "name": "Build login",
                            "parent": "Phase 1",
                            "duration": "3d",
                            "work": "24h",
                            "notes": "OAuth first",
                            "customFields": {"Sync with VSTS": True, "Work Item Type": "Bug"},
                            "assignments": [ANN],
                        },
                        {"name": "Not for ADO", "parent": "Phase 1", "work": "8h"},
                    ],
                }
            ]
        },
    )
    project = seeded["projects"][0]
    tasks = {t["name"]: f"{project['id']}:{t['id']}" for t in project["tasks"]}
    env.poll("left_to_right")

    feature_id, _ = wait_for("the summary task is linked", lambda: env.linked("left", tasks["Phase 1"]), WAIT)
    bug_id, _ = wait_for("the leaf task is linked", lambda: env.linked("left", tasks["Build login"]), WAIT)
    feature, bug = env.ado.get(feature_id), env.ado.get(bug_id)
    assert feature["fields"]["System.WorkItemType"] == "Feature"
    assert bug["fields"]["System.WorkItemType"] == "Bug"
    assert bug["fields"]["System.TeamProject"] == "Fabrikam"
    assert bug["fields"]["System.Title"] == "Build login"
    assert "OAuth first" in bug["fields"]["System.Description"]
    assert bug["fields"]["System.State"] == "New"
    assert bug["fields"]["Custom.ProjectOnlineProject"] == name
    assigned = bug["fields"].get("System.AssignedTo")
    assert (assigned.get("uniqueName") if isinstance(assigned, dict) else assigned).lower() == ANN
    assert parent_of(bug) == int(feature_id)
    assert env.linked("left", tasks["Not for ADO"]) is None
    titles = env.ado.wiql("SELECT [System.Id] FROM WorkItems WHERE [System.Title] = 'Not for ADO'")
    assert titles == []  # unflagged tasks never appear


def test_a_project_naming_no_ado_project_is_a_failure_in_status(env: Env):
    env.need_fields()
    seeded = env.pwa_control(
        "POST",
        "seed",
        {
            "projects": [
                {
                    "name": f"Hermes {uuid.uuid4().hex[:6]}",
                    "customFields": {"VSTS Project": "Fabrikan"},
                    "tasks": [
                        {"name": "Typo", "customFields": {"Sync with VSTS": True, "Work Item Type": "Task"}}
                    ],
                }
            ]
        },
    )
    project = seeded["projects"][0]
    task_id = f"{project['id']}:{project['tasks'][0]['id']}"
    env.poll("left_to_right")
    failures = [f for f in env.client.status(SCENARIO)["failures"] if f["source_id"] == task_id]
    assert failures and "no project 'Fabrikan' on ado" in failures[0]["reason"]


def test_fifty_changed_tasks_are_written_in_one_checkout_and_one_publish(env: Env):
    env.need_fields()
    name = f"Zeus {uuid.uuid4().hex[:6]}"
    flags = {"Sync with VSTS": True, "Work Item Type": "Task"}
    seeded = env.pwa_control(
        "POST",
        "seed",
        {
            "projects": [
                {
                    "name": name,
                    "customFields": {"VSTS Project": "Fabrikam"},
                    "tasks": [
                        {"name": f"Step {i:02d}", "work": "10h", "customFields": flags} for i in range(50)
                    ],
                }
            ]
        },
    )
    project = seeded["projects"][0]
    task_ids = [f"{project['id']}:{t['id']}" for t in project["tasks"]]
    env.poll("left_to_right")
    work_items = [env.linked("left", t) for t in task_ids]
    assert all(work_items), "every flagged task has its work item"

    # Progress in ADO, all 50 at once; the hooks are held so one poll delivers the changes together.
    env.ado.control("POST", "hooks/pause")
    for wid in work_items:
        env.ado.update(str(wid), {"System.State": "Active", "Microsoft.VSTS.Scheduling.CompletedWork": 4})
    before = env.pwa_writes()
    env.poll("right_to_left")
    after = env.pwa_writes()
    key = project["id"]
    assert after.get(f"checkout:{key}", 0) - before.get(f"checkout:{key}", 0) == 1
    assert after.get(f"publish:{key}", 0) - before.get(f"publish:{key}", 0) == 1
    state = env.pwa_control("GET", "state")
    mine = next(p for p in state["projects"] if p["id"] == key)
    assert not mine.get("checkedOutBy")  # the project ends checked in

    # Released hooks find nothing left to write.
    env.ado.control("POST", "hooks/resume")
    env.ado.hooks_idle(10)
    wait_for("the queue is idle", lambda: env.client.queue_quiet(WAIT), WAIT)
    assert env.pwa_writes().get(f"publish:{key}", 0) == after.get(f"publish:{key}", 0)


def test_after_convergence_polls_write_nothing(env: Env):
    env.need_fields()
    env.poll("left_to_right")
    env.poll("right_to_left")
    ado_before, pwa_before = env.ado.writes(), env.pwa_writes()
    env.poll("left_to_right")
    env.poll("right_to_left")
    assert env.ado.writes() == ado_before
    assert env.pwa_writes() == pwa_before


def test_a_flagged_work_item_goes_to_the_pwa_project_it_names_through_the_hook(env: Env):
    env.need_fields()
    name = f"Athena {uuid.uuid4().hex[:6]}"
    env.pwa_control(
        "POST", "seed", {"projects": [{"name": name, "customFields": {"VSTS Project": "Fabrikam"}}]}
    )
    created = env.ado.create(
        "Fabrikam",
        "User Story",
        {
            "System.Title": "Checkout by invoice",
            "Custom.SyncwithProjectOnline": True,
            "Custom.ProjectOnlineProject": name,
            "System.AssignedTo": BOB,
        },
    )
    task_id, _ = wait_for("the work item is linked", lambda: env.linked("right", str(created["id"])), WAIT)
    state = env.pwa_control("GET", "state")
    project = next(p for p in state["projects"] if p["name"] == name)
    assert task_id.startswith(project["id"])
    assert not project.get("checkedOutBy")
    # Bob is no PWA resource: the task is synced without the assignment, and status counts a warning.
    wait_for("the queue is idle", lambda: env.client.queue_quiet(WAIT), WAIT)
    runs = env.client.status(SCENARIO)["runs"]
    assert any((r.get("counts") or {}).get("warnings") for r in runs if r["direction"] == "right_to_left")
    status = env.cli("status", SCENARIO)
    assert "WARNINGS" in status.stdout, status.stdout + status.stderr
