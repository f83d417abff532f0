"""The set-up wizard in headless Chromium through `tandem serve` with the emulators: an EMPTY stack (no
instances, no integrations) taken to a first successful ADO Server <-> Services sync, every page interaction
counted (the figure is in the README); wrong credentials and a missing secret name shown next to their
fields, the secret's value never echoed; the pages pass the accessibility checks at 1366x768."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.browser import Served, accessibility_problems, keyboard_reaches, open_page
from tests.support.wizard import EMPTY_CONFIG, Steps, add_instance, seed_world, titles, wait_for_projects

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SERVE_CONFIG = EMPTY_CONFIG  # no instances, no integrations


def test_wrong_credentials_and_a_missing_secret_name_are_shown_next_to_their_fields(
    console: Any, stack: Served
) -> None:
    open_page(console, stack, "wizard.html")
    assert accessibility_problems(console) == []
    assert keyboard_reaches(console, "button:has-text('Save instance')")
    console.get_by_label("Name", exact=True).fill("wrong")
    console.get_by_label("URL", exact=True).fill(stack.info["ado_server"])
    console.get_by_label("Secret name", exact=True).fill("")
    console.get_by_label("Secret value", exact=True).fill("typed-value-not-kept-1")
    console.get_by_role("button", name="Check credentials").click()
    error = console.locator("#err-auth_secret")
    error.wait_for()
    assert "name the secret" in error.inner_text()
    assert console.get_by_label("Secret name", exact=True).get_attribute("aria-invalid") == "true"

    console.get_by_label("Secret name", exact=True).fill("wrong-pat")
    console.get_by_role("button", name="Check credentials").click()
    problem = console.locator(".form-error")
    problem.wait_for()
    # The connector's check names what is missing: the PAT's scopes.
    assert "Work Items (Read & write)" in problem.inner_text()
    # The value was stored and cleared from the page; it is nowhere in it.
    assert console.get_by_label("Secret value", exact=True).input_value() == ""
    assert "typed-value-not-kept-1" not in console.content()
    # Nothing was saved: the stack is still empty.
    assert stack.client.admin("GET", "config/instances") == []


def test_the_wizard_takes_an_empty_stack_to_a_first_successful_sync(
    console: Any, stack: Served, record_property: Any
) -> None:
    seed_world(stack)
    assert titles(stack, "ado_services") == []
    assert stack.client.admin("GET", "config/integrations") == []
    steps = Steps(console)
    page = console

    # 1. Instances: both ADO systems; the credentials are checked before each is saved.
    steps.open(stack, "wizard.html")
    add_instance(steps, stack, "ado-server", "ado_server")
    assert page.get_by_label("Secret name").input_value() == ""  # the form is fresh for the next one
    add_instance(steps, stack, "ado-services", "ado_services")
    assert accessibility_problems(page) == []

    # 2. Project pair: the projects are listed from each instance.
    steps.click("Next: Project pair")
    wait_for_projects(page, "Fabrikam", "Fabrikam-Cloud")
    assert page.get_by_label("Left project").input_value() == "Fabrikam"
    assert page.get_by_label("Integration name").input_value() == "ado-server-ado-services"
    steps.click("Save project pair")

    # 3. Create fields on both systems (an ADO <-> ADO sync needs none: both are reported as complete).
    page.get_by_role("button", name="Create fields on both systems").wait_for()
    steps.click("Create fields on both systems")
    page.get_by_text("Both systems have every field this integration needs.").wait_for()
    steps.click("Next: Field map")

    # 4. Field map with auto-map: keep what it proposes, drop one rule, save.
    steps.click("Propose rules (auto-map)")
    page.locator("input[name='rules.0.left']").wait_for()
    assert page.locator("input[name='rules.0.left']").input_value() == "System.Title"
    history = page.locator("tr", has=page.locator("input[value='System.History']")).get_by_role("checkbox")
    steps.toggle(history, False)
    assert accessibility_problems(page) == []
    steps.click("Save field map")

    # 5. Schedule and start date.
    # Hourly polls and near-real-time service hooks: a later change arrives through a hook, not a poll.
    page.get_by_label("Poll").wait_for()
    steps.choose("Poll", "every hour (0 0 * * * *)")
    steps.toggle(page.get_by_label("Near-real-time: Azure DevOps service hooks"), True)
    steps.click("Save schedule")

    # 6. Dry run: the per-field diff of what the first run will write.
    steps.click("Run a dry run")
    page.locator(".dry-summary").wait_for()
    assert "2 item(s): 2 create" in page.locator(".dry-summary").inner_text()
    diff = page.locator("table").filter(has_text="Wizard story").inner_text()
    assert "System.Title" in diff and "System.AreaPath" in diff and "Fabrikam-Cloud" in diff
    assert titles(stack, "ado_services") == []  # a dry run writes nothing
    steps.click("Next: First run")

    # 7. First run with live progress, read from the run's counters.
    steps.click("Start synchronization")
    page.locator(".result-ok").wait_for(timeout=600_000)
    assert "2 created" in page.locator(".result-ok").inner_text()
    assert "Service hooks in place on ado-server and ado-services" in page.locator(".hooks-line").inner_text()
    assert accessibility_problems(page) == []

    # The items exist on the other emulator, and the run says so.
    assert titles(stack, "ado_services") == ["Wizard story", "Wizard task"]
    status = stack.client.status("ado-server-ado-services")
    assert sum(r["counts"].get("created", 0) for r in status["runs"]) == 2
    integration = stack.client.admin("GET", "config/integrations/ado-server-ado-services")["integration"]
    assert {d["trigger"] for d in integration["directions"].values()} == {"automatic"}
    assert integration["directions"]["left_to_right"]["schedule"] == "0 0 * * * *"
    assert all(d["hooks"] for d in integration["directions"].values())
    rules = stack.client.admin("GET", "config/field-maps/ado-server-ado-services")["rules"]
    assert "System.History" not in {r["left"] for r in rules} and len(rules) >= 10
    # Every change went through the versioned configuration API.
    notes = [v["note"] for v in stack.client.admin("GET", "config/history")["versions"]]
    assert "put instances.ado-server" in notes and "put integrations.ado-server-ado-services" in notes

    # Near-real-time: an edit on the Server reaches Services through the service hook the wizard created.
    server = stack.client.server
    ids = server.ids_in("Fabrikam")
    story = next(i for i in ids if server.get(i)["fields"]["System.Title"] == "Wizard story")
    server.update(story, {"System.Title": "Wizard story, edited"})
    deadline = time.monotonic() + 180
    while "Wizard story, edited" not in titles(stack, "ado_services"):
        assert time.monotonic() < deadline, "the edit did not reach Services through the hook"
        time.sleep(0.5)

    record_property("wizard_steps", steps.count)
    print(f"\nwizard page interactions: {steps.count}")
    assert steps.count <= 30


def test_an_integration_is_continued_and_refused_edits_are_shown_where_they_belong(
    console: Any, stack: Served
) -> None:
    # Runs after the first sync above: the stack now holds its integration.
    name = "ado-server-ado-services"
    open_page(console, stack, "wizard.html")
    assert console.get_by_label("Integration", exact=True).input_value() == name
    console.get_by_role("button", name="Continue", exact=True).click()
    console.get_by_role("button", name="Create fields on both systems").wait_for()
    console.get_by_role("button", name="Field map", exact=True).click()
    rows = console.locator("table.rules tbody tr")
    rows.first.wait_for()
    saved = rows.count()

    # A rule naming a field the system does not have: refused, shown next to that rule's field.
    console.get_by_role("button", name="Add a rule").click()
    console.locator(f"input[name='rules.{saved}.left']").fill("Custom.NoSuchField")
    console.locator(f"input[name='rules.{saved}.right']").fill("System.History")
    console.get_by_role("button", name="Save field map").click()
    error = console.locator(f"#err-rules_{saved}_left")
    error.wait_for()
    assert "unknown left field 'Custom.NoSuchField'" in error.inner_text()
    assert console.locator(f"input[name='rules.{saved}.left']").get_attribute("aria-invalid") == "true"
    before = stack.client.admin("GET", f"config/field-maps/{name}")["rules"]
    assert len(before) == saved  # nothing partial stored

    # A second administrator changes the configuration meanwhile: the page's stale edit is refused.
    tag = stack.client.http.get(
        f"{stack.api}/config/history", headers={"x-functions-key": stack.key}
    ).headers["ETag"]
    copied = stack.client.http.post(
        f"{stack.api}/config/field-maps/{name}/copy",
        json={"name": "someone-elses-copy"},
        headers={"x-functions-key": stack.key, "If-Match": tag},
    )
    assert copied.status_code == 200, copied.text
    console.locator(f"input[name='rules.{saved}.keep']").uncheck()
    console.get_by_role("button", name="Save field map").click()
    stale = console.locator(".form-error")
    stale.wait_for()
    assert "configuration" in stale.inner_text() and "version" in stale.inner_text()
    assert stack.client.admin("GET", f"config/field-maps/{name}")["rules"] == before
