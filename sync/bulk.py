"""Bulk synchronization: all or selected items of a scenario's entity pair, in batches, in one direction or
both, through the one engine, outside the HTTP request. Starting a job saves its row and queues one message;
the poll workers then list the items (one `list` message) and carry out each batch (`batch` messages, all in
the job's own session, so in order): a real run sends the batch's items to the item queue as one bulk run per
direction, forced and with the job's match key; a dry run saves the batch's per-field plans.

A job is never run twice: its messages have stable ids (the broker drops repeats), its item messages carry
the job as their version (so an item is applied once per job), and its row records which batches are done
(a redelivered batch is skipped). Progress (`progress`) adds the bulk runs' counters up while it runs.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.contract import FieldFinder, VersionLister, Watermark
from mapping.fieldmap import SyncDirection
from state.queue import QueueMessage
from state.tables import modify, pack_json, read, unpack_json
from sync.config import ConfigError, ScenarioConfig
from sync.enqueue import enqueue_items
from sync.manual import dry_run, selected_messages
from sync.match import match_rule
from sync.poller import lists_versions, scope_for, sides
from sync.services import Services
from sync.setup import PreflightCheck, preflight_checks

log = logging.getLogger("tandem.bulk")

JobStatus = Literal["queued", "running", "done", "failed"]
JOBS_PARTITION = "bulk"
SETTLED = ("created", "updated", "unchanged", "skipped", "failed")  # run counters of an item that is done


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directions: list[SyncDirection] = Field(default_factory=list)  # empty: every enabled direction
    items: list[str] = Field(default_factory=list)  # source ids (one direction); empty: every item listed
    entity: str | None = None  # the entity pair (default: the scenario's first)
    batch_size: int = Field(100, ge=1, le=1000)
    dry_run: bool = False  # save the per-field plans of every item; change nothing
    # A field of the field map (either side): a source item whose value equals a target item's is linked to
    # it instead of being created again; two targets with the value are reported on the item, not guessed.
    match_key: str | None = Field(None, min_length=1, max_length=256)


class BulkJob(BaseModel):
    job_id: str
    scenario: str
    status: JobStatus = "queued"
    dry_run: bool = False
    directions: list[SyncDirection] = Field(default_factory=list)
    entity: str | None = None
    match_key: str | None = None
    total: int = 0  # items listed, over every direction (known once listed)
    enqueued: int = 0  # items sent to the item queue (or planned, in a dry run)
    done: int = 0  # items settled: written, found unchanged, skipped or failed (or planned, in a dry run)
    batches: int = 0  # batches carried out
    batches_total: int = 0
    counts: dict[str, int] = Field(default_factory=dict)  # the bulk runs' counters (created, updated…)
    runs: dict[str, str] = Field(default_factory=dict)  # direction -> its bulk run
    preflight: list[PreflightCheck] = Field(default_factory=list)  # a dry run's pre-flight, per direction
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    rate: float = 0.0  # items per second so far
    error: str | None = None
    batch_counts: dict[str, int] = Field(default_factory=dict)  # direction -> its batches (once listed)
    next_batch: dict[str, int] = Field(default_factory=dict)  # direction -> batches of it carried out


class BulkMessage(BaseModel):
    """A step of a bulk job on the poll queue: list the items, or carry out one batch of them."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bulk"] = "bulk"
    job_id: str
    scenario: str
    stage: Literal["list", "batch"]
    request: BulkRequest | None = None  # list: what to list
    direction: SyncDirection | None = None  # batch: its direction, place and source ids
    index: int = 0
    items: list[str] = Field(default_factory=list)

    @property
    def message_id(self) -> str:
        parts = ("bulk", self.job_id, self.stage, self.direction or "", str(self.index))
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]

    @property
    def session_id(self) -> str:
        return f"bulk|{self.job_id}"  # a job's steps one at a time, in order; jobs never block each other


class BulkJobs:
    """Bulk jobs' rows: one per job (PartitionKey `bulk`, RowKey the job id), and a dry run's plans, one row
    per batch (PartitionKey `plans-{job}`, RowKey direction and batch number)."""

    def __init__(self, services: Services) -> None:
        self.client = services.tables.table("bulkjobs")

    def save(self, job: BulkJob) -> None:
        row = {"job": job.model_dump_json()}
        modify(self.client, JOBS_PARTITION, job.job_id, lambda _: dict(row))

    def create(self, job: BulkJob) -> BulkJob:
        """Save a new job; a job with that id already there is answered instead (a job never runs twice)."""
        kept: dict[str, BulkJob] = {}

        def change(entity: dict[str, Any] | None) -> dict[str, Any] | None:
            if entity is not None:
                kept["job"] = BulkJob.model_validate_json(entity["job"])
                return None
            return {"job": job.model_dump_json()}

        modify(self.client, JOBS_PARTITION, job.job_id, change)
        return kept.get("job", job)

    def get(self, job_id: str) -> BulkJob | None:
        found = read(self.client, JOBS_PARTITION, job_id)
        return BulkJob.model_validate_json(found[0]["job"]) if found else None

    def save_plans(self, job_id: str, direction: str, index: int, plans: list[dict[str, Any]]) -> None:
        entity = {"PartitionKey": f"plans-{job_id}", "RowKey": f"{direction}|{index:06d}"}
        self.client.upsert_entity({**entity, **pack_json("plans", plans)})

    def plans(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.client.query_entities("PartitionKey eq @pk", parameters={"pk": f"plans-{job_id}"})
        ordered = sorted((dict(r) for r in rows), key=lambda r: str(r["RowKey"]))
        return [plan for row in ordered for plan in unpack_json("plans", row, [])]


# -- starting a job (the admin API) ------------------------------------------------------------------------
def start_bulk(
    services: Services, scenario_name: str, request: BulkRequest, job_id: str | None = None
) -> BulkJob:
    """Check the request, save the job and queue its listing; answers at once. ConfigError names what is
    wrong (unknown scenario, entity, direction or match key) before anything is saved. The same `job_id`
    again answers that job as it stands: nothing runs twice."""
    config = services.config()
    scenario = config.scenario(scenario_name)
    view = scenario.pair_view(request.entity)
    enabled = scenario.enabled_directions()
    directions = request.directions or list(enabled)
    for direction in directions:
        if direction not in enabled:
            raise ConfigError(f"direction {direction} is not enabled for scenario '{scenario_name}'")
    if request.match_key:
        match_rule(config, view, request.match_key)
        for direction in directions:
            _, target_side = sides(direction)
            target = services.connector(getattr(view, target_side))
            if not isinstance(target, FieldFinder):
                raise ConfigError(
                    f"match key '{request.match_key}': {getattr(view, target_side)} ({direction}'s target) "
                    "cannot look items up by a field value"
                )
    now = services.clock()
    job = BulkJob(
        job_id=job_id or uuid.uuid4().hex,
        scenario=scenario_name,
        dry_run=request.dry_run,
        directions=directions,
        entity=request.entity,
        match_key=request.match_key,
        started_at=now,
        updated_at=now,
    )
    jobs = BulkJobs(services)
    saved = jobs.create(job)
    if saved is not job:
        return progress(services, saved)
    body = request.model_copy(update={"directions": directions})
    _send(services, [BulkMessage(job_id=job.job_id, scenario=scenario_name, stage="list", request=body)])
    return job


def _send(services: Services, messages: Sequence[BulkMessage]) -> None:
    services.queue.send(
        [
            QueueMessage(
                queue=services.settings.poll_queue,
                body=m.model_dump(mode="json", exclude_none=True),
                message_id=m.message_id,
                session_id=m.session_id,
            )
            for m in messages
        ]
    )


# -- carrying it out (the poll workers) ----------------------------------------------------------------------
def handle_bulk(services: Services, message: QueueMessage) -> None:
    """One step of a bulk job. A job that is gone, finished, or already past this step is left alone (a
    redelivery); a configuration that no longer fits (scenario or entity removed) fails the job."""
    try:
        step = BulkMessage.model_validate(message.body)
    except ValidationError as exc:
        err = exc.errors()[0]
        services.queue.dead_letter(message, "malformed bulk message", f"{err['loc']}: {err['msg']}")
        return
    jobs = BulkJobs(services)
    job = jobs.get(step.job_id)
    if job is None or job.status in ("done", "failed"):
        log.info("bulk step for job %s dropped: the job is gone or finished", step.job_id)
        return
    try:
        if step.stage == "list":
            _list(services, jobs, job, step)
        else:
            _batch(services, jobs, job, step)
    except ConfigError as exc:
        job.status, job.error = "failed", str(exc)
        job.updated_at = job.finished_at = services.clock()
        jobs.save(job)
        log.warning("bulk job %s failed: %s", job.job_id, exc)


def _list(services: Services, jobs: BulkJobs, job: BulkJob, step: BulkMessage) -> None:
    if job.status != "queued" or step.request is None:
        return  # listed already
    request = step.request
    scenario = services.config().scenario(job.scenario)
    view = scenario.pair_view(request.entity)
    if not job.dry_run and not job.runs:
        # Saved before any batch is sent: a redelivered listing reuses these runs.
        for direction in job.directions:
            job.runs[direction] = services.runs.start(view.key, direction, "bulk").run_id
        jobs.save(job)
    if job.dry_run:
        job.preflight = preflight_checks(services, scenario, job.directions)  # once, for every batch
    steps: list[BulkMessage] = []
    job.total = 0
    for direction in job.directions:
        ids = list(dict.fromkeys(request.items)) or source_ids(services, view, direction)
        job.total += len(ids)
        job.batch_counts[direction] = -(-len(ids) // request.batch_size)
        if not ids and direction in job.runs:
            services.runs.finish(view.key, job.runs[direction], "enqueued")  # nothing to send
        for index, batch in enumerate(batches(ids, request.batch_size)):
            steps.append(
                BulkMessage(
                    job_id=job.job_id,
                    scenario=job.scenario,
                    stage="batch",
                    direction=direction,
                    index=index,
                    items=batch,
                )
            )
    job.batches_total = len(steps)
    _send(services, steps)
    job.status = "running"
    _finish_if_done(services, job)
    jobs.save(job)


def _batch(services: Services, jobs: BulkJobs, job: BulkJob, step: BulkMessage) -> None:
    direction = step.direction
    if direction is None or step.index < job.next_batch.get(direction, 0):
        return  # carried out already
    view = services.config().scenario(job.scenario).pair_view(job.entity)
    if job.dry_run:
        plans = dry_run(
            services,
            job.scenario,
            [direction],
            items=step.items,
            force=True,
            entity=job.entity,
            match_key=job.match_key,
            checks=job.preflight,
        )
        jobs.save_plans(job.job_id, direction, step.index, plans)
        job.done += len(step.items)
    else:
        run_id = job.runs[direction]
        messages = selected_messages(
            services,
            view,
            direction,
            step.items,
            force=True,
            run_id=run_id,
            version=f"bulk-{job.job_id}",
            origin="bulk",
            match_key=job.match_key,
        )
        enqueue_items(services, messages)
        services.runs.add(view.key, run_id, changes=len(messages), enqueued=len(messages))
    job.enqueued += len(step.items)
    job.batches += 1
    job.next_batch[direction] = step.index + 1
    if not job.dry_run and job.next_batch[direction] >= job.batch_counts.get(direction, 0):
        services.runs.finish(view.key, job.runs[direction], "enqueued")
    _tick(services, job)
    _finish_if_done(services, job)
    jobs.save(job)


def _finish_if_done(services: Services, job: BulkJob) -> None:
    if job.status == "running" and job.batches >= job.batches_total and job.done >= job.total:
        job.status = "done"
        job.finished_at = job.updated_at = services.clock()


# -- progress ------------------------------------------------------------------------------------------------
def progress(services: Services, job: BulkJob) -> BulkJob:
    """The job as it stands: a real run's items settled so far, from its bulk runs' counters; a job seen
    finished for the first time is saved so (with its final rate)."""
    if job.dry_run or job.status != "running" or not job.runs:
        return job
    try:
        key = services.config().scenario(job.scenario).pair_view(job.entity).key
    except ConfigError:
        return job  # the integration was deleted: its runs are no longer read
    counts: dict[str, int] = {}
    for run_id in job.runs.values():
        run = services.runs.get(key, run_id)
        for name, n in (run.counts if run is not None else {}).items():
            if name not in ("changes", "enqueued"):
                counts[name] = counts.get(name, 0) + n
    job.counts = counts
    job.done = min(job.total, sum(counts.get(name, 0) for name in SETTLED))
    _tick(services, job)
    before = job.status
    _finish_if_done(services, job)
    if job.status != before:
        BulkJobs(services).save(job)
    return job


def _tick(services: Services, job: BulkJob) -> None:
    job.updated_at = services.clock()
    seconds = (job.updated_at - job.started_at).total_seconds()
    job.rate = round(job.done / seconds, 2) if seconds > 0 else float(job.done)


# -- listing -------------------------------------------------------------------------------------------------
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


__all__ = [
    "BulkJob",
    "BulkJobs",
    "BulkMessage",
    "BulkRequest",
    "handle_bulk",
    "progress",
    "source_ids",
    "start_bulk",
]
