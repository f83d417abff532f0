"""The set-up wizard's admin routes through the admin app (real tables on Azurite, the ADO emulator over real
sockets): an instance checked without saving it, every problem naming its field; the projects of a saved
instance; a secret stored, bound to its instance's host, and never answered or logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from emulators.ado import AdoEmulator
from sync.admin import config_routes
from sync.admin.app import create_app, get_services
from tests.support.harness import Harness

PAT = "wizard-routes-canary-pat-7c1d"


@pytest.fixture
def ado() -> Iterator[AdoEmulator]:
    with AdoEmulator("server", pat=PAT) as server:
        server.seed_project("Fabrikam")
        server.seed_project("Adventure Works")
        yield server


@pytest.fixture
def api(tables) -> Iterator[TestClient]:
    h = Harness(tables)
    app = create_app(body_limit=lambda: 1_000_000)
    app.dependency_overrides[get_services] = lambda: h.services
    app.dependency_overrides[config_routes.get_services] = lambda: h.services
    with TestClient(app) as client:
        client.harness = h  # type: ignore[attr-defined]
        yield client


def instance(ado: AdoEmulator, secret: str = "ado-server-pat") -> dict:
    return {
        "type": "azure_devops",
        "url": ado.base_url,
        "auth": {"kind": "pat", "secret": secret},
        "options": {"deployment": "server"},
    }


def test_a_missing_secret_is_named_and_nothing_is_saved(api, ado) -> None:
    version = api.harness.services.config_store.version()
    reply = api.post("/api/admin/instances/check", json={"name": "ado-server", "instance": instance(ado)})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["ok"] is False
    assert body["problems"][0]["field"] == "instance.auth.secret"
    assert "ado-server-pat" in body["problems"][0]["message"]
    assert api.harness.services.config_store.version() == version
    assert "ado-server" not in api.harness.services.config().connections


def test_stored_secret_checks_the_credentials_and_lists_the_projects(api, ado, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    stored = api.put("/api/admin/secrets/ado-server-pat", json={"value": PAT, "instance": instance(ado)})
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"name": "ado-server-pat", "stored": True, "hosts": ["127.0.0.1"]}
    assert api.harness.secrets.get("ado-server-pat") == PAT

    reply = api.post("/api/admin/instances/check", json={"name": "ado-server", "instance": instance(ado)})
    body = reply.json()
    assert body["ok"] is True, body
    assert [c["name"] for c in body["containers"]] == ["Adventure Works", "Fabrikam"]
    assert body["containers"][1] == {"id": "Fabrikam", "name": "Fabrikam"}
    assert PAT not in stored.text + reply.text + caplog.text


def test_wrong_credentials_name_the_missing_scopes(api, ado) -> None:
    api.put("/api/admin/secrets/wrong-pat", json={"value": "not-the-pat-at-all"})
    reply = api.post(
        "/api/admin/instances/check", json={"name": "ado-server", "instance": instance(ado, "wrong-pat")}
    ).json()
    assert reply["ok"] is False and reply["containers"] == []
    message = reply["problems"][0]["message"]
    assert reply["problems"][0]["field"] == "instance"
    assert "Work Items (Read & write)" in message and "not-the-pat-at-all" not in message


def test_a_secret_bound_to_another_host_is_refused_on_its_field(api, ado) -> None:
    api.put("/api/admin/secrets/ado-server-pat", json={"value": PAT, "instance": instance(ado)})
    elsewhere = {**instance(ado), "url": ado.base_url.replace("127.0.0.1", "localhost")}
    reply = api.post("/api/admin/instances/check", json={"name": "other", "instance": elsewhere}).json()
    assert reply["ok"] is False
    assert reply["problems"][0]["field"] == "instance.auth.secret"
    assert "bound to 127.0.0.1" in reply["problems"][0]["message"]


def test_unsupported_auth_and_bad_bodies_name_their_field(api, ado) -> None:
    body = {**instance(ado), "auth": {"kind": "oauth_refresh_token", "secret": "x"}}
    api.put("/api/admin/secrets/x", json={"value": "some-value-123"})
    reply = api.post("/api/admin/instances/check", json={"name": "a", "instance": body}).json()
    assert reply["ok"] is False and reply["problems"][0]["field"] == "instance.options"
    assert "not supported" in reply["problems"][0]["message"]

    bad = api.post("/api/admin/instances/check", json={"name": "a", "instance": {**instance(ado), "url": 3}})
    assert bad.status_code == 400 and bad.json()["field"] == "instance.url"
    empty = api.put("/api/admin/secrets/x", json={"value": ""})
    assert empty.status_code == 400 and empty.json()["field"] == "value"
    badname = api.put("/api/admin/secrets/not_a_vault_name", json={"value": "v"})
    assert badname.status_code == 400 and badname.json()["field"] == "name"


def test_the_projects_of_a_saved_instance(api, ado) -> None:
    api.put("/api/admin/secrets/ado-server-pat", json={"value": PAT, "instance": instance(ado)})
    tag = api.get("/api/config/instances").headers["ETag"]
    saved = api.put("/api/config/instances/ado-server", json=instance(ado), headers={"If-Match": tag})
    assert saved.status_code == 200, saved.text

    listed = api.get("/api/admin/instances/ado-server/containers")
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["containers"]] == ["Adventure Works", "Fabrikam"]

    unknown = api.get("/api/admin/instances/nope/containers")
    assert unknown.status_code == 404 and unknown.json()["field"] == "name"
    memory = api.get("/api/admin/instances/mem-left/containers")  # the harness's memory system lists none
    assert memory.status_code == 400 and "cannot list" in memory.json()["error"]

    ado.stop()
    down = api.get("/api/admin/instances/ado-server/containers")
    assert down.status_code == 502 and down.json()["field"] == "name"


def test_auto_map_of_two_ado_instances_leaves_routed_fields_and_swaps_paths(api, ado) -> None:
    with AdoEmulator("services", pat=PAT) as cloud:
        cloud.seed_project("Fabrikam-Cloud")
        tag = api.get("/api/config/instances").headers["ETag"]
        for name, emulator, deployment in (("srv", ado, "server"), ("cloud", cloud, "services")):
            body = {**instance(emulator, f"{name}-pat"), "options": {"deployment": deployment}}
            api.put(f"/api/admin/secrets/{name}-pat", json={"value": PAT, "instance": body})
            saved = api.put(f"/api/config/instances/{name}", json=body, headers={"If-Match": tag})
            assert saved.status_code == 200, saved.text
            tag = saved.headers["ETag"]
        proposal = api.post("/api/config/mappings/auto", json={"left": "srv", "right": "cloud"}).json()
    rules = {r["left"]: r for r in proposal["rules"]}
    assert "System.TeamProject" not in rules and "System.WorkItemType" not in rules
    assert "System.TeamProject" in proposal["unmatched_left"]
    assert rules["System.AreaPath"]["transform"] == {"swap_container": {}}
    assert rules["System.Title"]["transform"] is None


def test_a_generated_secret_is_stored_bound_and_never_answered(api, ado) -> None:
    reply = api.post("/api/admin/secrets/ado-server-hook/generate", json={"instance": instance(ado)})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"name": "ado-server-hook", "stored": True, "hosts": ["127.0.0.1"]}
    value = api.harness.secrets.get("ado-server-hook")
    assert len(value) >= 24 and value not in reply.text
    again = api.post("/api/admin/secrets/ado-server-hook/generate", json={})
    assert api.harness.secrets.get("ado-server-hook") != value and again.json()["hosts"] == []
