"""ADO emulator work items over HTTP: create/update with JSON Patch, rules and system fields, optimistic
concurrency, identities, relations, reads (single, list, batch, asOf), history, delete/restore, the
reporting revisions feed — responses checked against the 7.1 specs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ado_testkit import PATCH_HEADERS, SpecValidator, add_fields, create, make_client, update

from emulators.ado import AdoEmulator


@pytest.fixture
def project(ado: AdoEmulator) -> str:
    ado.seed_project("Fabrikam", "Agile", areas=["Web", "Web\\Frontend", "Mobile"], iterations=["Sprint 1"])
    return "Fabrikam"


def _parent_rel(ado: AdoEmulator, parent: int, rel: str = "System.LinkTypes.Hierarchy-Reverse") -> dict:
    return {
        "op": "add",
        "path": "/relations/-",
        "value": {"rel": rel, "url": f"{ado.base_url}/_apis/wit/workItems/{parent}"},
    }


# --- create ---------------------------------------------------------------------------------------


def test_create_returns_work_item_with_system_fields(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    response = create(
        client, project, "Task", add_fields(System_Title="Write docs", System_Description="<p>Hi</p>")
    )
    assert response.status_code == 200
    body = response.json()
    spec.check("wit", "Work Items_Create", body)
    assert body["id"] == 1 and body["rev"] == 1
    fields = body["fields"]
    assert fields["System.TeamProject"] == "Fabrikam"
    assert fields["System.AreaPath"] == "Fabrikam"
    assert fields["System.IterationPath"] == "Fabrikam"
    assert fields["System.WorkItemType"] == "Task"
    assert fields["System.State"] == "New"
    assert fields["System.Reason"] == "New"
    assert fields["System.Title"] == "Write docs"
    assert fields["Microsoft.VSTS.Common.Priority"] == 2
    assert fields["System.CreatedDate"] == fields["System.ChangedDate"]
    assert fields["System.CreatedDate"].endswith("Z")
    assert fields["System.CreatedBy"]["uniqueName"] == "tandem-sync@contoso.com"
    assert set(fields["System.ChangedBy"]) >= {
        "displayName",
        "uniqueName",
        "id",
        "descriptor",
        "url",
        "_links",
        "imageUrl",
    }
    assert "System.AssignedTo" not in fields  # empty fields are omitted
    assert "System.Id" not in fields and "System.Rev" not in fields  # hidden unless asked for
    assert body["url"] == f"{ado.base_url}/_apis/wit/workItems/1"
    assert body["_links"]["self"]["href"] == body["url"]
    assert ado.counters.writes("create") == 1


def test_create_with_project_id_and_encoded_type(
    ado: AdoEmulator, client: httpx.Client, project: str
) -> None:
    project_id = ado.state.project(project).id
    response = client.post(
        f"/{project_id}/_apis/wit/workitems/%24User%20Story",
        json=add_fields(System_Title="Story"),
        headers=PATCH_HEADERS,
    )
    assert response.status_code == 200
    fields = response.json()["fields"]
    assert fields["System.WorkItemType"] == "User Story"
    assert fields["Microsoft.VSTS.Common.ValueArea"] == "Business"


def test_create_unknown_type_project_and_field(client: httpx.Client, project: str) -> None:
    response = create(client, project, "Spaceship", add_fields(System_Title="x"))
    assert response.status_code == 404
    assert response.json()["typeKey"] == "WorkItemTypeNotFoundException"
    response = create(client, "NoSuchProject", "Task", add_fields(System_Title="x"))
    assert response.status_code == 404
    assert response.json()["message"].startswith("TF200016")
    response = create(client, project, "Task", add_fields(System_Title="x", Custom_Nope="y"))
    assert response.status_code == 400
    assert response.json()["message"] == "TF51535: Cannot find field Custom.Nope."
    assert response.json()["typeKey"] == "WorkItemTrackingFieldDefinitionNotFoundException"


def test_content_type_must_be_json_patch(client: httpx.Client, project: str) -> None:
    response = client.post(f"/{project}/_apis/wit/workitems/$Task", json=add_fields(System_Title="x"))
    assert response.status_code == 415
    assert response.json()["typeKey"] == "VssRequestContentTypeNotSupportedException"


@pytest.mark.parametrize("body", [{"op": "add"}, [{"op": "explode", "path": "/fields/System.Title"}], "text"])
def test_invalid_patch_documents(client: httpx.Client, project: str, body: object) -> None:
    response = client.post(f"/{project}/_apis/wit/workitems/$Task", json=body, headers=PATCH_HEADERS)
    assert response.status_code == 400
    assert response.json()["message"] == "You must pass a valid patch document in the body of the request."


def test_title_is_required_and_state_must_exist(client: httpx.Client, project: str) -> None:
    response = create(client, project, "Task", add_fields(System_Description="no title"))
    assert response.status_code == 400
    assert response.json()["message"].startswith("TF401320: Rule Error for field Title.")
    response = create(client, project, "Task", add_fields(System_Title="x", System_State="Daydreaming"))
    assert response.status_code == 400
    assert "Rule Error for field State" in response.json()["message"]


def test_invalid_values_and_tree_paths(client: httpx.Client, project: str) -> None:
    response = create(
        client, project, "Task", add_fields(System_Title="x", Microsoft_VSTS_Common_Priority="high")
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "TF401326: Invalid field status 'InvalidType' for field 'Microsoft.VSTS.Common.Priority'."
    )
    response = create(
        client, project, "Task", add_fields(System_Title="x", System_AreaPath="Fabrikam\\Nowhere")
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("TF401347: Invalid tree name")
    ok = create(
        client, project, "Task", add_fields(System_Title="x", System_AreaPath="fabrikam\\web\\frontend")
    )
    assert ok.json()["fields"]["System.AreaPath"] == "Fabrikam\\Web\\Frontend"


def test_numbers_dates_and_tags_are_normalised(client: httpx.Client, project: str) -> None:
    ops = add_fields(
        System_Title="x",
        Microsoft_VSTS_Scheduling_RemainingWork="4",
        Microsoft_VSTS_Scheduling_CompletedWork=1.5,
        Microsoft_VSTS_Scheduling_StartDate="2026-03-01T09:30:00+02:00",
        System_Tags="beta;Alpha; beta ;gamma",
    )
    fields = create(client, project, "Task", ops).json()["fields"]
    assert fields["Microsoft.VSTS.Scheduling.RemainingWork"] == 4
    assert fields["Microsoft.VSTS.Scheduling.CompletedWork"] == 1.5
    assert fields["Microsoft.VSTS.Scheduling.StartDate"] == "2026-03-01T07:30:00Z"
    assert fields["System.Tags"] == "Alpha; beta; gamma"


def test_read_only_fields_need_bypass_rules(client: httpx.Client, project: str) -> None:
    ops = add_fields(
        System_Title="x", System_CreatedDate="2020-01-01T00:00:00Z", System_ChangedDate="2020-01-02T00:00:00Z"
    )
    response = create(client, project, "Task", ops)
    assert response.status_code == 400
    assert "ReadOnly" in response.json()["message"]
    response = create(
        client,
        project,
        "Task",
        ops + add_fields(System_CreatedBy="Ann Chen <ann.chen@contoso.com>"),
        bypassRules="true",
    )
    assert response.status_code == 200
    fields = response.json()["fields"]
    assert fields["System.CreatedDate"] == "2020-01-01T00:00:00Z"
    assert fields["System.ChangedDate"] == "2020-01-02T00:00:00Z"
    assert fields["System.CreatedBy"]["displayName"] == "Ann Chen"
    back = update(
        client,
        response.json()["id"],
        add_fields(System_Title="y", System_ChangedDate="2019-01-01T00:00:00Z"),
        bypassRules="true",
    )
    assert back.status_code == 400
    assert back.json()["message"] == "VS402625: Dates must be increasing with each revision."


def test_validate_only_saves_nothing(ado: AdoEmulator, client: httpx.Client, project: str) -> None:
    response = create(client, project, "Task", add_fields(System_Title="dry run"), validateOnly="true")
    assert response.status_code == 200
    assert "id" not in response.json()
    assert ado.state.items == {} and ado.counters.writes() == 0
    item = create(client, project, "Task", add_fields(System_Title="real")).json()
    dry = update(client, item["id"], add_fields(System_Title="changed?"), validateOnly="true").json()
    assert dry["rev"] == 1 and dry["fields"]["System.Title"] == "changed?"
    assert client.get(f"/_apis/wit/workitems/{item['id']}").json()["fields"]["System.Title"] == "real"
    bad = update(client, item["id"], add_fields(System_State="Nope"), validateOnly="true")
    assert bad.status_code == 400


# --- update and concurrency -------------------------------------------------------------------------


def test_update_bumps_rev_and_maintains_system_fields(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    created = create(client, project, "User Story", add_fields(System_Title="Story")).json()
    ado.clock.advance(5)
    ado.add_pat("bob-pat", "bob.smith@contoso.com")
    with make_client(ado, pat="bob-pat") as bob:
        response = bob.patch(
            f"/{project}/_apis/wit/workitems/{created['id']}",
            json=[{"op": "test", "path": "/rev", "value": 1}, *add_fields(System_State="Active")],
            headers=PATCH_HEADERS,
        )
    assert response.status_code == 200
    body = response.json()
    spec.check("wit", "Work Items_Update", body)
    fields = body["fields"]
    assert body["rev"] == 2
    assert fields["System.State"] == "Active"
    assert fields["System.Reason"] == "Moved to state Active"
    assert fields["System.ChangedBy"]["uniqueName"] == "bob.smith@contoso.com"
    assert fields["System.CreatedBy"]["uniqueName"] == "tandem-sync@contoso.com"
    assert fields["System.ChangedDate"] > created["fields"]["System.ChangedDate"]
    assert fields["Microsoft.VSTS.Common.ActivatedBy"]["displayName"] == "Bob Smith"
    closed = update(client, body["id"], add_fields(System_State="Closed")).json()["fields"]
    assert closed["Microsoft.VSTS.Common.ClosedDate"] == closed["System.ChangedDate"]
    assert ado.counters.writes("update") == 2


def test_stale_rev_is_412_and_changes_nothing(ado: AdoEmulator, client: httpx.Client, project: str) -> None:
    item = create(client, project, "Task", add_fields(System_Title="v1")).json()
    update(client, item["id"], add_fields(System_Title="v2"))
    response = update(
        client, item["id"], [{"op": "test", "path": "/rev", "value": 1}, *add_fields(System_Title="v3")]
    )
    assert response.status_code == 412
    body = response.json()
    assert body["message"].startswith("TF26071")
    assert set(body) >= {"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}
    current = client.get(f"/_apis/wit/workitems/{item['id']}").json()
    assert current["rev"] == 2 and current["fields"]["System.Title"] == "v2"


def test_test_op_on_a_field(client: httpx.Client, project: str) -> None:
    item = create(client, project, "Task", add_fields(System_Title="v1")).json()
    ok = update(
        client,
        item["id"],
        [{"op": "test", "path": "/fields/System.Title", "value": "v1"}, *add_fields(System_Title="v2")],
    )
    assert ok.status_code == 200
    stale = update(client, item["id"], [{"op": "test", "path": "/fields/System.Title", "value": "v1"}])
    assert stale.status_code == 412


def test_no_op_update_creates_no_revision(ado: AdoEmulator, client: httpx.Client, project: str) -> None:
    item = create(client, project, "Task", add_fields(System_Title="same")).json()
    response = update(client, item["id"], add_fields(System_Title="same"))
    assert response.status_code == 200 and response.json()["rev"] == 1
    assert ado.counters.writes("update") == 0 and ado.counters.writes("update_noop") == 1


def test_replace_and_remove_clear_fields(client: httpx.Client, project: str) -> None:
    item = create(
        client, project, "Task", add_fields(System_Title="x", Microsoft_VSTS_Scheduling_RemainingWork=3)
    ).json()
    body = update(
        client,
        item["id"],
        [
            {"op": "replace", "path": "/fields/System.Title", "value": "y"},
            {"op": "remove", "path": "/fields/Microsoft.VSTS.Scheduling.RemainingWork"},
            {"op": "add", "path": "/fields/System.Description", "value": ""},
        ],
    ).json()
    assert body["fields"]["System.Title"] == "y"
    assert "Microsoft.VSTS.Scheduling.RemainingWork" not in body["fields"]
    assert "System.Description" not in body["fields"]


def test_missing_work_item(client: httpx.Client) -> None:
    for response in (
        client.get("/_apis/wit/workitems/999"),
        update(client, 999, add_fields(System_Title="x")),
    ):
        assert response.status_code == 404
        assert response.json()["message"] == (
            "TF401232: Work item 999 does not exist, or you do not have permissions to read it."
        )


# --- identities -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["ann.chen@contoso.com", "Ann Chen <ann.chen@contoso.com>", "Ann Chen", "ANN.CHEN@contoso.com"]
)
def test_assigned_to_resolves_services_forms(client: httpx.Client, project: str, value: str) -> None:
    fields = create(client, project, "Task", add_fields(System_Title="x", System_AssignedTo=value)).json()[
        "fields"
    ]
    assert fields["System.AssignedTo"]["uniqueName"] == "ann.chen@contoso.com"
    assert fields["System.AssignedTo"]["displayName"] == "Ann Chen"


def test_unknown_and_ambiguous_identities(ado: AdoEmulator, client: httpx.Client, project: str) -> None:
    response = create(
        client, project, "Task", add_fields(System_Title="x", System_AssignedTo="nobody@contoso.com")
    )
    assert response.status_code == 400
    body = response.json()
    assert (
        body["message"]
        == "The identity value 'nobody@contoso.com' for field 'Assigned To' is an unknown identity."
    )
    assert body["typeKey"] == "WorkItemFieldInvalidException"
    ado.add_user("Ann Chen", "ann.chen2@contoso.com")
    response = create(client, project, "Task", add_fields(System_Title="x", System_AssignedTo="Ann Chen"))
    assert response.status_code == 400 and "ambiguous" in response.json()["message"]
    item = create(
        client, project, "Task", add_fields(System_Title="x", System_AssignedTo="ann.chen2@contoso.com")
    ).json()
    cleared = update(client, item["id"], add_fields(System_AssignedTo=""))
    assert "System.AssignedTo" not in cleared.json()["fields"]


def test_server_identities_use_domain_names(
    ado_server: AdoEmulator, server_client: httpx.Client, spec: SpecValidator
) -> None:
    ado_server.seed_project("OnPrem")
    for value in ("CONTOSO\\ann.chen", "Ann Chen <CONTOSO\\ann.chen>", "ann.chen@contoso.com", "ann.chen"):
        response = create(
            server_client, "OnPrem", "Task", add_fields(System_Title="x", System_AssignedTo=value)
        )
        assert response.status_code == 200, value
        assigned = response.json()["fields"]["System.AssignedTo"]
        assert assigned["uniqueName"] == "CONTOSO\\ann.chen"
        assert assigned["descriptor"].startswith("win.")
    spec.check("wit", "Work Items_Create", response.json(), flavor="server")
    assert response.json()["url"].startswith(f"{ado_server.base_url}/_apis/wit/workItems/")


def test_old_api_versions_write_identities_as_strings(ado: AdoEmulator, project: str) -> None:
    item = ado.seed_work_item(
        project, "Task", {"System.Title": "x", "System.AssignedTo": "bob.smith@contoso.com"}
    )
    with make_client(ado, api_version="4.1") as old:
        fields = old.get(f"/_apis/wit/workitems/{item}").json()["fields"]
    assert fields["System.AssignedTo"] == "Bob Smith <bob.smith@contoso.com>"
    assert fields["System.CreatedBy"] == "Tandem Sync <tandem-sync@contoso.com>"


# --- relations --------------------------------------------------------------------------------------


def test_parent_link_is_mirrored_on_the_parent(ado: AdoEmulator, client: httpx.Client, project: str) -> None:
    parent = create(client, project, "User Story", add_fields(System_Title="Story")).json()
    child = create(
        client, project, "Task", [*add_fields(System_Title="Task"), _parent_rel(ado, parent["id"])]
    ).json()
    assert child["relations"] == [
        {
            "rel": "System.LinkTypes.Hierarchy-Reverse",
            "url": f"{ado.base_url}/_apis/wit/workItems/{parent['id']}",
            "attributes": {"isLocked": False, "name": "Parent"},
        }
    ]
    assert child["fields"]["System.Parent"] == parent["id"]
    assert "relations" not in client.get(f"/_apis/wit/workitems/{parent['id']}").json()
    parent_now = client.get(f"/_apis/wit/workitems/{parent['id']}", params={"$expand": "relations"}).json()
    assert parent_now["rev"] == 2  # the link is a change on both ends
    assert parent_now["relations"][0]["rel"] == "System.LinkTypes.Hierarchy-Forward"
    assert parent_now["relations"][0]["url"].endswith(f"/workItems/{child['id']}")
    # removing the link by index removes both ends
    update(client, child["id"], [{"op": "remove", "path": "/relations/0"}])
    assert "System.Parent" not in client.get(f"/_apis/wit/workitems/{child['id']}").json()["fields"]
    assert (
        "relations"
        not in client.get(f"/_apis/wit/workitems/{parent['id']}", params={"$expand": "all"}).json()
    )


def test_link_rules(ado: AdoEmulator, client: httpx.Client, project: str) -> None:
    a = create(client, project, "Feature", add_fields(System_Title="A")).json()["id"]
    b = create(client, project, "Feature", add_fields(System_Title="B")).json()["id"]
    c = create(client, project, "Task", [*add_fields(System_Title="C"), _parent_rel(ado, a)]).json()["id"]
    second_parent = update(client, c, [_parent_rel(ado, b)])
    assert second_parent.status_code == 400 and second_parent.json()["message"].startswith("TF201036")
    steal = update(client, b, [_parent_rel(ado, c, "System.LinkTypes.Hierarchy-Forward")])
    assert steal.status_code == 400 and steal.json()["message"].startswith("TF201036")
    cycle = update(client, a, [_parent_rel(ado, c)])
    assert cycle.status_code == 400 and cycle.json()["message"].startswith("TF201065")
    missing = update(client, a, [_parent_rel(ado, 999, "System.LinkTypes.Related")])
    assert missing.status_code == 404
    related = update(client, a, [_parent_rel(ado, b, "System.LinkTypes.Related")])
    assert related.status_code == 200
    duplicate = update(client, a, [_parent_rel(ado, b, "System.LinkTypes.Related")])
    assert duplicate.status_code == 400
    hyperlink = update(
        client,
        a,
        [{"op": "add", "path": "/relations/-", "value": {"rel": "Hyperlink", "url": "https://example.com"}}],
    )
    assert hyperlink.json()["relations"][-1]["url"] == "https://example.com"
    self_link = update(client, a, [_parent_rel(ado, a, "System.LinkTypes.Related")])
    assert self_link.status_code == 400


# --- reads ------------------------------------------------------------------------------------------


def test_get_with_fields_expand_and_as_of(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    item = create(client, project, "Task", add_fields(System_Title="old")).json()
    ado.clock.advance(60)
    update(client, item["id"], add_fields(System_Title="new"))
    picked = client.get(
        f"/{project}/_apis/wit/workitems/{item['id']}", params={"fields": "System.Id,System.Title"}
    ).json()
    spec.check("wit", "Work Items_Get Work Item", picked)
    assert picked["fields"] == {"System.Id": item["id"], "System.Title": "new"}
    everything = client.get(f"/_apis/wit/workitems/{item['id']}", params={"$expand": "all"}).json()
    assert everything["fields"]["System.Rev"] == 2 and "_links" in everything
    old = client.get(
        f"/_apis/wit/workitems/{item['id']}", params={"asOf": item["fields"]["System.ChangedDate"]}
    ).json()
    assert old["rev"] == 1 and old["fields"]["System.Title"] == "old"
    both = client.get(
        f"/_apis/wit/workitems/{item['id']}", params={"fields": "System.Title", "$expand": "relations"}
    )
    assert both.status_code == 400
    assert both.json()["message"] == "The expand parameter can not be used with the fields parameter."


def test_list_by_ids_with_error_policy(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    ids = [ado.seed_work_item(project, "Task", {"System.Title": f"T{i}"}) for i in range(3)]
    listing = client.get("/_apis/wit/workitems", params={"ids": ",".join(map(str, ids))}).json()
    spec.check("wit", "Work Items_List", listing)
    assert [w["id"] for w in listing["value"]] == ids
    assert "_links" not in listing["value"][0]
    failing = client.get("/_apis/wit/workitems", params={"ids": f"{ids[0]},999"})
    assert failing.status_code == 404
    omitted = client.get(
        "/_apis/wit/workitems", params={"ids": f"{ids[0]},999", "errorPolicy": "omit"}
    ).json()
    spec.check("wit", "Work Items_List", omitted, nullable=True)
    assert omitted["value"][1] is None and omitted["count"] == 2
    too_many = client.get("/_apis/wit/workitems", params={"ids": ",".join(str(i) for i in range(1, 202))})
    assert too_many.status_code == 400
    assert (
        too_many.json()["message"] == "VS403474: You requested 201 work items which exceeds the limit of 200"
    )
    assert client.get("/_apis/wit/workitems").status_code == 400


def test_workitemsbatch(ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator) -> None:
    parent = ado.seed_work_item(project, "Feature", {"System.Title": "F"})
    ids = [ado.seed_work_item(project, "Task", {"System.Title": f"T{i}"}, parent=parent) for i in range(3)]
    body = {"ids": ids, "fields": ["System.Id", "System.Rev", "System.Title", "System.ChangedDate"]}
    result = client.post(f"/{project}/_apis/wit/workitemsbatch", json=body).json()
    spec.check("wit", "Work Items_Get Work Items Batch", result)
    assert [set(w["fields"]) for w in result["value"]] == [
        {"System.Id", "System.Rev", "System.Title", "System.ChangedDate"}
    ] * 3
    expanded = client.post("/_apis/wit/workitemsbatch", json={"ids": ids, "$expand": "relations"}).json()
    assert expanded["value"][0]["relations"][0]["rel"] == "System.LinkTypes.Hierarchy-Reverse"
    conflict = client.post(
        "/_apis/wit/workitemsbatch", json={"ids": ids, "fields": ["System.Title"], "$expand": "all"}
    )
    assert conflict.status_code == 400
    over = client.post("/_apis/wit/workitemsbatch", json={"ids": list(range(1, 202))})
    assert over.status_code == 400 and over.json()["message"].startswith("VS403474")
    omit = client.post(
        "/_apis/wit/workitemsbatch", json={"ids": [ids[0], 12345], "errorPolicy": "omit"}
    ).json()
    assert omit["value"][1] is None
    assert client.post("/_apis/wit/workitemsbatch", json={"ids": [ids[0], 12345]}).status_code == 404
    unknown = client.post("/_apis/wit/workitemsbatch", json={"ids": ids, "fields": ["Nope.Field"]})
    assert unknown.status_code == 400 and unknown.json()["message"].startswith("TF51535")


def test_updates_and_revisions(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    item = create(client, project, "Task", add_fields(System_Title="v1")).json()
    update(
        client,
        item["id"],
        add_fields(System_Title="v2", System_AssignedTo="ann.chen@contoso.com", System_History="why"),
    )
    updates = client.get(f"/{project}/_apis/wit/workItems/{item['id']}/updates").json()
    spec.check("wit", "Updates_List", updates)
    second = updates["value"][1]
    assert second["id"] == 2 and second["workItemId"] == item["id"] and second["rev"] == 2
    assert second["fields"]["System.Title"] == {"oldValue": "v1", "newValue": "v2"}
    assert second["fields"]["System.Rev"] == {"oldValue": 1, "newValue": 2}
    assert second["fields"]["System.AssignedTo"]["newValue"]["uniqueName"] == "ann.chen@contoso.com"
    assert "oldValue" not in second["fields"]["System.AssignedTo"]
    assert second["fields"]["System.History"] == {"newValue": "why"}
    assert second["revisedDate"] == "9999-01-01T00:00:00Z"
    assert updates["value"][0]["revisedDate"] == second["fields"]["System.ChangedDate"]["newValue"]
    single = client.get(f"/_apis/wit/workItems/{item['id']}/updates/2").json()
    spec.check("wit", "Updates_Get", single)
    revisions = client.get(f"/_apis/wit/workItems/{item['id']}/revisions").json()
    spec.check("wit", "Revisions_List", revisions)
    assert [r["fields"]["System.Title"] for r in revisions["value"]] == ["v1", "v2"]
    assert "System.History" not in revisions["value"][0]["fields"]
    one = client.get(f"/_apis/wit/workItems/{item['id']}/revisions/1").json()
    spec.check("wit", "Revisions_Get", one)
    assert client.get(f"/_apis/wit/workItems/{item['id']}/revisions/9").status_code == 404
    page = client.get(f"/_apis/wit/workItems/{item['id']}/revisions", params={"$skip": 1, "$top": 1}).json()
    assert [r["rev"] for r in page["value"]] == [2]


# --- delete and restore -----------------------------------------------------------------------------


def test_delete_restore_destroy(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    item = ado.seed_work_item(project, "Task", {"System.Title": "doomed"})
    deleted = client.delete(f"/{project}/_apis/wit/workitems/{item}")
    assert deleted.status_code == 200
    spec.check("wit", "Work Items_Delete", deleted.json())
    assert deleted.json()["deletedBy"] == "Tandem Sync <tandem-sync@contoso.com>"
    assert client.get(f"/_apis/wit/workitems/{item}").status_code == 404
    binned = client.get(f"/{project}/_apis/wit/recyclebin").json()
    spec.check("wit", "Recyclebin_Get Deleted Work Item Shallow References", binned)
    assert [b["id"] for b in binned["value"]] == [item]
    spec.check("wit", "Recyclebin_Get", client.get(f"/{project}/_apis/wit/recyclebin/{item}").json())
    restored = client.patch(f"/{project}/_apis/wit/recyclebin/{item}", json={"isDeleted": False})
    assert restored.status_code == 200
    spec.check("wit", "Recyclebin_Restore Work Item", restored.json())
    assert client.get(f"/_apis/wit/workitems/{item}").status_code == 200
    assert client.delete(f"/_apis/wit/workitems/{item}", params={"destroy": "true"}).status_code == 204
    assert client.get(f"/{project}/_apis/wit/recyclebin/{item}").status_code == 404
    assert ado.counters.writes("delete") == 1 and ado.counters.writes("restore") == 1


# --- reporting revisions ----------------------------------------------------------------------------


def test_reporting_revisions_feed(
    ado: AdoEmulator, client: httpx.Client, project: str, spec: SpecValidator
) -> None:
    a = ado.seed_work_item(project, "Task", {"System.Title": "A", "System.Description": "long"})
    b = ado.seed_work_item(project, "Bug", {"System.Title": "B"})
    ado.state.update_work_item(a, {"System.Title": "A2"})
    first = client.get(f"/{project}/_apis/wit/reporting/workitemrevisions", params={"$maxPageSize": 2}).json()
    spec.check("wit", "Reporting Work Item Revisions_Read Reporting Revisions Get", first)
    assert [(v["id"], v["rev"]) for v in first["values"]] == [(a, 1), (b, 1)]
    assert first["isLastBatch"] is False
    assert first["values"][0]["fields"]["System.CreatedBy"] == "Tandem Sync <tandem-sync@contoso.com>"
    assert "System.Description" not in first["values"][0]["fields"]  # long text needs $expand=fields
    second = httpx.get(first["nextLink"], headers=ado.auth_header()).json()
    assert [(v["id"], v["rev"]) for v in second["values"]] == [(a, 2)] and second["isLastBatch"] is True
    again = client.get(
        "/_apis/wit/reporting/workitemrevisions", params={"continuationToken": second["continuationToken"]}
    ).json()
    assert again["values"] == [] and again["isLastBatch"] is True
    ado.state.update_work_item(b, {"System.Title": "B2"})
    newer = client.get(
        "/_apis/wit/reporting/workitemrevisions", params={"continuationToken": second["continuationToken"]}
    ).json()
    assert [(v["id"], v["rev"]) for v in newer["values"]] == [(b, 2)]
    latest = client.post(
        "/_apis/wit/reporting/workitemrevisions",
        json={
            "types": ["Task"],
            "includeLatestOnly": True,
            "includeIdentityRef": True,
            "fields": ["System.Title", "System.ChangedBy"],
        },
    ).json()
    assert latest["values"] == [
        {
            "id": a,
            "rev": 2,
            "fields": {
                "System.Title": "A2",
                "System.ChangedBy": latest["values"][0]["fields"]["System.ChangedBy"],
            },
        }
    ]
    assert latest["values"][0]["fields"]["System.ChangedBy"]["uniqueName"] == "tandem-sync@contoso.com"
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (
        client.get("/_apis/wit/reporting/workitemrevisions", params={"startDateTime": since}).json()["values"]
        == []
    )


# --- $batch -----------------------------------------------------------------------------------------


def test_batch_runs_each_request_and_is_not_transactional(
    ado: AdoEmulator, client: httpx.Client, project: str
) -> None:
    existing = ado.seed_work_item(project, "Task", {"System.Title": "old"})
    patch_headers = {"Content-Type": "application/json-patch+json"}
    create_uri = f"/{project}/_apis/wit/workitems/$Task?api-version=7.1"
    requests = [
        {"method": "PATCH", "uri": create_uri, "headers": patch_headers,
         "body": add_fields(System_Title="made in batch")},
        {"method": "PATCH", "uri": f"/_apis/wit/workitems/{existing}?api-version=7.1",
         "headers": patch_headers,
         "body": [{"op": "test", "path": "/rev", "value": 1}, *add_fields(System_Title="new")]},
        {"method": "PATCH", "uri": f"/_apis/wit/workitems/{existing}", "headers": patch_headers,
         "body": [{"op": "test", "path": "/rev", "value": 1}, *add_fields(System_Title="stale")]},
        {"method": "GET", "uri": f"{ado.base_url}/_apis/wit/workitems/999"},
    ]  # fmt: skip
    response = client.post("/_apis/wit/$batch", json=requests)
    assert response.status_code == 200
    results = response.json()["value"]
    assert [r["code"] for r in results] == [200, 200, 412, 404]
    created = json.loads(results[0]["body"])
    assert created["fields"]["System.Title"] == "made in batch"
    assert json.loads(results[2]["body"])["message"].startswith("TF26071")
    assert client.get(f"/_apis/wit/workitems/{existing}").json()["fields"]["System.Title"] == "new"
    assert ado.counters.calls("wit.workitems.*") == 4 + 1 and ado.counters.calls("wit.batch") == 1
    assert client.post("/_apis/wit/$batch", json={"not": "a list"}).status_code == 400
