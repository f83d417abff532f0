"""A screenshot of the console's set-up wizard for the README: starts an empty `tandem serve` (ADO Server <->
Services emulators, a project with work items on the Server), drives the wizard in Debian's headless Chromium
at 1366x768 through instances, project pair, fields, auto-map and schedule to the dry run, and photographs it.

    .venv/bin/python bench/wizard_screenshot.py [--out docs/screenshots]

Writes wizard.png into --out and prints the page interactions it took to get there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.browser import (  # noqa: E402 (the repository on the path first)
    require_chromium,
    signed_in_page,
    start_serve,
)
from tests.support.wizard import (  # noqa: E402
    EMPTY_CONFIG,
    Steps,
    add_instance,
    seed_world,
    wait_for_projects,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    require_chromium()  # before the stack starts: say what is missing at once
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tandem-wizard-shot-") as home:
        stack = start_serve(Path(home), EMPTY_CONFIG)
        try:
            seed_world(stack)
            with signed_in_page(stack) as page:
                steps = Steps(page)
                steps.open(stack, "wizard.html")
                add_instance(steps, stack, "ado-server", "ado_server")
                add_instance(steps, stack, "ado-services", "ado_services")
                steps.click("Next: Project pair")
                wait_for_projects(page, "Fabrikam", "Fabrikam-Cloud")
                steps.click("Save project pair")
                steps.click("Create fields on both systems")
                steps.click("Next: Field map")
                steps.click("Propose rules (auto-map)")
                page.locator("input[name='rules.0.left']").wait_for()
                steps.click("Save field map")
                page.get_by_label("Poll").wait_for()
                steps.click("Save schedule")
                steps.click("Run a dry run")
                page.locator(".dry-summary").wait_for()
                page.evaluate("() => { document.activeElement.blur(); scrollTo(0, 0); }")
                target = args.out / "wizard.png"
                page.screenshot(path=str(target), full_page=False)
                print(f"{target} ({steps.count} page interactions so far)")
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
