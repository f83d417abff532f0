"""Benchmark: what listing a Planner plan costs the Planner connector, against the Planner emulator.

Planner (Graph v1.0) has no change feed, so every poll lists each plan's tasks as (id, ETag) pairs and the
engine compares them with its links. This measures the connector side of that poll: a plan with N tasks
(5,000 by default) seeded into the emulator, Graph's page size (400), a simulated latency per REST call,
then `list_versions` over real HTTP: REST calls (pages, plus the one token request of the first poll),
pages, wall time, bytes on the wire.

Then the engine side (`--engine`, on by default): the real poller (`sync.poller.poll`) with Azurite tables
polls the same plan through the registry-built Planner connector (Planner → an in-memory target). The first
poll records every ETag in the version index and enqueues each task; the measured second poll finds no
change: its Graph calls (the listing pages only), its table calls (the version index's bounded reads and
the run's rows, whatever the task count) and the items it enqueued (none).

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


def engine_poll(tasks: int, page_size: int, latency_ms: int) -> dict[str, Any]:
    """The engine's no-change poll of a plan with `tasks` tasks: Graph calls, table calls, items enqueued."""
    from datetime import UTC, datetime

    from azure.data.tables import TableServiceClient

    from state.local_queue import LocalQueue
    from state.secrets import LocalSecretStore
    from state.tables import Tables
    from sync.config import parse_config
    from sync.messages import PollMessage
    from sync.poller import poll
    from sync.registry import ConnectorRegistry
    from sync.services import Services
    from sync.settings import AppSettings
    from tandem.azurite import Azurite
    from tests.support.memory_connector import MemoryConnector, MemorySystem

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ado_sync import NEVER, TableCallCounter

    with PlannerEmulator(page_size=page_size, latency_ms=latency_ms) as planner, Azurite() as azurite:
        plan = planner.seed_plan("Bench")
        planner.seed_tasks(plan, tasks)
        prefix = "benchplanner"
        counter = TableCallCounter(prefix)
        service = TableServiceClient.from_connection_string(
            azurite.connection_string, raw_response_hook=counter
        )
        tables = Tables(service, prefix=prefix)
        tables.create_all()
        secrets = LocalSecretStore({"planner-secret": planner.client_secret})
        registry = ConnectorRegistry(secrets)
        target = MemorySystem("PWA")
        registry.register("memory", lambda name, cfg, _secrets: MemoryConnector(target))
        services = Services(
            settings=AppSettings(), tables=tables, queue=LocalQueue(), secrets=secrets, registry=registry
        )
        document = {
            "connections": {
                "pwa": {"type": "memory", "url": "memory://pwa"},
                "planner": {
                    "type": "planner",
                    "url": planner.base_url,
                    "auth": {
                        "kind": "entra",
                        "client_id": planner.client_id,
                        "tenant": planner.tenant,
                        "secret": "planner-secret",
                    },
                    "options": {"authority": planner.root_url, "plans": [plan]},
                },
            },
            "scenarios": [
                {
                    "name": "pwa-planner",
                    "left": "pwa",
                    "right": "planner",
                    "left_entity": "item",
                    "right_entity": "task",
                    "field_map": [{"left": "Name", "right": "title"}],
                    "directions": {"right_to_left": {"schedule": NEVER}},
                }
            ],
        }
        services.apply_config(parse_config(document))
        message = PollMessage(
            scenario="pwa-planner", direction="right_to_left", trigger="manual", due=datetime.now(UTC)
        )
        first = poll(services, message)
        services.queue = LocalQueue()  # the first poll's messages are not what is measured
        counter.take()
        planner.counters.reset()
        started = time.perf_counter()
        run = poll(services, message)
        seconds = time.perf_counter() - started
        calls = counter.take()
        return {
            "tasks": tasks,
            "first_poll_enqueued": first.counts.get("enqueued", 0),
            "graph_calls": planner.counters.calls("planner.*"),
            "listing_pages": planner.counters.calls("planner.plans.tasks.list"),
            "table_calls": sum(calls.values()),
            "by_table": calls,
            "enqueued": run.counts.get("enqueued", 0),
            "wall_s": round(seconds, 3),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=400)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="500 tasks, no latency")
    parser.add_argument("--no-engine", action="store_true", help="the connector's listing only")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.latency_ms = min(args.tasks, 500), 0
    result = measure(args.tasks, args.page_size, args.latency_ms)
    if not args.no_engine:
        result["engine_no_change_poll"] = engine_poll(args.tasks, args.page_size, args.latency_ms)
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
    engine = result.get("engine_no_change_poll")
    if engine:
        print(
            f"engine no-change poll (sync.poller, Azurite): {engine['graph_calls']} Graph calls "
            f"({engine['listing_pages']} listing pages), {engine['table_calls']} table calls, "
            f"{engine['enqueued']} enqueued, {engine['wall_s']} s (first poll enqueued "
            f"{engine['first_poll_enqueued']})"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
