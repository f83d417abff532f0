"""Plans without side effects on the ADO Server ↔ Services scenario, end to end through the local stack that
`tandem serve` runs: a dry run lists exactly what the run then writes and changes nothing meanwhile, a forced
sync of one work item overwrites the mapped fields, a `mode: manual` rule flows on a manual run only.

Two scenarios on their own project pairs: `plans` (the demo field map) and `plans-manual` (the same map with
Priority in manual mode). Polls are scheduled once a year: a test polls explicitly when it needs to.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tandem.configfile import dump_document
from tandem.demo import wait_for
from tests.e2e.test_ado_sync import (
    E2E,
    HOOK_WAIT,
    PRIORITY,
    by_title,
    e2e_config,
    leave_quiet,  # noqa: F401 - the autouse fixture: each test starts from a quiet stack
    poll_and_settle,
    run_ids,
    started_stack,
    title,
)

pytestmark = pytest.mark.e2e


def plans_config() -> dict[str, Any]:
    document = e2e_config()
    base = document["scenarios"][0]
    manual_map = copy.deepcopy(document["field_maps"]["ado-server-to-services"])
    for rule in manual_map:
        if rule["left"] == PRIORITY:
            rule["mode"] = "manual"
    document["field_maps"]["manual-priority"] = manual_map
    document["scenarios"] = [
        {**base, "name": "plans", "containers": [{"left": "Tailspin", "right": "Tailspin-Cloud"}]},
        {
            **base,
            "name": "plans-manual",
            "field_map": "manual-priority",
            "containers": [{"left": "Northwind", "right": "Northwind-Cloud"}],
        },
    ]
    return document


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    home = tmp_path_factory.mktemp("plans")
    config_file = home / "plans.yaml"
    config_file.write_text(dump_document(plans_config()), encoding="utf-8")
    with started_stack(home, ["Tailspin", "Northwind"], ["Tailspin-Cloud", "Northwind-Cloud"]) as env:
        applied = env.cli("config", "apply", str(config_file))
        assert applied.returncode == 0, applied.stderr
        yield env


def run_with_hooks_paused(e2e: E2E, scenario: str) -> None:
    """`tandem run` while the systems hold their hooks back: wait for the polls and the queue only."""
    before = run_ids(e2e, scenario)
    assert e2e.client.run(scenario) == ["left_to_right", "right_to_left"]

    def finished() -> bool:
        runs = [r for r in e2e.new_runs(scenario, before) if r["trigger"] == "manual"]
        return len(runs) == 2 and all(r["status"] != "running" for r in runs)

    wait_for("both polls finished", finished, 20)
    wait_for("the queue is empty", lambda: e2e.client.queue_quiet(10), 30)


MAPPED = ("System.Title", "System.Description", PRIORITY, "System.State")


def test_dry_run_lists_exactly_the_changes_the_run_then_makes_and_changes_nothing(e2e: E2E) -> None:
    server_id, services_id = e2e.story(scenario="plans", project="Tailspin", **{PRIORITY: 3})
    e2e.settle()
    for ado in (e2e.server, e2e.services):
        ado.hooks("pause")  # the pending changes wait for the run, not a hook
    new_title = title("Renamed on Server")
    e2e.server.update(server_id, {"System.Title": new_title, PRIORITY: 1})
    bug_title = title("Bug from Services")
    bug = e2e.services.create("Tailspin-Cloud", "Bug", {"System.Title": bug_title, PRIORITY: 2})

    writes = (e2e.server.writes(), e2e.services.writes())
    links = e2e.status("plans")["links"]["total"]
    dry = e2e.cli("run", "plans", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plans = json.loads(dry.stdout)
    assert (e2e.server.writes(), e2e.services.writes()) == writes  # no write on either system
    assert e2e.status("plans")["links"]["total"] == links  # no new link row
    assert by_title(e2e.server, bug_title) == []
    changing = {(p["direction"], p["source_id"]): p for p in plans if p["changes"]}
    assert set(changing) == {("left_to_right", str(server_id)), ("right_to_left", str(bug["id"]))}
    update = changing[("left_to_right", str(server_id))]
    assert update["action"] == "update" and update["target_id"] == str(services_id)
    assert {c["field"]: c["after"] for c in update["changes"]} == {"System.Title": new_title, PRIORITY: 1}
    create = changing[("right_to_left", str(bug["id"]))]
    assert create["action"] == "create"
    planned_create = {c["field"]: c["after"] for c in create["changes"]}
    assert planned_create["System.Title"] == bug_title and planned_create[PRIORITY] == 2
    text = e2e.cli("run", "plans", "--dry-run")
    assert text.returncode == 0 and 'System.Title: "' in text.stdout and "nothing was written" in text.stdout

    before = e2e.services.get(services_id)["fields"]
    run_with_hooks_paused(e2e, "plans")
    after = e2e.services.get(services_id)["fields"]
    changed = {f for f in MAPPED if before.get(f) != after.get(f)}
    assert changed == {c["field"] for c in update["changes"]}  # what was planned, no more, no less
    assert after["System.Title"] == new_title and after[PRIORITY] == 1
    (copy_id,) = by_title(e2e.server, bug_title)
    made = e2e.server.get(copy_id)["fields"]
    for name in ("System.Title", PRIORITY, "System.WorkItemType"):
        if name in planned_create:
            assert made[name] == planned_create[name]
    assert e2e.status("plans")["links"]["total"] == links + 1


def test_forced_sync_of_one_work_item_overwrites_the_mapped_fields_on_server(e2e: E2E) -> None:
    server_id, services_id = e2e.story(scenario="plans", project="Tailspin", **{PRIORITY: 2})
    e2e.settle()
    e2e.server.hooks("pause")  # the Server edit below stays on Server
    e2e.server.update(server_id, {"System.Title": "edited on Server only", PRIORITY: 4})
    services_fields = e2e.services.get(services_id)["fields"]

    plain = e2e.cli("sync", "plans", str(services_id), "--direction", "right_to_left")
    assert plain.returncode == 0, plain.stderr
    assert e2e.server.get(server_id)["fields"]["System.Title"] == "edited on Server only"  # unchanged source

    forced = e2e.cli("sync", "plans", str(services_id), "--direction", "right_to_left", "--force")
    assert forced.returncode == 0, forced.stderr
    fields = e2e.server.get(server_id)["fields"]
    assert fields["System.Title"] == services_fields["System.Title"]
    assert fields[PRIORITY] == services_fields[PRIORITY] == 2
    runs = [r for r in e2e.status("plans")["runs"] if r["trigger"] == "manual"]
    assert runs[0]["direction"] == "right_to_left" and runs[0]["counts"].get("updated") == 1


def test_a_manual_mode_rule_flows_on_a_manual_run_and_not_on_a_hook(e2e: E2E) -> None:
    server_id, services_id = e2e.story(scenario="plans-manual", project="Northwind", **{PRIORITY: 1})
    e2e.settle()
    assert e2e.services.get(services_id)["fields"].get(PRIORITY) != 1  # not on the create either
    renamed = title("Hooked")
    e2e.server.update(server_id, {"System.Title": renamed, PRIORITY: 4})

    def titled() -> bool:
        return bool(e2e.services.get(services_id)["fields"]["System.Title"] == renamed)

    wait_for("the hook brought the title", titled, HOOK_WAIT)
    e2e.settle()
    assert e2e.services.get(services_id)["fields"].get(PRIORITY) != 4  # the hook left Priority alone

    poll_and_settle(e2e, "plans-manual")  # `tandem run`: a manual run
    assert e2e.services.get(services_id)["fields"][PRIORITY] == 4
