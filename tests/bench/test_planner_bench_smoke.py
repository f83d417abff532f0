"""`bench/planner_listing.py --quick` runs end to end and prints its JSON line (figures, no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_planner_listing_prints_pages_only() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "planner_listing.py"), "--quick", "--page-size", "100"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    assert result["tasks"] == 500 and result["minimum_pages"] == 5
    first, steady = result["first_poll"], result["no_change_poll"]
    assert first["pages"] == first["graph_calls"] == 5 and first["token_calls"] == 1
    # A no-change poll costs its listing pages and nothing else.
    assert steady["rest_calls"] == steady["pages"] == 5 and steady["writes"] == 0
    # The engine's no-change poll (the real poller, Azurite tables): the listing pages, bounded table calls.
    engine = result["engine_no_change_poll"]
    assert engine["first_poll_enqueued"] == 500 and engine["enqueued"] == 0
    assert engine["graph_calls"] == engine["listing_pages"] == 5
    assert engine["table_calls"] <= 10, engine["by_table"]
