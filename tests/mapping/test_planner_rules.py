"""The Project ↔ Planner rule transforms: labels as progress markers, Planner progress, e-mail lists."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mapping.fieldmap import FieldRule
from mapping.planner_rules import EmailList, LabelsProgress, PlannerProgress
from mapping.transforms import Context, parse_transform

CTX = Context()
MARKERS = ("category1", "category2", "category3", "category4", "category5", "category6")


def only(label: str) -> dict[str, bool]:
    return {m: m == label for m in MARKERS}


@pytest.mark.parametrize(
    ("percent", "label"),
    [
        (0, "category1"),
        (10, "category1"),
        (25, "category2"),
        (49, "category2"),
        (50, "category3"),
        (75, "category4"),
        (80, "category4"),
        (90, "category5"),
        (99, "category5"),
        (100, "category6"),
    ],
)
def test_percent_to_one_marker_label_clearing_the_others(percent, label):
    assert LabelsProgress().to_right(percent, CTX) == only(label)


@pytest.mark.parametrize(
    ("labels", "percent"),
    [
        (["category4"], 75),
        ({"category4": True, "category9": True}, 75),
        (["category1"], 0),
        (["category6"], 100),
        (["category2", "category5"], 90),
        (["category9"], None),
        ([], None),
        (None, None),
    ],
)
def test_marker_labels_to_percent(labels, percent):
    assert LabelsProgress().to_left(labels, CTX) == percent


def test_labels_progress_configured_from_yaml_and_either_side():
    rule = FieldRule.model_validate(
        {"left": "PercentComplete", "right": "appliedCategories", "transform": {"labels_progress": {}}}
    )
    assert rule.convert(["category4"], "right_to_left", CTX) == 75  # Green → 75 %
    assert rule.convert(60, "left_to_right", CTX) == only("category3")
    flipped = parse_transform({"labels_progress": {"percent_side": "right"}})
    assert flipped.to_left(100, CTX) == only("category6") and flipped.to_right(["category5"], CTX) == 90
    with pytest.raises(ValidationError, match="not Planner labels"):
        LabelsProgress(markers={"pink": 0})
    assert LabelsProgress().to_right(None, CTX) is None and LabelsProgress().to_right("n/a", CTX) is None


@pytest.mark.parametrize(
    ("percent", "planner"), [(0, 0), (1, 50), (37, 50), (99, 50), (100, 100), (120, 100), (None, None)]
)
def test_percent_to_planner_progress(percent, planner):
    assert PlannerProgress().to_right(percent, CTX) == planner


def test_planner_progress_to_percent_and_thresholds():
    progress = PlannerProgress()
    assert [progress.to_left(v, CTX) for v in (0, 50, 100, 78)] == [0, 50, 100, 78]
    strict = parse_transform({"planner_progress": {"done_at": 95, "in_progress": 40}})
    assert [strict.to_right(v, CTX) for v in (0, 94, 95)] == [0, 40, 100]
    right = PlannerProgress(percent_side="right")
    assert right.to_left(37, CTX) == 50 and right.to_right(50, CTX) == 50


def test_email_lists_both_ways():
    emails = EmailList(map={"ann@corp.local": "ann.chen@contoso.com"}, left_format="text")
    assert emails.to_right("Ann@corp.local; bo@contoso.com;bo@contoso.com", CTX) == [
        "ann.chen@contoso.com",
        "bo@contoso.com",
    ]
    assert emails.to_left(["BO@contoso.com", "ann.chen@contoso.com"], CTX) == "ann@corp.local; bo@contoso.com"
    assert emails.to_left([], CTX) is None and EmailList().to_right(None, CTX) == []
    assert parse_transform("email_list").to_right(["B@x.com", "a@x.com"], CTX) == ["a@x.com", "b@x.com"]
