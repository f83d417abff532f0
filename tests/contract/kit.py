"""What the contract suite is made of: `Subject` (a connector and the system-side actions the cases need),
the capabilities a connector can declare, `contract_subject` to register one and `requires` to mark a
case. The subjects themselves are the fixtures in `conftest.py`; the cases are in
`test_connector_contract.py`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from connectors.contract import Connector, Scope, Write

# Capabilities a case may require. A connector lists what it offers; `test_declared_capabilities_are_the_
# connectors_own` checks the list against the connector's own EntitySpec and protocols, so a capability
# cannot be left out to hide a failing case.
CORE = frozenset({"create_read", "stale_version", "changes", "throttling", "correlation"})
CAPABILITIES = CORE | {"natural_key", "version_listing"}

SUBJECTS: dict[str, frozenset[str]] = {}


def contract_subject(name: str, capabilities: frozenset[str]) -> Callable[[Any], Any]:
    """Register a module-scoped fixture `<name>_subject` yielding a `Subject` with these capabilities."""
    unknown = capabilities - CAPABILITIES
    assert not unknown, f"unknown capabilities {sorted(unknown)}: add them to CAPABILITIES with their cases"

    def register(factory: Callable[..., Iterator[Subject]]) -> Any:
        SUBJECTS[name] = capabilities
        return pytest.fixture(scope="module", name=f"{name}_subject")(factory)

    return register


@dataclass
class Subject:
    """One connector and what the cases need from the system behind it."""

    name: str
    connect: Callable[[], Connector]  # a fresh connector (no pacing left over from another case)
    entity: str
    scope: Scope
    field: str  # a plain text field every item has, written and read back by the cases
    new: Callable[[str], Write]  # a create carrying `field` = the given text
    seed: Callable[[int], list[str]]  # n items made on the system side (not by the connector), oldest first
    edit: Callable[[str, str], None]  # a person sets `field` of an item on the system
    throttle: Callable[[float], None]  # the system answers the connector's next write with 429 + Retry-After
    written: Callable[[str], Any]  # the system's own value of `field` for an item, read past the connector
    missing: str  # an id of the entity's shape that no item has
    settle: Callable[[], None] = lambda: None  # let the system's change feed catch up (time passes)
    reset: Callable[[], None] = lambda: None  # empty system before each case
    sleeps: list[float] = field(default_factory=list)  # waits the connector asked for
    # False where the system returns the whole listing in one answer (ADO variable groups): the listing
    # case then checks versions only, not paging.
    listing_pages: bool = True
    connector: Connector = field(init=False)

    def fresh(self) -> Subject:
        """Before each case: an empty system and a new connector."""
        self.reset()
        self.sleeps.clear()
        close = getattr(getattr(self, "connector", None), "close", None)
        if close is not None:
            close()
        self.connector = self.connect()
        return self


def recording_sleep(sleeps: list[float]) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))  # never the whole Retry-After: the cases check it was asked for

    return sleep


CaseFn = Callable[..., None]


def requires(*capabilities: str) -> Callable[[CaseFn], CaseFn]:
    """The capabilities a case needs; it is generated only for subjects that declare them all."""
    unknown = set(capabilities) - CAPABILITIES
    assert not unknown, f"unknown capabilities {sorted(unknown)}"

    def mark(case: CaseFn) -> CaseFn:
        case.requires = frozenset(capabilities)  # type: ignore[attr-defined]
        return case

    return mark
