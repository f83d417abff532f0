"""The Graph v1.0 calls the Planner connector makes: URLs, `If-Match` with the current ETag on every PATCH
and DELETE, `Prefer: return=representation`, and `@odata.nextLink` paging through the shared helper."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from connectors.errors import PermanentError
from connectors.http import HttpClient, NextLinkPaginator

_RETURN_REPRESENTATION = {"Prefer": "return=representation"}


def segment(value: str) -> str:
    return quote(value, safe="")


class GraphClient:
    """Plain dicts in and out; contract errors (412/409 → VersionConflict, 429/503 → retry) as raised."""

    def __init__(self, base_url: str, http: HttpClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = self.http.get_json(self.url(path), params=params)
        if not isinstance(body, dict):
            raise PermanentError(
                f"GET {path} answered something that is not a JSON object", system=self.http.system
            )
        return body

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Each page of a collection, following `@odata.nextLink` (the service fixes the page size)."""
        yield from self.http.paginate(self.url(path), params=params, paginator=NextLinkPaginator())

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        created = self.http.request_json("POST", self.url(path), json=dict(body))
        return created if isinstance(created, dict) else {}

    def patch(self, path: str, body: Mapping[str, Any], etag: str) -> dict[str, Any]:
        """PATCH with `If-Match: etag`; returns the updated object (with its new ETag)."""
        headers = {"If-Match": etag, **_RETURN_REPRESENTATION}
        updated = self.http.request_json("PATCH", self.url(path), json=dict(body), headers=headers)
        if isinstance(updated, dict) and updated:
            return updated
        # A proxy or an older service answered 204 despite Prefer: read the new version.
        return self.get(path)

    def delete(self, path: str, etag: str) -> None:
        self.http.request("DELETE", self.url(path), headers={"If-Match": etag})

    # --- paths ------------------------------------------------------------------------------------

    @staticmethod
    def task(task_id: str) -> str:
        return f"planner/tasks/{segment(task_id)}"

    @staticmethod
    def details(task_id: str) -> str:
        return f"planner/tasks/{segment(task_id)}/details"

    @staticmethod
    def plan(plan_id: str) -> str:
        return f"planner/plans/{segment(plan_id)}"
