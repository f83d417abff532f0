"""People in Planner are Entra user ids; the hub speaks e-mail. `/users` maps them (mail, then
userPrincipalName), with a cache both ways and a short memory of misses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connectors.errors import NotFoundError
from connectors.planner.client import GraphClient, segment


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class UserDirectory:
    def __init__(
        self,
        client: GraphClient,
        *,
        ttl: float = 3600.0,
        miss_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self.clock = clock
        self._email: dict[str, tuple[str | None, float]] = {}  # user id → (e-mail, when)
        self._id: dict[str, tuple[str | None, float]] = {}  # e-mail → (user id, when)
        self._lock = threading.Lock()

    def _cached(self, table: dict[str, tuple[str | None, float]], key: str) -> tuple[bool, str | None]:
        with self._lock:
            hit = table.get(key)
        if hit is None:
            return False, None
        value, when = hit
        age = self.clock() - when
        return (age < (self.ttl if value is not None else self.miss_ttl)), value

    def _keep(self, user_id: str, email: str | None) -> None:
        now = self.clock()
        with self._lock:
            self._email[user_id] = (email, now)
            if email:
                self._id[email] = (user_id, now)

    def email_of(self, user_id: str) -> str | None:
        """The user's e-mail (`mail`, else `userPrincipalName`), lower case; None for an unknown id."""
        fresh, value = self._cached(self._email, user_id)
        if fresh:
            return value
        try:
            body = self.client.get(f"users/{segment(user_id)}", {"$select": "id,mail,userPrincipalName"})
        except NotFoundError:
            self._keep(user_id, None)
            return None
        email = str(body.get("mail") or body.get("userPrincipalName") or "").strip().lower() or None
        self._keep(user_id, email)
        return email

    def id_of(self, email: str) -> str | None:
        """The Entra user id of an e-mail (on mail, then userPrincipalName); None when nobody has it."""
        key = email.strip().lower()
        if not key:
            return None
        fresh, value = self._cached(self._id, key)
        if fresh:
            return value
        found: str | None = None
        for prop in ("mail", "userPrincipalName"):
            params = {"$filter": f"{prop} eq {_quoted(key)}", "$select": "id,mail,userPrincipalName"}
            users = self.client.get("users", params).get("value") or []
            if users:
                found = str(users[0]["id"])
                break
        now = self.clock()
        with self._lock:
            self._id[key] = (found, now)
            if found:
                self._email.setdefault(found, (key, now))
        return found
