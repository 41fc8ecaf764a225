"""One JSON form of a revision, for everything that leaves the process.

``statetrail export``, the web API (``statetrail serve``) and ``statetrail follow
--json`` all write a revision as this object (one per line in JSON Lines); its
JSON Schema is ``docs/revision.schema.json`` and docs/revision-json.md explains
it field by field:

=============  ==============================================================
``timeline``   the timeline's name
``number``     the revision number
``parents``    the parents' numbers: ``[]`` for the first revision, two for
               a merge (the revision it followed, then the head merged in),
               one for every other
``branch``     the branch it was recorded on
``time``       ISO 8601 UTC with microseconds, ending in ``Z``
``author``     ``null`` when none was given; likewise ``comment``, ``label``
``kind``       ``initial``, ``set``, ``rollback`` ...
``origin``     ``{file, line, function, thread, task}`` or ``null``
``changes``    RFC 6902 (JSON Patch) operations from the first parent's value;
               the first revision's is one ``replace`` of the whole value
               (path ``""``); ``null`` once the revision is erased
``erased``     only on an erased revision: ``{author, reason, time}``
``value``      only where asked for: the whole value
=============  ==============================================================

Values (in ``changes`` and ``value``) are plain JSON where they can be, and
otherwise the storage codec's tagged form, ``{"$t": TAG, "v": PAYLOAD}``
(:mod:`statetrail.storage.codec`): ``codec.from_json`` turns them back into the
Python values they were. A path step that is not a string or an integer (a
tuple key) appears in the pointer as the canonical JSON text of its tagged
form. JSON Pointers cannot tell an integer dict key from a list index: both
are written as digits.

:func:`from_row` builds the object from a stored row without decoding its value
(the stored patch already holds the tagged form), which is what lets ``export``
stream; :func:`from_revision` builds the same object from a
:class:`~statetrail.Revision` in memory.

>>> import statetrail
>>> timeline = statetrail.Timeline({"a": 1}, name="t")
>>> _ = timeline.set({"a": 2}, author="ann")
>>> doc = from_revision(timeline.head, "t")
>>> doc["parents"], doc["author"], doc["changes"]
([0], 'ann', [{'op': 'replace', 'path': '/a', 'value': 2}])
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from statetrail.errors import CorruptHistoryError
from statetrail.revision import Revision
from statetrail.storage import _integrity as integrity
from statetrail.storage import codec
from statetrail.storage.base import Row
from statetrail.timeline import Erased

__all__ = [
    "FIELDS",
    "changes_from_patch",
    "dumps",
    "format_time",
    "from_revision",
    "from_row",
    "origin_of",
    "payload_of",
]

#: The fields of every revision object, in the order they are written.
FIELDS = (
    "timeline",
    "number",
    "parents",
    "branch",
    "time",
    "author",
    "comment",
    "label",
    "kind",
    "origin",
    "changes",
)

_OPS = {"=": "replace", "+": "add", "-": "remove"}
#: Origins parsed from their stored text: a history has few call sites.
_origins: dict[str, dict[str, Any] | None] = {}
_ORIGINS_KEPT = 1024


#: The second last formatted and its text up to the fraction, one tuple so
#: threads swap it whole: a history's revisions come many to a second.
_second: tuple[int, str] = (-1, "")


def format_time(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds, ending in ``Z``.

    >>> format_time(1_700_000_000_123_456_789)
    '2023-11-14T22:13:20.123456Z'
    """
    global _second
    seconds, ns = divmod(time_ns, 1_000_000_000)
    known, text = _second
    if known != seconds:
        text = f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}."
        _second = (seconds, text)
    return f"{text}{ns // 1000:06d}Z"


def _escaped(step: str) -> str:
    if "~" in step or "/" in step:
        return step.replace("~", "~0").replace("/", "~1")
    return step


def _pointer(steps: list[Any]) -> str:
    parts = []
    for step in steps:
        if type(step) is str:
            parts.append(_escaped(step))
        elif type(step) is int:
            parts.append(str(step))
        else:
            # A key stored in its tagged form (a tuple, a date ...): its
            # canonical text.
            parts.append(_escaped(codec.canonical(step).decode()))
    return "/" + "/".join(parts) if parts else ""


def changes_from_patch(patch: Any) -> list[dict[str, Any]]:
    """RFC 6902 operations for a stored patch (:func:`codec.changes_to_json`).

    Raises:
        CorruptHistoryError: ``patch`` is not a stored patch.

    >>> changes_from_patch([["=", ["a", 0], 2], ["-", ["b"]], ["+", ["c"], 1]])
    [{'op': 'replace', 'path': '/a/0', 'value': 2}, {'op': 'remove', 'path': '/b'}, \
{'op': 'add', 'path': '/c', 'value': 1}]
    """
    if type(patch) is not list:
        raise CorruptHistoryError("a stored patch is a list of operations")
    out = []
    for op in patch:
        if type(op) is list and len(op) == 3 and type(op[1]) is list:
            name = _OPS.get(op[0])
            if name is not None and name != "remove":
                out.append({"op": name, "path": _pointer(op[1]), "value": op[2]})
                continue
        elif type(op) is list and len(op) == 2 and op[0] == "-" and type(op[1]) is list:
            out.append({"op": "remove", "path": _pointer(op[1])})
            continue
        raise CorruptHistoryError(f"not a stored patch operation: {op!r:.80}")
    return out


def _parents(parent: int | None, kind: str, target: int | None) -> list[int]:
    """A row's ``parents``: see :attr:`statetrail.Revision.parents`."""
    if parent is None:
        return []
    if kind == "merge" and target is not None:
        return [parent, target]
    return [parent]


def payload_of(row: Row) -> dict[str, Any]:
    """The row's payload parsed: ``{"value": ...}`` or ``{"patch": [...]}``.

    Format 3 rows also hold ``"value_digest"``.

    Raises:
        CorruptHistoryError: It is neither (or the row is erased).
    """
    text = row.payload
    try:
        payload = orjson.loads(text if text is not None else b"")
    except orjson.JSONDecodeError as exc:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its payload is not JSON"
        ) from exc
    # Format 3 adds the digest of the whole value ("value_digest"), which the
    # revision object does not carry.
    if (
        type(payload) is not dict
        or len(payload) != 1 + (type(payload.get("value_digest")) is str)
        or not ("value" in payload or "patch" in payload)
    ):
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: a payload is "
            '{"value": ...} or {"patch": [...]}, and its value digest'
        )
    return payload


def origin_of(text: str | None) -> dict[str, Any] | None:
    """A stored origin (``[file, line, function, thread, task]``) as an object.

    Raises:
        CorruptHistoryError: The text is not an origin.
    """
    if text is None:
        return None
    try:
        return _origins[text]
    except KeyError:
        pass
    try:
        file, line, function, thread, task = orjson.loads(text)
        if type(line) is not int:
            raise TypeError(line)
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise CorruptHistoryError(f"an origin is unreadable: {text[:80]!r}") from exc
    origin = {
        "file": file,
        "line": line,
        "function": function,
        "thread": thread,
        "task": task,
    }
    if len(_origins) >= _ORIGINS_KEPT:
        _origins.clear()
    _origins[text] = origin
    return origin


def from_row(
    row: Row, *, value: Any = None, with_value: bool = False
) -> dict[str, Any]:
    """The revision object of a stored row (its digest already checked).

    Args:
        row: The row, as a backend read it.
        value: The whole value in the codec's JSON form
            (:func:`codec.to_json`), written as ``value`` when ``with_value``.
        with_value: Add the ``value`` field.

    Raises:
        CorruptHistoryError: The row's payload, origin or tombstone is unreadable.
    """
    doc: dict[str, Any] = {
        "timeline": row.timeline,
        "number": row.number,
        "parents": _parents(row.parent, row.kind, row.target),
        "branch": row.branch,
        "time": format_time(row.time_ns),
        "author": row.author,
        "comment": row.comment,
        "label": row.label,
        "kind": row.kind,
        "origin": origin_of(row.origin),
    }
    if row.payload is None:
        tomb = integrity.parse_tombstone(row.erased)
        if tomb is None:
            raise CorruptHistoryError(
                f"revision {row.number} of {row.timeline!r}: its tombstone is "
                "unreadable"
            )
        doc["changes"] = None
        doc["erased"] = {
            "author": tomb.author,
            "reason": tomb.reason,
            "time": format_time(tomb.time_ns),
        }
    else:
        payload = payload_of(row)
        if "value" in payload:
            doc["changes"] = [{"op": "replace", "path": "", "value": payload["value"]}]
        else:
            doc["changes"] = changes_from_patch(payload["patch"])
    if with_value:
        doc["value"] = value
    return doc


def from_revision(
    revision: Revision,
    timeline: str,
    *,
    with_value: bool = False,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """The revision object of a revision in memory.

    Raises:
        CodecError: A value cannot be stored (an unregistered class without
            ``allow_pickle``).
    """
    origin = revision.origin
    parent = revision.parent
    value = revision.value
    erased = None
    changes: list[dict[str, Any]] | None
    if type(value) is Erased:
        changes = None
        erased = {
            "author": value.author,
            "reason": value.reason,
            "time": format_time(value.time_ns),
        }
    elif parent is None:
        changes = [
            {
                "op": "replace",
                "path": "",
                "value": codec.to_json(value, allow_pickle=allow_pickle),
            }
        ]
    else:
        changes = changes_from_patch(
            codec.changes_to_json(revision.changes, allow_pickle=allow_pickle)
        )
    doc: dict[str, Any] = {
        "timeline": timeline,
        "number": revision.number,
        "parents": list(revision.parents),
        "branch": revision.branch,
        "time": format_time(revision.time_ns),
        "author": revision.author,
        "comment": revision.comment,
        "label": revision.label,
        "kind": revision.kind,
        "origin": None
        if origin is None
        else {
            "file": origin.file,
            "line": origin.line,
            "function": origin.function,
            "thread": origin.thread,
            "task": origin.task,
        },
        "changes": changes,
    }
    if erased is not None:
        doc["erased"] = erased
    if with_value:
        doc["value"] = (
            None
            if erased is not None
            else codec.to_json(value, allow_pickle=allow_pickle)
        )
    return doc


def dumps(doc: dict[str, Any]) -> bytes:
    """One revision object as compact UTF-8 JSON (no newline)."""
    return orjson.dumps(doc)
