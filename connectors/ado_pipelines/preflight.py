"""Pre-flight of a pipelines copy, before anything is written: what the target lacks (task definitions and
extensions by name and version), whether it accepts classic release pipelines at all, which agent pools have
no mapping, and which names already exist on the target as something different. Pure: works on what the
client read from both sides; `PreflightReport.render()` is what the CLI and `setup verify` print."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

_MAJOR = re.compile(r"^\s*(\d+)")


class Inventory(BaseModel):
    """What one side has, as its REST API returned it."""

    task_definitions: list[dict[str, Any]] = Field(default_factory=list)
    extensions: list[dict[str, Any]] = Field(default_factory=list)
    pools: list[dict[str, Any]] = Field(default_factory=list)
    queues: list[dict[str, Any]] = Field(default_factory=list)
    classic_release_disabled: bool = False
    # Existing items per entity (agent_queue, service_connection, task_group, variable_group,
    # release_definition), for name collisions.
    items: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class MissingTask(BaseModel):
    name: str
    id: str
    version: str  # the version spec used, e.g. "4.*"
    extension: str | None = None  # publisher.extension for marketplace tasks
    used_by: list[str] = Field(default_factory=list)


class MissingExtension(BaseModel):
    id: str  # publisher.extension
    version: str
    used_by: list[str] = Field(default_factory=list)


class UnmappedPool(BaseModel):
    pool: str
    queues: list[str] = Field(default_factory=list)
    used_by: list[str] = Field(default_factory=list)
    reason: str


class Collision(BaseModel):
    entity: str
    name: str
    reason: str


class PreflightReport(BaseModel):
    missing_tasks: list[MissingTask] = Field(default_factory=list)
    missing_extensions: list[MissingExtension] = Field(default_factory=list)
    classic_release_disabled: bool = False
    unmapped_pools: list[UnmappedPool] = Field(default_factory=list)
    collisions: list[Collision] = Field(default_factory=list)
    # Definition name → why it will not be attempted.
    blocked: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (
            self.missing_tasks
            or self.missing_extensions
            or self.classic_release_disabled
            or self.unmapped_pools
            or self.collisions
        )

    def problems(self) -> list[str]:
        """One line per problem, each saying what to do."""
        out: list[str] = []
        if self.classic_release_disabled:
            out.append(
                "The target refuses classic release pipelines ('Disable creation of classic release "
                "pipelines' is on): turn it off in Organization settings > Pipelines > Settings, "
                "or export the definitions "
                "with `tandem pipelines yaml`."
            )
        for ext in self.missing_extensions:
            out.append(
                f"Extension {ext.id} {ext.version} is not installed on the target (used by "
                f"{', '.join(ext.used_by)}): install it from the Marketplace."
            )
        for task in self.missing_tasks:
            where = f" from extension {task.extension}" if task.extension else ""
            out.append(
                f"Task {task.name} {task.version}{where} ({task.id}) is missing on the target (used by "
                f"{', '.join(task.used_by)})."
            )
        for pool in self.unmapped_pools:
            out.append(
                f"Agent pool {pool.pool!r} (queues {', '.join(pool.queues)}; "
                f"used by {', '.join(pool.used_by)}) "
                f"has no mapping: {pool.reason}"
            )
        for collision in self.collisions:
            out.append(f"{collision.entity} {collision.name!r}: {collision.reason}")
        return out

    def render(self) -> str:
        lines = ["Pre-flight: " + ("ready" if self.ok else f"{len(self.problems())} problem(s)")]
        lines += [f"  - {p}" for p in self.problems()]
        for name, reasons in sorted(self.blocked.items()):
            lines.append(f"  Definition {name!r} will not be attempted: {'; '.join(reasons)}")
        return "\n".join(lines)


def _major(spec: str) -> int | None:
    match = _MAJOR.match(str(spec or ""))
    return int(match.group(1)) if match else None


def task_usage(
    definitions: Sequence[Mapping[str, Any]], task_groups: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], set[str]]:
    """(task id, version spec) → names of the definitions/task groups that use it (built-in or marketplace
    tasks only; task groups are entities of their own)."""
    used: dict[tuple[str, str], set[str]] = {}
    for definition in definitions:
        for env in definition.get("environments") or []:
            for phase in env.get("deployPhases") or []:
                for task in phase.get("workflowTasks") or []:
                    if task.get("definitionType", "task") == "task":
                        key = (str(task.get("taskId", "")).lower(), str(task.get("version", "")))
                        used.setdefault(key, set()).add(str(definition.get("name")))
    for group in task_groups:
        for step in group.get("tasks") or []:
            task = step.get("task") or {}
            if task.get("definitionType", "task") == "task":
                key = (str(task.get("id", "")).lower(), str(task.get("versionSpec", "")))
                used.setdefault(key, set()).add(f"task group {group.get('name')}")
    return used


def _has_task(tasks: Iterable[Mapping[str, Any]], task_id: str, spec: str) -> bool:
    major = _major(spec)
    for task in tasks:
        same_id = str(task.get("id", "")).lower() == task_id
        if same_id and (major is None or int((task.get("version") or {}).get("major", -1)) == major):
            return True
    return False


def _extension_key(ext: Mapping[str, Any]) -> str:
    return f"{ext.get('publisherId')}.{ext.get('extensionId')}".lower()


def _definitions_using(
    names: set[str], definitions: Sequence[Mapping[str, Any]], task_groups: Sequence[Mapping[str, Any]]
) -> set[str]:
    """Definition names among `names`, plus those that use a task group among `names`."""
    found = {n for n in names if not n.startswith("task group ")}
    groups = {n.removeprefix("task group ") for n in names if n.startswith("task group ")}
    group_ids = {str(g.get("id", "")).lower() for g in task_groups if g.get("name") in groups}
    for definition in definitions:
        for env in definition.get("environments") or []:
            for phase in env.get("deployPhases") or []:
                for task in phase.get("workflowTasks") or []:
                    if (
                        task.get("definitionType") == "metaTask"
                        and str(task.get("taskId", "")).lower() in group_ids
                    ):
                        found.add(str(definition.get("name")))
    return found


def comparable(entity: str, body: Mapping[str, Any]) -> Any:
    """What must match for an existing target item of the same name to count as the same item."""
    if entity == "service_connection":
        return (str(body.get("type", "")).lower(), str(body.get("url", "")).rstrip("/").lower())
    if entity == "variable_group":
        return sorted((body.get("variables") or {}).keys())
    if entity == "agent_queue":
        return None  # a queue is only a name for a pool on the target; the pool map decides
    if entity == "task_group":
        return sorted(str((s.get("task") or {}).get("id", "")).lower() for s in body.get("tasks") or [])
    if entity == "release_definition":
        return [e.get("name") for e in body.get("environments") or []]
    return None


def collisions(
    source: Mapping[str, list[dict[str, Any]]],
    target: Mapping[str, list[dict[str, Any]]],
    linked: Mapping[str, set[str]] | None = None,
) -> list[Collision]:
    """Source items whose name exists on the target as something different (not linked already): linking
    by name would be wrong and creating would fail on the name."""
    found: list[Collision] = []
    for entity, items in source.items():
        by_name = {str(t.get("name", "")).lower(): t for t in target.get(entity, [])}
        done = {i.lower() for i in (linked or {}).get(entity, set())}
        for item in items:
            name = str(item.get("name", ""))
            other = by_name.get(name.lower())
            if other is None or str(item.get("id", "")).lower() in done:
                continue
            if comparable(entity, item) != comparable(entity, other):
                found.append(
                    Collision(
                        entity=entity,
                        name=name,
                        reason=f"exists on the target as a different item (id {other.get('id')}); rename one "
                        "of them or remove the target's before the first run",
                    )
                )
    return found


def preflight(
    definitions: Sequence[Mapping[str, Any]],
    task_groups: Sequence[Mapping[str, Any]],
    source: Inventory,
    target: Inventory,
    *,
    pool_map: Mapping[str, str] | None = None,
    linked: Mapping[str, set[str]] | None = None,
) -> PreflightReport:
    """Everything that would stop `definitions` (and the task groups they use) on the target."""
    report = PreflightReport(classic_release_disabled=target.classic_release_disabled)
    source_tasks = {str(t.get("id", "")).lower(): t for t in source.task_definitions}
    installed = {_extension_key(e) for e in target.extensions}
    source_extensions = {_extension_key(e): e for e in source.extensions}
    missing_ext: dict[str, MissingExtension] = {}
    blocked_by: dict[str, list[str]] = {}
    for (task_id, spec), users in sorted(task_usage(definitions, task_groups).items()):
        known = source_tasks.get(task_id, {})
        contribution = known.get("contributionIdentifier")
        if contribution and str(contribution).lower() not in installed:
            source_ext = source_extensions.get(str(contribution).lower(), {})
            entry = missing_ext.setdefault(
                str(contribution).lower(),
                MissingExtension(
                    id=str(contribution),
                    version=str(source_ext.get("version") or known.get("contributionVersion") or "?"),
                ),
            )
            entry.used_by = sorted(set(entry.used_by) | users)
            for name in _definitions_using(users, definitions, task_groups):
                blocked_by.setdefault(name, []).append(
                    f"extension {contribution} is not installed on the target"
                )
        if not _has_task(target.task_definitions, task_id, spec):
            name = str(known.get("name") or task_id)
            report.missing_tasks.append(
                MissingTask(
                    name=name, id=task_id, version=spec, extension=contribution, used_by=sorted(users)
                )
            )
            for definition in _definitions_using(users, definitions, task_groups):
                blocked_by.setdefault(definition, []).append(f"task {name} {spec} is missing on the target")
    report.missing_extensions = sorted(missing_ext.values(), key=lambda e: e.id)

    pool_map = {k.lower(): v for k, v in (pool_map or {}).items()}
    target_pools = {str(p.get("name", "")).lower() for p in target.pools}
    queues = {int(q["id"]): q for q in source.queues if "id" in q}
    linked_queues = {str(q) for q in (linked or {}).get("agent_queue", set())}
    pools_used: dict[str, tuple[set[str], set[str]]] = {}
    for definition in definitions:
        for env in definition.get("environments") or []:
            for phase in env.get("deployPhases") or []:
                queue_id = (phase.get("deploymentInput") or {}).get("queueId")
                if not queue_id or phase.get("phaseType", "agentBasedDeployment") != "agentBasedDeployment":
                    continue
                if str(queue_id) in linked_queues:
                    continue  # its queue has a counterpart already: no pool to choose
                queue = queues.get(int(queue_id))
                pool = str(((queue or {}).get("pool") or {}).get("name") or f"(queue {queue_id} unknown)")
                names, users = pools_used.setdefault(pool, (set(), set()))
                names.add(str((queue or {}).get("name") or queue_id))
                users.add(str(definition.get("name")))
    for pool, (queue_names, users) in sorted(pools_used.items()):
        mapped = pool_map.get(pool.lower())
        if mapped is None:
            hint = (
                f"the target has a pool named {pool!r} too, but its agents are not the source's: map it "
                f"explicitly ({pool}: {pool}) if that is what you want"
                if pool.lower() in target_pools
                else "choose a target pool in the scenario's pool map"
            )
            reason = f"add it to the scenario's pool map; {hint}"
        elif mapped.lower() not in target_pools:
            reason = f"it is mapped to {mapped!r}, which does not exist on the target"
        else:
            continue
        report.unmapped_pools.append(
            UnmappedPool(pool=pool, queues=sorted(queue_names), used_by=sorted(users), reason=reason)
        )
        for name in users:
            blocked_by.setdefault(name, []).append(f"agent pool {pool} has no mapping")

    report.collisions = collisions(source.items, target.items, linked)
    if target.classic_release_disabled:
        for definition in definitions:
            blocked_by.setdefault(str(definition.get("name")), []).append(
                "the target refuses classic release pipelines"
            )
    report.blocked = {name: sorted(set(reasons)) for name, reasons in blocked_by.items()}
    return report
