"""Structure of infra/: every file parses, and the resources have the settings the issue asks for
(sessions and duplicate detection, no shared keys, purge protection, least-privilege roles, HTTPS only…).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from sync import telemetry
from tests.infra.bicep_model import INFRA, Deployment, Unresolved, parse

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Built-in role ids, checked against https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}


def test_there_is_a_main_file_and_modules() -> None:
    assert INFRA / "main.bicep" in BICEP_FILES
    assert len(BICEP_FILES) >= 7


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    tree = BicepParser().parse(file_path=path)
    assert tree.get("resources") or tree.get("modules"), f"{path.name} declares nothing"


def test_main_composes_every_module(deployment: Deployment) -> None:
    used = {module.path for module in deployment.modules.values()}
    assert used == {p.resolve() for p in (INFRA / "modules").glob("*.bicep")}


def test_child_resources_are_declared_at_top_level_with_parent() -> None:
    # pycep keeps only the last of several nested children (a known bug): nested ones would go unchecked.
    for path in BICEP_FILES:
        for symbol in parse(path).get("resources", {}):
            assert "__" not in symbol, (
                f"{path.name}: {symbol} is nested; declare it at top level with parent:"
            )
        assert not re.search(r"^[ \t]+resource\s", path.read_text(), re.M), f"{path.name} nests a resource"


def test_sample_parameter_file_sets_declared_parameters_only() -> None:
    text = (INFRA / "main.bicepparam").read_text()
    assert re.search(r"^using\s+'\./main\.bicep'\s*$", text, re.M)
    declared = parse(INFRA / "main.bicep")["parameters"]
    set_here = set(re.findall(r"^param\s+(\w+)\s*=", text, re.M))
    assert set_here <= set(declared), f"unknown parameters: {set_here - set(declared)}"
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set_here, f"the sample must set the required parameters {required - set_here}"


def test_service_bus_is_standard_with_entra_id_only(deployment: Deployment) -> None:
    namespace = deployment.resource("Microsoft.ServiceBus/namespaces")
    assert namespace.value("sku")["name"] == "Standard"  # Basic has no sessions or duplicate detection
    props = namespace.value("properties")
    assert props["disableLocalAuth"] is True
    assert props["minimumTlsVersion"] == "1.2"


@pytest.mark.parametrize("queue", ["tandem-poll", "tandem-items"])
def test_work_queues_have_sessions_and_duplicate_detection(deployment: Deployment, queue: str) -> None:
    props = deployment.queues()[queue].value("properties")
    assert props["requiresSession"] is True
    assert props["requiresDuplicateDetection"] is True
    assert props["duplicateDetectionHistoryTimeWindow"] == "PT10M"
    assert props["deadLetteringOnMessageExpiration"] is True
    assert props["maxDeliveryCount"] == 10
    assert props["lockDuration"] == "PT1M"


def test_parking_queue_is_plain_and_keeps_messages(deployment: Deployment) -> None:
    props = deployment.queues()["tandem-deadletter"].value("properties")
    assert props["requiresSession"] is False
    assert "defaultMessageTimeToLive" not in props  # parked items never expire


def test_storage_accepts_entra_id_only_over_tls(deployment: Deployment) -> None:
    props = deployment.resource("Microsoft.Storage/storageAccounts").value("properties")
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    container = deployment.resource("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container.value("properties")["publicAccess"] == "None"


def test_key_vault_uses_rbac_soft_delete_and_purge_protection(deployment: Deployment) -> None:
    props = deployment.resource("Microsoft.KeyVault/vaults").value("properties")
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True


def test_function_app_is_flex_consumption_python_311(deployment: Deployment) -> None:
    plan = deployment.resource("Microsoft.Web/serverfarms")
    assert plan.value("sku") == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan.value("properties")["reserved"] is True
    site = deployment.resource("Microsoft.Web/sites")
    assert site.value("kind") == "functionapp,linux"
    assert site.value("identity")["type"] == "SystemAssigned"
    config = site.value("properties", "functionAppConfig")
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {"type": "SystemAssignedIdentity"}
    assert {"maximumInstanceCount", "instanceMemoryMB"} <= set(config["scaleAndConcurrency"])


def test_function_app_is_https_only_tls12_without_ftp_or_basic_auth(deployment: Deployment) -> None:
    site = deployment.resource("Microsoft.Web/sites")
    props = site.value("properties")
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    policies = deployment.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {p.names()[0]: p.value("properties")["allow"] for p in policies} == {"ftp": False, "scm": False}


def test_app_settings_hold_no_secrets_and_no_settings_flex_rejects(deployment: Deployment) -> None:
    settings = deployment.app_settings()
    # Flex Consumption rejects or ignores these; AzureWebJobsStorage itself would be a connection string.
    for deprecated in (
        "AzureWebJobsStorage",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
    ):
        assert deprecated not in settings
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    for path in BICEP_FILES:
        text = path.read_text()
        for needle in ("listKeys(", "listConnectionStrings(", "AccountKey=", "SharedAccessKey"):
            assert needle not in text, f"{path.name} handles a key ({needle})"


def scope_symbol(scope: Any) -> str:
    """`storage`, or `appTables[i]` for a loop's `scope: appTables[i]`."""
    if isinstance(scope, str):
        return scope
    operands = scope["operator"]["operands"]
    return f"{operands['operand_1']}[{operands['operand_2']}]"


def test_app_identity_gets_exactly_the_roles_it_needs(deployment: Deployment) -> None:
    rbac = deployment.modules["rbac"]
    # main passes the site's identity in.
    given = parse(INFRA / "main.bicep")["modules"]["rbac"]["config"]["params"]["appPrincipalId"]
    assert "functionApp" in json.dumps(given) and "principalId" in json.dumps(given)

    granted = set()
    for assignment in rbac.resources("Microsoft.Authorization/roleAssignments"):
        body = assignment.body
        if body["properties"]["principalId"] != "appPrincipalId":
            assert body["properties"]["principalId"] == "operatorPrincipalId"
            assert assignment.condition is not None, f"{assignment.symbol}: only when an operator is given"
            continue
        assert assignment.condition is None, f"{assignment.symbol}: the app's roles are unconditional"
        role_ref = body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        role = assignment.module.scope["roles"][role_ref["operator"]["operands"]["operand_2"]]
        assert assignment.value("properties")["principalType"] == "ServicePrincipal"
        granted.add((scope_symbol(body["scope"]), BUILT_IN_ROLES[role]))
    assert granted == {
        ("storage", "Storage Blob Data Owner"),
        ("appTables[i]", "Storage Table Data Contributor"),  # each state table, not the account
        ("serviceBus", "Azure Service Bus Data Sender"),
        ("serviceBus", "Azure Service Bus Data Receiver"),
        ("vault", "Key Vault Secrets User"),
        ("rotatedSecrets[i]", "Key Vault Secrets Officer"),  # each rotated secret, not the vault
        ("appInsights", "Monitoring Metrics Publisher"),
    }
    assert set(rbac.scope["roles"].values()) <= set(BUILT_IN_ROLES), "only the roles listed above"


def test_role_assignment_names_are_stable_per_scope_principal_and_role() -> None:
    tree = parse(INFRA / "modules" / "rbac.bicep")
    for symbol, resource in tree["resources"].items():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        body = resource["config"].get("config", resource["config"])
        name = body["name"]["function"]
        assert name["type"] == "guid", symbol
        assert len(name["parameters"]) == 3, f"{symbol}: guid(scope.id, principalId, roleId)"


def test_monitoring_is_workspace_based_with_entra_id_ingestion(deployment: Deployment) -> None:
    workspace = deployment.resource("Microsoft.OperationalInsights/workspaces")
    assert workspace.value("properties")["sku"]["name"] == "PerGB2018"
    component = deployment.resource("Microsoft.Insights/components")
    props = component.body["properties"]
    assert props["WorkspaceResourceId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "workspace", "operand_2": "id"}}
    }
    assert props["DisableLocalAuth"] is True
    settings = deployment.app_settings()
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"


def test_workbook_is_loaded_from_workbook_json(deployment: Deployment) -> None:
    workbook = deployment.resource("Microsoft.Insights/workbooks")
    assert workbook.value("kind") == "shared"
    source = workbook.body["properties"]["serializedData"]["function"]
    assert source["type"] == "load_text_content"
    path = (workbook.module.path.parent / source["parameters"]["file_path"]).resolve()
    assert path == INFRA / "workbook.json"
    data = json.loads(path.read_text())
    assert data["version"] == "Notebook/1.0"
    queries = [item["content"]["query"] for item in data["items"] if item["type"] == 3]
    text = "\n".join(queries)
    for metric in (telemetry.ITEMS_SYNCED, telemetry.CONFLICTS, telemetry.FAILURES):
        assert f'"{metric}"' in text, f"the workbook does not chart {metric}"
    assert "scenario" in text and "direction" in text


def test_alerts_cover_dead_letters_failures_disabled_hooks_and_missing_polls(deployment: Deployment) -> None:
    alerts = deployment.modules["alerts"]
    group = alerts.resource("Microsoft.Insights/actionGroups")
    (receiver,) = group.body["properties"]["emailReceivers"]
    assert receiver["emailAddress"] == "alertEmail"
    assert isinstance(alerts.scope["alertEmail"], Unresolved), "the e-mail comes from the deployer"

    metric_criteria = {}
    for alert in alerts.resources("Microsoft.Insights/metricAlerts"):
        (criterion,) = alert.value("properties", "criteria")["allOf"]
        metric_criteria[criterion["metricName"]] = criterion
        assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0)
    assert metric_criteria["DeadletteredMessages"]["dimensions"][0]["values"] == ["*"]
    assert metric_criteria["ActiveMessages"]["dimensions"][0] == {
        "name": "EntityName",
        "operator": "Include",
        "values": ["tandem-deadletter"],
    }

    queries = " ".join(
        json.dumps(alert.body["properties"]["criteria"])
        for alert in alerts.resources("Microsoft.Insights/scheduledQueryRules")
    )
    for name in (telemetry.FAILURES, telemetry.HOOK_SUBSCRIPTION_DISABLED, telemetry.POLL_SUCCEEDED):
        assert name in queries, f"no log alert on {name}"
    for alert in [
        *alerts.resources("Microsoft.Insights/metricAlerts"),
        *alerts.resources("Microsoft.Insights/scheduledQueryRules"),
    ]:
        actions = alert.body["properties"]["actions"]
        if actions == "actions":  # the module's shared variable
            actions = alerts.tree["variables"]["actions"]["value"]
        assert "actionGroup" in json.dumps(actions), f"{alert.symbol} notifies nobody"


def test_names_in_queries_are_the_ones_the_app_emits() -> None:
    known = set(telemetry.METRIC_NAMES) | set(telemetry.EVENT_NAMES)
    for path in [INFRA / "workbook.json", *BICEP_FILES]:
        used = set(re.findall(r"tandem\.[a-z_]+", path.read_text()))
        unknown = {name for name in used if name not in known}
        assert not unknown, f"{path.name} queries {unknown}, which sync/telemetry.py never emits"
