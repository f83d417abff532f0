"""Options of one Azure DevOps connection (Services or Server), validated by pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Newest first; Server is probed down this list when it answers "version out of range".
API_VERSIONS: tuple[str, ...] = ("7.1", "7.0", "6.0", "5.1", "5.0", "4.1")


class AdoOptions(BaseModel):
    """What differs between one ADO connection and another, besides its URL and secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: Literal["services", "server"] = "services"
    # None: 7.1 on Services; on Server the newest version the server accepts, probed once.
    api_version: str | None = None
    # Server identities are DOMAIN\user; the hub speaks e-mail. Keys DOMAIN\user (any case) → e-mail.
    identity_map: dict[str, str] = Field(default_factory=dict)
    # Extra identity fields to translate on write, beyond System.AssignedTo & co. (custom identity fields).
    identity_fields: tuple[str, ...] = ()
    page_size: int = Field(200, ge=1, le=200)  # ADO caps workitemsbatch at 200 ids
    # Where the engine's correlation id lives on a work item: a tag `<prefix><id>` by default, or a
    # custom string field (e.g. Custom.TandemCorrelationId) when the process has one.
    correlation_tag_prefix: str = "tandem:"
    correlation_field: str | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    # Each poll starts this much before the stored watermark: ADO stamps ChangedDate when a save starts,
    # so a save still committing when the last query ran can carry an earlier date. Re-listed items are
    # deduplicated downstream by id + rev.
    overlap_seconds: float = Field(30.0, ge=0)
    # WIQL date windows narrower than this are not split further when VS402337 (20,000 cap) still hits.
    min_bisect_seconds: float = Field(1.0, gt=0)
    hook_resource_version: str = "1.0"
    # Base URLs of the other hosts ADO Services serves APIs on, by service (`vsaex`: entitlements, `vssps`:
    # graph), when the default derived from the base URL does not fit (a proxy, an emulator).
    hosts: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_version")
    @classmethod
    def _no_preview_prefix(cls, v: str | None) -> str | None:
        if v is not None and not v[:1].isdigit():
            raise ValueError("api_version looks like '7.1' or '7.1-preview.1'")
        return v

    @field_validator("correlation_tag_prefix")
    @classmethod
    def _tag_safe(cls, v: str) -> str:
        if not v or any(c in v for c in ";,'"):
            raise ValueError("correlation_tag_prefix must be non-empty and free of ';', ',' and quotes")
        return v
