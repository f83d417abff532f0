"""Builds a PwaConnector from a connection's configuration (type `pwa`) and the secret store.

Auth kinds: `oauth_refresh_token` (SharePoint Online, delegated; `secret` holds the refresh token, which is
rotated back into the store), `user_password` (SharePoint Online, ROPC; `username`, `secret` = password),
`ntlm` (Project Server on premises; `username` = DOMAIN\\user, `secret` = password), `basic` (on premises
behind Basic over HTTPS) and `none` (tests).
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from connectors.http import BasicAuth
from connectors.pwa.auth import NtlmAuth, PasswordTokenProvider, RefreshTokenProvider, TokenAuth
from connectors.pwa.config import PwaOptions
from connectors.pwa.connector import PwaConnector


class _Secrets(Protocol):
    def get(self, name: str) -> str: ...

    def set(self, name: str, value: str) -> None: ...


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def default_scope(url: str) -> str:
    """SharePoint's resource for the PWA host: `https://contoso.sharepoint.com/.default`."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/.default"


def build(name: str, config: Any, secrets: _Secrets, **extra: Any) -> PwaConnector:
    """`config` has `url`, `auth` (kind, secret, username, client_id, tenant) and `options` (PwaOptions).

    The connection name becomes the connector's `system`, so every error names the connection. `extra`
    goes to PwaConnector (e.g. `transport` in tests); `token_transport` goes to the token client.
    """
    options = PwaOptions.model_validate(dict(config.options or {}))
    token_transport = extra.pop("token_transport", None)
    auth = config.auth
    kind = auth.kind
    secret_name = auth.secret or ""
    scope = options.scope or default_scope(config.url)

    def need(*fields: str) -> None:
        missing = [f for f in fields if not getattr(auth, f, None)]
        if missing:
            raise ValueError(
                f"{name}: auth kind '{kind}' needs {', '.join(missing)} in the connection's auth"
            )

    if kind == "oauth_refresh_token":
        need("client_id", "tenant", "secret")
        provider = RefreshTokenProvider(
            system=name,
            tenant=auth.tenant,
            client_id=auth.client_id,
            scope=scope,
            get_refresh_token=lambda: secrets.get(secret_name),
            set_refresh_token=lambda value: secrets.set(secret_name, value),
            secret_name=secret_name,
            authority=options.authority,
            transport=token_transport,
            timeout=options.timeout_seconds,
        )
        return PwaConnector(name, config.url, options, auth=TokenAuth(provider), **extra)
    if kind == "user_password":
        need("client_id", "tenant", "username", "secret")
        password = PasswordTokenProvider(
            system=name,
            tenant=auth.tenant,
            client_id=auth.client_id,
            scope=scope,
            username=auth.username,
            password=lambda: secrets.get(secret_name),
            secret_name=secret_name,
            authority=options.authority,
            transport=token_transport,
        )
        return PwaConnector(name, config.url, options, auth=TokenAuth(password), **extra)
    if kind == "ntlm":
        need("username", "secret")
        ntlm = NtlmAuth(auth.username, lambda: secrets.get(secret_name), secret_name=secret_name)
        return PwaConnector(name, config.url, options, auth=ntlm, **extra)
    if kind == "basic":
        need("username", "secret")
        url = httpx.URL(config.url)
        if url.scheme != "https" and url.host not in _LOOPBACK:
            raise ValueError(f"{name}: basic auth sends the password with every request: use an https:// URL")
        basic = BasicAuth(auth.username, lambda: secrets.get(secret_name))
        return PwaConnector(name, config.url, options, auth=basic, **extra)
    if kind == "none":
        return PwaConnector(name, config.url, options, **extra)
    raise ValueError(
        f"{name}: auth kind {kind!r} is not supported for PWA; use 'oauth_refresh_token' or 'user_password' "
        "(Project Online) or 'ntlm' / 'basic' (Project Server)"
    )
