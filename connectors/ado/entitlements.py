"""Users, groups and projects of an Azure DevOps organization: Member Entitlement Management (on the vsaex
host), and project creation, update and deletion with their asynchronous operations. Calls go through the
connection's `AdoClient` (same auth, HTTP plumbing, retries and redaction). An entitlement call that ADO
answers with HTTP 200 and ``isSuccess: false`` raises `EntitlementRefused`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors.ado.client import AdoClient
from connectors.errors import PermanentError, TransientError

VSAEX = "vsaex"


class EntitlementRefused(PermanentError):
    """ADO answered 200 but refused the change (`isSuccess: false`); the message is ADO's own."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    continuation: str | None
    total: int | None = None


def _errors(results: list[Any]) -> str:
    texts = []
    for result in results:
        if isinstance(result, dict) and not result.get("isSuccess", True):
            for error in result.get("errors") or []:
                if isinstance(error, dict):
                    texts.append(str(error.get("value") or error.get("message") or error))
                else:
                    texts.append(str(error))
    return "; ".join(texts) or "Azure DevOps refused the change without a reason"


def _quote(value: str) -> str:
    return quote(value, safe="")


class EntitlementsClient:
    """The entitlement, project and operation endpoints SCIM provisioning needs."""

    def __init__(
        self,
        client: AdoClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.http = client.http
        self._sleep = sleep
        self._clock = clock

    def _url(self, path: str) -> str:
        return self.client.service_url(VSAEX, path)

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"api-version": self.client.api_version, **{k: v for k, v in extra.items() if v is not None}}

    def _refused(self, what: str, results: list[Any]) -> EntitlementRefused:
        return EntitlementRefused(f"{what}: {_errors(results)}", system=self.http.system, status=200)

    # --- user entitlements ------------------------------------------------------------------------

    def list_users(self, *, filter: str | None = None, continuation: str | None = None) -> Page:
        """One page (ADO pages 100 at a time) of user entitlements, with the token for the next."""
        params = self._params(**{"$filter": filter, "continuationToken": continuation})
        response = self.http.request("GET", self._url("_apis/userentitlements"), params=params)
        body = response.json() if response.content else {}
        items = body.get("items") or body.get("members") or []
        token = body.get("continuationToken") or response.headers.get("x-ms-continuationtoken")
        return Page(list(items), token or None, body.get("totalCount"))

    def iter_users(self, *, filter: str | None = None) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self.list_users(filter=filter, continuation=token)
            yield from page.items
            if not page.continuation:
                return
            token = page.continuation

    def find_user(self, principal_name: str) -> dict[str, Any] | None:
        """The user whose sign-in name is `principal_name` (ADO's `name` filter is a contains search)."""
        wanted = principal_name.strip().lower()
        text = principal_name.replace("'", "''")
        for user in self.iter_users(filter=f"name eq '{text}'"):
            if str((user.get("user") or {}).get("principalName") or "").lower() == wanted:
                return user
        return None

    def add_user(
        self,
        principal_name: str,
        access_level: dict[str, Any],
        *,
        project_entitlements: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Add a user (an existing one comes back as it is: ADO does not answer 409)."""
        body = {
            "accessLevel": access_level,
            "user": {"principalName": principal_name, "subjectKind": "user"},
            "projectEntitlements": project_entitlements or [],
            "extensions": [],
        }
        answer = self.http.request_json(
            "POST", self._url("_apis/userentitlements"), params=self._params(), json=body
        )
        result = (answer or {}).get("operationResult") or {}
        if not (answer or {}).get("isSuccess") or not result.get("isSuccess", True):
            raise self._refused(f"adding {principal_name}", [result])
        return dict(answer.get("userEntitlement") or result.get("result") or {})

    def get_user(self, user_id: str) -> dict[str, Any]:
        url = self._url(f"_apis/userentitlements/{_quote(user_id)}")
        return dict(self.http.get_json(url, params=self._params()) or {})

    def _json_patch(self, url: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        answer = self.http.request_json(
            "PATCH",
            url,
            params=self._params(),
            content=json.dumps(ops).encode(),
            headers={"Content-Type": "application/json-patch+json"},
        )
        return dict(answer or {})

    def update_user(self, user_id: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        answer = self._json_patch(self._url(f"_apis/userentitlements/{_quote(user_id)}"), ops)
        if not answer.get("isSuccess"):
            raise self._refused(f"updating user {user_id}", list(answer.get("operationResults") or [answer]))
        return dict(answer.get("userEntitlement") or {})

    def set_access_level(self, user_id: str, access_level: dict[str, Any]) -> dict[str, Any]:
        return self.update_user(user_id, [{"op": "replace", "path": "/accessLevel", "value": access_level}])

    def delete_user(self, user_id: str) -> None:
        self.http.request(
            "DELETE", self._url(f"_apis/userentitlements/{_quote(user_id)}"), params=self._params()
        )

    # --- group entitlements -----------------------------------------------------------------------

    def list_groups(self) -> list[dict[str, Any]]:
        """Every group rule (ADO does not page this list)."""
        answer = self.http.get_json(self._url("_apis/groupentitlements"), params=self._params())
        if isinstance(answer, dict):
            return list(answer.get("value") or [])
        return list(answer or [])

    def get_group(self, group_id: str) -> dict[str, Any]:
        url = self._url(f"_apis/groupentitlements/{_quote(group_id)}")
        return dict(self.http.get_json(url, params=self._params()) or {})

    def _group_answer(self, what: str, answer: Any) -> dict[str, Any]:
        answer = answer or {}
        results = list(answer.get("results") or [])
        if not answer.get("haveResultsSucceeded", True) or any(not r.get("isSuccess", True) for r in results):
            raise self._refused(what, results or [answer])
        return answer

    def add_group(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.request_json(
            "POST", self._url("_apis/groupentitlements"), params=self._params(), json=body
        )
        name = (body.get("group") or {}).get("displayName") or (body.get("group") or {}).get("originId")
        answer = self._group_answer(f"adding group {name}", answer)
        result = next((r.get("result") for r in answer.get("results") or [] if r.get("result")), None)
        if result is None:
            result = self.get_group(str(answer.get("id")))
        return dict(result)

    def update_group(self, group_id: str, ops: list[dict[str, Any]]) -> None:
        answer = self._json_patch(self._url(f"_apis/groupentitlements/{_quote(group_id)}"), ops)
        self._group_answer(f"updating group {group_id}", answer)

    def delete_group(self, group_id: str) -> None:
        url = self._url(f"_apis/groupentitlements/{_quote(group_id)}")
        self._group_answer(
            f"deleting group {group_id}", self.http.request_json("DELETE", url, params=self._params())
        )

    def group_members(self, group_id: str) -> list[dict[str, Any]]:
        url = self._url(f"_apis/GroupEntitlements/{_quote(group_id)}/members")
        members: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            answer = self.http.get_json(url, params=self._params(pagingToken=token)) or {}
            members.extend(answer.get("members") or answer.get("items") or [])
            token = answer.get("continuationToken")
            if not token:
                return members

    def add_group_member(self, group_id: str, user_id: str) -> None:
        url = self._url(f"_apis/GroupEntitlements/{_quote(group_id)}/members/{_quote(user_id)}")
        self.http.request("PUT", url, params=self._params())

    def remove_group_member(self, group_id: str, user_id: str) -> None:
        url = self._url(f"_apis/GroupEntitlements/{_quote(group_id)}/members/{_quote(user_id)}")
        self.http.request("DELETE", url, params=self._params())

    # --- projects and operations ------------------------------------------------------------------

    def list_projects(self, *, top: int = 100, continuation: str | None = None) -> Page:
        params = self._params(**{"$top": top, "continuationToken": continuation})
        response = self.http.request("GET", self.client.url("_apis/projects"), params=params)
        body = response.json() if response.content else {}
        return Page(list(body.get("value") or []), response.headers.get("x-ms-continuationtoken") or None)

    def get_project(self, project: str) -> dict[str, Any]:
        return self.client.get_project(project, include_capabilities=True)

    def create_project(self, body: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
        """Queue the creation, poll the operation to completion, then read the new project."""
        reference = self.http.request_json(
            "POST", self.client.url("_apis/projects"), params=self._params(), json=body
        )
        self.wait_for_operation(str((reference or {}).get("id")), timeout=timeout)
        return self.get_project(str(body["name"]))

    def update_project(
        self, project_id: str, body: dict[str, Any], *, timeout: float = 60.0
    ) -> dict[str, Any]:
        url = self.client.url(f"_apis/projects/{_quote(project_id)}")
        reference = self.http.request_json("PATCH", url, params=self._params(), json=body)
        self.wait_for_operation(str((reference or {}).get("id")), timeout=timeout)
        return self.get_project(project_id)

    def delete_project(self, project_id: str, *, timeout: float = 60.0) -> None:
        url = self.client.url(f"_apis/projects/{_quote(project_id)}")
        reference = self.http.request_json("DELETE", url, params=self._params())
        self.wait_for_operation(str((reference or {}).get("id")), timeout=timeout)

    def wait_for_operation(self, operation_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Poll `_apis/operations/{id}` (0.1 s, doubling to 2 s) until it succeeded; a failed or cancelled
        operation is a PermanentError with ADO's message, one still running at `timeout` a TransientError."""
        url = self.client.url(f"_apis/operations/{_quote(operation_id)}")
        deadline = self._clock() + timeout
        delay = 0.1
        while True:
            operation = dict(self.http.get_json(url, params=self._params()) or {})
            reported = str(operation.get("status") or "")
            status = reported.lower()
            if status == "succeeded":
                return operation
            if status in ("failed", "cancelled"):
                reason = (
                    operation.get("resultMessage") or operation.get("detailedMessage") or "no reason given"
                )
                raise PermanentError(
                    f"Azure DevOps operation {operation_id} {reported}: {reason}",
                    system=self.http.system,
                )
            if self._clock() + delay > deadline:
                raise TransientError(
                    f"Azure DevOps operation {operation_id} is still {reported or 'pending'} "
                    f"after {timeout:g} s",
                    retry_after=5.0,
                    system=self.http.system,
                )
            self._sleep(delay)
            delay = min(delay * 2, 2.0)
