"""The three-way merge decision table, every row."""

from datetime import UTC, datetime

import pytest

from sync.merge import Base, decide, same, winner_of

T1 = datetime(2026, 11, 1, 10, tzinfo=UTC)
T2 = datetime(2026, 11, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "target", "base", "winner", "action", "value", "new_base", "conflict"),
    [
        # never synced: bring the source across unless the target already agrees
        ("a", None, None, None, "write", "a", ("a", "a"), False),
        ("a", "a", None, None, "none", None, ("a", "a"), False),
        # nothing changed anywhere
        ("a", "a", Base("a", "a"), "source", "none", None, None, False),
        # source unchanged, target changed: never write (echo or the other direction's change)
        ("a", "b", Base("a", "a"), "source", "none", None, None, False),
        # source changed, target unchanged: write
        ("b", "a", Base("a", "a"), None, "write", "b", ("b", "b"), False),
        # both changed to the same value: converged, record it
        ("b", "b", Base("a", "a"), None, "none", None, ("b", "b"), False),
        # both changed differently: the rule decides
        ("b", "c", Base("a", "a"), "source", "write", "b", ("b", "b"), True),
        ("b", "c", Base("a", "a"), "target", "target_wins", None, None, True),
        ("b", "c", Base("a", "a"), None, "conflict_flagged", None, None, True),
        # empty string and None are the same value
        ("", None, Base(None, None), "source", "none", None, None, False),
    ],
)
def test_decision_table(source, target, base, winner, action, value, new_base, conflict):
    d = decide(source, target, source, base, winner)
    assert d.action == action
    assert d.value == value
    assert d.new_base == new_base
    assert d.conflict is conflict


def test_converted_value_is_what_gets_written_and_compared():
    # the source says "done", the target holds "Closed": already in agreement after conversion
    d = decide("done", "Closed", "Closed", Base("open", "Active"), "source")
    assert d.action == "none" and d.new_base == ("done", "Closed")
    d = decide("done", "Active", "Closed", Base("open", "Active"), "source")
    assert d.action == "write" and d.value == "Closed"


@pytest.mark.parametrize(
    ("rule", "direction", "s_at", "t_at", "expected"),
    [
        ("source_wins", "left_to_right", T1, T2, "source"),
        ("target_wins", "left_to_right", T2, T1, "target"),
        ("flag", "left_to_right", T1, T2, None),
        ("newest_wins", "left_to_right", T2, T1, "source"),
        ("newest_wins", "left_to_right", T1, T2, "target"),
        ("newest_wins", "right_to_left", T2, T1, "source"),
        # ties go to the left side from both directions, so both agree
        ("newest_wins", "left_to_right", T1, T1, "source"),
        ("newest_wins", "right_to_left", T1, T1, "target"),
        ("left_wins", "left_to_right", T1, T2, "source"),
        ("left_wins", "right_to_left", T2, T1, "target"),
        ("right_wins", "right_to_left", T1, T2, "source"),
    ],
)
def test_winner_of(rule, direction, s_at, t_at, expected):
    assert winner_of(rule, direction, s_at, t_at) == expected


def test_same_treats_numbers_and_empties():
    assert same(1, 1.0)
    assert same("", None)
    assert not same(0, None)
    assert not same(True, 2)


def test_percent_to_state_thresholds_both_ways():
    from mapping.transforms import Context, parse_transform

    t = parse_transform(
        {"percent_to_state": {"states": {0: "New", 1: "Active", 90: "Resolved", 100: "Closed"}}}
    )
    ctx = Context()
    assert [t.to_right(p, ctx) for p in (0, 0.5, 1, 50, 89.9, 90, 100, None)] == [
        "New",
        "New",
        "Active",
        "Active",
        "Active",
        "Resolved",
        "Closed",
        None,
    ]
    assert [t.to_left(s, ctx) for s in ("New", "active", "Closed", "Removed", None)] == [
        0,
        50,
        100,
        None,
        None,
    ]
    flipped = parse_transform({"percent_to_state": {"percent_side": "right", "percents": {"Doing": 40}}})
    assert flipped.to_right("Doing", ctx) == 40 and flipped.to_left(100, ctx) == "Closed"
