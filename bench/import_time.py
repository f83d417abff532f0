"""Cold-start cost of the function app: how long `import function_app` takes in a fresh interpreter.

The Functions host imports `function_app.py` on every cold start, so it must only wire triggers (the
handlers import the engine inside each function). Each run is a new interpreter; the figure is the best
and the median of the runs (the best is the least disturbed by other work on the machine).

    .venv/bin/python bench/import_time.py            # 15 runs
    .venv/bin/python bench/import_time.py --runs 3

Prints a table, then one JSON line (starting with ``{``) holding every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import sys, time\n"
    "before = set(sys.modules)\n"
    "t = time.perf_counter()\n"
    "import function_app\n"
    "elapsed = time.perf_counter() - t\n"
    "print(elapsed, len(set(sys.modules) - before))\n"
)


def measure(runs: int) -> dict[str, float | int]:
    times, modules = [], 0
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(out[0]))
        modules = int(out[1])
    return {
        "runs": runs,
        "best_ms": round(min(times) * 1000, 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "worst_ms": round(max(times) * 1000, 1),
        "modules_loaded": modules,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    figures = measure(parser.parse_args().runs)
    print(f"import function_app, {figures['runs']} fresh interpreters:")
    for key in ("best_ms", "median_ms", "worst_ms", "modules_loaded"):
        print(f"  {key:<16} {figures[key]}")
    print(json.dumps({"import_function_app": figures}))


if __name__ == "__main__":
    main()
