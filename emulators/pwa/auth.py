"""Who is calling: SharePoint Online bearer tokens (plus an Entra token endpoint stand-in with refresh
token rotation and the password grant), the on-premises stand-in (HTTP Basic with the Windows account),
and form digests bound to a user and their expiry."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from emulators.common import Clock
from emulators.pwa.model import User

Flavor = Literal["online", "server"]
SHAREPOINT_PRINCIPAL = "00000003-0000-0ff1-ce00-000000000000"


class AuthFailure(Exception):
    """401: `reason` goes into the online error body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NtlmChallenge(Exception):
    """401 carrying the server's NTLM challenge (type 2 message) for the connection."""

    def __init__(self, scheme: str, token: bytes) -> None:
        super().__init__("NTLM challenge")
        self.scheme = scheme
        self.token = token


class NtlmAcceptor:
    """The server side of NTLM through pyspnego, for the on-premises flavor. pyspnego reads acceptor
    credentials from the file named by ``NTLM_USER_FILE``, so each handshake step writes the users with a
    password to a temporary file and points the variable at it only while the step runs (under a
    process-wide lock). Like IIS, a connection stays authenticated after a successful handshake."""

    _env_lock = threading.Lock()

    def __init__(self) -> None:
        self._pending: dict[Any, Any] = {}
        self.connections: dict[Any, User] = {}

    @staticmethod
    def _store_text(users: list[User]) -> str:
        lines = []
        for user in users:
            if user.password is None:
                continue
            domain, _, name = user.account.rpartition("\\")
            lines.append(f"{domain}:{name}:{user.password}")
            lines.append(f":{name}:{user.password}")
        return "\n".join(lines) + "\n"

    def _with_store(self, users: list[User], action: Any) -> Any:
        with self._env_lock:
            handle, path = tempfile.mkstemp(prefix="pwa-emulator-", suffix=".ntlm")
            previous = os.environ.get("NTLM_USER_FILE")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as store:
                    store.write(self._store_text(users))
                os.environ["NTLM_USER_FILE"] = path
                return action()
            finally:
                if previous is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = previous
                os.unlink(path)

    def step(self, connection: Any, scheme: str, token: bytes, users: list[User]) -> User:
        """Answer a type 1 message with a challenge (raises NtlmChallenge) or check a type 3 message."""
        import spnego
        from spnego.exceptions import SpnegoError

        message_type = int.from_bytes(token[8:12], "little") if len(token) >= 12 else 0
        if message_type == 1:
            context = self._with_store(users, lambda: spnego.server(protocol="ntlm"))
            challenge = self._with_store(users, lambda: context.step(token))
            self._pending[connection] = context
            self.connections.pop(connection, None)
            raise NtlmChallenge(scheme, challenge or b"")
        context = self._pending.pop(connection, None)
        if message_type != 3 or context is None:
            raise AuthFailure("NTLM handshake out of order")
        try:
            self._with_store(users, lambda: context.step(token))
        except SpnegoError as exc:
            raise AuthFailure("Invalid user name or password") from exc
        principal = str(context.client_principal or "").lower()
        for user in users:
            names = {user.account.lower(), user.account.rpartition("\\")[2].lower()}
            if principal in names or principal.rpartition("\\")[2] in names:
                self.connections[connection] = user
                return user
        raise AuthFailure("Unknown Windows account")


class GrantError(Exception):
    """400 from the token endpoint (Entra's error shape)."""

    def __init__(self, error: str, description: str, code: int) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": self.description,
            "error_codes": [self.code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": secrets.token_hex(16),
            "correlation_id": secrets.token_hex(16),
        }


@dataclass
class IssuedToken:
    user: User
    expires: float | None  # emulator-clock timestamp; None = never


@dataclass
class AuthService:
    flavor: Flavor
    clock: Clock
    tenant: str
    client_id: str
    token_lifetime: int = 3599
    ntlm: NtlmAcceptor | None = None
    access_tokens: dict[str, IssuedToken] = field(default_factory=dict)
    refresh_tokens: dict[str, User] = field(default_factory=dict)
    digests: dict[str, tuple[User, float]] = field(default_factory=dict)

    # --- requests -------------------------------------------------------------------------------

    def authenticate(self, header: str, users: list[User], connection: Any = None) -> tuple[User, bool]:
        """The caller and whether it used a bearer token; raises AuthFailure (or NtlmChallenge)."""
        scheme, _, value = header.partition(" ")
        original_scheme = scheme
        scheme = scheme.lower()
        value = value.strip()
        if self.flavor == "server" and self.ntlm is not None:
            if scheme in ("ntlm", "negotiate") and value:
                try:
                    token = base64.b64decode(value, validate=True)
                except binascii.Error as exc:
                    raise AuthFailure("Malformed NTLM token") from exc
                return self.ntlm.step(connection, original_scheme, token, users), False
            if not header and connection in self.ntlm.connections:
                return self.ntlm.connections[connection], False
        if self.flavor == "online":
            if scheme != "bearer" or not value:
                raise AuthFailure("Invalid JWT token. No token was presented.")
            issued = self.access_tokens.get(value)
            if issued is None:
                raise AuthFailure("Invalid issuer or signature.")
            if issued.expires is not None and self.clock.timestamp() >= issued.expires:
                raise AuthFailure("Invalid JWT token. The token is expired.")
            return issued.user, True
        if scheme != "basic":
            raise AuthFailure("Windows authentication required")
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthFailure("Malformed basic credentials") from exc
        name, _, password = decoded.partition(":")
        for user in users:
            names = {user.account.lower(), user.email.lower()}
            if "\\" in user.account:
                names.add(user.account.split("\\", 1)[1].lower())
            if name.lower() in names and user.password is not None and password == user.password:
                return user, False
        raise AuthFailure("Invalid user name or password")

    def add_access_token(self, token: str, user: User, lifetime: float | None = None) -> None:
        expires = None if lifetime is None else self.clock.timestamp() + lifetime
        self.access_tokens[token] = IssuedToken(user, expires)

    # --- the Entra stand-in ---------------------------------------------------------------------

    def grant(self, form: dict[str, str], users: list[User]) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        scope = form.get("scope") or f"https://{self.tenant}.sharepoint.com/.default offline_access"
        if grant_type == "refresh_token":
            token = form.get("refresh_token", "")
            user = self.refresh_tokens.get(token)
            if user is None:
                raise GrantError(
                    "invalid_grant",
                    "AADSTS70000: Provided grant is invalid or malformed. The refresh token was revoked or "
                    "has expired.",
                    70000,
                )
        elif grant_type == "password":
            name = form.get("username", "").lower()
            password = form.get("password", "")
            user = next((u for u in users if u.email.lower() == name), None)
            if user is None or user.password is None or user.password != password:
                raise GrantError(
                    "invalid_grant",
                    "AADSTS50126: Error validating credentials due to invalid username or password.",
                    50126,
                )
        elif grant_type == "client_credentials":
            raise GrantError(
                "unsupported_grant_type",
                "AADSTS70003: App-only access is not supported by Project Online; use a delegated grant.",
                70003,
            )
        else:
            raise GrantError(
                "unsupported_grant_type",
                f"AADSTS70003: The grant type '{grant_type}' is not supported.",
                70003,
            )
        if form.get("client_id") and form["client_id"] != self.client_id:
            raise GrantError(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form['client_id']}' was not found in the "
                f"directory '{self.tenant}'.",
                700016,
            )
        access = "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(32)
        refresh = "0.AR" + secrets.token_urlsafe(48)
        self.add_access_token(access, user, self.token_lifetime)
        self.refresh_tokens[refresh] = user
        return {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
        }

    def revoke(self, token: str) -> bool:
        return (
            self.refresh_tokens.pop(token, None) is not None
            or self.access_tokens.pop(token, None) is not None
        )

    # --- form digests ---------------------------------------------------------------------------

    def issue_digest(self, user: User, timeout: int) -> str:
        now = self.clock.now()
        value = "0x" + secrets.token_hex(64).upper() + "," + now.strftime("%d %b %Y %H:%M:%S -0000")
        self.digests[value] = (user, self.clock.timestamp() + timeout)
        return value

    def digest_valid(self, value: str | None, user: User) -> bool:
        if not value:
            return False
        entry = self.digests.get(value.strip())
        if entry is None:
            return False
        owner, expires = entry
        return owner is user and self.clock.timestamp() < expires
