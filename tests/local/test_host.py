"""The local host serves, schedules and feeds whatever the app registered: routes, auth levels, timers and
queue triggers come from the registry, never from a second declaration."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import azure.functions as func
import httpx
import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

import function_app
from state.local_queue import LocalQueue
from state.queue import QueueMessage
from tandem.host import HostError, LocalHost, index_functions, resolve_setting, starlette_path

SETTINGS = {"SCHED": "* * * * * *", "Q": "jobs"}


def make_app(received: list | None = None, fail_first: bool = False) -> func.FunctionApp:
    """An app whose routes partly come from a blueprint, as a larger app would register them."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    bp = func.Blueprint()
    seen = received if received is not None else []
    failures = {"left": 1 if fail_first else 0}

    @bp.route(
        route="items/{item_id}/notes/{note}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS
    )
    def item_note(req: func.HttpRequest) -> func.HttpResponse:
        body = {
            "route": dict(req.route_params),
            "params": dict(req.params),
            "method": req.method,
            "body": req.get_body().decode(),
            "header": req.headers.get("X-Test"),
            "url": req.url,
        }
        return func.HttpResponse(
            json.dumps(body), status_code=201, mimetype="application/json", headers={"X-Out": "1"}
        )

    app.register_functions(bp)

    @app.route(route="guarded", methods=["GET"])  # auth level from the app: FUNCTION
    def guarded(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    @app.route(route="admin/thing", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
    def admin_thing(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("admin ok")

    @app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("handler bug")

    @app.timer_trigger(arg_name="timer", schedule="%SCHED%", run_on_startup=False)
    def tick(timer: func.TimerRequest) -> None:
        seen.append(timer)

    @app.service_bus_queue_trigger(
        arg_name="msg", connection="SB", queue_name="%Q%", is_sessions_enabled=True
    )
    def job(msg: func.ServiceBusMessage) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("transient")
        seen.append(msg)

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    host = LocalHost(
        make_app(), settings=SETTINGS, queue=LocalQueue(), key="k-123", route_prefix="api", timers=False
    )
    with host, httpx.Client(base_url=host.base_url, timeout=5) as http:
        yield http


def test_index_reads_the_registry():
    index = index_functions(make_app())
    http = {f.name: f for f in index.http}
    assert http["item_note"].route == "items/{item_id}/notes/{note}"
    assert http["item_note"].methods == ("GET", "POST")
    assert http["item_note"].auth_level == "anonymous"
    assert http["guarded"].auth_level == "function"
    assert http["admin_thing"].auth_level == "admin"
    assert [(t.name, t.schedule) for t in index.timers] == [("tick", "%SCHED%")]
    assert [(q.name, q.queue, q.sessions) for q in index.queues] == [("job", "%Q%", True)]


def test_index_of_an_app_indexed_before():
    app = make_app()
    app.get_functions()  # a second get_functions() would raise in azure-functions 1.26
    assert {f.name for f in index_functions(app).http} == {"item_note", "guarded", "admin_thing", "boom"}
    assert index_functions(app) is index_functions(app)


def test_the_function_app_itself():
    host = LocalHost(
        function_app.app, settings={"POLL_SCHEDULE": "0 * * * * *", "POLL_QUEUE": "p", "ITEM_QUEUE": "i"}
    )
    http = {f.route: f for f in host.index.http}
    assert http["hooks/{system}/{scenario}"].auth_level == "anonymous"
    assert http["scenarios/{*path}"].auth_level == "function"  # the admin API (an async function)
    assert http["openapi.json"].methods == ("GET",)
    assert host.timer_schedules == {"poll_timer": "0 * * * * *"}
    assert host.queue_names == {"poll_worker": "p", "item_worker": "i"}


def test_route_params_query_body_and_headers_reach_the_function(client: httpx.Client):
    r = client.post("/api/items/42/notes/first?x=1", content=b"hello", headers={"X-Test": "yes"})
    assert r.status_code == 201
    assert r.headers["x-out"] == "1"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["route"] == {"item_id": "42", "note": "first"}
    assert body["params"] == {"x": "1"}
    assert body["method"] == "POST"
    assert body["body"] == "hello"
    assert body["header"] == "yes"
    assert body["url"].endswith("/api/items/42/notes/first?x=1")


@pytest.mark.parametrize("path", ["/api/guarded", "/api/admin/thing"])
def test_function_and_admin_routes_need_the_key(client: httpx.Client, path: str):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"x-functions-key": "wrong"}).status_code == 401
    assert client.get(path, headers={"x-functions-key": "k-123"}).status_code == 200
    assert client.get(path, params={"code": "k-123"}).status_code == 200


def test_methods_prefix_and_failures(client: httpx.Client):
    assert client.delete("/api/items/1/notes/a").status_code == 405
    assert client.get("/guarded", headers={"x-functions-key": "k-123"}).status_code == 404  # prefix is api
    assert client.get("/api/boom").status_code == 500


def test_missing_setting_is_named():
    with pytest.raises(HostError, match="app setting Q is not set"):
        LocalHost(make_app(), settings={"SCHED": "* * * * * *"})
    assert resolve_setting("%A%-%B%", {"A": "1", "B": "2"}) == "1-2"


def test_route_templates():
    assert starlette_path("items/{id:int}") == ["/items/{id:int}"]
    assert starlette_path("files/{*rest}") == ["/files/{rest:path}", "/files"]
    assert starlette_path("things/{name?}") == ["/things/{name}", "/things"]
    assert starlette_path("a/{b:alpha}") == ["/a/{b}"]


def test_timer_fires_on_its_resolved_schedule_once_per_slot():
    received: list = []
    with LocalHost(make_app(received), settings=SETTINGS, queue=LocalQueue()) as host:
        deadline = time.monotonic() + 30  # a deadline: the loop ends as soon as it fired twice
        while len(host.timers[0].fired_at) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        fired = list(host.timers[0].fired_at)
    assert len(fired) >= 2
    assert fired[1] - fired[0] > 0.9  # every second, never the same slot twice
    timer = next(x for x in received if isinstance(x, TimerRequest))
    assert timer.past_due is False
    assert "Next" in timer.schedule_status


def test_queue_trigger_gets_a_service_bus_message_and_failures_are_redelivered():
    received: list = []
    queue = LocalQueue()
    host = LocalHost(make_app(received, fail_first=True), settings=SETTINGS, queue=queue, timers=False)
    with host:
        queue.send([QueueMessage(queue="jobs", body={"n": 1}, message_id="m-1", session_id="s-1")])
        assert queue.wait_idle(5)
    (msg,) = [x for x in received if isinstance(x, ServiceBusMessage)]
    assert json.loads(msg.get_body()) == {"n": 1}
    assert msg.message_id == "m-1"
    assert msg.session_id == "s-1"
    assert msg.delivery_count == 2  # the first delivery raised and was abandoned


def test_real_http_on_a_free_port_and_a_clean_stop():
    before = set(threading.enumerate())
    host = LocalHost(make_app(), settings=SETTINGS, queue=LocalQueue()).start()
    started = set(threading.enumerate()) - before
    try:
        r = httpx.get(f"{host.api_url}/items/7/notes/n", timeout=5)
        assert r.status_code == 201 and r.json()["route"]["item_id"] == "7"
        assert host.api_url.startswith("http://127.0.0.1:")
    finally:
        host.stop()
    assert started  # server, timer and worker threads
    assert not [t.name for t in started if t.is_alive()]
