"""ImmutableDict: a locked mapping, backed by a FrozenDict, changed only by update()."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, ClassVar, Self, TypeVar, overload

from statetrail.frozen import DictDraft, Draft, FrozenDict
from statetrail.frozen._dict import dict_items, dict_of
from statetrail.immutable._base import LOCKED, locked_error
from statetrail.immutable._conform import (
    SCALARS,
    VIEWS,
    conform,
    register_view,
    wrap,
)
from statetrail.immutable._data import DictData
from statetrail.immutable._view import ContainerView, detached, own
from statetrail.immutable.interfaces import IM_STATE_TRANSIENT

__all__ = ["ImmutableDict"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_MISSING: Any = object()


class ImmutableDict(ContainerView, MutableMapping[K, V]):
    """A dict that cannot be changed once created, except through ``update()``.

    Nested dicts, lists and sets become ``ImmutableDict``, ``ImmutableList`` and
    ``ImmutableSet`` and are locked with it. It equals any mapping with the same
    items, hashes, pickles, and every write (``d[k] = v``, ``del d[k]``, ``pop``,
    ``clear``, ``|=`` ...) raises ``AttributeError('Cannot update locked immutable
    object.')`` outside an ``update()`` block.

    >>> from statetrail.immutable import ImmutableDict, update
    >>> answer = ImmutableDict({"answer": 0})
    >>> answer["answer"] = 42
    Traceback (most recent call last):
    ...
    statetrail.errors.FrozenError: Cannot update locked immutable object.
    >>> with update(answer) as answer:
    ...     answer["answer"] = 42
    >>> answer
    {'answer': 42}

    Keys keep insertion order at any size, as in a dict.

    ``im_finalize`` and ``im_mode`` are shoobx.immutable's constructor keywords
    (see :mod:`statetrail.immutable`), so they cannot be keys given as keywords.
    """

    __slots__ = ()

    _frozen_type: ClassVar[type] = FrozenDict
    _draft_type: ClassVar[type] = DictDraft
    _storage_name: ClassVar[str] = "data"
    #: Whether this class overrides ``__setitem__`` or ``__delitem__``: then, as in
    #: shoobx.immutable, the constructor, ``fromkeys()``, ``update()``, ``|=``,
    #: ``setdefault()``, ``pop()`` and ``popitem()`` write through them.
    _im_through_items: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if (
            cls.__setitem__ is ImmutableDict.__setitem__
            and cls.__delitem__ is ImmutableDict.__delitem__
        ):
            return
        cls._im_through_items = True
        # The plain class keeps its direct methods (no check on the fast path); a
        # subclass that overrides an item write gets the ones that call it,
        # unless it (or a class between) defines its own.
        for name, method in _THROUGH_ITEMS.items():
            if getattr(cls, name) is getattr(ImmutableDict, name):
                setattr(cls, name, method)

    def __init__(
        self,
        items: Mapping[K, V] | Iterable[tuple[K, V]] = (),
        /,
        *,
        im_finalize: bool = True,
        im_mode: str | None = None,
        **kwargs: V,
    ) -> None:
        if not kwargs and type(items) is FrozenDict:
            data = items
        elif self._im_through_items:
            # shoobx.immutable puts each item through the subclass's __setitem__.
            self._init(dict_of({}), False, im_mode)
            pairs = items.items() if isinstance(items, Mapping) else items
            for key, value in [*pairs, *kwargs.items()]:
                # A frozen value (from | or a copy) is handed over as its view.
                self[key] = wrap(value, LOCKED)
            if im_finalize:
                self.__im_finalize__()
            return
        elif not kwargs and isinstance(items, ImmutableDict):
            data = items._snapshot()
        else:
            source: dict[Any, Any] = dict(items)
            source.update(kwargs)
            data = dict_of({k: conform(v, LOCKED) for k, v in source.items()})
        self._init(data, im_finalize, im_mode)

    def __im_is_internal_attr__(self, name: str) -> bool:
        """Whether ``name`` is internal (``data`` too, shoobx's UserDict storage)."""
        return name == "data" or super().__im_is_internal_attr__(name)

    @property
    def data(self) -> dict[K, V]:
        """The items as a plain ``dict``: shoobx's (``UserDict``'s) ``.data``.

        A copy of the items when read. Its writes are made on this dict
        through ``ImmutableDict``'s own methods, beneath a subclass's overrides as with
        ``UserDict``: inside an ``update()`` block they land in the new version, on
        a locked dict they raise ``FrozenError``. ``d.data = {...}`` inside the
        block replaces every item.
        """
        return DictData.of(self, ImmutableDict)

    def _im_replace(self, content: Any) -> None:
        items = list(dict(content).items())  # read before clearing: it may be .data
        # Beneath a subclass's overrides, as UserDict's ``self.data = ...`` is.
        ImmutableDict.clear(self)
        ImmutableDict.update(self, items)

    def __getstate__(self) -> dict[K, V]:
        """The items, as a plain dict (shoobx.immutable's pickle state)."""
        return dict(dict_items(self._snapshot()))

    def __setstate__(self, state: Mapping[K, V]) -> None:
        """Become a locked master holding ``state``'s items."""
        self._init(dict_of({k: conform(v, LOCKED) for k, v in state.items()}))

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None) -> Self:
        """A new dict with the keys of ``iterable``, each bound to ``value``.

        A custom immutable ``value`` is copied for each key, so no two keys share
        one object that could be changed through the other.
        """
        if cls._im_through_items:
            new = cls(im_finalize=False)
            for key in iterable:
                new[key] = value
            new.__im_finalize__()
            return new
        return cls._master(dict_of({k: conform(value, LOCKED) for k in iterable}))

    # -- reading -------------------------------------------------------------------

    def __getitem__(self, key: K) -> V:
        session = self.__im_session__
        if session.state is IM_STATE_TRANSIENT:
            data = self._data
            value = data[key]
            if not isinstance(value, Draft):
                value = own(data, key, value, session)
        else:
            value = self._read()[key]
        factory = VIEWS.get(type(value))
        if factory is None:
            return value  # type: ignore[no-any-return]
        return factory(value, session)  # type: ignore[no-any-return]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...

    def get(self, key: K, default: Any = None, /) -> Any:
        """The value for ``key``, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in self._read()

    def __iter__(self) -> Iterator[K]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    # -- writing (inside update() only) ----------------------------------------------

    def __setitem__(self, key: K, value: V) -> None:
        session = self.__im_session__
        if session.state is not IM_STATE_TRANSIENT:
            raise locked_error()
        self._data[key] = value if type(value) in SCALARS else conform(value, session)

    def __delitem__(self, key: K) -> None:
        del self._draft()[key]

    def clear(self) -> None:
        """Remove every item."""
        data = self._draft()
        for key in list(data):
            del data[key]

    def update(  # type: ignore[override]
        self, items: Mapping[K, V] | Iterable[tuple[K, V]] = (), /, **kwargs: V
    ) -> None:
        """Add or replace the given items, as ``dict.update``."""
        session = self._im_check()
        data = self._data
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            data[key] = conform(value, session)
        for key, value in kwargs.items():
            data[key] = conform(value, session)

    def setdefault(self, key: K, default: V = None) -> V:  # type: ignore[assignment]
        """``self[key]``, first setting it to ``default`` if it is missing."""
        self._im_check()
        if key not in self._data:
            ImmutableDict.__setitem__(self, key, default)
        return self[key]

    @overload
    def pop(self, key: K, /) -> V: ...
    @overload
    def pop(self, key: K, default: V | T, /) -> V | T: ...

    def pop(self, key: K, default: Any = _MISSING, /) -> Any:
        """Remove ``key`` and return its value (or ``default`` if it is missing)."""
        data = self._draft()
        if key not in data:
            if default is _MISSING:
                raise KeyError(key)
            return default
        value = detached(data[key])
        del data[key]
        return value

    def popitem(self) -> tuple[K, V]:
        """Remove and return some ``(key, value)`` pair."""
        data = self._draft()
        for key in data:
            return key, ImmutableDict.pop(self, key)
        raise KeyError("popitem(): dictionary is empty")

    def __ior__(self, other: Any) -> Self:
        self.update(other)
        return self

    # -- new dicts -------------------------------------------------------------------

    def __or__(self, other: Any) -> Self:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = dict(dict_items(self._snapshot()))
        merged.update(other)
        return type(self)(merged)

    def __ror__(self, other: Any) -> Self:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = dict(other)
        merged.update(dict_items(self._snapshot()))
        return type(self)(merged)


def _update_through_items(
    self: ImmutableDict[Any, Any], items: Any = (), /, **kwargs: Any
) -> None:
    """Add or replace the given items, each through ``self[key] = value``."""
    self._im_check()
    pairs = items.items() if isinstance(items, Mapping) else items
    for key, value in [*pairs, *kwargs.items()]:
        self[key] = value


def _setdefault_through_items(
    self: ImmutableDict[Any, Any], key: Any, default: Any = None
) -> Any:
    """``self[key]``, first setting it through ``self[key] = default``."""
    self._im_check()
    if key not in self._data:
        self[key] = default
    return self[key]


def _pop_through_items(
    self: ImmutableDict[Any, Any], key: Any, default: Any = _MISSING, /
) -> Any:
    """Remove ``key`` through ``del self[key]``, and return its value."""
    data = self._draft()
    if key not in data:
        if default is _MISSING:
            raise KeyError(key)
        return default
    value = detached(data[key])
    del self[key]
    return value


def _popitem_through_items(self: ImmutableDict[Any, Any]) -> tuple[Any, Any]:
    """Remove some item through ``del self[key]``, and return it."""
    data = self._draft()
    for key in data:
        value = detached(data[key])
        del self[key]
        return key, value
    raise KeyError("popitem(): dictionary is empty")


#: The methods of a subclass that overrides ``__setitem__`` or ``__delitem__``:
#: they write through them, as shoobx.immutable's do (``|=`` goes through
#: ``update()``; ``clear()`` empties the data directly in both).
_THROUGH_ITEMS: dict[str, Any] = {
    "update": _update_through_items,
    "setdefault": _setdefault_through_items,
    "pop": _pop_through_items,
    "popitem": _popitem_through_items,
}

register_view(FrozenDict, ImmutableDict._view)
register_view(DictDraft, ImmutableDict._view)
