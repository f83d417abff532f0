"""sync.telemetry: metrics reach an OpenTelemetry reader with the right attributes; without a connection
string nothing is configured and every call is a no-op; logs carry dimensions but never secrets.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint

from state import redact
from sync import telemetry

ROOT = Path(__file__).resolve().parents[1]
# An Application Insights connection string whose endpoint refuses connections at once.
DEAD_END_CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
)
# Keep the Azure Monitor distro off the network in subprocess runs: no statsbeat, no control plane,
# no VM metadata lookup.
QUIET_DISTRO_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
}


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """name -> [(attributes, value)]; value is the sum for counters, (sum, count) for histograms."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        value: Any = (point.sum, point.count)
                    else:
                        assert isinstance(point, NumberDataPoint)
                        value = point.value
                    out.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return out


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    telemetry.set_meter_provider_for_tests(provider)
    try:
        yield reader
    finally:
        telemetry.set_meter_provider_for_tests(None)
        provider.shutdown()


def test_every_metric_is_emitted_with_its_attributes(reader: InMemoryMetricReader) -> None:
    telemetry.items_synced("pwa-ado", "left_to_right", 3)
    telemetry.items_synced("pwa-ado", "left_to_right")
    telemetry.items_synced("pwa-planner", "right_to_left", 2)
    telemetry.conflict("pwa-ado", "right_to_left")
    telemetry.failure("pwa-ado", "left_to_right", "permanent")
    telemetry.hook_to_write_latency("pwa-ado", "right_to_left", 1.5)
    telemetry.hook_to_write_latency("pwa-ado", "right_to_left", 0.5)
    telemetry.queue_age("tandem-items", 4.0)
    telemetry.poll_succeeded("pwa-ado", "left_to_right")

    points = metric_points(reader)

    assert set(points) == set(telemetry.METRIC_NAMES)
    assert sorted(points["tandem.items_synced"], key=str) == sorted(
        [
            ({"scenario": "pwa-ado", "direction": "left_to_right"}, 4),
            ({"scenario": "pwa-planner", "direction": "right_to_left"}, 2),
        ],
        key=str,
    )
    assert points["tandem.conflicts"] == [({"scenario": "pwa-ado", "direction": "right_to_left"}, 1)]
    assert points["tandem.failures"] == [
        ({"scenario": "pwa-ado", "direction": "left_to_right", "kind": "permanent"}, 1)
    ]
    assert points["tandem.hook_to_write_latency"] == [
        ({"scenario": "pwa-ado", "direction": "right_to_left"}, (2.0, 2))
    ]
    assert points["tandem.queue_age"] == [({"queue": "tandem-items"}, (4.0, 1))]
    assert points["tandem.poll_succeeded"] == [({"scenario": "pwa-ado", "direction": "left_to_right"}, 1)]


def test_histograms_are_in_seconds_and_never_negative(reader: InMemoryMetricReader) -> None:
    # Clock skew between Service Bus and the worker can make an age slightly negative.
    telemetry.queue_age("tandem-poll", -0.2)
    data = reader.get_metrics_data()
    metrics = {m.name: m for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert metrics["tandem.queue_age"].unit == "s"
    assert metrics_sum(metrics["tandem.queue_age"]) == 0.0


def metrics_sum(metric: Any) -> float:
    return sum(p.sum for p in metric.data.data_points)


def test_without_a_connection_string_nothing_is_configured_or_imported() -> None:
    # A fresh interpreter: the app as it runs locally, where no Application Insights is configured.
    script = textwrap.dedent(
        """
        import sys
        from sync import telemetry
        assert telemetry.configure("") is False
        telemetry.items_synced("s", "left_to_right", 2)
        telemetry.conflict("s", "left_to_right")
        telemetry.failure("s", "left_to_right", "transient")
        telemetry.hook_to_write_latency("s", "right_to_left", 1.0)
        telemetry.queue_age("tandem-items", 1.0)
        telemetry.poll_succeeded("s", "left_to_right")
        telemetry.log_event("tandem.test", scenario="s")
        telemetry.hook_subscription_disabled("s", "ado", "sub-1")
        loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor")))
        print(loaded)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", "OpenTelemetry was loaded although telemetry is off"


def test_with_a_connection_string_the_azure_monitor_distro_exports_the_metrics() -> None:
    # The real configure() path in a fresh interpreter (it sets process-wide providers), with an
    # in-memory reader next to the Azure Monitor exporter.
    script = textwrap.dedent(
        f"""
        import json, logging
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from sync import telemetry

        reader = InMemoryMetricReader()
        assert telemetry.configure({DEAD_END_CONNECTION!r}, metric_readers=[reader]) is True
        assert telemetry.configure({DEAD_END_CONNECTION!r}) is True  # idempotent
        telemetry.items_synced("pwa-ado", "left_to_right", 2)
        telemetry.conflict("pwa-ado", "left_to_right")
        telemetry.failure("pwa-ado", "left_to_right", "permanent")
        telemetry.hook_to_write_latency("pwa-ado", "right_to_left", 0.25)
        telemetry.queue_age("tandem-items", 3.0)
        telemetry.poll_succeeded("pwa-ado", "left_to_right")
        seen = {{}}
        for r in reader.get_metrics_data().resource_metrics:
            for s in r.scope_metrics:
                for m in s.metrics:
                    seen[m.name] = [dict(p.attributes) for p in m.data.data_points]
        handlers = [type(h).__name__ for h in logging.getLogger("tandem").handlers]
        print(json.dumps({{"metrics": seen, "handlers": handlers,
                          "level": logging.getLogger("tandem").level}}))
        """
    )
    env = {**os.environ, **QUIET_DISTRO_ENV}
    env.pop("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # (The distro adds its own performance counters under "azuremonitor.*".)
    assert {name for name in report["metrics"] if name.startswith("tandem.")} == set(telemetry.METRIC_NAMES)
    assert report["metrics"]["tandem.failures"] == [
        {"scenario": "pwa-ado", "direction": "left_to_right", "kind": "permanent"}
    ]
    assert report["metrics"]["tandem.queue_age"] == [{"queue": "tandem-items"}]
    # Logs of the "tandem" loggers go to Application Insights too, from INFO up.
    assert "LoggingHandler" in report["handlers"]
    assert report["level"] == logging.INFO


def test_configure_passes_the_agreed_options_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.monitor.opentelemetry as distro

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(distro, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(telemetry, "_exporting", False)
    monkeypatch.setattr(telemetry, "_instruments", None)
    level = telemetry.log.level
    try:
        assert telemetry.configure("InstrumentationKey=x") is True
        assert telemetry.configure("InstrumentationKey=x") is True
    finally:
        telemetry.log.setLevel(level)
    assert calls == [
        {
            "connection_string": "InstrumentationKey=x",
            "logger_name": "tandem",
            "disable_offline_storage": True,
            "enable_live_metrics": False,
            "metric_readers": [],
        }
    ]


def test_a_broken_telemetry_setup_does_not_stop_the_app(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import azure.monitor.opentelemetry as distro

    def broken(**_: Any) -> None:
        raise ValueError("Invalid instrumentation key")

    monkeypatch.setattr(distro, "configure_azure_monitor", broken)
    monkeypatch.setattr(telemetry, "_exporting", False)
    monkeypatch.setattr(telemetry, "_instruments", None)
    with caplog.at_level(logging.ERROR, logger="tandem"):
        assert telemetry.configure("InstrumentationKey=not-a-guid") is False
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in caplog.text
    assert "not-a-guid" not in caplog.text
    telemetry.items_synced("s", "left_to_right")  # still a no-op, no error


def test_log_event_carries_dimensions(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tandem"):
        telemetry.log_event(
            "tandem.item_written", scenario="pwa-ado", direction="left_to_right", item_id="42", rev=7
        )
    (record,) = caplog.records
    assert record.name == "tandem"
    assert (
        record.getMessage() == "tandem.item_written scenario=pwa-ado direction=left_to_right item_id=42 rev=7"
    )
    assert record.__dict__["event"] == "tandem.item_written"
    assert (record.__dict__["scenario"], record.__dict__["item_id"], record.__dict__["rev"]) == (
        "pwa-ado",
        "42",
        7,
    )


def test_log_event_never_carries_secrets(caplog: pytest.LogCaptureFixture) -> None:
    registered = f"pat-{uuid.uuid4().hex}"
    redact.register(registered)
    with caplog.at_level(logging.INFO, logger="tandem"):
        telemetry.log_event(
            "tandem.connection_checked",
            scenario="pwa-ado",
            session_key="project-7",
            pat="plain-pat-value",
            refreshToken="rt-value",
            client_secret="cs-value",
            storage="DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc==",
            error=f"401 from ADO with {registered}",
            name="reserved-by-logging",
        )
    (record,) = caplog.records
    dims = record.__dict__
    assert dims["session_key"] == "project-7"
    assert dims["pat"] == dims["refreshToken"] == dims["client_secret"] == dims["storage"] == "***"
    assert dims["error"] == "401 from ADO with ***"
    assert dims["name_"] == "reserved-by-logging" and record.name == "tandem"
    for secret in ("plain-pat-value", "rt-value", "cs-value", "abc==", registered):
        assert secret not in record.getMessage()
        assert secret not in json.dumps({k: str(v) for k, v in dims.items()})


def test_hook_subscription_disabled_is_a_custom_event(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tandem"):
        telemetry.hook_subscription_disabled("pwa-ado", "ado", "6f0c1c5e-sub")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(telemetry.HOOK_SUBSCRIPTION_DISABLED)
    # This attribute makes the Azure Monitor exporter send the record to customEvents (AppEvents).
    assert record.__dict__["microsoft.custom_event.name"] == "tandem.hook_subscription_disabled"
    assert (record.__dict__["scenario"], record.__dict__["system"], record.__dict__["subscription_id"]) == (
        "pwa-ado",
        "ado",
        "6f0c1c5e-sub",
    )
