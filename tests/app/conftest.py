"""The handlers run on a harness stack (Azurite tables, the local queue, memory connectors)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync import triggers
from tests.support.harness import Harness


@pytest.fixture
def harness(tables) -> Iterator[Harness]:
    h = Harness(tables)
    triggers.use_services(h.services)
    yield h
    triggers.use_services(None)
