"""Fixtures for connector tests; the helpers themselves live in `ado_fakes`."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from connectors.ado import AdoConnector, AdoOptions
from tests.connectors.ado_fakes import BASE, CANARY_PAT, FakeAdo, Spec


@pytest.fixture
def fake() -> FakeAdo:
    return FakeAdo()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_connector(fake: FakeAdo, sleeps: list[float]) -> Callable[..., AdoConnector]:
    def make(base_url: str = BASE, system: str = "ado_services", **options: Any) -> AdoConnector:
        return AdoConnector(
            system,
            base_url,
            AdoOptions(**options),
            get_secret=lambda: CANARY_PAT,
            transport=fake.transport,
            sleep=sleeps.append,
        )

    return make


@pytest.fixture(scope="session")
def specs() -> Callable[..., Spec]:
    return cache(Spec)
