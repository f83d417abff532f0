"""Part 3 of `tandem demo`: the sample PWA ↔ Planner configuration (`pwa_planner_config.yaml`) beside the
other parts'. A PWA project linked to a plan by its "Planner Plan" field is polled into Planner (tasks with
dates, the assignee by e-mail and the bucket its task field names); a person labels a task Green in Planner
and PWA shows 75 %; a task created in Planner becomes a PWA task; a poll of both directions then writes
nothing. Planner is driven over Graph v1.0, PWA read over its REST API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from tandem.demo import PWA_CONFIG, DemoError, StackClient, combined_config, conclude, table

PLANNER_CONFIG = Path(__file__).resolve().parent / "pwa_planner_config.yaml"
SCENARIO = "pwa-planner"
ANN = "ann.chen@contoso.com"
PROJECT = "Mobile App"  # the PWA project, and the title of its plan


class PlannerDemo:
    def __init__(self, stack: Any, info: dict[str, Any], client: StackClient, out: TextIO, timeout: float):
        self.stack = stack
        self.client = client
        self.out = out
        self.timeout = timeout
        self.pwa = str(info["pwa"]).rstrip("/")
        self.pwa_token = str(info["credentials"]["pwa"]["access_token"])
        self.graph = str(info["planner"]).rstrip("/")
        self.graph_token = str(info["credentials"]["planner"]["access_token"])
        self.project_id = ""
        self.plan_id = ""
        self.tasks: dict[str, str] = {}  # PWA task name → PWA task id

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, number: int, title: str) -> None:
        self.say()
        self.say(f"{number}. {title}")

    def _call(self, method: str, url: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if token == self.pwa_token:
            headers["Accept"] = "application/json;odata=nometadata"
        response = self.client.http.request(method, url, json=body, headers=headers)
        if response.status_code >= 400:
            raise DemoError(f"{method} {url} answered {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def graph_get(self, path: str) -> Any:
        return self._call("GET", f"{self.graph}/{path}", token=self.graph_token)

    def planner_control(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"{self.graph.rsplit('/v1.0', 1)[0]}/_emulator/{path}", body)

    def pwa_control(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"{self.pwa}/_emulator/{path}", body)

    def pwa_task(self, task_id: str) -> dict[str, Any]:
        url = f"{self.pwa}/_api/ProjectServer/Projects('{self.project_id}')/Tasks('{task_id}')"
        return dict(self._call("GET", url, token=self.pwa_token))

    def writes(self) -> tuple[Any, Any]:
        return self.pwa_control("GET", "counters")["writes"], self.planner_control("GET", "counters")[
            "writes"
        ]

    def linked(self, side: str, item_id: str) -> str | None:
        link = self.stack.services.links.find(SCENARIO, side, item_id)
        other = "right" if side == "left" else "left"
        return link.id_of(other) if link is not None and link.status == "linked" else None

    def poll(self, direction: str) -> None:
        self.client.run_and_wait(SCENARIO, direction, self.timeout)

    # the steps
    def introduce(self, number: int) -> None:
        self.step(number, "Part 3: Project Online / Project Server (PWA) ↔ Microsoft Planner")
        config = combined_config([self.stack.config_path, PWA_CONFIG, PLANNER_CONFIG], self.stack.variables())
        self.stack.apply_config(config)
        from sync.setup import create_fields

        left = create_fields(self.stack.services, SCENARIO)[0]
        if left.problems:
            raise DemoError(f"creating the PWA fields: {'; '.join(left.problems)}")
        self.planner_control("POST", "seed", {"users": [{"displayName": "Ann Chen", "mail": ANN}]})
        plan = self.planner_control(
            "POST", "seed", {"plans": [{"title": PROJECT, "buckets": ["Design", "Build"]}]}
        )
        self.plan_id = plan["plans"][0]["id"]
        seeded = self.pwa_control(
            "POST",
            "seed",
            {
                "projects": [
                    {
                        "name": PROJECT,
                        "customFields": {"Planner Plan": self.plan_id},
                        "tasks": [
                            {
                                "name": "Design the screens",
                                "start": "2026-12-07T08:00:00",
                                "duration": "3d",
                                "work": "24h",
                                "assignments": [ANN],
                                "customFields": {"Planner Bucket": "Design"},
                            },
                            {
                                "name": "Build the login",
                                "start": "2026-12-10T08:00:00",
                                "duration": "2d",
                                "work": "16h",
                                "customFields": {"Planner Bucket": "Build"},
                            },
                        ],
                    }
                ]
            },
        )
        project = seeded["projects"][0]
        self.project_id = project["id"]
        self.tasks = {t["name"]: t["id"] for t in project["tasks"]}
        self.say(
            f"   {PLANNER_CONFIG.name} is applied beside the other parts: PWA ↔ Planner (Graph v1.0, a "
            f"delegated refresh token in the secret store). `tandem setup fields {SCENARIO}` created "
            f"{', '.join(left.created) or 'nothing'}"
            + (f" (already there: {', '.join(left.existing)})" if left.existing else "")
            + f". PWA project '{PROJECT}' names plan {self.plan_id} in its 'Planner Plan' field."
        )
        self.say(
            "   Options: new plan tasks pushed to Project, dates pushed back, labels as progress markers "
            "(Pink 0 %, Red 25 %, Yellow 50 %, Green 75 %, Blue 90 %, Purple 100 %), manual mode allowed."
        )

    def tasks_to_plan(self, number: int) -> None:
        self.step(number, "The linked project's tasks appear in the plan")
        self.poll("left_to_right")
        buckets = {
            b["id"]: b["name"] for b in self.graph_get(f"planner/plans/{self.plan_id}/buckets")["value"]
        }
        rows = []
        for name, task_id in self.tasks.items():
            planner_id = self.linked("left", f"{self.project_id}:{task_id}")
            if planner_id is None:
                raise DemoError(
                    f"'{name}' did not reach the plan: {self.client.status(SCENARIO)['failures']}"
                )
            task = self.graph_get(f"planner/tasks/{planner_id}")
            people = []
            for user_id in task.get("assignments") or {}:
                user = self.graph_get(f"users/{user_id}")
                people.append(str(user.get("mail") or user.get("userPrincipalName")))
            rows.append(
                [
                    task["title"],
                    buckets.get(task.get("bucketId"), ""),
                    str(task.get("startDateTime") or "")[:10],
                    str(task.get("dueDateTime") or "")[:10],
                    ", ".join(people),
                ]
            )
        self.say(table(["PLANNER TASK", "BUCKET", "START", "DUE", "ASSIGNED (BY E-MAIL)"], rows))

    def green_label(self, number: int) -> None:
        self.step(number, "A person labels a task Green in Planner; PWA shows 75 %")
        name = "Design the screens"
        planner_id = self.linked("left", f"{self.project_id}:{self.tasks[name]}")
        self.planner_control(
            "POST", f"tasks/{planner_id}/edit", {"task": {"appliedCategories": {"category4": True}}}
        )
        self.poll("right_to_left")
        percent = self.pwa_task(self.tasks[name]).get("PercentComplete")
        self.say(f"   '{name}' in PWA: {percent}% complete (Green = 75 %).")
        if percent != 75:
            raise DemoError(f"'{name}' is at {percent}% in PWA, not 75%")

    def new_plan_task(self, number: int) -> None:
        self.step(number, "A task created in Planner becomes a PWA task")
        created = self._call(
            "POST",
            f"{self.graph}/planner/tasks",
            {"planId": self.plan_id, "title": "Accessibility review"},
            token=self.graph_token,
        )
        self.poll("right_to_left")
        linked = self.linked("right", str(created["id"]))
        if linked is None:
            raise DemoError(f"the Planner task did not reach PWA: {self.client.status(SCENARIO)['failures']}")
        task_id = linked.split(":", 1)[1]
        self.tasks["Accessibility review"] = task_id
        self.say(f"   'Accessibility review' is now a task of PWA project '{PROJECT}' ({task_id}).")

    def summary(self, number: int) -> list[str]:
        self.step(number, "Part 3 summary")
        for direction in ("left_to_right", "right_to_left"):
            self.poll(direction)
        before = self.writes()
        for direction in ("left_to_right", "right_to_left"):
            self.poll(direction)
        after = self.writes()
        problems = []
        for name, task_id in self.tasks.items():
            planner_id = self.linked("left", f"{self.project_id}:{task_id}")
            if planner_id is None:
                problems.append(f"'{name}' has no Planner task")
                continue
            pwa, task = self.pwa_task(task_id), self.graph_get(f"planner/tasks/{planner_id}")
            if pwa.get("Name") != task.get("title"):
                problems.append(
                    f"'{name}': PWA name {pwa.get('Name')!r} ≠ Planner title {task.get('title')!r}"
                )
        if after != before:
            problems.append(f"a poll of the converged sides wrote: {before} → {after}")
        return conclude(
            self.say,
            problems,
            (
                f"{len(self.tasks)} PWA tasks ↔ Planner tasks; a poll of both directions wrote "
                "nothing (each Planner poll listed the plan's ETags and read none)."
            ),
        )
