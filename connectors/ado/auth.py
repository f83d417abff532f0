"""Credentials for Azure DevOps: a PAT from a secret getter, or a Microsoft Entra token (Services only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from connectors.http import BearerAuth, PatAuth, SecretSource

# The Azure DevOps resource (application id) every Entra token must be issued for.
ADO_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"


def pat_auth(get_secret: SecretSource) -> PatAuth:
    """Basic `:pat`; the getter is called on first use and again after a 401 (rotation)."""
    return PatAuth(get_secret)


class EntraTokenProvider:
    """Gets and caches an Entra access token; azure-identity is imported only when a token is first needed."""

    def __init__(
        self,
        credential: Any | None = None,
        *,
        client_id: str | None = None,
        scope: str = ADO_SCOPE,
        clock: Callable[[], float] = time.time,
    ):
        self._credential = credential
        self._client_id = client_id  # a user-assigned managed identity's client id
        self._scope = scope
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def _get_credential(self) -> Any:
        if self._credential is None:
            # Lazy: importing azure.identity costs ~0.5 s and is not needed by PAT connections.
            from azure.identity import DefaultAzureCredential

            kwargs = {"managed_identity_client_id": self._client_id} if self._client_id else {}
            self._credential = DefaultAzureCredential(**kwargs)
        return self._credential

    def __call__(self) -> str:
        with self._lock:
            # Renew five minutes early so a token never expires mid-request.
            if self._token is None or self._clock() > self._expires_on - 300:
                access = self._get_credential().get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    def __repr__(self) -> str:
        return f"EntraTokenProvider(scope={self._scope!r})"


def entra_auth(credential: Any | None = None) -> BearerAuth:
    """Bearer auth from an azure-identity credential (DefaultAzureCredential when None)."""
    return BearerAuth(EntraTokenProvider(credential))
