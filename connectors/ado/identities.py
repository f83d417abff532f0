"""Identity values: ADO IdentityRefs and `Name <uniqueName>` strings in, e-mail addresses out (and back)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Identity fields every process has; custom ones come from field metadata or AdoOptions.identity_fields.
BUILTIN_IDENTITY_FIELDS: frozenset[str] = frozenset(
    {
        "System.AssignedTo",
        "System.CreatedBy",
        "System.ChangedBy",
        "System.AuthorizedAs",
        "Microsoft.VSTS.Common.ActivatedBy",
        "Microsoft.VSTS.Common.ResolvedBy",
        "Microsoft.VSTS.Common.ClosedBy",
        "Microsoft.VSTS.Common.ReviewedBy",
        "Microsoft.VSTS.CodeReview.AcceptedBy",
    }
)

_NAME_AND_UNIQUE = re.compile(r"^(?P<name>.*?)\s*<(?P<unique>[^<>]+)>\s*$")


def unique_name(value: Any) -> str | None:
    """The sign-in name in an IdentityRef dict or a `Display Name <uniqueName>` string."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        found = value.get("uniqueName") or value.get("displayName")
        return str(found) if found else None
    text = str(value).strip()
    match = _NAME_AND_UNIQUE.match(text)
    return match.group("unique").strip() if match else (text or None)


class IdentityMapper:
    """Translates between ADO unique names (e-mail on Services, DOMAIN\\user on Server) and e-mail."""

    def __init__(self, identity_map: Mapping[str, str] | None = None) -> None:
        pairs = dict(identity_map or {})
        self._to_email = {k.lower(): v for k, v in pairs.items()}
        self._to_account = {v.lower(): k for k, v in pairs.items()}

    def to_email(self, value: Any) -> str | None:
        """E-mail for an identity value as ADO returns it; unmapped names come back unchanged."""
        name = unique_name(value)
        if name is None:
            return None
        return self._to_email.get(name.lower(), name)

    def to_ado(self, email: str | None) -> str:
        """What ADO gets for an e-mail: the mapped DOMAIN\\user on Server, else the e-mail; '' clears."""
        if not email:
            return ""
        name = unique_name(email) or ""
        return self._to_account.get(name.lower(), name)

    def normalise_fields(self, fields: Mapping[str, Any], identity_fields: Iterable[str]) -> dict[str, Any]:
        """Copy of `fields` with every identity value replaced by its e-mail."""
        known = set(identity_fields)
        out: dict[str, Any] = {}
        for name, value in fields.items():
            is_ref = isinstance(value, Mapping) and ("uniqueName" in value or "descriptor" in value)
            if is_ref or (name in known and isinstance(value, str)):
                out[name] = self.to_email(value)
            else:
                out[name] = value
        return out
