"""WIQL in the ADO emulator: parsing (unit), query semantics and errors over HTTP, date precision, the
20,000 cap, $top, ASOF, and the ChangedDate index that serves time-window polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ado_testkit import SpecValidator, make_client

from emulators.ado import AdoEmulator
from emulators.ado.errors import AdoError
from emulators.ado.processes import FieldRegistry
from emulators.ado.wiql import BoolOp, Condition, Literal, Macro, parse, tokenize

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


# --- parser ---------------------------------------------------------------------------------------


def test_tokenizer_handles_brackets_quotes_and_macros() -> None:
    tokens = tokenize(
        "SELECT [System.Id] FROM WorkItems WHERE [Title] = 'It''s' AND [ChangedDate] >= @today - 2"
    )
    kinds = [t.kind for t in tokens]
    assert kinds == [
        "word",
        "field",
        "word",
        "word",
        "word",
        "field",
        "op",
        "string",
        "word",
        "field",
        "op",
        "macro",
        "op",
        "number",
    ]


def test_parser_builds_precedence_and_resolves_names() -> None:
    query = parse(
        "Select [System.Id], System.Title From WorkItems Where [State] = 'Active' Or ([Priority] In (1, 2) "
        "And [System.AreaPath] Under 'P\\Web') Order By [Changed Date] Desc, [System.Id] Asof '2026-01-01'",
        FieldRegistry(),
    )
    assert [c.ref for c in query.columns] == ["System.Id", "System.Title"]
    assert isinstance(query.where, BoolOp) and query.where.kind == "or"
    left, right = query.where.parts
    assert isinstance(left, Condition) and left.definition.ref == "System.State" and left.op == "="
    assert isinstance(right, BoolOp) and right.kind == "and"
    priority, area = right.parts
    assert isinstance(priority, Condition) and priority.op == "in"
    assert [v.value for v in priority.values if isinstance(v, Literal)] == [1, 2]
    assert isinstance(area, Condition) and area.op == "under"
    assert [(d.ref, desc) for d, desc in query.order] == [("System.ChangedDate", True), ("System.Id", False)]
    assert query.as_of == "2026-01-01"


def test_parser_macros_and_negations() -> None:
    query = parse(
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
        "AND [System.ChangedDate] > @Today - 7 AND [System.Tags] NOT CONTAINS 'x' "
        "AND [System.State] NOT IN ('Closed') AND [System.AssignedTo] = @me "
        "AND [System.Description] IS NOT EMPTY",
        FieldRegistry(),
    )
    assert isinstance(query.where, BoolOp)
    conditions = list(query.where.parts)
    assert isinstance(conditions[0], Condition) and conditions[0].values == (Macro("project", 0, "@project"),)
    assert isinstance(conditions[1], Condition) and conditions[1].values[0] == Macro(
        "today", -7, "@Today - 7"
    )
    assert [c.negate for c in conditions if isinstance(c, Condition)] == [
        False,
        False,
        True,
        True,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("SELECT [System.Id] WorkItems", "Expecting FROM"),
        ("SELECT [System.Id] FROM Bugs", "Expecting WorkItems"),
        ("SELECT [System.Id] FROM WorkItemLinks", "Only flat queries"),
        ("SELECT [System.Id] FROM WorkItems WHERE [System.Title] 'x'", "Expecting a comparison operator"),
        ("SELECT [System.Id] FROM WorkItems WHERE ([System.Id] = 1", "ends unexpectedly"),
        ("SELECT [System.Id] FROM WorkItems WHERE [System.Title] = 'x' junk", "Unexpected text"),
        ("UPDATE WorkItems", "Expecting SELECT"),
        ("SELECT [System.Id] FROM WorkItems WHERE [System.Title] UNDER 'x'", "tree path"),
        ("SELECT [System.Id] FROM WorkItems WHERE [System.Title] EVER 'x'", "EVER"),
    ],
)
def test_parser_syntax_errors(query: str, fragment: str) -> None:
    with pytest.raises(AdoError) as info:
        parse(query, FieldRegistry())
    assert info.value.status == 400
    assert info.value.message.startswith("TF51006:")
    assert fragment in info.value.message


def test_parser_unknown_field() -> None:
    with pytest.raises(AdoError) as info:
        parse("SELECT [System.Id] FROM WorkItems WHERE [Custom.Nope] = 1", FieldRegistry())
    assert info.value.message == (
        "TF51005: The query references a field that does not exist. The error is caused by «[Custom.Nope]»."
    )


# --- semantics over HTTP --------------------------------------------------------------------------


@pytest.fixture
def seeded(ado: AdoEmulator) -> dict[str, int]:
    """A small, fixed data set across two projects with ChangedDates one hour apart from T0."""
    ado.seed_project("Alpha", areas=["Web", "Web\\Frontend", "Mobile"])
    ado.seed_project("Beta")
    prio, remaining = "Microsoft.VSTS.Common.Priority", "Microsoft.VSTS.Scheduling.RemainingWork"
    rows = [
        ("story", "Alpha", "User Story", {"System.Title": "Login page", "System.State": "Active", prio: 1,
                                          "System.AreaPath": "Alpha\\Web", "System.Tags": "ux; web",
                                          "System.AssignedTo": "ann.chen@contoso.com"}),
        ("task1", "Alpha", "Task", {"System.Title": "Build login form", "System.State": "Closed", prio: 2,
                                    "System.AreaPath": "Alpha\\Web\\Frontend", remaining: 0}),
        ("task2", "Alpha", "Task", {"System.Title": "Login API", prio: 3, "System.AreaPath": "Alpha\\Mobile",
                                    remaining: 5, "System.AssignedTo": "bob.smith@contoso.com"}),
        ("bug", "Alpha", "Bug", {"System.Title": "Crash on start", "System.State": "Active", prio: 1,
                                 "System.Tags": "crash"}),
        ("beta", "Beta", "Task", {"System.Title": "Other project", prio: 2}),
    ]  # fmt: skip
    ids = {}
    for hour, (key, project, type_name, fields) in enumerate(rows):
        stamp = (T0 + timedelta(hours=hour)).isoformat()
        ids[key] = ado.seed_work_item(
            project, type_name, {**fields, "System.ChangedDate": stamp, "System.CreatedDate": stamp}
        )
    return ids


def _ids(
    client: httpx.Client, where: str, *, project: str = "Alpha", order: str = "", **params: object
) -> list[int]:
    query = f"SELECT [System.Id] FROM WorkItems WHERE {where} {order}".strip()
    response = client.post(f"/{project}/_apis/wit/wiql", json={"query": query}, params=params)
    assert response.status_code == 200, response.text
    return [w["id"] for w in response.json()["workItems"]]


def test_response_shape_matches_spec(
    client: httpx.Client, seeded: dict[str, int], spec: SpecValidator, ado: AdoEmulator
) -> None:
    response = client.post(
        "/Alpha/_apis/wit/wiql",
        json={
            "query": "SELECT [System.Id], [System.Title] FROM WorkItems "
            "WHERE [System.TeamProject] = @project ORDER BY [System.ChangedDate] DESC"
        },
    )
    body = response.json()
    spec.check("wit", "Wiql_Query By Wiql", body)
    assert body["queryType"] == "flat" and body["queryResultType"] == "workItem"
    assert body["columns"][1] == {
        "referenceName": "System.Title",
        "name": "Title",
        "url": f"{ado.base_url}/_apis/wit/fields/System.Title",
    }
    assert body["sortColumns"][0]["descending"] is True
    assert body["workItems"][0] == {
        "id": seeded["bug"],
        "url": f"{ado.base_url}/_apis/wit/workItems/{seeded['bug']}",
    }
    assert datetime.fromisoformat(body["asOf"]) > T0


def test_comparisons_and_boolean_logic(client: httpx.Client, seeded: dict[str, int]) -> None:
    s = seeded
    alpha = "[System.TeamProject] = @project"
    assert _ids(client, alpha) == [s["story"], s["task1"], s["task2"], s["bug"]]
    assert _ids(client, "[System.TeamProject] = 'beta'") == [s["beta"]]
    assert _ids(client, f"{alpha} AND [System.WorkItemType] = 'task'") == [s["task1"], s["task2"]]
    assert _ids(client, f"{alpha} AND [System.State] <> 'Closed' AND [Priority] >= 2") == [s["task2"]]
    assert _ids(client, f"{alpha} AND ([Priority] = 1 OR [Remaining Work] > 4)") == [
        s["story"],
        s["task2"],
        s["bug"],
    ]
    assert _ids(client, "[Priority] IN (1, 3)") == [s["story"], s["task2"], s["bug"]]
    assert _ids(client, "[System.State] NOT IN ('Active', 'Closed')") == [s["task2"], s["beta"]]
    assert _ids(client, "[System.AreaPath] UNDER 'Alpha\\Web'") == [s["story"], s["task1"]]
    assert _ids(client, "[System.AreaPath] NOT UNDER 'Alpha\\Web' AND [System.TeamProject] = @project") == [
        s["task2"],
        s["bug"],
    ]
    assert _ids(client, "[System.AreaPath] = 'alpha\\web'") == [s["story"]]
    assert _ids(client, "[System.Title] CONTAINS 'login'") == [s["story"], s["task1"], s["task2"]]
    assert _ids(client, "[System.Title] CONTAINS WORDS 'log'") == []
    assert _ids(client, "[System.Tags] CONTAINS 'Web'") == [s["story"]]
    assert _ids(client, "[System.AssignedTo] = 'Ann Chen'") == [s["story"]]
    assert _ids(client, "[System.AssignedTo] = 'bob.smith@contoso.com'") == [s["task2"]]
    assert _ids(client, "[System.AssignedTo] = '' AND [System.TeamProject] = @project") == [
        s["task1"],
        s["bug"],
    ]
    assert _ids(client, "[System.AssignedTo] <> ''") == [s["story"], s["task2"]]
    assert _ids(client, "[System.Tags] IS EMPTY AND [System.TeamProject] = @project") == [
        s["task1"],
        s["task2"],
    ]
    assert _ids(client, "[System.Id] IN (" + f"{s['bug']}, {s['beta']}, 999)") == [s["bug"], s["beta"]]
    assert _ids(client, f"[System.Id] = {s['task1']}") == [s["task1"]]
    assert _ids(client, "[System.ChangedDate] = [System.CreatedDate] AND [Priority] = 2") == [
        s["task1"],
        s["beta"],
    ]


def test_macros_me_and_today(ado: AdoEmulator, seeded: dict[str, int]) -> None:
    ado.add_pat("ann-pat", "ann.chen@contoso.com")
    with make_client(ado, pat="ann-pat") as ann:
        assert _ids(ann, "[System.AssignedTo] = @me") == [seeded["story"]]
    ado.clock.freeze(T0 + timedelta(days=1, hours=3))
    with make_client(ado) as c:
        assert _ids(c, "[System.ChangedDate] >= @today - 1") == list(seeded.values())
        assert _ids(c, "[System.ChangedDate] >= @today") == []
        assert _ids(c, "[System.ChangedDate] < @today", order="ORDER BY [System.Id] DESC") == sorted(
            seeded.values(), reverse=True
        )


def test_ordering(client: httpx.Client, seeded: dict[str, int]) -> None:
    s = seeded
    where = "[System.TeamProject] = @project"
    assert _ids(client, where, order="ORDER BY [Priority] DESC, [System.Title] ASC") == [
        s["task2"],
        s["task1"],
        s["bug"],
        s["story"],
    ]
    assert _ids(client, where, order="ORDER BY [System.ChangedDate] DESC") == [
        s["bug"],
        s["task2"],
        s["task1"],
        s["story"],
    ]
    # empty values sort first ascending, last descending
    assert _ids(client, where, order="ORDER BY [System.AssignedTo]") == [
        s["task1"],
        s["bug"],
        s["story"],
        s["task2"],
    ]
    assert _ids(client, where, order="ORDER BY [System.AssignedTo] DESC") == [
        s["task2"],
        s["story"],
        s["task1"],
        s["bug"],
    ]


def test_day_precision_by_default(client: httpx.Client, seeded: dict[str, int]) -> None:
    response = client.post(
        "/Alpha/_apis/wit/wiql",
        json={
            "query": "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2026-03-10T10:00:00Z'"
        },
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "You cannot supply a time with the date when running a query using date precision. "
        "The error is caused by «[System.ChangedDate] >= '2026-03-10T10:00:00Z'»."
    )
    # the flag in the body is ignored, as on the real service
    response = client.post(
        "/Alpha/_apis/wit/wiql",
        json={
            "query": "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] > '2026-03-10T10:00:00Z'",
            "timePrecision": True,
        },
    )
    assert response.status_code == 400
    assert _ids(client, "[System.ChangedDate] >= '2026-03-10'") == list(seeded.values())
    assert _ids(client, "[System.ChangedDate] > '2026-03-10'") == []
    assert _ids(client, "[System.ChangedDate] = '2026-03-10'") == list(seeded.values())


def test_time_precision_on_the_query_string(client: httpx.Client, seeded: dict[str, int]) -> None:
    s = seeded
    where = "[System.ChangedDate] >= '2026-03-10T10:00:00Z'"
    assert _ids(client, where, timePrecision="true") == [s["task2"], s["bug"], s["beta"]]
    assert _ids(client, "[System.ChangedDate] > '2026-03-10T10:00:00Z'", timePrecision="true") == [
        s["bug"],
        s["beta"],
    ]
    assert _ids(client, "[System.ChangedDate] < '2026-03-10T09:00:00.001+00:00'", timePrecision="true") == [
        s["story"],
        s["task1"],
    ]
    assert _ids(client, "[System.ChangedDate] >= '2026-03-10'", timePrecision="true") == list(s.values())


def test_result_cap_and_top(ado: AdoEmulator, client: httpx.Client, seeded: dict[str, int]) -> None:
    ado.configure(wiql_max_results=3)
    response = client.post("/Alpha/_apis/wit/wiql", json={"query": "SELECT [System.Id] FROM WorkItems"})
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "VS402337: The number of work items returned exceeds the size limit of 3"
    )
    assert _ids(client, "[System.Id] > 0", order="ORDER BY [System.Id] DESC", **{"$top": 2}) == [
        seeded["beta"],
        seeded["bug"],
    ]
    assert len(_ids(client, "[Priority] = 1")) == 2


def test_as_of_queries_history(ado: AdoEmulator, client: httpx.Client, seeded: dict[str, int]) -> None:
    ado.state.update_work_item(
        seeded["task2"], {"System.State": "Closed", "System.ChangedDate": "2026-03-11T00:00:00Z"}
    )
    assert _ids(client, "[System.State] = 'Closed'") == [seeded["task1"], seeded["task2"]]
    response = client.post(
        "/Alpha/_apis/wit/wiql",
        json={
            "query": "SELECT [System.Id] FROM WorkItems WHERE [System.State] = 'Closed' "
            "ASOF '2026-03-10T12:00:00Z'"
        },
    )
    assert [w["id"] for w in response.json()["workItems"]] == [seeded["task1"]]
    assert response.json()["asOf"] == "2026-03-10T12:00:00Z"


def test_errors_and_context(client: httpx.Client, seeded: dict[str, int]) -> None:
    org_level = client.post(
        "/_apis/wit/wiql",
        json={"query": "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"},
    )
    assert org_level.status_code == 400 and "@project" in org_level.json()["message"]
    assert (
        client.post("/_apis/wit/wiql", json={"query": "SELECT [System.Id] FROM WorkItems"}).status_code == 200
    )
    team = client.post(
        "/Alpha/Alpha%20Team/_apis/wit/wiql",
        json={"query": "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"},
    )
    assert team.status_code == 200 and len(team.json()["workItems"]) == 4
    assert (
        client.post("/Nope/_apis/wit/wiql", json={"query": "SELECT [System.Id] FROM WorkItems"}).status_code
        == 404
    )
    assert client.post("/Alpha/_apis/wit/wiql", json={}).status_code == 400
    bad_date = client.post(
        "/Alpha/_apis/wit/wiql",
        json={"query": "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] > 'soon'"},
    )
    assert bad_date.status_code == 400
    assert (
        client.post(
            "/Alpha/_apis/wit/wiql",
            json={"query": "SELECT [System.Id] FROM WorkItems WHERE [Priority] > 'high'"},
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/Alpha/_apis/wit/wiql",
            json={"query": "SELECT [System.Id] FROM WorkItems WHERE [System.Id] = @currentIteration"},
        ).status_code
        == 400
    )


def test_deleted_items_are_not_returned(
    ado: AdoEmulator, client: httpx.Client, seeded: dict[str, int]
) -> None:
    client.delete(f"/_apis/wit/workitems/{seeded['bug']}")
    assert seeded["bug"] not in _ids(client, "[System.TeamProject] = @project")
    assert seeded["bug"] not in _ids(client, "[System.ChangedDate] >= '2026-03-10'")


def test_index_follows_updates(ado: AdoEmulator, client: httpx.Client, seeded: dict[str, int]) -> None:
    ado.clock.freeze(T0 + timedelta(days=5))
    watermark = (T0 + timedelta(days=4)).isoformat().replace("+00:00", "Z")
    where = f"[System.ChangedDate] >= '{watermark}'"
    assert _ids(client, where, timePrecision="true") == []
    ado.state.update_work_item(seeded["task1"], {"System.Title": "renamed"})
    response = client.post(
        "/Alpha/_apis/wit/wiql",
        json={"query": f"SELECT [System.Id] FROM WorkItems WHERE {where}"},
        params={"timePrecision": "true"},
    )
    assert [w["id"] for w in response.json()["workItems"]] == [seeded["task1"]]
    assert response.headers["x-emulator-wiql-plan"] == "changedDate"
