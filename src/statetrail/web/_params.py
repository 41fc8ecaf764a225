"""The web API's parameters: read from the request, checked, or refused.

Each reader takes the query parameters (a mapping of text) and returns a typed
value, or raises :class:`BadParameter`, which the API answers with 400 and the
message. A parameter not given is ``None`` (or its default); one given twice
counts by its last value, as most servers read it.

>>> revision_number({"a": "12"}, "a")
12
>>> revision_number({"a": "-1"}, "a")
Traceback (most recent call last):
...
statetrail.web._params.BadParameter: a: a revision number is 0 or more digits ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from statetrail.diff import format_json_pointer, parse_json_pointer
from statetrail.errors import PatchError, PathError
from statetrail.paths import parse_path
from statetrail.web._data import Filters

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "BadParameter",
    "filters",
    "limit",
    "pointer",
    "revision_number",
    "text",
    "time_ns",
]

#: Revisions per page when ``limit`` is not given, and the most one page holds.
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000
#: The longest text parameter (an author, a label, a path ...).
MAX_TEXT: Final = 4096
_DIGITS = re.compile(r"[0-9]{1,18}")


class BadParameter(ValueError):
    """A malformed query parameter (the API answers 400 with this message)."""


def text(query: Mapping[str, str], name: str) -> str | None:
    """Parameter ``name`` as text, ``None`` when absent.

    Raises:
        BadParameter: It is longer than :data:`MAX_TEXT` or holds a NUL.
    """
    value = query.get(name)
    if value is None:
        return None
    if len(value) > MAX_TEXT:
        raise BadParameter(f"{name}: longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise BadParameter(f"{name}: holds a NUL character")
    return value


def number(value: str, name: str) -> int:
    """``value`` as a revision number (digits only).

    Raises:
        BadParameter: It is not one.
    """
    if not _DIGITS.fullmatch(value):
        raise BadParameter(
            f"{name}: a revision number is 0 or more digits (at most 18), not "
            f"{value[:40]!r}"
        )
    return int(value)


def revision_number(query: Mapping[str, str], name: str) -> int | None:
    """Parameter ``name`` as a revision number, ``None`` when absent."""
    value = text(query, name)
    return None if value is None else number(value, name)


def limit(query: Mapping[str, str]) -> int:
    """``limit``: 1 to :data:`MAX_LIMIT`, :data:`DEFAULT_LIMIT` when absent."""
    value = text(query, "limit")
    if value is None:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise BadParameter(
            f"limit: a whole number from 1 to {MAX_LIMIT}, not {value[:40]!r}"
        )
    return int(value)


#: The deepest ``depth`` asked for (deeper is the whole value anyway).
MAX_DEPTH = 64


def depth(query: Mapping[str, str]) -> int | None:
    """``depth``: 0 to :data:`MAX_DEPTH` container levels, ``None`` when absent.

    Raises:
        BadParameter: It is not a whole number in that range.
    """
    value = text(query, "depth")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value) or int(value) > MAX_DEPTH:
        raise BadParameter(
            f"depth: a whole number from 0 to {MAX_DEPTH}, not {value[:40]!r}"
        )
    return int(value)


def time_ns(query: Mapping[str, str], name: str) -> int | None:
    """Parameter ``name`` as an ISO 8601 time, in ns since the epoch.

    A time without an offset is UTC; ``Z`` is accepted.
    """
    value = text(query, name)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(
            f"{name}: not an ISO 8601 time (2026-12-07T21:31:44Z): {value[:40]!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp())
    return seconds * 1_000_000_000 + when.microsecond * 1000


def pointer(value: str, name: str) -> str:
    """``value`` as a JSON Pointer: one (``/a/0``) or a dot-path (``a[0]``).

    Raises:
        BadParameter: It is neither.
    """
    try:
        if value == "" or value.startswith("/"):
            return format_json_pointer(parse_json_pointer(value))
        return format_json_pointer(parse_path(value))
    except (PatchError, PathError, ValueError, TypeError) as exc:
        raise BadParameter(f"{name}: {exc}") from None


def filters(query: Mapping[str, str]) -> Filters:
    """The revision list's filters: author, label, path, since, until, branch."""
    path = text(query, "path")
    return Filters(
        author=text(query, "author"),
        label=text(query, "label"),
        path=None if path is None else pointer(path, "path"),
        since_ns=time_ns(query, "since"),
        until_ns=time_ns(query, "until"),
        branch=text(query, "branch"),
    )
