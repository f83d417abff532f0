"""Operations on the stored configuration: edit instances, integrations and field maps one at a time,
auto-map fields, copy maps, list and roll back versions, export and import. Shared by the admin API's
configuration routes and the CLI; every refusal names the field (`ConfigEditError.field`) and nothing is
stored unless the whole new document is valid.

Words: an *instance* is a connection, an *integration* a scenario (Kiplot's names for ours); field paths
in errors use the instance and integration names (`integrations.demo.field_map.3.transform`).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from connectors.contract import FieldSpec
from mapping.fieldmap import FieldRule
from mapping.transform_types import compatible, type_problem
from state.config_store import Version, VersionConflict
from state.secrets import SecretNotFound, SecretStoreError
from state.tables import StateError
from sync.config import ConfigError, ConnectionConfig, ScenarioConfig, TandemConfig, parse_config
from sync.refusal import Refused
from sync.services import Services

Kind = Literal["connections", "field_maps", "scenarios"]
WORDS = {"connections": "instances", "field_maps": "field-maps", "scenarios": "integrations"}


class ConfigEditError(Refused):
    """A refused edit: `field` is the path of the offending field, `status` the HTTP status it maps to."""


class ProposedRule(BaseModel):
    left: str
    right: str
    direction: str = "both"
    reason: str = ""
    left_type: str | None = None
    right_type: str | None = None
    transform: dict[str, Any] | None = None  # e.g. {swap_container: {}}: paths that start with the project


class AutoMapProposal(BaseModel):
    rules: list[ProposedRule] = Field(default_factory=list)
    unmatched_left: list[str] = Field(default_factory=list)
    unmatched_right: list[str] = Field(default_factory=list)


def api_path(path: str, document: dict[str, Any]) -> str:
    """A configuration path in the admin words: scenarios.0 → integrations.<name>, connections → instances."""
    match = re.match(r"^scenarios\.(\d+)(.*)$", path)
    if match:
        scenarios = document.get("scenarios") or []
        index = int(match.group(1))
        name = scenarios[index].get("name", index) if index < len(scenarios) else index
        return f"integrations.{name}{match.group(2)}"
    if path.startswith("connections."):
        return "instances." + path.removeprefix("connections.")
    return path


def _first_problem(error: ConfigError, document: dict[str, Any]) -> ConfigEditError:
    """The first problem of a validation error, with its field path (all problems stay in the message)."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines()[1:] if line.strip()] or [text]
    first = lines[0]
    # The cross-reference validator reports "(top level): a.b.c: message; d.e: message".
    first = first.removeprefix("(top level): ")
    path, _, message = first.partition(": ")
    if not message or " " in path:
        return ConfigEditError(text, "", 400)
    field = api_path(path, document)
    rest = [api_path_in_text(line, document) for line in lines]
    return ConfigEditError("; ".join(rest), field, 400)


def api_path_in_text(line: str, document: dict[str, Any]) -> str:
    line = line.removeprefix("(top level): ")
    return "; ".join(
        f"{api_path(p, document)}: {m}" if m else p
        for p, _, m in (part.partition(": ") for part in line.split("; "))
    )


class ConfigAdmin:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = services.config_store
        self._fields: dict[tuple[str, str], tuple[FieldSpec, ...] | None] = {}

    # -- reading -----------------------------------------------------------------------------------
    def document(self) -> tuple[dict[str, Any], int]:
        return self.store.load(), self.store.version()

    def get(self, kind: Kind, name: str) -> Any:
        document = self.store.load()
        if kind == "scenarios":
            for sc in document["scenarios"]:
                if sc["name"] == name:
                    return sc
        elif name in document[kind]:
            return document[kind][name]
        raise ConfigEditError(f"no {WORDS[kind].rstrip('s')} named '{name}'", f"{WORDS[kind]}.{name}", 404)

    def history(self, limit: int = 50) -> list[Version]:
        return self.store.history(limit)

    # -- writing -----------------------------------------------------------------------------------
    def save(
        self,
        document: dict[str, Any],
        *,
        author: str,
        expected: int | None,
        note: str = "",
        verify: bool = True,
        touched: set[tuple[str, str]] | None = None,
    ) -> int:
        """Validate the whole new document and store it as the next version, or refuse with the field."""
        try:
            config = parse_config(document)
        except ConfigError as exc:
            raise _first_problem(exc, document) from None
        if self.services.prepare_config is not None:
            self.services.prepare_config(config)
        clean = config.model_dump(mode="json", exclude_none=True)
        old = self.store.load()
        touched = touched if touched is not None else changed_names(old, clean)
        self._check_secrets(config, touched)
        self._check_fields(config, touched, verify)
        if verify:
            self._check_instances(config, touched)
        try:
            number = self.services.apply_config(config, author=author, expected=expected, note=note)
        except VersionConflict as exc:
            raise ConfigEditError(str(exc), "If-Match", 412) from None
        except ConfigError as exc:
            raise _first_problem(exc, clean) from None
        except StateError as exc:  # a document beyond what a table row holds
            raise ConfigEditError(str(exc), "body", 413) from None
        return number

    def put(
        self,
        kind: Kind,
        name: str,
        body: Any,
        *,
        author: str,
        expected: int | None,
        verify: bool = True,
    ) -> int:
        document = self.store.load()
        if kind == "scenarios":
            body = {**body, "name": name}
            document["scenarios"] = [s for s in document["scenarios"] if s["name"] != name] + [body]
        else:
            document[kind][name] = body
        return self.save(
            document,
            author=author,
            expected=expected,
            note=f"put {WORDS[kind]}.{name}",
            verify=verify,
            touched={(kind, name)},
        )

    def delete(self, kind: Kind, name: str, *, author: str, expected: int | None) -> int:
        """Remove one instance, integration or map. Deleting an integration stops its sync (the engine
        drops its polls, hooks and queued messages) and deletes nothing on either system."""
        document = self.store.load()
        self.get(kind, name)
        if kind == "scenarios":
            document["scenarios"] = [s for s in document["scenarios"] if s["name"] != name]
        else:
            del document[kind][name]
            users = [
                s["name"]
                for s in document["scenarios"]
                if (kind == "field_maps" and _uses_map(s, name))
                or (kind == "connections" and name in (s.get("left"), s.get("right")))
            ]
            if users:
                raise ConfigEditError(
                    f"{WORDS[kind].rstrip('s')} '{name}' is used by integrations {', '.join(users)}: change "
                    "or delete them first",
                    f"{WORDS[kind]}.{name}",
                    409,
                )
        return self.save(
            document, author=author, expected=expected, note=f"delete {WORDS[kind]}.{name}", touched=set()
        )

    def copy_map(self, source: str, target: str, *, author: str, expected: int | None) -> int:
        """An independent copy of a field map: later edits of either leave the other as it is."""
        document = self.store.load()
        if source not in document["field_maps"]:
            raise ConfigEditError(f"no field map named '{source}'", f"field-maps.{source}", 404)
        if target in document["field_maps"]:
            raise ConfigEditError(f"field map '{target}' exists already", "name", 409)
        document["field_maps"][target] = copy.deepcopy(document["field_maps"][source])
        return self.save(
            document,
            author=author,
            expected=expected,
            note=f"copy field-maps.{source} to {target}",
            touched=set(),
        )

    def rollback(self, number: int, *, author: str, expected: int | None) -> int:
        """Restore version `number`'s document as a new version (history is never rewritten)."""
        snapshot = self.store.snapshot(number)
        if snapshot is None:
            raise ConfigEditError(f"there is no configuration version {number}", "version", 404)
        return self.save(
            snapshot, author=author, expected=expected, note=f"rollback to version {number}", verify=False
        )

    # -- import / export ---------------------------------------------------------------------------
    def export(self, fmt: Literal["yaml", "json"] = "yaml") -> str:
        from tandem.configfile import dump_document

        document = self.store.load()
        return json.dumps(document, indent=2, sort_keys=True) if fmt == "json" else dump_document(document)

    def import_text(
        self,
        text: str,
        fmt: Literal["yaml", "json", "xml"],
        *,
        author: str,
        expected: int | None,
        verify: bool,
    ) -> int:
        """YAML/JSON: the whole configuration. XML: field maps, added or replaced by name."""
        if fmt == "xml":
            from mapping.xml_maps import XmlMapError, parse_mapping_xml

            try:
                maps = parse_mapping_xml(text)
            except XmlMapError as exc:
                raise ConfigEditError(str(exc), exc.field, 400) from None
            document = self.store.load()
            document["field_maps"].update(maps)
            note = f"import field maps {', '.join(maps)} from XML"
            return self.save(
                document,
                author=author,
                expected=expected,
                note=note,
                verify=verify,
                touched={("field_maps", m) for m in maps},
            )
        from sync.config import _NoAliasLoader

        try:
            document = json.loads(text) if fmt == "json" else yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigEditError(f"not valid {fmt.upper()}: {exc}", "body", 400) from None
        if not isinstance(document, dict):
            raise ConfigEditError("a configuration document is a mapping", "body", 400)
        return self.save(document, author=author, expected=expected, note=f"import {fmt}", verify=verify)

    # -- auto-map ----------------------------------------------------------------------------------
    def auto_map(self, left: str, left_entity: str, right: str, right_entity: str) -> AutoMapProposal:
        """Rules for fields of the same name (or reference name or label) and compatible types."""
        left_fields = self._entity_fields(left, left_entity, required=True) or ()
        right_fields = self._entity_fields(right, right_entity, required=True) or ()
        by_name: dict[str, FieldSpec] = {}
        for spec in right_fields:
            for key in _names(spec):
                by_name.setdefault(key, spec)
        proposal = AutoMapProposal()
        used: set[str] = set()
        for spec in left_fields:
            match = next((by_name[k] for k in _names(spec) if k in by_name), None)
            if match is None or match.name in used:
                proposal.unmatched_left.append(spec.name)
                continue
            if not compatible(spec.type, match.type):
                proposal.unmatched_left.append(spec.name)
                continue
            if spec.read_only and match.read_only:
                proposal.unmatched_left.append(spec.name)
                continue
            direction = "right_to_left" if match.read_only else "left_to_right" if spec.read_only else "both"
            used.add(match.name)
            proposal.rules.append(
                ProposedRule(
                    left=spec.name,
                    right=match.name,
                    direction="both" if not (spec.read_only or match.read_only) else direction,
                    reason=f"same name, types {spec.type} / {match.type}",
                    left_type=spec.type,
                    right_type=match.type,
                    # Area/iteration paths start with the project's name: each side keeps its own.
                    transform={"swap_container": {}} if spec.type == match.type == "tree_path" else None,
                )
            )
        proposal.unmatched_right = [s.name for s in right_fields if s.name not in used]
        return proposal

    # -- checks ------------------------------------------------------------------------------------
    def _entity_fields(
        self, connection: str, entity: str, required: bool = False
    ) -> tuple[FieldSpec, ...] | None:
        """The connector's field list for an entity, or None when it cannot be read (unreachable system)."""
        key = (connection, entity)
        if key in self._fields:
            return self._fields[key]
        config = self.services.config()
        conn = config.connections.get(connection)
        if conn is None:
            raise ConfigEditError(f"no instance named '{connection}'", "instances", 404)
        try:
            specs = self.services.registry.get(connection, conn).entities()
        except Exception as exc:  # unreachable: fall back to declared types
            if required:
                raise ConfigEditError(
                    f"cannot read the field list of instance '{connection}': {type(exc).__name__}",
                    f"instances.{connection}",
                    502 if not isinstance(exc, ConfigError) else 400,
                ) from None
            self._fields[key] = None
            return None
        spec = next((e for e in specs if e.name == entity), None)
        if spec is None:
            known = ", ".join(e.name for e in specs)
            raise ConfigEditError(
                f"instance '{connection}' has no entity '{entity}' (it has {known})", "entity", 400
            )
        self._fields[key] = spec.fields or None
        return self._fields[key]

    def _check_secrets(self, config: TandemConfig, touched: set[tuple[str, str]]) -> None:
        named: list[tuple[str, str]] = []  # (secret, the field naming it)
        for name, conn in config.connections.items():
            if ("connections", name) not in touched:
                continue
            for field, secret in (("auth.secret", conn.auth.secret), ("hook_secret", conn.hook_secret)):
                if secret:
                    named.append((secret, f"instances.{name}.{field}"))
        for sc in config.scenarios:
            if ("scenarios", sc.name) not in touched:
                continue
            for side, override in sc.auth.items():
                if override.secret:  # an integration's own credentials for a side
                    named.append((override.secret, f"integrations.{sc.name}.auth.{side}.secret"))
        for secret, field in named:
            try:
                self.services.secrets.get(secret)
            except SecretNotFound:
                raise ConfigEditError(
                    f"secret '{secret}' is not in the secret store: add it first "
                    "(the configuration names secrets, it never holds them)",
                    field,
                    422,
                ) from None
            except SecretStoreError as exc:
                raise ConfigEditError(str(exc), field, 422) from None

    def _check_instances(self, config: TandemConfig, touched: set[tuple[str, str]]) -> None:
        """The connector's own check: credentials valid, permissions enough (say exactly what is missing);
        also with an integration's own credentials for a side (`integrations.<name>.auth.<side>`)."""
        checks: list[tuple[str, str, ConnectionConfig, str, str]] = []  # what, name, conn, key, field
        for name, conn in config.connections.items():
            if ("connections", name) in touched:
                checks.append((f"instance '{name}'", name, conn, name, f"instances.{name}"))
        for sc in config.scenarios:
            if ("scenarios", sc.name) not in touched:
                continue
            for side in sc.auth:
                name = getattr(sc, side)
                what = f"instance '{name}' with the credentials of integration '{sc.name}'"
                key = f"{name}@{sc.name}.{side}"
                field = f"integrations.{sc.name}.auth.{side}"
                checks.append((what, name, config.connection_for(sc, side), key, field))
        for what, name, conn, key, field in checks:
            try:
                report = self.services.registry.get(name, conn, key=key).check()
            except Exception as exc:  # any failure is the instance's problem to report
                raise ConfigEditError(
                    f"{what} could not be checked ({type(exc).__name__}: {exc}); "
                    "pass verify=false "
                    "to save it while the system is unreachable",
                    field,
                    422,
                ) from None
            if not report.ok:
                raise ConfigEditError(f"{what} failed its check: " + "; ".join(report.problems), field, 422)

    def _check_fields(self, config: TandemConfig, touched: set[tuple[str, str]], verify: bool) -> None:
        """Unknown fields and transforms that do not fit the field types, for the integrations touched
        (directly, or through their shared field map or instances)."""
        for sc in config.scenarios:
            maps = {sc.field_map} if isinstance(sc.field_map, str) else set()
            maps |= {p.field_map for p in sc.entities if isinstance(p.field_map, str)}
            if not (
                ("scenarios", sc.name) in touched
                or any(("field_maps", m) in touched for m in maps)
                or ("connections", sc.left) in touched
                or ("connections", sc.right) in touched
            ):
                continue
            for view in sc.views():
                self._check_view(config, sc, view, verify)

    def _check_view(
        self, config: TandemConfig, sc: ScenarioConfig, view: ScenarioConfig, verify: bool
    ) -> None:
        sides = {}
        for side in ("left", "right"):
            connection = getattr(sc, side)
            fields = self._fields_of(config, connection, view.entity_of(side)) if verify else None  # type: ignore[arg-type]
            sides[side] = {k: f for f in fields or () for k in _names(f)} if fields else None
        fmap = view.field_map
        rules: list[FieldRule] = config.field_maps[fmap] if isinstance(fmap, str) else fmap
        for k, rule in enumerate(rules):
            where = (
                f"field_maps.{fmap}.{k}" if isinstance(fmap, str) else f"integrations.{sc.name}.field_map.{k}"
            )
            types: dict[str, str | None] = {"left": rule.left_type, "right": rule.right_type}
            for side in ("left", "right"):
                known = sides[side]
                if known is None:
                    continue
                name = getattr(rule, side)
                spec = known.get(name.lower()) or known.get(name.lower().rsplit(".", 1)[-1])
                if spec is None:
                    raise ConfigEditError(
                        f"unknown {side} field '{name}' on {view.entity_of(side)} of instance "  # type: ignore[arg-type]
                        f"'{getattr(sc, side)}' (integration '{sc.name}')",
                        f"{where}.{side}",
                        400,
                    )
                types[side] = types[side] or spec.type
            problem = type_problem(rule.transform, types["left"], types["right"])
            if problem:
                raise ConfigEditError(f"{problem} (integration '{sc.name}')", f"{where}.transform", 400)

    def _fields_of(self, config: TandemConfig, connection: str, entity: str) -> tuple[FieldSpec, ...] | None:
        key = (connection, entity)
        if key not in self._fields:
            conn = config.connections[connection]
            try:
                specs = self.services.registry.get(connection, conn).entities()
                spec = next((e for e in specs if e.name == entity), None)
                self._fields[key] = spec.fields if spec and spec.fields else None
            except Exception:  # unreachable: declared types are checked instead
                self._fields[key] = None
        return self._fields[key]


def _names(spec: FieldSpec) -> list[str]:
    """The keys a field is known by: its name, its reference name's last segment, its label."""
    names = [spec.name.lower(), spec.name.lower().rsplit(".", 1)[-1]]
    if spec.label:
        names.append(spec.label.lower())
    return list(dict.fromkeys(names))


def _uses_map(scenario: dict[str, Any], name: str) -> bool:
    return scenario.get("field_map") == name or any(
        p.get("field_map") == name for p in scenario.get("entities") or []
    )


def changed_names(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every instance, map and integration added or changed from `old` to `new`."""
    touched: set[tuple[str, str]] = set()
    for kind in ("connections", "field_maps"):
        for name, body in (new.get(kind) or {}).items():
            if (old.get(kind) or {}).get(name) != body:
                touched.add((kind, name))
    before = {s["name"]: s for s in old.get("scenarios") or []}
    for sc in new.get("scenarios") or []:
        if before.get(sc["name"]) != sc:
            touched.add(("scenarios", sc["name"]))
    return touched
