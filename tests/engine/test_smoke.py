from tests.support.harness import Harness


def test_create_and_converge(tables):
    h = Harness(tables)
    rec = h.left.add(title="Write spec", state="open", owner="ann@example.com")
    h.sync()
    assert h.right.creates == 1
    (created,) = h.right.records.values()
    assert created.fields == {"Title": "Write spec", "State": "Active", "AssignedTo": "ann@example.com"}
    writes = h.left.writes + h.right.writes
    h.sync()
    h.sync()
    assert h.left.writes + h.right.writes == writes
    assert rec.id
