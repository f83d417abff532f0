"""Run the ADO emulator on its own: ``python -m emulators.ado --flavor services --port 8081``.

Prints one JSON line (``{"baseUrl", "controlUrl", "flavor", "pat"}``) once it listens, then serves until
SIGINT/SIGTERM. ``--seed file.json`` applies a ``POST /_emulator/seed`` body at start."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emulators.ado.control import Seed
from emulators.ado.emulator import DEFAULT_PAT, AdoEmulator
from emulators.common import serve_until_signalled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.ado", description=__doc__.splitlines()[0])
    parser.add_argument("--flavor", choices=("services", "server"), default="services")
    parser.add_argument("--name", help="organization (services) or collection (server) name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pat", default=DEFAULT_PAT)
    parser.add_argument("--bearer-token", help="also accept this Entra bearer token (services only)")
    parser.add_argument("--max-api-version", default="7.1")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--seed", type=Path, help="JSON file in the shape of POST /_emulator/seed")
    args = parser.parse_args(argv)

    emulator = AdoEmulator(
        args.flavor,
        org_or_collection=args.name,
        pat=args.pat,
        bearer_token=args.bearer_token,
        host=args.host,
        port=args.port,
        max_api_version=args.max_api_version,
        latency_ms=args.latency_ms,
    )
    seed = None
    if args.seed is not None:
        seed = Seed.model_validate(json.loads(args.seed.read_text(encoding="utf-8")))
    return serve_until_signalled(emulator, seed, {"flavor": args.flavor, "pat": args.pat})


if __name__ == "__main__":
    sys.exit(main())
