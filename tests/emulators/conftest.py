"""Fixtures for the emulator tests: running emulators (Services and Server), authenticated clients, a local
web hook receiver and the OpenAPI validator (helpers live in `ado_testkit`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

for _path in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[2]):  # testkit, repo root
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from ado_testkit import PAT, HookReceiver, SpecValidator, make_client, run_receiver  # noqa: E402

from emulators.ado import AdoEmulator, HookPolicy  # noqa: E402


@pytest.fixture
def ado() -> Iterator[AdoEmulator]:
    emulator = AdoEmulator("services", pat=PAT, bearer_token="entra-token", hook_policy=HookPolicy.fast())
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def ado_server() -> Iterator[AdoEmulator]:
    emulator = AdoEmulator("server", pat=PAT, hook_policy=HookPolicy.fast())
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def client(ado: AdoEmulator) -> Iterator[httpx.Client]:
    with make_client(ado) as c:
        yield c


@pytest.fixture
def server_client(ado_server: AdoEmulator) -> Iterator[httpx.Client]:
    with make_client(ado_server) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with run_receiver() as state:
        yield state


@pytest.fixture(scope="session")
def spec() -> SpecValidator:
    return SpecValidator()
