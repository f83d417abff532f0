"""Test helpers for PWA connector unit tests: a small, scripted PWA over httpx.MockTransport.

It keeps just enough state (published tasks, custom fields, queue jobs) for a write cycle to round-trip,
records every request, and lets a test override any route (`on`) to script errors.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx

BASE = "https://contoso.sharepoint.com/sites/pwa"
DIGEST = "0xDIGEST0123456789,25 Nov 2026 10:00:00 -0000"
PROJECT_ID = "11111111-1111-1111-1111-111111111111"
SUMMARY_ID = "22222222-2222-2222-2222-222222222222"
ENTITY_IDS = {
    "ProjectEntity": "aaaaaaaa-0000-0000-0000-000000000001",
    "TaskEntity": "aaaaaaaa-0000-0000-0000-000000000002",
    "ResourceEntity": "aaaaaaaa-0000-0000-0000-000000000003",
    "AssignmentEntity": "aaaaaaaa-0000-0000-0000-000000000004",
}
FLAG_HEX = "f1" * 16
WIT_HEX = "a2" * 16
VSTS_HEX = "b3" * 16
CORR_HEX = "c4" * 16
ENTRY_BUG = "Entry_" + "e1" * 16
ENTRY_TASK = "Entry_" + "e2" * 16
ANN = {"Id": "33333333-3333-3333-3333-333333333333", "Name": "Ann Chen", "Email": "Ann.Chen@contoso.com"}

Handler = httpx.Response | Callable[[httpx.Request], httpx.Response]


def ps_error(status: int, number: int, name: str, *, verbose: bool = False) -> httpx.Response:
    """A Project Server error the way SharePoint sends it."""
    err = {
        "code": f"{number}, Microsoft.ProjectServer.PJClientCallableException",
        "message": {"lang": "en-US", "value": name},
    }
    return httpx.Response(status, json={"error" if verbose else "odata.error": err})


def task(
    task_id: str,
    name: str = "Build",
    *,
    modified: str = "2026-11-02T10:00:00",
    parent: str | None = SUMMARY_ID,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Id": task_id,
        "Name": name,
        "Start": "2026-11-02T08:00:00",
        "Finish": "2026-11-04T17:00:00",
        "Duration": "3d",
        "DurationTimeSpan": "P1DT0H",
        "Work": "24h",
        "WorkMilliseconds": 86_400_000,
        "ActualWork": "0h",
        "RemainingWork": "24h",
        "PercentComplete": 0,
        "PercentWorkComplete": 0,
        "IsManual": False,
        "IsMilestone": False,
        "IsSummary": False,
        "Priority": 500,
        "OutlineLevel": 1,
        "OutlinePosition": "1",
        "Notes": "",
        "Created": "2026-11-01T09:00:00",
        "Modified": modified,
        "ParentId": parent,
    }
    body.update(extra)
    return body


def new_id(n: int) -> str:
    return str(uuid.UUID(int=0x44440000000000000000000000000000 + n))


class FakePwa:
    """Default answers for every route the connector uses; `on` overrides a route with scripted answers."""

    def __init__(self, *, odata: str = "nometadata") -> None:
        self.odata = odata
        self.requests: list[httpx.Request] = []
        self.routes: list[tuple[str, re.Pattern[str], list[Handler]]] = []
        self.project: dict[str, Any] = {
            "Id": PROJECT_ID,
            "Name": "Apollo",
            "ProjectType": 0,
            "SummaryTaskId": SUMMARY_ID,
            "NewTasksAreManual": False,
            "MinutesPerDay": 480,
            "MinutesPerWeek": 2400,
            "DaysPerMonth": 20,
            f"Custom_x005f_{VSTS_HEX}": "Fabrikam",
        }
        self.tasks: dict[str, dict[str, Any]] = {}
        self.custom_fields: list[dict[str, Any]] = [
            _cf("c0000000-0000-0000-0000-000000000001", "Sync with VSTS", FLAG_HEX, 17, "TaskEntity"),
            _cf(
                "c0000000-0000-0000-0000-000000000002",
                "Work Item Type",
                WIT_HEX,
                21,
                "TaskEntity",
                lookup="d0000000-0000-0000-0000-000000000001",
            ),
            _cf("c0000000-0000-0000-0000-000000000003", "VSTS Project", VSTS_HEX, 21, "ProjectEntity"),
            _cf("c0000000-0000-0000-0000-000000000004", "Tandem Correlation", CORR_HEX, 21, "TaskEntity"),
        ]
        self.entries = [
            {"InternalName": ENTRY_BUG, "FullValue": "Bug"},
            {"InternalName": ENTRY_TASK, "FullValue": "Task"},
        ]
        self.resources = [dict(ANN), {"Id": new_id(900), "Name": "Bob", "Email": "bob@contoso.com"}]
        self.assignments: dict[str, list[dict[str, Any]]] = {}
        self.feed: list[list[dict[str, Any]]] = [[]]  # ProjectData pages
        self.job_states: list[int] = [4]  # states GET QueueJobs answers in turn (the last repeats)
        self.jobs = 0
        self.modified_counter = 0

    # --- scripting ----------------------------------------------------------------------------

    def on(self, method: str, path: str, *responses: Handler) -> FakePwa:
        self.routes.append((method.upper(), re.compile(path), list(responses)))
        return self

    def add_tasks(self, count: int, **extra: Any) -> list[str]:
        ids = []
        for n in range(count):
            tid = new_id(n + 1)
            self.tasks[tid] = task(tid, f"Task {n + 1}", **extra)
            ids.append(tid)
        return ids

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and re.search(path, unquote(r.url.path))]

    def calls(self) -> list[str]:
        """`METHOD tail` of every request, the tail being the path after `/_api/`."""
        return [f"{r.method} {unquote(r.url.path).split('/_api/', 1)[-1]}" for r in self.requests]

    @staticmethod
    def body(request: httpx.Request) -> Any:
        return json.loads(request.content) if request.content else None

    # --- answering ----------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = unquote(request.url.path)
        for method, pattern, responses in self.routes:
            if method == request.method and pattern.search(path):
                handler = responses.pop(0) if len(responses) > 1 else responses[0]
                return handler(request) if callable(handler) else handler
        return self._default(request, path)

    def _entity(self, body: Any) -> httpx.Response:
        if self.odata == "verbose":
            return httpx.Response(200, json={"d": body})
        return httpx.Response(200, json=body)

    def _collection(self, items: list[Any], next_link: str | None = None) -> httpx.Response:
        if self.odata == "verbose":
            d: dict[str, Any] = {"results": items}
            if next_link:
                d["__next"] = next_link
            return httpx.Response(200, json={"d": d})
        body: dict[str, Any] = {"value": items}
        if next_link:
            body["odata.nextLink"] = next_link
        return httpx.Response(200, json=body)

    def _job(self) -> httpx.Response:
        self.jobs += 1
        return self._entity({"Id": f"99999999-0000-0000-0000-{self.jobs:012d}", "JobState": 1})

    def _filtered(self, request: httpx.Request) -> list[dict[str, Any]]:
        wanted = re.findall(r"guid'([0-9a-fA-F-]{36})'", request.url.params.get("$filter", ""))
        if "IsSubProject" in request.url.params.get("$filter", ""):
            return [t for t in self.tasks.values() if t.get("IsSubProject")]
        if not wanted:
            return list(self.tasks.values())
        return [self.tasks[w] for w in wanted if w in self.tasks]

    def _default(self, request: httpx.Request, path: str) -> httpx.Response:
        m = request.method
        tail = path.split("/_api/", 1)[-1]
        if m == "POST" and tail == "contextinfo":
            return self._entity(
                {"GetContextWebInformation": {"FormDigestValue": DIGEST, "FormDigestTimeoutSeconds": 1800}}
                if self.odata == "verbose"
                else {"FormDigestValue": DIGEST, "FormDigestTimeoutSeconds": 1800}
            )
        if m == "GET" and (found := re.fullmatch(r"ProjectServer/EntityTypes/(\w+)", tail)):
            return self._entity({"ID": ENTITY_IDS[found.group(1)], "Name": found.group(1)})
        if m == "GET" and tail == "ProjectServer/CustomFields":
            return self._collection(self.custom_fields)
        if m == "GET" and re.fullmatch(r"ProjectServer/CustomFields\('[^']+'\)/LookupEntries", tail):
            return self._collection(self.entries)
        if m == "GET" and tail == "ProjectServer/EnterpriseResources":
            return self._collection(self.resources)
        if m == "GET" and tail == "ProjectServer/Projects":
            return self._collection([self.project])
        if m == "POST" and tail == "ProjectServer/CustomFields/Add":
            params = self.body(request)["parameters"]
            hexid = uuid.uuid4().hex
            entity = {v: k for k, v in ENTITY_IDS.items()}[params["EntityTypeId"]]
            self.custom_fields.append(_cf(params["Id"], params["Name"], hexid, params["FieldType"], entity))
            return self._entity(self.custom_fields[-1])
        if m == "GET" and tail == "ProjectData/Tasks":
            page = int(request.url.params.get("$skiptoken", "0"))
            more = page + 1 < len(self.feed)
            link = f"{BASE}/_api/ProjectData/Tasks?$skiptoken={page + 1}" if more else None
            return self._collection(self.feed[page], link)
        if m == "GET" and tail == "ProjectData/Projects":
            return self._collection([{"ProjectId": PROJECT_ID}])
        found = re.fullmatch(r"ProjectServer/Projects\('([^']+)'\)(?:/(.*))?", tail)
        if not found:
            return httpx.Response(404, json={"odata.error": {"code": "-1", "message": {"value": tail}}})
        rest = found.group(2) or ""
        if m == "GET" and rest in ("", "IncludeCustomFields"):
            return self._entity(self.project)
        if m == "GET" and rest in ("Tasks", "Draft/Tasks"):
            return self._collection(self._filtered(request))
        if m == "GET" and (a := re.fullmatch(r"Tasks\('([^']+)'\)/Assignments", rest)):
            return self._collection(self.assignments.get(a.group(1), []))
        if m == "GET" and rest in ("Assignments", "Draft/Assignments", "Draft/ProjectResources"):
            return self._collection([])
        if m == "POST" and rest == "checkOut()":
            return self._entity({"Id": PROJECT_ID, "Name": self.project["Name"]})
        if m == "POST" and rest == "Draft/Tasks/Add":
            params = self.body(request)["parameters"]
            params.pop("__metadata", None)
            self.tasks[params["Id"]] = task(params["Id"], params["Name"], modified=self._modified())
            self.tasks[params["Id"]].update({k: v for k, v in params.items() if k != "Id"})
            return self._entity(self.tasks[params["Id"]])
        if m == "PATCH" and (t := re.fullmatch(r"Draft/Tasks\('([^']+)'\)", rest)):
            body = self.body(request)
            body.pop("__metadata", None)
            if t.group(1) in self.tasks:
                self.tasks[t.group(1)].update(body, Modified=self._modified())
            return httpx.Response(204)
        if m == "POST" and rest in ("Draft/publish(true)", "Draft/update()", "Draft/checkIn(false)"):
            return self._job()
        if m == "POST" and rest == "Draft/checkIn(true)":
            return self._job()
        if m == "POST" and rest.startswith("Draft/ProjectResources/AddEnterpriseResourceById"):
            return self._job()
        if m == "POST" and rest == "Draft/Assignments/Add":
            return self._entity({"Id": str(uuid.uuid4())})
        if m == "GET" and (j := re.fullmatch(r"QueueJobs\('([^']+)'\)", rest)):
            state = self.job_states.pop(0) if len(self.job_states) > 1 else self.job_states[0]
            return self._entity({"Id": j.group(1), "JobState": state, "WaitMilliseconds": 0})
        return httpx.Response(404, json={"odata.error": {"code": "-1", "message": {"value": rest}}})

    def _modified(self) -> str:
        self.modified_counter += 1
        return f"2026-11-03T12:00:{self.modified_counter % 60:02d}"


def _cf(
    cf_id: str, name: str, hexid: str, field_type: int, entity: str, *, lookup: str | None = None
) -> dict[str, Any]:
    return {
        "Id": cf_id,
        "Name": name,
        "InternalName": f"Custom_{hexid}",
        "FieldType": field_type,
        "EntityTypeId": ENTITY_IDS[entity],
        "LookupTableId": lookup,
        "LookupAllowMultiSelect": False,
        "Formula": None,
    }


class FakeClock:
    """Monotonic time that only moves when the connector sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
