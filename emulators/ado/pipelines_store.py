"""What a collection/organization holds for release pipelines: agent pools and queues, service connections
(with their secrets kept apart from what is ever returned), task groups with every version, variable groups
(secret values kept apart), task definitions, installed extensions, release definitions with their revision
history, and the organization's pipeline settings. Bodies are kept as the JSON the REST API speaks."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.ado import errors
from emulators.ado.errors import AdoError
from emulators.ado.values import format_date

_DT = "Microsoft.TeamFoundation.DistributedTask.WebApi"
_RM = "Microsoft.VisualStudio.Services.ReleaseManagement.Data"

# Authorization parameters that hold a secret, by name (lower case). The service nulls these on every read
# (its endpoint types mark such inputs `isConfidential`; httpExamples/endpoints/CreateAzureRMEndpoint.json
# returns tenantid and serviceprincipalid but `"serviceprincipalkey": null`).
CONFIDENTIAL_PARAMETERS = frozenset(
    {
        "serviceprincipalkey",
        "password",
        "apitoken",
        "accesstoken",
        "servicebustoken",
        "certificate",
        "servicePrincipalCertificate".lower(),
        "privatekey",
        "clientsecret",
        "token",
    }
)

# Built-in task definitions every collection has (name, id, major.minor.patch, inputs as (name, type)).
BUILTIN_TASKS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "PowerShell",
        "e213ff0f-5d5c-4791-802d-52ea3e7be1f1",
        "2.247.1",
        (("targetType", "radio"), ("filePath", "filePath"), ("script", "multiLine")),
    ),
    ("CmdLine", "d9bafed4-0b18-4f58-968d-86655b4d2ce9", "2.246.1", (("script", "multiLine"),)),
    (
        "AzureRmWebAppDeployment",
        "497d490f-eea7-4f2b-ab94-48d9c1acdcb1",
        "4.247.3",
        (
            ("ConnectionType", "pickList"),
            ("ConnectedServiceName", "connectedService:AzureRM"),
            ("WebAppName", "pickList"),
            ("packageForLinux", "filePath"),
        ),
    ),
    (
        "AzureCLI",
        "46e4be58-730b-4389-8a2f-ea10b3e5e815",
        "2.248.0",
        (
            ("connectedServiceNameARM", "connectedService:AzureRM"),
            ("scriptType", "pickList"),
            ("inlineScript", "multiLine"),
        ),
    ),
    (
        "DownloadBuildArtifacts",
        "a433f589-fce1-4460-9ee6-44a624aeb1fb",
        "1.246.0",
        (("buildType", "pickList"), ("artifactName", "string")),
    ),
)


def parse_version(text: str) -> dict[str, Any]:
    parts = [int(p) for p in text.split(".")] + [0, 0, 0]
    return {"major": parts[0], "minor": parts[1], "patch": parts[2], "isTest": False}


def task_definition(
    name: str,
    task_id: str,
    version: str,
    inputs: tuple[tuple[str, str], ...],
    *,
    contribution: str | None = None,
    contribution_version: str | None = None,
) -> dict[str, Any]:
    """A TaskDefinition as `_apis/distributedtask/tasks` lists it (the parts a migration looks at)."""
    body: dict[str, Any] = {
        "id": task_id,
        "name": name,
        "friendlyName": name,
        "version": parse_version(version),
        "serverOwned": contribution is None,
        "contributionIdentifier": contribution,
        "contributionVersion": contribution_version,
        "definitionType": "task",
        "category": "Deploy",
        "runsOn": ["Agent", "DeploymentGroup"],
        "inputs": [
            {"name": n, "label": n, "type": t, "required": False, "defaultValue": ""} for n, t in inputs
        ],
        "instanceNameFormat": name,
    }
    return body


def _dt_error(status: int, message: str, type_key: str) -> AdoError:
    """An error of the distributed task service (pools, queues, task groups, variable groups)."""
    return AdoError(status, message, type_key, type_name=f"{_DT}.{type_key}, {_DT}")


def _rm_error(status: int, message: str, type_key: str) -> AdoError:
    """An error of the release management service."""
    return AdoError(status, message, type_key, type_name=f"{_RM}.{type_key}, {_RM}")


@dataclass
class Endpoint:
    body: dict[str, Any]  # as returned, with confidential parameters present (masked on render)
    secrets: dict[str, str | None] = field(default_factory=dict)


@dataclass
class ReleaseDefinition:
    project_id: str
    body: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)  # ReleaseDefinitionRevision entries
    snapshots: dict[int, dict[str, Any]] = field(default_factory=dict)  # revision → body at that revision


class PipelinesState:
    """Thread-safe store of the pipeline resources of one organization/collection."""

    def __init__(self, flavor: str, now: Callable[[], datetime]) -> None:
        self.flavor = flavor
        self._now = now
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.pools: dict[int, dict[str, Any]] = {}
            self.queues: dict[int, dict[str, Any]] = {}  # queue id → body incl. projectId
            self.endpoints: dict[str, Endpoint] = {}
            self.task_groups: dict[str, dict[int, dict[str, Any]]] = {}  # id → major → version body
            self.variable_groups: dict[int, dict[str, Any]] = {}  # stored with secret values
            self.definitions: dict[int, ReleaseDefinition] = {}
            self.tasks: list[dict[str, Any]] = [task_definition(*t) for t in BUILTIN_TASKS]
            self.extensions: list[dict[str, Any]] = []
            # Services: new organizations have classic release pipeline creation disabled (2026); the
            # emulator starts with it off so tests opt in to the refusal. Server has no such setting.
            self.settings: dict[str, bool] = (
                {
                    "disableClassicReleasePipelineCreation": False,
                    "disableClassicBuildPipelineCreation": False,
                }
                if self.flavor == "services"
                else {}
            )
            self._next_pool = 1
            self._next_queue = 1
            self._next_group = 1
            self._next_definition = 1
            self.add_pool("Default")
            if self.flavor == "services":
                self.add_pool("Azure Pipelines", hosted=True)

    def now(self) -> str:
        return format_date(self._now())

    # --- pools and queues -------------------------------------------------------------------------

    def add_pool(self, name: str, *, hosted: bool = False, pool_type: str = "automation") -> dict[str, Any]:
        with self._lock:
            if any(p["name"].lower() == name.lower() for p in self.pools.values()):
                raise _dt_error(409, f"Agent pool {name} already exists.", "TaskAgentPoolExistsException")
            pool_id = self._next_pool
            self._next_pool += 1
            pool = {
                "createdOn": self.now(),
                "autoProvision": not hosted,
                "autoUpdate": True,
                "autoSize": True,
                "targetSize": None,
                "agentCloudId": None,
                "isHosted": hosted,
                "poolType": pool_type,
                "size": 0,
                "isLegacy": False,
                "options": "none",
                "id": pool_id,
                "scope": str(uuid.uuid5(uuid.NAMESPACE_OID, f"pool:{pool_id}")),
                "name": name,
            }
            self.pools[pool_id] = pool
            return pool

    def pool(self, pool_id: int) -> dict[str, Any]:
        pool = self.pools.get(pool_id)
        if pool is None:
            raise _dt_error(404, f"Agent pool {pool_id} not found.", "TaskAgentPoolNotFoundException")
        return pool

    def add_queue(self, project_id: str, name: str, pool_id: int) -> dict[str, Any]:
        with self._lock:
            pool = self.pool(pool_id)
            for q in self.queues.values():
                if q["projectId"] == project_id and q["name"].lower() == name.lower():
                    raise _dt_error(
                        409, f"Agent queue {name} already exists.", "TaskAgentQueueExistsException"
                    )
            queue_id = self._next_queue
            self._next_queue += 1
            queue = {
                "id": queue_id,
                "projectId": project_id,
                "name": name,
                "pool": {
                    "id": pool["id"],
                    "scope": pool["scope"],
                    "name": pool["name"],
                    "isHosted": pool["isHosted"],
                    "poolType": pool["poolType"],
                    "size": pool["size"],
                    "isLegacy": False,
                    "options": "none",
                },
            }
            self.queues[queue_id] = queue
            return queue

    def queue(self, project_id: str, queue_id: int) -> dict[str, Any]:
        queue = self.queues.get(queue_id)
        if queue is None or queue["projectId"] != project_id:
            raise _dt_error(404, f"Agent queue {queue_id} not found.", "TaskAgentQueueNotFoundException")
        return queue

    # --- service endpoints ------------------------------------------------------------------------

    def create_endpoint(self, body: dict[str, Any], by: dict[str, Any]) -> Endpoint:
        refs = body.get("serviceEndpointProjectReferences") or []
        if not refs:
            raise AdoError(
                400,
                "At least one project reference required to create an endpoint.",
                "ArgumentException",
                type_name="System.ArgumentException, mscorlib",
            )
        name = str(body.get("name") or "").strip()
        if not name or not body.get("type"):
            raise errors.bad_request("Value cannot be null.\r\nParameter name: endpoint.Name, endpoint.Type")
        with self._lock:
            for existing in self.endpoints.values():
                if existing.body["name"].lower() == name.lower() and _shares_project(existing.body, refs):
                    raise AdoError(
                        409,
                        f"Service connection with name {name} already exists. Only a user having "
                        "Administrator/User role permissions on service connection with name "
                        f"{name} can see it.",
                        "DuplicateServiceConnectionException",
                    )
            endpoint_id = str(uuid.uuid4())
            stored = copy.deepcopy(body)
            auth = stored.setdefault("authorization", {"scheme": "None", "parameters": {}})
            params = auth.setdefault("parameters", {}) or {}
            secrets = {k: v for k, v in params.items() if k.lower() in CONFIDENTIAL_PARAMETERS}
            stored.update(
                {
                    "id": endpoint_id,
                    "createdBy": by,
                    "isReady": True,
                    "isShared": bool(stored.get("isShared", False)),
                    "owner": "library",
                    "data": stored.get("data") or {},
                    "serviceEndpointProjectReferences": refs,
                }
            )
            endpoint = Endpoint(stored, secrets)
            self.endpoints[endpoint_id] = endpoint
            return endpoint

    def endpoint(self, endpoint_id: str) -> Endpoint:
        found = self.endpoints.get(endpoint_id.lower())
        if found is None:
            raise AdoError(
                404,
                f"Service connection with id {endpoint_id} not found.",
                "ServiceEndpointNotFoundException",
                type_name="Microsoft.VisualStudio.Services.ServiceEndpoints.WebApi."
                "ServiceEndpointNotFoundException, Microsoft.VisualStudio.Services.ServiceEndpoints.WebApi",
            )
        return found

    def update_endpoint(self, endpoint_id: str, body: dict[str, Any]) -> Endpoint:
        """PUT: the whole endpoint. A confidential parameter sent as null (or left out) keeps the value
        stored: that is what the web UI relies on, since it never has the secret either."""
        with self._lock:
            endpoint = self.endpoint(endpoint_id)
            stored = copy.deepcopy(body)
            auth = stored.get("authorization") or endpoint.body.get("authorization") or {}
            params = dict(auth.get("parameters") or {})
            for key, value in params.items():
                if key.lower() in CONFIDENTIAL_PARAMETERS and value is not None:
                    endpoint.secrets[key] = value
            kept = {k: v for k, v in endpoint.secrets.items() if k not in params}
            params.update(dict.fromkeys(kept))
            stored["authorization"] = {**auth, "parameters": params}
            for key in ("id", "createdBy", "owner", "isReady"):
                stored[key] = endpoint.body.get(key)
            stored.setdefault(
                "serviceEndpointProjectReferences", endpoint.body["serviceEndpointProjectReferences"]
            )
            endpoint.body = stored
            return endpoint

    def endpoint_secret(self, endpoint_id: str, parameter: str) -> str | None:
        """For tests: the stored value of a confidential parameter (never served over REST)."""
        return self.endpoint(endpoint_id).secrets.get(parameter)

    # --- task groups ------------------------------------------------------------------------------

    def create_task_group(self, project_id: str, body: dict[str, Any], by: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name") or "").strip()
        if not name:
            raise errors.bad_request("Value cannot be null.\r\nParameter name: taskGroup.Name")
        with self._lock:
            for versions in self.task_groups.values():
                latest = versions[max(versions)]
                if latest["_projectId"] == project_id and latest["name"].lower() == name.lower():
                    raise _dt_error(
                        400,
                        f"A task group with name '{name}' already exists. Choose a different name.",
                        "MetaTaskDefinitionExistsException",
                    )
            group_id = str(uuid.uuid4())
            version = _task_group_body(body, group_id, project_id, by, revision=1, now=self.now())
            self.task_groups[group_id] = {version["version"]["major"]: version}
            return version

    def task_group_versions(self, project_id: str, group_id: str) -> dict[int, dict[str, Any]]:
        versions = self.task_groups.get(group_id.lower())
        if not versions or next(iter(versions.values()))["_projectId"] != project_id:
            raise _dt_error(404, f"Task group {group_id} not found.", "MetaTaskDefinitionNotFoundException")
        return versions

    def update_task_group(
        self, project_id: str, group_id: str, body: dict[str, Any], by: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT with `version.major` of an existing version updates it (its `revision` must be current);
        a higher major adds a new version beside the older ones (as "publish as new major version")."""
        with self._lock:
            versions = self.task_group_versions(project_id, group_id)
            major = int(((body.get("version") or {}).get("major")) or max(versions))
            current = versions.get(major)
            if current is not None:
                sent = body.get("revision")
                if sent is not None and int(sent) != current["revision"]:
                    raise _dt_error(
                        400,
                        f"The task group {current['name']} has been modified by someone else since it was "
                        f"read (revision {sent} was sent, the current revision is {current['revision']}). "
                        "Refresh and try again.",
                        "InvalidRequestException",
                    )
                revision = current["revision"] + 1
            else:
                revision = 1
            version = _task_group_body(body, group_id, project_id, by, revision=revision, now=self.now())
            if current is not None:
                version["createdBy"], version["createdOn"] = current["createdBy"], current["createdOn"]
            versions[major] = version
            return version

    # --- variable groups --------------------------------------------------------------------------

    def create_variable_group(self, body: dict[str, Any], by: dict[str, Any]) -> dict[str, Any]:
        refs = body.get("variableGroupProjectReferences") or []
        name = str(body.get("name") or "").strip()
        if not name:
            raise errors.bad_request("Value cannot be null.\r\nParameter name: variableGroup.Name")
        if not refs:
            raise errors.bad_request(
                "Value cannot be null.\r\nParameter name: "
                "variableGroupParameters.VariableGroupProjectReferences"
            )
        with self._lock:
            for existing in self.variable_groups.values():
                if existing["name"].lower() == name.lower() and _shares_project(
                    existing, refs, key="variableGroupProjectReferences"
                ):
                    raise _dt_error(
                        400,
                        f"Variable group with name {name} already exists.",
                        "VariableGroupExistsException",
                    )
            group_id = self._next_group
            self._next_group += 1
            group = {
                "variables": copy.deepcopy(body.get("variables") or {}),
                "id": group_id,
                "type": body.get("type") or "Vsts",
                "name": name,
                "description": body.get("description") or "",
                "providerData": body.get("providerData"),
                "createdBy": by,
                "createdOn": self.now(),
                "modifiedBy": by,
                "modifiedOn": self.now(),
                "isShared": False,
                "variableGroupProjectReferences": refs,
            }
            self.variable_groups[group_id] = group
            return group

    def variable_group(self, group_id: int) -> dict[str, Any]:
        group = self.variable_groups.get(group_id)
        if group is None:
            raise _dt_error(
                404, f"Variable group with id {group_id} does not exist.", "VariableGroupNotFoundException"
            )
        return group

    def update_variable_group(
        self, group_id: int, body: dict[str, Any], by: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT: a secret variable sent with `"value": null` keeps its stored value (the UI never has it)."""
        with self._lock:
            group = self.variable_group(group_id)
            old = group["variables"]
            new: dict[str, Any] = {}
            for name, var in (body.get("variables") or {}).items():
                var = dict(var or {})
                if var.get("isSecret") and var.get("value") is None and name in old:
                    var["value"] = old[name].get("value")
                new[name] = var
            group.update(
                {
                    "variables": new,
                    "name": body.get("name") or group["name"],
                    "description": body.get("description", group["description"]),
                    "modifiedBy": by,
                    "modifiedOn": self.now(),
                }
            )
            if body.get("variableGroupProjectReferences"):
                group["variableGroupProjectReferences"] = body["variableGroupProjectReferences"]
            return group

    # --- release definitions ----------------------------------------------------------------------

    def create_definition(
        self, project: dict[str, str], body: dict[str, Any], by: dict[str, Any]
    ) -> ReleaseDefinition:
        if self.settings.get("disableClassicReleasePipelineCreation"):
            # The service's own wording is not in the specs; this is the refusal the web UI reports when the
            # organization setting "Disable creation of classic release pipelines" is on.
            raise _rm_error(
                400,
                "Creation of classic release pipelines is disabled for this organization. An organization "
                "administrator can turn off 'Disable creation of classic release pipelines' in "
                "Organization settings > Pipelines > Settings.",
                "InvalidRequestException",
            )
        name = str(body.get("name") or "").strip()
        if not name:
            raise errors.bad_request(
                "VS402872: Release pipeline name is required.", "InvalidRequestException"
            )
        with self._lock:
            for existing in self.definitions.values():
                if (
                    existing.project_id == project["id"]
                    and existing.body["name"].lower() == name.lower()
                    and existing.body.get("path", "\\") == body.get("path", "\\")
                ):
                    raise _rm_error(
                        400,
                        f"VS402868: Release pipeline with name '{name}' already exists in this folder.",
                        "ReleaseDefinitionAlreadyExistsException",
                    )
            self._check_references(project["id"], body)
            definition_id = self._next_definition
            self._next_definition += 1
            stored = self._normalized_definition(body, definition_id, project, revision=1)
            stored["createdBy"] = stored["modifiedBy"] = by
            stored["createdOn"] = stored["modifiedOn"] = self.now()
            definition = ReleaseDefinition(project["id"], stored)
            self._record(definition, "add", by, body.get("comment"))
            self.definitions[definition_id] = definition
            return definition

    def definition(self, project_id: str, definition_id: int) -> ReleaseDefinition:
        found = self.definitions.get(definition_id)
        if found is None or found.project_id != project_id:
            raise _rm_error(
                404,
                f"VS402881: No release pipeline found with id {definition_id}. Check if it exists.",
                "ReleaseDefinitionNotFoundException",
            )
        return found

    def update_definition(
        self, project: dict[str, str], body: dict[str, Any], by: dict[str, Any]
    ) -> ReleaseDefinition:
        try:
            definition_id = int(body.get("id") or 0)
        except (TypeError, ValueError) as exc:
            raise errors.bad_request(
                "The release pipeline id is not valid.", "InvalidRequestException"
            ) from exc
        with self._lock:
            definition = self.definition(project["id"], definition_id)
            current = definition.body["revision"]
            sent = body.get("revision")
            if sent is None or int(sent) != current:
                # A stale revision: the service refuses the save rather than overwrite someone else's.
                raise _rm_error(
                    400,
                    f"VS402885: Release pipeline '{definition.body['name']}' cannot be saved because the "
                    f"revision {sent} sent is not the latest revision {current}. Get the latest version of "
                    "the release pipeline and try again.",
                    "InvalidRequestException",
                )
            self._check_references(project["id"], body)
            stored = self._normalized_definition(body, definition_id, project, revision=current + 1)
            _keep_secrets(definition.body, stored)
            stored["createdBy"] = definition.body["createdBy"]
            stored["createdOn"] = definition.body["createdOn"]
            stored["modifiedBy"] = by
            stored["modifiedOn"] = self.now()
            definition.body = stored
            self._record(definition, "update", by, body.get("comment"))
            return definition

    def _record(self, definition: ReleaseDefinition, change: str, by: dict[str, Any], comment: Any) -> None:
        body = definition.body
        definition.snapshots[body["revision"]] = copy.deepcopy(body)
        definition.history.append(
            {
                "definitionId": body["id"],
                "revision": body["revision"],
                "changedDate": body["modifiedOn"],
                "changeType": change,
                "comment": comment or "",
                "changedBy": by,
            }
        )

    def _check_references(self, project_id: str, body: dict[str, Any]) -> None:
        """The service validates what a definition points at; a foreign id is refused, never stored."""
        for i, env in enumerate(body.get("environments") or []):
            for phase in env.get("deployPhases") or []:
                queue_id = (phase.get("deploymentInput") or {}).get("queueId")
                if phase.get("phaseType", "agentBasedDeployment") == "agentBasedDeployment" and queue_id:
                    queue = self.queues.get(int(queue_id))
                    if queue is None or queue["projectId"] != project_id:
                        raise _rm_error(
                            400,
                            f"VS402851: The agent queue with id {queue_id} used in stage "
                            f"'{env.get('name', i)}' does not exist or is not authorized.",
                            "InvalidRequestException",
                        )
                for task in phase.get("workflowTasks") or []:
                    if task.get("definitionType") == "metaTask" and str(task.get("taskId")).lower() not in (
                        self.task_groups
                    ):
                        raise _rm_error(
                            400,
                            f"VS402889: Task group {task.get('taskId')} used in stage '{env.get('name', i)}' "
                            "was not found.",
                            "InvalidRequestException",
                        )
            for group_id in env.get("variableGroups") or []:
                self._check_group(group_id)
        for group_id in body.get("variableGroups") or []:
            self._check_group(group_id)

    def _check_group(self, group_id: Any) -> None:
        if int(group_id) not in self.variable_groups:
            raise _rm_error(
                400,
                f"VS402890: Variable group with id {group_id} does not exist or is not authorized.",
                "InvalidRequestException",
            )

    def _normalized_definition(
        self, body: dict[str, Any], definition_id: int, project: dict[str, str], *, revision: int
    ) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        stored.pop("_links", None)
        stored.pop("url", None)
        stored.update({"id": definition_id, "revision": revision, "isDeleted": False})
        stored.setdefault("source", "restApi")
        stored.setdefault("path", "\\")
        stored.setdefault("description", None)
        for key in ("variables", "properties"):
            stored[key] = stored.get(key) or {}
        for key in ("variableGroups", "artifacts", "triggers", "tags", "environments"):
            stored[key] = stored.get(key) or []
        stored["projectReference"] = None
        stored.setdefault("releaseNameFormat", "Release-$(rev:r)")
        next_env = 1 + max(
            (e.get("id") or 0 for d in self.definitions.values() for e in d.body["environments"]), default=0
        )
        for rank, env in enumerate(stored["environments"], start=1):
            if not env.get("id"):
                env["id"] = next_env
                next_env += 1
            env.setdefault("rank", rank)
            env["variables"] = env.get("variables") or {}
            env["variableGroups"] = env.get("variableGroups") or []
            for phase_rank, phase in enumerate(env.get("deployPhases") or [], start=1):
                phase.setdefault("rank", phase_rank)
                phase.setdefault("phaseType", "agentBasedDeployment")
                phase.setdefault("refName", None)
                phase["workflowTasks"] = phase.get("workflowTasks") or []
        # Secret variables are stored with their values but never returned (see `render_definition`).
        return stored


def _keep_secret_values(old: dict[str, Any], new: dict[str, Any]) -> None:
    for name, var in new.items():
        if isinstance(var, dict) and var.get("isSecret") and var.get("value") is None and name in old:
            var["value"] = (old[name] or {}).get("value")


def _keep_secrets(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A secret variable saved with a null value keeps the value stored (no client ever has it), at the
    definition level and in each environment (matched by id)."""
    _keep_secret_values(old.get("variables") or {}, new.get("variables") or {})
    old_envs = {e.get("id"): e for e in old.get("environments") or []}
    for env in new.get("environments") or []:
        previous = old_envs.get(env.get("id"))
        if previous is not None:
            _keep_secret_values(previous.get("variables") or {}, env.get("variables") or {})


def _task_group_body(
    body: dict[str, Any], group_id: str, project_id: str, by: dict[str, Any], *, revision: int, now: str
) -> dict[str, Any]:
    version = dict(body.get("version") or {"major": 1, "minor": 0, "patch": 0, "isTest": False})
    version.setdefault("minor", 0)
    version.setdefault("patch", 0)
    version.setdefault("isTest", False)
    return {
        "tasks": copy.deepcopy(body.get("tasks") or []),
        "runsOn": body.get("runsOn") or ["Agent", "DeploymentGroup"],
        "revision": revision,
        "createdBy": by,
        "createdOn": now,
        "modifiedBy": by,
        "modifiedOn": now,
        "comment": body.get("comment") or "",
        "id": group_id,
        "name": str(body["name"]).strip() if body.get("name") else "",
        "version": version,
        "preview": bool(body.get("preview", False)),
        "category": body.get("category") or "Deploy",
        "definitionType": "metaTask",
        "description": body.get("description") or "",
        "instanceNameFormat": body.get("instanceNameFormat") or f"Task group: {body.get('name')}",
        "inputs": copy.deepcopy(body.get("inputs") or []),
        "_projectId": project_id,
    }


def _shares_project(
    existing: dict[str, Any], refs: list[Any], key: str = "serviceEndpointProjectReferences"
) -> bool:
    have = {str((r.get("projectReference") or {}).get("id", "")).lower() for r in existing.get(key) or []}
    return any(str((r.get("projectReference") or {}).get("id", "")).lower() in have for r in refs)


def masked_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    """What every read returns: confidential authorization parameters as null."""
    body = copy.deepcopy(endpoint.body)
    auth = body.get("authorization") or {}
    params = auth.get("parameters")
    if isinstance(params, dict):
        auth["parameters"] = {
            k: (None if k.lower() in CONFIDENTIAL_PARAMETERS else v) for k, v in params.items()
        }
    return body


def masked_variables(variables: dict[str, Any]) -> dict[str, Any]:
    """Secret variables come back as `{"value": null, "isSecret": true}`."""
    out = {}
    for name, var in (variables or {}).items():
        var = dict(var or {})
        if var.get("isSecret"):
            var["value"] = None
        out[name] = var
    return out
