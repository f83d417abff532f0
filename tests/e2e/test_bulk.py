"""Acceptance of bulk synchronization on ADO Server ↔ ADO Services, end to end through `tandem serve`:

1,000 work items on Server, 100 of them already on Services (the same `Custom.ExternalRef`, a user field in
the field map; 50 with another title). `tandem bulk --match-key Custom.ExternalRef --dry-run` lists 900
creates and 100 relinks and writes nothing; the real job, started over the admin API, answers 202 at once,
reports progress from the queue, survives a SIGKILL of `tandem serve --data-dir` and a restart, and ends
with exactly 1,000 items on Services: the 100 are linked, not duplicated. The emulators' write log (the
reporting revisions feed: every revision of every work item, in order) then holds exactly the writes the
dry run planned: 900 creates with the planned values, 50 updates of the planned field, nothing else.

The emulators run as their own processes (`python -m emulators.ado`) so they outlive the killed stack; the
items are seeded through their control API in one call each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.demo import wait_for
from tandem.processes import Child, tandem_serve
from tests.local.test_serve_restart import client, config_file, emulator_processes, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # 1,000 items, two stacks, a restart

SCENARIO = "ado-server-services"
NEVER = "0 0 0 1 1 *"  # no timer polls: only the bulk job moves items
PATS = {"server": "bulk-server-pat-0123456789", "services": "bulk-services-pat-0123456789"}
REF = "Custom.ExternalRef"
PRIORITY = "Microsoft.VSTS.Common.Priority"
ITEMS, EXISTING, RETITLED = 1000, 100, 50  # items on Server; already on Services; of those, other titles
MAPPED = ("System.Title", "System.State", "System.AreaPath", "System.IterationPath", PRIORITY, REF)
DRY_RUN = ("--direction", "left_to_right", "--match-key", REF, "--dry-run", "--json")
WAIT = 300.0  # a loaded machine only makes this slower, never red


def ref(i: int) -> str:
    return f"EXT-{i:04d}"


@pytest.fixture
def systems(tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    field = [{"referenceName": REF, "name": "External reference", "type": "string"}]
    server_items = [
        {
            "project": "Fabrikam",
            "type": "Task",
            "fields": {"System.Title": f"Bulk item {i:04d}", REF: ref(i), PRIORITY: i % 4 + 1},
        }
        for i in range(ITEMS)
    ]
    services_items = [
        {
            "project": "Fabrikam-Cloud",
            "type": "Task",
            "fields": {
                "System.Title": f"Bulk item {i:04d}" if i < EXISTING - RETITLED else f"Old title {i}",
                REF: ref(i),
                PRIORITY: i % 4 + 1,
            },
        }
        for i in range(EXISTING)
    ]
    seeds = {
        "server": {"fields": field, "projects": [{"name": "Fabrikam"}], "workItems": server_items},
        "services": {"fields": field, "projects": [{"name": "Fabrikam-Cloud"}], "workItems": services_items},
    }
    with emulator_processes(tmp_path, PATS, seeds) as info:
        yield info


def revisions(ado: Any, token: str = "0") -> tuple[list[dict[str, Any]], str]:
    """The reporting revisions feed from `token` to its end: (revisions, the token to read on from)."""
    found: list[dict[str, Any]] = []
    while True:
        reply = ado.http.get(
            f"{ado.base_url}/_apis/wit/reporting/workitemrevisions",
            params={"continuationToken": token, "api-version": "7.1"},
            headers=ado.headers(),
        )
        reply.raise_for_status()
        page = reply.json()
        found += page["values"]
        token = page["continuationToken"]
        if page["isLastBatch"]:
            return found, token


def test_bulk_of_1000_items_links_100_matches_reports_progress_survives_a_restart_and_does_what_it_planned(
    tmp_path: Path, systems: dict[str, dict[str, Any]]
) -> None:
    env = stack_env(systems, tmp_path, PATS)
    # No hooks: the job's own writes do not echo back.
    config = config_file(tmp_path, ({"left": REF, "right": REF},), hooks=False)
    data, log = tmp_path / "data", tmp_path / "serve.log"

    def serve() -> Child:
        return tandem_serve(config, data, env=env, cwd=tmp_path, log=log)

    first = serve()
    try:
        stack = client(first.start(), systems, PATS)
        # -- the dry run, through the command line: every item's plan, nothing written ------------------
        before_server, _ = revisions(stack.server)
        before_services, services_token = revisions(stack.services)
        dry = subprocess.run(
            [sys.executable, "-m", "tandem.cli", "bulk", SCENARIO, *DRY_RUN],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert dry.returncode == 0, dry.stderr
        plans = json.loads(dry.stdout)
        assert len(plans) == ITEMS
        assert revisions(stack.services, services_token)[0] == []  # the dry run wrote nothing
        server_refs = {str(r["id"]): r["fields"][REF] for r in before_server}
        services_refs = {str(r["id"]): r["fields"][REF] for r in before_services}
        relinks = [p for p in plans if p["action"] == "relink"]
        creates = [p for p in plans if p["action"] == "create"]
        assert len(relinks) == EXISTING and len(creates) == ITEMS - EXISTING
        # Each relink pairs the Server item with the Services item of the same reference.
        assert sorted(services_refs[p["target_id"]] for p in relinks) == sorted(services_refs.values())
        assert all(server_refs[p["source_id"]] == services_refs[p["target_id"]] for p in relinks)
        retitled = {p["target_id"]: p for p in relinks if p["changes"]}
        assert len(retitled) == RETITLED
        assert all([c["field"] for c in p["changes"]] == ["System.Title"] for p in retitled.values())

        # -- the real job, through the admin API: 202 at once, progress while it runs ------------------
        reply = stack.http.post(
            f"{stack.api}/scenarios/{SCENARIO}/bulk",
            params={"job_id": "bulk1000"},
            json={"directions": ["left_to_right"], "match_key": REF, "batch_size": 100},
            headers={"x-functions-key": stack.key},
        )
        assert reply.status_code == 202 and reply.json()["status"] == "queued", reply.text
        readings: list[int] = []

        def partway() -> bool:
            job = stack.admin("GET", "admin/bulk/bulk1000")
            readings.append(int(job["done"]))
            assert job["status"] != "done", "the job finished before the restart"
            return len({d for d in readings if 0 < d < ITEMS}) >= 2 and job["done"] >= ITEMS // 5

        wait_for("the job is a fifth done, with two progress readings", partway, WAIT, 0.1)
    finally:
        first.kill()  # SIGKILL mid-job: the queue journal and the tables keep it
    stack.close()

    second = serve()
    try:
        stack = client(second.start(), systems, PATS)

        def arrived() -> bool:
            readings.append(int(stack.admin("GET", "admin/bulk/bulk1000")["done"]))
            return len(stack.services.ids_in("Fabrikam-Cloud")) >= ITEMS

        wait_for("every item is on Services after the restart", arrived, WAIT, 0.5)
        stack.settle(WAIT)
        job = dict(stack.admin("GET", "admin/bulk/bulk1000"))
        assert len({d for d in readings if 0 < d < ITEMS}) >= 2  # progress was seen while it ran
        assert job["total"] == ITEMS and job["batches"] == job["batches_total"] == ITEMS // 100
        # The runs' counters are saved after the items they count: a SIGKILL can lose some (the tables
        # save every few seconds), so `done` is checked within a margin; the writes themselves are checked
        # exactly on Services below. (Items applied just before the kill may come again and count as
        # unchanged.)
        assert job["done"] >= ITEMS * 0.8 and job["rate"] > 0, job
        assert job["counts"].get("created", 0) > 0 and job["counts"].get("failed", 0) == 0

        # Exactly 1,000 on Services: the 100 that matched were linked, not copied.
        ids = stack.services.ids_in("Fabrikam-Cloud")
        assert len(ids) == ITEMS
        status = stack.status(SCENARIO)
        assert status["links"]["total"] == ITEMS and status["failures"] == [] and status["dead_letters"] == []

        # The write log holds what the dry run planned, no more and no less.
        assert revisions(stack.server, str(len(before_server)))[0] == []  # nothing written on Server
        written, _ = revisions(stack.services, services_token)
        made = [r for r in written if r["rev"] == 1]
        changed = [r for r in written if r["rev"] > 1]
        planned_creates = {next(c["after"] for c in p["changes"] if c["field"] == REF): p for p in creates}
        assert sorted(r["fields"][REF] for r in made) == sorted(planned_creates)
        for revision in made:
            plan = planned_creates[revision["fields"][REF]]
            for change in plan["changes"]:
                assert revision["fields"].get(change["field"]) == change["after"], (plan["source_id"], change)
        assert sorted(str(r["id"]) for r in changed) == sorted(retitled)
        old = {str(r["id"]): r["fields"] for r in before_services}
        for revision in changed:
            plan = retitled[str(revision["id"])]
            diff = {
                f: revision["fields"].get(f)
                for f in MAPPED
                if revision["fields"].get(f) != old[str(revision["id"])].get(f)
            }
            assert diff == {c["field"]: c["after"] for c in plan["changes"]}
        stack.close()
    finally:
        second.stop()
    assert "restored queues" in log.read_text(encoding="utf-8")
