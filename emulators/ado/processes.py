"""Work item metadata of the emulated organization: field definitions and the system processes
(Agile, Scrum, CMMI, Basic) with their work item types, states and default values."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

FieldKind = Literal[
    "string",
    "integer",
    "double",
    "dateTime",
    "html",
    "plainText",
    "treePath",
    "history",
    "boolean",
    "identity",
]

# Real process type ids (reference §5); project capabilities report them.
PROCESS_TYPE_IDS: dict[str, str] = {
    "Agile": "adcc42ab-9882-485e-a3ed-7678f01f66bc",
    "Scrum": "6b724908-ef14-45cf-84f8-768b5384da45",
    "CMMI": "27450541-8e31-4150-9947-dc59f998fc01",
    "Basic": "b8a3a935-7e91-48b8-a94c-606d37c3e9f2",
}

_OPS = {
    "=": "SupportedOperations.Equals",
    "<>": "SupportedOperations.NotEquals",
    ">": "SupportedOperations.GreaterThan",
    "<": "SupportedOperations.LessThan",
    ">=": "SupportedOperations.GreaterThanEquals",
    "<=": "SupportedOperations.LessThanEquals",
    "In": "SupportedOperations.In",
    "Contains": "SupportedOperations.Contains",
    "Under": "SupportedOperations.Under",
    "Not Under": "SupportedOperations.NotUnder",
}


@dataclass(frozen=True)
class FieldDef:
    """A work item field. `rules_read_only` fields can only be written with ``bypassRules=true``;
    `system` fields (Id, Rev, Parent) never."""

    ref: str
    name: str
    kind: FieldKind
    rules_read_only: bool = False
    system: bool = False
    description: str = ""
    # Created over REST (`POST _apis/wit/fields`): valid only on the work item types of an inherited
    # process it has been added to, as in ADO. Fields seeded through the control API are valid everywhere.
    scoped: bool = False

    @property
    def wire_type(self) -> str:
        return "string" if self.kind == "identity" else self.kind

    @property
    def is_identity(self) -> bool:
        return self.kind == "identity"

    @property
    def is_date(self) -> bool:
        return self.kind == "dateTime"

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("integer", "double")

    def supported_operations(self) -> list[dict[str, str]]:
        if self.kind == "treePath":
            names = ["Under", "Not Under", "=", "<>", "In"]
        elif self.kind in ("html", "plainText", "history"):
            names = ["Contains"]
        elif self.kind in ("integer", "double", "dateTime"):
            names = ["=", "<>", ">", "<", ">=", "<=", "In"]
        else:
            names = ["=", "<>", ">", "<", ">=", "<=", "In", "Contains"]
        return [{"referenceName": _OPS[n], "name": n} for n in names]


_CORE_FIELDS: list[FieldDef] = [
    FieldDef("System.Id", "ID", "integer", system=True),
    FieldDef("System.Rev", "Rev", "integer", system=True),
    FieldDef("System.Parent", "Parent", "integer", system=True),
    FieldDef("System.Title", "Title", "string"),
    FieldDef("System.Description", "Description", "html"),
    FieldDef("System.State", "State", "string"),
    FieldDef("System.Reason", "Reason", "string"),
    FieldDef("System.AssignedTo", "Assigned To", "identity"),
    FieldDef("System.CreatedDate", "Created Date", "dateTime", rules_read_only=True),
    FieldDef("System.CreatedBy", "Created By", "identity", rules_read_only=True),
    FieldDef("System.ChangedDate", "Changed Date", "dateTime", rules_read_only=True),
    FieldDef("System.ChangedBy", "Changed By", "identity", rules_read_only=True),
    FieldDef("System.TeamProject", "Team Project", "string"),
    FieldDef("System.WorkItemType", "Work Item Type", "string"),
    FieldDef("System.AreaPath", "Area Path", "treePath"),
    FieldDef("System.IterationPath", "Iteration Path", "treePath"),
    FieldDef("System.Tags", "Tags", "plainText"),
    FieldDef("System.History", "History", "history"),
    FieldDef("Microsoft.VSTS.Common.Priority", "Priority", "integer"),
    FieldDef("Microsoft.VSTS.Common.Severity", "Severity", "string"),
    FieldDef("Microsoft.VSTS.Common.ValueArea", "Value Area", "string"),
    FieldDef("Microsoft.VSTS.Common.Activity", "Activity", "string"),
    FieldDef("Microsoft.VSTS.Common.Risk", "Risk", "string"),
    FieldDef("Microsoft.VSTS.Common.BusinessValue", "Business Value", "integer"),
    FieldDef("Microsoft.VSTS.Common.AcceptanceCriteria", "Acceptance Criteria", "html"),
    FieldDef("Microsoft.VSTS.Common.StateChangeDate", "State Change Date", "dateTime", rules_read_only=True),
    FieldDef("Microsoft.VSTS.Common.ActivatedDate", "Activated Date", "dateTime", rules_read_only=True),
    FieldDef("Microsoft.VSTS.Common.ActivatedBy", "Activated By", "identity", rules_read_only=True),
    FieldDef("Microsoft.VSTS.Common.ClosedDate", "Closed Date", "dateTime", rules_read_only=True),
    FieldDef("Microsoft.VSTS.Common.ClosedBy", "Closed By", "identity", rules_read_only=True),
    FieldDef("Microsoft.VSTS.Scheduling.RemainingWork", "Remaining Work", "double"),
    FieldDef("Microsoft.VSTS.Scheduling.CompletedWork", "Completed Work", "double"),
    FieldDef("Microsoft.VSTS.Scheduling.OriginalEstimate", "Original Estimate", "double"),
    FieldDef("Microsoft.VSTS.Scheduling.StoryPoints", "Story Points", "double"),
    FieldDef("Microsoft.VSTS.Scheduling.Effort", "Effort", "double"),
    FieldDef("Microsoft.VSTS.Scheduling.StartDate", "Start Date", "dateTime"),
    FieldDef("Microsoft.VSTS.Scheduling.FinishDate", "Finish Date", "dateTime"),
    FieldDef("Microsoft.VSTS.Scheduling.TargetDate", "Target Date", "dateTime"),
    FieldDef("Microsoft.VSTS.Scheduling.DueDate", "Due Date", "dateTime"),
    FieldDef("Microsoft.VSTS.TCM.ReproSteps", "Repro Steps", "html"),
    FieldDef("Microsoft.VSTS.TCM.SystemInfo", "System Info", "html"),
]

BUILTIN_FIELD_REFS: frozenset[str] = frozenset(d.ref for d in _CORE_FIELDS)


class FieldRegistry:
    """All fields of the organization, found by reference name or display name (case-insensitive)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, FieldDef] = {}
        self._ordered: list[FieldDef] = []
        for definition in _CORE_FIELDS:
            self.add(definition)

    def add(self, definition: FieldDef) -> FieldDef:
        with self._lock:
            existing = self._by_key.get(definition.ref.lower())
            if existing is not None:
                return existing
            self._ordered.append(definition)
            self._by_key[definition.ref.lower()] = definition
            self._by_key.setdefault(definition.name.lower(), definition)
        return definition

    def find(self, key: str) -> FieldDef | None:
        return self._by_key.get(key.strip().lower())

    def all(self) -> list[FieldDef]:
        with self._lock:
            return list(self._ordered)


@dataclass(frozen=True)
class StateDef:
    name: str
    category: str  # Proposed | InProgress | Resolved | Completed | Removed
    color: str


_CATEGORY_COLORS = {
    "Proposed": "b2b2b2",
    "InProgress": "007acc",
    "Resolved": "ff9d00",
    "Completed": "339933",
    "Removed": "ffffff",
}


def _states(*pairs: tuple[str, str]) -> tuple[StateDef, ...]:
    return tuple(StateDef(name, category, _CATEGORY_COLORS[category]) for name, category in pairs)


@dataclass(frozen=True)
class WorkItemTypeDef:
    name: str
    reference_name: str
    description: str
    color: str
    icon: str
    states: tuple[StateDef, ...]
    initial_reason: str = "New"
    extra_fields: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def initial_state(self) -> str:
        return self.states[0].name

    def state(self, name: str) -> StateDef | None:
        lowered = name.lower()
        return next((s for s in self.states if s.name.lower() == lowered), None)


_AGILE_FULL = _states(
    ("New", "Proposed"), ("Active", "InProgress"), ("Resolved", "Resolved"), ("Closed", "Completed"),
    ("Removed", "Removed"),
)  # fmt: skip
_AGILE_TASK = _states(
    ("New", "Proposed"), ("Active", "InProgress"), ("Closed", "Completed"), ("Removed", "Removed")
)
_AGILE_BUG = _states(
    ("New", "Proposed"), ("Active", "InProgress"), ("Resolved", "Resolved"), ("Closed", "Completed")
)
_ISSUE = _states(("Active", "InProgress"), ("Closed", "Completed"))
_SCRUM_PORTFOLIO = _states(
    ("New", "Proposed"), ("In Progress", "InProgress"), ("Done", "Completed"), ("Removed", "Removed")
)
_SCRUM_BACKLOG = _states(
    ("New", "Proposed"), ("Approved", "Proposed"), ("Committed", "InProgress"), ("Done", "Completed"),
    ("Removed", "Removed"),
)  # fmt: skip
_SCRUM_TASK = _states(
    ("To Do", "Proposed"), ("In Progress", "InProgress"), ("Done", "Completed"), ("Removed", "Removed")
)
_BASIC = _states(("To Do", "Proposed"), ("Doing", "InProgress"), ("Done", "Completed"))
_CMMI = _states(
    ("Proposed", "Proposed"), ("Active", "InProgress"), ("Resolved", "Resolved"), ("Closed", "Completed")
)

_PORTFOLIO_FIELDS = (
    "Microsoft.VSTS.Common.ValueArea", "Microsoft.VSTS.Common.Risk", "Microsoft.VSTS.Common.BusinessValue",
    "Microsoft.VSTS.Scheduling.StartDate", "Microsoft.VSTS.Scheduling.TargetDate",
    "Microsoft.VSTS.Scheduling.Effort",
)  # fmt: skip
_TASK_FIELDS = (
    "Microsoft.VSTS.Common.Activity", "Microsoft.VSTS.Scheduling.RemainingWork",
    "Microsoft.VSTS.Scheduling.OriginalEstimate", "Microsoft.VSTS.Scheduling.CompletedWork",
    "Microsoft.VSTS.Scheduling.StartDate", "Microsoft.VSTS.Scheduling.FinishDate",
)  # fmt: skip
_BUG_FIELDS = (
    "Microsoft.VSTS.TCM.ReproSteps", "Microsoft.VSTS.TCM.SystemInfo", "Microsoft.VSTS.Common.Severity",
    "Microsoft.VSTS.Scheduling.StoryPoints", *_TASK_FIELDS,
)  # fmt: skip
_STORY_FIELDS = (
    "Microsoft.VSTS.Scheduling.StoryPoints", "Microsoft.VSTS.Common.AcceptanceCriteria",
    "Microsoft.VSTS.Common.ValueArea", "Microsoft.VSTS.Common.Risk", "Microsoft.VSTS.Scheduling.StartDate",
    "Microsoft.VSTS.Scheduling.TargetDate",
)  # fmt: skip

_P2 = {"Microsoft.VSTS.Common.Priority": 2}
_P2_BUSINESS = {"Microsoft.VSTS.Common.Priority": 2, "Microsoft.VSTS.Common.ValueArea": "Business"}
_BUG_DEFAULTS = {**_P2, "Microsoft.VSTS.Common.Severity": "3 - Medium"}


def _wit(name: str, color: str, icon: str, states: tuple[StateDef, ...], **kw: Any) -> WorkItemTypeDef:
    ref = "Microsoft.VSTS.WorkItemTypes." + name.replace(" ", "")
    return WorkItemTypeDef(
        name=name,
        reference_name=ref,
        description=f"Tracks a {name.lower()}.",
        color=color,
        icon=icon,
        states=states,
        **kw,
    )


_EPIC = _wit(
    "Epic", "FF7B00", "icon_crown", _AGILE_FULL, extra_fields=_PORTFOLIO_FIELDS, defaults=_P2_BUSINESS
)
_FEATURE = _wit(
    "Feature", "773B93", "icon_trophy", _AGILE_FULL, extra_fields=_PORTFOLIO_FIELDS, defaults=_P2_BUSINESS
)

PROCESSES: dict[str, dict[str, WorkItemTypeDef]] = {
    "Agile": {
        t.name: t
        for t in (
            _EPIC,
            _FEATURE,
            _wit(
                "User Story",
                "009CCC",
                "icon_book",
                _AGILE_FULL,
                extra_fields=_STORY_FIELDS,
                defaults=_P2_BUSINESS,
            ),
            _wit("Task", "F2CB1D", "icon_clipboard", _AGILE_TASK, extra_fields=_TASK_FIELDS, defaults=_P2),
            _wit(
                "Bug",
                "CC293D",
                "icon_insect",
                _AGILE_BUG,
                extra_fields=_BUG_FIELDS,
                defaults={**_BUG_DEFAULTS, "Microsoft.VSTS.Common.ValueArea": "Business"},
                initial_reason="New defect reported",
            ),
            _wit(
                "Issue",
                "B4009E",
                "icon_traffic_cone",
                _ISSUE,
                extra_fields=("Microsoft.VSTS.Scheduling.DueDate",),
            ),
        )
    },
    "Scrum": {
        t.name: t
        for t in (
            _wit(
                "Epic",
                "FF7B00",
                "icon_crown",
                _SCRUM_PORTFOLIO,
                extra_fields=_PORTFOLIO_FIELDS,
                defaults=_P2_BUSINESS,
            ),
            _wit(
                "Feature",
                "773B93",
                "icon_trophy",
                _SCRUM_PORTFOLIO,
                extra_fields=_PORTFOLIO_FIELDS,
                defaults=_P2_BUSINESS,
            ),
            _wit(
                "Product Backlog Item",
                "009CCC",
                "icon_list",
                _SCRUM_BACKLOG,
                extra_fields=(
                    "Microsoft.VSTS.Scheduling.Effort",
                    "Microsoft.VSTS.Common.BusinessValue",
                    "Microsoft.VSTS.Common.ValueArea",
                    "Microsoft.VSTS.Common.AcceptanceCriteria",
                ),
                defaults=_P2_BUSINESS,
                initial_reason="New backlog item",
            ),
            _wit(
                "Task",
                "F2CB1D",
                "icon_clipboard",
                _SCRUM_TASK,
                initial_reason="New task",
                extra_fields=("Microsoft.VSTS.Common.Activity", "Microsoft.VSTS.Scheduling.RemainingWork"),
            ),
            _wit(
                "Bug",
                "CC293D",
                "icon_insect",
                _SCRUM_BACKLOG,
                extra_fields=_BUG_FIELDS,
                defaults=_BUG_DEFAULTS,
                initial_reason="New defect reported",
            ),
            _wit(
                "Impediment",
                "B4009E",
                "icon_traffic_cone",
                _states(("Open", "InProgress"), ("Closed", "Completed")),
            ),
        )
    },
    "CMMI": {
        t.name: t
        for t in (
            _wit("Epic", "FF7B00", "icon_crown", _CMMI, extra_fields=_PORTFOLIO_FIELDS, defaults=_P2),
            _wit("Feature", "773B93", "icon_trophy", _CMMI, extra_fields=_PORTFOLIO_FIELDS, defaults=_P2),
            _wit("Requirement", "009CCC", "icon_book", _CMMI, extra_fields=_STORY_FIELDS, defaults=_P2),
            _wit("Task", "F2CB1D", "icon_clipboard", _CMMI, extra_fields=_TASK_FIELDS, defaults=_P2),
            _wit("Bug", "CC293D", "icon_insect", _CMMI, extra_fields=_BUG_FIELDS, defaults=_BUG_DEFAULTS),
            _wit("Change Request", "4F9FF0", "icon_chart", _CMMI, defaults=_P2),
            _wit(
                "Issue",
                "B4009E",
                "icon_traffic_cone",
                _states(("Active", "InProgress"), ("Closed", "Completed")),
            ),
            _wit("Risk", "5688E0", "icon_gavel", _states(("Active", "InProgress"), ("Closed", "Completed"))),
            _wit(
                "Review", "5688E0", "icon_review", _states(("Active", "InProgress"), ("Closed", "Completed"))
            ),
        )
    },
    "Basic": {
        t.name: t
        for t in (
            _wit("Epic", "FF7B00", "icon_crown", _BASIC, extra_fields=_PORTFOLIO_FIELDS, defaults=_P2),
            _wit(
                "Issue",
                "009CCC",
                "icon_clipboard",
                _BASIC,
                extra_fields=("Microsoft.VSTS.Scheduling.Effort",),
                defaults=_P2,
            ),
            _wit("Task", "F2CB1D", "icon_clipboard", _BASIC, extra_fields=_TASK_FIELDS, defaults=_P2),
        )
    },
}

CORE_TYPE_FIELDS: tuple[str, ...] = (
    "System.Id", "System.Rev", "System.Title", "System.Description", "System.State", "System.Reason",
    "System.AssignedTo", "System.CreatedDate", "System.CreatedBy", "System.ChangedDate", "System.ChangedBy",
    "System.TeamProject", "System.WorkItemType", "System.AreaPath", "System.IterationPath", "System.Tags",
    "System.History", "System.Parent", "Microsoft.VSTS.Common.Priority",
    "Microsoft.VSTS.Common.StateChangeDate", "Microsoft.VSTS.Common.ActivatedDate",
    "Microsoft.VSTS.Common.ActivatedBy", "Microsoft.VSTS.Common.ClosedDate", "Microsoft.VSTS.Common.ClosedBy",
)  # fmt: skip


@dataclass
class ProcessDef:
    """A process of the organization: one of the four system processes (read-only) or an inherited one
    derived from a system process, with its customizations."""

    type_id: str
    name: str
    parent: str  # the system process whose work item types it has (its own name for a system process)
    customization: Literal["system", "inherited"] = "system"
    reference_name: str | None = None
    description: str = ""
    derived: dict[str, str] = field(default_factory=dict)  # system WIT name -> inherited WIT ref name
    type_fields: dict[str, list[str]] = field(default_factory=dict)  # WIT name -> field refs added

    @property
    def is_system(self) -> bool:
        return self.customization == "system"

    @property
    def parent_type_id(self) -> str:
        return "00000000-0000-0000-0000-000000000000" if self.is_system else PROCESS_TYPE_IDS[self.parent]

    def wit_reference(self, wit: WorkItemTypeDef) -> str:
        return self.derived.get(wit.name, wit.reference_name)

    def find_wit(self, key: str) -> WorkItemTypeDef | None:
        """A work item type of this process by name or by (system or inherited) reference name."""
        lowered = key.strip().lower()
        for wit in PROCESSES[self.parent].values():
            if lowered in (wit.name.lower(), wit.reference_name.lower(), self.wit_reference(wit).lower()):
                return wit
        return None


def system_processes() -> dict[str, ProcessDef]:
    return {
        type_id: ProcessDef(type_id=type_id, name=name, parent=name, description=f"The {name} process.")
        for name, type_id in PROCESS_TYPE_IDS.items()
    }


def find_process(name: str) -> str:
    for known in PROCESSES:
        if known.lower() == name.lower():
            return known
    raise ValueError(f"unknown process {name!r}; expected one of {', '.join(PROCESSES)}")


_KIND_NAMES: dict[str, FieldKind] = {
    "string": "string",
    "integer": "integer",
    "double": "double",
    "datetime": "dateTime",
    "html": "html",
    "plaintext": "plainText",
    "boolean": "boolean",
    "identity": "identity",
    "treepath": "treePath",
}


def parse_field_kind(type_name: str) -> FieldKind:
    """A field type as the REST API names it (``dateTime``, ``plainText``…; case-insensitive)."""
    kind = _KIND_NAMES.get(type_name.strip().lower())
    if kind is None:
        raise ValueError(
            f"unknown field type {type_name!r}; expected one of {', '.join(_KIND_NAMES.values())}"
        )
    return kind
