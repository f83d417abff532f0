"""Pre-flight as a pure function over both sides' inventories: missing tasks and extensions by name and
version, the classic-pipeline setting, pools without a mapping, name collisions, and which definitions are
therefore not attempted."""

from __future__ import annotations

from typing import Any

from connectors.ado_pipelines.preflight import Inventory, collisions, preflight, task_usage

WEBAPP = "497d490f-eea7-4f2b-ab94-48d9c1acdcb1"
TOKENS = "a8515ec8-7254-4ffd-912c-86772e2b5962"
POWERSHELL = "e213ff0f-5d5c-4791-802d-52ea3e7be1f1"
GROUP = "2da4ab36-6fd7-416f-a8ee-5b2a9d3bd61c"


def task(task_id: str, name: str, major: int, contribution: str | None = None) -> dict[str, Any]:
    return {
        "id": task_id,
        "name": name,
        "version": {"major": major, "minor": 0, "patch": 0},
        "contributionIdentifier": contribution,
        "inputs": [],
    }


def definition(name: str, *tasks: tuple[str, str, str], queue: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "environments": [
            {
                "name": "Prod",
                "deployPhases": [
                    {
                        "phaseType": "agentBasedDeployment",
                        "deploymentInput": {"queueId": queue},
                        "workflowTasks": [
                            {"taskId": t, "version": v, "definitionType": d, "name": t} for t, v, d in tasks
                        ],
                    }
                ],
            }
        ],
    }


SOURCE = Inventory(
    task_definitions=[
        task(WEBAPP, "AzureRmWebAppDeployment", 4),
        task(POWERSHELL, "PowerShell", 2),
        task(TOKENS, "ReplaceTokens", 5, "qetza.replacetokens"),
    ],
    extensions=[{"publisherId": "qetza", "extensionId": "replacetokens", "version": "5.3.2"}],
    pools=[{"id": 1, "name": "Default"}],
    queues=[
        {"id": 1, "name": "Default", "pool": {"id": 1, "name": "Default"}},
        {"id": 2, "name": "Builders", "pool": {"id": 3, "name": "Build farm"}},
    ],
)
TARGET = Inventory(
    task_definitions=[task(WEBAPP, "AzureRmWebAppDeployment", 4), task(POWERSHELL, "PowerShell", 2)],
    pools=[
        {"id": 1, "name": "Default"},
        {"id": 9, "name": "Azure Pipelines"},
        {"id": 10, "name": "Linux agents"},
    ],
)
TASK_GROUP = {
    "id": GROUP,
    "name": "Deploy steps",
    "tasks": [
        {"task": {"id": TOKENS, "versionSpec": "5.*", "definitionType": "task"}},
        {"task": {"id": POWERSHELL, "versionSpec": "3.*", "definitionType": "task"}},
    ],
}


def test_a_ready_copy_has_no_problems() -> None:
    report = preflight(
        [definition("Web", (WEBAPP, "4.*", "task"))], [], SOURCE, TARGET, pool_map={"Default": "Linux agents"}
    )
    assert report.ok and report.problems() == [] and report.blocked == {}
    assert report.render() == "Pre-flight: ready"


def test_missing_tasks_and_extensions_block_the_definitions_using_them() -> None:
    uses_group = definition("Uses group", (GROUP, "1.*", "metaTask"))
    direct = definition("Direct", (TOKENS, "5.*", "task"))
    fine = definition("Fine", (WEBAPP, "4.*", "task"))
    report = preflight(
        [uses_group, direct, fine], [TASK_GROUP], SOURCE, TARGET, pool_map={"Default": "Linux agents"}
    )
    assert [(e.id, e.version, e.used_by) for e in report.missing_extensions] == [
        ("qetza.replacetokens", "5.3.2", ["Direct", "task group Deploy steps"])
    ]
    assert sorted((t.name, t.version) for t in report.missing_tasks) == [
        ("PowerShell", "3.*"),
        ("ReplaceTokens", "5.*"),
    ]
    assert set(report.blocked) == {"Uses group", "Direct"}
    assert "extension qetza.replacetokens is not installed on the target" in report.blocked["Direct"]
    assert (
        "Task PowerShell 3.* (e213ff0f-5d5c-4791-802d-52ea3e7be1f1) is missing on the target"
        in report.render()
    )


def test_pools_need_a_mapping_to_an_existing_target_pool() -> None:
    defs = [definition("A", queue=1), definition("B", queue=2)]
    report = preflight(defs, [], SOURCE, TARGET, pool_map={"Build farm": "Nowhere"})
    by_pool = {p.pool: p for p in report.unmapped_pools}
    assert set(by_pool) == {"Default", "Build farm"}
    assert "has a pool named 'Default' too" in by_pool["Default"].reason
    assert by_pool["Build farm"].reason == "it is mapped to 'Nowhere', which does not exist on the target"
    assert report.blocked == {
        "A": ["agent pool Default has no mapping"],
        "B": ["agent pool Build farm has no mapping"],
    }


def test_classic_pipelines_disabled_on_the_target_blocks_every_definition() -> None:
    target = TARGET.model_copy(update={"classic_release_disabled": True})
    report = preflight([definition("A")], [], SOURCE, target, pool_map={"Default": "Default"})
    assert not report.ok and report.blocked == {"A": ["the target refuses classic release pipelines"]}
    assert "tandem pipelines yaml" in report.render()


def test_name_collisions_with_different_items_but_not_with_linked_or_equal_ones() -> None:
    source = {
        "service_connection": [
            {"id": "s1", "name": "Azure", "type": "AzureRM", "url": "https://management.azure.com/"},
            {"id": "s2", "name": "Nexus", "type": "generic", "url": "https://nexus.fabrikam"},
            {"id": "s3", "name": "Linked", "type": "generic", "url": "https://a"},
        ],
        "variable_group": [{"id": 1, "name": "Shared", "variables": {"A": {}, "B": {}}}],
    }
    target = {
        "service_connection": [
            {"id": "t1", "name": "azure", "type": "AzureRM", "url": "https://management.azure.com"},
            {"id": "t2", "name": "Nexus", "type": "generic", "url": "https://other"},
            {"id": "t3", "name": "Linked", "type": "generic", "url": "https://b"},
        ],
        "variable_group": [{"id": 7, "name": "Shared", "variables": {"A": {}}}],
    }
    found = collisions(source, target, linked={"service_connection": {"S3"}})
    assert [(c.entity, c.name) for c in found] == [
        ("service_connection", "Nexus"),
        ("variable_group", "Shared"),
    ]
    assert "(id t2)" in found[0].reason


def test_task_usage_counts_definitions_and_task_groups() -> None:
    used = task_usage([definition("A", (WEBAPP, "4.*", "task"), (GROUP, "1.*", "metaTask"))], [TASK_GROUP])
    assert used == {
        (WEBAPP, "4.*"): {"A"},
        (TOKENS, "5.*"): {"task group Deploy steps"},
        (POWERSHELL, "3.*"): {"task group Deploy steps"},
    }
