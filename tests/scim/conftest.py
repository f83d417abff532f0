"""The local stack (Azurite, the emulators, the function app on the local host) with SCIM provisioning into
the Services emulator, a SCIM client holding the stack's bearer token, and an ADO REST client for checking
what reached the organization."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulators.ado import AdoEmulator
from tandem.stack import LocalStack

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_EXT = "urn:tandem:params:scim:schemas:extension:azuredevops:2.0:User"
GROUP_EXT = "urn:tandem:params:scim:schemas:extension:azuredevops:2.0:Group"
BASIC_RULE = {"accountLicenseType": "express", "licensingSource": "account", "msdnLicenseType": "none"}


@dataclass
class ScimEnv:
    stack: LocalStack
    url: str
    token: str
    scim: httpx.Client  # the SCIM endpoint, authenticated
    ado: httpx.Client  # the Services emulator's REST API (api-version 7.1)
    emulator: AdoEmulator

    def user(self, user_id: str) -> dict[str, Any]:
        response = self.ado.get(f"/_apis/userentitlements/{user_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def access(self, user_id: str) -> str:
        return str(self.user(user_id)["accessLevel"]["accountLicenseType"])

    def members(self, group_id: str) -> list[str]:
        response = self.ado.get(f"/_apis/GroupEntitlements/{group_id}/members")
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["members"]]

    def create_user(self, user_name: str, **extra: Any) -> dict[str, Any]:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, **extra}
        response = self.scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_group(self, name: str, **extra: Any) -> dict[str, Any]:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", GROUP_EXT],
            "displayName": name,
            GROUP_EXT: BASIC_RULE,
            **extra,
        }
        response = self.scim.post("/Groups", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def patch(self, path: str, *operations: dict[str, Any]) -> httpx.Response:
        return self.scim.patch(path, json={"schemas": [PATCH_OP], "Operations": list(operations)})


@pytest.fixture(scope="package")
def scim_stack() -> Iterator[ScimEnv]:
    stack = LocalStack()  # the demo configuration: SCIM provisions into its `ado-services` connection
    info = stack.start()
    try:
        scim = info["scim"]
        emulator = stack.emulators["ado_services"].instance
        with (
            httpx.Client(
                base_url=scim["url"], headers={"Authorization": f"Bearer {scim['token']}"}, timeout=60
            ) as scim_client,
            httpx.Client(
                base_url=emulator.base_url,
                headers=emulator.auth_header(),
                params={"api-version": "7.1"},
                timeout=30,
            ) as ado_client,
        ):
            yield ScimEnv(stack, scim["url"], scim["token"], scim_client, ado_client, emulator)
    finally:
        stack.stop()


@pytest.fixture
def env(scim_stack: ScimEnv) -> ScimEnv:
    """The stack, made current again: a test of another package run meanwhile on this worker may have
    pointed the app's handlers elsewhere (`triggers.use_services`)."""
    from sync import triggers

    triggers.use_services(scim_stack.stack.services)
    return scim_stack
