"""The whole admin API fuzzed from its own OpenAPI document (schemathesis, in-process against the ASGI app on
the harness stack): no answer is a 5xx, and nothing partial is stored. Derandomized: the same examples on
every run; bounded so the run takes well under two minutes on two cores."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from sync.admin.app import create_app
from sync.bulk import BulkJob, progress
from tests.support.harness import Harness

# The scenario path parameter is the harness's own (unknown scenarios' 404s are tested elsewhere): the fuzzed
# bodies and queries then reach the routes' logic, not only the scenario lookup.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({"parameters": {"path.scenario": "demo"}})
schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(), config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_admin_route_answers_a_server_error(case: schemathesis.Case, harness: Harness) -> None:
    if harness.left._seq == 0:  # one item (per test) for a run or a bulk job of the demo scenario to touch
        harness.left.add(title="fuzzed")
    case.call_and_validate(checks=[not_a_server_error])
    harness.drain()  # a bulk job started runs from the queue, as the function host would run it
    # Nothing partial: every bulk job row is whole and finished, every link has both sides.
    for row in harness.services.tables.table("bulkjobs").query_entities("PartitionKey eq 'bulk'"):
        job = progress(harness.services, BulkJob.model_validate_json(row["job"]))
        assert job.status in ("done", "failed"), job
    for link in harness.services.links.list("demo"):
        assert link.status != "linked" or (link.left_id and link.right_id)
