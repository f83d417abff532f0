"""The overview of every integration at a glance: directions and schedules, last runs, links, open conflicts,
failures, dead letters, and the items written per hour over the last day (the console's first page)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from state.runs import Run
from sync.config import ScenarioConfig
from sync.deadletters import dead_letter_items
from sync.services import Services

LAST_RUNS = 5
HOURS = 24


class DirectionSummary(BaseModel):
    direction: str
    trigger: str  # automatic | manual
    schedule: str
    hooks: bool = False
    enabled: bool = True
    start: datetime | None = None


class RunSummary(BaseModel):
    run_id: str
    direction: str
    started_at: datetime
    finished_at: datetime | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    conflicts: int = 0
    trigger: str = ""
    status: str = ""
    entity: str = ""


class Bucket(BaseModel):
    at: datetime  # the start of the hour (UTC)
    items: int  # items created or updated by runs started in that hour


class IntegrationOverview(BaseModel):
    name: str
    kind: str
    left: str
    right: str
    directions: list[DirectionSummary]
    last_runs: list[RunSummary]
    links: int
    open_conflicts: int
    failures: int
    dead_letters: int
    throughput: list[Bucket] = Field(description="the last 24 hourly buckets, oldest first")


class Overview(BaseModel):
    integrations: list[IntegrationOverview]


def _summary(run: Run, entity: str) -> RunSummary:
    c = run.counts
    return RunSummary(
        run_id=run.run_id,
        direction=run.direction,
        started_at=run.started_at,
        finished_at=run.finished_at,
        created=c.get("created", 0),
        updated=c.get("updated", 0),
        unchanged=c.get("unchanged", 0),
        failed=c.get("failed", 0),
        conflicts=c.get("conflicts", 0),
        trigger=run.trigger,
        status=run.status,
        entity=entity,
    )


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def integration_overview(
    services: Services, scenario: ScenarioConfig, dead_letters: int
) -> IntegrationOverview:
    now = datetime.now(UTC)  # run records are stamped with the wall clock (state.runs)
    first = _hour(now) - timedelta(hours=HOURS - 1)
    per_hour: Counter[datetime] = Counter()
    runs: list[RunSummary] = []
    links = conflicts = failures = 0
    for view in scenario.views():
        key = view.key
        links += services.links.count(key)
        conflicts += len(services.conflicts.list(key))
        failures += len(services.failures.list(key))
        runs += [_summary(r, view.pair) for r in services.runs.recent(key, LAST_RUNS)]
        for run in services.runs.since(key, first):
            per_hour[_hour(run.started_at)] += run.counts.get("created", 0) + run.counts.get("updated", 0)
    runs.sort(key=lambda r: r.run_id)  # run ids sort newest first
    directions = [
        DirectionSummary(
            direction=name,
            trigger=d.trigger,
            schedule=d.schedule,
            hooks=d.hooks,
            enabled=d.enabled,
            start=d.start,
        )
        for name, d in scenario.directions.items()
    ]
    return IntegrationOverview(
        name=scenario.name,
        kind=scenario.kind,
        left=scenario.left,
        right=scenario.right,
        directions=directions,
        last_runs=runs[:LAST_RUNS],
        links=links,
        open_conflicts=conflicts,
        failures=failures,
        dead_letters=dead_letters,
        throughput=[
            Bucket(at=first + timedelta(hours=n), items=per_hour[first + timedelta(hours=n)])
            for n in range(HOURS)
        ],
    )


def overview(services: Services) -> Overview:
    dead = Counter(d.scenario for d in dead_letter_items(services, limit=10_000))
    return Overview(
        integrations=[integration_overview(services, s, dead[s.name]) for s in services.config().scenarios]
    )
