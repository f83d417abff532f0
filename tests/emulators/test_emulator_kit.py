"""The emulator kit (`emulators.common.Emulator`): what a new emulator gets by subclassing it, shown on a
toy "notes" service of a few lines, and the ADO and PWA emulators built on it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.ado import AdoEmulator
from emulators.common import Emulator, apply_latency, json_response
from emulators.pwa import PwaEmulator


class NotesSeed(BaseModel):
    notes: list[str] = Field(default_factory=list)


class NotesEmulator(Emulator):
    """A whole emulator: one vendor route, a seed, a reset and one vendor control route."""

    kind = "notes"
    seed_model = NotesSeed

    def __init__(self, **options: Any) -> None:
        super().__init__(base_path="/api", **options)
        self.notes: list[str] = []
        self.app = Starlette(routes=[*self.control_routes(), Route("/api/notes", self.list_notes)])

    async def list_notes(self, request: Request) -> Response:
        self.counters.record_call("notes.list")
        rule = self.faults.take(request.method, "notes.list")
        await apply_latency(self.faults, rule)
        if rule is not None and rule.status is not None:
            return json_response({"error": "injected"}, rule.status)
        return json_response({"value": self.notes, "at": self.clock.now().isoformat()})

    def apply_seed(self, seed: NotesSeed) -> dict[str, Any]:
        self.notes.extend(seed.notes)
        return {"notes": len(self.notes)}

    def reset_state(self) -> None:
        self.notes.clear()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "notes": len(self.notes)}

    def extra_control_routes(self, prefix: str) -> list[Route]:
        async def shout(_: Request) -> Response:
            self.notes = [n.upper() for n in self.notes]
            return json_response({"ok": True})

        return [Route(f"{prefix}/shout", shout, methods=["POST"])]


def test_a_subclass_gets_lifecycle_urls_and_the_whole_control_api() -> None:
    emulator = NotesEmulator()
    assert not emulator.running
    with emulator:
        assert emulator.running and emulator.port > 0
        assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/api"
        control = httpx.Client(base_url=emulator.control_url, timeout=30)
        assert control.get("/health").json() == {"ok": True}
        assert control.post("/seed", json={"notes": ["a", "b"]}).json() == {"notes": 2}
        assert control.post("/seed", json={"notes": "not a list"}).status_code == 400
        assert control.get("/state").json() == {"kind": "notes", "baseUrl": emulator.base_url, "notes": 2}
        assert control.post("/shout").json() == {"ok": True}  # the vendor route beside the kit's

        api = httpx.Client(base_url=emulator.base_url, timeout=30)
        assert api.get("/notes").json()["value"] == ["A", "B"]
        control.post("/faults", json={"endpoint": "notes.*", "status": 503})
        assert api.get("/notes").status_code == 503
        assert control.get("/counters").json()["calls"] == {"notes.list": 2}
        control.post("/clock", json={"advanceSeconds": 3600})
        later = api.get("/notes").json()["at"]
        assert later > emulator.clock.now().replace(year=2000).isoformat()
        # Also under the base path, for a caller that only knows the base URL.
        assert httpx.get(f"{emulator.base_url}/_emulator/state", timeout=30).json()["notes"] == 2

        assert control.post("/reset").json() == {"ok": True}
        assert (
            emulator.notes == []
            and emulator.counters.calls() == 0
            and emulator.faults.snapshot()["rules"] == []
        )
    assert not emulator.running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{emulator.control_url}/health", timeout=5)


def test_starting_twice_is_refused() -> None:
    with NotesEmulator() as emulator, pytest.raises(RuntimeError, match="already running"):
        emulator.start()


def test_the_standalone_entry_point_seeds_serves_and_stops(tmp_path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"projects": [{"name": "Fabrikam"}]}), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulators.ado", "--flavor", "server", "--pat", "p", "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["flavor"] == "server" and line["pat"] == "p"
        assert line["baseUrl"].endswith("/tfs/DefaultCollection")
        state = httpx.get(f"{line['controlUrl']}/state", timeout=30).json()
        assert [p["name"] for p in state["projects"]] == ["Fabrikam"]
    finally:
        proc.terminate()
        assert proc.wait(60) == 0


@pytest.mark.parametrize("make", [lambda: AdoEmulator("services"), lambda: PwaEmulator("online")])
def test_the_vendor_emulators_are_kit_emulators(make: Any) -> None:
    emulator = make()
    assert isinstance(emulator, Emulator)
    with emulator:
        control = httpx.Client(base_url=emulator.control_url, timeout=30)
        assert control.get("/health").json() == {"ok": True}
        refused = control.post("/seed", json={"nonsense": 1})
        assert refused.status_code == 400 and refused.json()  # the vendor's error shape, with a reason
        control.post("/faults", json={"endpoint": "*", "status": 500, "times": 1})
        control.post("/reset")
        assert emulator.faults.snapshot()["rules"] == [] and emulator.counters.calls() == 0
