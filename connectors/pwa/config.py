"""Options of one PWA connection (Project Online or Project Server 2019/SE), validated by pydantic."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.http import endpoint_problem


class PwaOptions(BaseModel):
    """What differs between one PWA connection and another, besides its URL and credentials."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # PWA dates carry no offset: they are wall-clock times of the PWA's regional settings
    # (PWA Settings → Regional settings; on premises the server's time zone). IANA name.
    time_zone: str = "UTC"
    # "Allow changing task mode to manual": auto-scheduled tasks are switched to manual before their
    # dates are written, so the scheduling engine keeps them. Off: they stay auto and the write result
    # warns that PWA may recalculate the dates.
    allow_manual_mode: bool = True
    # Task text custom field that carries the hub's correlation id (created by ensure_custom_fields).
    # Empty: no stamp; creates stay idempotent through the task id derived from the correlation id.
    correlation_field: str = "Tandem Correlation"
    # Prefix of project-level custom fields exposed on every task item ("Project:VSTS Project").
    project_field_prefix: str = "Project:"
    # Each poll starts this much before the stored watermark: ProjectData is filled by reporting jobs
    # after a publish and can lag it by minutes; re-listed tasks are deduplicated downstream.
    overlap_seconds: float = Field(900.0, ge=0)
    # How long one write cycle waits for a queue job (save, publish, check-in) before giving up.
    queue_timeout_seconds: float = Field(120.0, gt=0)
    queue_poll_seconds: float = Field(1.0, gt=0)  # first poll interval; PWA's WaitMilliseconds hint wins
    # When the project is checked out to someone else (error 10100), the writes come back transient with
    # this retry_after.
    checkout_retry_seconds: float = Field(300.0, ge=1)
    # Changed tasks saved per Draft/update(): PWA refuses a draft change set above ~250 tasks (2 MB).
    max_tasks_per_save: int = Field(100, ge=1, le=250)
    # Task ids per `$filter=Id eq … or …` read (keeps URLs under SharePoint's 2,048-character limit).
    ids_per_request: int = Field(20, ge=1, le=40)
    # After a failed publish/save job: check the project in with force=true so it is not left locked.
    force_checkin_on_failure: bool = True
    # Wire format: JSON light without metadata (SPO, SP2016+) or verbose (`d`/`results`).
    odata: Literal["nometadata", "verbose"] = "nometadata"
    # Fallbacks when a project does not state its calendar: used to turn "5d"/"2w"/"1mo" into hours.
    hours_per_day: float = Field(8.0, gt=0)
    hours_per_week: float = Field(40.0, gt=0)
    days_per_month: float = Field(20.0, gt=0)
    # Task custom fields are written by PATCHing the open-type property (Custom_x005f_<hex>) or by
    # calling DraftTask.SetCustomFieldValue.
    task_custom_field_write: Literal["patch", "set_custom_field_value"] = "patch"
    timeout_seconds: float = Field(60.0, gt=0)
    # Microsoft Entra authority for the OAuth modes (sovereign clouds, tests).
    authority: str = "https://login.microsoftonline.com"
    # Scope requested for SharePoint; default `https://<pwa host>/.default`.
    scope: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}: use an IANA name such as 'Europe/Berlin' or 'America/New_York'"
            ) from None
        return v

    @field_validator("authority")
    @classmethod
    def _authority(cls, v: str) -> str:
        problem = endpoint_problem(v)
        if problem:  # the password grant sends the user's password there
            raise ValueError(f"authority {problem} (such as https://login.microsoftonline.com)")
        return v.rstrip("/")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)
