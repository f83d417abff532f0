"""The function app's registry: triggers, routes, auth levels, schedules, connections; handlers with real
`azure.functions` objects on a local stack (Azurite + local queue)."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

import function_app
from tandem.host import _built_functions
from tests.support.harness import HOOK_PASSWORD

FUNCS = {f.get_function_name(): f for f in _built_functions(function_app.app)}  # indexing twice fails


def bindings(name: str) -> list[dict]:
    return json.loads(FUNCS[name].get_function_json())["bindings"]


def trigger(name: str) -> dict:
    return next(b for b in bindings(name) if b["direction"] == "IN")


def test_registered_functions():
    assert set(FUNCS) == {
        "poll_timer",
        "poll_worker",
        "item_worker",
        "service_hook",
        "admin_scenarios",
        "admin_api",
        "admin_config",
        "admin_openapi",
        "scim",
        "health",
        "console",
    }


def test_timer_uses_the_poll_schedule_setting():
    t = trigger("poll_timer")
    assert t["type"] == "timerTrigger"
    assert t["schedule"] == "%POLL_SCHEDULE%"
    assert t["runOnStartup"] is False and t["useMonitor"] is True


@pytest.mark.parametrize(
    ("name", "queue"), [("poll_worker", "%POLL_QUEUE%"), ("item_worker", "%ITEM_QUEUE%")]
)
def test_service_bus_triggers_are_session_enabled_identity_connections(name, queue):
    t = trigger(name)
    assert t["type"] == "serviceBusTrigger"
    assert t["queueName"] == queue
    assert (
        t["connection"] == "ServiceBusConnection"
    )  # prefix of ServiceBusConnection__fullyQualifiedNamespace
    assert t["isSessionsEnabled"] is True
    # items come in batches of one session (a PWA project's tasks are written in one cycle)
    assert t.get("cardinality", "one").lower() == ("many" if name == "item_worker" else "one")
    # no output bindings: they cannot set SessionId / MessageId, the SDK sends instead
    assert all(b["type"] != "serviceBus" for b in bindings(name))


@pytest.mark.parametrize(
    ("name", "route", "methods", "auth"),
    [
        ("service_hook", "hooks/{system}/{scenario}", ["POST"], "ANONYMOUS"),
        ("admin_openapi", "openapi.json", ["GET"], "FUNCTION"),
        ("health", "health", ["GET"], "ANONYMOUS"),
        ("scim", "scim/v2/{*path}", ["GET", "POST", "PUT", "PATCH", "DELETE"], "ANONYMOUS"),
    ],
)
def test_http_routes(name, route, methods, auth):
    t = trigger(name)
    assert t["type"] == "httpTrigger"
    assert t["route"] == route
    assert t["methods"] == methods
    assert t["authLevel"] == auth


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("admin_scenarios", "scenarios/{*path}"),
        ("admin_config", "config/{*path}"),
        ("admin_api", "admin/{*path}"),
    ],
)
def test_admin_api_routes_take_every_method_behind_the_function_key(name, route):
    t = trigger(name)
    assert t["route"] == route and t["authLevel"] == "FUNCTION"
    assert not t.get("methods") or set(t["methods"]) >= {"GET", "POST", "PUT", "PATCH", "DELETE"}


# What importing the app may load besides the standard library: azure.functions and its own dependencies.
# Its cold-start time is a figure printed by bench/import_time.py, not a timed test.
ALLOWED_ON_IMPORT = ("azure.functions", "werkzeug", "markupsafe")


def test_importing_function_app_loads_only_azure_functions():
    probe = (
        "import json, sys; before = set(sys.modules); import function_app; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", probe], text=True))
    assert "function_app" in loaded
    outside = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and name not in ("function_app", "azure")  # `azure` is the namespace package
        and not name.startswith(ALLOWED_ON_IMPORT)
    ]
    # e.g. sync.*, pydantic, httpx, azure.data.tables, azure.servicebus, azure.identity, opentelemetry
    assert outside == [], f"import function_app loads {outside}: import them inside the functions"


def call(name: str, *args):
    result = FUNCS[name].get_user_function()(*args)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def _request(method: str, url: str, route_params: dict, body: bytes = b"", headers=None) -> func.HttpRequest:
    return func.HttpRequest(
        method=method, url=url, headers=headers or {}, route_params=route_params, body=body
    )


def test_hook_handler_enqueues_and_answers_fast(harness):
    rec = harness.left.add(title="A")
    auth = "Basic " + base64.b64encode(f"tandem:{HOOK_PASSWORD}".encode()).decode()
    body = json.dumps({"eventType": "item.changed", "id": rec.id, "version": "1", "container": "P1"}).encode()
    started = time.perf_counter()
    resp = call(
        "service_hook",
        _request(
            "POST",
            "/api/hooks/mem-left/demo",
            {"system": "mem-left", "scenario": "demo"},
            body,
            {"Authorization": auth},
        ),
    )
    assert time.perf_counter() - started < 1.0
    assert resp.status_code == 202
    assert json.loads(resp.get_body()) == {"enqueued": 1, "ignored": 0}
    assert harness.right.creates == 0  # nothing written in the request: the worker does that
    harness.drain()
    assert harness.right.creates == 1


def test_hook_handler_rejects_wrong_credentials(harness):
    auth = "Basic " + base64.b64encode(b"tandem:nope").decode()
    resp = call(
        "service_hook",
        _request(
            "POST",
            "/api/hooks/mem-left/demo",
            {"system": "mem-left", "scenario": "demo"},
            b"{}",
            {"Authorization": auth},
        ),
    )
    assert resp.status_code == 401
    assert harness.drain() == 0


def test_run_and_status_handlers(harness):
    harness.left.add(title="A")
    resp = call("admin_scenarios", _request("POST", "/api/scenarios/demo/run", {"scenario": "demo"}, b""))
    assert resp.status_code == 202
    assert json.loads(resp.get_body())["enqueued"] == ["left_to_right", "right_to_left"]
    harness.drain()
    resp = call("admin_scenarios", _request("GET", "/api/scenarios/demo/status", {"scenario": "demo"}))
    status = json.loads(resp.get_body())
    assert resp.status_code == 200
    assert status["links"] == {"total": 1, "linked": 1}
    assert {r["direction"] for r in status["runs"]} == {"left_to_right", "right_to_left"}


def test_run_handler_errors(harness):
    resp = call("admin_scenarios", _request("POST", "/api/scenarios/nope/run", {"scenario": "nope"}))
    assert resp.status_code == 404
    resp = call(
        "admin_scenarios",
        _request("POST", "/api/scenarios/demo/run", {"scenario": "demo"}, b'{"direction": "sideways"}'),
    )
    assert resp.status_code == 400 and "direction" in json.loads(resp.get_body())["error"]
    assert json.loads(resp.get_body())["field"] == "direction"


def test_item_worker_handles_a_real_service_bus_message(harness):
    rec = harness.left.add(title="A")
    body = {
        "scenario": "demo",
        "direction": "left_to_right",
        "entity": "item",
        "source_id": rec.id,
        "source_version": "1",
        "session": f"demo|left_to_right|i|{rec.id}",
    }
    msg = ServiceBusMessage(
        body=json.dumps(body).encode(),
        message_id="m1",
        session_id=body["session"],
        delivery_count=1,
        enqueued_time_utc=datetime.now(UTC),
        application_properties={},
        user_properties={},
    )
    call("item_worker", [msg])
    assert harness.right.creates == 1


def test_timer_enqueues_due_polls(harness):
    from azure.functions.timer import TimerRequest

    harness.clock.advance(-harness.clock().second)  # on a minute boundary: every '0 * * * * *' is due
    call("poll_timer", TimerRequest(past_due=False))
    assert harness.drain() == 2  # one poll per direction, each due by its own schedule


def test_ensure_hooks_creates_and_repairs_subscriptions(harness, monkeypatch):
    from sync import telemetry

    disabled = []
    monkeypatch.setattr(telemetry, "hook_subscription_disabled", lambda *a: disabled.append(a))
    harness.services.settings = harness.services.settings.model_copy(
        update={"public_base_url": "https://tandem-contoso.azurewebsites.net"}
    )
    resp = call("admin_scenarios", _request("POST", "/api/scenarios/demo/hooks", {"scenario": "demo"}))
    checks = json.loads(resp.get_body())["checks"]
    assert resp.status_code == 200
    assert {c["connection"]: c["created"] for c in checks} == {"mem-left": ["P1"], "mem-right": ["Q1"]}
    url = harness.left.subscriptions["P1"]["url"]
    # The query names the version of the hook secret the subscription was given (never the secret).
    assert url.startswith("https://tandem-contoso.azurewebsites.net/api/hooks/mem-left/demo?v=")
    assert HOOK_PASSWORD not in url
    harness.left.subscriptions["P1"]["enabled"] = False  # the system gave up after failed deliveries
    resp = call("admin_scenarios", _request("POST", "/api/scenarios/demo/hooks", {"scenario": "demo"}))
    checks = json.loads(resp.get_body())["checks"]
    assert [c["repaired"] for c in checks if c["connection"] == "mem-left"] == [["P1"]]
    assert harness.left.subscriptions["P1"]["enabled"] is True
    assert disabled == [("demo", "mem-left", "P1")]  # the alert's event


def test_ensure_hooks_needs_the_public_url(harness):
    resp = call("admin_scenarios", _request("POST", "/api/scenarios/demo/hooks", {"scenario": "demo"}))
    assert resp.status_code == 409 and "PUBLIC_BASE_URL" in json.loads(resp.get_body())["error"]
