"""The records a timeline holds (statetrail._records), on their own.

The engine tests (tests/test_timeline.py, the model check in
tests/test_stateful_timeline.py) exercise them through a Timeline; these pin the
protocol's own promises, which a paged implementation must keep too.
"""

from __future__ import annotations

from typing import Any

import pytest

from statetrail._records import MemoryRecords, Records
from statetrail.revision import PLAIN

IMPLEMENTATIONS = [MemoryRecords]


def rec(number: int, parent: int | None, branch: str = "main", t: int = 0) -> Any:
    return (number, parent, branch, number, t, PLAIN, None, None, None, None)


def chain(n: int, kind: type[Any]) -> Records:
    """Revisions 0..n-1 on main, one after another."""
    records: Records = kind([rec(0, None)])
    for number in range(1, n):
        records.append(rec(number, number - 1))
    return records


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
class TestRecords:
    def test_find_append_and_next(self, kind: type[Any]) -> None:
        """Records are found by number; append takes the next number only."""
        records = chain(3, kind)
        assert records.next == 3
        assert len(records) == 3
        assert records.find(1)[0] == 1
        assert records.find(3) is None
        with pytest.raises(ValueError, match="expected revision 3"):
            records.append(rec(5, 2))
        assert records.next == 3

    def test_children_and_first_of_a_branch(self, kind: type[Any]) -> None:
        """Parent links answer both ways: a fork's child and the next one."""
        records = chain(3, kind)
        records.append(rec(3, 1, "branch-3"))
        records.append(rec(4, 3, "branch-3"))
        assert [r[0] for r in records.children(1)] == [2, 3]
        assert [r[0] for r in records.children(3)] == [4]
        assert records.children(4) == []
        assert records.first_of("branch-3") == 3
        assert records.first_of("main") == 0
        assert records.first_of("nope") is None

    def test_iteration_both_ways(self, kind: type[Any]) -> None:
        """Oldest first and newest first list the same held records."""
        records = chain(5, kind)
        assert [r[0] for r in records.oldest_first()] == [0, 1, 2, 3, 4]
        assert [r[0] for r in records.newest_first()] == [4, 3, 2, 1, 0]

    def test_drop_keeps_what_it_is_told_and_the_newest(self, kind: type[Any]) -> None:
        """Retention drops below the cutoff except kept numbers and the newest."""
        records = chain(6, kind)
        gone = records.droppable(10, None, {2})
        assert [r[0] for r in gone] == [0, 1, 3, 4]  # never 5, the newest
        records.drop(gone)
        assert [r[0] for r in records.oldest_first()] == [2, 5]
        assert [r[0] for r in records.newest_first()] == [5, 2]
        assert records.find(2)[0] == 2
        assert records.find(3) is None
        assert len(records) == 2

    def test_dropping_only_kept_older_records(self, kind: type[Any]) -> None:
        """A later trim that drops only a record kept earlier leaves the rest.

        (A negative cut of the list lost held records: found by a differential
        run against the engine before the split.)
        """
        records = chain(4, kind)
        records.drop(records.droppable(3, None, {1}))  # 1 kept below the cut
        for number in range(4, 8):
            records.append(rec(number, number - 1))
        gone = records.droppable(2, None, set())
        assert [r[0] for r in gone] == [1]
        records.drop(gone)
        assert [r[0] for r in records.oldest_first()] == [3, 4, 5, 6, 7]
        assert all(records.find(n)[0] == n for n in range(3, 8))

    def test_drop_by_time(self, kind: type[Any]) -> None:
        """With a time bound, only records older than it go."""
        records: Records = kind([rec(0, None, t=0)])
        for number in range(1, 5):
            records.append(rec(number, number - 1, t=number * 10))
        gone = records.droppable(5, 25, set())
        assert [r[0] for r in gone] == [0, 1, 2]

    def test_replace(self, kind: type[Any]) -> None:
        """A record is replaced in place (an erasure), kept or not."""
        records = chain(4, kind)
        records.drop(records.droppable(3, None, {1}))
        for number in (1, 3):
            new = (*rec(number, number - 1)[:3], "erased", *rec(0, None)[4:])
            records.replace(new)
            assert records.find(number) is new
        with pytest.raises(KeyError):
            records.replace(rec(0, None))

    def test_a_plain_append_onto_the_tail(self, kind: type[Any]) -> None:
        """A record continuing the newest goes straight onto the tail."""
        records = chain(3, kind)
        records.tail.append(rec(3, 2))
        assert records.next == 4
        assert records.find(3)[0] == 3
        assert [r[0] for r in records.newest_first()] == [3, 2, 1, 0]
        records.drop(records.droppable(4, None, set()))
        assert records.tail[-1][0] == 3
        assert records.next == 4

    def test_tips(self, kind: type[Any]) -> None:
        """The other branches' tips are a mapping the timeline updates."""
        records = chain(2, kind)
        records.tips["exp"] = 1
        assert records.tips == {"exp": 1}


def test_numbers_without_gaps() -> None:
    """Stored records handed over with a gap are refused."""
    with pytest.raises(ValueError, match="without gaps"):
        MemoryRecords([rec(0, None), rec(2, 1)])
