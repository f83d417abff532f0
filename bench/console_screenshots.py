"""Screenshots of the admin console for the README: starts `tandem serve` (ADO Server <-> Services emulators),
makes runs, a conflict flagged on both systems and a dead letter, then photographs the pages in Debian's
headless Chromium at 1366x768.

    .venv/bin/python bench/console_screenshots.py [--out docs/screenshots]

Writes overview.png, conflicts.png and failures.png into --out (PNG).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.browser import (  # noqa: E402 (the repository on the path first)
    SCENARIO,
    flagging_demo_config,
    make_conflict,
    make_dead_letter,
    open_page,
    poll,
    require_chromium,
    signed_in_page,
    start_serve,
    synced_pair,
)

PAGES = {
    "overview.png": "index.html",
    "conflicts.png": f"conflicts.html?scenario={SCENARIO}",
    "failures.png": f"failures.html?scenario={SCENARIO}",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    require_chromium()  # before the stack starts: say what is missing at once
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tandem-shots-") as home:
        stack = start_serve(Path(home), flagging_demo_config())
        try:
            for name in ("Plan the cut-over", "Move the build agents", "Retire the old collection"):
                synced_pair(stack, name)
            poll(stack, "right_to_left")
            make_conflict(stack, "Release date")
            make_dead_letter(stack, "Migrate the wiki")
            with signed_in_page(stack) as page:
                for file, path in PAGES.items():
                    open_page(page, stack, path)
                    page.screenshot(path=str(args.out / file), full_page=False)
                    print(args.out / file)
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
