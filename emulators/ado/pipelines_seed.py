"""Seeding of the pipeline resources and their control routes under ``/_emulator/pipelines/``:

- ``POST /pipelines/sample`` ``{"project": "Fabrikam"}`` → a classic release definition "Fabrikam-web" using a
  task group (version 1.*, with a version 2 beside it), an Azure Resource Manager service connection, a
  variable group with a secret and an agent queue on pool ``Default`` (the ids of each).
- ``POST /pipelines/settings`` ``{"disableClassicReleasePipelineCreation": true}`` (Services only).
- ``POST /pipelines/tasks`` ``{"name", "id", "version", "inputs": [[name, type]], "extension": {...}?}``
  adds a (marketplace) task definition, and the extension it comes from when given.
- ``POST /pipelines/extensions`` an InstalledExtension (``publisherId``, ``extensionId``, ``version``...).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.ado.errors import AdoError
from emulators.ado.pipelines_store import PipelinesState, task_definition
from emulators.common import json_response

if TYPE_CHECKING:
    from emulators.ado.emulator import AdoEmulator

POWERSHELL = "e213ff0f-5d5c-4791-802d-52ea3e7be1f1"
AZURE_CLI = "46e4be58-730b-4389-8a2f-ea10b3e5e815"
WEBAPP_DEPLOY = "497d490f-eea7-4f2b-ab94-48d9c1acdcb1"


def install_extension(
    state: PipelinesState, publisher: str, extension: str, version: str, name: str | None = None
) -> dict[str, Any]:
    body = {
        "publisherId": publisher,
        "publisherName": publisher,
        "extensionId": extension,
        "extensionName": name or extension,
        "version": version,
        "flags": "none",
        "installState": {"flags": "none", "lastUpdated": state.now()},
        "lastPublished": state.now(),
    }
    state.extensions = [
        e for e in state.extensions if (e["publisherId"], e["extensionId"]) != (publisher, extension)
    ]
    state.extensions.append(body)
    return body


def add_task(
    state: PipelinesState,
    name: str,
    task_id: str,
    version: str,
    inputs: tuple[tuple[str, str], ...] = (),
    *,
    extension: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """A task definition; `extension` (publisher, extension id, version) marks it as a marketplace task and
    installs that extension too."""
    contribution = f"{extension[0]}.{extension[1]}" if extension else None
    body = task_definition(
        name,
        task_id,
        version,
        inputs,
        contribution=contribution,
        contribution_version=extension[2] if extension else None,
    )
    state.tasks = [t for t in state.tasks if not (t["id"] == task_id and t["version"] == body["version"])]
    state.tasks.append(body)
    if extension:
        install_extension(state, *extension)
    return body


def seed_sample(emu: AdoEmulator, project_name: str) -> dict[str, Any]:
    """The sample a Server → Services copy starts from (see the module docstring)."""
    state = emu.pipelines
    project = emu.state.project(project_name)
    by = emu.identities.identity_ref(emu.identities.first())
    people = emu.identities.all()
    approver = people[1] if len(people) > 1 else people[0]
    default_pool = next(p for p in state.pools.values() if p["name"] == "Default")
    queue = state.add_queue(project.id, "Default", default_pool["id"])
    ref = [{"projectReference": {"id": project.id, "name": project.name}, "name": "Fabrikam Azure"}]
    endpoint = state.create_endpoint(
        {
            "name": "Fabrikam Azure",
            "type": "AzureRM",
            "url": "https://management.azure.com/",
            "data": {
                "subscriptionId": "1272a66f-e2e8-4e88-ab43-487409186c3f",
                "subscriptionName": "Fabrikam Production",
                "environment": "AzureCloud",
                "scopeLevel": "Subscription",
                "creationMode": "Manual",
            },
            "authorization": {
                "scheme": "ServicePrincipal",
                "parameters": {
                    "tenantid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "serviceprincipalid": "0e5a4a6c-25d1-4c4e-8e8a-0c1b8f1e2d3a",
                    "authenticationType": "spnKey",
                    "serviceprincipalkey": "sample-principal-key",
                },
            },
            "isShared": False,
            "serviceEndpointProjectReferences": ref,
        },
        by,
    )
    endpoint_id = endpoint.body["id"]
    group = state.create_variable_group(
        {
            "name": "Fabrikam shared",
            "type": "Vsts",
            "description": "Settings every stage uses",
            "variables": {
                "AppServiceName": {"value": "fabrikam-web"},
                "SqlPassword": {"value": "sample-sql-password", "isSecret": True},
            },
            "variableGroupProjectReferences": [
                {"projectReference": {"id": project.id, "name": project.name}, "name": "Fabrikam shared"}
            ],
        },
        by,
    )
    steps = [
        {
            "displayName": "Azure CLI: warm up",
            "alwaysRun": False,
            "continueOnError": False,
            "enabled": True,
            "timeoutInMinutes": 0,
            "inputs": {
                "connectedServiceNameARM": endpoint_id,
                "scriptType": "pscore",
                "inlineScript": "az webapp start --name $(AppServiceName)",
            },
            "task": {"id": AZURE_CLI, "versionSpec": "2.*", "definitionType": "task"},
        },
        {
            "displayName": "PowerShell: smoke test",
            "alwaysRun": False,
            "continueOnError": False,
            "enabled": True,
            "timeoutInMinutes": 0,
            "inputs": {
                "targetType": "inline",
                "script": "Invoke-WebRequest https://$(AppServiceName).azurewebsites.net",
            },
            "task": {"id": POWERSHELL, "versionSpec": "2.*", "definitionType": "task"},
        },
    ]
    task_group = state.create_task_group(
        project.id,
        {
            "name": "Fabrikam deploy steps",
            "category": "Deploy",
            "version": {"major": 1, "minor": 0, "patch": 0, "isTest": False},
            "instanceNameFormat": "Task group: Fabrikam deploy steps",
            "tasks": steps,
        },
        by,
    )
    state.update_task_group(
        project.id,
        task_group["id"],
        {
            **task_group,
            "version": {"major": 2, "minor": 0, "patch": 0, "isTest": False},
            "preview": True,
            "tasks": [*steps, {**steps[1], "displayName": "PowerShell: extra check"}],
        },
        by,
    )

    def environment(name: str, rank: int, with_approval: bool) -> dict[str, Any]:
        approvals: list[dict[str, Any]] = (
            [
                {
                    "rank": 1,
                    "isAutomated": False,
                    "isNotificationOn": False,
                    "approver": emu.identities.identity_ref(approver),
                    "id": 0,
                }
            ]
            if with_approval
            else [{"rank": 1, "isAutomated": True, "isNotificationOn": False, "id": 0}]
        )
        return {
            "id": 0,
            "name": name,
            "rank": rank,
            "owner": by,
            "variables": {"Slot": {"value": name.lower()}},
            "variableGroups": [group["id"]],
            "preDeployApprovals": {"approvals": approvals},
            "postDeployApprovals": {
                "approvals": [{"rank": 1, "isAutomated": True, "isNotificationOn": False, "id": 0}]
            },
            "deployPhases": [
                {
                    "deploymentInput": {
                        "parallelExecution": {"parallelExecutionType": "none"},
                        "skipArtifactsDownload": False,
                        "artifactsDownloadInput": {"downloadInputs": []},
                        "queueId": queue["id"],
                        "demands": [],
                        "enableAccessToken": False,
                        "timeoutInMinutes": 0,
                        "jobCancelTimeoutInMinutes": 1,
                        "condition": "succeeded()",
                        "overrideInputs": {},
                    },
                    "rank": 1,
                    "phaseType": "agentBasedDeployment",
                    "name": "Run on agent",
                    "workflowTasks": [
                        {
                            "environment": {},
                            "taskId": WEBAPP_DEPLOY,
                            "version": "4.*",
                            "name": "Deploy Azure App Service",
                            "refName": "",
                            "enabled": True,
                            "alwaysRun": False,
                            "continueOnError": False,
                            "timeoutInMinutes": 0,
                            "definitionType": "task",
                            "overrideInputs": {},
                            "condition": "succeeded()",
                            "inputs": {
                                "ConnectionType": "AzureRM",
                                "ConnectedServiceName": endpoint_id,
                                "WebAppName": "$(AppServiceName)",
                                "packageForLinux": "$(System.DefaultWorkingDirectory)/**/*.zip",
                            },
                        },
                        {
                            "environment": {},
                            "taskId": task_group["id"],
                            "version": "1.*",
                            "name": "Task group: Fabrikam deploy steps",
                            "refName": "",
                            "enabled": True,
                            "alwaysRun": False,
                            "continueOnError": False,
                            "timeoutInMinutes": 0,
                            "definitionType": "metaTask",
                            "overrideInputs": {},
                            "condition": "succeeded()",
                            "inputs": {},
                        },
                    ],
                }
            ],
            "environmentOptions": {
                "autoLinkWorkItems": False,
                "badgeEnabled": False,
                "publishDeploymentStatus": True,
                "pullRequestDeploymentEnabled": False,
            },
            "demands": [],
            "conditions": [{"name": "ReleaseStarted", "conditionType": "event", "value": ""}]
            if rank == 1
            else [{"name": "Staging", "conditionType": "environmentState", "value": "4"}],
            "executionPolicy": {"concurrencyCount": 1, "queueDepthCount": 0},
            "schedules": [],
            "retentionPolicy": {"daysToKeep": 30, "releasesToKeep": 3, "retainBuild": True},
            "preDeploymentGates": {"id": 0, "gatesOptions": None, "gates": []},
            "postDeploymentGates": {"id": 0, "gatesOptions": None, "gates": []},
            "environmentTriggers": [],
        }

    definition = state.create_definition(
        {"id": project.id, "name": project.name},
        {
            "name": "Fabrikam-web",
            "path": "\\",
            "releaseNameFormat": "Release-$(rev:r)",
            "variables": {
                "BuildConfiguration": {"value": "release"},
                "DeployToken": {"value": "sample-deploy-token", "isSecret": True},
            },
            "variableGroups": [group["id"]],
            "environments": [environment("Staging", 1, False), environment("Production", 2, True)],
            "artifacts": [],
            "triggers": [],
        },
        by,
    )
    return {
        "project": {"id": project.id, "name": project.name},
        "queueId": queue["id"],
        "poolId": default_pool["id"],
        "endpointId": endpoint_id,
        "variableGroupId": group["id"],
        "taskGroupId": task_group["id"],
        "definitionId": definition.body["id"],
    }


class _SampleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str


class _TaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    id: str
    version: str
    inputs: list[tuple[str, str]] = Field(default_factory=list)
    extension: tuple[str, str, str] | None = None  # publisher, extension id, version


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw else {}


def pipelines_control_routes(emu: AdoEmulator, prefix: str) -> list[Route]:
    async def sample(request: Request) -> Response:
        try:
            body = _SampleBody.model_validate(await _json(request))
            return json_response(seed_sample(emu, body.project))
        except AdoError as exc:
            return json_response(exc.body(), exc.status)
        except (ValidationError, ValueError) as exc:
            return json_response({"message": str(exc)}, 400)

    async def settings(request: Request) -> Response:
        state = emu.pipelines
        if request.method == "POST":
            body = await _json(request)
            unknown = set(body) - set(state.settings)
            if unknown:
                known = ", ".join(sorted(state.settings)) or "none on Azure DevOps Server"
                return json_response({"message": f"unknown settings {sorted(unknown)}; known: {known}"}, 400)
            state.settings.update({k: bool(v) for k, v in body.items()})
        return json_response(state.settings)

    async def tasks(request: Request) -> Response:
        try:
            body = _TaskBody.model_validate(await _json(request))
        except (ValidationError, ValueError) as exc:
            return json_response({"message": str(exc)}, 400)
        return json_response(
            add_task(
                emu.pipelines, body.name, body.id, body.version, tuple(body.inputs), extension=body.extension
            )
        )

    async def extensions(request: Request) -> Response:
        body = await _json(request)
        try:
            return json_response(
                install_extension(emu.pipelines, body["publisherId"], body["extensionId"], body["version"])
            )
        except (KeyError, TypeError) as exc:
            return json_response({"message": f"missing {exc}: publisherId, extensionId, version"}, 400)

    return [
        Route(f"{prefix}/pipelines/sample", sample, methods=["POST"]),
        Route(f"{prefix}/pipelines/settings", settings, methods=["GET", "POST"]),
        Route(f"{prefix}/pipelines/tasks", tasks, methods=["POST"]),
        Route(f"{prefix}/pipelines/extensions", extensions, methods=["POST"]),
    ]
