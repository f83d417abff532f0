"""SharePoint/Project Server error responses: ``{"error": {"code": "<n>, <Type>", "message": {"lang",
"value"}}}`` (verbose) or the same under ``odata.error`` (JSON light), with the codes PWA uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PS_EXCEPTION = "Microsoft.ProjectServer.PJClientCallableException"
NOT_FOUND = "Microsoft.SharePoint.Client.ResourceNotFoundException"
INVALID_QUERY = "Microsoft.SharePoint.Client.InvalidClientQueryException"
SP_EXCEPTION = "Microsoft.SharePoint.SPException"
UNAUTHORIZED = "System.UnauthorizedAccessException"

DIGEST_MESSAGE = (
    "The security validation for this page is invalid and might be corrupted. "
    "Please use your web browser's Back button to try your operation again."
)

# Project Server error ids (PSErrorID) the emulator raises.
PS_ERRORS: dict[str, int] = {
    "CICOCheckedOutToOtherUser": 10100,
    "CICOAlreadyCheckedOutToYou": 10101,
    "CICONotCheckedOut": 10102,
    "CustomFieldInvalidLookupTableUID": 11511,
    "CustomFieldNameAlreadyExists": 11519,
    "CustomFieldInvalidEntity": 11520,
    "CustomFieldInvalidType": 11703,
    "CustomFieldInvalidTypeColumnFilledIn": 11704,
    "CustomFieldCodeValueDoesNotMatchLookupTable": 11706,
    "LookupTableDuplicateName": 11068,
    "GeneralItemAlreadyExists": 10001,
    "GeneralInvalidOperation": 10000,
}


@dataclass
class PwaError(Exception):
    status: int
    code: str  # "<number>, <exception type>"
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self, verbose: bool) -> dict[str, Any]:
        inner = {"code": self.code, "message": {"lang": "en-US", "value": self.message}}
        return {"error": inner} if verbose else {"odata.error": inner}


def ps_error(name: str, detail: str | None = None) -> PwaError:
    """A PJClientCallableException, which PWA answers with 403 and the error name as the message."""
    number = PS_ERRORS[name]
    message = name if detail is None else f"{name}: {detail}"
    return PwaError(403, f"{number}, {PS_EXCEPTION}", message)


def not_found(what: str) -> PwaError:
    return PwaError(404, f"-1, {NOT_FOUND}", f"Cannot find resource for the request {what}.")


def bad_request(message: str) -> PwaError:
    return PwaError(400, f"-1, {INVALID_QUERY}", message)


def unknown_property(name: str, type_name: str) -> PwaError:
    return bad_request(
        f"The property '{name}' does not exist on type '{type_name}'. "
        "Make sure to only use property names that are defined by the type."
    )


def read_only_property(name: str, type_name: str) -> PwaError:
    return bad_request(f"The property '{name}' on type '{type_name}' is read-only and cannot be set.")


def digest_invalid() -> PwaError:
    return PwaError(403, f"-2130575251, {SP_EXCEPTION}", DIGEST_MESSAGE)


def access_denied() -> PwaError:
    return PwaError(
        403,
        f"-2147024891, {UNAUTHORIZED}",
        "Access denied. You do not have permission to perform this action or access this resource.",
    )


def method_not_allowed(method: str) -> PwaError:
    return PwaError(405, f"-1, {INVALID_QUERY}", f"The HTTP method '{method}' is not allowed here.")


def not_acceptable(accept: str) -> PwaError:
    return PwaError(
        406,
        f"-1, {INVALID_QUERY}",
        f"The emulator serves JSON only; got Accept '{accept}'. "
        "Send 'application/json;odata=verbose' or 'application/json;odata=nometadata'.",
    )


def too_big(limit: int) -> PwaError:
    return PwaError(
        400,
        "-2130575339, Microsoft.SharePoint.Client.ClientRequestException",
        f"The request message is too big. The server does not allow messages larger than {limit} bytes.",
    )


def throttled(status: int, message: str | None) -> PwaError:
    if status == 429:
        text = message or "The request has been throttled. Please retry after the time in Retry-After."
        return PwaError(429, "-2147024860, Microsoft.SharePoint.SPQueryThrottledException", text)
    if status == 503:
        text = message or "The server is busy. Please try again later."
        return PwaError(503, "-1, Microsoft.SharePoint.Client.ServerBusyException", text)
    return PwaError(status, "-1, Microsoft.SharePoint.Client.ClientServiceException", message or "Fault.")
