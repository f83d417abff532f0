"""Metrics and structured logs for Application Insights; silent no-ops when no connection string is set.

The metric and event names below are what the alerts in `infra/modules/alerts.bicep` and the workbook in
`infra/workbook.json` query (tests/infra checks they agree). OpenTelemetry is imported only when
`configure()` turns export on, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from state.redact import RedactingFilter, redact

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader

log = logging.getLogger("tandem")

METER_NAME = "tandem"
ITEMS_SYNCED = "tandem.items_synced"
CONFLICTS = "tandem.conflicts"
FAILURES = "tandem.failures"
POLL_SUCCEEDED = "tandem.poll_succeeded"
HOOK_TO_WRITE_LATENCY = "tandem.hook_to_write_latency"
QUEUE_AGE = "tandem.queue_age"
METRIC_NAMES = (ITEMS_SYNCED, CONFLICTS, FAILURES, POLL_SUCCEEDED, HOOK_TO_WRITE_LATENCY, QUEUE_AGE)

# Custom events (Application Insights `customEvents`, workspace table `AppEvents`).
HOOK_SUBSCRIPTION_DISABLED = "tandem.hook_subscription_disabled"
EVENT_NAMES = (HOOK_SUBSCRIPTION_DISABLED,)

# Log attribute that makes the Azure Monitor exporter send a record as a custom event, not a trace.
_CUSTOM_EVENT_ATTRIBUTE = "microsoft.custom_event.name"


class _Instruments:
    """The app's instruments, created once from whichever meter provider is in use."""

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(METER_NAME)
        self.items_synced = meter.create_counter(
            ITEMS_SYNCED, unit="{item}", description="Items written to the target, by scenario and direction."
        )
        self.conflicts = meter.create_counter(
            CONFLICTS, unit="{conflict}", description="Fields changed on both sides since the last sync."
        )
        self.failures = meter.create_counter(
            FAILURES, unit="{failure}", description="Failed polls and item writes, by kind."
        )
        self.poll_succeeded = meter.create_counter(
            POLL_SUCCEEDED, unit="{poll}", description="Polls of a direction that completed."
        )
        self.hook_to_write_latency = meter.create_histogram(
            HOOK_TO_WRITE_LATENCY, unit="s", description="From a service hook's arrival to the target write."
        )
        self.queue_age = meter.create_histogram(
            QUEUE_AGE, unit="s", description="Time a message waited in its queue before processing."
        )


_instruments: _Instruments | None = None
_exporting = False
_lock = threading.Lock()


def configure(connection_string: str, *, metric_readers: Sequence[MetricReader] = ()) -> bool:
    """Turn on Azure Monitor export when a connection string is given; returns whether it did.

    Safe to call more than once: later calls keep the first configuration. `metric_readers` are added
    next to the Azure Monitor exporter (tests pass an in-memory reader).
    """
    global _instruments, _exporting
    if not connection_string:
        return False
    with _lock:
        if _exporting:
            return True
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor
            from opentelemetry import metrics

            configure_azure_monitor(
                connection_string=connection_string,
                logger_name="tandem",
                disable_offline_storage=True,
                enable_live_metrics=False,
                metric_readers=list(metric_readers),
            )
        except Exception as exc:  # a telemetry problem must never stop the sync
            log.error(
                "Application Insights export is off: %s. Check APPLICATIONINSIGHTS_CONNECTION_STRING "
                "(copy it from the Application Insights resource's Overview page).",
                exc,
            )
            return False
        _instruments = _Instruments(metrics.get_meter_provider())
        _exporting = True
        _protect_exported_logs()
    return True


def _protect_exported_logs() -> None:
    """Export INFO and above from the `tandem` loggers; mask registered secrets in `extra` fields too."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    for handler in log.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def set_meter_provider_for_tests(provider: MeterProvider | None) -> None:
    """Record metrics into `provider` (e.g. one with an `InMemoryMetricReader`); None turns them off."""
    global _instruments
    with _lock:
        _instruments = _Instruments(provider) if provider is not None else None


def items_synced(scenario: str, direction: str, count: int = 1) -> None:
    if (instruments := _instruments) is not None:
        instruments.items_synced.add(count, {"scenario": str(scenario), "direction": str(direction)})


def conflict(scenario: str, direction: str) -> None:
    if (instruments := _instruments) is not None:
        instruments.conflicts.add(1, {"scenario": str(scenario), "direction": str(direction)})


def failure(scenario: str, direction: str, kind: str) -> None:
    if (instruments := _instruments) is not None:
        instruments.failures.add(
            1, {"scenario": str(scenario), "direction": str(direction), "kind": str(kind)}
        )


def hook_to_write_latency(scenario: str, direction: str, seconds: float) -> None:
    if (instruments := _instruments) is not None:
        instruments.hook_to_write_latency.record(
            max(0.0, seconds), {"scenario": str(scenario), "direction": str(direction)}
        )


def queue_age(queue: str, seconds: float) -> None:
    if (instruments := _instruments) is not None:
        instruments.queue_age.record(max(0.0, seconds), {"queue": str(queue)})


def poll_succeeded(scenario: str, direction: str) -> None:
    if (instruments := _instruments) is not None:
        instruments.poll_succeeded.add(1, {"scenario": str(scenario), "direction": str(direction)})


# ---- structured logs ------------------------------------------------------------------------

MASK = "***"
# Dimension names that never carry a value into a log ("session_key" and "item_key" are not secrets).
_SECRET_NAME_PARTS = frozenset(
    {"secret", "token", "password", "passwd", "pat", "authorization", "auth", "credential", "credentials"}
    | {"cookie", "signature", "sig", "sas", "apikey", "accesskey", "accountkey"}
)
_SECRET_NAME_PAIRS = re.compile(r"(api|access|account|shared|client|private)_?key|connection_?string", re.I)
# Values that look like credentials whatever their dimension is called.
_SECRET_VALUE = re.compile(
    r"AccountKey=|SharedAccessKey=|SharedAccessSignature=|\bsig=|Bearer\s+[\w.~+/-]{16,}|Basic\s+[A-Za-z0-9+/]{20,}",
    re.I,
)
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_MAX_VALUE = 1024


def _is_secret_name(name: str) -> bool:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return bool(_SECRET_NAME_PARTS & set(re.split(r"[^a-z0-9]+", snake)) or _SECRET_NAME_PAIRS.search(snake))


def _safe_value(name: str, value: Any) -> str | int | float | bool:
    if _is_secret_name(name):
        return MASK
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    if _SECRET_VALUE.search(text):
        return MASK
    return redact(text)[:_MAX_VALUE]


def _dimensions(dims: dict[str, Any]) -> dict[str, str | int | float | bool]:
    out: dict[str, str | int | float | bool] = {}
    for name, value in dims.items():
        if value is None:
            continue
        key = f"{name}_" if name in _RESERVED else name
        out[key] = _safe_value(name, value)
    return out


def _emit(name: str, level: int, dims: dict[str, Any], *, custom_event: bool) -> None:
    if not log.isEnabledFor(level):
        return
    safe = _dimensions(dims)
    message = " ".join([name, *(f"{k}={v}" for k, v in safe.items())])
    extra: dict[str, Any] = {"event": name, **safe}
    if custom_event:
        extra[_CUSTOM_EVENT_ATTRIBUTE] = name
    log.log(level, message, extra=extra)


def log_event(name: str, /, *, level: int = logging.INFO, **dims: Any) -> None:
    """Log `name` with dimensions (scenario, direction, item ids…) that become customDimensions.

    Secret-looking dimensions and values, and every secret the secret stores registered, are masked.
    """
    _emit(name, level, dims, custom_event=False)


def hook_subscription_disabled(scenario: str, system: str, subscription_id: str) -> None:
    """A service hook subscription was found disabled: changes only arrive by polling until it is fixed.

    Sent as a custom event; the `hook-subscription-disabled` alert in infra/ fires on it.
    """
    _emit(
        HOOK_SUBSCRIPTION_DISABLED,
        logging.WARNING,
        {"scenario": scenario, "system": system, "subscription_id": subscription_id},
        custom_event=True,
    )
