"""The admin console's browser-test support: a `tandem serve` subprocess, signing in, waiting for a page,
and accessibility checks done in the page (no downloads). Fixtures using it: tests/console/conftest.py."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from tandem.configfile import DEMO_CONFIG
from tandem.demo import StackClient, wait_for

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}  # a laptop screen: the console must be usable on it
START_DEADLINE = 240.0  # for `tandem serve` to print its line: generous, the machine may be loaded
WAIT_MS = 60_000  # Playwright's condition waits (never fixed sleeps)


@dataclass
class Served:
    """A running `tandem serve`: its JSON line, the function key, the console's URL and an admin client."""

    proc: subprocess.Popen[str]
    info: dict[str, Any]
    home: Path
    client: StackClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = StackClient(self.info)

    @property
    def key(self) -> str:
        return str(self.info["credentials"]["functions_key"])

    @property
    def api(self) -> str:
        return str(self.info["functions"]).rstrip("/")

    @property
    def console_url(self) -> str:
        return str(self.info.get("console") or f"{self.api}/console/")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait(30)


def serve_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AzureWebJobsStorage", "ServiceBus", "TANDEM"))
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["TANDEM_HOME"] = str(home / ".tandem")
    return env


def start_serve(home: Path, config: dict[str, Any] | None = None, *extra: str) -> Served:
    """`tandem serve` in `home` (with `config` written to a file and applied, else the demo's)."""
    home.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "tandem.cli", "serve", *extra]
    if config is not None:
        path = home / "tandem.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        args += ["--config", str(path)]
    log = (home / "serve.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        args, cwd=home, env=serve_env(home), stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    line = proc.stdout.readline() if selector.select(START_DEADLINE) else ""
    if not line:
        proc.kill()
        proc.wait(30)
        log.close()
        tail = (home / "serve.log").read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"`tandem serve` printed no JSON line within {START_DEADLINE:.0f} s:\n{tail}")
    return Served(proc, json.loads(line), home)


def require_chromium() -> str:
    """Debian's Chromium: `make test` installs it (apt-get install -y chromium) when it is missing."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
            "or set TANDEM_CHROMIUM to a Chromium binary; the console's browser tests need it"
        )
    return CHROMIUM


def sign_in(page: Any, served: Served) -> None:
    """The sign-in form, as a person fills it in: the function key `tandem serve` printed."""
    page.goto(served.console_url)
    page.get_by_label("Function key").fill(served.key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def open_page(page: Any, served: Served, path: str) -> None:
    """Go to a console page and wait until its script has rendered the data (`data-ready` on <body>)."""
    page.goto(served.console_url + path)
    page.wait_for_selector("body[data-ready]", state="attached")


AXE_LIKE = """() => {
  const problems = [];
  const named = (el) => {
    if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return true;
    if (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) return true;
    return !!el.closest('label');
  };
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    if (!named(el)) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    const name = (el.textContent || '').trim() || el.getAttribute('aria-label');
    if (!name) problems.push(`unnamed ${el.tagName.toLowerCase()}`);
    if (el.tabIndex < 0) problems.push(`unfocusable ${el.tagName.toLowerCase()} ${name}`);
  }
  for (const el of document.querySelectorAll('[onclick], div[role=button], span[role=button]')) {
    problems.push(`click-only widget ${el.outerHTML.slice(0, 60)}`);
  }
  const ids = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (ids.has(el.id)) problems.push(`duplicate id ${el.id}`);
    ids.add(el.id);
  }
  for (const table of document.querySelectorAll('table')) {
    if (!table.querySelector('caption')) problems.push('table without caption');
    if (!table.querySelector('th')) problems.push('table without headers');
  }
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  if (!document.querySelector('main')) problems.push('no main landmark');
  // Text contrast (WCAG AA 4.5:1) of every visible text element against its nearest opaque background.
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] === 1)) return c;
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || parseFloat(style.opacity) < 1) continue;
    const a = lum(rgb(style.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} of "${el.textContent.trim().slice(0, 30)}"`);
  }
  return problems;
}"""


def accessibility_problems(page: Any) -> list[str]:
    """Checks an axe-like audit makes, done in the page without downloads: labels, names, focusability,
    no click-only widgets, unique ids, table captions and headers, lang, one h1, main, text contrast."""
    return list(page.evaluate(AXE_LIKE))


def keyboard_reaches(page: Any, selector: str, limit: int = 200) -> bool:
    """Whether pressing Tab from the top of the page reaches the element (no mouse)."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    target = page.locator(selector).first.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", target):
            return True
    return False


OpenPage = Callable[[Any, Served, str], None]


# -- an ADO Server <-> Services stack with something to show: runs, a conflict, a dead letter ----------

SCENARIO = "ado-server-services"
NEVER = "0 0 0 1 1 *"  # once a year: no timer poll while a test or the screenshot script runs
WAIT = 120.0  # condition waits: generous, a loaded machine only makes them slower
TITLE = "System.Title"


def flagging_demo_config() -> dict[str, Any]:
    """The demo's connections and field map with conflicts flagged for a person, no service hooks and
    polls once a year: whoever drives it polls through the admin API when they mean to."""
    document = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    (scenario,) = document["scenarios"]
    scenario["conflict"] = "flag"
    scenario["directions"] = {
        d: {"schedule": NEVER, "start": "2026-01-01T00:00:00Z", "hooks": False}
        for d in ("left_to_right", "right_to_left")
    }
    return dict(document)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:6]}"


def poll(stack: Served, direction: str) -> None:
    stack.client.run_and_wait(SCENARIO, direction, WAIT)


def item(stack: Served, item_id: str, side: str = "left") -> dict[str, Any]:
    reply = stack.client.admin("GET", f"scenarios/{SCENARIO}/items", params={"id": item_id, "side": side})
    return dict(reply["item"])


def synced_pair(stack: Served, name: str) -> tuple[int, int]:
    """A Server story created and synced to Services: (server id, services id)."""
    created = stack.client.server.create("Fabrikam", "User Story", {TITLE: unique(name)})
    poll(stack, "left_to_right")
    right = item(stack, str(created["id"]))["right_id"]
    if not right:
        raise AssertionError(f"story {created['id']} was not linked")
    return int(created["id"]), int(right)


def make_conflict(stack: Served, name: str) -> tuple[int, int, str, str]:
    """A synced story whose title then changed on both systems, polled both ways: a flagged conflict.
    (server id, services id, Server's title, Services' title)."""
    server_id, services_id = synced_pair(stack, name)
    left, right = unique(f"{name}: Server says"), unique(f"{name}: Services says")
    stack.client.server.update(server_id, {TITLE: left})
    stack.client.services.update(services_id, {TITLE: right})
    poll(stack, "left_to_right")
    poll(stack, "right_to_left")
    return server_id, services_id, left, right


def dead_letter(stack: Served, source_id: str) -> dict[str, Any] | None:
    items = stack.client.admin("GET", "admin/deadletters", params={"scenario": SCENARIO})["items"]
    return next((d for d in items if d["source_id"] == source_id), None)


def make_dead_letter(stack: Served, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Server story whose create Services refuses once with a 400 (permanent: dead-lettered on the first
    attempt). (the Server work item, its dead letter)."""
    stack.client.services.add_fault(endpoint="wit.workitems.create", method="POST", status=400, times=1)
    created = stack.client.server.create("Fabrikam", "User Story", {TITLE: unique(name)})
    poll(stack, "left_to_right")
    dead, _ = wait_for("the create is dead-lettered", lambda: dead_letter(stack, str(created["id"])), WAIT)
    return created, dead


@contextmanager
def signed_in_page(stack: Served) -> Iterator[Any]:
    """Debian's headless Chromium at 1366x768, signed in to the stack's console (for the screenshot scripts;
    tests use the `console` fixture)."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            sign_in(page, stack)
            yield page
        finally:
            browser.close()
