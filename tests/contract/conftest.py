"""The contract suite's subjects: one fixture per connector, starting its emulator (or in-memory system)
and yielding a `Subject` (see `kit.py`). A new connector joins with one more fixture here, decorated with
``@contract_subject("name", CORE | {...})``; every case of `test_connector_contract.py` then runs on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.ado import AdoConnector, AdoOptions
from connectors.contract import Scope, Write
from connectors.pwa import PwaConnector, PwaOptions
from connectors.pwa.auth import TokenAuth
from emulators.ado import AdoEmulator, HookPolicy
from emulators.planner import PlannerEmulator
from emulators.pwa import PwaEmulator
from tests.contract.kit import CORE, SUBJECTS, Subject, contract_subject, recording_sleep
from tests.support.memory_connector import MemoryConnector, MemorySystem
from tests.support.planner import Secrets, planner_connector


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each case runs for every subject that declares the capabilities it `requires`."""
    if "subject" in metafunc.fixturenames:
        needed = getattr(metafunc.function, "requires", frozenset())
        names = [name for name, offered in SUBJECTS.items() if needed <= offered]
        if not names:  # a case no connector can run would only be skipped: refuse it instead
            raise pytest.UsageError(f"{metafunc.function.__name__}: no subject declares {sorted(needed)}")
        metafunc.parametrize("subject", names, indirect=True)


@pytest.fixture
def subject(request: pytest.FixtureRequest) -> Subject:
    """The parametrised subject of a case (see `pytest_generate_tests` in the cases' module)."""
    chosen: Subject = request.getfixturevalue(f"{request.param}_subject")
    return chosen.fresh()


# --- the in-memory system (what the engine tests run on) -------------------------------------------


@contract_subject("memory", CORE)
def memory_subject() -> Iterator[Subject]:
    system = MemorySystem("mem")

    def reset() -> None:
        system.records.clear()
        system.throttle_next.clear()

    def seed(n: int) -> list[str]:
        return [system.add("P1", "Task", Title=f"seeded {i}").id for i in range(n)]

    def edit(item_id: str, text: str) -> None:
        system.edit(item_id, Title=text)

    yield Subject(
        name="memory",
        connect=lambda: MemoryConnector(system, page_size=2),
        entity="item",
        scope=Scope(containers=["P1"]),
        field="Title",
        new=lambda text: Write(container="P1", type="Task", fields={"Title": text}),
        seed=seed,
        edit=edit,
        throttle=lambda seconds: system.throttle_next.append(seconds),
        written=lambda item_id: system.records[item_id].fields.get("Title"),
        missing="mem-999999",
        reset=reset,
    )


# --- Azure DevOps Services and Server ------------------------------------------------------------

PAT = "contract-suite-pat-0123456789"


def ado_subject(flavor: str, options: AdoOptions, **emulator_options: Any) -> Iterator[Subject]:
    sleeps: list[float] = []
    with AdoEmulator(flavor, pat=PAT, hook_policy=HookPolicy.fast(), **emulator_options) as ado:  # type: ignore[arg-type]

        def connect() -> AdoConnector:
            return AdoConnector(
                f"ado_{flavor}", ado.base_url, options, get_secret=lambda: PAT, sleep=recording_sleep(sleeps)
            )

        def reset() -> None:
            ado.reset()
            ado.seed_project("Fabrikam")

        def seed(n: int) -> list[str]:
            start = datetime.now(UTC) - timedelta(days=1)
            ids = []
            for i in range(n):
                when = (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
                fields = {
                    "System.Title": f"seeded {i}",
                    "System.ChangedDate": when,
                    "System.CreatedDate": when,
                }
                ids.append(str(ado.seed_work_item("Fabrikam", "Task", fields)))
            return ids

        def edit(item_id: str, text: str) -> None:
            ado.state.update_work_item(int(item_id), {"System.Title": text}, by="bob.smith@contoso.com")

        def throttle(seconds: float) -> None:
            ado.faults.add(endpoint="wit.workitems.*", method="PATCH", status=429, retry_after=seconds)
            ado.faults.add(endpoint="wit.workitems.*", method="POST", status=429, retry_after=seconds)

        subject = Subject(
            name=f"ado_{flavor}",
            connect=connect,
            entity="workitem",
            scope=Scope(containers=["Fabrikam"]),
            field="System.Title",
            new=lambda text: Write(container="Fabrikam", type="Task", fields={"System.Title": text}),
            seed=seed,
            edit=edit,
            throttle=throttle,
            written=lambda item_id: ado.state.get(int(item_id)).fields.get("System.Title"),
            missing="999999",
            settle=lambda: ado.clock.advance(180),  # past the connector's poll overlap
            reset=reset,
            sleeps=sleeps,
        )
        yield subject
        if hasattr(subject, "connector"):
            subject.connector.close()  # type: ignore[attr-defined]


@contract_subject("ado_services", CORE)
def ado_services_subject() -> Iterator[Subject]:
    yield from ado_subject("services", AdoOptions(page_size=2))


@contract_subject("ado_server", CORE)
def ado_server_subject() -> Iterator[Subject]:
    yield from ado_subject("server", AdoOptions(deployment="server", page_size=2), max_api_version="6.0")


# --- Project Online / Project Server (PWA) ---------------------------------------------------------


PROJECT_ID = "a2a4d5f1-0000-4000-8000-00000000a901"


@contract_subject("pwa", CORE)
def pwa_subject() -> Iterator[Subject]:
    sleeps: list[float] = []
    with PwaEmulator("online", queue_delay=0.01, reporting_delay=0.05, project_data_page_size=2) as pwa:

        def connect() -> PwaConnector:
            return PwaConnector(
                "pwa",
                pwa.base_url,
                PwaOptions(queue_poll_seconds=0.01, time_zone="UTC"),
                auth=TokenAuth(lambda force=False: pwa.access_token),
                sleep=recording_sleep(sleeps),
            )

        project: dict[str, Any] = {}

        def reset() -> None:
            pwa.reset()
            pwa.configure(queue_delay=0.01, reporting_delay=0.05, project_data_page_size=2)
            pwa.seed_custom_field("Tandem Correlation", "text", entity="task")
            project["it"] = pwa.seed_project("Apollo", project_id=PROJECT_ID)

        def seed(n: int) -> list[str]:
            tasks = [pwa.seed_task(project["it"], f"seeded {i}", work="8h") for i in range(n)]
            return [f"{project['it'].id}:{t.id}" for t in tasks]

        def edit(item_id: str, text: str) -> None:
            pwa.edit_task(project["it"], item_id.split(":")[1], {"Name": text})

        def written(item_id: str) -> Any:
            return pwa.published_task(project["it"], item_id.split(":")[1])["Name"]

        def throttle(seconds: float) -> None:
            pwa.faults.add(endpoint="ps.*", method="POST", status=429, retry_after=seconds)

        yield Subject(
            name="pwa",
            connect=connect,
            entity="task",
            scope=Scope(containers=["Apollo"]),
            field="Name",
            new=lambda text: Write(container="Apollo", fields={"Name": text, "Work": 8}),
            seed=seed,
            edit=edit,
            throttle=throttle,
            written=written,
            missing=f"{PROJECT_ID}:00000000-0000-4000-8000-000000000000",
            settle=lambda: pwa.clock.advance(5),  # past the reporting feed's delay
            reset=reset,
            sleeps=sleeps,
        )


# --- Microsoft Planner (Graph v1.0): no change feed, versions listed per plan -----------------------


@contract_subject("planner", (CORE - {"changes"}) | {"version_listing"})
def planner_subject() -> Iterator[Subject]:
    sleeps: list[float] = []
    with PlannerEmulator(page_size=2) as planner:
        plan: dict[str, str] = {}
        secrets = Secrets({"planner-secret": planner.client_secret})  # refresh tokens rotate: one store

        def reset() -> None:
            planner.reset()
            planner.configure(page_size=2)
            plan["id"] = planner.seed_plan("Apollo", buckets=["To do"])
            subject.scope = Scope(containers=[plan["id"]])  # a new plan id after each reset

        def seed(n: int) -> list[str]:
            return [str(planner.seed_task(plan["id"], f"seeded {i}")["id"]) for i in range(n)]

        def edit(item_id: str, text: str) -> None:
            planner.edit_task(item_id, {"title": text})

        def throttle(seconds: float) -> None:
            for endpoint in ("planner.tasks.update", "planner.tasks.create"):
                planner.faults.add(endpoint=endpoint, status=429, retry_after=seconds)

        subject = Subject(
            name="planner",
            connect=lambda: planner_connector(planner, secrets=secrets, sleep=recording_sleep(sleeps)),
            entity="task",
            scope=Scope(),
            field="title",
            new=lambda text: Write(container=plan["id"], fields={"title": text}),
            seed=seed,
            edit=edit,
            throttle=throttle,
            written=lambda item_id: planner.task(item_id)["title"],
            missing="AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            reset=reset,
            sleeps=sleeps,
        )
        yield subject


# --- release pipelines (variable groups stand for the five entities: same client, same write path) -----


@contract_subject(
    "ado_pipelines",
    frozenset({"create_read", "stale_version", "throttling", "natural_key", "version_listing"}),
)
def ado_pipelines_subject() -> Iterator[Subject]:
    from connectors.ado_pipelines.connector import VARIABLE_GROUP, PipelinesConnector

    sleeps: list[float] = []
    with AdoEmulator("services", pat=PAT) as ado:
        project: dict[str, Any] = {}

        def connect() -> PipelinesConnector:
            inner = AdoConnector(
                "ado_pipelines",
                ado.base_url,
                AdoOptions(),
                get_secret=lambda: PAT,
                sleep=recording_sleep(sleeps),
            )
            return PipelinesConnector(inner, "Fabrikam")

        def reset() -> None:
            ado.reset()
            project["it"] = ado.seed_project("Fabrikam")

        def body(name: str) -> dict[str, Any]:
            reference = {"projectReference": {"id": project["it"].id, "name": "Fabrikam"}, "name": name}
            return {
                "name": name,
                "type": "Vsts",
                "description": name,
                "variables": {"Region": {"value": "westeurope"}},
                "variableGroupProjectReferences": [reference],
            }

        by = {"displayName": "Ann Chen", "uniqueName": "ann.chen@contoso.com"}

        def seed(n: int) -> list[str]:
            return [str(ado.pipelines.create_variable_group(body(f"seeded {i}"), by)["id"]) for i in range(n)]

        def edit(item_id: str, text: str) -> None:
            ado.clock.advance(1)  # a person's save comes later than ours
            current = ado.pipelines.variable_group(int(item_id))
            ado.pipelines.update_variable_group(int(item_id), {**current, "description": text}, by)

        def throttle(seconds: float) -> None:
            ado.faults.add(
                endpoint="distributedtask.variablegroups.*", method="PUT", status=429, retry_after=seconds
            )

        yield Subject(
            name="ado_pipelines",
            connect=connect,
            entity=VARIABLE_GROUP,
            scope=Scope(containers=["Fabrikam"]),
            field="description",
            new=lambda text: Write(container="Fabrikam", fields=body(text)),
            seed=seed,
            edit=edit,
            throttle=throttle,
            written=lambda item_id: ado.pipelines.variable_group(int(item_id))["description"],
            missing="999999",
            reset=reset,
            sleeps=sleeps,
            listing_pages=False,  # ADO answers the project's variable groups in one page
        )
