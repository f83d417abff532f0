"""Finding and remapping every id a release definition holds, on Microsoft's example definition
(specs/ado/release/7.1/httpExamples) extended with what real pipelines carry: task groups, service
connections in task inputs, variable groups, artifacts and approvers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.ado_pipelines.remap import (
    UnmappedReferences,
    apply_mapping,
    endpoint_inputs,
    find_references,
    find_task_group_references,
    for_create,
    get_path,
    mapping_from_ids,
    remap,
)

SPECS = Path(__file__).resolve().parents[2] / "specs" / "ado"
ENDPOINT = "0f6b0a2b-6c85-4a0d-9b4e-6b0f0c5a1e11"
OTHER_ENDPOINT = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
TASK_GROUP = "2da4ab36-6fd7-416f-a8ee-5b2a9d3bd61c"
WEBAPP = "497d490f-eea7-4f2b-ab94-48d9c1acdcb1"
MARKET = "a8515ec8-7254-4ffd-912c-86772e2b5962"
TASKS = [
    {
        "id": WEBAPP,
        "name": "AzureRmWebAppDeployment",
        "inputs": [
            {"name": "ConnectedServiceName", "type": "connectedService:AzureRM"},
            {"name": "WebAppName", "type": "pickList"},
        ],
    },
    {
        "id": "e213ff0f-5d5c-4791-802d-52ea3e7be1f1",
        "name": "PowerShell",
        "inputs": [{"name": "script", "type": "multiLine"}],
    },
]


def example_definition() -> dict[str, Any]:
    path = SPECS / "release/7.1/httpExamples/definitions/GET__GetReleaseDefinition.json"
    body = json.loads(path.read_text(encoding="utf-8-sig"))["responses"]["200"]["body"]
    body["variableGroups"] = [3]
    body["artifacts"] = [
        {
            "sourceId": "42fa3371-9e49-4858-8f49-9d4f2d0b32e8:5",
            "type": "Build",
            "alias": "_Fabrikam-CI",
            "definitionReference": {
                "definition": {"id": "5", "name": "Fabrikam-CI"},
                "project": {"id": "42fa3371-9e49-4858-8f49-9d4f2d0b32e8", "name": "MyFirstProject"},
                "defaultVersionType": {"id": "latestType", "name": "Latest"},
            },
            "isPrimary": True,
        }
    ]
    env = body["environments"][0]
    env["variableGroups"] = [4]
    env["deployPhases"][0]["workflowTasks"] = [
        {
            "taskId": WEBAPP,
            "version": "4.*",
            "name": "Deploy web app",
            "definitionType": "task",
            "inputs": {"ConnectedServiceName": ENDPOINT, "WebAppName": "fabrikam"},
        },
        {
            "taskId": TASK_GROUP,
            "version": "1.*",
            "name": "Task group: smoke tests",
            "definitionType": "metaTask",
            "inputs": {},
        },
        {
            "taskId": MARKET,
            "version": "5.*",
            "name": "Marketplace task",
            "definitionType": "task",
            "inputs": {"azureSubscription": OTHER_ENDPOINT, "files": "**/*.config"},
        },
        {
            "taskId": WEBAPP,
            "version": "4.*",
            "name": "Deploy from a variable",
            "definitionType": "task",
            "inputs": {"ConnectedServiceName": "$(ArmConnection)"},
        },
    ]
    return body


def paths(refs: list[Any]) -> dict[str, tuple[str, str]]:
    return {r.path: (r.entity, r.source_id) for r in refs}


def test_every_reference_is_found_with_its_json_path() -> None:
    definition = example_definition()
    refs = find_references(
        definition,
        endpoint_inputs_by_task=endpoint_inputs(TASKS),
        known_endpoint_ids=[ENDPOINT, OTHER_ENDPOINT],
    )
    owner = definition["environments"][0]["owner"]["id"]
    phase = "environments[0].deployPhases[0]"
    assert paths(refs) == {
        "variableGroups[0]": ("variable_group", "3"),
        "artifacts[0].definitionReference.project.id": ("project", "42fa3371-9e49-4858-8f49-9d4f2d0b32e8"),
        "artifacts[0].definitionReference.definition.id": ("build_definition", "5"),
        "environments[0].owner.id": ("identity", owner),
        "environments[0].preDeployApprovals.approvals[0].approver.id": ("identity", owner),
        "environments[0].variableGroups[0]": ("variable_group", "4"),
        f"{phase}.deploymentInput.queueId": ("agent_queue", "15"),
        f"{phase}.workflowTasks[0].inputs.ConnectedServiceName": ("service_connection", ENDPOINT),
        f"{phase}.workflowTasks[1].taskId": ("task_group", TASK_GROUP),
        f"{phase}.workflowTasks[2].inputs.azureSubscription": ("service_connection", OTHER_ENDPOINT),
    }
    by_path = {r.path: r for r in refs}
    assert by_path[f"{phase}.workflowTasks[1].taskId"].detail == "1.*"
    assert by_path["environments[0].owner.id"].name == "fabfiber@outlook.com"
    assert by_path["artifacts[0].definitionReference.definition.id"].name == "Fabrikam-CI"


def test_an_endpoint_input_is_found_from_task_definitions_alone() -> None:
    refs = find_references(example_definition(), endpoint_inputs_by_task=endpoint_inputs(TASKS))
    found = [r.path for r in refs if r.entity == "service_connection"]
    # The marketplace task is unknown and its endpoint id was not listed: only the typed input is found.
    assert found == ["environments[0].deployPhases[0].workflowTasks[0].inputs.ConnectedServiceName"]


def test_apply_mapping_writes_target_ids_with_their_types_and_rebuilds_artifact_source_ids() -> None:
    definition = example_definition()
    refs = find_references(
        definition, endpoint_inputs_by_task=endpoint_inputs(TASKS), known_endpoint_ids=[OTHER_ENDPOINT]
    )
    owner = definition["environments"][0]["owner"]["id"]
    ids = {
        "variable_group": {"3": 30, "4": 40},
        "agent_queue": {"15": 150},
        "service_connection": {ENDPOINT.upper(): "new-endpoint", OTHER_ENDPOINT: "other-endpoint"},
        "task_group": {TASK_GROUP: "new-task-group"},
        "project": {"42fa3371-9e49-4858-8f49-9d4f2d0b32e8": "target-project"},
        "build_definition": {"5": "77"},
        "identity": {"fabfiber@outlook.com": "target-person"},
    }
    mapping = mapping_from_ids(refs, ids)
    result = apply_mapping(definition, refs, mapping)
    assert result.complete and result.unmapped == []
    out = result.definition
    phase = out["environments"][0]["deployPhases"][0]
    assert phase["deploymentInput"]["queueId"] == 150
    assert out["variableGroups"] == [30] and out["environments"][0]["variableGroups"] == [40]
    assert phase["workflowTasks"][0]["inputs"]["ConnectedServiceName"] == "new-endpoint"
    assert (
        phase["workflowTasks"][1]["taskId"] == "new-task-group"
        and phase["workflowTasks"][1]["version"] == "1.*"
    )
    assert phase["workflowTasks"][3]["inputs"]["ConnectedServiceName"] == "$(ArmConnection)"
    assert out["artifacts"][0]["sourceId"] == "target-project:77"
    assert out["environments"][0]["owner"] == {"id": "target-person"}
    assert (
        "createdBy" not in out and "url" not in out and out["id"] == 0 and out["environments"][0]["id"] == 0
    )
    assert definition["environments"][0]["owner"]["id"] == owner  # the input is left alone
    text = json.dumps(out)
    for source_id in (ENDPOINT, OTHER_ENDPOINT, TASK_GROUP, owner, "42fa3371-9e49-4858-8f49-9d4f2d0b32e8"):
        assert source_id not in text


def test_a_task_group_version_spec_can_be_mapped_too() -> None:
    definition = example_definition()
    refs = find_references(definition, endpoint_inputs_by_task=endpoint_inputs(TASKS))
    path = "environments[0].deployPhases[0].workflowTasks[1]"
    mapping = {r.path: "x" for r in refs} | {f"{path}.taskId": "tg", f"{path}.version": "2.*"}
    mapping |= {r.path: 1 for r in refs if r.entity in ("agent_queue", "variable_group")}
    out = apply_mapping(definition, refs, mapping).definition
    assert get_path(out, f"{path}.version") == "2.*"


def test_unmapped_references_refuse_the_definition_naming_each() -> None:
    definition = example_definition()
    refs = find_references(definition, endpoint_inputs_by_task=endpoint_inputs(TASKS))
    mapping = mapping_from_ids(refs, {"agent_queue": {"15": 1}, "variable_group": {"3": 2, "4": 3}})
    result = apply_mapping(definition, refs, mapping)
    assert not result.complete
    assert {r.entity for r in result.unmapped} == {
        "task_group",
        "service_connection",
        "project",
        "build_definition",
        "identity",
    }
    with pytest.raises(UnmappedReferences) as caught:
        remap(definition, refs, mapping)
    message = str(caught.value)
    assert message.startswith("Fabrikam-web: 6 reference(s) could not be mapped")
    assert (
        "artifacts[0].definitionReference.definition.id: build_definition 'Fabrikam-CI' (source id 5)"
        in message
    )
    assert (
        "environments[0].deployPhases[0].workflowTasks[1].taskId: task_group 'Task group: smoke tests'"
        in message
    )


def test_task_group_steps_reference_endpoints_and_nested_groups() -> None:
    version = json.loads(
        (SPECS / "distributedTask/7.1/httpExamples/taskgroups/POST__CreateTaskGroup.json").read_text(
            encoding="utf-8-sig"
        )
    )["parameters"]["body"]
    version["tasks"].append(
        {
            "displayName": "Deploy",
            "inputs": {"ConnectedServiceName": ENDPOINT},
            "task": {"id": WEBAPP, "versionSpec": "4.*", "definitionType": "task"},
        }
    )
    version["tasks"].append(
        {
            "displayName": "Nested",
            "inputs": {},
            "task": {"id": TASK_GROUP, "versionSpec": "2.*", "definitionType": "metaTask"},
        }
    )
    refs = find_task_group_references(version, endpoint_inputs_by_task=endpoint_inputs(TASKS))
    assert paths(refs) == {
        "tasks[2].inputs.ConnectedServiceName": ("service_connection", ENDPOINT),
        "tasks[3].task.id": ("task_group", TASK_GROUP),
    }
    out = remap(version, refs, {"tasks[2].inputs.ConnectedServiceName": "e2", "tasks[3].task.id": "tg2"})
    assert out["tasks"][3]["task"] == {"id": "tg2", "versionSpec": "2.*", "definitionType": "metaTask"}


def test_for_create_drops_what_the_service_sets() -> None:
    definition = example_definition()
    created = for_create(definition)
    assert created["id"] == 0
    for key in ("revision", "url", "_links", "createdBy", "modifiedOn", "projectReference"):
        assert key not in created
    env = created["environments"][0]
    assert env["id"] == 0 and "deployStep" not in env
    assert env["preDeployApprovals"]["approvals"][0]["id"] == 0
    assert copy.deepcopy(definition)["environments"][0]["id"] != 0
