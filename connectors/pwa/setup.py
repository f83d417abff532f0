"""PWA setup helpers: "Create fields" (the enterprise custom fields a scenario needs) and "Verify
configuration" (connectivity, permissions, each required field with its type, and what to do about gaps).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.contract import CheckReport
from connectors.errors import ConnectorError
from connectors.pwa.client import pj_error_number
from connectors.pwa.fields import COST, DATE, DURATION, FIELD_TYPE_NAMES, FLAG, NUMBER, TEXT, CustomField

if TYPE_CHECKING:
    from connectors.pwa.connector import PwaConnector

log = logging.getLogger("tandem.connectors.pwa")

FieldKind = Literal["text", "flag", "number", "date", "duration", "cost"]
_FIELD_TYPES: dict[str, int] = {
    "text": TEXT,
    "flag": FLAG,
    "number": NUMBER,
    "date": DATE,
    "duration": DURATION,
    "cost": COST,
}
_FIELD_NAME_EXISTS = 11519


class CustomFieldSpec(BaseModel):
    """One enterprise custom field a scenario needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    entity: Literal["task", "project"] = "task"
    type: FieldKind = "text"
    description: str = ""
    # Text fields only: a lookup table by this name backs the field (it must exist; lookups are optional).
    lookup_table: str | None = None

    @property
    def field_type(self) -> int:
        return _FIELD_TYPES[self.type]


class FieldOutcome(BaseModel):
    name: str
    entity: str
    status: Literal["created", "exists", "wrong_type", "failed"]
    detail: str = ""


class FieldsReport(BaseModel):
    fields: list[FieldOutcome] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status in ("created", "exists") for f in self.fields)

    @property
    def created(self) -> list[str]:
        return [f.name for f in self.fields if f.status == "created"]

    @property
    def problems(self) -> list[str]:
        return [f.detail for f in self.fields if f.status not in ("created", "exists")]


def scenario_fields(
    *,
    sync_flag: str = "Sync with VSTS",
    work_item_type: str = "Work Item Type",
    ado_project: str = "VSTS Project",
) -> list[CustomFieldSpec]:
    """The fields of the PWA ↔ ADO scenario (names as FluentPro's wizard creates them, configurable)."""
    return [
        CustomFieldSpec(
            name=sync_flag,
            entity="task",
            type="flag",
            description="Tandem: synchronize this task with Azure DevOps",
        ),
        CustomFieldSpec(
            name=work_item_type,
            entity="task",
            type="text",
            description="Tandem: work item type (Bug, Task, Epic, Feature, Issue, Test Case, User Story)",
        ),
        CustomFieldSpec(
            name=ado_project,
            entity="project",
            type="text",
            description="Tandem: the Azure DevOps project this project's tasks go to",
        ),
    ]


def default_fields(conn: PwaConnector) -> list[CustomFieldSpec]:
    """The scenario's fields plus the connector's correlation field (when one is configured)."""
    specs = scenario_fields()
    if conn.options.correlation_field:
        specs.append(
            CustomFieldSpec(
                name=conn.options.correlation_field,
                entity="task",
                type="text",
                description="Tandem: correlation id of tasks created by the hub (do not edit)",
            )
        )
    return specs


def _describe(spec: CustomFieldSpec) -> str:
    lookup = f" with lookup table '{spec.lookup_table}'" if spec.lookup_table else ""
    return f"{spec.entity} custom field '{spec.name}' (type {spec.type.capitalize()}{lookup})"


def _mismatch(spec: CustomFieldSpec, cf: CustomField) -> str | None:
    if cf.field_type != spec.field_type:
        have = FIELD_TYPE_NAMES.get(cf.field_type, str(cf.field_type))
        return (
            f"{spec.entity} custom field '{spec.name}' is of type {have.capitalize()}, but "
            f"{spec.type.capitalize()} is needed: delete and recreate it in PWA Settings → Enterprise Custom "
            "Fields (or choose another field name in the scenario)"
        )
    if cf.formula:
        return (
            f"{spec.entity} custom field '{spec.name}' is calculated by a formula, so it cannot be written: "
            "remove the formula in PWA Settings → Enterprise Custom Fields"
        )
    return None


def ensure_custom_fields(conn: PwaConnector, specs: list[CustomFieldSpec]) -> FieldsReport:
    """Create every field of `specs` that is missing; existing ones are checked, never changed."""
    report = FieldsReport()
    catalog = conn.catalog(refresh=True)
    entity_ids = conn.entity_type_ids()
    lookup_tables: dict[str, str] | None = None
    for spec in specs:
        existing = catalog.find(spec.name, spec.entity)
        if existing is not None:
            problem = _mismatch(spec, existing)
            report.fields.append(
                FieldOutcome(
                    name=spec.name,
                    entity=spec.entity,
                    status="wrong_type" if problem else "exists",
                    detail=problem or "",
                )
            )
            continue
        info: dict[str, object] = {
            "Id": str(uuid.uuid4()),
            "Name": spec.name,
            "FieldType": spec.field_type,
            "EntityTypeId": entity_ids.get(spec.entity),
            "IsRequired": False,
            "IsMultilineText": False,
            "Description": spec.description,
        }
        if spec.lookup_table:
            if lookup_tables is None:
                lookup_tables = {
                    str(t.get("Name", "")).lower(): str(t["Id"])
                    for t in conn.client.list_all(conn.client.ps("LookupTables"), {"$select": "Id,Name"})
                }
            table_id = lookup_tables.get(spec.lookup_table.lower())
            if table_id is None:
                report.fields.append(
                    FieldOutcome(
                        name=spec.name,
                        entity=spec.entity,
                        status="failed",
                        detail=f"lookup table '{spec.lookup_table}' for {_describe(spec)} does not exist: "
                        "create it in PWA Settings → Enterprise Custom Fields and Lookup Tables",
                    )
                )
                continue
            info["LookupTableId"] = table_id
        try:
            conn.client.write(
                "POST",
                conn.client.ps("CustomFields/Add"),
                conn.client.parameters("PS.CustomFieldCreationInformation", info),
            )
        except ConnectorError as exc:
            if pj_error_number(exc) == _FIELD_NAME_EXISTS:
                detail = (
                    f"a custom field named '{spec.name}' exists for another entity; PWA field names are "
                    "unique across entities: choose another name in the scenario"
                )
            else:
                detail = f"creating {_describe(spec)} failed: {exc}"
            report.fields.append(
                FieldOutcome(name=spec.name, entity=spec.entity, status="failed", detail=detail)
            )
            continue
        log.info("created %s", _describe(spec))
        report.fields.append(FieldOutcome(name=spec.name, entity=spec.entity, status="created"))
    conn.catalog(refresh=True)
    return report


def verify(conn: PwaConnector, required: list[CustomFieldSpec]) -> CheckReport:
    """Connectivity, permissions (ProjectServer, reporting feed, writes) and every required field."""
    report = conn.check()
    problems = list(report.problems)
    details = dict(report.details)
    if report.ok or "projects" in details:
        try:
            catalog = conn.catalog(refresh=True)
        except ConnectorError as exc:
            problems.append(f"the enterprise custom fields cannot be listed: {exc}")
            catalog = None
        if catalog is not None:
            present: list[str] = []
            for spec in required:
                cf = catalog.find(spec.name, spec.entity)
                if cf is None:
                    problems.append(
                        f"{_describe(spec)} is missing: run Create fields, or create it in PWA Settings → "
                        "Enterprise Custom Fields"
                    )
                    continue
                problem = _mismatch(spec, cf)
                if problem:
                    problems.append(problem)
                else:
                    present.append(spec.name)
            details["fields"] = present
    return CheckReport(ok=not problems, problems=problems, details=details)
