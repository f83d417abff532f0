"""Service hooks: parsing work item event payloads and keeping webhook subscriptions healthy."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.ado import AdoConnector
from connectors.contract import HookParser, HookPayloadError
from tests.connectors.ado_fakes import FakeAdo, Spec, ado_error

PROJECT_ID = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c"
HOOK_URL = "https://tandem-func.azurewebsites.net/api/ado-hook"
HOOK_PASSWORD = "hook-canary-password-42"

UPDATED: dict[str, Any] = {
    "subscriptionId": "00000000-0000-0000-0000-000000000000",
    "notificationId": 4,
    "id": "27646e0e-b520-4d2b-9411-bba7524947cd",
    "eventType": "workitem.updated",
    "publisherId": "tfs",
    "message": {"text": "Bug #5 (Some great new idea!) updated by Jamal Hartnett."},
    "resource": {
        "id": 2,
        "workItemId": 5,
        "rev": 2,
        "revisedBy": {
            "id": "e5a5f7f8-6507-4c34-b397-6c4818e002f4",
            "name": "Jamal Hartnett <jamal@contoso.com>",
        },
        "revisedDate": "9999-01-01T00:00:00Z",
        "fields": {
            "System.Rev": {"oldValue": 1, "newValue": 2},
            "System.State": {"oldValue": "New", "newValue": "Approved"},
            "System.ChangedDate": {
                "oldValue": "2014-07-15T16:48:44.663Z",
                "newValue": "2014-07-15T17:42:44.663Z",
            },
        },
        "revision": {
            "id": 5,
            "rev": 2,
            "fields": {
                "System.AreaPath": "FabrikamCloud",
                "System.TeamProject": "FabrikamCloud",
                "System.WorkItemType": "Bug",
                "System.State": "Approved",
                "System.AssignedTo": "Jamal Hartnett <jamal@contoso.com>",
                "System.ChangedDate": "2014-07-15T17:42:44.663Z",
            },
            "url": "https://dev.azure.com/fabrikam/_apis/wit/workItems/5/revisions/2",
        },
        "url": "https://dev.azure.com/fabrikam/_apis/wit/workItems/5/updates/2",
    },
    "resourceVersion": "1.0",
    "resourceContainers": {
        "collection": {"id": "c12d0eb8-e382-443b-9f9c-c52cba5014c2"},
        "account": {"id": "f844ec47-a9db-4511-8281-8b63f4eaf94e"},
        "project": {"id": "be9b3917-87e6-42a4-a549-2bc06a7a878f"},
    },
    "createdDate": "2014-07-15T17:42:45.000Z",
}

CREATED: dict[str, Any] = {
    "id": "d2d46fb1-dba5-403c-9373-427583f19e8c",
    "eventType": "workitem.created",
    "publisherId": "tfs",
    "resource": {
        "id": 5,
        "rev": 1,
        "fields": {
            "System.TeamProject": "FabrikamCloud",
            "System.WorkItemType": "Product Backlog Item",
            "System.ChangedDate": "2014-07-15T16:48:44.663Z",
            "System.CreatedBy": "Jamal Hartnett <jamal@contoso.com>",
        },
        "url": "https://dev.azure.com/fabrikam/_apis/wit/workItems/5",
    },
    "resourceContainers": {"project": {"id": "be9b3917-87e6-42a4-a549-2bc06a7a878f"}},
    "createdDate": "2014-07-15T16:48:45.000Z",
}


def _with_type(payload: dict[str, Any], event_type: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    out["eventType"] = event_type
    return out


# --- parsing -------------------------------------------------------------------------------------


def test_the_connector_is_a_hook_parser(make_connector: Callable[..., AdoConnector]) -> None:
    assert isinstance(make_connector(), HookParser)


def test_updated_uses_work_item_id_not_the_update_id(make_connector: Callable[..., AdoConnector]) -> None:
    (event,) = make_connector().parse_hook(UPDATED)
    assert event.event_type == "workitem.updated"
    assert event.entity == "workitem"
    assert event.id == "5"
    assert event.version == "2"
    assert event.container == "FabrikamCloud"
    assert event.changed_at == datetime(2014, 7, 15, 17, 42, 44, 663000, tzinfo=UTC)
    assert not event.deleted


@pytest.mark.parametrize("event_type", ["workitem.created", "workitem.restored", "workitem.deleted"])
def test_created_restored_deleted_carry_the_work_item(
    event_type: str, make_connector: Callable[..., AdoConnector]
) -> None:
    (event,) = make_connector().parse_hook(json.dumps(_with_type(CREATED, event_type)).encode())
    assert (event.id, event.version, event.container) == ("5", "1", "FabrikamCloud")
    assert event.deleted == (event_type == "workitem.deleted")


def test_project_falls_back_to_the_resource_container(make_connector: Callable[..., AdoConnector]) -> None:
    payload = copy.deepcopy(CREATED)
    del payload["resource"]["fields"]["System.TeamProject"]
    (event,) = make_connector().parse_hook(payload)
    assert event.container == "be9b3917-87e6-42a4-a549-2bc06a7a878f"


def test_updated_without_revision_uses_resource_rev(make_connector: Callable[..., AdoConnector]) -> None:
    payload = copy.deepcopy(UPDATED)
    del payload["resource"]["revision"]
    (event,) = make_connector().parse_hook(payload)
    assert (event.id, event.version) == ("5", "2")
    assert event.changed_at == datetime(2014, 7, 15, 17, 42, 44, 663000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**UPDATED, "eventType": "build.complete"}, "unsupported service hook event type 'build.complete'"),
        ({"resource": {}}, "eventType"),
        ([1, 2], "JSON object"),
        (b"{not json", "not JSON"),
        (_with_type(UPDATED, "workitem.updated") | {"resource": {"id": 3}}, "workItemId"),
        ({**CREATED, "resource": {"fields": {}}}, "resource"),
        ({**CREATED, "resource": {"id": 5, "fields": {}}}, "no revision number"),
    ],
)
def test_malformed_payloads_raise_hook_payload_error(
    payload: Any, message: str, make_connector: Callable[..., AdoConnector]
) -> None:
    with pytest.raises(HookPayloadError, match=message):
        make_connector().parse_hook(payload)


# --- subscriptions -------------------------------------------------------------------------------


def existing(
    sub_id: str,
    event_type: str,
    *,
    url: str = HOOK_URL,
    status: str = "enabled",
    username: str = "tandem",
    project_id: str = PROJECT_ID,
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "url": f"https://dev.azure.com/contoso/_apis/hooks/subscriptions/{sub_id}",
        "status": status,
        "publisherId": "tfs",
        "eventType": event_type,
        "resourceVersion": "1.0",
        "consumerId": "webHooks",
        "consumerActionId": "httpRequest",
        "publisherInputs": {"projectId": project_id, "tfsSubscriptionId": "x", "areaPath": ""},
        "consumerInputs": {"url": url, "basicAuthUsername": username, "basicAuthPassword": "********"},
    }


def created_echo(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(200, json={**body, "id": f"new-{body['eventType']}", "status": "enabled"})


def test_ensure_creates_missing_repairs_disabled_and_keeps_healthy(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector], specs: Callable[..., Spec]
) -> None:
    subs = [
        existing("s-upd", "workitem.updated"),
        existing("s-del", "workitem.deleted", status="disabledBySystem"),
        existing("s-res", "workitem.restored", status="onProbation"),
        existing("other", "workitem.created", url="https://someone-else.example/hook", username="zapier"),
    ]
    fake.on(
        "GET", r"/_apis/hooks/subscriptions$", httpx.Response(200, json={"count": len(subs), "value": subs})
    )
    fake.on("POST", r"/_apis/hooks/subscriptions$", created_echo)
    fake.on("PUT", r"/_apis/hooks/subscriptions/", lambda r: httpx.Response(200, json=json.loads(r.content)))
    failed = {
        "id": 7,
        "subscriptionId": "s-res",
        "status": "completed",
        "result": "failed",
        "details": {"completedDate": "2026-12-01T10:00:00Z", "response": "Status Code: 401"},
    }
    fake.on(
        "GET",
        r"/_apis/hooks/subscriptions/s-res/notifications$",
        httpx.Response(200, json={"count": 1, "value": [failed]}),
    )

    report = make_connector().ensure_hook_subscriptions(HOOK_URL, "tandem", HOOK_PASSWORD, [PROJECT_ID])

    assert report.created == ["new-workitem.created"]
    assert sorted(report.repaired) == ["s-del", "s-res"]
    assert report.unchanged == ["s-upd"]
    # Repaired, and said: a failing subscription lost events, and why it failed is worth knowing.
    (s_del,) = [p for p in report.problems if "s-del" in p]
    (s_res,) = [p for p in report.problems if "s-res" in p]
    assert "disabled by ADO after failed deliveries" in s_del
    assert "on probation" in s_res and "2026-12-01T10:00:00Z: Status Code: 401" in s_res
    history = fake.sent("GET", "notifications")
    assert sorted(r.url.path.split("/")[-2] for r in history) == ["s-del", "s-res"]

    hooks = specs("hooks")
    (listing,) = fake.sent("GET", "subscriptions$")
    hooks.check_query(listing)
    assert dict(listing.url.params) == {
        "api-version": "7.1",
        "publisherId": "tfs",
        "consumerId": "webHooks",
        "consumerActionId": "httpRequest",
    }
    (create,) = fake.sent("POST", "subscriptions")
    hooks.validate("Subscription", FakeAdo.body(create))
    assert FakeAdo.body(create) == {
        "publisherId": "tfs",
        "eventType": "workitem.created",
        "resourceVersion": "1.0",
        "consumerId": "webHooks",
        "consumerActionId": "httpRequest",
        "publisherInputs": {"projectId": PROJECT_ID},
        "consumerInputs": {
            "url": HOOK_URL,
            "basicAuthUsername": "tandem",
            "basicAuthPassword": HOOK_PASSWORD,
            "resourceDetailsToSend": "all",
            "messagesToSend": "none",
            "detailedMessagesToSend": "none",
        },
    }
    puts = fake.sent("PUT", "subscriptions")
    assert sorted(r.url.path.rsplit("/", 1)[-1] for r in puts) == ["s-del", "s-res"]
    for put in puts:
        body = FakeAdo.body(put)
        hooks.validate("Subscription", body)
        assert body["status"] == "enabled"
        assert body["consumerInputs"]["basicAuthPassword"] == HOOK_PASSWORD, (
            "GET masks it; PUT must resend it"
        )
        assert body["publisherInputs"]["areaPath"] == "", "the subscription's own filters are kept"
    assert HOOK_PASSWORD not in repr(report)


def test_ensure_repoints_our_subscription_after_the_app_moved(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    subs = [existing("s1", "workitem.updated", url="https://old-func.azurewebsites.net/api/ado-hook")]
    fake.on("GET", r"/_apis/hooks/subscriptions$", httpx.Response(200, json={"value": subs}))
    fake.on(
        "PUT", r"/_apis/hooks/subscriptions/s1$", lambda r: httpx.Response(200, json=json.loads(r.content))
    )
    report = make_connector().ensure_hook_subscriptions(
        HOOK_URL, "tandem", HOOK_PASSWORD, [PROJECT_ID], event_types=["workitem.updated"]
    )
    assert report.repointed == ["s1"]
    assert FakeAdo.body(fake.sent("PUT", ".")[0])["consumerInputs"]["url"] == HOOK_URL


def test_ensure_leaves_user_disabled_subscriptions_and_says_what_to_do(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    subs = [existing("s1", "workitem.updated", status="disabledByUser")]
    fake.on("GET", r"/_apis/hooks/subscriptions$", httpx.Response(200, json={"value": subs}))
    report = make_connector().ensure_hook_subscriptions(
        HOOK_URL, "tandem", HOOK_PASSWORD, [PROJECT_ID], event_types=["workitem.updated"]
    )
    assert not report.ok
    assert "disabled by a user" in report.problems[0] and "Service hooks" in report.problems[0]
    assert not fake.sent("PUT", ".")


def test_ensure_resolves_project_names(fake: FakeAdo, make_connector: Callable[..., AdoConnector]) -> None:
    fake.on("GET", r"/_apis/hooks/subscriptions$", httpx.Response(200, json={"value": []}))
    fake.on(
        "GET", r"/_apis/projects$", httpx.Response(200, json={"value": [{"id": PROJECT_ID, "name": "Alpha"}]})
    )
    fake.on("POST", r"/_apis/hooks/subscriptions$", created_echo)
    report = make_connector().ensure_hook_subscriptions(
        HOOK_URL, "tandem", HOOK_PASSWORD, ["alpha", "Ghost"], event_types=["workitem.updated"]
    )
    assert report.created == ["new-workitem.updated"]
    assert FakeAdo.body(fake.sent("POST", ".")[0])["publisherInputs"] == {"projectId": PROJECT_ID}
    assert "'Ghost' is not visible" in report.problems[0]


def test_the_hook_password_never_appears_in_errors(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("GET", r"/_apis/hooks/subscriptions$", httpx.Response(200, json={"value": []}))
    fake.on(
        "POST",
        r"/_apis/hooks/subscriptions$",
        lambda r: ado_error(400, f"Bad consumer input {json.loads(r.content)['consumerInputs']}"),
    )
    from connectors.errors import PermanentError

    with pytest.raises(PermanentError) as caught:
        make_connector().ensure_hook_subscriptions(HOOK_URL, "tandem", HOOK_PASSWORD, [PROJECT_ID])
    assert HOOK_PASSWORD not in str(caught.value)
