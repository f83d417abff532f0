"""Least privilege and an audit trail in infra/: the app reads every secret but writes only the ones it
rotates; it holds table rights on its own tables, no storage queue right; table writes and deletes reach
Log Analytics; the admin API can sit behind Entra sign-in with hooks, health and SCIM outside it; the
request body limit matches the code's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync.settings import AppSettings
from tests.infra.bicep_model import Deployment, Resource

SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
TABLE_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
QUEUE_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"


def _role_id(assignment: Resource) -> str:
    ref = assignment.body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    return assignment.module.scope["roles"][ref["operator"]["operands"]["operand_2"]]


def _scope_resource(assignment: Resource) -> Resource:
    """The resource a role assignment is scoped to (its symbol, or `symbol[i]` in a loop)."""
    scope: Any = assignment.body["scope"]
    symbol = scope if isinstance(scope, str) else scope["operator"]["operands"]["operand_1"]
    found = [r for r in assignment.module.resources(existing=True) if r.symbol == symbol]
    found += [r for r in assignment.module.resources() if r.symbol == symbol]
    assert len(found) == 1, f"{assignment.symbol}: scope {symbol} not found"
    return found[0]


def app_grants(deployment: Deployment) -> list[tuple[str, Resource]]:
    """(role id, scope resource) of every role assignment of the app's identity."""
    rbac = deployment.modules["rbac"]
    return [
        (_role_id(a), _scope_resource(a))
        for a in rbac.resources("Microsoft.Authorization/roleAssignments")
        if a.body["properties"]["principalId"] == "appPrincipalId"
    ]


def vault_wide_officer(deployment: Deployment) -> list[str]:
    """Problems: the app holding Secrets Officer anywhere but on single secrets."""
    return [
        f"Secrets Officer on {scope.type} {scope.symbol}"
        for role, scope in app_grants(deployment)
        if role == SECRETS_OFFICER and scope.type != "Microsoft.KeyVault/vaults/secrets"
    ]


def test_the_app_writes_only_the_secrets_it_rotates(deployment: Deployment) -> None:
    assert vault_wide_officer(deployment) == []
    grants = app_grants(deployment)
    officer = [scope for role, scope in grants if role == SECRETS_OFFICER]
    assert [s.type for s in officer] == ["Microsoft.KeyVault/vaults/secrets"]
    assert officer[0].parent == "vault" and officer[0].loop["detail"]["array_name"] == "rotatedSecretNames"
    assert [s.type for role, s in grants if role == SECRETS_USER] == ["Microsoft.KeyVault/vaults"]


def test_the_role_check_fails_when_the_app_holds_secrets_officer_on_the_vault(infra_copy: Path) -> None:
    rbac = infra_copy / "modules" / "rbac.bicep"
    text = rbac.read_text()
    widened = text.replace("    scope: rotatedSecrets[i]\n", "    scope: vault\n")
    assert widened != text
    rbac.write_text(widened)
    assert vault_wide_officer(Deployment.load(infra_copy)) == [
        "Secrets Officer on Microsoft.KeyVault/vaults vault"
    ]


def test_table_rights_are_per_table_and_no_storage_queue_right(deployment: Deployment) -> None:
    grants = app_grants(deployment)
    tables = [scope for role, scope in grants if role == TABLE_CONTRIBUTOR]
    assert [s.type for s in tables] == ["Microsoft.Storage/storageAccounts/tableServices/tables"]
    assert tables[0].loop["detail"]["array_name"] == "tableNames"
    # main hands the storage module's output over, so the assignments wait for the tables.
    params = deployment.main.tree["modules"]["rbac"]["config"]["params"]
    assert "tableNames" in str(params["tableNames"]) and "storage" in str(params["tableNames"])
    assert QUEUE_CONTRIBUTOR not in {role for role, _ in grants}
    assert QUEUE_CONTRIBUTOR not in deployment.modules["rbac"].scope["roles"].values()


def test_table_writes_and_deletes_reach_log_analytics(deployment: Deployment) -> None:
    storage = deployment.modules["storage"]
    (audit,) = [
        d
        for d in storage.resources("Microsoft.Insights/diagnosticSettings")
        if d.body["scope"] == "tableService"
    ]
    logs = {entry["category"]: entry["enabled"] for entry in audit.body["properties"]["logs"]}
    assert logs == {"StorageWrite": True, "StorageDelete": True}
    assert audit.body["properties"]["workspaceId"] == "logAnalyticsWorkspaceId"
    given = deployment.main.tree["modules"]["storage"]["config"]["params"]["logAnalyticsWorkspaceId"]
    assert "monitoring" in str(given) and "workspaceId" in str(given)


def test_admin_sign_in_is_optional_and_leaves_hooks_health_and_scim_outside(deployment: Deployment) -> None:
    app = deployment.modules["functionApp"]
    (auth,) = [c for c in app.resources("Microsoft.Web/sites/config") if c.body["name"] == "authsettingsV2"]
    assert auth.condition is not None and "adminSignInClientId" in str(auth.condition)
    assert deployment.main.scope["adminSignInClientId"] == ""  # off by default
    props = auth.body["properties"]
    validation = props["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    assert set(validation["excludedPaths"]) == {"/api/hooks/*", "/api/health", "/api/scim/*"}
    assert props["identityProviders"]["azureActiveDirectory"]["enabled"] is True


def test_the_request_body_limit_matches_the_code(deployment: Deployment) -> None:
    limit = deployment.main.scope["requestBodyLimitBytes"]
    assert limit == AppSettings().request_body_limit == 2 * 1024 * 1024
    assert str(deployment.app_settings()["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]) == str(limit)
