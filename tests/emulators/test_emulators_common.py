"""The shared emulator pieces in `emulators.common`: clock, counters, fault rules and the threaded server."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from emulators.common import Clock, Counters, FaultInjector, FaultRule, ServerThread, wait_until


def test_clock_freeze_advance_and_reset() -> None:
    clock = Clock()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    clock.freeze(at)
    assert clock.now() == at
    clock.advance(90)
    assert clock.now() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    clock.unfreeze()
    assert abs(clock.now().timestamp() - (at.timestamp() + 90)) < 5  # continues from where it stood
    clock.reset()
    assert abs(clock.now().timestamp() - datetime.now(UTC).timestamp()) < 5


def test_counters_patterns_and_snapshot() -> None:
    counters = Counters()
    for name in ("wit.wiql", "wit.workitems.get", "wit.workitems.get", "core.projects.list"):
        counters.record_call(name)
    counters.record_write("create", 2)
    assert counters.calls("wit.*") == 3 and counters.calls("wit.workitems.get") == 2 and counters.calls() == 4
    assert counters.writes("create") == 2 and counters.writes("update") == 0
    assert counters.snapshot()["totalWrites"] == 2
    counters.reset()
    assert counters.snapshot() == {"calls": {}, "writes": {}, "totalCalls": 0, "totalWrites": 0}


def test_fault_rules_are_consumed_in_order() -> None:
    faults = FaultInjector()
    first = faults.add(endpoint="wit.*", status=429, times=2)
    second = faults.add(FaultRule(endpoint="*", method="post", status=500, times=None))
    assert faults.take("GET", "wit.wiql") is first
    assert faults.take("GET", "core.projects.list") is None
    assert faults.take("POST", "wit.wiql") is first
    assert faults.take("POST", "wit.wiql") is second
    assert faults.take("POST", "wit.wiql") is second
    assert [r["remaining"] for r in faults.snapshot()["rules"]] == [None]
    faults.clear()
    assert faults.take("POST", "wit.wiql") is None


def test_a_fault_with_a_probability_hits_about_that_share_of_calls() -> None:
    faults = FaultInjector(seed=7)
    rule = {"endpoint": "wit.*", "status": 429, "times": None, "probability": 0.1}
    faults.add(FaultRule.model_validate(rule))
    faults.add(endpoint="wit.*", status=503, times=None, probability=0.5)
    hits = [faults.take("GET", "wit.workitems.get") for _ in range(10_000)]
    throttled = sum(1 for rule in hits if rule is not None and rule.status == 429)
    unavailable = sum(1 for rule in hits if rule is not None and rule.status == 503)
    assert 850 < throttled < 1150  # 10 %
    assert 4200 < unavailable < 4800  # half of the other 90 %
    assert faults.take("GET", "core.projects.list") is None


def test_a_probable_fault_counts_only_its_hits() -> None:
    faults = FaultInjector(seed=1)
    faults.add(endpoint="*", status=500, times=3, probability=0.25)
    hits = sum(1 for _ in range(1000) if faults.take("GET", "x") is not None)
    assert hits == 3
    assert faults.snapshot()["rules"] == []
    with pytest.raises(ValueError):
        FaultRule(probability=0)


def test_fault_rule_accepts_camel_case_and_rejects_unknown_keys() -> None:
    assert FaultRule.model_validate({"retryAfter": 2, "latencyMs": 5}).retry_after == 2
    with pytest.raises(ValueError):
        FaultRule.model_validate({"retry": 2})
    with pytest.raises(ValueError):
        FaultRule(times=0)


def test_server_thread_serves_and_stops() -> None:
    async def hello(_: Request) -> PlainTextResponse:
        return PlainTextResponse("hi")

    server = ServerThread(Starlette(routes=[Route("/", hello)]), name="test-server")
    port = server.start()
    assert server.running
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "hi"
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    assert not server.running


def test_server_thread_reports_a_taken_port() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        with pytest.raises(OSError):
            ServerThread(Starlette(), port=holder.getsockname()[1]).start()
    finally:
        holder.close()


def test_wait_until() -> None:
    calls = iter([False, False, True])
    assert wait_until(lambda: next(calls), timeout=1, interval=0)
    assert not wait_until(lambda: False, timeout=0.02)
