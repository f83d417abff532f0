"""Run the Planner emulator on its own: ``python -m emulators.planner --port 8083``.

Prints one JSON line (``{"baseUrl", "controlUrl", "credentials"}``) once it listens, then serves until
SIGINT/SIGTERM. ``--seed file.json`` applies a ``POST /_emulator/seed`` body at start."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emulators.common import serve_until_signalled
from emulators.planner.control import Seed
from emulators.planner.emulator import DEFAULT_SECRET, PlannerEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.planner", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-secret", default=DEFAULT_SECRET)
    parser.add_argument("--page-size", type=int, default=400)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--seed", type=Path, help="JSON file in the shape of POST /_emulator/seed")
    args = parser.parse_args(argv)
    emulator = PlannerEmulator(
        host=args.host,
        port=args.port,
        client_secret=args.client_secret,
        page_size=args.page_size,
        latency_ms=args.latency_ms,
    )
    seed = None
    if args.seed is not None:
        seed = Seed.model_validate(json.loads(args.seed.read_text(encoding="utf-8")))
    return serve_until_signalled(emulator, seed, {"credentials": emulator.credentials()})


if __name__ == "__main__":
    sys.exit(main())
