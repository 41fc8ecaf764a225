"""The codec's decoder: JSON trees with type tags to frozen values.

The inverse walk of ``_codec_encode``: dicts and lists become frozen containers,
tagged objects their types, and anything malformed is CorruptHistoryError.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

from statetrail.errors import CorruptHistoryError, StatetrailError
from statetrail.frozen import FrozenDict, FrozenList, FrozenSet, is_frozen
from statetrail.frozen._freeze import freeze_value, thaw
from statetrail.frozen._opaque import Opaque
from statetrail.storage import _codec_registry as _registry
from statetrail.storage import _codec_tags as _tags
from statetrail.storage._codec_tags import MAX_DEPTH, CodecError
from statetrail.storage._sealed import ENCRYPTED, SEAL_TAGS, open_sealed

__all__ = ["corrupt", "decode", "short"]


def corrupt(message: str) -> NoReturn:
    """Raise :class:`~statetrail.errors.CorruptHistoryError` with ``message``."""
    raise CorruptHistoryError(message)


def short(text: object, limit: int = 200) -> str:
    """``str(text)``, cut to ``limit`` characters for an error message."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


_LEAVES = frozenset({str, int, bool, type(None)})


def _dec(x: Any, depth: int, pickle_ok: bool) -> Any:
    """The frozen value of the JSON tree ``x``, found inside ``depth`` levels."""
    t = type(x)
    if t is str or t is int or t is bool or x is None:
        return x
    if t is float:
        if x - x == 0.0:
            return x
        corrupt(f"a non-finite number ({x!r}) where only tagged ones belong")
    if depth >= MAX_DEPTH:
        corrupt(f"stored value nests deeper than {MAX_DEPTH} levels")
    inner = depth + 1
    if t is dict:
        if "$t" in x:
            return _dec_tag(x, depth, pickle_ok)
        out = {}
        for key, value in x.items():
            if type(key) is not str:
                corrupt(f"an object key that is not a string: {short(repr(key))}")
            # Strings, integers, booleans and null inline: the hot path.
            out[key] = (
                value if type(value) in _LEAVES else _dec(value, inner, pickle_ok)
            )
        return FrozenDict._of(out)  # noqa: SLF001 - the storage seam: no copy
    if t is list:
        return FrozenList._of_frozen(  # noqa: SLF001 - the storage seam: no copy
            tuple(
                [
                    item if type(item) in _LEAVES else _dec(item, inner, pickle_ok)
                    for item in x
                ]
            )
        )
    corrupt(f"a {t.__name__} where JSON belongs")


def _dec_tag(x: dict[str, Any], depth: int, pickle_ok: bool) -> Any:
    tag = x["$t"]
    if type(tag) is not str or len(x) != 2 or "v" not in x:
        corrupt(f"a malformed tagged value: {short(x)}")
    payload = x["v"]
    try:
        container = _CONTAINER_DECODERS.get(tag)
        if container is not None:
            return container(payload, depth + 1, pickle_ok)
        scalar = _tags.SCALAR_DECODERS.get(tag)
        if scalar is not None:
            return scalar(payload)
        if tag in SEAL_TAGS:
            opened = open_sealed(tag, payload)
            return opened if opened is ENCRYPTED else _dec(opened, depth + 1, pickle_ok)
        if tag == _tags.PICKLE_TAG:
            return _unpickle(payload, pickle_ok)
        return _dec_registered(tag, payload, depth + 1, pickle_ok)
    except (StatetrailError, RecursionError):
        raise
    except Exception as exc:
        zones = sys.modules.get("zoneinfo")  # imported by a zone's decoder
        if zones is not None and isinstance(exc, zones.ZoneInfoNotFoundError):
            raise CodecError(
                f"the history holds a time in zone {exc}, which this process does "
                "not know; install the tzdata package"
            ) from exc
        raise CorruptHistoryError(
            f"a malformed {short(tag, 60)!r} value: {short(exc)}"
        ) from exc


def _dec_items(payload: Any, depth: int, pickle_ok: bool) -> list[Any]:
    if type(payload) is not list:
        raise TypeError(f"expected a list, not {type(payload).__name__}")
    if depth >= MAX_DEPTH:
        corrupt(f"stored value nests deeper than {MAX_DEPTH} levels")
    inner = depth + 1
    return [_dec(item, inner, pickle_ok) for item in payload]


def _dec_members(payload: Any, depth: int, pickle_ok: bool) -> frozenset[Any]:
    items = _dec_items(payload, depth, pickle_ok)
    members = frozenset(items)
    if len(members) != len(items):
        raise ValueError("a member appears twice")
    return members


def _dec_pairs(payload: Any, depth: int, pickle_ok: bool) -> Any:
    flat = _dec_items(payload, depth, pickle_ok)
    if len(flat) % 2:
        raise ValueError("an odd number of keys and values")
    # Keys stay unboxed, as freeze() leaves them.
    keys = [key.obj if type(key) is Opaque else key for key in flat[::2]]
    plain = dict(zip(keys, flat[1::2], strict=True))
    if 2 * len(plain) != len(flat):
        raise ValueError("a key appears twice")
    return FrozenDict._of(plain)  # noqa: SLF001 - the storage seam: no copy


_CONTAINER_DECODERS: dict[str, Callable[[Any, int, bool], Any]] = {
    "dict": _dec_pairs,
    "tuple": lambda payload, depth, ok: tuple(_dec_items(payload, depth, ok)),
    "set": lambda payload, depth, ok: FrozenSet._of(  # noqa: SLF001 - storage seam
        _dec_members(payload, depth, ok)
    ),
    "frozenset": _dec_members,
}


def _dec_registered(tag: str, payload: Any, depth: int, pickle_ok: bool) -> Any:
    entry = _registry.entry_named(tag)
    if entry is None:
        raise CodecError(
            f"the history holds a {short(tag, 100)!r} value, but no class is "
            "registered under that name in this process; import the module that "
            "registers it (the codec never imports modules named in stored data)"
        )
    value = _dec(payload, depth, pickle_ok)
    if entry.frozen_payload:  # a named tuple: frozen items, as freeze() keeps them
        if type(value) is not FrozenList:
            raise TypeError("expected a list of items")
        return entry.decode(tuple(value._raw_iter()))  # noqa: SLF001 - storage seam
    obj = entry.decode(thaw(value))
    # Mutable objects go in the box frozen trees keep them in, as freeze() does.
    return obj if is_frozen(obj) else Opaque(obj)


def _unpickle(payload: Any, pickle_ok: bool) -> Any:
    if not pickle_ok:
        corrupt(
            "the history holds a pickled object, and unpickling can run any code, "
            "so it is refused; only if you wrote this history yourself and trust "
            "it, load it with allow_pickle=True"
        )
    return _load_pickle(_tags.SCALAR_DECODERS["bytes"](payload))


def _load_pickle(data: bytes) -> Any:
    """The one place that unpickles, reached only with ``allow_pickle=True``."""
    import pickle

    return freeze_value(pickle.loads(data))  # noqa: S301 - the caller opted in


def decode(data: Any, pickle_ok: bool) -> Any:
    """The frozen value of the JSON tree ``data`` (see ``codec.from_json``)."""
    try:
        value = _dec(data, 0, pickle_ok)
    except RecursionError:
        raise CorruptHistoryError(
            "stored value nested too deeply to read here"
        ) from None
    return value.obj if type(value) is Opaque else value
