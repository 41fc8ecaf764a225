"""The undo stack: which revisions undo and redo go to next.

Undo and redo are revisions like any other (kinds ``undo`` and ``redo``), so
the stack is not stored: it is worked out from the cursor's lineage the first
time it is needed, then kept up to date with each write on the same branch,
and forgotten when the cursor moves.
"""

from __future__ import annotations

from collections.abc import Iterable

from statetrail.revision import BRANCH, INFO, NUMBER, Record, RevisionKind

__all__ = ["UndoStack"]


class UndoStack:
    """The undoable and redoable revisions of a lineage ending at ``head``.

    ``undo`` lists revision numbers whose changes undo would take back, the
    latest last; ``redo`` those redo would re-apply.
    """

    __slots__ = ("branch", "head", "redo", "undo")

    def __init__(self, branch: str, head: int) -> None:
        self.branch = branch
        self.head = head
        self.undo: list[int] = []
        self.redo: list[int] = []

    @classmethod
    def of_lineage(cls, branch: str, lineage: Iterable[Record]) -> UndoStack:
        """The stack at the newest of ``lineage`` (records oldest first)."""
        records = list(lineage)
        stack = cls(branch, records[-1][NUMBER])
        for record in records[1:]:
            stack._replay(record)
        return stack

    def at(self, branch: str, head: int) -> bool:
        """Whether this stack is the one of the cursor at ``head`` on ``branch``."""
        return self.branch == branch and self.head == head

    def _replay(self, record: Record) -> None:
        kind = record[INFO][0]
        if kind == RevisionKind.UNDO:
            if self.undo:
                self.redo.append(self.undo.pop())
        elif kind == RevisionKind.REDO:
            if self.redo:
                self.undo.append(self.redo.pop())
        else:
            self.undo.append(record[NUMBER])
            self.redo.clear()

    def track(self, record: Record) -> bool:
        """Take a new revision at the head into account.

        ``False`` when it was recorded on another branch: the stack no longer
        applies, and the caller forgets it.
        """
        if self.branch != record[BRANCH]:
            return False
        self._replay(record)
        self.head = record[NUMBER]
        return True

    def forget(self, number: int) -> None:
        """Retention dropped revision ``number``: it can no longer be undone."""
        if number in self.undo:
            self.undo.remove(number)
