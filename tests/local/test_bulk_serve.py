"""Bulk and per-item sync through `tandem serve` and the `tandem` CLI, on the ADO Server ↔ Services scenario
(both ADO emulators as their own processes): the dry run lists exactly the creates the real run then makes,
the bulk job reports its progress, and `tandem sync ITEM --read` reads one item from ADO now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tandem.processes import tandem_serve
from tests.local.test_serve import tandem
from tests.local.test_serve_restart import (
    SCENARIO,
    client,
    config_file,
    seed_items,
    services_titles,
    stack_env,
)
from tests.local.test_serve_restart import systems as systems

pytestmark = pytest.mark.e2e
COUNT = 60  # the 1,000-item job is tests/e2e/test_bulk.py: here the CLI path, kept short
DEADLINE = 180.0


@pytest.mark.timeout(600)  # three processes and 200 items through real HTTP: slow on a loaded machine
def test_bulk_dry_run_then_bulk_sync_then_a_read(tmp_path: Path, systems: dict[str, dict[str, Any]]) -> None:
    env = stack_env(systems, tmp_path)
    config, log = config_file(tmp_path), tmp_path / "serve.log"
    serve = tandem_serve(config, tmp_path / "data", env=env, cwd=tmp_path, log=log)
    try:
        stack = client(serve.start(), systems)
        # The OpenAPI document is served behind the function key.
        assert httpx.get(f"{stack.api}/openapi.json", timeout=30).status_code == 401
        document = stack.admin("GET", "openapi.json")
        assert "/api/scenarios/{scenario}/bulk" in document["paths"]

        seed_items(stack, 0, COUNT)
        base = ["bulk", SCENARIO, "--direction", "left_to_right", "--batch-size", "20"]
        result = tandem([*base, "--dry-run", "--json"], tmp_path, env)
        assert result.returncode == 0, result.stderr[-2000:]
        plans = json.loads(result.stdout)
        assert len(plans) == COUNT and {p["action"] for p in plans} == {"create"}
        planned = sorted(str(c["after"]) for p in plans for c in p["changes"] if c["field"] == "System.Title")
        assert services_titles(stack) == []  # the dry run wrote nothing

        result = tandem(base, tmp_path, env)
        assert result.returncode == 0, result.stderr[-2000:]
        # The command follows the job on the queue until every item is done.
        assert f"{COUNT} of {COUNT} item(s) done in 3 batch(es)" in result.stdout
        assert f"{COUNT} created" in result.stdout
        assert len(services_titles(stack)) >= COUNT
        stack.settle(DEADLINE)
        assert services_titles(stack) == planned  # exactly what the dry run listed, none twice
        status = stack.status(SCENARIO)
        assert status["links"]["total"] == COUNT and status["dead_letters"] == []

        # One item read from ADO (Services, the scenario's ADO side) now: a forced right_to_left sync.
        item = stack.services.ids_in("Fabrikam-Cloud")[0]
        result = tandem(["sync", SCENARIO, str(item), "--read", "--no-wait"], tmp_path, env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "forced sync of 1 item(s) enqueued for right_to_left" in result.stderr
        result = tandem(["sync", SCENARIO, "1", "--read", "--direction", "left_to_right"], tmp_path, env)
        assert result.returncode == 2 and "not allowed with" in result.stderr
        stack.close()
    finally:
        serve.stop()
