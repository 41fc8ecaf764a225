"""The codec's encoder: values to JSON trees with type tags.

One recursive walk, dispatching on the exact type. Each container notes its step
on the way out of a refusal, so the error names where the bad value sits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import orjson

from statetrail.frozen import FrozenDict, FrozenList, FrozenSet
from statetrail.frozen._freeze import check_nesting, nesting_error
from statetrail.frozen._keys import nan_key_reason, unequal_to_itself
from statetrail.frozen._opaque import Opaque
from statetrail.storage import _codec_registry as _registry
from statetrail.storage import _codec_tags as _tags
from statetrail.storage._codec_tags import MAX_DEPTH, CodecError

__all__ = ["encode"]

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


class _Refused(Exception):
    """Raised inside the encoder; each container on the way out adds its step."""

    def __init__(self, reason: str, *, nesting: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.nesting = nesting  # too deep (or containing itself): NestingError
        self.steps: list[str] = []  # innermost first


def _too_deep() -> NoReturn:
    raise _Refused(
        f"it nests deeper than MAX_DEPTH ({MAX_DEPTH} JSON levels), or contains itself",
        nesting=True,
    )


def _check_text(text: str, what: str = "a string") -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Refused(
            f"{what} holds a lone surrogate ({text[exc.start]!r}), which UTF-8 cannot "
            "encode; decode the source text with errors='replace' or store it as bytes"
        ) from exc


def _enc(x: Any, depth: int, pickle_ok: bool) -> Any:
    """The JSON form of ``x``, placed inside ``depth`` objects and arrays."""
    t = type(x)
    if t is str:
        if not x.isascii():
            _check_text(x)
        return x
    if t is int:
        if _I64_MIN <= x <= _I64_MAX:
            return x
        return _tag("int", _tags.encode_int, x, depth)
    if t is float:
        if x - x == 0.0:  # false for NaN and both infinities
            return x
        return _tag("float", _tags.encode_float, x, depth)
    if t is bool or x is None:
        return x
    encode = _ENCODERS.get(t)
    if encode is not None:
        return encode(x, depth, pickle_ok)
    return _enc_object(x, depth, pickle_ok)


def _tag(tag: str, encode: Callable[[Any], Any], x: Any, depth: int) -> Any:
    try:
        payload = encode(x)
    except (TypeError, ValueError) as exc:
        raise _Refused(str(exc)) from exc
    if type(payload) is str:
        if not payload.isascii():
            _check_text(payload, f"its {tag} text")
    elif depth + 1 >= MAX_DEPTH:  # the payload is a list, one level further in
        _too_deep()
    if depth >= MAX_DEPTH:
        _too_deep()
    return {"$t": tag, "v": payload}


def _enc_scalar(x: Any, depth: int, pickle_ok: bool) -> Any:
    tag, encode = _tags.SCALAR_ENCODERS[type(x)]
    return _tag(tag, encode, x, depth)


def _enc_dict(x: Any, depth: int, pickle_ok: bool) -> Any:
    if depth >= MAX_DEPTH:
        _too_deep()
    out: dict[str, Any] = {}
    inner = depth + 1
    key = None
    try:
        # The raw pairs: boxed objects as their boxes, not copies.
        items = x._raw_items() if type(x) is FrozenDict else x.items()  # noqa: SLF001 - the storage seam
        for key, value in items:
            if type(key) is not str or key == "$t":
                break
            if not key.isascii():
                _check_text(key, "its key")
            # Plain scalars inline, as in _enc_list: these loops are the hot path.
            t = type(value)
            if (
                (t is str and value.isascii())
                or (t is int and _I64_MIN <= value <= _I64_MAX)
                or (t is float and value - value == 0.0)
                or t is bool
                or value is None
            ):
                out[key] = value
            else:
                out[key] = _enc(value, inner, pickle_ok)
        else:
            return out
    except _Refused as refused:
        refused.steps.append(f"[{key!r}]")
        raise
    return _enc_pairs(x, depth, pickle_ok)


def _enc_pairs(x: Any, depth: int, pickle_ok: bool) -> Any:
    """A dict with keys JSON objects cannot hold, as a flat list of keys and values."""
    if depth + 1 >= MAX_DEPTH:
        _too_deep()
    inner = depth + 2
    pairs = []
    key = None
    try:
        items = x._raw_items() if type(x) is FrozenDict else x.items()  # noqa: SLF001 - the storage seam
        for key, value in items:
            if type(key) is not int and unequal_to_itself(key):
                raise _Refused(nan_key_reason(key))  # unreadable: see frozen/_keys
            pairs.append((_enc(key, inner, pickle_ok), _enc(value, inner, pickle_ok)))
    except _Refused as refused:
        refused.steps.append(f"[{key!r}]")
        raise
    # In the dict's order, as objects are (issue 10).
    return {"$t": "dict", "v": [item for pair in pairs for item in pair]}


def _enc_list(x: Any, depth: int, pickle_ok: bool) -> list[Any]:
    if depth >= MAX_DEPTH:
        _too_deep()
    inner = depth + 1
    out: list[Any] = []
    append = out.append
    try:
        items = x._raw_iter() if type(x) is FrozenList else x  # noqa: SLF001 - the storage seam
        for item in items:
            t = type(item)
            if (
                (t is str and item.isascii())
                or (t is int and _I64_MIN <= item <= _I64_MAX)
                or (t is float and item - item == 0.0)
                or t is bool
                or item is None
            ):
                append(item)
            else:
                append(_enc(item, inner, pickle_ok))
    except _Refused as refused:
        refused.steps.append(f"[{len(out)}]")
        raise
    return out


def _enc_tuple(x: tuple[Any, ...], depth: int, pickle_ok: bool) -> Any:
    if depth >= MAX_DEPTH:
        _too_deep()
    return {"$t": "tuple", "v": _enc_list(x, depth + 1, pickle_ok)}


def _enc_set(x: Any, depth: int, pickle_ok: bool) -> Any:
    if depth + 1 >= MAX_DEPTH:
        _too_deep()
    inner = depth + 2
    members = []
    member = None
    try:
        for member in x:
            members.append(_enc(member, inner, pickle_ok))
    except _Refused as refused:
        refused.steps.append(f"{{{member!r}}}")
        raise
    _sort(members)
    return {"$t": "frozenset" if type(x) is frozenset else "set", "v": members}


def _sort(items: list[Any], key: Callable[[Any], Any] | None = None) -> None:
    """Sort set members so that equal sets give equal bytes.

    Their iteration order depends on hashes (which change between processes for
    strings); all-string or all-integer members sort as they are, others by their
    canonical JSON.
    """
    firsts: Iterable[Any] = items if key is None else map(key, items)
    kinds = {type(item) for item in firsts}
    if kinds == {str} or kinds == {int}:
        items.sort(key=key)
    elif key is None:
        items.sort(key=_canonical_key)
    else:
        items.sort(key=lambda item: _canonical_key(key(item)))


def _canonical_key(tree: Any) -> bytes:
    return orjson.dumps(tree, option=orjson.OPT_SORT_KEYS)


def _enc_object(x: Any, depth: int, pickle_ok: bool) -> Any:
    """An instance of a registered class (or, with ``pickle_ok``, of any class)."""
    cls = type(x)
    entry = _registry.entry_for(cls)
    if entry is None and _tags.late_scalar(cls):
        # Decimal, a path ... (never registered): its module came after the codec.
        _ENCODERS[cls] = _enc_scalar
        return _enc_scalar(x, depth, pickle_ok)
    if entry is None and _registry.is_namedtuple(cls):
        try:
            entry = _registry.auto_register(cls)
        except ValueError as exc:
            raise _Refused(f"a named tuple {cls.__qualname__}: {exc}") from exc
    if entry is None:
        if pickle_ok:
            return _pickle(x, depth)
        raise _Refused(
            f"a {cls.__module__}.{cls.__qualname__} object, whose class is not "
            "registered with the codec; call statetrail.storage.codec.register("
            f"{cls.__qualname__}) (with encode= and decode= functions unless it is a "
            "dataclass, enum, named tuple or Pydantic model)"
        )
    if depth >= MAX_DEPTH:
        _too_deep()
    try:
        payload = entry.encode(x)
    except Exception as exc:
        raise _Refused(f"encoding a {entry.name!r} failed: {exc!r}") from exc
    return {"$t": entry.name, "v": _enc(payload, depth + 1, pickle_ok)}


def _pickle(x: Any, depth: int) -> Any:
    import pickle

    try:
        data = pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise _Refused(
            f"a {type(x).__qualname__} object cannot be pickled: {exc}"
        ) from exc
    return _tag(_tags.PICKLE_TAG, _tags.SCALAR_ENCODERS[bytes][1], data, depth)


_ENCODERS: dict[type, Callable[[Any, int, bool], Any]] = {
    dict: _enc_dict,
    FrozenDict: _enc_dict,
    list: _enc_list,
    FrozenList: _enc_list,
    tuple: _enc_tuple,
    set: _enc_set,
    FrozenSet: _enc_set,
    frozenset: _enc_set,
    # A boxed object is stored as the object: a registered class stays storable
    # inside frozen trees.
    Opaque: lambda x, depth, pickle_ok: _enc(x.obj, depth, pickle_ok),
    **dict.fromkeys(_tags.SCALAR_ENCODERS, _enc_scalar),
}


def encode(value: Any, pickle_ok: bool) -> Any:
    """The JSON tree of ``value`` (see ``codec.to_json``).

    Raises:
        CodecError: Something in ``value`` cannot be stored.
        NestingError: ``value`` contains itself or nests too deeply, the error
            every front end raises for such a value.
    """
    # The one limit every front end keeps (plain containers; frozen ones were
    # checked when made, and the JSON levels counted below bound the rest).
    check_nesting(value)
    try:
        return _enc(value, 0, pickle_ok)
    except _Refused as refused:
        if refused.nesting:
            raise nesting_error(value) from None
        where = "value" + "".join(reversed(refused.steps))
        raise CodecError(
            f"cannot store {where}: {refused.reason}"
        ) from refused.__cause__
    except RecursionError:
        raise nesting_error(value) from None
