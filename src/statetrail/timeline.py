"""Timeline: the engine. An append-only, branching history of one value.

Every write appends a :class:`~statetrail.Revision`; nothing recorded is ever
rewritten. Rolling back appends a revision equal to an earlier one. Moving the
cursor back (:meth:`Timeline.checkout`, :meth:`Timeline.undo` is not that: it
appends) and writing again starts a new branch, so the forward path is kept.

Concurrency. One lock orders writes, so revision numbers increase without gaps and
no write is lost. Reads of the current value take no lock. Validators run under
the lock, before anything is recorded. Listeners run after the commit, outside the
lock, in commit order: one thread at a time delivers queued revisions, so a writer
on another thread may return before its listeners ran, and a listener that writes
back has its revision queued, not delivered recursively. A validator that writes,
or a write from another task while an :meth:`Timeline.edit` block awaits, raises
:class:`~statetrail.ReentrancyError` instead of losing an update.

>>> from statetrail import Timeline
>>> t = Timeline({"bins": 10})
>>> _ = t.set_in("bins", 12)
>>> _ = t.set_in("sorted", 1)
>>> t.value
FrozenDict({'bins': 12, 'sorted': 1})
>>> [c for c in t.diff(0, 2)]
[Change('bins', 10, 12), Change('sorted', MISSING, 1)]
>>> t.blame("bins").number
1
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import sys
import threading
import time
from asyncio import _get_running_loop
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from time import time_ns as _time_ns
from typing import Any, Generic, NamedTuple, TypeVar

from statetrail import paths
from statetrail.context import (
    _EMPTY,
    _META,
    CAPTURE,
    RawOrigin,
    _task_name,
    _threads,
    capture_raw,
)
from statetrail.diff import apply_changes, diff_values, invert
from statetrail.errors import (
    ConflictError,
    FrozenError,
    ReentrancyError,
    RevisionNotFoundError,
)
from statetrail.frozen import MISSING, Draft
from statetrail.frozen._draft import draft_of
from statetrail.frozen._freeze import _IMMUTABLE as _SCALARS
from statetrail.frozen._freeze import freeze_value
from statetrail.paths import Path, PathLike, format_path, parse_path
from statetrail.revision import PLAIN, Change, Revision, RevisionKind, Trim

_getframe = sys._getframe

__all__ = ["MAX_LISTENER_DEPTH", "Retention", "Timeline"]

logger = logging.getLogger("statetrail")
logger.addHandler(logging.NullHandler())

T = TypeVar("T")

Validator = Callable[[Any], object]
Listener = Callable[[Revision], object]

#: How many generations of listener write-backs are allowed before a write raises
#: :class:`~statetrail.ReentrancyError` (a listener writing, whose revision's
#: listener writes, and so on, across timelines too).
MAX_LISTENER_DEPTH = 100

_local = threading.local()
# "Capture the origin here": a front end that captured it earlier (an asyncio
# store, at dispatch) passes what it captured instead.
_UNSET: Any = object()
# Threads now delivering to listeners: only they need the thread-local depth, so
# a write elsewhere skips that lookup.
_delivering: set[int] = set()

Info = tuple[str, "int | None", "str | None", "str | None", "str | None", Any]


class Retention(NamedTuple):
    """Which revisions a timeline keeps.

    The last ``keep_last``, and/or those younger than ``max_age``. Older ones are
    trimmed after each write, leaving a
    :class:`~statetrail.revision.Trim` tombstone; branch tips and the current
    revision are always kept.
    """

    keep_last: int | None = None
    max_age: timedelta | None = None


class _PathNode:
    __slots__ = ("children", "here", "under")

    def __init__(self) -> None:
        self.children: dict[Any, _PathNode] = {}
        self.here: list[int] = []  # revisions that changed exactly this path
        self.under: list[int] = []  # revisions that changed this path or below it


def _index_path(change: Change) -> Path:
    # An insertion or removal in a list shifts every later item: index it at the
    # list itself, so it counts as a change to each item's path.
    path = change.path
    if path and change.kind != "replace" and isinstance(path[-1], int):
        return path[:-1]
    return path


class _PathIndex:
    """For each path, the revisions that touched it.

    Blame and path history cost the number of those revisions, not the length of
    the history.
    """

    __slots__ = ("root",)

    def __init__(self) -> None:
        self.root = _PathNode()

    def add(self, rev: Revision) -> None:
        n = rev._number
        for change in rev.changes:
            node = self.root
            if not node.under or node.under[-1] != n:
                node.under.append(n)
            for step in _index_path(change):
                child = node.children.get(step)
                if child is None:
                    child = node.children[step] = _PathNode()
                node = child
                if not node.under or node.under[-1] != n:
                    node.under.append(n)
            if not node.here or node.here[-1] != n:
                node.here.append(n)

    def remove(self, rev: Revision) -> None:
        n = rev._number
        for change in rev.changes:
            node: _PathNode | None = self.root
            trail = [self.root]
            for step in _index_path(change):
                node = node.children.get(step) if node is not None else None
                if node is None:
                    break
                trail.append(node)
            for each in trail:
                if n in each.under:
                    each.under.remove(n)
            if node is not None and n in node.here:
                node.here.remove(n)

    def touching(self, path: Path) -> Iterator[int]:
        """Revision numbers that changed ``path``, under it, or an ancestor of it.

        In increasing order, without repeats.
        """
        lists: list[list[int]] = []
        node: _PathNode | None = self.root
        for step in path:
            assert node is not None
            lists.append(node.here)
            node = node.children.get(step)
            if node is None:
                break
        if node is not None:
            lists.append(node.under)
        last = -1
        for n in heapq.merge(*lists):
            if n != last:
                yield n
                last = n


class Timeline(Generic[T]):
    """The history of one value: append-only, branching, thread-safe.

    Args:
        initial: The first value (revision 0).
        name: A name, for messages and storage.
        deep_copy: Freeze values (the default). With ``False`` values are kept by
            reference, as given, for objects that cannot be copied; the caller must
            then not change them.
        origin: Record the caller's line with each revision; ``None`` follows
            :func:`~statetrail.set_origin_capture`.
        validators: Callables given each new value before it is recorded; one that
            raises rejects the write.
        listeners: Callables given each new :class:`~statetrail.Revision` after it
            is recorded.
        retention: Keep only some revisions (see :class:`Retention`).
        branch: The name of the first branch.
        label, author, comment: Metadata of revision 0.
    """

    def __init__(
        self,
        initial: Any = None,
        *,
        name: str = "",
        deep_copy: bool = True,
        origin: bool | None = None,
        validators: Iterable[Validator] = (),
        listeners: Iterable[Listener] = (),
        retention: Retention | None = None,
        branch: str = "main",
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> None:
        if not isinstance(branch, str) or not branch:
            raise ValueError("a branch name is a non-empty string")
        self.name = name
        self._deep_copy = deep_copy
        self._origin = origin
        self._lock = threading.RLock()
        self._writing = False
        self._frozen = False
        self._validators: list[Validator] = list(validators)
        self._listeners: tuple[Listener, ...] = tuple(listeners)
        self._pending: deque[tuple[Revision, int]] = deque()
        self._dispatch_lock = threading.Lock()
        self._path_index: _PathIndex | None = None
        self._undo: tuple[str, int, list[int], list[int]] | None = None
        self._retention = _check_retention(retention)
        self._tombstones: list[Trim] = []
        self._forks: dict[int, list[int]] = {}
        value = self._freeze(initial)
        rev = Revision(
            0,
            None,
            branch,
            value,
            time.time_ns(),
            self._info(RevisionKind.INITIAL, None, label, author, comment),
            self._capture(1),
        )
        # Revisions numbered _offset and up, in order; older ones retention had to
        # keep (branch tips, the cursor) wait in _old.
        self._revs: list[Revision] = [rev]
        self._offset = 0
        self._old: dict[int, Revision] = {}
        self._next = 1
        # The cursor (_head) on its branch (_head_branch), whose newest revision is
        # _tip; _tips keeps the other branches' newest revision numbers.
        self._tips: dict[str, int] = {}
        self._first: dict[str, int] = {branch: 0}
        self._head = rev
        self._tip = rev
        self._head_branch = branch
        self._refresh()

    def _refresh(self) -> None:
        # True when a write needs nothing but appending: the cursor is at the newest
        # revision of all, on that revision's branch, and there are no validators,
        # listeners, retention, path index or undo state to keep; not frozen, not
        # mid-write. Every change to any of these calls _refresh().
        head = self._head
        self._plain = not (
            head is not self._tip
            or head._number + 1 != self._next
            or head._branch != self._head_branch
            or self._frozen
            or self._writing
            or self._validators
            or self._listeners
            or self._retention is not None
            or self._path_index is not None
            or self._undo is not None
        )

    # -- helpers -----------------------------------------------------------------

    def _freeze(self, value: Any) -> Any:
        if not self._deep_copy:
            return value
        try:
            return freeze_value(value)
        except RecursionError:
            raise ValueError("value nested too deeply to record") from None

    def _capture(self, depth: int) -> RawOrigin | None:
        # ``depth``: frames between the caller of this method and the user's code.
        enabled = self._origin
        if enabled is None:
            enabled = CAPTURE.on
        return capture_raw(depth + 1) if enabled else None

    @staticmethod
    def _info(
        kind: str,
        target: int | None,
        label: str | None,
        author: str | None,
        comment: str | None,
        extra: Any = None,
    ) -> Info:
        """A revision's kind, target and metadata; the context fills in the rest.

        The shared :data:`~statetrail.revision.PLAIN` when there is none.
        """
        meta = _META.get()
        if meta is not _EMPTY:
            if label is None:
                label = meta.label
            if author is None:
                author = meta.author
            if comment is None:
                comment = meta.comment
        if (
            kind is RevisionKind.SET
            and label is None
            and author is None
            and comment is None
            and extra is None
        ):
            return PLAIN
        return (kind, target, label, author, comment, extra)

    def _find(self, number: int) -> Revision | None:
        i = number - self._offset
        if i >= 0:
            revs = self._revs
            return revs[i] if i < len(revs) else None
        return self._old.get(number)

    def _get(self, number: int) -> Revision:
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"a revision number is an int, not {type(number).__name__}")
        rev = self._find(number)
        if rev is None:
            if 0 <= number < self._next:
                raise RevisionNotFoundError(
                    f"revision {number} of {self._label()} was trimmed by retention"
                )
            raise RevisionNotFoundError(
                f"{self._label()} has no revision {number} "
                f"(revisions 0..{self._next - 1})"
            )
        return rev

    def _parent_of(self, rev: Revision) -> Revision | None:
        parent = rev._parent
        if parent is None or type(parent) is Revision:
            return parent
        return self._find(parent[0])  # type: ignore[index]

    def _all(self) -> list[Revision]:
        if self._old:
            return sorted(self._old.values(), key=_number) + self._revs
        return list(self._revs)

    def _label(self) -> str:
        return f"timeline {self.name!r}" if self.name else "the timeline"

    # -- reading -------------------------------------------------------------------

    @property
    def value(self) -> T:
        """The value at the cursor (normally the newest revision of the branch)."""
        return self._head.value  # type: ignore[no-any-return]

    @property
    def head(self) -> Revision:
        """The revision at the cursor."""
        return self._head

    @property
    def current_branch(self) -> str:
        """The branch the cursor is on."""
        return self._head_branch

    @property
    def frozen(self) -> bool:
        """Whether writes are refused (see :meth:`freeze`)."""
        return self._frozen

    @property
    def tombstones(self) -> list[Trim]:
        """What retention and :meth:`trim` removed, oldest first."""
        with self._lock:
            return list(self._tombstones)

    def __len__(self) -> int:
        """How many revisions are held (trimmed ones are not)."""
        return len(self._revs) + len(self._old)

    def revision(self, number: int) -> Revision:
        """The revision with this number.

        Raises :class:`~statetrail.RevisionNotFoundError` if there is none (or it
        was trimmed).
        """
        return self._get(number)

    def value_at(self, number: int) -> T:
        """The value recorded at revision ``number``."""
        return self._get(number).value  # type: ignore[no-any-return]

    def revisions(self) -> list[Revision]:
        """Every held revision, on every branch, in number order."""
        with self._lock:
            return self._all()

    def branches(self) -> dict[str, int]:
        """Each branch name and the number of its newest revision."""
        with self._lock:
            return self._all_tips()

    def _all_tips(self) -> dict[str, int]:
        tips = dict(self._tips)
        tips[self._head_branch] = self._tip._number
        return tips

    def _lineage_from(self, number: int) -> Iterator[Revision]:
        """The revisions from ``number`` back to the oldest held ancestor."""
        rev = self._find(number)
        while rev is not None:
            yield rev
            rev = self._parent_of(rev)

    def _segments(self, number: int) -> dict[str, tuple[int, int]]:
        """The lineage of ``number`` as (branch -> lowest, highest number) spans.

        Each branch is one chain, so a revision is an ancestor exactly when its
        branch and number fall in a span: a membership test without a walk.
        """
        spans: dict[str, tuple[int, int]] = {}
        rev = self._find(number)
        while rev is not None:
            high = rev._number
            start = self._find(self._first.get(rev._branch, high))
            if start is None or start._branch != rev._branch:
                # The branch's first revisions were trimmed: walk to the oldest held.
                low = rev
                for low in self._lineage_from(high):
                    if low._branch != rev._branch:
                        break
                    start = low
                assert start is not None
            spans[rev._branch] = (start._number, high)
            rev = self._parent_of(start)
        return spans

    def _tip_of(self, branch: str | None) -> int:
        if branch is None:
            return self._head._number
        if branch == self._head_branch:
            return self._tip._number
        tip = self._tips.get(branch)
        if tip is None:
            raise RevisionNotFoundError(f"{self._label()} has no branch {branch!r}")
        return tip

    def history(self, branch: str | None = None) -> list[Revision]:
        """The revisions that led to the cursor (or a branch's tip), oldest first."""
        with self._lock:
            revs = list(self._lineage_from(self._tip_of(branch)))
        revs.reverse()
        return revs

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
        since_ns = None if since is None else int(since.timestamp() * 1e9)
        until_ns = None if until is None else int(until.timestamp() * 1e9)
        with self._lock:
            if all_branches:
                every = self._all()
                source: Iterable[Revision] = reversed(every) if reverse else every
                if path is not None:
                    wanted = set(self._path_candidates(parse_path(path)))
                    source = (r for r in source if r._number in wanted)
            elif path is not None:
                revs = self._path_revisions(parse_path(path), self._tip_of(branch))
                source = reversed(revs) if reverse else revs
            else:
                lineage = self._lineage_from(self._tip_of(branch))
                source = lineage if reverse else reversed(list(lineage))
            out: list[Revision] = []
            skipped = 0
            for rev in source:
                rev_kind, _, rev_label, rev_author, rev_comment, _ = rev._info
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
                if since_ns is not None and rev._time_ns < since_ns:
                    continue
                if until_ns is not None and rev._time_ns >= until_ns:
                    continue
                if skipped < start:
                    skipped += 1
                    continue
                out.append(rev)
                if limit is not None and len(out) >= limit:
                    break
            return out

    def _index(self) -> _PathIndex:
        index = self._path_index
        if index is None:
            index = _PathIndex()
            for rev in self._all():
                index.add(rev)
            self._path_index = index
            self._refresh()
        return index

    def _path_candidates(self, path: Path) -> Iterator[int]:
        return self._index().touching(path)

    def _path_revisions(self, path: Path, tip: int) -> list[Revision]:
        spans = self._segments(tip)
        out = []
        for n in self._path_candidates(path):
            rev = self._get(n)
            span = spans.get(rev._branch)
            if span is not None and span[0] <= n <= span[1]:
                out.append(rev)
        return out

    def path_history(
        self, path: PathLike, *, branch: str | None = None
    ) -> list[Revision]:
        """The revisions on the cursor's lineage that changed ``path``, oldest first.

        A change to something under the path, or to an ancestor of it, counts.

        The cost is the number of revisions that touched the path, not the length of
        the history: a path index is built on first use and kept up to date.
        """
        with self._lock:
            return self._path_revisions(parse_path(path), self._tip_of(branch))

    def blame(
        self, path: PathLike = (), *, branch: str | None = None
    ) -> Revision | None:
        """The newest revision on the lineage that changed ``path``.

        A change to something under the path or to an ancestor of it counts. When
        no revision changed it since the oldest held one, that oldest revision is
        the answer if the path exists there; ``None`` if the path does not exist.
        """
        steps = parse_path(path)
        with self._lock:
            tip = self._tip_of(branch)
            spans = self._segments(tip)
            candidates = list(self._path_candidates(steps))
            for n in reversed(candidates):
                rev = self._get(n)
                span = spans.get(rev._branch)
                if span is not None and span[0] <= n <= span[1]:
                    return rev
            oldest = None
            for rev in self._lineage_from(tip):
                oldest = rev
            if (
                oldest is not None
                and paths.lookup_in(oldest._value, steps, MISSING) is not MISSING
            ):
                return oldest
            return None

    def diff(self, a: int, b: int | None = None) -> list[Change]:
        """The changes from revision ``a`` to revision ``b`` (default: the cursor).

        Subtrees the two values share are skipped, so the cost is the size of the
        difference, not of the value.
        """
        va = self._get(a)._value
        vb = self._head._value if b is None else self._get(b)._value
        return list(diff_values(va, vb))

    # -- writing -------------------------------------------------------------------

    @contextlib.contextmanager
    def _user_code(self) -> Iterator[None]:
        """Mark a write in progress while the caller's code runs under the lock.

        A write back from that code then raises, instead of slipping in between a
        read and the write that depends on it.
        """
        self._writing = True
        self._plain = False
        try:
            yield
        finally:
            self._writing = False
            self._refresh()

    def _check_writable(self) -> None:
        # Called with the lock held.
        if self._writing:
            raise ReentrancyError(
                f"a write to {self._label()} while a write to it is in progress on "
                "this thread (from a validator, an update() function, or another task "
                "while an edit() block awaits)"
            )

    def _commit(
        self,
        value: Any,
        info: Info,
        origin: RawOrigin | None,
        expect: int | None,
    ) -> Revision:
        # Called with the lock held.
        if self._frozen:
            raise FrozenError(f"{self._label()} is frozen and cannot be changed")
        head = self._head
        if expect is not None and head._number != expect:
            raise ConflictError(
                f"{self._label()} moved: expected revision {expect} at the head, "
                f"found {head._number}",
                [(expect, head._number)],
            )
        depth = getattr(_local, "depth", 0) if _delivering else 0
        if depth >= MAX_LISTENER_DEPTH:
            raise ReentrancyError(
                f"listeners kept writing back {depth} generations deep; the limit is "
                f"MAX_LISTENER_DEPTH={MAX_LISTENER_DEPTH}"
            )
        if self._validators:
            with self._user_code():
                for validate in self._validators:
                    validate(value)
        number = self._next
        parent = head._number
        branch = self._head_branch
        if head is not self._tip:
            # Writing from behind the branch's newest revision: keep that forward
            # path on its branch and start a new one here.
            self._tips[branch] = self._tip._number
            branch = f"branch-{number}"
        if head._branch != branch:
            self._first.setdefault(branch, number)
        if parent != number - 1:
            self._forks.setdefault(parent, []).append(number)
        rev = Revision(number, head, branch, value, _time_ns(), info, origin)
        self._revs.append(rev)
        self._next = number + 1
        self._head = self._tip = rev
        self._head_branch = branch
        if self._path_index is not None:
            self._path_index.add(rev)
        if self._undo is not None:
            self._track_undo(rev)
        if self._retention is not None:
            self._retain()
        if self._listeners:
            self._pending.append((rev, depth + 1))
        self._refresh()
        return rev

    def _write(
        self,
        compute: Callable[[Any], Any],
        kind: str,
        target: int | None,
        label: str | None,
        author: str | None,
        comment: str | None,
        expect: int | None,
        depth: int,
        extra: Any = None,
        origin: Any = _UNSET,
    ) -> Revision:
        if origin is _UNSET:
            origin = self._capture(depth + 1)
        info = self._info(kind, target, label, author, comment, extra)
        with self._lock:
            self._check_writable()
            rev = self._commit(
                compute(self._head._value),
                info,
                origin,
                expect,
            )
        if self._pending:
            self._dispatch()
        return rev

    def set(
        self,
        value: T,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        extra: Any = None,
        expect: int | None = None,
        _depth: int = 1,
    ) -> Revision:
        """Record ``value`` as a new revision and return it.

        ``label``, ``author`` and ``comment`` default to the enclosing
        :func:`~statetrail.context`. With ``expect``, the write is refused with
        :class:`~statetrail.ConflictError` unless the cursor is at that revision
        (optimistic concurrency).
        """
        return self._set(value, label, author, comment, extra, expect, _depth + 1)

    def _set(
        self,
        value: Any,
        label: str | None,
        author: str | None,
        comment: str | None,
        extra: Any,
        expect: int | None,
        depth: int,
    ) -> Revision:
        # The hot path of every front end, kept flat on purpose: what _freeze,
        # _capture, _info and _commit do, for the common case of a plain append.
        if self._deep_copy and type(value) not in _SCALARS:
            value = self._freeze(value)
        origin = self._origin
        if origin is None:
            origin = CAPTURE.on
        if origin:
            # capture_raw(depth), inlined: one frame lookup, no walk, since every
            # entry point passes its exact depth.
            frame = _getframe(depth)
            try:
                thread = _threads.thread
            except AttributeError:
                thread = _threads.thread = threading.current_thread()
            loop = _get_running_loop()
            raw: RawOrigin | None = (
                frame.f_code,
                frame.f_lasti,
                thread,
                None if loop is None else _task_name(loop),
            )
        else:
            raw = None
        if (
            label is None
            and author is None
            and comment is None
            and extra is None
            and _META.get() is _EMPTY
        ):
            info: Info = PLAIN
        else:
            info = self._info(RevisionKind.SET, None, label, author, comment, extra)
        lock = self._lock
        lock.acquire()
        try:
            if self._plain and expect is None:
                head = self._head
                number = self._next
                rev = Revision(number, head, head._branch, value, _time_ns(), info, raw)
                self._revs.append(rev)
                self._next = number + 1
                self._head = self._tip = rev
                return rev
            if self._writing:
                self._check_writable()
            rev = self._commit(value, info, raw, expect)
        finally:
            lock.release()
        if self._pending:
            self._dispatch()
        return rev

    def set_in(
        self,
        path: PathLike,
        value: Any,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        extra: Any = None,
        expect: int | None = None,
        _depth: int = 1,
        _origin: Any = _UNSET,
    ) -> Revision:
        """Record a new revision with ``value`` at ``path``; only that path is copied.

        Missing keys on the way become dicts (see :func:`statetrail.paths.set_in`).
        """
        steps = parse_path(path)
        frozen = self._freeze(value)
        return self._write(
            lambda current: paths.set_in(current, steps, frozen),
            RevisionKind.SET,
            None,
            label,
            author,
            comment,
            expect,
            _depth,
            extra,
            _origin,
        )

    def delete_in(
        self,
        path: PathLike,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        extra: Any = None,
        expect: int | None = None,
        _depth: int = 1,
        _origin: Any = _UNSET,
    ) -> Revision:
        """Record a new revision without the key or list item at ``path``."""
        steps = parse_path(path)
        return self._write(
            lambda current: paths.delete_in(current, steps),
            RevisionKind.SET,
            None,
            label,
            author,
            comment,
            expect,
            _depth,
            extra,
            _origin,
        )

    def update(
        self,
        fn: Callable[[T], T],
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        extra: Any = None,
        _depth: int = 1,
        _origin: Any = _UNSET,
    ) -> Revision:
        """Atomically record ``fn(current value)``.

        No other write can come between the read and the write, so
        ``update(lambda n: n + 1)`` never loses a count.

        ``fn`` runs under the timeline's lock: keep it short, and do not write to
        this timeline from it.
        """

        def compute(current: Any) -> Any:
            with self._user_code():
                result = fn(current)
            return self._freeze(result)

        return self._write(
            compute,
            RevisionKind.SET,
            None,
            label,
            author,
            comment,
            None,
            _depth,
            extra,
            _origin,
        )

    @contextlib.contextmanager
    def edit(
        self,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        extra: Any = None,
        _origin: Any = _UNSET,
    ) -> Iterator[Any]:
        """Change the value through a mutable draft; all of it becomes one revision.

        The block holds the timeline's lock, so it is atomic. An exception inside it
        records nothing; a block that changes nothing records nothing. For a value
        that is not a dict, list or set, the draft is the value itself and only
        :meth:`set` can change it.

        >>> from statetrail import Timeline
        >>> t = Timeline({"job": {"bins": 10, "sorted": 0}})
        >>> with t.edit(comment="card sorted") as state:
        ...     state["job"]["sorted"] += 1
        ...     state["job"]["bins"] -= 1
        >>> t.value["job"], t.head.comment
        (FrozenDict({'bins': 9, 'sorted': 1}), 'card sorted')
        """
        # Above this generator's frame: contextlib's __enter__, then the caller.
        origin = self._capture(2) if _origin is _UNSET else _origin
        info = self._info(RevisionKind.SET, None, label, author, comment, extra)
        with self._lock:
            self._check_writable()
            base = self._head
            draft = draft_of(base._value)
            if not isinstance(draft, Draft):
                raise TypeError(
                    "edit() needs a dict, list or set value, "
                    f"not {type(base.value).__name__}"
                )
            with self._user_code():
                yield draft
            value = draft.finish()
            if value is not base._value:
                self._commit(value, info, origin, None)
        if self._pending:
            self._dispatch()

    def rollback(
        self,
        number: int,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        _depth: int = 1,
    ) -> Revision:
        """Append a revision equal to revision ``number``; nothing is removed."""
        target = self._get(number)
        return self._write(
            lambda _: target._value,
            RevisionKind.ROLLBACK,
            number,
            label,
            author,
            comment,
            None,
            _depth,
        )

    def revert(
        self,
        number: int,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        _depth: int = 1,
    ) -> Revision:
        """Append a revision that undoes only revision ``number``'s changes.

        Raises :class:`~statetrail.ConflictError`, recording nothing, when a later
        revision on the cursor's lineage changed the same paths; its
        ``conflicts`` lists ``(path, later revision number)`` pairs.
        """
        target = self._get(number)

        def compute(current: Any) -> Any:
            later: list[Revision] = []
            for rev in self._lineage_from(self._head._number):
                if rev._number == number:
                    break
                later.append(rev)
            else:
                raise ValueError(
                    f"revision {number} is not on the current lineage of "
                    f"{self._label()}"
                )
            touched = [_index_path(c) for c in target.changes]
            conflicts = [
                (format_path(p), rev._number)
                for rev in reversed(later)
                for c in rev.changes
                for p in touched
                if paths.is_prefix(p, _index_path(c))
                or paths.is_prefix(_index_path(c), p)
            ]
            if conflicts:
                raise ConflictError(
                    f"cannot revert revision {number}: later revisions changed "
                    "the same "
                    "paths: "
                    + ", ".join(
                        f"{p or '<root>'} (revision {n})" for p, n in conflicts
                    ),
                    conflicts,
                )
            return apply_changes(current, invert(target.changes))

        return self._write(
            compute, RevisionKind.REVERT, number, label, author, comment, None, _depth
        )

    # -- undo and redo -------------------------------------------------------------

    def _undo_state(self) -> tuple[str, int, list[int], list[int]]:
        state = self._undo
        head = self._head
        if state is None or state[0] != self._head_branch or state[1] != head._number:
            undo: list[int] = []
            redo: list[int] = []
            lineage = list(self._lineage_from(head._number))
            lineage.reverse()
            for rev in lineage[1:]:
                self._replay(rev, undo, redo)
            state = (self._head_branch, head._number, undo, redo)
            self._undo = state
            self._refresh()
        return state

    @staticmethod
    def _replay(rev: Revision, undo: list[int], redo: list[int]) -> None:
        kind = rev._info[0]
        if kind == RevisionKind.UNDO:
            if undo:
                redo.append(undo.pop())
        elif kind == RevisionKind.REDO:
            if redo:
                undo.append(redo.pop())
        else:
            undo.append(rev._number)
            redo.clear()

    def _track_undo(self, rev: Revision) -> None:
        state = self._undo
        assert state is not None
        if state[0] != rev._branch:
            self._undo = None
            self._refresh()
            return
        self._replay(rev, state[2], state[3])
        self._undo = (state[0], rev._number, state[2], state[3])

    def undo(
        self, *, author: str | None = None, comment: str | None = None, _depth: int = 1
    ) -> Revision:
        """Append a revision restoring the value before the latest change not undone.

        Raises :class:`~statetrail.RevisionNotFoundError` when there is nothing
        left to undo.
        """
        with self._lock:
            _, _, undo, _ = self._undo_state()
            if not undo:
                raise RevisionNotFoundError(f"nothing to undo in {self._label()}")
            undone = self._get(undo[-1])
            parent = self._parent_of(undone)
            if parent is None:
                raise RevisionNotFoundError(
                    f"cannot undo revision {undone._number}: its parent was trimmed"
                )
            before = parent._value
            return self._write(
                lambda _: before,
                RevisionKind.UNDO,
                undone._number,
                None,
                author,
                comment,
                None,
                _depth,
            )

    def redo(
        self, *, author: str | None = None, comment: str | None = None, _depth: int = 1
    ) -> Revision:
        """Append a revision that re-applies the latest undone change.

        Raises :class:`~statetrail.RevisionNotFoundError` when there is nothing to
        redo (any other write clears what could be redone).
        """
        with self._lock:
            _, _, _, redo = self._undo_state()
            if not redo:
                raise RevisionNotFoundError(f"nothing to redo in {self._label()}")
            again = self._find(redo[-1])
            if again is None:
                raise RevisionNotFoundError("cannot redo a trimmed revision")
            value = again._value
            return self._write(
                lambda _: value,
                RevisionKind.REDO,
                again._number,
                None,
                author,
                comment,
                None,
                _depth,
            )

    # -- branches and the cursor ---------------------------------------------------

    def _move(self, rev: Revision, branch: str) -> None:
        """Put the cursor at ``rev`` on ``branch`` (called with the lock held)."""
        if self._writing:
            raise ReentrancyError(
                f"the cursor of {self._label()} moved inside a write to it"
            )
        self._tips[self._head_branch] = self._tip._number
        tip = self._tips.pop(branch)
        self._tip = rev if tip == rev._number else self._get(tip)
        self._head = rev
        self._head_branch = branch
        self._undo = None
        self._refresh()

    def checkout(self, target: int | str) -> Revision:
        """Move the cursor to a revision number or a branch name.

        The value becomes that revision's. Nothing is recorded; the next write after
        checking out an older revision starts a new branch, so the forward path is
        kept. Listeners are not called.
        """
        if isinstance(target, str):
            return self.switch(target)
        with self._lock:
            rev = self._get(target)
            self._move(rev, rev._branch)
            return rev

    def switch(self, branch: str) -> Revision:
        """Move the cursor to the newest revision of ``branch``."""
        with self._lock:
            rev = self._get(self._tip_of(branch))
            self._move(rev, branch)
            return rev

    def branch(self, name: str, at: int | None = None) -> Revision:
        """Create branch ``name`` at revision ``at`` (default: the cursor), switch.

        The next write is recorded on it.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("a branch name is a non-empty string")
        with self._lock:
            if name in self._tips or name == self._head_branch:
                raise ValueError(f"{self._label()} already has a branch {name!r}")
            rev = self._head if at is None else self._get(at)
            self._tips[name] = rev._number
            self._move(rev, name)
            return rev

    # -- freezing ------------------------------------------------------------------

    def freeze(self) -> None:
        """Refuse every write with :class:`~statetrail.FrozenError` until thawed."""
        with self._lock:
            self._frozen = True
            self._refresh()

    def thaw(self) -> None:
        """Accept writes again after :meth:`freeze`."""
        with self._lock:
            self._frozen = False
            self._refresh()

    # -- retention -----------------------------------------------------------------

    @property
    def retention(self) -> Retention | None:
        """The retention rule applied after each write, if any."""
        return self._retention

    @retention.setter
    def retention(self, rule: Retention | None) -> None:
        with self._lock:
            self._retention = _check_retention(rule)
            self._refresh()
            if self._retention is not None:
                self._retain()

    def _retain(self) -> None:
        rule = self._retention
        assert rule is not None
        if rule.keep_last is not None and len(self) > rule.keep_last:
            self._trim_to(
                self._next - rule.keep_last, None, f"keep_last={rule.keep_last}", None
            )
        if rule.max_age is not None:
            before = time.time_ns() - int(rule.max_age.total_seconds() * 1e9)
            self._trim_to(self._next, before, f"max_age={rule.max_age}", None)

    def trim(
        self,
        *,
        keep_last: int | None = None,
        older_than: timedelta | datetime | None = None,
        reason: str | None = None,
        author: str | None = None,
    ) -> Trim | None:
        """Remove old revisions now, leaving a tombstone, and return it.

        Returns ``None`` if nothing was removed.

        ``keep_last`` keeps that many of the newest revisions; ``older_than`` removes
        those recorded before a moment (a datetime) or longer ago than a timedelta.
        Branch tips and the current revision are always kept, so the value never
        changes.
        """
        if keep_last is None and older_than is None:
            raise ValueError("trim() needs keep_last or older_than")
        if keep_last is not None and (
            isinstance(keep_last, bool)
            or not isinstance(keep_last, int)
            or keep_last < 1
        ):
            raise ValueError("keep_last must be a positive int")
        with self._lock:
            cutoff = self._next if keep_last is None else self._next - keep_last
            before = None
            if isinstance(older_than, timedelta):
                before = time.time_ns() - int(older_than.total_seconds() * 1e9)
            elif isinstance(older_than, datetime):
                before = int(older_than.timestamp() * 1e9)
            elif older_than is not None:
                raise TypeError("older_than is a timedelta or a datetime")
            given = [
                f"{k}={v}"
                for k, v in (("keep_last", keep_last), ("older_than", older_than))
                if v is not None
            ]
            why = reason or f"trim({', '.join(given)})"
            return self._trim_to(cutoff, before, why, author, explicit=True)

    def _trim_to(
        self,
        cutoff: int,
        before_ns: int | None,
        reason: str,
        author: str | None,
        *,
        explicit: bool = False,
    ) -> Trim | None:
        """Remove revisions numbered below ``cutoff``, oldest first.

        With ``before_ns``, only those recorded before it. Branch tips and the
        cursor are kept.
        """
        protected = set(self._all_tips().values())
        protected.add(self._head._number)
        removed: list[Revision] = []
        for n in sorted(self._old):
            rev = self._old[n]
            if (
                n < cutoff
                and n not in protected
                and (before_ns is None or rev._time_ns < before_ns)
            ):
                removed.append(self._old.pop(n))
        revs = self._revs
        k = 0
        while k < len(revs) - 1:  # the newest revision always stays
            rev = revs[k]
            if rev._number >= cutoff or (
                before_ns is not None and rev._time_ns >= before_ns
            ):
                break
            if rev._number in protected:
                self._old[rev._number] = rev
            else:
                removed.append(rev)
            k += 1
        if not removed:
            if k:
                del revs[:k]
                self._offset += k
            return None
        for rev in removed:
            self._drop(rev)
        del revs[:k]
        self._offset += k
        numbers = [rev._number for rev in removed]
        first, last = min(numbers), max(numbers)
        trim = Trim(first, last, len(numbers), reason, time.time_ns(), author)
        previous = self._tombstones[-1] if self._tombstones else None
        if not explicit and previous is not None and previous.reason == reason:
            trim = previous._extended(last, len(numbers), trim._time_ns)
            self._tombstones[-1] = trim
        else:
            self._tombstones.append(trim)
        log = logger.info if explicit else logger.debug
        log(
            "trimmed %d revision(s) %d..%d of %s (%s)",
            len(numbers),
            first,
            last,
            self._label(),
            reason,
        )
        return trim

    def _drop(self, rev: Revision) -> None:
        n = rev._number
        # Children keep their changes: work them out before the parent goes.
        child = self._find(n + 1)
        if child is not None and child._parent is rev:
            child._settle()
        for fork in self._forks.pop(n, ()):
            forked = self._find(fork)
            if forked is not None:
                forked._settle()
        if self._path_index is not None:
            self._path_index.remove(rev)
        if self._undo is not None and n in self._undo[2]:
            self._undo[2].remove(n)

    # -- observation ---------------------------------------------------------------

    def add_validator(self, fn: Validator) -> Callable[[], None]:
        """Check each new value with ``fn`` before it is recorded (raise to reject).

        Returns a function that removes the validator.
        """
        if not callable(fn):
            raise TypeError(f"a validator must be callable, not {fn!r}")
        with self._lock:
            self._validators.append(fn)
            self._refresh()

        def remove() -> None:
            with self._lock:
                if fn in self._validators:
                    self._validators.remove(fn)
                    self._refresh()

        return remove

    def add_listener(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(revision)`` after each recorded revision, in commit order.

        A listener that raises is logged (logger ``"statetrail"``) and the others
        still run. Returns a function that removes the listener.
        """
        if not callable(fn):
            raise TypeError(f"a listener must be callable, not {fn!r}")
        with self._lock:
            self._listeners = (*self._listeners, fn)
            self._refresh()
        return lambda: self.remove_listener(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn``; removing one that is not there does nothing."""
        with self._lock:
            listeners = list(self._listeners)
            if fn in listeners:
                listeners.remove(fn)
                self._listeners = tuple(listeners)
                self._refresh()

    def _dispatch(self) -> None:
        # One thread at a time delivers, so listeners see revisions in commit order.
        # A thread that finds another delivering leaves its revision to it; the loop
        # re-checks after releasing so nothing queued in between is stranded.
        while self._pending:
            if not self._dispatch_lock.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        if not self._pending:
                            break
                        rev, depth = self._pending.popleft()
                        listeners = self._listeners
                    self._deliver(rev, depth, listeners)
            finally:
                self._dispatch_lock.release()

    def _deliver(
        self, rev: Revision, depth: int, listeners: Sequence[Listener]
    ) -> None:
        ident = threading.get_ident()
        outer = getattr(_local, "depth", 0)
        _local.depth = depth
        _delivering.add(ident)
        try:
            for fn in listeners:
                try:
                    fn(rev)
                except Exception:
                    logger.exception(
                        "listener %r failed on revision %d of %s",
                        fn,
                        rev._number,
                        self._label(),
                    )
        finally:
            _local.depth = outer
            if not outer:
                _delivering.discard(ident)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return (
            f"Timeline({name}value={self._head._value!r}, "
            f"revision={self._head._number}, "
            f"branch={self._head_branch!r}, revisions={len(self._revs)})"
        )


def _number(rev: Revision) -> int:
    return rev._number


def _check_retention(rule: Retention | None) -> Retention | None:
    if rule is None:
        return None
    if not isinstance(rule, Retention):
        raise TypeError("retention is a statetrail.Retention")
    if rule.keep_last is not None and (
        not isinstance(rule.keep_last, int) or rule.keep_last < 1
    ):
        raise ValueError("Retention.keep_last must be a positive int")
    if rule.max_age is not None and not isinstance(rule.max_age, timedelta):
        raise TypeError("Retention.max_age is a timedelta")
    return rule
