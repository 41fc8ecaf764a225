"""JSON with type tags: the format every storage backend writes values in.

Plain JSON values stay plain: objects with string keys, arrays, strings, booleans,
null, integers within 64 bits and finite floats. Anything else is a tagged object
``{"$t": TAG, "v": PAYLOAD}`` and comes back as exactly what went in:

=====================  =================================================
value                  stored as (``{"$t": TAG, "v": PAYLOAD}``)
=====================  =================================================
dict, FrozenDict       an object; with a non-string or ``"$t"`` key,
                       ``"dict"``: ``[k1, v1, k2, v2, ...]``
list, FrozenList       an array
tuple                  ``"tuple"``: ``[1, 2]``
set, FrozenSet         ``"set"``: ``[1, 2]`` (read back as a FrozenSet)
frozenset              ``"frozenset"``: ``[1, 2]``
float NaN, ±inf        ``"float"``: ``"nan"``, ``"inf"``, ``"-inf"``
int beyond 64 bits     ``"int"``: ``"18446744073709551616"``
bytes, bytearray       ``"bytes"``, ``"bytearray"``: ``"AAE="`` (base64)
Decimal                ``"decimal"``: ``"-0.10"``, ``"NaN"``, ``"-Infinity"``
Fraction               ``"fraction"``: ``"1/3"``
complex                ``"complex"``: ``"(1+2j)"``
datetime               ``"datetime"``: ``"2024-10-27T02:30:00+01:00[Europe/Paris]"``
date, time             ``"date"``: ``"2024-01-31"``, ``"time"``: ``"12:30:00"``
fold=1 (naive, time)   ``"2024-10-27T02:30:00[fold=1]"``: the marker after the ISO text
timedelta              ``"timedelta"``: ``[days, seconds, microseconds]``
UUID                   ``"uuid"``: ``"12345678-1234-5678-1234-567812345678"``
pathlib paths          ``"posixpath"``: ``"/tmp/x"`` (a tag per path class)
registered classes     ``"app.Point"``: ``{"x": 1, "y": 2}``
unregistered objects   ``"pickle"``: base64, only with ``allow_pickle=True``
=====================  =================================================

Dataclasses, enums, named tuples and Pydantic models are stored once their class is
:func:`register`-ed (named tuples register themselves when first stored); any other
class with ``encode``/``decode`` functions. Reading never imports a module named in
the data, and never unpickles unless the caller passes ``allow_pickle=True``.

Dicts keep their insertion order: an object's members, and the pairs of a
``"dict"``, are written in the order the dict iterates, and read back in it.
Only set members are sorted (a set has no order, and equal sets must give equal
bytes).

Digests (``statetrail.storage`` hashes every stored payload and chains the
hashes) cover the bytes as stored, so they depend on key order: the order is
part of the recorded value, as a list's is, and two dicts equal in Python but in
different orders are different records. Histories written before order was kept
(2026-12, when keys were sorted) still verify, since their stored bytes are
hashed as they are, and read back in sorted order.

Reading is strict: duplicate keys, ``NaN`` literals, numbers out of float range,
invalid UTF-8 and nesting deeper than :data:`MAX_DEPTH` are
:class:`~statetrail.errors.CorruptHistoryError`, never silently accepted.

Writing refuses a value that contains itself, or whose plain containers nest
deeper than :data:`~statetrail.frozen.MAX_NESTING` (100) levels, with
:class:`~statetrail.errors.NestingError`, as every front end does; MAX_DEPTH
(200 JSON levels, two per tagged container) bounds what frozen values nest to.
A stored NaN reads back as a new ``float("nan")`` each time, never the shared
``math.nan``, so a set holding two NaNs reads back with both. A dict key that is
or holds NaN is refused when written (:class:`CodecError`), as a value's key and
as a patch step: NaN is not equal to itself, so a patch naming the key would not
find it in the value read back (``statetrail.frozen._keys``). Dicts holding such
keys stored before still read back as whole values.

>>> import datetime
>>> data = dumps({"when": datetime.date(2024, 1, 31), "xy": (1, 2)})
>>> data
b'{"when":{"$t":"date","v":"2024-01-31"},"xy":{"$t":"tuple","v":[1,2]}}'
>>> loads(data)
FrozenDict({'when': datetime.date(2024, 1, 31), 'xy': (1, 2)})
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final, NoReturn

import orjson

from statetrail._change import UNSTORED, Change, fields
from statetrail.errors import CorruptHistoryError
from statetrail.frozen import MISSING
from statetrail.frozen._hooks import real
from statetrail.frozen._keys import nan_key_reason, unequal_to_itself
from statetrail.storage import _codec_decode as _decode
from statetrail.storage import _codec_encode as _encode
from statetrail.storage._codec_decode import corrupt as _corrupt
from statetrail.storage._codec_decode import short as _short
from statetrail.storage._codec_encode import _I64_MAX, _I64_MIN
from statetrail.storage._codec_registry import register, registered
from statetrail.storage._codec_tags import MAX_DEPTH, CodecError
from statetrail.storage._sealed import Seal, seal_tree

__all__ = [
    "MAX_DEPTH",
    "CodecError",
    "canonical",
    "changes_from_json",
    "changes_to_json",
    "digest",
    "dumps",
    "from_json",
    "loads",
    "parse",
    "register",
    "registered",
    "to_json",
]

# Keys are written in the tree's order (dict order, issue 10), not sorted.
_CANONICAL = 0
# canonical() refuses what orjson would otherwise quietly turn into strings.
_CANONICAL_STRICT = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


# -- values and JSON trees -----------------------------------------------------


def to_json(
    value: Any, *, allow_pickle: bool = False, seal: tuple[Seal, ...] = ()
) -> Any:
    """The JSON-able tree for ``value``, with type tags where JSON has no type.

    Args:
        value: A frozen or plain value.
        allow_pickle: Pickle objects of classes nothing else can store, instead
            of refusing them. Such history can only be read with
            ``allow_pickle=True``.
        seal: Seals (``statetrail.interceptors``) the tree passes through:
            the value is stored as ``{"$t": "enc", "v": ...}`` and the like.

    Returns:
        Dicts with string keys, lists, strings, booleans, ``None``, integers
        within 64 bits and finite floats.

    Raises:
        CodecError: Something in ``value`` cannot be stored; the message names
            where it is and what to do.
        NestingError: ``value`` contains itself or nests too deeply.

    >>> to_json({"a": {1, 2}, "b": float("inf")})
    {'a': {'$t': 'set', 'v': [1, 2]}, 'b': {'$t': 'float', 'v': 'inf'}}
    """
    tree = _encode.encode(real(value), allow_pickle)  # a lazy value: what it is
    return seal_tree(tree, seal) if seal else tree


def from_json(data: Any, *, allow_pickle: bool = False) -> Any:
    """The frozen value of a JSON tree made by :func:`to_json`.

    Dicts come back as :class:`~statetrail.frozen.FrozenDict`, lists as
    :class:`~statetrail.frozen.FrozenList`, sets as
    :class:`~statetrail.frozen.FrozenSet`, and tagged values as their own type.

    Args:
        data: A tree of dicts, lists, strings, numbers, booleans and ``None``.
        allow_pickle: Unpickle pickled objects. Unpickling runs code chosen by
            whoever wrote the data: pass it only for history you trust.

    Raises:
        CorruptHistoryError: ``data`` is malformed, holds pickle without
            ``allow_pickle``, or nests deeper than :data:`MAX_DEPTH`.
        CodecError: ``data`` names a class not registered in this process.

    >>> from_json({"$t": "tuple", "v": [1, [2]]})
    (1, FrozenList([2]))
    """
    return _decode.decode(data, allow_pickle)


# -- bytes ---------------------------------------------------------------------


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes of a JSON-able tree: keys in order, no spaces, UTF-8.

    Equal trees in the same key order give equal bytes, so the result can be
    hashed; keys are not sorted, so dicts keep their order (see the module's
    docstring on digests). ``obj`` must already be JSON-able (as :func:`to_json`
    returns); note that orjson writes a NaN or infinite float as ``null``, and
    :func:`to_json` never returns one.

    Raises:
        CodecError: ``obj`` holds something JSON cannot (a non-string key, an
            object, an integer beyond 64 bits, nesting beyond 254 levels).

    >>> canonical({"b": [1, 2.5], "a": None})
    b'{"b":[1,2.5],"a":null}'
    """
    try:
        return orjson.dumps(obj, option=_CANONICAL_STRICT)
    except orjson.JSONEncodeError as exc:
        raise CodecError(f"not a JSON-able tree: {exc}") from exc


def dumps(value: Any, *, allow_pickle: bool = False) -> bytes:
    """Canonical JSON bytes of ``value`` (:func:`to_json`, then :func:`canonical`).

    Raises:
        CodecError: Something in ``value`` cannot be stored.
    """
    return canonical(to_json(value, allow_pickle=allow_pickle))


def parse(data: bytes | str) -> Any:
    """The JSON tree in ``data``, read strictly.

    Refused as :class:`~statetrail.errors.CorruptHistoryError`: invalid JSON or
    UTF-8, ``NaN``/``Infinity`` literals, numbers beyond float range (``1e400``),
    nesting beyond 254 levels and duplicate keys in an object. Bytes written by
    :func:`dumps` or :func:`canonical` are checked by writing the parsed tree
    back and comparing (orjson both ways); only other documents go through the
    slower duplicate-key scan. Sorted-key documents written before dicts kept
    their order are canonical too (their keys are read in the order written).

    Raises:
        CorruptHistoryError: As above.
        TypeError: ``data`` is not bytes or str.
    """
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise TypeError(f"expected bytes or str, not {type(data).__name__}")
    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptHistoryError(f"not valid JSON or UTF-8: {_short(exc)}") from exc
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        rewritten = orjson.dumps(tree, option=_CANONICAL)
    except orjson.JSONEncodeError as exc:
        raise CorruptHistoryError(f"JSON nested too deeply: {exc}") from exc
    if rewritten != raw:
        # Not canonical, so possibly a duplicate key that orjson quietly dropped.
        tree = _parse_checking_keys(bytes(raw).decode("utf-8"))
    return tree


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                _corrupt(f"the key {_short(repr(key))} appears twice in one object")
            seen.add(key)
    return obj


def _no_constant(name: str) -> NoReturn:
    _corrupt(f"{name} is not JSON")


def _parse_checking_keys(text: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as exc:  # CorruptHistoryError passes as is
        if isinstance(exc, CorruptHistoryError):
            raise
        raise CorruptHistoryError(f"not valid JSON: {_short(exc)}") from exc


def loads(data: bytes | str, *, allow_pickle: bool = False) -> Any:
    """The frozen value in JSON bytes written by :func:`dumps`.

    Args:
        data: The bytes (or text).
        allow_pickle: Unpickle pickled objects; only for history you trust.

    Raises:
        CorruptHistoryError: ``data`` is malformed (see :func:`parse` and
            :func:`from_json`) or holds pickle without ``allow_pickle``.
        CodecError: ``data`` names a class not registered in this process.
    """
    return from_json(parse(data), allow_pickle=allow_pickle)


def digest(*parts: bytes) -> str:
    """The SHA-256 hex digest of ``parts``, each prefixed with its length.

    The prefixes keep parts apart: ``digest(b"ab", b"c") != digest(b"a", b"bc")``.

    >>> digest(b"ab", b"c") == digest(b"a", b"bc")
    False
    """
    h = hashlib.sha256()
    for part in parts:
        if not isinstance(part, bytes | bytearray):
            raise TypeError(f"digest() takes bytes, not {type(part).__name__}")
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


# -- patches -------------------------------------------------------------------


def _plain(x: Any) -> bool:
    """Whether ``x`` is its own JSON form.

    An ASCII string, an int within 64 bits, a finite float, a bool or None: the
    common leaves, spared the encoder.
    """
    t = type(x)
    return (
        (t is str and x.isascii())
        or (t is int and _I64_MIN <= x <= _I64_MAX)
        or (t is float and x - x == 0.0)
        or t is bool
        or x is None
    )


def changes_to_json(
    changes: Sequence[Change],
    *,
    allow_pickle: bool = False,
    seal: tuple[Seal, ...] = (),
) -> Any:
    """A patch: the changes as JSON operations that apply in order.

    ``["+", path, new]`` adds, ``["=", path, new]`` replaces and ``["-", path]``
    removes; a path is a list of keys, each stored as :func:`to_json` stores it
    (strings and integers as they are). Old values are not stored; with
    ``seal``, each new value is sealed on its own (keys stay readable).

    Raises:
        CodecError: A key or new value cannot be stored.

    >>> changes_to_json([Change(("a", 0), 1, 2), Change(("b",), 1, MISSING)])
    [['=', ['a', 0], 2], ['-', ['b']]]
    """
    ops: list[list[Any]] = []
    for i, change in enumerate(changes):
        # The raw fields: an object the engine keeps boxed is stored as the object,
        # without the copy the public properties hand out.
        path, old, new = fields(change)
        try:
            steps = [
                step if _plain(step) else _step_json(step, allow_pickle)
                for step in path
            ]
            if new is MISSING:
                ops.append(["-", steps])
            else:
                op = "+" if old is MISSING else "="
                ops.append(
                    [
                        op,
                        steps,
                        new
                        if _plain(new) and not seal
                        else to_json(new, allow_pickle=allow_pickle, seal=seal),
                    ]
                )
        except CodecError as exc:
            raise CodecError(f"change {i} at {path!r}: {exc}") from exc.__cause__
    return ops


def _step_json(step: Any, allow_pickle: bool) -> Any:
    """A path step that is not a plain string or integer, as :func:`to_json`."""
    if unequal_to_itself(step):
        # A patch naming it could not find it again when read back (frozen/_keys).
        raise CodecError(nan_key_reason(step))
    return to_json(step, allow_pickle=allow_pickle)


#: JSON leaves that :func:`from_json` gives back unchanged (and are hashable).
_PLAIN_STEPS: Final = frozenset([str, int, bool, type(None)])


def changes_from_json(data: Any, *, allow_pickle: bool = False) -> list[Change]:
    """The changes of a patch from :func:`changes_to_json`, in order.

    Each new value is frozen (:data:`~statetrail.frozen.MISSING` for a removal);
    the old values were not stored: :data:`~statetrail._change.UNSTORED` for a
    replacement or removal, ``MISSING`` for an addition. They apply with
    :func:`~statetrail.diff.apply_changes`.

    Raises:
        CorruptHistoryError: ``data`` is not a well-formed patch.
        CodecError: It names a class not registered in this process.

    >>> changes_from_json([["+", ["a", 0], [1]], ["-", ["b"]]])
    [Change('a.0', MISSING, FrozenList([1])), Change('b', <not stored>, MISSING)]
    """
    if type(data) is not list:
        _corrupt(f"a patch is a list of operations, not a {type(data).__name__}")
    changes: list[Change] = []
    for op in data:
        if type(op) is not list or not op or type(op[0]) is not str:
            _corrupt(f"a malformed patch operation: {_short(op)}")
        kind = op[0]
        if kind == "-" and len(op) == 2:
            new = MISSING
        elif kind in ("+", "=") and len(op) == 3:
            new = op[2]
            if type(new) not in _PLAIN_STEPS:  # a plain leaf is its own value
                new = from_json(new, allow_pickle=allow_pickle)
        else:
            _corrupt(f"a malformed patch operation: {_short(op)}")
        steps = op[1]
        if type(steps) is not list:
            _corrupt(f"a patch path is a list of keys: {_short(op)}")
        if all(type(step) in _PLAIN_STEPS for step in steps):
            path = tuple(steps)  # from_json gives plain steps back as they are
        else:
            path = tuple(from_json(step, allow_pickle=allow_pickle) for step in steps)
            try:
                hash(path)
            except TypeError:
                _corrupt(f"a patch path with a key that cannot be a key: {_short(op)}")
        changes.append(Change(path, MISSING if kind == "+" else UNSTORED, new))
    return changes
