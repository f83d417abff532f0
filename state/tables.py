"""Table Storage access shared by the stores: the service client, table names, and entity packing.

Large JSON values are compressed and split across properties so no entity passes the service limits
(64 KiB per string property, 1 MiB per entity).
"""

from __future__ import annotations

import base64
import json
import random
import time
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from sync.settings import AppSettings

TABLES = ("config", "links", "watermarks", "runs", "failures", "conflicts", "scim", "hooks", "bulkjobs")
# A string property holds 64 KiB (UTF-16), i.e. 32K characters; stay well below.
_CHUNK = 30_000
_MAX_CHUNKS = 24  # 24 x 30K chars ≈ 720 KB, under the 1 MiB entity limit with room for other columns
T = TypeVar("T")


class StateError(Exception):
    """A state-store problem a person must act on (entity too large, table unreachable)."""


class ConcurrencyError(StateError):
    """A read-modify-write lost its race too many times."""


class Tables:
    """Opens (and creates on first use) the app's tables on one storage account."""

    def __init__(self, service: TableServiceClient, prefix: str = "tandem") -> None:
        self.service = service
        self.prefix = prefix
        self._clients: dict[str, TableClient] = {}

    @classmethod
    def from_settings(cls, settings: AppSettings) -> Tables:
        if settings.storage_connection:
            service = TableServiceClient.from_connection_string(settings.storage_connection)
        elif settings.storage_account:
            from azure.identity import DefaultAzureCredential

            endpoint = f"https://{settings.storage_account}.table.core.windows.net"
            service = TableServiceClient(endpoint=endpoint, credential=DefaultAzureCredential())
        else:
            raise StateError(
                "No storage configured: set AzureWebJobsStorage (connection string) or "
                "AzureWebJobsStorage__accountName (managed identity)."
            )
        return cls(service, settings.table_prefix)

    def name(self, table: str) -> str:
        return f"{self.prefix}{table}"

    def table(self, table: str) -> TableClient:
        client = self._clients.get(table)
        if client is None:
            client = self.service.get_table_client(self.name(table))
            self._clients[table] = client
        return client

    def create_all(self) -> None:
        from azure.core.exceptions import HttpResponseError

        for table in TABLES:
            try:
                self.service.create_table_if_not_exists(self.name(table))
            except HttpResponseError as exc:
                # In Azure the identity holds rights on its tables, not on the account; infra/ creates
                # them. A missing table then fails on first use with its name.
                if exc.status_code != 403:
                    raise


def transient_table_error(exc: BaseException) -> bool:
    """A Table Storage failure worth trying again later: the connection was refused or reset, the
    answer never came, or the service answered 5xx (ServerBusy, OperationTimedOut) or 408/429."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    return status is not None and (status >= 500 or status in (408, 429))


def submit(client: TableClient, ops: list[Any], attempts: int = 3) -> list[Any]:
    """`submit_transaction`, sent again when the connection was reset or the answer lost (the SDK does
    not retry a POST). A transaction is atomic and its writes conditional: one that did go through the
    first time fails the second as a conflict, which the caller handles as a lost race."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    for attempt in range(attempts):
        try:
            return client.submit_transaction(ops)
        except (ServiceRequestError, ServiceResponseError):
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
    raise AssertionError("unreachable")


def pack_json(prefix: str, value: Any) -> dict[str, Any]:
    """Encode `value` as JSON into one or more string properties named `{prefix}`, `{prefix}_1`…"""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    encoding = "json"
    if len(text) > _CHUNK:
        text = base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")
        encoding = "zlib"
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    if len(chunks) > _MAX_CHUNKS:
        raise StateError(
            f"Value '{prefix}' is too large to store ({len(text)} characters after compression); "
            "reduce the mapped fields or their size."
        )
    props: dict[str, Any] = {f"{prefix}_enc": encoding, f"{prefix}_n": len(chunks)}
    for i, chunk in enumerate(chunks):
        props[prefix if i == 0 else f"{prefix}_{i}"] = chunk
    return props


def unpack_json(prefix: str, entity: dict[str, Any], default: Any = None) -> Any:
    if prefix not in entity:
        return default
    n = int(entity.get(f"{prefix}_n", 1))
    text = "".join(entity[prefix if i == 0 else f"{prefix}_{i}"] for i in range(n))
    if entity.get(f"{prefix}_enc") == "zlib":
        text = zlib.decompress(base64.b64decode(text)).decode("utf-8")
    return json.loads(text) if text else default


def clear_json(prefix: str, entity: dict[str, Any]) -> None:
    """Drop the old chunks so a REPLACE write does not leave stale trailing parts."""
    for key in [k for k in entity if k == prefix or k.startswith(f"{prefix}_")]:
        del entity[key]


def read(client: TableClient, pk: str, rk: str) -> tuple[dict[str, Any], str] | None:
    """The entity and its ETag, or None."""
    try:
        entity = client.get_entity(pk, rk)
    except ResourceNotFoundError:
        return None
    return dict(entity), entity.metadata["etag"]


def write(client: TableClient, entity: dict[str, Any], etag: str | None) -> str:
    """Insert (etag None: must not exist) or replace (etag: must be unchanged). Returns the new ETag.

    Raises ResourceExistsError / ResourceModifiedError on a lost race.
    """
    entity = {k: v for k, v in entity.items() if not k.startswith("_")}
    if etag is None:
        meta = client.create_entity(entity)
    else:
        meta = client.update_entity(
            entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
        )
    return meta["etag"]


def modify(
    client: TableClient,
    pk: str,
    rk: str,
    change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    attempts: int = 20,
) -> dict[str, Any] | None:
    """Read-modify-write with ETag concurrency, retried when another writer got there first.

    `change` gets the current entity (or None) and returns the new one (or None to leave it alone).
    """
    for attempt in range(attempts):
        current = read(client, pk, rk)
        entity, etag = (current[0], current[1]) if current else (None, None)
        new = change(dict(entity) if entity is not None else None)
        if new is None:
            return entity
        new["PartitionKey"], new["RowKey"] = pk, rk
        try:
            write(client, new, etag)
            return new
        except (ResourceExistsError, ResourceModifiedError):
            # Back off a little, with jitter, so racing writers stop colliding in lockstep.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            continue
    raise ConcurrencyError(f"Could not update {client.table_name}/{pk}/{rk}: too many concurrent writers.")


def escape_key(value: str) -> str:
    """Keys may not contain / \\ # ? or control characters."""
    out = []
    for ch in value:
        if ch in "/\\#?%" or ord(ch) < 32 or 127 <= ord(ch) < 160:
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)
