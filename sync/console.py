"""The admin console's static files (`console/`), served by the function app's one `console/{*path}` route.

The files carry no data, so the route is anonymous; every data call the pages make goes to the admin API
with the function key. Only files that exist under `console/` with a known type are served (no directory
traversal, no listings), each with a strict Content-Security-Policy.

`console/session` is the one non-file answer: behind App Service authentication (Microsoft Entra ID) it
hands a signed-in administrator (app role `Tandem.Admin`) the console's function key, so the pages reach
the function-key-protected admin API without the person pasting a key. See `session_reply`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tandem.console")
CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

# Scripts and styles from the console's own files only: no inline script, no eval, no third-party origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

# A path segment is a plain file or folder name: letters, digits, '-', '_', '.', not starting with a dot.
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")

ADMIN_ROLE = "Tandem.Admin"
SESSION_PATH = "session"


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str) -> Reply:
    body = json.dumps({"error": message, "field": None}).encode()
    return Reply(status, body, "application/json", dict(SECURITY_HEADERS))


def resolve(path: str) -> Path | None:
    """The file under CONSOLE_DIR that `path` names, or None (unknown, hidden, a folder, outside it)."""
    path = path or "index.html"
    segments = path.split("/")
    if any(not _SEGMENT.match(s) or ".." in s for s in segments):
        return None
    file = CONSOLE_DIR.joinpath(*segments)
    try:
        real = file.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(CONSOLE_DIR.resolve()) or not real.is_file():
        return None
    if real.suffix not in CONTENT_TYPES:
        return None
    return real


def static_reply(path: str, method: str = "GET") -> Reply:
    if method not in ("GET", "HEAD"):
        return _error(405, "the console's files are read with GET")
    file = resolve(path)
    if file is None:
        return _error(404, f"no console file {path!r}")
    body = b"" if method == "HEAD" else file.read_bytes()
    headers = dict(SECURITY_HEADERS)
    return Reply(200, body, CONTENT_TYPES[file.suffix], headers)


def principal_roles(header: str | None) -> tuple[str, list[str]] | None:
    """The name and roles in App Service authentication's X-MS-CLIENT-PRINCIPAL header (base64 JSON)."""
    if not header:
        return None
    try:
        data: dict[str, Any] = json.loads(base64.b64decode(header, validate=False))
    except (binascii.Error, ValueError):
        return None
    role_type = data.get("role_typ") or "roles"
    name_type = data.get("name_typ") or "name"
    claims = [c for c in data.get("claims") or [] if isinstance(c, dict)]
    roles = [str(c.get("val")) for c in claims if c.get("typ") in (role_type, "roles")]
    names = [str(c.get("val")) for c in claims if c.get("typ") in (name_type, "preferred_username", "name")]
    return (names[0] if names else "", roles)


def session_reply(
    headers: dict[str, str], console_key: Callable[[], str | None], environ: dict[str, str] | None = None
) -> Reply:
    """The console's function key for an administrator signed in through App Service authentication.

    The Functions host asks every admin route for a function key whatever Easy Auth says (it has no "signed
    in user" auth level), so the console needs one. Easy Auth removes any X-MS-CLIENT-PRINCIPAL header a
    client sends and sets its own for the signed-in user, so the header is trusted only when App Service
    says authentication is on (WEBSITE_AUTH_ENABLED); the user must hold the app role `Tandem.Admin`.
    `console_key` reads the key (the secret CONSOLE_KEY_SECRET names); it is called only for such a user.
    """
    env = os.environ if environ is None else environ
    if env.get("WEBSITE_AUTH_ENABLED", "").lower() != "true":
        return _error(404, "no Microsoft Entra sign-in on this deployment: sign in with the function key")
    lowered = {k.lower(): v for k, v in headers.items()}
    principal = principal_roles(lowered.get("x-ms-client-principal"))
    if principal is None:
        return _error(401, "not signed in with Microsoft Entra ID")
    name, roles = principal
    if ADMIN_ROLE not in roles:
        return _error(403, f"{name or 'this account'} does not hold the app role {ADMIN_ROLE}")
    key = console_key()
    if not key:
        return _error(404, "the console's key is not in the secret store: sign in with the function key")
    body = json.dumps({"key": key, "user": name}).encode()
    return Reply(200, body, "application/json", {**SECURITY_HEADERS, "Cache-Control": "no-store"})


def _console_key() -> str | None:
    from state.secrets import SecretStoreError
    from sync import triggers

    services = triggers.services()
    try:
        return services.secrets.get(services.settings.console_key_secret)
    except SecretStoreError:
        log.warning("the console's key secret %s cannot be read", services.settings.console_key_secret)
        return None


def handle(req: Any) -> Any:
    """The `console/{*path}` function: a func.HttpRequest in, a func.HttpResponse out."""
    import azure.functions as func

    path = (req.route_params or {}).get("path") or ""
    if path == "" and not req.url.split("?")[0].endswith("/"):
        # /api/console -> /api/console/: the pages' relative links need the trailing slash. A relative
        # Location keeps the scheme and host the browser used (TLS ends in front of the app in Azure).
        return func.HttpResponse(status_code=308, headers={"Location": "console/", **SECURITY_HEADERS})
    if path == SESSION_PATH and req.method == "GET":
        reply = session_reply(dict(req.headers), _console_key)
    else:
        reply = static_reply(path, req.method)
    return func.HttpResponse(
        reply.body, status_code=reply.status, headers={**reply.headers, "Content-Type": reply.content_type}
    )
