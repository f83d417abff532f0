"""A classic release definition written as a multi-stage YAML pipeline: stages from environments, deployment
jobs from deploy phases (with the pool of their agent queue), steps from tasks with their inputs, task groups
as
step templates written beside it, variables and variable groups. What YAML cannot express (approvals, gates,
artifact triggers, schedules, secret values...) is listed as comments at the top. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

_SLUG = re.compile(r"[^A-Za-z0-9_]+")
_MAJOR = re.compile(r"^\s*(\d+)")


@dataclass
class YamlExport:
    pipeline: str  # the azure-pipelines.yml text
    templates: dict[str, str] = field(default_factory=dict)  # relative file name → step template text
    notes: list[str] = field(default_factory=list)  # what must be set up by hand


def _identifier(name: str) -> str:
    """Stage and job names allow letters, digits and underscores and must not start with a digit."""
    slug = _SLUG.sub("_", name).strip("_") or "stage"
    return f"_{slug}" if slug[0].isdigit() else slug


def _file_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "task-group"


def _major(spec: str) -> str:
    match = _MAJOR.match(str(spec or ""))
    return match.group(1) if match else "1"


class _Exporter:
    def __init__(
        self,
        task_groups: Mapping[str, Sequence[Mapping[str, Any]]],
        variable_groups: Mapping[int, Mapping[str, Any]],
        queues: Mapping[int, Mapping[str, Any]],
        task_definitions: Sequence[Mapping[str, Any]],
        endpoints: Mapping[str, str],
    ) -> None:
        self.task_groups = {k.lower(): list(v) for k, v in task_groups.items()}
        self.variable_groups = variable_groups
        self.queues = queues
        self.task_names = {str(t.get("id", "")).lower(): str(t.get("name")) for t in task_definitions}
        self.endpoints = {k.lower(): v for k, v in endpoints.items()}
        self.templates: dict[str, str] = {}
        self.notes: list[str] = []

    # --- steps --------------------------------------------------------------------------------------

    def _inputs(self, inputs: Mapping[str, Any], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in inputs.items():
            if isinstance(value, str) and value.lower() in self.endpoints:
                value = self.endpoints[value.lower()]  # YAML names service connections by name
            elif (
                isinstance(value, str)
                and re.fullmatch(r"[0-9a-fA-F-]{36}", value)
                and "service" in name.lower()
            ):
                self.notes.append(
                    f"{where}: input {name} names service connection {value}, unknown here: "
                    "replace it with the connection's name"
                )
            if value not in ("", None):
                out[name] = value
        return out

    def _task_step(
        self,
        task_id: str,
        version: str,
        display: str,
        inputs: Mapping[str, Any],
        enabled: bool,
        continue_on_error: bool,
        condition: str | None,
        where: str,
    ) -> dict[str, Any]:
        name = self.task_names.get(task_id.lower(), task_id)
        step: dict[str, Any] = {"task": f"{name}@{_major(version)}"}
        if display:
            step["displayName"] = display
        if not enabled:
            step["enabled"] = False
        if continue_on_error:
            step["continueOnError"] = True
        if condition and condition != "succeeded()":
            step["condition"] = condition
        cleaned = self._inputs(inputs, where)
        if cleaned:
            step["inputs"] = cleaned
        return step

    def _template_step(self, group_id: str, version_spec: str, display: str, where: str) -> dict[str, Any]:
        versions = self.task_groups.get(group_id.lower())
        if not versions:
            self.notes.append(
                f"{where}: task group {group_id} ({display}) was not available: add its steps by hand"
            )
            return {
                "script": f"echo 'TODO: steps of task group {display or group_id}'",
                "displayName": display,
            }
        major = int(_major(version_spec))
        chosen = next(
            (v for v in versions if int((v.get("version") or {}).get("major", 0)) == major), versions[-1]
        )
        chosen_major = (chosen.get("version") or {}).get("major", 1)
        file_name = f"templates/{_file_slug(str(chosen.get('name')))}-v{chosen_major}.yml"
        if file_name not in self.templates:
            self.templates[file_name] = self._template(chosen, file_name)
        return {"template": file_name}

    def _template(self, group: Mapping[str, Any], file_name: str) -> str:
        steps = []
        for step in group.get("tasks") or []:
            task = step.get("task") or {}
            where = f"{file_name}: {step.get('displayName') or task.get('id')}"
            if task.get("definitionType") == "metaTask":
                steps.append(
                    self._template_step(
                        str(task.get("id")),
                        str(task.get("versionSpec")),
                        str(step.get("displayName") or ""),
                        where,
                    )
                )
            else:
                steps.append(
                    self._task_step(
                        str(task.get("id")),
                        str(task.get("versionSpec")),
                        str(step.get("displayName") or ""),
                        step.get("inputs") or {},
                        bool(step.get("enabled", True)),
                        bool(step.get("continueOnError", False)),
                        step.get("condition"),
                        where,
                    )
                )
        document: dict[str, Any] = {}
        parameters = [
            {"name": str(i.get("name")), "type": "string", "default": str(i.get("defaultValue") or "")}
            for i in group.get("inputs") or []
        ]
        if parameters:
            document["parameters"] = parameters
        document["steps"] = steps
        header = (
            f"# Step template from task group {group.get('name')!r} version "
            f"{(group.get('version') or {}).get('major', 1)} (id {group.get('id')}), exported by Tandem.\n"
        )
        if parameters:
            header += "# Its steps read the inputs as $(name) variables, as the task group did.\n"
        return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)

    # --- variables ----------------------------------------------------------------------------------

    def _variables(
        self, variables: Mapping[str, Any], groups: Sequence[Any], where: str
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group_id in groups:
            group = self.variable_groups.get(int(group_id))
            if group is None:
                self.notes.append(f"{where}: variable group {group_id} was not available: name it by hand")
                out.append({"group": f"variable-group-{group_id}"})
            else:
                out.append({"group": str(group.get("name"))})
        for name, var in variables.items():
            var = var or {}
            if var.get("isSecret"):
                self.notes.append(
                    f"{where}: secret variable {name} must be defined as a secret in the pipeline "
                    "settings (secret values never leave Azure DevOps)"
                )
                continue
            out.append({"name": name, "value": "" if var.get("value") is None else str(var.get("value"))})
        return out

    # --- stages -------------------------------------------------------------------------------------

    def _depends_on(self, env: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
        depends = []
        for condition in env.get("conditions") or []:
            if condition.get("conditionType") == "environmentState" and condition.get("name") in names:
                depends.append(names[condition["name"]])
        return depends

    def _environment_notes(self, env: Mapping[str, Any]) -> None:
        stage = env.get("name")
        for kind, label in (
            ("preDeployApprovals", "pre-deployment"),
            ("postDeployApprovals", "post-deployment"),
        ):
            people = [
                str(
                    (a.get("approver") or {}).get("uniqueName")
                    or (a.get("approver") or {}).get("displayName")
                )
                for a in (env.get(kind) or {}).get("approvals") or []
                if not a.get("isAutomated") and a.get("approver")
            ]
            if people:
                self.notes.append(
                    f"Stage {stage!r}: {label} approval by {', '.join(people)} -> add an Approvals "
                    f"check on environment {stage!r}"
                )
        for kind in ("preDeploymentGates", "postDeploymentGates"):
            gates = (env.get(kind) or {}).get("gates") or []
            if gates:
                self.notes.append(
                    f"Stage {stage!r}: {len(gates)} {kind} -> add checks on environment {stage!r}"
                )
        if env.get("schedules"):
            self.notes.append(
                f"Stage {stage!r}: scheduled deployment -> use `schedules:` or a scheduled check"
            )
        if any(c.get("conditionType") == "artifact" for c in env.get("conditions") or []):
            self.notes.append(
                f"Stage {stage!r}: artifact filter conditions -> express them as stage conditions"
            )

    def stages(self, definition: Mapping[str, Any]) -> list[dict[str, Any]]:
        envs = sorted(definition.get("environments") or [], key=lambda e: e.get("rank", 0))
        names = {str(e.get("name")): _identifier(str(e.get("name"))) for e in envs}
        stages = []
        for env in envs:
            env_name = str(env.get("name"))
            self._environment_notes(env)
            stage: dict[str, Any] = {
                "stage": names[env_name],
                "displayName": env_name,
                "dependsOn": self._depends_on(env, names),
            }
            variables = self._variables(
                env.get("variables") or {}, env.get("variableGroups") or [], f"Stage {env_name!r}"
            )
            if variables:
                stage["variables"] = variables
            jobs = []
            for p, phase in enumerate(env.get("deployPhases") or []):
                jobs.append(self._job(env_name, p, phase))
            stage["jobs"] = jobs
            stages.append(stage)
        return stages

    def _job(self, env_name: str, index: int, phase: Mapping[str, Any]) -> dict[str, Any]:
        where = f"Stage {env_name!r}, {phase.get('name') or 'job'}"
        steps = []
        for task in phase.get("workflowTasks") or []:
            display = str(task.get("name") or "")
            if task.get("definitionType") == "metaTask":
                steps.append(
                    self._template_step(str(task.get("taskId")), str(task.get("version")), display, where)
                )
            else:
                steps.append(
                    self._task_step(
                        str(task.get("taskId")),
                        str(task.get("version")),
                        display,
                        task.get("inputs") or {},
                        bool(task.get("enabled", True)),
                        bool(task.get("continueOnError", False)),
                        task.get("condition"),
                        where,
                    )
                )
        phase_type = phase.get("phaseType", "agentBasedDeployment")
        job_name = _identifier(f"{phase.get('name') or 'deploy'}_{index + 1}")
        if phase_type == "runOnServer":
            return {"job": job_name, "displayName": phase.get("name"), "pool": "server", "steps": steps}
        job: dict[str, Any] = {"deployment": job_name, "displayName": phase.get("name") or "Deploy"}
        queue_id = (phase.get("deploymentInput") or {}).get("queueId")
        if phase_type == "machineGroupBasedDeployment":
            self.notes.append(
                f"{where}: deployment group job -> use a virtual machine resource in environment {env_name!r}"
            )
        elif queue_id:
            queue = self.queues.get(int(queue_id))
            if queue is None:
                self.notes.append(f"{where}: agent queue {queue_id} was not available: set the pool by hand")
                job["pool"] = {"name": f"queue-{queue_id}"}
            else:
                pool = (queue.get("pool") or {}).get("name") or queue.get("name")
                job["pool"] = (
                    {"vmImage": "ubuntu-latest"}
                    if (queue.get("pool") or {}).get("isHosted")
                    else {"name": pool}
                )
        demands = (phase.get("deploymentInput") or {}).get("demands") or []
        if demands and isinstance(job.get("pool"), dict) and "name" in job["pool"]:
            job["pool"]["demands"] = list(demands)
        job["environment"] = env_name
        job["strategy"] = {"runOnce": {"deploy": {"steps": steps}}}
        return job


def export_yaml(
    definition: Mapping[str, Any],
    *,
    task_groups: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    variable_groups: Mapping[int, Mapping[str, Any]] | None = None,
    queues: Mapping[int, Mapping[str, Any]] | None = None,
    task_definitions: Sequence[Mapping[str, Any]] = (),
    endpoints: Mapping[str, str] | None = None,
) -> YamlExport:
    """`task_groups`: id → every version; `endpoints`: service connection id → name (YAML names them)."""
    exporter = _Exporter(
        task_groups or {}, variable_groups or {}, queues or {}, task_definitions, endpoints or {}
    )
    document: dict[str, Any] = {"trigger": "none"}
    variables = exporter._variables(
        definition.get("variables") or {}, definition.get("variableGroups") or [], "Pipeline"
    )
    if variables:
        document["variables"] = variables
    document["stages"] = exporter.stages(definition)
    artifacts = definition.get("artifacts") or []
    for artifact in artifacts:
        exporter.notes.append(
            f"Artifact {artifact.get('alias')!r} ({artifact.get('type')}) -> declare it under "
            "`resources:` (pipelines/repositories) and download it in the jobs"
        )
    if any(t.get("triggerType") in ("artifactSource", 1) for t in definition.get("triggers") or []):
        exporter.notes.append(
            "Continuous deployment trigger on an artifact -> a `resources.pipelines` trigger"
        )
    header = [
        f"# Exported by Tandem from classic release pipeline {definition.get('name')!r} "
        f"(id {definition.get('id')}, revision {definition.get('revision')}).",
    ]
    if exporter.notes:
        header.append("# Not expressible in YAML - set these up by hand:")
        header += [f"#   - {note}" for note in dict.fromkeys(exporter.notes)]
    text = "\n".join(header) + "\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return YamlExport(pipeline=text, templates=exporter.templates, notes=list(dict.fromkeys(exporter.notes)))
