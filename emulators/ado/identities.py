"""The emulator's user directory: who can be named in identity fields, how a value such as
``ann@contoso.com`` or ``Ann Chen <ann@contoso.com>`` resolves, and how an identity is written on the wire
(an IdentityRef object from api-version 5.0 on, ``"Name <uniqueName>"`` strings in hooks and old versions)."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Flavor = Literal["services", "server"]

_NAME_AND_UNIQUE = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<unique>[^<>]+)>\s*$")
_NS = uuid.UUID("7b2d1c6e-4f7a-4d59-9a51-2f8a3c1e0b17")


@dataclass(frozen=True)
class User:
    """One person (or service account) the emulated organization knows.

    `unique_name` is the sign-in name: an e-mail/UPN on Services, ``DOMAIN\\user`` on Server.
    `email` is optional on Server (defaults to the unique name on Services)."""

    display_name: str
    unique_name: str
    email: str | None = None
    id: str = ""
    descriptor: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def wire_string(self) -> str:
        return f"{self.display_name} <{self.unique_name}>"


def make_user(display_name: str, unique_name: str, *, email: str | None = None, flavor: Flavor) -> User:
    """Build a user with a stable id and a descriptor of the right kind for the flavor."""
    ident = str(uuid.uuid5(_NS, unique_name.lower()))
    if flavor == "services":
        raw = base64.urlsafe_b64encode(ident.encode()).decode().rstrip("=")
        descriptor = f"aad.{raw}"
        email = email or unique_name
    else:
        sid = "S-1-5-21-" + "-".join(str(int(part, 16) % 4294967295) for part in ident.split("-")[:4])
        descriptor = "win." + base64.urlsafe_b64encode(sid.encode()).decode().rstrip("=")
    return User(
        display_name=display_name, unique_name=unique_name, email=email, id=ident, descriptor=descriptor
    )


def default_users(flavor: Flavor) -> list[User]:
    """The service account the default PAT belongs to, then three people."""
    if flavor == "services":
        rows = [
            ("Tandem Sync", "tandem-sync@contoso.com", None),
            ("Ann Chen", "ann.chen@contoso.com", None),
            ("Bob Smith", "bob.smith@contoso.com", None),
            ("Chloé Durand", "chloe.durand@contoso.com", None),
        ]
    else:
        rows = [
            ("Tandem Sync", "CONTOSO\\tandem-sync", "tandem-sync@contoso.com"),
            ("Ann Chen", "CONTOSO\\ann.chen", "ann.chen@contoso.com"),
            ("Bob Smith", "CONTOSO\\bob.smith", "bob.smith@contoso.com"),
            ("Chloé Durand", "CONTOSO\\chloe.durand", None),
        ]
    return [make_user(name, unique, email=email, flavor=flavor) for name, unique, email in rows]


class AmbiguousIdentity(LookupError):
    pass


class IdentityDirectory:
    """Users by id, unique name, e-mail and display name (all case-insensitive)."""

    def __init__(
        self, flavor: Flavor, users: Iterable[User] | None = None, base_url: Callable[[], str] = lambda: ""
    ) -> None:
        self.flavor = flavor
        self.base_url = base_url  # read lazily: the port is only known once the server runs
        self._lock = threading.Lock()
        self._by_id: dict[str, User] = {}
        for user in users if users is not None else default_users(flavor):
            self.add(user)

    def add(self, user: User) -> User:
        if not user.id:
            user = make_user(user.display_name, user.unique_name, email=user.email, flavor=self.flavor)
        with self._lock:
            self._by_id[user.id] = user
        return user

    def add_user(self, display_name: str, unique_name: str, *, email: str | None = None) -> User:
        return self.add(make_user(display_name, unique_name, email=email, flavor=self.flavor))

    def all(self) -> list[User]:
        with self._lock:
            return list(self._by_id.values())

    def get(self, user_id: str) -> User | None:
        with self._lock:
            return self._by_id.get(user_id)

    def first(self) -> User:
        with self._lock:
            return next(iter(self._by_id.values()))

    def resolve(self, value: str) -> User | None:
        """Find the user a field value names; raises AmbiguousIdentity when a display name matches several."""
        text = value.strip()
        match = _NAME_AND_UNIQUE.match(text)
        if match:
            unique = match.group("unique").strip().lower()
            users = self.all()
            for user in users:
                if user.unique_name.lower() == unique or (user.email or "").lower() == unique:
                    return user
            return None
        lowered = text.lower()
        users = self.all()
        for user in users:
            if (
                user.unique_name.lower() == lowered
                or (user.email or "").lower() == lowered
                or user.id == lowered
            ):
                return user
            # Server accepts the bare account name without the domain.
            if self.flavor == "server" and user.unique_name.lower().split("\\")[-1] == lowered:
                return user
        named = [user for user in users if user.display_name.lower() == lowered]
        if len(named) > 1:
            raise AmbiguousIdentity(value)
        return named[0] if named else None

    # --- wire formats -----------------------------------------------------------------------------

    def identity_ref(self, user: User) -> dict[str, Any]:
        """IdentityRef as work item fields carry it from api-version 5.0 on."""
        base = self.base_url()
        avatar = f"{base}/_apis/GraphProfile/MemberAvatars/{user.descriptor}"
        return {
            "displayName": user.display_name,
            "url": f"{base}/_apis/Identities/{user.id}",
            "_links": {"avatar": {"href": avatar}},
            "id": user.id,
            "uniqueName": user.unique_name,
            "imageUrl": f"{base}/_api/_common/identityImage?id={user.id}",
            "descriptor": user.descriptor,
        }

    def identity_reference(self, user: User) -> dict[str, Any]:
        """IdentityReference (IdentityRef plus the legacy ``name``) as `revisedBy` carries it."""
        ref = self.identity_ref(user)
        ref["name"] = user.wire_string
        return ref
