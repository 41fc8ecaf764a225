"""Checking the fields of rows read back from a file or database.

A stored row is input: SQLite keeps any type in any column, and a JSON file can
hold anything. A field of the wrong type is damage, reported here as
:class:`~statetrail.CorruptHistoryError` naming the field, never as the
``TypeError`` or ``AttributeError`` it would cause far away (issue 9, defect 5).
The rules follow :class:`~statetrail.storage.base.Row`'s annotations, so a field
added to the row is checked by its type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statetrail.errors import CorruptHistoryError
from statetrail.storage.base import Row

__all__ = ["KNOWN", "check_checkpoint", "check_row", "is_int", "json_type"]

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


def is_int(x: Any) -> bool:
    """An integer within 64 bits, as every backend stores them."""
    return type(x) is int and _INT_MIN <= x <= _INT_MAX


def _is_text(x: Any) -> bool:
    return type(x) is str


def _is_paths(x: Any) -> bool:
    return type(x) in (list, tuple) and all(type(p) is str for p in x)


#: What a field of each annotated type may hold.
KNOWN: dict[str, Callable[[Any], bool]] = {
    "int": is_int,
    "int | None": lambda x: x is None or is_int(x),
    "str": _is_text,
    "str | None": lambda x: x is None or type(x) is str,
    "tuple[str, ...]": _is_paths,
}


def _check_of(kind: Any) -> Callable[[Any], bool]:
    """The check of a field annotated ``kind`` (a forward reference's text)."""
    return KNOWN.get(str(getattr(kind, "__forward_arg__", kind)), lambda x: True)


_CHECKS: tuple[tuple[int, str, Callable[[Any], bool]], ...] = tuple(
    (i, name, _check_of(kind))
    for i, (name, kind) in enumerate(Row.__annotations__.items())
)


def json_type(x: Any) -> str:
    """What ``x`` is, in the words of JSON and SQL, for a message."""
    if x is None:
        return "null"
    names = {
        dict: "an object",
        list: "an array",
        str: "text",
        bool: "a boolean",
        bytes: "a BLOB",
        float: "a real number",
        int: "an integer out of range",
    }
    return names.get(type(x), type(x).__name__)


def check_row(row: Row, where: str) -> Row:
    """``row``, if each of its fields has its type; else CorruptHistoryError."""
    for i, name, check in _CHECKS:
        value = row[i]
        if not check(value):
            what = f"is damaged: its {name} is {json_type(value)}"
            number = row.number if is_int(row.number) else None
            if number is None:
                what = f"(stored as {row.number!r}) {what}"
            raise CorruptHistoryError(
                f"{where}: revision {row.number!r} of {row.timeline!r} {what}; "
                "restore the file from a backup",
                [(row.timeline, number, what)],
            )
    return row


def check_checkpoint(
    entry: tuple[Any, Any], timeline: str, number: int, where: str
) -> tuple[str, str]:
    """A stored checkpoint's ``(value, digest)``, if both are text."""
    value, digest = entry
    if type(value) is not str or type(digest) is not str:
        what = (
            f"its checkpoint is damaged ({json_type(value)} and "
            f"{json_type(digest)}, not text)"
        )
        raise CorruptHistoryError(
            f"{where}: revision {number} of {timeline!r}: {what}; restore the file "
            "from a backup",
            [(timeline, number, what)],
        )
    return value, digest
