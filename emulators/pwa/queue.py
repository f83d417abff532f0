"""The Project Server queue as the emulator runs it: jobs of one project run one after the other, each
taking ``delay`` seconds of emulator-clock time; their effects apply when they succeed; a failed job
blocks the project's later jobs (CorrelationBlocked) until it is cancelled or retried. Jobs advance
lazily whenever the state is touched, so a frozen clock holds them until it is advanced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.pwa.model import User, new_guid

READY = 1
PROCESSING = 3
SUCCESS = 4
FAILED = 5
BLOCKED = 8
CANCELED = 9

MSG_CHECKIN = 21
MSG_PUBLISH = 24
MSG_UPDATE = 28
MSG_UPDATE_TEAM = 29

STATE_NAMES = {
    READY: "ReadyForProcessing",
    PROCESSING: "Processing",
    SUCCESS: "Success",
    FAILED: "Failed",
    BLOCKED: "CorrelationBlocked",
    CANCELED: "Canceled",
}


@dataclass
class Job:
    id: str
    project_id: str
    message_type: int
    submitter: User
    submitted: float
    effect: Callable[[float], None] | None
    state: int = READY
    not_before: float = 0.0
    started: float | None = None
    duration: float = 0.0
    finished: float | None = None
    will_fail: bool = False
    error: str | None = None

    def percent_complete(self, now: float) -> int:
        if self.state in (SUCCESS, FAILED, CANCELED):
            return 100
        if self.state == PROCESSING and self.started is not None and self.duration > 0:
            return max(0, min(99, int(100 * (now - self.started) / self.duration)))
        return 0

    def wait_ms(self, now: float) -> int:
        if self.state == PROCESSING and self.started is not None:
            return max(0, int((self.started + self.duration - now) * 1000))
        if self.state == READY:
            return int(self.duration * 1000) if self.duration else 0
        return 0

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "messageType": self.message_type,
            "state": self.state,
            "stateName": STATE_NAMES.get(self.state, str(self.state)),
            "submitter": self.submitter.email,
            "error": self.error,
        }


@dataclass
class FailRule:
    project_id: str | None
    message_type: int | None
    remaining: int
    error: str


@dataclass
class QueueSystem:
    delay: float = 0.2
    on_failure: Callable[[Job], None] | None = None
    jobs: list[Job] = field(default_factory=list)
    fail_rules: list[FailRule] = field(default_factory=list)

    def submit(
        self,
        project_id: str,
        message_type: int,
        submitter: User,
        now: float,
        effect: Callable[[float], None] | None,
    ) -> Job:
        job = Job(new_guid(), project_id, message_type, submitter, now, effect, duration=self.delay)
        for rule in self.fail_rules:
            if rule.project_id not in (None, project_id):
                continue
            if rule.message_type not in (None, message_type):
                continue
            job.will_fail = True
            job.error = rule.error
            rule.remaining -= 1
            break
        self.fail_rules = [r for r in self.fail_rules if r.remaining > 0]
        self.jobs.append(job)
        self.process(now)
        return job

    def fail_next(
        self, project_id: str | None = None, message_type: int | None = None, times: int = 1, error: str = ""
    ) -> None:
        self.fail_rules.append(
            FailRule(project_id, message_type, times, error or "GeneralQueueJobFailed (26000)")
        )

    def get(self, job_id: str) -> Job | None:
        lowered = job_id.lower()
        return next((j for j in self.jobs if j.id == lowered), None)

    def of_project(self, project_id: str) -> list[Job]:
        return [j for j in self.jobs if j.project_id == project_id]

    def process(self, now: float) -> None:
        by_project: dict[str, list[Job]] = {}
        for job in self.jobs:
            by_project.setdefault(job.project_id, []).append(job)
        for jobs in by_project.values():
            self._process_project(jobs, now)

    def _process_project(self, jobs: list[Job], now: float) -> None:
        previous_end = 0.0
        blocked = False
        waiting = False
        for job in jobs:
            if job.state in (SUCCESS, CANCELED):
                previous_end = max(previous_end, job.finished or 0.0)
                continue
            if job.state == FAILED:
                blocked = True
                continue
            if blocked:
                job.state = BLOCKED
                continue
            if waiting:
                job.state = READY
                continue
            if job.started is None:
                start = max(job.submitted, previous_end, job.not_before)
                if now < start:
                    job.state = READY
                    waiting = True
                    continue
                job.started = start
                job.duration = self.delay
            end = job.started + job.duration
            if now < end:
                job.state = PROCESSING
                waiting = True
                continue
            job.finished = end
            if job.will_fail:
                job.state = FAILED
                job.error = job.error or "GeneralQueueJobFailed (26000)"
                blocked = True
                if self.on_failure is not None:
                    self.on_failure(job)
                continue
            job.state = SUCCESS
            previous_end = end
            if job.effect is not None:
                job.effect(end)

    def cancel(self, job_id: str, now: float) -> Job | None:
        job = self.get(job_id)
        if job is None:
            return None
        if job.state not in (SUCCESS, CANCELED):
            job.state = CANCELED
            job.finished = now
            for later in self.of_project(job.project_id):
                if later.state == BLOCKED:
                    later.state = READY
                    later.not_before = now
        self.process(now)
        return job

    def retry(self, job_id: str, now: float) -> Job | None:
        """An administrator retries a failed job: it runs again (and succeeds) before the blocked ones."""
        job = self.get(job_id)
        if job is None or job.state != FAILED:
            return job
        job.state = READY
        job.will_fail = False
        job.started = None
        job.finished = None
        job.not_before = now
        for later in self.of_project(job.project_id):
            if later.state == BLOCKED:
                later.state = READY
        self.process(now)
        return job

    def reset(self) -> None:
        self.jobs.clear()
        self.fail_rules.clear()
