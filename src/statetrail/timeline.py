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
from statetrail._history import History
from statetrail._intercept import Interceptor, intercept
from statetrail._listeners import (
    MAX_LISTENER_DEPTH,
    Dispatcher,
    Listener,
    write_depth,
)
from statetrail._log import get_logger
from statetrail._merge import Resolver, merge3, resolver
from statetrail._pathindex import index_path
from statetrail._records import MemoryRecords, Records
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
    RawOrigin,
    _checked_text,
    _task_name,
    _threads,
    capture_raw_walk,
)
from statetrail.diff import apply_changes, invert
from statetrail.errors import (
    ConflictError,
    FrozenError,
    MergeConflictError,
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
from statetrail.paths import PathLike, format_path, parse_path
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
Info = tuple[str, "int | None", "str | None", "str | None", "str | None", Any]

#: How many times a path write re-applies itself on top of revisions other
#: processes recorded first before it gives up with their ConflictError.
REBASE_LIMIT = 100

# "Capture the origin here": a front end that captured it earlier (an asyncio
# store, at dispatch) passes what it captured instead.
_UNSET: Any = object()
_NO_ORIGIN = (None, None, None, None)
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
        self.name = name
        self._deep_copy = deep_copy
        self._origin = origin
        self._lock = threading.RLock()
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
        self._path_index = None
        self._undo: UndoStack | None = None
        self._retention = check_retention(retention)
        self._tombstones = Tombstones()
        self._settled = {}
        self._journal = journal
        self._handle = Handle(self)
        record = (
            0,
            None,
            branch,
            self._freeze(initial),
            time.time_ns(),
            self._info(RevisionKind.INITIAL, None, label, author, comment),
            *(self._capture_first()),
        )
        self._records: Records = MemoryRecords((record,))
        # The cursor (_head) on its branch (_head_branch), whose newest record is
        # _tip; the records keep the other branches' newest revision numbers.
        self._head = record
        self._tip = record
        self._head_branch = branch
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
        timeline._head = head
        timeline._tip = timeline._get(tip_number)
        timeline._head_branch = branch
        timeline._journal = journal
        timeline._tombstones.trims = list(tombstones)
        timeline._refresh()
        return timeline

    def _refresh(self) -> None:
        # True when a write needs nothing but appending: the cursor is at the newest
        # revision of all, on that revision's branch, and there are no validators,
        # listeners, retention, path index or undo state to keep; not frozen, not
        # mid-write. Every change to any of these calls _refresh().
        head = self._head
        self._plain = not (
            head is not self._tip
            or head[NUMBER] + 1 != self._records.next
            or head[BRANCH] != self._head_branch
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

    def _capture_first(self) -> RawOrigin | tuple[None, None, None, None]:
        # Revision 0 may be made through any number of constructors: walk out.
        enabled = self._origin
        if enabled is None:
            enabled = CAPTURE.on
        return capture_raw_walk() if enabled else _NO_ORIGIN

    def _capture(self, depth: int) -> RawOrigin | tuple[None, None, None, None]:
        """The raw origin ``depth`` frames above the caller (all None when off)."""
        enabled = self._origin
        if enabled is None:
            enabled = CAPTURE.on
        if not enabled:
            return _NO_ORIGIN
        try:
            frame = _getframe(depth + 1)
        except ValueError:  # fewer frames than that
            return _NO_ORIGIN
        try:
            thread = _threads.thread
        except AttributeError:
            thread = _threads.thread = threading.current_thread()
        loop = LOOP.get() if "asyncio.events" in _modules else None
        return (
            frame.f_code,
            frame.f_lasti,
            thread._name,  # noqa: SLF001 - stdlib field, for speed
            None if loop is None else _task_name(loop),
        )

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

        The shared :data:`~statetrail.revision.PLAIN` when there is none. Every
        write with metadata comes here, so this is where the arguments are checked
        (:func:`~statetrail.context` checked its own): a non-string raises
        :class:`TypeError`, a NUL or a lone surrogate :class:`ValueError`, before
        anything is recorded. Plain writes skip it, and pay nothing.
        """
        # The common case (plain ASCII text) inline; the rest in _checked_text.
        if label is not None and (
            type(label) is not str or not label.isascii() or "\0" in label
        ):
            label = _checked_text("label", label)
        if author is not None and (
            type(author) is not str or not author.isascii() or "\0" in author
        ):
            author = _checked_text("author", author)
        if comment is not None and (
            type(comment) is not str or not comment.isascii() or "\0" in comment
        ):
            comment = _checked_text("comment", comment)
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

    # -- reading -------------------------------------------------------------------

    @property
    def value(self) -> T:
        """The value at the cursor (normally the newest revision of the branch)."""
        return unbox(self._head[VALUE])  # type: ignore[no-any-return]

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
        if self._plain and expect is None:
            # Nothing to check or keep up to date: append (as _commit does inline).
            # Plain: the head is the newest record, so it is numbered next - 1.
            parent = self._head[NUMBER]
            record = (
                parent + 1,
                parent,
                self._head_branch,
                value,
                _time_ns(),
                info,
                *origin,
            )
            self._records.tail.append(record)
            self._head = self._tip = record
            return record
        if self._frozen:
            raise FrozenError(f"{self._label()} is frozen and cannot be changed")
        head = self._head
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
        branch = self._head_branch
        if head is not self._tip:
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
        if head is not self._tip:
            # Writing from behind the branch's newest revision: keep that forward
            # path on its branch and start a new one here.
            self._records.tips[self._head_branch] = self._tip[NUMBER]
        self._records.append(record)
        self._head = self._tip = record
        self._head_branch = branch
        if self._path_index is not None:
            self._path_index.add(
                number, self._changes_of(record) if changes is None else changes
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
            if self._head is not head:
                raise self._stale(head, error) from error
            if self._records.next <= record[NUMBER]:
                raise error  # nothing new was taken in: not a race to retry
            number = self._records.next
            branch = self._head_branch if head is self._tip else f"branch-{number}"
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
        winner = self._head
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
        kind: str,
        target: int | None,
        label: str | None,
        author: str | None,
        comment: str | None,
        expect: int | None,
        depth: int,
        extra: Any = None,
        origin: Any = _UNSET,
        rebase: bool = False,
    ) -> Revision:
        """Record ``compute(current value)``, under the lock.

        With ``rebase`` (a path write), a revision another process recorded
        first is taken in and ``compute`` runs again on it, so the last writer
        wins on its path and both revisions are kept; without, that raises
        :class:`~statetrail.ConflictError`.
        """
        raw = self._capture(depth + 1) if origin is _UNSET else (origin or _NO_ORIGIN)
        if (
            kind is RevisionKind.SET
            and label is None
            and author is None
            and comment is None
            and extra is None
            and _META.get() is _EMPTY
        ):
            info: Info = PLAIN
        else:
            info = self._info(kind, target, label, author, comment, extra)
        with self._lock:
            self._check_writable()
            attempts = 1
            while True:
                try:
                    record = self._record(
                        compute(real(self._head[VALUE])), info, raw, expect
                    )
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
        return Revision(self._commit(value, info, expect, None, _depth + 1), self)

    def _commit(
        self,
        value: Any = _APPLY,
        info: Info = PLAIN,
        expect: int | None = None,
        changes: tuple[Change, ...] | None = None,
        depth: int = 1,
        *,
        intercepted: bool = False,
    ) -> Record:
        """Record ``value`` after the cursor: the one call front ends write through.

        The front-end seam (see docs/engine.md, "Seams"): a
        :class:`~statetrail.Var`, a :class:`~statetrail.Store` and the
        immutable front ends commit here and nowhere else, and get the record
        back (wrap it in a :class:`~statetrail.Revision` for a view).

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
        # _capture, _info and _record do, for the common case of a plain append.
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
            info = self._info(*info)
        lock = self._lock
        lock.acquire()
        try:
            if apply:  # onto the head as it is now, under the lock
                value = apply_changes(self._head[VALUE], changes or ())
            # A front end's expected head (a Store's optimistic write) is the head
            # itself unless another thread wrote in between: still a plain append.
            if self._plain and (expect is None or expect == self._head[NUMBER]):
                # Plain: the head is the newest record, so it is numbered next - 1.
                parent = self._head[NUMBER]
                record = (
                    parent + 1,
                    # The head's own int: one object fewer per revision kept.
                    parent,
                    self._head_branch,
                    value,
                    _time_ns(),
                    info,
                    code,
                    lasti,
                    thread_name,
                    task,
                )
                self._records.tail.append(record)
                self._head = self._tip = record
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
        if not steps:
            return self._write(
                lambda current: frozen,
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
        if not self._deep_copy:
            raise TypeError(
                "set_in() needs frozen values (a timeline with deep_copy=True)"
            )
        return self._write(
            lambda current: paths.set_frozen(current, steps, frozen, True),
            RevisionKind.SET,
            None,
            label,
            author,
            comment,
            expect,
            _depth,
            extra,
            _origin,
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
            RevisionKind.SET,
            None,
            label,
            author,
            comment,
            expect,
            _depth,
            extra,
            _origin,
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
            RevisionKind.SET,
            None,
            label,
            author,
            comment,
            None,
            _depth,
            extra,
            _origin,
            _rebase,
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
        raw = self._capture(2) if _origin is _UNSET else (_origin or _NO_ORIGIN)
        info = self._info(RevisionKind.SET, None, label, author, comment, extra)
        with self._lock:
            self._check_writable()
            base = real(self._head[VALUE])
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
            RevisionKind.DELETE,
            None,
            label,
            author,
            comment,
            None,
            _depth,
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
            later: list[Record] = []
            for record in self._lineage_from(self._head[NUMBER]):
                if record[NUMBER] == number:
                    break
                later.append(record)
            else:
                raise ValueError(
                    f"revision {number} is not on the current lineage of "
                    f"{self._label()}"
                )
            undone = self._changes_of(target)
            touched = [index_path(c) for c in undone]
            conflicts = [
                (format_path(p), record[NUMBER])
                for record in reversed(later)
                for c in self._changes_of(record)
                for p in touched
                if paths.is_prefix(p, index_path(c))
                or paths.is_prefix(index_path(c), p)
            ]
            if conflicts:
                raise ConflictError(
                    f"cannot revert revision {number}: later revisions changed "
                    "the same paths: "
                    + ", ".join(
                        f"{p or '<root>'} (revision {n})" for p, n in conflicts
                    ),
                    conflicts,
                )
            return apply_changes(current, invert(undone))

        return self._write(
            compute, RevisionKind.REVERT, number, label, author, comment, None, _depth
        )

    # -- undo and redo -------------------------------------------------------------

    def _undo_stack(self) -> UndoStack:
        stack = self._undo
        head = self._head
        if stack is None or not stack.at(self._head_branch, head[NUMBER]):
            lineage = list(self._lineage_from(head[NUMBER]))
            lineage.reverse()
            stack = self._undo = UndoStack.of_lineage(self._head_branch, lineage)
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
                RevisionKind.UNDO,
                undone[NUMBER],
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
            redo = self._undo_stack().redo
            if not redo:
                raise RevisionNotFoundError(f"nothing to redo in {self._label()}")
            again = self._find(redo[-1])
            if again is None:
                raise RevisionNotFoundError("cannot redo a trimmed revision")
            value = again[VALUE]
            return self._write(
                lambda _: value,
                RevisionKind.REDO,
                again[NUMBER],
                None,
                author,
                comment,
                None,
                _depth,
            )

    # -- branches and the cursor ---------------------------------------------------

    def _move(self, record: Record, branch: str) -> None:
        """Put the cursor at ``record`` on ``branch`` (called with the lock held)."""
        if self._writing:
            raise ReentrancyError(
                f"the cursor of {self._label()} moved inside a write to it"
            )
        tips = self._records.tips
        before = (self._head, self._tip, self._head_branch, dict(tips))
        tips[self._head_branch] = self._tip[NUMBER]
        tip = tips.pop(branch)
        self._tip = record if tip == record[NUMBER] else self._get(tip)
        self._head = record
        self._head_branch = branch
        self._undo = None
        self._refresh()
        if self._journal is not None:
            try:
                self._journal.moved(self._handle)
            except BaseException:
                self._head, self._tip, self._head_branch, self._records.tips = before
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
            if name in self._records.tips or name == self._head_branch:
                raise ValueError(f"{self._label()} already has a branch {name!r}")
            record = self._head if at is None else self._get(at)
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
            if branch == self._head_branch:
                raise ValueError(
                    f"cannot merge branch {branch!r} of {self._label()} into itself"
                )
            theirs = self._get(self._tip_of(branch))
            ours = self._head
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
                    f"merging branch {branch!r} into {self._head_branch!r} of "
                    f"{self._label()}: both changed "
                    + ", ".join(repr(c.dotted or "<root>") for c in conflicts[:5])
                    + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
                    + " differently; nothing was recorded. Merge again with "
                    'resolve="ours", "theirs" or a function',
                    conflicts,
                )
            return self._write(
                lambda _: merged,
                RevisionKind.MERGE,
                theirs[NUMBER],
                label,
                author,
                comment,
                ours[NUMBER],
                _depth,
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
                branch = record[BRANCH]
                self._records.append(record)
                if branch == self._head_branch:
                    if self._head is self._tip:
                        self._head = record
                    self._tip = record
                else:
                    self._records.tips[branch] = number
                if self._path_index is not None:
                    self._path_index.add(number, self._changes_of(record))
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
            if record is self._head or record is self._tip:
                raise ValueError(
                    f"revision {number} is current: record a new value before "
                    "erasing it"
                )
            if type(record[VALUE]) is Erased:
                return
            # Children keep their changes: work them out while the value is here.
            for child in self._records.children(number):
                self._settled.setdefault(child[NUMBER], self._changes_of(child))
            self._settled.setdefault(number, self._changes_of(record))
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
        protected.add(self._head[NUMBER])
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
        n = record[NUMBER]
        for child in self._records.children(n):
            if child[NUMBER] not in self._settled:
                self._settled[child[NUMBER]] = self._changes_of(child)
        if self._path_index is not None:
            self._path_index.remove(n, self._changes_of(record))
        self._settled.pop(n, None)
        if self._undo is not None:
            self._undo.forget(n)

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
        if not callable(fn):
            raise TypeError(f"an interceptor must be callable, not {fn!r}")
        with self._lock:
            self._interceptors.append(fn)
            self._refresh()

        def remove() -> None:
            with self._lock:
                if fn in self._interceptors:
                    self._interceptors.remove(fn)
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
            f"Timeline({name}value={_short(self._head[VALUE])}, "
            f"revision={self._head[NUMBER]}, "
            f"branch={self._head_branch!r}, revisions={len(self)})"
        )
