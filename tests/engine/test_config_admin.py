"""The configuration model's operations on Azurite: shared and copied field maps drive the engine, every
change is a version (history, rollback), and invalid or stale edits are refused naming the field with
nothing stored."""

from __future__ import annotations

import copy

import pytest

from connectors.contract import EntitySpec, FieldSpec
from sync.config_admin import ConfigAdmin, ConfigEditError
from tests.support.harness import Harness, config_document
from tests.support.memory_connector import MemoryConnector

LEFT_FIELDS = (
    FieldSpec(name="title", type="string"),
    FieldSpec(name="state", type="string"),
    FieldSpec(name="owner", type="identity"),
    FieldSpec(name="notes", type="text"),
    FieldSpec(name="estimate", type="double"),
    FieldSpec(name="due", type="datetime"),
)
RIGHT_FIELDS = (
    FieldSpec(name="System.Title", type="string", label="Title"),
    FieldSpec(name="State", type="string"),
    FieldSpec(name="AssignedTo", type="identity"),
    FieldSpec(name="Description", type="html"),
    FieldSpec(name="Estimate", type="double"),
    FieldSpec(name="ChangedDate", type="datetime", read_only=True),
)


class FieldListConnector(MemoryConnector):
    """The memory connector with a field list, as ADO and PWA publish theirs."""

    def __init__(self, system, fields):
        super().__init__(system)
        self.fields = fields

    def entities(self):
        return [EntitySpec(name=e.name, fields=self.fields) for e in super().entities()]


def with_field_lists(h: Harness) -> None:
    systems = {"memory://left": (h.left, LEFT_FIELDS), "memory://right": (h.right, RIGHT_FIELDS)}
    h.services.registry.register("memory", lambda name, cfg, secrets: FieldListConnector(*systems[cfg.url]))
    h.services.registry.forget()


def two_integrations_document() -> dict:
    doc = config_document(rules=[{"left": "title", "right": "Title"}])
    doc["field_maps"] = {"shared": doc["field_maps"]["default"]}
    demo = doc["scenarios"][0]
    demo["field_map"] = "shared"
    other = copy.deepcopy(demo)
    other.update(name="demo2", containers=[{"left": "P2", "right": "Q2"}])
    doc["scenarios"].append(other)
    return doc


def sync_all(h: Harness, names) -> None:
    for name in names:
        for direction in ("left_to_right", "right_to_left"):
            h.poll(direction, scenario=name)
    h.drain()


def right_item(h: Harness, container: str):
    (item,) = [r for r in h.right.records.values() if r.container == container]
    return item


def test_shared_map_edit_changes_every_integration_copy_unaffected_history_and_rollback(tables):
    h = Harness(tables, two_integrations_document())
    admin = ConfigAdmin(h.services)
    start = admin.store.version()
    v_copy = admin.copy_map("shared", "copied", author="ann", expected=start)
    solo = copy.deepcopy(admin.get("scenarios", "demo"))
    solo.update(containers=[{"left": "P3", "right": "Q3"}], field_map="copied")
    admin.put("scenarios", "solo", solo, author="ann", expected=v_copy)
    names = ("demo", "demo2", "solo")
    items = {c: h.left.add(container=c, title=f"T {c}", notes="first") for c in ("P1", "P2", "P3")}
    sync_all(h, names)
    assert all("Description" not in right_item(h, q).fields for q in ("Q1", "Q2", "Q3"))

    rules = [
        *admin.get("field_maps", "shared"),
        {"left": "notes", "right": "Description", "direction": "write-only"},
    ]
    # write-only needs an ADO side: the memory integrations declare theirs
    for name in ("demo", "demo2"):
        sc = admin.get("scenarios", name)
        sc["options"] = {"ado_side": "right"}
        admin.put("scenarios", name, sc, author="ann", expected=admin.store.version())
    before_edit = admin.store.version()
    edited = admin.put("field_maps", "shared", rules, author="bob", expected=before_edit)
    for c, rec in items.items():
        h.left.edit(rec.id, notes=f"second {c}")
    sync_all(h, names)
    assert right_item(h, "Q1").fields["Description"] == "second P1"
    assert right_item(h, "Q2").fields["Description"] == "second P2"
    assert "Description" not in right_item(h, "Q3").fields  # the copy kept the old rules

    latest = admin.history()[0]
    assert (latest.number, latest.author) == (edited, "bob")
    changes = {(c.path, c.op, c.new) for c in latest.changes}
    assert {
        ("field_maps.shared.1.direction", "added", "write_only"),
        ("field_maps.shared.1.left", "added", "notes"),
        ("field_maps.shared.1.right", "added", "Description"),
    } <= changes
    assert all(c.path.startswith("field_maps.shared.1.") for c in latest.changes)

    restored = admin.rollback(before_edit, author="ann", expected=edited)
    assert restored == edited + 1
    assert admin.history()[0].note == f"rollback to version {before_edit}"
    assert [(r["left"], r["right"]) for r in admin.get("field_maps", "shared")] == [("title", "Title")]
    for c, rec in items.items():
        h.left.edit(rec.id, notes=f"third {c}")
    sync_all(h, names)
    assert right_item(h, "Q1").fields["Description"] == "second P1"  # the rule is gone again
    assert right_item(h, "Q2").fields["Description"] == "second P2"


def test_a_stale_edit_is_refused_and_nothing_is_stored(tables):
    h = Harness(tables)
    admin = ConfigAdmin(h.services)
    v = admin.store.version()
    rules = admin.get("field_maps", "default")
    admin.put("field_maps", "default", rules[:2], author="ann", expected=v)
    snapshot = admin.store.load()
    with pytest.raises(ConfigEditError) as err:
        admin.put("field_maps", "default", rules[:1], author="bob", expected=v)  # made from the old version
    assert err.value.status == 412 and err.value.field == "If-Match"
    assert f"version {v}" in err.value.message and "(by ann)" in err.value.message
    assert admin.store.load() == snapshot and admin.store.version() == v + 1


@pytest.mark.parametrize(
    ("kind", "name", "body", "field", "words"),
    [
        (
            "field_maps",
            "default",
            [{"left": "title", "right": "Titel"}],
            "field_maps.default.0.right",
            "unknown right field 'Titel'",
        ),
        (
            "field_maps",
            "default",
            [
                {"left": "title", "right": "Title"},
                {"left": "due", "right": "Estimate", "transform": "time_zone"},
            ],
            "field_maps.default.1.transform",
            "transform 'time_zone' does not fit a right field of type 'double'",
        ),
        (
            "field_maps",
            "default",
            [{"left": "title", "right": "Title"}, {"left": "state", "right": "Title", "direction": "both"}],
            "field_maps.default.1",
            "duplicate rule",
        ),
        (
            "connections",
            "mem-left",
            {"type": "memory", "url": "memory://left", "auth": {"kind": "pat", "secret": "no-such-secret"}},
            "instances.mem-left.auth.secret",
            "secret 'no-such-secret' is not in the secret store",
        ),
        (
            "scenarios",
            "demo",
            {
                "left": "mem-left",
                "right": "nowhere",
                "field_map": "default",
                "directions": {"left_to_right": {}},
            },
            "integrations.demo.right",
            "unknown connection 'nowhere'",
        ),
    ],
)
def test_invalid_edits_name_the_field_and_store_nothing(tables, kind, name, body, field, words):
    h = Harness(tables)
    with_field_lists(h)
    admin = ConfigAdmin(h.services)
    version, snapshot = admin.store.version(), admin.store.load()
    with pytest.raises(ConfigEditError) as err:
        admin.put(kind, name, body, author="ann", expected=version)
    assert err.value.field == field
    assert words in err.value.message
    assert admin.store.version() == version and admin.store.load() == snapshot


def test_declared_types_are_checked_when_the_system_cannot_be_read(tables):
    h = Harness(tables)  # the plain memory connector publishes no field list
    admin = ConfigAdmin(h.services)
    rules = [
        {"left": "title", "right": "Title"},
        {
            "left": "notes",
            "right": "Work",
            "transform": "duration",
            "left_type": "text",
            "right_type": "double",
        },
    ]
    with pytest.raises(ConfigEditError) as err:
        admin.put("field_maps", "default", rules, author="ann", expected=None)
    assert err.value.field == "field_maps.default.1.transform"
    rules[1]["left_type"] = "integer"
    admin.put("field_maps", "default", rules, author="ann", expected=None)


def test_auto_map_proposes_same_name_compatible_fields(tables):
    h = Harness(tables)
    with_field_lists(h)
    proposal = ConfigAdmin(h.services).auto_map("mem-left", "item", "mem-right", "item")
    pairs = {(r.left, r.right, r.direction) for r in proposal.rules}
    assert pairs == {
        ("title", "System.Title", "both"),  # by the reference name's last segment / label
        ("state", "State", "both"),
        ("estimate", "Estimate", "both"),
    }
    assert "notes" in proposal.unmatched_left and "ChangedDate" in proposal.unmatched_right


def test_deleting_an_integration_stops_its_sync_and_deletes_no_data(tables):
    h = Harness(tables, two_integrations_document())
    admin = ConfigAdmin(h.services)
    rec = h.left.add(container="P2", title="kept")
    sync_all(h, ("demo2",))
    created = right_item(h, "Q2")
    admin.delete("scenarios", "demo2", author="ann", expected=admin.store.version())
    h.left.edit(rec.id, title="changed after delete")
    h.poll("left_to_right", scenario="demo")
    h.drain()
    assert right_item(h, "Q2").fields["Title"] == "kept"  # no longer synced
    assert rec.id in h.left.records and created.id in h.right.records  # nothing deleted
    with pytest.raises(ConfigEditError) as err:
        admin.delete("field_maps", "shared", author="ann", expected=None)  # still used by demo
    assert err.value.status == 409 and "demo" in err.value.message


def test_kiplot_names_and_directions_resolve_against_the_ado_side():
    from sync.config import parse_config

    doc = config_document(rules=[{"left": "title", "right": "Title", "direction": "read-only"}])
    doc["instances"] = doc.pop("connections")
    doc["instances"]["mem-right"] = {"type": "azure_devops", "url": "https://dev.azure.com/org"}
    scenarios = doc.pop("scenarios")
    doc["integrations"] = {s.pop("name"): s for s in scenarios}
    config = parse_config(doc)
    (rule,) = config.rules(config.scenario("demo"))
    assert rule.direction == "right_to_left"  # read-only = from ADO, and ADO is the right side
    doc["instances"]["mem-right"]["type"] = "memory"
    from sync.config import ConfigError

    with pytest.raises(ConfigError, match=r"field_maps.default.0.direction: .*ado_side"):
        parse_config(doc)


@pytest.mark.parametrize("poll_handled", [False, True])
def test_messages_queued_for_a_deleted_integration_are_never_applied(tables, poll_handled):
    """A queued poll is dropped, and so are queued items (with a log line): nothing is dead-lettered."""
    from sync.runtime import handle_poll

    h = Harness(tables, two_integrations_document())
    admin = ConfigAdmin(h.services)
    rec = h.left.add(container="P2", title="before")
    sync_all(h, ("demo2",))
    h.left.edit(rec.id, title="queued before the delete")
    h.poll("left_to_right", scenario="demo2")
    if poll_handled:  # the poll ran: its item message is queued
        poll = h.queue.receive(h.services.settings.poll_queue)
        handle_poll(h.services, poll.message)
        h.queue.complete(poll)
    admin.delete("scenarios", "demo2", author="ann", expected=admin.store.version())
    h.drain()
    assert right_item(h, "Q2").fields["Title"] == "before"
    assert h.queue.dead_letters(h.services.settings.item_queue) == []
    assert h.queue.counts(h.services.settings.item_queue).active == 0


def test_an_instance_is_checked_through_its_connector_unless_verify_is_off(tables):
    from connectors.contract import CheckReport

    h = Harness(tables)

    class NoWriteAccess(MemoryConnector):
        def check(self):
            return CheckReport(
                ok=False, problems=["the PAT cannot write work items in project P1 (vso.work_write)"]
            )

    h.services.registry.register("memory", lambda name, cfg, secrets: NoWriteAccess(h.left))
    h.services.registry.forget()
    admin = ConfigAdmin(h.services)
    body = {"type": "memory", "url": "memory://left", "options": {"note": "edited"}}
    version = admin.store.version()
    with pytest.raises(ConfigEditError) as err:
        admin.put("connections", "mem-left", body, author="ann", expected=version)
    assert (err.value.status, err.value.field) == (422, "instances.mem-left")
    assert "cannot write work items in project P1" in err.value.message
    assert admin.store.version() == version
    admin.put("connections", "mem-left", body, author="ann", expected=version, verify=False)
    assert admin.get("connections", "mem-left")["options"] == {"note": "edited"}


def test_a_manual_trigger_direction_is_never_polled_by_the_timer_but_runs_on_demand(tables):
    from datetime import UTC, datetime

    from sync.schedule import due_polls

    doc = config_document()
    doc["scenarios"][0]["directions"]["right_to_left"]["trigger"] = "manual"
    h = Harness(tables, doc)
    polls = due_polls(h.config, datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    assert [p.direction for p in polls] == ["left_to_right"]
    import base64
    import json

    from sync.hooks import receive_hook
    from tests.support.harness import HOOK_PASSWORD

    rec = h.right.add(container="Q1", Title="made on the right")
    auth = "Basic " + base64.b64encode(f"tandem:{HOOK_PASSWORD}".encode()).decode()
    body = json.dumps({"eventType": "item.changed", "id": rec.id, "version": "1", "container": "Q1"}).encode()
    reply = receive_hook(h.services, "mem-right", "demo", auth, body)
    assert reply.status == 200 and reply.body["enqueued"] == 0  # hooks wait for the manual run too
    assert reply.body["note"] == "right_to_left is triggered manually"
    assert h.drain() == 0
    h.poll("right_to_left", trigger="manual")
    h.drain()
    assert [r.fields.get("title") for r in h.left.records.values()] == ["made on the right"]
