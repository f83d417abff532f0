"""Bulk synchronization: all or selected items of a scenario's entity pair, in batches, in one direction or
both, through the one engine (sync.manual's forced selected syncs, or its dry-run plans). A job's progress
(counts and a rate) is kept in the `bulkjobs` table so a CLI poll or the admin console can watch it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.contract import VersionLister, Watermark
from mapping.fieldmap import SyncDirection
from state.tables import modify, read
from sync.config import ConfigError, ScenarioConfig
from sync.manual import dry_run, sync_items
from sync.poller import lists_versions, scope_for, sides
from sync.services import Services
from sync.setup import PreflightCheck, preflight_checks

JobStatus = Literal["running", "done", "failed"]
JOBS_PARTITION = "bulk"


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directions: list[SyncDirection] = Field(default_factory=list)  # empty: every enabled direction
    items: list[str] = Field(default_factory=list)  # source ids (one direction); empty: every item listed
    entity: str | None = None  # the entity pair (default: the scenario's first)
    batch_size: int = Field(100, ge=1, le=1000)
    dry_run: bool = False  # answer the per-field plans of every item; change nothing


class BulkJob(BaseModel):
    job_id: str
    scenario: str
    status: JobStatus = "running"
    dry_run: bool = False
    directions: list[SyncDirection] = Field(default_factory=list)
    total: int = 0  # items found to sync, over every direction
    done: int = 0  # items enqueued (or planned, in a dry run)
    batches: int = 0
    started_at: datetime
    updated_at: datetime
    rate: float = 0.0  # items per second so far
    error: str | None = None


class BulkReply(BaseModel):
    job: BulkJob
    preflight: list[PreflightCheck] = Field(default_factory=list)  # a dry run's pre-flight, per direction
    plans: list[dict[str, Any]] = Field(default_factory=list)  # a dry run's per-field plans
    runs: list[str] = Field(default_factory=list)  # the manual runs the batches were enqueued as


class BulkJobs:
    """Bulk jobs' progress rows: one row per job (PartitionKey `bulk`, RowKey the job id)."""

    def __init__(self, services: Services) -> None:
        self.client = services.tables.table("bulkjobs")

    def save(self, job: BulkJob) -> None:
        row = {"job": job.model_dump_json()}
        modify(self.client, JOBS_PARTITION, job.job_id, lambda _: dict(row))

    def get(self, job_id: str) -> BulkJob | None:
        found = read(self.client, JOBS_PARTITION, job_id)
        return BulkJob.model_validate_json(found[0]["job"]) if found else None


def source_ids(services: Services, view: ScenarioConfig, direction: SyncDirection) -> list[str]:
    """Every item id on `direction`'s source side within the pair's scope (a full listing)."""
    source_side, _ = sides(direction)
    source = services.side_connector(view, source_side)
    entity = view.entity_of(source_side)  # type: ignore[arg-type]
    scope = scope_for(view, direction)
    found: dict[str, None] = {}
    if lists_versions(source, entity):
        assert isinstance(source, VersionLister)
        for listed in source.list_versions(entity, scope):
            found.update((c.id, None) for c in listed)
    else:
        for page in source.changes(entity, Watermark(), scope):
            found.update((c.id, None) for c in page.changes)
    return list(found)


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_bulk(
    services: Services, scenario_name: str, request: BulkRequest, job_id: str | None = None
) -> BulkReply:
    """Sync (or plan) the items in batches, recording progress after each batch. Raises ConfigError for an
    unknown scenario, entity or direction (before any job row is written)."""
    scenario = services.config().scenario(scenario_name)
    view = scenario.pair_view(request.entity)
    enabled = scenario.enabled_directions()
    directions = request.directions or list(enabled)
    for direction in directions:
        if direction not in enabled:
            raise ConfigError(f"direction {direction} is not enabled for scenario '{scenario_name}'")
    work = {d: list(dict.fromkeys(request.items)) or source_ids(services, view, d) for d in directions}
    start = services.clock()
    job = BulkJob(
        job_id=job_id or uuid.uuid4().hex,
        scenario=scenario_name,
        dry_run=request.dry_run,
        directions=directions,
        total=sum(len(ids) for ids in work.values()),
        started_at=start,
        updated_at=start,
    )
    jobs = BulkJobs(services)
    jobs.save(job)
    reply = BulkReply(job=job)
    if request.dry_run:
        reply.preflight = preflight_checks(services, scenario, directions)  # once, for every batch
    try:
        for direction, ids in work.items():
            for batch in batches(ids, request.batch_size):
                if request.dry_run:
                    reply.plans += dry_run(
                        services,
                        scenario_name,
                        [direction],
                        items=batch,
                        force=True,
                        entity=request.entity,
                        checks=reply.preflight,
                    )
                else:
                    run = sync_items(
                        services, scenario_name, direction, batch, force=True, entity=request.entity
                    )
                    reply.runs.append(run["run_id"])
                job.done += len(batch)
                job.batches += 1
                _tick(services, job)
                jobs.save(job)
        job.status = "done"
    except Exception as exc:
        job.status, job.error = "failed", type(exc).__name__
        jobs.save(job)
        raise
    _tick(services, job)
    jobs.save(job)
    return reply


def _tick(services: Services, job: BulkJob) -> None:
    job.updated_at = services.clock()
    seconds = (job.updated_at - job.started_at).total_seconds()
    job.rate = round(job.done / seconds, 2) if seconds > 0 else float(job.done)


__all__ = ["BulkJob", "BulkJobs", "BulkReply", "BulkRequest", "run_bulk", "source_ids"]
