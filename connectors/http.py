"""Shared HTTP plumbing for every connector: auth, timeouts, pooling, throttling, paging, error mapping.

Secrets never leave this module in a message, repr or log line: every text is passed through a `Redactor`.
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import json as jsonlib
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PermanentError,
    ThrottledError,
    TransientError,
    VersionConflict,
)

log = logging.getLogger("tandem.http")
# httpx logs every full URL at INFO (query strings can carry SAS signatures); our own log line is redacted.
logging.getLogger("httpx").setLevel(logging.WARNING)

SecretSource = str | Callable[[], str]

# Query parameters that carry credentials in some APIs (SAS signatures, OAuth codes); masked in logged URLs.
_SENSITIVE_PARAMS = re.compile(
    r"(?i)^(sig|signature|code|token|access_token|password|secret|key|client_secret)$"
)
_MASK = "***"


class Redactor:
    """Remembers secret values (and their encodings) and masks them in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        # Short values would mask innocent text (and cannot be real credentials).
        if not secret or len(secret) < 6:
            return
        variants = {secret, base64.b64encode(f":{secret}".encode()).decode()}
        with self._lock:
            self._secrets.update(variants)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, _MASK)
        return re.sub(r"(?i)\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}", r"\1 " + _MASK, text)


def safe_url(url: httpx.URL | str) -> str:
    """The URL without user info and with credential-like query values masked: safe to log."""
    url = httpx.URL(str(url))
    if url.userinfo:
        url = url.copy_with(username=None, password=None)
    if url.query:
        params = [(k, _MASK if _SENSITIVE_PARAMS.match(k) else v) for k, v in url.params.multi_items()]
        url = url.copy_with(params=params)
    return str(url)


# --- auth ----------------------------------------------------------------------------------------


class _SecretAuth(httpx.Auth):
    """Base for auth objects whose secret comes from a value or a getter (e.g. Key Vault)."""

    def __init__(self) -> None:
        self.redactor = Redactor()

    def bind(self, redactor: Redactor) -> None:
        """Share the client's redactor so every secret this auth fetches is masked in its errors."""
        self.redactor = redactor


class BasicAuth(_SecretAuth):
    """HTTP Basic; on a 401 the password is fetched again once, so a rotated secret is picked up."""

    def __init__(self, username: str, password: SecretSource) -> None:
        super().__init__()
        self.username = username
        self._source = password
        self._cached: str | None = None

    def _password(self, refresh: bool = False) -> str:
        if self._cached is None or refresh:
            value = _fetch_secret(self._source)
            if not value:
                raise AuthError("the secret for HTTP basic auth is empty; check the secret store entry")
            self.redactor.add(value)
            self._cached = value
        return self._cached

    def _header(self, password: str) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{password}".encode()).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        password = self._password()
        request.headers["Authorization"] = self._header(password)
        response = yield request
        if response.status_code == 401 and callable(self._source):
            fresh = self._password(refresh=True)
            if fresh != password:
                request.headers["Authorization"] = self._header(fresh)
                yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(username={self.username!r}, password={_MASK!r})"


def _fetch_secret(source: SecretSource) -> str:
    """Call the secret getter; its failures become contract errors (the engine only knows those)."""
    if not callable(source):
        return source
    try:
        return source()
    except ConnectorError:
        raise
    except LookupError as exc:
        # A missing secret stays missing until someone adds it: dead-letter with the reason.
        raise AuthError(f"the secret could not be found: {exc}") from None
    except Exception as exc:
        # Key Vault throttling or an outage: worth retrying later.
        raise TransientError(f"the secret could not be read: {type(exc).__name__}: {exc}") from None


class PatAuth(BasicAuth):
    """Azure DevOps personal access token: Basic with an empty user name (`:pat`)."""

    def __init__(self, pat: SecretSource) -> None:
        super().__init__("", pat)

    def __repr__(self) -> str:
        return f"PatAuth(pat={_MASK!r})"


class BearerAuth(_SecretAuth):
    """`Authorization: Bearer` from a token provider; the provider owns caching and refresh."""

    def __init__(self, get_token: Callable[[], str]) -> None:
        super().__init__()
        self._get_token = get_token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = _fetch_secret(self._get_token)
        self.redactor.add(token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def __repr__(self) -> str:
        return f"BearerAuth(token={_MASK!r})"


# --- errors --------------------------------------------------------------------------------------

_CODE = re.compile(r"\b((?:VS|TF)\d{5,6})\b")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def server_message(response: httpx.Response) -> tuple[str, str]:
    """The server's error text and code: ADO `{message, typeKey}`, Graph/SharePoint `{error: …}`, or text."""
    text = response.text
    try:
        body = jsonlib.loads(text) if text else None
    except ValueError:
        body = None
    message, code = "", ""
    if isinstance(body, dict):
        err = body.get("error", body.get("odata.error"))
        if isinstance(err, dict):
            raw = err.get("message", "")
            message = raw.get("value", "") if isinstance(raw, dict) else str(raw or "")
            code = str(err.get("code") or "")
        elif isinstance(err, str):
            message = str(body.get("error_description") or err)
        if not message:
            message = str(body.get("message") or body.get("Message") or "")
            code = code or str(body.get("typeKey") or "")
    if not message and text:
        message = " ".join(text.split())[:300]
    found = _CODE.search(message)
    if found:
        code = found.group(1)
    return message, code


def error_from_response(
    response: httpx.Response, *, system: str = "", redactor: Redactor | None = None
) -> ConnectorError:
    """Map a non-2xx response to the contract error type the engine acts on."""
    status = response.status_code
    message, code = server_message(response)
    where = f"{response.request.method} {safe_url(response.request.url)}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    redact = redactor.redact if redactor else (lambda s: s)
    detail = redact(message) if message else response.reason_phrase
    kw: dict[str, Any] = {"system": system, "status": status, "code": code}
    if status == 429:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return ThrottledError(redact(f"{where} was throttled: {detail}{wait}"), retry_after=retry_after, **kw)
    if status >= 500 or status == 408:
        return TransientError(
            redact(f"{where} failed on the server: {detail}"), retry_after=retry_after, **kw
        )
    if status in (409, 412):
        return VersionConflict(redact(f"{where}: the item changed since it was read: {detail}"), **kw)
    if status == 401:
        return AuthError(
            redact(
                f"{where}: credentials were refused: {detail}; check the secret is current and not expired"
            ),
            **kw,
        )
    if status == 403:
        return AuthError(
            redact(f"{where}: permission denied: {detail}; grant the identity access or the missing scope"),
            **kw,
        )
    if 300 <= status < 400:
        location = safe_url(response.headers.get("Location", "")) or "elsewhere"
        if re.search(r"(?i)sign_?in|login", location):
            return AuthError(
                f"{where}: redirected to a sign-in page: the credentials were not accepted", **kw
            )
        return PermanentError(f"{where}: redirected to {location}; configure that URL instead", **kw)
    if status in (404, 410):
        return NotFoundError(redact(f"{where}: not found: {detail}"), **kw)
    return PermanentError(redact(f"{where}: {detail}"), **kw)


# --- throttling ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call may wait in-process before handing the wait back to the engine as an error."""

    max_inline_wait: float = 2.0  # a 429/503 Retry-After up to this is slept through, not raised
    max_inline_retries: int = 2
    max_pace_wait: float = 5.0  # a pause asked for on a 2xx up to this is slept; longer raises ThrottledError
    low_remaining_ratio: float = 0.1  # X-RateLimit-Remaining below this share of the limit → pause a little
    low_remaining_pause: float = 0.5


@dataclass
class CallStats:
    """Per-host counters, for benchmarks and run records."""

    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    slept_seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


# --- where credentials may be sent ---------------------------------------------------------------

# Cloud instance-metadata endpoints: a credential sent there (or a token fetched from there) is never right.
_METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
    }
)
_METADATA_IPS = frozenset(
    ipaddress.ip_address(a)
    for a in ("100.100.100.200", "fd00:ec2::254", "169.254.169.254", "169.254.170.2", "168.63.129.16")
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problem(url: str) -> str | None:
    """Why credentials must not be sent to `url`, or None: https only (plain http on loopback, for the
    local stack and tests), no user name or password in the URL, no link-local or metadata address."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL with a host name"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password: name a secret in `auth` instead"
    if host in _METADATA_NAMES:
        return f"points at a cloud metadata service ({host}), which never takes these credentials"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if ip in _METADATA_IPS:
            return f"points at a cloud metadata service ({host}), which never takes these credentials"
        if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            return f"points at a link-local, unspecified or multicast address ({host})"
    if parts.scheme == "http" and not is_loopback(host):
        return "must use https:// (plain http is accepted only for loopback addresses)"
    return None


def origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: two URLs of one origin may share credentials."""
    url = httpx.URL(str(url))
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host.lower(), port


def same_origin_link(link: str, request_url: httpx.URL | str, *, system: str) -> str:
    """A next-page link, resolved against the request that returned it, if it is on the same origin.

    A link to another origin is an error, never followed: the client would send it our credentials.
    """
    base = httpx.URL(str(request_url))
    resolved = base.join(link)
    if origin(resolved) != origin(base):
        raise PermanentError(
            f"the next-page link of {safe_url(base)} points at another origin ({safe_url(resolved)}); "
            "it is not followed, so the credentials are not sent there",
            system=system,
        )
    return str(resolved)


# --- paging --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    """What to ask for next: a new URL (None keeps the current one) and query parameters to merge."""

    url: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


class Paginator(ABC):
    """One paging scheme: given the last response, say how to ask for the next page (None: done)."""

    def first(self) -> Mapping[str, Any]:
        return {}

    @abstractmethod
    def next(self, response: httpx.Response, items: Sequence[Any]) -> PageRequest | None: ...


class SinglePage(Paginator):
    def next(self, response: httpx.Response, items: Sequence[Any]) -> PageRequest | None:
        return None


class ContinuationTokenPaginator(Paginator):
    """Azure DevOps: the token comes back in a response header and goes out as a query parameter."""

    def __init__(self, header: str = "x-ms-continuationtoken", param: str = "continuationToken") -> None:
        self.header = header
        self.param = param

    def next(self, response: httpx.Response, items: Sequence[Any]) -> PageRequest | None:
        token = response.headers.get(self.header)
        return PageRequest(params={self.param: token}) if token else None


class SkipTopPaginator(Paginator):
    """`$top`/`$skip` offsets; a short page means the end."""

    def __init__(self, page_size: int, top: str = "$top", skip: str = "$skip") -> None:
        self.page_size = page_size
        self.top = top
        self.skip = skip
        self._offset = 0

    def first(self) -> Mapping[str, Any]:
        self._offset = 0
        return {self.top: self.page_size}

    def next(self, response: httpx.Response, items: Sequence[Any]) -> PageRequest | None:
        if len(items) < self.page_size:
            return None
        self._offset += len(items)
        return PageRequest(params={self.top: self.page_size, self.skip: self._offset})


class NextLinkPaginator(Paginator):
    """OData (Graph, PWA): the body carries the absolute URL of the next page."""

    def __init__(self, key: str = "@odata.nextLink") -> None:
        self.key = key

    def next(self, response: httpx.Response, items: Sequence[Any]) -> PageRequest | None:
        body = response.json()
        link = body.get(self.key) if isinstance(body, dict) else None
        return PageRequest(url=link) if link else None


# --- client --------------------------------------------------------------------------------------


class HttpClient:
    """One pooled httpx.Client per connector with contract error mapping, throttling and redaction."""

    def __init__(
        self,
        *,
        system: str,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 20,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.system = system
        self.retry = retry or RetryPolicy()
        self.stats = CallStats()
        self.redactor = Redactor()
        # Any auth with `bind` (ours, or a connector's own such as NTLM) masks the secrets it fetches.
        bind = getattr(auth, "bind", None)
        if callable(bind):
            bind(self.redactor)
        self._sleep = sleep
        self._clock = clock
        self._not_before: dict[str, float] = {}
        self._lock = threading.Lock()
        self._client = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            headers={"User-Agent": "tandem/0.1", "Accept": "application/json", **(headers or {})},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"HttpClient(system={self.system!r}, calls={self.stats.total_calls})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The one entry point: every call goes through pacing, counting, retry and error mapping.
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        if json is not None:
            content = jsonlib.dumps(json).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        # An empty mapping would wipe a query already in `url` (next links).
        request = self._client.build_request(
            method, url, params=params or None, content=content, headers=headers
        )
        host = request.url.host
        attempt = 0
        while True:
            self._pace(host, request)
            self.stats.calls[host] += 1
            started = self._clock()
            try:
                response = self._client.send(request)
            except httpx.TimeoutException as exc:
                raise TransientError(
                    self.redactor.redact(
                        f"{method} {safe_url(request.url)} timed out ({type(exc).__name__})"
                    ),
                    system=self.system,
                ) from None
            except httpx.TransportError as exc:
                raise TransientError(
                    self.redactor.redact(f"{method} {safe_url(request.url)} could not connect: {exc}"),
                    system=self.system,
                ) from None
            elapsed_ms = (self._clock() - started) * 1000
            log.debug(
                "%s %s -> %s (%.0f ms)", method, safe_url(request.url), response.status_code, elapsed_ms
            )
            self._observe(host, response)
            if response.status_code == 203:
                # ADO answers a refused PAT on some routes with 203 and an HTML sign-in page.
                raise AuthError(
                    f"{method} {safe_url(request.url)} returned a sign-in page instead of data: "
                    "the credentials were not accepted; check the secret is current and not expired",
                    system=self.system,
                    status=203,
                )
            if response.is_success:
                return response
            response.read()
            error = error_from_response(response, system=self.system, redactor=self.redactor)
            if isinstance(error, TransientError) and response.status_code in (429, 503):
                if response.status_code == 429:
                    self.stats.throttled[host] += 1
                wait = error.retry_after
                if (
                    wait is not None
                    and wait <= self.retry.max_inline_wait
                    and attempt < self.retry.max_inline_retries
                ):
                    attempt += 1
                    self.stats.retries[host] += 1
                    log.info(
                        "%s %s: %s, retrying in %.1f s",
                        method,
                        safe_url(request.url),
                        response.status_code,
                        wait,
                    )
                    self._wait(wait)
                    continue
                log.warning("%s", error)
            raise error

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """`request` and parse the JSON body; a 2xx that is not JSON (a proxy's page) is transient."""
        return self._json(self.request(method, url, **kwargs))

    def _json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{response.request.method} {safe_url(response.request.url)} returned a body that is "
                f"not JSON ({response.headers.get('Content-Type', 'no content type')})",
                system=self.system,
                status=response.status_code,
            ) from None

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self.request_json("GET", url, params=params)

    def paginate(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        paginator: Paginator | None = None,
        items_key: str = "value",
    ) -> Iterator[list[Any]]:
        """GET pages until the paginator says stop; yields each page's list under `items_key`."""
        paginator = paginator or SinglePage()
        current_url, current = url, {**(params or {}), **paginator.first()}
        while True:
            response = self.request("GET", current_url, params=current)
            body = self._json(response)
            items = body.get(items_key, []) if isinstance(body, dict) else body
            yield items
            nxt = paginator.next(response, items)
            if nxt is None:
                return
            if nxt.url:
                # A next link already carries every parameter the server needs; it must stay on our origin.
                current_url = same_origin_link(nxt.url, response.request.url, system=self.system)
                current = dict(nxt.params)
            else:
                current = {**current, **nxt.params}

    # --- pacing ---------------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.slept_seconds += seconds
            self._sleep(seconds)

    def _pace(self, host: str, request: httpx.Request) -> None:
        with self._lock:
            not_before = self._not_before.get(host, 0.0)
        wait = not_before - self._clock()
        if wait <= 0:
            return
        if wait > self.retry.max_pace_wait:
            # Blocking a function for this long is worse than letting the engine reschedule the work.
            raise ThrottledError(
                f"{request.method} {safe_url(request.url)} not sent: "
                f"{host} asked to slow down for {wait:.1f} s",
                retry_after=wait,
                system=self.system,
            )
        self._wait(wait)

    def _observe(self, host: str, response: httpx.Response) -> None:
        """Record the server's slow-down hints (ADO sends them on 2xx while it is delaying us)."""
        h = response.headers
        pause = parse_retry_after(h.get("Retry-After")) or 0.0
        if not response.is_success:
            # A long 429 holds back the next calls too, so a batch does not keep knocking.
            if response.status_code == 429 and pause > self.retry.max_inline_wait:
                with self._lock:
                    self._not_before[host] = max(self._not_before.get(host, 0.0), self._clock() + pause)
            return
        delay = _float(h.get("X-RateLimit-Delay"))
        if delay:
            pause = max(pause, delay)
        remaining, limit = _float(h.get("X-RateLimit-Remaining")), _float(h.get("X-RateLimit-Limit"))
        if remaining is not None and limit and remaining / limit < self.retry.low_remaining_ratio:
            pause = max(pause, self.retry.low_remaining_pause)
        if pause > 0:
            log.info("%s asked to slow down: pausing %.1f s before the next call", host, pause)
            with self._lock:
                self._not_before[host] = max(self._not_before.get(host, 0.0), self._clock() + pause)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
