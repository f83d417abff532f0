"""WIQL text and date-window bisection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from connectors.ado import wiql
from connectors.errors import PermanentError

T0 = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_literals_are_quoted_and_dates_are_utc_with_milliseconds() -> None:
    assert wiql.literal("O'Brien") == "'O''Brien'"
    assert wiql.date_literal(T0) == "'2026-01-01T10:00:00.123Z'"
    assert wiql.date_literal(datetime(2026, 1, 1, 10, 0)) == "'2026-01-01T10:00:00.000Z'"
    berlin = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert wiql.date_literal(berlin) == "'2026-01-01T10:00:00.000Z'"


def test_changes_query_in_project_with_window_types_and_filter() -> None:
    query = wiql.changes_query(
        window=wiql.Window(T0, T0 + timedelta(hours=1)),
        in_project=True,
        types=["Task", "User Story"],
        extra="[System.AreaPath] UNDER 'Alpha\\Team'",
    )
    assert query == (
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"
        " AND [System.ChangedDate] >= '2026-01-01T10:00:00.123Z'"
        " AND [System.ChangedDate] < '2026-01-01T11:00:00.123Z'"
        " AND [System.WorkItemType] IN ('Task', 'User Story')"
        " AND ([System.AreaPath] UNDER 'Alpha\\Team')"
        " ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"
    )


def test_changes_query_without_conditions_has_no_where() -> None:
    assert wiql.changes_query(window=wiql.Window(), in_project=False) == (
        "SELECT [System.Id] FROM WorkItems ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"
    )


def test_correlation_queries() -> None:
    assert wiql.correlation_query(tag="tandem:abc") == (
        "SELECT [System.Id] FROM WorkItems WHERE [System.Tags] CONTAINS 'tandem:abc' ORDER BY [System.Id] ASC"
    )
    assert wiql.correlation_query(field="Custom.Corr", value="a'b") == (
        "SELECT [System.Id] FROM WorkItems WHERE [Custom.Corr] = 'a''b' ORDER BY [System.Id] ASC"
    )


def test_split_halves_at_a_millisecond_and_keeps_open_ends() -> None:
    now = T0 + timedelta(days=2)
    first, second = wiql.split(wiql.Window(T0, None), now, 1.0)
    assert first.start == T0 and second.end is None
    assert first.end == second.start
    assert first.end.microsecond % 1000 == 0
    low, _ = wiql.split(wiql.Window(None, T0), now, 1.0)
    assert low.start is None and wiql.EPOCH < low.end < T0
    assert wiql.split(wiql.Window(T0, T0 + timedelta(seconds=1)), now, 1.0) is None


def _too_many(window: wiql.Window) -> PermanentError:
    return PermanentError("VS402337: too many", status=400, code="VS402337")


def test_bisect_splits_until_each_window_fits_and_yields_oldest_first() -> None:
    dates = [T0 + timedelta(minutes=i) for i in range(40)]
    calls: list[wiql.Window] = []

    def run(window: wiql.Window) -> list[datetime]:
        calls.append(window)
        hits = [
            d
            for d in dates
            if (window.start is None or d >= window.start) and (window.end is None or d < window.end)
        ]
        if len(hits) > 10:
            raise _too_many(window)
        return hits

    now = T0 + timedelta(hours=1)
    results = list(wiql.bisect(run, wiql.Window(T0, None), now=lambda: now))
    seen = [d for _, hits in results for d in hits]
    assert seen == dates, "every item exactly once, in date order"
    windows = [w for w, _ in results]
    assert windows[0].start == T0 and windows[-1].end is None
    for a, b in pairwise(windows):
        assert a.end == b.start


def test_bisect_passes_other_errors_through() -> None:
    def run(window: wiql.Window) -> None:
        raise PermanentError("TF51005: bad field", status=400, code="TF51005")

    with pytest.raises(PermanentError, match="TF51005"):
        list(wiql.bisect(run, wiql.Window(T0), now=lambda: T0 + timedelta(days=1)))


def test_bisect_gives_up_with_an_actionable_message() -> None:
    def run(window: wiql.Window) -> None:
        raise _too_many(window)

    with pytest.raises(PermanentError, match="narrow the scope") as caught:
        list(wiql.bisect(run, wiql.Window(T0), now=lambda: T0 + timedelta(minutes=1)))
    assert caught.value.code == "VS402337"
