"""`changes()`: WIQL per project with timePrecision, 200-id batch pages, safe watermarks, bisection."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.ado import AdoConnector
from connectors.contract import Scope, Watermark
from tests.connectors.ado_fakes import BASE, FakeAdo, Spec, ado_error

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(days=30)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass
class Row:
    id: int
    project: str
    changed: datetime
    rev: int = 3
    type: str = "Task"


class WiqlBackend:
    """Enough WIQL to answer the connector's change queries from a list of rows."""

    def __init__(self, rows: list[Row], cap: int = 20000, as_of: datetime = AS_OF) -> None:
        self.rows = {r.id: r for r in rows}
        self.cap = cap
        self.as_of = as_of
        self.queries: list[str] = []
        self.before_batch: Callable[[list[int]], None] | None = None

    def wiql(self, request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        self.queries.append(query)
        segments = request.url.path.split("/")
        project = segments[2] if segments[2] != "_apis" else None
        lower = re.search(r"\[System\.ChangedDate\] >= '([^']+)'", query)
        upper = re.search(r"\[System\.ChangedDate\] < '([^']+)'", query)
        types = re.search(r"\[System\.WorkItemType\] IN \(([^)]*)\)", query)
        hits = []
        for row in self.rows.values():
            if row.changed > self.as_of:
                continue
            if project and row.project != project:
                continue
            if lower and row.changed < _parse(lower.group(1)):
                continue
            if upper and row.changed >= _parse(upper.group(1)):
                continue
            if types and f"'{row.type}'" not in types.group(1):
                continue
            hits.append(row)
        if len(hits) > self.cap:
            return ado_error(
                400,
                f"VS402337: The number of work items returned exceeds the size limit of {self.cap}. "
                "Change the query to return fewer work items.",
                "WorkItemTrackingQueryResultSizeLimitExceededException",
            )
        hits.sort(key=lambda r: (r.changed, r.id))
        return httpx.Response(
            200,
            json={
                "queryType": "flat",
                "queryResultType": "workItem",
                "asOf": iso(self.as_of),
                "columns": [{"referenceName": "System.Id", "name": "ID"}],
                "workItems": [{"id": r.id, "url": f"{BASE}/_apis/wit/workItems/{r.id}"} for r in hits],
            },
        )

    def batch(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if self.before_batch:
            self.before_batch(body["ids"])
        value: list[Any] = []
        for item_id in body["ids"]:
            row = self.rows.get(item_id)
            if row is None:
                value.append(None)
                continue
            fields = {
                "System.Id": row.id,
                "System.Rev": row.rev,
                "System.ChangedDate": iso(row.changed),
                "System.TeamProject": row.project,
            }
            value.append({"id": row.id, "rev": row.rev, "fields": {k: fields[k] for k in body["fields"]}})
        return httpx.Response(200, json={"count": len(value), "value": value})


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def install(fake: FakeAdo, backend: WiqlBackend) -> None:
    fake.on("POST", r"/_apis/wit/wiql$", backend.wiql)
    fake.on("POST", r"/_apis/wit/workitemsbatch$", backend.batch)


def test_request_shape_matches_the_spec(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    install(fake, WiqlBackend([Row(1, "Alpha", T0 + timedelta(hours=1))]))
    since = Watermark(at=T0)
    pages = list(
        make_connector().changes(
            "workitem",
            since,
            Scope(containers=["Alpha"], types=["Task", "Bug"], filter="[System.State] <> 'Removed'"),
        )
    )

    wiql_request, batch_request = fake.requests
    assert wiql_request.method == "POST"
    assert wiql_request.url.path == "/contoso/Alpha/_apis/wit/wiql"
    assert dict(wiql_request.url.params) == {"api-version": "7.1", "timePrecision": "true"}
    assert wiql_request.headers["Content-Type"] == "application/json"
    wit = specs("wit")
    wit.validate("Wiql", fake.body(wiql_request))
    wit.check_query(wiql_request)
    assert fake.body(wiql_request)["query"] == (
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"
        " AND [System.ChangedDate] >= '2026-03-01T07:59:30.000Z'"  # 30 s overlap before the watermark
        " AND [System.WorkItemType] IN ('Task', 'Bug')"
        " AND ([System.State] <> 'Removed')"
        " ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"
    )

    assert batch_request.url.path == "/contoso/Alpha/_apis/wit/workitemsbatch"
    assert dict(batch_request.url.params) == {"api-version": "7.1"}
    wit.validate("WorkItemBatchGetRequest", fake.body(batch_request))
    wit.check_query(batch_request)
    assert fake.body(batch_request) == {
        "ids": [1],
        "errorPolicy": "omit",
        "fields": ["System.Id", "System.Rev", "System.ChangedDate", "System.TeamProject"],
    }

    assert len(pages) == 1
    (change,) = pages[0].changes
    assert (change.id, change.version, change.container) == ("1", "3", "Alpha")
    assert change.changed_at == T0 + timedelta(hours=1)
    assert pages[0].next_watermark.at == AS_OF


def test_pages_hold_at_most_200_and_watermarks_never_pass_unlisted_items(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    rows = [Row(i, "Alpha", T0 + timedelta(minutes=i)) for i in range(1, 451)]
    install(fake, WiqlBackend(rows))
    pages = list(make_connector().changes("workitem", Watermark(), Scope(containers=["Alpha"])))

    assert [len(p.changes) for p in pages] == [200, 200, 50]
    assert [len(fake.body(r)["ids"]) for r in fake.sent("POST", "workitemsbatch")] == [200, 200, 50]
    assert [c.id for p in pages for c in p.changes] == [str(i) for i in range(1, 451)]
    for index, page in enumerate(pages[:-1]):
        later = [c.changed_at for p in pages[index + 1 :] for c in p.changes]
        assert page.next_watermark.at is not None
        assert page.next_watermark.at <= min(later)
    assert pages[-1].next_watermark.at == AS_OF
    assert len(fake.sent("POST", "wiql")) == 1


def test_an_item_changed_after_the_query_does_not_advance_the_watermark_past_later_pages(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    rows = [Row(i, "Alpha", T0 + timedelta(minutes=i)) for i in range(1, 301)]
    backend = WiqlBackend(rows)
    install(fake, backend)

    def touch_last_of_first_page(ids: list[int]) -> None:
        if ids[0] == 1:
            backend.rows[200].changed = AS_OF + timedelta(minutes=5)
            backend.rows[200].rev = 4

    backend.before_batch = touch_last_of_first_page
    first = next(iter(make_connector().changes("workitem", Watermark(), Scope(containers=["Alpha"]))))
    assert first.changes[-1].version == "4"
    # Item 200 now reads later than items 201.. that come next; the mark stops at item 199.
    assert first.next_watermark.at == T0 + timedelta(minutes=199)


def test_projects_keep_their_own_progress_in_the_cursor(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    rows = [Row(1, "Alpha", T0 + timedelta(hours=1)), Row(2, "Beta", T0 + timedelta(hours=2))]
    backend = WiqlBackend(rows)
    install(fake, backend)
    connector = make_connector()
    scope = Scope(containers=["Alpha", "Beta"])
    pages = list(connector.changes("workitem", Watermark(at=T0), scope))

    assert [[c.id for c in p.changes] for p in pages] == [["1"], ["2"]]
    # After Alpha only, Beta still starts at the old watermark: `at` must not move past it.
    assert pages[0].next_watermark.at == T0
    assert json.loads(pages[0].next_watermark.cursor or "")["projects"]["Alpha"] == AS_OF.isoformat()
    assert pages[-1].next_watermark.at == AS_OF
    assert [r.url.path for r in fake.sent("POST", "wiql")] == [
        "/contoso/Alpha/_apis/wit/wiql",
        "/contoso/Beta/_apis/wit/wiql",
    ]

    # The next poll starts each project from its own mark (minus the overlap).
    backend.queries.clear()
    list(connector.changes("workitem", pages[-1].next_watermark, scope))
    assert all("'2026-03-31T07:59:30.000Z'" in q for q in backend.queries)


def test_bisects_the_date_window_when_wiql_hits_the_cap(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    rows = [Row(i, "Alpha", T0 + timedelta(hours=i)) for i in range(1, 451)]
    backend = WiqlBackend(rows, cap=100)
    install(fake, backend)
    pages = list(make_connector().changes("workitem", Watermark(at=T0), Scope(containers=["Alpha"])))

    ids = [c.id for p in pages for c in p.changes]
    assert ids == [str(i) for i in range(1, 451)], "every item once, in order"
    assert all(len(p.changes) <= 100 for p in pages)
    assert len(backend.queries) > 5
    assert any("[System.ChangedDate] < '" in q for q in backend.queries)
    marks = [p.next_watermark.at for p in pages]
    assert marks == sorted(marks), "watermarks only move forward"
    assert marks[-1] == AS_OF


def test_start_later_than_the_watermark_wins_and_empty_results_still_advance(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    backend = WiqlBackend([])
    install(fake, backend)
    start = T0 + timedelta(days=3)
    pages = list(
        make_connector().changes("workitem", Watermark(at=T0), Scope(containers=["Alpha"], start=start))
    )
    assert "[System.ChangedDate] >= '2026-03-04T08:00:00.000Z'" in backend.queries[0]
    assert len(pages) == 1 and pages[0].changes == []
    assert pages[0].next_watermark.at == AS_OF
    assert not fake.sent("POST", "workitemsbatch")


def test_no_containers_queries_the_whole_organization(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    backend = WiqlBackend([Row(1, "Alpha", T0), Row(2, "Beta", T0)])
    install(fake, backend)
    pages = list(make_connector().changes("workitem", Watermark(), Scope()))
    assert fake.requests[0].url.path == "/contoso/_apis/wit/wiql"
    assert "@project" not in backend.queries[0]
    assert fake.requests[1].url.path == "/contoso/_apis/wit/workitemsbatch"
    assert {c.container for c in pages[0].changes} == {"Alpha", "Beta"}


def test_items_deleted_before_the_batch_read_are_skipped(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    backend = WiqlBackend([Row(1, "Alpha", T0), Row(2, "Alpha", T0 + timedelta(seconds=1))])
    install(fake, backend)
    backend.before_batch = lambda ids: backend.rows.pop(1, None)
    pages = list(make_connector().changes("workitem", Watermark(), Scope(containers=["Alpha"])))
    assert [c.id for c in pages[0].changes] == ["2"]


def test_unknown_entity_is_a_permanent_error(make_connector: Callable[..., AdoConnector]) -> None:
    from connectors.errors import PermanentError

    with pytest.raises(PermanentError, match="workitem"):
        list(make_connector().changes("task", Watermark(), Scope()))
