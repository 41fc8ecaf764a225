"""The records of history: Revision, Change, Origin, and the Trim tombstone.

All four are immutable. A :class:`Revision` is one recorded version of a timeline's
value with everything known about how it came to be. Its :attr:`~Revision.changes`
are worked out from the parent's value on first use, by a structural diff that
skips shared subtrees, so recording a write never pays for a diff nobody reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import CodeType
from typing import Any, Final

from statetrail._change import Change
from statetrail.diff import diff_values
from statetrail.frozen._opaque import Opaque

__all__ = ["PLAIN", "Change", "Origin", "Revision", "RevisionKind", "Trim"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(time_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


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

    @classmethod
    def _from_raw(cls, raw: tuple[Any, ...]) -> Origin:
        """Build from what capture keeps: code object, offset, thread, task name.

        The line is looked up only now, since that costs more than the capture.
        """
        code, lasti, thread, task = raw
        return cls(
            code.co_filename, _line_of(code, lasti), code.co_name, thread.name, task
        )

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


#: The ``_info`` of a plain write with no metadata: shared, so most revisions
#: carry one pointer for their kind, target, label, author, comment and extra.
PLAIN: Final = (RevisionKind.SET, None, None, None, None, None)


class Revision:
    """One recorded version of a timeline's value, and how it came to be.

    Revisions are made by a :class:`~statetrail.Timeline`, never by hand. Every
    attribute is read-only.
    """

    # ``_parent`` is the parent revision itself until the changes are first read
    # (they are a diff against the parent's value, worked out lazily), then the pair
    # ``(parent number, changes)``; ``None`` for a first revision, whose changes are
    # empty. One slot for both keeps a revision small and quick to make.
    __slots__ = (
        "_branch",
        "_info",
        "_number",
        "_origin",
        "_parent",
        "_time_ns",
        "_value",
    )

    def __init__(
        self,
        number: int,
        parent: Revision | tuple[int, tuple[Change, ...]] | None,
        branch: str,
        value: Any,
        time_ns: int,
        info: tuple[str, int | None, str | None, str | None, str | None, Any],
        origin: Origin | tuple[Any, ...] | None,
    ) -> None:
        self._number = number
        self._parent = parent
        self._branch = branch
        self._value = value
        self._time_ns = time_ns
        self._info = info
        self._origin = origin

    @property
    def number(self) -> int:
        """Its place in the timeline, from 0, counting every branch."""
        return self._number

    @property
    def index(self) -> int:
        """The revision number, under the name the first seed's ChangeRecord uses."""
        return self._number

    @property
    def parent(self) -> int | None:
        """The number of the revision this one was made from (``None``: first)."""
        parent = self._parent
        if parent is None:
            return None
        if type(parent) is tuple:
            return parent[0]
        return parent._number  # type: ignore[union-attr]

    @property
    def branch(self) -> str:
        """The branch it was recorded on."""
        return self._branch

    @property
    def value(self) -> Any:
        """The recorded value, frozen.

        An object of a type statetrail cannot freeze is handed out as a fresh copy.
        """
        value = self._value
        if type(value) is Opaque:
            return value.copy()
        return value

    @property
    def time_ns(self) -> int:
        """UTC time of recording, in nanoseconds since the epoch."""
        return self._time_ns

    @property
    def timestamp(self) -> datetime:
        """UTC time of recording, as an aware datetime."""
        return _utc(self._time_ns)

    @property
    def kind(self) -> str:
        """One of :class:`RevisionKind`: how the revision came to be."""
        return self._info[0]

    @property
    def target(self) -> int | None:
        """The revision a rollback, revert, undo or redo refers to."""
        return self._info[1]

    @property
    def label(self) -> str | None:
        """A short tag for the change, if given."""
        return self._info[2]

    @property
    def author(self) -> str | None:
        """Who made the change, if known."""
        return self._info[3]

    @property
    def comment(self) -> str | None:
        """Why the change was made, if given."""
        return self._info[4]

    @property
    def extra(self) -> Any:
        """What the front end that made the revision noted with it, if anything.

        A Store notes the path that was set, an asyncio store the action that was
        dispatched; it is kept, and stored, with the revision.
        """
        return self._info[5]

    @property
    def origin(self) -> Origin | None:
        """The line of code that made the change (``None`` when capture is off)."""
        origin = self._origin
        if type(origin) is tuple:
            origin = self._origin = Origin._from_raw(origin)
        return origin  # type: ignore[return-value]

    @property
    def changes(self) -> tuple[Change, ...]:
        """What changed from the parent revision (``()`` for a first revision)."""
        parent = self._parent
        if parent is None:
            return ()
        if type(parent) is not tuple:
            self._settle()
            parent = self._parent
        return parent[1]  # type: ignore[index]

    def _settle(self) -> None:
        """Work out the changes now and keep only the parent's number.

        Retention calls this before it drops the parent.
        """
        parent = self._parent
        if parent is not None and type(parent) is not tuple:
            self._parent = (parent._number, diff_values(parent._value, self._value))  # type: ignore[union-attr]

    def __repr__(self) -> str:
        parts = [f"{self._number}", f"value={_short(self._value)}"]
        parts.append(f"at={self.timestamp.isoformat(timespec='microseconds')}")
        if self._branch != "main":
            parts.append(f"branch={self._branch!r}")
        kind = self._info[0]
        if kind not in (RevisionKind.SET, RevisionKind.INITIAL):
            parts.append(f"kind={kind!r}")
        for name, value in zip(
            ("label", "author", "comment"), self._info[2:5], strict=True
        ):
            if value is not None:
                parts.append(f"{name}={value!r}")
        return f"Revision({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            Revision,
            (
                self._number,
                None if self._parent is None else (self.parent, self.changes),
                self._branch,
                self._value,
                self._time_ns,
                self._info,
                self.origin,
            ),
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

    def _extended(self, last: int, count: int, time_ns: int) -> Trim:
        return Trim(
            self._first, last, self._count + count, self._reason, time_ns, self._author
        )

    def __repr__(self) -> str:
        return (
            f"Trim(revisions {self._first}..{self._last}, count={self._count}, "
            f"reason={self._reason!r}, at={self.timestamp.isoformat()})"
        )
