"""Failures that are not an item's fault: a failing poll, a malformed message, a crashing worker."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from connectors.errors import AuthError
from state.queue import QueueMessage
from sync.outcome import Retry
from sync.runtime import handle_item
from sync.status import scenario_status
from tests.support.harness import Harness


def _status_response(status: int) -> object:
    class Response:  # enough of an azure-core response for HttpResponseError
        status_code = status
        reason = "Server Busy" if status >= 500 else "Bad Request"
        headers: dict[str, str] = {}

        def text(self) -> str:
            return ""

    return Response()


def test_failed_poll_is_recorded_with_its_reason_and_keeps_the_watermark(tables):
    h = Harness(tables)
    h.left.add(title="A")
    conn = h.services.connector("mem-left")

    def refuse(entity, since, scope):
        raise AuthError("the PAT was refused: renew it in Key Vault", system="mem-left", status=401)

    real, conn.changes = conn.changes, refuse
    h.poll()
    h.drain()
    (run,) = [r for r in scenario_status(h.services, "demo").runs if r.direction == "left_to_right"]
    assert run.status == "failed" and "PAT was refused" in run.error
    assert h.services.watermarks.get("demo", "left_to_right")[0].at is None
    conn.changes = real
    h.poll()
    h.drain()
    assert h.right.creates == 1


def test_malformed_item_message_is_dead_lettered(tables):
    h = Harness(tables)
    message = QueueMessage(queue=h.services.settings.item_queue, body={"scenario": "demo"}, message_id="bad")
    outcome = handle_item(h.services, message)
    assert outcome.reason == "malformed item message"
    (dead,) = h.queue.dead_letters(h.services.settings.item_queue)
    assert "direction" in dead.description


def test_items_of_a_deleted_integration_are_dropped_with_a_log_line_not_dead_lettered(tables, caplog):
    h = Harness(tables)
    h.left.add(title="A")
    h.poll()
    h.drain(max_messages=1)
    doc = h.services.config_store.load()
    doc["scenarios"][0]["name"] = "renamed"
    h.apply(doc)
    with caplog.at_level("WARNING", logger="tandem.runtime"):
        h.drain()
    assert h.queue.dead_letters(h.services.settings.item_queue) == []
    assert h.right.writes == 0 and h.right.creates == 0
    assert any(
        "demo dropped: the integration is no longer configured" in r.getMessage() for r in caplog.records
    )
    assert h.queue.counts(h.services.settings.item_queue).active == 0


def test_crashing_worker_redelivers_then_dead_letters(tables):
    h = Harness(tables)
    h.left.add(title="A")
    h.poll()
    h.drain(max_messages=1)
    conn = h.services.connector("mem-left")

    def boom(entity, ids):
        raise RuntimeError("bug in a connector")

    conn.read = boom
    for _ in range(10):
        delivery = h.queue.receive(h.services.settings.item_queue)
        if delivery is None:
            break
        try:
            handle_item(h.services, delivery.message)
        except RuntimeError:
            h.queue.abandon(delivery)  # what the host does when the function raises
    (dead,) = h.queue.dead_letters(h.services.settings.item_queue)
    assert dead.reason == "MaxDeliveryCountExceeded"
    assert dead.message.delivery_count == 5
    status = scenario_status(h.services, "demo")
    assert status.dead_letters and status.dead_letters[0]["reason"] == "MaxDeliveryCountExceeded"


@pytest.mark.parametrize(
    "error",
    [
        ServiceRequestError("Connection reset by peer"),
        ServiceResponseError("Connection aborted: RemoteDisconnected"),
        HttpResponseError(response=_status_response(503)),
    ],
    ids=["connection-reset", "no-response", "server-busy-503"],
)
def test_a_transient_table_error_retries_the_item_with_back_off(tables, error):
    h = Harness(tables)
    broken = h.left.add(title="T0").id
    for i in range(1, 3):
        h.left.add(title=f"T{i}")
    links = h.services.links
    real_find = links.find
    failed: list[str] = []

    def find(scenario, side, item_id):
        if item_id == broken and not failed:  # the table is unreachable for this item's lookups
            raise error
        return real_find(scenario, side, item_id)

    links.find = find  # type: ignore[method-assign]
    h.poll()
    h.drain_batches()  # no exception escapes the batch
    assert h.right.creates == 2
    (retry,) = [o for o in h.outcomes if isinstance(o, Retry)]
    assert retry.delay > 0 and "state storage unavailable" in retry.reason
    status = scenario_status(h.services, "demo")
    assert status.runs[0].counts.get("retried") == 1
    assert any(f.kind == "retrying" for f in status.failures)
    failed.append(broken)  # the table is back
    h.settle()
    assert h.right.creates == 3 and len(h.right.records) == 3
    assert not h.queue.dead_letters(h.services.settings.item_queue)


def test_a_table_error_that_is_not_transient_still_escapes(tables):
    h = Harness(tables)
    h.left.add(title="A")

    def find(*args, **kwargs):
        raise HttpResponseError(response=_status_response(400))

    h.services.links.find = find  # type: ignore[method-assign]
    h.poll()
    with pytest.raises(HttpResponseError):
        h.drain()
