"""`read()`, `write()` and `find_by_correlation()`: exact requests, JSON Patch bodies, errors per write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from connectors.ado import AdoConnector
from connectors.contract import Write
from connectors.errors import PermanentError, ThrottledError, VersionConflict
from tests.connectors.ado_fakes import BASE, FakeAdo, Spec, ado_error, work_item

SERVER = "https://tfs.contoso.com/tfs/DefaultCollection"
PARENT = "System.LinkTypes.Hierarchy-Reverse"
ANN = {
    "displayName": "Ann Lee",
    "uniqueName": "ann@contoso.com",
    "id": "0d1f4b7e-1111-2222-3333-444455556666",
    "descriptor": "aad.MDAw",
}


def batch_of(*items: dict[str, Any] | None) -> httpx.Response:
    return httpx.Response(200, json={"count": len(items), "value": list(items)})


def echo_patch(item_id: int = 42, rev: int = 5) -> Callable[[httpx.Request], httpx.Response]:
    """Answer a create/update with a work item carrying the fields the patch set."""

    def handler(request: httpx.Request) -> httpx.Response:
        fields = {
            op["path"][len("/fields/") :]: op["value"]
            for op in FakeAdo.body(request)
            if op["op"] == "add" and op["path"].startswith("/fields/")
        }
        relations = [op["value"] for op in FakeAdo.body(request) if op["path"] == "/relations/-"]
        return httpx.Response(200, json=work_item(item_id, rev, relations=relations, **fields))

    return handler


# --- read ----------------------------------------------------------------------------------------


def test_read_batches_by_200_with_relations_and_omit(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    def batch(request: httpx.Request) -> httpx.Response:
        ids = FakeAdo.body(request)["ids"]
        return batch_of(*[None if i == 7 else work_item(i) for i in ids])

    fake.on("POST", r"/_apis/wit/workitemsbatch$", batch)
    items = make_connector().read("workitem", [str(i) for i in range(1, 451)] + ["not-a-number"])

    requests = fake.sent("POST", "workitemsbatch")
    assert [len(FakeAdo.body(r)["ids"]) for r in requests] == [200, 200, 50]
    first = requests[0]
    assert first.url.path == "/contoso/_apis/wit/workitemsbatch"
    assert dict(first.url.params) == {"api-version": "7.1"}
    assert FakeAdo.body(first) == {"ids": list(range(1, 201)), "errorPolicy": "omit", "$expand": "relations"}
    specs("wit").validate("WorkItemBatchGetRequest", FakeAdo.body(first))
    specs("wit").check_query(first)
    assert len(items) == 449 and "7" not in {i.id for i in items}


def test_read_maps_item_fields_identities_tags_and_parent(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    relations = [
        {"rel": "System.LinkTypes.Related", "url": f"{BASE}/_apis/wit/workItems/3", "attributes": {}},
        {"rel": PARENT, "url": f"{BASE}/_apis/wit/workItems/10", "attributes": {"isLocked": False}},
    ]
    raw = work_item(
        11,
        7,
        type="User Story",
        relations=relations,
        System__AssignedTo=ANN,
        System__ChangedBy={**ANN, "uniqueName": "bob@contoso.com"},
        System__Tags="tandem:c-123; Customer; Urgent",
        System__Title="Ship it",
    )
    fake.on("POST", r"workitemsbatch$", batch_of(raw))
    (item,) = make_connector().read("workitem", ["11"])

    assert (item.id, item.version, item.container, item.type) == ("11", "7", "Alpha", "User Story")
    assert item.parent_id == "10"
    assert item.correlation_id == "c-123"
    assert item.changed_by == "bob@contoso.com"
    assert item.changed_at is not None and item.changed_at.isoformat() == "2026-01-01T10:00:00+00:00"
    assert item.created_at is not None
    assert item.fields["System.AssignedTo"] == "ann@contoso.com"
    assert item.fields["System.Tags"] == "Customer; Urgent"
    assert item.fields["System.Title"] == "Ship it"


def test_read_drops_tags_field_when_only_the_correlation_tag_was_there(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("POST", r"workitemsbatch$", batch_of(work_item(5, System__Tags="tandem:x1")))
    (item,) = make_connector().read("workitem", ["5"])
    assert "System.Tags" not in item.fields
    assert item.correlation_id == "x1"


def test_server_identities_map_through_the_identity_map(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    raw = work_item(
        5,
        System__AssignedTo={"displayName": "Ann Lee", "uniqueName": "CONTOSO\\ann"},
        System__ChangedBy="Bob Ray <CONTOSO\\bob>",
        System__CreatedBy={"displayName": "Someone", "uniqueName": "CONTOSO\\unmapped"},
    )
    fake.on("POST", r"workitemsbatch$", batch_of(raw))
    connector = make_connector(
        SERVER,
        "ado_server",
        deployment="server",
        api_version="7.0",
        identity_map={"CONTOSO\\ann": "ann@contoso.com", "contoso\\BOB": "bob@contoso.com"},
    )
    (item,) = connector.read("workitem", ["5"])
    assert item.fields["System.AssignedTo"] == "ann@contoso.com"
    assert item.fields["System.ChangedBy"] == "bob@contoso.com"
    assert item.changed_by == "bob@contoso.com"
    assert item.fields["System.CreatedBy"] == "CONTOSO\\unmapped"
    assert fake.requests[0].url.path == "/tfs/DefaultCollection/_apis/wit/workitemsbatch"
    assert fake.requests[0].url.params["api-version"] == "7.0"


# --- create --------------------------------------------------------------------------------------


def test_create_posts_a_json_patch_to_the_type_url(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    fake.on("POST", r"/_apis/wit/workitems/", echo_patch(42, 1))
    write = Write(
        container="Alpha Team",
        type="User Story",
        correlation_id="c-9",
        parent_id="10",
        fields={
            "System.Title": "New",
            "System.Tags": "Customer",
            "Microsoft.VSTS.Scheduling.Effort": 3,
            "X": None,
        },
    )
    (result,) = make_connector().write("workitem", [write])

    request = fake.requests[0]
    assert request.method == "POST"
    assert request.url.raw_path.startswith(b"/contoso/Alpha%20Team/_apis/wit/workitems/$User%20Story?")
    assert request.url.params["api-version"] == "7.1"
    assert request.url.params["$expand"] == "relations"
    assert request.headers["Content-Type"] == "application/json-patch+json"
    ops = FakeAdo.body(request)
    specs("wit").validate("JsonPatchDocument", ops)
    specs("wit").check_query(request)
    assert ops == [
        {"op": "add", "path": "/fields/System.Title", "value": "New"},
        {"op": "add", "path": "/fields/Microsoft.VSTS.Scheduling.Effort", "value": 3},
        {"op": "add", "path": "/fields/System.Tags", "value": "Customer; tandem:c-9"},
        {
            "op": "add",
            "path": "/relations/-",
            "value": {"rel": PARENT, "url": f"{BASE}/_apis/wit/workItems/10"},
        },
    ]
    assert result.ok and result.item is not None
    assert result.item.id == "42" and result.item.version == "1"
    assert result.item.correlation_id == "c-9"
    assert result.item.parent_id == "10"
    assert result.item.fields["System.Tags"] == "Customer"


def test_create_on_server_sends_mapped_accounts(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    fake.on(
        "GET",
        r"/_apis/wit/fields$",
        httpx.Response(
            200,
            json={
                "count": 1,
                "value": [
                    {
                        "referenceName": "Custom.Reviewer",
                        "name": "Reviewer",
                        "type": "string",
                        "isIdentity": True,
                    },
                ],
            },
        ),
    )
    fake.on("POST", r"/_apis/wit/workitems/", echo_patch())
    connector = make_connector(
        SERVER,
        "ado_server",
        deployment="server",
        api_version="6.0",
        identity_map={"CONTOSO\\ann": "ann@contoso.com"},
    )
    (result,) = connector.write(
        "workitem",
        [
            Write(
                container="P",
                type="Task",
                fields={"System.AssignedTo": "Ann@Contoso.com", "Custom.Reviewer": "ann@contoso.com"},
            )
        ],
    )
    assert result.ok, result.error
    ops = FakeAdo.body(fake.sent("POST", "workitems")[0])
    assert {"op": "add", "path": "/fields/System.AssignedTo", "value": "CONTOSO\\ann"} in ops
    assert {"op": "add", "path": "/fields/Custom.Reviewer", "value": "CONTOSO\\ann"} in ops
    request = fake.sent("POST", "workitems")[0]
    assert request.url.path == "/tfs/DefaultCollection/P/_apis/wit/workitems/$Task"
    onprem = specs("wit", True)
    onprem.validate("JsonPatchDocument", ops)
    onprem.check_query(request, base=SERVER)


def test_create_without_project_or_type_fails_that_write_only(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("POST", r"/_apis/wit/workitems/", echo_patch())
    results = make_connector().write(
        "workitem", [Write(type="Task", fields={"System.Title": "x"}), Write(container="A", type="Task")]
    )
    assert isinstance(results[0].error, PermanentError)
    assert "container" in results[0].error.message
    assert results[1].ok
    assert len(fake.requests) == 1


# --- update --------------------------------------------------------------------------------------


def test_conditional_update_leads_with_test_rev(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    fake.on("PATCH", r"/_apis/wit/workitems/42$", echo_patch(42, 6))
    (result,) = make_connector().write(
        "workitem",
        [Write(id="42", expected_version="5", fields={"System.Title": "Renamed", "System.State": "Active"})],
    )
    (request,) = fake.requests  # no read first: nothing needed one
    assert request.url.path == "/contoso/_apis/wit/workitems/42"
    assert request.headers["Content-Type"] == "application/json-patch+json"
    assert dict(request.url.params) == {"api-version": "7.1", "$expand": "relations"}
    ops = FakeAdo.body(request)
    specs("wit").validate("JsonPatchDocument", ops)
    specs("wit").check_query(request)
    assert ops == [
        {"op": "test", "path": "/rev", "value": 5},
        {"op": "add", "path": "/fields/System.Title", "value": "Renamed"},
        {"op": "add", "path": "/fields/System.State", "value": "Active"},
    ]
    assert result.ok and result.item is not None and result.item.version == "6"


def test_412_is_a_version_conflict_in_the_result_and_the_batch_goes_on(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on(
        "PATCH",
        r"/workitems/1$",
        ado_error(412, "TF26071: This work item has been changed by someone else since you opened it."),
    )
    fake.on("PATCH", r"/workitems/2$", echo_patch(2, 3))
    results = make_connector().write(
        "workitem",
        [
            Write(id="1", expected_version="4", fields={"System.Title": "a"}),
            Write(id="2", fields={"System.Title": "b"}),
        ],
    )
    assert isinstance(results[0].error, VersionConflict)
    assert "re-read" in results[0].error.message
    assert results[0].error.status == 412
    assert results[1].ok


def test_none_removes_only_fields_that_have_a_value(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("GET", r"/_apis/wit/workitems/42$", httpx.Response(200, json=work_item(42, 5, Custom__A="x")))
    fake.on("PATCH", r"/_apis/wit/workitems/42$", echo_patch(42, 6))
    make_connector().write(
        "workitem", [Write(id="42", expected_version="5", fields={"Custom.A": None, "Custom.B": None})]
    )
    get, patch_request = fake.requests
    assert get.url.params["$expand"] == "relations"
    assert FakeAdo.body(patch_request) == [
        {"op": "test", "path": "/rev", "value": 5},
        {"op": "remove", "path": "/fields/Custom.A"},
    ]


def test_stale_expected_version_seen_on_the_pre_read_is_a_conflict_without_a_patch(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("GET", r"/_apis/wit/workitems/42$", httpx.Response(200, json=work_item(42, 9)))
    (result,) = make_connector().write(
        "workitem", [Write(id="42", expected_version="5", fields={"Custom.A": None})]
    )
    assert isinstance(result.error, VersionConflict)
    assert not fake.sent("PATCH", ".")


def test_replacing_tags_keeps_the_correlation_tag(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on(
        "GET", r"/workitems/42$", httpx.Response(200, json=work_item(42, 5, System__Tags="Old; tandem:c-1"))
    )
    fake.on("PATCH", r"/workitems/42$", echo_patch(42, 6))
    (result,) = make_connector().write("workitem", [Write(id="42", fields={"System.Tags": "New; Other"})])
    assert FakeAdo.body(fake.sent("PATCH", ".")[0]) == [
        {"op": "add", "path": "/fields/System.Tags", "value": "New; Other; tandem:c-1"}
    ]
    assert result.item is not None and result.item.fields["System.Tags"] == "New; Other"
    assert result.item.correlation_id == "c-1"


def test_changing_the_parent_removes_the_old_link_by_index_under_test_rev(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    relations = [
        {"rel": "System.LinkTypes.Related", "url": f"{BASE}/_apis/wit/workItems/3", "attributes": {}},
        {"rel": PARENT, "url": f"{BASE}/_apis/wit/workItems/10", "attributes": {}},
    ]
    fake.on("GET", r"/workitems/42$", httpx.Response(200, json=work_item(42, 8, relations=relations)))
    fake.on("PATCH", r"/workitems/42$", echo_patch(42, 9))
    (result,) = make_connector().write("workitem", [Write(id="42", set_parent=True, parent_id="11")])
    ops = FakeAdo.body(fake.sent("PATCH", ".")[0])
    specs("wit").validate("JsonPatchDocument", ops)
    assert ops == [
        {"op": "test", "path": "/rev", "value": 8},
        {"op": "remove", "path": "/relations/1"},
        {
            "op": "add",
            "path": "/relations/-",
            "value": {"rel": PARENT, "url": f"{BASE}/_apis/wit/workItems/11"},
        },
    ]
    assert result.item is not None and result.item.parent_id == "11"


def test_removing_the_parent_and_no_op_updates(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    relations = [{"rel": PARENT, "url": f"{BASE}/_apis/wit/workItems/10", "attributes": {}}]
    fake.on("GET", r"/workitems/42$", httpx.Response(200, json=work_item(42, 8, relations=relations)))
    fake.on("PATCH", r"/workitems/42$", echo_patch(42, 9))
    connector = make_connector()
    connector.write("workitem", [Write(id="42", set_parent=True, parent_id=None)])
    assert FakeAdo.body(fake.sent("PATCH", ".")[0]) == [
        {"op": "test", "path": "/rev", "value": 8},
        {"op": "remove", "path": "/relations/0"},
    ]
    fake.requests.clear()
    (same,) = connector.write("workitem", [Write(id="42", set_parent=True, parent_id="10")])
    assert not fake.sent("PATCH", "."), "the parent is already 10: nothing to write"
    assert same.ok and same.item is not None and same.item.version == "8"


def test_throttling_is_returned_and_the_rest_of_the_batch_is_not_attempted(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on(
        "PATCH",
        r"/workitems/",
        httpx.Response(429, headers={"Retry-After": "20"}, json={"message": "TF400733: Request was blocked"}),
    )
    results = make_connector().write(
        "workitem", [Write(id=str(i), fields={"System.Title": "t"}) for i in (1, 2, 3)]
    )
    assert len(fake.requests) == 1
    assert all(isinstance(r.error, ThrottledError) for r in results)
    assert [r.error.retry_after for r in results if r.error] == [20.0, 20.0, 20.0]
    assert "not attempted" in str(results[2].error)


def test_validation_errors_carry_the_server_message(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on(
        "PATCH",
        r"/workitems/5$",
        ado_error(400, "TF401320: Rule Error for field State. Error code: Required, InvalidEmpty."),
    )
    (result,) = make_connector().write("workitem", [Write(id="5", fields={"System.State": ""})])
    assert type(result.error) is PermanentError
    assert result.error.code == "TF401320"
    assert "Rule Error for field State" in str(result.error)


# --- correlation ---------------------------------------------------------------------------------


def test_find_by_correlation_queries_the_whole_org_by_tag(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    fake.on(
        "POST",
        r"/_apis/wit/wiql$",
        httpx.Response(200, json={"asOf": "2026-01-01T00:00:00Z", "workItems": [{"id": 8}, {"id": 9}]}),
    )
    fake.on(
        "POST",
        r"workitemsbatch$",
        batch_of(work_item(8, System__Tags="tandem:c-77x"), work_item(9, System__Tags="a; tandem:c-77")),
    )
    item = make_connector().find_by_correlation("workitem", "c-77")
    assert item is not None and item.id == "9" and item.correlation_id == "c-77"
    wiql_request = fake.requests[0]
    assert wiql_request.url.path == "/contoso/_apis/wit/wiql"
    assert dict(wiql_request.url.params) == {"api-version": "7.1"}
    specs("wit").validate("Wiql", FakeAdo.body(wiql_request))
    specs("wit").check_query(wiql_request)
    assert FakeAdo.body(wiql_request)["query"] == (
        "SELECT [System.Id] FROM WorkItems WHERE [System.Tags] CONTAINS 'tandem:c-77'"
        " ORDER BY [System.Id] ASC"
    )


def test_find_by_correlation_none_found(fake: FakeAdo, make_connector: Callable[..., AdoConnector]) -> None:
    fake.on("POST", r"/_apis/wit/wiql$", httpx.Response(200, json={"workItems": []}))
    assert make_connector().find_by_correlation("workitem", "nope") is None
    assert len(fake.requests) == 1


def test_correlation_in_a_custom_field(fake: FakeAdo, make_connector: Callable[..., AdoConnector]) -> None:
    fake.on("POST", r"/_apis/wit/workitems/", echo_patch(42, 1))
    fake.on("POST", r"/_apis/wit/wiql$", httpx.Response(200, json={"workItems": [{"id": 42}]}))
    fake.on("POST", r"workitemsbatch$", batch_of(work_item(42, Custom__Corr="c-5", System__Tags="keep")))
    connector = make_connector(correlation_field="Custom.Corr")
    (created,) = connector.write("workitem", [Write(container="A", type="Task", correlation_id="c-5")])
    assert FakeAdo.body(fake.requests[0]) == [{"op": "add", "path": "/fields/Custom.Corr", "value": "c-5"}]
    assert created.item is not None and created.item.correlation_id == "c-5"
    found = connector.find_by_correlation("workitem", "c-5")
    assert "[Custom.Corr] = 'c-5'" in FakeAdo.body(fake.sent("POST", "wiql")[0])["query"]
    assert found is not None and found.fields["System.Tags"] == "keep" and "Custom.Corr" not in found.fields


def test_correlation_ids_that_cannot_be_tags_are_refused(make_connector: Callable[..., AdoConnector]) -> None:
    (result,) = make_connector().write("workitem", [Write(container="A", type="Task", correlation_id="a;b")])
    assert isinstance(result.error, PermanentError)
