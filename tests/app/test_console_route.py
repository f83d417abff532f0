"""The admin console's one route: its files with their types and a strict CSP, nothing else (no traversal,
no listings, 404 for unknown files), and the Entra session answer that hands an administrator the key."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import azure.functions as func
import pytest

import function_app
from sync import console
from tandem.host import _built_functions

FUNCS = {f.get_function_name(): f for f in _built_functions(function_app.app)}  # indexing twice fails
PAGES = ["index.html", "conflicts.html", "failures.html", "item.html", "history.html"]


def get(path: str, method: str = "GET", headers: dict[str, str] | None = None, url: str | None = None):
    request = func.HttpRequest(
        method=method,
        url=url or f"http://localhost/api/console/{path}",
        headers=headers or {},
        route_params={"path": path},
        body=b"",
    )
    return FUNCS["console"].get_user_function()(request)


def test_the_route_is_anonymous_and_read_only() -> None:
    binding = json.loads(FUNCS["console"].get_function_json())["bindings"][0]
    assert binding["route"] == "console/{*path}"
    assert binding["authLevel"] == "ANONYMOUS"
    assert sorted(binding["methods"]) == ["GET", "HEAD"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        *[(page, "text/html; charset=utf-8") for page in PAGES],
        ("app.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("pages/overview.js", "text/javascript; charset=utf-8"),
        ("", "text/html; charset=utf-8"),
    ],
)
def test_files_are_served_with_their_type_and_a_strict_policy(path: str, content_type: str) -> None:
    response = get(path)
    assert response.status_code == 200, response.get_body()
    assert response.headers["Content-Type"] == content_type
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    expected = (console.CONSOLE_DIR / (path or "index.html")).read_bytes()
    assert response.get_body() == expected


def test_head_answers_without_a_body() -> None:
    response = get("index.html", method="HEAD")
    assert response.status_code == 200 and response.get_body() == b""


def test_the_bare_console_path_redirects_to_the_folder() -> None:
    response = get("", url="http://localhost/api/console")
    assert response.status_code == 308
    assert response.headers["Location"] == "console/"  # relative to /api/console: /api/console/


@pytest.mark.parametrize(
    "path",
    [
        "../function_app.py",
        "..%2Ffunction_app.py",
        "pages/../../host.json",
        "/etc/passwd",
        "pages/",
        "pages",
        ".hidden.js",
        "nope.html",
        "index.html/",
        "..",
        "pages/..",
        "C:\\windows\\win.ini",
        "index.html\x00.js",
    ],
)
def test_no_traversal_and_unknown_files_are_404(path: str) -> None:
    response = get(path)
    assert response.status_code == 404
    body = json.loads(response.get_body())
    assert body["error"]
    assert b"import" not in response.get_body()


def test_a_symlink_out_of_the_console_folder_is_not_followed(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "console"
    root.mkdir()
    (root / "index.html").write_text("<p>hi</p>")
    secret = tmp_path / "secret.js"
    secret.write_text("top secret")
    (root / "leak.js").symlink_to(secret)
    monkeypatch.setattr(console, "CONSOLE_DIR", root)
    assert get("index.html").status_code == 200
    assert get("leak.js").status_code == 404


def test_files_of_unknown_types_are_not_served(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "console"
    root.mkdir()
    (root / "notes.py").write_text("x = 1")
    monkeypatch.setattr(console, "CONSOLE_DIR", root)
    assert get("notes.py").status_code == 404


def test_other_methods_are_refused() -> None:
    assert console.static_reply("index.html", "POST").status == 405


def principal(roles: list[str], name: str = "ada@contoso.example") -> str:
    claims = [{"typ": "roles", "val": r} for r in roles] + [{"typ": "name", "val": name}]
    document = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_session_hands_an_entra_administrator_the_console_key() -> None:
    env = {"WEBSITE_AUTH_ENABLED": "True"}
    header = {"X-MS-CLIENT-PRINCIPAL": principal(["Tandem.Admin"])}
    reply = console.session_reply(header, lambda: "console-key-123", env)
    assert reply.status == 200
    assert json.loads(reply.body) == {"key": "console-key-123", "user": "ada@contoso.example"}
    assert reply.headers["Cache-Control"] == "no-store"


def test_session_reads_roles_and_names_under_the_claim_types_the_header_declares() -> None:
    role = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    email = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    document = {
        "auth_typ": "aad",
        "name_typ": email,
        "role_typ": role,
        "claims": [{"typ": email, "val": "grace@contoso.example"}, {"typ": role, "val": "Tandem.Admin"}],
    }
    header = {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode()}
    reply = console.session_reply(header, lambda: "k", {"WEBSITE_AUTH_ENABLED": "True"})
    assert reply.status == 200 and json.loads(reply.body)["user"] == "grace@contoso.example"


def test_session_refuses_without_easy_auth_a_principal_or_the_role() -> None:
    header = {"X-MS-CLIENT-PRINCIPAL": principal(["Tandem.Admin"])}
    asked: list[bool] = []

    def key() -> str:
        asked.append(True)
        return "k"

    # Without App Service authentication anyone could send the header: it is not trusted.
    off = console.session_reply(header, key, {})
    assert off.status == 404 and b"function key" in off.body
    env = {"WEBSITE_AUTH_ENABLED": "true"}
    assert console.session_reply({}, key, env).status == 401
    assert console.session_reply({"X-MS-CLIENT-PRINCIPAL": "not base64!"}, key, env).status == 401
    reader = console.session_reply({"X-MS-CLIENT-PRINCIPAL": principal(["Reader"], "bob")}, key, env)
    assert reader.status == 403 and b"Tandem.Admin" in reader.body
    assert asked == []  # the key is never even read for them
    no_key = console.session_reply(header, lambda: None, env)
    assert no_key.status == 404 and b"secret store" in no_key.body


def test_the_session_route_reads_the_key_from_the_secret_store(harness, monkeypatch) -> None:
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    harness.secrets.set(harness.services.settings.console_key_secret, "from-the-vault")
    response = get("session", headers={"x-ms-client-principal": principal(["Tandem.Admin"])})
    assert response.status_code == 200 and json.loads(response.get_body())["key"] == "from-the-vault"


def test_every_asset_a_page_names_is_served_and_the_pages_ship_with_the_app() -> None:
    root = console.CONSOLE_DIR.parent
    for ignore in (".funcignore", ".gitattributes"):
        file = root / ignore
        if file.exists():  # Core Tools' publish and `git archive` would leave the console out
            assert "console" not in file.read_text(encoding="utf-8"), ignore
    for page in console.CONSOLE_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script>" not in html and " style=" not in html, f"{page.name}: inline code breaks the CSP"
        for asset in re.findall(r'(?:src|href)="([^"#?:]+)"', html):
            assert console.resolve(asset) is not None, f"{page.name} names {asset}, which is not served"
