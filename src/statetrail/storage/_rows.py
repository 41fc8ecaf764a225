"""Rows and their digests: one revision to one stored row, and back.

:class:`RowEncoder` turns a :class:`~statetrail.revision.Revision` into a
:class:`~statetrail.storage.base.Row`: its patch against the parent (or whole
value), the digest of its metadata and payload, and its link in the hash chain.
:func:`row_value` and :func:`record_of` read one row back; :func:`chain_link`
checks its link. Reading many rows (and values far from the rows held) is
``_cold``'s job; the journal protocol (``_journal``) uses both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from statetrail._change import UNSTORED, Change, fields
from statetrail._pathindex import index_path
from statetrail.diff import apply_changes, format_json_pointer
from statetrail.errors import CorruptHistoryError, PathError
from statetrail.frozen import MISSING, FrozenDict
from statetrail.revision import (
    BRANCH,
    CODE,
    INFO,
    LASTI,
    NUMBER,
    PARENT,
    PLAIN,
    TASK,
    THREAD,
    TIME,
    VALUE,
    Origin,
    Record,
    Revision,
)
from statetrail.storage import _integrity as integrity
from statetrail.storage import codec
from statetrail.storage._lazy import _LAZY
from statetrail.storage._lazy import apply as lazy_apply
from statetrail.storage._sealed import ENCRYPTED, Seal
from statetrail.storage._value_digest import Tracker
from statetrail.storage.base import Heads, Row
from statetrail.timeline import Erased

__all__ = [
    "MISSING_PARENT",
    "WHOLE_PATCH",
    "NeedsCheckpoint",
    "RowEncoder",
    "apply_stored",
    "chain_link",
    "erased_of",
    "heads_after",
    "record_of",
    "row_steps",
    "row_value",
]

#: How many call sites' origin texts, notes and paths an encoder keeps.
_ORIGINS_KEPT = 1024
_UNKNOWN: Any = object()


def chain_link(row: Row, previous: str, parent: Callable[[], str]) -> int:
    """Check ``row`` (see :func:`_integrity.row_check`); return its format.

    Raises:
        CorruptHistoryError: The row does not verify.
    """
    version, problem = integrity.row_check(row, previous, parent)
    if problem is not None:
        raise CorruptHistoryError(
            f"revision {row.number} of timeline {row.timeline!r} {problem}: the "
            "history was altered on disk"
        )
    return version


def _flat(note: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """A small note's keys and values as its FrozenDict holds them, else None.

    Read from the frozen dict's flat layout, without building its pairs: front
    ends write a few kinds of small note, each worked out once.
    """
    if type(note) is not FrozenDict:
        return None
    keys = note._keys  # noqa: SLF001 - the storage seam (frozen's layout)
    return None if keys is None else (keys, note._vals)  # noqa: SLF001 - the seam


def _note_text(note: Any, allow_pickle: bool) -> str:
    """A revision's note (``extra``) as canonical JSON text."""
    flat = _flat(note)
    if flat is not None:
        # A front end's small note of ASCII strings, {"op": "set", "path": ...}:
        # already its own JSON form.
        keys, vals = flat
        if all(type(x) is str and x.isascii() and x != "$t" for x in keys) and all(
            type(x) is str and x.isascii() for x in vals
        ):
            return orjson.dumps(dict(zip(keys, vals, strict=True))).decode()
    return codec.canonical(codec.to_json(note, allow_pickle=allow_pickle)).decode()


def apply_stored(value: Any, changes: Sequence[Change]) -> Any:
    """Apply a stored patch's changes, in order, to a frozen value.

    Each goes through :func:`~statetrail.diff.apply_changes`, as a diff's do. A
    value read without its key (``<encrypted>`` placeholders) stays
    ``<encrypted>`` until a change replaces it whole.
    """
    for change in changes:
        path, old, new = fields(change)
        if value is ENCRYPTED:
            if not path:  # replaced whole: readable from here on
                value = new
            continue  # read without its key (placeholders): stays <encrypted>
        if path and type(value) in _LAZY:
            # A value loaded lazily (``_lazy``) takes the change in its overlay.
            op = "-" if new is MISSING else "+" if old is MISSING else "="
            value = lazy_apply(value, op, path, new)
            continue
        value = apply_changes(value, (change,))
    return value


def row_value(row: Row, parent_value: Any, *, allow_pickle: bool = False) -> Any:
    """The value a row records, given its parent's (unused for a whole value).

    The row's digest has been checked: its payload is the bytes this library
    wrote, so the plain parser is enough (the strict one guards untrusted text).
    """
    if row.payload is None:
        return erased_of(row)
    try:
        payload = orjson.loads(row.payload)
    except orjson.JSONDecodeError as exc:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its payload is not JSON"
        ) from exc
    if not isinstance(payload, dict) or len(payload) != 1 + (
        type(payload.get("value_digest")) is str  # format 3 (_value_digest)
    ):
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: a payload is "
            '{"value": ...} or {"patch": [...]}, and its value digest'
        )
    if "value" in payload:
        return codec.from_json(payload["value"], allow_pickle=allow_pickle)
    if "patch" not in payload:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: bad payload"
        )
    changes = codec.changes_from_json(payload["patch"], allow_pickle=allow_pickle)
    if type(parent_value) is Erased or parent_value is MISSING_PARENT:
        if not (changes and changes[0].kind == "replace" and not changes[0].path):
            raise NeedsCheckpoint(row.number)
        # It starts by replacing the whole value (as a write after an erased
        # parent does): the parent's value is not needed.
        parent_value = None
    try:
        return apply_stored(parent_value, changes)
    except PathError as exc:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its patch does not apply to "
            f"its parent ({exc})"
        ) from exc


def row_steps(row: Row, allow_pickle: bool) -> list[Change]:
    """The changes of a row's patch (a whole value: one change at the root).

    For the value digest's tracker (``_value_digest``); the row's digest has
    been checked.
    """
    assert row.payload is not None
    payload = orjson.loads(row.payload)
    if "value" in payload:
        value = codec.from_json(payload["value"], allow_pickle=allow_pickle)
        return [Change((), UNSTORED, value)]
    return codec.changes_from_json(payload["patch"], allow_pickle=allow_pickle)


class NeedsCheckpoint(Exception):
    """The parent's value is gone (erased); the row's checkpoint must be used."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


#: The value of a parent that cannot be had: :func:`row_value` then needs a row
#: that replaces the whole value, or raises :class:`NeedsCheckpoint`.
MISSING_PARENT: Any = object()
#: How a stored patch that starts by replacing the whole value begins (the
#: codec's canonical text), so a cold read stops there without parsing it.
WHOLE_PATCH = '{"patch":[["=",[],'


def erased_of(row: Row) -> Erased:
    tomb = integrity.parse_tombstone(row.erased)
    if tomb is None:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its tombstone is unreadable"
        )
    return Erased(tomb.author, tomb.reason, tomb.time_ns)


def _origin(text: str | None) -> Origin | None:
    if text is None:
        return None
    try:
        file, line, function, thread, task = orjson.loads(text)
        return Origin(str(file), int(line), str(function), str(thread), task)
    except (ValueError, TypeError) as exc:
        raise CorruptHistoryError(f"an origin is unreadable: {text[:80]!r}") from exc


def record_of(row: Row, value: Any, *, allow_pickle: bool) -> Record:
    extra = (
        None
        if row.extra is None
        else codec.from_json(codec.parse(row.extra), allow_pickle=allow_pickle)
    )
    info = (row.kind, row.target, row.label, row.author, row.comment, extra)
    if info == PLAIN:
        info = PLAIN
    return (
        row.number,
        row.parent,
        row.branch,
        value,
        row.time_ns,
        info,
        _origin(row.origin),
        None,
        None,
        None,
    )


def heads_after(rows: Sequence[Row], saved: Heads | None) -> Heads:
    """Where the cursor is after ``rows``, starting from the heads last saved.

    Heads are saved when the cursor moves without a write; a write moves the
    cursor to the new revision, so each later row whose parent is the cursor
    carries it along (as the timeline did in memory).
    """
    if not rows:
        raise CorruptHistoryError("a stored timeline has no revisions")
    if saved is None:
        tips: dict[str, int] = {}
        for row in rows:
            tips[row.branch] = row.number
        last = rows[-1]
        return Heads(last.branch, last.number, tips)
    branch, cursor, tips = saved.branch, saved.cursor, dict(saved.tips)
    as_of = max(tips.values(), default=-1)
    for row in rows:
        if row.number <= as_of:
            continue
        tips[row.branch] = row.number
        if row.parent == cursor:
            cursor, branch = row.number, row.branch
    return Heads(branch, cursor, tips)


class RowEncoder:
    """Revisions of one timeline to rows: patches, digests and the chain link.

    Keeps the value digest's tracker (:attr:`values`: the journal advances it
    write by write, so a row commits to its value's digest without hashing the
    whole value) and what a call site or a note costs to encode, worked out once.
    Not thread-safe: the journal calls it under the timeline's lock.
    """

    def __init__(self, name: str, *, allow_pickle: bool = False) -> None:
        self.name = name
        self._pickle = allow_pickle
        self._origins: dict[tuple[Any, ...], str | None] = {}
        self._notes: dict[tuple[Any, ...], str] = {}
        self._pointers: dict[tuple[Any, ...], str] = {}
        #: The digest of the value last encoded, kept up to date change by change.
        self.values = Tracker(allow_pickle=allow_pickle)

    def encode(
        self, revision: Revision, previous: str, seal: tuple[Seal, ...] = ()
    ) -> tuple[Row, Any]:
        """The row for ``revision`` and, for a whole value, its JSON tree.

        ``previous`` is the chained hash of the revision numbered before it
        (:data:`~statetrail.storage._integrity.ROOT_CHAIN` for the first).

        ``seal``: the timeline's seals (``statetrail.interceptors``), which the
        stored value and each patch value pass; the value digest is the plain
        value's (docs/interceptors.md).
        """
        rec = revision._rec  # noqa: SLF001 - the storage seam (the record's fields)
        kind, target, label, author, comment, note = rec[INFO]
        number, parent, branch, time_ns = (
            rec[NUMBER],
            rec[PARENT],
            rec[BRANCH],
            rec[TIME],
        )
        value_json = None
        values = self.values
        if parent is None:
            value_json = codec.to_json(
                revision.value, allow_pickle=self._pickle, seal=seal
            )
            payload = codec.canonical(
                {
                    "value": value_json,
                    "value_digest": values.reset(rec[VALUE], number),
                }
            )
            paths: tuple[str, ...] = ("",)
        else:
            changes = revision.changes
            if values.number == parent:
                committed = values.advance(changes, rec[VALUE], number)
            else:  # the first write here, or on another branch than the last
                committed = values.reset(rec[VALUE], number)
            payload = codec.canonical(
                {
                    "patch": codec.changes_to_json(
                        changes, allow_pickle=self._pickle, seal=seal
                    ),
                    "value_digest": committed,
                }
            )
            if len(changes) == 1:
                where = index_path(changes[0])
                pointer = self._pointers.get(where)
                if pointer is None:
                    if len(self._pointers) >= _ORIGINS_KEPT:
                        self._pointers.clear()
                    pointer = self._pointers[where] = format_json_pointer(where)
                paths = (pointer,)
            else:
                paths = tuple(
                    sorted({format_json_pointer(index_path(c)) for c in changes})
                )
        if note is None:
            extra = None
        elif seal:  # an AsyncStore's note holds the action, values and all
            extra = codec.canonical(
                codec.to_json(note, allow_pickle=self._pickle, seal=seal)
            ).decode()
        elif (key := _flat(note)) is not None:
            # Front ends write a few kinds of small note: work each out once. Only
            # notes of strings are kept, so a note equal to a kept one is the same
            # text (no 1 == 1.0 == True).
            try:
                extra = self._notes.get(key)
            except TypeError:  # an unhashable value
                extra = None
            if extra is None:
                extra = _note_text(note, self._pickle)
                if all(type(v) is str for v in key[1]):
                    if len(self._notes) >= _ORIGINS_KEPT:
                        self._notes.clear()
                    self._notes[key] = extra
        else:
            extra = _note_text(note, self._pickle)
        where = (rec[CODE], rec[LASTI], rec[THREAD], rec[TASK])
        origin_text = self._origins.get(where, _UNKNOWN)
        if origin_text is _UNKNOWN:
            # One call site writes many revisions: its text is worked out once.
            origin = revision.origin
            origin_text = (
                None
                if origin is None
                else orjson.dumps(
                    [
                        origin.file,
                        origin.line,
                        origin.function,
                        origin.thread,
                        origin.task,
                    ]
                ).decode()
            )
            if len(self._origins) >= _ORIGINS_KEPT:
                self._origins.clear()
            self._origins[where] = origin_text
        name = self.name
        digest = integrity.row_digest(
            integrity.meta_of(
                name,
                number,
                parent,
                branch,
                time_ns,
                kind,
                target,
                label,
                author,
                comment,
                extra,
                origin_text,
                paths,
            ),
            integrity.payload_digest(payload),
        )
        row = Row(
            name,
            number,
            parent,
            branch,
            time_ns,
            kind,
            target,
            label,
            author,
            comment,
            extra,
            origin_text,
            payload.decode(),
            paths,
            digest,
            integrity.chain_v2(previous, digest),
        )
        return row, value_json
