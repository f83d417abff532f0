"""Chaos bench: the ADO Server ↔ Services scenario on a bad day, through the local stack and real HTTP only.

Two ADO emulators run as their own processes (`python -m emulators.ado`), so they outlive the functions host;
`tandem serve --no-emulators --data-dir DIR` runs the app (Azurite with persistence, the journalled local
queue, the app's own timer, hook and queue functions) against them. The script drives everything as people
and operators would: emulator control API (`/_emulator`: seed, faults, latency, hook delivery chaos, user
edits), ADO REST (WIQL and batch reads to compare), the app's admin API and the stack's `/_local/idle` route.

What goes wrong, all at once:
- every work-item REST call (`wit.*`) on both sides: 10 % answered 429 with `Retry-After`, 5 % 500/503,
  plus a fixed latency;
- service hooks delivered two or three times (half of the events) and out of order (random jitter);
- N work items created in Server and N/10 in Services before the first sync;
- `tandem serve` killed with SIGKILL mid-sync (when `--kill-at` of the items have reached Services) and
  started again on the same data folder and port; a second kill in the middle of the edits;
- concurrent edits of the same synced item on both sides: half on the same field (Title), half on
  different fields (Priority in Server, Iteration in Services).

Then it waits for convergence (queues empty, no writes for a few seconds, a poll of both directions
writing nothing new) and reports: items lost, duplicates, fields that differ across linked pairs, edits
lost, echo writes in two extra poll cycles after convergence (faults off), dead letters, time to converge,
REST calls per item. The goal: 0 lost, 0 duplicates, 0 differing fields, 0 echo writes.

    .venv/bin/python bench/chaos.py                     # N = 2,000 (make chaos)
    .venv/bin/python bench/chaos.py --items 20 --quick  # smoke run

Prints a table, then one JSON line (starting with ``{``) holding every figure; exits 0 when the goal is met.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from ado_sync import item_fields  # same folder: the benchmark's work items, with every mapped field

from sync.config import parse_config
from tandem.configfile import DEMO_CONFIG, dump_document, substitute
from tandem.demo import identity_maps, mapped_differences
from tandem.ports import free_port
from tandem.processes import Child, ado_emulator, python_env, tandem_serve

SCENARIO = "ado-server-services"
PROJECTS = {"server": "Fabrikam", "services": "Fabrikam-Cloud"}
PATS = {"server": "chaos-server-pat-0123456789", "services": "chaos-services-pat-0123456789"}
EDITORS = {"server": "CONTOSO\\ann.chen", "services": "bob.smith@contoso.com"}
ORIGIN = re.compile(r"chaos origin ([SC]-\d+)")
API = {"api-version": "7.1"}
RETRYABLE = frozenset({429, 500, 502, 503, 504})


# --- the two systems, over REST and their control API ------------------------------------------------


@dataclass
class System:
    """One ADO emulator process: REST calls with the PAT (retried through the injected faults, counted so
    they can be told apart from the app's), and its `/_emulator` control API."""

    flavor: str
    base_url: str
    control_url: str
    http: httpx.Client
    own_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def project(self) -> str:
        return PROJECTS[self.flavor]

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(100):
            with self.lock:
                self.own_calls += 1
            try:
                response = self.http.request(
                    method, f"{self.base_url}/{path}", auth=("", PATS[self.flavor]), params=API, **kwargs
                )
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if response.status_code in RETRYABLE:
                time.sleep(min(float(response.headers.get("Retry-After", "0.2")), 2.0) + 0.05 * attempt)
                continue
            response.raise_for_status()
            return response.json()
        raise RuntimeError(f"{self.flavor}: {method} {path} kept failing")

    def control(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        response = self.http.request(method, f"{self.control_url}/{path}", json=body, timeout=timeout)
        if response.status_code >= 400:
            raise RuntimeError(
                f"{self.flavor}: control {method} {path}: {response.status_code} {response.text}"
            )
        return response.json()

    def ids(self) -> list[int]:
        query = f"SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = '{self.project}'"
        return [int(w["id"]) for w in self.rest("POST", "_apis/wit/wiql", json={"query": query})["workItems"]]

    def read_all(self) -> list[dict[str, Any]]:
        ids = self.ids()
        items: list[dict[str, Any]] = []
        for start in range(0, len(ids), 200):
            reply = self.rest("POST", "_apis/wit/workitemsbatch", json={"ids": ids[start : start + 200]})
            items.extend(reply["value"])
        return items

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def engine_calls(self) -> int:
        with self.lock:
            return int(self.counters()["totalCalls"]) - self.own_calls

    def writes(self) -> int:
        return int(self.counters()["totalWrites"])

    def edit(self, item_id: int, fields: dict[str, Any]) -> None:
        self.control("POST", f"work-items/{item_id}", {"fields": fields, "by": EDITORS[self.flavor]})


# --- the functions host -----------------------------------------------------------------------------


class Stack:
    """`tandem serve` as a child process: killed, restarted on the same folder and port, reached over HTTP."""

    def __init__(self, work: Path, config: Path, env: dict[str, str]) -> None:
        self.work, self.config, self.env = work, config, env
        self.port = free_port("127.0.0.1")
        self.child: Child | None = None
        self.info: dict[str, Any] = {}
        self.http = httpx.Client(timeout=60)
        self.kills: list[dict[str, Any]] = []

    def start(self) -> None:
        self.child = tandem_serve(
            self.config,
            self.work / "data",
            env=self.env,
            port=self.port,
            cwd=self.work,
            log=self.work / "serve.log",
        )
        self.info = self.child.start(timeout=120)

    def kill_and_restart(self, note: str) -> None:
        assert self.child is not None
        started = time.monotonic()
        self.child.kill()
        self.start()
        self.kills.append({"when": note, "downtime_s": round(time.monotonic() - started, 2)})

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
        self.http.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        for _ in range(300):  # the host may be restarting
            try:
                key = self.info["credentials"]["functions_key"]
                response = self.http.request(method, url, headers={"x-functions-key": key}, **kwargs)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            response.raise_for_status()
            return response.json()
        raise RuntimeError(f"the functions host did not answer {method} {url}")

    @property
    def root(self) -> str:
        return str(self.info["functions"]).removesuffix("/api")

    def run(self, direction: str) -> None:
        self._call("POST", f"{self.root}/api/scenarios/{SCENARIO}/run", json={"direction": direction})

    def run_both(self) -> None:
        for direction in ("left_to_right", "right_to_left"):
            self.run(direction)

    def queue_waiting(self) -> int:
        reply = self._call("GET", f"{self.root}/_local/idle", params={"timeout": 0})
        return sum(c["active"] + c["scheduled"] + c["in_flight"] for c in reply["queues"].values())

    def dead_letters(self) -> list[dict[str, Any]]:
        reply = self._call("GET", f"{self.root}/api/admin/deadletters", params={"limit": 10_000})
        return list(reply["items"])


def wait_quiet(stack: Stack, systems: Iterable[System], quiet_s: float, timeout: float) -> bool:
    """Until the queues are empty and neither system saw a write for `quiet_s` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        writes = tuple(s.writes() for s in systems)
        if writes != last or stack.queue_waiting():
            last, since = writes, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.5)
    return False


# --- comparison ------------------------------------------------------------------------------------


def origin(item: dict[str, Any]) -> str | None:
    found = ORIGIN.search(str(item.get("fields", {}).get("System.Description") or ""))
    return found.group(1) if found else None


@dataclass
class Comparison:
    lost: list[str]  # origins missing on a side ("S-12@services")
    duplicates: list[str]  # origins with more than one item on a side
    differing: dict[str, list[str]]  # origin -> differing fields
    lost_edits: list[str]
    pairs: dict[str, tuple[dict[str, Any], dict[str, Any]]]

    @property
    def converged(self) -> bool:
        return not (self.lost or self.duplicates or self.differing or self.lost_edits)


def compare(
    server: System, services: System, expected: set[str], edits: list[Edit], check: Callable[..., list[str]]
) -> Comparison:
    by_side: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for system in (server, services):
        found: dict[str, list[dict[str, Any]]] = {}
        for item in system.read_all():
            key = origin(item)
            if key is not None:
                found.setdefault(key, []).append(item)
        by_side[system.flavor] = found
    lost = [f"{key}@{side}" for side, found in by_side.items() for key in sorted(expected - found.keys())]
    duplicates = [
        f"{key}@{side}: ids {[i['id'] for i in items]}"
        for side, found in by_side.items()
        for key, items in sorted(found.items())
        if len(items) > 1
    ]
    pairs = {
        key: (by_side["server"][key][0], by_side["services"][key][0])
        for key in expected
        if key in by_side["server"] and key in by_side["services"]
    }
    differing = {key: diff for key, (left, right) in pairs.items() if (diff := check(left, right))}
    lost_edits = [edit.describe() for edit in edits if edit.key in pairs and not edit.kept(*pairs[edit.key])]
    return Comparison(lost, duplicates, differing, lost_edits, pairs)


@dataclass
class Edit:
    """Two people editing one synced item at the same moment, one in each system."""

    key: str
    same_field: bool
    server_fields: dict[str, Any]
    services_fields: dict[str, Any]

    def kept(self, left: dict[str, Any], right: dict[str, Any]) -> bool:
        lf, rf = left["fields"], right["fields"]
        if self.same_field:  # newest wins: one of the two values, the same on both sides
            return lf.get("System.Title") == rf.get("System.Title") and lf.get("System.Title") in (
                self.server_fields["System.Title"],
                self.services_fields["System.Title"],
            )
        priority, iteration = (
            self.server_fields["Microsoft.VSTS.Common.Priority"],
            self.services_fields["System.IterationPath"],
        )
        sprint = iteration.rsplit("\\", 1)[1]
        return (
            lf.get("Microsoft.VSTS.Common.Priority") == priority == rf.get("Microsoft.VSTS.Common.Priority")
            and rf.get("System.IterationPath") == iteration
            and str(lf.get("System.IterationPath", "")).endswith(f"\\{sprint}")
        )

    def describe(self) -> str:
        return f"{self.key} ({'same field' if self.same_field else 'different fields'})"


# --- the run -----------------------------------------------------------------------------------------


def config_file(work: Path, schedule: str) -> Path:
    document = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for direction in document["scenarios"][0]["directions"].values():
        direction["schedule"] = schedule
    path = work / "config.yaml"
    path.write_text(dump_document(document), encoding="utf-8")
    return path


def seed(system: System, prefix: str, count: int) -> set[str]:
    keys = set()
    for start in range(0, count, 500):
        items = []
        for i in range(start, min(start + 500, count)):
            type_name, fields = item_fields(i, system.project, system.flavor)
            key = f"{prefix}-{i}"
            fields["System.Title"] = f"Chaos item {key}"
            fields["System.Description"] = f"<p>chaos origin {key}: migrate the <b>billing</b> module.</p>"
            items.append(
                {"project": system.project, "type": type_name, "fields": fields, "by": EDITORS[system.flavor]}
            )
            keys.add(key)
        system.control("POST", "seed", {"workItems": items})
    return keys


def inject_faults(system: System, args: argparse.Namespace) -> None:
    """Independent draws per rule in order: 429 with chance t, then 500 and 503 sharing e of all calls."""
    t, e = args.throttle, args.errors
    p500 = (e / 2) / (1 - t)
    p503 = (e / 2) / ((1 - t) * (1 - p500))
    rules = [
        {"endpoint": "wit.*", "status": 429, "retryAfter": 1, "times": None, "probability": t},
        {"endpoint": "wit.*", "status": 500, "times": None, "probability": p500},
        {"endpoint": "wit.*", "status": 503, "retryAfter": 1, "times": None, "probability": p503},
    ]
    system.control("POST", "faults", [r for r in rules if r["probability"] > 0])
    system.control("POST", "latency", {"ms": args.latency_ms})
    system.control(
        "POST",
        "hooks/chaos",
        {"duplicateRate": args.hook_duplicates, "maxCopies": 3, "jitterMs": args.hook_jitter_ms},
    )


def calm(system: System) -> None:
    system.control("DELETE", "faults")
    system.control("POST", "hooks/chaos", {})


def make_edits(keys: list[str], rng: random.Random) -> list[Edit]:
    edits = []
    for n, key in enumerate(keys):
        if n % 2 == 0:
            edits.append(
                Edit(
                    key,
                    True,
                    {"System.Title": f"Chaos item {key} (Ann)"},
                    {"System.Title": f"Chaos item {key} (Bob)"},
                )
            )
        else:
            sprint = rng.randint(1, 3)
            edits.append(
                Edit(
                    key,
                    False,
                    {"Microsoft.VSTS.Common.Priority": rng.randint(1, 4)},
                    {"System.IterationPath": f"{PROJECTS['services']}\\Sprint {sprint}"},
                )
            )
    return edits


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="tandem-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "data", ignore_errors=True)
    children: list[Child] = []
    http = httpx.Client(timeout=60)
    stack: Stack | None = None
    try:
        info = {}
        for flavor in ("server", "services"):
            child = ado_emulator(flavor, PATS[flavor], log=work / f"{flavor}.log")
            children.append(child)
            info[flavor] = child.start()
        server, services = (
            System(flavor, info[flavor]["baseUrl"], info[flavor]["controlUrl"], http)
            for flavor in ("server", "services")
        )
        for system in (server, services):
            system.control("POST", "seed", {"projects": [{"name": system.project}]})
        expected = seed(server, "S", args.items) | seed(services, "C", args.items // 10)
        variables = {"ADO_SERVER_URL": server.base_url, "ADO_SERVICES_URL": services.base_url}
        config_path = config_file(work, args.schedule)
        document, problems = substitute(yaml.safe_load(config_path.read_text(encoding="utf-8")), variables)
        assert not problems, problems
        config = parse_config(document)
        scenario = config.scenario(SCENARIO)
        identities = identity_maps(config, scenario)

        def check(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
            return mapped_differences(config, scenario, left, right, identities)

        env = python_env(
            {
                **variables,
                "TANDEM_SECRET_ADO_SERVER_PAT": PATS["server"],
                "TANDEM_SECRET_ADO_SERVICES_PAT": PATS["services"],
                "TANDEM_HOME": str(work / "home"),
            }
        )
        stack = Stack(work, config_path, env)
        stack.start()
        for system in (server, services):
            inject_faults(system, args)
        started = time.monotonic()

        # 1. Initial sync both ways, killed once a share of the Server items has reached Services.
        stack.run_both()
        target = len(expected) - args.items + int(args.items * args.kill_at)
        while len(services.ids()) < target:
            if time.monotonic() - started > args.timeout:
                raise RuntimeError("the initial sync did not reach the kill point in time")
            time.sleep(0.5)
        stack.kill_and_restart(f"initial sync, {target} of {len(expected)} items in Services")
        wait_quiet(stack, (server, services), args.quiet_s, args.timeout)
        stack.run_both()
        wait_quiet(stack, (server, services), args.quiet_s, args.timeout)

        # 2. Concurrent edits on both sides of synced Server-born items, the host killed halfway.
        synced = compare(server, services, expected, [], check).pairs
        candidates = sorted(k for k in synced if k.startswith("S-"))
        edits = make_edits(rng.sample(candidates, min(args.edits, len(candidates))), rng)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for n, edit in enumerate(edits):
                left, right = synced[edit.key]
                pool.submit(server.edit, int(left["id"]), edit.server_fields)
                pool.submit(services.edit, int(right["id"]), edit.services_fields)
                if n == len(edits) // 2 and args.kills > 1:
                    stack.kill_and_restart(f"during the edits, after {n} of {len(edits)} pairs")

        # 3. Convergence: quiet, then compare; if not yet, poll both directions and wait again.
        comparison = compare(server, services, expected, edits, check)
        converged_s = None
        while True:
            wait_quiet(
                stack, (server, services), args.quiet_s, max(args.timeout - (time.monotonic() - started), 1)
            )
            comparison = compare(server, services, expected, edits, check)
            if comparison.converged:
                converged_s = time.monotonic() - started
                break
            if time.monotonic() - started > args.timeout:
                break
            stack.run_both()
        engine_calls = {s.flavor: s.engine_calls() for s in (server, services)}
        # Successful writes by kind (seeding and the people's edits go through the control API, not here).
        writes = {s.flavor: dict(s.counters()["writes"]) for s in (server, services)}

        # 4. Echo: faults off, two more poll cycles of both directions must write nothing.
        for system in (server, services):
            calm(system)
        before = server.writes() + services.writes()
        for _ in range(2):
            stack.run_both()
            wait_quiet(stack, (server, services), args.quiet_s, 300)
        echo = server.writes() + services.writes() - before
        dead = stack.dead_letters()
        deliveries = {s.flavor: s.control("GET", "hooks/deliveries")["count"] for s in (server, services)}
        subscriptions = {
            s.flavor: dict(
                Counter(sub["status"] for sub in s.rest("GET", "_apis/hooks/subscriptions")["value"])
            )
            for s in (server, services)
        }
    finally:
        if stack is not None:
            stack.stop()
        for child in children:
            child.stop()
        http.close()
    total = len(expected)
    return {
        "items": total,
        "server_born": args.items,
        "services_born": args.items // 10,
        "faults": {
            "throttle_429": args.throttle,
            "errors_5xx": args.errors,
            "latency_ms": args.latency_ms,
            "hook_duplicates": args.hook_duplicates,
            "hook_jitter_ms": args.hook_jitter_ms,
        },
        "kills": stack.kills if stack else [],
        "edits": {"pairs": len(edits), "same_field": sum(e.same_field for e in edits)},
        "lost": len(comparison.lost),
        "duplicates": len(comparison.duplicates),
        "differing_fields": sum(len(d) for d in comparison.differing.values()),
        "differing_items": len(comparison.differing),
        "lost_edits": len(comparison.lost_edits),
        "echo_writes": echo,
        "dead_letters": len(dead),
        "converged": converged_s is not None,
        "time_to_converge_s": round(converged_s, 1) if converged_s is not None else None,
        "rest_calls_per_item": round(sum(engine_calls.values()) / total, 2),
        "rest_calls": engine_calls,
        "writes_at_convergence": writes,
        "hook_deliveries": deliveries,
        "hook_subscriptions": subscriptions,
        "details": {
            "lost": comparison.lost[:50],
            "duplicates": comparison.duplicates[:50],
            "differing": dict(list(comparison.differing.items())[:50]),
            "lost_edits": comparison.lost_edits[:50],
            "dead_letters": [
                {
                    k: d.get(k)
                    for k in ("reason", "description", "scenario", "direction", "entity", "source_id")
                }
                for d in dead[:50]
            ],
        },
        "work_dir": str(work),
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        (
            "work items",
            f"{result['items']} ({result['server_born']} Server, {result['services_born']} Services)",
        ),
        ("faults", ", ".join(f"{k}={v}" for k, v in result["faults"].items())),
        (
            "host kills (SIGKILL)",
            "; ".join(f"{k['when']} (down {k['downtime_s']} s)" for k in result["kills"]),
        ),
        (
            "concurrent edit pairs",
            f"{result['edits']['pairs']} ({result['edits']['same_field']} on the same field)",
        ),
        ("items lost", str(result["lost"])),
        ("duplicates", str(result["duplicates"])),
        ("differing fields", f"{result['differing_fields']} in {result['differing_items']} items"),
        ("edits lost", str(result["lost_edits"])),
        ("echo writes (2 poll cycles)", str(result["echo_writes"])),
        ("dead letters", str(result["dead_letters"])),
        (
            "time to converge",
            f"{result['time_to_converge_s']} s" if result["converged"] else "did not converge",
        ),
        ("REST calls per item", f"{result['rest_calls_per_item']} ({result['rest_calls']})"),
        ("writes by kind", str(result["writes_at_convergence"])),
        ("hook deliveries", str(result["hook_deliveries"])),
        ("hook subscriptions", str(result["hook_subscriptions"])),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, default=2000, help="work items created in Server (Services gets N/10)"
    )
    parser.add_argument("--throttle", type=float, default=0.10, help="share of wit calls answered 429")
    parser.add_argument("--errors", type=float, default=0.05, help="share of wit calls answered 500/503")
    parser.add_argument("--latency-ms", type=int, default=10)
    parser.add_argument(
        "--hook-duplicates", type=float, default=0.5, help="share of events delivered 2-3 times"
    )
    parser.add_argument("--hook-jitter-ms", type=int, default=500, help="random delay per hook delivery")
    parser.add_argument("--edits", type=int, default=None, help="concurrent edit pairs (default N/10)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of items synced at the first kill")
    parser.add_argument("--kills", type=int, choices=(1, 2), default=2)
    parser.add_argument("--schedule", default="*/15 * * * * *", help="timer poll schedule of both directions")
    parser.add_argument(
        "--quiet-s", type=float, default=4.0, help="seconds without writes that count as quiet"
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--work-dir", help="folder for the data dir and logs (default: a new temporary one)")
    parser.add_argument("--quick", action="store_true", help="smoke run: shorter quiet period and timeout")
    args = parser.parse_args(argv)
    if args.edits is None:
        args.edits = max(args.items // 10, 2)
    if args.quick:
        args.quiet_s, args.timeout = 2.5, min(args.timeout, 240.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(report(result))
    print(json.dumps(result))
    goal = result["converged"] and not (
        result["lost"] or result["duplicates"] or result["differing_fields"] or result["echo_writes"]
    )
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
