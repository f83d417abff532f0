"""The configuration routes through FastAPI (a bare app with the router, real tables on Azurite): ETags
and If-Match, errors naming the field, nothing partial stored, import/export, history and rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sync.admin import config_routes
from tests.engine.test_config_admin import two_integrations_document, with_field_lists
from tests.support.harness import Harness

SAMPLE_XML = Path(__file__).resolve().parents[2] / "tandem" / "samples" / "mappings.xml"


@pytest.fixture
def api(tables):
    h = Harness(tables, two_integrations_document())
    app = FastAPI()
    app.include_router(config_routes.router)
    app.dependency_overrides[config_routes.get_services] = lambda: h.services
    with TestClient(app) as client:
        client.harness = h  # type: ignore[attr-defined]
        yield client


def etag(client) -> str:
    return client.get("/api/config/history").headers["ETag"]


def test_reads_carry_the_version_and_writes_need_it(api):
    listed = api.get("/api/config/integrations")
    assert listed.status_code == 200
    assert [i["name"] for i in listed.json()] == ["demo", "demo2"]
    shared = api.get("/api/config/field-maps/shared").json()
    assert shared["used_by"] == ["demo", "demo2"]
    rules = shared["rules"]

    missing = api.put("/api/config/field-maps/shared", json=rules)
    assert missing.status_code == 428 and missing.json()["field"] == "If-Match"

    tag = listed.headers["ETag"]
    saved = api.put(
        "/api/config/field-maps/shared", json=rules[:1], headers={"If-Match": tag, "X-Tandem-User": "ann"}
    )
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] == f'"{saved.json()["version"]}"'

    stale = api.put(
        "/api/config/field-maps/shared", json=rules, headers={"If-Match": tag, "X-Tandem-User": "bob"}
    )
    assert stale.status_code == 412
    assert stale.json()["field"] == "If-Match" and "(by ann)" in stale.json()["error"]
    history = api.get("/api/config/history").json()
    assert history["current"] == saved.json()["version"]
    assert history["versions"][0]["author"] == "ann"


def test_errors_name_the_field_and_nothing_partial_is_stored(api):
    with_field_lists(api.harness)
    before = api.get("/api/config/export", params={"format": "json"}).text
    tag = etag(api)
    bad_body = api.put(
        "/api/config/field-maps/shared",
        json=[{"left": "title", "right": "Title", "direction": "sideways"}],
        headers={"If-Match": tag},
    )
    assert bad_body.status_code == 400 and bad_body.json()["field"] == "field_maps.shared.0.direction"
    bad_transform = api.put(
        "/api/config/field-maps/shared",
        json=[
            {"left": "title", "right": "Title"},
            {"left": "notes", "right": "Estimate", "transform": {"scale": {"factor": 60}}},
        ],
        headers={"If-Match": tag},
    )
    assert bad_transform.status_code == 400
    assert bad_transform.json()["field"] == "field_maps.shared.1.transform"
    assert "scale" in bad_transform.json()["error"]
    unknown = api.put(
        "/api/config/integrations/demo2",
        json={
            "name": "demo2",
            "left": "mem-left",
            "right": "gone",
            "field_map": "shared",
            "directions": {"left_to_right": {}},
        },
        headers={"If-Match": tag},
    )
    assert unknown.status_code == 400 and unknown.json()["field"] == "integrations.demo2.right"
    secret = api.put(
        "/api/config/instances/mem-right",
        json={"type": "memory", "url": "memory://right", "auth": {"kind": "pat", "secret": "absent"}},
        headers={"If-Match": tag},
    )
    assert secret.status_code == 422 and secret.json()["field"] == "instances.mem-right.auth.secret"
    assert api.get("/api/config/export", params={"format": "json"}).text == before
    assert etag(api) == tag


def test_copy_auto_map_export_import_and_rollback(api):
    with_field_lists(api.harness)
    copied = api.post(
        "/api/config/field-maps/shared/copy", json={"name": "mine"}, headers={"If-Match": etag(api)}
    )
    assert copied.status_code == 200, copied.text
    assert api.get("/api/config/field-maps/mine").json()["used_by"] == []

    proposal = api.post(
        "/api/config/mappings/auto",
        json={"left": "mem-left", "left_entity": "item", "right": "mem-right", "right_entity": "item"},
    )
    assert proposal.status_code == 200
    assert {(r["left"], r["right"]) for r in proposal.json()["rules"]} >= {("state", "State")}

    exported = api.get("/api/config/export").text
    document = yaml.safe_load(exported)
    assert set(document["field_maps"]) == {"shared", "mine"}
    document["field_maps"]["mine"].append({"left": "state", "right": "State"})
    imported = api.post(
        "/api/config/import",
        json={"format": "yaml", "text": yaml.safe_dump(document)},
        headers={"If-Match": etag(api)},
    )
    assert imported.status_code == 200, imported.text
    assert len(api.get("/api/config/field-maps/mine").json()["rules"]) == 2

    xml = SAMPLE_XML.read_text(encoding="utf-8")
    wrong = (
        '<fieldMaps><fieldMap name="x"><rule left="title" right="Title" direction="sideways"/>'
        "</fieldMap></fieldMaps>"
    )
    refused = api.post(
        "/api/config/import", json={"format": "xml", "text": wrong}, headers={"If-Match": etag(api)}
    )
    assert refused.status_code == 400 and refused.json()["field"] == "field_maps.x.0.direction"
    accepted = api.post(
        "/api/config/import",
        params={"verify": "false"},
        json={"format": "xml", "text": xml},
        headers={"If-Match": "*"},
    )
    assert accepted.status_code == 200, accepted.text
    rules = api.get("/api/config/field-maps/pwa-ado-tasks").json()["rules"]
    assert [r["direction"] for r in rules] == ["read_and_write", "read_only", "write_only", "both"]

    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><fieldMaps/>'
    dtd = api.post("/api/config/import", json={"format": "xml", "text": bomb}, headers={"If-Match": "*"})
    assert dtd.status_code == 400 and "DTD" in dtd.json()["error"]

    target = api.get("/api/config/history").json()["versions"][-1]["number"]
    rolled = api.post(f"/api/config/rollback/{target}", headers={"If-Match": etag(api)})
    assert rolled.status_code == 200
    assert {m["name"] for m in api.get("/api/config/field-maps").json()} == {"shared"}
    assert api.post("/api/config/rollback/999", headers={"If-Match": "*"}).json()["field"] == "version"


def test_delete_an_integration_and_the_openapi_document_is_typed(api):
    gone = api.delete("/api/config/integrations/demo2", headers={"If-Match": etag(api)})
    assert gone.status_code == 200
    assert api.get("/api/config/integrations/demo2").status_code == 404
    schema = api.app.openapi()
    put = schema["paths"]["/api/config/field-maps/{name}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/FieldRule")
    assert "412" in put["responses"]


def test_names_are_checked_before_anything_is_read(api):
    long = "x" * 300
    answer = api.put(f"/api/config/field-maps/{long}", json=[], headers={"If-Match": "*"})
    assert answer.status_code == 400 and answer.json()["field"] == "name"
    assert api.get("/api/config/instances/-bad").json()["field"] == "name"


def test_a_map_saved_with_transforms_keeps_them(api):
    rules = [
        {"left": "title", "right": "Title"},
        {"left": "state", "right": "State", "transform": {"value_map": {"map": {"open": "Active"}}}},
        {"left": "notes", "right": "Description", "transform": {"swap_container": {}}},
    ]
    saved = api.put("/api/config/field-maps/shared", json=rules, headers={"If-Match": etag(api)})
    assert saved.status_code == 200, saved.text
    stored = api.get("/api/config/field-maps/shared").json()["rules"]
    assert stored[1]["transform"] == {"kind": "value_map", "map": {"open": "Active"}} | {
        k: v for k, v in stored[1]["transform"].items() if k not in ("kind", "map")
    }
    assert stored[2]["transform"]["kind"] == "swap_container"


def test_put_the_whole_configuration_replaces_it_as_one_version(api):
    document = api.get("/api/config/export", params={"format": "json"}).json()
    document["scenarios"] = [s for s in document["scenarios"] if s["name"] == "demo"]
    missing = api.put("/api/config", json=document)
    assert missing.status_code == 428 and missing.json()["field"] == "If-Match"

    tag = etag(api)
    saved = api.put("/api/config", json=document, headers={"If-Match": tag, "X-Tandem-User": "ann"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["scenarios"] == ["demo"]
    assert saved.headers["ETag"] == f'"{saved.json()["version"]}"'
    assert [i["name"] for i in api.get("/api/config/integrations").json()] == ["demo"]
    assert api.get("/api/config/history").json()["versions"][0]["author"] == "ann"

    stale = api.put("/api/config", json=document, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["field"] == "If-Match"

    before = api.get("/api/config/export", params={"format": "json"}).json()
    broken = {**document, "scenarios": [{**document["scenarios"][0], "left": "nowhere"}]}
    refused = api.put("/api/config", json=broken, headers={"If-Match": "*"})
    assert refused.status_code == 400 and "nowhere" in refused.json()["error"]
    assert refused.json()["field"].startswith("integrations.demo")
    no_secret = {
        **document,
        "connections": {
            **document["connections"],
            "mem-left": {**document["connections"]["mem-left"], "auth": {"kind": "pat", "secret": "absent"}},
        },
    }
    refused = api.put("/api/config", json=no_secret, headers={"If-Match": "*"}, params={"verify": "false"})
    assert refused.status_code == 422 and refused.json()["field"] == "instances.mem-left.auth.secret"
    assert "absent" in refused.json()["error"]
    assert api.get("/api/config/export", params={"format": "json"}).json() == before  # nothing partial
