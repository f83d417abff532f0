"""Driving the console's set-up wizard as a person does, for its browser test and the screenshot script:
the world before Tandem (projects and work items on the ADO emulators), counted page interactions, and
reading the emulators back through their REST APIs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.browser import Served, open_page

EMPTY_CONFIG: dict[str, Any] = {"connections": {}, "field_maps": {}, "scenarios": []}
HTTP = 120.0
SIGN_IN_STEPS = 2  # signing in: fill the function key, click "Sign in"
DEPLOYMENTS = {
    "ado_server": "Azure DevOps Server (on premises)",
    "ado_services": "Azure DevOps Services (cloud)",
}


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

    def toggle(self, checkbox: Any, on: bool) -> None:
        self.count += 1
        checkbox.set_checked(on)

    def click(self, name: str) -> None:
        self.count += 1
        self.page.get_by_role("button", name=name, exact=True).click()


def seed_world(stack: Served) -> None:
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


def add_instance(steps: Steps, stack: Served, name: str, system: str) -> None:
    """Step 1 for one ADO emulator: name, URL, deployment (when the URL does not tell), the PAT; saved
    once its credentials pass the check."""
    page = steps.page
    steps.fill("Name", name)
    steps.fill("URL", stack.info[system])
    assert page.get_by_label("Secret name", exact=True).input_value() == f"{name}-pat"  # suggested
    if page.get_by_label("Deployment", exact=True).input_value() != system.removeprefix("ado_"):
        steps.choose("Deployment", DEPLOYMENTS[system])
    steps.fill("Secret value", pat(stack, system))
    steps.click("Save instance")
    page.get_by_role("cell", name=name, exact=True).wait_for()


def wait_for_projects(page: Any, left: str, right: str) -> None:
    """Step 2 has listed both instances' projects (each select holds its project)."""
    for side, project in (("left", left), ("right", right)):
        option = page.locator(f"select[name='containers.0.{side}'] option[value='{project}']")
        option.wait_for(state="attached")
