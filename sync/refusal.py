"""A request the engine refuses, for people: a reason they can act on, the request field it is about, and
the HTTP status the admin API answers with."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, message: str, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
