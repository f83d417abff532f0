"""ADO setup helpers for a scenario's custom work item fields ("Sync with Project Online", "Project Online
Project"): verify each exists with its type. Creating them in a project's inherited process
(`_apis/work/processes/...`) is not automated yet: a missing field is reported with the steps to add it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.contract import CheckReport, FieldsSetupReport
from connectors.errors import ConnectorError

if TYPE_CHECKING:
    from connectors.ado.connector import AdoConnector

DEFAULT_TYPES = ("Bug", "Task", "Epic", "Feature", "Issue", "Test Case", "User Story")
_TYPE_NAMES = {"boolean": "Boolean", "string": "Text (single line)", "text": "Text (multiple lines)"}


class AdoFieldSpec(BaseModel):
    """One custom work item field a scenario needs on the listed work item types."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str = "string"  # the hub's field types: string, text, html, integer, double, boolean, datetime
    reference_name: str | None = None  # default: Custom.<name without spaces>, as ADO derives it
    types: list[str] = Field(default_factory=lambda: list(DEFAULT_TYPES))

    @property
    def ref(self) -> str:
        return self.reference_name or "Custom." + re.sub(r"[^A-Za-z0-9_]", "", self.name)

    def describe(self) -> str:
        return f"'{self.name}' ({self.ref}, {_TYPE_NAMES.get(self.type, self.type)})"


def _how_to_add(spec: AdoFieldSpec) -> str:
    return (
        f"add it to {', '.join(spec.types)} of the projects' inherited process (Organization settings → "
        f"Boards → Process → the inherited process → each type → New field: name '{spec.name}', type "
        f"{_TYPE_NAMES.get(spec.type, spec.type)}); on Azure DevOps Server with an XML process, add it with "
        "witadmin importwitd"
    )


def _check_fields(conn: AdoConnector, specs: list[AdoFieldSpec]) -> tuple[list[str], list[str], list[str]]:
    """(present, missing descriptions, problems) of `specs` against the organization's fields."""
    conn._field_specs = None  # re-read: a person may just have added them
    fields = conn.list_fields()
    by_key = {f.name.lower(): f for f in fields} | {f.label.lower(): f for f in fields if f.label}
    present: list[str] = []
    missing: list[str] = []
    problems: list[str] = []
    for spec in specs:
        found = by_key.get(spec.ref.lower()) or by_key.get(spec.name.lower())
        if found is None:
            missing.append(spec.name)
            problems.append(f"field {spec.describe()} is missing: {_how_to_add(spec)}")
        elif found.type != spec.type:
            problems.append(
                f"field '{spec.name}' ({found.name}) is of type {found.type}, the scenario needs "
                f"{spec.type}: create a field of the right type and name it in the scenario's field map"
            )
        else:
            present.append(spec.name)
    return present, missing, problems


def parse_specs(specs: Sequence[dict[str, Any]]) -> list[AdoFieldSpec]:
    return [AdoFieldSpec.model_validate(dict(s)) for s in specs]


def ensure_fields(conn: AdoConnector, specs: Sequence[dict[str, Any]]) -> FieldsSetupReport:
    present, _, problems = _check_fields(conn, parse_specs(specs))
    return FieldsSetupReport(existing=present, problems=problems)


def verify_fields(conn: AdoConnector, specs: Sequence[dict[str, Any]]) -> CheckReport:
    report = conn.check()
    if not report.ok:
        return report
    details = dict(report.details)
    try:
        present, _, problems = _check_fields(conn, parse_specs(specs))
    except ConnectorError as exc:
        problem = f"the work item fields cannot be listed: {exc}"
        return CheckReport(ok=False, problems=[problem], details=details)
    details["fields"] = present
    return CheckReport(ok=not problems, problems=problems, details=details)
