"""The console's frame through `tandem serve` in headless Chromium: signing in with the function key (a
refused key shown next to the key field), the nav bar by keyboard, the configuration history with its
diffs and a rollback made from the page, and the accessibility checks on what every page shares."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.browser import (
    CHROMIUM_ARGS,
    VIEWPORT,
    Served,
    accessibility_problems,
    keyboard_reaches,
    open_page,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
SCENARIO = "ado-server-services"


def test_the_console_is_served_anonymously_and_the_stack_says_where(stack: Served) -> None:
    assert stack.info["console"] == f"{stack.api}/console/"
    page = httpx.get(stack.info["console"], timeout=60)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # The data is not: the admin API still wants the key.
    assert httpx.get(f"{stack.api}/config/history", timeout=60).status_code == 401


def test_a_refused_key_is_shown_next_to_the_key_field(browser: Any, stack: Served) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(stack.console_url)
        assert accessibility_problems(page) == []
        key = page.get_by_label("Function key")
        key.fill("not-the-key")
        key.press("Enter")  # the keyboard signs in too
        error = page.locator("#err-key")
        error.wait_for()
        assert "refused" in error.inner_text()
        assert key.get_attribute("aria-invalid") == "true"
        assert "err-key" in (key.get_attribute("aria-describedby") or "")
        key.fill(stack.key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
        assert page.locator("#err-key").count() == 0
        # Signed in for the session: another page needs no second sign-in.
        open_page(page, stack, "history.html")
        assert page.get_by_label("Function key").count() == 0
    finally:
        context.close()


def test_nav_reaches_every_page_by_keyboard_with_visible_focus(console: Any, stack: Served) -> None:
    open_page(console, stack, "history.html")
    nav = console.get_by_role("navigation", name="Console pages")
    names = [a.inner_text() for a in nav.get_by_role("link").all()]
    assert names == [
        "Overview",
        "Set-up wizard",
        "Conflicts",
        "Failures and dead letters",
        "Item history",
        "Configuration history",
    ]
    assert nav.get_by_role("link", name="Configuration history").get_attribute("aria-current") == "page"
    assert keyboard_reaches(console, "nav a[href='conflicts.html']")
    outline = console.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "focus is not visible"
    console.keyboard.press("Enter")
    console.wait_for_url("**/conflicts.html")


def test_configuration_history_shows_diffs_and_rolls_back(console: Any, stack: Served) -> None:
    client = stack.client
    before = client.admin("GET", "config/history")
    integration = client.admin("GET", f"config/integrations/{SCENARIO}")["integration"]
    changed = {**integration, "sync_parent": not integration.get("sync_parent", False)}
    reply = client.http.put(
        f"{stack.api}/config/integrations/{SCENARIO}",
        params={"verify": "false"},
        json=changed,
        headers={"x-functions-key": stack.key, "If-Match": f'"{before["current"]}"'},
    )
    assert reply.status_code == 200, reply.text
    saved = reply.json()
    assert saved["version"] == before["current"] + 1

    open_page(console, stack, "history.html")
    version = console.get_by_role("region", name=f"Version {saved['version']} (current)")
    diff = version.get_by_role("table", name=f"Changes in version {saved['version']}")
    assert "sync_parent" in diff.inner_text()
    assert accessibility_problems(console) == []

    previous = before["current"]
    console.get_by_role("button", name=f"Roll back to version {previous}").click()
    console.get_by_role("region", name=f"Version {saved['version'] + 1} (current)").wait_for()
    assert console.get_by_role("status").inner_text().startswith(f"Restored version {previous}")
    restored = client.admin("GET", f"config/integrations/{SCENARIO}")["integration"]
    assert restored.get("sync_parent") == integration.get("sync_parent")


def test_chromium_runs_with_the_flags_the_project_allows() -> None:
    assert "--headless" in CHROMIUM_ARGS and "--no-sandbox" in CHROMIUM_ARGS
