"""Configuration: connections, field maps and scenarios, validated with errors that name the field.

Secrets are named (looked up in the secret store), never inlined.
"""

from __future__ import annotations

from datetime import datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.http import endpoint_problem
from mapping.fieldmap import ConflictRule, FieldRule, SyncDirection
from sync.ncrontab import parse_ncrontab

ConnectionType = Literal["azure_devops", "azure_devops_pipelines", "pwa", "planner", "memory"]
DIRECTIONS: tuple[SyncDirection, SyncDirection] = ("left_to_right", "right_to_left")


class ConfigError(ValueError):
    """Invalid configuration; the message lists each problem with the path of the field."""


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["pat", "entra", "basic", "oauth_refresh_token", "user_password", "ntlm", "none"]
    secret: str | None = None  # the NAME of the secret in the secret store
    username: str | None = None
    client_id: str | None = None
    tenant: str | None = None
    # The hosts this secret may be sent to (the connection's URL host must be one of them). The secret
    # store can bind it too (a `tandem-hosts` tag in Key Vault): see `state.secrets.SecretStore.hosts`.
    hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _secret_named(self) -> AuthConfig:
        if self.kind not in ("entra", "none") and not self.secret:
            raise ValueError(f"auth kind '{self.kind}' needs 'secret': the name of a secret, not its value")
        self.hosts = [h.strip().lower().rstrip(".") for h in self.hosts if h.strip()]
        return self


class AuthOverride(BaseModel):
    """An integration's own credentials for one side, over its instance's: the fields given replace the
    instance's (often only `secret`: the same system, another account)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["pat", "entra", "basic", "oauth_refresh_token", "user_password", "ntlm", "none"] | None = (
        None
    )
    secret: str | None = None  # the NAME of the secret in the secret store
    username: str | None = None
    client_id: str | None = None
    tenant: str | None = None

    def over(self, auth: AuthConfig) -> AuthConfig:
        """The instance's auth with this override's fields in place (ValueError when it does not hold)."""
        return AuthConfig.model_validate({**auth.model_dump(), **self.model_dump(exclude_none=True)})


# URL-valued connection options that receive credentials (a token authority gets the password grant).
CREDENTIAL_URL_OPTIONS = ("authority",)
# Auth kinds whose secret goes to the token authority, not to the connection's URL.
TOKEN_ENDPOINT_KINDS = ("oauth_refresh_token", "user_password", "entra")
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


def check_endpoint(value: str) -> str:
    """A URL credentials may be sent to (https, or http on loopback; no user info, no metadata address)."""
    problem = endpoint_problem(value)
    if problem:
        raise ValueError(problem)
    return value.rstrip("/")


class ConnectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ConnectionType
    url: str
    auth: AuthConfig = AuthConfig(kind="none")
    options: dict[str, Any] = Field(default_factory=dict)
    # Service hooks from this connection authenticate with basic auth: this user and the secret named
    # here. One secret per connection, so one system's administrators cannot post as the other's.
    hook_secret: str | None = None
    hook_username: str = "tandem"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith("memory://"):  # the in-process test connector: nothing is sent anywhere
            return value.rstrip("/")
        return check_endpoint(value)

    @field_validator("options")
    @classmethod
    def _credential_urls(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in CREDENTIAL_URL_OPTIONS:
            if key in value:
                problem = endpoint_problem(str(value[key]))
                if problem:
                    raise ValueError(f"{key}: {problem}")
        return value

    @model_validator(mode="after")
    def _ado_hosts(self) -> ConnectionConfig:
        """An ADO credential goes to hosts of the same deployment only (options.hosts included)."""
        if self.type in ("azure_devops", "azure_devops_pipelines") and self.options.get("hosts"):
            from connectors.ado.hosts import hosts_option_problems

            problems = hosts_option_problems(self.url, self.options)
            if problems:
                raise ValueError("; ".join(problems))
        if self.type == "azure_devops_pipelines":
            from connectors.ado_pipelines.factory import options_problems

            problems = options_problems(self.options)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower().rstrip(".")

    @property
    def secret_host(self) -> str:
        """The host the connection sends its secret to: the token authority for the OAuth kinds (the
        refresh token, password or client secret goes to the token endpoint), else the connection's own."""
        if self.auth.kind in TOKEN_ENDPOINT_KINDS:
            authority = str(self.options.get("authority") or DEFAULT_AUTHORITY)
            return (urlsplit(authority).hostname or "").lower().rstrip(".")
        return self.host


class DirectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str = "0 */5 * * * *"  # NCRONTAB, 6 fields (seconds first)
    start: datetime | None = None  # items last changed before this are ignored
    hooks: bool = False  # near-real-time through service hooks
    enabled: bool = True
    # automatic: timer polls (and hooks when `hooks`); manual: only manual and bulk runs (Kiplot's trigger)
    trigger: Literal["automatic", "manual"] = "automatic"
    filter: str | None = None  # connector-specific extra scope clause (e.g. WIQL)
    match: dict[str, Any] = Field(default_factory=dict)  # source fields that must hold these values
    present: list[str] = Field(default_factory=list)  # source fields that must not be empty
    # Routing of creates (updates stay where the linked item is):
    # the source field whose value names the target item type (else the type map of the source type);
    type_field: str | None = None
    # the source field whose value names the target container (project). It must name an existing one:
    # a name matching none is a failure shown in status, never a guess. Empty field: the container pairs
    # (or the same name) when `container_fallback`, else a failure as well.
    container_field: str | None = None
    container_fallback: bool = True
    # False: source items with no counterpart are not created on the target (linked items still update
    # both ways); e.g. "Push new plan tasks to Project" off. They are skipped, not failed.
    create: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        parse_ncrontab(value)  # raises NcrontabError (a ValueError) naming the field that is wrong
        return value


class ContainerPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    left: str
    right: str


class ReferenceRule(BaseModel):
    """How the engine treats one reference an item carries (a field path naming another item)."""

    model_config = ConfigDict(extra="forbid")

    path: str  # where the reference sits on the source item ("parent" for the parent link)
    target_path: str | None = None  # where the resolved id goes on the target (default: the same path)
    # True: the item waits for the referenced item's link and is never written without it (dead-lettered,
    # naming the reference, after the bounded attempts). False: written without it after a few waits.
    required: bool = False


class EntityPair(BaseModel):
    """One entity pair of a scenario: a left entity synced with a right entity.

    Field map, types and containers default to the scenario's own.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    left: str | None = None  # entity name on the left system (default: `name`)
    right: str | None = None  # entity name on the right system (default: `name`)
    field_map: str | list[FieldRule] | None = None
    containers: list[ContainerPair] | None = None
    types: list[str] | None = None
    type_map: dict[str, str] | None = None
    sync_parent: bool | None = None
    depends_on: list[str] = Field(default_factory=list)  # names of pairs whose items this one references
    references: list[ReferenceRule] = Field(default_factory=list)


class ScenarioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    kind: str = "generic"
    left: str  # connection name
    right: str
    entity: str = "workitem"  # entity name on both sides unless left_entity/right_entity say otherwise
    left_entity: str | None = None
    right_entity: str | None = None
    # Several entity pairs (the first keeps the scenario's own table keys, so a single-entity scenario's
    # links and watermarks are found after it gains pairs). Empty: one pair from entity/left_entity/…
    entities: list[EntityPair] = Field(default_factory=list)
    references: list[ReferenceRule] = Field(default_factory=list)  # of the single-entity form
    field_map: str | list[FieldRule] = Field(default_factory=list)
    containers: list[ContainerPair] = Field(default_factory=list)  # project pairs; empty = same names
    types: list[str] = Field(default_factory=list)  # item types in scope (same name on both sides)
    type_map: dict[str, str] = Field(default_factory=dict)  # left type -> right type when names differ
    sync_parent: bool = True
    conflict: ConflictRule = "newest_wins"
    # A field-map field (either side) whose equal values link an item already on the target instead of
    # creating one (sync.match); a bulk job can name its own (`match_key`).
    match_on: str | None = None
    # Deprecated: one hook secret for both connections. `connections.<name>.hook_secret` wins; this is
    # the fallback for configurations written before, and `setup verify` warns about it.
    hook_secret: str | None = None
    hook_username: str = "tandem"
    options: dict[str, Any] = Field(default_factory=dict)
    # Options this scenario gives the connector of each side, over that connection's own `options` (each key
    # replaces the connection's): e.g. a pipelines target's `pool_map`. Only the keys the connection type
    # declares per-scenario are taken (`scenario_option_problems`), validated as its connection options are.
    connector_options: dict[Literal["left", "right"], dict[str, Any]] = Field(default_factory=dict)
    # Custom fields each side needs, in that connector's own spec form: "Create fields" creates them where
    # the connector can, "Verify configuration" checks each with its type.
    required_fields: dict[Literal["left", "right"], list[dict[str, Any]]] = Field(default_factory=dict)
    directions: dict[SyncDirection, DirectionConfig]
    # This integration's own credentials for a side, over the instance's (e.g. {left: {secret: other-pat}})
    auth: dict[Literal["left", "right"], AuthOverride] = Field(default_factory=dict)
    # set on the per-pair views that `pair_view` returns: the pair's name and table key
    _pair: str = PrivateAttr(default="")
    _key: str = PrivateAttr(default="")
    _views: dict[str, ScenarioConfig] = PrivateAttr(default_factory=dict)

    def entity_of(self, side: Literal["left", "right"]) -> str:
        return (self.left_entity if side == "left" else self.right_entity) or self.entity

    # -- entity pairs ----------------------------------------------------------------------------------
    def pairs(self) -> list[EntityPair]:
        """The scenario's entity pairs; a single-entity scenario is the one-element case."""
        if self.entities:
            return list(self.entities)
        return [
            EntityPair(
                name=self.entity,
                left=self.entity_of("left"),
                right=self.entity_of("right"),
                references=list(self.references),
            )
        ]

    @property
    def key(self) -> str:
        """The table key of this scenario (view): the scenario's name for its first pair, else name|pair."""
        return self._key or self.name

    @property
    def pair(self) -> str:
        return self._pair or self.pairs()[0].name

    def pair_view(self, pair_name: str | None = None) -> ScenarioConfig:
        """The scenario as one of its entity pairs sees it: the pair's entities, field map, types and
        containers in place of the scenario's, and the pair's table key."""
        pairs = self.pairs()
        name = pair_name or pairs[0].name
        cached = self._views.get(name)
        if cached is not None:
            return cached
        index = next((i for i, p in enumerate(pairs) if p.name == name), None)
        if index is None:
            known = ", ".join(p.name for p in pairs)
            raise ConfigError(f"scenario '{self.name}' has no entity pair '{name}' (pairs: {known})")
        pair = pairs[index]
        update: dict[str, Any] = {
            "left_entity": pair.left or pair.name,
            "right_entity": pair.right or pair.name,
            "entities": [],
            "references": list(pair.references),
        }
        for attr in ("field_map", "containers", "types", "type_map", "sync_parent"):
            value = getattr(pair, attr)
            if value is not None:
                update[attr] = value
        view = self.model_copy(update=update)
        view._pair = pair.name
        view._key = self.name if index == 0 else f"{self.name}|{pair.name}"
        view._views = {}
        self._views[name] = view
        return view

    def views(self) -> list[ScenarioConfig]:
        """Every pair's view, in dependency order (a pair after the pairs it depends on)."""
        return [self.pair_view(name) for name in self.pair_order()]

    def pair_order(self) -> list[str]:
        pairs = self.pairs()
        graph = {p.name: set(p.depends_on) for p in pairs}
        order = list(TopologicalSorter(graph).static_order())
        position = {p.name: i for i, p in enumerate(pairs)}
        return [n for n in order if n in position]

    def view_for(self, direction: SyncDirection, source_entity: str) -> ScenarioConfig:
        """The pair whose source side in `direction` is `source_entity` (a message's entity)."""
        side: Literal["left", "right"] = "left" if direction == "left_to_right" else "right"
        for pair in self.pairs():
            view = self.pair_view(pair.name)
            if view.entity_of(side) == source_entity:
                return view
        if len(self.pairs()) == 1:
            return self.pair_view()
        raise ConfigError(f"scenario '{self.name}' has no entity pair with {side} entity '{source_entity}'")

    def reference_rule(self, path: str) -> ReferenceRule:
        """The rule for `path`: its own, else the pair's rule for every reference (`path: "*"`)."""
        rule = next((r for r in self.references if r.path == path), None)
        if rule is None:
            rule = next((r.model_copy(update={"path": path}) for r in self.references if r.path == "*"), None)
        return rule or ReferenceRule(path=path)

    def enabled_directions(self) -> list[SyncDirection]:
        return [d for d in DIRECTIONS if d in self.directions and self.directions[d].enabled]

    def target_container(self, direction: SyncDirection, source_container: str | None) -> str | None:
        if source_container is None:
            return None
        for pair in self.containers:
            src, dst = (pair.left, pair.right) if direction == "left_to_right" else (pair.right, pair.left)
            if src.lower() == source_container.lower():
                return dst
        return None if self.containers else source_container

    def routed_type(
        self, direction: SyncDirection, source_type: str | None, fields: dict[str, Any]
    ) -> str | None:
        """The type a create gets: the direction's `type_field` value when set, else the mapped type."""
        cfg = self.directions.get(direction)
        if cfg is not None and cfg.type_field:
            value = fields.get(cfg.type_field)
            if isinstance(value, list):  # multi-value lookups: the first entry
                value = value[0] if value else None
            if value is not None and str(value).strip():
                return str(value).strip()
        return self.target_type(direction, source_type)

    def source_containers(self, direction: SyncDirection) -> list[str]:
        return [p.left if direction == "left_to_right" else p.right for p in self.containers]

    def target_type(self, direction: SyncDirection, source_type: str | None) -> str | None:
        if source_type is None:
            return None
        if direction == "left_to_right":
            return self.type_map.get(source_type, source_type)
        inverse = {v: k for k, v in self.type_map.items()}
        return inverse.get(source_type, source_type)

    def source_types(self, direction: SyncDirection) -> list[str]:
        if direction == "left_to_right":
            return list(self.types)
        return [self.type_map.get(t, t) for t in self.types]


class HookAuth(BaseModel):
    username: str
    secret: str | None  # the secret's name; None: no hook secret configured
    deprecated: bool = False  # taken from the scenario's shared `hook_secret`


class TandemConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    field_maps: dict[str, list[FieldRule]] = Field(default_factory=dict)
    scenarios: list[ScenarioConfig] = Field(default_factory=list)
    _rules: dict[str, tuple[ScenarioConfig, list[FieldRule]]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _kiplot_names(cls, data: Any) -> Any:
        return kiplot_names(data)

    @model_validator(mode="after")
    def _references(self) -> TandemConfig:
        problems = field_map_problems(self)
        seen: set[str] = set()
        for i, sc in enumerate(self.scenarios):
            where = f"scenarios.{i}"
            if sc.name in seen:
                problems.append(f"{where}.name: duplicate scenario name '{sc.name}'")
            seen.add(sc.name)
            for side in ("left", "right"):
                name = getattr(sc, side)
                if name not in self.connections:
                    known = ", ".join(sorted(self.connections)) or "none defined"
                    problems.append(f"{where}.{side}: unknown connection '{name}' (known: {known})")
                elif side in sc.auth:
                    try:
                        sc.auth[side].over(self.connections[name].auth)  # type: ignore[index]
                    except ValueError as exc:
                        problems.append(f"{where}.auth.{side}: {_first_message(exc)}")
            if isinstance(sc.field_map, str) and sc.field_map not in self.field_maps:
                known = ", ".join(sorted(self.field_maps)) or "none defined"
                problems.append(f"{where}.field_map: unknown field map '{sc.field_map}' (known: {known})")
            problems.extend(_pair_problems(sc, where, self.field_maps))
            problems.extend(_connector_option_problems(sc, where, self.connections))
            rules = self.field_maps.get(sc.field_map, []) if isinstance(sc.field_map, str) else sc.field_map
            if sc.match_on and rules and not any(sc.match_on in (r.left, r.right) for r in rules):
                problems.append(f"{where}.match_on: '{sc.match_on}' is no field of the scenario's field map")
            if not sc.directions:
                problems.append(f"{where}.directions: at least one of left_to_right, right_to_left is needed")
        problems += self._secrets_for_one_host()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _secrets_for_one_host(self) -> list[str]:
        """A secret named by two connections must go to one host: naming it for another is refused."""
        problems = []
        first: dict[str, tuple[str, str]] = {}  # secret -> (connection, host)
        for name, conn in self.connections.items():
            secret = conn.auth.secret
            if not secret or conn.url.startswith("memory://"):
                continue
            host = conn.secret_host
            if conn.auth.hosts and host not in conn.auth.hosts:
                problems.append(
                    f"connections.{name}.auth.hosts: secret '{secret}' is declared for "
                    f"{', '.join(conn.auth.hosts)}, not for {host}, where this connection sends it"
                )
            seen = first.setdefault(secret, (name, host))
            if seen[1] != host:
                problems.append(
                    f"connections.{name}.auth.secret: secret '{secret}' is already used for host {seen[1]} "
                    f"(connections.{seen[0]}); a secret is sent to one host only, so this connection to "
                    f"{host} needs its own"
                )
        for sc in self.scenarios:
            for side in sc.auth:
                try:
                    conn = self.connection_for(sc, side)
                except (KeyError, ValueError):
                    continue  # reported above
                secret = conn.auth.secret
                if not secret or conn.url.startswith("memory://"):
                    continue
                host = conn.secret_host
                seen = first.setdefault(secret, (f"{sc.name}.auth.{side}", host))
                if seen[1] != host:
                    problems.append(
                        f"scenarios.{sc.name}.auth.{side}.secret: secret '{secret}' is already used for host "
                        f"{seen[1]} ({seen[0]}); a secret is sent to one host only"
                    )
        return problems

    def connection_for(self, scenario: ScenarioConfig, side: Literal["left", "right"]) -> ConnectionConfig:
        """The connection `scenario` uses on `side`: the instance's, with the integration's own credentials
        when it names them."""
        connection = self.connections[getattr(scenario, side)]
        override = scenario.auth.get(side)
        if override is None:
            return connection
        return connection.model_copy(update={"auth": override.over(connection.auth)})

    def hook_auth(self, scenario: ScenarioConfig, connection: str) -> HookAuth:
        """The basic-auth user and secret name hooks from `connection` must carry for `scenario`."""
        conn = self.connections[connection]
        if conn.hook_secret:
            return HookAuth(username=conn.hook_username, secret=conn.hook_secret)
        secret = scenario.hook_secret
        return HookAuth(username=scenario.hook_username, secret=secret, deprecated=bool(secret))

    def scenario(self, name: str) -> ScenarioConfig:
        for sc in self.scenarios:
            if sc.name == name:
                return sc
        known = ", ".join(s.name for s in self.scenarios) or "none configured"
        raise ConfigError(f"Unknown scenario '{name}' (configured: {known}).")

    def rules(self, scenario: ScenarioConfig) -> list[FieldRule]:
        """The scenario's rules in our words (Kiplot's directions resolved for its ADO side)."""
        cached = self._rules.get(scenario.key)
        if cached is not None and cached[0] is scenario:
            return cached[1]
        fmap = scenario.field_map
        rules = self.field_maps[fmap] if isinstance(fmap, str) else fmap
        side = self.ado_side(scenario)
        resolved = [r.resolved(side) for r in rules]
        self._rules[scenario.key] = (scenario, resolved)  # the scenario kept: its identity is the check
        return resolved

    def ado_side(self, scenario: ScenarioConfig) -> Literal["left", "right"] | None:
        """Which side of the scenario Kiplot's words (read-only = from ADO…) are said from."""
        declared = scenario.options.get("ado_side")
        if declared in ("left", "right"):
            return declared  # type: ignore[no-any-return]
        ado = [
            side
            for side in ("left", "right")
            if (conn := self.connections.get(getattr(scenario, side))) and conn.type == "azure_devops"
        ]
        return ado[0] if len(ado) == 1 else None  # type: ignore[return-value]


def kiplot_names(data: Any) -> Any:
    """`instances` and `integrations` (Kiplot's words) are `connections` and `scenarios`: one model."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for theirs, ours in (("instances", "connections"), ("integrations", "scenarios")):
        if theirs not in data:
            continue
        if data.get(ours):
            raise ValueError(f"'{theirs}' and '{ours}' are the same thing: use one of them")
        value = data.pop(theirs)
        if ours == "scenarios" and isinstance(value, dict):  # integrations keyed by name
            value = [{"name": name, **(body or {})} for name, body in value.items()]
        data[ours] = value
    return data


def field_map_problems(config: TandemConfig) -> list[str]:
    """Duplicate rules, transforms that do not fit the declared field types, Kiplot's directions without
    an ADO side: each named with the path of its rule."""
    from mapping.transform_types import type_problem

    problems: list[str] = []
    maps: list[tuple[str, list[FieldRule]]] = [(f"field_maps.{n}", r) for n, r in config.field_maps.items()]
    for i, sc in enumerate(config.scenarios):
        if isinstance(sc.field_map, list):
            maps.append((f"scenarios.{i}.field_map", sc.field_map))
        for j, pair in enumerate(sc.entities):
            if isinstance(pair.field_map, list):
                maps.append((f"scenarios.{i}.entities.{j}.field_map", pair.field_map))
    for where, rules in maps:
        targets: dict[tuple[str, str], int] = {}
        for k, rule in enumerate(rules):
            at = f"{where}.{k}"
            flows = (
                ["left_to_right", "right_to_left"] if rule.direction not in DIRECTIONS else [rule.direction]
            )
            for d in flows:
                target = rule.right if d == "left_to_right" else rule.left
                first = targets.setdefault((d, target), k)
                if first != k:
                    problems.append(
                        f"{at}: duplicate rule: field '{target}' is already written {d} "
                        f"by rule {where}.{first}"
                    )
                    break
            problem = type_problem(rule.transform, rule.left_type, rule.right_type)
            if problem:
                problems.append(f"{at}.transform: {problem}")
    for i, sc in enumerate(config.scenarios):
        if sc.left not in config.connections or sc.right not in config.connections:
            continue
        fmap = sc.field_map
        rules = config.field_maps.get(fmap, []) if isinstance(fmap, str) else fmap
        for k, rule in enumerate(rules):
            try:
                rule.resolved(config.ado_side(sc))
            except ValueError as exc:
                where = f"field_maps.{fmap}.{k}" if isinstance(fmap, str) else f"scenarios.{i}.field_map.{k}"
                problems.append(f"{where}.direction: {exc} (scenarios.{i} '{sc.name}')")
    return problems


def _pair_problems(sc: ScenarioConfig, where: str, field_maps: dict[str, list[FieldRule]]) -> list[str]:
    problems = []
    names = [p.name for p in sc.entities]
    if not sc.entities and isinstance(sc.field_map, list) and not sc.field_map:
        problems.append(
            f"{where}.field_map: a field map is needed (a name from field_maps or a list of rules)"
        )
    for j, pair in enumerate(sc.entities):
        at = f"{where}.entities.{j}"
        if names.count(pair.name) > 1:
            problems.append(f"{at}.name: duplicate entity pair '{pair.name}'")
        for dep in pair.depends_on:
            if dep not in names:
                problems.append(f"{at}.depends_on: unknown entity pair '{dep}' (pairs: {', '.join(names)})")
        fmap = pair.field_map if pair.field_map is not None else sc.field_map
        if isinstance(fmap, str) and fmap not in field_maps:
            problems.append(f"{at}.field_map: unknown field map '{fmap}'")
    for side in ("left", "right"):
        entities = [p.left if side == "left" else p.right for p in sc.entities]
        entities = [e or p.name for e, p in zip(entities, sc.entities, strict=True)]
        for e in {e for e in entities if entities.count(e) > 1}:
            problems.append(f"{where}.entities: {side} entity '{e}' is in more than one pair")
    if not problems and sc.entities:
        try:
            sc.pair_order()
        except CycleError as exc:
            cycle = " -> ".join(str(n) for n in exc.args[1])
            problems.append(f"{where}.entities.depends_on: dependency cycle {cycle}")
    return problems


def scenario_option_problems(connection_type: str, options: dict[str, Any]) -> list[str]:
    """What is wrong with the options a scenario gives a connection of this type, each naming its key
    (relative to `connector_options.<side>`). A type declares which options a scenario may set."""
    if connection_type == "azure_devops_pipelines":
        from connectors.ado_pipelines.factory import scenario_options_problems

        return scenario_options_problems(options)
    return [f"{key}: a {connection_type} connection takes no per-scenario options" for key in sorted(options)]


def with_scenario_options(connection: ConnectionConfig, options: dict[str, Any] | None) -> ConnectionConfig:
    """The connection as a scenario's side sees it: its options with the scenario's over them (each key the
    scenario sets replaces the connection's)."""
    if not options:
        return connection
    return connection.model_copy(update={"options": {**connection.options, **options}})


def _connector_option_problems(
    sc: ScenarioConfig, where: str, connections: dict[str, ConnectionConfig]
) -> list[str]:
    problems = []
    for side, options in sc.connector_options.items():
        connection = connections.get(getattr(sc, side))
        if connection is not None:  # else reported as an unknown connection
            at = f"{where}.connector_options.{side}"
            problems += [f"{at}.{p}" for p in scenario_option_problems(connection.type, options)]
    return problems


def _format(error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc or '(top level)'}: {msg}")
    return "Invalid configuration:\n" + "\n".join(lines)


def parse_config(data: Any) -> TandemConfig:
    try:
        return TandemConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None


MAX_CONFIG_BYTES = 2_000_000  # a large real configuration is tens of KB


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: a chain of aliases expands exponentially (10^9 leaves from a 1 KB file)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{event.anchor}) are not accepted in configuration files: "
                "write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def read_yaml(path: str | Path) -> Any:
    """A configuration document: size-capped, aliases refused (with line and column), safe types only."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path} is {size} bytes; a configuration file holds at most {MAX_CONFIG_BYTES}"
            )
        with path.open(encoding="utf-8") as stream:  # errors then name the file, line and column
            return yaml.load(stream, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"Configuration file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None


def load_config_file(path: str | Path) -> TandemConfig:
    return parse_config(read_yaml(path))


def _first_message(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)
