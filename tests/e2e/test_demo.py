"""`tandem demo` as a person runs it: a narrated sync that ends with a summary and exit 0 once both sides
converged, leaving no process behind; Ctrl-C stops it and everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psutil
import pytest

from tandem.configfile import DEMO_CONFIG

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
# Deadlines, not waits: generous so that a loaded machine only makes the demo slower. Its duration is a
# figure of `make demo`, not something a test asserts.
START_WAIT = 120.0
STEP_WAIT = 60.0
RUN_WAIT = 300.0


class Demo:
    """`tandem demo` in a subprocess, its stdout collected line by line."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AzureWebJobsStorage", "ServiceBus", "TANDEM"))
        }
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env["TANDEM_HOME"] = str(cwd / ".tandem")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tandem.cli", "demo", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, prefix: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(line.startswith(prefix) for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self._changed.wait(min(left, 0.2))
            return True

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def finish(self, timeout: float) -> tuple[int, str, str]:
        try:
            self.proc.wait(timeout)
        finally:
            self.kill()
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode, "\n".join(self.lines), "\n".join(self.errors)

    def kill(self) -> None:
        if self.proc.poll() is None:
            for child in self.children():
                child.kill()
            self.proc.kill()
            self.proc.wait(10)


def test_demo_narrates_a_converged_sync_and_exits_0(tmp_path: Path) -> None:
    demo = Demo(tmp_path, "--timeout", str(STEP_WAIT))
    assert demo.wait_for_line("1. Create", START_WAIT), demo.finish(10)
    children = demo.children()
    assert any("azurite" in " ".join(c.cmdline()) for c in children)
    code, out, err = demo.finish(RUN_WAIT)
    assert code == 0, f"{out}\n{err[-3000:]}"
    for step in (
        "1. Create on Server → appears in Services",
        "2. Update in Services → reaches Server",
        "3. Concurrent edits on both sides",
        "4. A throttled call is retried",
        "5. A poll of both directions writes nothing",
        "6. Summary",
    ):
        assert step in out
    assert "through the service hook" in out
    assert "Ann Chen <CONTOSO\\ann.chen>" in out and "Ann Chen <ann.chen@contoso.com>" in out
    assert "retried 1" in out
    assert "PEOPLE: CREATES / UPDATES" in out and "TANDEM: CREATES / UPDATES" in out
    assert "Converged: 2 linked pairs" in out and "NOT converged" not in out
    # Part 2: the PWA ↔ ADO sample configuration on the same stack.
    for step in (
        "7. Part 2: Project Online / Project Server (PWA) ↔ Azure DevOps Services",
        "8. Flagged PWA tasks → work items in Azure DevOps",
        "9. Progress in Azure DevOps → % complete and actual work in PWA (service hook)",
        "10. An update in PWA → Azure DevOps",
        "11. Part 2 summary",
    ):
        assert step in out
    assert "created the PWA enterprise custom fields" in out
    assert "Feature " in out and "Task " in out and "Bug " in out  # work items of the tasks' types
    assert "Ann Chen <ann.chen@contoso.com>" in out.split("8. Flagged", 1)[1]  # the assignment, by e-mail
    assert "'Review with legal' is not flagged and stays in PWA" in out
    assert "at 50% complete, actual work 6h" in out and "check-outs 1, publishes 1" in out
    assert "checked in again" in out
    assert "and Closed (100% → Closed)" in out
    assert "Converged: 3 PWA tasks ↔ work items" in out
    part3 = out.split("12. Part 3", 1)[1]  # PWA ↔ Planner
    assert "Design the screens  Design  2026-12-07" in part3 and "ann.chen@contoso.com" in part3
    assert "'Design the screens' in PWA: 75% complete" in part3
    assert "'Accessibility review' is now a task of PWA project 'Mobile App'" in part3
    assert "Converged: 3 PWA tasks ↔ Planner tasks" in part3
    part4 = out.split("17. Part 4", 1)[1]  # release pipelines, Server → Services
    assert "Dry run: pre-flight server-pipelines → services-pipelines: ready" in part4
    for entity in ("agent queue", "service connection", "variable group", "task group", "release definition"):
        assert f"\n     {entity} " in part4, entity  # a row Server id → Services id per linked item
    queue = next(line for line in part4.splitlines() if line.startswith("     agent queue "))
    assert queue.split()[-2:] == ["1", "2"]  # Server's queue 1 is Services' queue 2
    paths = part4.split("Where the ids sit", 1)[1].split("19. Part 4 summary", 1)[0]
    assert "deploymentInput.queueId: 1 → 2" in paths and "variableGroups[0]: 1 → 2" in paths
    assert ".inputs.ConnectedServiceName: " in paths and ".taskId: " in paths
    moved = [line.split(": ", 1)[1].split(" → ") for line in paths.splitlines() if " → " in line]
    assert len(moved) >= 6 and all(server_id != services_id for server_id, services_id in moved)
    assert "needs secret: Fabrikam Azure: authorization.parameters.serviceprincipalkey" in part4
    assert "tandem pipelines yaml Fabrikam-web --from services-pipelines" in part4 and "(2 stages" in part4
    assert "Converged: 5 items linked, no Server id left in the copy" in part4
    assert "the local stack is stopped" in out
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [c.cmdline() for c in alive]


def test_ctrl_c_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    assert demo.wait_for_line("1. Create", START_WAIT), demo.finish(10)
    children = demo.children()
    demo.proc.send_signal(signal.SIGINT)
    code, out, err = demo.finish(START_WAIT)
    assert code == 130, f"{out}\n{err[-3000:]}"
    assert "interrupted" in err
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [c.cmdline() for c in alive]


def test_demo_exits_1_and_says_what_differs_when_the_sides_do_not_converge(tmp_path: Path) -> None:
    # With conflicts flagged for a person, the title edited on both sides stays different.
    config = tmp_path / "flag.yaml"
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    assert "conflict: newest_wins" in text
    config.write_text(text.replace("conflict: newest_wins", "conflict: flag"), encoding="utf-8")
    # Each wait of the demo is bounded by --timeout: long enough for the steps that do converge on a loaded
    # machine, and the one that cannot converge costs only this much.
    demo = Demo(tmp_path, "--config", str(config), "--timeout", "20")
    code, out, err = demo.finish(RUN_WAIT)
    assert code == 1, f"{out}\n{err[-3000:]}"
    assert "concurrent edits are merged" in err
    assert "NOT converged" in out
    assert "System.Title: 'Checkout: invoice payment (Server wording)' ≠ " in out
    assert "the local stack is stopped" not in out  # it is, but the demo did not finish its story
