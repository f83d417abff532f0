"""Browser tests of the admin console: a real `tandem serve` (Azurite, both ADO emulators, the function app)
and headless Chromium from the operating system's packages, driven by Playwright.

Fixtures (reused by every console page's tests; helpers in tests/support/browser.py):
- `stack`: one `tandem serve` per test module. The module picks its configuration with a module-level
  `SERVE_CONFIG`: a dict (the configuration document), a callable returning one, or None for the demo's.
- `browser`: one Chromium per module.
- `console`: a fresh page (1366x768) signed in to the console with the stack's function key; the test
  fails on any error the page logs (a script error, a Content-Security-Policy violation).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import (
    CHROMIUM_ARGS,
    VIEWPORT,
    WAIT_MS,
    Served,
    require_chromium,
    sign_in,
    start_serve,
)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = getattr(request.module, "SERVE_CONFIG", None)
    if callable(config):
        config = config()
    served = start_serve(tmp_path_factory.mktemp("console-stack"), config)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console(browser: Any, stack: Served) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, stack)
    try:
        yield page
    finally:
        context.close()
    # A script error or a CSP violation is a broken page, whatever the test saw. API answers the page
    # shows as errors are logged as failed resources: those are the tests' own business.
    real = [e for e in errors if "Failed to load resource" not in e]
    assert not real, f"the page logged errors: {real}"
