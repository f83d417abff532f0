"""Run the PWA emulator on its own: ``python -m emulators.pwa --flavor online --port 8082``.

Prints one JSON line (``{"baseUrl", "controlUrl", "flavor", "credentials"}``) once it listens, then serves
until SIGINT/SIGTERM. ``--seed file.json`` applies a ``POST /_emulator/seed`` body at start."""

from __future__ import annotations

import sys

from emulators.pwa.emulator import PwaEmulator

if __name__ == "__main__":
    sys.exit(PwaEmulator.main(description=__doc__.splitlines()[0]))
