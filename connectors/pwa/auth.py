"""Credentials for PWA: SharePoint Online OAuth (delegated refresh token, rotated back into the secret store,
or username/password), and Windows credentials (NTLM) for Project Server on premises.

Project Online honours no app-only token, so every mode acts as a (service) user. No secret value ever
reaches a message, a repr or a log line: each is registered with the HTTP client's redactor first.
"""

from __future__ import annotations

import base64
import logging
import time
import warnings
from collections.abc import Callable, Generator
from typing import Any

import httpx

from connectors.errors import AuthError, TransientError
from connectors.http import Redactor, SecretSource
from connectors.oauth import (
    CachedToken,
    MsalHttpClient,
    RefreshTokenProvider,
    TokenAuth,
    secret_value,
)

__all__ = ["NtlmAuth", "PasswordTokenProvider", "RefreshTokenProvider", "TokenAuth"]

log = logging.getLogger("tandem.connectors.pwa")


class PasswordTokenProvider(CachedToken):
    """SharePoint Online with a user name and password (OAuth ROPC through MSAL).

    Works only for cloud accounts without MFA; federated (ADFS) accounts and MFA policies refuse it.
    """

    def __init__(
        self,
        *,
        system: str,
        tenant: str,
        client_id: str,
        scope: str,
        username: str,
        password: SecretSource,
        secret_name: str = "",
        authority: str = "https://login.microsoftonline.com",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        app: Any = None,
    ) -> None:
        super().__init__(clock)
        self.system = system
        self.username = username
        self.scope = scope
        self.secret_name = secret_name
        self._password = password
        self._authority = f"{authority.rstrip('/')}/{tenant}"
        self._client_id = client_id
        self._transport = transport
        self._app = app

    def __repr__(self) -> str:
        return f"PasswordTokenProvider(username={self.username!r}, password='***')"

    def _application(self) -> Any:
        if self._app is None:
            import msal  # lazy: only this mode needs it

            kwargs: dict[str, Any] = {"authority": self._authority}
            if self._transport is not None:
                kwargs.update(http_client=MsalHttpClient(self._transport), instance_discovery=False)
            self._app = msal.PublicClientApplication(self._client_id, **kwargs)
        return self._app

    def __call__(self, force: bool = False) -> str:
        with self.lock:
            token = self.cached(force)
            if token is not None:
                return token
            password = secret_value(self._password, f"password in secret '{self.secret_name}'")
            self.redactor.add(password)
            try:
                if self._authority.startswith("https://"):
                    with warnings.catch_warnings():
                        # MSAL flags ROPC as legacy; it is this connection mode's documented purpose.
                        warnings.simplefilter("ignore", DeprecationWarning)
                        result = self._application().acquire_token_by_username_password(
                            self.username, password, scopes=[self.scope]
                        )
                else:
                    result = self._plain_grant(password)
            except (httpx.HTTPError, OSError, ValueError) as exc:
                raise TransientError(
                    self.redactor.redact(f"the token request for {self.username} failed: {exc}"),
                    system=self.system,
                ) from None
            if not isinstance(result, dict) or "access_token" not in result:
                error = (result or {}).get("error", "unknown_error") if isinstance(result, dict) else "?"
                described = (result or {}).get("error_description", "") if isinstance(result, dict) else ""
                first_line = str(described).splitlines()[0] if described else ""
                raise AuthError(
                    self.redactor.redact(
                        f"sign-in of {self.username} with a password was refused ({error}: {first_line}). "
                        f"Check the password in secret '{self.secret_name}'; the account must be a cloud "
                        "account without MFA, and the app registration must allow public client flows"
                    ),
                    system=self.system,
                )
            return self.keep(str(result["access_token"]), result.get("expires_in"))

    def _plain_grant(self, password: str) -> Any:
        """The same password grant without MSAL, for a plain-HTTP authority (a local stand-in of Entra).

        MSAL insists on https authorities; everything it adds (realm discovery, WS-Trust for federated
        accounts) has no stand-in locally.
        """
        with httpx.Client(transport=self._transport, timeout=30.0) as client:
            response = client.post(
                f"{self._authority}/oauth2/v2.0/token",
                data={
                    "grant_type": "password",
                    "client_id": self._client_id,
                    "username": self.username,
                    "password": password,
                    "scope": f"{self.scope} offline_access",
                },
            )
        try:
            return response.json()
        except ValueError:
            return {"error": f"HTTP {response.status_code}", "error_description": "not JSON"}


class NtlmAuth(httpx.Auth):
    """Windows (NTLM) credentials for Project Server on premises, through pyspnego (pure Python).

    The handshake runs on the connection that answered 401: negotiate → challenge → authenticate.
    Extended Protection (channel binding) is not sent; servers that require it refuse the handshake.
    """

    def __init__(self, username: str, password: SecretSource, *, secret_name: str = "") -> None:
        self.username = username
        self.secret_name = secret_name
        self._password = password
        self._cached: str | None = None
        self.redactor = Redactor()

    def bind(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def __repr__(self) -> str:
        return f"NtlmAuth(username={self.username!r}, password='***')"

    def secret_value(self, refresh: bool = False) -> str:
        if self._cached is None or refresh:
            self._cached = secret_value(self._password, f"password in secret '{self.secret_name}'")
            self.redactor.add(self._cached)
        return self._cached

    @staticmethod
    def _offered(response: httpx.Response) -> str | None:
        schemes = [v.split(" ", 1)[0].strip().lower() for v in response.headers.get_list("WWW-Authenticate")]
        schemes = [s for part in schemes for s in part.split(",")]
        if "ntlm" in schemes:
            return "NTLM"
        if "negotiate" in schemes:
            return "Negotiate"
        return None

    @staticmethod
    def _challenge(response: httpx.Response, scheme: str) -> bytes | None:
        for value in response.headers.get_list("WWW-Authenticate"):
            for part in value.split(","):
                head, _, token = part.strip().partition(" ")
                if head.lower() == scheme.lower() and token.strip():
                    try:
                        return base64.b64decode(token.strip())
                    except ValueError:
                        return None
        return None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401:
            return
        scheme = self._offered(response)
        if scheme is None:
            return
        import spnego  # lazy: only on-premises connections need it

        for attempt in (0, 1):
            password = self.secret_value(refresh=attempt == 1)
            context = spnego.client(
                self.username, password, hostname=request.url.host, service="http", protocol="ntlm"
            )
            negotiate = context.step()
            request.headers["Authorization"] = f"{scheme} {base64.b64encode(negotiate or b'').decode()}"
            response = yield request
            challenge = self._challenge(response, scheme)
            if response.status_code != 401 or challenge is None:
                return
            authenticate = context.step(challenge)
            request.headers["Authorization"] = f"{scheme} {base64.b64encode(authenticate or b'').decode()}"
            response = yield request
            if response.status_code != 401 or not callable(self._password):
                return
            # Refused: the password may have been rotated in the store; try once with a fresh copy.
            if secret_value(self._password, "password") == password:
                return
