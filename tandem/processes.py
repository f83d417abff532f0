"""Local tools as child processes, each started from its command line and known by the JSON line it prints:
a standalone emulator (`python -m emulators.ado`) and `tandem serve`. For the chaos bench and the restart
tests, which must kill the functions host (SIGKILL) while the systems it syncs keep running.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class ChildError(RuntimeError):
    pass


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment with the repository importable, minus any setting that would point at real Azure."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AzureWebJobsStorage", "ServiceBus", "TANDEM_SECRET_", "KEY_VAULT"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


class Child:
    """One child process whose first stdout line starting with `{` describes it; stderr goes to `log`."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log: str | os.PathLike[str] | None = None,
    ) -> None:
        self.args = [str(a) for a in args]
        self.env = dict(env) if env is not None else python_env()
        self.cwd = cwd
        self.log_path = Path(log) if log is not None else None
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        if self.log_path is not None:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not selector.select(max(deadline - time.monotonic(), 0.01)):
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                self.info = json.loads(line)
                return self.info
        self.stop()
        where = f"; see {self.log_path}" if self.log_path else ""
        raise ChildError(f"{' '.join(self.args[:4])} did not describe itself within {timeout:.0f} s{where}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would end it: nothing runs on its way down."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait (SIGKILL if it does not end in time)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ado_emulator(flavor: str, pat: str, *, log: str | os.PathLike[str] | None = None) -> Child:
    """`python -m emulators.ado` on a free port; `start()` returns its baseUrl/controlUrl line."""
    args = [sys.executable, "-m", "emulators.ado", "--flavor", flavor, "--pat", pat]
    return Child(args, cwd=REPO_ROOT, log=log)


def tandem_serve(
    config: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str],
    port: int | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
    extra: Sequence[str] = ("--no-emulators",),
) -> Child:
    """`tandem serve --data-dir …` with this configuration; `start()` returns its JSON line."""
    args = [sys.executable, "-m", "tandem.cli", "serve", "--config", str(config), "--data-dir", str(data_dir)]
    if port is not None:
        args += ["--port", str(port)]
    return Child([*args, *extra], env=env, cwd=cwd, log=log)


def wait_gone(pid: int, timeout: float = 30.0) -> bool:
    """True once no process has this id (a killed child's own children may take a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return False
