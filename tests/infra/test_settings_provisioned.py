"""Everything the code reads is provisioned: each app setting in `AppSettings` is set on the function app
by infra/ (and listed in local.settings.sample.json), and the queues and tables the code uses exist with
the names the settings point at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from state.tables import TABLES
from sync.settings import AppSettings
from tests.infra.bicep_model import ROOT, Deployment, Unresolved, missing_settings

DEFAULTS = AppSettings()
QUEUE_SETTINGS = {"POLL_QUEUE": True, "ITEM_QUEUE": True, "DEADLETTER_QUEUE": False}  # name -> sessions


def test_every_setting_the_code_reads_is_provisioned(deployment: Deployment) -> None:
    provisioned = deployment.app_settings()
    missing = missing_settings(AppSettings.env_names(), provisioned)
    assert not missing, f"infra/ does not set {sorted(missing)}: add them to modules/functionapp.bicep"


def _without_setting(text: str, name: str) -> str:
    """The Bicep text with the `{ name: '<name>' value: … }` app-setting object removed."""
    block = re.compile(r"\n\s*\{\s*(?://[^\n]*\s*)*name: '" + re.escape(name) + r"'\s*value: [^\n]*\s*\}")
    edited, count = block.subn("", text)
    assert count == 1, f"setting {name} not found once in the Bicep"
    return edited


@pytest.mark.parametrize("name", sorted(set(AppSettings.env_names()) - {"AzureWebJobsStorage"}))
def test_the_check_fails_when_a_setting_is_removed(infra_copy: Path, name: str) -> None:
    # AzureWebJobsStorage is provisioned through AzureWebJobsStorage__accountName, removed below.
    functionapp = infra_copy / "modules" / "functionapp.bicep"
    functionapp.write_text(_without_setting(functionapp.read_text(), name))
    provisioned = Deployment.load(infra_copy).app_settings()
    missing = missing_settings(AppSettings.env_names(), provisioned)
    expected = {name, "AzureWebJobsStorage"} if name == "AzureWebJobsStorage__accountName" else {name}
    assert missing == expected


def test_a_connection_setting_counts_as_provisioned_in_its_identity_form() -> None:
    names = ["AzureWebJobsStorage", "KEY_VAULT_URL"]
    assert missing_settings(names, {"AzureWebJobsStorage__accountName": "st1", "KEY_VAULT_URL": "x"}) == set()
    assert missing_settings(names, {"AzureWebJobsStorageX": "st1"}) == set(names)
    assert missing_settings(names, {"AzureWebJobsStorage__credential": "managedidentity"}) == set(names)


@pytest.mark.parametrize("setting", sorted(QUEUE_SETTINGS))
def test_queue_settings_point_at_provisioned_queues(deployment: Deployment, setting: str) -> None:
    value = deployment.app_settings()[setting]
    field = next(f for f in AppSettings.model_fields.values() if f.alias == setting)
    # The code's default is what local runs use; Azure must use the same name.
    assert value == field.default
    queue = deployment.queues().get(value)
    assert queue is not None, f"{setting}={value} but infra/ creates no such queue"
    assert queue.value("properties")["requiresSession"] is QUEUE_SETTINGS[setting]


def test_every_state_table_is_provisioned(deployment: Deployment) -> None:
    prefix = deployment.app_settings()["TABLE_PREFIX"]
    assert prefix == DEFAULTS.table_prefix
    expected = {f"{prefix}{table}" for table in TABLES}
    provisioned = set(deployment.tables())
    assert expected <= provisioned, f"state/tables.py uses {sorted(expected - provisioned)}, not provisioned"


def test_the_table_check_fails_when_a_table_is_removed(infra_copy: Path) -> None:
    main = infra_copy / "main.bicep"
    text = main.read_text()
    assert "'${tablePrefix}links'" in text
    main.write_text(text.replace("  '${tablePrefix}links'\n", ""))
    provisioned = set(Deployment.load(infra_copy).tables())
    assert {f"{DEFAULTS.table_prefix}{table}" for table in TABLES} - provisioned == {"tandemlinks"}


def test_other_settings_carry_the_values_the_code_expects(deployment: Deployment) -> None:
    settings = deployment.app_settings()
    assert settings["POLL_SCHEDULE"] == DEFAULTS.poll_schedule
    assert settings["MAX_ATTEMPTS"] == str(DEFAULTS.max_attempts)
    site = deployment.resource("Microsoft.Web/sites")
    raw = {e["name"]: e["value"] for e in site.body["properties"]["siteConfig"]["appSettings"]}
    assert raw["PUBLIC_BASE_URL"] == "https://${appName}.azurewebsites.net"
    # Filled in by Azure at deployment time from the resources themselves, never typed in.
    for name in (
        "AzureWebJobsStorage__accountName",
        "ServiceBusConnection__fullyQualifiedNamespace",
        "KEY_VAULT_URL",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    ):
        assert isinstance(settings[name], Unresolved), f"{name} should come from the deployed resource"


def test_local_settings_sample_lists_every_setting_with_a_safe_default() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    assert sample["IsEncrypted"] is False
    values: dict[str, str] = sample["Values"]
    missing = set(AppSettings.env_names()) - set(values)
    assert not missing, f"local.settings.sample.json lacks {sorted(missing)}"
    assert all(isinstance(v, str) for v in values.values()), "Functions reads every value as a string"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["KEY_VAULT_URL"] == "", "empty: secrets come from the local store"
    assert values["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "", "telemetry stays off locally"
    local = AppSettings.from_env(values)
    for setting in QUEUE_SETTINGS:
        field = next(f for f in AppSettings.model_fields.values() if f.alias == setting)
        assert values[setting] == field.default
    assert local.poll_schedule == DEFAULTS.poll_schedule
    secrets = {k: v for k, v in values.items() if k.startswith("TANDEM_SECRET_")}
    assert secrets, "show how local secrets are named"
    assert all(v.startswith("<placeholder") for v in secrets.values())
    for value in values.values():
        assert "AccountKey=" not in value and "SharedAccessKey=" not in value
