"""REST calls for release pipelines and what they depend on, over the ADO connector's client (same auth, HTTP
plumbing and negotiated api-version). Release definitions live on their own host on Services
(``vsrm.dev.azure.com/{org}``), found through the resource-area lookup; on Server they live on the
collection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from connectors.ado.client import AdoClient, _segment, _values
from connectors.ado.hosts import credential_host_problem
from connectors.errors import NotFoundError, PermanentError, VersionConflict
from connectors.http import ContinuationTokenPaginator, safe_url

log = logging.getLogger("tandem.connectors.ado_pipelines")

RELEASE_AREA_ID = "efc2f575-36ef-48e9-b672-0c6fb4a48ac5"
SETTINGS_PROVIDER = "ms.vss-build-web.pipelines-org-settings-data-provider"

# Resources still published as previews in 7.1 (and on Server); the suffix is added to the negotiated version.
_PREVIEW = {
    "pools": "-preview.1",
    "queues": "-preview.1",
    "taskgroups": "-preview.1",
    "variablegroups": "-preview.2",
    "endpoints": "-preview.4",
    "tasks": "-preview.1",
    "extensions": "-preview.1",
    "revisions": "-preview.1",
}


def is_stale_revision(exc: PermanentError) -> bool:
    """The release service refuses a save from an older revision with 400 InvalidRequestException."""
    text = str(exc).lower()
    return exc.status == 400 and "revision" in text and ("latest" in text or "modified" in text)


def release_host(base_url: str) -> str | None:
    """The vsrm host of a Services URL, without a lookup; None for anything else (a Server collection)."""
    url = httpx.URL(base_url)
    host = url.host.lower()
    if host == "dev.azure.com":
        return str(url.copy_with(host="vsrm.dev.azure.com")).rstrip("/")
    if host.endswith(".visualstudio.com") and ".vsrm." not in host:
        org = host.split(".")[0]
        return str(url.copy_with(host=f"{org}.vsrm.visualstudio.com")).rstrip("/")
    return None


class PipelinesClient:
    """URLs, api-versions and bodies of the pipeline endpoints; raises the contract's errors."""

    def __init__(self, ado: AdoClient, *, release_url: str | None = None) -> None:
        self.ado = ado
        self.http = ado.http
        self._release_url = self._checked("release_url", release_url.rstrip("/")) if release_url else None
        self._lock = threading.Lock()

    # --- urls and versions --------------------------------------------------------------------------

    def version(self, resource: str | None = None) -> str:
        base = self.ado.api_version.split("-")[0]
        return base + (_PREVIEW.get(resource, "") if resource else "")

    def _params(self, resource: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"api-version": self.version(resource), **{k: v for k, v in extra.items() if v is not None}}

    @property
    def release_url(self) -> str:
        if self._release_url is None:
            with self._lock:
                if self._release_url is None:
                    self._release_url = self._find_release_url()
        return self._release_url

    def _find_release_url(self) -> str:
        if self.ado.options.deployment == "server":
            return self.ado.base_url
        try:
            body = self.http.get_json(
                self.ado.url(f"_apis/resourceAreas/{RELEASE_AREA_ID}"),
                params={"api-version": "7.1-preview.1"},
            )
            location = str((body or {}).get("locationUrl") or "").rstrip("/")
            if location:
                return self._checked("the resourceAreas answer's locationUrl", location)
        except NotFoundError:
            pass
        return release_host(self.ado.base_url) or self.ado.base_url

    def _checked(self, what: str, url: str) -> str:
        """`url` if the connection's credential may go there (same deployment), else an error, not a call."""
        problem = credential_host_problem(
            url, base_url=self.ado.base_url, deployment=self.ado.options.deployment
        )
        if problem:
            raise PermanentError(f"{what} {safe_url(url)}: {problem}", system=self.http.system)
        return url

    def _release(self, path: str, project: str) -> str:
        return f"{self.release_url}/{_segment(project)}/{path.lstrip('/')}"

    def _list(self, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.http.paginate(url, params=params, paginator=ContinuationTokenPaginator()):
            found.extend(page)
        return found

    # --- agent pools and queues -----------------------------------------------------------------------

    def list_pools(self) -> list[dict[str, Any]]:
        return _values(
            self.http.get_json(self.ado.url("_apis/distributedtask/pools"), params=self._params("pools"))
        )

    def create_pool(self, name: str) -> dict[str, Any]:
        body = {
            "name": name,
            "autoProvision": True,
            "autoUpdate": True,
            "poolType": "automation",
            "isHosted": False,
        }
        url = self.ado.url("_apis/distributedtask/pools")
        return dict(self.http.request_json("POST", url, params=self._params("pools"), json=body))

    def list_queues(self, project: str) -> list[dict[str, Any]]:
        url = self.ado.url("_apis/distributedtask/queues", project=project)
        return _values(self.http.get_json(url, params=self._params("queues")))

    def create_queue(self, project: str, name: str, pool_id: int) -> dict[str, Any]:
        url = self.ado.url("_apis/distributedtask/queues", project=project)
        params = self._params("queues", authorizePipelines="false")
        return dict(
            self.http.request_json("POST", url, params=params, json={"name": name, "pool": {"id": pool_id}})
        )

    # --- service endpoints ----------------------------------------------------------------------------

    def list_endpoints(self, project: str) -> list[dict[str, Any]]:
        url = self.ado.url("_apis/serviceendpoint/endpoints", project=project)
        return _values(self.http.get_json(url, params=self._params("endpoints")))

    def get_endpoint(self, project: str, endpoint_id: str) -> dict[str, Any]:
        url = self.ado.url(f"_apis/serviceendpoint/endpoints/{_segment(endpoint_id)}", project=project)
        return dict(self.http.get_json(url, params=self._params("endpoints")) or {})

    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.ado.url("_apis/serviceendpoint/endpoints")
        return dict(self.http.request_json("POST", url, params=self._params("endpoints"), json=body))

    def update_endpoint(self, endpoint_id: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.ado.url(f"_apis/serviceendpoint/endpoints/{_segment(endpoint_id)}")
        return dict(self.http.request_json("PUT", url, params=self._params("endpoints"), json=body))

    # --- task groups ----------------------------------------------------------------------------------

    def list_task_groups(self, project: str) -> list[dict[str, Any]]:
        """Every version of every task group (one entry per version)."""
        url = self.ado.url("_apis/distributedtask/taskgroups", project=project)
        return self._list(url, self._params("taskgroups"))

    def task_group_versions(self, project: str, group_id: str) -> list[dict[str, Any]]:
        url = self.ado.url(f"_apis/distributedtask/taskgroups/{_segment(group_id)}", project=project)
        return _values(self.http.get_json(url, params=self._params("taskgroups")))

    def create_task_group(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.ado.url("_apis/distributedtask/taskgroups", project=project)
        return dict(self.http.request_json("POST", url, params=self._params("taskgroups"), json=body))

    def update_task_group(self, project: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.ado.url(f"_apis/distributedtask/taskgroups/{_segment(group_id)}", project=project)
        return self._put_revision(url, self._params("taskgroups"), body)

    def _put_revision(self, url: str, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """PUT a body carrying the `revision` it was read at; a newer one on the server → VersionConflict."""
        try:
            return dict(self.http.request_json("PUT", url, params=params, json=body))
        except PermanentError as exc:
            if is_stale_revision(exc):
                raise VersionConflict(
                    exc.message, system=exc.system, status=exc.status, code=exc.code
                ) from None
            raise

    # --- variable groups ------------------------------------------------------------------------------

    def list_variable_groups(self, project: str) -> list[dict[str, Any]]:
        url = self.ado.url("_apis/distributedtask/variablegroups", project=project)
        return self._list(url, self._params("variablegroups"))

    def get_variable_group(self, project: str, group_id: int) -> dict[str, Any]:
        url = self.ado.url(f"_apis/distributedtask/variablegroups/{int(group_id)}", project=project)
        return dict(self.http.get_json(url, params=self._params("variablegroups")) or {})

    def create_variable_group(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.ado.url("_apis/distributedtask/variablegroups")
        return dict(self.http.request_json("POST", url, params=self._params("variablegroups"), json=body))

    def update_variable_group(self, group_id: int, body: dict[str, Any]) -> dict[str, Any]:
        url = self.ado.url(f"_apis/distributedtask/variablegroups/{int(group_id)}")
        return dict(self.http.request_json("PUT", url, params=self._params("variablegroups"), json=body))

    # --- identities ---------------------------------------------------------------------------------------

    def find_identity_id(self, account: str) -> str | None:
        """The identity id of the person signing in as `account` (e-mail on Services, DOMAIN\\user on Server):
        Identities - Read Identities with the General search filter (vssps on Services), or None."""
        params = {"searchFilter": "General", "filterValue": account, "queryMembership": "None"}
        url = self.ado.service_url("vssps", "_apis/identities")
        found = _values(self.http.get_json(url, params={"api-version": self.version(), **params}))
        return str(found[0]["id"]) if found else None

    # --- task definitions, extensions, settings -------------------------------------------------------

    def list_task_definitions(self) -> list[dict[str, Any]]:
        return _values(
            self.http.get_json(self.ado.url("_apis/distributedtask/tasks"), params=self._params("tasks"))
        )

    def list_installed_extensions(self) -> list[dict[str, Any]]:
        url = self.ado.url("_apis/extensionmanagement/installedextensions")
        return _values(self.http.get_json(url, params=self._params("extensions")))

    def classic_release_creation_disabled(self) -> bool:
        """The organization setting "Disable creation of classic release pipelines". The service exposes it
        only through the settings page's data provider (no REST resource); Server has no such setting."""
        if self.ado.options.deployment == "server":
            return False
        body = {"contributionIds": [SETTINGS_PROVIDER], "dataProviderContext": {"properties": {}}}
        url = self.ado.url("_apis/Contribution/HierarchyQuery")
        reply = self.http.request_json("POST", url, params={"api-version": "5.0-preview.1"}, json=body) or {}
        settings = ((reply.get("dataProviders") or {}).get(SETTINGS_PROVIDER)) or {}
        return bool(settings.get("disableClassicReleasePipelineCreation", False))

    # --- release definitions --------------------------------------------------------------------------

    def iter_definition_pages(self, project: str, *, page_size: int = 100) -> Iterator[list[dict[str, Any]]]:
        """Definitions with environments, artifacts, triggers and variables, `page_size` per call."""
        params = self._params(**{"$expand": "environments,artifacts,triggers,variables", "$top": page_size})
        url = self._release("_apis/release/definitions", project)
        yield from self.http.paginate(url, params=params, paginator=ContinuationTokenPaginator())

    def list_definitions(self, project: str, *, page_size: int = 100) -> list[dict[str, Any]]:
        return [d for page in self.iter_definition_pages(project, page_size=page_size) for d in page]

    def get_definition(self, project: str, definition_id: int) -> dict[str, Any]:
        url = self._release(f"_apis/release/definitions/{int(definition_id)}", project)
        return dict(self.http.get_json(url, params=self._params()) or {})

    def create_definition(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self._release("_apis/release/definitions", project)
        return dict(self.http.request_json("POST", url, params=self._params(), json=body))

    def update_definition(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole definition carrying the `revision` it was read at; a newer one → VersionConflict."""
        url = self._release("_apis/release/definitions", project)
        return self._put_revision(url, self._params(), body)

    def definition_revisions(self, project: str, definition_id: int) -> list[dict[str, Any]]:
        url = self._release(f"_apis/Release/definitions/{int(definition_id)}/revisions", project)
        return _values(self.http.get_json(url, params=self._params("revisions")))
