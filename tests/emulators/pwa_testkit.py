"""Helpers for the PWA emulator tests: a fast-running emulator, REST clients per JSON shape (with a form
digest), queue waiting, a seeded sync scenario, and a reader of the ProjectServer ``$metadata`` (CSDL)
in ``specs/pwa`` (copied into the repository) to check entity shapes against."""

from __future__ import annotations

import re
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from emulators.pwa import PwaEmulator  # noqa: E402
from emulators.pwa.model import CustomField, LookupTable, Project, Resource, TaskData  # noqa: E402

SPECS_DIR = REPO_ROOT / "specs" / "pwa"
SPO_METADATA = SPECS_DIR / "ps-metadata-spo-2024-09.csdl.xml"
SP2019_METADATA = SPECS_DIR / "ps-metadata-sp2019.csdl.xml"
ACCEPT = {
    "verbose": "application/json;odata=verbose",
    "nometadata": "application/json;odata=nometadata",
    "minimal": "application/json;odata=minimal",
}


@contextmanager
def running(flavor: str = "online", **options: Any) -> Iterator[PwaEmulator]:
    options.setdefault("queue_delay", 0.02)
    options.setdefault("reporting_delay", 0.1)
    emulator = PwaEmulator(flavor, **options)  # type: ignore[arg-type]
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def client(
    pwa: PwaEmulator, kind: str = "nometadata", *, user: str | None = None, digest: bool = True
) -> httpx.Client:
    """A client rooted at ``{site}/_api/`` sending `kind` JSON, authenticated, with a live form digest."""
    c = httpx.Client(
        base_url=f"{pwa.base_url}/_api/",
        headers={**pwa.auth_header(user), "Accept": ACCEPT[kind]},
        timeout=10,
    )
    if digest:
        response = c.post("contextinfo")
        response.raise_for_status()
        body = response.json()
        value = (
            body["d"]["GetContextWebInformation"]["FormDigestValue"]
            if kind == "verbose"
            else body["FormDigestValue"]
        )
        c.headers["X-RequestDigest"] = value
    return c


def ps(project: Project | str, rest: str = "") -> str:
    pid = project.id if isinstance(project, Project) else project
    return f"ProjectServer/Projects('{pid}'){rest}"


def hex32(guid: str) -> str:
    return guid.replace("-", "")


def wait_job(c: httpx.Client, project_id: str, job_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll a queue job until it ends (Success, Failed, Canceled) or `timeout`; returns the last QueueJob."""
    deadline = time.monotonic() + timeout
    while True:
        job = c.get(ps(project_id, f"/QueueJobs('{job_id}')")).json()
        job = job.get("d", job)
        if job["JobState"] in (4, 5, 9) or time.monotonic() > deadline:
            return job
        time.sleep(0.01)


@dataclass
class Scenario:
    types: LookupTable
    flag: CustomField
    wit: CustomField
    vsts: CustomField
    ann: Resource
    bob: Resource
    project: Project
    phase: TaskData
    build: TaskData
    test: TaskData


def seed_scenario(pwa: PwaEmulator) -> Scenario:
    """The PWA side of the PWA ↔ ADO scenario: flag/type/project fields, two resources, a project with a
    summary task and two leaf tasks (one flagged, assigned to Ann)."""
    types = pwa.seed_lookup_table("Work Item Types", ["Bug", "Task", "User Story"])
    flag = pwa.seed_custom_field("Sync with VSTS", "flag", entity="task")
    wit = pwa.seed_custom_field("Work Item Type", "text", entity="task", lookup_table=types)
    vsts = pwa.seed_custom_field("VSTS Project", "text", entity="project")
    ann = pwa.seed_resource("Ann Chen", "ann.chen@contoso.com")
    bob = pwa.seed_resource("Bob Stone", "bob.stone@contoso.com")
    project = pwa.seed_project(
        "Apollo", custom_fields={"VSTS Project": "Fabrikam"}, start="2026-11-02T08:00:00"
    )
    phase = pwa.seed_task(project, "Phase 1")
    build = pwa.seed_task(
        project,
        "Build",
        parent=phase,
        duration="3d",
        work="24h",
        custom_fields={"Sync with VSTS": True, "Work Item Type": "Bug"},
        assignments=["ann.chen@contoso.com"],
    )
    test = pwa.seed_task(project, "Test", parent=phase, duration="2d", work="16h")
    return Scenario(types, flag, wit, vsts, ann, bob, project, phase, build, test)


# --- $metadata -------------------------------------------------------------------------------------

_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?$")
_TIME = re.compile(r"^P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


@dataclass
class EdmType:
    name: str
    open_type: bool
    properties: dict[str, str]
    navigation: set[str]


@cache
def metadata(path: Path = SPO_METADATA) -> dict[str, EdmType]:
    """Entity and complex types of a CSDL file with base types flattened, keyed by ``Namespace.Name``."""
    root = ET.parse(path).getroot()
    raw: dict[str, ET.Element] = {}
    for schema in root.iter(f"{_EDM}Schema"):
        for element in schema:
            if element.tag in (f"{_EDM}EntityType", f"{_EDM}ComplexType"):
                raw[f"{schema.get('Namespace')}.{element.get('Name')}"] = element

    def build(name: str) -> EdmType:
        element = raw[name]
        props: dict[str, str] = {}
        navs: set[str] = set()
        open_type = element.get("OpenType") == "true"
        base = element.get("BaseType")
        if base:
            parent = build(base)
            props.update(parent.properties)
            navs |= parent.navigation
            open_type = open_type or parent.open_type
        for prop in element.findall(f"{_EDM}Property"):
            props[prop.get("Name", "")] = prop.get("Type", "")
        for nav in element.findall(f"{_EDM}NavigationProperty"):
            navs.add(nav.get("Name", ""))
        return EdmType(name, open_type, props, navs)

    return {name: build(name) for name in raw}


def _matches(edm: str, value: Any) -> bool:
    if value is None:
        return True  # nullable or not, an unset value may be null
    if edm == "Edm.Boolean":
        return isinstance(value, bool)
    if edm in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"):
        return isinstance(value, int) and not isinstance(value, bool)
    if edm in ("Edm.Double", "Edm.Decimal", "Edm.Single"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if edm == "Edm.String":
        return isinstance(value, str)
    if edm == "Edm.Guid":
        return isinstance(value, str) and bool(_GUID.match(value))
    if edm == "Edm.DateTime":
        return isinstance(value, str) and bool(_DATETIME.match(value))
    if edm == "Edm.Time":
        return isinstance(value, str) and bool(_TIME.match(value))
    if edm.startswith("Collection("):
        return isinstance(value, list)
    return isinstance(value, dict)  # complex types


def shape_problems(type_name: str, entity: dict[str, Any], path: Path = SPO_METADATA) -> list[str]:
    """Properties of a nometadata entity that its metadata type does not declare (unless a custom field
    value on an open type) or whose JSON value does not fit the declared EDM type."""
    edm = metadata(path)[type_name]
    problems = []
    for name, value in entity.items():
        if name.startswith("odata."):
            continue
        if name in edm.properties:
            if not _matches(edm.properties[name], value):
                problems.append(f"{type_name}.{name}: {value!r} is not {edm.properties[name]}")
        elif name in edm.navigation or (edm.open_type and re.fullmatch(r"Custom_x005f_[0-9a-f]{32}", name)):
            continue
        else:
            problems.append(f"{type_name}.{name} is not in the metadata")
    return problems
