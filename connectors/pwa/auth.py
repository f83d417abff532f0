"""Credentials for PWA: SharePoint Online OAuth (delegated refresh token, rotated back into the secret store,
or username/password), and Windows credentials (NTLM) for Project Server on premises.

Project Online honours no app-only token, so every mode acts as a (service) user. No secret value ever
reaches a message, a repr or a log line: each is registered with the HTTP client's redactor first.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import warnings
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from connectors.http import BearerAuth, HttpClient, Redactor, SecretSource, safe_url

log = logging.getLogger("tandem.connectors.pwa")

_EARLY = 300.0  # renew access tokens five minutes before they expire


def _secret(source: SecretSource, what: str) -> str:
    """Fetch a secret from a value or getter, mapping store failures to contract errors (never the value)."""
    if not callable(source):
        value = source
    else:
        try:
            value = source()
        except ConnectorError:
            raise
        except LookupError as exc:
            raise AuthError(f"the {what} could not be found: {exc}") from None
        except Exception as exc:
            raise TransientError(f"the {what} could not be read: {type(exc).__name__}: {exc}") from None
    if not value:
        raise AuthError(f"the {what} is empty; store it in the secret store")
    return value


class TokenAuth(BearerAuth):
    """Bearer token from a provider with `(force: bool) -> str`; a 401 forces one fresh token and a retry."""

    def __init__(self, provider: Callable[..., str]) -> None:
        super().__init__(provider)
        self.provider = provider

    def bind(self, redactor: Redactor) -> None:
        super().bind(redactor)
        bind = getattr(self.provider, "bind", None)
        if bind is not None:
            bind(redactor)

    def _token(self, force: bool) -> str:
        token = self.provider(force=force)
        self.redactor.add(token)
        return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token(False)}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self._token(True)}"
            yield request

    def __repr__(self) -> str:
        return f"TokenAuth(provider={self.provider!r})"


class _CachedToken:
    """An access token kept until five minutes before it expires."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self.redactor = Redactor()
        self.lock = threading.Lock()

    def bind(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def cached(self, force: bool) -> str | None:
        if force or self._token is None or self._clock() > self._expires - _EARLY:
            return None
        return self._token

    def keep(self, token: str, expires_in: Any) -> str:
        self.redactor.add(token)
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            seconds = 3600.0
        self._token, self._expires = token, self._clock() + seconds
        return token


class RefreshTokenProvider(_CachedToken):
    """Delegated OAuth for SharePoint Online: redeems the stored refresh token at the Entra token endpoint
    and writes the rotated refresh token back to the secret store before using the new access token.

    The refresh token is read from the store on every renewal, so a rotation by another instance is seen.
    """

    def __init__(
        self,
        *,
        system: str,
        tenant: str,
        client_id: str,
        scope: str,
        get_refresh_token: Callable[[], str],
        set_refresh_token: Callable[[str], None],
        secret_name: str = "",
        client_secret: SecretSource | None = None,
        authority: str = "https://login.microsoftonline.com",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(clock)
        self.system = system
        self.tenant = tenant
        self.client_id = client_id
        self.scope = scope
        self.secret_name = secret_name
        self._get = get_refresh_token
        self._set = set_refresh_token
        self._client_secret = client_secret
        self.token_url = f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        self.http = HttpClient(system=system, transport=transport, timeout=timeout)
        self.redactor = self.http.redactor

    def bind(self, redactor: Redactor) -> None:
        # Share one redactor: the token client's errors and the PWA client's both mask every value.
        self.redactor = redactor
        self.http.redactor = redactor

    def __repr__(self) -> str:
        return f"RefreshTokenProvider(tenant={self.tenant!r}, client_id={self.client_id!r})"

    def __call__(self, force: bool = False) -> str:
        with self.lock:
            token = self.cached(force)
            if token is not None:
                return token
            refresh_token = _secret(self._get, f"refresh token '{self.secret_name}'")
            self.redactor.add(refresh_token)
            form = {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "refresh_token": refresh_token,
                "scope": f"{self.scope} offline_access",
            }
            if self._client_secret is not None:
                secret = _secret(self._client_secret, "client secret")
                self.redactor.add(secret)
                form["client_secret"] = secret
            body = self._post(form)
            access = body.get("access_token") if isinstance(body, dict) else None
            if not access:
                raise AuthError(
                    f"{safe_url(self.token_url)} answered without an access token", system=self.system
                )
            rotated = body.get("refresh_token")
            if rotated and rotated != refresh_token:
                self.redactor.add(rotated)
                try:
                    self._set(rotated)
                except Exception as exc:
                    # The old token usually stays valid for a while; the next renewal tries again.
                    log.warning(
                        "could not store the rotated refresh token in secret '%s': %s",
                        self.secret_name,
                        self.redactor.redact(f"{type(exc).__name__}: {exc}"),
                    )
                else:
                    log.info("stored the rotated refresh token in secret '%s'", self.secret_name)
            return self.keep(str(access), body.get("expires_in"))

    def _post(self, form: dict[str, str]) -> Any:
        try:
            response = self.http.request(
                "POST",
                self.token_url,
                content=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except AuthError:
            raise
        except PermanentError as exc:
            # invalid_grant: expired, revoked or replaced by a password change / CA policy.
            raise AuthError(
                self.redactor.redact(
                    f"the refresh token in secret '{self.secret_name}' was refused: {exc.message}. "
                    "Sign in once more as the service account (authorization code flow with offline_access "
                    f"for {self.scope}) and store the new refresh token in that secret"
                ),
                system=self.system,
                status=exc.status,
            ) from None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{safe_url(self.token_url)} returned a body that is not JSON", system=self.system
            ) from None


class MsalHttpClient:
    """The `http_client` MSAL expects (`get`/`post` returning responses), over an httpx transport."""

    def __init__(self, transport: httpx.BaseTransport | None = None, timeout: float = 30.0) -> None:
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self._client.get(url, params=params, headers=headers)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> httpx.Response:
        return self._client.post(url, params=params, data=data, headers=headers)

    def close(self) -> None:
        self._client.close()


class PasswordTokenProvider(_CachedToken):
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
            password = _secret(self._password, f"password in secret '{self.secret_name}'")
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

    def _secret(self, refresh: bool = False) -> str:
        if self._cached is None or refresh:
            self._cached = _secret(self._password, f"password in secret '{self.secret_name}'")
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
            password = self._secret(refresh=attempt == 1)
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
            if _secret(self._password, "password") == password:
                return
