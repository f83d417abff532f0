"""The Azure DevOps REST calls the connector needs, with api-version handling, over the shared HttpClient."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.ado.config import API_VERSIONS, AdoOptions
from connectors.ado.hosts import credential_host_problem
from connectors.ado.patch import CONTENT_TYPE
from connectors.errors import PermanentError
from connectors.http import ContinuationTokenPaginator, HttpClient

log = logging.getLogger("tandem.connectors.ado")

_SUPPORTED = re.compile(r"supports is (\d+\.\d+)")


class Relation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    rel: str
    url: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)


class WorkItem(BaseModel):
    """The parts of an ADO `WorkItem` the connector reads."""

    model_config = ConfigDict(extra="ignore")

    id: int
    rev: int = 0
    fields: dict[str, Any] = Field(default_factory=dict)
    relations: list[Relation] = Field(default_factory=list)
    url: str = ""


class WiqlResult(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    as_of: datetime | None = Field(None, alias="asOf")
    work_items: list[dict[str, Any]] = Field(default_factory=list, alias="workItems")

    @property
    def ids(self) -> list[int]:
        return [int(w["id"]) for w in self.work_items]


def _segment(value: str) -> str:
    return quote(value, safe="")


def _values(body: Any) -> list[Any]:
    """ADO lists come as `{count, value}`; the OpenAPI spec sometimes says a bare array. Accept both."""
    if isinstance(body, dict):
        return list(body.get("value") or [])
    return list(body or [])


def is_version_out_of_range(exc: PermanentError) -> bool:
    text = str(exc).lower()
    return exc.status == 400 and ("out of range" in text or "versionoutofrange" in exc.code.lower())


class AdoClient:
    """URLs, api-version and bodies of the ADO endpoints; returns parsed models, raises contract errors."""

    def __init__(self, base_url: str, options: AdoOptions, http: HttpClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.http = http
        self._api_version = options.api_version or ("7.1" if options.deployment == "services" else None)
        self._lock = threading.Lock()

    # --- api-version ------------------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        if self._api_version is None:
            with self._lock:
                if self._api_version is None:
                    self._api_version = self._probe_api_version()
        return self._api_version

    def _probe_api_version(self) -> str:
        """Newest api-version the Server accepts: ask with 7.1 and step down on "out of range"."""
        candidates = list(API_VERSIONS)
        while candidates:
            version = candidates.pop(0)
            try:
                self.http.request(
                    "GET", self.url("_apis/projects"), params={"$top": 1, "api-version": version}
                )
            except PermanentError as exc:
                if not is_version_out_of_range(exc):
                    raise
                # The server usually names its newest version; jump straight to it.
                named = _SUPPORTED.search(exc.message)
                if named and named.group(1) in candidates:
                    candidates = candidates[candidates.index(named.group(1)) :]
                continue
            log.info("%s speaks api-version %s", self.base_url, version)
            return version
        raise PermanentError(
            f"{self.base_url} accepts none of api-versions {', '.join(API_VERSIONS)}; "
            "set api_version in the connection options",
            system=self.http.system,
        )

    # --- urls ---------------------------------------------------------------------------------------

    def url(self, path: str, *, project: str | None = None) -> str:
        prefix = f"{self.base_url}/{_segment(project)}" if project else self.base_url
        return f"{prefix}/{path.lstrip('/')}"

    def service_url(self, service: str, path: str) -> str:
        """A URL on the host that serves `service` (`vsaex`, `vssps`): `https://vsaex.dev.azure.com/{org}` for
        `https://dev.azure.com/{org}`, `{org}.vsaex.visualstudio.com` for the old domain; Server (and any
        other base URL) serves every API on the collection URL. `options.hosts` overrides the mapping."""
        base = self.options.hosts.get(service)
        if base is not None:
            deployment = self.options.deployment
            problem = credential_host_problem(base, base_url=self.base_url, deployment=deployment)
            if problem:
                system = getattr(self.http, "system", "")
                raise PermanentError(f"options.hosts.{service}: {problem}", system=system)
        else:
            url = httpx.URL(self.base_url)
            host = url.host.lower()
            if host == "dev.azure.com":
                base = str(url.copy_with(host=f"{service}.dev.azure.com"))
            elif host.endswith(".visualstudio.com") and host.count(".") == 2:
                org = host.split(".")[0]
                base = str(url.copy_with(host=f"{org}.{service}.visualstudio.com"))
            else:
                base = self.base_url
        return f"{base.rstrip('/')}/{path.lstrip('/')}"

    def work_item_url(self, item_id: int | str) -> str:
        """The URL ADO expects in a relation's `url` (org-level, no project)."""
        return self.url(f"_apis/wit/workItems/{int(item_id)}")

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"api-version": self.api_version, **{k: v for k, v in extra.items() if v is not None}}

    # --- work items -------------------------------------------------------------------------------

    def wiql(self, query: str, *, project: str | None = None, time_precision: bool = True) -> WiqlResult:
        # timePrecision only works on the query string; in the body it is silently ignored.
        params = self._params(timePrecision="true" if time_precision else None)
        body = self.http.request_json(
            "POST", self.url("_apis/wit/wiql", project=project), params=params, json={"query": query}
        )
        return WiqlResult.model_validate(body)

    def get_batch(
        self,
        ids: Sequence[int],
        *,
        project: str | None = None,
        fields: Sequence[str] | None = None,
        expand: str | None = None,
    ) -> list[WorkItem]:
        """Up to 200 items; ids that are gone or hidden are left out (errorPolicy omit)."""
        if len(ids) > 200:
            raise ValueError("workitemsbatch takes at most 200 ids")
        body: dict[str, Any] = {"ids": [int(i) for i in ids], "errorPolicy": "omit"}
        # ADO rejects `fields` together with `$expand`.
        if fields:
            body["fields"] = list(fields)
        elif expand:
            body["$expand"] = expand
        url = self.url("_apis/wit/workitemsbatch", project=project)
        found = self.http.request_json("POST", url, params=self._params(), json=body)
        return [self._work_item(v, url) for v in _values(found) if v]

    def get_work_item(self, item_id: int | str, *, expand: str = "relations") -> WorkItem:
        url = self.url(f"_apis/wit/workitems/{int(item_id)}")
        return self._work_item(
            self.http.request_json("GET", url, params=self._params(**{"$expand": expand})), url
        )

    def _work_item(self, body: Any, url: str) -> WorkItem:
        try:
            return WorkItem.model_validate(body)
        except ValidationError as exc:
            raise PermanentError(
                f"{url} returned something that is not a work item: {exc.errors()[0].get('msg')}",
                system=self.http.system,
            ) from None

    def create_work_item(self, project: str, work_item_type: str, ops: list[dict[str, Any]]) -> WorkItem:
        url = self.url(f"_apis/wit/workitems/${_segment(work_item_type)}", project=project)
        return self._patch_request("POST", url, ops)

    def update_work_item(self, item_id: int | str, ops: list[dict[str, Any]]) -> WorkItem:
        return self._patch_request("PATCH", self.url(f"_apis/wit/workitems/{int(item_id)}"), ops)

    def _patch_request(self, method: str, url: str, ops: list[dict[str, Any]]) -> WorkItem:
        body = self.http.request_json(
            method,
            url,
            params=self._params(**{"$expand": "relations"}),
            content=json.dumps(ops).encode(),
            headers={"Content-Type": CONTENT_TYPE},
        )
        return self._work_item(body, url)

    # --- metadata ---------------------------------------------------------------------------------

    def list_fields(self) -> list[dict[str, Any]]:
        return _values(self.http.get_json(self.url("_apis/wit/fields"), params=self._params()))

    def list_work_item_types(self, project: str) -> list[dict[str, Any]]:
        return _values(
            self.http.get_json(self.url("_apis/wit/workitemtypes", project=project), params=self._params())
        )

    def get_project(self, project: str, *, include_capabilities: bool = False) -> dict[str, Any]:
        url = self.url(f"_apis/projects/{_segment(project)}")
        params = self._params(includeCapabilities="true" if include_capabilities else None)
        return dict(self.http.get_json(url, params=params) or {})

    def create_field(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.url("_apis/wit/fields")
        return dict(self.http.request_json("POST", url, params=self._params(), json=body) or {})

    # --- inherited processes (`_apis/work/processes`) -----------------------------------------------

    def list_processes(self) -> list[dict[str, Any]]:
        return _values(self.http.get_json(self.url("_apis/work/processes"), params=self._params()))

    def list_process_work_item_types(self, process_id: str) -> list[dict[str, Any]]:
        url = self.url(f"_apis/work/processes/{_segment(process_id)}/workitemtypes")
        return _values(self.http.get_json(url, params=self._params()))

    def create_process_work_item_type(self, process_id: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.url(f"_apis/work/processes/{_segment(process_id)}/workitemtypes")
        return dict(self.http.request_json("POST", url, params=self._params(), json=body) or {})

    def list_process_type_fields(self, process_id: str, wit_ref: str) -> list[dict[str, Any]]:
        url = self.url(
            f"_apis/work/processes/{_segment(process_id)}/workItemTypes/{_segment(wit_ref)}/fields"
        )
        return _values(self.http.get_json(url, params=self._params()))

    def add_process_type_field(self, process_id: str, wit_ref: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.url(
            f"_apis/work/processes/{_segment(process_id)}/workItemTypes/{_segment(wit_ref)}/fields"
        )
        return dict(self.http.request_json("POST", url, params=self._params(), json=body) or {})

    def list_projects(self) -> list[dict[str, Any]]:
        projects: list[dict[str, Any]] = []
        for page in self.http.paginate(
            self.url("_apis/projects"), params=self._params(), paginator=ContinuationTokenPaginator()
        ):
            projects.extend(page)
        return projects

    # --- service hooks ----------------------------------------------------------------------------

    def list_subscriptions(self, **filters: str) -> list[dict[str, Any]]:
        return _values(
            self.http.get_json(self.url("_apis/hooks/subscriptions"), params=self._params(**filters))
        )

    def create_subscription(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.url("_apis/hooks/subscriptions")
        return dict(self.http.request_json("POST", url, params=self._params(), json=body) or {})

    def list_notifications(self, subscription_id: str, **filters: str) -> list[dict[str, Any]]:
        """A subscription's delivery history, newest first (`result=failed`, `maxResults=1`...)."""
        url = self.url(f"_apis/hooks/subscriptions/{_segment(subscription_id)}/notifications")
        return _values(self.http.get_json(url, params=self._params(**filters)))

    def replace_subscription(self, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.url(f"_apis/hooks/subscriptions/{_segment(subscription_id)}")
        return dict(self.http.request_json("PUT", url, params=self._params(), json=body) or {})
