"""Records: the revisions a timeline holds, by number, with their parent links.

A :class:`~statetrail.Timeline` keeps its revisions (plain tuples, see
:mod:`statetrail.revision`) in an object implementing :class:`Records`. The
timeline owns the cursor and decides what is written; the records object only
holds what was written and answers "which record has this number", "which
records were made from this one", "where did this branch start" and "what
is there, oldest or newest first".

The protocol is written so that an implementation may hold only part of the
history in memory: every read goes through :meth:`Records.find` or an
iterator, never through an index into a list, so a paged implementation backed
by storage reads the page holding a number on demand and keeps a bounded cache
of pages (see docs/engine.md, "Records"). :class:`MemoryRecords` holds
everything in a list.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from statetrail.paths import Path
from statetrail.revision import BRANCH, NUMBER, PARENT, TIME, Record

__all__ = ["Erased", "MemoryRecords", "Records", "droppable"]


class Erased:
    """What an erased revision holds instead of its value: who erased it, and why.

    Its digest stays in the history, so the rest of the history still verifies.
    """

    __slots__ = ("author", "reason", "time_ns")

    def __init__(self, author: str | None, reason: str, time_ns: int) -> None:
        self.author = author
        self.reason = reason
        self.time_ns = time_ns

    def __repr__(self) -> str:
        who = f" by {self.author}" if self.author else ""
        return f"<erased{who}: {self.reason}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Erased):
            return NotImplemented
        return (self.author, self.reason, self.time_ns) == (
            other.author,
            other.reason,
            other.time_ns,
        )

    def __hash__(self) -> int:
        return hash((self.author, self.reason, self.time_ns))


class Records(Protocol):
    """The revisions of one timeline (implemented in memory and, later, paged).

    Numbers are given without gaps from 0, in the order revisions were
    recorded, whatever their branch; :attr:`next` is the number the next one
    takes. Retention may have dropped some: :meth:`find` then returns ``None``
    for them. Every method is called with the timeline's lock held.
    """

    @property
    def next(self) -> int:
        """The number the next revision takes (one more than the newest)."""
        ...

    @property
    def tail(self) -> list[Record]:
        """The newest held records, in number order, ending with the newest.

        A plain append (a record numbered :attr:`next` that continues the newest
        record on its branch: no new branch, no fork) may go straight onto this
        list, the one thing a write costs; everything else goes through
        :meth:`append`. A paged implementation hands out its newest page.
        """
        ...

    @property
    def tips(self) -> dict[str, int]:
        """The newest revision number of each branch but the cursor's.

        The timeline keeps the cursor's branch itself (it changes with every
        write); it updates this mapping when the cursor changes branch.
        """
        ...

    @tips.setter
    def tips(self, tips: dict[str, int]) -> None: ...

    def __len__(self) -> int:
        """How many revisions are held (dropped ones are not)."""
        ...

    def find(self, number: int) -> Record | None:
        """The record numbered ``number``, or ``None`` if none is held."""
        ...

    def first_of(self, branch: str) -> int | None:
        """The number of the first revision recorded on ``branch``, if any."""
        ...

    def children(self, number: int) -> list[Record]:
        """The held records whose parent is revision ``number``, by number."""
        ...

    def oldest_first(self) -> Iterator[Record]:
        """Every held record, in number order."""
        ...

    def newest_first(self) -> Iterator[Record]:
        """Every held record, newest first."""
        ...

    def touching(
        self, path: Path, *, before: int | None = None, limit: int | None = None
    ) -> list[int] | None:
        """Numbers of held records whose changes touched ``path``, newest first.

        A change at the path, under it or at an ancestor of it counts, on every
        branch, as :class:`~statetrail._pathindex.PathIndex` counts it (the
        first revision, which has no changes, does not). ``before`` keeps only
        numbers below it, ``limit`` the newest so many. ``None`` when this
        implementation keeps no path index of its own: the timeline then builds
        one in memory from every record, on first use.
        """
        ...

    def append(self, record: Record) -> None:
        """Hold ``record``, numbered :attr:`next`; :attr:`next` moves on by one."""
        ...

    def replace(self, record: Record) -> None:
        """Hold ``record`` instead of the held record with the same number."""
        ...

    def droppable(
        self, cutoff: int, before_ns: int | None, keep: set[int]
    ) -> list[Record]:
        """The records retention would drop, oldest first; nothing is dropped yet.

        Those numbered below ``cutoff`` (and, with ``before_ns``, recorded
        before it), except the numbers in ``keep`` and the newest record.
        """
        ...

    def drop(self, records: Sequence[Record]) -> None:
        """Forget ``records`` (as :meth:`droppable` gave them)."""
        ...


def droppable(
    held: Mapping[int, Record],
    line: Iterable[Record],
    cutoff: int,
    before_ns: int | None,
    keep: set[int],
) -> list[Record]:
    """What retention would drop, oldest first, for either kind of records.

    ``held``: records kept aside below the line (tips, the cursor), by number;
    ``line``: the held line oldest first, walked up to the first record at or
    past ``cutoff`` or not older than ``before_ns``. Records in ``keep`` stay.
    """
    found = [
        record
        for n, record in sorted(held.items())
        if n < cutoff
        and n not in keep
        and (before_ns is None or record[TIME] < before_ns)
    ]
    for record in line:
        if record[NUMBER] >= cutoff or (
            before_ns is not None and record[TIME] >= before_ns
        ):
            break
        if record[NUMBER] not in keep:
            found.append(record)
    return found


class MemoryRecords:
    """Every record in memory: a list from the oldest held number on.

    Records that retention had to keep below the list's first number (branch
    tips, the cursor) wait in a dict, so the list stays a list.
    """

    __slots__ = ("_first", "_forks", "_offset", "_old", "tail", "tips")

    def __init__(self, records: Sequence[Record] = ()) -> None:
        first = records[0][NUMBER] if records else 0
        for i, record in enumerate(records):
            if record[NUMBER] != first + i:
                raise ValueError("stored revisions must be numbered without gaps")
        # The list is the tail: numbered from _offset on, without gaps.
        self.tail: list[Record] = list(records)
        self._offset = first
        self._old: dict[int, Record] = {}
        self.tips: dict[str, int] = {}
        # The first number of each branch, and the children of each revision
        # that are not numbered one more than it (the rest are by arithmetic).
        self._first: dict[str, int] = {}
        self._forks: dict[int, list[int]] = {}
        for record in records:
            self._link(record)

    def _link(self, record: Record) -> None:
        number = record[NUMBER]
        self._first.setdefault(record[BRANCH], number)
        parent = record[PARENT]
        if parent is not None and parent != number - 1:
            self._forks.setdefault(parent, []).append(number)

    @property
    def next(self) -> int:
        """The number the next revision takes (one more than the newest)."""
        return self._offset + len(self.tail)

    def __len__(self) -> int:
        return len(self.tail) + len(self._old)

    def find(self, number: int) -> Record | None:
        """The record numbered ``number``, or ``None`` if none is held."""
        i = number - self._offset
        if i >= 0:
            revs = self.tail
            return revs[i] if i < len(revs) else None
        return self._old.get(number)

    def first_of(self, branch: str) -> int | None:
        """The number of the first revision recorded on ``branch``, if any."""
        return self._first.get(branch)

    def children(self, number: int) -> list[Record]:
        """The held records whose parent is revision ``number``, by number."""
        found = []
        for n in (number + 1, *self._forks.get(number, ())):
            child = self.find(n)
            if child is not None and child[PARENT] == number:
                found.append(child)
        return found

    def oldest_first(self) -> Iterator[Record]:
        """Every held record, in number order."""
        if self._old:
            yield from sorted(self._old.values(), key=_number)
        yield from list(self.tail)

    def newest_first(self) -> Iterator[Record]:
        """Every held record, newest first."""
        yield from reversed(list(self.tail))
        if self._old:
            yield from sorted(self._old.values(), key=_number, reverse=True)

    def touching(
        self, path: Path, *, before: int | None = None, limit: int | None = None
    ) -> list[int] | None:
        """``None``: the timeline's own path index answers (everything is here)."""
        return None

    def append(self, record: Record) -> None:
        """Hold ``record``, numbered :attr:`next`; :attr:`next` moves on by one."""
        number = record[NUMBER]
        if number != self.next:
            raise ValueError(f"expected revision {self.next}, got {number}")
        self.tail.append(record)
        if record[PARENT] != number - 1 or record[BRANCH] not in self._first:
            self._link(record)

    def replace(self, record: Record) -> None:
        """Hold ``record`` instead of the held record with the same number."""
        number = record[NUMBER]
        if self.find(number) is None:
            raise KeyError(number)
        i = number - self._offset
        if i >= 0:
            self.tail[i] = record
        else:
            self._old[number] = record

    def droppable(
        self, cutoff: int, before_ns: int | None, keep: set[int]
    ) -> list[Record]:
        """The records retention would drop, oldest first; nothing is dropped yet."""
        line = itertools.islice(self.tail, len(self.tail) - 1)  # never the newest
        return droppable(self._old, line, cutoff, before_ns, keep)

    def drop(self, records: Sequence[Record]) -> None:
        """Forget ``records``; kept ones below them move out of the list."""
        gone = {record[NUMBER] for record in records}
        for n in gone:
            self._old.pop(n, None)
            self._forks.pop(n, None)
        revs = self.tail
        # The records dropped from the list are a prefix of it (see droppable).
        k = max((n - self._offset + 1 for n in gone), default=0)
        k = max(k, 0)  # only records in _old went
        for record in revs[:k]:
            if record[NUMBER] not in gone:
                self._old[record[NUMBER]] = record  # kept: a tip or the cursor
        if k:
            del revs[:k]
            self._offset += k


def _number(record: Record) -> int:
    return record[NUMBER]  # type: ignore[no-any-return]
