"""Acceptance of the console's operations pages through `tandem serve` in headless Chromium: the overview
shows the runs; a conflict made on both ADO emulators is resolved from the conflicts page and both sides
converge; a dead-lettered item is replayed from the failures page and succeeds; the item history finds it.

The stack runs the demo's connections and field map with conflicts flagged for a person, no service hooks
and polls once a year: the tests poll through the admin API when they mean to, so nothing races them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tandem.demo import wait_for
from tests.support.browser import (
    NEVER,
    SCENARIO,
    TITLE,
    WAIT,
    Served,
    accessibility_problems,
    dead_letter,
    flagging_demo_config,
    item,
    keyboard_reaches,
    make_conflict,
    make_dead_letter,
    open_page,
    poll,
    synced_pair,
    unique,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
SERVE_CONFIG = flagging_demo_config


def test_overview_shows_every_integration_with_its_runs(console: Any, stack: Served) -> None:
    server_id, _ = synced_pair(stack, "Overview")
    run = stack.client.admin("GET", "admin/overview")["integrations"][0]["last_runs"][0]
    open_page(console, stack, "index.html")
    section = console.get_by_role("region", name=re.compile(SCENARIO))
    runs = section.get_by_role("table", name=f"Last runs of {SCENARIO}")
    row = runs.get_by_role("row").filter(has_text=run["run_id"])
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells[1] == "left_to_right" and cells[4] == str(run["created"]) and run["created"] >= 1
    directions = section.get_by_role("table", name=f"Directions of {SCENARIO}").inner_text()
    assert "left_to_right" in directions and "right_to_left" in directions and NEVER in directions
    links = stack.client.admin("GET", "admin/overview")["integrations"][0]["links"]
    assert section.get_by_role("link", name=str(links)).first.is_visible()
    spark = section.get_by_role("img", name=re.compile(r"Throughput of .*items in the last 24 hours"))
    assert spark.count() == 1
    assert accessibility_problems(console) == []
    assert server_id


def test_a_conflict_made_on_both_systems_is_resolved_from_the_page(console: Any, stack: Served) -> None:
    server_id, services_id, left_title, right_title = make_conflict(stack, "Conflict")
    conflicts = stack.client.admin("GET", f"scenarios/{SCENARIO}/conflicts")["items"]
    (conflict,) = [c for c in conflicts if c["left_id"] == str(server_id) and c["left_field"] == TITLE]

    open_page(console, stack, f"conflicts.html?scenario={SCENARIO}")
    card = console.get_by_role("region", name=re.compile(rf"{server_id} ↔ {services_id}: {TITLE}"))
    values = card.get_by_role("table", name="Values").inner_text()
    assert left_title in values and right_title in values  # both values, and the snapshot beside them
    assert str(conflict["base_left"]) in values
    assert accessibility_problems(console) == []
    # Keyboard only: reach the choice, pick the Services value, submit.
    assert keyboard_reaches(console, f"form[data-conflict='{conflict['id']}'] input[value=left]")
    console.keyboard.press("ArrowDown")  # the radio group: left -> right
    assert card.get_by_label(f"right: {right_title}").is_checked()
    card.get_by_role("button", name="Resolve").click()
    console.get_by_role("status").filter(has_text="Resolved").wait_for()

    def converged() -> bool:
        left = stack.client.server.get(server_id)["fields"][TITLE]
        right = stack.client.services.get(services_id)["fields"][TITLE]
        return left == right == right_title

    wait_for("both systems hold the chosen title", converged, WAIT)
    remaining = stack.client.admin("GET", f"scenarios/{SCENARIO}/conflicts")["items"]
    assert conflict["id"] not in {c["id"] for c in remaining}
    assert card.count() == 0  # the page shows the list without it
    # The next polls write nothing: the snapshot holds the chosen value on both sides.
    writes = (stack.client.server.writes(), stack.client.services.writes())
    poll(stack, "left_to_right")
    poll(stack, "right_to_left")
    assert (stack.client.server.writes(), stack.client.services.writes()) == writes
    assert converged()


def test_a_typed_value_resolves_a_conflict_and_a_bad_one_is_shown(console: Any, stack: Served) -> None:
    server_id, services_id, _, _ = make_conflict(stack, "Typed")
    open_page(console, stack, f"conflicts.html?scenario={SCENARIO}")
    card = console.get_by_role("region", name=re.compile(rf"{server_id} ↔ {services_id}: {TITLE}"))
    chosen = unique("Typed by a person")
    card.get_by_label("Typed value").fill(chosen)
    assert card.get_by_label("a value I type").is_checked()
    card.get_by_role("button", name="Resolve").click()
    console.get_by_role("status").filter(has_text=chosen).wait_for()

    def converged() -> bool:
        left = stack.client.server.get(server_id)["fields"][TITLE]
        return left == stack.client.services.get(services_id)["fields"][TITLE] == chosen

    wait_for("both systems hold the typed title", converged, WAIT)


def test_a_dead_lettered_item_is_replayed_from_the_page_and_succeeds(console: Any, stack: Served) -> None:
    # Services refuses the create once with a 400: a permanent error, dead-lettered on the first attempt.
    created, dead = make_dead_letter(stack, "Dead letter")
    server_id = str(created["id"])
    assert item(stack, server_id)["right_id"] is None

    open_page(console, stack, f"failures.html?scenario={SCENARIO}")
    table = console.get_by_role("table", name="Dead-lettered messages")
    row = table.get_by_role("row").filter(has_text=server_id)
    assert dead["reason"][:20] in row.inner_text()
    assert accessibility_problems(console) == []
    row.get_by_role("button", name=f"Replay {server_id}").click()
    console.get_by_role("status").filter(has_text="Replayed 1").wait_for()

    linked, _ = wait_for(
        "the replayed item is created on Services", lambda: item(stack, server_id)["right_id"], WAIT
    )
    copy = stack.client.services.get(linked)
    assert copy["fields"][TITLE] == created["fields"][TITLE]
    assert dead_letter(stack, server_id) is None

    # Its history tells the story: found by its Services id, with the runs that touched it.
    open_page(console, stack, f"item.html?scenario={SCENARIO}&id={linked}&side=right")
    console.get_by_role("heading", name=re.compile(rf"{server_id} ↔ {linked}")).wait_for()
    events = console.get_by_role("table", name=re.compile("Runs that touched it")).inner_text()
    assert "created" in events
    assert accessibility_problems(console) == []


def test_an_unknown_item_id_is_shown_next_to_the_id_field(console: Any, stack: Served) -> None:
    open_page(console, stack, f"item.html?scenario={SCENARIO}")
    console.get_by_label("Item id (on either system)").fill("999999")
    console.get_by_role("button", name="Find").click()
    error = console.locator("#err-id")
    error.wait_for()
    assert "999999" in error.inner_text()


def test_a_side_changed_again_since_is_said_in_the_form(console: Any, stack: Served) -> None:
    server_id, services_id, _, _ = make_conflict(stack, "Stale")
    open_page(console, stack, f"conflicts.html?scenario={SCENARIO}")
    card = console.get_by_role("region", name=re.compile(rf"{server_id} ↔ {services_id}: {TITLE}"))
    stack.client.services.update(services_id, {TITLE: unique("changed again")})  # after the page loaded
    card.get_by_role("button", name="Resolve").click()
    error = card.locator(".form-error")
    error.wait_for()
    assert error.get_attribute("role") == "alert" and "changed" in error.inner_text()
    assert card.get_by_role("button", name="Resolve").is_enabled()  # the person can reload and choose again


def test_replay_all_replays_every_dead_letter_of_the_integration(console: Any, stack: Served) -> None:
    first, _ = make_dead_letter(stack, "First of two")
    second, _ = make_dead_letter(stack, "Second of two")
    open_page(console, stack, f"failures.html?scenario={SCENARIO}")
    button = console.get_by_role("button", name=re.compile(r"Replay all \d+"))
    count = int(button.inner_text().split()[-1])
    assert count >= 2
    button.click()
    console.get_by_role("status").filter(has_text=f"Replayed {count}").wait_for()
    for created in (first, second):
        wait_for(
            f"story {created['id']} is created on Services",
            lambda created=created: item(stack, str(created["id"]))["right_id"],
            WAIT,
        )
    assert console.get_by_text("No dead letters.").is_visible()
