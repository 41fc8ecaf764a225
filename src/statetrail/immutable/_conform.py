"""Conforming values on the way into an immutable tree, and wrapping them going out.

Going in, a value is *conformed*: dicts, lists and sets (nested to any depth) become
frozen containers, immutable scalars (numbers, strings, datetimes ...) stay as
they are, an immutable dict, list or set gives its frozen value, and a custom
immutable becomes a slave copy of itself in the receiving tree. Anything else is
refused with :class:`ValueError`, as shoobx.immutable does, unless it offers
``__im_get__()``.

Going out, a frozen container (or a draft of one, inside an ``update()`` block) is
*wrapped* in a slave view, an :class:`~statetrail.immutable.ImmutableDict`,
``ImmutableList`` or ``ImmutableSet`` sharing its master's session.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from statetrail.frozen import Draft, FrozenDict, FrozenList, FrozenSet
from statetrail.frozen import register_immutable as _register_immutable
from statetrail.frozen._dict import dict_items, dict_of
from statetrail.frozen._freeze import (
    _FROZEN,
    _IMMUTABLE,
    MAX_NESTING,
    _TooDeep,
    late_immutable,
    nesting_error,
)
from statetrail.frozen._keys import check_key
from statetrail.frozen._list import list_items, list_of_frozen
from statetrail.frozen._set import set_of
from statetrail.immutable._base import ImmutableBase, Session, new_session
from statetrail.immutable.interfaces import IM_MODE_SLAVE, IM_STATE_TRANSIENT

__all__ = [
    "SCALARS",
    "VIEWS",
    "conform",
    "conform_attr",
    "im_conform",
    "rebind_within",
    "register_view",
    "wrap",
]

#: The commonest values, kept as they are: a shortcut on the hot paths.
SCALARS = frozenset({int, float, str, bool, bytes, type(None)})

#: Frozen container and draft types -> the factory of their slave view.
VIEWS: dict[type, Callable[[Any, Session], Any]] = {}


def register_view(kind: type, factory: Callable[[Any, Session], Any]) -> None:
    """Hand out values of type ``kind`` (a frozen container or a draft) as views."""
    VIEWS[kind] = factory


def wrap(value: Any, session: Session) -> Any:
    """A value read from a tree, as its reader gets it: containers as slave views."""
    factory = VIEWS.get(type(value))
    if factory is None:
        return value
    return factory(value, session)


def conform(value: Any, session: Session) -> Any:
    """What a tree of ``session`` keeps for ``value`` (see the module docstring).

    Raises:
        ValueError: ``value`` is mutable and has no immutable equivalent.
        NestingError: ``value`` contains itself or nests deeper than
            :data:`~statetrail.frozen.MAX_NESTING` levels (a :class:`ValueError`).
    """
    try:
        return _conform(value, session, 1)
    except (_TooDeep, RecursionError):
        raise nesting_error(value) from None


def _conform(value: Any, session: Session, depth: int) -> Any:
    """``conform`` of a value ``depth`` levels down (the top is level 1)."""
    if isinstance(value, ImmutableBase):
        return value._im_conform(session)
    t = type(value)
    if t in _IMMUTABLE or t in _FROZEN:
        return value
    if depth > MAX_NESTING:
        raise _TooDeep
    inner = depth + 1
    if t is dict:
        return _conform_dict(value, session, inner)
    if t is list:
        return list_of_frozen([_conform(x, session, inner) for x in value])
    if t is set:
        return set_of(frozenset(_conform(x, session, inner) for x in value))
    if t is tuple:
        return _conform_tuple(value, session, inner)
    return _conform_other(value, session, inner)


def conform_attr(value: Any, session: Session) -> Any:
    """What a custom immutable keeps in an attribute: containers as slave views."""
    return wrap(conform(value, session), session)


def im_conform(owner: ImmutableBase, value: Any) -> Any:
    """shoobx.immutable's ``__im_conform__``: ``value`` as ``owner`` would keep it.

    Containers come back as transient slave immutables, a transient immutable made
    on its own as itself (now a slave), a locked one as a transient slave copy, and
    immutable scalars as they are. Nothing is stored.

    Raises:
        ValueError: ``value`` is mutable and has no immutable equivalent.
        AssertionError: ``value`` is a slave custom immutable (already placed).
    """
    session = owner.__im_session__
    if session.state is not IM_STATE_TRANSIENT:
        session = new_session(standalone=True)
    return conform_attr(value, session)


def rebind_within(value: Any, old: Session, new: Session) -> None:
    """Move the immutables bound to ``old`` in ``value`` (frozen data) to ``new``."""
    if isinstance(value, ImmutableBase):
        value._im_rebind(old, new)
        return
    t = type(value)
    if t is FrozenDict:
        items: Any = (v for _, v in dict_items(value))
    elif t is FrozenList:
        items = list_items(value)
    elif t is FrozenSet or t is tuple or t is frozenset:
        items = value
    else:
        return
    for item in items:
        if type(item) not in SCALARS:
            rebind_within(item, old, new)


def _conform_dict(
    value: Mapping[Any, Any], session: Session, inner: int
) -> FrozenDict[Any, Any]:
    return dict_of(
        {
            k: _conform(v, session, inner)
            for k, v in value.items()
            if type(k) is str or check_key(k)  # no NaN key: see frozen/_keys
        }
    )


def _conform_tuple(
    value: tuple[Any, ...], session: Session, inner: int
) -> tuple[Any, ...]:
    items = tuple(_conform(x, session, inner) for x in value)
    if all(a is b for a, b in zip(items, value, strict=True)):
        return value
    if type(value) is tuple:
        return items
    return type(value)(*items)  # a named tuple keeps its class


def _conform_other(value: Any, session: Session, inner: int) -> Any:
    if isinstance(value, enum.Enum) or late_immutable(type(value)):
        return value
    if isinstance(value, datetime.tzinfo):
        # Time zones are immutable by contract; keep any kind by reference.
        _register_immutable(type(value))
        return value
    if isinstance(value, Draft):
        return value.finish()
    if isinstance(value, tuple):
        return _conform_tuple(value, session, inner)
    if isinstance(value, frozenset):
        items = frozenset(_conform(x, session, inner) for x in value)
        return value if items == value else items
    if isinstance(value, Mapping):
        return _conform_dict(value, session, inner)
    if isinstance(value, list):
        return list_of_frozen([_conform(x, session, inner) for x in value])
    if isinstance(value, AbstractSet):
        return set_of(frozenset(_conform(x, session, inner) for x in value))
    get = getattr(value, "__im_get__", None)
    if get is not None:
        # shoobx.immutable's protocol: a mutable object names its immutable twin.
        twin = get(mode=IM_MODE_SLAVE)
        if isinstance(twin, ImmutableBase):
            return twin._im_join(session)
    raise ValueError("Unable to conform object to immutable.", value)
