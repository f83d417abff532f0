"""With Microsoft Entra sign-in in front of the admin API, `tandem` sends a bearer token for the scope in
TANDEM_SIGN_IN_SCOPE beside the function key (and says what to do when it cannot get one)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tandem import client
from tandem.client import AdminApi, CliError, resolve_target


def test_the_admin_client_sends_a_bearer_token_when_sign_in_is_configured(monkeypatch) -> None:
    sent: list[httpx.Request] = []

    def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        sent.append(httpx.Request(method, url, headers=kwargs.get("headers")))
        return httpx.Response(200, json={"scenario": "s"})

    monkeypatch.setattr(httpx, "request", request)
    monkeypatch.setenv(client.SIGN_IN_SCOPE, "api://1111-2222/.default")
    monkeypatch.setattr(client, "sign_in_token", lambda s: (lambda: f"token-for-{s}") if s else None)
    target = resolve_target("https://tandem.example/api", "function-key", None)
    assert isinstance(target, AdminApi)
    target.status("s")
    assert sent[0].headers["Authorization"] == "Bearer token-for-api://1111-2222/.default"
    assert sent[0].headers["x-functions-key"] == "function-key"

    monkeypatch.delenv(client.SIGN_IN_SCOPE)
    sent.clear()
    resolve_target("https://tandem.example/api", "function-key", None).status("s")
    assert "Authorization" not in sent[0].headers


def test_no_scope_no_token_and_a_failed_sign_in_is_a_clear_error(monkeypatch) -> None:
    assert client.sign_in_token("") is None

    class NoCredential:
        def get_token(self, *scopes: str) -> Any:
            raise RuntimeError("Please run 'az login' to set up an account")

    import azure.identity

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", NoCredential)
    token = client.sign_in_token("api://1111-2222/.default")
    assert token is not None
    with pytest.raises(CliError) as exc:
        token()
    assert "TANDEM_SIGN_IN_SCOPE" in str(exc.value) and "az login" in str(exc.value)
