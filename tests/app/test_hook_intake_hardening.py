"""The hook and run routes under hostile input: one 401 for every failure before authentication, the
connection's own name only, one hook secret per connection, size and depth limits answered with 413 and
400, replayed deliveries that write nothing, and an intake that never calls the target system."""

from __future__ import annotations

import base64
import json
from typing import Any

import azure.functions as func
import pytest

from state.secrets import LocalSecretStore
from sync import triggers
from sync.request_body import MAX_DEPTH, BadBody, depth, parse_json
from tests.support.harness import HOOK_PASSWORD, Harness, config_document


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def hook(system: str, scenario: str, body: bytes, authorization: str | None) -> func.HttpResponse:
    headers = {"Authorization": authorization} if authorization else {}
    req = func.HttpRequest(
        method="POST",
        url=f"/api/hooks/{system}/{scenario}",
        headers=headers,
        route_params={"system": system, "scenario": scenario},
        body=body,
    )
    return triggers.on_hook(req)


def event(harness: Harness, version: str = "1") -> bytes:
    rec = harness.left.add(title="A")
    return json.dumps(
        {"eventType": "item.changed", "id": rec.id, "version": version, "container": "P1"}
    ).encode()


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_every_refusal_before_authentication_is_the_same_401(harness: Harness) -> None:
    body = event(harness)
    right = basic("tandem", HOOK_PASSWORD)
    answers = {
        "unknown scenario": hook("mem-left", "no-such-scenario", body, right),
        "wrong password": hook("mem-left", "demo", body, basic("tandem", "not-the-password")),
        "wrong user": hook("mem-left", "demo", body, basic("someone", HOOK_PASSWORD)),
        "no credentials": hook("mem-left", "demo", body, None),
        "side name instead of the connection's": hook("left", "demo", body, right),
        "connection type instead of its name": hook("memory", "demo", body, right),
        "not a connection of the scenario": hook("mem-other", "demo", body, right),
    }
    # No hook secret configured, and a hook secret named but not set in the store.
    document = config_document()
    del document["scenarios"][0]["hook_secret"]
    document["scenarios"].append({**config_document()["scenarios"][0], "name": "unset"})
    document["scenarios"][1]["hook_secret"] = "never-set"
    document["scenarios"].append({**document["scenarios"][0], "name": "nosecret"})
    harness.apply(document)
    answers["no hook secret configured"] = hook("mem-left", "nosecret", body, right)
    answers["hook secret not in the store"] = hook("mem-left", "unset", body, right)
    bodies = {
        what: (r.status_code, r.get_body(), r.headers.get("WWW-Authenticate")) for what, r in answers.items()
    }
    assert len(set(bodies.values())) == 1, bodies
    status, text, challenge = next(iter(bodies.values()))
    assert status == 401 and challenge == 'Basic realm="tandem hooks"'
    assert b"scenario" not in text and b"secret" not in text  # names nothing an attacker could list
    assert harness.drain() == 0


def test_each_connection_has_its_own_hook_secret(harness: Harness) -> None:
    document = config_document()
    document["connections"]["mem-left"]["hook_secret"] = "left-hook"
    document["connections"]["mem-right"]["hook_secret"] = "right-hook"
    harness.secrets.set("left-hook", "L" * 12 + "eft-secret-x1")
    harness.secrets.set("right-hook", "R" * 12 + "ight-secret-y2")
    harness.apply(document)
    body = event(harness)
    # The right system's administrators hold the right secret: it does not open the left route.
    assert hook("mem-left", "demo", body, basic("tandem", "R" * 12 + "ight-secret-y2")).status_code == 401
    # The scenario's old shared secret no longer opens a route whose connection has its own.
    assert hook("mem-left", "demo", body, basic("tandem", HOOK_PASSWORD)).status_code == 401
    assert hook("mem-left", "demo", body, basic("tandem", "L" * 12 + "eft-secret-x1")).status_code == 202


def test_a_hook_for_a_deleted_integration_is_a_410_only_with_the_connections_own_credentials(
    harness: Harness,
) -> None:
    document = config_document()
    document["connections"]["mem-left"]["hook_secret"] = "left-hook"
    left_password = "L" * 12 + "eft-secret-x1"
    harness.secrets.set("left-hook", left_password)
    harness.apply(document)
    body = event(harness)
    assert hook("mem-left", "demo", body, basic("tandem", left_password)).status_code == 202
    harness.drain()
    writes = harness.right.writes
    document["scenarios"] = []  # the integration is deleted
    harness.apply(document)
    gone = hook("mem-left", "demo", body, basic("tandem", left_password))
    assert gone.status_code == 410
    assert "no longer configured" in json.loads(gone.get_body())["error"]
    # Without the connection's credentials, or for a name that never paired this connection, it is the 401
    # of every refusal: which integrations exist (or existed) is not revealed.
    refusals = [
        hook("mem-left", "demo", body, basic("tandem", "not-the-password")),
        hook("mem-left", "never-existed", body, basic("tandem", "not-the-password")),
        hook("mem-left", "never-existed", body, basic("tandem", left_password)),  # with the right password
        hook("mem-right", "demo", body, basic("tandem", left_password)),  # no hook secret of its own
        hook("mem-left", "demo", body, None),
    ]
    assert {(r.status_code, r.get_body()) for r in refusals} == {(401, refusals[0].get_body())}
    assert harness.drain() == 0 and harness.right.writes == writes  # nothing enqueued, nothing written


def test_deeply_nested_json_is_a_400_on_the_hook_and_run_routes(harness: Harness) -> None:
    right = basic("tandem", HOOK_PASSWORD)
    for levels in (MAX_DEPTH + 1, 1_000, 100_000):
        resp = hook("mem-left", "demo", nested(levels), right)
        assert resp.status_code == 400, levels
        assert "nests deeper" in json.loads(resp.get_body())["error"]
        resp = triggers.call_admin("POST", "scenarios/demo/run", b'{"direction":' + nested(levels) + b"}")
        assert resp.status_code == 400, levels
    assert harness.drain() == 0


def test_a_body_over_the_limit_is_a_413_after_authentication(harness: Harness) -> None:
    limit = harness.services.settings.request_body_limit
    big = b'{"pad": "' + b"x" * limit + b'"}'
    assert hook("mem-left", "demo", big, basic("tandem", HOOK_PASSWORD)).status_code == 413
    assert hook("mem-left", "demo", big, basic("tandem", "wrong")).status_code == 401


def test_a_replayed_hook_creates_no_run_row(harness: Harness) -> None:
    body = event(harness)
    right = basic("tandem", HOOK_PASSWORD)
    first = hook("mem-left", "demo", body, right)
    assert first.status_code == 202
    for _ in range(20):
        again = hook("mem-left", "demo", body, right)
        assert again.status_code == 200
        assert json.loads(again.get_body()) == {"enqueued": 0, "ignored": 0, "duplicates": 1}
    runs = harness.services.runs.recent("demo", limit=50)
    assert [r.trigger for r in runs] == ["hook"]
    harness.drain()
    assert harness.right.creates == 1
    # A new version of the same item is a new change, not a replay.
    rec_id = json.loads(body)["id"]
    harness.left.edit(rec_id, title="B")
    newer = json.dumps(
        {"eventType": "item.changed", "id": rec_id, "version": "2", "container": "P1"}
    ).encode()
    assert hook("mem-left", "demo", newer, right).status_code == 202
    assert len(harness.services.runs.recent("demo", limit=50)) == 2


def test_the_intake_never_calls_the_target_system(harness: Harness, monkeypatch) -> None:
    target = harness.services.connector("mem-right")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the target system is down")

    monkeypatch.setattr(type(target), "entities", down)
    resp = hook("mem-left", "demo", event(harness), basic("tandem", HOOK_PASSWORD))
    assert resp.status_code == 202


def test_parse_json_limits() -> None:
    assert parse_json(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    assert depth({"a": [1, {"b": 2}]}) == 3
    with pytest.raises(BadBody) as exc:
        parse_json(b"x" * 11, limit=10)
    assert exc.value.status == 413
    with pytest.raises(BadBody) as exc:
        parse_json(b"{not json")
    assert exc.value.status == 400
    assert parse_json(nested(MAX_DEPTH)) is not None


def test_secret_store_hosts_binding_is_read_from_the_settings() -> None:
    store = LocalSecretStore(
        {"TANDEM_SECRET_ADO_PAT": "x" * 20, "TANDEM_SECRET_ADO_PAT__HOSTS": "Dev.Azure.com, x.example"}
    )
    assert store.hosts("ado-pat") == frozenset({"dev.azure.com", "x.example"})
    assert store.hosts("other") is None


def admin(route: str) -> func.HttpResponse:
    return triggers.call_admin("POST", f"scenarios/demo/{route}")


def ensure(harness: Harness) -> list[dict[str, Any]]:
    harness.services.settings = harness.services.settings.model_copy(
        update={"public_base_url": "https://tandem-contoso.azurewebsites.net"}
    )
    return json.loads(admin("hooks").get_body())["checks"]


def test_a_rotated_hook_secret_is_sent_to_every_subscription(harness: Harness) -> None:
    ensure(harness)
    subs = [*harness.left.subscriptions.values(), *harness.right.subscriptions.values()]
    assert subs and {s["password"] for s in subs} == {HOOK_PASSWORD}
    old_urls = {s["url"] for s in subs}
    # Nothing changed: nothing is re-sent.
    assert all(not c["repointed"] and not c["created"] for c in ensure(harness))

    rotated = "n3w-h00k-s3cret-after-rotation-4f9d2"
    harness.secrets.set("demo-hook", rotated)
    checks = ensure(harness)
    assert {c["connection"]: c["repointed"] for c in checks} == {"mem-left": ["P1"], "mem-right": ["Q1"]}
    subs = [*harness.left.subscriptions.values(), *harness.right.subscriptions.values()]
    assert {s["password"] for s in subs} == {rotated}
    assert not old_urls & {s["url"] for s in subs}
    assert all(rotated not in s["url"] and HOOK_PASSWORD not in s["url"] for s in subs)


def verify(harness: Harness) -> dict[str, Any]:
    return json.loads(admin("setup/verify").get_body())


def test_verify_refuses_a_short_hook_secret_and_warns_about_the_shared_one(harness: Harness) -> None:
    reply = verify(harness)  # the harness's scenario-level secret: 14 characters, shared by both systems
    sides = {s["side"]: s for s in reply["sides"]}
    assert reply["ok"] is False
    for side in ("left", "right"):
        assert any("hook secret 'demo-hook' is 14 characters long" in p for p in sides[side]["problems"])
        assert any("scenarios.demo.hook_secret is deprecated" in w for w in sides[side]["warnings"])
    document = config_document()
    document["connections"]["mem-left"]["hook_secret"] = "left-hook"
    document["connections"]["mem-right"]["hook_secret"] = "right-hook"
    harness.secrets.set("left-hook", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    harness.secrets.set("right-hook", "Vq7-kP2xZr9LmT4wYb8NcJ5s")
    harness.apply(document)
    sides = {s["side"]: s for s in verify(harness)["sides"]}
    assert any("left-hook' repeats too few characters" in p for p in sides["left"]["problems"])
    assert not [p for p in sides["right"]["problems"] if "hook secret" in p]
    assert not sides["left"]["warnings"] and not sides["right"]["warnings"]


def test_hook_delivery_rows_older_than_the_window_are_purged_and_count_as_unseen(harness: Harness) -> None:
    from datetime import timedelta

    from state.hook_deliveries import HookDeliveryStore

    store = HookDeliveryStore(harness.services.tables)
    now = harness.clock()
    assert store.take("demo", ["a", "b"], now) == {"a", "b"}
    assert store.take("demo", ["a", "b", "c"], now + timedelta(minutes=1)) == {"c"}
    later = now + timedelta(minutes=10, seconds=30)
    assert store.purge("demo", later) == 2  # a and b; c is still inside the window
    assert store.take("demo", ["a", "c"], later) == {"a"}
    store.release("demo", ["a"])
    assert store.take("demo", ["a"], later) == {"a"}  # a failed enqueue gives it back
