"""FrozenDict: an immutable mapping with structural sharing."""

from __future__ import annotations

from collections.abc import (
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from typing import TYPE_CHECKING, Any, TypeVar, overload

from statetrail.frozen import _hamt, _hooks
from statetrail.frozen._hamt import MISSING
from statetrail.frozen._opaque import Opaque

if TYPE_CHECKING:
    from statetrail.frozen._draft import DictDraft

__all__ = ["FrozenDict"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

#: Maps with at most this many keys keep two tuples, keys and values (Clojure's
#: array maps): lookups run in C, insertion order is kept, and changing a value
#: copies only the values while sharing the keys. Larger maps live in a hash trie,
#: where a write copies O(log32 n) and order is by hash.
SMALL = 8


class FrozenDict(Mapping[K, V]):
    """An immutable dict whose versions share their unchanged parts.

    It equals any mapping with the same items, hashes when its values hash, and
    every "write" returns a new ``FrozenDict``, leaving this one as it was. Values
    are frozen deeply on the way in (lists become :class:`FrozenList` and so on).

    >>> d = FrozenDict({"user": {"theme": "light"}, "count": 1})
    >>> d2 = d.set("count", 2)
    >>> d["count"], d2["count"]
    (1, 2)
    >>> d2 == {"user": {"theme": "light"}, "count": 2}
    True
    >>> d2["user"] is d["user"]      # the unchanged part is shared, not copied
    True

    Up to eight keys keep insertion order; larger maps iterate in hash order, and
    so does a map that shrinks back to eight keys (the trie keeps no order).
    """

    __slots__ = ("_hashed", "_keys", "_len", "_root", "_vals")

    _keys: tuple[Any, ...] | None
    _vals: tuple[Any, ...]
    _root: _hamt.Node
    _len: int
    _hashed: int | None

    def __init__(
        self, items: Mapping[K, V] | Iterable[tuple[K, V]] = (), /, **kwargs: V
    ) -> None:
        source: dict[Any, Any] = dict(items)
        source.update(kwargs)
        freeze_value = _hooks.freeze_value
        self._init({k: freeze_value(v) for k, v in source.items()})

    def _init(self, plain: dict[Any, Any]) -> None:
        # ``plain`` holds frozen values already.
        self._hashed = None
        self._len = n = len(plain)
        if n <= SMALL:
            self._keys = tuple(plain)
            self._vals = tuple(plain.values())
            self._root = _hamt.EMPTY
        else:
            self._keys = None
            self._vals = ()
            self._root = _hamt.build([(hash(k), k, v) for k, v in plain.items()])

    @classmethod
    def _of(cls, plain: dict[Any, Any]) -> FrozenDict[Any, Any]:
        new = object.__new__(cls)
        new._init(plain)
        return new

    @classmethod
    def _of_small(
        cls, keys: tuple[Any, ...], vals: tuple[Any, ...]
    ) -> FrozenDict[Any, Any]:
        new = object.__new__(cls)
        new._keys = keys
        new._vals = vals
        new._root = _hamt.EMPTY
        new._len = len(keys)
        new._hashed = None
        return new

    @classmethod
    def _of_root(cls, root: _hamt.Node, length: int) -> FrozenDict[Any, Any]:
        if length <= SMALL:
            return cls._of(dict(_hamt.iter_items(root)))
        new = object.__new__(cls)
        new._keys = None
        new._vals = ()
        new._root = root
        new._len = length
        new._hashed = None
        return new

    # -- reading ---------------------------------------------------------------

    def _raw(self, key: Any, default: Any = MISSING) -> Any:
        """The stored value (an :class:`Opaque` box is not opened)."""
        keys = self._keys
        if keys is None:
            return _hamt.lookup(self._root, hash(key), key, default)
        if key in keys:
            return self._vals[keys.index(key)]
        hash(key)  # an unhashable key is a TypeError, as in a dict
        return default

    def __getitem__(self, key: K) -> V:
        value = self._raw(key)
        if value is MISSING:
            raise KeyError(key)
        if type(value) is Opaque:
            return value.copy()  # type: ignore[no-any-return]
        return value  # type: ignore[no-any-return]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...

    def get(self, key: K, default: Any = None, /) -> Any:
        """The value for ``key``, or ``default``."""
        value = self._raw(key)
        if value is MISSING:
            return default
        if type(value) is Opaque:
            return value.copy()
        return value

    def __contains__(self, key: object) -> bool:
        return self._raw(key) is not MISSING

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        keys = self._keys
        if keys is not None:
            return iter(keys)
        return _hamt.iter_keys(self._root)

    def _raw_items(self) -> Iterator[tuple[Any, Any]]:
        keys = self._keys
        if keys is not None:
            return zip(keys, self._vals, strict=True)
        return _hamt.iter_items(self._root)

    def keys(self) -> KeysView[K]:
        """A view of the keys."""
        return KeysView(self)

    def items(self) -> ItemsView[K, V]:
        """A view of the ``(key, value)`` pairs."""
        return _Items(self)

    def values(self) -> ValuesView[V]:
        """A view of the values."""
        return _Values(self)

    # -- persistent writes -----------------------------------------------------

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """A new map with ``key`` bound to (a frozen) ``value``.

        Returns this very map when ``key`` is already bound to the same object.
        """
        return self._set(key, _hooks.freeze_value(value))

    def _set(self, key: Any, value: Any) -> FrozenDict[Any, Any]:
        keys = self._keys
        if keys is not None:
            if key in keys:
                i = keys.index(key)
                vals = self._vals
                if vals[i] is value:
                    return self
                items = list(vals)
                items[i] = value
                return self._of_small(keys, tuple(items))
            hash(key)  # an unhashable key is a TypeError, as in a dict
            if len(keys) < SMALL:
                return self._of_small((*keys, key), (*self._vals, value))
            # Growing past SMALL: move to the trie.
            pairs = [(hash(k), k, v) for k, v in zip(keys, self._vals, strict=True)]
            pairs.append((hash(key), key, value))
            return self._of_root(_hamt.build(pairs), len(pairs))
        root, added = _hamt.assoc(self._root, 0, hash(key), key, value)
        if root is self._root:
            return self
        return self._of_root(root, self._len + added)

    def delete(self, key: K) -> FrozenDict[K, V]:
        """A new map without ``key``; raises :class:`KeyError` if it is absent."""
        if key not in self:
            raise KeyError(key)
        return self.discard(key)

    def discard(self, key: K) -> FrozenDict[K, V]:
        """A new map without ``key``; this very map when ``key`` is absent."""
        keys = self._keys
        if keys is not None:
            if key not in keys:
                return self
            i = keys.index(key)
            vals = self._vals
            return self._of_small(
                (*keys[:i], *keys[i + 1 :]), (*vals[:i], *vals[i + 1 :])
            )
        root = _hamt.dissoc(self._root, 0, hash(key), key)
        if root is self._root:
            return self
        return self._of_root(root, self._len - 1)

    def update(
        self, items: Mapping[K, V] | Iterable[tuple[K, V]] = (), /, **kwargs: V
    ) -> FrozenDict[K, V]:
        """A new map with the given items added or replaced."""
        result = self
        pairs = items.items() if isinstance(items, Mapping) else items
        for k, v in pairs:
            result = result.set(k, v)
        for k, v in kwargs.items():
            result = result.set(k, v)  # type: ignore[arg-type]
        return result

    def draft(self) -> DictDraft:
        """A mutable draft of this map; ``draft.finish()`` gives the new version."""
        from statetrail.frozen._draft import DictDraft

        return DictDraft(self)

    # -- protocols ---------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenDict):
            if self._len != other._len:
                return False
            a, b = self._keys, other._keys
            if a is not None and b is not None:
                if a is b or a == b:
                    return self._vals == other._vals
            elif a is None and b is None:
                return _hamt.equal_nodes(self._root, other._root)
        elif not isinstance(other, Mapping):
            return NotImplemented
        elif len(other) != self._len:
            return False
        for k, v in self._raw_items():
            ov = other.get(k, MISSING)
            if ov is MISSING or not (v is ov or v == ov):
                return False
        return True

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        h = self._hashed
        if h is None:
            h = self._hashed = hash(frozenset(self._raw_items()))
        return h

    def __or__(self, other: Mapping[K, V]) -> FrozenDict[K, V]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.update(other)

    def __ror__(self, other: Mapping[K, V]) -> FrozenDict[K, V]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return FrozenDict(other).update(self)

    def __repr__(self) -> str:
        body = ", ".join(f"{k!r}: {v!r}" for k, v in self._raw_items())
        return f"FrozenDict({{{body}}})"

    def __reduce__(self) -> tuple[Any, tuple[dict[Any, Any]]]:
        return (FrozenDict, (dict(self._raw_items()),))

    def __copy__(self) -> FrozenDict[K, V]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict[K, V]:
        return self


class _Items(ItemsView[K, V]):
    __slots__ = ()
    _mapping: FrozenDict[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        for k, v in self._mapping._raw_items():
            yield (k, v.copy() if type(v) is Opaque else v)


class _Values(ValuesView[V]):
    __slots__ = ()
    _mapping: FrozenDict[Any, V]

    def __iter__(self) -> Iterator[V]:
        for _, v in self._mapping._raw_items():
            yield v.copy() if type(v) is Opaque else v
