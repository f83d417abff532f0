"""Fixtures for the infra tests: the parsed deployment, and a scratch copy of infra/ to edit."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.bicep_model import INFRA, Deployment


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return Deployment.load(INFRA)


@pytest.fixture
def infra_copy(tmp_path: Path) -> Iterator[Path]:
    """A scratch copy of infra/ that a test may edit."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    yield copy
