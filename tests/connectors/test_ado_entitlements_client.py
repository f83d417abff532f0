"""`EntitlementsClient` against the ADO emulator over HTTP: the other hosts ADO serves these APIs on,
refusals answered 200 + isSuccess false, paging, asynchronous operations polled to completion."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.ado.client import AdoClient
from connectors.ado.config import AdoOptions
from connectors.ado.connector import AdoConnector
from connectors.ado.entitlements import EntitlementRefused, EntitlementsClient
from connectors.errors import PermanentError, ThrottledError, TransientError
from emulators.ado import AdoEmulator

BASIC = {"licensingSource": "account", "accountLicenseType": "express"}


@pytest.fixture
def ado() -> Iterator[tuple[AdoEmulator, EntitlementsClient]]:
    with AdoEmulator("services", pat="entitlements-pat") as emulator:
        connector = AdoConnector(
            "ado", emulator.base_url, AdoOptions(deployment="services"), get_secret=lambda: "entitlements-pat"
        )
        with connector:
            yield emulator, EntitlementsClient(connector.client, sleep=lambda _: None)


@pytest.mark.parametrize(
    ("base", "service", "expected"),
    [
        ("https://dev.azure.com/contoso", "vsaex", "https://vsaex.dev.azure.com/contoso/_apis/x"),
        ("https://dev.azure.com/contoso", "vssps", "https://vssps.dev.azure.com/contoso/_apis/x"),
        ("https://contoso.visualstudio.com", "vsaex", "https://contoso.vsaex.visualstudio.com/_apis/x"),
        ("https://tfs.contoso.com/tfs/Default", "vsaex", "https://tfs.contoso.com/tfs/Default/_apis/x"),
    ],
)
def test_service_hosts(base: str, service: str, expected: str) -> None:
    client = AdoClient(base, AdoOptions(), http=None)  # type: ignore[arg-type]
    assert client.service_url(service, "_apis/x") == expected


def test_service_hosts_can_be_mapped_within_the_deployment() -> None:
    options = AdoOptions(hosts={"vsaex": "http://127.0.0.1:8099/vsaex/contoso/"})
    client = AdoClient("https://dev.azure.com/contoso", options, http=None)  # type: ignore[arg-type]
    assert client.service_url("vsaex", "/_apis/x") == "http://127.0.0.1:8099/vsaex/contoso/_apis/x"
    assert client.service_url("vssps", "_apis/x") == "https://vssps.dev.azure.com/contoso/_apis/x"
    # A proxy elsewhere would receive the PAT: refused (see test_ado_credential_hosts.py).
    elsewhere = AdoOptions(hosts={"vsaex": "https://proxy.contoso.com/vsaex/contoso/"})
    client = AdoClient("https://dev.azure.com/contoso", elsewhere, http=None)  # type: ignore[arg-type]
    with pytest.raises(PermanentError, match=r"options\.hosts\.vsaex: host proxy\.contoso\.com"):
        client.service_url("vsaex", "/_apis/x")


def test_users_paged_and_found_by_principal_name(ado: tuple[AdoEmulator, EntitlementsClient]) -> None:
    emulator, client = ado
    for i in range(150):
        emulator.directory.add_member(f"person{i:03}@contoso.com", BASIC, emulator.state.now())
    first = client.list_users()
    assert len(first.items) == 100 and first.continuation and first.total == 150
    assert len(list(client.iter_users())) == 150
    found = client.find_user("PERSON042@contoso.com")
    assert found is not None and found["user"]["principalName"] == "person042@contoso.com"
    assert client.find_user("person04@contoso.com") is None  # the contains-search is narrowed to equality


def test_refusals_raise_with_ados_message(ado: tuple[AdoEmulator, EntitlementsClient]) -> None:
    _, client = ado
    with pytest.raises(EntitlementRefused, match="VS403283"):
        client.add_user("no-address", BASIC)
    user = client.add_user("ann@contoso.com", BASIC)
    with pytest.raises(EntitlementRefused, match="not a valid account license type"):
        client.set_access_level(user["id"], {"licensingSource": "account", "accountLicenseType": "gold"})
    rule = {"licensingSource": "account", "accountLicenseType": "express", "msdnLicenseType": "none"}
    group = client.add_group({"group": {"origin": "vsts", "displayName": "Ops"}, "licenseRule": rule})
    client.delete_group(group["id"])
    with pytest.raises(EntitlementRefused, match="VS403294"):
        client.add_group({"group": {"origin": "vsts", "displayName": "Ops"}, "licenseRule": rule})


def test_throttling_is_a_throttled_error_with_retry_after(
    ado: tuple[AdoEmulator, EntitlementsClient],
) -> None:
    emulator, client = ado
    emulator.faults.add(endpoint="mem.userentitlements.add", status=429, retry_after=7)
    with pytest.raises(ThrottledError) as caught:
        client.add_user("bob@contoso.com", BASIC)
    assert caught.value.retry_after == 7


def test_project_operations_are_polled(ado: tuple[AdoEmulator, EntitlementsClient]) -> None:
    emulator, client = ado
    emulator.operations.polls_before_done = 3
    body = {
        "name": "Apollo",
        "capabilities": {
            "versioncontrol": {"sourceControlType": "Git"},
            "processTemplate": {"templateTypeId": "b8a3a935-7e91-48b8-a94c-606d37c3e9f2"},
        },
    }
    project = client.create_project(body)
    assert project["name"] == "Apollo"
    assert project["capabilities"]["processTemplate"]["templateName"] == "Basic"
    assert emulator.counters.calls("operations.get") == 4


def test_a_failed_operation_is_permanent_and_a_stuck_one_transient(
    ado: tuple[AdoEmulator, EntitlementsClient],
) -> None:
    emulator, client = ado
    failed = emulator.operations.start(lambda: "TF200016: the project could not be created")
    emulator.operations.polls_before_done = 0
    with pytest.raises(PermanentError, match="TF200016"):
        client.wait_for_operation(failed.id)
    emulator.operations.polls_before_done = 10_000
    stuck = emulator.operations.start(lambda: None)
    ticks = iter(range(0, 1000, 10))
    patient = EntitlementsClient(client.client, sleep=lambda _: None, clock=lambda: float(next(ticks)))
    with pytest.raises(TransientError, match="still inProgress"):
        patient.wait_for_operation(stuck.id, timeout=60)
