"""The PWA REST calls the connector needs (`/_api/ProjectServer`, `/_api/ProjectData`, `/_api/contextinfo`).

Speaks both OData JSON forms (`odata=nometadata` and `odata=verbose`), keeps the form digest every write
needs, and turns Project Server's numbered errors (10100 checked out to someone else, …) into `PwaError`s.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from connectors.http import HttpClient, safe_url, same_origin_link

log = logging.getLogger("tandem.connectors.pwa")

# Project Server error numbers (PSErrorID) the write cycle acts on.
CHECKED_OUT_TO_OTHER = 10100  # CICOCheckedOutToOtherUser
ALREADY_CHECKED_OUT_TO_YOU = 10101  # CICOAlreadyCheckedOutToYou
NOT_CHECKED_OUT = 10102  # CICONotCheckedOut (check-in of a project nobody holds)
_NAMED_ERRORS = {
    "CICOCheckedOutToOtherUser": CHECKED_OUT_TO_OTHER,
    "CICOAlreadyCheckedOutToYou": ALREADY_CHECKED_OUT_TO_YOU,
    "CICONotCheckedOut": NOT_CHECKED_OUT,
}
_DIGEST_INVALID = ("-2130575251", "security validation for this page is invalid")

# QueueJob.JobState
JOB_SUCCESS = 4
JOB_FAILED = 5
JOB_FAILED_NOT_BLOCKING = 6
JOB_CORRELATION_BLOCKED = 8
JOB_CANCELED = 9
JOB_STATES = {
    0: "Unknown",
    1: "ReadyForProcessing",
    2: "SendIncomplete",
    3: "Processing",
    4: "Success",
    5: "Failed",
    6: "FailedNotBlocking",
    7: "ProcessingDeferred",
    8: "CorrelationBlocked",
    9: "Canceled",
    10: "OnHold",
    11: "Sleeping",
    12: "ReadyForLaunch",
}
JOB_DONE_BAD = {JOB_FAILED, JOB_FAILED_NOT_BLOCKING, JOB_CORRELATION_BLOCKED, JOB_CANCELED}


def pj_error_number(exc: ConnectorError) -> int | None:
    """The Project Server error number of a failed call (`"10100, Microsoft.ProjectServer…"`), if any."""
    head = exc.code.split(",", 1)[0].strip()
    if head.lstrip("-").isdigit():
        return int(head)
    for name, number in _NAMED_ERRORS.items():
        if name in exc.message or name in exc.code:
            return number
    return None


def guid(value: str) -> str:
    """A GUID in the canonical lower-case dashed form; ValueError if it is not one."""
    return str(uuid.UUID(str(value).strip().strip("{}")))


def odata_string(value: str) -> str:
    """A string literal for `$filter`: quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class QueueJob:
    id: str
    state: int
    percent: int = 0
    wait_ms: int = 0

    @property
    def state_name(self) -> str:
        return JOB_STATES.get(self.state, str(self.state))

    @classmethod
    def parse(cls, body: Any) -> QueueJob:
        if not isinstance(body, dict) or not body.get("Id"):
            raise PermanentError("PWA answered a queued operation without a queue job id")
        return cls(
            id=str(body["Id"]),
            state=int(body.get("JobState") or 0),
            percent=int(body.get("PercentComplete") or 0),
            wait_ms=int(body.get("WaitMilliseconds") or 0),
        )


def unwrap(body: Any) -> Any:
    """The payload of either JSON form: verbose `{"d": …}` → its content; nometadata unchanged."""
    if isinstance(body, dict) and "d" in body and len(body) == 1:
        body = body["d"]
    return body


def _strip_metadata(value: Any) -> Any:
    """Verbose entities carry `__metadata` and `__deferred` navigation stubs; drop them, keep values."""
    if isinstance(value, dict):
        if "__deferred" in value and len(value) == 1:
            return None
        if "results" in value and set(value) <= {"results", "__metadata", "__next", "__count"}:
            return [_strip_metadata(v) for v in value["results"]]
        return {k: _strip_metadata(v) for k, v in value.items() if k != "__metadata"}
    if isinstance(value, list):
        return [_strip_metadata(v) for v in value]
    return value


class PwaClient:
    """URLs, headers and bodies of the PWA endpoints; returns plain dicts, raises contract errors."""

    def __init__(
        self,
        site_url: str,
        http: HttpClient,
        *,
        odata: str = "nometadata",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.site_url = site_url.rstrip("/")
        self.http = http
        self.odata = odata
        self._clock = clock
        self._digest: tuple[str, float] | None = None  # (value, monotonic expiry)
        self._lock = threading.Lock()

    @property
    def accept(self) -> str:
        return f"application/json;odata={self.odata}"

    def ps(self, path: str = "") -> str:
        return f"{self.site_url}/_api/ProjectServer/{path.lstrip('/')}".rstrip("/")

    def pd(self, path: str = "") -> str:
        return f"{self.site_url}/_api/ProjectData/{path.lstrip('/')}".rstrip("/")

    # --- form digest ----------------------------------------------------------------------------

    def digest(self, *, refresh: bool = False) -> str:
        """`X-RequestDigest` for writes, fetched from `/_api/contextinfo` and renewed a minute early."""
        with self._lock:
            if not refresh and self._digest and self._clock() < self._digest[1]:
                return self._digest[0]
            body = unwrap(
                self._json(
                    self._request(
                        "POST",
                        f"{self.site_url}/_api/contextinfo",
                        content=b"",
                        headers={"Accept": self.accept},
                    )
                )
            )
            info = body.get("GetContextWebInformation", body) if isinstance(body, dict) else {}
            value = info.get("FormDigestValue") if isinstance(info, dict) else None
            if not value:
                raise PermanentError(
                    f"POST {safe_url(self.site_url)}/_api/contextinfo returned no FormDigestValue; "
                    "check the connection URL points at the PWA site (…/sites/pwa or …/pwa)",
                    system=self.http.system,
                )
            timeout = float(info.get("FormDigestTimeoutSeconds") or 1800)
            self._digest = (str(value), self._clock() + max(30.0, timeout - 60))
            return self._digest[0]

    # --- verbs ----------------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            return self.http.request(method, url, **kwargs)
        except AuthError as exc:
            number = pj_error_number(exc)
            if number is None or "PJClientCallableException" not in exc.code:
                raise
            # Project Server answers its business errors with 403; they are not permission problems.
            raise PermanentError(
                exc.message.replace("permission denied: ", "").split("; grant the identity")[0]
                + f" (Project Server error {number})",
                system=exc.system,
                status=exc.status,
                code=exc.code,
            ) from None

    def _json(self, response: Any) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{response.request.method} {safe_url(response.request.url)} returned a body that is "
                f"not JSON ({response.headers.get('Content-Type', 'no content type')})",
                system=self.http.system,
                status=response.status_code,
            ) from None

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        body = self._json(self._request("GET", url, params=params, headers={"Accept": self.accept}))
        return _strip_metadata(unwrap(body))

    def list(self, url: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of a collection, following `odata.nextLink` / `__next`."""
        current_url: str | None = url
        current_params = dict(params or {})
        while current_url:
            response = self._request(
                "GET", current_url, params=current_params or None, headers={"Accept": self.accept}
            )
            items, next_link = _collection(self._json(response))
            yield [_strip_metadata(i) for i in items]
            if not next_link:
                return
            # The bearer token goes with every page: follow links on the same origin only.
            current_url = same_origin_link(next_link, response.request.url, system=self.http.system)
            current_params = {}

    def list_all(self, url: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [item for page in self.list(url, params) for item in page]

    def write(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        if_match: bool = False,
    ) -> Any:
        """POST/PATCH/DELETE with the form digest; renews the digest once if SharePoint says it expired."""
        headers = {"Accept": self.accept}
        if body is not None:
            headers["Content-Type"] = self.accept
        if if_match:
            headers["IF-MATCH"] = "*"
        content = json.dumps(body).encode() if body is not None else None
        for attempt in (0, 1):
            headers["X-RequestDigest"] = self.digest(refresh=attempt == 1)
            try:
                response = self._request(method, url, content=content or b"", headers=headers)
            except ConnectorError as exc:
                text = f"{exc.code} {exc.message}".lower()
                if attempt == 0 and exc.status == 403 and any(d in text for d in _DIGEST_INVALID):
                    log.info("form digest expired; fetching a new one")
                    continue
                raise
            if not response.content:
                return None
            try:
                return _strip_metadata(unwrap(response.json()))
            except ValueError:
                return None
        return None  # pragma: no cover - the loop returns or raises

    def body(self, type_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """An entity body; verbose needs the `__metadata` type, nometadata takes the values alone."""
        if self.odata == "verbose":
            return {"__metadata": {"type": type_name}, **fields}
        return dict(fields)

    def parameters(self, type_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {"parameters": self.body(type_name, fields)}

    def queue_job(self, body: Any) -> QueueJob:
        try:
            return QueueJob.parse(body)
        except PermanentError as exc:
            raise PermanentError(exc.message, system=self.http.system) from None


def _collection(body: Any) -> tuple[list[Any], str | None]:
    if isinstance(body, dict) and isinstance(body.get("d"), dict | list):
        d = body["d"]
        if isinstance(d, list):
            return d, None
        return list(d.get("results") or []), d.get("__next")
    if isinstance(body, dict):
        return list(body.get("value") or []), body.get("odata.nextLink") or body.get("@odata.nextLink")
    if isinstance(body, list):
        return body, None
    return [], None


def segment(value: str) -> str:
    return quote(value, safe="")


def ids_filter(ids: list[str], prop: str = "Id") -> str:
    return " or ".join(f"{prop} eq guid'{i}'" for i in ids)


def is_guid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value.strip("{}")))
