"""The undo stack: which revisions undo and redo go to next.

Undo and redo are revisions like any other (kinds ``undo`` and ``redo``), so
the stack is not stored: it is worked out from the cursor's lineage the first
time it is needed, then kept up to date with each write on the same branch,
and forgotten when the cursor moves.

Only the newest part of the lineage is read (issue 11: a stored timeline of
200,000 revisions read them all at its first undo): :meth:`UndoStack.of_newest`
replays the newest 64 records over an unknown stack below them, and reads twice
as many whenever the answer would depend on that unknown part (an undo past
what the part read recorded, a redo of something undone before it). The top of
the stack is then exactly what a replay of the whole lineage gives; what lies
below it is worked out again, from a longer part, when undo reaches it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from statetrail.revision import BRANCH, INFO, NUMBER, Record, RevisionKind

__all__ = ["UndoStack"]

#: Records read first when the stack is worked out (then twice as many, ...).
FIRST_READ = 64


class UndoStack:
    """The undoable and redoable revisions of a lineage ending at ``head``.

    ``undo`` lists revision numbers whose changes undo would take back, the
    latest last; ``redo`` those redo would re-apply. With ``deep`` (a stack
    worked out from the newest part of the lineage), more undoable revisions
    may lie below ``undo``: :meth:`exhausted` says when undo needs them.
    """

    __slots__ = ("branch", "deep", "head", "redo", "undo")

    def __init__(self, branch: str, head: int) -> None:
        self.branch = branch
        self.head = head
        self.undo: list[int] = []
        self.redo: list[int] = []
        self.deep = False

    @classmethod
    def of_lineage(cls, branch: str, lineage: Iterable[Record]) -> UndoStack:
        """The stack at the newest of ``lineage`` (records oldest first).

        Every record is replayed but the oldest, which nothing undoes.
        """
        records = list(lineage)
        stack = cls(branch, records[-1][NUMBER])
        for record in records[1:]:
            stack._replay(record)
        return stack

    @classmethod
    def of_newest(
        cls, branch: str, newest_first: Iterable[Record], first: int = FIRST_READ
    ) -> UndoStack:
        """The stack at the first of ``newest_first`` (its lineage, newest first).

        Reads ``first`` records, then twice as many each time the newest part
        read does not settle the top of both stacks; the whole lineage only
        when it is that short, or the top lies that deep.
        """
        records = iter(newest_first)
        taken: list[Record] = []
        want = max(first, 1)
        while True:
            # One more than the part: is the part the whole lineage, oldest and all?
            taken += itertools.islice(records, want + 1 - len(taken))
            if len(taken) <= want:
                return cls.of_lineage(branch, reversed(taken))
            stack = cls._of_part(branch, taken[:want])
            if stack is not None:
                return stack
            want *= 2

    @classmethod
    def _of_part(cls, branch: str, newest_first: Sequence[Record]) -> UndoStack | None:
        """The stack from the newest part of a lineage, over an unknown one.

        ``None`` when the answer depends on the part below: an undo or a redo
        that would take from it, or a top of either stack that lies in it.
        """
        stack = cls(branch, newest_first[0][NUMBER])
        stack.deep = True
        undo, redo = stack.undo, stack.redo
        cleared = False  # a plain write seen: nothing below counts for redo
        for record in reversed(newest_first):
            kind = record[INFO][0]
            if kind == RevisionKind.UNDO:
                if not undo:
                    return None
                redo.append(undo.pop())
            elif kind == RevisionKind.REDO:
                if redo:
                    undo.append(redo.pop())
                elif not cleared:
                    return None
            else:
                undo.append(record[NUMBER])
                redo.clear()
                cleared = True
        if not undo or (not redo and not cleared):
            return None
        return stack

    def at(self, branch: str, head: int) -> bool:
        """Whether this stack is the one of the cursor at ``head`` on ``branch``."""
        return self.branch == branch and self.head == head

    def exhausted(self) -> bool:
        """Whether undo would take from the part of the lineage not read yet."""
        return self.deep and not self.undo

    def _replay(self, record: Record) -> bool:
        kind = record[INFO][0]
        if kind == RevisionKind.UNDO:
            if self.undo:
                self.redo.append(self.undo.pop())
            elif self.deep:
                return False  # from below what was read: work it out again
        elif kind == RevisionKind.REDO:
            if self.redo:
                self.undo.append(self.redo.pop())
        else:
            self.undo.append(record[NUMBER])
            self.redo.clear()
        return True

    def track(self, record: Record) -> bool:
        """Take a new revision at the head into account.

        ``False`` when it was recorded on another branch, or undoes what lies
        below the part of the lineage read: the stack no longer applies, and the
        caller forgets it.
        """
        if self.branch != record[BRANCH] or not self._replay(record):
            return False
        self.head = record[NUMBER]
        return True

    def forget(self, number: int) -> None:
        """Retention dropped revision ``number``: it can no longer be undone."""
        if number in self.undo:
            self.undo.remove(number)
