"""Options of one Planner connection (Microsoft Graph v1.0), validated by pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class PlannerOptions(BaseModel):
    """What differs between one Planner connection and another, besides its URL and credentials."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Plan ids listed when a direction's scope names no container.
    plans: list[str] = Field(default_factory=list)
    # Microsoft 365 group ids whose plans are listed when neither the scope nor `plans` names any, and
    # searched (with `plans`) when a project field names a plan by title (`find_container`).
    groups: list[str] = Field(default_factory=list)
    # The correlation stamp: a reference (a link in the task's attachments) whose URL is this prefix plus
    # the hub's correlation id. `.invalid` (RFC 2606) can never resolve, so the link leads nowhere.
    correlation_url: str = "https://tandem.invalid/link/"
    correlation_alias: str = "Synced by Tandem"
    # How long a user id ↔ e-mail lookup is kept; a miss is looked up again after `user_miss_seconds`.
    user_cache_seconds: float = Field(3600.0, gt=0)
    user_miss_seconds: float = Field(60.0, gt=0)
    timeout_seconds: float = Field(30.0, gt=0)
    # Microsoft Entra authority for the OAuth kinds (sovereign clouds, tests) and the token's scope.
    authority: str = "https://login.microsoftonline.com"
    scope: str = GRAPH_SCOPE

    @field_validator("authority")
    @classmethod
    def _authority(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("authority must be an http(s) URL such as https://login.microsoftonline.com")
        return v.rstrip("/")

    @field_validator("correlation_url")
    @classmethod
    def _correlation(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("correlation_url must be an http(s) URL prefix (Planner references are links)")
        return v
