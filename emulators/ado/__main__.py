"""Run the ADO emulator on its own: ``python -m emulators.ado --flavor services --port 8081``.

Prints one JSON line (``{"baseUrl", "controlUrl", "flavor", "pat"}``) once it listens, then serves until
SIGINT/SIGTERM. ``--seed file.json`` applies a ``POST /_emulator/seed`` body at start."""

from __future__ import annotations

import sys

from emulators.ado.emulator import AdoEmulator

if __name__ == "__main__":
    sys.exit(AdoEmulator.main(description=__doc__.splitlines()[0]))
