"""Run the PWA emulator on its own: ``python -m emulators.pwa --flavor online --port 8082``.

Prints one JSON line (``{"baseUrl", "controlUrl", "flavor", "credentials"}``) once it listens, then serves
until SIGINT/SIGTERM. ``--seed file.json`` applies a ``POST /_emulator/seed`` body at start."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emulators.common import serve_until_signalled
from emulators.pwa.control import Seed
from emulators.pwa.emulator import DEFAULT_PASSWORD, PwaEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.pwa", description=__doc__.splitlines()[0])
    parser.add_argument("--flavor", choices=("online", "server"), default="online")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--time-zone", default="UTC")
    parser.add_argument("--queue-delay", type=float, default=0.2)
    parser.add_argument("--reporting-delay", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--seed", type=Path, help="JSON file in the shape of POST /_emulator/seed")
    args = parser.parse_args(argv)

    emulator = PwaEmulator(
        args.flavor,
        host=args.host,
        port=args.port,
        password=args.password,
        time_zone=args.time_zone,
        queue_delay=args.queue_delay,
        reporting_delay=args.reporting_delay,
        latency_ms=args.latency_ms,
    )
    seed = None
    if args.seed is not None:
        seed = Seed.model_validate(json.loads(args.seed.read_text(encoding="utf-8")))
    return serve_until_signalled(
        emulator, seed, {"flavor": args.flavor, "credentials": emulator.credentials()}
    )


if __name__ == "__main__":
    sys.exit(main())
