"""`tandem serve`: run the local stack until interrupted; one JSON line on stdout says where everything is."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from state.redact import RedactingFilter, install_log_redaction, register

log = logging.getLogger("tandem.serve")


def configure_logging(level: int = logging.INFO) -> None:
    """Everything but the JSON line goes to stderr, with registered secrets masked."""
    install_log_redaction()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request chatter from the HTTP clients would drown the stack's own lines.
    for noisy in ("azure", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def write_stack_file(path: Path, info: dict[str, Any]) -> None:
    """The JSON line plus what other commands need to reach this stack; private, since it holds keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(info, out, indent=2)
    os.replace(tmp, path)


def serve(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    from azure.core.exceptions import AzureError

    from sync.config import ConfigError
    from tandem.azurite import AzuriteError
    from tandem.host import HostError
    from tandem.stack import DataDirBusy, LocalStack, state_dir

    original = sys.stdout
    out = stdout or original
    # Nothing but the JSON line may reach stdout, whatever a library prints.
    sys.stdout = sys.stderr
    configure_logging(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    stack = LocalStack(
        args.config,
        host=args.host,
        port=args.port,
        data_dir=getattr(args, "data_dir", None),
        **({"emulators": ()} if getattr(args, "no_emulators", False) else {}),
    )
    stack_file = state_dir() / "stack.json"
    wrote = False
    try:
        try:
            info = stack.start()
        except (ConfigError, HostError, AzuriteError, AzureError, DataDirBusy, OSError) as exc:
            print(f"tandem serve: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, ConfigError) else 1
        register(json.dumps(info["credentials"]))  # never log the credentials block as a whole either
        if "scim" in info:
            register(info["scim"]["token"])
        write_stack_file(stack_file, {**info, "pid": os.getpid(), "variables": stack.emulator_variables()})
        wrote = True
        out.write(json.dumps(info) + "\n")
        out.flush()
        log.info(
            "local stack ready in %.1f s: %s (scenarios: %s); admin console: %s; Ctrl-C to stop",
            time.monotonic() - started,
            info["functions"],
            ", ".join(info["scenarios"]) or "none",
            info["console"],
        )
        stop.wait()
        return 0
    finally:
        stack.stop()
        if wrote:
            _remove_if_ours(stack_file)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout = original
        log.info("local stack stopped")


def _remove_if_ours(path: Path) -> None:
    # Another `tandem serve` started later in the same directory owns the file now; leave it.
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
