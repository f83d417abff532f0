"""Every app setting the code reads, in one place, with its local default.

`local.settings.sample.json` and `infra/` must list each `env` name below (a test checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class AppSettings(BaseModel):
    """Settings, each read from the environment variable named in its alias."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    storage_connection: str = Field("", alias="AzureWebJobsStorage")
    storage_account: str = Field("", alias="AzureWebJobsStorage__accountName")
    table_prefix: str = Field("tandem", alias="TABLE_PREFIX")
    servicebus_namespace: str = Field("", alias="ServiceBusConnection__fullyQualifiedNamespace")
    poll_queue: str = Field("tandem-poll", alias="POLL_QUEUE")
    item_queue: str = Field("tandem-items", alias="ITEM_QUEUE")
    deadletter_queue: str = Field("tandem-deadletter", alias="DEADLETTER_QUEUE")
    key_vault_url: str = Field("", alias="KEY_VAULT_URL")
    poll_schedule: str = Field("0 * * * * *", alias="POLL_SCHEDULE")
    public_base_url: str = Field("", alias="PUBLIC_BASE_URL")
    appinsights_connection: str = Field("", alias="APPLICATIONINSIGHTS_CONNECTION_STRING")
    max_attempts: int = Field(8, alias="MAX_ATTEMPTS")
    # SCIM provisioning (`scim/`): the azure_devops connection it provisions into (empty: SCIM off) and the
    # name of the secret holding the bearer token the identity provider sends.
    scim_ado_connection: str = Field("", alias="SCIM_ADO_CONNECTION")
    scim_token_secret: str = Field("scim-token", alias="SCIM_TOKEN_SECRET")
    # The admin console behind Microsoft Entra sign-in: the secret holding the function key it hands a
    # signed-in administrator (infra/ sets the `console` host key and this secret to the same value).
    console_key_secret: str = Field("console-function-key", alias="CONSOLE_KEY_SECRET")
    # The Functions host refuses larger request bodies with 413 (its own setting, bytes; the local host
    # honours it too). ADO caps hook payloads at 2 MB. The handlers check it again.
    request_body_limit: int = Field(2_097_152, alias="FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", gt=0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppSettings:
        env = os.environ if env is None else env
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        return cls.model_validate({k: v for k, v in env.items() if k in names})

    @classmethod
    def env_names(cls) -> list[str]:
        return [f.alias for f in cls.model_fields.values() if f.alias]
