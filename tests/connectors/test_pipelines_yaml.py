"""YAML export of a classic release definition: the emulator's sample (read over HTTP like the CLI does)
exports a pipeline that parses, with one stage per environment, the task group's steps as a template and the
variables; `tandem pipelines yaml` writes it from a connection or from a JSON file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.ado import AdoConnector, AdoOptions
from connectors.ado_pipelines.connector import PipelinesConnector
from connectors.ado_pipelines.yaml_export import export_yaml
from emulators.ado import AdoEmulator
from tandem.cli import main

PAT = "yaml-canary-pat-0123456789"
PROJECT = "Fabrikam"


@pytest.fixture
def server() -> Iterator[tuple[AdoEmulator, dict[str, Any]]]:
    with AdoEmulator("server", pat=PAT) as emulator:
        emulator.seed_project(PROJECT)
        yield emulator, emulator.seed_pipelines_sample(PROJECT)


def read_sample(emulator: AdoEmulator, definition_id: int) -> dict[str, Any]:
    ado = AdoConnector(
        "ado_server", emulator.base_url, AdoOptions(deployment="server"), get_secret=lambda: PAT
    )
    client = PipelinesConnector(ado, PROJECT).client
    groups: dict[str, list[dict[str, Any]]] = {}
    for version in client.list_task_groups(PROJECT):
        groups.setdefault(version["id"], []).append(version)
    return {
        "definition": client.get_definition(PROJECT, definition_id),
        "task_groups": groups,
        "variable_groups": {g["id"]: g for g in client.list_variable_groups(PROJECT)},
        "queues": {q["id"]: q for q in client.list_queues(PROJECT)},
        "task_definitions": client.list_task_definitions(),
        "endpoints": {e["id"]: e["name"] for e in client.list_endpoints(PROJECT)},
    }


def test_sample_definition_exports_a_parsable_multi_stage_pipeline(
    server: tuple[AdoEmulator, dict[str, Any]],
) -> None:
    emulator, ids = server
    parts = read_sample(emulator, ids["definitionId"])
    exported = export_yaml(parts.pop("definition"), **parts)
    pipeline = yaml.safe_load(exported.pipeline)
    assert [s["displayName"] for s in pipeline["stages"]] == ["Staging", "Production"]
    assert pipeline["stages"][1]["dependsOn"] == ["Staging"] and pipeline["stages"][0]["dependsOn"] == []
    assert pipeline["variables"] == [
        {"group": "Fabrikam shared"},
        {"name": "BuildConfiguration", "value": "release"},
    ]
    assert {"name": "Slot", "value": "staging"} in pipeline["stages"][0]["variables"]
    job = pipeline["stages"][0]["jobs"][0]
    assert job["pool"] == {"name": "Default"} and job["environment"] == "Staging"
    steps = job["strategy"]["runOnce"]["deploy"]["steps"]
    assert steps[0]["task"] == "AzureRmWebAppDeployment@4"
    assert steps[0]["inputs"]["ConnectedServiceName"] == "Fabrikam Azure"  # YAML names the connection
    assert steps[1] == {"template": "templates/fabrikam-deploy-steps-v1.yml"}
    template = yaml.safe_load(exported.templates["templates/fabrikam-deploy-steps-v1.yml"])
    assert [s["task"] for s in template["steps"]] == ["AzureCLI@2", "PowerShell@2"]
    assert template["steps"][0]["inputs"]["connectedServiceNameARM"] == "Fabrikam Azure"
    header = exported.pipeline.split("trigger:")[0]
    approval = "Stage 'Production': pre-deployment approval by CONTOSO\\ann.chen -> add an Approvals check"
    assert approval in header
    assert "secret variable DeployToken" in header and "secret variable SqlPassword" not in header
    assert "sample-deploy-token" not in exported.pipeline


def test_a_definition_without_its_dependencies_still_exports_with_notes() -> None:
    definition = {
        "name": "Bare",
        "id": 9,
        "revision": 3,
        "variableGroups": [5],
        "environments": [
            {
                "name": "1st stage",
                "rank": 1,
                "deployPhases": [
                    {
                        "name": "Agent job",
                        "phaseType": "agentBasedDeployment",
                        "deploymentInput": {"queueId": 12},
                        "workflowTasks": [
                            {
                                "taskId": "0f6b0a2b-6c85-4a0d-9b4e-6b0f0c5a1e11",
                                "version": "1.*",
                                "definitionType": "metaTask",
                                "name": "TG",
                            }
                        ],
                    },
                    {"name": "Server job", "phaseType": "runOnServer", "workflowTasks": []},
                ],
            },
        ],
    }
    exported = export_yaml(definition)
    pipeline = yaml.safe_load(exported.pipeline)
    stage = pipeline["stages"][0]
    assert stage["stage"] == "_1st_stage"
    assert stage["jobs"][0]["pool"] == {"name": "queue-12"} and stage["jobs"][1]["pool"] == "server"
    assert pipeline["variables"] == [{"group": "variable-group-5"}]
    assert any("task group 0f6b0a2b" in n for n in exported.notes)
    assert any("agent queue 12 was not available" in n for n in exported.notes)


def test_cli_reads_the_definition_from_a_connection(
    server: tuple[AdoEmulator, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    emulator, _ = server
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "no-stack"))
    monkeypatch.setenv("TANDEM_SECRET_TFS_PAT", PAT)
    config = tmp_path / "tandem.yaml"
    config.write_text(
        "connections:\n"
        f"  tfs: {{type: azure_devops, url: '{emulator.base_url}', auth: {{kind: pat, secret: tfs-pat}}}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "export" / "azure-pipelines.yml"
    code = main(
        [
            "pipelines",
            "yaml",
            "Fabrikam-web",
            "--from",
            "tfs",
            "--config",
            str(config),
            "--project",
            PROJECT,
            "-o",
            str(out),
        ]
    )
    assert code == 0
    pipeline = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert len(pipeline["stages"]) == 2
    template = yaml.safe_load(
        (out.parent / "templates" / "fabrikam-deploy-steps-v1.yml").read_text(encoding="utf-8")
    )
    assert len(template["steps"]) == 2
    assert "to set up by hand" in capsys.readouterr().err
    assert PAT not in out.read_text(encoding="utf-8")


def test_cli_from_a_json_file_and_clear_errors(tmp_path: Path, capsys: Any) -> None:
    definition = tmp_path / "definition.json"
    definition.write_text(
        json.dumps({"name": "File", "environments": [{"name": "Dev", "deployPhases": []}]}), encoding="utf-8"
    )
    assert main(["pipelines", "yaml", str(definition)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["stages"][0]["displayName"] == "Dev"
    (tmp_path / "other.json").write_text("{}", encoding="utf-8")
    assert main(["pipelines", "yaml", str(tmp_path / "other.json")]) == 2
    assert "not a release definition" in capsys.readouterr().err
    assert main(["pipelines", "yaml", "Fabrikam-web", "--from", "tfs"]) == 2
    assert "--from needs --config FILE" in capsys.readouterr().err
