"""The set-up wizard in headless Chromium through `tandem serve` with the emulators: an EMPTY stack (no
instances, no integrations) taken to a first successful ADO Server <-> Services sync, every page interaction
counted (the figure is in the README); wrong credentials and a missing secret name shown next to their
fields, the secret's value never echoed; the pages pass the accessibility checks at 1366x768."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.browser import Served, accessibility_problems, keyboard_reaches, open_page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SERVE_CONFIG = {"connections": {}, "field_maps": {}, "scenarios": []}  # an empty stack
HTTP = 120.0
SIGN_IN_STEPS = 2  # the `console` fixture fills the function key and clicks "Sign in"


class Steps:
    """Page interactions as a person makes them (fill, choose, click, open), counted."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = SIGN_IN_STEPS

    def open(self, stack: Served, path: str) -> None:
        self.count += 1
        open_page(self.page, stack, path)

    def fill(self, label: str, value: str) -> None:
        self.count += 1
        self.page.get_by_label(label, exact=True).fill(value)

    def choose(self, label: str, option: str) -> None:
        self.count += 1
        self.page.get_by_label(label, exact=True).select_option(label=option)

    def click(self, name: str) -> None:
        self.count += 1
        self.page.get_by_role("button", name=name, exact=True).click()


def seed(stack: Served) -> None:
    """The world before Tandem: a project with work items on the Server, an empty project on Services."""
    server = httpx.post(
        f"{stack.info['ado_server']}/_emulator/seed",
        json={
            "projects": [{"name": "Fabrikam"}],
            "workItems": [
                {"project": "Fabrikam", "type": "User Story", "fields": {"System.Title": "Wizard story"}},
                {"project": "Fabrikam", "type": "Task", "fields": {"System.Title": "Wizard task"}},
            ],
        },
        timeout=HTTP,
    )
    assert server.status_code == 200, server.text
    cloud = httpx.post(
        f"{stack.info['ado_services']}/_emulator/seed",
        json={"projects": [{"name": "Fabrikam-Cloud"}]},
        timeout=HTTP,
    )
    assert cloud.status_code == 200, cloud.text


def pat(stack: Served, system: str) -> str:
    return str(stack.info["credentials"][system]["pat"])


def titles(stack: Served, system: str) -> list[str]:
    """The titles of every work item on an emulator, read through its REST API with its PAT."""
    base, auth = stack.info[system], ("", pat(stack, system))
    found = httpx.post(
        f"{base}/_apis/wit/wiql",
        params={"api-version": "7.1"},
        json={"query": "SELECT [System.Id] FROM WorkItems"},
        auth=auth,
        timeout=HTTP,
    )
    assert found.status_code == 200, found.text
    ids = [str(w["id"]) for w in found.json()["workItems"]]
    if not ids:
        return []
    items = httpx.get(
        f"{base}/_apis/wit/workitems",
        params={"ids": ",".join(ids), "api-version": "7.1"},
        auth=auth,
        timeout=HTTP,
    )
    return sorted(str(w["fields"]["System.Title"]) for w in items.json()["value"])


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
    seed(stack)
    assert titles(stack, "ado_services") == []
    assert stack.client.admin("GET", "config/integrations") == []
    steps = Steps(console)
    page = console

    # 1. Instances: both ADO systems; the credentials are checked before each is saved.
    steps.open(stack, "wizard.html")
    steps.fill("Name", "ado-server")
    steps.fill("URL", stack.info["ado_server"])
    assert page.get_by_label("Deployment").input_value() == "server"  # inferred from the URL
    assert page.get_by_label("Secret name").input_value() == "ado-server-pat"  # suggested from the name
    steps.fill("Secret value", pat(stack, "ado_server"))
    steps.click("Save instance")
    page.get_by_role("cell", name="ado-server", exact=True).wait_for()
    steps.fill("Name", "ado-services")
    steps.fill("URL", stack.info["ado_services"])
    steps.choose("Deployment", "Azure DevOps Services (cloud)")
    steps.fill("Secret value", pat(stack, "ado_services"))
    steps.click("Save instance")
    page.get_by_role("cell", name="ado-services", exact=True).wait_for()
    assert accessibility_problems(page) == []

    # 2. Project pair: the projects are listed from each instance.
    steps.click("Next: Project pair")
    for side, project in (("left", "Fabrikam"), ("right", "Fabrikam-Cloud")):
        option = page.locator(f"select[name='containers.0.{side}'] option[value='{project}']")
        option.wait_for(state="attached")
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
    steps.count += 1
    history.uncheck()
    assert accessibility_problems(page) == []
    steps.click("Save field map")

    # 5. Schedule and start date.
    page.get_by_label("Poll").wait_for()
    steps.choose("Poll", "every 30 seconds (*/30 * * * * *)")
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
    assert accessibility_problems(page) == []

    # The items exist on the other emulator, and the run says so.
    assert titles(stack, "ado_services") == ["Wizard story", "Wizard task"]
    status = stack.client.status("ado-server-ado-services")
    assert sum(r["counts"].get("created", 0) for r in status["runs"]) == 2
    integration = stack.client.admin("GET", "config/integrations/ado-server-ado-services")["integration"]
    assert {d["trigger"] for d in integration["directions"].values()} == {"automatic"}
    assert integration["directions"]["left_to_right"]["schedule"] == "*/30 * * * * *"
    rules = stack.client.admin("GET", "config/field-maps/ado-server-ado-services")["rules"]
    assert "System.History" not in {r["left"] for r in rules} and len(rules) >= 10
    # Every change went through the versioned configuration API.
    notes = [v["note"] for v in stack.client.admin("GET", "config/history")["versions"]]
    assert "put instances.ado-server" in notes and "put integrations.ado-server-ado-services" in notes

    record_property("wizard_steps", steps.count)
    print(f"\nwizard page interactions: {steps.count}")
    assert steps.count <= 30
