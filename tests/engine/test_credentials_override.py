"""Credentials shared by several integrations or overridden per integration (issue 13): an integration may
name its own secret for a side; it is checked on save like an instance's, and the connectors the engine
builds for that integration use it, while the other integrations keep the instance's."""

from __future__ import annotations

import pytest

from sync.config import ConfigError, parse_config
from sync.config_admin import ConfigAdmin, ConfigEditError
from tests.engine.test_config_admin import two_integrations_document
from tests.support.harness import Harness
from tests.support.memory_connector import MemoryConnector


class RecordingConnector(MemoryConnector):
    """The memory connector, remembering the secret it was built with on every read."""

    def __init__(self, system, secret, reads):
        super().__init__(system)
        self.secret = secret
        self.reads = reads

    def read(self, entity, ids):
        self.reads.extend((self.secret, item_id) for item_id in ids)
        return super().read(entity, ids)


def document_with_override() -> dict:
    doc = two_integrations_document()
    doc["connections"]["mem-left"]["auth"] = {"kind": "pat", "secret": "shared-pat"}
    demo2 = doc["scenarios"][1]
    demo2["auth"] = {"left": {"secret": "demo2-pat"}}
    return doc


@pytest.fixture
def h(tables) -> Harness:
    harness = Harness(tables)
    harness.secrets.set("shared-pat", "pat-of-the-team")
    harness.secrets.set("demo2-pat", "pat-of-project-two")
    reads: list[tuple[str | None, str]] = []
    systems = {"memory://left": harness.left, "memory://right": harness.right}
    harness.services.registry.register(
        "memory", lambda name, cfg, secrets: RecordingConnector(systems[cfg.url], cfg.auth.secret, reads)
    )
    harness.services.registry.forget()
    harness.reads = reads  # type: ignore[attr-defined]
    harness.apply(document_with_override())
    return harness


def test_an_integration_reads_with_its_own_secret_and_the_others_with_the_instances(h: Harness):
    one = h.left.add(title="in project one", container="P1")
    two = h.left.add(title="in project two", container="P2")
    h.poll(scenario="demo")
    h.poll(scenario="demo2")
    h.drain()
    assert sorted(r.fields["Title"] for r in h.right.of("item")) == ["in project one", "in project two"]
    secrets = {item_id: {s for s, i in h.reads if i == item_id} for item_id in (one.id, two.id)}  # type: ignore[attr-defined]
    assert secrets == {one.id: {"shared-pat"}, two.id: {"demo2-pat"}}
    config = h.services.config()
    assert config.connection_for(config.scenario("demo2"), "left").auth.secret == "demo2-pat"
    assert config.connection_for(config.scenario("demo2"), "right").auth.kind == "none"  # not overridden
    assert config.connection_for(config.scenario("demo"), "left").auth.secret == "shared-pat"


def test_an_override_naming_a_missing_secret_is_refused_naming_the_field(h: Harness):
    admin = ConfigAdmin(h.services)
    before = h.services.config_store.load()
    demo2 = dict(before["scenarios"][1], auth={"left": {"secret": "not-there"}})
    with pytest.raises(ConfigEditError) as refused:
        admin.put("scenarios", "demo2", demo2, author="ann", expected=None, verify=False)
    assert refused.value.field == "integrations.demo2.auth.left.secret" and refused.value.status == 422
    assert "not-there" in refused.value.message
    assert h.services.config_store.load() == before  # nothing stored


def test_an_override_that_does_not_make_a_whole_credential_is_refused(tables):
    doc = two_integrations_document()
    doc["scenarios"][1]["auth"] = {"left": {"kind": "pat"}}  # the instance names no secret to keep
    with pytest.raises(ConfigError, match=r"scenarios\.1\.auth\.left: .*needs 'secret'"):
        parse_config(doc)
    doc["scenarios"][1]["auth"] = {"middle": {"secret": "x"}}
    with pytest.raises(ConfigError, match="auth"):
        parse_config(doc)
