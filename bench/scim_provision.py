"""Benchmark of SCIM provisioning: N users created as Microsoft Entra ID's initial cycle does, through the
local stack over HTTP (`tandem serve`'s function app on the local host, Azurite, the ADO Services emulator
adding a simulated latency to every REST call).

For each user, Entra first asks whether it exists (``GET /Users?filter=userName eq "…"``), then creates it
(``POST /Users``). `--workers` cycles run side by side, as Entra's provisioning service does. Printed: wall
time, users/s, SCIM request latency (p50/p95), HTTP statuses (no 5xx allowed), Azure DevOps REST calls per
user by endpoint, and that every user reached the organization.

    .venv/bin/python bench/scim_provision.py               # 1,000 users, 20 ms per ADO call, 4 workers
    .venv/bin/python bench/scim_provision.py --quick       # a smoke run

Prints a table, then one JSON line (starting with ``{``) holding every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tandem.stack import LocalStack


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def provision(users: int, workers: int, latency_ms: int) -> dict[str, Any]:
    stack = LocalStack()
    info = stack.start()
    try:
        scim = info["scim"]
        emulator = stack.emulators["ado_services"].instance
        emulator.faults.latency_ms = latency_ms
        emulator.counters.reset()
        statuses: Counter[str] = Counter()
        timings: dict[str, list[float]] = {"filter": [], "create": []}
        lock = threading.Lock()
        client = httpx.Client(
            base_url=scim["url"],
            headers={"Authorization": f"Bearer {scim['token']}"},
            timeout=120,
            limits=httpx.Limits(max_connections=workers * 2),
        )

        def timed(kind: str, send: Any) -> httpx.Response:
            started = time.perf_counter()
            response = send()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                timings[kind].append(elapsed)
                statuses[f"{kind} {response.status_code}"] += 1
            return response

        def cycle(i: int) -> None:
            user_name = f"user{i:05}@contoso.com"
            found = timed(
                "filter", lambda: client.get("/Users", params={"filter": f'userName eq "{user_name}"'})
            )
            if found.status_code == 200 and found.json()["totalResults"] == 0:
                body = {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": True,
                    "displayName": f"User {i}",
                    "externalId": f"user{i:05}",
                    "emails": [{"primary": True, "type": "work", "value": user_name}],
                }
                timed("create", lambda: client.post("/Users", json=body))

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(cycle, range(users)))
        wall = time.perf_counter() - started
        client.close()
        # Only the entitlement endpoints: the stack's timer also polls the demo scenarios meanwhile.
        by_endpoint = {k: n for k, n in emulator.counters.snapshot()["calls"].items() if k.startswith("mem.")}
        ado_calls = sum(by_endpoint.values())
        in_ado = len(emulator.directory.live_members())
        server_errors = sum(n for key, n in statuses.items() if key.split()[1].startswith("5"))
        return {
            "users": users,
            "workers": workers,
            "latency_ms": latency_ms,
            "wall_s": round(wall, 2),
            "users_per_s": round(users / wall, 1),
            "statuses": dict(sorted(statuses.items())),
            "server_errors": server_errors,
            "users_in_ado": in_ado,
            "ado_calls": ado_calls,
            "ado_calls_per_user": round(ado_calls / users, 3),
            "ado_calls_by_endpoint": by_endpoint,
            "scim_requests_per_user": round(sum(len(v) for v in timings.values()) / users, 3),
            "filter_ms": {
                "p50": round(_percentile(timings["filter"], 0.5), 1),
                "p95": round(_percentile(timings["filter"], 0.95), 1),
            },
            "create_ms": {
                "p50": round(_percentile(timings["create"], 0.5), 1),
                "p95": round(_percentile(timings["create"], 0.95), 1),
            },
        }
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 users")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    users = args.users or (20 if args.quick else 1000)
    result = provision(users, args.workers, args.latency_ms)
    print(f"SCIM provisioning of {users} users ({args.workers} workers, {args.latency_ms} ms per ADO call)")
    print(f"  wall time            {result['wall_s']} s ({result['users_per_s']} users/s)")
    print(f"  HTTP statuses        {result['statuses']} (5xx: {result['server_errors']})")
    print(f"  ADO REST calls/user  {result['ado_calls_per_user']} {result['ado_calls_by_endpoint']}")
    print(f"  filter p50/p95       {result['filter_ms']['p50']} / {result['filter_ms']['p95']} ms")
    print(f"  create p50/p95       {result['create_ms']['p50']} / {result['create_ms']['p95']} ms")
    print(f"  users in ADO         {result['users_in_ado']}")
    print(json.dumps(result))
    ok = result["server_errors"] == 0 and result["users_in_ado"] >= users
    if not ok:
        print("FAILED: 5xx answers or users missing in ADO", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
