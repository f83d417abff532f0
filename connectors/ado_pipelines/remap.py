"""Where a release definition (or a task group) points at other things, and how to make it point at the
target's copies. Pure: no I/O. `find_references` lists every reference with its JSON path; `apply_mapping`
writes the target ids given per path and reports what it could not map, by name and path; `remap` refuses a
definition that would keep any source id.

JSON paths look like ``environments[0].deployPhases[0].deploymentInput.queueId``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EntityKind = Literal[
    "agent_queue",
    "task_group",
    "service_connection",
    "variable_group",
    "build_definition",
    "repository",
    "project",
    "identity",
]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_VARIABLE = re.compile(r"^\$\(.+\)$")
# Fields the service sets; a create must not send them (and they differ per system anyway).
SERVER_FIELDS = (
    "id",
    "revision",
    "url",
    "_links",
    "createdBy",
    "createdOn",
    "modifiedBy",
    "modifiedOn",
    "lastRelease",
    "isDeleted",
    "projectReference",
)


@dataclass(frozen=True)
class Reference:
    """One place a definition names another entity by the source system's id."""

    path: str
    entity: EntityKind
    source_id: str
    name: str  # what a person recognises: queue or input name, task group name, e-mail, artifact alias
    required: bool = True
    detail: str = ""  # e.g. the task group version spec ("1.*")


@dataclass
class RemapResult:
    definition: dict[str, Any]
    unmapped: list[Reference] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not any(r.required for r in self.unmapped)


class UnmappedReferences(ValueError):
    """A definition still holding source ids: it must not be written. Lists each by name and JSON path."""

    def __init__(self, name: str, unmapped: list[Reference]) -> None:
        self.unmapped = unmapped
        lines = [
            f"  {r.path}: {r.entity} {r.name!r} (source id {r.source_id}) has no match on the target"
            for r in unmapped
        ]
        super().__init__(f"{name}: {len(unmapped)} reference(s) could not be mapped:\n" + "\n".join(lines))


def endpoint_inputs(task_definitions: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Task id (lower case) → names of its inputs that hold a service connection (`connectedService:*`)."""
    found: dict[str, set[str]] = {}
    for task in task_definitions:
        names = {
            str(i.get("name"))
            for i in task.get("inputs") or []
            if str(i.get("type", "")).lower().startswith("connectedservice")
        }
        if names:
            found.setdefault(str(task.get("id", "")).lower(), set()).update(names)
    return found


def _is_endpoint_value(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not _VARIABLE.match(value.strip())


def _step_references(
    prefix: str,
    task_id: str,
    definition_type: str,
    version: str,
    display: str,
    inputs: Mapping[str, Any],
    endpoint_inputs_by_task: Mapping[str, set[str]],
    known_endpoints: set[str],
    id_field: str,
    version_field: str,
) -> list[Reference]:
    refs: list[Reference] = []
    if definition_type == "metaTask":
        refs.append(
            Reference(f"{prefix}.{id_field}", "task_group", task_id, display or task_id, detail=version)
        )
    typed = endpoint_inputs_by_task.get(task_id.lower(), set())
    for name, value in (inputs or {}).items():
        if not _is_endpoint_value(value):
            continue
        # Several endpoints may be given comma-separated (e.g. Docker registries); each must be mapped.
        values = [v.strip() for v in str(value).split(",")]
        if name in typed or all(v.lower() in known_endpoints for v in values):
            refs.append(
                Reference(f"{prefix}.inputs.{name}", "service_connection", str(value), f"{display}: {name}")
            )
    return refs


def find_references(
    definition: Mapping[str, Any],
    *,
    endpoint_inputs_by_task: Mapping[str, set[str]] | None = None,
    known_endpoint_ids: Iterable[str] = (),
) -> list[Reference]:
    """Every reference of a release definition to another entity, in document order.

    `endpoint_inputs_by_task` comes from `endpoint_inputs(task definitions)` (the source's, which knows
    every task the definition uses); `known_endpoint_ids` catches endpoint ids in inputs of tasks whose
    definition is unknown (a marketplace task missing from both lists)."""
    by_task = endpoint_inputs_by_task or {}
    known = {e.lower() for e in known_endpoint_ids}
    refs: list[Reference] = []
    for i, group in enumerate(definition.get("variableGroups") or []):
        refs.append(
            Reference(f"variableGroups[{i}]", "variable_group", str(group), f"variable group {group}")
        )
    for a, artifact in enumerate(definition.get("artifacts") or []):
        refs.extend(_artifact_references(f"artifacts[{a}]", artifact))
    for e, env in enumerate(definition.get("environments") or []):
        where = f"environments[{e}]"
        env_name = env.get("name") or where
        owner = env.get("owner") or {}
        if owner.get("id"):
            refs.append(Reference(f"{where}.owner.id", "identity", str(owner["id"]), _identity_name(owner)))
        for kind in ("preDeployApprovals", "postDeployApprovals"):
            for k, approval in enumerate((env.get(kind) or {}).get("approvals") or []):
                approver = approval.get("approver") or {}
                if not approval.get("isAutomated") and approver.get("id"):
                    refs.append(
                        Reference(
                            f"{where}.{kind}.approvals[{k}].approver.id",
                            "identity",
                            str(approver["id"]),
                            _identity_name(approver),
                        )
                    )
        for g, group in enumerate(env.get("variableGroups") or []):
            refs.append(
                Reference(
                    f"{where}.variableGroups[{g}]", "variable_group", str(group), f"{env_name}: group {group}"
                )
            )
        for p, phase in enumerate(env.get("deployPhases") or []):
            phase_where = f"{where}.deployPhases[{p}]"
            phase_type = phase.get("phaseType", "agentBasedDeployment")
            queue_id = (phase.get("deploymentInput") or {}).get("queueId")
            if queue_id and phase_type == "agentBasedDeployment":
                refs.append(
                    Reference(
                        f"{phase_where}.deploymentInput.queueId",
                        "agent_queue",
                        str(queue_id),
                        f"{env_name}: {phase.get('name') or 'agent job'}",
                    )
                )
            for t, task in enumerate(phase.get("workflowTasks") or []):
                refs.extend(
                    _step_references(
                        f"{phase_where}.workflowTasks[{t}]",
                        str(task.get("taskId", "")),
                        str(task.get("definitionType", "task")),
                        str(task.get("version", "")),
                        str(task.get("name") or ""),
                        task.get("inputs") or {},
                        by_task,
                        known,
                        "taskId",
                        "version",
                    )
                )
    return refs


def find_task_group_references(
    version: Mapping[str, Any],
    *,
    endpoint_inputs_by_task: Mapping[str, set[str]] | None = None,
    known_endpoint_ids: Iterable[str] = (),
) -> list[Reference]:
    """References inside one task group version: nested task groups and service connections in inputs."""
    known = {e.lower() for e in known_endpoint_ids}
    refs: list[Reference] = []
    for t, step in enumerate(version.get("tasks") or []):
        task = step.get("task") or {}
        refs.extend(
            _step_references(
                f"tasks[{t}]",
                str(task.get("id", "")),
                str(task.get("definitionType", "task")),
                str(task.get("versionSpec", "")),
                str(step.get("displayName") or ""),
                step.get("inputs") or {},
                endpoint_inputs_by_task or {},
                known,
                "task.id",
                "task.versionSpec",
            )
        )
    return refs


def _identity_name(identity: Mapping[str, Any]) -> str:
    return str(identity.get("uniqueName") or identity.get("displayName") or identity.get("id"))


def _artifact_references(where: str, artifact: Mapping[str, Any]) -> list[Reference]:
    ref = artifact.get("definitionReference") or {}
    alias = str(artifact.get("alias") or where)
    kind = str(artifact.get("type", ""))
    refs: list[Reference] = []
    project = ref.get("project") or {}
    if project.get("id"):
        refs.append(
            Reference(
                f"{where}.definitionReference.project.id",
                "project",
                str(project["id"]),
                str(project.get("name") or alias),
            )
        )
    definition = ref.get("definition") or {}
    if definition.get("id"):
        entity: EntityKind = (
            "repository" if kind.lower() in ("git", "tfsgit", "github") else "build_definition"
        )
        refs.append(
            Reference(
                f"{where}.definitionReference.definition.id",
                entity,
                str(definition["id"]),
                str(definition.get("name") or alias),
            )
        )
    return refs


# --- applying a mapping ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in _TOKEN.findall(path)]


def get_path(document: Any, path: str) -> Any:
    node = document
    for step in _steps(path):
        node = node[step]
    return node


def set_path(document: Any, path: str, value: Any) -> None:
    steps = _steps(path)
    node = document
    for step in steps[:-1]:
        node = node[step]
    node[steps[-1]] = value


def _typed(original: Any, value: Any) -> Any:
    """Keep the wire type: queue and variable group ids are integers, the rest strings."""
    if isinstance(original, int) and not isinstance(original, bool):
        return int(value)
    return str(value)


def apply_mapping(
    document: Mapping[str, Any], references: Iterable[Reference], mapping: Mapping[str, Any]
) -> RemapResult:
    """A copy of `document` with each reference whose path is in `mapping` set to the mapped value;
    everything else listed as unmapped. `mapping` may also give a task group's version spec under its
    `.version` path. Artifact `sourceId`s are rebuilt from the mapped project and definition ids."""
    out = copy.deepcopy(dict(document))
    unmapped: list[Reference] = []
    for ref in references:
        if ref.path in mapping and mapping[ref.path] not in (None, ""):
            if ref.entity == "identity":
                # The whole IdentityRef names the source's person (url, descriptor, image): keep only the id.
                holder = ref.path.rsplit(".", 1)[0]
                set_path(out, holder, {"id": str(mapping[ref.path])})
                continue
            set_path(out, ref.path, _typed(get_path(out, ref.path), mapping[ref.path]))
            if ref.entity == "task_group":
                version_path = ref.path.rsplit(".", 1)[0] + (
                    ".version" if ref.path.endswith("taskId") else ".versionSpec"
                )
                if version_path in mapping:
                    set_path(out, version_path, str(mapping[version_path]))
        else:
            unmapped.append(ref)
    for a, artifact in enumerate(out.get("artifacts") or []):
        ref = artifact.get("definitionReference") or {}
        project = (ref.get("project") or {}).get("id")
        definition = (ref.get("definition") or {}).get("id")
        if project and definition and f"artifacts[{a}].definitionReference.project.id" in mapping:
            artifact["sourceId"] = f"{project}:{definition}"
    # What the source system set (its own ids, urls, people) never travels: the result is shaped for a create,
    # and an update takes the target's definition id, revision and environment ids from the target.
    if "environments" in out or "artifacts" in out:
        out = for_create(out)
    return RemapResult(out, unmapped)


def mapping_from_ids(references: Iterable[Reference], ids: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """{path: target id} from per-entity id maps ({entity: {source id (any case): target id}}), the shape
    the engine's links give; identities are looked up by id, then by e-mail/unique name."""
    lowered = {entity: {str(k).lower(): v for k, v in table.items()} for entity, table in ids.items()}
    mapping: dict[str, Any] = {}
    for ref in references:
        table = lowered.get(ref.entity, {})
        target = table.get(ref.source_id.lower())
        if target is None and ref.entity == "identity":
            target = table.get(ref.name.lower())
        if target is None and ref.entity == "service_connection" and "," in ref.source_id:
            parts = [table.get(p.strip().lower()) for p in ref.source_id.split(",")]
            target = ",".join(str(p) for p in parts) if all(parts) else None
        if target is not None:
            mapping[ref.path] = target
    return mapping


def remap(
    document: Mapping[str, Any], references: list[Reference], mapping: Mapping[str, Any], *, name: str = ""
) -> dict[str, Any]:
    """The remapped document, or `UnmappedReferences` when any required reference has no target id."""
    result = apply_mapping(document, references, mapping)
    missing = [r for r in result.unmapped if r.required]
    if missing:
        raise UnmappedReferences(name or str(document.get("name") or "definition"), missing)
    return result.definition


def for_create(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A definition as a create sends it: no server-set fields, environment and approval ids zeroed."""
    out = {k: copy.deepcopy(v) for k, v in definition.items() if k not in SERVER_FIELDS}
    out["id"] = 0
    for env in out.get("environments") or []:
        env["id"] = 0
        env.pop("deployStep", None)
        env.pop("currentRelease", None)
        env.pop("badgeUrl", None)
        for kind in ("preDeployApprovals", "postDeployApprovals"):
            for approval in (env.get(kind) or {}).get("approvals") or []:
                approval["id"] = 0
        for gates in ("preDeploymentGates", "postDeploymentGates"):
            if isinstance(env.get(gates), dict):
                env[gates]["id"] = 0
    return out


def list_elements(value: Any) -> list[str]:
    """The ids of a comma-separated multi-endpoint input ("id1,id2"), trimmed; one element for a single id."""
    return [part.strip() for part in str(value).split(",")]


def element_path(path: str, index: int) -> str:
    """The key of one element of a comma-separated reference at `path` (a key, not a JSON path)."""
    return f"{path}#{index}"


def is_element_path(key: str) -> bool:
    return "#" in key


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))
