"""`bench/chaos.py` with a handful of items runs end to end, kills and restarts the host twice, and prints
every figure in its JSON line (figures only; the N = 2,000 run and its numbers are in the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_small_chaos_run_reports_every_figure(tmp_path: Path) -> None:
    args = ["--items", "10", "--edits", "2", "--quick", "--work-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "chaos.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1])

    figures = {
        "lost",
        "duplicates",
        "differing_fields",
        "lost_edits",
        "echo_writes",
        "dead_letters",
        "time_to_converge_s",
        "rest_calls_per_item",
    }
    assert figures <= result.keys()
    assert result["items"] == 11 and result["edits"] == {"pairs": 2, "same_field": 1}
    assert [k["when"].split(",")[0] for k in result["kills"]] == ["initial sync", "during the edits"]
    assert result["rest_calls_per_item"] > 0
    deliveries = result["hook_deliveries"]
    assert deliveries["server"] + deliveries["services"] > 0
    # The script's verdict and its exit status agree.
    goal = result["converged"] and not (
        result["lost"] or result["duplicates"] or result["differing_fields"] or result["echo_writes"]
    )
    assert done.returncode == (0 if goal else 1), done.stderr[-3000:]
