"""The cursor of a timeline and its branches: where the next write goes.

The cursor is a record (``head``) on a branch (``branch``), whose newest record
is ``tip``; the other branches' newest revision numbers are kept by the
records (:attr:`~statetrail._records.Records.tips`), so paged records restore
them with the rest. A timeline holds one :class:`Cursor` and reads it on every
write: three slots, no methods on the hot path (a slot read costs what an
instance attribute did, ~10 ns, so the write core pays one load for the
object and nothing else).
"""

from __future__ import annotations

from collections.abc import Callable

from statetrail._records import Records
from statetrail.revision import BRANCH, NUMBER, Record

__all__: list[str] = []

#: What :meth:`Cursor.move` saves to put things back if storage refuses.
Saved = tuple[Record, Record, str, dict[str, int]]


class Cursor:
    """A timeline's cursor: the record at it, its branch and the branch's tip."""

    __slots__ = ("branch", "head", "tip")

    def __init__(self, head: Record, tip: Record, branch: str) -> None:
        self.head = head
        self.tip = tip
        self.branch = branch

    def tips(self, records: Records) -> dict[str, int]:
        """Each branch name and the number of its newest revision."""
        tips = dict(records.tips)
        tips[self.branch] = self.tip[NUMBER]
        return tips

    def tip_of(self, branch: str | None, records: Records) -> int | None:
        """The newest revision of ``branch``; ``None`` if there is no such branch.

        For ``branch=None``, the cursor's own number.
        """
        if branch is None:
            return self.head[NUMBER]  # type: ignore[no-any-return]
        if branch == self.branch:
            return self.tip[NUMBER]  # type: ignore[no-any-return]
        return records.tips.get(branch)

    def at_end(self, records: Records) -> bool:
        """Whether a write here appends: the head is the newest, on its branch."""
        head = self.head
        return not (
            head is not self.tip
            or head[NUMBER] + 1 != records.next
            or head[BRANCH] != self.branch
        )

    def move(
        self,
        records: Records,
        record: Record,
        branch: str,
        get: Callable[[int], Record],
    ) -> Saved:
        """Put the cursor at ``record`` on ``branch``; what :meth:`undo` takes back.

        The branch left keeps its tip in ``records.tips``; ``branch`` must be
        there (a new branch is put there first, at ``record``).
        """
        tips = records.tips
        before = (self.head, self.tip, self.branch, dict(tips))
        tips[self.branch] = self.tip[NUMBER]
        tip = tips.pop(branch)
        self.tip = record if tip == record[NUMBER] else get(tip)
        self.head = record
        self.branch = branch
        return before

    def undo(self, records: Records, saved: Saved) -> None:
        """Take back a :meth:`move` (storage refused it)."""
        self.head, self.tip, self.branch, records.tips = saved

    def follow(self, records: Records, record: Record) -> None:
        """Take in ``record``, recorded elsewhere: a branch tip moves.

        A cursor at its branch's tip follows the branch, so the next write
        appends after it instead of starting a branch.
        """
        if record[BRANCH] == self.branch:
            if self.head is self.tip:
                self.head = record
            self.tip = record
        else:
            records.tips[record[BRANCH]] = record[NUMBER]
