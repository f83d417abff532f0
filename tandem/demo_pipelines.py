"""Part 4 of `tandem demo`: the sample release pipelines configuration (`pipelines_config.yaml`) beside the
other parts'. A classic release definition on Azure DevOps Server that uses an agent queue, a service
connection, a variable group and a task group (version `1.*`) is copied to Azure DevOps Services with all
four: a dry run shows the pre-flight first, one poll links the dependencies before the definition, and the
demo prints every id the copy carries, Server id → Services id, by JSON path. The service connection and the
secret variables show "needs secret"; a second poll writes nothing; the YAML export of the copy is rendered
and checked (one stage per environment), and the command that writes it is shown with where it would go.
The systems are read over their REST API (the pipelines connector's client), the app over its admin API.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import yaml

from tandem.demo import PWA_CONFIG, DemoError, StackClient, combined_config, conclude, table
from tandem.demo_planner import PLANNER_CONFIG

PIPELINES_CONFIG = Path(__file__).resolve().parent / "pipelines_config.yaml"
SCENARIO = "pipelines"
PROJECT = "Fabrikam"
SERVER, SERVICES = "server-pipelines", "services-pipelines"
ENTITIES = ("agent_queue", "service_connection", "variable_group", "task_group", "release_definition")
LABELS = {
    "agent_queue": "agent queue",
    "service_connection": "service connection",
    "variable_group": "variable group",
    "task_group": "task group",
    "release_definition": "release definition",
}


class PipelinesDemo:
    def __init__(self, stack: Any, info: dict[str, Any], client: StackClient, out: TextIO, timeout: float):
        self.stack = stack
        self.client = client
        self.out = out
        self.timeout = timeout
        self.sample: dict[str, Any] = {}
        self.definition = ""  # the sample definition's name

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, number: int, title: str) -> None:
        self.say()
        self.say(f"{number}. {title}")

    def side(self, connection: str) -> Any:
        """The pipelines connector of one side (its client speaks the system's REST API)."""
        return self.stack.services.connector(connection)

    def poll(self) -> None:
        self.client.run_and_wait(SCENARIO, "left_to_right", self.timeout)

    def copied(self) -> dict[str, Any] | None:
        found = self.side(SERVICES).find_by_natural_key("release_definition", self.definition)
        return dict(found.fields) if found is not None else None

    # the steps
    def introduce(self, number: int) -> None:
        self.step(number, "Part 4: Release pipelines, Azure DevOps Server → Azure DevOps Services")
        paths = [self.stack.config_path, PWA_CONFIG, PLANNER_CONFIG, PIPELINES_CONFIG]
        self.stack.apply_config(combined_config(paths, self.stack.variables()))  # seeds project Fabrikam
        self.sample = self.client.server.control("POST", "pipelines/sample", {"project": PROJECT})
        services = self.side(SERVICES)
        services.client.create_pool("Linux agents")  # the pool the scenario's pool map names
        # Services is no empty organisation: a queue and a variable group of its own are there already.
        hosted = next(p for p in services.client.list_pools() if p["name"] == "Azure Pipelines")
        services.client.create_queue(PROJECT, "Azure Pipelines", int(hosted["id"]))
        services.client.create_variable_group(
            {
                "name": "Mobile shared",
                "type": "Vsts",
                "variables": {"ApiUrl": {"value": "https://api.contoso.com"}},
                "variableGroupProjectReferences": services._project_references({"name": "Mobile shared"}),
            }
        )
        server = self.side(SERVER).client
        body = server.get_definition(PROJECT, int(self.sample["definitionId"]))
        self.definition = str(body["name"])
        self.say(
            f"   On Server, project {PROJECT}: release definition '{self.definition}' "
            f"({len(body['environments'])} stages) uses agent queue 'Default' (pool Default), service "
            "connection 'Fabrikam Azure', variable group 'Fabrikam shared' and task group 'Fabrikam deploy "
            "steps' (version 1.*)."
        )
        scenario = self.stack.services.config().scenario(SCENARIO)
        pool_map = scenario.connector_options.get("right", {}).get("pool_map")
        self.say(f"   Scenario '{SCENARIO}' (tandem/pipelines_config.yaml): Services pool map {pool_map}.")
        reply = self.client.admin(
            "POST", f"scenarios/{SCENARIO}/run", json={"dry_run": True, "direction": "left_to_right"}
        )
        for check in reply.get("preflight") or []:
            problems = check.get("problems") or []
            state = f"{len(problems)} problem(s)" if problems else "ready"
            self.say(f"   Dry run: pre-flight {check['source']} → {check['target']}: {state}")
            for problem in problems:
                self.say(f"     - {problem}")
        actions = Counter(f"{p['action']} {p['entity']}" for p in reply.get("plans") or [])
        planned = ", ".join(f"{what} ({n})" for what, n in sorted(actions.items()))
        self.say(f"   Dry run plans: {planned}; the definition waits until its dependencies are linked.")

    def copy(self, number: int) -> None:
        self.step(number, "Copy the definition with its dependencies (one poll, Server → Services)")
        self.poll()
        copy = self.copied()
        if copy is None:
            raise DemoError(f"'{self.definition}' did not arrive on Services: {self.dead_letters()}")
        rows = []
        for entity in ENTITIES:
            names = self.names(entity)
            view = self.stack.services.config().scenario(SCENARIO).pair_view(entity)
            for link in self.stack.services.links.list(view.key):
                if link.status == "linked":
                    rows.append(
                        [LABELS[entity], names.get(str(link.left_id), "?"), link.left_id, link.right_id]
                    )
        self.say("   Linked, dependencies first (Server id → Services id):")
        self.say(table(["ENTITY", "NAME", "SERVER ID", "SERVICES ID"], rows))
        source = self.side(SERVER)
        original = source.client.get_definition(PROJECT, int(self.sample["definitionId"]))
        before = {r.path: r for r in source.references_in("release_definition", original)}
        after = {r.path: r for r in self.side(SERVICES).references_in("release_definition", copy)}
        self.say(f"   Where the ids sit in '{self.definition}' (JSON path: Server → Services):")
        for path, ref in before.items():
            if ref.entity in ("agent_queue", "service_connection", "variable_group", "task_group"):
                target = after.get(path)
                self.say(f"     {path}: {ref.source_id} → {target.source_id if target else '(missing)'}")

    def names(self, entity: str) -> dict[str, str]:
        """Server id → name of the Server items of `entity`."""
        connector = self.side(SERVER)
        if entity == "release_definition":
            return {str(d["id"]): str(d["name"]) for d in connector.client.list_definitions(PROJECT)}
        return {item.id: str(item.fields.get("name")) for item in connector.read(entity, self.ids(entity))}

    def ids(self, entity: str) -> list[str]:
        view = self.stack.services.config().scenario(SCENARIO).pair_view(entity)
        return [str(link.left_id) for link in self.stack.services.links.list(view.key) if link.left_id]

    def dead_letters(self) -> list[str]:
        status = self.client.status(SCENARIO)
        return [f"{d['entity']} {d['source_id']}: {d['reason']}" for d in status["dead_letters"]]

    def summary(self, number: int) -> list[str]:
        self.step(number, "Part 4 summary")
        problems: list[str] = []
        copy = self.copied() or {}
        text = json.dumps(copy)
        for key in ("endpointId", "taskGroupId"):
            if str(self.sample[key]) in text:
                problems.append(f"the Services copy still holds the Server {key} {self.sample[key]}")
        status = self.client.status(SCENARIO)
        for note in sorted(n["note"] for n in status.get("notes") or []):
            self.say(f"     {note}")
        writes = self.client.services.writes()
        self.poll()
        if self.client.services.writes() != writes:
            problems.append("a second poll wrote to Services")
        from connectors.ado_pipelines.yaml_export import export_yaml
        from tandem.pipelines_cli import export_parts

        parts = export_parts(self.side(SERVICES), PROJECT, self.definition)
        exported = export_yaml(parts.pop("definition"), **parts)
        pipeline = yaml.safe_load(exported.pipeline)
        stages = len(pipeline.get("stages") or [])
        if stages != len(copy.get("environments") or []):
            problems.append(
                f"the YAML export has {stages} stage(s) for {len(copy.get('environments') or [])}"
            )
        target = Path.cwd() / f"{self.definition}.yml"
        self.say(
            f"   YAML export: `tandem pipelines yaml {self.definition} --from {SERVICES} --config "
            f"tandem/pipelines_config.yaml -o {target.name}` would write {target} ({stages} stages, "
            f"{len(exported.notes)} note(s) for what YAML cannot say) and its task group templates in "
            f"{', '.join(str(target.parent / n) for n in exported.templates) or '(none)'}."
        )
        problems += [f"dead letter: {d}" for d in self.dead_letters()]
        links = status["links"]
        return conclude(
            self.say,
            problems,
            (
                f"{links.get('linked', 0)} items linked, no Server id left in the copy, the "
                "secrets wait to be set by hand on Services, and a second poll wrote nothing."
            ),
        )
