"""The undo stack worked out from the newest part of a lineage.

:meth:`UndoStack.of_newest` reads only as much of the lineage as the top of the
stack needs; what it gives must be what replaying the whole lineage gives
(:meth:`UndoStack.of_lineage`), for any sequence of writes, undos and redos,
including undos and redos recorded where the replayed stack is empty (another
process's, or a trimmed lineage's).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

import statetrail
from statetrail._undo import UndoStack
from statetrail.revision import RevisionKind
from tests.conftest import scaled


def _record(number: int, kind: str) -> tuple[Any, ...]:
    parent = None if number == 0 else number - 1
    return (number, parent, "main", number, 0, (kind, None, None, None, None, None))


def _lineage(draw: random.Random, length: int) -> list[tuple[Any, ...]]:
    """Records oldest first: plain writes, undos and redos in random runs."""
    kinds = [RevisionKind.SET, RevisionKind.UNDO, RevisionKind.REDO]
    weights = [draw.random() + 0.1 for _ in kinds]
    return [
        _record(n, "initial" if n == 0 else draw.choices(kinds, weights)[0])
        for n in range(length)
    ]


class _Counted:
    """An iterator over records that counts how many were taken."""

    def __init__(self, records: list[tuple[Any, ...]]) -> None:
        self.records = records
        self.taken = 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for record in self.records:
            self.taken += 1
            yield record


class TestOfNewest:
    def test_the_top_is_what_the_whole_replay_gives(self) -> None:
        """Undo and redo as a replay of every record gives them, down to
        the part read; below it, ``deep`` says more may lie."""
        for seed in range(scaled(500)):
            draw = random.Random(seed)
            lineage = _lineage(draw, draw.randrange(1, 300))
            whole = UndoStack.of_lineage("main", lineage)
            first = draw.randrange(1, 20)
            part = UndoStack.of_newest("main", reversed(lineage), first=first)
            assert part.head == whole.head, seed
            assert part.redo == whole.redo, seed
            assert part.undo == whole.undo[len(whole.undo) - len(part.undo) :], seed
            if not part.deep:
                assert part.undo == whole.undo, seed
            if whole.undo:
                assert part.undo, seed  # the top is always known

    def test_a_history_of_writes_reads_the_first_part_only(self) -> None:
        """Plain writes settle the top at once: 65 records of 100,000 read."""
        lineage = _Counted([_record(n, "set") for n in range(100_000, -1, -1)])
        stack = UndoStack.of_newest("main", lineage)
        assert lineage.taken == 65
        assert stack.undo[-1] == 100_000
        assert stack.deep

    def test_undos_past_the_part_read_read_further(self) -> None:
        """A run of undos longer than the first part doubles the part read."""
        records = [_record(n, "set") for n in range(200)]
        records += [_record(n, "undo") for n in range(200, 300)]
        counted = _Counted(records[::-1])
        stack = UndoStack.of_newest("main", counted)
        assert stack.undo[-1] == 99
        assert stack.redo == list(range(199, 99, -1))
        assert counted.taken == 257  # 64, 128, then 256 and one more


class TestTimelineUndo:
    def test_undo_all_the_way_matches_a_full_replay(self) -> None:
        """A timeline undoing its whole history, a stack read in parts,
        reaches the same values and the same end as before."""
        timeline = statetrail.Timeline(0)
        for n in range(1, 300):
            timeline.set(n)
        seen = []
        for _ in range(299):
            seen.append(timeline.undo().value)
        assert seen == list(range(298, -1, -1))
        with pytest.raises(statetrail.RevisionNotFoundError):
            timeline.undo()
        for n in range(1, 300):
            assert timeline.redo().value == n
        with pytest.raises(statetrail.RevisionNotFoundError):
            timeline.redo()
