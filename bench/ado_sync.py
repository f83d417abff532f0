"""Benchmark of the ADO Server ↔ ADO Services scenario on the local emulators, with the real engine.

Everything runs for real on loopback: Azurite tables, the local queue with worker threads, the ADO connectors
over HTTP, and the two ADO emulators (one Server collection, one Services organization) adding a simulated
latency to every REST call. The scenario is the demo configuration (`tandem/demo_config.yaml`).

1. Initial sync: N work items seeded straight into the Server emulator's state (no hooks), one
   left-to-right poll, then the item workers until the queue is empty. Items/s, REST calls per item on
   each side next to the minimum (ceil(N/200) batch reads plus the WIQL on the source, one write per
   item on the target), table calls per item, peak RSS. Then the echo pass: the right-to-left poll that
   sees the N new Services items and must write nothing.
2. A no-change poll per side at N items (after convergence, once the items are older than the poll
   overlap) and at a larger count (items seeded into fresh emulators, watermarks set directly): calls
   and wall time of one poll must not grow with the number of items. The same for a source with no change
   feed (listing-only, as Planner; the memory connector stands in): listing calls plus a fixed number of
   table calls.
3. Hook-to-target latency: `tandem serve`'s local stack (function app on the local host, service hook
   subscriptions created by the app), K synced items updated one at a time in the Server emulator with
   notifications on; the time from the update to the Services item's new revision, p50/p95.

    .venv/bin/python bench/ado_sync.py                  # 5,000 items, 20 ms, 50,000 for the poll, 200 hooks
    .venv/bin/python bench/ado_sync.py --quick          # a smoke run (< 60 s)

Prints a table, then one JSON line (starting with ``{``) holding every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import yaml
from azure.data.tables import TableServiceClient

from connectors.contract import Watermark
from emulators.ado import AdoEmulator
from state.local_queue import LocalQueue, WorkerPool
from state.secrets import LocalSecretStore
from state.tables import Tables
from sync.config import parse_config
from sync.messages import PollMessage
from sync.poller import poll
from sync.registry import ConnectorRegistry
from sync.runtime import enqueue_polls, handle_items, handle_poll
from sync.services import Services
from sync.settings import AppSettings
from tandem.azurite import Azurite
from tandem.configfile import DEMO_CONFIG, dump_document, substitute

SCENARIO = "ado-server-services"
LEFT_PROJECT, RIGHT_PROJECT = "Fabrikam", "Fabrikam-Cloud"
# No timer-driven polls while measuring: the benchmark enqueues every poll itself (1 January, yearly).
NEVER = "0 0 0 1 1 *"
# People by their sign-in names: DOMAIN\\user on Server, e-mail on Services.
PEOPLE = {
    "server": ("CONTOSO\\ann.chen", "CONTOSO\\bob.smith", "CONTOSO\\tandem-sync"),
    "services": ("ann.chen@contoso.com", "bob.smith@contoso.com", "tandem-sync@contoso.com"),
}
TYPES = ("User Story", "Task", "Bug")
BATCH = 200  # workitemsbatch cap
BATCH_SIZE = 100  # host.json maxMessageBatchSize


# --- set-up ------------------------------------------------------------------------------------------


def demo_document() -> dict[str, Any]:
    """The demo configuration with its timer polls switched off (`${ADO_…_URL}` placeholders kept)."""
    document: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for scenario in document["scenarios"]:
        for direction in scenario["directions"].values():
            direction["schedule"] = NEVER
    return document


def bench_document(server_url: str, services_url: str) -> dict[str, Any]:
    """The demo configuration pointed at these emulators, without timer polls."""
    document, problems = substitute(
        demo_document(), {"ADO_SERVER_URL": server_url, "ADO_SERVICES_URL": services_url}
    )
    if problems:
        raise SystemExit("bench: the demo configuration needs more variables:\n" + "\n".join(problems))
    return document


def item_fields(i: int, project: str, flavor: str) -> tuple[str, dict[str, Any]]:
    """The type and fields of work item `i`, with every field the demo field map carries."""
    type_name = TYPES[i % len(TYPES)]
    fields: dict[str, Any] = {
        "System.Title": f"Benchmark item {i}",
        "System.Description": f"<p>Work item {i} of the benchmark: migrate the <b>billing</b> module.</p>",
        "System.State": "Active" if i % 2 else "New",
        "System.AssignedTo": PEOPLE[flavor][i % 3],
        "System.AreaPath": project,
        "System.IterationPath": f"{project}\\Sprint {i % 3 + 1}",
        "Microsoft.VSTS.Common.Priority": i % 4 + 1,
        "System.Tags": f"bench; wave-{i % 5}",
    }
    if type_name == "Task":
        fields["Microsoft.VSTS.Scheduling.RemainingWork"] = float(i % 8)
        fields["Microsoft.VSTS.Scheduling.CompletedWork"] = float(i % 3)
    return type_name, fields


def seed_items(emulator: AdoEmulator, project: str, n: int, *, changed: datetime) -> list[int]:
    """`n` items straight into the emulator's state (rules bypassed, no hooks), changed 1 ms apart
    starting at `changed`; the emulator's clock is back on the wall clock afterwards."""
    ids = []
    try:
        for i in range(n):
            emulator.clock.freeze(changed + timedelta(milliseconds=i))
            type_name, fields = item_fields(i, project, emulator.flavor)
            ids.append(emulator.seed_work_item(project, type_name, fields, notify=False))
    finally:
        emulator.clock.reset()
    return ids


class TableCallCounter:
    """Counts the requests the engine sends to Table Storage, by table and HTTP method (an azure-core
    response hook on the engine's table client)."""

    def __init__(self, prefix: str) -> None:
        self._lock = threading.Lock()
        self._prefix = prefix
        self.calls: Counter[str] = Counter()

    def __call__(self, response: Any) -> None:
        request = response.http_request
        path = request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        table = path.split("(", 1)[0].removeprefix(self._prefix) or path
        with self._lock:
            self.calls[f"{table} {request.method}"] += 1

    def take(self) -> dict[str, int]:
        with self._lock:
            calls, self.calls = dict(self.calls), Counter()
        return dict(sorted(calls.items(), key=lambda kv: -kv[1]))


@dataclass
class Engine:
    """The engine wired by hand as `tandem serve` wires it (its table client counts requests), with worker
    pools like the function host's: 2 for polls, `workers` for items in batch mode."""

    services: Services
    queue: LocalQueue
    server: AdoEmulator
    cloud: AdoEmulator
    table_calls: TableCallCounter
    pools: list[WorkerPool] = field(default_factory=list)

    @classmethod
    def build(
        cls, azurite: Azurite, server: AdoEmulator, cloud: AdoEmulator, *, prefix: str, workers: int
    ) -> Engine:
        counter = TableCallCounter(prefix)
        service = TableServiceClient.from_connection_string(
            azurite.connection_string, raw_response_hook=counter
        )
        tables = Tables(service, prefix=prefix)
        tables.create_all()
        secrets = LocalSecretStore(
            {
                "ado-server-pat": server.pat,
                "ado-services-pat": cloud.pat,
                "ado-server-hook": "not-used",
                "ado-services-hook": "not-used",
            }
        )
        queue = LocalQueue()
        services = Services(
            settings=AppSettings(storage_connection=azurite.connection_string, table_prefix=prefix),
            tables=tables,
            queue=queue,
            secrets=secrets,
            registry=ConnectorRegistry(secrets),
        )
        services.apply_config(parse_config(bench_document(server.base_url, cloud.base_url)))
        engine = cls(services, queue, server, cloud, counter)
        if workers:
            settings = services.settings
            engine.pools = [
                queue.run_workers(settings.poll_queue, lambda m: handle_poll(services, m), 2),
                # As the function app's item trigger runs: cardinality many, one session's messages a batch.
                queue.run_batch_workers(
                    settings.item_queue, lambda batch: handle_items(services, batch), workers, BATCH_SIZE
                ),
            ]
        counter.take()
        return engine

    def stop(self) -> None:
        for pool in self.pools:
            pool.stop()

    def enqueue_poll(self, direction: str) -> None:
        now = datetime.now(UTC)
        enqueue_polls(
            self.services, [PollMessage(scenario=SCENARIO, direction=direction, trigger="manual", due=now)]
        )

    def drain(self, timeout: float) -> None:
        """Until both queues hold nothing active, scheduled or in flight (retries included)."""
        deadline = time.monotonic() + timeout
        settings = self.services.settings
        while time.monotonic() < deadline:
            self.queue.wait_idle(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            counts = [self.queue.counts(q) for q in (settings.poll_queue, settings.item_queue)]
            if not any(c.active or c.scheduled or c.in_flight for c in counts):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the queues did not drain within {timeout:.0f} s")

    def dead_letters(self) -> int:
        settings = self.services.settings
        return sum(self.queue.counts(q).dead_lettered for q in (settings.poll_queue, settings.item_queue))


@contextmanager
def emulator_pair(latency_ms: int) -> Iterator[tuple[AdoEmulator, AdoEmulator]]:
    server = AdoEmulator("server", latency_ms=latency_ms)
    cloud = AdoEmulator("services", latency_ms=latency_ms)
    server.start()
    cloud.start()
    try:
        server.seed_project(LEFT_PROJECT)
        cloud.seed_project(RIGHT_PROJECT)
        yield server, cloud
    finally:
        server.stop()
        cloud.stop()


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def current_rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / (1024 * 1024), 1)


class CpuMeter:
    """CPU seconds spent by the engine (this process less the emulators' threads), the emulators (their
    server and hook threads, named ``ado-…``) and Azurite (a separate node process)."""

    def __init__(self, azurite: Azurite) -> None:
        self._me = psutil.Process()
        proc = getattr(azurite, "_proc", None)
        self._azurite = psutil.Process(proc.pid) if proc is not None else None
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        emulators = 0.0
        for t in self._me.threads():
            if names.get(t.id, "").startswith("ado-"):
                emulators += t.user_time + t.system_time
        own = self._me.cpu_times()
        azurite = 0.0
        if self._azurite is not None:
            try:
                for p in (self._azurite, *self._azurite.children(recursive=True)):
                    times = p.cpu_times()
                    azurite += times.user + times.system
            except psutil.Error:
                pass
        return {"engine": own.user + own.system - emulators, "emulators": emulators, "azurite": azurite}

    def per_item_ms(self, n: int) -> dict[str, float]:
        now = self._sample()
        return {k: round((now[k] - self._start[k]) * 1000 / max(n, 1), 1) for k in now}


def calls_of(emulator: AdoEmulator) -> dict[str, int]:
    return dict(emulator.counters.snapshot()["calls"])


def writes_of(emulator: AdoEmulator) -> dict[str, int]:
    return dict(emulator.counters.snapshot()["writes"])


def reset_counts(engine: Engine) -> None:
    engine.server.counters.reset()
    engine.cloud.counters.reset()
    engine.table_calls.take()


def per_item(n: int, count: int) -> float:
    return round(count / n, 3) if n else 0.0


def table_figures(n: int, calls: dict[str, int]) -> dict[str, Any]:
    total = sum(calls.values())
    return {"calls": total, "calls_per_item": per_item(n, total), "by_table": calls}


# --- 1 and 2a: initial sync, echo pass, no-change poll at N -----------------------------------------


def side_figures(n: int, calls: dict[str, int], writes: dict[str, int]) -> dict[str, Any]:
    total = sum(calls.values())
    return {
        "calls": total,
        "calls_per_item": per_item(n, total),
        "by_endpoint": calls,
        "writes": writes,
    }


def initial_sync(
    azurite: Azurite, n: int, latency_ms: int, workers: int, timeout: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    with emulator_pair(latency_ms) as (server, cloud):
        engine = Engine.build(azurite, server, cloud, prefix="benchsync", workers=workers)
        try:
            started = time.perf_counter()
            # Older than the poll overlap, so that polls after convergence have nothing left to re-list.
            seed_items(server, LEFT_PROJECT, n, changed=datetime.now(UTC) - timedelta(hours=1))
            seed_seconds = time.perf_counter() - started
            rss_seeded = current_rss_mb()

            # Connection set-up (api-version probe, field list) once, outside the timed part.
            for name in ("ado-server", "ado-services"):
                engine.services.connector(name).list_fields()
            reset_counts(engine)
            cpu = CpuMeter(azurite)
            started = time.perf_counter()
            engine.enqueue_poll("left_to_right")
            engine.drain(timeout)
            seconds = time.perf_counter() - started
            cpu_ms = cpu.per_item_ms(n)
            server_calls, cloud_calls = calls_of(server), calls_of(cloud)
            created = len(cloud.state.live_items())
            sync = {
                "items": n,
                "created": created,
                "seconds": round(seconds, 2),
                "items_per_s": round(n / seconds, 1),
                "source_server": side_figures(n, server_calls, writes_of(server)),
                "target_services": side_figures(n, cloud_calls, writes_of(cloud)),
                "minimum": {
                    "source_calls": math.ceil(n / BATCH) + 1,  # batch reads + the WIQL query
                    "source_calls_per_item": per_item(n, math.ceil(n / BATCH) + 1),
                    "target_calls": n,  # one create per item
                    "target_calls_per_item": 1.0,
                },
                "tables": table_figures(n, engine.table_calls.take()),
                "cpu_ms_per_item": cpu_ms,
                "dead_lettered": engine.dead_letters(),
                "seed_seconds": round(seed_seconds, 2),
                "rss_after_seed_mb": rss_seeded,
                "peak_rss_mb": rss_mb(),
            }

            # Echo pass: the right-to-left poll lists the N new Services items; merging must write nothing.
            reset_counts(engine)
            cpu = CpuMeter(azurite)
            started = time.perf_counter()
            engine.enqueue_poll("right_to_left")
            engine.drain(timeout)
            seconds = time.perf_counter() - started
            echo = {
                "items": created,
                "seconds": round(seconds, 2),
                "items_per_s": round(created / seconds, 1) if seconds else 0.0,
                "source_services": side_figures(created, calls_of(cloud), writes_of(cloud)),
                "target_server": side_figures(created, calls_of(server), writes_of(server)),
                "writes": sum(writes_of(server).values()) + sum(writes_of(cloud).values()),
                "tables": table_figures(created, engine.table_calls.take()),
                "cpu_ms_per_item": cpu.per_item_ms(created),
                "dead_lettered": engine.dead_letters(),
            }

            # Past the poll overlap, one catch-up poll per side re-lists the newest items (duplicates, dropped
            # by the queue or merged as no-ops); then a poll finds nothing: the steady state measured here.
            for emulator in (server, cloud):
                emulator.clock.advance(600)
            engine.enqueue_poll("left_to_right")
            engine.enqueue_poll("right_to_left")
            engine.drain(timeout)
            steady = no_change_polls(engine, n)
        finally:
            engine.stop()
    return sync, echo, steady


def no_change_polls(engine: Engine, n: int) -> dict[str, Any]:
    """One poll per side, run synchronously: REST calls, table calls, items enqueued and wall time."""
    out: dict[str, Any] = {"items": n}
    for direction, source in (("left_to_right", engine.server), ("right_to_left", engine.cloud)):
        side = "server" if source is engine.server else "services"
        reset_counts(engine)
        started = time.perf_counter()
        run = poll(
            engine.services,
            PollMessage(scenario=SCENARIO, direction=direction, trigger="manual", due=datetime.now(UTC)),
        )
        seconds = time.perf_counter() - started
        out[side] = {
            "calls": source.counters.calls(),
            "table_calls": sum(engine.table_calls.take().values()),
            "enqueued": run.counts.get("enqueued", 0),
            "ms": round(seconds * 1000, 1),
        }
    return out


# --- 2b: no-change poll at a large count -----------------------------------------------------------


def large_poll(azurite: Azurite, n: int, latency_ms: int) -> dict[str, Any]:
    """`n` items on each side, all changed before the watermark (set directly); one poll per side."""
    with emulator_pair(latency_ms) as (server, cloud):
        changed = datetime.now(UTC) - timedelta(hours=2)
        started = time.perf_counter()
        seed_items(server, LEFT_PROJECT, n, changed=changed)
        seed_items(cloud, RIGHT_PROJECT, n, changed=changed)
        seed_seconds = time.perf_counter() - started
        engine = Engine.build(azurite, server, cloud, prefix="benchpoll", workers=0)
        try:
            for name in ("ado-server", "ado-services"):
                engine.services.connector(name).list_fields()
            mark = Watermark(at=datetime.now(UTC) - timedelta(minutes=30))
            for direction in ("left_to_right", "right_to_left"):
                engine.services.watermarks.advance(SCENARIO, direction, mark, None)
            # First poll per side warms the path (connection pool, cursor in the watermark); then measure.
            no_change_polls(engine, n)
            out = no_change_polls(engine, n)
            out["seed_seconds"] = round(seed_seconds, 2)
            return out
        finally:
            engine.stop()


# --- 2c: no-change poll of a listing-only source (no change feed) ------------------------------------


def listing_poll(azurite: Azurite, n: int) -> dict[str, Any]:
    """A source with no change feed (the memory connector with `change_feed=False`, as Planner): `n` items
    listed as (id, version) pairs in pages of 1,000. The first poll records the versions and enqueues all;
    the measured second poll finds no change: its listing calls, table calls and items enqueued."""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # the memory connector is test support, beside the packages
        sys.path.insert(0, root)
    from tests.support.memory_connector import MemoryConnector, MemorySystem

    left, right = MemorySystem("L", no_feed={"item"}), MemorySystem("R")
    for i in range(n):
        left.add(title=f"Listed item {i}")
    systems = {"memory://left": left, "memory://right": right}
    counter = TableCallCounter(f"benchlist{n}")
    service = TableServiceClient.from_connection_string(azurite.connection_string, raw_response_hook=counter)
    tables = Tables(service, prefix=f"benchlist{n}")
    tables.create_all()
    secrets = LocalSecretStore({})
    registry = ConnectorRegistry(secrets)
    registry.register("memory", lambda name, cfg, _secrets: MemoryConnector(systems[cfg.url]))
    services = Services(
        settings=AppSettings(), tables=tables, queue=LocalQueue(), secrets=secrets, registry=registry
    )
    document = {
        "connections": {
            "mem-left": {"type": "memory", "url": "memory://left"},
            "mem-right": {"type": "memory", "url": "memory://right"},
        },
        "scenarios": [
            {
                "name": "listing",
                "left": "mem-left",
                "right": "mem-right",
                "entity": "item",
                "field_map": [{"left": "title", "right": "Title"}],
                "directions": {"left_to_right": {"schedule": NEVER}},
            }
        ],
    }
    services.apply_config(parse_config(document))
    message = PollMessage(
        scenario="listing", direction="left_to_right", trigger="manual", due=datetime.now(UTC)
    )
    first = poll(services, message)
    services.queue = LocalQueue()  # the first poll's N messages are not what is measured
    counter.take()
    left.list_calls = 0
    started = time.perf_counter()
    run = poll(services, message)
    seconds = time.perf_counter() - started
    calls = counter.take()
    return {
        "items": n,
        "first_poll_enqueued": first.counts.get("enqueued", 0),
        "listing_calls": left.list_calls,
        "table_calls": sum(calls.values()),
        "by_table": calls,
        "enqueued": run.counts.get("enqueued", 0),
        "ms": round(seconds * 1000, 1),
    }


# --- 3: hook-to-target latency through the local stack ---------------------------------------------


class RevisionWatch:
    """Listens to an emulator's commits: `wait(id, after_rev)` returns when the item has a newer revision."""

    def __init__(self, emulator: AdoEmulator) -> None:
        self._cond = threading.Condition()
        self._revs: dict[int, tuple[int, float]] = {}
        emulator.state.listeners.append(self._on_change)

    def _on_change(self, event: Any) -> None:
        at = time.perf_counter()
        with self._cond:
            self._revs[int(event.item.id)] = (int(event.revision.rev), at)
            self._cond.notify_all()

    def wait(self, item_id: int, after_rev: int, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                rev, at = self._revs.get(item_id, (0, 0.0))
                if rev > after_rev:
                    return at
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def hook_latency(updates: int, latency_ms: int, timeout: float) -> dict[str, Any]:
    from tandem.stack import EmulatorSpec, LocalStack

    specs = (
        EmulatorSpec(
            "ado_server",
            "emulators.ado:AdoEmulator",
            {"flavor": "server", "latency_ms": latency_ms},
            "ADO_SERVER_URL",
        ),
        EmulatorSpec(
            "ado_services",
            "emulators.ado:AdoEmulator",
            {"flavor": "services", "latency_ms": latency_ms},
            "ADO_SERVICES_URL",
        ),
    )
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        config_path = Path(tmp) / "bench_config.yaml"
        config_path.write_text(dump_document(demo_document()), encoding="utf-8")
        stack = LocalStack(config_path, emulators=specs, env={})
        stack.start()
        try:
            server: AdoEmulator = stack.emulators["ado_server"].instance
            cloud: AdoEmulator = stack.emulators["ado_services"].instance
            services = stack.services
            assert services is not None
            subscriptions = len(server.hooks.list()) + len(cloud.hooks.list())
            source_ids = seed_items(server, LEFT_PROJECT, updates, changed=datetime.now(UTC))

            def settle() -> None:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    server.hooks.wait_idle(timeout)
                    cloud.hooks.wait_idle(timeout)
                    stack.queue.wait_idle(timeout)
                    counts = [stack.queue.counts(q) for q in stack.queue.queue_names()]
                    busy = any(c.active or c.scheduled or c.in_flight for c in counts)
                    if not busy and not server.hooks.pending() and not cloud.hooks.pending():
                        return
                    time.sleep(0.05)
                raise TimeoutError("the local stack did not settle")

            now = datetime.now(UTC)
            enqueue_polls(
                services,
                [PollMessage(scenario=SCENARIO, direction="left_to_right", trigger="manual", due=now)],
            )
            settle()
            targets: list[tuple[int, int]] = []
            for source_id in source_ids:
                link = services.links.find(SCENARIO, "left", str(source_id))
                if link is None or link.right_id is None:
                    raise RuntimeError(f"Server item {source_id} was not synced before the hook test")
                targets.append((source_id, int(link.right_id)))

            watch = RevisionWatch(cloud)
            server.counters.reset()
            cloud.counters.reset()
            latencies: list[float] = []
            missed = 0
            for k, (source_id, target_id) in enumerate(targets):
                before = cloud.state.get(target_id).rev
                started = time.perf_counter()
                server.state.update_work_item(
                    source_id,
                    {"System.Title": f"Benchmark item, edit {k}"},
                    by="CONTOSO\\ann.chen",
                    notify=True,
                )
                at = watch.wait(target_id, before, timeout=30)
                if at is None:
                    missed += 1
                else:
                    latencies.append((at - started) * 1000)
                settle()  # one update at a time: its echo (the Services hook) finishes before the next
            rest_writes = {"services": cloud.counters.writes(), "server": server.counters.writes()}
        finally:
            stack.stop()
    return {
        "updates": updates,
        "measured": len(latencies),
        "missed": missed,
        "subscriptions": subscriptions,
        # REST writes while measuring: one per update on Services, none echoed back to Server.
        "target_writes": rest_writes["services"],
        "echo_writes": rest_writes["server"],
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1) if latencies else 0.0,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
    }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


# --- report ------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Tandem benchmark: ADO Server → ADO Services, {result['latency_ms']} ms per REST call, "
        f"{result['workers']} item workers, {result['cpus']} CPU(s)",
    ]
    sync = result.get("initial_sync")
    if sync:
        echo, minimum = result["echo_pass"], sync["minimum"]
        lines += [
            "",
            f"1. Initial sync, Server → Services, {sync['items']:,} work items",
            table(
                [
                    ("created", f"{sync['created']:,} of {sync['items']:,} in {sync['seconds']} s"),
                    ("throughput", f"{sync['items_per_s']} items/s"),
                    (
                        "Server calls/item (source)",
                        f"{sync['source_server']['calls_per_item']}  (minimum "
                        f"{minimum['source_calls_per_item']}: WIQL + ceil(N/200) batch reads "
                        f"= {minimum['source_calls']} calls)",
                    ),
                    (
                        "Services calls/item (target)",
                        f"{sync['target_services']['calls_per_item']}  (minimum 1.0: one create per item)",
                    ),
                    ("  Server by endpoint", fmt_calls(sync["source_server"]["by_endpoint"])),
                    ("  Services by endpoint", fmt_calls(sync["target_services"]["by_endpoint"])),
                    ("table calls/item", f"{sync['tables']['calls_per_item']}"),
                    ("  by table and method", fmt_calls(sync["tables"]["by_table"])),
                    ("CPU/item", fmt_cpu(sync["cpu_ms_per_item"])),
                    ("dead-lettered", f"{sync['dead_lettered']}"),
                    (
                        "peak RSS",
                        f"{sync['peak_rss_mb']} MiB (engine and both emulators in one process; "
                        f"{sync['rss_after_seed_mb']} MiB once seeded)",
                    ),
                ]
            ),
            "",
            "   Echo pass: Services → Server poll over the new items (must write nothing)",
            table(
                [
                    ("items", f"{echo['items']:,} in {echo['seconds']} s ({echo['items_per_s']} items/s)"),
                    ("writes", f"{echo['writes']}"),
                    (
                        "calls/item",
                        f"Services {echo['source_services']['calls_per_item']}, "
                        f"Server {echo['target_server']['calls_per_item']}, "
                        f"tables {echo['tables']['calls_per_item']}",
                    ),
                    ("CPU/item", fmt_cpu(echo["cpu_ms_per_item"])),
                ]
            ),
        ]
    polls = result.get("no_change_poll")
    if polls:
        lines += [
            "",
            "2. No-change poll, one poll per side (REST calls, table calls, wall time)",
            f"  {'items':>8}  {'Server':>22}  {'Services':>22}",
        ]
        for entry in polls:
            cells = [
                f"{entry[side]['calls']} REST, {entry[side]['table_calls']} table, {entry[side]['ms']} ms"
                for side in ("server", "services")
            ]
            lines.append(f"  {entry['items']:>8,}  {cells[0]:>22}  {cells[1]:>22}")
    listing = result.get("listing_poll")
    if listing:
        lines += [
            "",
            "2c. No-change poll of a listing-only source (no change feed; 1,000 (id, version) pairs a page)",
        ]
        for entry in listing:
            lines.append(
                f"  {entry['items']:>8,}  {entry['listing_calls']} listing calls, "
                f"{entry['table_calls']} table calls, {entry['enqueued']} enqueued, {entry['ms']} ms"
            )
    hooks = result.get("hook_latency")
    if hooks:
        lines += [
            "",
            f"3. Hook-to-target latency, {hooks['measured']} of {hooks['updates']} Server updates "
            "(one at a time, through tandem serve's stack)",
            table(
                [
                    ("p50", f"{hooks['p50_ms']} ms"),
                    ("p95", f"{hooks['p95_ms']} ms"),
                    ("max", f"{hooks['max_ms']} ms"),
                    ("missed (no new target revision in 30 s)", f"{hooks['missed']}"),
                    (
                        "REST writes",
                        f"{hooks['target_writes']} on Services, {hooks['echo_writes']} echoed back to Server",
                    ),
                ]
            ),
        ]
    lines += [
        "",
        f"total {result['total_seconds']} s; load average (1, 5, 15 min) before "
        f"{', '.join(map(str, result['load_before']))}, after {', '.join(map(str, result['load_after']))}",
    ]
    return "\n".join(lines)


def fmt_cpu(cpu: dict[str, float]) -> str:
    return f"engine {cpu['engine']} ms, emulators {cpu['emulators']} ms, Azurite {cpu['azurite']} ms"


def fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(calls.items(), key=lambda kv: -kv[1]))


# --- main --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, help="work items in the initial sync (default 5,000; --quick 100)")
    p.add_argument("--latency-ms", type=int, default=20, help="simulated latency per REST call (default 20)")
    p.add_argument(
        "--workers",
        type=int,
        default=8,
        help="item worker threads (default 8, as host.json's maxConcurrentSessions)",
    )
    p.add_argument(
        "--poll-items",
        type=int,
        help="items per side for the large no-change poll (default 50,000; --quick 1,000)",
    )
    p.add_argument(
        "--updates", type=int, help="updates timed through service hooks (default 200; --quick 20)"
    )
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run (< 60 s)")
    p.add_argument(
        "--parts",
        default="sync,poll,listing,hooks",
        help="comma-separated parts to run: sync (initial sync, echo pass, no-change poll at --items), "
        "poll (no-change poll at --poll-items), listing (no-change poll of a listing-only source at --items "
        "and --poll-items), hooks (hook-to-target latency); default all",
    )
    p.add_argument("--timeout", type=float, default=1800, help="give up on a phase after this many seconds")
    args = p.parse_args(argv)
    args.items = args.items or (100 if args.quick else 5_000)
    args.poll_items = args.poll_items or (1_000 if args.quick else 50_000)
    args.updates = args.updates or (20 if args.quick else 200)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = args.parts - {"sync", "poll", "listing", "hooks"}
    if unknown:
        p.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # More than 10 workers overflow the Table client's 10 pooled connections (reconnected per call).
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "ado_sync",
        "items": args.items,
        "latency_ms": args.latency_ms,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "quick": args.quick,
    }
    polls: list[dict[str, Any]] = []
    with Azurite() as azurite:
        if "sync" in args.parts:
            sync, echo, steady = initial_sync(
                azurite, args.items, args.latency_ms, args.workers, args.timeout
            )
            result["initial_sync"], result["echo_pass"] = sync, echo
            polls.append(steady)
        if "poll" in args.parts:
            polls.append(large_poll(azurite, args.poll_items, args.latency_ms))
        if "listing" in args.parts:
            result["listing_poll"] = [listing_poll(azurite, n) for n in (args.items, args.poll_items)]
    if polls:
        result["no_change_poll"] = polls
    if "hooks" in args.parts:
        result["hook_latency"] = hook_latency(args.updates, args.latency_ms, args.timeout)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(report(result))
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
