"""Release pipelines with their dependencies, Server ↔ Services, end to end through the local stack that
`tandem serve` runs (issue 12), with the sample configuration `tandem/pipelines_config.yaml`: the systems
are driven over their REST API, the app over its admin API and the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from connectors.ado import AdoConnector, AdoOptions
from connectors.ado_pipelines.connector import PipelinesConnector
from tandem.configfile import dump_document, read_document, substitute
from tandem.demo import wait_for
from tests.e2e.test_ado_sync import E2E, NEVER, REPO, run_ids, started_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
PROJECT = "Fabrikam"
WAIT = 90.0


def rest(e2e: E2E, side: str) -> PipelinesConnector:
    """A pipelines client on one emulator, over its REST API, as an administrator would use it."""
    ado = e2e.server if side == "server" else e2e.services
    flavor = "server" if side == "server" else "services"
    inner = AdoConnector(
        f"admin-{side}", ado.base_url, AdoOptions(deployment=flavor), get_secret=lambda: ado.pat
    )
    return PipelinesConnector(inner, PROJECT)


def config(e2e: E2E) -> dict[str, Any]:
    variables = {
        "ADO_SERVER_URL": e2e.server.base_url,
        "ADO_SERVICES_URL": e2e.services.base_url,
        "ADO_SERVER_HOST": "127.0.0.1",
        "ADO_SERVICES_HOST": "127.0.0.1",
    }
    document, problems = substitute(read_document(REPO / "tandem" / "pipelines_config.yaml"), variables)
    assert problems == []
    for direction in document["scenarios"][0]["directions"].values():
        direction["schedule"] = NEVER  # the tests poll explicitly
    return dict(document)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    home = tmp_path_factory.mktemp("pipelines")
    with started_stack(home, [PROJECT], [PROJECT]) as env:
        env.sample = env.server.control("POST", "pipelines/sample", {"project": PROJECT})  # type: ignore[attr-defined]
        rest(env, "services").client.create_pool("Linux agents")
        config_file = home / "pipelines.yaml"
        config_file.write_text(dump_document(config(env)), encoding="utf-8")
        applied = env.cli("config", "apply", str(config_file))
        assert applied.returncode == 0, applied.stderr
        env.config_file = config_file  # type: ignore[attr-defined]
        yield env


def run(e2e: E2E, done: Any, what: str) -> Any:
    """`tandem run pipelines` (both directions), then wait until `done()` holds and the queue is quiet."""
    before = run_ids(e2e, "pipelines")
    assert e2e.client.run("pipelines") == ["left_to_right", "right_to_left"]

    def finished() -> bool:
        runs = [r for r in e2e.new_runs("pipelines", before) if r["trigger"] == "manual"]
        return len(runs) >= 2 and all(r["status"] != "running" for r in runs)  # one run per pair polled

    wait_for("both polls finished", finished, WAIT)
    result, _ = wait_for(what, done, WAIT)
    wait_for("the queue is empty", lambda: e2e.client.queue_quiet(5), WAIT)
    return result


def definitions(e2e: E2E, side: str) -> dict[str, dict[str, Any]]:
    client = rest(e2e, side).client
    return {d["name"]: client.get_definition(PROJECT, int(d["id"])) for d in client.list_definitions(PROJECT)}


def test_the_definition_arrives_on_services_referencing_services_ids_only(e2e: E2E) -> None:
    sample: dict[str, Any] = e2e.sample  # type: ignore[attr-defined]
    copied = run(e2e, lambda: definitions(e2e, "services").get("Fabrikam-web"), "the definition on Services")
    services = rest(e2e, "services").client
    queue = next(q for q in services.list_queues(PROJECT) if q["name"] == "Default")
    assert queue["pool"]["name"] == "Linux agents"
    [group] = services.list_variable_groups(PROJECT)
    [endpoint] = services.list_endpoints(PROJECT)
    task_group_ids = {str(v["id"]) for v in services.list_task_groups(PROJECT)}
    production = copied["environments"][1]["deployPhases"][0]
    assert production["deploymentInput"]["queueId"] == queue["id"]
    assert production["workflowTasks"][0]["inputs"]["ConnectedServiceName"] == endpoint["id"]
    assert production["workflowTasks"][1]["taskId"] in task_group_ids
    assert production["workflowTasks"][1]["version"] == "1.*"
    assert copied["variableGroups"] == [group["id"]]
    text = json.dumps(copied)
    for server_id in (sample["endpointId"], sample["taskGroupId"]):
        assert str(server_id) not in text  # no Server id anywhere in the definition's JSON

    # the pool map is the scenario's: in the stored configuration and its export
    exported = e2e.cli("config", "export")
    assert exported.returncode == 0, exported.stderr
    stored = yaml.safe_load(exported.stdout)["scenarios"][0]
    assert stored["connector_options"]["right"]["pool_map"] == {"Default": "Linux agents"}

    notes = sorted(n["note"] for n in e2e.status("pipelines").get("notes") or [])
    assert "needs secret: Fabrikam Azure: authorization.parameters.serviceprincipalkey" in notes
    shown = e2e.cli("status", "pipelines")
    assert shown.returncode == 0 and "needs secret: Fabrikam Azure" in shown.stdout

    # a rerun changes nothing
    revision = copied["revision"]
    writes = e2e.services.writes()
    run(e2e, lambda: True, "the rerun")
    assert definitions(e2e, "services")["Fabrikam-web"]["revision"] == revision
    assert e2e.services.writes() == writes

    # the YAML export of the copied definition: one stage per environment, the task group's steps, variables
    out = e2e.home / "fabrikam-web.yml"
    exported = e2e.cli(
        "pipelines",
        "yaml",
        "Fabrikam-web",
        "--from",
        "services-pipelines",
        "--config",
        str(e2e.config_file),  # type: ignore[attr-defined]
        "-o",
        str(out),
    )
    assert exported.returncode == 0, exported.stderr
    pipeline = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert len(pipeline["stages"]) == len(copied["environments"])
    steps = pipeline["stages"][1]["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
    [template] = [step["template"] for step in steps if "template" in step]  # the task group, as a template
    group_steps = yaml.safe_load((out.parent / template).read_text(encoding="utf-8"))["steps"]
    assert [step["task"] for step in group_steps] == ["AzureCLI@2", "PowerShell@2"]
    assert {"group": "Fabrikam shared"} in pipeline["variables"]  # the variable group, by name
    assert {"name": "BuildConfiguration", "value": "release"} in pipeline["variables"]


def test_edits_go_back_secrets_survive_and_broken_definitions_are_reported(e2e: E2E) -> None:
    sample: dict[str, Any] = e2e.sample  # type: ignore[attr-defined]
    run(e2e, lambda: definitions(e2e, "services").get("Fabrikam-web"), "the definition on Services")
    services, server = rest(e2e, "services").client, rest(e2e, "server").client

    # An administrator sets the connection's key on Services by hand, and edits the copied definition there.
    [endpoint] = services.list_endpoints(PROJECT)
    endpoint["authorization"]["parameters"]["serviceprincipalkey"] = "set-by-hand-0042"
    services.update_endpoint(endpoint["id"], endpoint)
    copied = definitions(e2e, "services")["Fabrikam-web"]
    copied["variables"]["Region"] = {"value": "westeurope"}
    services.update_definition(PROJECT, copied)

    # On Server: the connection changes; a definition naming a person Services does not know, and one using
    # a marketplace task whose extension Services lacks.
    on_server = server.get_endpoint(PROJECT, sample["endpointId"])
    on_server["description"] = "moved to the new subscription"
    server.update_endpoint(sample["endpointId"], on_server)
    e2e.server.control(
        "POST",
        "pipelines/tasks",
        {
            "name": "ReplaceTokens",
            "id": "a8515ec8-7254-4ffd-912c-86772e2b5962",
            "version": "5.3.2",
            "extension": ["qetza", "replacetokens", "5.3.2"],
        },
    )
    base = server.get_definition(PROJECT, int(sample["definitionId"]))
    stranger = json.loads(json.dumps(base)) | {"name": "Fabrikam-stranger", "id": 0}
    stranger["environments"][0]["owner"] = {
        "id": "5f1c2d3e-0000-4000-8000-000000000042",
        "uniqueName": "CONTOSO\\nobody",
    }
    server.create_definition(PROJECT, stranger)
    tokens = json.loads(json.dumps(base)) | {"name": "Fabrikam-tokens", "id": 0}
    tokens["environments"][0]["deployPhases"][0]["workflowTasks"].append(
        {
            "taskId": "a8515ec8-7254-4ffd-912c-86772e2b5962",
            "version": "5.*",
            "name": "Replace tokens",
            "definitionType": "task",
            "enabled": True,
            "inputs": {"targetFiles": "**/*.config"},
        }
    )
    server.create_definition(PROJECT, tokens)

    verify = e2e.cli("setup", "verify", "pipelines")
    assert "qetza.replacetokens" in verify.stdout + verify.stderr
    assert "Fabrikam-tokens" in verify.stdout + verify.stderr
    # The dry run says the same before its plans, and shows the definition as not attempted.
    tokens_id = next(d["id"] for d in server.list_definitions(PROJECT) if d["name"] == "Fabrikam-tokens")
    dry = e2e.cli("run", "pipelines", "--dry-run", "--direction", "left_to_right")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Pre-flight server-pipelines -> services-pipelines (left_to_right): ")
    assert "Extension qetza.replacetokens 5.3.2 is not installed on the target" in dry.stdout
    [line] = [
        x for x in dry.stdout.splitlines() if x.startswith("left_to_right") and f" {tokens_id} -> " in x
    ]
    assert "release_definition" in line and "not attempted: pre-flight: " in line and "ReplaceTokens" in line
    # A new secret in the variable group on Server: the update's note is shown per item by `tandem status`.
    [group] = server.list_variable_groups(PROJECT)
    group["variables"]["StorageKey"] = {"value": "storage-key-0042", "isSecret": True}
    server.update_variable_group(int(group["id"]), group)

    def settled() -> dict[str, Any] | None:
        status = e2e.status("pipelines")
        dead = json.dumps(status.get("dead_letters") or [])
        back = server.get_definition(PROJECT, int(sample["definitionId"]))
        if "nobody" in dead.lower() and "not attempted" in dead and "Region" in back["variables"]:
            return back
        return None

    back = run(e2e, settled, "the edit on Server and both broken definitions dead-lettered")
    production = back["environments"][1]["deployPhases"][0]
    assert production["workflowTasks"][0]["inputs"]["ConnectedServiceName"] == sample["endpointId"]
    assert production["workflowTasks"][1]["taskId"] == sample["taskGroupId"]
    assert production["deploymentInput"]["queueId"] == sample["queueId"]
    assert back["variableGroups"] == [sample["variableGroupId"]]
    assert sorted(definitions(e2e, "services")) == ["Fabrikam-web"]  # the others did not go through
    shown = e2e.cli("status", "pipelines")
    assert "needs secret: Fabrikam shared: variables.StorageKey" in shown.stdout
    [copy] = services.list_endpoints(PROJECT)
    assert copy["description"] == "moved to the new subscription"
    # the API never returns a secret: ask the emulator's store (in this process) what it holds
    emulator = e2e.stack.emulators["ado_services"].instance
    assert emulator.pipelines.endpoint_secret(copy["id"], "serviceprincipalkey") == "set-by-hand-0042"
