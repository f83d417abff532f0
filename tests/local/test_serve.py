"""`tandem serve` as a person runs it: one JSON line within 20 s, the app's routes with their auth, the
hooks of the demo scenario, `tandem status` finding the stack, and a clean exit on Ctrl-C."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 180.0  # for subprocesses and HTTP calls: generous, so a loaded machine only makes this slower
pytestmark = pytest.mark.e2e


def _have_ado_emulator() -> bool:
    if importlib.util.find_spec("emulators.ado") is None:
        return False
    import emulators.ado

    return hasattr(emulators.ado, "AdoEmulator")


def cli_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AzureWebJobsStorage", "ServiceBus", "TANDEM"))
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["TANDEM_HOME"] = str(home / ".tandem")
    if not _have_ado_emulator():
        # Until the ADO emulator exists the demo file's URLs come from the environment, as for real systems.
        env["ADO_SERVER_URL"] = "http://127.0.0.1:9/DefaultCollection"
        env["ADO_SERVICES_URL"] = "http://127.0.0.1:9/fabrikam"
    return env


def tandem(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = DEADLINE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return ""
    return proc.stdout.readline()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], dict[str, str]]]:
    env = cli_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line(proc, DEADLINE)
        if not line:
            proc.kill()
            pytest.fail(f"no JSON line; stderr:\n{proc.communicate(timeout=10)[1][-3000:]}")
        yield proc, json.loads(line), env
    finally:
        kill_serve(proc)


def kill_serve(proc: subprocess.Popen[str]) -> None:
    """A `tandem serve` a test started, and its children (Azurite), gone."""
    if proc.poll() is None:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait(10)


def test_serve_lifecycle(served, tmp_path: Path):
    proc, info, env = served
    assert info["functions"].startswith("http://127.0.0.1:") and info["functions"].endswith("/api")
    assert info["tables"].startswith("http://127.0.0.1:")
    creds = info["credentials"]
    assert creds["functions_key"] and creds["hook"]["password"]
    assert "AccountKey=" in creds["tables"]["connection_string"]
    assert info["scenarios"] == ["ado-server-services"]
    if _have_ado_emulator():
        assert info["ado_server"].startswith("http://") and creds["ado_server"]["pat"]
        assert info["ado_services"].startswith("http://") and creds["ado_services"]["pat"]
    if importlib.util.find_spec("emulators.pwa") is not None:
        assert info["pwa"].startswith("http://") and info["pwa"].endswith("/sites/pwa")
        assert creds["pwa"]["password"] and creds["pwa"]["refresh_token"] and creds["pwa"]["token_url"]
    # The Planner emulator answers Graph with the credentials the JSON line reports.
    assert info["planner"].startswith("http://") and info["planner"].endswith("/v1.0")
    planner = creds["planner"]
    assert planner["client_secret"] and planner["refresh_token"] and planner["token_url"]
    token = httpx.post(
        planner["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": planner["client_id"],
            "client_secret": planner["client_secret"],
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=10,
    ).json()["access_token"]
    users = httpx.get(f"{info['planner']}/users", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert users.status_code == 200 and users.json()["value"]
    if _have_ado_emulator():
        # Both emulators' service hooks point at this stack's hook route for the scenario.
        for system in ("ado_server", "ado_services"):
            subs = httpx.get(
                f"{info[system]}/_apis/hooks/subscriptions",
                params={"api-version": "7.1"},
                auth=("", creds[system]["pat"]),
                timeout=DEADLINE,
            ).json()["value"]
            hook_url = f"{info['functions']}/hooks/{system.replace('_', '-')}/{info['scenarios'][0]}"
            assert {s["eventType"] for s in subs if s["consumerInputs"]["url"].split("?")[0] == hook_url} >= {
                "workitem.created",
                "workitem.updated",
            }, system
    stack_file = tmp_path / ".tandem" / "stack.json"
    assert json.loads(stack_file.read_text())["functions"] == info["functions"]

    api, key, scenario = info["functions"], creds["functions_key"], info["scenarios"][0]
    with httpx.Client(timeout=DEADLINE) as http:
        assert http.get(f"{api}/health").json() == {"status": "ok"}

        # Admin API: the function key is required.
        assert http.get(f"{api}/scenarios/{scenario}/status").status_code == 401
        status = http.get(f"{api}/scenarios/{scenario}/status", headers={"x-functions-key": key})
        assert status.status_code == 200 and status.json()["scenario"] == scenario

        # Service hooks: basic auth with the scenario's hook secret.
        hook = f"{api}/hooks/ado-services/{scenario}"
        wrong = "Basic " + base64.b64encode(b"tandem:not-the-password").decode()
        assert http.post(hook, content=b"{}", headers={"Authorization": wrong}).status_code == 401
        user, password = creds["hook"]["username"], creds["hook"]["password"]
        right = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        assert http.post(hook, content=b"{not json", headers={"Authorization": right}).status_code == 400

        if _have_ado_emulator():
            # SCIM: the base URL and bearer token are in the JSON line; provisioning goes to ado-services.
            scim = info["scim"]
            assert scim["url"] == f"{api}/scim/v2" and scim["token"]
            assert http.get(f"{scim['url']}/Users").status_code == 401
            bearer = {"Authorization": f"Bearer {scim['token']}"}
            listed = http.get(f"{scim['url']}/Users", headers=bearer)
            assert listed.status_code == 200 and listed.json()["totalResults"] == 0

    # The other commands find the stack through .tandem/stack.json.
    result = tandem(["status"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert f"Scenario {scenario}" in result.stdout and "Dead letters: 0" in result.stdout
    result = tandem(["status", scenario, "--json"], tmp_path, env)
    assert json.loads(result.stdout)["scenario"] == scenario
    result = tandem(["config", "apply", str(REPO / "tandem" / "demo_config.yaml")], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert scenario in result.stdout
    result = tandem(["run", scenario, "--no-wait"], tmp_path, env)
    assert result.returncode == 0 and "poll enqueued for left_to_right, right_to_left" in result.stderr
    result = tandem(["deadletters", "list", "--json"], tmp_path, env)
    assert result.returncode == 0 and isinstance(json.loads(result.stdout), list)
    root = api.removesuffix("/api")
    assert httpx.get(f"{root}/_local/scenarios").status_code == 401
    assert httpx.get(f"{root}/_local/scenarios", headers={"x-functions-key": key}).json() == [scenario]

    children = psutil.Process(proc.pid).children(recursive=True)
    cmdlines = [" ".join(c.cmdline()) for c in children]
    assert any("azurite" in c for c in cmdlines), cmdlines
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr[-3000:]
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, cmdlines
    assert not stack_file.exists()
    for secret in (key, password, info.get("scim", {}).get("token", password)):
        assert secret not in stderr  # credentials only ever on stdout's JSON line


def test_status_without_a_stack_says_what_to_set(tmp_path: Path):
    result = tandem(["status"], tmp_path, cli_env(tmp_path))
    assert result.returncode == 2
    assert "tandem serve" in result.stderr and "AzureWebJobsStorage" in result.stderr


def test_config_check_names_the_field(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "connections:\n  a: {type: azure_devops, url: ftp://x, auth: {kind: pat}}\n"
        "scenarios:\n  - {name: s, left: a, right: b, field_map: m, directions: {left_to_right: {}}}\n"
    )
    result = tandem(["config", "check", str(bad)], tmp_path, cli_env(tmp_path))
    assert result.returncode == 2
    assert "connections.a.url" in result.stderr
    assert "connections.a.auth" in result.stderr
    env = {**cli_env(tmp_path), "ADO_SERVER_URL": "https://tfs.contoso.com/tfs/DefaultCollection"}
    env["ADO_SERVICES_URL"] = "https://dev.azure.com/contoso"
    good = tandem(["config", "check", str(REPO / "tandem" / "demo_config.yaml")], tmp_path, env)
    assert good.returncode == 0, good.stderr
    assert "ado-server-services" in good.stdout
