"""OAuth access tokens for the Microsoft connectors (PWA, Planner), shared so each flow exists once.

- `RefreshTokenProvider`: delegated; redeems the stored refresh token and writes the rotated one back to the
  secret store before the new access token is used.
- `ClientCredentialsProvider`: app-only with a client secret (the v2.0 token endpoint's client_credentials
  grant), for APIs that honour application permissions (Graph `Tasks.ReadWrite.All`).
- `EntraTokenProvider`: an azure-identity credential (managed identity, `DefaultAzureCredential`).
- `TokenAuth`: httpx auth from any of them; a 401 forces one fresh token and a retry.

No secret value ever reaches a message, a repr or a log line: each is registered with the redactor first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from connectors.http import BearerAuth, HttpClient, Redactor, SecretSource, safe_url

log = logging.getLogger("tandem.connectors.oauth")

_EARLY = 300.0  # renew access tokens five minutes before they expire


def secret_value(source: SecretSource, what: str) -> str:
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


class CachedToken:
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


class TokenEndpointProvider(CachedToken):
    """Common part of the flows that post a form to the Entra v2.0 token endpoint of one tenant."""

    grant = ""

    def __init__(
        self,
        *,
        system: str,
        tenant: str,
        client_id: str,
        scope: str,
        secret_name: str = "",
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
        self.token_url = f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        self.http = HttpClient(system=system, transport=transport, timeout=timeout)
        self.redactor = self.http.redactor

    def bind(self, redactor: Redactor) -> None:
        # Share one redactor: the token client's errors and the API client's both mask every value.
        self.redactor = redactor
        self.http.redactor = redactor

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tenant={self.tenant!r}, client_id={self.client_id!r})"

    def refused(self, message: str) -> str:
        """What to do when the token endpoint refuses the grant (invalid_grant, invalid_client…)."""
        return f"the token request was refused: {message}"

    def _post(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = self.http.request(
                "POST",
                self.token_url,
                content=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except PermanentError as exc:  # AuthError included: Entra answers invalid_client with 401
            raise AuthError(
                self.redactor.redact(self.refused(exc.message)), system=self.system, status=exc.status
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"{safe_url(self.token_url)} returned a body that is not JSON", system=self.system
            ) from None
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError(
                f"{safe_url(self.token_url)} answered without an access token", system=self.system
            )
        return body


class RefreshTokenProvider(TokenEndpointProvider):
    """Delegated OAuth: redeems the stored refresh token at the Entra token endpoint and writes the rotated
    refresh token back to the secret store before using the new access token.

    The refresh token is read from the store on every renewal, so a rotation by another instance is seen.
    """

    def __init__(
        self,
        *,
        get_refresh_token: Callable[[], str],
        set_refresh_token: Callable[[str], None],
        client_secret: SecretSource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._get = get_refresh_token
        self._set = set_refresh_token
        self._client_secret = client_secret

    def refused(self, message: str) -> str:
        # invalid_grant: expired, revoked or replaced by a password change / CA policy.
        return (
            f"the refresh token in secret '{self.secret_name}' was refused: {message}. "
            "Sign in once more as the service account (authorization code flow with offline_access "
            f"for {self.scope}) and store the new refresh token in that secret"
        )

    def __call__(self, force: bool = False) -> str:
        with self.lock:
            token = self.cached(force)
            if token is not None:
                return token
            refresh_token = secret_value(self._get, f"refresh token '{self.secret_name}'")
            self.redactor.add(refresh_token)
            form = {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "refresh_token": refresh_token,
                "scope": f"{self.scope} offline_access",
            }
            if self._client_secret is not None:
                secret = secret_value(self._client_secret, "client secret")
                self.redactor.add(secret)
                form["client_secret"] = secret
            body = self._post(form)
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
            return self.keep(str(body["access_token"]), body.get("expires_in"))


class ClientCredentialsProvider(TokenEndpointProvider):
    """App-only OAuth with a client secret (`client_credentials`); `scope` is the API's `/.default`.

    The secret is read from the store on every renewal, so a rotated client secret is picked up.
    """

    def __init__(self, *, client_secret: SecretSource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client_secret = client_secret

    def refused(self, message: str) -> str:
        return (
            f"the client secret in secret '{self.secret_name}' was refused for app {self.client_id}: "
            f"{message}. Check the secret has not expired and that the app has the application "
            f"permissions {self.scope} needs, with admin consent"
        )

    def __call__(self, force: bool = False) -> str:
        with self.lock:
            token = self.cached(force)
            if token is not None:
                return token
            secret = secret_value(self._client_secret, f"client secret '{self.secret_name}'")
            self.redactor.add(secret)
            body = self._post(
                {
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": secret,
                    "scope": self.scope,
                }
            )
            return self.keep(str(body["access_token"]), body.get("expires_in"))


class EntraTokenProvider:
    """An access token from an azure-identity credential (managed identity, `DefaultAzureCredential`),
    cached until five minutes before it expires; azure-identity is imported only when first needed."""

    def __init__(
        self,
        credential: Any | None = None,
        *,
        scope: str,
        client_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._client_id = client_id  # a user-assigned managed identity's client id
        self._scope = scope
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def _get_credential(self) -> Any:
        if self._credential is None:
            # Lazy: importing azure.identity costs ~0.5 s and is not needed by the other kinds.
            from azure.identity import DefaultAzureCredential

            kwargs = {"managed_identity_client_id": self._client_id} if self._client_id else {}
            self._credential = DefaultAzureCredential(**kwargs)
        return self._credential

    def __call__(self, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or self._clock() > self._expires_on - _EARLY:
                access = self._get_credential().get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scope={self._scope!r})"


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
