"""Benchmark: what listing a Planner plan costs the Planner connector, against the Planner emulator.

Planner (Graph v1.0) has no change feed, so every poll lists each plan's tasks as (id, ETag) pairs and the
engine compares them with its links. This measures the connector side of that poll: a plan with N tasks
(5,000 by default) seeded into the emulator, Graph's page size (400), a simulated latency per REST call,
then `list_versions` over real HTTP: REST calls (pages, plus the one token request of the first poll),
pages, wall time, bytes on the wire. It touches no table: the engine's comparison is measured with the
engine once it lists versions.

    .venv/bin/python bench/planner_listing.py              # 5,000 tasks, 400 per page, 20 ms per call
    .venv/bin/python bench/planner_listing.py --quick      # 500 tasks, no latency (smoke run)

Prints a table, then one JSON line (starting with ``{``) holding every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.contract import Scope
from connectors.planner.factory import build
from emulators.planner import PlannerEmulator


class Counting(httpx.HTTPTransport):
    """The real transport, adding up response bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.bytes += len(response.content)
        return response


def measure(tasks: int, page_size: int, latency_ms: int) -> dict[str, Any]:
    with PlannerEmulator(page_size=page_size, latency_ms=latency_ms) as planner:
        plan = planner.seed_plan("Bench")
        planner.seed_tasks(plan, tasks)
        config = SimpleNamespace(
            url=planner.base_url,
            auth=SimpleNamespace(
                kind="entra", secret="s", client_id=planner.client_id, tenant=planner.tenant
            ),
            options={"authority": planner.root_url},
        )
        wire = Counting()
        secrets = SimpleNamespace(get=lambda _: planner.client_secret, set=lambda *_: None)
        connector = build("planner", config, secrets, transport=wire, token_transport=httpx.HTTPTransport())
        polls = []
        for _ in range(2):  # the first poll also fetches a token; the second is a steady-state poll
            planner.counters.reset()
            wire.bytes = 0
            started = time.perf_counter()
            pages = list(connector.list_versions("task", Scope(containers=[plan])))
            elapsed = time.perf_counter() - started
            listed = sum(len(p) for p in pages)
            assert listed == tasks, (listed, tasks)
            polls.append(
                {
                    "rest_calls": planner.counters.calls(),
                    "graph_calls": planner.counters.calls("planner.*"),
                    "token_calls": planner.counters.calls("oauth.token"),
                    "pages": len(pages),
                    "wall_s": round(elapsed, 3),
                    "ms_per_page": round(elapsed * 1000 / len(pages), 1),
                    "kib_received": round(wire.bytes / 1024, 1),
                    "writes": planner.counters.writes(),
                }
            )
        connector.close()
    return {
        "tasks": tasks,
        "page_size": page_size,
        "latency_ms": latency_ms,
        "minimum_pages": math.ceil(tasks / page_size),
        "first_poll": polls[0],
        "no_change_poll": polls[1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=400)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="500 tasks, no latency")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.latency_ms = min(args.tasks, 500), 0
    result = measure(args.tasks, args.page_size, args.latency_ms)
    tasks, size, latency = result["tasks"], result["page_size"], result["latency_ms"]
    print(f"Planner listing: {tasks} tasks, {size} per page, {latency} ms/call")
    head = ("poll", "REST calls", "pages", "token", "wall s", "ms/page", "KiB", "writes")
    print(
        f"{head[0]:<16}" + "".join(f"{h:>{w}}" for h, w in zip(head[1:], (11, 7, 7, 8, 9, 9, 8), strict=True))
    )
    for name in ("first_poll", "no_change_poll"):
        p = result[name]
        print(
            f"{name:<16}{p['rest_calls']:>11}{p['pages']:>7}{p['token_calls']:>7}{p['wall_s']:>8}"
            f"{p['ms_per_page']:>9}{p['kib_received']:>9}{p['writes']:>8}"
        )
    print(f"minimum: {result['minimum_pages']} pages (ceil(tasks / page size)); no table calls on this side")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
