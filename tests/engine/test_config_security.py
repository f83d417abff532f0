"""Where credentials may go: connection URLs and token authorities (https, loopback http, no user info, no
metadata or link-local address), secrets bound to hosts (in the configuration and in the secret store),
and configuration files whose YAML cannot expand (aliases refused before placeholders are substituted)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from state.secrets import LocalSecretStore
from sync.config import ConfigError, parse_config
from sync.registry import ConnectorRegistry
from tandem.configfile import load_config


def connection(url: str, **extra: object) -> dict:
    return {"connections": {"ado-cloud": {"type": "azure_devops", "url": url, **extra}}}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("https://169.254.10.1/org", "link-local"),
        ("https://[fd00:ec2::254]/", "metadata"),
        ("https://100.100.100.200/", "metadata"),
        ("https://metadata.google.internal/computeMetadata", "metadata"),
        ("https://[fe80::1]/org", "link-local"),
        ("https://[::ffff:169.254.169.254]/org", "metadata"),
        ("http://dev.azure.com/contoso", "https"),
        ("http://10.0.0.5:8080/tfs/DefaultCollection", "https"),
        ("https://user:secret@dev.azure.com/contoso", "user name or password"),
        ("https://user@dev.azure.com/contoso", "user name or password"),
        ("ftp://dev.azure.com/contoso", "https"),
        ("https:///contoso", "https"),
    ],
)
def test_a_connection_url_that_would_leak_credentials_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(connection(url))
    assert "connections.ado-cloud.url:" in str(exc.value) and reason in str(exc.value)
    assert "secret" not in str(exc.value) or reason == "user name or password"


@pytest.mark.parametrize(
    "url",
    [
        "https://dev.azure.com/contoso",
        "http://127.0.0.1:8080/tfs",
        "http://localhost:7071/x",
        "http://[::1]:81/x",
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert parse_config(connection(url)).connections["ado-cloud"].url == url.rstrip("/")


def test_a_token_authority_is_checked_like_a_url() -> None:
    pwa = {"type": "pwa", "url": "https://contoso.sharepoint.com/sites/pwa"}
    with pytest.raises(ConfigError) as exc:
        parse_config({"connections": {"pwa": {**pwa, "options": {"authority": "http://login.example.com"}}}})
    assert "connections.pwa.options: authority: must use https://" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        parse_config({"connections": {"pwa": {**pwa, "options": {"authority": "https://169.254.169.254"}}}})
    assert "connections.pwa.options: authority: points at a cloud metadata service" in str(exc.value)
    ok = {"authority": "https://login.microsoftonline.us"}
    assert parse_config({"connections": {"pwa": {**pwa, "options": ok}}})


def test_a_secret_declared_for_other_hosts_is_refused_naming_both() -> None:
    auth = {"kind": "pat", "secret": "ado-pat", "hosts": ["dev.azure.com"]}
    with pytest.raises(ConfigError) as exc:
        parse_config(connection("https://evil.example/contoso", auth=auth))
    text = str(exc.value)
    assert "connections.ado-cloud.auth.hosts:" in text
    assert "'ado-pat'" in text and "dev.azure.com" in text and "evil.example" in text
    assert parse_config(connection("https://DEV.azure.com/contoso", auth=auth))


def test_one_secret_named_for_two_hosts_is_refused_naming_both_connections() -> None:
    auth = {"kind": "pat", "secret": "pat"}
    document = {
        "connections": {
            "ado-cloud": {"type": "azure_devops", "url": "https://dev.azure.com/c", "auth": auth},
            "ado-copy": {"type": "azure_devops", "url": "https://ado.example.net/c", "auth": auth},
        }
    }
    with pytest.raises(ConfigError) as exc:
        parse_config(document)
    text = str(exc.value)
    assert "connections.ado-copy.auth.secret:" in text and "connections.ado-cloud" in text
    assert "dev.azure.com" in text and "ado.example.net" in text


def test_a_secret_bound_in_the_store_is_not_sent_to_another_host() -> None:
    store = LocalSecretStore({"TANDEM_SECRET_ADO_PAT": "p" * 24}, env={})
    store.bind("ado-pat", ["dev.azure.com"])
    registry = ConnectorRegistry(store)
    config = parse_config(connection("https://evil.example/c", auth={"kind": "pat", "secret": "ado-pat"}))
    with pytest.raises(ConfigError) as exc:
        registry.get("ado-cloud", config.connections["ado-cloud"])
    text = str(exc.value)
    assert text.startswith("connections.ado-cloud.auth.secret:")
    assert "'ado-pat'" in text and "dev.azure.com" in text and "evil.example" in text
    assert "p" * 24 not in text
    # The same secret, bound by a setting beside it (as local.settings.json holds it), for its own host.
    store = LocalSecretStore(
        {"TANDEM_SECRET_ADO_PAT": "p" * 24, "TANDEM_SECRET_ADO_PAT__HOSTS": "dev.azure.com"}, env={}
    )
    good = parse_config(connection("https://dev.azure.com/c", auth={"kind": "pat", "secret": "ado-pat"}))
    assert ConnectorRegistry(store).get("ado-cloud", good.connections["ado-cloud"])
    with pytest.raises(ConfigError):
        ConnectorRegistry(store).get("ado-cloud", config.connections["ado-cloud"])


def test_services_refuse_to_save_a_configuration_naming_a_secret_bound_elsewhere(tables) -> None:
    from state.local_queue import LocalQueue
    from sync.services import Services
    from sync.settings import AppSettings

    store = LocalSecretStore({"TANDEM_SECRET_ADO_PAT": "p" * 24}, env={})
    store.bind("ado-pat", ["dev.azure.com"])
    services = Services(AppSettings(), tables, LocalQueue(), store, ConnectorRegistry(store))
    config = parse_config(connection("https://evil.example/c", auth={"kind": "pat", "secret": "ado-pat"}))
    with pytest.raises(ConfigError) as exc:
        services.apply_config(config)
    assert "connections.ado-cloud.auth.secret" in str(exc.value)
    assert not (services.config_store.load() or {}).get("connections")  # nothing was saved


BOMB = """\
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
connections: {x: {type: memory, url: "${X}", options: {o: *g}}}
"""


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    file = tmp_path / "bomb.yaml"
    file.write_text(BOMB)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_config(file, {"X": "memory://x"})
    assert time.perf_counter() - started < 2.0  # 10^7 leaves would take 18 s expanded
    text = str(exc.value)
    assert "aliases (*a) are not accepted" in text and str(file) in text and "line 2, column 8" in text


def test_an_oversized_configuration_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "big.yaml"
    file.write_text("# " + "x" * 2_100_000 + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(file)
    assert "at most" in str(exc.value)


def test_an_oauth_secret_is_bound_to_its_token_authority_not_the_connection_url() -> None:
    auth = {"kind": "oauth_refresh_token", "secret": "pwa-rt", "client_id": "c", "tenant": "t"}
    pwa = {"type": "pwa", "url": "https://contoso.sharepoint.com/sites/pwa", "auth": auth}
    config = parse_config({"connections": {"pwa": pwa}})
    assert config.connections["pwa"].secret_host == "login.microsoftonline.com"
    sovereign = {**pwa, "options": {"authority": "https://login.microsoftonline.us"}}
    assert parse_config({"connections": {"pwa": sovereign}}).connections["pwa"].secret_host == (
        "login.microsoftonline.us"
    )
    # One Entra secret for two resources goes to one token endpoint: allowed.
    other = {**pwa, "url": "https://fabrikam.sharepoint.com/sites/pwa"}
    assert parse_config({"connections": {"pwa": pwa, "pwa2": other}})
    with pytest.raises(ConfigError) as exc:
        parse_config({"connections": {"pwa": pwa, "pwa2": sovereign}})
    assert "login.microsoftonline.com" in str(exc.value) and "login.microsoftonline.us" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        parse_config({"connections": {"pwa": {**pwa, "auth": {**auth, "hosts": ["contoso.sharepoint.com"]}}}})
    assert "connections.pwa.auth.hosts:" in str(exc.value) and "login.microsoftonline.com" in str(exc.value)
