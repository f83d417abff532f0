"""The benchmarks run end to end and print their JSON line (figures only, no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ado_sync.py"), "--quick", "--items", "20", "--updates", "5"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:]
    result = json.loads(lines[-1])

    parts = {"initial_sync", "echo_pass", "no_change_poll", "hook_latency"}
    assert {"items", "latency_ms", "workers", *parts} <= result.keys()
    sync = result["initial_sync"]
    figures = {"items_per_s", "peak_rss_mb", "source_server", "target_services", "minimum", "tables"}
    assert figures <= sync.keys()
    assert sync["created"] == 20 and sync["dead_lettered"] == 0
    assert sync["minimum"] == {
        "source_calls": 2,
        "source_calls_per_item": 0.1,
        "target_calls": 20,
        "target_calls_per_item": 1.0,
    }
    assert sync["target_services"]["writes"].get("create") == 20
    assert {"calls", "calls_per_item", "by_endpoint"} <= sync["source_server"].keys()
    assert result["echo_pass"]["writes"] == 0

    small, large = result["no_change_poll"]
    assert small["items"] == 20 and large["items"] > small["items"]
    for entry in (small, large):
        for side in ("server", "services"):
            assert {"calls", "table_calls", "enqueued", "ms"} <= entry[side].keys()
            assert entry[side]["enqueued"] == 0

    hooks = result["hook_latency"]
    assert {"p50_ms", "p95_ms", "updates", "measured", "missed"} <= hooks.keys()
    assert hooks["updates"] == 5 and hooks["measured"] + hooks["missed"] == 5


def test_import_time_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "import_time.py"), "--runs", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    result = figures["import_function_app"]
    assert result["runs"] == 2 and result["modules_loaded"] > 0
    assert 0 < result["best_ms"] <= result["median_ms"] <= result["worst_ms"]


def test_quick_scim_benchmark_provisions_every_user_without_a_5xx() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(
                REPO / "bench" / "scim_provision.py",
            ),
            "--quick",
            "--users",
            "10",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    assert result["users"] == 10 and result["users_in_ado"] == 10 and result["server_errors"] == 0
    assert result["statuses"] == {"create 201": 10, "filter 200": 10}
    # Entra's cycle per user: one filtered list and one add on the ADO side.
    assert result["ado_calls_by_endpoint"] == {
        "mem.userentitlements.add": 10,
        "mem.userentitlements.search": 10,
    }
    assert {"wall_s", "users_per_s", "ado_calls_per_user", "filter_ms", "create_ms"} <= result.keys()
