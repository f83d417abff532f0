"""`tandem config export|history|rollback` and `tandem mappings auto|copy|import|export`: on the app's tables
directly (app settings), and through the admin API's configuration routes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sync.admin import config_routes
from tandem import cli, config_cli
from tandem.config_client import ConfigApi
from tests.engine.test_config_admin import with_field_lists
from tests.support.harness import Harness

SAMPLE_XML = Path(__file__).resolve().parents[2] / "tandem" / "samples" / "mappings.xml"


@pytest.fixture
def direct(tables, azurite, monkeypatch, tmp_path):
    """The CLI on the app's tables: no URL, no running stack, storage from the environment."""
    h = Harness(tables)
    monkeypatch.chdir(tmp_path)
    for name in ("TANDEM_URL", "TANDEM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / ".tandem"))
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("TABLE_PREFIX", tables.prefix)
    monkeypatch.setenv("TANDEM_USER", "carol")
    return h


def test_history_export_rollback_and_mappings_on_the_tables(direct, tmp_path, capsys):
    h = direct
    first = h.services.config_store.version()
    assert cli.main(["mappings", "copy", "default", "mine"]) == 0
    assert cli.main(["mappings", "export", "mine", "-o", str(tmp_path / "mine.yaml")]) == 0
    exported = yaml.safe_load((tmp_path / "mine.yaml").read_text())
    assert [r["left"] for r in exported["field_maps"]["mine"]] == ["title", "state", "owner", "notes"]

    exported["field_maps"]["mine"] = exported["field_maps"]["mine"][:1]
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(exported))
    assert cli.main(["mappings", "import", str(tmp_path / "mine.yaml")]) == 0
    assert len(h.services.config_store.load()["field_maps"]["mine"]) == 1
    assert cli.main(["mappings", "import", str(SAMPLE_XML), "--no-verify"]) == 0
    assert "pwa-ado-tasks" in h.services.config_store.load()["field_maps"]

    capsys.readouterr()
    assert cli.main(["config", "history"]) == 0
    out = capsys.readouterr().out
    assert "carol" in out and "import field maps pwa-ado-tasks from XML" in out

    assert cli.main(["config", "rollback", str(first)]) == 0
    assert set(h.services.config_store.load()["field_maps"]) == {"default"}
    assert cli.main(["config", "export", "--format", "json", "-o", str(tmp_path / "c.json")]) == 0
    assert '"default"' in (tmp_path / "c.json").read_text()

    assert cli.main(["config", "rollback", "999"]) == 2
    assert "version: there is no configuration version 999" in capsys.readouterr().err


def test_mappings_auto_writes_a_proposal_or_applies_it(direct, tmp_path, monkeypatch):
    with_field_lists(direct)
    # the CLI builds its own services: give them the field-list connector too
    import tandem.config_client as cc

    real = cc.direct_services

    def services(settings):
        built = real(settings)
        built.registry = direct.services.registry
        return built

    monkeypatch.setattr(cc, "direct_services", services)
    assert (
        cli.main(["mappings", "auto", "mem-left:item", "mem-right:item", "-o", str(tmp_path / "p.yaml")]) == 0
    )
    text = (tmp_path / "p.yaml").read_text()
    proposal = yaml.safe_load(text)
    assert {"left": "state", "right": "State", "direction": "both"} in proposal["field_maps"]["proposed"]
    assert "# Unmatched left fields: " in text and "notes" in text
    assert cli.main(["mappings", "auto", "mem-left:item", "mem-right:item", "--apply", "auto"]) == 0
    assert len(direct.services.config_store.load()["field_maps"]["auto"]) == 3


def test_the_commands_go_through_the_admin_api_when_one_is_given(tables, monkeypatch, capsys):
    h = Harness(tables)
    app = FastAPI()
    app.include_router(config_routes.router)
    app.dependency_overrides[config_routes.get_services] = lambda: h.services
    client = TestClient(app)
    api = ConfigApi("http://testserver/api", "k", client=client)
    monkeypatch.setattr(config_cli, "_target", lambda args: api)
    monkeypatch.setenv("TANDEM_USER", "dave")
    assert cli.main(["mappings", "copy", "default", "theirs"]) == 0
    assert "theirs" in h.services.config_store.load()["field_maps"]
    assert h.services.config_store.history(1)[0].author == "dave"
    assert cli.main(["mappings", "copy", "default", "theirs"]) == 2
    assert "name: field map 'theirs' exists already" in capsys.readouterr().err
    assert cli.main(["config", "history", "--json"]) == 0
    assert '"current"' in capsys.readouterr().out
