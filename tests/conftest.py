"""Shared fixtures: one Azurite per test worker, fresh tables per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableServiceClient

from state.tables import TABLES, Tables
from tandem.azurite import Azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as instance:
        yield instance


@pytest.fixture
def tables(azurite: Azurite) -> Iterator[Tables]:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = Tables(service, prefix=f"t{uuid.uuid4().hex[:12]}")
    store.create_all()
    yield store
    for name in TABLES:
        service.delete_table(store.name(name))
