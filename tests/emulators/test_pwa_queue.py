"""Queue jobs on the PWA emulator: states while waiting and processing on a frozen clock, serialization per
project, a failed job blocking the project's later jobs until cancelled or retried, and the control API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pwa_testkit import Scenario, client, ps, running, seed_scenario, wait_job

from emulators.pwa import PwaEmulator


@pytest.fixture
def pwa() -> Iterator[PwaEmulator]:
    with running(queue_delay=2.0, reporting_delay=0) as emulator:
        emulator.clock.freeze(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
        yield emulator


@pytest.fixture
def scenario(pwa: PwaEmulator) -> Scenario:
    return seed_scenario(pwa)


def _job(c: httpx.Client, project_id: str, job_id: str) -> dict:
    return c.get(ps(project_id, f"/QueueJobs('{job_id}')")).json()


def test_job_states_follow_the_clock(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    pid = scenario.project.id
    c.post(ps(pid, "/checkOut()"))
    c.patch(ps(pid, f"/Draft/Tasks('{scenario.build.id}')"), json={"PercentComplete": 100})
    save = c.post(ps(pid, "/Draft/update()")).json()
    publish = c.post(ps(pid, "/Draft/publish(true)")).json()
    assert save["JobState"] == 3 and save["PercentComplete"] == 0 and save["WaitMilliseconds"] == 2000
    assert publish["JobState"] == 1  # waits behind the save of the same project
    pwa.clock.advance(1)
    assert _job(c, pid, save["Id"])["PercentComplete"] == 50
    pwa.clock.advance(1)
    assert _job(c, pid, save["Id"])["JobState"] == 4
    assert _job(c, pid, publish["Id"])["JobState"] == 3
    assert c.get(ps(pid)).json()["IsCheckedOut"] is True
    pwa.clock.advance(2)
    done = _job(c, pid, publish["Id"])
    assert (done["JobState"], done["PercentComplete"], done["WaitMilliseconds"]) == (4, 100, 0)
    project = c.get(ps(pid)).json()
    assert project["IsCheckedOut"] is False
    assert project["LastPublishedDate"] == "2026-11-02T09:00:04"
    listed = c.get(ps(pid, "/QueueJobs")).json()["value"]
    assert [j["MessageType"] for j in listed] == [28, 24]
    assert c.get(ps(pid, "/QueueJobs('00000000-0000-0000-0000-000000000001')")).status_code == 404
    verbose = client(pwa, "verbose").get(ps(pid, f"/QueueJobs('{save['Id']}')")).json()["d"]
    assert verbose["__metadata"]["type"] == "PS.QueueJob" and "__deferred" in verbose["Project"]


def test_jobs_of_different_projects_run_side_by_side(pwa: PwaEmulator, scenario: Scenario) -> None:
    other = pwa.seed_project("Zeus")
    c = client(pwa)
    jobs = []
    for project in (scenario.project, other):
        c.post(ps(project, "/checkOut()"))
        jobs.append((project.id, c.post(ps(project, "/Draft/publish(true)")).json()["Id"]))
    assert [_job(c, pid, jid)["JobState"] for pid, jid in jobs] == [3, 3]
    pwa.clock.advance(2)
    assert [_job(c, pid, jid)["JobState"] for pid, jid in jobs] == [4, 4]


def test_failed_job_blocks_later_jobs_until_cancelled(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    pid = scenario.project.id
    pwa.fail_next_job(scenario.project, message_type=24)
    c.post(ps(pid, "/checkOut()"))
    c.patch(ps(pid, f"/Draft/Tasks('{scenario.build.id}')"), json={"Name": "Renamed"})
    failing = c.post(ps(pid, "/Draft/publish(true)")).json()
    pwa.clock.advance(2)
    assert _job(c, pid, failing["Id"])["JobState"] == 5
    assert c.get(ps(pid, f"/Tasks('{scenario.build.id}')")).json()["Name"] == "Build"  # nothing published
    assert c.get(ps(pid)).json()["IsCheckedOut"] is True  # still ours
    retry = c.post(ps(pid, "/Draft/publish(true)")).json()
    check_in = c.post(ps(pid, "/Draft/checkIn(true)")).json()
    pwa.clock.advance(10)
    assert _job(c, pid, retry["Id"])["JobState"] == 8
    assert _job(c, pid, check_in["Id"])["JobState"] == 8
    assert pwa.counters.writes("job.failed") == 1
    cancel = c.post(ps(pid, f"/QueueJobs('{failing['Id']}')/Cancel()"))
    assert cancel.status_code == 200
    assert _job(c, pid, failing["Id"])["JobState"] == 9
    assert _job(c, pid, retry["Id"])["JobState"] == 3
    pwa.clock.advance(4)
    assert _job(c, pid, retry["Id"])["JobState"] == 4 and _job(c, pid, check_in["Id"])["JobState"] == 4
    assert c.get(ps(pid, f"/Tasks('{scenario.build.id}')")).json()["Name"] == "Renamed"
    assert c.get(ps(pid)).json()["IsCheckedOut"] is False


def test_retry_through_the_control_api(pwa: PwaEmulator, scenario: Scenario) -> None:
    c = client(pwa)
    control = httpx.Client(base_url=pwa.control_url)
    pid = scenario.project.id
    assert control.post("/queue/fail-next", json={"projectId": pid, "times": 1}).json() == {"ok": True}
    c.post(ps(pid, "/checkOut()"))
    first = c.post(ps(pid, "/Draft/update()")).json()
    second = c.post(ps(pid, "/Draft/publish(true)")).json()
    pwa.clock.advance(3)
    queue = control.get("/queue").json()
    assert [(j["stateName"], j["messageType"]) for j in queue["value"]] == [
        ("Failed", 28),
        ("CorrelationBlocked", 24),
    ]
    assert queue["value"][0]["error"].startswith("GeneralQueueJobFailed")
    retried = control.post(f"/queue/{first['Id']}/retry").json()
    assert retried["stateName"] == "Processing"
    pwa.clock.advance(4)
    assert _job(c, pid, first["Id"])["JobState"] == 4 and _job(c, pid, second["Id"])["JobState"] == 4
    assert control.post("/queue/00000000-0000-0000-0000-000000000001/cancel").status_code == 404
    assert control.post(f"/queue/{first['Id']}/explode").status_code == 404


def test_non_admins_cannot_cancel_jobs(pwa: PwaEmulator, scenario: Scenario) -> None:
    pwa.add_user("ann.chen@contoso.com", "Ann Chen", password="ann")
    ann = client(pwa, user="ann.chen@contoso.com")
    pid = scenario.project.id
    ann.post(ps(pid, "/checkOut()"))
    job = ann.post(ps(pid, "/Draft/update()")).json()
    assert ann.post(ps(pid, f"/QueueJobs('{job['Id']}')/Cancel()")).status_code == 403
    assert ann.post(ps(pid, "/Draft/checkIn(force=true)")).status_code == 200  # her own check-out


def test_wait_job_helper_with_real_time() -> None:
    with running(queue_delay=0.01) as pwa:
        scenario = seed_scenario(pwa)
        c = client(pwa)
        c.post(ps(scenario.project, "/checkOut()"))
        job = c.post(ps(scenario.project, "/Draft/publish(true)")).json()
        assert wait_job(c, scenario.project.id, job["Id"])["JobState"] == 4
        assert pwa.queue_idle()
