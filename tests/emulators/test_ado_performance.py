"""Load behaviour of the ADO emulator: a no-change WIQL poll over 50,000 items costs a few ms of server
time, and a 5,000-item initial sync (WIQL + workitemsbatch pages of 200) completes quickly, also with a
simulated per-call latency."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ado_testkit import make_client

from emulators.ado import AdoEmulator

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_no_change_poll_over_50000_items_is_fast() -> None:
    with AdoEmulator("services", pat="p") as big:
        big.seed_project("Big")
        big.clock.freeze(T0)
        for i in range(50_000):
            big.state.create_work_item("Big", "Task", {"System.Title": f"Task {i}"})
        big.clock.freeze(T0 + timedelta(minutes=10))
        watermark = (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        query = (
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
            f"AND [System.ChangedDate] >= '{watermark}' ORDER BY [System.ChangedDate] ASC"
        )
        with make_client(big, pat="p") as c:
            timings = []
            for _ in range(5):
                response = c.post(
                    "/Big/_apis/wit/wiql", json={"query": query}, params={"timePrecision": "true"}
                )
                assert response.status_code == 200 and response.json()["workItems"] == []
                timings.append(float(response.headers["x-emulator-elapsed-ms"]))
            assert min(timings) < 5.0, timings  # server time in ms
            # and a window holding everything still answers, hitting the 20,000 cap like the service
            everything = c.post(
                "/Big/_apis/wit/wiql",
                json={
                    "query": "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2026-03-10'"
                },
            )
            assert everything.status_code == 400 and "VS402337" in everything.json()["message"]


def test_initial_sync_of_5000_items() -> None:
    with AdoEmulator("services", pat="p") as ado:
        ado.seed_project("Sync")
        for i in range(5_000):
            ado.state.create_work_item(
                "Sync", "Task", {"System.Title": f"Task {i}", "Microsoft.VSTS.Common.Priority": i % 4 + 1}
            )
        ado.faults.latency_ms = 5  # a little per-call latency, as a real network would add
        with make_client(ado, pat="p") as c:
            started = time.perf_counter()
            wiql = c.post(
                "/Sync/_apis/wit/wiql",
                json={
                    "query": "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
                    "ORDER BY [System.Id]"
                },
            )
            ids = [w["id"] for w in wiql.json()["workItems"]]
            assert len(ids) == 5_000
            read = 0
            for start in range(0, len(ids), 200):
                page = c.post(
                    "/Sync/_apis/wit/workitemsbatch",
                    json={
                        "ids": ids[start : start + 200],
                        "fields": ["System.Id", "System.Rev", "System.Title"],
                    },
                )
                assert page.status_code == 200
                read += page.json()["count"]
            elapsed = time.perf_counter() - started
        assert read == 5_000
        assert ado.counters.calls("wit.workitemsbatch") == 25
        assert elapsed < 10, elapsed
