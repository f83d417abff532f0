"""SCIM errors (RFC 7644 §3.12): one exception type that renders as a SCIM `Error` body with a `scimType`."""

from __future__ import annotations

from typing import Any

from scim2_models import Context, Error


class ScimError(Exception):
    """An error answered to the identity provider; `detail` says what was wrong and what to do."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error = Error(status=self.status, detail=self.detail, scim_type=self.scim_type)
        return error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def missing(attribute: str, resource: str) -> ScimError:
    return ScimError(400, f"{resource}: the attribute '{attribute}' is required on create", "invalidValue")


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


def immutable(attribute: str, why: str) -> ScimError:
    return ScimError(400, f"'{attribute}' cannot be changed: {why}", "mutability")


def not_found(resource: str, resource_id: str) -> ScimError:
    return ScimError(404, f"{resource} {resource_id} not found")
