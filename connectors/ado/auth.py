"""Credentials for Azure DevOps: a PAT from a secret getter, or a Microsoft Entra token (Services only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connectors.http import BearerAuth, PatAuth, SecretSource
from connectors.oauth import EntraTokenProvider as _EntraTokenProvider

# The Azure DevOps resource (application id) every Entra token must be issued for.
ADO_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"


def pat_auth(get_secret: SecretSource) -> PatAuth:
    """Basic `:pat`; the getter is called on first use and again after a 401 (rotation)."""
    return PatAuth(get_secret)


class EntraTokenProvider(_EntraTokenProvider):
    """An Entra token for Azure DevOps from an azure-identity credential (managed identity by default)."""

    def __init__(
        self,
        credential: Any | None = None,
        *,
        client_id: str | None = None,
        scope: str = ADO_SCOPE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(credential, scope=scope, client_id=client_id, clock=clock)


def entra_auth(credential: Any | None = None) -> BearerAuth:
    """Bearer auth from an azure-identity credential (DefaultAzureCredential when None)."""
    return BearerAuth(EntraTokenProvider(credential))
