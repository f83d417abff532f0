"""Error types a connector raises; the engine decides retry vs dead-letter from the type alone."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class. `message` must be actionable and must never contain a secret value."""

    retryable: bool = False

    def __init__(self, message: str, *, system: str = "", status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status = status
        self.code = code

    def __str__(self) -> str:
        where = f"{self.system}: " if self.system else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{self.message}{status}"


class TransientError(ConnectorError):
    """429, 5xx, time-outs: try again later, not before `retry_after` seconds when given."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ThrottledError(TransientError):
    """The system said 429 / "slow down"; `retry_after` carries its Retry-After."""


class VersionConflict(ConnectorError):
    """The target changed since it was read (ADO 412 on `test /rev`, Planner If-Match, PWA checkout)."""

    retryable = True


class PermanentError(ConnectorError):
    """Validation, missing field, permission: retrying cannot help; the item is dead-lettered."""


class NotFoundError(PermanentError):
    """The item does not exist (deleted, or never existed)."""


class AuthError(PermanentError):
    """Credentials were refused (401/403)."""
