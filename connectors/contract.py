"""The connector contract the engine drives: every system implements `Connector` and nothing more.

Values travel as the system's own field names; names, conversions and directions live in `mapping/`.
A connector knows nothing of tables, queues or scenarios.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import ConnectorError

SessionUnit = Literal["item", "container"]


class FieldSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str = "string"  # string | html | integer | double | boolean | datetime | identity | tree_path | …
    read_only: bool = False
    label: str = ""


class EntitySpec(BaseModel):
    """One kind of record the system holds (work item, task, release definition, user…)."""

    model_config = ConfigDict(frozen=True)

    name: str
    session_unit: SessionUnit = "item"  # what must be written serially on this system
    fields: tuple[FieldSpec, ...] = ()
    # False: the system has no change feed for this entity (Planner): the connector implements
    # `VersionLister` and the engine compares the listed versions with the links' versions.
    change_feed: bool = True
    # A field whose value identifies an item on the system where no correlation stamp fits (e.g. a release
    # definition's name): looked up before a create, so an existing match is linked, never duplicated.
    natural_key: str | None = None


class CheckReport(BaseModel):
    ok: bool
    problems: list[str] = Field(default_factory=list)  # each says what is wrong and what to do
    details: dict[str, Any] = Field(default_factory=dict)


class Scope(BaseModel):
    """Which source items a direction cares about; applied by the connector when listing changes."""

    containers: list[str] = Field(default_factory=list)  # projects / plans; empty = all
    types: list[str] = Field(default_factory=list)  # work item types, task kinds; empty = all
    start: datetime | None = None  # items last changed before this are ignored
    filter: str | None = None  # system-specific extra condition (e.g. a WIQL clause)


class Watermark(BaseModel):
    """Where the last poll of one direction got to: a server time and/or an opaque cursor."""

    at: datetime | None = None
    cursor: str | None = None


class Change(BaseModel):
    """One changed item: ids and a version, never field values."""

    id: str
    version: str
    container: str | None = None
    changed_at: datetime | None = None
    deleted: bool = False


class ChangePage(BaseModel):
    changes: list[Change]
    next_watermark: Watermark  # safe to store once every change of this page is enqueued


class ItemRef(BaseModel):
    """A reference from one item to another: the referenced item's entity and its id on the same system."""

    model_config = ConfigDict(frozen=True)

    entity: str
    id: str | None = None  # None: the reference is empty


class Item(BaseModel):
    """Fresh values of one item, as the system names them."""

    id: str
    version: str  # what the system checks for concurrency: ADO rev, Planner ETag, PWA modified date
    container: str | None = None  # project / plan the item lives in
    type: str | None = None  # work item type, task kind
    changed_at: datetime | None = None
    changed_by: str | None = None
    created_at: datetime | None = None
    parent_id: str | None = None
    correlation_id: str | None = None  # stamped by the engine on items it created
    fields: dict[str, Any] = Field(default_factory=dict)
    # field path -> the referenced item (on this system). `parent_id` is the reference at path "parent".
    references: dict[str, ItemRef] = Field(default_factory=dict)


class Write(BaseModel):
    """Create (id None) or update one item; `expected_version` makes the update conditional."""

    id: str | None = None
    container: str | None = None
    type: str | None = None
    expected_version: str | None = None
    correlation_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    set_parent: bool = False  # True: make parent_id the parent (None removes the parent link)
    # field path -> the referenced item's id on this system, resolved by the engine through its links
    # (None clears the reference); the connector puts each at its path. The parent travels in parent_id.
    references: dict[str, str | None] = Field(default_factory=dict)

    @property
    def is_create(self) -> bool:
        return self.id is None


@dataclass
class WriteResult:
    """Outcome of one write: the item as written, or the error that stopped it."""

    item: Item | None = None
    error: ConnectorError | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.item is not None


class HookEvent(BaseModel):
    """One item change announced by a service hook, parsed from the system's own payload."""

    event_type: str  # e.g. workitem.updated
    entity: str
    id: str
    version: str
    container: str | None = None
    changed_at: datetime | None = None
    deleted: bool = False


class HookPayloadError(ValueError):
    """A hook body that is not a known event of this system; the HTTP layer answers 400 with the message."""


@runtime_checkable
class Connector(Protocol):
    system: str  # a short stable name: ado_services, ado_server, pwa, planner…

    def check(self) -> CheckReport: ...

    def entities(self) -> list[EntitySpec]: ...

    def changes(self, entity: str, since: Watermark, scope: Scope) -> Iterator[ChangePage]: ...

    def read(self, entity: str, ids: Sequence[str]) -> list[Item]: ...

    def write(self, entity: str, writes: Sequence[Write]) -> list[WriteResult]: ...

    def find_by_correlation(self, entity: str, correlation_id: str) -> Item | None: ...


@runtime_checkable
class VersionLister(Protocol):
    """Implemented by connectors whose system has no change feed for an entity (`change_feed=False`).

    Lists every in-scope item as (id, version) pairs, page by page, without field values; the engine enqueues
    only the items whose version differs from the one their link recorded.
    """

    def list_versions(self, entity: str, scope: Scope) -> Iterator[list[Change]]: ...


@runtime_checkable
class CorrelationBatchFinder(Protocol):
    """Implemented by connectors that can look up many correlation stamps in one call (a batch of creates)."""

    def find_by_correlations(self, entity: str, correlation_ids: Sequence[str]) -> dict[str, Item]:
        """The items carrying each stamp found (stamp -> item); stamps not found are absent."""
        ...


@runtime_checkable
class Preflight(Protocol):
    """A connector that can tell, before anything is written, what would stop its items on `target` (a
    connector of the same kind): `problems` say what to do, `details["notes"]` what will not be attempted and
    `details["blocked"]` those items as `{"entity", "id", "name", "reasons"}`. `linked`: per entity, the ids
    of this side's items the engine has linked already (an existing counterpart is no collision)."""

    def preflight(self, target: Any, linked: Mapping[str, set[str]] | None = None) -> CheckReport: ...


@runtime_checkable
class KeyFinder(Protocol):
    """Implemented by connectors with entities that declare a `natural_key` (no correlation stamp fits)."""

    def find_by_key(self, entity: str, value: Any) -> Item | None:
        """The item whose natural-key field equals `value`, or None."""
        ...


@runtime_checkable
class FieldFinder(Protocol):
    """Implemented by connectors that can look items up by the value of any field (a bulk sync's match key:
    items that already match on it are linked, not created again)."""

    def find_by_field(
        self, entity: str, field: str, values: Sequence[Any], container: str | None = None
    ) -> dict[str, list[Item]]:
        """Every item (in `container`, if given) whose `field` equals one of `values`, compared as the system
        compares them (ADO: without regard to case), keyed by `match_value` of the wanted value; values
        matching nothing are absent. More than one item under a value is an ambiguity the caller reports."""
        ...


def match_value(value: Any) -> str:
    """The form two field values are compared in when matching items on a key field: text, trimmed, case
    folded (ADO and PWA compare strings without regard to case)."""
    return str(value).strip().casefold()


@runtime_checkable
class HookParser(Protocol):
    """Implemented by connectors whose system pushes events (ADO service hooks)."""

    def parse_hook(self, payload: Any) -> list[HookEvent]: ...


@runtime_checkable
class ContainerFinder(Protocol):
    """Implemented by connectors that can say whether a container (project) exists, for routed creates."""

    def find_container(self, name: str) -> str | None:
        """The container's own spelling of `name` (matched without regard to case), or None."""
        ...


class Container(BaseModel):
    """A project (or plan) a person pairs in a scenario: `id` is what the configuration's containers name."""

    id: str
    name: str


@runtime_checkable
class ContainerLister(Protocol):
    """Implemented by connectors that can list the containers (projects, plans) their identity can see."""

    def list_containers(self) -> list[Container]: ...


class FieldsSetupReport(BaseModel):
    """What "Create fields" did on one system: each problem says what is wrong and what to do."""

    created: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # things skipped on purpose, e.g. a type a process lacks


@runtime_checkable
class FieldSetup(Protocol):
    """Implemented by connectors that can create and verify the custom fields a scenario needs.

    A spec is the system's own description of one field (name, type, where it lives), as configured in the
    scenario's `required_fields`.
    """

    def ensure_fields(self, specs: Sequence[dict[str, Any]]) -> FieldsSetupReport: ...

    def verify_fields(self, specs: Sequence[dict[str, Any]]) -> CheckReport:
        """Connectivity and permissions (as `check`) and every field of `specs` with its type."""
        ...


class SubscriptionReport(Protocol):
    created: list[str]
    repaired: list[str]
    repointed: list[str]
    problems: list[str]


@runtime_checkable
class HookSubscriber(Protocol):
    """Implemented by connectors that can create, verify and repair their system's service hooks."""

    def ensure_hook_subscriptions(
        self, hook_url: str, username: str, password: str, project_ids: Sequence[str]
    ) -> SubscriptionReport: ...
