"""The connector contract (`connectors/contract.py`), run against every connector with its emulator.

Each case is one promise the engine relies on: create and read back; a conditional update written on
the current version and refused with `VersionConflict` on a stale one; changes since a watermark, across
pages, then only what changed; a 429's Retry-After waited out by the connector or handed back on a
`TransientError`; lookup by correlation id.
The subjects are the memory connector, ADO Services, ADO Server, PWA, Planner and the release-pipelines
connector (`conftest.py`).

A new connector joins with one fixture in `conftest.py`: decorated with
``@contract_subject("name", CORE | {...})``, it starts the emulator and yields a `Subject` (`kit.py`).

A new capability (natural-key lookup, references, (id, version) listing for sources without a change
feed, e.g. Planner) joins with its cases marked ``@requires("name")`` and
its name in `kit.CAPABILITIES`. A case is generated only for subjects that declare what it requires, so a
connector without the capability has no such case (nothing is skipped), and
`test_declared_capabilities_are_the_connectors_own` holds each declaration to what the connector says of
itself (`EntitySpec.natural_key`, `EntitySpec.change_feed`, `VersionLister`): leaving a capability out
to hide a failing case fails that test instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.contract import VersionLister, Watermark, Write, WriteResult
from connectors.errors import TransientError, VersionConflict
from tests.contract.kit import CORE, SUBJECTS, Subject, requires


def text(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def create(subject: Subject, value: str, correlation_id: str | None = None) -> WriteResult:
    write = subject.new(value)
    if correlation_id is not None:
        write = write.model_copy(update={"correlation_id": correlation_id})
    (result,) = subject.connector.write(subject.entity, [write])
    assert result.ok, result.error
    return result


def listed(subject: Subject, since: Watermark) -> tuple[list[tuple[str, str]], list[int], Watermark]:
    """(id, version) of every change since `since`, the size of each page, and the last page's mark."""
    pages = list(subject.connector.changes(subject.entity, since, subject.scope))
    assert pages, "changes() yields at least one page, even when nothing changed"
    changes = [(c.id, c.version) for p in pages for c in p.changes]
    return changes, [len(p.changes) for p in pages], pages[-1].next_watermark


def throttled_update(subject: Subject, retry_after: float, value: str) -> tuple[str, Any]:
    """An item, then an update of it answered with 429 + Retry-After: (its id, the error raised or the
    write result returned)."""
    created = create(subject, text("Before"))
    assert created.item is not None
    subject.throttle(retry_after)
    try:
        (result,) = subject.connector.write(
            subject.entity, [Write(id=created.item.id, fields={subject.field: value})]
        )
    except TransientError as exc:
        return created.item.id, exc
    return created.item.id, result


def error_of(outcome: Any) -> Any:
    return outcome if isinstance(outcome, TransientError) else outcome.error


# --- every connector ---------------------------------------------------------------------------------


@requires("create_read")
def test_a_create_is_read_back_with_its_values_and_a_version(subject: Subject) -> None:
    value = text("Created")
    result = create(subject, value)
    assert result.item is not None and result.item.id and result.item.version
    (item,) = subject.connector.read(subject.entity, [result.item.id])
    assert item.id == result.item.id and item.version == result.item.version
    assert item.fields[subject.field] == value == subject.written(item.id)
    assert subject.connector.read(subject.entity, []) == []


@requires("create_read")
def test_reading_many_ids_returns_each_and_leaves_out_the_missing(subject: Subject) -> None:
    ids = subject.seed(3)
    items = subject.connector.read(subject.entity, ids)
    assert sorted(i.id for i in items) == sorted(ids)
    assert [i.id for i in subject.connector.read(subject.entity, [ids[0], subject.missing])] == [ids[0]]


@requires("stale_version")
def test_an_update_on_the_current_version_is_written_and_moves_the_version(subject: Subject) -> None:
    created = create(subject, text("First"))
    assert created.item is not None
    value = text("Second")
    write = Write(id=created.item.id, expected_version=created.item.version, fields={subject.field: value})
    (updated,) = subject.connector.write(subject.entity, [write])
    assert updated.ok, updated.error
    assert updated.item is not None and updated.item.version != created.item.version
    assert subject.written(created.item.id) == value


@requires("stale_version")
def test_an_update_on_a_stale_version_is_a_version_conflict_and_writes_nothing(subject: Subject) -> None:
    created = create(subject, text("Mine"))
    assert created.item is not None
    theirs = text("Theirs")
    subject.edit(created.item.id, theirs)  # a person changed it since we read it
    subject.settle()
    stale = Write(id=created.item.id, expected_version=created.item.version, fields={subject.field: "late"})
    (result,) = subject.connector.write(subject.entity, [stale])
    assert isinstance(result.error, VersionConflict), result
    assert subject.written(created.item.id) == theirs


@requires("changes")
def test_changes_since_a_watermark_come_in_pages_and_then_only_what_changed(subject: Subject) -> None:
    ids = subject.seed(5)
    changes, sizes, mark = listed(subject, Watermark())
    assert sorted(i for i, _ in changes) == sorted(ids)  # each once, whatever the page order
    if subject.listing_pages:
        assert len([s for s in sizes if s]) > 1, f"one page only: {sizes}"
    subject.settle()
    assert listed(subject, mark)[0] == []  # nothing new: nothing listed

    subject.edit(ids[2], text("Edited"))
    subject.settle()
    again, _, later = listed(subject, mark)
    (item,) = subject.connector.read(subject.entity, [ids[2]])
    assert again == [(ids[2], item.version)]
    assert later != mark


@requires("version_listing")
def test_versions_are_listed_in_pages_and_an_edit_moves_only_its_version(subject: Subject) -> None:
    assert isinstance(subject.connector, VersionLister)
    ids = subject.seed(5)

    def versions() -> tuple[dict[str, str], list[int]]:
        pages = list(subject.connector.list_versions(subject.entity, subject.scope))  # type: ignore[union-attr]
        return {c.id: c.version for p in pages for c in p}, [len(p) for p in pages]

    before, sizes = versions()
    assert sorted(before) == sorted(ids)  # each once, with a version
    assert all(before.values())
    if subject.listing_pages:
        assert len([s for s in sizes if s]) > 1, f"one page only: {sizes}"
    assert versions()[0] == before  # nothing changed: the same versions

    subject.edit(ids[2], text("Edited"))
    subject.settle()
    after, _ = versions()
    (item,) = subject.connector.read(subject.entity, [ids[2]])
    assert after[ids[2]] == item.version != before[ids[2]]
    assert {k: v for k, v in after.items() if k != ids[2]} == {k: v for k, v in before.items() if k != ids[2]}


@requires("throttling")
def test_a_long_retry_after_comes_back_as_a_transient_error_carrying_it(subject: Subject) -> None:
    item_id, outcome = throttled_update(subject, 30, "during")
    assert isinstance(error_of(outcome), TransientError), outcome
    assert error_of(outcome).retry_after == pytest.approx(30)
    assert subject.written(item_id) != "during"


@requires("throttling")
def test_a_short_retry_after_is_waited_out_or_reported(subject: Subject) -> None:
    item_id, outcome = throttled_update(subject, 1, "after")
    if isinstance(outcome, WriteResult) and outcome.ok:  # the connector retried itself: after the delay
        assert any(s >= 1 for s in subject.sleeps), subject.sleeps
        assert subject.written(item_id) == "after"
    else:
        assert isinstance(error_of(outcome), TransientError), outcome
        assert error_of(outcome).retry_after == pytest.approx(1)


@requires("correlation")
def test_an_item_is_found_by_the_correlation_id_stamped_when_it_was_created(subject: Subject) -> None:
    correlation = uuid.uuid4().hex
    assert subject.connector.find_by_correlation(subject.entity, correlation) is None
    created = create(subject, text("Stamped"), correlation_id=correlation)
    create(subject, text("Other"), correlation_id=correlation + "0")  # a longer id is another item
    assert created.item is not None and created.item.correlation_id == correlation
    subject.settle()
    found = subject.connector.find_by_correlation(subject.entity, correlation)
    assert found is not None and found.id == created.item.id and found.correlation_id == correlation


@requires("natural_key")
def test_an_item_is_found_by_its_natural_key_in_any_case_and_a_missing_key_is_none(subject: Subject) -> None:
    (spec,) = [e for e in subject.connector.entities() if e.name == subject.entity]
    assert spec.natural_key is not None
    created = create(subject, text("Keyed"))
    assert created.item is not None
    key = created.item.fields[spec.natural_key]
    subject.settle()
    finder: Any = subject.connector
    found = finder.find_by_key(subject.entity, str(key).upper())
    assert found is not None and found.id == created.item.id
    assert finder.find_by_key(subject.entity, text("Nobody")) is None


@requires("version_listing")
def test_listing_gives_every_item_with_its_current_version(subject: Subject) -> None:
    ids = subject.seed(3)
    lister: Any = subject.connector
    listed_now = {
        c.id: c.version for page in lister.list_versions(subject.entity, subject.scope) for c in page
    }
    assert sorted(listed_now) == sorted(ids)
    items = {i.id: i.version for i in subject.connector.read(subject.entity, ids)}
    assert listed_now == items
    subject.edit(ids[1], text("Edited"))
    subject.settle()
    again = {c.id: c.version for page in lister.list_versions(subject.entity, subject.scope) for c in page}
    assert again[ids[1]] != listed_now[ids[1]] and again[ids[0]] == listed_now[ids[0]]


# --- what each connector says it offers ------------------------------------------------------------


def test_declared_capabilities_are_the_connectors_own(subject: Subject) -> None:
    declared = SUBJECTS[subject.name]
    (spec,) = [e for e in subject.connector.entities() if e.name == subject.entity]
    offered: dict[str, Any] = {
        "natural_key": spec.natural_key is not None,
        "version_listing": not spec.change_feed and isinstance(subject.connector, VersionLister),
        "changes": spec.change_feed,
    }
    for capability, has in offered.items():
        assert (capability in declared) == has, f"{subject.name}: '{capability}' declared {not has}"
    # every connector creates, reads and updates, and finds what it created: by correlation id or natural key
    assert CORE - {"changes", "correlation"} <= declared
    assert {"correlation", "natural_key"} & declared
