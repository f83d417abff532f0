"""PWA setup helpers: "Create fields" and "Verify configuration" against the scripted PWA."""

from __future__ import annotations

import httpx

from connectors.pwa import CustomFieldSpec, PwaConnector, PwaOptions, scenario_fields
from tests.connectors.pwa_fakes import BASE, ENTITY_IDS, FakePwa


def make(fake: FakePwa, **options: object) -> PwaConnector:
    return PwaConnector("pwa", BASE, PwaOptions(**options), transport=fake.transport)  # type: ignore[arg-type]


def test_create_fields_adds_only_the_missing_ones() -> None:
    fake = FakePwa()
    fake.custom_fields = [f for f in fake.custom_fields if f["Name"] == "Work Item Type"]
    report = make(fake).ensure_custom_fields()
    assert report.ok
    assert sorted(report.created) == ["Sync with VSTS", "Tandem Correlation", "VSTS Project"]
    adds = [fake.body(r)["parameters"] for r in fake.sent("POST", "CustomFields/Add")]
    by_name = {a["Name"]: a for a in adds}
    assert by_name["Sync with VSTS"]["FieldType"] == 17
    assert by_name["Sync with VSTS"]["EntityTypeId"] == ENTITY_IDS["TaskEntity"]
    assert by_name["VSTS Project"]["FieldType"] == 21
    assert by_name["VSTS Project"]["EntityTypeId"] == ENTITY_IDS["ProjectEntity"]
    for request in fake.sent("POST", "CustomFields/Add"):
        assert request.headers["X-RequestDigest"]
    again = make(fake).ensure_custom_fields()
    assert again.created == [] and {f.status for f in again.fields} == {"exists"}


def test_create_fields_reports_a_field_of_the_wrong_type() -> None:
    fake = FakePwa()
    for f in fake.custom_fields:
        if f["Name"] == "Sync with VSTS":
            f["FieldType"] = 21
    report = make(fake).ensure_custom_fields(scenario_fields())
    assert not report.ok
    (problem,) = report.problems
    assert "'Sync with VSTS' is of type Text, but Flag is needed" in problem


def test_create_fields_names_an_entity_clash() -> None:
    fake = FakePwa()
    fake.on(
        "POST",
        "CustomFields/Add",
        httpx.Response(
            403,
            json={
                "odata.error": {
                    "code": "11519, Microsoft.ProjectServer.PJClientCallableException",
                    "message": {"value": "CustomFieldNameAlreadyExists"},
                }
            },
        ),
    )
    report = make(fake).ensure_custom_fields([CustomFieldSpec(name="Owner", entity="task")])
    assert not report.ok and "unique across entities" in report.problems[0]


def test_verify_names_each_missing_field_with_what_to_do() -> None:
    fake = FakePwa()
    fake.custom_fields = [f for f in fake.custom_fields if f["Name"] != "VSTS Project"]
    report = make(fake).verify()
    assert not report.ok
    assert report.problems == [
        "project custom field 'VSTS Project' (type Text) is missing: run Create fields, or create it in "
        "PWA Settings → Enterprise Custom Fields"
    ]
    assert make(FakePwa()).verify().ok


def test_verify_reports_a_missing_reporting_permission() -> None:
    fake = FakePwa()
    fake.on(
        "GET",
        "ProjectData/Projects",
        httpx.Response(
            403,
            json={
                "odata.error": {
                    "code": "-2147024891, System.UnauthorizedAccessException",
                    "message": {"value": "Access denied."},
                }
            },
        ),
    )
    report = make(fake).verify()
    assert not report.ok
    assert "Access Project Server Reporting Service" in report.problems[0]
