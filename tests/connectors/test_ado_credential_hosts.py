"""An ADO credential goes to hosts of the same deployment only (issue 10 follow-up): Services hosts on
Services, the collection's own origin on Server, loopback for the local stack. A resourceAreas answer or an
`options.hosts` entry naming another host is an error, never a call carrying the token."""

from __future__ import annotations

import httpx
import pytest

from connectors.ado import AdoConnector, AdoOptions
from connectors.ado.entitlements import EntitlementsClient
from connectors.ado.hosts import credential_host_problem, hosts_option_problems
from connectors.ado_pipelines.client import PipelinesClient
from connectors.errors import PermanentError
from sync.config import ConfigError, parse_config

PAT = "credential-hosts-canary-pat"


@pytest.mark.parametrize(
    "url",
    [
        "https://vsrm.dev.azure.com/contoso",
        "https://dev.azure.com/contoso",
        "https://contoso.vsrm.visualstudio.com",
        "http://127.0.0.1:8081/contoso",
        "http://localhost:9000",
    ],
)
def test_services_hosts_and_loopback_are_accepted_on_services(url: str) -> None:
    base = "https://dev.azure.com/contoso"
    assert credential_host_problem(url, base_url=base, deployment="services") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://evil.example/contoso", "not an Azure DevOps Services host"),
        ("https://dev.azure.com.evil.example/x", "not an Azure DevOps Services host"),
        ("https://evildev.azure.com/x", "not an Azure DevOps Services host"),
        ("http://vsrm.dev.azure.com/contoso", "must use https://"),
        ("https://169.254.169.254/", "metadata"),
    ],
)
def test_other_hosts_are_refused_on_services(url: str, expected: str) -> None:
    problem = credential_host_problem(url, base_url="https://dev.azure.com/contoso", deployment="services")
    assert problem is not None and expected in problem


def test_server_sends_only_to_its_own_origin() -> None:
    base = "https://tfs.contoso.local/tfs/DefaultCollection"
    assert credential_host_problem(f"{base}/_apis", base_url=base, deployment="server") is None
    same = "https://tfs.contoso.local:443/x"
    assert credential_host_problem(same, base_url=base, deployment="server") is None
    for other in ("https://tfs.contoso.local:8443/x", "https://vsrm.dev.azure.com/c", "https://evil.example"):
        problem = credential_host_problem(other, base_url=base, deployment="server")
        assert problem is not None and "collection's own origin" in problem


def test_hosts_option_problems_name_the_field() -> None:
    problems = hosts_option_problems(
        "https://dev.azure.com/contoso",
        {"hosts": {"vsaex": "https://vsaex.dev.azure.com/contoso", "vssps": "https://evil.example/contoso"}},
    )
    assert len(problems) == 1 and problems[0].startswith("options.hosts.vssps: host evil.example")


def _config(url: str, hosts: dict[str, str], kind: str = "azure_devops") -> dict:
    auth = {"kind": "pat", "secret": "ado-pat"}
    options: dict = {"hosts": hosts} | ({"project": "Fabrikam"} if kind == "azure_devops_pipelines" else {})
    return {"connections": {"ado": {"type": kind, "url": url, "auth": auth, "options": options}}}


@pytest.mark.parametrize("kind", ["azure_devops", "azure_devops_pipelines"])
def test_config_save_refuses_a_foreign_host_naming_the_field(kind: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(_config("https://dev.azure.com/c", {"vsaex": "https://attacker.example/c"}, kind))
    assert "connections.ado" in str(exc.value) and "options.hosts.vsaex" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        parse_config(_config("https://tfs.contoso.local/tfs/C", {"vsrm": "https://tfs2.contoso.local/tfs/C"}))
    assert "options.hosts.vsrm" in str(exc.value) and "collection's own origin" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        parse_config(_config("https://dev.azure.com/c", {"vsaex": "http://vsaex.dev.azure.com/c"}))
    assert "options.hosts.vsaex: must use https://" in str(exc.value)
    assert parse_config(_config("https://dev.azure.com/c", {"vsaex": "https://vsaex.dev.azure.com/c"}, kind))
    assert parse_config(_config("https://dev.azure.com/c", {"vsaex": "http://127.0.0.1:9999/c"}, kind))


class _Recorder:
    """A transport that answers everything and records where each request (and its Authorization) went."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.url.host, request.headers.get("authorization")))
        if "resourceAreas" in request.url.path:
            return httpx.Response(200, json={"id": "x", "locationUrl": self.location})
        return httpx.Response(200, json={"count": 0, "value": []})


def _ado(recorder: _Recorder, base: str, **options: object) -> AdoConnector:
    return AdoConnector(
        "ado",
        base,
        AdoOptions(api_version="7.1", **options),  # type: ignore[arg-type]
        get_secret=lambda: PAT,
        transport=httpx.MockTransport(recorder),
    )


def test_a_resource_area_answer_naming_another_host_is_an_error_not_a_call() -> None:
    recorder = _Recorder("https://attacker.example/contoso")
    client = PipelinesClient(_ado(recorder, "https://dev.azure.com/contoso").client)
    with pytest.raises(PermanentError) as exc:
        client.list_definitions("Fabrikam")
    assert "locationUrl" in str(exc.value) and "attacker.example" in str(exc.value)
    assert PAT not in str(exc.value)
    assert [host for host, _ in recorder.calls] == ["dev.azure.com"]  # the lookup only; nothing to attacker


def test_a_resource_area_answer_on_services_is_followed() -> None:
    recorder = _Recorder("https://vsrm.dev.azure.com/contoso")
    client = PipelinesClient(_ado(recorder, "https://dev.azure.com/contoso").client)
    client.list_definitions("Fabrikam")
    assert [host for host, _ in recorder.calls] == ["dev.azure.com", "vsrm.dev.azure.com"]


def test_an_explicit_release_url_on_another_origin_is_refused_on_server() -> None:
    recorder = _Recorder("")
    ado = _ado(recorder, "https://tfs.contoso.local/tfs/C", deployment="server")
    with pytest.raises(PermanentError) as exc:
        PipelinesClient(ado.client, release_url="https://vsrm.dev.azure.com/c")
    assert "release_url" in str(exc.value) and "collection's own origin" in str(exc.value)
    assert recorder.calls == []


def test_a_hosts_override_to_a_foreign_host_is_never_called() -> None:
    recorder = _Recorder("")
    ado = _ado(recorder, "https://dev.azure.com/contoso", hosts={"vsaex": "https://attacker.example/x"})
    with pytest.raises(PermanentError) as exc:
        EntitlementsClient(ado.client).list_users()
    assert "options.hosts.vsaex" in str(exc.value)
    assert recorder.calls == []
