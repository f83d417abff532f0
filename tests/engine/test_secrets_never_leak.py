"""A canary secret goes through hooks, failures and status, and never shows up in tables, logs or replies."""

from __future__ import annotations

import base64
import json
import logging

from state.tables import TABLES
from sync.hooks import receive_hook
from sync.status import scenario_status
from tests.support.harness import Harness

CANARY = "canary-5ecret-9d1e7"


def test_canary_secret_never_leaks(tables, caplog):
    caplog.set_level(logging.DEBUG)
    h = Harness(tables)
    h.secrets.set("demo-hook", CANARY)
    rec = h.left.add(title="A")
    for password in ("wrong", CANARY):
        auth = "Basic " + base64.b64encode(f"tandem:{password}".encode()).decode()
        body = json.dumps({"eventType": "item.changed", "id": rec.id, "version": "1", "container": "P1"})
        reply = receive_hook(h.services, "mem-left", "demo", auth, body.encode())
        assert CANARY not in json.dumps(reply.body) + json.dumps(reply.headers)
    h.right.fail_next = [
        f"rejected request with Authorization: Basic {CANARY}"
    ]  # a careless system echoes it
    h.drain()
    status = scenario_status(h.services, "demo").model_dump_json()
    for name in TABLES:
        for row in tables.table(name).list_entities():
            assert CANARY not in json.dumps(dict(row), default=str), name
    assert CANARY not in status
    assert CANARY not in caplog.text
