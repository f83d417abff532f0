"""Secret stores return values, name missing secrets helpfully, and never let a value into errors or logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import KeyVaultSecret, SecretClient, SecretProperties

from state import redact
from state.redact import MASK, RedactingFilter, Redactor, install_log_redaction
from state.secrets import (
    KeyVaultSecretStore,
    LocalSecretStore,
    SecretAccessError,
    SecretNotFound,
    SecretStore,
    env_var_name,
    secret_store,
)

CANARY = "canary-Zq8xK2-do-not-leak"
VAULT = "https://contoso-sync-kv.vault.azure.net/"
log = logging.getLogger("tandem.test")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_redactor() -> Iterator[None]:
    # Every test starts with a redactor that has never seen the canary, and leaves logging as it found it.
    factory = logging.getLogRecordFactory()
    redact.default_redactor.clear()
    yield
    redact.default_redactor.clear()
    logging.setLogRecordFactory(factory)


def kv_secret(name: str, value: str | None) -> KeyVaultSecret:
    return KeyVaultSecret(SecretProperties(vault_id=f"{VAULT}secrets/{name}/v1"), value)


def kv_client(values: dict[str, str]) -> Any:
    client = mock.create_autospec(SecretClient, instance=True)

    def get_secret(name: str, version: str | None = None, **kwargs: Any) -> KeyVaultSecret:
        if name not in values:
            raise ResourceNotFoundError(f"(SecretNotFound) A secret with (name/id) {name} was not found")
        return kv_secret(name, values[name])

    def set_secret(name: str, value: str, **kwargs: Any) -> KeyVaultSecret:
        values[name] = value
        return kv_secret(name, value)

    client.get_secret.side_effect = get_secret
    client.set_secret.side_effect = set_secret
    return client


def assert_no_canary(*texts: object) -> None:
    for text in texts:
        assert CANARY not in str(text)
        assert CANARY not in repr(text)


def exception_text(err: BaseException) -> str:
    """Everything a traceback would show: the exception and its whole cause/context chain."""
    parts: list[str] = []
    seen: BaseException | None = err
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# -- local store -------------------------------------------------------------------------------------


def test_env_var_name() -> None:
    assert env_var_name("ado-cloud-pat") == "TANDEM_SECRET_ADO_CLOUD_PAT"
    assert env_var_name("pwa-refresh-token") == "TANDEM_SECRET_PWA_REFRESH_TOKEN"


def test_local_store_reads_env_then_mapping_and_registers_values() -> None:
    store = LocalSecretStore(
        {"TANDEM_SECRET_FROM_FILE": "file-value-1", "raw-name": "raw-value-1", "POLL_QUEUE": "tandem-poll"},
        env={"TANDEM_SECRET_ADO_CLOUD_PAT": CANARY, "TANDEM_SECRET_FROM_FILE": "env-wins"},
    )
    assert isinstance(store, SecretStore)
    assert store.get("ado-cloud-pat") == CANARY
    assert store.get("from-file") == "env-wins"
    assert store.get("raw-name") == "raw-value-1"
    assert redact.redact(f"token {CANARY}") == f"token {MASK}"
    assert redact.redact("queue tandem-poll") == "queue tandem-poll"  # ordinary settings stay readable


def test_local_store_missing_secret_says_where_to_put_it() -> None:
    store = LocalSecretStore(env={"TANDEM_SECRET_EMPTY": ""})
    with pytest.raises(SecretNotFound) as err:
        store.get("ado-cloud-pat")
    assert "'ado-cloud-pat'" in str(err.value)
    assert "TANDEM_SECRET_ADO_CLOUD_PAT" in str(err.value)
    assert isinstance(err.value, LookupError)
    with pytest.raises(SecretNotFound):
        store.get("empty")


def test_local_store_rejects_names_key_vault_would_reject() -> None:
    with pytest.raises(ValueError, match="letters, digits and dashes"):
        LocalSecretStore(env={}).get("ado_cloud_pat")


def test_local_store_set_overrides_and_writes_back_to_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {"POLL_QUEUE": "tandem-poll"}}))
    store = LocalSecretStore.from_settings_file(
        settings, env={"TANDEM_SECRET_PWA_REFRESH_TOKEN": "old-token"}
    )
    assert store.get("pwa-refresh-token") == "old-token"
    store.set("pwa-refresh-token", CANARY)
    assert store.get("pwa-refresh-token") == CANARY
    data = json.loads(settings.read_text())
    assert data["Values"] == {"POLL_QUEUE": "tandem-poll", "TANDEM_SECRET_PWA_REFRESH_TOKEN": CANARY}
    assert data["IsEncrypted"] is False
    assert list(tmp_path.iterdir()) == [settings]  # no temporary file left behind
    reloaded = LocalSecretStore.from_settings_file(settings, env={})
    assert reloaded.get("pwa-refresh-token") == CANARY


def test_local_store_flat_file_and_no_write_back(tmp_path: Path) -> None:
    flat = tmp_path / "secrets.json"
    flat.write_text(json.dumps({"ado-pat": "flat-value"}))
    store = LocalSecretStore.from_settings_file(flat, env={}, write_back=False)
    assert store.get("ado-pat") == "flat-value"
    store.set("ado-pat", "new-value")
    assert store.get("ado-pat") == "new-value"
    assert json.loads(flat.read_text()) == {"ado-pat": "flat-value"}


def test_local_store_never_shows_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = LocalSecretStore(
        {"TANDEM_SECRET_FILE_SECRET": CANARY}, env={"TANDEM_SECRET_X": CANARY}, path=tmp_path / "s.json"
    )
    store.set("rotated", CANARY)
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG):
        log.info("got %s for %s", store.get("x"), store)
        try:
            raise RuntimeError(f"upstream said: bad token {store.get('x')}")
        except RuntimeError:
            log.exception("call failed")
        with pytest.raises(SecretNotFound) as err:
            store.get("missing")
    assert_no_canary(store, caplog.text, exception_text(err.value))
    assert MASK in caplog.text
    assert "bad token ***" in caplog.text


# -- Key Vault store ---------------------------------------------------------------------------------


def test_key_vault_store_reads_and_caches_for_the_ttl() -> None:
    client = kv_client({"ado-cloud-pat": CANARY})
    clock = Clock()
    store = KeyVaultSecretStore(VAULT, client=client, ttl_seconds=60, clock=clock)
    assert isinstance(store, SecretStore)
    assert store.get("ado-cloud-pat") == CANARY
    clock.now += 59
    assert store.get("ado-cloud-pat") == CANARY
    client.get_secret.assert_called_once_with("ado-cloud-pat")
    clock.now += 1
    store.get("ado-cloud-pat")
    assert client.get_secret.call_count == 2
    store.invalidate("ado-cloud-pat")
    store.get("ado-cloud-pat")
    assert client.get_secret.call_count == 3
    assert redact.redact(CANARY) == MASK


def test_key_vault_store_set_writes_back_and_updates_the_cache() -> None:
    values = {"pwa-refresh-token": "old-token"}
    client = kv_client(values)
    store = KeyVaultSecretStore(VAULT, client=client, clock=Clock())
    assert store.get("pwa-refresh-token") == "old-token"
    store.set("pwa-refresh-token", CANARY)
    client.set_secret.assert_called_once_with("pwa-refresh-token", CANARY)
    assert store.get("pwa-refresh-token") == CANARY
    assert client.get_secret.call_count == 1  # served from the cache the write refreshed
    assert values["pwa-refresh-token"] == CANARY


def test_key_vault_missing_secret_names_it_and_the_vault() -> None:
    store = KeyVaultSecretStore(VAULT, client=kv_client({"blank": ""}))
    with pytest.raises(SecretNotFound) as err:
        store.get("ado-cloud-pat")
    message = str(err.value)
    assert "'ado-cloud-pat'" in message and VAULT in message
    assert "--vault-name contoso-sync-kv --name ado-cloud-pat" in message
    with pytest.raises(SecretNotFound, match="is empty"):
        store.get("blank")


def test_key_vault_permission_errors_name_the_role() -> None:
    client = mock.create_autospec(SecretClient, instance=True)
    forbidden = HttpResponseError("(Forbidden) caller is not authorized")
    forbidden.status_code = 403
    client.get_secret.side_effect = forbidden
    client.set_secret.side_effect = forbidden
    store = KeyVaultSecretStore(VAULT, client=client)
    with pytest.raises(SecretAccessError, match="Key Vault Secrets User"):
        store.get("ado-cloud-pat")
    with pytest.raises(SecretAccessError, match="Key Vault Secrets Officer") as err:
        store.set("ado-cloud-pat", CANARY)
    assert_no_canary(exception_text(err.value))
    client.get_secret.side_effect = ClientAuthenticationError("DefaultAzureCredential failed")
    with pytest.raises(SecretAccessError, match="authenticate"):
        store.get("other")


def test_key_vault_set_failure_never_carries_the_value() -> None:
    client = mock.create_autospec(SecretClient, instance=True)
    # Worst case: the SDK error echoes the request body.
    echo = HttpResponseError(f'(BadParameter) body {{"value": "{CANARY}"}}')
    echo.status_code = 400
    client.set_secret.side_effect = echo
    store = KeyVaultSecretStore(VAULT, client=client)
    with pytest.raises(SecretAccessError) as err:
        store.set("pwa-refresh-token", CANARY)
    assert_no_canary(exception_text(err.value))
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_key_vault_store_never_shows_values(caplog: pytest.LogCaptureFixture) -> None:
    store = KeyVaultSecretStore(VAULT, client=kv_client({"ado-cloud-pat": CANARY}), clock=Clock())
    install_log_redaction()
    with caplog.at_level(logging.DEBUG):
        value = store.get("ado-cloud-pat")
        log.warning("authorization header: Basic %s", _basic(value))
        log.error("request for %s failed", value)
        log.info("store %r", store)
        with pytest.raises(SecretNotFound) as err:
            store.get("missing")
    assert_no_canary(store, caplog.text, exception_text(err.value))
    assert "Basic ***" in caplog.text
    assert "request for *** failed" in caplog.text


def _basic(value: str) -> str:
    import base64

    return base64.b64encode(f":{value}".encode()).decode()


def test_key_vault_client_is_created_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.identity
    import azure.keyvault.secrets

    made: list[tuple[Any, ...]] = []
    fake = kv_client({"a-secret": "value-1234"})
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda: "cred")
    monkeypatch.setattr(
        azure.keyvault.secrets, "SecretClient", lambda url, cred: made.append((url, cred)) or fake
    )
    store = KeyVaultSecretStore(VAULT)
    assert made == []
    assert store.get("a-secret") == "value-1234"
    assert made == [(VAULT, "cred")]


def test_missing_vault_url_names_the_setting() -> None:
    with pytest.raises(ValueError, match="KEY_VAULT_URL"):
        KeyVaultSecretStore("")


def test_secret_store_factory(tmp_path: Path) -> None:
    assert isinstance(secret_store(VAULT), KeyVaultSecretStore)
    assert isinstance(secret_store(""), LocalSecretStore)
    assert isinstance(secret_store(settings_file=tmp_path / "none.json"), LocalSecretStore)


# -- redactor ----------------------------------------------------------------------------------------


def test_redactor_masks_values_and_their_encodings() -> None:
    r = Redactor()
    r.register("a+b/c=secret")
    r.register("abc")  # too short to mask usefully
    assert r.redact("x a+b/c=secret y") == "x *** y"
    assert r.redact("client_secret=a%2Bb%2Fc%3Dsecret&x=1") == "client_secret=***&x=1"
    assert r.redact(f"Basic {_basic('a+b/c=secret')}") == "Basic ***"
    assert r.redact("abc") == "abc"
    assert "secret" not in repr(r)


def test_redactor_masks_the_longest_match_first() -> None:
    r = Redactor()
    r.register("token-1234")
    r.register("token-1234-extended")
    assert r.redact("token-1234-extended") == "***"


def test_filter_masks_args_tracebacks_and_extras(caplog: pytest.LogCaptureFixture) -> None:
    r = Redactor()
    r.register(CANARY)
    caplog.handler.addFilter(RedactingFilter(r))
    with caplog.at_level(logging.INFO):
        log.info("plain %s message", "visible")
        log.info("value %s and %d", CANARY, 3)
        try:
            raise ValueError(CANARY)
        except ValueError:
            log.exception("failed", extra={"detail": CANARY})
    assert CANARY not in caplog.text
    assert "plain visible message" in caplog.text
    assert "value *** and 3" in caplog.text
    plain, _, failed = caplog.records
    assert (plain.msg, plain.args) == ("plain %s message", ("visible",))  # untouched records keep templates
    assert failed.detail == MASK
    assert CANARY not in (failed.exc_text or "")


def test_installed_record_factory_masks_every_handler() -> None:
    r = Redactor()
    r.register(CANARY)
    install_log_redaction(r)
    install_log_redaction(r)  # idempotent
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    other = logging.getLogger("tandem.other")
    other.addHandler(handler)
    try:
        other.warning("leak? %s", CANARY)
    finally:
        other.removeHandler(handler)
    assert records[0].getMessage() == "leak? ***"


def test_key_vault_tag_binds_a_secret_to_hosts_and_a_rotation_keeps_it() -> None:
    client = mock.create_autospec(SecretClient, instance=True)
    tags = {"pwa-refresh-token": {"tandem-hosts": "contoso.sharepoint.com, login.microsoftonline.com"}}

    def get_secret(name: str, version: str | None = None, **kwargs: Any) -> KeyVaultSecret:
        props = SecretProperties(vault_id=f"{VAULT}secrets/{name}/v1", tags=tags.get(name))
        return KeyVaultSecret(props, CANARY)

    client.get_secret.side_effect = get_secret
    client.set_secret.side_effect = lambda name, value, **kw: kv_secret(name, value)
    store = KeyVaultSecretStore(VAULT, client=client)
    assert store.hosts("pwa-refresh-token") == {"contoso.sharepoint.com", "login.microsoftonline.com"}
    assert store.hosts("ado-pat") is None  # no tag: not bound
    store.set("pwa-refresh-token", "rotated-" + CANARY)
    client.set_secret.assert_called_once_with(
        "pwa-refresh-token",
        "rotated-" + CANARY,
        tags={"tandem-hosts": "contoso.sharepoint.com,login.microsoftonline.com"},
    )
