"""The pipelines scenario on the engine (issue 12): the sample configuration, the real connectors through the
registry, a Server collection and a Services organisation emulated over loopback HTTP. Dependencies are
linked before the definition that uses them, every id is the other side's, people move by e-mail, items that
exist by name are linked rather than duplicated, reruns write nothing, an edit on Services goes back with
every id mapped back, and a definition with an unmappable reference is dead-lettered naming its path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.ado import AdoEmulator
from sync.status import scenario_status
from tandem.configfile import read_document, substitute
from tests.support.harness import Harness, config_document

PAT = "pipelines-scenario-canary-pat"
PROJECT = "Fabrikam"
SAMPLE = Path(__file__).resolve().parents[2] / "tandem" / "pipelines_config.yaml"


@pytest.fixture
def emulators() -> Iterator[tuple[AdoEmulator, AdoEmulator]]:
    with AdoEmulator("server", pat=PAT) as server, AdoEmulator("services", pat=PAT) as services:
        server.seed_project(PROJECT)
        services.seed_project(PROJECT)
        services.pipelines.add_pool("Linux agents")
        yield server, services


def sample_document(server: AdoEmulator, services: AdoEmulator) -> dict[str, Any]:
    variables = {
        "ADO_SERVER_URL": server.base_url,
        "ADO_SERVICES_URL": services.base_url,
        "ADO_SERVER_HOST": "127.0.0.1",
        "ADO_SERVICES_HOST": "127.0.0.1",
    }
    document, problems = substitute(read_document(SAMPLE), variables)
    assert problems == []
    return document


def harness(
    tables,
    server: AdoEmulator,
    services: AdoEmulator,
    document: dict[str, Any] | None = None,
    **scenario: Any,
) -> Harness:
    document = document or sample_document(server, services)
    document["scenarios"][0].update(scenario)
    h = Harness(tables, config_document())  # the harness's clock, queue and services; then the sample
    h.secrets.set("ado-server-pat", PAT)
    h.secrets.set("ado-services-pat", PAT)
    h.apply(document)
    return h


def run(h: Harness, direction: str = "left_to_right") -> None:
    h.poll(direction, scenario="pipelines")
    h.settle()


def test_server_to_services_copies_the_pipeline_with_every_id_remapped(tables, emulators) -> None:
    server, services = emulators
    sample = server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    run(h)
    status = scenario_status(h.services, "pipelines")
    assert status.dead_letters == [] and status.failures == []
    store = services.pipelines
    [definition] = [d.body for d in store.definitions.values()]
    [queue] = [q for q in store.queues.values() if q["name"] == "Default"]
    [group] = list(store.variable_groups.values())
    task_group_ids = list(store.task_groups)
    endpoint_ids = list(store.endpoints)
    production = definition["environments"][1]["deployPhases"][0]
    assert production["deploymentInput"]["queueId"] == queue["id"]
    assert production["workflowTasks"][1]["taskId"] in task_group_ids
    assert production["workflowTasks"][1]["version"] == "1.*"
    assert production["workflowTasks"][0]["inputs"]["ConnectedServiceName"] in endpoint_ids
    assert definition["variableGroups"] == [group["id"]]
    text = json.dumps(definition)
    for server_id in (sample["endpointId"], sample["taskGroupId"]):
        assert server_id not in text
    assert queue["pool"]["name"] == "Linux agents"  # Server's Default pool through the pool map
    # people by e-mail: the owner is the Services account of the Server owner, never the Server id
    owner = definition["environments"][0]["owner"]
    assert owner["id"] in {u.id for u in services.identities.all()}
    assert owner["id"] not in {u.id for u in server.identities.all()}

    # a rerun writes nothing and creates no duplicate
    revisions = {d_id: d.body["revision"] for d_id, d in store.definitions.items()}
    run(h)
    assert {d_id: d.body["revision"] for d_id, d in store.definitions.items()} == revisions
    assert len(store.definitions) == 1 and len(store.task_groups) == 1


def test_a_definition_naming_an_unknown_person_is_dead_lettered_while_the_others_go(
    tables, emulators
) -> None:
    server, services = emulators
    server.seed_pipelines_sample(PROJECT)
    # Chloé has no e-mail mapping on Server and no account on Services: her approval cannot be moved.
    base = next(iter(server.pipelines.definitions.values())).body
    h = harness(tables, server, services)
    broken = json.loads(json.dumps(base))
    broken["name"] = "Fabrikam-broken"
    chloe = next(u for u in server.identities.all() if u.unique_name.endswith("chloe.durand"))
    broken["environments"][0]["owner"] = {"id": chloe.id, "uniqueName": chloe.unique_name}
    connector = h.services.connector("server-pipelines")
    connector.client.create_definition(PROJECT, {**broken, "id": 0})
    run(h)
    names = sorted(d.body["name"] for d in services.pipelines.definitions.values())
    assert names == ["Fabrikam-web"]
    status = scenario_status(h.services, "pipelines")
    [dead] = status.dead_letters
    assert "environments[0].owner.id" in json.dumps(dead) and "chloe.durand" in json.dumps(dead).lower()


def test_secrets_show_per_item_and_a_secret_set_by_hand_survives(tables, emulators) -> None:
    server, services = emulators
    sample = server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    run(h)
    notes = sorted(n["note"] for n in scenario_status(h.services, "pipelines").notes)
    assert notes == [
        "needs secret: Fabrikam Azure: authorization.parameters.serviceprincipalkey",
        "needs secret: Fabrikam shared: variables.SqlPassword",
        "needs secret: Fabrikam-web: variables.DeployToken",
    ]
    target = h.services.connector("services-pipelines").client
    [copy_id] = list(services.pipelines.endpoints)
    assert services.pipelines.endpoint_secret(copy_id, "serviceprincipalkey") is None
    # An administrator sets the key on Services by hand (the REST API, as the web UI does).
    endpoint = target.get_endpoint(PROJECT, copy_id)
    endpoint["authorization"]["parameters"]["serviceprincipalkey"] = "set-by-hand-0042"
    target.update_endpoint(copy_id, endpoint)
    # The connection changes on Server: the change goes over, the secret stays.
    source = h.services.connector("server-pipelines").client
    original = source.get_endpoint(PROJECT, sample["endpointId"])
    original["description"] = "moved to the new subscription"
    source.update_endpoint(sample["endpointId"], original)
    run(h)
    copied = services.pipelines.endpoints[copy_id].body
    assert copied["description"] == "moved to the new subscription"
    assert copied["name"] == "Fabrikam Azure" and copied["type"] == "AzureRM"  # the rest of it kept
    assert services.pipelines.endpoint_secret(copy_id, "serviceprincipalkey") == "set-by-hand-0042"


def test_an_edit_on_services_goes_back_to_server_with_every_id_mapped_back(tables, emulators) -> None:
    server, services = emulators
    sample = server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    run(h)
    target = h.services.connector("services-pipelines").client
    [copy_id] = list(services.pipelines.definitions)
    body = target.get_definition(PROJECT, copy_id)
    body["variables"]["Region"] = {"value": "westeurope"}
    body["environments"][1]["deployPhases"][0]["workflowTasks"][0]["inputs"]["WebAppName"] = "fabrikam-prod"
    target.update_definition(PROJECT, body)
    run(h, "right_to_left")
    on_server = server.pipelines.definitions[int(sample["definitionId"])].body
    assert on_server["variables"]["Region"] == {"value": "westeurope"}
    production = on_server["environments"][1]["deployPhases"][0]
    assert production["workflowTasks"][0]["inputs"]["WebAppName"] == "fabrikam-prod"
    assert production["workflowTasks"][0]["inputs"]["ConnectedServiceName"] == sample["endpointId"]
    assert production["workflowTasks"][1]["taskId"] == sample["taskGroupId"]
    assert production["deploymentInput"]["queueId"] == sample["queueId"]
    assert on_server["variableGroups"] == [sample["variableGroupId"]]
    assert scenario_status(h.services, "pipelines").dead_letters == []


def test_a_first_run_links_same_named_items_instead_of_duplicating(tables, emulators) -> None:
    server, services = emulators
    server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    target = h.services.connector("services-pipelines")
    existing = target.client.create_variable_group(
        {
            "name": "Fabrikam shared",
            "type": "Vsts",
            "variables": {"Old": {"value": "1"}},
            "variableGroupProjectReferences": target._project_references({"name": "Fabrikam shared"}),
        }
    )
    run(h)
    groups = list(services.pipelines.variable_groups.values())
    assert [g["id"] for g in groups] == [existing["id"]]  # linked and updated, not duplicated
    [definition] = [d.body for d in services.pipelines.definitions.values()]
    assert definition["variableGroups"] == [existing["id"]]


def test_a_definition_needing_a_missing_extension_is_in_preflight_and_not_attempted(
    tables, emulators
) -> None:
    from emulators.ado.pipelines_seed import add_task
    from sync.setup import verify

    server, services = emulators
    server.seed_pipelines_sample(PROJECT)
    task = add_task(
        server.pipelines,
        "ReplaceTokens",
        "a8515ec8-7254-4ffd-912c-86772e2b5962",
        "5.3.2",
        extension=("qetza", "replacetokens", "5.3.2"),
    )
    base = next(iter(server.pipelines.definitions.values())).body
    tokens = json.loads(json.dumps(base))
    tokens["name"] = "Fabrikam-tokens"
    step = {
        "taskId": task["id"],
        "version": "5.*",
        "name": "Replace tokens",
        "definitionType": "task",
        "enabled": True,
        "inputs": {"targetFiles": "**/*.config"},
    }
    tokens["environments"][0]["deployPhases"][0]["workflowTasks"].append(step)
    h = harness(tables, server, services)
    h.services.connector("server-pipelines").client.create_definition(PROJECT, {**tokens, "id": 0})

    reports = {r.side: r for r in verify(h.services, "pipelines", None)}
    problems = "\n".join(reports["right"].problems)
    assert "Extension qetza.replacetokens 5.3.2 is not installed on the target" in problems
    assert "Fabrikam-tokens" in problems
    notes = "\n".join(str(n) for n in reports["right"].details["notes"])  # type: ignore[union-attr]
    assert "definition 'Fabrikam-tokens' will not be attempted" in notes
    assert "Fabrikam-web" not in notes

    # The dry run lists the same pre-flight before its plans; the blocked definition is "not attempted".
    from sync.manual import dry_run
    from sync.setup import preflight_checks

    [check] = preflight_checks(h.services, h.services.config().scenario("pipelines"), ["left_to_right"])
    assert check.source == "server-pipelines" and check.target == "services-pipelines"
    assert any("qetza.replacetokens 5.3.2" in p for p in check.problems)
    assert [(b.entity, b.name) for b in check.blocked] == [("release_definition", "Fabrikam-tokens")]
    tokens_id = check.blocked[0].id
    plans = dry_run(h.services, "pipelines", ["left_to_right"])
    by_id = {(p["entity"], p["source_id"]): p for p in plans}
    blocked = by_id[("release_definition", tokens_id)]
    assert blocked["action"] == "not_attempted" and blocked["result"] == "not attempted"
    assert "ReplaceTokens 5.*" in blocked["reason"]
    others = [p for p in plans if p["entity"] == "release_definition" and p["source_id"] != tokens_id]
    assert others and all(p["action"] != "not_attempted" for p in others)
    assert services.counters.calls("release.definitions.create") == 0  # the dry run wrote nothing

    run(h)
    names = sorted(d.body["name"] for d in services.pipelines.definitions.values())
    assert names == ["Fabrikam-web"]
    assert services.counters.calls("release.definitions.create") == 1  # never attempted
    [dead] = scenario_status(h.services, "pipelines").dead_letters
    assert "not attempted" in json.dumps(dead) and "5.*" in json.dumps(dead)


def test_a_dry_run_lists_the_new_definition_with_the_remapped_ids_and_writes_nothing(
    tables, emulators
) -> None:
    from sync.manual import dry_run

    server, services = emulators
    sample = server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    run(h)  # the dependencies and the first definition are linked
    base = server.pipelines.definitions[int(sample["definitionId"])].body
    h.services.connector("server-pipelines").client.create_definition(
        PROJECT, json.loads(json.dumps(base)) | {"name": "Fabrikam-api", "id": 0}
    )
    before = len(services.pipelines.definitions)
    plans = dry_run(h.services, "pipelines", ["left_to_right"])
    assert len(services.pipelines.definitions) == before  # nothing written
    [create] = [p for p in plans if p["action"] == "create"]
    assert create["entity"] == "release_definition"
    after = {c["field"]: c["after"] for c in create["changes"]}
    [queue] = [q for q in services.pipelines.queues.values() if q["name"] == "Default"]
    [group] = list(services.pipelines.variable_groups.values())
    path = "ref:environments[1].deployPhases[0].deploymentInput.queueId"
    assert str(after[path]) == str(queue["id"])  # the Services id the create will carry
    assert (
        str(after["ref:environments[1].deployPhases[0].workflowTasks[1].taskId"])
        in services.pipelines.task_groups
    )
    assert str(after["ref:variableGroups[0]"]) == str(group["id"])
    assert all(p["action"] in ("done", "create") for p in plans)  # the rest is in step: nothing to update


@pytest.mark.parametrize("place", ["scenario", "connection"])
def test_the_pool_map_comes_from_the_scenario_or_from_the_connection(tables, emulators, place) -> None:
    server, services = emulators
    services.pipelines.add_pool("Windows agents")
    server.seed_pipelines_sample(PROJECT)
    document = sample_document(server, services)
    scenario = document["scenarios"][0]
    assert scenario["connector_options"]["right"]["pool_map"] == {"Default": "Linux agents"}  # the sample's
    connection = document["connections"]["services-pipelines"]["options"]
    if place == "scenario":
        # the connection's map is every scenario's default; this scenario's own wins
        connection["pool_map"] = {"Default": "Linux agents"}
        scenario["connector_options"]["right"]["pool_map"] = {"Default": "Windows agents"}
    else:  # a configuration written before scenarios had connector options
        del scenario["connector_options"]
        connection["pool_map"] = {"Default": "Windows agents"}
    h = harness(tables, server, services, document)
    run(h)
    [queue] = [q for q in services.pipelines.queues.values() if q["name"] == "Default"]
    assert queue["pool"]["name"] == "Windows agents"
    assert scenario_status(h.services, "pipelines").dead_letters == []
    assert len(services.pipelines.definitions) == 1


NUGET = "333b11bd-d341-40d9-afcf-b32d5ce6f23b"


def test_comma_separated_service_connections_are_remapped_element_by_element(tables, emulators) -> None:
    from emulators.ado.pipelines_seed import add_task

    server, services = emulators
    for side in (server, services):  # NuGetCommand@2: its feeds input takes several connections
        add_task(
            side.pipelines,
            "NuGetCommand",
            NUGET,
            "2.248.1",
            (("externalEndpoints", "connectedService:ExternalNuGetFeed"),),
        )
    sample = server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    source = h.services.connector("server-pipelines")
    feeds = {}
    for name in ("Feed A", "Feed B", "Feed C"):
        created = source.client.create_endpoint(
            {
                "name": name,
                "type": "ExternalNuGetFeed",
                "url": f"https://nuget.contoso.com/{name[-1].lower()}",
                "authorization": {"scheme": "Token", "parameters": {"apitoken": "feed-token"}},
                "serviceEndpointProjectReferences": source._project_references({"name": name}),
            }
        )
        feeds[name] = created["id"]
    definition = source.client.get_definition(PROJECT, int(sample["definitionId"]))
    step = {
        "taskId": NUGET,
        "version": "2.*",
        "name": "NuGet restore",
        "definitionType": "task",
        "enabled": True,
        "inputs": {"command": "restore", "externalEndpoints": f"{feeds['Feed A']}, {feeds['Feed B']}"},
    }
    definition["environments"][0]["deployPhases"][0]["workflowTasks"].append(step)
    source.client.update_definition(PROJECT, definition)

    run(h)
    assert scenario_status(h.services, "pipelines").dead_letters == []
    copies = {
        e["name"]: e["id"] for e in h.services.connector("services-pipelines").client.list_endpoints(PROJECT)
    }
    [copied] = [d.body for d in services.pipelines.definitions.values()]
    inputs = copied["environments"][0]["deployPhases"][0]["workflowTasks"][-1]["inputs"]
    assert inputs["externalEndpoints"] == f"{copies['Feed A']},{copies['Feed B']}"  # in order, Services ids
    assert not any(feed_id in json.dumps(copied) for feed_id in feeds.values())

    # The list changes on Server (a feed added): the new element is mapped, the others kept.
    definition = source.client.get_definition(PROJECT, int(sample["definitionId"]))
    tasks = definition["environments"][0]["deployPhases"][0]["workflowTasks"]
    tasks[-1]["inputs"]["externalEndpoints"] = ",".join(feeds[n] for n in ("Feed A", "Feed B", "Feed C"))
    source.client.update_definition(PROJECT, definition)
    run(h)
    assert scenario_status(h.services, "pipelines").dead_letters == []
    [copied] = [d.body for d in services.pipelines.definitions.values()]
    inputs = copied["environments"][0]["deployPhases"][0]["workflowTasks"][-1]["inputs"]
    assert inputs["externalEndpoints"] == ",".join(copies[n] for n in ("Feed A", "Feed B", "Feed C"))


def test_update_warnings_are_kept_per_item_and_shown_in_status(tables, emulators) -> None:
    server, services = emulators
    sample = server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    run(h)
    created_notes = {n["note"] for n in scenario_status(h.services, "pipelines").notes}
    source = h.services.connector("server-pipelines").client
    # On Server: a new secret in the variable group, and a secret variable in the Production stage.
    group = next(g for g in source.list_variable_groups(PROJECT) if g["name"] == "Fabrikam shared")
    group["variables"]["StorageKey"] = {"value": "storage-key-0042", "isSecret": True}
    source.update_variable_group(int(group["id"]), group)
    definition = source.get_definition(PROJECT, int(sample["definitionId"]))
    production = next(i for i, e in enumerate(definition["environments"]) if e["name"] == "Production")
    definition["environments"][production].setdefault("variables", {})["ProdToken"] = {
        "value": "prod-token-0042",
        "isSecret": True,
    }
    source.update_definition(PROJECT, definition)
    # ...and the service connection moves from a principal's key to its certificate: a new secret to set.
    endpoint = source.get_endpoint(PROJECT, sample["endpointId"])
    endpoint["authorization"] = {
        "scheme": "ServicePrincipal",
        "parameters": {**endpoint["authorization"]["parameters"], "authenticationType": "spnCertificate"},
    }
    endpoint["authorization"]["scheme"] = "Certificate"
    endpoint["authorization"]["parameters"]["servicePrincipalCertificate"] = "-----BEGIN CERTIFICATE-----"
    source.update_endpoint(sample["endpointId"], endpoint)
    run(h)
    status = scenario_status(h.services, "pipelines")
    assert status.dead_letters == [] and status.failures == []
    notes = [n["note"] for n in status.notes]
    assert "needs secret: Fabrikam shared: variables.StorageKey" in notes
    assert f"needs secret: Fabrikam-web: environments[{production}].variables.ProdToken" in notes
    assert "needs secret: Fabrikam Azure: authorization.parameters.servicePrincipalCertificate" in notes
    assert created_notes <= set(notes)  # the create's notes stay
    assert len(notes) == len(set(notes))
    # neither value was copied
    [copy] = [g for g in services.pipelines.variable_groups.values() if g["name"] == "Fabrikam shared"]
    assert "storage-key-0042" not in json.dumps(copy)
    assert "prod-token-0042" not in json.dumps([d.body for d in services.pipelines.definitions.values()])
    # a rerun adds nothing
    run(h)
    assert sorted(n["note"] for n in scenario_status(h.services, "pipelines").notes) == sorted(notes)


def test_the_dry_run_lists_unmapped_pools_and_name_collisions_before_the_plans(tables, emulators) -> None:
    from sync import triggers
    from sync.admin.app import DryRunReply

    server, services = emulators
    server.seed_pipelines_sample(PROJECT)
    document = sample_document(server, services)
    del document["scenarios"][0]["connector_options"]  # no pool map: Server's Default goes nowhere
    h = harness(tables, server, services, document)
    target = h.services.connector("services-pipelines")
    target.client.create_endpoint(  # same name, another kind of connection
        {
            "name": "Fabrikam Azure",
            "type": "generic",
            "url": "https://example.contoso.com",
            "authorization": {"scheme": "UsernamePassword", "parameters": {"username": "x"}},
            "serviceEndpointProjectReferences": target._project_references({"name": "Fabrikam Azure"}),
        }
    )
    writes = services.counters.writes()
    triggers.use_services(h.services)  # the admin API, as `tandem run pipelines --dry-run` calls it
    try:
        response = triggers.call_admin(
            "POST", "scenarios/pipelines/run", {"dry_run": True, "direction": "left_to_right"}
        )
    finally:
        triggers.use_services(None)
    assert response.status_code == 200, response.get_body()
    reply = json.loads(response.get_body())
    parsed = DryRunReply.model_validate(reply)
    assert list(reply)[:3] == ["scenario", "dry_run", "preflight"]  # the pre-flight comes before the plans
    [check] = parsed.preflight
    problems = "\n".join(check.problems)
    assert "Agent pool 'Default'" in problems and "pool map" in problems
    assert "service_connection 'Fabrikam Azure': exists on the target as a different item" in problems
    definitions = [p for p in parsed.plans if p["entity"] == "release_definition"]
    assert definitions and all(p["action"] == "not_attempted" for p in definitions)
    assert "agent pool Default has no mapping" in definitions[0]["reason"]
    assert services.counters.writes() == writes  # the dry run wrote nothing


def test_items_already_linked_are_no_collisions_in_preflight(tables, emulators) -> None:
    from sync.setup import preflight_checks

    server, services = emulators
    server.seed_pipelines_sample(PROJECT)
    h = harness(tables, server, services)
    run(h)
    # The copy's variables are edited on Services: still the same item, not a collision.
    target = h.services.connector("services-pipelines").client
    [group] = target.list_variable_groups(PROJECT)
    group["variables"]["OnlyOnServices"] = {"value": "1"}
    target.update_variable_group(int(group["id"]), group)
    checks = preflight_checks(h.services, h.services.config().scenario("pipelines"))
    assert [c.problems for c in checks] == [[], []]


def test_the_dry_run_lists_the_classic_pipeline_setting_and_blocks_every_definition(
    tables, emulators
) -> None:
    from sync.manual import dry_run
    from sync.setup import preflight_checks

    server, services = emulators
    server.seed_pipelines_sample(PROJECT)
    services.pipelines.settings["disableClassicReleasePipelineCreation"] = (
        True  # a new organisation's default
    )
    h = harness(tables, server, services)
    scenario = h.services.config().scenario("pipelines")
    [check] = preflight_checks(h.services, scenario, ["left_to_right"])
    assert any("Disable creation of classic release pipelines" in p for p in check.problems)
    plans = dry_run(h.services, "pipelines", ["left_to_right"], checks=[check])
    [definition] = [p for p in plans if p["entity"] == "release_definition"]
    assert definition["action"] == "not_attempted"
    assert "the target refuses classic release pipelines" in definition["reason"]
    # the dependencies are not blocked: they can be created ahead of the setting being turned off
    assert {p["action"] for p in plans if p["entity"] != "release_definition"} <= {"create", "wait"}
