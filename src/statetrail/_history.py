"""The read side of a Timeline: finding records, lineage, log, blame and diff.

A base class of :class:`~statetrail.Timeline`. It owns what it reads: the
records (a :class:`~statetrail._records.Records`), the cursor (a
:class:`~statetrail._cursor.Cursor`), the lock that orders them, the changes
settled before a parent was trimmed and the path index, built on first use.
The timeline's write core changes them; nothing here writes but the index.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from statetrail import paths
from statetrail._change import Change
from statetrail._cursor import Cursor
from statetrail._merge import Resolver, merge3
from statetrail._pathindex import PathIndex, index_path
from statetrail._records import Records
from statetrail.diff import apply_changes, diff_values, invert, same_value
from statetrail.errors import (
    ConflictError,
    MergeConflictError,
    RevisionNotFoundError,
)
from statetrail.frozen import MISSING
from statetrail.frozen._hooks import real
from statetrail.frozen._opaque import Opaque
from statetrail.paths import Path, PathLike, format_path, parse_path
from statetrail.revision import (
    BRANCH,
    INFO,
    NUMBER,
    PARENT,
    TIME,
    VALUE,
    Record,
    Revision,
    RevisionKind,
    parents_of,
    time_ns_at,
    time_ns_of,
)

__all__: list[str] = []


class History:
    """Read-only queries over a timeline's records (see :class:`Timeline`).

    Args:
        name: The timeline's name, for messages.
        lock: The lock every write holds; reads of more than one record take it.
        records: The revisions held.
        cursor: Where the cursor is, and its branch's tip.
    """

    def __init__(
        self, name: str, lock: threading.RLock, records: Records, cursor: Cursor
    ) -> None:
        self.name = name
        self._lock = lock
        self._records = records
        self._cursor = cursor
        # Changes of records whose parent was trimmed or erased, worked out first.
        self._settled: dict[int, tuple[Change, ...]] = {}
        self._path_index: PathIndex | None = None

    def _refresh(self) -> None:
        """Take note that the path index was built (a subclass keeps it up to date).

        The timeline's write core does; a plain reader has nothing to do.
        """

    # -- records -------------------------------------------------------------------

    def _label(self) -> str:
        return f"timeline {self.name!r}" if self.name else "the timeline"

    def _find(self, number: int) -> Record | None:
        return self._records.find(number)

    def _get(self, number: int) -> Record:
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"a revision number is an int, not {type(number).__name__}")
        record = self._find(number)
        if record is None:
            if 0 <= number < self._records.next:
                raise RevisionNotFoundError(
                    f"revision {number} of {self._label()} was trimmed by retention"
                )
            raise RevisionNotFoundError(
                f"{self._label()} has no revision {number} "
                f"(revisions 0..{self._records.next - 1})"
            )
        return record

    def _parent_of(self, record: Record) -> Record | None:
        parent = record[PARENT]
        return None if parent is None else self._find(parent)

    def _all(self) -> list[Record]:
        return list(self._records.oldest_first())

    def _view(self, record: Record) -> Revision:
        return Revision(record, self)

    def changes_of(self, record: Record) -> tuple[Change, ...]:
        """What ``record`` (a raw revision) changed from its parent.

        For :attr:`Revision.changes <statetrail.Revision.changes>`, which asks
        its timeline: a diff, or the changes settled when the parent was
        trimmed or erased.
        """
        settled = self._settled.get(record[NUMBER])
        if settled is not None:
            return settled
        parent = self._parent_of(record)
        if parent is None:
            return ()
        return diff_values(parent[VALUE], record[VALUE])

    def _settle(self, record: Record) -> None:
        """Keep the changes of ``record`` and its children: it is being erased.

        They are worked out while its value is still here.
        """
        for child in self._records.children(record[NUMBER]):
            self._settled.setdefault(child[NUMBER], self.changes_of(child))
        self._settled.setdefault(record[NUMBER], self.changes_of(record))

    def _forget(self, record: Record) -> None:
        """Let go of a record retention drops; its children keep their changes.

        Those are settled first; the path index forgets the record.
        """
        n = record[NUMBER]
        for child in self._records.children(n):
            if child[NUMBER] not in self._settled:
                self._settled[child[NUMBER]] = self.changes_of(child)
        if self._path_index is not None:
            self._path_index.remove(n, self.changes_of(record))
        self._settled.pop(n, None)

    # -- the cursor and branches ---------------------------------------------------

    @property
    def head(self) -> Revision:
        """The revision at the cursor."""
        return Revision(self._cursor.head, self)

    @property
    def current_branch(self) -> str:
        """The branch the cursor is on."""
        return self._cursor.branch

    def __len__(self) -> int:
        """How many revisions are held (trimmed ones are not)."""
        return len(self._records)

    def _all_tips(self) -> dict[str, int]:
        return self._cursor.tips(self._records)

    def branches(self) -> dict[str, int]:
        """Each branch name and the number of its newest revision."""
        with self._lock:
            return self._all_tips()

    def _tip_of(self, branch: str | None) -> int:
        tip = self._cursor.tip_of(branch, self._records)
        if tip is None:
            raise RevisionNotFoundError(f"{self._label()} has no branch {branch!r}")
        return tip

    # -- single revisions ----------------------------------------------------------

    def revision(self, number: int) -> Revision:
        """The revision with this number.

        Raises :class:`~statetrail.RevisionNotFoundError` if there is none (or it
        was trimmed).
        """
        return Revision(self._get(number), self)

    def number_at(self, time: datetime) -> int | None:
        """The revision recorded last at or before ``time``, or ``None``.

        Times are the wall clock's: the answer is the held revision whose
        recorded time is the latest not after ``time`` (the highest number
        among equal times), on any branch: the value the timeline had just
        after that write. A clock set back can give a revision an earlier time
        than the one before it; the answer is still the revision whose own time
        is latest. A datetime holds microseconds: revisions recorded within
        ``time``'s microsecond count as at it. A naive datetime is local time.
        """
        limit = time_ns_at(time)
        with self._lock:
            found = [
                (r[TIME], r[NUMBER])
                for r in self._records.oldest_first()
                if r[TIME] <= limit
            ]
        return max(found)[1] if found else None

    def value_at(
        self, number: int | None = None, *, time: datetime | None = None
    ) -> Any:
        """The value recorded at revision ``number``, or as it was at ``time``.

        With ``time``, the value of :meth:`number_at` that time. Raises
        :class:`~statetrail.RevisionNotFoundError` if no held revision was
        recorded by then, and :class:`TypeError` for both or neither argument.
        """
        if time is not None:
            if number is not None:
                raise TypeError("value_at takes a revision number or a time, not both")
            found = self.number_at(time)
            if found is None:
                raise RevisionNotFoundError(
                    f"{self._label()} has no revision recorded at or before "
                    f"{time.isoformat()}"
                )
            number = found
        elif number is None:
            raise TypeError("value_at needs a revision number or a time")
        record = self._records.find(number) if type(number) is int else None
        if record is None:
            record = self._get(number)  # the error, or a bool or int subclass
        value = record[VALUE]
        return value if type(value) is not Opaque else value.copy()

    def revisions(self) -> list[Revision]:
        """Every held revision, on every branch, in number order."""
        with self._lock:
            return [Revision(r, self) for r in self._all()]

    # -- lineage -------------------------------------------------------------------

    def _lineage_from(self, number: int) -> Iterator[Record]:
        """The records from ``number`` back to the oldest held ancestor."""
        record = self._find(number)
        while record is not None:
            yield record
            record = self._parent_of(record)

    def _ancestry(self, number: int) -> Iterator[Record]:
        """Every held ancestor of ``number`` through both parents of merges.

        Newest first (by number, which is also time order along any path), each
        once. Without merges it is :meth:`_lineage_from`; the walk keeps a heap
        only while a merge has left more than one line open.
        """
        pending: list[int] = []  # negated numbers: a max-heap
        seen: set[int] = set()
        record = self._find(number)
        merge = RevisionKind.MERGE
        while True:
            if record is not None:
                yield record
                if not pending and record[INFO][0] != merge:
                    # One line open and no merge here: the parent, as
                    # _lineage_from walks (the common case, kept as cheap).
                    parent = record[PARENT]
                    record = None if parent is None else self._find(parent)
                    continue
                parents = parents_of(record)
                for parent in parents:
                    if parent not in seen:
                        seen.add(parent)
                        heapq.heappush(pending, -parent)
            if not pending:
                return
            record = self._find(-heapq.heappop(pending))

    def _merge_base(self, ours: Record, theirs: Record) -> Record | None:
        """The newest common ancestor of two records (``None``: none is held).

        Both lines are walked down together, newest first, marking what each
        reaches; the first revision reached from both is the answer (an
        ancestor of another common ancestor is always older). The walk stops
        there: its cost is the revisions since the two lines parted.
        """
        reach: dict[int, int] = {ours[NUMBER]: 1}
        reach[theirs[NUMBER]] = reach.get(theirs[NUMBER], 0) | 2
        pending = [-n for n in reach]
        heapq.heapify(pending)
        while pending:
            number = -heapq.heappop(pending)
            sides = reach[number]
            if sides == 3:
                return self._find(number)
            record = self._find(number)
            if record is None:
                continue
            for parent in parents_of(record):
                before = reach.get(parent, 0)
                if before | sides != before:
                    reach[parent] = before | sides
                    if not before:
                        heapq.heappush(pending, -parent)
        return None

    def _merged(self, branch: str, how: Resolver | None) -> tuple[Record, Record, Any]:
        """The cursor's record, ``branch``'s tip and their three-way merge.

        Called with the lock held, for :meth:`Timeline.merge`, which records it.
        """
        if branch == self._cursor.branch:
            raise ValueError(
                f"cannot merge branch {branch!r} of {self._label()} into itself"
            )
        theirs = self._get(self._tip_of(branch))
        ours = self._cursor.head
        base = self._merge_base(ours, theirs)
        if base is None:
            raise RevisionNotFoundError(
                f"{self._label()}: revisions {ours[NUMBER]} and "
                f"{theirs[NUMBER]} have no common ancestor held (trimmed)"
            )
        merged, conflicts = merge3(
            real(base[VALUE]), real(ours[VALUE]), real(theirs[VALUE]), resolve=how
        )
        if conflicts and how is None:
            raise MergeConflictError(
                f"merging branch {branch!r} into {self._cursor.branch!r} of "
                f"{self._label()}: both changed "
                + ", ".join(repr(c.dotted or "<root>") for c in conflicts[:5])
                + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
                + " differently; nothing was recorded. Merge again with "
                'resolve="ours", "theirs" or a function',
                conflicts,
            )
        return ours, theirs, merged

    def _reverted(self, target: Record, current: Any) -> Any:
        """``current`` without ``target``'s changes, for :meth:`Timeline.revert`.

        :class:`~statetrail.ConflictError` when a later revision on the cursor's
        lineage changed the same paths.
        """
        number = target[NUMBER]
        later: list[Record] = []
        for record in self._lineage_from(self._cursor.head[NUMBER]):
            if record[NUMBER] == number:
                break
            later.append(record)
        else:
            raise ValueError(
                f"revision {number} is not on the current lineage of {self._label()}"
            )
        undone = self.changes_of(target)
        touched = [index_path(c) for c in undone]
        conflicts = [
            (format_path(p), record[NUMBER])
            for record in reversed(later)
            for c in self.changes_of(record)
            for p in touched
            if paths.is_prefix(p, index_path(c)) or paths.is_prefix(index_path(c), p)
        ]
        if conflicts:
            raise ConflictError(
                f"cannot revert revision {number}: later revisions changed "
                "the same paths: "
                + ", ".join(f"{p or '<root>'} (revision {n})" for p, n in conflicts),
                conflicts,
            )
        return apply_changes(current, invert(undone))

    def _segments(self, number: int) -> dict[str, tuple[int, int]]:
        """The lineage of ``number`` as (branch -> lowest, highest number) spans.

        Each branch is one chain, so a revision is an ancestor exactly when its
        branch and number fall in a span: a membership test without a walk.
        """
        spans: dict[str, tuple[int, int]] = {}
        record = self._find(number)
        while record is not None:
            branch = record[BRANCH]
            high = record[NUMBER]
            first = self._records.first_of(branch)
            start = self._find(high if first is None else first)
            if start is None or start[BRANCH] != branch:
                # The branch's first revisions were trimmed: walk to the oldest held.
                for each in self._lineage_from(high):
                    if each[BRANCH] != branch:
                        break
                    start = each
            assert start is not None
            spans[branch] = (start[NUMBER], high)
            record = self._parent_of(start)
        return spans

    def history(self, branch: str | None = None) -> list[Revision]:
        """The revisions that led to the cursor (or a branch's tip), oldest first.

        Both sides of a merge led to it: their revisions are in it too, in
        number order.
        """
        with self._lock:
            records = list(self._ancestry(self._tip_of(branch)))
        records.reverse()
        return [Revision(r, self) for r in records]

    # -- the path index ------------------------------------------------------------

    def _index(self) -> PathIndex:
        index = self._path_index
        if index is None:
            index = PathIndex()
            for record in self._all():
                index.add(record[NUMBER], self.changes_of(record))
            self._path_index = index
            self._refresh()
        return index

    def _touching(self, path: Path, page: int = 64) -> Iterator[int]:
        """Numbers of held records that changed ``path``, newest first.

        From the records' own index when they keep one (a stored timeline's,
        in storage: read ``page`` numbers at a time), else from the path index
        built in memory on first use.
        """
        found = self._records.touching(path, limit=page)
        if found is None:
            yield from reversed(list(self._index().touching(path)))
            return
        while True:
            yield from found
            if len(found) < page:
                return
            found = self._records.touching(path, before=found[-1], limit=page) or []

    def _path_records(self, path: Path, tip: int) -> list[Record]:
        spans = self._segments(tip)
        out = []
        for n in self._touching(path, page=1024):
            record = self._get(n)
            span = spans.get(record[BRANCH])
            if span is not None and span[0] <= n <= span[1]:
                out.append(record)
        out.reverse()
        return out

    def path_history(
        self, path: PathLike, *, branch: str | None = None
    ) -> list[Revision]:
        """The revisions on the cursor's lineage that changed ``path``, oldest first.

        A change to something under the path, or to an ancestor of it, counts.

        The cost is the number of revisions that touched the path, not the length of
        the history: a path index is built on first use and kept up to date (a
        stored timeline reads the one kept in storage).
        """
        with self._lock:
            records = self._path_records(parse_path(path), self._tip_of(branch))
        return [Revision(r, self) for r in records]

    def blame(
        self, path: PathLike = (), *, branch: str | None = None
    ) -> Revision | None:
        """The newest revision on the lineage that changed ``path``.

        A change to something under the path or to an ancestor of it counts. When
        no revision changed it since the oldest held one, that oldest revision is
        the answer if the path exists there; ``None`` if the path does not exist.
        A merge that took the value at ``path`` from the branch merged in is
        followed into that branch, to the revision that made the value there; a
        merge whose value differs from both parents' (a conflict resolved by
        hand) is the answer itself.
        """
        steps = parse_path(path)
        with self._lock:
            record = self._blame_from(steps, self._tip_of(branch))
            return None if record is None else Revision(record, self)

    def _blame_from(self, steps: Path, tip: int) -> Record | None:
        """:meth:`blame` from revision ``tip`` (called with the lock held)."""
        spans = self._segments(tip)
        for n in self._touching(steps):
            record = self._get(n)
            span = spans.get(record[BRANCH])
            if span is not None and span[0] <= n <= span[1]:
                if record[INFO][0] == RevisionKind.MERGE:
                    other = self._find(record[INFO][1])
                    if other is not None and same_value(
                        paths.lookup_in(record[VALUE], steps, MISSING),
                        paths.lookup_in(other[VALUE], steps, MISSING),
                    ):
                        return self._blame_from(steps, other[NUMBER])
                return record
        # The oldest held record of the lineage starts its oldest span (no walk).
        oldest = self._find(min(low for low, _ in spans.values())) if spans else None
        if (
            oldest is not None
            and paths.lookup_in(oldest[VALUE], steps, MISSING) is not MISSING
        ):
            return oldest
        return None

    def diff(self, a: int, b: int | None = None) -> list[Change]:
        """The changes from revision ``a`` to revision ``b`` (default: the cursor).

        A merge's own changes, as :attr:`~statetrail.Revision.changes` gives
        them, are from its first parent: ``diff(merge.parents[0], merge.number)``.
        Subtrees the two values share are skipped, so the cost is the size of the
        difference, not of the value.
        """
        va = self._get(a)[VALUE]
        vb = self._cursor.head[VALUE] if b is None else self._get(b)[VALUE]
        return list(diff_values(va, vb))

    # -- the log -------------------------------------------------------------------

    def log(
        self,
        *,
        branch: str | None = None,
        all_branches: bool = False,
        author: str | None = None,
        comment: str | None = None,
        label: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        path: PathLike | None = None,
        kind: str | None = None,
        reverse: bool = False,
        start: int = 0,
        limit: int | None = None,
    ) -> list[Revision]:
        """Revisions matching every filter given, oldest first.

        Args:
            branch: Follow this branch's lineage instead of the cursor's.
            all_branches: Every held revision of every branch, in number order.
            author: Exactly this author.
            comment: Comments containing this text.
            label: Exactly this label.
            since: Recorded at or after this time (a naive datetime is local time,
                as :meth:`datetime.timestamp` reads it).
            until: Recorded before this time.
            path: Revisions that changed this path, something under it, or an
                ancestor of it (from the path index, not a scan).
            kind: Exactly this :class:`~statetrail.revision.RevisionKind`.
            reverse: Newest first.
            start: Skip this many matches (for batching).
            limit: Return at most this many.
        """
        if start < 0 or (limit is not None and limit < 0):
            raise ValueError("start and limit must not be negative")
        if limit == 0:
            return []
        since_ns = None if since is None else time_ns_of(since)
        until_ns = None if until is None else time_ns_of(until)
        with self._lock:
            source: Iterable[Record]
            if all_branches:
                every = self._all()
                source = reversed(every) if reverse else every
                if path is not None:
                    wanted = set(self._touching(parse_path(path), page=1024))
                    source = (r for r in source if r[NUMBER] in wanted)
            elif path is not None:
                found = self._path_records(parse_path(path), self._tip_of(branch))
                source = reversed(found) if reverse else found
            else:
                lineage = self._ancestry(self._tip_of(branch))
                source = lineage if reverse else reversed(list(lineage))
            out: list[Revision] = []
            skipped = 0
            for record in source:
                rev_kind, _, rev_label, rev_author, rev_comment, _ = record[INFO]
                if author is not None and rev_author != author:
                    continue
                if comment is not None and (
                    rev_comment is None or comment not in rev_comment
                ):
                    continue
                if label is not None and rev_label != label:
                    continue
                if kind is not None and rev_kind != kind:
                    continue
                if since_ns is not None and record[TIME] < since_ns:
                    continue
                if until_ns is not None and record[TIME] >= until_ns:
                    continue
                if skipped < start:
                    skipped += 1
                    continue
                out.append(Revision(record, self))
                if limit is not None and len(out) >= limit:
                    break
            return out
