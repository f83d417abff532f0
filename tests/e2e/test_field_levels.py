"""Field-level integrations on the ADO Server ↔ ADO Services scenario, end to end through the local stack that
`tandem serve` runs (Azurite, both ADO emulators, the function app with its queue workers), driven through
plain ADO REST, the service hooks, the admin API and the `tandem` command line:

- field directions in Kiplot's words: a read-only field never writes to ADO, a write-only field never writes
  from ADO, a read-and-write field flows both ways, a manual field flows only on a manual or bulk run;
- a shared field map: editing it changes every integration that uses it, a copied map is unaffected, the
  edit shows in `tandem config history` and `tandem config rollback` restores the behaviour.

Which side is "ADO"? Both sides are Azure DevOps here, so Kiplot's words need the integration to say which
one they are said from (`options: {ado_side: right}`, as `sync.config.TandemConfig.ado_side` reads it): the
Services organization is "ADO", and Server plays the other system (what PWA is in a PWA ↔ ADO integration).
So read-only (from ADO) = Services → Server, write-only (to ADO) = Server → Services.

Polls are scheduled once a year: what moves on its own comes through a service hook (an automatic run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tandem.configfile import dump_document
from tandem.demo import wait_for
from tests.e2e.test_ado_sync import (
    E2E,
    HOOK_WAIT,
    PRIORITY,
    REMAINING,
    e2e_config,
    leave_quiet,  # noqa: F401 - the autouse fixture: each test starts from a quiet stack
    started_stack,
    title,
)

pytestmark = pytest.mark.e2e

DESCRIPTION = "System.Description"
LEVELS_MAP = [
    {"left": "System.Title", "right": "System.Title", "direction": "read-and-write"},
    {"left": DESCRIPTION, "right": DESCRIPTION, "direction": "read-only"},  # from ADO (Services) only
    {"left": PRIORITY, "right": PRIORITY, "direction": "write-only"},  # to ADO (Services) only
    {"left": REMAINING, "right": REMAINING, "direction": "read-and-write", "mode": "manual"},
]
SHARED_MAP = [
    {"left": "System.Title", "right": "System.Title"},
    {"left": PRIORITY, "right": PRIORITY},
]
SHARED = {"shared-a": "Oak", "shared-b": "Pine", "copied": "Elm"}  # integration -> Server project


def levels_config() -> dict[str, Any]:
    document = e2e_config()
    base = {k: v for k, v in document["scenarios"][0].items() if k != "conflict"}
    document["field_maps"] = {
        **document["field_maps"],
        "levels": LEVELS_MAP,
        "shared-map": SHARED_MAP,
    }
    document["scenarios"] = [
        {
            **base,
            "name": "levels",
            "field_map": "levels",
            "containers": [{"left": "Alpine", "right": "Alpine-Cloud"}],
            "options": {"ado_side": "right"},  # Services is "ADO" for Kiplot's words
        },
        *(
            {
                **base,
                "name": name,
                "field_map": "shared-map",
                "containers": [{"left": project, "right": f"{project}-Cloud"}],
            }
            for name, project in SHARED.items()
        ),
    ]
    return document


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    home = tmp_path_factory.mktemp("levels")
    config_file = home / "levels.yaml"
    config_file.write_text(dump_document(levels_config()), encoding="utf-8")
    projects = ["Alpine", *SHARED.values()]
    with started_stack(home, projects, [f"{p}-Cloud" for p in projects]) as env:
        applied = env.cli("config", "apply", str(config_file))
        assert applied.returncode == 0, applied.stderr
        yield env


def fields_of(ado: Any, item_id: int) -> dict[str, Any]:
    return dict(ado.get(item_id)["fields"])


def revisions_of(ado: Any, item_id: int) -> list[dict[str, Any]]:
    """Every revision of a work item (`GET _apis/wit/workitems/{id}/revisions`): its write log."""
    reply = ado.http.get(
        f"{ado.base_url}/_apis/wit/workitems/{item_id}/revisions",
        params={"api-version": "7.1"},
        headers=ado.headers(),
    )
    reply.raise_for_status()
    return [dict(r["fields"]) for r in reply.json()["value"]]


def until(e2e: E2E, what: str, ado: Any, item_id: int, field: str, value: Any) -> None:
    wait_for(what, lambda: fields_of(ado, item_id).get(field) == value, HOOK_WAIT)
    e2e.settle()


def test_field_directions_in_kiplots_words_and_a_manual_field(e2e: E2E) -> None:
    created = e2e.server.create(
        "Alpine",
        "Task",
        {"System.Title": title("Levels"), DESCRIPTION: "<p>from Server</p>", PRIORITY: 1, REMAINING: 5},
    )
    server_id = int(created["id"])
    services_id = e2e.synced(server_id, "levels")  # created on Services by the hook (an automatic run)
    e2e.settle()
    copy = fields_of(e2e.services, services_id)
    assert copy["System.Title"] == created["fields"]["System.Title"]  # read-and-write: Server → ADO
    assert copy[PRIORITY] == 1  # write-only: to ADO
    assert DESCRIPTION not in copy  # read-only: never written to ADO
    assert REMAINING not in copy  # manual: not on an automatic run

    # Edited on Services (ADO): the hook brings back what flows from ADO, and only that.
    renamed = title("Renamed on Services")
    e2e.services.update(
        services_id,
        {"System.Title": renamed, DESCRIPTION: "<p>from Services</p>", PRIORITY: 3, REMAINING: 2},
    )
    until(e2e, "the Services title is on Server", e2e.server, server_id, "System.Title", renamed)
    back = fields_of(e2e.server, server_id)
    assert back[DESCRIPTION] == "<p>from Services</p>"  # read-only: from ADO
    assert back[PRIORITY] == 1  # write-only: never from ADO
    assert back[REMAINING] == 5  # manual: not on a hook

    # Edited on Server: the hook writes the write-only field to ADO, never the read-only one.
    e2e.server.update(server_id, {DESCRIPTION: "<p>Server again</p>", PRIORITY: 2})
    until(e2e, "the Server priority is on Services", e2e.services, services_id, PRIORITY, 2)
    assert fields_of(e2e.services, services_id)[DESCRIPTION] == "<p>from Services</p>"

    # A bulk run from ADO (forced, manual): the manual field flows now; write-only still never from ADO.
    bulk = e2e.cli("bulk", "levels", "--direction", "right_to_left", "--items", str(services_id), "--json")
    assert bulk.returncode == 0, bulk.stderr
    assert json.loads(bulk.stdout)["status"] == "done"
    e2e.settle()
    back = fields_of(e2e.server, server_id)
    assert back[REMAINING] == 2 and back[DESCRIPTION] == "<p>from Services</p>" and back[PRIORITY] == 2
    # A manual run towards ADO: the manual field flows to ADO too; read-only never does.
    e2e.server.update(server_id, {REMAINING: 7, DESCRIPTION: "<p>Server, once more</p>"})
    e2e.settle()
    assert fields_of(e2e.services, services_id).get(REMAINING) == 2  # the hook left the manual field
    synced = e2e.cli("sync", "levels", str(server_id), "--write")  # write to ADO now (forced)
    assert synced.returncode == 0, synced.stderr
    until(e2e, "the manual field is on Services", e2e.services, services_id, REMAINING, 7)

    # The write logs: no revision of the Services item ever held a description written from Server, and
    # no revision of the Server item a priority written from Services.
    assert all("Server" not in str(r.get(DESCRIPTION, "")) for r in revisions_of(e2e.services, services_id))
    assert 3 not in {r.get(PRIORITY) for r in revisions_of(e2e.server, server_id)}


def wait_for_map(e2e: E2E, rules: int) -> None:
    """Until the app's configuration (cached for a few seconds) holds the shared map with `rules` rules."""

    def loaded() -> bool:
        return len(e2e.stack.services.config().field_maps["shared-map"]) == rules  # type: ignore[union-attr]

    wait_for("the app reads the new shared map", loaded, 30)


def test_editing_a_shared_map_changes_every_integration_a_copy_is_not_history_and_rollback(e2e: E2E) -> None:
    # `copied` gets an independent copy of the shared map; the other two keep using the shared one.
    copied = e2e.cli("mappings", "copy", "shared-map", "copied-map")
    assert copied.returncode == 0, copied.stderr
    integration = e2e.client.http.get(
        f"{e2e.client.api}/config/integrations/copied", headers={"x-functions-key": e2e.client.key}
    )
    body = integration.json()["integration"] | {"field_map": "copied-map"}
    headers = {"x-functions-key": e2e.client.key, "If-Match": integration.headers["ETag"]}
    assert e2e.client.http.put(integration.url, json=body, headers=headers).status_code == 200
    pairs = {
        name: e2e.story(scenario=name, project=project, **{PRIORITY: 1}) for name, project in SHARED.items()
    }
    e2e.settle()
    assert all(fields_of(e2e.services, services)[PRIORITY] == 1 for _, services in pairs.values())

    # An administrator edits the shared map: Priority is no longer synced.
    shared = e2e.client.http.get(
        f"{e2e.client.api}/config/field-maps/shared-map", headers={"x-functions-key": e2e.client.key}
    )
    assert sorted(shared.json()["used_by"]) == ["shared-a", "shared-b"]
    headers = {"x-functions-key": e2e.client.key, "If-Match": shared.headers["ETag"], "X-Tandem-User": "ann"}
    edited = e2e.client.http.put(shared.url, json=SHARED_MAP[:1], headers=headers)
    assert edited.status_code == 200, edited.text
    edit_version = edited.json()["version"]
    wait_for_map(e2e, 1)

    def change_priority(value: int) -> dict[str, int]:
        """Priority and the title changed on Server in every integration; the Services priorities after."""
        titles = {}
        for name, (server_id, _) in pairs.items():
            titles[name] = title(f"{name} renamed")
            e2e.server.update(server_id, {"System.Title": titles[name], PRIORITY: value})
        for name, (_, services_id) in pairs.items():
            wait_for(
                f"the {name} title is on Services",
                lambda s=services_id, t=titles[name]: fields_of(e2e.services, s)["System.Title"] == t,
                HOOK_WAIT,
            )
        e2e.settle()
        return {name: fields_of(e2e.services, services)[PRIORITY] for name, (_, services) in pairs.items()}

    # Both integrations on the shared map follow the edit; the copy does not.
    assert change_priority(4) == {"shared-a": 1, "shared-b": 1, "copied": 4}

    history = e2e.cli("config", "history", "--json")
    assert history.returncode == 0, history.stderr
    versions = {v["number"]: v for v in json.loads(history.stdout)["versions"]}
    edit = versions[edit_version]
    assert edit["author"] == "ann"
    assert any(c["path"].startswith("field_maps.shared-map") for c in edit["changes"])
    assert not any("copied-map" in c["path"] for c in edit["changes"])

    # Rolled back to the version before the edit: the shared map syncs Priority again, everywhere.
    rolled = e2e.cli("config", "rollback", str(edit_version - 1))
    assert rolled.returncode == 0, rolled.stderr
    wait_for_map(e2e, 2)
    assert change_priority(2) == {"shared-a": 2, "shared-b": 2, "copied": 2}
