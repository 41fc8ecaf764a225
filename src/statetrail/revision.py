"""The records of history: Revision, Change, Origin, and the Trim tombstone.

All four are immutable. A :class:`Revision` is one recorded version of a timeline's
value with everything known about how it came to be. Its :attr:`~Revision.changes`
are worked out from the parent's value on first use, by a structural diff that
skips shared subtrees, so recording a write never pays for a diff nobody reads.

Underneath, a timeline keeps each revision as a plain tuple (a record, fields
below); a Revision is a view of one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import CodeType
from typing import Any, Final, Protocol

from statetrail._change import Change
from statetrail.frozen._opaque import Opaque

__all__ = [
    "PLAIN",
    "Change",
    "Origin",
    "Record",
    "Revision",
    "RevisionKind",
    "Trim",
    "origin_of",
    "parents_of",
    "time_ns_at",
    "time_ns_of",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(time_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def time_ns_at(when: datetime) -> int:
    """The last nanosecond of ``when``'s microsecond, since the epoch (UTC).

    For as-of-time reads: a :class:`~datetime.datetime` holds microseconds and a
    revision's time nanoseconds, so the revisions recorded within that
    microsecond count as at it, and ``at(time=revision.time)`` finds
    ``revision``. A naive datetime is local time, as :meth:`datetime.timestamp`
    reads it.

    >>> time_ns_at(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    1000005999

    Raises:
        TypeError: ``when`` is not a datetime.
    """
    return time_ns_of(when) + 999


def time_ns_of(when: datetime) -> int:
    """``when`` in nanoseconds since the epoch (UTC), exactly.

    A naive datetime is local time. ``int(when.timestamp() * 1e9)`` goes
    through a float, off by up to a few hundred nanoseconds today.

    >>> time_ns_of(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
    1000005000

    Raises:
        TypeError: ``when`` is not a datetime.
    """
    if not isinstance(when, datetime):
        raise TypeError(f"a time is a datetime, not {type(when).__name__}")
    if when.tzinfo is None:
        when = when.astimezone()
    delta = when - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * 1000


class Origin:
    """Where a change came from: the caller's file, line and function.

    It also names the thread and the asyncio task that made the change.

    Frames inside statetrail are skipped, so this is the user's own line.
    """

    __slots__ = ("_file", "_function", "_line", "_task", "_thread")

    def __init__(
        self, file: str, line: int, function: str, thread: str, task: str | None = None
    ) -> None:
        self._file = file
        self._line = line
        self._function = function
        self._thread = thread
        self._task = task

    @property
    def file(self) -> str:
        """The source file of the calling code."""
        return self._file

    @property
    def line(self) -> int:
        """The line number in :attr:`file`."""
        return self._line

    @property
    def function(self) -> str:
        """The function (or ``<module>``) the call was made from."""
        return self._function

    @property
    def thread(self) -> str:
        """The name of the thread that made the change."""
        return self._thread

    @property
    def task(self) -> str | None:
        """The name of the asyncio task that made the change, if any."""
        return self._task

    def _key(self) -> tuple[str, int, str, str, str | None]:
        return (self._file, self._line, self._function, self._thread, self._task)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Origin):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        where = f"{self._file}:{self._line} in {self._function}"
        who = (
            self._thread if self._task is None else f"{self._thread}, task {self._task}"
        )
        return f"Origin({where} [{who}])"

    def __reduce__(self) -> tuple[Any, tuple[str, int, str, str, str | None]]:
        return (Origin, self._key())


def _line_of(code: CodeType, lasti: int) -> int:
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return line
    return code.co_firstlineno


class RevisionKind:
    """What a revision records (the values of :attr:`Revision.kind`)."""

    INITIAL: Final = "initial"
    SET: Final = "set"
    ROLLBACK: Final = "rollback"
    REVERT: Final = "revert"
    UNDO: Final = "undo"
    REDO: Final = "redo"
    #: The thing tracked was deleted (its value is ``None``); a later write brings
    #: it back, and its history goes on.
    DELETE: Final = "delete"
    #: Another branch's head merged into this one: the revision has two parents,
    #: the one it was written after and (its :attr:`~Revision.target`) the
    #: head merged in.
    MERGE: Final = "merge"


#: The info of a plain write with no metadata: shared, so most revisions carry one
#: pointer for their kind, target, label, author, comment and extra.
PLAIN: Final = (RevisionKind.SET, None, None, None, None, None)

# A timeline keeps each revision as a plain tuple, a *record*, with these fields.
# A tuple of strings, ints, code objects and a scalar value is untracked by the
# garbage collector, so a long history of scalars costs the collector nothing, and
# a tuple is cheaper to make than an object. Revision is a read-only view of one.
NUMBER: Final = 0  # int: the revision number
PARENT: Final = 1  # int | None: the parent's number
BRANCH: Final = 2  # str
VALUE: Final = 3  # the frozen value (an Opaque box for unknown types)
TIME: Final = 4  # int: nanoseconds since the epoch, UTC
INFO: Final = 5  # (kind, target, label, author, comment, extra)
CODE: Final = 6  # the caller's code object, an Origin, or None (no capture)
LASTI: Final = 7  # int: the caller's instruction offset (with a code object)
THREAD: Final = 8  # str | None: the thread's name
TASK: Final = 9  # str | None: the asyncio task's name

Record = tuple[Any, ...]


class _Changes(Protocol):
    def changes_of(self, record: Record) -> tuple[Change, ...]: ...


class Revision:
    """One recorded version of a timeline's value, and how it came to be.

    A read-only view of what the timeline keeps; timelines hand them out, they
    are not made by hand. Two views of the same revision are equal.
    """

    __slots__ = ("_changes", "_rec", "_source")

    def __init__(
        self,
        record: Record,
        source: _Changes | None = None,
        changes: tuple[Change, ...] | None = None,
    ) -> None:
        self._rec = record
        self._source = source
        self._changes = changes

    @property
    def number(self) -> int:
        """Its place in the timeline, from 0, counting every branch."""
        return self._rec[NUMBER]  # type: ignore[no-any-return]

    @property
    def index(self) -> int:
        """The revision number, under the name the first seed's ChangeRecord uses."""
        return self._rec[NUMBER]  # type: ignore[no-any-return]

    @property
    def parent(self) -> int | None:
        """The number of the revision this one was made from (``None``: first)."""
        return self._rec[PARENT]  # type: ignore[no-any-return]

    @property
    def parents(self) -> tuple[int, ...]:
        """The numbers of the revisions this one was made from.

        ``()`` for a first revision, two for a merge (the revision it was
        written after, then the head merged in), one otherwise.
        """
        return parents_of(self._rec)

    @property
    def branch(self) -> str:
        """The branch it was recorded on."""
        return self._rec[BRANCH]  # type: ignore[no-any-return]

    @property
    def value(self) -> Any:
        """The recorded value, frozen.

        An object of a type statetrail cannot freeze is handed out as a fresh copy.
        """
        value = self._rec[VALUE]
        if type(value) is Opaque:
            return value.copy()
        return value

    @property
    def time_ns(self) -> int:
        """UTC time of recording, in nanoseconds since the epoch."""
        return self._rec[TIME]  # type: ignore[no-any-return]

    @property
    def timestamp(self) -> datetime:
        """UTC time of recording, as an aware datetime."""
        return _utc(self._rec[TIME])

    @property
    def kind(self) -> str:
        """One of :class:`RevisionKind`: how the revision came to be."""
        return self._rec[INFO][0]  # type: ignore[no-any-return]

    @property
    def target(self) -> int | None:
        """The revision a rollback, revert, undo or redo refers to.

        For a merge, the head that was merged in (its second parent).
        """
        return self._rec[INFO][1]  # type: ignore[no-any-return]

    @property
    def label(self) -> str | None:
        """A short tag for the change, if given."""
        return self._rec[INFO][2]  # type: ignore[no-any-return]

    @property
    def author(self) -> str | None:
        """Who made the change, if known."""
        return self._rec[INFO][3]  # type: ignore[no-any-return]

    @property
    def comment(self) -> str | None:
        """Why the change was made, if given."""
        return self._rec[INFO][4]  # type: ignore[no-any-return]

    @property
    def extra(self) -> Any:
        """What the front end that made the revision noted with it, if anything.

        A Store notes the path that was set, an asyncio store the action that was
        dispatched; it is kept, and stored, with the revision.
        """
        return self._rec[INFO][5]

    @property
    def origin(self) -> Origin | None:
        """The line of code that made the change (``None`` when capture is off)."""
        return origin_of(self._rec)

    @property
    def changes(self) -> tuple[Change, ...]:
        """What changed from the parent revision (``()`` for a first revision)."""
        changes = self._changes
        if changes is None:
            source = self._source
            changes = () if source is None else source.changes_of(self._rec)
            self._changes = changes
        return changes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Revision):
            return NotImplemented
        return self._rec is other._rec

    def __hash__(self) -> int:
        return id(self._rec)

    def __repr__(self) -> str:
        rec = self._rec
        parts = [f"{rec[NUMBER]}", f"value={_short(rec[VALUE])}"]
        parts.append(f"at={self.timestamp.isoformat(timespec='microseconds')}")
        if rec[BRANCH] != "main":
            parts.append(f"branch={rec[BRANCH]!r}")
        info = rec[INFO]
        if info[0] not in (RevisionKind.SET, RevisionKind.INITIAL):
            parts.append(f"kind={info[0]!r}")
        for name, value in zip(("label", "author", "comment"), info[2:5], strict=True):
            if value is not None:
                parts.append(f"{name}={value!r}")
        return f"Revision({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A pickled revision stands alone: its origin resolved, its changes known.
        rec = self._rec
        origin = origin_of(rec)
        detached = (*rec[:CODE], origin, None, None, None)
        return (Revision, (detached, None, self.changes))


def parents_of(record: Record) -> tuple[int, ...]:
    """The parents' numbers of a record: see :attr:`Revision.parents`."""
    parent = record[PARENT]
    if parent is None:
        return ()
    info = record[INFO]
    if info[0] == RevisionKind.MERGE and info[1] is not None:
        return (parent, info[1])
    return (parent,)


def origin_of(record: Record) -> Origin | None:
    """The :class:`Origin` of a record (built from a raw capture on demand)."""
    code = record[CODE]
    if code is None or type(code) is Origin:
        return code
    return Origin(
        code.co_filename,
        _line_of(code, record[LASTI]),
        code.co_name,
        record[THREAD],
        record[TASK],
    )


def _short(value: Any) -> str:
    """A repr cut to a readable length: states can be large."""
    text = repr(value)
    if len(text) <= 80:
        return text
    return text[:76] + " ..." + text[-1]


class Trim:
    """A tombstone: revisions removed by retention, with when, why and by whom."""

    __slots__ = ("_author", "_count", "_first", "_last", "_reason", "_time_ns")

    def __init__(
        self,
        first: int,
        last: int,
        count: int,
        reason: str,
        time_ns: int,
        author: str | None = None,
    ) -> None:
        self._first = first
        self._last = last
        self._count = count
        self._reason = reason
        self._time_ns = time_ns
        self._author = author

    @property
    def first(self) -> int:
        """The lowest revision number removed."""
        return self._first

    @property
    def last(self) -> int:
        """The highest revision number removed."""
        return self._last

    @property
    def count(self) -> int:
        """How many revisions were removed (some in the range may have been kept)."""
        return self._count

    @property
    def reason(self) -> str:
        """Why: the retention rule or the caller's reason."""
        return self._reason

    @property
    def author(self) -> str | None:
        """Who trimmed, if known."""
        return self._author

    @property
    def timestamp(self) -> datetime:
        """When the trim happened, as an aware UTC datetime."""
        return _utc(self._time_ns)

    def __repr__(self) -> str:
        return (
            f"Trim(revisions {self._first}..{self._last}, count={self._count}, "
            f"reason={self._reason!r}, at={self.timestamp.isoformat()})"
        )
