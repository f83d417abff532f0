"""`tandem demo`: start the local stack and narrate a two-way sync between an Azure DevOps Server collection
and an Azure DevOps Services organization, driving both emulators with plain ADO REST calls as people would.

The story: a User Story with a child Task is created on Server and appears in Services through the service
hook; the story is updated in Services and the change comes back; both sides are edited while hook delivery
is paused (different fields are both kept, the same field follows the scenario's rule); a Services write is
throttled (429 + Retry-After) and retried; a poll of both directions then writes nothing. A summary table
closes the demo, which exits 0 only when both sides converged (every mapped field equal across linked pairs,
parents linked alike, nothing dead-lettered) and 1 otherwise, saying what differs.

Part 2 (`PwaDemo`), on the same stack: the sample PWA ↔ ADO configuration (`pwa_ado_config.yaml`) is applied
beside the first, the PWA custom fields are created, and a published PWA project with a summary task, leaf
tasks, an assignment and one unflagged task is polled into Azure DevOps Services (flagged tasks → work items
of their type with parent links); progress set in ADO reaches PWA through the service hook as % complete and
actual/remaining work in one check-out/publish; a task edited and published in PWA reaches ADO; a summary
table closes it, converged when names, parent links and progress agree and a poll of both directions writes
nothing.

Part 3 (`tandem.demo_planner.PlannerDemo`): the sample PWA ↔ Planner configuration, narrated the same way.

Part 4 (`tandem.demo_pipelines.PipelinesDemo`): the sample release pipelines configuration; a classic release
definition is copied Server → Services with its queue, service connection, variable group and task group,
and every remapped id is shown with its JSON path.

`AdoRest` (plain REST against one organization or collection, plus the emulator's control API) and
`mapped_differences` are reused by the end-to-end tests.
"""

from __future__ import annotations

import argparse
import base64
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import httpx

T = TypeVar("T")

API_VERSION = "7.1"
PARENT_REL = "System.LinkTypes.Hierarchy-Reverse"
CORRELATION_TAG_PREFIX = "tandem:"
THROTTLE_SECONDS = 3  # longer than the connector sleeps through in-process, so the engine reschedules


class DemoError(Exception):
    """A step did not reach the state it waits for in time; the message says what was expected."""


# -- plain Azure DevOps REST ----------------------------------------------------------------------


@dataclass
class AdoRest:
    """One Azure DevOps organization or collection over plain REST (PAT basic auth, api-version 7.1),
    plus the emulator's `/_emulator` control API (faults, counters, hook delivery) when it is one."""

    label: str  # "Server" / "Services", for narration
    base_url: str  # https://dev.azure.com/{org} or {server}/{collection}
    pat: str
    http: httpx.Client
    own_writes: Counter[str] = field(default_factory=Counter)  # what this client created / updated

    @property
    def control_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/_emulator"

    def headers(self, patch: bool = False) -> dict[str, str]:
        token = base64.b64encode(f":{self.pat}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        if patch:
            headers["Content-Type"] = "application/json-patch+json"
        return headers

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise DemoError(
                f"{self.label}: {response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    # work items
    def create(
        self,
        project: str,
        type_name: str,
        fields: Mapping[str, Any],
        *,
        parent: int | None = None,
        bypass_rules: bool = False,
    ) -> dict[str, Any]:
        ops: list[dict[str, Any]] = [
            {"op": "add", "path": f"/fields/{name}", "value": value} for name, value in fields.items()
        ]
        if parent is not None:
            ops.append(
                {
                    "op": "add",
                    "path": "/relations/-",
                    "value": {"rel": PARENT_REL, "url": f"{self.base_url}/_apis/wit/workItems/{parent}"},
                }
            )
        params = {"api-version": API_VERSION, **({"bypassRules": "true"} if bypass_rules else {})}
        response = self.http.post(
            f"{self.base_url}/{project}/_apis/wit/workitems/${type_name}",
            params=params,
            json=ops,
            headers=self.headers(patch=True),
        )
        item = dict(self._check(response))
        self.own_writes["create"] += 1
        return item

    def get(self, item_id: int | str) -> dict[str, Any]:
        response = self.http.get(
            f"{self.base_url}/_apis/wit/workitems/{item_id}",
            params={"api-version": API_VERSION, "$expand": "relations"},
            headers=self.headers(),
        )
        return dict(self._check(response))

    def update(self, item_id: int | str, fields: Mapping[str, Any], rev: int | None = None) -> dict[str, Any]:
        ops: list[dict[str, Any]] = []
        if rev is not None:
            ops.append({"op": "test", "path": "/rev", "value": rev})
        ops += [{"op": "add", "path": f"/fields/{name}", "value": value} for name, value in fields.items()]
        response = self.http.patch(
            f"{self.base_url}/_apis/wit/workitems/{item_id}",
            params={"api-version": API_VERSION},
            json=ops,
            headers=self.headers(patch=True),
        )
        item = dict(self._check(response))
        self.own_writes["update"] += 1
        return item

    def wiql(self, query: str) -> list[int]:
        response = self.http.post(
            f"{self.base_url}/_apis/wit/wiql",
            params={"api-version": API_VERSION},
            json={"query": query},
            headers=self.headers(),
        )
        return [int(w["id"]) for w in self._check(response)["workItems"]]

    def ids_in(self, project: str, where: str = "") -> list[int]:
        clause = f" AND {where}" if where else ""
        project = project.replace("'", "''")  # WIQL string literal
        query = f"SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = '{project}'"  # noqa: S608
        return self.wiql(f"{query}{clause} ORDER BY [System.Id]")

    # emulator control API
    def control(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        response = self.http.request(
            method, f"{self.control_url}/{path}", json=body, timeout=timeout or self.http.timeout
        )
        return self._check(response)

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def writes(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.counters()["writes"].items()}

    def add_fault(self, **rule: Any) -> None:
        self.control("POST", "faults", rule)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def faults(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "faults")["rules"])

    def hooks(self, action: str) -> dict[str, Any]:
        return dict(self.control("POST", f"hooks/{action}"))

    def hooks_idle(self, timeout: float = 5.0) -> bool:
        reply = self.control("POST", "hooks/wait-idle", {"timeout": timeout}, timeout=timeout + 10)
        return bool(reply["idle"])

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "hooks/deliveries")["value"])


# -- values as people read them -------------------------------------------------------------------


def parent_of(item: Mapping[str, Any]) -> int | None:
    for rel in item.get("relations") or []:
        if rel.get("rel") == PARENT_REL:
            return int(str(rel["url"]).rstrip("/").rsplit("/", 1)[1])
    return None


def display(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dict) and "uniqueName" in value:
        return f"{value.get('displayName')} <{value['uniqueName']}>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def user_tags(value: Any) -> str | None:
    """The people's tags: the hub's correlation tag left out, sorted as the tags transform writes them."""
    tags = sorted({t.strip() for t in str(value or "").split(";") if t.strip()}, key=str.lower)
    tags = [t for t in tags if not t.startswith(CORRELATION_TAG_PREFIX)]
    return "; ".join(tags) if tags else None


def comparable(value: Any, identities: Mapping[str, str]) -> Any:
    """A field value in the form the field map speaks: people by e-mail, numbers as floats."""
    if isinstance(value, dict) and "uniqueName" in value:
        unique = str(value["uniqueName"]).lower()
        return identities.get(unique, unique)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if value == "":
        return None
    return value


def mapped_differences(
    config: Any,
    scenario: Any,
    left_item: Mapping[str, Any],
    right_item: Mapping[str, Any],
    identities: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Where a linked pair disagrees: every mapped field, converted left → right as the field map says.

    `identities` maps each side ("left"/"right") from unique names (DOMAIN\\user) to e-mail addresses."""
    from mapping.transforms import Context

    ids = {
        side: {k.lower(): v.lower() for k, v in (identities or {}).get(side, {}).items()}
        for side in ("left", "right")
    }
    lf, rf = left_item.get("fields") or {}, right_item.get("fields") or {}
    ctx = Context(left_container=lf.get("System.TeamProject"), right_container=rf.get("System.TeamProject"))
    out = []
    for rule in config.rules(scenario):
        left_value, right_value = lf.get(rule.left), rf.get(rule.right)
        if rule.left == "System.Tags":
            left_value = user_tags(left_value)
        if rule.right == "System.Tags":
            right_value = user_tags(right_value)
        expected = comparable(rule.convert(comparable(left_value, ids["left"]), "left_to_right", ctx), {})
        actual = comparable(right_value, ids["right"])
        if expected != actual:
            out.append(f"{rule.left}: {display(left_value)!r} ≠ {display(right_value)!r}")
    return out


def identity_maps(config: Any, scenario: Any) -> dict[str, dict[str, str]]:
    """Each side's configured DOMAIN\\user → e-mail table (Server speaks unique names, the map e-mail)."""
    out: dict[str, dict[str, str]] = {}
    for side in ("left", "right"):
        options = config.connections[getattr(scenario, side)].options or {}
        out[side] = {str(k): str(v) for k, v in (options.get("identity_map") or {}).items()}
    return out


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.05
) -> tuple[T, float]:
    """Call `probe` until it returns something truthy; (that value, seconds waited). DemoError on timeout."""
    started = time.monotonic()
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except (httpx.HTTPError, DemoError) as exc:
            value, last_error = None, exc
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            extra = f" (last error: {last_error})" if last_error else ""
            raise DemoError(f"timed out after {timeout:.0f} s waiting until {what}{extra}")
        time.sleep(interval)


def conclude(say: Callable[[str], None], problems: list[str], converged: str) -> list[str]:
    """A part's last lines: what differs, or `converged`; returns `problems`."""
    if problems:
        say("   NOT converged:")
        for problem in problems:
            say(f"     - {problem}")
    else:
        say(f"   Converged: {converged}")
    return problems


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "     ") -> str:
    from tandem.cli import table as render

    return render(headers, rows, indent)


# -- a running local stack, as its user reaches it ------------------------------------------------


class StackClient:
    """A running local stack from its description (the `tandem serve` JSON line): both systems over REST,
    the function app's admin API with its key, and the stack's queue through `/_local`."""

    def __init__(self, info: Mapping[str, Any], http: httpx.Client | None = None) -> None:
        self.info = dict(info)
        self.http = http or httpx.Client(timeout=15.0)
        creds = self.info["credentials"]
        self.server = AdoRest("Server", self.info["ado_server"], creds["ado_server"]["pat"], self.http)
        self.services = AdoRest(
            "Services", self.info["ado_services"], creds["ado_services"]["pat"], self.http
        )
        self.api = str(self.info["functions"]).rstrip("/")
        self.key = str(creds["functions_key"])
        self.hook_user = str(creds["hook"]["username"])
        self.hook_password = str(creds["hook"]["password"])

    def close(self) -> None:
        self.http.close()

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(
            method, f"{self.api}/{path}", headers={"x-functions-key": self.key}, **kwargs
        )
        if response.status_code >= 400:
            raise DemoError(
                f"admin API {method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    def status(self, scenario: str) -> dict[str, Any]:
        return dict(self.admin("GET", f"scenarios/{scenario}/status"))

    def run(self, scenario: str, direction: str | None = None) -> list[str]:
        """Poll now (what `tandem run` does); the directions enqueued."""
        reply = self.admin("POST", f"scenarios/{scenario}/run", json={"direction": direction})
        return list(reply["enqueued"])

    def run_and_wait(self, scenario: str, direction: str, timeout: float) -> None:
        """Poll now, wait until the runs it started finished, then until the queue is idle."""
        before = {r["run_id"] for r in self.status(scenario)["runs"]}
        self.run(scenario, direction)

        def finished() -> bool:
            runs = [r for r in self.status(scenario)["runs"] if r["run_id"] not in before]
            return bool(runs) and all(r["status"] != "running" for r in runs)

        wait_for(f"the {direction} poll finished", finished, timeout)
        wait_for("the queue is idle", lambda: self.queue_quiet(timeout), timeout)

    def hook(
        self, connection: str, scenario: str, body: bytes, auth: tuple[str, str] | None = None
    ) -> httpx.Response:
        """POST a service hook delivery as ADO does: basic auth with the hook secret unless `auth` says."""
        user, password = auth or (self.hook_user, self.hook_password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return self.http.post(
            f"{self.api}/hooks/{connection}/{scenario}",
            content=body,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )

    def queue_quiet(self, timeout: float) -> bool:
        """True once no queue holds an active, scheduled or in-flight message."""
        root = self.api.removesuffix("/api")
        reply = self.http.get(
            f"{root}/_local/idle",
            params={"timeout": timeout},
            headers={"x-functions-key": self.key},
            timeout=timeout + 10,
        ).json()
        waiting = sum(c["active"] + c["scheduled"] + c["in_flight"] for c in reply["queues"].values())
        return bool(reply["idle"]) and waiting == 0

    def settle(self, timeout: float = 20.0) -> None:
        """Until both systems have delivered every hook and the queues are empty, with no write in between."""

        def quiet() -> bool:
            before = (self.server.writes(), self.services.writes())
            for ado in (self.server, self.services):
                if not ado.hooks_idle(timeout):
                    return False
            if not self.queue_quiet(timeout):
                return False
            return before == (self.server.writes(), self.services.writes())

        wait_for("both systems and the queues are quiet", quiet, timeout, interval=0.1)


# -- the narrated demo ----------------------------------------------------------------------------


@dataclass
class Pair:
    """One Server item and its Services copy."""

    kind: str
    server_id: int = 0
    services_id: int = 0


STORY_FIELDS = (
    "System.Title",
    "System.Description",
    "System.State",
    "System.AssignedTo",
    "System.AreaPath",
    "System.IterationPath",
    "Microsoft.VSTS.Common.Priority",
    "System.Tags",
)
TASK_FIELDS = (
    "System.Title",
    "System.AssignedTo",
    "System.IterationPath",
    "Microsoft.VSTS.Scheduling.RemainingWork",
    "Microsoft.VSTS.Scheduling.CompletedWork",
)


class Demo:
    """The narrated steps, against a started `LocalStack` (its links and run records are read in-process)."""

    def __init__(self, stack: Any, info: Mapping[str, Any], out: TextIO, timeout: float = 20.0) -> None:
        self.stack = stack
        self.client = StackClient(info)
        self.server, self.services = self.client.server, self.client.services
        self.out = out
        self.timeout = timeout
        self.config = stack.services.config()
        self.scenario = self.config.scenarios[0]
        pair = self.scenario.containers[0]
        self.server_project, self.services_project = pair.left, pair.right
        self.identities = identity_maps(self.config, self.scenario)
        self.story = Pair("User Story")
        self.task = Pair("Task")

    def close(self) -> None:
        self.client.close()

    # output
    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, number: int, title: str) -> None:
        self.say()
        self.say(f"{number}. {title}")

    def show(self, pair: Pair, names: Sequence[str], parent: bool = False) -> None:
        left, right = self.server.get(pair.server_id), self.services.get(pair.services_id)

        def cell(item: Mapping[str, Any], name: str) -> str:
            value = item["fields"].get(name)
            return display(user_tags(value) if name == "System.Tags" else value)

        rows = [[name.rsplit(".", 1)[1], cell(left, name), cell(right, name)] for name in names]
        if parent:
            rows.append(["Parent", f"#{parent_of(left)}", f"#{parent_of(right)}"])
        self.say(f"   {pair.kind} #{pair.server_id} on Server ↔ #{pair.services_id} in Services:")
        self.say(table(["FIELD", "SERVER", "SERVICES"], rows))

    # state
    def status(self) -> dict[str, Any]:
        return self.client.status(self.scenario.name)

    def run_ids(self) -> set[str]:
        return {r["run_id"] for r in self.status()["runs"]}

    def new_runs(self, before: set[str]) -> list[dict[str, Any]]:
        return [r for r in self.status()["runs"] if r["run_id"] not in before]

    def settle(self) -> None:
        self.client.settle(self.timeout)

    def counterpart(self, server_id: int) -> int | None:
        link = self.stack.services.links.find(self.scenario.name, "left", str(server_id))
        return int(link.right_id) if link is not None and link.status == "linked" and link.right_id else None

    # the steps
    def introduce(self, started: float) -> None:
        direction = self.scenario.directions["left_to_right"]
        self.say("Tandem demo: two-way work-item sync between Azure DevOps Server and Azure DevOps Services")
        self.say(f"   Local stack ready in {time.monotonic() - started:.1f} s:")
        self.say(f"     Server collection  {self.server.base_url}  (project {self.server_project})")
        self.say(f"     Services org       {self.services.base_url}  (project {self.services_project})")
        self.say(f"     Function app       {self.client.api}  (service hooks subscribed on both sides)")
        self.say(
            f"   Scenario '{self.scenario.name}': {', '.join(self.scenario.types)}; same-field conflicts: "
            f"{self.scenario.conflict}; polls on '{direction.schedule}', hooks in between."
        )

    def create_on_server(self) -> None:
        self.step(1, "Create on Server → appears in Services")
        project = self.server_project
        story = self.server.create(
            project,
            "User Story",
            {
                "System.Title": "Checkout: pay by invoice",
                "System.Description": "<p>Business customers want to pay by invoice at checkout.</p>",
                "System.AssignedTo": "ann.chen@contoso.com",
                "Microsoft.VSTS.Common.Priority": 2,
                "System.Tags": "checkout; payments",
                "System.IterationPath": f"{project}\\Sprint 1",
            },
        )
        created = time.monotonic()
        self.story.server_id = int(story["id"])
        task = self.server.create(
            project,
            "Task",
            {
                "System.Title": "Add the invoice option to the payment step",
                "System.AssignedTo": "ann.chen@contoso.com",
                "Microsoft.VSTS.Common.Priority": 2,
                "System.Tags": "payments",
                "System.IterationPath": f"{project}\\Sprint 1",
                "Microsoft.VSTS.Scheduling.RemainingWork": 6,
                "Microsoft.VSTS.Scheduling.CompletedWork": 2,
            },
            parent=self.story.server_id,
        )
        self.task.server_id = int(task["id"])
        self.say(
            f"   In the Server collection ({project}), User Story #{self.story.server_id} assigned to Ann "
            f"Chen and its child Task #{self.task.server_id} are created (plain REST, as the web UI does)."
        )

        def arrived() -> tuple[int, int] | None:
            story_id, task_id = self.counterpart(self.story.server_id), self.counterpart(self.task.server_id)
            if story_id is None or task_id is None or parent_of(self.services.get(task_id)) != story_id:
                return None
            return story_id, task_id

        (self.story.services_id, self.task.services_id), _ = wait_for(
            "both items and their parent link are in Services", arrived, self.timeout
        )
        latency = time.monotonic() - created
        self.say(
            f"   Both are in Services {latency:.2f} s later, through the service hook (no poll ran), "
            "with mapped fields and the parent link:"
        )
        self.show(self.story, STORY_FIELDS)
        self.show(self.task, TASK_FIELDS, parent=True)
        self.say(
            "   People are matched by e-mail (CONTOSO\\ann.chen ↔ ann.chen@contoso.com) and area/iteration "
            "paths get the other project's name. The Services copies also carry a `tandem:<id>` tag, the "
            "correlation id that keeps creates idempotent."
        )

    def update_on_services(self) -> None:
        self.step(2, "Update in Services → reaches Server")
        title = "Checkout: pay by invoice (EU and UK)"
        self.services.update(self.story.services_id, {"System.State": "Active", "System.Title": title})
        changed = time.monotonic()
        self.say(f"   In Services, story #{self.story.services_id} is set to Active and renamed '{title}'.")

        def arrived() -> bool:
            fields = self.server.get(self.story.server_id)["fields"]
            return fields.get("System.State") == "Active" and fields.get("System.Title") == title

        wait_for("the Services edit is on Server", arrived, self.timeout)
        self.say(
            f"   Server story #{self.story.server_id} shows both changes {time.monotonic() - changed:.2f} s "
            "later, again through the service hook."
        )

    def concurrent_edits(self) -> None:
        self.step(3, "Concurrent edits on both sides")
        self.settle()
        for ado in (self.server, self.services):
            ado.hooks("pause")
        self.say("   Hook delivery is paused on both sides, so neither hears of the other's edit.")
        server_title = "Checkout: invoice payment (Server wording)"
        services_title = "Checkout: invoice payment (Services wording)"
        description = "<p>Business customers pay by invoice, net 30 days.</p>"
        self.server.update(
            self.story.server_id, {"Microsoft.VSTS.Common.Priority": 1, "System.Title": server_title}
        )
        self.say(f"   Server:   priority 2 → 1, title → '{server_title}'")
        # Newest wins compares the items' ChangedDate: make sure the Services edit is the later one.
        time.sleep(0.02)
        self.services.update(
            self.story.services_id, {"System.Description": description, "System.Title": services_title}
        )
        self.say(f"   Services: description rewritten, title → '{services_title}' (a moment later)")
        before = self.run_ids()
        for ado in (self.server, self.services):
            ado.hooks("resume")
        resumed = time.monotonic()
        self.say("   Hook delivery resumes.")

        def merged() -> bool:
            left = self.server.get(self.story.server_id)["fields"]
            right = self.services.get(self.story.services_id)["fields"]
            priority = "Microsoft.VSTS.Common.Priority"
            return (
                left.get(priority) == 1 == right.get(priority)
                and left.get("System.Description") == description == right.get("System.Description")
                and left.get("System.Title") == services_title == right.get("System.Title")
            )

        wait_for("the concurrent edits are merged on both sides", merged, self.timeout)
        waited = time.monotonic() - resumed
        self.settle()
        conflicts = sum((r.get("counts") or {}).get("conflicts", 0) for r in self.new_runs(before))
        self.say(f"   Merged on both sides {waited:.2f} s after the hooks resumed:")
        self.show(self.story, ["System.Title", "System.Description", "Microsoft.VSTS.Common.Priority"])
        self.say(
            "   The priority (changed only on Server) and the description (changed only in Services) are "
            "both kept. The title changed on both sides: a conflict, resolved by "
            f"'{self.scenario.conflict}' in favour of the later edit (Services); the runs that merged it "
            f"count conflicts: {conflicts}."
        )
        if not conflicts:
            raise DemoError("the title edited on both sides was not counted as a conflict")

    def throttled_write(self) -> None:
        self.step(4, "A throttled call is retried")
        self.services.add_fault(
            endpoint="wit.workitems.update", method="PATCH", status=429, retryAfter=THROTTLE_SECONDS, times=1
        )
        self.say(
            "   Services will answer the next work-item update with 429 Too Many Requests, "
            f"Retry-After: {THROTTLE_SECONDS} (emulator fault injection)."
        )
        before = self.run_ids()
        remaining, completed = (
            "Microsoft.VSTS.Scheduling.RemainingWork",
            "Microsoft.VSTS.Scheduling.CompletedWork",
        )
        self.server.update(self.task.server_id, {remaining: 3, completed: 5})
        changed = time.monotonic()
        self.say(
            f"   On Server, task #{self.task.server_id}: remaining work 6 → 3 h, completed work 2 → 5 h."
        )

        def arrived() -> bool:
            fields = self.services.get(self.task.services_id)["fields"]
            return fields.get(remaining) == 3 and fields.get(completed) == 5

        wait_for("the throttled update reaches Services", arrived, self.timeout + THROTTLE_SECONDS)
        latency = time.monotonic() - changed
        self.settle()
        runs = self.new_runs(before)
        retried = sum((r.get("counts") or {}).get("retried", 0) for r in runs)
        updated = sum((r.get("counts") or {}).get("updated", 0) for r in runs)
        self.say(
            f"   The first write got 429; the item was rescheduled for {THROTTLE_SECONDS} s later and the "
            f"second attempt succeeded: in Services {latency:.2f} s after the edit "
            f"(run counters: retried {retried}, updated {updated})."
        )
        if self.services.faults():
            raise DemoError("the injected 429 was never hit")
        if retried < 1:
            raise DemoError("the throttled write was not counted as retried")

    def poll_writes_nothing(self) -> None:
        self.step(5, "A poll of both directions writes nothing")
        self.settle()
        before_writes = (self.server.writes(), self.services.writes())
        before = self.run_ids()
        enqueued = self.client.run(self.scenario.name)
        self.say(f"   Poll of {' and '.join(enqueued)} enqueued, as `tandem run {self.scenario.name}` does.")

        def polled() -> list[dict[str, Any]] | None:
            runs = [r for r in self.new_runs(before) if r["trigger"] == "manual" and r["status"] != "running"]
            return runs if len(runs) >= len(enqueued) else None

        runs, _ = wait_for("the polls finished", polled, self.timeout)
        self.settle()
        after_writes = (self.server.writes(), self.services.writes())
        changes = sum((r.get("counts") or {}).get("changes", 0) for r in runs)
        (server_before, services_before), (server_after, services_after) = (
            tuple(sum(w.values()) for w in pair) for pair in (before_writes, after_writes)
        )
        self.say(
            f"   The polls found {changes} item(s) changed since the start date, all in sync already. "
            f"Writes before → after: Server {server_before} → {server_after}, "
            f"Services {services_before} → {services_after}."
        )
        failed = [r.get("error") for r in runs if r["status"] == "failed"]
        if failed:
            raise DemoError(f"a poll failed: {failed}")
        if before_writes != after_writes:
            raise DemoError(f"the converged poll wrote: {before_writes} → {after_writes}")

    # convergence and summary
    def differences(self) -> list[str]:
        """Everything that differs between the two sides; empty when they converged."""
        problems: list[str] = []
        links = self.stack.services.links.list(self.scenario.name)
        by_left = {link.left_id: link for link in links}
        for link in links:
            if link.status != "linked" or not link.left_id or not link.right_id:
                problems.append(f"link {link.link_id} is {link.status}")
                continue
            left, right = self.server.get(link.left_id), self.services.get(link.right_id)
            where = f"Server #{link.left_id} ↔ Services #{link.right_id}"
            diffs = mapped_differences(self.config, self.scenario, left, right, self.identities)
            problems += [f"{where}: {d}" for d in diffs]
            left_parent, right_parent = parent_of(left), parent_of(right)
            parent_link = by_left.get(str(left_parent)) if left_parent else None
            expected = int(parent_link.right_id) if parent_link and parent_link.right_id else None
            if expected != right_parent:
                problems.append(f"{where}: parent #{left_parent} on Server but #{right_parent} in Services")
        types = ", ".join(f"'{t}'" for t in self.scenario.types)
        for ado, project, linked in (
            (self.server, self.server_project, {link.left_id for link in links}),
            (self.services, self.services_project, {link.right_id for link in links}),
        ):
            for item_id in ado.ids_in(project, f"[System.WorkItemType] IN ({types})"):
                if str(item_id) not in linked:
                    problems.append(f"{ado.label} #{item_id} has no counterpart")
        status = self.status()
        problems += [f"dead letter: item {d['source_id']}: {d['reason']}" for d in status["dead_letters"]]
        problems += [f"failure: item {f['source_id']}: {f['reason']}" for f in status["failures"]]
        return problems

    def summary(self, number: int = 6) -> list[str]:
        self.step(number, "Summary")
        self.settle()
        runs = self.stack.services.runs.recent(self.scenario.name, 10_000)
        totals = {c: sum(r.counts.get(c, 0) for r in runs) for c in ("conflicts", "retried", "failed")}
        status = self.status()
        links = status["links"].get("total", 0)
        rows = []
        for ado, project in ((self.server, self.server_project), (self.services, self.services_project)):
            writes = ado.writes()
            hub_creates = writes.get("create", 0) - ado.own_writes["create"]
            hub_updates = writes.get("update", 0) - ado.own_writes["update"]
            people = f"{ado.own_writes['create']} / {ado.own_writes['update']}"
            rows.append(
                [
                    f"{ado.label} ({project})",
                    len(ado.ids_in(project)),
                    people,
                    f"{hub_creates} / {hub_updates}",
                ]
            )
        self.say(table(["SYSTEM", "ITEMS", "PEOPLE: CREATES / UPDATES", "TANDEM: CREATES / UPDATES"], rows))
        self.say(
            f"     linked pairs {links}, runs {len(runs)}, conflicts {totals['conflicts']}, retries "
            f"{totals['retried']}, failures {totals['failed']}, dead letters {len(status['dead_letters'])}"
        )
        problems = self.differences()
        return conclude(
            self.say,
            problems,
            (
                f"{links} linked pairs with every mapped field and parent link equal on both "
                "sides, nothing dead-lettered."
            ),
        )


# -- part 2: Project Online / Project Server (PWA) ↔ Azure DevOps Services ---------------------------

PWA_CONFIG = Path(__file__).resolve().parent / "pwa_ado_config.yaml"
PWA_SCENARIO = "pwa-ado"
PWA_ADO_PROJECT = "Contoso"  # the Services project the PWA project's "VSTS Project" names
ANN = "ann.chen@contoso.com"
COMPLETED_WORK = "Microsoft.VSTS.Scheduling.CompletedWork"
REMAINING_WORK = "Microsoft.VSTS.Scheduling.RemainingWork"


def combined_config(paths: Sequence[Path], variables: Mapping[str, str]) -> Any:
    """Several configuration files as one: their connections, field maps and scenarios side by side."""
    from sync.config import parse_config
    from tandem.configfile import read_document, substitute

    merged: dict[str, Any] = {"connections": {}, "field_maps": {}, "scenarios": []}
    for path in paths:
        document = read_document(path) or {}
        merged["connections"].update(document.get("connections") or {})
        merged["field_maps"].update(document.get("field_maps") or {})
        merged["scenarios"] += document.get("scenarios") or []
    document, problems = substitute(merged, variables)
    if problems:
        raise DemoError("configuration: " + "; ".join(problems))
    return parse_config(document)


def _hours(value: Any) -> float:
    """PWA work ("12h", "7.5h") or an ADO number in hours; missing = 0."""
    if value in (None, ""):
        return 0.0
    return float(str(value).removesuffix("h"))


@dataclass
class PwaTask:
    name: str
    task_id: str = ""  # the PWA task's GUID
    work_item: int = 0
    flagged: bool = True


class PwaDemo:
    """Part 2 on the same stack: the sample PWA ↔ ADO configuration beside the first part's."""

    def __init__(self, stack: Any, info: Mapping[str, Any], client: StackClient, out: TextIO, timeout: float):
        self.stack = stack
        self.client = client
        self.ado = client.services
        self.out = out
        self.timeout = timeout
        self.pwa = str(info["pwa"]).rstrip("/")
        self.token = str(info["credentials"]["pwa"]["access_token"])
        self.project_id = ""
        self.project_name = "Website Relaunch"
        self.summary_task = PwaTask("Checkout redesign")
        self.leaf = PwaTask("Build the invoice payment step")
        self.bug = PwaTask("Fix rounding in the cart total")
        self.unflagged = PwaTask("Review with legal", flagged=False)
        self.pwa_people = Counter[str]()  # edits made in PWA by people, for the summary

    # output and plumbing
    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, number: int, title: str) -> None:
        self.say()
        self.say(f"{number}. {title}")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.http.request(method, f"{self.pwa}/_emulator/{path}", json=body)
        if response.status_code >= 400:
            raise DemoError(
                f"PWA emulator: {method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    def pwa_writes(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.control("GET", "counters")["writes"].items()}

    def published(self, task: PwaTask) -> dict[str, Any]:
        """The published task as PWA's REST API shows it (what Project Web App displays)."""
        response = self.client.http.get(
            f"{self.pwa}/_api/ProjectServer/Projects('{self.project_id}')/Tasks('{task.task_id}')",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json;odata=nometadata"},
        )
        if response.status_code >= 400:
            raise DemoError(f"PWA: task {task.name} answered {response.status_code}: {response.text[:300]}")
        return dict(response.json())

    def checked_out_by(self) -> str | None:
        state = self.control("GET", "state")
        project = next(p for p in state["projects"] if p["id"] == self.project_id)
        return project.get("checkedOutBy") or None

    def linked(self, task: PwaTask) -> int | None:
        link = self.stack.services.links.find(PWA_SCENARIO, "left", f"{self.project_id}:{task.task_id}")
        return int(link.right_id) if link is not None and link.status == "linked" and link.right_id else None

    def status(self) -> dict[str, Any]:
        return self.client.status(PWA_SCENARIO)

    def settle(self) -> None:
        self.client.settle(self.timeout)

    def poll(self, direction: str) -> list[dict[str, Any]]:
        """`tandem run pwa-ado --direction …`: the finished runs it started."""
        before = {r["run_id"] for r in self.status()["runs"]}
        self.client.run(PWA_SCENARIO, direction)

        def finished() -> list[dict[str, Any]] | None:
            runs = [
                r for r in self.status()["runs"] if r["run_id"] not in before and r["trigger"] == "manual"
            ]
            return runs if runs and all(r["status"] != "running" for r in runs) else None

        runs, _ = wait_for(f"the {direction} poll finished", finished, self.timeout)
        self.settle()
        return runs

    # the steps
    def introduce(self, number: int) -> None:
        self.step(number, "Part 2: Project Online / Project Server (PWA) ↔ Azure DevOps Services")
        config = combined_config([self.stack.config_path, PWA_CONFIG], self.stack.variables())
        progress = self.progress_rule(config)
        # Azure DevOps: the team project, and the two fields an admin adds to its inherited process.
        self.ado.control(
            "POST",
            "seed",
            {
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
                "projects": [{"name": PWA_ADO_PROJECT}],
            },
        )
        self.stack.apply_config(config)
        self.say(
            f"   The sample configuration {PWA_CONFIG.name} is applied beside the first part's: PWA at "
            f"{self.pwa} (OAuth, refresh token in the secret store) ↔ Services, service hooks subscribed."
        )
        bands = ", ".join(f"{k:g}%+ → {v}" for k, v in sorted(progress.states.items()))
        back = ", ".join(f"{k} → {v:g}%" for k, v in progress.percents.items())
        self.say(f"   % complete → state: {bands}; state → % complete: {back}.")
        from sync.setup import create_fields

        left = create_fields(self.stack.services, PWA_SCENARIO)[0]
        if left.problems:
            raise DemoError(f"creating the PWA fields: {'; '.join(left.problems)}")
        self.say(
            f"   `tandem setup fields {PWA_SCENARIO}` created the PWA enterprise custom fields: "
            f"{', '.join(left.created) or 'none'}"
            + (f" (already there: {', '.join(left.existing)})" if left.existing else "")
            + "; the ADO fields 'Sync with Project Online' and 'Project Online Project' are on the process."
        )

    def tasks_to_work_items(self, number: int) -> None:
        self.step(number, "Flagged PWA tasks → work items in Azure DevOps")
        flag = {"Sync with VSTS": True}
        seeded = self.control(
            "POST",
            "seed",
            {
                "users": [{"email": ANN, "displayName": "Ann Chen"}],
                "resources": [{"name": "Ann Chen", "email": ANN}],
                "projects": [
                    {
                        "name": self.project_name,
                        "customFields": {"VSTS Project": PWA_ADO_PROJECT},
                        "tasks": [
                            {
                                "name": self.summary_task.name,
                                "customFields": {**flag, "Work Item Type": "Feature"},
                            },
                            {
                                "name": self.leaf.name,
                                "parent": self.summary_task.name,
                                "duration": "2d",
                                "work": "16h",
                                "notes": "Net 30 days, EU and UK first.",
                                "customFields": {**flag, "Work Item Type": "Task"},
                                "assignments": [ANN],
                            },
                            {
                                "name": self.bug.name,
                                "parent": self.summary_task.name,
                                "duration": "1d",
                                "work": "4h",
                                "customFields": {**flag, "Work Item Type": "Bug"},
                            },
                            {"name": self.unflagged.name, "parent": self.summary_task.name, "work": "8h"},
                        ],
                    }
                ],
            },
        )
        project = seeded["projects"][0]
        self.project_id = project["id"]
        ids = {t["name"]: t["id"] for t in project["tasks"]}
        for task in self.tasks(with_unflagged=True):
            task.task_id = ids[task.name]
        self.say(
            f"   In PWA, project '{self.project_name}' (VSTS Project: {PWA_ADO_PROJECT}) is published with "
            f"the summary task '{self.summary_task.name}' (Feature) and three leaf tasks below it: "
            f"'{self.leaf.name}' (Task, 16 h, Ann Chen assigned), '{self.bug.name}' (Bug) and "
            f"'{self.unflagged.name}', which is not flagged \"Sync with VSTS\"."
        )
        started = time.monotonic()
        self.poll("left_to_right")

        def arrived() -> bool:
            for task in self.tasks():
                task.work_item = self.linked(task) or 0
            if not all(t.work_item for t in self.tasks()):
                return False
            return all(
                parent_of(self.ado.get(t.work_item)) == self.summary_task.work_item
                for t in (self.leaf, self.bug)
            )

        wait_for("the flagged tasks are work items with their parent link", arrived, self.timeout)
        self.say(
            f"   `tandem run {PWA_SCENARIO} --direction left_to_right` (PWA has no service hooks; its poll "
            f"runs on a schedule): {time.monotonic() - started:.2f} s later the flagged tasks are work items "
            f"in {PWA_ADO_PROJECT}:"
        )
        rows = []
        for task in self.tasks():
            fields = self.ado.get(task.work_item)
            parent = parent_of(self.ado.get(task.work_item))
            rows.append(
                [
                    task.name,
                    f"#{task.work_item}",
                    fields["fields"].get("System.WorkItemType"),
                    f"#{parent}" if parent else "",
                    fields["fields"].get("System.State"),
                    display(fields["fields"].get("System.AssignedTo")),
                ]
            )
        self.say(table(["PWA TASK", "WORK ITEM", "TYPE", "PARENT", "STATE", "ASSIGNED TO"], rows))
        if self.linked(self.unflagged) or self.ado.ids_in(
            PWA_ADO_PROJECT, f"[System.Title] = '{self.unflagged.name}'"
        ):
            raise DemoError(f"the unflagged task '{self.unflagged.name}' reached Azure DevOps")
        self.say(
            f"   '{self.unflagged.name}' is not flagged and stays in PWA. Ann Chen is matched by e-mail; the "
            "summary task's children are the Feature's children."
        )

    def progress_from_ado(self, number: int) -> None:
        self.step(number, "Progress in Azure DevOps → % complete and actual work in PWA (service hook)")
        self.settle()
        writes = self.pwa_writes()
        self.ado.update(
            self.leaf.work_item, {"System.State": "Active", COMPLETED_WORK: 6, REMAINING_WORK: 10}
        )
        changed = time.monotonic()
        self.say(
            f"   In Services, Ann sets Task #{self.leaf.work_item} to Active with 6 h completed and 10 h "
            "remaining."
        )

        def arrived() -> dict[str, Any] | None:
            task = self.published(self.leaf)
            done = task.get("PercentComplete") == 50 and _hours(task.get("ActualWork")) == 6
            return task if done and _hours(task.get("RemainingWork")) == 10 else None

        task, _ = wait_for("the progress is published in PWA", arrived, self.timeout)
        latency = time.monotonic() - changed
        self.settle()
        after = self.pwa_writes()
        key = self.project_id
        checkouts = after.get(f"checkout:{key}", 0) - writes.get(f"checkout:{key}", 0)
        publishes = after.get(f"publish:{key}", 0) - writes.get(f"publish:{key}", 0)
        holder = self.checked_out_by()
        self.say(
            f"   {latency:.2f} s later, through the service hook (no poll ran), PWA shows '{self.leaf.name}' "
            f"at {task['PercentComplete']}% complete, actual work {task['ActualWork']}, remaining "
            f"{task['RemainingWork']} (Active → 50%): check-outs {checkouts}, publishes {publishes}, the "
            f"project is {'checked out to ' + holder if holder else 'checked in again'}."
        )
        if holder:
            raise DemoError(f"the project was left checked out to {holder}")

    def update_in_pwa(self, number: int) -> None:
        self.step(number, "An update in PWA → Azure DevOps")
        name = "Fix rounding in the cart and invoice totals"
        self.control(
            "POST",
            f"projects/{self.project_id}/edit",
            {"tasks": {self.bug.task_id: {"Name": name, "PercentComplete": 100}}, "by": ANN, "publish": True},
        )
        self.pwa_people["update"] += 1
        self.bug.name = name
        changed = time.monotonic()
        self.say(f"   In PWA, Ann renames the bug task '{name}', marks it 100% complete and publishes.")
        self.say(
            "   PWA sends no service hooks: `tandem run` polls its reporting feed, which lags a publish."
        )

        def arrived() -> bool:
            fields = self.ado.get(self.bug.work_item)["fields"]
            return fields.get("System.Title") == name and fields.get("System.State") == "Closed"

        # PWA's reporting feed shows a publish a moment later; `tandem run` until the poll sees it.
        polls = 0
        deadline = time.monotonic() + self.timeout
        while not arrived():
            if time.monotonic() > deadline:
                raise DemoError("timed out waiting until the PWA edit is in Azure DevOps")
            self.poll("left_to_right")
            polls += 1
        self.say(
            f"   After {polls} poll(s) ({time.monotonic() - changed:.2f} s), Bug #{self.bug.work_item} is "
            f"titled '{name}' and Closed (100% → Closed)."
        )

    def tasks(self, with_unflagged: bool = False) -> list[PwaTask]:
        return [self.summary_task, self.leaf, self.bug] + ([self.unflagged] if with_unflagged else [])

    def progress_rule(self, config: Any) -> Any:
        """The scenario's % complete ↔ state transform (PercentToState)."""
        scenario = config.scenario(PWA_SCENARIO)
        rule = next(r for r in config.field_maps[scenario.field_map] if r.left == "PercentComplete")
        return rule.transform

    def differences(self, progress: Any) -> list[str]:
        problems: list[str] = []
        for task in self.tasks():
            pwa, wi = self.published(task), self.ado.get(task.work_item)["fields"]
            where = f"'{task.name}' ↔ #{task.work_item}"
            if pwa.get("Name") != wi.get("System.Title"):
                problems.append(f"{where}: name {pwa.get('Name')!r} ≠ title {wi.get('System.Title')!r}")
            if task is self.summary_task:
                continue  # its % complete and work are PWA's roll-up of the children (see `summary`)
            if parent_of(self.ado.get(task.work_item)) != self.summary_task.work_item:
                problems.append(f"{where}: not a child of #{self.summary_task.work_item} in Azure DevOps")
            percent, state = int(pwa.get("PercentComplete") or 0), wi.get("System.State")
            # Either way of the rule may have been the last write.
            if progress.percent_of(state) != percent and progress.state_of(percent) != state:
                problems.append(f"{where}: {percent}% complete but state {state}")
            for left, right in (("ActualWork", COMPLETED_WORK), ("RemainingWork", REMAINING_WORK)):
                if _hours(pwa.get(left)) != _hours(wi.get(right)):
                    problems.append(f"{where}: {left} {pwa.get(left)} ≠ {right} {wi.get(right)}")
        status = self.status()
        problems += [f"dead letter: item {d['source_id']}: {d['reason']}" for d in status["dead_letters"]]
        problems += [f"failure: item {f['source_id']}: {f['reason']}" for f in status["failures"]]
        return problems

    def summary(self, number: int) -> list[str]:
        self.step(number, "Part 2 summary")
        self.settle()
        before = (self.ado.writes(), self.pwa_writes())
        for direction in ("left_to_right", "right_to_left"):
            self.poll(direction)
        after = (self.ado.writes(), self.pwa_writes())
        rows = []
        for task in self.tasks():
            pwa, wi = self.published(task), self.ado.get(task.work_item)
            fields = wi["fields"]
            rows.append(
                [
                    task.name,
                    f"{pwa.get('PercentComplete')}%",
                    f"{_hours(pwa.get('ActualWork')):g} / {_hours(pwa.get('RemainingWork')):g}",
                    f"{fields.get('System.WorkItemType')} #{task.work_item}",
                    fields.get("System.State"),
                    f"{_hours(fields.get(COMPLETED_WORK)):g} / {_hours(fields.get(REMAINING_WORK)):g}",
                    f"#{parent_of(wi)}" if parent_of(wi) else "",
                ]
            )
        self.say(
            table(
                ["PWA TASK", "% DONE", "ACTUAL / LEFT H", "WORK ITEM", "STATE", "DONE / LEFT H", "PARENT"],
                rows,
            )
        )
        runs = self.stack.services.runs.recent(PWA_SCENARIO, 10_000)
        status = self.status()
        total = {
            c: sum(r.counts.get(c, 0) for r in runs) for c in ("created", "updated", "retried", "failed")
        }
        self.say(
            f"     linked pairs {status['links'].get('total', 0)}, runs {len(runs)}, created "
            f"{total['created']}, updated {total['updated']}, retries {total['retried']}, failures "
            f"{total['failed']}, dead letters {len(status['dead_letters'])}"
        )
        self.say(
            f"     '{self.summary_task.name}' is a summary task: PWA rolls its % complete and work up from "
            "the children, and ProjectData does not list it as changed when only the roll-up moves, so its "
            "work item keeps the values of its last own change (compared: its name and the children's links)."
        )
        problems = self.differences(self.progress_rule(self.stack.services.config()))
        if after != before:
            problems.append(f"a poll of the converged sides wrote: {before} → {after}")
        return conclude(
            self.say,
            problems,
            (
                f"{len(self.tasks())} PWA tasks ↔ work items agree on names, parent links, "
                "% complete ↔ state and work; a poll of both directions wrote nothing."
            ),
        )


# -- entry point ----------------------------------------------------------------------------------


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so the stack is stopped either way."""

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The demo's options, shared by `tandem demo` and `main`."""
    parser.add_argument("--config", type=Path, default=None, help="configuration YAML (default: the demo's)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds each step may wait (default 20)")
    parser.add_argument("-v", "--verbose", action="store_true", help="the stack's own log lines on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`tandem demo [options]`: see `run`."""
    parser = argparse.ArgumentParser(
        prog="tandem demo", description="A narrated ADO Server ↔ Services sync on the local stack."
    )
    return run(add_arguments(parser).parse_args(list(argv or [])))


def run(args: argparse.Namespace) -> int:
    """Run the demo: 0 only when both sides converged; 1 when they did not or a step failed; 130 on Ctrl-C."""
    from tandem.serve import configure_logging
    from tandem.stack import LocalStack

    out = sys.stdout
    configure_logging(logging.INFO if args.verbose else logging.ERROR)
    started = time.monotonic()
    print(
        "Starting the local stack: Azurite, ADO Server and Services emulators, the PWA and Planner "
        "emulators, the function app…",
        file=out,
        flush=True,
    )
    stack = LocalStack(args.config)
    demo: Demo | None = None
    pwa: PwaDemo | None = None
    problems: list[str] = []
    with _sigterm_interrupts():
        try:
            info = stack.start()
            demo = Demo(stack, info, out, timeout=args.timeout)
            demo.introduce(started)
            demo.create_on_server()
            demo.update_on_services()
            demo.concurrent_edits()
            demo.throttled_write()
            demo.poll_writes_nothing()
            problems = demo.summary()
            pwa = PwaDemo(stack, info, demo.client, out, timeout=args.timeout)
            pwa.introduce(7)
            pwa.tasks_to_work_items(8)
            pwa.progress_from_ado(9)
            pwa.update_in_pwa(10)
            problems += pwa.summary(11)
            from tandem.demo_planner import PlannerDemo

            planner = PlannerDemo(stack, info, demo.client, out, timeout=args.timeout)
            planner.introduce(12)
            planner.tasks_to_plan(13)
            planner.green_label(14)
            planner.new_plan_task(15)
            problems += planner.summary(16)
            from tandem.demo_pipelines import PipelinesDemo

            pipelines = PipelinesDemo(stack, info, demo.client, out, timeout=args.timeout)
            pipelines.introduce(17)
            pipelines.copy(18)
            problems += pipelines.summary(19)
        except KeyboardInterrupt:
            print("\ninterrupted; stopping the local stack", file=sys.stderr)
            return 130
        except DemoError as exc:
            print(f"tandem demo: {exc}", file=sys.stderr)
            if pwa is not None and pwa.project_id:
                with suppress(DemoError, httpx.HTTPError, StopIteration):
                    pwa.summary(11)
            elif demo is not None:
                with suppress(DemoError, httpx.HTTPError):
                    # Let through what the failed step held back, so the summary shows where things stand.
                    for ado in (demo.server, demo.services):
                        ado.hooks("resume")
                        ado.clear_faults()
                    demo.summary()
            return 1
        finally:
            if demo is not None:
                demo.close()
            stack.stop()
    print(f"Done in {time.monotonic() - started:.1f} s; the local stack is stopped.", file=out, flush=True)
    if problems:
        print(f"tandem demo: the two sides did not converge ({len(problems)} difference(s))", file=sys.stderr)
        return 1
    return 0
