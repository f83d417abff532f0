"""`PipelinesConnector`: agent queues (with their pools), service connections, task groups (every version),
variable groups and release definitions of one project, behind the connector contract. Reuses the ADO
connector's client (auth, HTTP plumbing, Server api-version probing).

Secrets: the API never returns them, so a copy is created without them and its `WriteResult` carries a
"needs secret" warning; updates never send a secret value (a confidential authorization parameter or a secret
variable goes as null, which the service reads as "keep what is stored"), so a secret set by hand on the
target survives every later run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connectors.ado.connector import AdoConnector
from connectors.ado_pipelines.client import PipelinesClient
from connectors.ado_pipelines.preflight import Inventory, _has_task, preflight, task_usage
from connectors.ado_pipelines.remap import (
    Reference,
    UnmappedReferences,
    apply_mapping,
    element_path,
    endpoint_inputs,
    find_references,
    find_task_group_references,
    for_create,
    get_path,
    is_element_path,
    list_elements,
    set_path,
)
from connectors.contract import (
    Change,
    CheckReport,
    EntitySpec,
    FieldSpec,
    Item,
    ItemRef,
    Scope,
    Write,
    WriteResult,
)
from connectors.errors import ConnectorError, NotFoundError, PermanentError, VersionConflict

AGENT_QUEUE = "agent_queue"
SERVICE_CONNECTION = "service_connection"
TASK_GROUP = "task_group"
VARIABLE_GROUP = "variable_group"
RELEASE_DEFINITION = "release_definition"

# What each entity references, i.e. what must be linked first (the engine's `depends_on`). Task groups may
# also nest other task groups (a task group's own reference; resolved like any other).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    AGENT_QUEUE: (),  # its pool comes from the scenario's pool map, by name
    SERVICE_CONNECTION: (),
    VARIABLE_GROUP: (),
    TASK_GROUP: (SERVICE_CONNECTION, TASK_GROUP),
    RELEASE_DEFINITION: (AGENT_QUEUE, SERVICE_CONNECTION, VARIABLE_GROUP, TASK_GROUP),
}

ENTITIES: tuple[EntitySpec, ...] = tuple(
    EntitySpec(name=name, change_feed=False, natural_key="name", fields=(FieldSpec(name="name"),))
    for name in (AGENT_QUEUE, SERVICE_CONNECTION, VARIABLE_GROUP, TASK_GROUP, RELEASE_DEFINITION)
)

# Same list as the emulator's and the service's `isConfidential` inputs: never sent on update.
CONFIDENTIAL = frozenset(
    {
        "serviceprincipalkey",
        "password",
        "apitoken",
        "accesstoken",
        "servicebustoken",
        "certificate",
        "serviceprincipalcertificate",
        "privatekey",
        "clientsecret",
        "token",
    }
)
_READ_ONLY = (
    "createdBy",
    "createdOn",
    "modifiedBy",
    "modifiedOn",
    "url",
    "_links",
    "revision",
    "id",
    "owner",
    "isReady",
    "operationStatus",
)


# The references the engine resolves through its links (the others, identities and artifacts, the connector
# maps itself: people by e-mail, artifacts through the connection's artifact map).
LINKED_KINDS = frozenset({AGENT_QUEUE, SERVICE_CONNECTION, VARIABLE_GROUP, TASK_GROUP})


def _fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _strip(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY and not k.startswith("_")}


def secret_parameters(endpoint: dict[str, Any]) -> list[str]:
    params = ((endpoint.get("authorization") or {}).get("parameters")) or {}
    return sorted(k for k in params if k.lower() in CONFIDENTIAL)


def secret_variables(variables: dict[str, Any]) -> list[str]:
    return sorted(name for name, var in (variables or {}).items() if (var or {}).get("isSecret"))


def secret_paths(definition: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """A definition's secret variables, (environment name or "", variable) -> JSON path."""
    found = {("", n): f"variables.{n}" for n in secret_variables(definition.get("variables") or {})}
    for i, env in enumerate(definition.get("environments") or []):
        for n in secret_variables(env.get("variables") or {}):
            found[(str(env.get("name", "")).lower(), n)] = f"environments[{i}].variables.{n}"
    return found


def needs_secret(name: Any, paths: Sequence[str]) -> list[str]:
    """The standing note of each secret a copy lacks (the API never returns secret values)."""
    return [f"needs secret: {name}: {path}" for path in paths]


class PipelinesConnector:
    """One project's pipeline resources on Services or Server."""

    def __init__(
        self,
        ado: AdoConnector,
        project: str,
        *,
        release_url: str | None = None,
        pool_map: Mapping[str, str] | None = None,
        artifact_map: Mapping[str, str] | None = None,
    ) -> None:
        """`pool_map`: a source agent pool's name -> the pool on this side its queues go to.
        `artifact_map`: an artifact's alias (or its source definition's name) -> the build definition or
        repository id on this side; an artifact with no entry is reported by name and path and its
        definition is not written."""
        self.system = ado.system
        self.ado = ado
        self.project = project
        self.client = PipelinesClient(ado.client, release_url=release_url)
        self.pool_map = {k.lower(): v for k, v in (pool_map or {}).items()}
        self.artifact_map = {k.lower(): v for k, v in (artifact_map or {}).items()}
        self._project_ref: dict[str, str] | None = None
        self._task_inputs: dict[str, set[str]] | None = None

    # --- contract -----------------------------------------------------------------------------------

    def entities(self) -> list[EntitySpec]:
        return list(ENTITIES)

    def check(self) -> CheckReport:
        problems: list[str] = []
        try:
            self.project_reference()
            self.client.list_queues(self.project)
            self.client.release_url  # noqa: B018  (resolves the release host)
        except ConnectorError as exc:
            problems.append(str(exc))
        return CheckReport(
            ok=not problems, problems=problems, details={"releaseUrl": self.client._release_url}
        )

    def project_reference(self) -> dict[str, str]:
        if self._project_ref is None:
            project = self.ado.client.get_project(self.project)
            self._project_ref = {"id": str(project["id"]), "name": str(project["name"])}
        return self._project_ref

    def _project_references(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """This project as the only project an endpoint or variable group is shared with."""
        reference = {"projectReference": self.project_reference(), "name": body.get("name")}
        return [{**reference, "description": body.get("description") or ""}]

    def list_versions(self, entity: str, scope: Scope) -> Iterator[list[Change]]:
        if entity == RELEASE_DEFINITION:
            for page in self.client.iter_definition_pages(self.project):
                yield [
                    Change(id=str(d["id"]), version=str(d.get("revision")), container=self.project)
                    for d in page
                ]
            return
        yield [Change(id=item.id, version=item.version, container=self.project) for item in self._all(entity)]

    def read(self, entity: str, ids: Sequence[str]) -> list[Item]:
        if entity == RELEASE_DEFINITION:
            items = []
            for item_id in ids:
                try:
                    items.append(
                        self._definition_item(self.client.get_definition(self.project, int(item_id)))
                    )
                except NotFoundError:
                    continue
            return items
        wanted = {i.lower() for i in ids}
        return [item for item in self._all(entity) if item.id.lower() in wanted]

    def find_by_natural_key(self, entity: str, value: str) -> Item | None:
        """The target's item whose name is `value` (any case), or None."""
        if entity == RELEASE_DEFINITION:
            for definition in self.client.list_definitions(self.project):
                if str(definition.get("name", "")).lower() == value.lower():
                    return self._definition_item(definition)
            return None
        return next(
            (i for i in self._all(entity) if str(i.fields.get("name", "")).lower() == value.lower()), None
        )

    def find_by_key(self, entity: str, value: Any) -> Item | None:
        """The engine's natural-key lookup (`EntitySpec.natural_key` is the name)."""
        return self.find_by_natural_key(entity, str(value or ""))

    def find_by_correlation(self, entity: str, correlation_id: str) -> Item | None:
        return None  # no field fits a stamp on these entities: they are matched by name (natural_key)

    def write(self, entity: str, writes: Sequence[Write]) -> list[WriteResult]:
        results = []
        for write in writes:
            try:
                results.append(self._write_one(entity, write))
            except ConnectorError as exc:
                results.append(WriteResult(error=exc))
        return results

    def inventory(self) -> Inventory:
        """What pre-flight needs from this side."""
        return Inventory(
            task_definitions=self.client.list_task_definitions(),
            extensions=self.client.list_installed_extensions(),
            pools=self.client.list_pools(),
            queues=self.client.list_queues(self.project),
            classic_release_disabled=self.client.classic_release_creation_disabled(),
            items={
                e.name: [i.fields | {"id": i.id} for i in self._items_for_inventory(e.name)] for e in ENTITIES
            },
        )

    def preflight(
        self, target: PipelinesConnector, linked: Mapping[str, set[str]] | None = None
    ) -> CheckReport:
        """What would stop this side's definitions and task groups on `target`, before anything is written:
        missing tasks and extensions (and the definitions and task groups not attempted because of them), the
        target's classic-pipeline setting, pools the target's pool map does not cover, name collisions (items
        in `linked` have their counterpart already)."""
        definitions = self.client.list_definitions(self.project)
        groups = self._all(TASK_GROUP)
        task_groups = [v for i in groups for v in i.fields["versions"]]
        report = preflight(
            definitions,
            task_groups,
            self.inventory(),
            target.inventory(),
            pool_map=target.pool_map,
            linked={k: set(v) for k, v in (linked or {}).items()},
        )
        notes = [
            f"definition {name!r} will not be attempted: {'; '.join(reasons)}"
            for name, reasons in sorted(report.blocked.items())
        ]
        blocked = [
            {
                "entity": RELEASE_DEFINITION,
                "id": str(d["id"]),
                "name": d["name"],
                "reasons": report.blocked[d["name"]],
            }
            for d in definitions
            if d.get("name") in report.blocked
        ]
        # A task group using a task the target lacks is refused too (and so is every definition using it).
        missing = {f"task group {g.fields['name']}": g for g in groups}
        for task in report.missing_tasks:
            for user in task.used_by:
                group = missing.get(user)
                if group is None:
                    continue
                reason = f"task {task.name} {task.version} is missing on the target"
                entry = next((b for b in blocked if b["entity"] == TASK_GROUP and b["id"] == group.id), None)
                if entry is None:
                    blocked.append(
                        {
                            "entity": TASK_GROUP,
                            "id": group.id,
                            "name": group.fields["name"],
                            "reasons": [reason],
                        }
                    )
                    notes.append(f"{user} will not be attempted: {reason}")
                elif reason not in entry["reasons"]:
                    entry["reasons"].append(reason)
        return CheckReport(
            ok=report.ok, problems=report.problems(), details={"notes": notes, "blocked": blocked}
        )

    def _not_attempted(
        self, name: str, definitions: list[Any], task_groups: list[Any], *, creating: bool = False
    ) -> None:
        """Refuse, before any call that writes, a definition or task group whose tasks this side lacks."""
        tasks = self.client.list_task_definitions()
        missing = [
            f"task {task_id} {spec}"
            for (task_id, spec) in sorted(task_usage(definitions, task_groups))
            if not _has_task(tasks, task_id, spec)
        ]
        if missing:
            raise PermanentError(
                f"{name}: not attempted: {', '.join(missing)} missing on the target (install the task's "
                "extension there; `tandem setup verify` lists them)",
                system=self.system,
            )
        if definitions and creating and self.client.classic_release_creation_disabled():
            raise PermanentError(
                f"{name}: not attempted: the target refuses classic release pipelines ('Disable creation "
                "of classic release pipelines' is on)",
                system=self.system,
            )

    def _items_for_inventory(self, entity: str) -> list[Item]:
        if entity == RELEASE_DEFINITION:
            return [self._definition_item(d) for d in self.client.list_definitions(self.project)]
        if entity == TASK_GROUP:
            return [
                Item(
                    id=i.id, version=i.version, fields={"name": i.fields["name"], **i.fields["versions"][-1]}
                )
                for i in self._all(entity)
            ]
        return self._all(entity)

    # --- references ---------------------------------------------------------------------------------

    def task_inputs(self) -> dict[str, set[str]]:
        """Which inputs of which task take a service connection (from this side's task definitions)."""
        if self._task_inputs is None:
            self._task_inputs = endpoint_inputs(self.client.list_task_definitions())
        return self._task_inputs

    def references_in(self, entity: str, fields: Mapping[str, Any]) -> list[Reference]:
        """Every reference of a task group (all versions, paths under `versions[i]`) or a definition."""
        if entity == TASK_GROUP:
            refs = []
            for i, version in enumerate(fields.get("versions") or []):
                for ref in find_task_group_references(version, endpoint_inputs_by_task=self.task_inputs()):
                    refs.append(Reference(f"versions[{i}].{ref.path}", ref.entity, ref.source_id, ref.name))
            return refs
        if entity == RELEASE_DEFINITION:
            return find_references(fields, endpoint_inputs_by_task=self.task_inputs())
        return []

    def item_references(self, entity: str, fields: Mapping[str, Any]) -> dict[str, ItemRef]:
        """The references the engine resolves through its links: path -> the referenced item on this side.
        A comma-separated multi-endpoint input gives one reference per element (`path#i`), each linked and
        remapped on its own."""
        refs: dict[str, ItemRef] = {}
        for r in self.references_in(entity, fields):
            if r.entity not in LINKED_KINDS:
                continue
            elements = list_elements(r.source_id)
            if len(elements) == 1:
                refs[r.path] = ItemRef(entity=r.entity, id=r.source_id)
                continue
            for i, element in enumerate(elements):
                refs[element_path(r.path, i)] = ItemRef(entity=r.entity, id=element)
        return refs

    @staticmethod
    def _list_target(ref: Reference, write: Write, current: Any) -> str | None:
        """A comma-separated reference element by element: the engine's resolved id of each element, else
        (unchanged since the last sync) the current target's element at the same place; None if any is
        missing (the whole reference is then reported, never written half-remapped)."""
        elements = list_elements(ref.source_id)
        now = list_elements(current) if isinstance(current, str) else []
        ids = []
        for i in range(len(elements)):
            target = write.references.get(element_path(ref.path, i))
            if target is None and i < len(now):  # the engine sends only the elements that changed
                target = now[i]
            if not target:
                return None
            ids.append(str(target))
        return ",".join(ids)

    def _remapped(self, entity: str, write: Write, current: Mapping[str, Any] | None) -> dict[str, Any]:
        """`write.fields` with every reference pointing at this side's items: the engine's resolved ids, the
        current target's ids where the reference did not change, people by e-mail, artifacts by the map.
        Anything left is reported by name and JSON path and nothing is written (never half-remapped)."""
        body = copy.deepcopy(dict(write.fields))
        current_refs = self.references_in(entity, current) if current is not None else []
        current_ids = {r.path: get_path(current, r.path) for r in current_refs}
        mapping: dict[str, Any] = {}
        unmapped: list[Reference] = []
        for ref in self.references_in(entity, body):
            if ref.entity == "identity":
                target_id = self._identity_id(get_path(body, ref.path.rsplit(".", 1)[0]))
            elif ref.entity in ("project", "build_definition", "repository"):
                target_id = self._artifact_id(ref, body)
            elif ref.entity in LINKED_KINDS and len(list_elements(ref.source_id)) > 1:
                target_id = self._list_target(ref, write, current_ids.get(ref.path))
            elif ref.path in write.references:
                target_id = write.references[ref.path]
            else:
                target_id = current_ids.get(ref.path)
            if target_id in (None, ""):
                unmapped.append(ref)
            else:
                mapping[ref.path] = target_id
        for path, target_id in write.references.items():
            if path not in mapping and target_id is not None and not is_element_path(path):
                set_path(body, path, target_id)
        if unmapped:
            name = str(body.get("name") or write.id or entity)
            raise PermanentError(str(UnmappedReferences(name, unmapped)), system=self.system)
        refs = self.references_in(entity, body)
        people = {r.path: get_path(body, r.path.rsplit(".", 1)[0]) for r in refs if r.entity == "identity"}
        out = apply_mapping(body, refs, mapping).definition
        for path, person in people.items():
            # The id is this side's; the name stays so that the next reader (and a person) knows who it is.
            holder = get_path(out, path.rsplit(".", 1)[0])
            email = self.ado.identities.to_email(person)
            holder.update(
                {"uniqueName": self.ado.identities.to_ado(email), "displayName": person.get("displayName")}
            )
        return out

    def _identity_id(self, holder: Any) -> str | None:
        """This side's identity id for a person named by e-mail (the connection's identity map on Server)."""
        email = self.ado.identities.to_email(holder) if isinstance(holder, Mapping) else None
        if not email:
            return None
        return self.client.find_identity_id(self.ado.identities.to_ado(email))

    def _artifact_id(self, ref: Reference, body: Mapping[str, Any]) -> str | None:
        if ref.entity == "project":
            return self.project_reference()["id"]
        artifact = get_path(body, ref.path.split(".definitionReference", 1)[0])
        alias = str(artifact.get("alias") or "").lower()
        return self.artifact_map.get(alias) or self.artifact_map.get(ref.name.lower())

    # --- reading ------------------------------------------------------------------------------------

    def _all(self, entity: str) -> list[Item]:
        if entity == AGENT_QUEUE:
            return [
                Item(
                    id=str(q["id"]),
                    version=str((q.get("pool") or {}).get("id")),
                    container=self.project,
                    fields={"name": q["name"], "pool": {"name": (q.get("pool") or {}).get("name")}},
                )
                for q in self.client.list_queues(self.project)
            ]
        if entity == SERVICE_CONNECTION:
            return [
                Item(
                    id=str(e["id"]), version=_fingerprint(_strip(e)), container=self.project, fields=_strip(e)
                )
                for e in self.client.list_endpoints(self.project)
            ]
        if entity == VARIABLE_GROUP:
            return [
                Item(
                    id=str(g["id"]),
                    version=str(g.get("modifiedOn") or _fingerprint(g)),
                    container=self.project,
                    fields=_strip(g),
                )
                for g in self.client.list_variable_groups(self.project)
            ]
        if entity == TASK_GROUP:
            groups: dict[str, list[dict[str, Any]]] = {}
            for version in self.client.list_task_groups(self.project):
                groups.setdefault(str(version["id"]), []).append(version)
            items = []
            for group_id, versions in groups.items():
                versions.sort(key=lambda v: int((v.get("version") or {}).get("major", 0)))
                stamp = ";".join(
                    f"{(v.get('version') or {}).get('major')}:{v.get('revision')}" for v in versions
                )
                fields = {"name": versions[-1]["name"], "versions": [_strip(v) for v in versions]}
                items.append(
                    Item(
                        id=group_id,
                        version=stamp,
                        container=self.project,
                        fields=fields,
                        references=self.item_references(TASK_GROUP, fields),
                    )
                )
            return items
        raise PermanentError(f"unknown pipelines entity {entity!r}", system=self.system)

    def _definition_item(self, body: dict[str, Any]) -> Item:
        fields = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("_links", "url")}
        for ref in find_references(fields):
            if ref.entity == "identity":
                # People travel by e-mail (the connection's identity map turns DOMAIN\user into one).
                holder = get_path(fields, ref.path.rsplit(".", 1)[0])
                holder["uniqueName"] = self.ado.identities.to_email(holder) or holder.get("uniqueName")
        return Item(
            id=str(body["id"]),
            version=str(body.get("revision")),
            container=self.project,
            changed_by=str((body.get("modifiedBy") or {}).get("uniqueName") or "") or None,
            fields=fields,
            references=self.item_references(RELEASE_DEFINITION, fields),
        )

    # --- writing ------------------------------------------------------------------------------------

    def _write_one(self, entity: str, write: Write) -> WriteResult:
        if entity == AGENT_QUEUE:
            return self._write_queue(write)
        if entity == SERVICE_CONNECTION:
            return self._write_endpoint(write)
        if entity == VARIABLE_GROUP:
            return self._write_variable_group(write)
        if entity == TASK_GROUP:
            return self._write_task_group(write)
        if entity == RELEASE_DEFINITION:
            return self._write_definition(write)
        raise PermanentError(f"unknown pipelines entity {entity!r}", system=self.system)

    def _current(self, entity: str, item_id: str, expected: str | None) -> Item:
        found = self.read(entity, [item_id])
        if not found:
            raise NotFoundError(f"{entity} {item_id} no longer exists on {self.project}", system=self.system)
        if expected is not None and found[0].version != expected:
            raise VersionConflict(
                f"{entity} {found[0].fields.get('name')!r} changed since it was read "
                f"(version {expected}, now {found[0].version})",
                system=self.system,
            )
        return found[0]

    def _write_queue(self, write: Write) -> WriteResult:
        name = str(write.fields.get("name") or "")
        pool_name = str((write.fields.get("pool") or {}).get("name") or "")
        pool_name = self.pool_map.get(pool_name.lower(), pool_name)
        pools = {str(p["name"]).lower(): p for p in self.client.list_pools()}
        pool = pools.get(pool_name.lower())
        if pool is None:
            raise PermanentError(
                f"agent queue {name!r}: pool {pool_name!r} does not exist on the target; "
                "map the source pool to "
                f"one of {', '.join(sorted(p['name'] for p in pools.values()))} in the scenario's pool map",
                system=self.system,
            )
        if write.is_create:
            queue = self.client.create_queue(self.project, name, int(pool["id"]))
            return WriteResult(item=self._all_by_id(AGENT_QUEUE, str(queue["id"])))
        current = self._current(AGENT_QUEUE, str(write.id), write.expected_version)
        if str(current.version) != str(pool["id"]):
            raise PermanentError(
                f"agent queue {name!r} points at another pool on the target; a queue cannot be moved between "
                "pools: delete it there or change the pool map",
                system=self.system,
            )
        return WriteResult(item=current)

    def _all_by_id(self, entity: str, item_id: str) -> Item:
        found = self.read(entity, [item_id])
        if not found:
            raise NotFoundError(f"{entity} {item_id} was written but cannot be read back", system=self.system)
        return found[0]

    def _write_endpoint(self, write: Write) -> WriteResult:
        # An update carries the changed fields only: the rest is the target's current item (a PUT is whole).
        current = (
            None
            if write.is_create
            else self._current(SERVICE_CONNECTION, str(write.id), write.expected_version)
        )
        body = _strip({**(current.fields if current else {}), **write.fields})
        auth = copy.deepcopy(body.get("authorization") or {"scheme": "None", "parameters": {}})
        params = dict(auth.get("parameters") or {})
        secrets = sorted(k for k in params if k.lower() in CONFIDENTIAL)
        # Never a secret value: the source does not have it either, and on update null keeps the target's.
        auth["parameters"] = {k: (None if k.lower() in CONFIDENTIAL else v) for k, v in params.items()}
        body["authorization"] = auth
        # Created with the target project's reference (the service refuses an endpoint without one).
        body["serviceEndpointProjectReferences"] = self._project_references(body)
        if write.is_create:
            created = self.client.create_endpoint(body)
            warnings = needs_secret(created.get("name"), [f"authorization.parameters.{s}" for s in secrets])
            return WriteResult(
                item=self._all_by_id(SERVICE_CONNECTION, str(created["id"])), warnings=warnings
            )
        assert current is not None
        body["id"] = current.id
        self.client.update_endpoint(current.id, body)
        # Another scheme (e.g. key -> certificate): the secrets stored for the old one do not serve the new.
        before = str((current.fields.get("authorization") or {}).get("scheme") or "")
        changed = before.lower() != str(auth.get("scheme") or "").lower()
        warnings = (
            needs_secret(body.get("name"), [f"authorization.parameters.{s}" for s in secrets])
            if changed
            else []
        )
        return WriteResult(item=self._all_by_id(SERVICE_CONNECTION, current.id), warnings=warnings)

    def _write_variable_group(self, write: Write) -> WriteResult:
        # An update carries the changed fields only: the rest is the target's current item (a PUT is whole).
        current = (
            None if write.is_create else self._current(VARIABLE_GROUP, str(write.id), write.expected_version)
        )
        body = _strip({**(current.fields if current else {}), **write.fields})
        variables = {name: dict(var or {}) for name, var in (body.get("variables") or {}).items()}
        for var in variables.values():
            if var.get("isSecret"):
                var["value"] = None
        body["variables"] = variables
        body["variableGroupProjectReferences"] = self._project_references(body)
        if write.is_create:
            created = self.client.create_variable_group(body)
            warnings = needs_secret(
                created.get("name"), [f"variables.{n}" for n in secret_variables(variables)]
            )
            return WriteResult(item=self._all_by_id(VARIABLE_GROUP, str(created["id"])), warnings=warnings)
        assert current is not None
        self.client.update_variable_group(int(current.id), body)
        # A variable that became secret (or a new secret one): its value is not copied, so it needs one.
        had = set(secret_variables(current.fields.get("variables") or {}))
        new = [f"variables.{n}" for n in secret_variables(variables) if n not in had]
        return WriteResult(
            item=self._all_by_id(VARIABLE_GROUP, current.id), warnings=needs_secret(body.get("name"), new)
        )

    def _write_task_group(self, write: Write) -> WriteResult:
        current = (
            None if write.is_create else self._current(TASK_GROUP, str(write.id), write.expected_version)
        )
        fields = self._remapped(
            TASK_GROUP,
            write.model_copy(update={"fields": {**(current.fields if current else {}), **write.fields}}),
            current.fields if current else None,
        )
        versions = sorted(
            (_strip(v) for v in fields.get("versions") or []),
            key=lambda v: int((v.get("version") or {}).get("major", 0)),
        )
        self._not_attempted(f"task group {fields.get('name')!r}", [], versions)
        if not versions:
            raise PermanentError(
                f"task group {write.fields.get('name')!r} has no versions", system=self.system
            )
        if write.is_create:
            first = self.client.create_task_group(self.project, versions[0])
            group_id = str(first["id"])
            for version in versions[1:]:
                self.client.update_task_group(self.project, group_id, {**version, "id": group_id})
            return WriteResult(item=self._all_by_id(TASK_GROUP, group_id))
        assert current is not None
        revisions = {
            int((v.get("version") or {}).get("major", 0)): v.get("revision")
            for v in self.client.task_group_versions(self.project, current.id)
        }
        for version in versions:
            major = int((version.get("version") or {}).get("major", 0))
            body = {**version, "id": current.id}
            if major in revisions:
                body["revision"] = revisions[major]
            self.client.update_task_group(self.project, current.id, body)
        return WriteResult(item=self._all_by_id(TASK_GROUP, current.id))

    def _write_definition(self, write: Write) -> WriteResult:
        name = str(write.fields.get("name") or write.id)
        self._not_attempted(name, [write.fields], [], creating=write.is_create)
        if write.is_create:
            remapped = self._remapped(RELEASE_DEFINITION, write, None)
            created = self.client.create_definition(self.project, for_create(remapped))
            warnings = needs_secret(created.get("name"), list(secret_paths(write.fields).values()))
            return WriteResult(item=self._definition_item(created), warnings=warnings)
        current = self.client.get_definition(self.project, int(str(write.id)))
        whole = {k: v for k, v in current.items() if k not in ("_links", "url")} | dict(write.fields)
        body = self._remapped(RELEASE_DEFINITION, write.model_copy(update={"fields": whole}), current)
        body["id"] = int(str(write.id))
        # Environments are matched by name: the remapped body carries none of the source's environment ids.
        target_envs = {str(e.get("name", "")).lower(): e.get("id") for e in current.get("environments") or []}
        for env in body.get("environments") or []:
            env["id"] = target_envs.get(str(env.get("name", "")).lower(), 0)
        body["revision"] = (
            int(write.expected_version) if write.expected_version is not None else current["revision"]
        )
        for scope in [body, *(body.get("environments") or [])]:
            for var in (scope.get("variables") or {}).values():
                if (var or {}).get("isSecret"):
                    var["value"] = None
        updated = self.client.update_definition(self.project, body)
        had = secret_paths(current)
        new = [path for key, path in secret_paths(body).items() if key not in had]
        return WriteResult(item=self._definition_item(updated), warnings=needs_secret(body.get("name"), new))
