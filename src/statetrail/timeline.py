"""Timeline: the engine. An append-only, branching history of one value.

Every write appends a :class:`~statetrail.Revision`; nothing recorded is ever
rewritten. Rolling back appends a revision equal to an earlier one; so do undo and
redo. Moving the cursor back (:meth:`Timeline.checkout`) and writing again starts a
new branch, so the forward path is kept.

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
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from sys import _getframe
from time import time_ns as _time_ns
from typing import Any, Generic, Protocol, TypeVar

from statetrail import paths
from statetrail._change import Change
from statetrail._cursor import Cursor
from statetrail._history import History
from statetrail._intercept import Interceptor, add_hook, intercept
from statetrail._listeners import (
    MAX_LISTENER_DEPTH,
    Dispatcher,
    Listener,
    write_depth,
)
from statetrail._log import get_logger
from statetrail._merge import Resolver, resolver
from statetrail._origin import (
    NO_ORIGIN,
    Info,
    capture,
    capture_first,
    info_of,
    plain_or_info,
)
from statetrail._records import Erased, MemoryRecords, Records
from statetrail._retention import (
    Retention,
    Tombstones,
    check_retention,
    rule_bounds,
    trim_bounds,
)
from statetrail._undo import UndoStack
from statetrail.context import (
    _EMPTY,
    _META,
    CAPTURE,
    LOOP,
    _checked_text,
    _task_name,
    _threads,
)
from statetrail.diff import apply_changes
from statetrail.errors import (
    ConflictError,
    FrozenError,
    ReentrancyError,
    RevisionNotFoundError,
)
from statetrail.frozen import Draft
from statetrail.frozen._draft import draft_of
from statetrail.frozen._freeze import _FROZEN, freeze_value
from statetrail.frozen._freeze import _IMMUTABLE as _SCALARS
from statetrail.frozen._hooks import real
from statetrail.frozen._keys import check_key
from statetrail.frozen._opaque import unbox
from statetrail.paths import PathLike, parse_path
from statetrail.revision import (
    BRANCH,
    INFO,
    NUMBER,
    PLAIN,
    VALUE,
    Record,
    Revision,
    RevisionKind,
    Trim,
    _short,
)

__all__ = [
    "MAX_LISTENER_DEPTH",
    "REBASE_LIMIT",
    "Erased",
    "Handle",
    "Journal",
    "Listener",
    "Retention",
    "Timeline",
    "Validator",
]

logger = get_logger("statetrail")
_modules = sys.modules  # for context.LOOP: asyncio is read only once imported

T = TypeVar("T")

Validator = Callable[[Any], object]

#: How many times a path write re-applies itself on top of revisions other
#: processes recorded first before it gives up with their ConflictError.
REBASE_LIMIT = 100

# "Capture the origin here": a front end that captured it earlier (an asyncio
# store, at dispatch) passes what it captured instead.
_UNSET: Any = object()
# "Apply the changes to the head": a commit given changes and no value.
_APPLY: Any = object()


class Journal(Protocol):
    """Where a timeline makes its history durable (implemented by storage).

    The engine calls it under the timeline's lock, with the timeline's
    :class:`Handle`; whatever it raises reaches the caller and nothing is
    recorded in memory either.
    """

    def record(self, timeline: Handle, revision: Revision) -> None:
        """Make ``revision`` durable before it becomes visible.

        On a conflict with another writer the journal should bring the timeline
        up to date (:meth:`Handle.absorb`) and raise
        :class:`~statetrail.ConflictError`, so a retry can succeed.
        """

    def moved(self, timeline: Handle) -> None:
        """The cursor or the branches changed without a new revision."""

    def refresh(self, timeline: Handle) -> None:
        """Bring the timeline up to date with revisions written elsewhere."""

    def erase(self, timeline: Handle, number: int, tombstone: Erased) -> None:
        """Drop a revision's value from durable storage, keeping ``tombstone``."""

    def trimmed(
        self,
        timeline: Handle,
        below: int,
        reason: str,
        author: str | None,
        explicit: bool,
    ) -> None:
        """Retention or :meth:`Timeline.trim` removed revisions below ``below``.

        Called after the timeline trimmed its memory (``below`` is the oldest
        revision it still holds); ``explicit`` for :meth:`Timeline.trim`, whose
        caller gets what this raises.
        """


class Handle:
    """A timeline as storage sees it: the engine-storage seam.

    Storage never touches a timeline's private state: its journal gets this
    handle (on every call) and restores stored timelines through
    :meth:`restore`. What it offers is what a journal needs: the timeline's
    lock, the number the next revision takes, records by number and by
    parent, and a way to take in revisions other processes recorded. Public
    reads (the head, the branches) go through :attr:`timeline`.
    """

    __slots__ = ("timeline",)

    def __init__(self, timeline: Timeline[Any]) -> None:
        self.timeline = timeline

    @property
    def name(self) -> str:
        """The timeline's name."""
        return self.timeline.name

    @property
    def lock(self) -> threading.RLock:
        """The timeline's lock: hold it to read records and absorb as one step."""
        return self.timeline._lock  # noqa: SLF001 - the storage seam

    @property
    def next(self) -> int:
        """The number the next revision takes."""
        return self.timeline._records.next  # noqa: SLF001 - the storage seam

    def find(self, number: int) -> Record | None:
        """The held record numbered ``number``, or ``None``."""
        return self.timeline._records.find(number)  # noqa: SLF001 - the storage seam

    def children(self, number: int) -> list[Record]:
        """The held records made from revision ``number``."""
        return self.timeline._records.children(number)  # noqa: SLF001 - storage seam

    def absorb(self, records: Sequence[Record]) -> None:
        """Take in revisions recorded elsewhere (by another process), in order."""
        self.timeline._absorb(records)  # noqa: SLF001 - the storage seam

    @staticmethod
    def restore(
        records: Sequence[Record] | Records,
        *,
        branch: str,
        cursor: int,
        tips: dict[str, int],
        journal: Journal | None = None,
        tombstones: Sequence[Trim] = (),
        **options: Any,
    ) -> Timeline[Any]:
        """A timeline holding stored ``records`` (decoded, numbered without gaps).

        ``records`` is a sequence (held in memory) or a :class:`Records` object
        (a paged one reads from storage on demand). The cursor is at ``cursor``
        on ``branch`` and ``tips`` gives the branches' newest revisions;
        ``options`` are :class:`Timeline`'s; ``tombstones``: what trims of the
        stored history removed before them.
        """
        return Timeline._restore(  # noqa: SLF001 - the storage seam
            records, (branch, cursor, tips), journal, options, tombstones
        )


class Timeline(History, Generic[T]):
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
        interceptors: Callables given each new value (frozen) before the
            validators, returning the value to record; every write passes them
            (see ``statetrail._intercept``). Revision 0 passes them too.
        branch: The name of the first branch.
        label, author, comment: Metadata of revision 0.
    """

    def __init__(
        self,
        initial: T | None = None,
        *,
        name: str = "",
        deep_copy: bool = True,
        origin: bool | None = None,
        validators: Iterable[Validator] = (),
        listeners: Iterable[Listener] = (),
        retention: Retention | None = None,
        interceptors: Iterable[Interceptor] = (),
        branch: str = "main",
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        journal: Journal | None = None,
    ) -> None:
        if not isinstance(branch, str) or not branch:
            raise ValueError("a branch name is a non-empty string")
        branch = _checked_text("a branch name", branch)
        self.name = name  # for messages until the history is set up below
        self._deep_copy = deep_copy
        self._origin = origin
        lock = self._lock = threading.RLock()
        self._writing = False
        self._frozen = False
        self._validators: list[Validator] = list(validators)
        self._interceptors: list[Interceptor] = list(interceptors)
        for fn in self._interceptors:
            if not callable(fn):
                raise TypeError(f"an interceptor must be callable, not {fn!r}")
        if self._interceptors:  # given the value frozen, as on every write
            initial = intercept(self._interceptors, self._freeze(initial))
        self._listeners = Dispatcher(
            tuple(listeners), self._lock, self._view, self._label
        )
        # The queue itself, checked after every write that may have queued.
        self._pending = self._listeners.pending
        self._undo: UndoStack | None = None
        self._retention = check_retention(retention)
        self._tombstones = Tombstones()
        self._journal = journal
        self._handle = Handle(self)
        record = (
            0,
            None,
            branch,
            self._freeze(initial),
            time.time_ns(),
            info_of(RevisionKind.INITIAL, None, label, author, comment),
            *capture_first(origin),
        )
        # The cursor at revision 0 on its branch; the records keep the other
        # branches' newest revision numbers.
        History.__init__(
            self, name, lock, MemoryRecords((record,)), Cursor(record, record, branch)
        )
        self._refresh()
        if journal is not None:
            journal.record(self._handle, Revision(record, self))

    @classmethod
    def _restore(
        cls,
        records: Sequence[Record] | Records,
        place: tuple[str, int, dict[str, int]],
        journal: Journal | None,
        options: dict[str, Any],
        tombstones: Sequence[Trim] = (),
    ) -> Timeline[Any]:
        """A timeline holding stored ``records``: see :meth:`Handle.restore`.

        ``place``: the branch, the cursor and the branches' tips; ``tombstones``:
        what trims of the stored history removed before the first record.
        """
        branch, cursor, tips = place
        if not len(records):
            raise ValueError("a timeline needs at least one revision")
        # Recorded values passed the interceptors when they were written: not
        # again (a schema changed since must not make a history unreadable).
        interceptors = list(options.pop("interceptors", ()))
        timeline: Timeline[Any] = cls(None, deep_copy=False, origin=False, **options)
        timeline._interceptors = interceptors
        timeline._deep_copy = options.get("deep_copy", True)
        timeline._origin = options.get("origin")
        timeline._records = (
            MemoryRecords(records) if isinstance(records, Sequence) else records
        )
        head = timeline._get(cursor)
        all_tips = dict(tips)
        tip_number = all_tips.pop(branch, head[NUMBER])
        timeline._records.tips = all_tips
        timeline._cursor = Cursor(head, timeline._get(tip_number), branch)
        timeline._journal = journal
        timeline._tombstones.trims = list(tombstones)
        timeline._refresh()
        return timeline

    def _refresh(self) -> None:
        # True when a write needs nothing but appending: the cursor is at the newest
        # revision of all, on that revision's branch, and there are no validators,
        # listeners, retention, path index or undo state to keep; not frozen, not
        # mid-write. Every change to any of these calls _refresh().
        self._plain = not (
            not self._cursor.at_end(self._records)
            or self._frozen
            or self._writing
            or self._validators
            or self._interceptors
            or self._listeners.listeners
            or self._retention is not None
            or self._path_index is not None
            or self._undo is not None
            or self._journal is not None
        )

    # -- helpers -------------------------------------------------------------------

    def _freeze(self, value: Any, above: int = 0) -> Any:
        # ``above``: the levels of the path ``value`` is written at, which count
        # towards MAX_NESTING too.
        if not self._deep_copy:
            return value
        return freeze_value(value, above)  # NestingError for a value too deep

    # -- reading -------------------------------------------------------------------

    @property
    def value(self) -> T:
        """The value at the cursor (normally the newest revision of the branch)."""
        return unbox(self._cursor.head[VALUE])  # type: ignore[no-any-return]

    @property
    def frozen(self) -> bool:
        """Whether writes are refused (see :meth:`freeze`)."""
        return self._frozen

    @property
    def tombstones(self) -> list[Trim]:
        """What retention and :meth:`trim` removed, oldest first."""
        with self._lock:
            return list(self._tombstones.trims)

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

    def _record(
        self,
        value: Any,
        info: Info,
        origin: Sequence[Any],
        expect: int | None,
        changes: tuple[Change, ...] | None = None,
        intercepted: bool = False,
    ) -> Record:
        """Record ``value`` (frozen) after the cursor; the general path.

        Called with the lock held. ``origin`` is the four raw-origin fields;
        ``changes``, when the caller knows them, what changed from the head.
        Every write that is not a plain append passes here, so the interceptors
        run here (unless ``intercepted``: the caller ran them, awaiting async
        ones), then the validators.
        """
        cursor = self._cursor
        if self._plain and expect is None:
            # Nothing to check or keep up to date: append (as _commit does inline).
            # Plain: the head is the newest record, so it is numbered next - 1.
            parent = cursor.head[NUMBER]
            record = (
                parent + 1,
                parent,
                cursor.branch,
                value,
                _time_ns(),
                info,
                *origin,
            )
            self._records.tail.append(record)
            cursor.head = cursor.tip = record
            return record
        if self._frozen:
            raise FrozenError(f"{self._label()} is frozen and cannot be changed")
        head = cursor.head
        parent = head[NUMBER]
        if expect is not None and parent != expect:
            raise ConflictError(
                f"{self._label()} moved: expected revision {expect} at the head, "
                f"found {parent}",
                [(expect, parent)],
            )
        depth = write_depth()
        if depth >= MAX_LISTENER_DEPTH:
            raise ReentrancyError(
                f"listeners kept writing back {depth} generations deep; the limit is "
                f"MAX_LISTENER_DEPTH={MAX_LISTENER_DEPTH}"
            )
        if self._interceptors and not intercepted and info[0] != RevisionKind.DELETE:
            with self._user_code():
                out = intercept(self._interceptors, value)
            if out is not value:
                value = self._freeze(out)
                changes = None  # those were the changes to the value before
        if self._validators and info[0] != RevisionKind.DELETE:  # no value to check
            with self._user_code():
                for validate in self._validators:
                    validate(value)
        number = self._records.next
        branch = cursor.branch
        if head is not cursor.tip:
            branch = f"branch-{number}"  # the forward path keeps its branch
        record = (number, parent, branch, value, _time_ns(), info, *origin)
        if self._journal is not None:
            # Durable first: if the journal refuses (a conflict, a full disk),
            # nothing is recorded in memory either.
            try:
                self._journal.record(self._handle, Revision(record, self, changes))
            except ConflictError as exc:
                record = self._after_conflict(head, record, changes, exc)
                number, branch = record[NUMBER], record[BRANCH]
        if head is not cursor.tip:
            # Writing from behind the branch's newest revision: keep that forward
            # path on its branch and start a new one here.
            self._records.tips[cursor.branch] = cursor.tip[NUMBER]
        self._records.append(record)
        cursor.head = cursor.tip = record
        cursor.branch = branch
        if self._path_index is not None:
            self._path_index.add(
                number, self.changes_of(record) if changes is None else changes
            )
        if self._undo is not None and not self._undo.track(record):
            self._undo = None
        if self._retention is not None:
            self._retain()
        if self._listeners.listeners:
            self._pending.append((record, depth + 1))
        if self._journal is None:  # with one, nothing is plain: _plain stays False
            self._refresh()
        return record

    def _after_conflict(
        self,
        head: Record,
        record: Record,
        changes: tuple[Change, ...] | None,
        error: ConflictError,
    ) -> Record:
        """The journal refused ``record`` (``error``): the record stored after all.

        Called with the lock held. Another process took the number, and the
        journal has taken its revisions in. If none of them came after ``head``
        on its branch, this write still stands on the newest state it knows of,
        so it takes the next number and goes to the journal again. Otherwise it
        is stale: :class:`~statetrail.ConflictError` naming the revision that won
        (path writes catch it and re-apply themselves on top: see :meth:`_write`).
        """
        journal = self._journal
        assert journal is not None
        while True:
            if self._cursor.head is not head:
                raise self._stale(head, error) from error
            if self._records.next <= record[NUMBER]:
                raise error  # nothing new was taken in: not a race to retry
            number = self._records.next
            cursor = self._cursor
            branch = cursor.branch if head is cursor.tip else f"branch-{number}"
            _, parent, _, value, _, info, *origin = record
            record = (number, parent, branch, value, _time_ns(), info, *origin)
            try:
                journal.record(self._handle, Revision(record, self, changes))
            except ConflictError as exc:
                error = exc
                continue
            return record

    def _stale(self, base: Record, cause: ConflictError) -> ConflictError:
        """The error of a write based on ``base`` after another process wrote."""
        winner = self._cursor.head
        who = winner[INFO][3]
        by = f" (by {who})" if who else ""
        return ConflictError(
            f"{self._label()}: revision {winner[NUMBER]}{by} was recorded by another "
            f"process after revision {base[NUMBER]}, which this write was based "
            "on, and won; nothing was recorded. The timeline now holds it: read "
            "the value again and retry.",
            (*cause.conflicts, (base[NUMBER], winner[NUMBER])),
            winner=winner[NUMBER],
        )

    def _write(
        self,
        compute: Callable[[Any], Any],
        info: Info,
        expect: int | None = None,
        depth: int = 1,
        origin: Any = _UNSET,
        rebase: bool = False,
    ) -> Revision:
        """Record ``compute(current value)`` with ``info``, under the lock.

        With ``rebase`` (a path write), a revision another process recorded
        first is taken in and ``compute`` runs again on it, so the last writer
        wins on its path and both revisions are kept; without, that raises
        :class:`~statetrail.ConflictError`.
        """
        raw = capture(self._origin, depth + 1) if origin is _UNSET else origin
        raw = raw or NO_ORIGIN
        with self._lock:
            self._check_writable()
            attempts = 1
            while True:
                try:
                    value = compute(real(self._cursor.head[VALUE]))
                    record = self._record(value, info, raw, expect)
                    break
                except ConflictError as exc:
                    if not rebase or exc.winner is None or attempts >= REBASE_LIMIT:
                        raise
                    attempts += 1
        if self._pending:
            self._listeners.run()
        return Revision(record, self)

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
        (optimistic concurrency). On a stored timeline, a revision another
        process recorded first also raises :class:`~statetrail.ConflictError`,
        naming it: this value was chosen without seeing it. Retry.
        """
        if label is None and author is None and comment is None and extra is None:
            info: Info = PLAIN
        else:
            info = (RevisionKind.SET, None, label, author, comment, extra)
        # Positional: the timeline's own call (keywords cost a set() ~170 of
        # its ~12,300 instructions, callgrind); front ends pass keywords.
        return Revision(self._commit(value, info, expect, None, _depth + 1), self)

    def _commit(
        self,
        value: Any = _APPLY,
        /,
        info: Info = PLAIN,
        expect: int | None = None,
        changes: tuple[Change, ...] | None = None,
        depth: int = 1,
        intercepted: bool = False,
    ) -> Record:
        """Record ``value`` after the cursor: the one call front ends write through.

        The commit seam (see docs/engine.md, "Layers and seams"): a
        :class:`~statetrail.Var`, a :class:`~statetrail.Store` and the
        immutable front ends commit here and nowhere else, and get the record
        back (wrap it in a :class:`~statetrail.Revision` for a view). Callers
        pass everything but the value by keyword. The parameters are not
        keyword-only on purpose: CPython reads a keyword-only parameter's
        default from a dict, one lookup per parameter left out, and that made
        a ``Var.set`` 10,368 instructions instead of 10,152 (callgrind, +2%).

        Args:
            value: The new value (frozen here unless it is frozen or a scalar).
                Left out, it is ``changes`` applied to the head's value.
            info: The revision's metadata, ``(kind, target, label, author,
                comment, extra)`` (:data:`~statetrail.revision.PLAIN` for none).
                With no label, author or comment in it nor in the enclosing
                :func:`~statetrail.context`, this very tuple is recorded, so a
                front end that keeps one per kind of write (a Store, per path)
                has its revisions share it: one tracked tuple fewer each for the
                garbage collector. Otherwise the context fills in what is left
                out and the text is checked.
            expect: Refuse with :class:`~statetrail.ConflictError` unless the
                cursor is at this revision number (optimistic concurrency).
            changes: What changed from the head, when the caller knows (no diff).
            depth: Frames between this call and the user's code, for the origin.
            intercepted: The caller ran the interceptors already (``set_async``,
                which awaits async ones); otherwise the write core runs them.
        """
        # The hot path of every front end, kept flat on purpose: what _freeze,
        # _origin.capture, _origin.info_of and _record do, for a plain append.
        apply = value is _APPLY
        if apply:
            if changes is None:
                raise TypeError("a commit needs a value or its changes")
        elif (
            self._deep_copy
            and type(value) not in _SCALARS
            and type(value) not in _FROZEN
        ):
            value = self._freeze(value)
        origin = self._origin
        if origin is None:
            origin = CAPTURE.on
        code: Any
        lasti: int | None
        thread_name: str | None
        task: str | None
        if origin:
            frame = _getframe(depth)
            try:
                thread = _threads.thread
            except AttributeError:
                thread = _threads.thread = threading.current_thread()
            loop = LOOP.get() if "asyncio.events" in _modules else None
            code = frame.f_code
            lasti = frame.f_lasti
            # Thread.name is a property: a call, ~90 ns of a ~1 us Var.set.
            thread_name = thread._name  # noqa: SLF001 - stdlib field, for speed
            task = None if loop is None else _task_name(loop)
        else:
            code = lasti = thread_name = task = None
        if (
            info[2] is not None
            or info[3] is not None
            or info[4] is not None
            or _META.get() is not _EMPTY
        ):
            info = info_of(*info)
        lock = self._lock
        lock.acquire()
        try:
            cursor = self._cursor
            head = cursor.head
            if apply:  # onto the head as it is now, under the lock
                value = apply_changes(head[VALUE], changes or ())
            # A front end's expected head (a Store's optimistic write) is the head
            # itself unless another thread wrote in between: still a plain append.
            if self._plain and (expect is None or expect == head[NUMBER]):
                # Plain: the head is the newest record, so it is numbered next - 1.
                parent = head[NUMBER]
                record = (
                    parent + 1,
                    # The head's own int: one object fewer per revision kept.
                    parent,
                    cursor.branch,
                    value,
                    _time_ns(),
                    info,
                    code,
                    lasti,
                    thread_name,
                    task,
                )
                self._records.tail.append(record)
                cursor.head = cursor.tip = record
                return record
            if self._writing:
                self._check_writable()
            record = self._record(
                value,
                info,
                (code, lasti, thread_name, task),
                expect,
                changes,
                intercepted,
            )
        finally:
            lock.release()
        if self._pending:
            self._listeners.run()
        return record

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
        On a stored timeline, a revision another process recorded first is taken
        in and the write is applied on top of it: the last writer wins on
        ``path``, and both revisions are kept (a whole value, ``path=()``, raises
        :class:`~statetrail.ConflictError` instead, as :meth:`set` does).
        """
        steps = parse_path(path)
        for step in steps:
            if type(step) is not str and type(step) is not int:
                check_key(step)  # no NaN key: see frozen/_keys
        frozen = self._freeze(value, len(steps))
        info: Info = PLAIN  # the plain write's check inline: a path write's hot path
        if (
            label is not None
            or author is not None
            or comment is not None
            or extra is not None
            or _META.get() is not _EMPTY
        ):
            info = info_of(RevisionKind.SET, None, label, author, comment, extra)
        if not steps:
            return self._write(
                lambda current: frozen,
                info,
                expect=expect,
                depth=_depth,
                origin=_origin,
            )
        if not self._deep_copy:
            raise TypeError(
                "set_in() needs frozen values (a timeline with deep_copy=True)"
            )
        return self._write(
            lambda current: paths.set_frozen(current, steps, frozen, True),
            info,
            expect=expect,
            depth=_depth,
            origin=_origin,
            rebase=True,
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
        """Record a new revision without the key or list item at ``path``.

        Another process's newer revision is handled as by :meth:`set_in`.
        """
        steps = parse_path(path)
        return self._write(
            lambda current: paths.delete_in(current, steps),
            plain_or_info(RevisionKind.SET, None, label, author, comment, extra),
            expect=expect,
            depth=_depth,
            origin=_origin,
            rebase=bool(steps),
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
        _rebase: bool = False,
    ) -> Revision:
        """Atomically record ``fn(current value)``.

        No other write can come between the read and the write, so
        ``update(lambda n: n + 1)`` never loses a count. ``fn`` runs under the
        timeline's lock: keep it short, and do not write to this timeline from it.
        If another process recorded a revision first, it raises
        :class:`~statetrail.ConflictError` (``fn`` saw a value that is no longer
        the newest): retry. ``_rebase``: a front end's path write, whose ``fn``
        runs again on the newer value instead.
        """

        def compute(current: Any) -> Any:
            with self._user_code():
                result = fn(unbox(current))
            return self._freeze(result)

        return self._write(
            compute,
            plain_or_info(RevisionKind.SET, None, label, author, comment, extra),
            depth=_depth,
            origin=_origin,
            rebase=_rebase,
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
        _recorded: list[Revision] | None = None,
    ) -> Iterator[Any]:
        """Change the value through a mutable draft; all of it becomes one revision.

        The block holds the timeline's lock, so it is atomic. An exception inside it
        records nothing; a block that changes nothing records nothing. For a value
        that is not a dict, list or set, use :meth:`set` or :meth:`update`.

        >>> from statetrail import Timeline
        >>> t = Timeline({"job": {"bins": 10, "sorted": 0}})
        >>> with t.edit(comment="card sorted") as state:
        ...     state["job"]["sorted"] += 1
        ...     state["job"]["bins"] -= 1
        >>> t.value["job"], t.head.comment
        (FrozenDict({'bins': 9, 'sorted': 1}), 'card sorted')
        """
        # Above this generator's frame: contextlib's __enter__, then the caller.
        raw = capture(self._origin, 2) if _origin is _UNSET else (_origin or NO_ORIGIN)
        info = info_of(RevisionKind.SET, None, label, author, comment, extra)
        with self._lock:
            self._check_writable()
            base = real(self._cursor.head[VALUE])
            draft = draft_of(base)
            if not isinstance(draft, Draft):
                raise TypeError(
                    "edit() needs a dict, list or set value, "
                    f"not {type(self.value).__name__}"
                )
            with self._user_code():
                yield draft
            value = draft.finish()
            if value is not base:
                # A list draft knows its edits (one add for an insert): no diff.
                edits = draft.edits()
                changes = (
                    None if edits is None else tuple(Change(*edit) for edit in edits)
                )
                record = self._record(value, info, raw, None, changes)
                if _recorded is not None:  # a front end's: the revision it made
                    _recorded.append(Revision(record, self))
        if self._pending:
            self._listeners.run()

    def mark_deleted(
        self,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
        _depth: int = 1,
    ) -> Revision:
        """Record that the thing tracked was deleted: a revision of kind ``"delete"``.

        Its value is ``None``, and validators do not run (there is no value to
        check). Nothing earlier is removed: the history stays readable, and a
        later write records the thing's new value after the deletion.

        >>> from statetrail import Timeline
        >>> t = Timeline("dark")
        >>> t.mark_deleted(comment="theme dropped").kind
        'delete'
        >>> [(r.kind, r.value) for r in t.history()]
        [('initial', 'dark'), ('delete', None)]
        """
        return self._write(
            lambda _: None,
            plain_or_info(RevisionKind.DELETE, None, label, author, comment),
            depth=_depth,
        )

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
        target = self._get(number)[VALUE]
        if type(target) is Erased:
            raise ValueError(f"revision {number}'s value was erased: {target!r}")
        return self._write(
            lambda _: target,
            plain_or_info(RevisionKind.ROLLBACK, number, label, author, comment),
            depth=_depth,
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
            return self._reverted(target, current)

        return self._write(
            compute,
            plain_or_info(RevisionKind.REVERT, number, label, author, comment),
            depth=_depth,
        )

    # -- undo and redo -------------------------------------------------------------

    def _undo_stack(self) -> UndoStack:
        stack = self._undo
        head = self._cursor.head
        branch = self._cursor.branch
        if stack is None or not stack.at(branch, head[NUMBER]) or stack.exhausted():
            # The newest part of the lineage, as far back as the answer needs.
            lineage = self._lineage_from(head[NUMBER])
            stack = self._undo = UndoStack.of_newest(branch, lineage)
            self._refresh()
        return stack

    def undo(
        self, *, author: str | None = None, comment: str | None = None, _depth: int = 1
    ) -> Revision:
        """Append a revision restoring the value before the latest change not undone.

        Raises :class:`~statetrail.RevisionNotFoundError` when there is nothing
        left to undo.
        """
        with self._lock:
            undo = self._undo_stack().undo
            if not undo:
                raise RevisionNotFoundError(f"nothing to undo in {self._label()}")
            undone = self._get(undo[-1])
            parent = self._parent_of(undone)
            if parent is None:
                raise RevisionNotFoundError(
                    f"cannot undo revision {undone[NUMBER]}: its parent was trimmed"
                )
            before = parent[VALUE]
            if type(before) is Erased:
                raise ValueError(
                    f"cannot undo: the earlier value was erased: {before!r}"
                )
            return self._write(
                lambda _: before,
                plain_or_info(RevisionKind.UNDO, undone[NUMBER], None, author, comment),
                depth=_depth,
            )

    def redo(
        self, *, author: str | None = None, comment: str | None = None, _depth: int = 1
    ) -> Revision:
        """Append a revision that re-applies the latest undone change.

        Raises :class:`~statetrail.RevisionNotFoundError` when there is nothing to
        redo (any other write clears what could be redone).
        """
        with self._lock:
            redo = self._undo_stack().redo
            if not redo:
                raise RevisionNotFoundError(f"nothing to redo in {self._label()}")
            again = self._find(redo[-1])
            if again is None:
                raise RevisionNotFoundError("cannot redo a trimmed revision")
            value = again[VALUE]
            return self._write(
                lambda _: value,
                plain_or_info(RevisionKind.REDO, again[NUMBER], None, author, comment),
                depth=_depth,
            )

    # -- branches and the cursor ---------------------------------------------------

    def _move(self, record: Record, branch: str) -> None:
        """Put the cursor at ``record`` on ``branch`` (called with the lock held)."""
        if self._writing:
            raise ReentrancyError(
                f"the cursor of {self._label()} moved inside a write to it"
            )
        before = self._cursor.move(self._records, record, branch, self._get)
        self._undo = None
        self._refresh()
        if self._journal is not None:
            try:
                self._journal.moved(self._handle)
            except BaseException:
                self._cursor.undo(self._records, before)
                self._refresh()
                raise

    def checkout(self, target: int | str) -> Revision:
        """Move the cursor to a revision number or a branch name.

        The value becomes that revision's. Nothing is recorded; the next write after
        checking out an older revision starts a new branch, so the forward path is
        kept. Listeners are not called.
        """
        if isinstance(target, str):
            return self.switch(target)
        with self._lock:
            record = self._get(target)
            self._move(record, record[BRANCH])
            return Revision(record, self)

    def switch(self, branch: str) -> Revision:
        """Move the cursor to the newest revision of ``branch``."""
        with self._lock:
            record = self._get(self._tip_of(branch))
            self._move(record, branch)
            return Revision(record, self)

    def branch(self, name: str, at: int | None = None) -> Revision:
        """Create branch ``name`` at revision ``at`` (default: the cursor), switch.

        The next write is recorded on it.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("a branch name is a non-empty string")
        name = _checked_text("a branch name", name)
        with self._lock:
            if name in self._records.tips or name == self._cursor.branch:
                raise ValueError(f"{self._label()} already has a branch {name!r}")
            record = self._cursor.head if at is None else self._get(at)
            self._records.tips[name] = record[NUMBER]
            try:
                self._move(record, name)
            except BaseException:
                self._records.tips.pop(name, None)
                raise
            return Revision(record, self)

    def merge(
        self,
        branch: str,
        *,
        resolve: str | Resolver | None = None,
        author: str | None = None,
        comment: str | None = None,
        label: str | None = None,
        _depth: int = 1,
    ) -> Revision:
        """Merge the newest revision of ``branch`` into the cursor's branch.

        A three-way merge against the two heads' newest common ancestor (rules
        in docs/merge.md): changes to different places combine, the same change
        on both sides is taken once. It always records one new revision of kind
        ``"merge"`` with two :attr:`~statetrail.Revision.parents`, the cursor
        and ``branch``'s head (never a fast-forward); ``branch`` is left as it
        was. Validators see the merged value first.

        Args:
            branch: The branch to merge in.
            resolve: What to take where both sides changed one place
                differently: ``"ours"``, ``"theirs"``, or a callable given each
                :class:`~statetrail.MergeConflict` and returning the value to
                use (:data:`~statetrail.frozen.MISSING` for none). Without it
                such a merge raises.
            author: Who merged (default: the enclosing context's).
            comment: Why (default: the enclosing context's).
            label: A short tag for the merge revision.

        Raises:
            MergeConflictError: The two sides conflict and there is no
                ``resolve``; its ``conflicts`` lists where. Nothing is recorded.
            RevisionNotFoundError: No such branch, or no common ancestor is
                held (retention trimmed it).
            ValueError: ``branch`` is the cursor's own branch.

        >>> from statetrail import Timeline
        >>> t = Timeline({"bins": 10, "sorted": 0})
        >>> _ = t.branch("sorter")
        >>> _ = t.set_in("sorted", 1)
        >>> _ = t.switch("main")
        >>> _ = t.set_in("bins", 12)
        >>> merged = t.merge("sorter", comment="sorted cards in")
        >>> t.value, merged.kind, merged.parents
        (FrozenDict({'bins': 12, 'sorted': 1}), 'merge', (2, 1))
        """
        how = resolver(resolve)
        with self._lock:
            if branch == self._cursor.branch:
                raise ValueError(
                    f"cannot merge branch {branch!r} of {self._label()} into itself"
                )
            ours, theirs, merged = self._merged(branch, how)
            return self._write(
                lambda _: merged,
                plain_or_info(
                    RevisionKind.MERGE, theirs[NUMBER], label, author, comment
                ),
                expect=ours[NUMBER],
                depth=_depth,
            )

    # -- other writers and storage -------------------------------------------------

    def _absorb(self, records: Sequence[Record]) -> None:
        """Take in revisions recorded elsewhere (by another process), in order.

        Called by a journal. A cursor at the newest revision of its branch follows
        the branch, so the next write appends after the new revisions instead of
        starting a branch; listeners get the new revisions as if written here.
        """
        with self._lock:
            for record in records:
                number = record[NUMBER]
                if number < self._records.next:
                    continue  # already held
                if number != self._records.next:
                    raise ValueError(
                        f"{self._label()} expected revision {self._records.next}, "
                        f"got {number}"
                    )
                self._records.append(record)
                self._cursor.follow(self._records, record)
                if self._path_index is not None:
                    self._path_index.add(number, self.changes_of(record))
                if self._listeners.listeners:
                    self._pending.append((record, 1))
            self._undo = None
            self._refresh()
        if self._pending:
            self._listeners.run()

    def sync(self) -> int:
        """Take in what other processes recorded since; return how many revisions.

        A timeline without storage has nothing to take in.
        """
        if self._journal is None:
            return 0
        before = self._records.next
        self._journal.refresh(self._handle)
        return self._records.next - before

    def erase(self, number: int, *, reason: str, author: str | None = None) -> None:
        """Drop revision ``number``'s value, for privacy, leaving a tombstone.

        Everything else about the revision stays (its metadata, its place in the
        history, its digest in storage). Its value reads as an :class:`Erased`
        tombstone saying who erased it and why. The current revision cannot be
        erased: record a new value first.
        """
        if not isinstance(reason, str) or not reason:
            raise ValueError("erase() needs a reason")
        reason = _checked_text("reason", reason)
        if author is not None:
            author = _checked_text("author", author)
        with self._lock:
            self._check_writable()
            record = self._get(number)
            if record is self._cursor.head or record is self._cursor.tip:
                raise ValueError(
                    f"revision {number} is current: record a new value before "
                    "erasing it"
                )
            if type(record[VALUE]) is Erased:
                return
            self._settle(record)
            tombstone = Erased(author, reason, time.time_ns())
            if self._journal is not None:
                self._journal.erase(self._handle, number, tombstone)
            self._records.replace((*record[:VALUE], tombstone, *record[VALUE + 1 :]))
        logger.info("erased the value of revision %d of %s", number, self._label())

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
            self._retention = check_retention(rule)
            self._refresh()
            if self._retention is not None:
                self._retain()

    def _retain(self) -> None:
        rule = self._retention
        assert rule is not None
        for cutoff, before, reason in rule_bounds(
            rule, self._records.next, len(self._records)
        ):
            self._trim_to(cutoff, before, reason, None)

    def trim(
        self,
        *,
        keep_last: int | None = None,
        older_than: timedelta | datetime | None = None,
        reason: str | None = None,
        author: str | None = None,
    ) -> Trim | None:
        """Remove old revisions now, leaving a tombstone, and return it.

        Returns ``None`` if nothing was removed. ``keep_last`` keeps that many of the
        newest revisions; ``older_than`` removes those recorded before a moment (a
        datetime) or longer ago than a timedelta. Branch tips and the current
        revision are always kept, so the value never changes.
        """
        trim_bounds(0, keep_last, older_than, reason)  # bad arguments raise first
        with self._lock:
            cutoff, before, why = trim_bounds(
                self._records.next, keep_last, older_than, reason
            )
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
        cursor are kept; so is the newest revision.
        """
        protected = set(self._all_tips().values())
        protected.add(self._cursor.head[NUMBER])
        removed = self._records.droppable(cutoff, before_ns, protected)
        for record in removed:
            self._drop(record)
        self._records.drop(removed)
        if not removed:
            return None
        if self._journal is not None:  # storage follows (in batches, for retention)
            below = next(self._records.oldest_first())[NUMBER]  # the oldest held
            self._journal.trimmed(self._handle, below, reason, author, explicit)
        return self._tombstones.note(
            removed, reason, author, self._label(), explicit=explicit
        )

    def _drop(self, record: Record) -> None:
        """Forget a record; its children keep their changes (settled first)."""
        self._forget(record)
        if self._undo is not None:
            self._undo.forget(record[NUMBER])

    # -- observation ---------------------------------------------------------------

    def add_validator(self, fn: Validator) -> Callable[[], None]:
        """Check each new value with ``fn`` before it is recorded (raise to reject).

        Returns a function that removes the validator.
        """
        return add_hook(self._validators, fn, self._lock, self._refresh, "a validator")

    @property
    def interceptors(self) -> tuple[Interceptor, ...]:
        """The interceptors every new value passes, in order."""
        return tuple(self._interceptors)

    def add_interceptor(self, fn: Interceptor) -> Callable[[], None]:
        """Pass each new value through ``fn`` before the validators see it.

        ``fn`` gets the value frozen and returns the value to record; it runs on
        every write, whichever method made it (not on a ``delete`` revision,
        which has no value). Returns a function that removes it.
        """
        return add_hook(
            self._interceptors, fn, self._lock, self._refresh, "an interceptor"
        )

    def add_listener(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn(revision)`` after each recorded revision, in commit order.

        A listener that raises is logged (logger ``"statetrail"``) and the others
        still run. Returns a function that removes the listener.
        """
        if not callable(fn):
            raise TypeError(f"a listener must be callable, not {fn!r}")
        with self._lock:
            self._listeners.add(fn)
            self._refresh()
        return lambda: self.remove_listener(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn``; removing one that is not there does nothing."""
        with self._lock:
            if self._listeners.remove(fn):
                self._refresh()

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return (
            f"Timeline({name}value={_short(self._cursor.head[VALUE])}, "
            f"revision={self._cursor.head[NUMBER]}, "
            f"branch={self._cursor.branch!r}, revisions={len(self)})"
        )
