"""Authentication (SharePoint Online bearer tokens and the Entra stand-in, the on-premises Basic stand-in),
permissions, the form digest rule on writes, and ``Accept`` negotiation of the PWA emulator."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from pwa_testkit import ACCEPT, client, ps, running

from emulators.pwa import PwaEmulator

DIGEST_CODE = "-2130575251, Microsoft.SharePoint.SPException"


@pytest.fixture
def pwa() -> Iterator[PwaEmulator]:
    with running() as emulator:
        yield emulator


@pytest.fixture
def server() -> Iterator[PwaEmulator]:
    with running("server", password="s3cret") as emulator:
        yield emulator


def test_contextinfo_in_each_json_shape(pwa: PwaEmulator) -> None:
    headers = pwa.auth_header()
    verbose = httpx.post(f"{pwa.base_url}/_api/contextinfo", headers={**headers, "Accept": ACCEPT["verbose"]})
    assert verbose.status_code == 200
    assert verbose.headers["content-type"].startswith("application/json;odata=verbose")
    info = verbose.json()["d"]["GetContextWebInformation"]
    assert info["__metadata"] == {"type": "SP.ContextWebInformation"}
    assert info["FormDigestTimeoutSeconds"] == 1800
    assert info["FormDigestValue"].startswith("0x") and info["FormDigestValue"].endswith(" -0000")
    assert info["WebFullUrl"] == pwa.base_url
    assert info["SupportedSchemaVersions"]["results"] == ["14.0.0.0", "15.0.0.0"]
    light = httpx.post(
        f"{pwa.base_url}/_api/contextinfo", headers={**headers, "Accept": ACCEPT["nometadata"]}
    )
    assert set(light.json()) >= {
        "FormDigestValue",
        "FormDigestTimeoutSeconds",
        "SiteFullUrl",
        "LibraryVersion",
    }
    assert light.json()["SupportedSchemaVersions"] == ["14.0.0.0", "15.0.0.0"]
    minimal = httpx.post(
        f"{pwa.base_url}/_api/contextinfo", headers={**headers, "Accept": "application/json"}
    )
    assert minimal.json()["odata.metadata"].endswith("$metadata#SP.ContextWebInformation")


def test_writes_need_a_live_digest_of_the_same_user(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Apollo")
    pwa.add_user("ann.chen@contoso.com", "Ann Chen", password="ann")
    no_digest = client(pwa, digest=False)
    response = no_digest.post(ps(project, "/checkOut()"))
    assert response.status_code == 403
    assert response.json() == {
        "odata.error": {
            "code": DIGEST_CODE,
            "message": {
                "lang": "en-US",
                "value": "The security validation for this page is invalid and might be corrupted. "
                "Please use your web browser's Back button to try your operation again.",
            },
        }
    }
    verbose = client(pwa, "verbose", digest=False)
    assert verbose.post(ps(project, "/checkOut()")).json()["error"]["code"] == DIGEST_CODE
    bogus = no_digest.post(
        ps(project, "/checkOut()"), headers={"X-RequestDigest": "0xDEAD,01 Jan 2026 -0000"}
    )
    assert bogus.status_code == 403
    anns = client(pwa, user="ann.chen@contoso.com")
    stolen = no_digest.post(
        ps(project, "/checkOut()"), headers={"X-RequestDigest": anns.headers["X-RequestDigest"]}
    )
    assert stolen.status_code == 403
    c = client(pwa)
    pwa.clock.advance(1801)
    assert c.post(ps(project, "/checkOut()")).json()["odata.error"]["code"] == DIGEST_CODE
    pwa.clock.reset()
    fresh = client(pwa)
    assert fresh.post(ps(project, "/checkOut()")).status_code == 200
    assert no_digest.get(ps(project)).status_code == 200  # reads need no digest
    assert pwa.counters.writes("checkout") == 1


def test_digest_can_be_optional_with_bearer_like_sharepoint_online(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Apollo")
    pwa.configure(digest_required_with_bearer=False)
    assert client(pwa, digest=False).post(ps(project, "/checkOut()")).status_code == 200
    bad = client(pwa, digest=False).post(
        ps(project, "/Draft/update()"), headers={"X-RequestDigest": "0xBAD,01 Jan 2026 -0000"}
    )
    assert bad.status_code == 403  # a digest that is sent must still be valid


def test_online_rejects_missing_unknown_and_basic_credentials(pwa: PwaEmulator) -> None:
    url = f"{pwa.base_url}/_api/ProjectServer/Projects"
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
    ):
        response = httpx.get(url, headers={**headers, "Accept": ACCEPT["nometadata"]})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer realm="contoso"')
        assert 'client_id="00000003-0000-0ff1-ce00-000000000000"' in response.headers["www-authenticate"]
        assert "error_description" in response.json()
    ok = httpx.get(url, headers={**pwa.auth_header(), "Accept": ACCEPT["nometadata"]})
    assert ok.status_code == 200 and ok.json() == {"value": []}


def test_token_endpoint_rotates_refresh_tokens_and_expires_access_tokens(pwa: PwaEmulator) -> None:
    creds = pwa.credentials()
    assert creds["token_url"] == pwa.token_url and creds["refresh_token"] == pwa.password
    first = httpx.post(
        pwa.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": creds["refresh_token"],
            "client_id": creds["client_id"],
        },
    )
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["refresh_token"] != creds["refresh_token"]
    second = httpx.post(
        pwa.token_url, data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert second.status_code == 200 and second.json()["refresh_token"] != body["refresh_token"]
    url = f"{pwa.base_url}/_api/web/currentuser"
    headers = {"Authorization": f"Bearer {body['access_token']}", "Accept": ACCEPT["nometadata"]}
    me = httpx.get(url, headers=headers)
    assert me.status_code == 200
    assert me.json()["LoginName"] == "i:0#.f|membership|tandem.sync@contoso.onmicrosoft.com"
    assert me.json()["Email"] == creds["username"]
    pwa.clock.advance(3600)
    expired = httpx.get(url, headers=headers)
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]
    control = httpx.post(
        f"{pwa.control_url}/tokens/revoke", json={"refreshToken": second.json()["refresh_token"]}
    )
    assert control.json() == {"revoked": True}
    revoked = httpx.post(
        pwa.token_url, data={"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]}
    )
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"
    assert revoked.json()["error_codes"] == [70000]
    assert pwa.counters.calls("oauth.token") == 3


def test_password_grant_and_unsupported_grants(pwa: PwaEmulator) -> None:
    good = httpx.post(
        pwa.token_url,
        data={"grant_type": "password", "username": pwa.credentials()["username"], "password": pwa.password},
    )
    assert good.status_code == 200 and good.json()["access_token"]
    wrong = httpx.post(pwa.token_url, data={"grant_type": "password", "username": "x@y.z", "password": "no"})
    assert wrong.status_code == 400 and wrong.json()["error_codes"] == [50126]
    app_only = httpx.post(
        pwa.token_url, data={"grant_type": "client_credentials", "client_id": pwa.client_id}
    )
    assert app_only.status_code == 400 and app_only.json()["error"] == "unsupported_grant_type"
    other_app = httpx.post(
        pwa.token_url,
        data={"grant_type": "refresh_token", "refresh_token": pwa.refresh_token, "client_id": "someone-else"},
    )
    assert other_app.status_code == 400 and other_app.json()["error"] == "unauthorized_client"


def test_server_flavor_accepts_windows_account_over_basic(server: PwaEmulator) -> None:
    assert server.base_url.endswith("/pwa")
    assert server.credentials() == {"username": "CONTOSO\\tandem", "password": "s3cret"}
    url = f"{server.base_url}/_api/ProjectServer/Projects"
    accept = {"Accept": ACCEPT["nometadata"]}
    denied = httpx.get(url, headers=accept)
    assert denied.status_code == 401
    assert denied.headers.get_list("www-authenticate") == ["NTLM", "Negotiate", 'Basic realm="PWA"']
    for name in ("CONTOSO\\tandem", "tandem", "tandem@contoso.com"):
        ok = httpx.get(url, headers=accept, auth=(name, "s3cret"))
        assert ok.status_code == 200, name
    assert httpx.get(url, headers=accept, auth=("CONTOSO\\tandem", "wrong")).status_code == 401
    assert httpx.get(url, headers={**accept, "Authorization": "Bearer x"}).status_code == 401
    me = client(server).get("web/currentuser").json()
    assert me["LoginName"] == "i:0#.w|contoso\\tandem"
    project = server.seed_project("Apollo")
    assert client(server, digest=False).post(ps(project, "/checkOut()")).status_code == 403
    assert client(server).post(ps(project, "/checkOut()")).status_code == 200
    assert httpx.post(f"{server.root_url}/contoso/oauth2/v2.0/token", data={}).status_code in (404, 405)


def test_permissions_for_writes_and_reporting(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Apollo")
    pwa.add_user("reader@contoso.com", "Reader", password="r", can_write=False, can_report=False)
    reader = client(pwa, user="reader@contoso.com")
    assert reader.get(ps(project)).status_code == 200
    denied = reader.post(ps(project, "/checkOut()"))
    assert denied.status_code == 403
    assert denied.json()["odata.error"]["code"] == "-2147024891, System.UnauthorizedAccessException"
    assert reader.get("ProjectData/Projects").status_code == 403
    assert client(pwa).get("ProjectData/Projects").status_code == 200


def test_accept_header_is_negotiated(pwa: PwaEmulator) -> None:
    project = pwa.seed_project("Apollo")
    url = f"{pwa.base_url}/_api/{ps(project)}"
    atom = httpx.get(url, headers={**pwa.auth_header(), "Accept": "application/atom+xml"})
    assert atom.status_code == 406
    assert httpx.get(url, headers=pwa.auth_header()).status_code == 406
    verbose = httpx.get(url, headers={**pwa.auth_header(), "Accept": ACCEPT["verbose"]}).json()["d"]
    assert verbose["__metadata"]["type"] == "PS.PublishedProject"
    assert verbose["__metadata"]["uri"] == url
    assert verbose["Tasks"] == {"__deferred": {"uri": f"{url}/Tasks"}}
    minimal = httpx.get(url, headers={**pwa.auth_header(), "Accept": "application/json"}).json()
    assert minimal["odata.type"] == "PS.PublishedProject" and minimal["odata.id"] == url
    assert minimal["odata.metadata"].endswith("$metadata#Projects/@Element")
    plain = httpx.get(url, headers={**pwa.auth_header(), "Accept": ACCEPT["nometadata"]}).json()
    assert "Tasks" not in plain and "__metadata" not in plain and plain["Name"] == "Apollo"


def test_unknown_routes_and_methods(pwa: PwaEmulator) -> None:
    c = client(pwa)
    missing = c.get("ProjectServer/Nope")
    assert missing.status_code == 404
    assert (
        missing.json()["odata.error"]["code"] == "-1, Microsoft.SharePoint.Client.ResourceNotFoundException"
    )
    assert c.delete("ProjectServer/Projects").status_code == 405
    outside = httpx.get(f"{pwa.root_url}/elsewhere/_api/ProjectServer/Projects", headers=pwa.auth_header())
    assert outside.status_code == 404
    assert c.get(ps("00000000-0000-0000-0000-000000000001")).status_code == 404


def test_server_flavor_speaks_ntlm_and_keeps_the_connection_authenticated(server: PwaEmulator) -> None:
    spnego = pytest.importorskip("spnego")
    url = f"{server.base_url}/_api/web/currentuser"
    accept = {"Accept": ACCEPT["nometadata"]}

    def handshake(c: httpx.Client, user: str, password: str) -> httpx.Response:
        context = spnego.client(user, password, hostname="127.0.0.1", service="http", protocol="ntlm")
        negotiate = base64.b64encode(context.step()).decode()
        challenge = c.get(url, headers={**accept, "Authorization": f"NTLM {negotiate}"})
        assert challenge.status_code == 401
        scheme, _, token = challenge.headers["www-authenticate"].partition(" ")
        assert scheme == "NTLM" and token
        answer = base64.b64encode(context.step(base64.b64decode(token))).decode()
        return c.get(url, headers={**accept, "Authorization": f"NTLM {answer}"})

    with httpx.Client() as c:
        response = handshake(c, "CONTOSO\\tandem", "s3cret")
        assert response.status_code == 200 and response.json()["LoginName"] == "i:0#.w|contoso\\tandem"
        again = c.get(url, headers=accept)  # same connection: still authenticated, as with IIS
        assert again.status_code == 200
    with httpx.Client() as c:
        assert handshake(c, "CONTOSO\\tandem", "wrong").status_code == 401
    with httpx.Client() as c:
        assert c.get(url, headers=accept).status_code == 401  # a new connection starts unauthenticated
        out_of_order = c.get(
            url, headers={**accept, "Authorization": "NTLM " + base64.b64encode(b"x" * 16).decode()}
        )
        assert out_of_order.status_code == 401
