"""The pipelines client and connector against the ADO emulator over real loopback HTTP: a Server collection
holding the sample release pipeline, a Services organization as the target (release API on its own host),
and a copy of every dependency with the definition remapped by `remap`, as the scenario will drive it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.ado import AdoConnector, AdoOptions
from connectors.ado_pipelines.connector import (
    AGENT_QUEUE,
    DEPENDS_ON,
    RELEASE_DEFINITION,
    SERVICE_CONNECTION,
    TASK_GROUP,
    VARIABLE_GROUP,
    PipelinesConnector,
)
from connectors.ado_pipelines.preflight import preflight
from connectors.ado_pipelines.remap import (
    UnmappedReferences,
    endpoint_inputs,
    find_references,
    mapping_from_ids,
    remap,
)
from connectors.contract import Scope, Write
from connectors.errors import VersionConflict
from emulators.ado import AdoEmulator

PAT = "pipelines-canary-pat-0123456789"
PROJECT = "Fabrikam"


@pytest.fixture
def server() -> Iterator[AdoEmulator]:
    with AdoEmulator("server", pat=PAT) as emulator:
        emulator.seed_project(PROJECT)
        yield emulator


@pytest.fixture
def services() -> Iterator[AdoEmulator]:
    with AdoEmulator("services", pat=PAT) as emulator:
        emulator.seed_project(PROJECT)
        emulator.pipelines.add_pool("Linux agents")
        yield emulator


# Server's DOMAIN\\user -> the e-mail Services knows (the Server connection's identity map).
IDENTITY_MAP = {f"CONTOSO\\{n}": f"{n}@contoso.com" for n in ("tandem-sync", "ann.chen", "bob.smith")}


def connector(emulator: AdoEmulator, pool_map: dict[str, str] | None = None) -> PipelinesConnector:
    ado = AdoConnector(
        f"ado_{emulator.flavor}",
        emulator.base_url,
        AdoOptions(
            deployment=emulator.flavor, identity_map=IDENTITY_MAP if emulator.flavor == "server" else {}
        ),
        get_secret=lambda: PAT,
    )
    return PipelinesConnector(ado, PROJECT, pool_map=pool_map)


def rest(emulator: AdoEmulator) -> httpx.Client:
    return httpx.Client(headers=emulator.auth_header(PAT), params={"api-version": "7.1"}, timeout=10)


def resolved(item_refs: dict[str, Any], ids: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """What the engine puts in `Write.references`: each reference's target id, from its links."""
    return {path: str(ids[ref.entity][ref.id]) for path, ref in item_refs.items()}


def copy_dependencies(
    source: PipelinesConnector, target: PipelinesConnector
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What the engine does in DEPENDS_ON order: create each dependency on the target, keep the id map."""
    ids: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for entity in (AGENT_QUEUE, SERVICE_CONNECTION, VARIABLE_GROUP, TASK_GROUP):
        table = ids.setdefault(entity, {})
        for change in next(source.list_versions(entity, Scope())):
            item = source.read(entity, [change.id])[0]
            write = Write(fields=item.fields, references=resolved(item.references, ids))
            [result] = target.write(entity, [write])
            assert result.ok, result.error
            warnings += result.warnings
            table[item.id] = result.item.id
    return ids, warnings


def test_release_host_is_found_through_resource_areas(services: AdoEmulator, server: AdoEmulator) -> None:
    assert connector(services).client.release_url == services.release_url != services.base_url
    assert connector(server).client.release_url == server.base_url


@pytest.mark.parametrize("flavor", ["server", "services"])
def test_reads_every_entity_on_both_flavours(flavor: str, server: AdoEmulator, services: AdoEmulator) -> None:
    emulator = server if flavor == "server" else services
    ids = emulator.seed_pipelines_sample(PROJECT)
    pipelines = connector(emulator)
    [queue] = pipelines.read(AGENT_QUEUE, [str(ids["queueId"])])
    assert queue.fields == {"name": "Default", "pool": {"name": "Default"}}
    [endpoint] = pipelines.read(SERVICE_CONNECTION, [ids["endpointId"]])
    assert endpoint.fields["authorization"]["parameters"]["serviceprincipalkey"] is None
    assert endpoint.fields["authorization"]["parameters"]["serviceprincipalid"]
    [group] = pipelines.read(VARIABLE_GROUP, [str(ids["variableGroupId"])])
    assert group.fields["variables"]["SqlPassword"] == {"value": None, "isSecret": True}
    [task_group] = pipelines.read(TASK_GROUP, [ids["taskGroupId"]])
    assert [v["version"]["major"] for v in task_group.fields["versions"]] == [1, 2]
    assert task_group.fields["versions"][1]["preview"] is True
    [definition] = pipelines.read(RELEASE_DEFINITION, [str(ids["definitionId"])])
    assert definition.version == "1" and definition.fields["variables"]["DeployToken"]["value"] is None
    assert pipelines.find_by_natural_key(RELEASE_DEFINITION, "fabrikam-WEB").id == definition.id
    assert pipelines.find_by_natural_key(VARIABLE_GROUP, "Fabrikam shared").id == group.id


def test_definitions_are_listed_page_by_page(services: AdoEmulator) -> None:
    pipelines = connector(services)
    services.seed_pipelines_sample(PROJECT)
    base = pipelines.client.get_definition(PROJECT, 1)
    for n in range(4):
        body = {**base, "name": f"copy {n}", "id": 0}
        pipelines.client.create_definition(PROJECT, body)
    pages = list(pipelines.client.iter_definition_pages(PROJECT, page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d["name"] for d in pipelines.client.list_definitions(PROJECT, page_size=2)][:2] == [
        "Fabrikam-web",
        "copy 0",
    ]
    assert services.counters.calls("release.definitions.list") == 6


def test_server_to_services_copy_leaves_no_server_id(server: AdoEmulator, services: AdoEmulator) -> None:
    sample = server.seed_pipelines_sample(PROJECT)
    source, target = connector(server), connector(services, {"Default": "Linux agents"})
    ids, warnings = copy_dependencies(source, target)
    assert sorted(warnings) == [
        "needs secret: Fabrikam Azure: authorization.parameters.serviceprincipalkey",
        "needs secret: Fabrikam shared: variables.SqlPassword",
    ]
    people = {u.unique_name.lower(): u for u in services.identities.all()}
    # Server names people DOMAIN\\user; the Server connection's identity map turns that into the e-mail
    # Services knows, and the target connector finds the person's id there by that e-mail.
    ids["identity"] = {
        u.id: people[IDENTITY_MAP[u.unique_name]].id
        for u in server.identities.all()
        if u.unique_name in IDENTITY_MAP
    }
    [definition] = source.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
    refs = find_references(
        definition.fields, endpoint_inputs_by_task=endpoint_inputs(source.client.list_task_definitions())
    )
    assert {r.entity for r in refs} == {
        "agent_queue",
        "task_group",
        "service_connection",
        "variable_group",
        "identity",
    }
    # The item carries the references the engine resolves through links (not people: by e-mail)
    assert {r.entity for r in definition.references.values()} == {
        AGENT_QUEUE,
        TASK_GROUP,
        SERVICE_CONNECTION,
        VARIABLE_GROUP,
    }
    write = Write(fields=definition.fields, references=resolved(definition.references, ids))
    [created] = target.write(RELEASE_DEFINITION, [write])
    assert created.ok, created.error
    assert created.warnings == ["needs secret: Fabrikam-web: variables.DeployToken"]
    text = json.dumps(target.read(RELEASE_DEFINITION, [created.item.id])[0].fields)
    for entity, table in ids.items():
        for source_id, target_id in table.items():
            assert str(target_id) in text or entity == "identity"
            if str(source_id) != str(target_id) and entity in ("service_connection", "task_group"):
                assert str(source_id) not in text, f"{entity} source id {source_id} left in the definition"
    env = json.loads(text)["environments"][0]
    assert env["deployPhases"][0]["deploymentInput"]["queueId"] == int(
        ids[AGENT_QUEUE][str(sample["queueId"])]
    )
    meta = env["deployPhases"][0]["workflowTasks"][1]
    assert meta["taskId"] == ids[TASK_GROUP][sample["taskGroupId"]] and meta["version"] == "1.*"
    [copied_group] = target.read(TASK_GROUP, [meta["taskId"]])
    assert [v["version"]["major"] for v in copied_group.fields["versions"]] == [1, 2]
    step_input = copied_group.fields["versions"][0]["tasks"][0]["inputs"]["connectedServiceNameARM"]
    assert step_input == ids[SERVICE_CONNECTION][sample["endpointId"]]
    [endpoint] = target.read(SERVICE_CONNECTION, [step_input])
    assert endpoint.fields["serviceEndpointProjectReferences"][0]["projectReference"]["name"] == PROJECT


def test_a_definition_with_an_unmapped_reference_is_refused_with_its_paths(server: AdoEmulator) -> None:
    sample = server.seed_pipelines_sample(PROJECT)
    source = connector(server)
    [definition] = source.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
    refs = find_references(
        definition.fields, endpoint_inputs_by_task=endpoint_inputs(source.client.list_task_definitions())
    )
    with pytest.raises(UnmappedReferences) as caught:
        remap(definition.fields, refs, mapping_from_ids(refs, {"agent_queue": {str(sample["queueId"]): 7}}))
    message = str(caught.value)
    assert "environments[0].deployPhases[0].workflowTasks[1].taskId: task_group" in message
    assert "environments[1].deployPhases[0].workflowTasks[0].inputs.ConnectedServiceName" in message
    assert "deploymentInput.queueId" not in message


def test_stale_revision_is_a_version_conflict(services: AdoEmulator) -> None:
    sample = services.seed_pipelines_sample(PROJECT)
    pipelines = connector(services)
    [definition] = pipelines.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
    changed = {**definition.fields, "description": "first"}
    [ok] = pipelines.write(
        RELEASE_DEFINITION, [Write(id=definition.id, expected_version="1", fields=changed)]
    )
    assert ok.ok and ok.item.version == "2"
    [stale] = pipelines.write(
        RELEASE_DEFINITION, [Write(id=definition.id, expected_version="1", fields=changed)]
    )
    assert isinstance(stale.error, VersionConflict)
    assert "not the latest revision 2" in str(stale.error)
    revisions = pipelines.client.definition_revisions(PROJECT, int(definition.id))
    assert [(r["revision"], r["changeType"]) for r in revisions] == [(1, "add"), (2, "update")]


def test_a_secret_set_by_hand_on_the_target_survives_later_updates(services: AdoEmulator) -> None:
    sample = services.seed_pipelines_sample(PROJECT)
    pipelines = connector(services)
    endpoint_id, group_id = sample["endpointId"], str(sample["variableGroupId"])
    with rest(services) as http:
        url = f"{services.base_url}/_apis/serviceendpoint/endpoints/{endpoint_id}"
        body = http.get(f"{services.base_url}/{PROJECT}/_apis/serviceendpoint/endpoints/{endpoint_id}").json()
        body["authorization"]["parameters"]["serviceprincipalkey"] = "typed-by-an-admin"
        assert http.put(url, json=body).status_code == 200
        group = http.get(
            f"{services.base_url}/{PROJECT}/_apis/distributedtask/variablegroups/{group_id}"
        ).json()
        group["variables"]["SqlPassword"] = {"value": "admin-sql-secret", "isSecret": True}
        put = http.put(f"{services.base_url}/_apis/distributedtask/variablegroups/{group_id}", json=group)
        assert put.status_code == 200 and put.json()["variables"]["SqlPassword"]["value"] is None
    [endpoint] = pipelines.read(SERVICE_CONNECTION, [endpoint_id])
    renamed = {
        **endpoint.fields,
        "description": "synced",
        "data": {**endpoint.fields["data"], "subscriptionName": "New"},
    }
    [result] = pipelines.write(
        SERVICE_CONNECTION, [Write(id=endpoint_id, expected_version=endpoint.version, fields=renamed)]
    )
    assert result.ok and result.item.fields["data"]["subscriptionName"] == "New"
    assert services.pipelines.endpoint_secret(endpoint_id, "serviceprincipalkey") == "typed-by-an-admin"
    [group_item] = pipelines.read(VARIABLE_GROUP, [group_id])
    variables = {**group_item.fields["variables"], "AppServiceName": {"value": "renamed"}}
    [result] = pipelines.write(
        VARIABLE_GROUP, [Write(id=group_id, fields={**group_item.fields, "variables": variables})]
    )
    assert result.ok
    assert (
        services.pipelines.variable_groups[int(group_id)]["variables"]["SqlPassword"]["value"]
        == "admin-sql-secret"
    )
    # A write carrying a (leaked) secret value never sends it.
    leaked = {
        **renamed,
        "authorization": {"scheme": "ServicePrincipal", "parameters": {"serviceprincipalkey": "x"}},
    }
    pipelines.write(SERVICE_CONNECTION, [Write(id=endpoint_id, fields=leaked)])
    assert services.pipelines.endpoint_secret(endpoint_id, "serviceprincipalkey") == "typed-by-an-admin"


def test_endpoint_version_check_refuses_a_stale_update(services: AdoEmulator) -> None:
    sample = services.seed_pipelines_sample(PROJECT)
    pipelines = connector(services)
    [endpoint] = pipelines.read(SERVICE_CONNECTION, [sample["endpointId"]])
    [result] = pipelines.write(
        SERVICE_CONNECTION, [Write(id=endpoint.id, expected_version="stale", fields=endpoint.fields)]
    )
    assert isinstance(result.error, VersionConflict)


def test_preflight_against_both_sides(server: AdoEmulator, services: AdoEmulator) -> None:
    sample = server.seed_pipelines_sample(PROJECT)
    from emulators.ado.pipelines_seed import add_task

    add_task(
        server.pipelines,
        "ReplaceTokens",
        "a8515ec8-7254-4ffd-912c-86772e2b5962",
        "5.3.2",
        (("targetFiles", "filePathList"),),
        extension=("qetza", "replacetokens", "5.3.2"),
    )
    source, target = connector(server), connector(services)
    [definition] = source.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
    fields = definition.fields
    fields["environments"][1]["deployPhases"][0]["workflowTasks"].append(
        {
            "taskId": "a8515ec8-7254-4ffd-912c-86772e2b5962",
            "version": "5.*",
            "name": "Replace tokens",
            "definitionType": "task",
            "inputs": {},
        }
    )
    services.pipelines.settings["disableClassicReleasePipelineCreation"] = True
    groups = [v for g in source.read(TASK_GROUP, [sample["taskGroupId"]]) for v in g.fields["versions"]]
    report = preflight([fields], groups, source.inventory(), target.inventory(), pool_map={})
    assert report.classic_release_disabled
    assert [(e.id, e.version) for e in report.missing_extensions] == [("qetza.replacetokens", "5.3.2")]
    assert [(t.name, t.version) for t in report.missing_tasks] == [("ReplaceTokens", "5.*")]
    assert [p.pool for p in report.unmapped_pools] == ["Default"]
    assert "Fabrikam-web" in report.blocked
    text = report.render()
    assert "Extension qetza.replacetokens 5.3.2 is not installed on the target" in text
    assert "Disable creation of classic release pipelines" in text
    # The setting is what the service enforces on create, too.
    [refused] = target.write(RELEASE_DEFINITION, [Write(fields={"name": "x", "environments": []})])
    # refused before any call: the service is never asked to create it
    assert refused.error is not None and "refuses classic release pipelines" in str(refused.error)


def test_dependency_order_is_declared() -> None:
    assert set(DEPENDS_ON[RELEASE_DEFINITION]) == {
        AGENT_QUEUE,
        SERVICE_CONNECTION,
        VARIABLE_GROUP,
        TASK_GROUP,
    }
    assert all(e.natural_key == "name" and not e.change_feed for e in connector_entities())


def connector_entities() -> list[Any]:
    from connectors.ado_pipelines.connector import ENTITIES

    return list(ENTITIES)


def test_server_2020_is_spoken_to_in_its_own_api_version() -> None:
    with AdoEmulator("server", pat=PAT, max_api_version="6.0") as old_server:
        old_server.seed_project(PROJECT)
        sample = old_server.seed_pipelines_sample(PROJECT)
        pipelines = connector(old_server)
        [definition] = pipelines.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
        assert definition.fields["name"] == "Fabrikam-web"
        assert [g.id for g in pipelines.read(TASK_GROUP, [sample["taskGroupId"]])] == [sample["taskGroupId"]]
        assert pipelines.client.version("taskgroups") == "6.0-preview.1"
        assert old_server.counters.calls("release.definitions.get") == 1


def test_an_edit_on_services_goes_back_to_server_with_every_id_mapped_back(
    server: AdoEmulator, services: AdoEmulator
) -> None:
    sample = server.seed_pipelines_sample(PROJECT)
    source, target = connector(server), connector(services, {"Default": "Linux agents"})
    ids, _ = copy_dependencies(source, target)
    [definition] = source.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
    [created] = target.write(
        RELEASE_DEFINITION, [Write(fields=definition.fields, references=resolved(definition.references, ids))]
    )
    assert created.ok, created.error
    copy_id = created.item.id

    # Someone edits the copy on Services: a new variable and the Production stage's web app name.
    [on_services] = target.read(RELEASE_DEFINITION, [copy_id])
    edited = json.loads(json.dumps(on_services.fields))
    edited["variables"]["Region"] = {"value": "westeurope"}
    edited["environments"][1]["deployPhases"][0]["workflowTasks"][0]["inputs"]["WebAppName"] = "fabrikam-prod"
    [saved] = target.write(
        RELEASE_DEFINITION, [Write(id=copy_id, expected_version=on_services.version, fields=edited)]
    )
    assert saved.ok and saved.item.version == "2"

    # The way back: the same references, resolved through the links the other way round.
    back = {entity: {str(t): s for s, t in table.items()} for entity, table in ids.items()}
    [on_server] = source.read(RELEASE_DEFINITION, [str(sample["definitionId"])])
    write = Write(
        id=on_server.id,
        expected_version=on_server.version,
        fields=saved.item.fields,
        references=resolved(saved.item.references, back),
    )
    [updated] = source.write(RELEASE_DEFINITION, [write])
    assert updated.ok, updated.error
    result = updated.item.fields
    assert result["revision"] == 2 and result["variables"]["Region"] == {"value": "westeurope"}
    assert [e["id"] for e in result["environments"]] == [e["id"] for e in on_server.fields["environments"]]
    production = result["environments"][1]["deployPhases"][0]
    assert production["workflowTasks"][0]["inputs"]["WebAppName"] == "fabrikam-prod"
    assert production["workflowTasks"][0]["inputs"]["ConnectedServiceName"] == sample["endpointId"]
    assert production["workflowTasks"][1]["taskId"] == sample["taskGroupId"]
    assert production["deploymentInput"]["queueId"] == sample["queueId"]
    assert result["variableGroups"] == [sample["variableGroupId"]]
    assert (
        server.pipelines.definitions[int(on_server.id)].body["variables"]["DeployToken"]["value"]
        == "sample-deploy-token"
    )


def test_task_group_updates_every_version_and_refuses_a_stale_one(services: AdoEmulator) -> None:
    sample = services.seed_pipelines_sample(PROJECT)
    pipelines = connector(services)
    [group] = pipelines.read(TASK_GROUP, [sample["taskGroupId"]])
    assert group.version == "1:1;2:1"
    versions = [{**v, "description": f"v{v['version']['major']} edited"} for v in group.fields["versions"]]
    [result] = pipelines.write(
        TASK_GROUP,
        [Write(id=group.id, expected_version=group.version, fields={**group.fields, "versions": versions})],
    )
    assert result.ok and result.item.version == "1:2;2:2"
    assert [v["description"] for v in result.item.fields["versions"]] == ["v1 edited", "v2 edited"]
    [stale] = pipelines.write(
        TASK_GROUP, [Write(id=group.id, expected_version=group.version, fields=group.fields)]
    )
    assert isinstance(stale.error, VersionConflict)
    version_one = {**result.item.fields["versions"][0], "id": group.id, "revision": 1}
    with pytest.raises(VersionConflict):
        pipelines.client.update_task_group(PROJECT, group.id, version_one)
