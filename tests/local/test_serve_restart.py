"""`tandem serve --data-dir` killed with SIGKILL mid-sync and started again keeps its tables and its queue:
every item queued or scheduled at the kill is delivered afterwards, none is lost and none is created twice.

The two ADO emulators run as their own processes (`python -m emulators.ado`) so that they outlive the stack,
as real systems would; the stack reaches them with `--no-emulators` and URLs/PATs from the environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tandem.configfile import DEMO_CONFIG, dump_document
from tandem.demo import StackClient, wait_for
from tandem.processes import Child, ado_emulator, python_env, tandem_serve

pytestmark = pytest.mark.e2e

SCENARIO = "ado-server-services"
NEVER = "0 0 0 1 1 *"  # no timer polls: the test enqueues each poll itself
PATS = {"server": "restart-server-pat-0123456789", "services": "restart-services-pat-0123456789"}


@contextlib.contextmanager
def emulator_processes(
    folder: Path, pats: dict[str, str], seeds: dict[str, dict[str, Any]]
) -> Iterator[dict[str, dict[str, Any]]]:
    """Both ADO emulators as their own processes, each seeded with its body (one control call each)."""
    children = {flavor: ado_emulator(flavor, pats[flavor], log=folder / f"{flavor}.log") for flavor in pats}
    try:
        info = {flavor: child.start() for flavor, child in children.items()}
        with httpx.Client(timeout=120) as http:
            for flavor, seed in seeds.items():
                http.post(f"{info[flavor]['controlUrl']}/seed", json=seed).raise_for_status()
        yield info
    finally:
        for child in children.values():
            child.stop()


@pytest.fixture
def systems(tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    seeds = {
        "server": {"projects": [{"name": "Fabrikam"}]},
        "services": {"projects": [{"name": "Fabrikam-Cloud"}]},
    }
    with emulator_processes(tmp_path, PATS, seeds) as info:
        yield info


def config_file(folder: Path, extra_rules: tuple[dict[str, str], ...] = (), hooks: bool = True) -> Path:
    """The demo configuration with no timer polls (and, with `hooks` False, no service hooks either)."""
    document = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    document["field_maps"]["ado-server-to-services"] += list(extra_rules)
    for direction in document["scenarios"][0]["directions"].values():
        direction["schedule"] = NEVER
        direction["hooks"] = hooks
    path = folder / "config.yaml"
    path.write_text(dump_document(document), encoding="utf-8")
    return path


def client(
    serve_info: dict[str, Any], systems: dict[str, dict[str, Any]], pats: dict[str, str] = PATS
) -> StackClient:
    """The stack of `tandem serve --no-emulators` and the two emulator processes it reaches."""
    info = {
        **serve_info,
        "ado_server": systems["server"]["baseUrl"],
        "ado_services": systems["services"]["baseUrl"],
        "credentials": {
            **serve_info["credentials"],
            "ado_server": {"pat": pats["server"]},
            "ado_services": {"pat": pats["services"]},
        },
    }
    return StackClient(info, httpx.Client(timeout=120))


def seed_items(stack: StackClient, first: int, count: int) -> None:
    items = [
        {"project": "Fabrikam", "type": "Task", "fields": {"System.Title": f"Restart item {i}"}}
        for i in range(first, first + count)
    ]
    stack.server.control("POST", "seed", {"workItems": items})


def queue_counts(stack: StackClient) -> dict[str, dict[str, int]]:
    root = stack.api.removesuffix("/api")
    headers = {"x-functions-key": stack.key}
    reply = stack.http.get(f"{root}/_local/idle", params={"timeout": 0}, headers=headers)
    return dict(reply.json()["queues"])


def services_titles(stack: StackClient) -> list[str]:
    ids = stack.services.ids_in("Fabrikam-Cloud")
    return sorted(str(stack.services.get(i)["fields"]["System.Title"]) for i in ids)


def stack_env(
    systems: dict[str, dict[str, Any]], tmp_path: Path, pats: dict[str, str] = PATS
) -> dict[str, str]:
    """A `tandem serve --no-emulators` (and `tandem`) environment reaching the two emulator processes."""
    return python_env(
        {
            "ADO_SERVER_URL": systems["server"]["baseUrl"],
            "ADO_SERVICES_URL": systems["services"]["baseUrl"],
            "TANDEM_SECRET_ADO_SERVER_PAT": pats["server"],
            "TANDEM_SECRET_ADO_SERVICES_PAT": pats["services"],
            "TANDEM_HOME": str(tmp_path / "home"),
        }
    )


def test_sigkill_mid_sync_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, systems: dict[str, dict[str, Any]]
) -> None:
    env = stack_env(systems, tmp_path)
    config, data = config_file(tmp_path), tmp_path / "data"
    log = tmp_path / "serve.log"

    def serve() -> Child:
        return tandem_serve(config, data, env=env, cwd=tmp_path, log=log)

    first = serve()
    try:
        stack = client(first.start(), systems)
        # Ten items synced before the crash: their links must survive it.
        seed_items(stack, 0, 10)
        stack.run(SCENARIO, "left_to_right")
        wait_for("the first ten items are in Services", lambda: len(services_titles(stack)) == 10, 60)
        stack.settle(60)

        # Ten more, while Services throttles every call: their messages wait, scheduled, for the Retry-After.
        stack.services.add_fault(endpoint="*", status=429, retryAfter=5, times=None)
        seed_items(stack, 10, 10)
        stack.run(SCENARIO, "left_to_right")
        wait_for(
            "throttled items are scheduled for a retry",
            lambda: queue_counts(stack)["tandem-items"]["scheduled"] >= 5,
            60,
        )
    finally:
        first.kill()
    stack.services.clear_faults()  # Services answers again once the stack is down
    stack.close()

    second = serve()
    try:
        stack = client(second.start(), systems)
        assert stack.key == first.info["credentials"]["functions_key"]  # the keys live in the data folder
        assert stack.status(SCENARIO)["links"]["total"] >= 10  # the links table survived the kill
        wanted = sorted(f"Restart item {i}" for i in range(20))
        wait_for("all twenty items are in Services", lambda: services_titles(stack) == wanted, 90, 0.5)
        stack.settle(60)
        assert services_titles(stack) == wanted  # none lost, none created twice
        status = stack.status(SCENARIO)
        assert status["links"]["total"] == 20
        assert status["dead_letters"] == []
        stack.close()
    finally:
        second.stop()
    assert "restored queues" in log.read_text(encoding="utf-8")


def test_a_data_folder_serves_one_stack_at_a_time_and_keeps_its_keys(tmp_path: Path) -> None:
    from tandem.stack import DataDirBusy, LocalStack

    first, second = LocalStack(data_dir=tmp_path), LocalStack(data_dir=tmp_path)
    first._open_data_dir(tmp_path)
    try:
        with pytest.raises(DataDirBusy, match="in use by another"):
            second._open_data_dir(tmp_path, wait=0.3)
    finally:
        first.stop()
    second._open_data_dir(tmp_path, wait=5)  # free once the first has stopped
    try:
        assert (second.functions_key, second.hook_password) == (first.functions_key, first.hook_password)
        assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0  # private: it holds the keys
    finally:
        second.stop()
