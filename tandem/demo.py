"""`tandem demo`: placeholder until the ADO Server ↔ Services demo lands (a narrated local sync)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    print(
        "tandem demo: the narrated demo is not written yet; meanwhile `tandem serve` runs the local stack.",
        file=sys.stderr,
    )
    return 1
