"""Builds an AdoConnector from a connection's configuration (type `azure_devops`) and the secret store."""

from __future__ import annotations

from typing import Any, Protocol

from connectors.ado.auth import EntraTokenProvider
from connectors.ado.config import AdoOptions
from connectors.ado.connector import AdoConnector
from connectors.ado.hosts import infer_deployment
from connectors.http import BasicAuth, BearerAuth


class _Secrets(Protocol):
    def get(self, name: str) -> str: ...


def build(name: str, config: Any, secrets: _Secrets, **extra: Any) -> AdoConnector:
    """`config` has `url`, `auth` (kind, secret, username, client_id) and `options` (AdoOptions fields).

    The connection name becomes the connector's `system`, so every error names the connection.
    `extra` goes to AdoConnector (e.g. `transport` in tests).
    """
    options = dict(config.options or {})
    options.setdefault("deployment", infer_deployment(config.url))
    ado_options = AdoOptions.model_validate(options)
    auth = config.auth
    kind = auth.kind
    if kind == "pat":
        secret_name = auth.secret
        return AdoConnector(
            name, config.url, ado_options, get_secret=lambda: secrets.get(secret_name), **extra
        )
    if kind == "entra":
        credential = EntraTokenProvider(client_id=auth.client_id)
        return AdoConnector(
            name, config.url, ado_options, auth=_entra(ado_options, credential, name), **extra
        )
    if kind == "basic":
        secret_name = auth.secret
        basic = BasicAuth(auth.username or "", lambda: secrets.get(secret_name))
        return AdoConnector(name, config.url, ado_options, auth=basic, **extra)
    if kind == "none":
        return AdoConnector(name, config.url, ado_options, **extra)
    raise ValueError(
        f"{name}: auth kind {kind!r} is not supported for Azure DevOps; use 'pat' "
        "(Services and Server) or 'entra' (Services)"
    )


def _entra(options: AdoOptions, provider: EntraTokenProvider, name: str) -> BearerAuth:
    if options.deployment == "server":
        raise ValueError(f"{name}: Azure DevOps Server does not accept Entra tokens; use a PAT")
    return BearerAuth(provider)
