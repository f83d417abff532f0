"""PWA credentials: refresh-token rotation into the secret store, ROPC through MSAL, NTLM through pyspnego,
the factory's auth kinds, and redaction of every secret (canary values) in errors and logs."""

from __future__ import annotations

import base64
import logging
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.errors import AuthError, TransientError
from connectors.pwa import PwaConnector
from connectors.pwa.auth import NtlmAuth
from connectors.pwa.factory import build, default_scope
from tests.connectors.pwa_fakes import BASE, FakePwa

CANARY_RT = "canaryRT-0123456789-abcdefghijklmnopqrstuvwxyz"
CANARY_RT2 = "canaryRT2-9876543210-zyxwvutsrqponmlkjihgfedcba"
CANARY_AT = "canaryAT-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
CANARY_PW = "canaryPassword-123456789!"
TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "c1c1c1c1-0000-0000-0000-000000000001"


class Secrets:
    def __init__(self, **values: str) -> None:
        self.values = dict(values)
        self.sets: list[tuple[str, str]] = []

    def get(self, name: str) -> str:
        if name not in self.values:
            raise LookupError(f"secret '{name}' is not set")
        return self.values[name]

    def set(self, name: str, value: str) -> None:
        self.sets.append((name, value))
        self.values[name] = value


def config(kind: str, **auth: Any) -> SimpleNamespace:
    return SimpleNamespace(
        url=BASE, auth=SimpleNamespace(kind=kind, **auth), options={"time_zone": "Europe/Berlin"}
    )


class TokenEndpoint:
    """Entra's token endpoint: rotates the refresh token on every redeem."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.issued = 0
        self.refuse = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.forms.append(form)
        if self.refuse:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "AADSTS70008: The refresh token has expired. "
                    + form["refresh_token"][0],
                },
            )
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "token_type": "Bearer",
                "expires_in": 3600,
                "access_token": f"{CANARY_AT}-{self.issued}",
                "refresh_token": CANARY_RT2 if self.issued == 1 else f"{CANARY_RT2}-{self.issued}",
            },
        )


def bearer_pwa(fake: FakePwa, accepted: set[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in accepted:
            return httpx.Response(401, json={"error_description": "Invalid JWT token."})
        return fake(request)

    return httpx.MockTransport(handler)


def test_refresh_token_is_redeemed_and_the_rotated_one_written_back() -> None:
    endpoint, fake = TokenEndpoint(), FakePwa()
    secrets = Secrets(**{"pwa-rt": CANARY_RT})
    conn = build(
        "pwa",
        config("oauth_refresh_token", client_id=CLIENT_ID, tenant=TENANT, secret="pwa-rt"),
        secrets,
        transport=bearer_pwa(fake, {f"{CANARY_AT}-1", f"{CANARY_AT}-2"}),
        token_transport=httpx.MockTransport(endpoint),
    )
    assert isinstance(conn, PwaConnector)
    conn.list_projects()
    conn.list_projects(refresh=True)
    (form,) = endpoint.forms  # the access token is reused
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == [CANARY_RT]
    assert form["client_id"] == [CLIENT_ID]
    assert form["scope"] == ["https://contoso.sharepoint.com/.default offline_access"]
    assert secrets.sets == [("pwa-rt", CANARY_RT2)]
    assert secrets.values["pwa-rt"] == CANARY_RT2


def test_a_401_forces_one_renewal_with_the_rotated_token() -> None:
    endpoint, fake = TokenEndpoint(), FakePwa()
    secrets = Secrets(**{"pwa-rt": CANARY_RT})
    conn = build(
        "pwa",
        config("oauth_refresh_token", client_id=CLIENT_ID, tenant=TENANT, secret="pwa-rt"),
        secrets,
        transport=bearer_pwa(fake, {f"{CANARY_AT}-2"}),  # the first access token is "revoked"
        token_transport=httpx.MockTransport(endpoint),
    )
    conn.list_projects()
    assert [f["refresh_token"] for f in endpoint.forms] == [[CANARY_RT], [CANARY_RT2]]
    assert secrets.values["pwa-rt"] == f"{CANARY_RT2}-2"


def test_refused_refresh_token_is_an_auth_error_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = TokenEndpoint()
    endpoint.refuse = True
    conn = build(
        "pwa",
        config("oauth_refresh_token", client_id=CLIENT_ID, tenant=TENANT, secret="pwa-rt"),
        Secrets(**{"pwa-rt": CANARY_RT}),
        transport=FakePwa().transport,
        token_transport=httpx.MockTransport(endpoint),
    )
    with pytest.raises(AuthError) as raised:
        conn.list_projects()
    text = str(raised.value)
    assert "secret 'pwa-rt'" in text and "AADSTS70008" in text
    assert CANARY_RT not in text
    assert CANARY_RT not in caplog.text


def test_missing_refresh_token_secret_is_an_auth_error() -> None:
    conn = build(
        "pwa",
        config("oauth_refresh_token", client_id=CLIENT_ID, tenant=TENANT, secret="pwa-rt"),
        Secrets(),
        transport=FakePwa().transport,
        token_transport=httpx.MockTransport(TokenEndpoint()),
    )
    with pytest.raises(AuthError, match="pwa-rt"):
        conn.list_projects()


def test_secrets_echoed_by_the_server_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = TokenEndpoint()

    def echo(request: httpx.Request) -> httpx.Response:
        # A misbehaving proxy that echoes the request headers into its error page.
        return httpx.Response(
            500, text=f"upstream failed for {request.headers['Authorization']} {CANARY_RT2}"
        )

    conn = build(
        "pwa",
        config("oauth_refresh_token", client_id=CLIENT_ID, tenant=TENANT, secret="pwa-rt"),
        Secrets(**{"pwa-rt": CANARY_RT}),
        transport=httpx.MockTransport(echo),
        token_transport=httpx.MockTransport(endpoint),
    )
    with pytest.raises(TransientError) as raised:
        conn.list_projects()
    for canary in (CANARY_AT, CANARY_RT, CANARY_RT2):
        assert canary not in str(raised.value)
        assert canary not in caplog.text
        assert canary not in repr(conn) + repr(conn.http)


# --- user credentials (ROPC through MSAL) --------------------------------------------------------


def test_user_password_signs_in_through_msal_without_leaking_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    authority = f"https://login.microsoftonline.com/{TENANT}"
    seen: list[str] = []

    def entra(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{authority}/oauth2/v2.0/token",
                    "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
                },
            )
        if "/userrealm/" in request.url.path:
            return httpx.Response(200, json={"account_type": "Managed", "ver": "1.0"})
        if request.url.path.endswith("/oauth2/v2.0/token"):
            form = parse_qs(request.content.decode())
            assert form["grant_type"] == ["password"] and form["password"] == [CANARY_PW]
            assert "https://contoso.sharepoint.com/.default" in form["scope"][0]
            return httpx.Response(
                200, json={"token_type": "Bearer", "expires_in": 3600, "access_token": CANARY_AT}
            )
        return httpx.Response(404)

    fake = FakePwa()
    conn = build(
        "pwa",
        config("user_password", client_id=CLIENT_ID, tenant=TENANT, username="sync@contoso.com", secret="pw"),
        Secrets(pw=CANARY_PW),
        transport=bearer_pwa(fake, {CANARY_AT}),
        token_transport=httpx.MockTransport(entra),
    )
    conn.list_projects()
    assert any(s.endswith("/oauth2/v2.0/token") for s in seen)
    assert CANARY_PW not in caplog.text and CANARY_AT not in caplog.text


# --- Windows credentials (NTLM) ------------------------------------------------------------------


def test_ntlm_handshake_against_a_pyspnego_server(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    spnego = pytest.importorskip("spnego")
    users = tmp_path / "ntlm-users"
    users.write_text(f"CONTOSO:tandem:{CANARY_PW}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    server: dict[str, Any] = {}
    fake = FakePwa()
    rounds: list[str] = []

    def iis(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("NTLM "):
            rounds.append("anonymous")
            return httpx.Response(
                401, headers=[("WWW-Authenticate", "NTLM"), ("WWW-Authenticate", "Negotiate")]
            )
        token = base64.b64decode(header[5:])
        if "ctx" not in server or server["ctx"].complete:
            server["ctx"] = spnego.server(protocol="ntlm")
        answer = server["ctx"].step(token)
        if not server["ctx"].complete:
            rounds.append("challenge")
            return httpx.Response(
                401, headers={"WWW-Authenticate": "NTLM " + base64.b64encode(answer).decode()}
            )
        rounds.append(f"authenticated as {server['ctx'].client_principal}")
        return fake(request)

    conn = build(
        "pwa-onprem",
        SimpleNamespace(
            url="https://pwa.contoso.local/pwa",
            auth=SimpleNamespace(kind="ntlm", username="CONTOSO\\tandem", secret="pwa-pw"),
            options={},
        ),
        Secrets(**{"pwa-pw": CANARY_PW}),
        transport=httpx.MockTransport(iis),
    )
    assert isinstance(conn.http._client.auth, NtlmAuth)
    conn.list_projects()
    assert rounds == ["anonymous", "challenge", "authenticated as CONTOSO\\tandem"]
    assert CANARY_PW not in repr(conn.http._client.auth)


def test_ntlm_wrong_password_is_an_auth_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    spnego = pytest.importorskip("spnego")
    users = tmp_path / "ntlm-users"
    users.write_text("CONTOSO:tandem:the-right-one\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    state: dict[str, Any] = {}

    def iis(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("NTLM "):
            return httpx.Response(401, headers={"WWW-Authenticate": "NTLM"})
        if "ctx" not in state or state.get("done"):
            state["ctx"], state["done"] = spnego.server(protocol="ntlm"), False
        try:
            answer = state["ctx"].step(base64.b64decode(header[5:]))
        except Exception:
            state["done"] = True
            return httpx.Response(401, headers={"WWW-Authenticate": "NTLM"})
        return httpx.Response(401, headers={"WWW-Authenticate": "NTLM " + base64.b64encode(answer).decode()})

    conn = PwaConnector(
        "pwa-onprem",
        "https://pwa.contoso.local/pwa",
        auth=NtlmAuth("CONTOSO\\tandem", CANARY_PW),
        transport=httpx.MockTransport(iis),
    )
    with pytest.raises(AuthError) as raised:
        conn.list_projects()
    assert CANARY_PW not in str(raised.value)


# --- factory -------------------------------------------------------------------------------------


def test_factory_kinds_and_their_requirements() -> None:
    secrets = Secrets(pw=CANARY_PW)
    with pytest.raises(ValueError, match="client_id, tenant"):
        build("pwa", config("oauth_refresh_token", secret="rt"), secrets)
    with pytest.raises(ValueError, match="https"):
        build(
            "pwa",
            SimpleNamespace(
                url="http://pwa.contoso.local/pwa",
                auth=SimpleNamespace(kind="basic", username="CONTOSO\\tandem", secret="pw"),
                options={},
            ),
            secrets,
        )
    with pytest.raises(ValueError, match="not supported for PWA"):
        build("pwa", config("pat", secret="pw"), secrets)
    with pytest.raises(ValueError, match="time zone"):
        build(
            "pwa",
            SimpleNamespace(
                url=BASE, auth=SimpleNamespace(kind="none"), options={"time_zone": "Mars/Olympus"}
            ),
            secrets,
        )
    assert (
        default_scope("https://contoso.sharepoint.com/sites/pwa") == "https://contoso.sharepoint.com/.default"
    )


def test_registry_builds_a_pwa_connection_from_config() -> None:
    from sync.config import ConnectionConfig

    cfg = ConnectionConfig.model_validate(
        {
            "type": "pwa",
            "url": BASE,
            "auth": {
                "kind": "oauth_refresh_token",
                "client_id": CLIENT_ID,
                "tenant": TENANT,
                "secret": "pwa-rt",
            },
            "options": {"time_zone": "Europe/Berlin", "allow_manual_mode": False},
        }
    )
    conn = build("pwa", cfg, Secrets(**{"pwa-rt": CANARY_RT}))
    assert conn.options.allow_manual_mode is False and conn.options.time_zone == "Europe/Berlin"
    assert CANARY_RT not in repr(conn)
