"""Bulk synchronization routes of the admin API: start a bulk job of a scenario (it runs on the queue, not in
the request), watch its progress, read a dry run's plans."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from sync.admin.app import ApiError, ErrorReply, Name, Svc
from sync.bulk import BulkJob, BulkJobs, BulkRequest
from sync.config import ConfigError

router = APIRouter(tags=["bulk"])
JOB_ID = r"^[A-Za-z0-9]{1,64}$"  # a table row key: letters and digits only
JobId = Annotated[str, Path(pattern=JOB_ID)]


@router.post(
    "/api/scenarios/{scenario}/bulk",
    response_model=BulkJob,
    status_code=202,
    responses={400: {"model": ErrorReply}, 404: {"model": ErrorReply}},
)
def start_bulk(
    name: Name,
    services: Svc,
    request: BulkRequest,
    job_id: Annotated[str | None, Query(pattern=JOB_ID)] = None,
) -> Any:
    """Start syncing all (or the selected) items of an entity pair in batches, forced, in the named
    directions (both by default): answers 202 with the job at once; the work goes through the queue. With
    `match_key`, an item whose key field equals a target item's is linked to it, not created. With
    `dry_run`, every item's per-field plan is saved (read them at `/api/admin/bulk/{job}/plans`) and nothing
    changes. The same `job_id` again answers that job: a job never runs twice."""
    from sync.bulk import start_bulk

    try:
        return start_bulk(services, name, request, job_id)
    except ConfigError as exc:
        text = str(exc)
        field = (
            "match_key"
            if text.startswith("match key")
            else "entity"
            if request.entity and "entit" in text
            else "directions"
        )
        raise ApiError(400, text, field) from None


@router.get("/api/admin/bulk/{job_id}", response_model=BulkJob, responses={404: {"model": ErrorReply}})
def bulk_progress(job_id: JobId, services: Svc) -> Any:
    """A bulk job's progress: items listed, enqueued and settled, batches, the bulk runs' counters and the
    rate so far."""
    from sync.bulk import progress

    job = BulkJobs(services).get(job_id)
    if job is None:
        raise ApiError(404, f"no bulk job {job_id}", "job_id")
    return progress(services, job)


@router.get(
    "/api/admin/bulk/{job_id}/plans",
    response_model=list[dict[str, Any]],
    responses={404: {"model": ErrorReply}},
)
def bulk_plans(job_id: JobId, services: Svc) -> Any:
    """A dry-run job's per-field plans, item by item, in the order of its batches (those done so far)."""
    jobs = BulkJobs(services)
    job = jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no bulk job {job_id}", "job_id")
    if not job.dry_run:
        raise ApiError(400, f"bulk job {job_id} is not a dry run: it has no plans", "job_id")
    return jobs.plans(job_id)


__all__ = ["router"]
