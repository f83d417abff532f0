"""AdoConnector set-up: construction, check(), api-version probing on Server, metadata, Entra auth."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connectors.ado import AdoConnector, AdoOptions
from connectors.ado.auth import ADO_SCOPE, EntraTokenProvider
from connectors.ado.factory import build
from connectors.contract import Connector
from tests.connectors.ado_fakes import BASE, CANARY_PAT, FakeAdo, ado_error

SERVER = "https://tfs.contoso.com/tfs/DefaultCollection"
PROJECTS = {"count": 2, "value": [{"id": "p1", "name": "Beta"}, {"id": "p2", "name": "Alpha"}]}
FIELDS = {
    "count": 4,
    "value": [
        {"referenceName": "System.Title", "name": "Title", "type": "string", "readOnly": False},
        {"referenceName": "System.ChangedDate", "name": "Changed Date", "type": "dateTime", "readOnly": True},
        {"referenceName": "System.AssignedTo", "name": "Assigned To", "type": "string", "isIdentity": True},
        {"referenceName": "System.AreaPath", "name": "Area Path", "type": "treePath"},
    ],
}


def test_the_connector_satisfies_the_contract(make_connector: Callable[..., AdoConnector]) -> None:
    assert isinstance(make_connector(), Connector)


def test_check_reports_version_projects_and_fields(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("GET", r"/_apis/projects$", httpx.Response(200, json=PROJECTS))
    fake.on("GET", r"/_apis/wit/fields$", httpx.Response(200, json=FIELDS))
    report = make_connector().check()
    assert report.ok, report.problems
    assert report.details["api_version"] == "7.1"
    assert report.details["projects"] == ["Alpha", "Beta"]
    assert report.details["fields"] == 4
    assert fake.requests[0].url.params["api-version"] == "7.1"


def test_check_explains_a_refused_pat_without_leaking_it(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("GET", r"/_apis/projects$", httpx.Response(401, text=f"denied {CANARY_PAT}"))
    report = make_connector().check()
    assert not report.ok
    (problem,) = report.problems
    assert "credentials were refused" in problem and "Work Items (Read & write)" in problem
    assert CANARY_PAT not in problem


def test_check_explains_an_unreachable_server(
    make_connector: Callable[..., AdoConnector], fake: FakeAdo
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known")

    fake.on("GET", r".", refuse)
    report = make_connector().check()
    assert not report.ok
    assert "could not connect" in report.problems[0] and "Check the base URL" in report.problems[0]


def test_check_flags_an_identity_that_sees_no_projects(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    fake.on("GET", r"/_apis/projects$", httpx.Response(200, json={"count": 0, "value": []}))
    fake.on("GET", r"/_apis/wit/fields$", httpx.Response(200, json=FIELDS))
    report = make_connector().check()
    assert not report.ok and "no projects are visible" in report.problems[0]


def out_of_range(version: str, latest: str | None) -> httpx.Response:
    tail = f" The latest REST API version this server supports is {latest}." if latest else ""
    return ado_error(
        400,
        f"The requested REST API version of {version} is out of range for this server.{tail}",
        "VssVersionOutOfRangeException",
    )


def test_server_api_version_is_probed_once_and_jumps_to_the_named_version(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    def projects(request: httpx.Request) -> httpx.Response:
        version = request.url.params["api-version"]
        return out_of_range(version, "6.0") if version != "6.0" else httpx.Response(200, json=PROJECTS)

    fake.on("GET", r"/_apis/projects$", projects)
    fake.on("GET", r"/_apis/wit/fields$", httpx.Response(200, json=FIELDS))
    connector = make_connector(SERVER, "ado_server", deployment="server")
    report = connector.check()
    assert report.ok, report.problems
    assert report.details["api_version"] == "6.0"
    assert [r.url.params["api-version"] for r in fake.requests] == ["7.1", "6.0", "6.0", "6.0"]
    assert all(r.url.path.startswith("/tfs/DefaultCollection/") for r in fake.requests)


def test_server_probe_steps_down_when_the_server_names_no_version(
    fake: FakeAdo, make_connector: Callable[..., AdoConnector]
) -> None:
    def projects(request: httpx.Request) -> httpx.Response:
        version = request.url.params["api-version"]
        return (
            out_of_range(version, None) if version in ("7.1", "7.0") else httpx.Response(200, json=PROJECTS)
        )

    fake.on("GET", r"/_apis/projects$", projects)
    connector = make_connector(SERVER, "ado_server", deployment="server")
    assert connector.client.api_version == "6.0"
    assert [r.url.params["api-version"] for r in fake.requests] == ["7.1", "7.0", "6.0"]


def test_pinned_api_version_is_not_probed(fake: FakeAdo, make_connector: Callable[..., AdoConnector]) -> None:
    fake.on("GET", r"/_apis/wit/fields$", httpx.Response(200, json=FIELDS))
    connector = make_connector(SERVER, "ado_server", deployment="server", api_version="5.1")
    connector.list_fields()
    (request,) = fake.requests
    assert request.url.params["api-version"] == "5.1"


def test_entities_and_metadata(fake: FakeAdo, make_connector: Callable[..., AdoConnector]) -> None:
    fake.on("GET", r"/_apis/wit/fields$", httpx.Response(200, json=FIELDS))
    fake.on(
        "GET",
        r"/Alpha%20Team/_apis/wit/workitemtypes$|/Alpha Team/_apis/wit/workitemtypes$",
        httpx.Response(200, json={"count": 2, "value": [{"name": "Bug"}, {"name": "User Story"}]}),
    )
    connector = make_connector()
    (entity,) = connector.entities()
    assert entity.name == "workitem" and entity.session_unit == "item"
    types = {f.name: (f.type, f.read_only, f.label) for f in entity.fields}
    assert types == {
        "System.Title": ("string", False, "Title"),
        "System.ChangedDate": ("datetime", True, "Changed Date"),
        "System.AssignedTo": ("identity", False, "Assigned To"),
        "System.AreaPath": ("tree_path", False, "Area Path"),
    }
    connector.entities()
    assert len(fake.sent("GET", "fields")) == 1, "field metadata is cached"
    assert connector.list_work_item_types("Alpha Team") == ["Bug", "User Story"]
    assert fake.requests[-1].url.raw_path.startswith(b"/contoso/Alpha%20Team/_apis/wit/workitemtypes?")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "https://user:pw@dev.azure.com/contoso"}, "not in the base URL"),
        ({"base_url": "dev.azure.com/contoso"}, "http"),
        ({"get_secret": lambda: "x", "auth": httpx.BasicAuth("a", "b")}, "only one"),
        (
            {"credential": "default", "options": AdoOptions(deployment="server")},
            "Server does not accept Entra",
        ),
    ],
)
def test_constructor_rejects_bad_set_ups(kwargs: dict[str, Any], message: str) -> None:
    args = {"system": "ado", "base_url": BASE, **kwargs}
    with pytest.raises(ValueError, match=message):
        AdoConnector(**args)


def test_options_validation() -> None:
    with pytest.raises(ValueError):
        AdoOptions(page_size=500)
    with pytest.raises(ValueError):
        AdoOptions(correlation_tag_prefix="a;b")
    with pytest.raises(ValueError):
        AdoOptions(unknown_option=True)


def test_repr_never_shows_the_secret(make_connector: Callable[..., AdoConnector]) -> None:
    connector = make_connector()
    assert CANARY_PAT not in repr(connector)
    assert "dev.azure.com/contoso" in repr(connector)


def test_importing_the_connector_does_not_import_azure_identity() -> None:
    root = Path(__file__).resolve().parents[2]
    code = "import sys, connectors.ado; assert 'azure.identity' not in sys.modules, 'eager import'"
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> Any:
        self.scopes.extend(scopes)
        return SimpleNamespace(token=f"jwt-{len(self.scopes)}-abcdefgh", expires_on=10_000)


def test_entra_token_is_requested_for_the_ado_resource_and_cached() -> None:
    credential = FakeCredential()
    now = [1000.0]
    provider = EntraTokenProvider(credential, clock=lambda: now[0])
    assert provider() == "jwt-1-abcdefgh"
    assert provider() == "jwt-1-abcdefgh"
    assert credential.scopes == [ADO_SCOPE]
    now[0] = 9_800.0  # inside the five-minute renewal margin
    assert provider() == "jwt-2-abcdefgh"


def test_entra_connector_sends_a_bearer_token(fake: FakeAdo) -> None:
    fake.on("GET", r"/_apis/wit/fields$", httpx.Response(200, json=FIELDS))
    connector = AdoConnector("ado_services", BASE, credential=FakeCredential(), transport=fake.transport)
    connector.list_fields()
    assert fake.requests[0].headers["Authorization"] == "Bearer jwt-1-abcdefgh"


class Secrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str:
        if name not in self.values:
            raise LookupError(f"secret {name!r} not found: set TANDEM_SECRET_{name.upper()}")
        return self.values[name]


def connection(url: str, auth: dict[str, Any], **options: Any) -> SimpleNamespace:
    return SimpleNamespace(
        url=url,
        auth=SimpleNamespace(**{"username": None, "client_id": None, "secret": None, **auth}),
        options=options,
    )


def test_factory_builds_from_connection_config() -> None:
    cloud = build(
        "ado-cloud", connection(BASE, {"kind": "pat", "secret": "ado-pat"}), Secrets({"ado-pat": "x" * 20})
    )
    assert cloud.system == "ado-cloud"
    assert cloud.options.deployment == "services"
    server = build(
        "ado-onprem",
        connection(SERVER, {"kind": "pat", "secret": "p"}, identity_map={"C\\a": "a@c.com"}),
        Secrets({}),
    )
    assert server.options.deployment == "server"
    assert server.options.identity_map == {"C\\a": "a@c.com"}
    forced = build(
        "emu", connection("http://127.0.0.1:5000/org", {"kind": "none"}, deployment="services"), Secrets({})
    )
    assert forced.options.deployment == "services"
    with pytest.raises(ValueError, match="not supported"):
        build("x", connection(BASE, {"kind": "ntlm", "secret": "s"}), Secrets({}))
    with pytest.raises(ValueError, match="does not accept Entra"):
        build("x", connection(SERVER, {"kind": "entra"}), Secrets({}))
    with pytest.raises(ValueError, match="unknown_option"):
        build("x", connection(BASE, {"kind": "none"}, unknown_option=1), Secrets({}))


def test_a_missing_secret_is_an_auth_error_in_the_write_result(fake: FakeAdo) -> None:
    from connectors.contract import Write
    from connectors.errors import AuthError

    fake.on("PATCH", r".", httpx.Response(200, json={}))
    config = connection(BASE, {"kind": "pat", "secret": "missing"})
    connector = build("ado-cloud", config, Secrets({}), transport=fake.transport)
    (result,) = connector.write("workitem", [Write(id="1", fields={"System.Title": "x"})])
    assert isinstance(result.error, AuthError)
    assert "TANDEM_SECRET_MISSING" in str(result.error)
    assert not fake.requests
