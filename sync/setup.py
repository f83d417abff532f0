"""Setup helpers of a scenario, as admin calls: "Create fields" (the custom fields each side needs, where
its connector can create them) and "Verify configuration" (connectivity, permissions, every required field
with its type, the service hook subscriptions), each problem with what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from connectors.contract import FieldSetup, Preflight
from mapping.fieldmap import SyncDirection
from state.redact import redact
from sync.config import ScenarioConfig
from sync.services import Services

Side = Literal["left", "right"]


class SideReport(BaseModel):
    side: Side
    connection: str
    created: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    hooks: list[str] = Field(default_factory=list)  # what the hook check created or re-enabled
    warnings: list[str] = Field(default_factory=list)  # works today, should change (deprecated settings)
    details: dict[str, object] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sides(scenario: ScenarioConfig) -> list[tuple[Side, str]]:
    return [("left", scenario.left), ("right", scenario.right)]


def create_fields(services: Services, name: str) -> list[SideReport]:
    scenario = services.config().scenario(name)
    reports: list[SideReport] = []
    for side, connection in _sides(scenario):
        report = SideReport(side=side, connection=connection)
        reports.append(report)
        specs = scenario.required_fields.get(side, [])
        try:
            connector = services.side_connector(scenario, side)
            if not isinstance(connector, FieldSetup):
                if specs:
                    names = ", ".join(str(s.get("name")) for s in specs)
                    report.problems.append(f"connection '{connection}' cannot create fields; create {names}")
                continue
            done = connector.ensure_fields(specs)
        except Exception as exc:  # one broken connection must not hide the other side's report
            report.problems.append(redact(f"{type(exc).__name__}: {exc}"))
            continue
        report.created, report.existing = list(done.created), list(done.existing)
        report.problems = [redact(p) for p in done.problems]
        if done.notes:
            report.details["notes"] = list(done.notes)
    return reports


def verify(services: Services, name: str, api_base_url: str | None) -> list[SideReport]:
    """Both connections (`verify_fields` where offered, else `check`) and, when the app knows its own URL,
    the service hook subscriptions of hook-enabled directions (created or re-enabled when missing)."""
    from sync.hook_subscriptions import ensure_hooks

    scenario = services.config().scenario(name)
    reports: dict[str, SideReport] = {}
    for side, connection in _sides(scenario):
        report = reports.setdefault(side, SideReport(side=side, connection=connection))
        specs = scenario.required_fields.get(side, [])
        try:
            connector = services.side_connector(scenario, side)
            checked = (
                connector.verify_fields(specs) if isinstance(connector, FieldSetup) else connector.check()
            )
        except Exception as exc:
            report.problems.append(redact(f"{type(exc).__name__}: {exc}"))
            continue
        report.problems += [redact(p) for p in checked.problems]
        report.details = {k: v for k, v in checked.details.items() if k in ("projects", "fields", "notes")}
        if not isinstance(connector, FieldSetup) and specs:
            names = ", ".join(str(s.get("name")) for s in specs)
            report.problems.append(f"connection '{connection}' cannot verify fields; check {names} by hand")
    _preflight(services, scenario, reports)
    hook_directions = [d for d in scenario.enabled_directions() if scenario.directions[d].hooks]
    for direction in hook_directions:
        side = "left" if direction == "left_to_right" else "right"
        _check_hook_secret(services, name, side, reports[side])
    if hook_directions and not api_base_url:
        reports["right"].problems.append(
            "PUBLIC_BASE_URL is not set: the service hooks cannot be checked; set it to the app's URL"
        )
    elif hook_directions:
        assert api_base_url is not None
        for check in ensure_hooks(services, api_base_url, scenario=name):
            side: Side = "left" if check.connection == scenario.left else "right"
            report = reports[side]
            for what, ids in (
                ("created", check.created),
                ("re-enabled", check.repaired),
                ("updated (new URL or rotated hook secret)", check.repointed),
            ):
                if ids:
                    report.hooks.append(f"{what} {len(ids)} subscription(s)")
            if not check.problems:
                report.hooks.append(f"subscriptions in place ({check.url})")
            report.problems += [f"service hooks: {p}" for p in check.problems]
    return [reports["left"], reports["right"]]


MIN_HOOK_SECRET = 24  # characters; `tandem`'s own generator and `openssl rand -base64 18` give 24


class BlockedItem(BaseModel):
    """A source item pre-flight says will not be attempted on the target, and why."""

    entity: str  # the source connector's entity
    id: str
    name: str
    reasons: list[str] = Field(default_factory=list)


class PreflightCheck(BaseModel):
    """Pre-flight of one direction: what would stop the source's items on the target, before any write."""

    direction: SyncDirection
    source: str  # connection names
    target: str
    problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    blocked: list[BlockedItem] = Field(default_factory=list)

    def blocks(self, entity: str, item_id: str) -> BlockedItem | None:
        return next((b for b in self.blocked if b.entity == entity and b.id == item_id), None)


def linked_source_ids(
    services: Services, scenario: ScenarioConfig, direction: SyncDirection
) -> dict[str, set[str]]:
    """Per source entity, the source ids already linked (pre-flight does not call those collisions)."""
    source_side = "left" if direction == "left_to_right" else "right"
    linked: dict[str, set[str]] = {}
    for view in scenario.views():
        ids = linked.setdefault(view.entity_of(source_side), set())  # type: ignore[arg-type]
        for link in services.links.list(view.key):
            item_id = link.id_of(source_side)  # type: ignore[arg-type]
            if link.status == "linked" and item_id:
                ids.add(item_id)
    return linked


def preflight_checks(
    services: Services, scenario: ScenarioConfig, directions: Sequence[SyncDirection] | None = None
) -> list[PreflightCheck]:
    """Per direction (default: every enabled one) whose source connector offers a pre-flight (`Preflight`)
    against a target of its kind: what would stop its items there. Used by `setup verify` and dry runs."""
    checks = []
    for direction in directions or scenario.enabled_directions():
        source_side, target_side = ("left", "right") if direction == "left_to_right" else ("right", "left")
        check = PreflightCheck(
            direction=direction, source=getattr(scenario, source_side), target=getattr(scenario, target_side)
        )
        try:
            source = services.side_connector(scenario, source_side)
            target = services.side_connector(scenario, target_side)
            if not isinstance(source, Preflight) or type(source) is not type(target):
                continue
            report = source.preflight(target, linked=linked_source_ids(services, scenario, direction))
        except Exception as exc:
            check.problems.append(redact(f"pre-flight: {type(exc).__name__}: {exc}"))
            checks.append(check)
            continue
        check.problems = [redact(p) for p in report.problems]
        check.notes = [str(n) for n in report.details.get("notes") or []]
        check.blocked = [BlockedItem.model_validate(b) for b in report.details.get("blocked") or []]
        checks.append(check)
    return checks


def _preflight(services: Services, scenario: ScenarioConfig, reports: dict[str, SideReport]) -> None:
    """Per enabled direction, what the source's connector says would stop its items on the target (before
    anything is written), on the target side's report."""
    for check in preflight_checks(services, scenario):
        target_side = "right" if check.direction == "left_to_right" else "left"
        where = f"pre-flight {check.source} -> {check.target}"
        reports[target_side].problems += [
            p if p.startswith("pre-flight: ") else f"{where}: {p}" for p in check.problems
        ]
        notes = reports[target_side].details.setdefault("notes", [])
        notes += [f"{where}: {n}" for n in check.notes]  # type: ignore[operator]


def hook_secret_problem(secret: str) -> str | None:
    """Why a hook secret is too weak to guard a public route, or None."""
    if len(secret) < MIN_HOOK_SECRET:
        return f"is {len(secret)} characters long; use at least {MIN_HOOK_SECRET} random characters"
    if len(set(secret)) < MIN_HOOK_SECRET // 2:
        return f"repeats too few characters ({len(set(secret))} distinct) to be random"
    return None


def _check_hook_secret(services: Services, name: str, side: Side, report: SideReport) -> None:
    """The hook secret of a hook-enabled source: its own (not the scenario's shared one), long and random."""
    config = services.config()
    scenario = config.scenario(name)
    connection = getattr(scenario, side)
    hook = config.hook_auth(scenario, connection)
    if hook.deprecated:
        report.warnings.append(
            f"scenarios.{name}.hook_secret is deprecated: one secret for both systems lets either's "
            f"administrators post as the other; set connections.{connection}.hook_secret to a secret of its "
            "own (then run `tandem hooks ensure` to send it to the subscriptions)"
        )
    if not hook.secret:
        return  # reported by the subscription check
    try:
        value = services.secrets.get(hook.secret)
    except Exception as exc:
        report.problems.append(redact(f"hook secret '{hook.secret}': {type(exc).__name__}: {exc}"))
        return
    problem = hook_secret_problem(value)
    if problem:
        report.problems.append(f"hook secret '{hook.secret}' {problem}")
