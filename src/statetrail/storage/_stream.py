"""Stored rows as Redis Stream entries: one stream per timeline, one entry per row.

Plumbing for :mod:`statetrail.storage._publisher` (which writes entries) and
:mod:`statetrail.live` (which reads them). An entry is the stored row itself,
field by field, so a follower checks its digest and its link in the hash chain
exactly as a backend's reader does, and a hand-written entry that does not verify
is refused, never applied.

**Entry ids are revision numbers.** Revision *n* is entry ``n-1`` (``0-0`` is not
a valid id, so the sequence part is 1). Redis accepts an explicit id only above
the stream's last one, so a revision published twice, by a retry or by two
writer processes publishing the same file, is stored once: the second ``XADD``
is refused and means "already there". Followers read in id order, which is
revision-number order, whoever published.

**Fields** (every value is text; a field that is absent is ``None``):
``timeline``, ``number``, ``parents`` (a JSON list: one parent, none for the
first revision, two for a merge), ``branch``, ``time_ns``, ``kind``,
``target``, ``label``, ``author``, ``comment``, ``extra`` (the note, in the
codec's tagged JSON), ``origin`` (JSON ``[file, line, function, thread,
task]``), ``payload`` (the change as the codec's stored patch, or a whole
value), ``paths`` (a JSON list), ``digest`` and ``chain``, ``erased`` (the
tombstone of a revision erased before it was published) and ``format`` (``"1"``,
this layout).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from statetrail.errors import CorruptHistoryError, SyncError
from statetrail.storage._row_checks import check_row
from statetrail.storage.base import Row

__all__ = [
    "DEFAULT_MAXLEN",
    "DEFAULT_PREFIX",
    "Options",
    "connect",
    "decode_entry",
    "encode_entry",
    "entry_id",
    "is_transient",
    "number_of",
    "options_of",
    "redacted",
    "stream_key",
]

#: The entries a stream keeps, about (``XADD ... MAXLEN ~``): older ones are
#: trimmed, and a follower further behind backfills from the source.
DEFAULT_MAXLEN: Final = 100_000
#: The stream of timeline ``t`` is ``statetrail:t``.
DEFAULT_PREFIX: Final = "statetrail:"
FORMAT: Final = "1"

_ID = re.compile(r"(0|[1-9][0-9]{0,18})-1")
_TEXT_FIELDS: Final = (
    "timeline",
    "branch",
    "kind",
    "label",
    "author",
    "comment",
    "extra",
    "origin",
    "payload",
    "digest",
    "chain",
    "erased",
)
_INT_FIELDS: Final = ("number", "time_ns", "target")
_KNOWN: Final = frozenset((*_TEXT_FIELDS, *_INT_FIELDS, "parents", "paths", "format"))


def stream_key(timeline: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The stream of ``timeline``."""
    return prefix + timeline


def entry_id(number: int) -> str:
    """The entry id of revision ``number``."""
    return f"{number}-1"


def number_of(entry: bytes | str) -> int:
    """The revision number of entry id ``entry``.

    Raises:
        SyncError: It is not an id this library writes.
    """
    text = entry.decode("ascii", "replace") if isinstance(entry, bytes) else entry
    if _ID.fullmatch(text) is None:
        raise SyncError(f"a stream entry with id {text[:40]!r} was not published here")
    return int(text.partition("-")[0])


def encode_entry(row: Row) -> dict[str, str]:
    """The fields of ``row``'s entry."""
    fields: dict[str, str] = {"format": FORMAT}
    for name in _TEXT_FIELDS:
        value = getattr(row, name)
        if value is not None:
            fields[name] = value
    fields["number"] = str(row.number)
    fields["time_ns"] = str(row.time_ns)
    if row.target is not None:
        fields["target"] = str(row.target)
    if row.parent is None:
        fields["parents"] = "[]"
    elif row.kind == "merge" and row.target is not None:
        # A merge's second parent is its target (kept in its own field too).
        fields["parents"] = f"[{row.parent:d},{row.target:d}]"
    else:
        fields["parents"] = f"[{row.parent:d}]"
    fields["paths"] = json.dumps(list(row.paths), ensure_ascii=False)
    return fields


def _str(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode()


def _int(text: str, name: str, number: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,19}", text):
        raise _bad(number, f"its {name} is not an integer: {text[:40]!r}")
    return int(text)


def _bad(number: str, what: str) -> SyncError:
    return SyncError(f"stream entry {number}: {what}; it was not applied")


def decode_entry(
    entry: bytes | str, fields: Mapping[bytes, bytes] | Mapping[str, str]
) -> Row:
    """The row an entry holds, each field checked for its type.

    Its digest and chain are not checked here (the follower does, against the
    revision before it).

    Raises:
        SyncError: The entry is not one this library wrote: an unknown format or
            field, a field of the wrong type, a number that differs from its id.
    """
    number = number_of(entry)
    where = str(number)
    try:
        data = {_str(k): _str(v) for k, v in fields.items()}
    except (UnicodeDecodeError, AttributeError):
        raise _bad(where, "a field is not UTF-8 text") from None
    if data.get("format") != FORMAT:
        raise _bad(where, f"unknown format {data.get('format')!r}")
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise _bad(where, f"unknown fields {unknown[:5]}")
    ints: dict[str, int | None] = {}
    for name in _INT_FIELDS:
        ints[name] = None if name not in data else _int(data[name], name, where)
    if ints["number"] != number:
        raise _bad(where, f"its number field says {ints['number']}")
    if ints["time_ns"] is None:
        raise _bad(where, "it has no time")
    try:
        parents = orjson.loads(data.get("parents", "null"))
        paths = orjson.loads(data.get("paths", "null"))
    except orjson.JSONDecodeError:
        raise _bad(where, "its parents or paths are not JSON") from None
    if (
        type(parents) is not list
        or len(parents) > 2
        or any(type(p) is not int or not 0 <= p < number for p in parents)
        or (len(parents) == 2 and parents[1] != ints["target"])
    ):
        raise _bad(
            where, f"its parents are not a list of earlier revisions: {parents!r}"
        )
    if type(paths) is not list:
        raise _bad(where, "its paths are not a list")
    for name in ("timeline", "branch", "kind", "digest", "chain"):
        if name not in data:
            raise _bad(where, f"it has no {name}")
    row = Row(
        timeline=data["timeline"],
        number=number,
        parent=parents[0] if parents else None,
        branch=data["branch"],
        time_ns=ints["time_ns"],
        kind=data["kind"],
        target=ints["target"],
        label=data.get("label"),
        author=data.get("author"),
        comment=data.get("comment"),
        extra=data.get("extra"),
        origin=data.get("origin"),
        payload=data.get("payload"),
        paths=tuple(paths),
        digest=data["digest"],
        chain=data["chain"],
        erased=data.get("erased"),
    )
    try:
        return check_row(row, "a stream entry")
    except CorruptHistoryError as exc:
        raise _bad(where, str(exc)) from None


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unreadable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class Options(NamedTuple):
    """A publishing URL's own options, taken out of its query."""

    url: str
    maxlen: int
    prefix: str


def options_of(url: str) -> Options:
    """``url`` without ``maxlen=`` and ``prefix=``, and their values.

    Raises:
        ValueError: One of them is malformed.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    mine = {k: v for k, v in query if k in ("maxlen", "prefix")}
    rest = [(k, v) for k, v in query if k not in ("maxlen", "prefix")]
    maxlen = DEFAULT_MAXLEN
    if "maxlen" in mine:
        text = mine["maxlen"]
        if not text.isdigit() or int(text) < 1:
            raise ValueError(
                f"maxlen in a publishing URL is a positive integer, not {text!r}"
            )
        maxlen = int(text)
    prefix = mine.get("prefix", DEFAULT_PREFIX)
    return Options(urlunsplit(parts._replace(query=urlencode(rest))), maxlen, prefix)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is an outage to wait out, not a refusal.

    An outage: a lost or refused connection, a timeout, a server loading its
    data. A refusal (a wrong password, a key of another type) is not mended by
    retrying.
    """
    import redis

    if isinstance(
        error,
        redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError,
    ):
        return False
    return isinstance(
        error,
        redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | redis.exceptions.BusyLoadingError
        | OSError,
    )


def connect(url: str) -> Any:
    """A redis-py client for ``url`` (``redis://`` or ``rediss://``, AUTH in it).

    Raises:
        ImportError: redis-py is missing (the ``statetrail[redis]`` extra).
        ValueError: The URL is not a Redis URL.
    """
    if not isinstance(url, str):
        raise TypeError(f"a Redis URL is a str, not {type(url).__name__}")
    scheme = url.partition("://")[0]
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"a Redis URL starts with redis://, rediss:// or unix://, not "
            f"{redacted(url)!r}"
        )
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the extra is a test dependency
        raise ImportError(
            "following or publishing over Redis needs redis-py: "
            "pip install 'statetrail[redis]'"
        ) from exc
    return redis.Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=3, health_check_interval=30
    )
