"""Bulk synchronization routes of the admin API: start a bulk job of a scenario, watch its progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from sync.admin.app import ApiError, ErrorReply, Name, Svc
from sync.bulk import BulkJob, BulkJobs, BulkReply, BulkRequest
from sync.config import ConfigError

router = APIRouter(tags=["bulk"])
JOB_ID = r"^[A-Za-z0-9]{1,64}$"  # a table row key: letters and digits only


@router.post(
    "/api/scenarios/{scenario}/bulk",
    response_model=BulkReply,
    responses={400: {"model": ErrorReply}, 404: {"model": ErrorReply}},
)
def start_bulk(
    name: Name,
    services: Svc,
    request: BulkRequest,
    job_id: Annotated[str | None, Query(pattern=JOB_ID)] = None,
) -> Any:
    """Sync all (or the selected) items of an entity pair in batches, forced, in the named directions (both
    by default); with `dry_run`, answer every item's per-field plan and change nothing. Progress is kept
    under the job id (give `job_id` to watch it from the start)."""
    from sync.bulk import run_bulk

    try:
        return run_bulk(services, name, request, job_id)
    except ConfigError as exc:
        field = "entity" if request.entity and "entit" in str(exc) else "directions"
        raise ApiError(400, str(exc), field) from None


@router.get("/api/admin/bulk/{job_id}", response_model=BulkJob, responses={404: {"model": ErrorReply}})
def bulk_progress(job_id: Annotated[str, Path(pattern=JOB_ID)], services: Svc) -> Any:
    """A bulk job's progress: counts, batches and the rate so far."""
    job = BulkJobs(services).get(job_id)
    if job is None:
        raise ApiError(404, f"no bulk job {job_id}", "job_id")
    return job


__all__ = ["router"]
