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

**Two fields**: ``format`` (``"2"``, this layout) and ``row``, the stored row
as one JSON object (a single field keeps each ``XADD`` and each read short:
one value to pack, send and parse per revision, instead of seventeen). Its
keys: ``timeline``, ``number``, ``parents`` (a list: none for the first
revision, one parent), ``branch``, ``time_ns``, ``kind``, ``target``,
``label``, ``author``, ``comment``, ``extra`` (the note, in the codec's tagged
JSON, as text), ``origin`` (JSON ``[file, line, function, thread, task]`` as
text), ``payload`` (the change as the codec's stored patch, or a whole value,
as text: the very text the digest covers), ``paths`` (a list), ``digest`` and
``chain``, ``erased`` (the tombstone of an erased revision). A key that is
absent is ``null``; an unknown key, or one of the wrong type, is refused.
"""

from __future__ import annotations

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
    "send_packed",
    "stream_key",
]

#: The entries a stream keeps, about (``XADD ... MAXLEN ~``): older ones are
#: trimmed, and a follower further behind backfills from the source.
DEFAULT_MAXLEN: Final = 100_000
#: The stream of timeline ``t`` is ``statetrail:t``.
DEFAULT_PREFIX: Final = "statetrail:"
FORMAT: Final = "2"
_FORMAT_BYTES: Final = FORMAT.encode()

_REQUIRED: Final = frozenset(
    [
        "timeline",
        "number",
        "parents",
        "branch",
        "time_ns",
        "kind",
        "paths",
        "digest",
        "chain",
    ]
)
_KNOWN: Final = _REQUIRED | frozenset(
    ["target", "label", "author", "comment", "extra", "origin", "payload", "erased"]
)


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
    head, _, tail = text.partition("-")
    if (  # "n-1": n in decimal ASCII digits, no leading zero, at most 19
        tail != "1"
        or not (head.isascii() and head.isdigit())
        or len(head) > 19
        or (head[0] == "0" and head != "0")
    ):
        raise SyncError(f"a stream entry with id {text[:40]!r} was not published here")
    return int(head)


def encode_entry(row: Row) -> dict[str, bytes]:
    """The fields of ``row``'s entry."""
    return {
        "format": _FORMAT_BYTES,
        "row": orjson.dumps(
            {
                "timeline": row.timeline,
                "number": row.number,
                "parents": _parents(row),
                "branch": row.branch,
                "time_ns": row.time_ns,
                "kind": row.kind,
                "target": row.target,
                "label": row.label,
                "author": row.author,
                "comment": row.comment,
                "extra": row.extra,
                "origin": row.origin,
                "payload": row.payload,
                "paths": row.paths,
                "digest": row.digest,
                "chain": row.chain,
                "erased": row.erased,
            }
        ),
    }


def _bad(number: int, what: str) -> SyncError:
    return SyncError(f"stream entry {number}: {what}; it was not applied")


def _parents(row: Row) -> list[int]:
    """The row's parents: a merge's second parent is its ``target``."""
    if row.parent is None:
        return []
    if row.kind == "merge" and row.target is not None:
        return [row.parent, row.target]
    return [row.parent]


def decode_entry(
    entry: bytes | str, fields: Mapping[Any, Any], number: int | None = None
) -> Row:
    """The row an entry holds, each field checked for its type.

    Its digest and chain are not checked here (the follower does, against the
    revision before it). ``number`` is the entry id's, when the caller has
    already read it with :func:`number_of`.

    Raises:
        SyncError: The entry is not one this library wrote: an unknown format,
            key or field, a value of the wrong type, a number that differs from
            its id.
    """
    if number is None:
        number = number_of(entry)
    if len(fields) != 2:
        raise _bad(number, f"it has {len(fields)} fields, not format and row")
    form = fields.get(b"format", fields.get("format"))
    if form not in (_FORMAT_BYTES, FORMAT):
        raise _bad(number, f"unknown format {form!r:.40}")
    text = fields.get(b"row", fields.get("row"))
    if type(text) not in (bytes, str):
        raise _bad(number, "it has no row")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _bad(number, "its row is not JSON") from None
    if type(data) is not dict:
        raise _bad(number, "its row is not a JSON object")
    if data.keys() != _KNOWN:  # every key, as this library writes them
        unknown = data.keys() - _KNOWN
        if unknown:
            raise _bad(number, f"unknown keys {sorted(unknown)[:5]}")
        missing = _REQUIRED - data.keys()
        if missing:
            raise _bad(number, f"it has no {sorted(missing)[0]}")
    if type(data["number"]) is not int or data["number"] != number:
        raise _bad(number, f"its number says {data['number']!r:.40}")
    parents = data["parents"]
    if parents == []:
        parent = None
    elif (
        type(parents) is list
        and 1 <= len(parents) <= 2
        and all(type(p) is int and 0 <= p < number for p in parents)
        # A merge's second parent is its target (kept in its own key too).
        and (len(parents) == 1 or parents[1] == data["target"])
    ):
        parent = parents[0]
    else:
        raise _bad(
            number, f"its parents are not a list of earlier revisions: {parents!r:.80}"
        )
    paths = data["paths"]
    if type(paths) is not list:
        raise _bad(number, "its paths are not a list")
    get = data.get
    row = Row(
        data["timeline"],
        number,
        parent,
        data["branch"],
        data["time_ns"],
        data["kind"],
        get("target"),
        get("label"),
        get("author"),
        get("comment"),
        get("extra"),
        get("origin"),
        get("payload"),
        tuple(paths),
        data["digest"],
        data["chain"],
        get("erased"),
    )
    if _usual(row):
        return row
    try:  # the field-by-field check, which names what is wrong
        return check_row(row, "a stream entry")
    except CorruptHistoryError as exc:
        raise _bad(number, exc.problems[0][2]) from None


_TEXT_OR_NONE: Final = frozenset([str, type(None)])
_INT_MAX: Final = 2**63 - 1


def _usual(row: Row) -> bool:
    """Whether every field of ``row`` has its type, as :func:`check_row` asks.

    The same rules spelled out for the shape this library writes, in one
    expression: ``check_row`` walks seventeen checks through as many calls, a
    third of what decoding an entry cost. ``False`` sends the row to
    ``check_row``, which says what is wrong (or accepts what this does not
    spell out, such as a negative time).
    """
    # number and parent were checked against the id (19 digits at most) above.
    time_ns = row.time_ns
    target = row.target
    return (
        type(row.timeline) is str
        and row.number <= _INT_MAX
        and type(row.branch) is str
        and type(time_ns) is int
        and 0 <= time_ns <= _INT_MAX
        and type(row.kind) is str
        and (target is None or (type(target) is int and 0 <= target <= _INT_MAX))
        and type(row.label) in _TEXT_OR_NONE
        and type(row.author) in _TEXT_OR_NONE
        and type(row.comment) in _TEXT_OR_NONE
        and type(row.extra) in _TEXT_OR_NONE
        and type(row.origin) in _TEXT_OR_NONE
        and type(row.payload) in _TEXT_OR_NONE
        and type(row.paths) is tuple
        and all(type(p) is str for p in row.paths)
        and type(row.digest) is str
        and type(row.chain) is str
        and type(row.erased) in _TEXT_OR_NONE
    )


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


def send_packed(client: Any, packed: bytes, count: int) -> list[Exception | None]:
    """Send ``count`` commands packed in Redis's protocol in one write.

    Returns each reply's error (a refused command), or ``None``, in order.

    Raises:
        redis.exceptions.ConnectionError: The connection failed; it is dropped
            (replies may be left unread), so the next command opens another.
    """
    import redis

    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command([packed])
        errors: list[Exception | None] = []
        for _ in range(count):
            try:
                connection.read_response()
            except redis.exceptions.ResponseError as exc:
                errors.append(exc)
            else:
                errors.append(None)
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)
    return errors


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
