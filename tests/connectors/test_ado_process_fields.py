"""AdoConnector "Create fields" against the ADO emulator: the scenario's custom fields go to the listed
types of the projects' inherited process (organization field, inherited type, field on type); system
processes are refused with the steps; a second run creates nothing; verify reports per type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.ado import AdoConnector
from connectors.contract import Write
from emulators.ado import AdoEmulator, HookPolicy

PAT = "emulator-process-pat-0123456789"
FIELDS = [("Sync with Project Online", "boolean"), ("Project Online Project", "string")]
TYPES = ["Bug", "Task", "Epic", "Feature", "Issue", "Test Case", "User Story"]
SPECS = [{"name": n, "type": t, "types": TYPES} for n, t in FIELDS]


@pytest.fixture(scope="module")
def emulator() -> Iterator[AdoEmulator]:
    with AdoEmulator("services", pat=PAT, hook_policy=HookPolicy.fast()) as ado:
        yield ado


@pytest.fixture
def ado(emulator: AdoEmulator) -> AdoEmulator:
    emulator.reset()
    emulator.seed_process("Agile-Tandem", "Agile")
    emulator.seed_project("Fabrikam", "Agile-Tandem")
    emulator.seed_project("Legacy", "Agile")
    return emulator


@pytest.fixture
def connector(ado: AdoEmulator) -> Iterator[AdoConnector]:
    with AdoConnector("ado_services", ado.base_url, get_secret=lambda: PAT, sleep=lambda _: None) as c:
        yield c


def test_creates_the_fields_on_the_inherited_process(ado: AdoEmulator, connector: AdoConnector) -> None:
    report = connector.ensure_process_fields("Fabrikam", FIELDS, TYPES)
    assert report.process == "Agile-Tandem"
    assert not report.problems
    assert "field 'Sync with Project Online' (Custom.SyncwithProjectOnline, Boolean)" in report.created
    assert "inherited type 'Bug' in process 'Agile-Tandem'" in report.created
    assert "'Project Online Project' on User Story" in report.created
    # the emulated Agile has no Test Case: skipped with a note, not an error
    assert report.notes == ["process 'Agile-Tandem' has no work item type 'Test Case'; skipped"]
    assert {f.name: f.type for f in connector.list_fields()}["Custom.SyncwithProjectOnline"] == "boolean"

    (result,) = connector.write(
        "workitem",
        [
            Write(
                container="Fabrikam",
                type="Bug",
                fields={
                    "System.Title": "flagged",
                    "Custom.SyncwithProjectOnline": True,
                    "Custom.ProjectOnlineProject": "Apollo",
                },
            )
        ],
    )
    assert result.ok, result
    assert result.item is not None and result.item.fields["Custom.ProjectOnlineProject"] == "Apollo"


def test_second_run_creates_nothing(ado: AdoEmulator, connector: AdoConnector) -> None:
    connector.ensure_process_fields("Fabrikam", FIELDS, TYPES)
    writes = ("wit.fields.create", "work.processes.workitemtypes.create", "work.processes.fields.add")
    before = [ado.counters.calls(name) for name in writes]
    assert before == [2, 6, 12]
    again = connector.ensure_process_fields("Fabrikam", FIELDS, TYPES)
    assert again.created == [] and not again.problems
    assert "'Sync with Project Online' on Bug" in again.existing
    assert len(again.existing) == 2 * 6  # two fields on the six types the process has
    assert [ado.counters.calls(name) for name in writes] == before


def test_a_system_process_is_refused_with_the_steps(ado: AdoEmulator, connector: AdoConnector) -> None:
    report = connector.ensure_process_fields("Legacy", FIELDS, TYPES)
    assert report.created == []
    (problem,) = report.problems
    assert "project 'Legacy' uses the system process 'Agile'" in problem
    assert "Create inherited process" in problem
    names = {f.name for f in connector.list_fields()}
    assert "Custom.SyncwithProjectOnline" not in names  # nothing was created on the way


def test_unknown_project_is_a_problem(connector: AdoConnector) -> None:
    report = connector.ensure_process_fields("Nope", FIELDS, TYPES)
    assert report.problems and "project 'Nope' does not exist" in report.problems[0]


def test_setup_fields_and_verify_for_a_scenario(ado: AdoEmulator, connector: AdoConnector) -> None:
    only_fabrikam = [{**s, "projects": ["Fabrikam"]} for s in SPECS]
    before = connector.verify_fields(only_fabrikam)
    assert not before.ok and any("is missing" in p for p in before.problems)

    done = connector.ensure_fields(only_fabrikam)
    assert not done.problems and done.created
    assert done.notes == ["process 'Agile-Tandem' has no work item type 'Test Case'; skipped"]
    after = connector.verify_fields(only_fabrikam)
    assert after.ok, after.problems
    assert after.details["fields"] == ["Sync with Project Online", "Project Online Project"]
    assert "process 'Agile-Tandem' has no work item type 'Test Case'; not checked" in after.details["notes"]

    # every visible project: Legacy (system Agile) is named with what to do; Fabrikam is done already
    everywhere = connector.ensure_fields(SPECS)
    assert everywhere.created == []
    assert (
        len(everywhere.problems) == 1 and "'Legacy' uses the system process 'Agile'" in everywhere.problems[0]
    )
    verified = connector.verify_fields(SPECS)
    assert not verified.ok and any("Legacy" in p for p in verified.problems)


def test_verify_reports_each_type_lacking_a_field(ado: AdoEmulator, connector: AdoConnector) -> None:
    connector.ensure_process_fields("Fabrikam", FIELDS, ["Bug"])
    report = connector.verify_fields([{**s, "projects": ["Fabrikam"]} for s in SPECS])
    assert not report.ok
    lacking = [p for p in report.problems if "lacks" in p]
    assert any(p.startswith("work item type 'Task' of process 'Agile-Tandem'") for p in lacking)
    assert not any("type 'Bug'" in p for p in lacking)
