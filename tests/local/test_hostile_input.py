"""`tandem serve` under hostile input, over real sockets: a 200 MB body is refused without being buffered
(the serve process's memory measured with psutil), and the stack's `_local` routes answer bad query
parameters with 400."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from tests.local.test_serve import cli_env, kill_serve, read_line

pytestmark = pytest.mark.e2e
BODY = 200 * 1024 * 1024
CHUNK = 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[psutil.Process, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "serve"],
        cwd=home,
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line(proc, 40)
        if not line:
            proc.kill()
            pytest.fail(f"no JSON line; stderr:\n{proc.communicate(timeout=10)[1][-3000:]}")
        yield psutil.Process(proc.pid), json.loads(line)
    finally:
        kill_serve(proc)


def post_huge(url: str, headers: dict[str, str], chunked: bool) -> tuple[int, bytes, int]:
    """POST a 200 MB body over a raw socket while reading the answer; returns (status, body, bytes sent)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = [0]

    def send() -> None:
        block = b"[" * CHUNK
        try:
            while sent[0] < BODY:
                sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, block) if chunked else block)
                sent[0] += CHUNK
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection after answering: the rest is never read

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sender.join(60)
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer.partition(b"\r\n\r\n")[2], sent[0]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("credentials", [False, True], ids=["anonymous", "authenticated"])
def test_a_200_mb_body_is_refused_without_being_buffered(stack, chunked: bool, credentials: bool) -> None:
    process, info = stack
    creds = info["credentials"]
    url = f"{info['functions']}/hooks/ado-server/{info['scenarios'][0]}"
    headers = {}
    if credentials:
        user, password = creds["hook"]["username"], creds["hook"]["password"]
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        status, _, _sent = post_huge(url, headers, chunked)
    finally:
        done.set()
        watcher.join(5)
    grown = (max(peak[0], process.memory_info().rss) - before) / 1024 / 1024
    assert grown < 8, f"the serve process grew by {grown:.1f} MB"
    assert status == 413, status


def test_deeply_nested_json_gets_400_over_http(stack) -> None:
    _, info = stack
    creds = info["credentials"]
    api, key, scenario = info["functions"], creds["functions_key"], info["scenarios"][0]
    user, password = creds["hook"]["username"], creds["hook"]["password"]
    bomb = b"[" * 100_000 + b"]" * 100_000
    hook = httpx.post(f"{api}/hooks/ado-server/{scenario}", content=bomb, auth=(user, password), timeout=30)
    assert hook.status_code == 400 and "nests deeper" in hook.json()["error"]
    body = b'{"direction":' + bomb + b"}"
    run = httpx.post(f"{api}/scenarios/{scenario}/run", content=body, headers={"x-functions-key": key})
    assert run.status_code == 400


def test_unknown_scenario_and_wrong_password_get_the_same_401(stack) -> None:
    _, info = stack
    creds = info["credentials"]
    api, scenario = info["functions"], info["scenarios"][0]
    user, password = creds["hook"]["username"], creds["hook"]["password"]
    answers = [
        httpx.post(f"{api}/hooks/ado-server/no-such-scenario", content=b"{}", auth=(user, password)),
        httpx.post(f"{api}/hooks/ado-server/{scenario}", content=b"{}", auth=(user, "not-the-password")),
        httpx.post(f"{api}/hooks/left/{scenario}", content=b"{}", auth=(user, password)),
        httpx.post(f"{api}/hooks/azure_devops/{scenario}", content=b"{}", auth=(user, password)),
    ]
    assert {(a.status_code, a.content) for a in answers} == {(401, answers[0].content)}


@pytest.mark.parametrize(
    ("route", "method", "query"),
    [
        ("idle", "GET", "timeout=soon"),
        ("idle", "GET", "timeout=nan"),
        ("idle", "GET", "timeout=1e9"),
    ],
)
def test_local_routes_answer_bad_query_parameters_with_400(stack, route: str, method: str, query: str):
    _, info = stack
    root = info["functions"].removesuffix("/api")
    headers = {"x-functions-key": info["credentials"]["functions_key"]}
    resp = httpx.request(method, f"{root}/_local/{route}?{query}", headers=headers, timeout=30)
    assert resp.status_code == 400, resp.text
    assert "query parameter" in resp.json()["error"]
    ok = httpx.request(method, f"{root}/_local/{route}", headers=headers, timeout=60)
    assert ok.status_code == 200


def test_the_config_route_refuses_nested_json_and_foreign_urls(stack) -> None:
    _, info = stack
    api = info["functions"]
    key = {"x-functions-key": info["credentials"]["functions_key"], "If-Match": "*"}
    nested = httpx.put(f"{api}/config", content=b"[" * 5000 + b"]" * 5000, headers=key, timeout=30)
    assert nested.status_code == 400
    metadata = {
        "connections": {"x": {"type": "azure_devops", "url": "http://169.254.169.254/latest"}},
    }
    refused = httpx.put(f"{api}/config", json=metadata, headers=key, timeout=30)
    assert refused.status_code == 400 and "instances.x.url" in refused.json()["field"], refused.json()
    assert httpx.put(f"{root_of(api)}/_local/config", json=metadata, headers=key).status_code == 404  # gone


def root_of(api: str) -> str:
    return api.removesuffix("/api")
