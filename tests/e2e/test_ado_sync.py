"""Acceptance of the ADO Server ↔ ADO Services scenario, end to end over real HTTP.

One local stack per module (what `tandem serve` runs: Azurite, both ADO emulators, the function app on the
local host with its queue workers), driven as people drive it: plain ADO REST against the emulators, the
emulators' `/_emulator` control API for faults and hook delivery, the app's admin and hook routes, and the
real `tandem` command line for `config apply` and `status`.

The configuration is the demo's connections and field map with three scenarios on separate project pairs,
so tests stay independent in any order: `e2e` (newest wins), `e2e-flag` (conflicts flagged for a person)
and `e2e-broken` (a field map naming a field Services does not have). Their polls are scheduled once a
year, so whatever arrives within seconds came through a service hook; tests poll explicitly when they need
to. The broker is the stack's local queue; the test records what is sent to it so it can redeliver
messages the way Service Bus does after a lost lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from state.queue import QueueMessage, replay_message_id
from tandem.configfile import DEMO_CONFIG, dump_document
from tandem.demo import (
    AdoRest,
    StackClient,
    identity_maps,
    mapped_differences,
    parent_of,
    user_tags,
    wait_for,
)
from tandem.serve import write_stack_file
from tandem.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

NEVER = "0 0 0 1 1 *"  # once a year: no timer poll during a test run
START = "2026-01-01T00:00:00Z"
BEFORE_START = "2025-12-01T08:00:00Z"
# Deadlines of condition waits: generous, so a loaded machine only makes the tests slower, never red.
# That a change came through a hook (not a poll) is shown by its run's trigger; no poll is scheduled.
HOOK_WAIT = 60.0
SETTLE_WAIT = 60.0
CLI_TIMEOUT = 180.0
THROTTLE = 3  # Retry-After seconds: above the connector's in-process wait, so the engine reschedules

REMAINING = "Microsoft.VSTS.Scheduling.RemainingWork"
COMPLETED = "Microsoft.VSTS.Scheduling.CompletedWork"
PRIORITY = "Microsoft.VSTS.Common.Priority"


def e2e_config() -> dict[str, Any]:
    """The demo configuration's connections and field map, with this module's three scenarios."""
    document = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    (demo,) = document["scenarios"]
    directions = {
        d: {"schedule": NEVER, "start": START, "hooks": True} for d in ("left_to_right", "right_to_left")
    }

    def scenario(name: str, left: str, right: str, **extra: Any) -> dict[str, Any]:
        return {
            **demo,
            "name": name,
            "containers": [{"left": left, "right": right}],
            "directions": directions,
            **extra,
        }

    broken_map = [
        {"left": "System.Title", "right": "System.Title"},
        {"left": "System.Description", "right": "Custom.DoesNotExist"},
    ]
    document["scenarios"] = [
        scenario("e2e", "Fabrikam", "Fabrikam-Cloud", conflict="newest_wins"),
        scenario("e2e-flag", "Contoso", "Contoso-Cloud", conflict="flag"),
        scenario("e2e-broken", "Broken", "Broken-Cloud", field_map=broken_map),
    ]
    return document


class E2E:
    """The running stack and what the tests use to reach it."""

    def __init__(self, stack: LocalStack, info: dict[str, Any], home: Path, sent: list[QueueMessage]) -> None:
        self.stack = stack
        self.info = info
        self.home = home
        self.sent = sent
        self.client = StackClient(info)
        self.server: AdoRest = self.client.server
        self.services: AdoRest = self.client.services
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AzureWebJobsStorage", "ServiceBus", "TANDEM"))
        }
        self.env["PYTHONPATH"] = str(REPO) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.env["TANDEM_HOME"] = str(home / ".tandem")

    # the command line, as a person runs it next to `tandem serve`
    def cli(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tandem.cli", *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def status_cli(self, scenario: str) -> dict[str, Any]:
        result = self.cli("status", scenario, "--json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    # state
    def status(self, scenario: str = "e2e") -> dict[str, Any]:
        return self.client.status(scenario)

    def settle(self) -> None:
        self.client.settle(SETTLE_WAIT)

    def link(self, scenario: str, side: str, item_id: int | str) -> Any:
        return self.stack.services.links.find(scenario, side, str(item_id))  # type: ignore[arg-type]

    def synced(self, server_id: int, scenario: str = "e2e", parent: int | None = None) -> int:
        """The Services id of a Server item once it is linked (and, with `parent`, has that parent)."""

        def linked() -> int | None:
            link = self.link(scenario, "left", server_id)
            if link is None or link.status != "linked" or not link.right_id:
                return None
            if parent is not None and parent_of(self.services.get(link.right_id)) != parent:
                return None
            return int(link.right_id)

        found, _ = wait_for(f"Server #{server_id} is in Services", linked, HOOK_WAIT)
        return found

    def story(self, scenario: str = "e2e", project: str = "Fabrikam", **fields: Any) -> tuple[int, int]:
        """A User Story created on Server and synced: (Server id, Services id)."""
        created = self.server.create(project, "User Story", {"System.Title": title("Story"), **fields})
        return int(created["id"]), self.synced(int(created["id"]), scenario)

    def new_sent(self, since: int) -> list[QueueMessage]:
        return self.sent[since:]

    def new_runs(self, scenario: str, before: set[str]) -> list[dict[str, Any]]:
        return [r for r in self.status(scenario)["runs"] if r["run_id"] not in before]


def title(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def by_title(ado: AdoRest, text: str) -> list[int]:
    return ado.wiql(f"SELECT [System.Id] FROM WorkItems WHERE [System.Title] = '{text}'")


def counts(runs: list[dict[str, Any]], name: str) -> int:
    return sum((r.get("counts") or {}).get(name, 0) for r in runs)


def run_ids(e2e: E2E, scenario: str = "e2e") -> set[str]:
    return {r["run_id"] for r in e2e.status(scenario)["runs"]}


def poll_and_settle(e2e: E2E, scenario: str = "e2e") -> list[dict[str, Any]]:
    """`tandem run` both directions through the admin API; the finished poll runs."""
    before = run_ids(e2e, scenario)
    enqueued = e2e.client.run(scenario)
    assert enqueued == ["left_to_right", "right_to_left"]

    def finished() -> list[dict[str, Any]] | None:
        runs = [
            r for r in e2e.new_runs(scenario, before) if r["trigger"] == "manual" and r["status"] != "running"
        ]
        return runs if len(runs) == 2 else None

    runs, _ = wait_for("both polls finished", finished, SETTLE_WAIT)
    e2e.settle()
    return runs


@contextlib.contextmanager
def started_stack(home: Path, server_projects: list[str], services_projects: list[str]) -> Iterator[E2E]:
    """A local stack (what `tandem serve` runs) with no scenario yet, its stack file where the `tandem`
    commands find it, and these projects on the two emulators; stopped on leaving."""
    (home / "empty.yaml").write_text("{}\n", encoding="utf-8")
    stack = LocalStack(home / "empty.yaml")
    info = stack.start()
    try:
        stack_file = home / ".tandem" / "stack.json"
        write_stack_file(stack_file, {**info, "pid": os.getpid(), "variables": stack.emulator_variables()})
        env = E2E(stack, info, home, [])
        env.server.control("POST", "seed", {"projects": [{"name": p} for p in server_projects]})
        env.services.control("POST", "seed", {"projects": [{"name": p} for p in services_projects]})
        yield env
        env.client.close()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    home = tmp_path_factory.mktemp("e2e")
    empty = home / "empty.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    config_file = home / "e2e.yaml"
    config_file.write_text(dump_document(e2e_config()), encoding="utf-8")

    stack = LocalStack(empty)
    sent: list[QueueMessage] = []
    send = stack.queue.send

    def recording_send(messages: Any) -> None:
        sent.extend(m.model_copy(deep=True) for m in messages)
        send(messages)

    stack.queue.send = recording_send  # type: ignore[method-assign]
    info = stack.start()
    try:
        # What `tandem serve` leaves for the other commands.
        stack_file = home / ".tandem" / "stack.json"
        write_stack_file(stack_file, {**info, "pid": os.getpid(), "variables": stack.emulator_variables()})
        env = E2E(stack, info, home, sent)
        # The organizations exist before the hub is configured, with area paths below the project roots.
        env.server.control(
            "POST",
            "seed",
            {
                "projects": [
                    {"name": "Fabrikam", "areas": ["Web\\Checkout"]},
                    {"name": "Contoso"},
                    {"name": "Broken"},
                    {"name": "Sandbox"},
                ]
            },
        )
        env.services.control(
            "POST",
            "seed",
            {
                "projects": [
                    {"name": "Fabrikam-Cloud", "areas": ["Web\\Checkout"]},
                    {"name": "Contoso-Cloud"},
                    {"name": "Broken-Cloud"},
                ]
            },
        )
        applied = env.cli("config", "apply", str(config_file))
        assert applied.returncode == 0, applied.stderr
        assert "e2e, e2e-flag, e2e-broken" in applied.stdout
        yield env
        env.client.close()
    finally:
        stack.stop()


@pytest.fixture(autouse=True)
def leave_quiet(e2e: E2E) -> Iterator[None]:
    """Whatever a test did to hook delivery and faults, the next one starts from a quiet stack."""
    yield
    for ado in (e2e.server, e2e.services):
        ado.hooks("resume")
        ado.clear_faults()
    e2e.settle()


# -- a work item created in Server appears in Services; an update comes back through the hook ----------


def test_created_on_server_appears_in_services_with_mapped_fields_and_parent_link(e2e: E2E) -> None:
    story_title = title("Pay by invoice")
    description = "<p>Business customers pay by <b>invoice</b>.</p>"
    story = e2e.server.create(
        "Fabrikam",
        "User Story",
        {
            "System.Title": story_title,
            "System.Description": description,
            "System.AssignedTo": "CONTOSO\\bob.smith",
            "System.AreaPath": "Fabrikam\\Web\\Checkout",
            "System.IterationPath": "Fabrikam\\Sprint 2",
            PRIORITY: 1,
            "System.Tags": "checkout; beta",
        },
    )
    task = e2e.server.create(
        "Fabrikam",
        "Task",
        {
            "System.Title": title("Invoice option"),
            "System.AssignedTo": "ann.chen@contoso.com",
            "System.IterationPath": "Fabrikam\\Sprint 2",
            REMAINING: 4.5,
            COMPLETED: 1.5,
        },
        parent=int(story["id"]),
    )
    # Polls are scheduled once a year: what arrives came through the service hooks.
    story_copy = e2e.synced(int(story["id"]))
    task_copy = e2e.synced(int(task["id"]), parent=story_copy)

    fields = e2e.services.get(story_copy)["fields"]
    assert fields["System.TeamProject"] == "Fabrikam-Cloud"
    assert fields["System.WorkItemType"] == "User Story"
    assert fields["System.Title"] == story_title
    assert fields["System.Description"] == description
    assert fields["System.State"] == "New"
    assert fields["System.AssignedTo"]["uniqueName"] == "bob.smith@contoso.com"
    assert fields["System.AreaPath"] == "Fabrikam-Cloud\\Web\\Checkout"
    assert fields["System.IterationPath"] == "Fabrikam-Cloud\\Sprint 2"
    assert fields[PRIORITY] == 1
    assert user_tags(fields["System.Tags"]) == "beta; checkout"

    task_item = e2e.services.get(task_copy)
    assert parent_of(task_item) == story_copy
    assert task_item["fields"]["System.AssignedTo"]["uniqueName"] == "ann.chen@contoso.com"
    assert task_item["fields"][REMAINING] == 4.5 and task_item["fields"][COMPLETED] == 1.5

    config = e2e.stack.services.config()
    scenario = config.scenario("e2e")
    identities = identity_maps(config, scenario)
    for left, right in ((int(story["id"]), story_copy), (int(task["id"]), task_copy)):
        left_item, right_item = e2e.server.get(left), e2e.services.get(right)
        assert mapped_differences(config, scenario, left_item, right_item, identities) == []


def test_update_in_services_reaches_server_through_the_service_hook(e2e: E2E) -> None:
    server_id, services_id = e2e.story(**{"System.Tags": "checkout"})
    e2e.settle()
    before = run_ids(e2e)
    writes_before = (sum(e2e.server.writes().values()), sum(e2e.services.writes().values()))
    new_title = title("Renamed in Services")
    e2e.services.update(
        services_id,
        {
            "System.Title": new_title,
            "System.State": "Active",
            "System.AssignedTo": "ann.chen@contoso.com",
            "System.Tags": "checkout; eu",
        },
    )

    def arrived() -> dict[str, Any] | None:
        fields = e2e.server.get(server_id)["fields"]
        return fields if fields["System.Title"] == new_title else None

    fields, _ = wait_for("the Services edit is on Server", arrived, HOOK_WAIT)
    assert fields["System.State"] == "Active"
    assert fields["System.AssignedTo"]["uniqueName"] == "CONTOSO\\ann.chen"
    assert user_tags(fields["System.Tags"]) == "checkout; eu"
    e2e.settle()
    runs = e2e.new_runs("e2e", before)
    assert runs and {r["trigger"] for r in runs} == {"hook"}  # no poll was involved
    assert [r for r in runs if r["direction"] == "right_to_left"]
    # Exactly one write on Server (the hub's) and none back on Services (only the person's edit), by the
    # emulators' counters. Not by the run's `updated` count: on a loaded machine Server's hook about the
    # hub's own write can be applied before that write's link is saved; the write's link save then loses
    # the race, and the applier re-merges to nothing to do and counts the write as "unchanged".
    after = (sum(e2e.server.writes().values()), sum(e2e.services.writes().values()))
    assert after == (writes_before[0] + 1, writes_before[1] + 1)
    assert not [r for r in e2e.status()["runs"] if r["trigger"] == "timer"]


# -- converged sides: further polls write nothing ------------------------------------------------------


def test_after_convergence_poll_cycles_write_nothing(e2e: E2E) -> None:
    story_id, story_copy = e2e.story()
    task = e2e.server.create(
        "Fabrikam", "Task", {"System.Title": title("Task"), REMAINING: 3}, parent=story_id
    )
    e2e.synced(int(task["id"]), parent=story_copy)
    bug = e2e.services.create("Fabrikam-Cloud", "Bug", {"System.Title": title("Bug from Services")})

    def bug_linked() -> bool:
        link = e2e.link("e2e", "right", bug["id"])
        return link is not None and link.status == "linked"

    wait_for("the Services bug is on Server", bug_linked, HOOK_WAIT)
    e2e.settle()
    writes = (e2e.server.writes(), e2e.services.writes())
    first = poll_and_settle(e2e)
    second = poll_and_settle(e2e)
    assert (e2e.server.writes(), e2e.services.writes()) == writes
    for runs in (first, second):
        assert {r["status"] for r in runs} == {"enqueued"}
        assert counts(runs, "created") == counts(runs, "updated") == counts(runs, "failed") == 0
    assert counts(first, "changes") >= 3  # the polls did list the items; they just had nothing to write
    assert e2e.status()["dead_letters"] == [] and e2e.status()["failures"] == []


# -- concurrent edits ----------------------------------------------------------------------------------


def edit_both_sides_while_hooks_are_paused(
    e2e: E2E, server_id: int, services_id: int
) -> tuple[str, str, str]:
    """Server: priority and title; Services, a moment later: description and title."""
    e2e.settle()
    for ado in (e2e.server, e2e.services):
        ado.hooks("pause")
    server_title, services_title = title("Server wording"), title("Services wording")
    description = f"<p>{title('Edited in Services')}</p>"
    e2e.server.update(server_id, {PRIORITY: 1, "System.Title": server_title})
    server_changed = datetime.fromisoformat(e2e.server.get(server_id)["fields"]["System.ChangedDate"])
    wait_for(  # so that the Services edit is the later one by ChangedDate
        "the Services clock is past the Server edit",
        lambda: datetime.fromisoformat(e2e.services.control("GET", "clock")["now"]) > server_changed,
        HOOK_WAIT,
        interval=0.005,
    )
    e2e.services.update(services_id, {"System.Description": description, "System.Title": services_title})
    for ado in (e2e.server, e2e.services):
        ado.hooks("resume")
    return server_title, services_title, description


def test_concurrent_edits_keep_both_fields_and_the_newest_title_wins(e2e: E2E) -> None:
    server_id, services_id = e2e.story(**{PRIORITY: 3})
    e2e.settle()
    before = run_ids(e2e)
    _, services_title, description = edit_both_sides_while_hooks_are_paused(e2e, server_id, services_id)

    def merged() -> bool:
        left, right = e2e.server.get(server_id)["fields"], e2e.services.get(services_id)["fields"]
        return (
            left[PRIORITY] == right[PRIORITY] == 1
            and left.get("System.Description") == right.get("System.Description") == description
            and left["System.Title"] == right["System.Title"] == services_title
        )

    wait_for("both edits are on both sides, the later title on both", merged, HOOK_WAIT)
    e2e.settle()
    assert merged()  # and it stays so: no echo undoes it
    status = e2e.status_cli("e2e")
    new_runs = [r for r in status["runs"] if r["run_id"] not in before]
    assert counts(new_runs, "conflicts") >= 1
    assert status["conflicts"] == []  # resolved by the rule, nothing left for a person
    assert status["dead_letters"] == []


def test_concurrent_edits_with_flag_rule_keep_both_titles_and_status_lists_the_conflict(e2e: E2E) -> None:
    server_id, services_id = e2e.story(scenario="e2e-flag", project="Contoso", **{PRIORITY: 3})
    server_title, services_title, description = edit_both_sides_while_hooks_are_paused(
        e2e, server_id, services_id
    )

    def merged() -> bool:
        left, right = e2e.server.get(server_id)["fields"], e2e.services.get(services_id)["fields"]
        return (
            left[PRIORITY] == right[PRIORITY] == 1
            and left.get("System.Description") == right.get("System.Description") == description
        )

    wait_for("the edits of different fields are on both sides", merged, HOOK_WAIT)
    e2e.settle()
    assert e2e.server.get(server_id)["fields"]["System.Title"] == server_title
    assert e2e.services.get(services_id)["fields"]["System.Title"] == services_title
    link = e2e.link("e2e-flag", "left", server_id)
    status = e2e.status_cli("e2e-flag")
    (conflict,) = [c for c in status["conflicts"] if c["link_id"] == link.link_id]
    assert conflict["rule"] == "System.Title<->System.Title"
    assert (conflict["left_value"], conflict["right_value"]) == (server_title, services_title)
    text = e2e.cli("status", "e2e-flag")
    assert text.returncode == 0 and "Conflicts: 1" in text.stdout and "System.Title" in text.stdout


# -- replays and redeliveries ----------------------------------------------------------------------


def test_replayed_hook_deliveries_and_redelivered_messages_create_no_duplicates(e2e: E2E) -> None:
    story_title = title("Replayed")
    story = e2e.server.create("Fabrikam", "User Story", {"System.Title": story_title, PRIORITY: 2})
    story_id = int(story["id"])
    copy = e2e.synced(story_id)
    e2e.services.update(copy, {PRIORITY: 3})
    wait_for(
        "the priority is on Server", lambda: e2e.server.get(story_id)["fields"][PRIORITY] == 3, HOOK_WAIT
    )
    e2e.settle()
    writes = (e2e.server.writes(), e2e.services.writes())
    links = e2e.status()["links"]["total"]

    # ADO delivers again (a retry after a timeout it saw, or an operator's "resend" in the portal).
    replays = [
        ("ado-server", d["payload"])
        for d in e2e.server.deliveries()
        if (d["payload"]["resource"].get("workItemId") or d["payload"]["resource"].get("id")) == story_id
    ] + [
        ("ado-services", d["payload"])
        for d in e2e.services.deliveries()
        if (d["payload"]["resource"].get("workItemId") or d["payload"]["resource"].get("id")) == copy
    ]
    assert {p["eventType"] for _, p in replays} >= {"workitem.created", "workitem.updated"}
    for _ in range(2):
        for connection, payload in replays:
            reply = e2e.client.hook(connection, "e2e", json.dumps(payload).encode())
            assert reply.status_code in (200, 202), reply.text

    # Service Bus delivers a message again after a lost lock: same body, fresh delivery.
    about_it = [
        m
        for m in e2e.sent
        if m.body.get("kind") == "item" and m.body.get("source_id") in (str(story_id), str(copy))
    ]
    assert {m.body["direction"] for m in about_it} == {"left_to_right", "right_to_left"}
    again = [
        m.model_copy(update={"message_id": replay_message_id(m.message_id), "delivery_count": 0})
        for m in about_it
        for _ in range(2)
    ]
    e2e.stack.queue.send(again)
    e2e.settle()

    assert by_title(e2e.server, story_title) == [story_id]
    assert by_title(e2e.services, story_title) == [copy]
    assert (e2e.server.writes(), e2e.services.writes()) == writes
    status = e2e.status()
    assert status["links"]["total"] == links
    assert status["dead_letters"] == [] and status["failures"] == []


# -- throttling and permanent errors ---------------------------------------------------------------


def test_throttled_write_is_retried_after_retry_after_and_succeeds(e2e: E2E) -> None:
    task = e2e.server.create("Fabrikam", "Task", {"System.Title": title("Throttled"), REMAINING: 8})
    task_id = int(task["id"])
    copy = e2e.synced(task_id)
    e2e.settle()
    before = run_ids(e2e)
    calls = e2e.services.counters()["calls"].get("wit.workitems.update", 0)
    e2e.services.add_fault(
        endpoint="wit.workitems.update", method="PATCH", status=429, retryAfter=THROTTLE, times=1
    )
    e2e.server.update(task_id, {REMAINING: 5, COMPLETED: 3})
    changed = time.monotonic()

    def arrived() -> bool:
        fields = e2e.services.get(copy)["fields"]
        return fields.get(REMAINING) == 5 and fields.get(COMPLETED) == 3

    wait_for("the throttled update reaches Services", arrived, HOOK_WAIT + THROTTLE)
    took = time.monotonic() - changed
    assert THROTTLE - 0.2 <= took < THROTTLE + HOOK_WAIT  # not before the Retry-After delay
    e2e.settle()
    assert e2e.services.faults() == []  # the 429 was served
    assert e2e.services.counters()["calls"]["wit.workitems.update"] == calls + 2  # refused once, then written
    runs = [r for r in e2e.new_runs("e2e", before) if r["direction"] == "left_to_right"]
    # One write (the call count above), so not the run's `updated` count: see the Services update test.
    assert counts(runs, "retried") == 1 and counts(runs, "failed") == 0
    assert e2e.status()["dead_letters"] == []


def test_permanent_400_is_dead_lettered_with_its_reason_shown_by_status(e2e: E2E) -> None:
    # The e2e-broken field map writes the description to a field Services does not have.
    item = e2e.server.create(
        "Broken", "User Story", {"System.Title": title("Broken"), "System.Description": "<p>x</p>"}
    )
    item_id = str(item["id"])

    def dead_lettered() -> dict[str, Any] | None:
        status = e2e.status("e2e-broken")
        return next((d for d in status["dead_letters"] if d["source_id"] == item_id), None)

    dead, _ = wait_for("the create is dead-lettered", dead_lettered, HOOK_WAIT)
    e2e.settle()
    assert "Custom.DoesNotExist" in dead["reason"]
    status = e2e.status_cli("e2e-broken")
    (failure,) = [f for f in status["failures"] if f["source_id"] == item_id]
    assert failure["kind"] == "permanent" and "Custom.DoesNotExist" in failure["reason"]
    assert failure["attempts"] == 1  # not retried: a 400 does not get better by waiting
    assert e2e.services.ids_in("Broken-Cloud") == []
    text = e2e.cli("status", "e2e-broken")
    assert text.returncode == 0 and "Dead letters: 1" in text.stdout and "Custom.DoesNotExist" in text.stdout


# -- the hook endpoint's answers -------------------------------------------------------------------


def test_hook_with_wrong_credentials_is_refused_and_malformed_json_is_a_400(e2e: E2E) -> None:
    e2e.server.hooks("pause")  # hold ADO's own delivery: the only deliveries are the test's
    story_title = title("Held back")
    story = e2e.server.create("Fabrikam", "User Story", {"System.Title": story_title})
    story_id = int(story["id"])
    (payload,) = [
        d["payload"]
        for d in e2e.server.deliveries()
        if d["eventType"] == "workitem.created" and d["payload"]["resource"]["id"] == story_id
    ]
    body = json.dumps(payload).encode()
    sent = len(e2e.sent)
    runs = run_ids(e2e)

    wrong = e2e.client.hook("ado-server", "e2e", body, auth=(e2e.client.hook_user, "not-the-password"))
    assert wrong.status_code == 401 and "Basic" in wrong.headers.get("WWW-Authenticate", "")
    nobody = httpx.post(f"{e2e.client.api}/hooks/ado-server/e2e", content=body, timeout=10)
    assert nobody.status_code == 401
    malformed = e2e.client.hook("ado-server", "e2e", b'{"eventType": "workitem.created", "resource": ')
    assert malformed.status_code == 400
    not_a_hook = e2e.client.hook("ado-server", "e2e", b'{"hello": "world"}')
    assert not_a_hook.status_code == 400
    assert e2e.client.queue_quiet(10) and e2e.services.hooks_idle(10)
    assert e2e.new_sent(sent) == []  # nothing was enqueued
    assert run_ids(e2e) == runs
    assert by_title(e2e.services, story_title) == []

    # The same payload with the right credentials is what ADO delivers once it resumes: it syncs.
    e2e.server.hooks("resume")
    e2e.synced(story_id)


def test_hook_about_a_project_outside_every_scope_is_acknowledged_and_writes_nothing(e2e: E2E) -> None:
    # An administrator subscribed the hub to a project no scenario pairs (Sandbox).
    projects = e2e.server.http.get(
        f"{e2e.server.base_url}/_apis/projects",
        params={"api-version": "7.1"},
        headers=e2e.server.headers(),
    ).json()["value"]
    sandbox = next(p["id"] for p in projects if p["name"] == "Sandbox")
    subscription = e2e.server.http.post(
        f"{e2e.server.base_url}/_apis/hooks/subscriptions",
        params={"api-version": "7.1"},
        headers=e2e.server.headers(),
        json={
            "publisherId": "tfs",
            "eventType": "workitem.created",
            "resourceVersion": "1.0",
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "publisherInputs": {"projectId": sandbox},
            "consumerInputs": {
                "url": f"{e2e.client.api}/hooks/ado-server/e2e",
                "basicAuthUsername": e2e.client.hook_user,
                "basicAuthPassword": e2e.client.hook_password,
            },
        },
    )
    assert subscription.status_code == 200, subscription.text
    try:
        e2e.settle()
        sent = len(e2e.sent)
        runs = run_ids(e2e)
        writes = e2e.services.writes()
        item = e2e.server.create("Sandbox", "User Story", {"System.Title": title("Sandbox")})
        e2e.settle()
        (delivery,) = [
            d
            for d in e2e.server.deliveries()
            if d["subscriptionId"] == subscription.json()["id"]
            and d["payload"]["resource"]["id"] == item["id"]
        ]
        assert delivery["status"] == "completed", delivery
        assert all(200 <= a["statusCode"] < 300 for a in delivery["attempts"])
        assert e2e.new_sent(sent) == []
        assert run_ids(e2e) == runs
        assert e2e.services.writes() == writes
        assert e2e.link("e2e", "left", item["id"]) is None
    finally:
        e2e.server.http.delete(
            f"{e2e.server.base_url}/_apis/hooks/subscriptions/{subscription.json()['id']}",
            params={"api-version": "7.1"},
            headers=e2e.server.headers(),
        )


# -- scope and start date --------------------------------------------------------------------------


def test_items_outside_the_scope_or_before_the_start_date_are_never_touched(e2e: E2E) -> None:
    before = run_ids(e2e)
    old = {"System.CreatedDate": BEFORE_START, "System.ChangedDate": BEFORE_START}
    untouchable = [
        (e2e.server, e2e.server.create("Sandbox", "User Story", {"System.Title": title("Other project")})),
        (e2e.server, e2e.server.create("Fabrikam", "Epic", {"System.Title": title("Other type")})),
        (
            e2e.server,
            e2e.server.create(
                "Fabrikam", "User Story", {"System.Title": title("Before start"), **old}, bypass_rules=True
            ),
        ),
        (
            e2e.services,
            e2e.services.create("Fabrikam-Cloud", "Feature", {"System.Title": title("Other type")}),
        ),
        (
            e2e.services,
            e2e.services.create(
                "Fabrikam-Cloud", "Bug", {"System.Title": title("Before start"), **old}, bypass_rules=True
            ),
        ),
    ]
    assert untouchable[2][1]["fields"]["System.ChangedDate"].startswith("2025-12-01")
    e2e.settle()  # ADO delivered the hooks about the four in the paired projects: each was looked at, skipped
    hooked = [r for r in e2e.new_runs("e2e", before) if r["trigger"] == "hook"]
    assert counts(hooked, "skipped") == 4 and counts(hooked, "created") == counts(hooked, "updated") == 0
    writes = (e2e.server.writes(), e2e.services.writes())
    sent = len(e2e.sent)
    runs = poll_and_settle(e2e)
    assert {r["status"] for r in runs} == {"enqueued"}
    assert (e2e.server.writes(), e2e.services.writes()) == writes
    # Outside the polls' WIQL scope: never even listed.
    listed = {(m.body.get("direction"), m.body.get("source_id")) for m in e2e.new_sent(sent)}
    for ado, item in untouchable:
        direction = "left_to_right" if ado is e2e.server else "right_to_left"
        assert (direction, str(item["id"])) not in listed, item["fields"]["System.Title"]
    for ado, item in untouchable:
        other = e2e.services if ado is e2e.server else e2e.server
        side = "left" if ado is e2e.server else "right"
        text = item["fields"]["System.Title"]
        assert ado.get(item["id"])["rev"] == item["rev"] == 1, text  # never written to
        assert by_title(other, text) == [], text  # never copied
        assert e2e.link("e2e", side, item["id"]) is None, text


# -- the intake while the target is down, and a rotated hook secret -----------------------------------


def test_a_hook_is_taken_while_the_target_is_down_and_applied_once_it_is_back(e2e: E2E) -> None:
    e2e.settle()
    # A fresh connector, so no field metadata is cached from earlier tests: the intake must not need it.
    e2e.stack.services.registry.forget()
    e2e.services.add_fault(status=503, times=None)  # every call to Services (the target) fails
    story_title = title("Target down")
    story = e2e.server.create("Fabrikam", "User Story", {"System.Title": story_title})
    story_id = int(story["id"])

    def delivered() -> dict[str, Any] | None:
        for d in e2e.server.deliveries():
            if d["eventType"] == "workitem.created" and d["payload"]["resource"]["id"] == story_id:
                return d if d["attempts"] else None
        return None

    delivery, _ = wait_for("ADO delivered the created hook", delivered, HOOK_WAIT)
    assert [a["statusCode"] for a in delivery["attempts"]] == [202]  # answered at once, no retry
    assert {s["status"] for s in subscriptions(e2e.server)} == {"enabled"}  # nothing on probation
    e2e.services.clear_faults()
    e2e.synced(story_id)  # the queued item is retried and applied once Services answers again


def subscriptions(ado: AdoRest) -> list[dict[str, Any]]:
    reply = ado.http.get(
        f"{ado.base_url}/_apis/hooks/subscriptions", params={"api-version": "7.1"}, headers=ado.headers()
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["value"])


def test_a_rotated_hook_secret_reaches_every_subscription_and_verify_names_the_failing_ones(
    e2e: E2E,
) -> None:
    e2e.settle()
    secrets = e2e.stack.services.secrets
    old = secrets.get("ado-server-hook")
    rotated = "rotated-" + uuid.uuid4().hex  # 40 characters
    secrets.set("ado-server-hook", rotated)
    try:
        # ADO still sends the old secret: the delivery gets 401 and ADO puts the subscription on probation.
        story = e2e.server.create("Fabrikam", "User Story", {"System.Title": title("Rotated")})
        story_id = int(story["id"])

        def on_probation() -> list[str] | None:
            failing = [s["id"] for s in subscriptions(e2e.server) if s["status"] == "onProbation"]
            return failing or None

        failing, _ = wait_for("the subscription is on probation", on_probation, HOOK_WAIT)
        reply = e2e.client.admin("POST", "scenarios/e2e/setup/verify")
        left = next(side for side in reply["sides"] if side["side"] == "left")
        said = "\n".join(left["problems"])
        for sub_id in failing:
            assert f"subscription {sub_id}" in said and "on probation" in said
        assert "Status Code: 401" in said
        assert any("rotated hook secret" in line for line in left["hooks"])
        # Every subscription of both systems now carries the new secret: ADO delivers it again.
        for ado in (e2e.server, e2e.services):
            assert {s["status"] for s in subscriptions(ado)} == {"enabled"}
        # ADO's probation retry (20 min later; made due now) carries the new secret and delivers.
        e2e.server.hooks("flush")
        e2e.synced(story_id)
        ours = [s for s in subscriptions(e2e.server) if "/hooks/ado-server/e2e" in s["consumerInputs"]["url"]]
        assert ours and all(rotated not in s["consumerInputs"]["url"] for s in ours)
    finally:
        secrets.set("ado-server-hook", old)
        e2e.client.admin("POST", "scenarios/e2e/hooks")


# -- repairs from the admin API (what the console does) -------------------------------------------


def test_a_flagged_conflict_is_resolved_through_the_admin_api_and_both_sides_converge(e2e: E2E) -> None:
    server_id, services_id = e2e.story(scenario="e2e-flag", project="Contoso", **{PRIORITY: 3})
    _, services_title, _ = edit_both_sides_while_hooks_are_paused(e2e, server_id, services_id)

    def listed() -> dict[str, Any] | None:
        items = e2e.client.admin("GET", "scenarios/e2e-flag/conflicts")["items"]
        return next((c for c in items if c["left_id"] == str(server_id)), None)

    conflict, _ = wait_for("the title conflict is listed", listed, HOOK_WAIT)
    e2e.settle()
    assert (conflict["left_field"], conflict["right_value"]) == ("System.Title", services_title)
    reply = e2e.client.admin(
        "POST", f"scenarios/e2e-flag/conflicts/{conflict['id']}/resolve", json={"side": "right"}
    )
    assert reply["resolved"] is True and reply["written"] == ["left"]
    assert e2e.server.get(server_id)["fields"]["System.Title"] == services_title
    e2e.settle()  # Server's hook about the resolution's write arrives and changes nothing
    revs = (e2e.server.get(server_id)["rev"], e2e.services.get(services_id)["rev"])
    runs = poll_and_settle(e2e, "e2e-flag")
    assert counts(runs, "updated") == 0 and counts(runs, "created") == 0
    assert (e2e.server.get(server_id)["rev"], e2e.services.get(services_id)["rev"]) == revs
    assert e2e.services.get(services_id)["fields"]["System.Title"] == services_title
    assert listed() is None
    history = e2e.client.admin("GET", "scenarios/e2e-flag/items", params={"id": str(services_id)})["item"]
    assert history["left_id"] == str(server_id) and history["versions"]["left"] == str(revs[0])
    assert any(e["action"] == "conflict" and e["fields"] == ["System.Title"] for e in history["events"])


def test_a_dead_lettered_create_is_replayed_by_the_cli_and_succeeds(e2e: E2E) -> None:
    e2e.services.add_fault(endpoint="wit.workitems.create", status=400, times=1)
    story_title = title("Replay me")
    item = e2e.server.create("Fabrikam", "User Story", {"System.Title": story_title})
    item_id = str(item["id"])

    def dead_lettered() -> dict[str, Any] | None:
        items = e2e.client.admin("GET", "admin/deadletters", params={"scenario": "e2e"})["items"]
        return next((d for d in items if d["source_id"] == item_id), None)

    dead, _ = wait_for("the create is dead-lettered", dead_lettered, HOOK_WAIT)
    e2e.settle()
    assert dead["queue"] and dead["reason"] and dead["attempts"] == 1
    assert by_title(e2e.services, story_title) == []
    listed = e2e.cli("deadletters", "list", "--scenario", "e2e", "--json")
    assert listed.returncode == 0 and dead["message_id"] in listed.stdout, listed.stderr
    replayed = e2e.cli("deadletters", "replay", dead["message_id"])
    assert replayed.returncode == 0 and "1 message(s) replayed" in replayed.stdout, replayed.stderr
    copy = e2e.synced(int(item_id))
    e2e.settle()
    assert by_title(e2e.services, story_title) == [copy]
    assert dead_lettered() is None
    assert [f for f in e2e.status()["failures"] if f["source_id"] == item_id] == []
