"""Starts and stops Azurite's Table service (from the project's pinned node_modules) on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from sync.settings import AZURITE_ACCOUNT_KEY
from tandem.ports import free_port, wait_for_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In the child: ask Linux to send it `sig` when the process that started it dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: stop() still ends it on every orderly exit


def _interrupt_with_parent() -> None:
    # SIGINT is the signal Azurite answers by saving its database and closing; SIGTERM ends node at once.
    _die_with_parent(signal.SIGINT)


class AzuriteError(RuntimeError):
    pass


class Azurite:
    """One Azurite Table service process; `connection_string` points the SDK at it.

    In memory by default; with `location`, tables are kept in that folder (Azurite saves them every few
    seconds and when it is interrupted, which it is when the process that started it dies, even by SIGKILL).
    `pass_fds` are handed down to Azurite, e.g. a locked file that must stay locked until it has saved.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        location: str | os.PathLike[str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.location = Path(location) if location is not None else None
        self.pass_fds = pass_fds
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/devstoreaccount1"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_ACCOUNT_KEY};TableEndpoint={self.table_endpoint};"
        )

    @staticmethod
    def executable() -> str:
        local = REPO_ROOT / "node_modules" / ".bin" / "azurite-table"
        if local.exists():
            return str(local)
        found = shutil.which("azurite-table")
        if found:
            return found
        raise AzuriteError("Azurite is not installed: run `make test` or `npm ci` in the repository root.")

    def start(self, timeout: float = 20.0) -> Azurite:
        if self.location is not None:
            self.location.mkdir(parents=True, exist_ok=True)
            persistence = ["--location", str(self.location)]
        else:
            persistence = ["--inMemoryPersistence"]
        cmd = [
            self.executable(),
            *persistence,
            "--disableTelemetry",
            "--tableHost",
            self.host,
            "--tablePort",
            str(self.port),
        ]
        # Own process group so stop() also ends node's children, leaving nothing behind.
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_interrupt_with_parent if self.location is not None else _die_with_parent,
            pass_fds=self.pass_fds,
        )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise AzuriteError(f"Azurite did not start on {self.host}:{self.port} within {timeout:.0f} s.")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            # A persistent Azurite saves its tables on SIGINT before it exits.
            os.killpg(proc.pid, signal.SIGINT if self.location is not None else signal.SIGTERM)
            proc.wait(timeout=10 if self.location is not None else 5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
