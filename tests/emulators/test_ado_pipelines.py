"""The emulator's release pipeline resources against the copied specs and Microsoft's examples, over HTTP,
on a Server collection and a Services organization (release API on its own host there)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from ado_testkit import PAT
from pipelines_specs import check, example

from emulators.ado import AdoEmulator

PROJECT = "Fabrikam"


@pytest.fixture(params=["server", "services"])
def emu(request: pytest.FixtureRequest) -> Iterator[AdoEmulator]:
    with AdoEmulator(request.param, pat=PAT) as emulator:
        emulator.seed_project(PROJECT)
        yield emulator


@pytest.fixture
def http(emu: AdoEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(headers=emu.auth_header(PAT), params={"api-version": "7.1"}, timeout=10) as client:
        yield client


def test_every_resource_matches_the_spec(emu: AdoEmulator, http: httpx.Client) -> None:
    ids = emu.seed_pipelines_sample(PROJECT)
    base, rel, flavor = f"{emu.base_url}/{PROJECT}", f"{emu.release_url}/{PROJECT}", emu.flavor
    definition = http.get(f"{rel}/_apis/release/definitions/{ids['definitionId']}").json()
    check("release", "ReleaseDefinition", definition, flavor=flavor)
    listed = http.get(f"{rel}/_apis/release/definitions", params={"$expand": "environments,artifacts"}).json()
    assert (
        listed["count"] == 1
        and "environments" in listed["value"][0]
        and "variables" not in listed["value"][0]
    )
    for name, url in (
        ("TaskGroup", f"{base}/_apis/distributedtask/taskgroups"),
        ("VariableGroup", f"{base}/_apis/distributedtask/variablegroups"),
        ("TaskAgentQueue", f"{base}/_apis/distributedtask/queues"),
        ("TaskAgentPool", f"{emu.base_url}/_apis/distributedtask/pools"),
        ("ServiceEndpoint", f"{base}/_apis/serviceendpoint/endpoints"),
        ("ReleaseDefinitionRevision", f"{rel}/_apis/release/definitions/{ids['definitionId']}/revisions"),
    ):
        area = {"ServiceEndpoint": "serviceEndpoint", "ReleaseDefinitionRevision": "release"}.get(
            name, "taskAgent"
        )
        body = http.get(url).json()
        assert body["count"] == len(body["value"]) >= 1, name
        for item in body["value"]:
            check(area, name, item, flavor=flavor)


def test_microsoft_examples_are_accepted_and_answered_in_kind(emu: AdoEmulator, http: httpx.Client) -> None:
    sample = emu.seed_pipelines_sample(PROJECT)
    project = emu.state.project(PROJECT)
    rel = f"{emu.release_url}/{PROJECT}"
    request = example("release/7.1/httpExamples/definitions/POST__CreateReleaseDefinition.json")[
        "parameters"
    ]["body"]
    request["environments"][0]["deployPhases"][0]["deploymentInput"]["queueId"] = sample["queueId"]
    request["name"] = "Fabrikam-web (example)"  # the sample holds the example's name already
    created = http.post(f"{rel}/_apis/release/definitions", json=request)
    assert created.status_code == 200, created.text
    expected = example("release/7.1/httpExamples/definitions/POST__CreateReleaseDefinition.json")[
        "responses"
    ]["200"]["body"]
    body = created.json()
    assert set(expected) - set(body) <= {"lastRelease"}  # every member the service returns is there
    assert body["revision"] == 1 and body["environments"][0]["id"] > 0 and body["source"] == "undefined"
    group = example("distributedTask/7.1/httpExamples/variablegroups/POST_CreateVariableGroup.json")[
        "parameters"
    ]["body"]
    group["variableGroupProjectReferences"] = [
        {"projectReference": {"id": project.id, "name": PROJECT}, "name": "x"}
    ]
    answered = http.post(f"{emu.base_url}/_apis/distributedtask/variablegroups", json=group).json()
    assert answered["variables"] == {"key1": {"value": "value1"}, "key2": {"value": None, "isSecret": True}}
    endpoint = example("serviceEndpoint/7.1/httpExamples/endpoints/CreateAzureRMEndpoint.json")
    body = endpoint["parameters"]["body"]
    body["serviceEndpointProjectReferences"][0]["projectReference"] = {"id": project.id, "name": PROJECT}
    answered = http.post(f"{emu.base_url}/_apis/serviceendpoint/endpoints", json=body).json()
    assert answered["authorization"] == endpoint["responses"]["200"]["body"]["authorization"]
    task_group = example("distributedTask/7.1/httpExamples/taskgroups/POST__CreateTaskGroup.json")[
        "parameters"
    ]["body"]
    answered = http.post(f"{emu.base_url}/{PROJECT}/_apis/distributedtask/taskgroups", json=task_group).json()
    assert (
        answered["revision"] == 1
        and answered["version"]["major"] == 1
        and answered["definitionType"] == "metaTask"
    )


def test_endpoint_without_project_reference_is_refused(emu: AdoEmulator, http: httpx.Client) -> None:
    body = {
        "name": "x",
        "type": "generic",
        "url": "https://example.test",
        "authorization": {"scheme": "None"},
    }
    answer = http.post(f"{emu.base_url}/_apis/serviceendpoint/endpoints", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"] == "At least one project reference required to create an endpoint."


def test_stale_revision_and_foreign_ids_are_refused(emu: AdoEmulator, http: httpx.Client) -> None:
    ids = emu.seed_pipelines_sample(PROJECT)
    url = f"{emu.release_url}/{PROJECT}/_apis/release/definitions"
    current = http.get(f"{url}/{ids['definitionId']}").json()
    assert http.put(url, json={**current, "description": "one"}).json()["revision"] == 2
    stale = http.put(url, json={**current, "description": "two"})
    assert stale.status_code == 400 and stale.json()["typeKey"] == "InvalidRequestException"
    assert "not the latest revision 2" in stale.json()["message"]
    foreign = {**current, "id": 0, "name": "copy", "variableGroups": [999]}
    answer = http.post(url, json=foreign)
    assert answer.status_code == 400 and "Variable group with id 999" in answer.json()["message"]
    revision = http.get(f"{url}/{ids['definitionId']}/revisions/1")
    assert revision.status_code == 200 and '"revision":1' in revision.text


def test_task_group_versions_and_revisions(emu: AdoEmulator, http: httpx.Client) -> None:
    ids = emu.seed_pipelines_sample(PROJECT)
    url = f"{emu.base_url}/{PROJECT}/_apis/distributedtask/taskgroups/{ids['taskGroupId']}"
    versions = http.get(url).json()["value"]
    assert [(v["version"]["major"], v["preview"]) for v in versions] == [(1, False), (2, True)]
    v1 = versions[0]
    assert http.put(url, json={**v1, "comment": "edited"}).json()["revision"] == 2
    stale = http.put(url, json={**v1, "comment": "again"})
    assert stale.status_code == 400 and "modified by someone else" in stale.json()["message"]


def test_release_api_lives_on_the_release_host(emu: AdoEmulator, http: httpx.Client) -> None:
    area = http.get(f"{emu.base_url}/_apis/resourceAreas/efc2f575-36ef-48e9-b672-0c6fb4a48ac5").json()
    assert area["locationUrl"] == emu.release_url + "/"
    on_core = http.get(f"{emu.base_url}/{PROJECT}/_apis/release/definitions")
    assert on_core.status_code == (404 if emu.flavor == "services" else 200)
    unauthenticated = httpx.get(f"{emu.release_url}/{PROJECT}/_apis/release/definitions?api-version=7.1")
    assert unauthenticated.status_code == 401


def test_classic_release_setting_through_the_settings_data_provider(
    emu: AdoEmulator, http: httpx.Client
) -> None:
    provider = "ms.vss-build-web.pipelines-org-settings-data-provider"
    query = f"{emu.base_url}/_apis/Contribution/HierarchyQuery"

    def read() -> dict[str, object]:
        body = {"contributionIds": [provider], "dataProviderContext": {"properties": {}}}
        return http.post(query, json=body, params={"api-version": "5.0-preview.1"}).json()["dataProviders"][
            provider
        ]

    if emu.flavor == "server":
        assert "disableClassicReleasePipelineCreation" not in read()
        return
    assert read()["disableClassicReleasePipelineCreation"] is False
    change = {
        "contributionIds": [provider],
        "dataProviderContext": {"properties": {"disableClassicReleasePipelineCreation": "true"}},
    }
    http.post(query, json=change, params={"api-version": "5.0-preview.1"})
    assert read()["disableClassicReleasePipelineCreation"] is True
    refused = http.post(
        f"{emu.release_url}/{PROJECT}/_apis/release/definitions", json={"name": "new", "environments": []}
    )
    assert refused.status_code == 400 and "classic release pipelines is disabled" in refused.json()["message"]
    control = httpx.post(
        f"{emu.control_url}/pipelines/settings", json={"disableClassicReleasePipelineCreation": False}
    )
    assert control.json()["disableClassicReleasePipelineCreation"] is False


def test_task_definitions_extensions_and_faults(emu: AdoEmulator, http: httpx.Client) -> None:
    task = {
        "name": "ReplaceTokens",
        "id": "a8515ec8-7254-4ffd-912c-86772e2b5962",
        "version": "5.3.2",
        "inputs": [["targetFiles", "filePathList"]],
        "extension": ["qetza", "replacetokens", "5.3.2"],
    }
    assert httpx.post(f"{emu.control_url}/pipelines/tasks", json=task).status_code == 200
    tasks = http.get(f"{emu.base_url}/_apis/distributedtask/tasks").json()["value"]
    added = next(t for t in tasks if t["name"] == "ReplaceTokens")
    assert added["contributionIdentifier"] == "qetza.replacetokens" and added["version"]["major"] == 5
    installed = http.get(f"{emu.base_url}/_apis/extensionmanagement/installedextensions").json()["value"]
    assert [(e["publisherId"], e["extensionId"], e["version"]) for e in installed] == [
        ("qetza", "replacetokens", "5.3.2")
    ]
    emu.faults.add(endpoint="release.definitions.*", status=429, retry_after=1)
    throttled = http.get(f"{emu.release_url}/{PROJECT}/_apis/release/definitions")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert emu.counters.calls("release.definitions.list") == 1
