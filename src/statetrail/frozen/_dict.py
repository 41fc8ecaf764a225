"""FrozenDict: an immutable mapping with structural sharing, in insertion order."""

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

from statetrail.frozen import _hamt, _hooks, _ordered
from statetrail.frozen._hamt import MISSING
from statetrail.frozen._hamt import lookup as _lookup
from statetrail.frozen._keys import check_key
from statetrail.frozen._opaque import Opaque
from statetrail.frozen._refuse import refused

if TYPE_CHECKING:
    from statetrail.frozen._draft import DictDraft

__all__ = [
    "FrozenDict",
    "changes_in_order",
    "dict_find",
    "dict_items",
    "dict_of",
    "dict_of_small",
    "dict_order",
    "dict_put",
    "dict_raw",
    "dict_set",
    "dict_small_keys",
    "dict_small_vals",
    "dict_trie",
    "same_order",
    "stored_value",
]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

#: Maps with at most this many keys keep two tuples, keys and values (Clojure's
#: array maps): lookups run in C, the tuples are in insertion order, and changing a
#: value copies only the values while sharing the keys. Larger maps keep their
#: values in a hash trie, where a write copies O(log32 n), and their order beside
#: it (``_ordered``: a vector of keys and a trie of positions).
SMALL = 8


# -- package-internal access (issue 11) ----------------------------------------------
# The rest of statetrail reads a map's stored values and writes it in place of a
# key through these names, never through its private members (ruff's SLF001).
# Each is the method itself (FrozenDict binds it as ``_raw``, ``_find``...), so
# ``dict_raw(node, key)`` costs what ``node._raw(key)`` does: a path read is a
# few of these calls per step.


def dict_raw(self: FrozenDict[Any, Any], key: Any, default: Any = MISSING) -> Any:
    """The stored value (an :class:`Opaque` box is not opened)."""
    keys = self._keys
    if keys is None:
        return _hamt.lookup(self._root, hash(key), key, default)
    if key in keys:
        return self._vals[keys.index(key)]
    hash(key)  # an unhashable key is a TypeError, as in a dict
    return default


def dict_find(self: FrozenDict[Any, Any], key: Any) -> tuple[Any, Any]:
    """The stored value of ``key`` and its place, for :meth:`_put`.

    ``(MISSING, None)`` when the key is absent. A read followed by a write
    of the same key (a path write: the old value, then the new map) walks
    the trie once.
    """
    keys = self._keys
    if keys is None:
        place = _hamt.locate(self._root, hash(key), key)
        if place is None:
            return MISSING, None
        return place[-2][place[-1]], place
    try:
        i = keys.index(key)
    except ValueError:
        hash(key)  # an unhashable key is a TypeError, as in a dict
        return MISSING, None
    return self._vals[i], i


def dict_put(
    self: FrozenDict[Any, Any], place: Any, value: Any
) -> FrozenDict[Any, Any]:
    """This map with ``value`` (frozen) at ``place``, a place :meth:`_find` gave.

    The key keeps its place in the order; this very map when the value there
    is ``value`` itself.
    """
    keys = self._keys
    if keys is None:
        if place[-2][place[-1]] is value:
            return self
        root = _hamt.replace_at(place, value)
        return self._of_large(root, self._vals, self._len)
    vals = self._vals
    if vals[place] is value:
        return self
    items = list(vals)
    items[place] = value
    return self._of_small(keys, tuple(items))


def dict_set(self: FrozenDict[Any, Any], key: Any, value: Any) -> FrozenDict[Any, Any]:
    keys = self._keys
    if keys is not None:
        # A key that is there: written at its place (compiled when built).
        place = self._find(key)[1]  # a TypeError for an unhashable key
        if place is not None:
            return self._put(place, value)
        if len(keys) < SMALL:
            return self._of_small((*keys, key), (*self._vals, value))
        # Growing past SMALL: move to the trie.
        plain = dict(zip(keys, self._vals, strict=True))
        plain[key] = value
        return self._of(plain)
    h = hash(key)
    root, added = _hamt.assoc(self._root, 0, h, key, value)
    if root is self._root:
        return self
    if not added:
        # A key keeps its place: only the values changed.
        return self._of_large(root, self._vals, self._len)
    return self._of_large(root, _ordered.add(self._vals, key), self._len + 1)


def dict_items(self: FrozenDict[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """The stored ``(key, value)`` pairs in order (boxes not opened)."""
    keys = self._keys
    if keys is not None:
        return zip(keys, self._vals, strict=True)
    # The value trie into a dict, then the keys in order from the vector.
    values = dict(_hamt.iter_items(self._root))
    ordered = tuple(_ordered.keys(self._vals[1]))
    return zip(ordered, map(values.__getitem__, ordered), strict=True)


def dict_small_keys(self: FrozenDict[Any, Any]) -> tuple[Any, ...] | None:
    """A small map's keys, in order (shared between versions); ``None`` if large."""
    return self._keys


def dict_small_vals(self: FrozenDict[Any, Any]) -> tuple[Any, ...]:
    """A small map's stored values, in its keys' order (only for a small map)."""
    vals: tuple[Any, ...] = self._vals
    return vals


def dict_trie(self: FrozenDict[Any, Any]) -> _hamt.Node:
    """A large map's hash trie of keys to values (``_hamt.EMPTY`` for a small one)."""
    return self._root


def dict_order(self: FrozenDict[Any, Any]) -> Any:
    """A large map's key order (``_ordered``'s vector); ``None`` for a small one."""
    return None if self._keys is not None else self._vals[1]


def dict_of(plain: dict[Any, Any]) -> FrozenDict[Any, Any]:
    """A map of ``plain``'s items, taken as frozen already (nothing is checked)."""
    self: FrozenDict[Any, Any] = object.__new__(FrozenDict)
    self._init(plain)
    return self


def dict_of_small(keys: tuple[Any, ...], vals: tuple[Any, ...]) -> FrozenDict[Any, Any]:
    """A small map of ``keys`` and ``vals`` (at most SMALL, frozen already)."""
    self: FrozenDict[Any, Any] = object.__new__(FrozenDict)
    self._keys = keys
    self._vals = vals
    self._root = _hamt.EMPTY
    self._len = len(keys)
    self._hashed = None
    return self


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

    It iterates in insertion order, exactly as ``dict`` does: assigning to a key
    keeps its place, deleting it and adding it again moves it to the end. Equality
    ignores the order, as ``dict``'s does.

    >>> list(d2.set("a", 0).set("count", 3))
    ['user', 'count', 'a']

    The methods that would change a dict in place (``update``, ``pop``, ``|=`` ...)
    raise :class:`~statetrail.FrozenError`; :meth:`updated` returns the new map.
    """

    __slots__ = ("_hashed", "_keys", "_len", "_root", "_vals")

    # The small form: _keys and _vals, in order (_root empty). The large form:
    # _keys is None, _root maps key -> value, and _vals is the order of
    # ``_ordered`` (a trie from key to position, the vector of keys in insertion
    # order with holes, and how far the trie covers it). The order shares _vals'
    # slot so that a map is no bigger than before it kept order (a state holds
    # thousands of small ones).
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
        self._init(
            {
                k: freeze_value(v)
                for k, v in source.items()
                if type(k) is str or check_key(k)  # no NaN key (see _keys)
            }
        )

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
            self._root = _hamt.build_mapping(plain)
            self._vals = _ordered.build(plain)

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
    def _of_root(
        cls, root: _hamt.Node, order: _ordered.Order, length: int
    ) -> FrozenDict[Any, Any]:
        if length <= SMALL:
            values = dict(_hamt.iter_items(root))
            keys = tuple(_ordered.keys(order[1]))
            return cls._of_small(keys, tuple(map(values.__getitem__, keys)))
        return cls._of_large(root, order, length)

    @classmethod
    def _of_large(
        cls, root: _hamt.Node, order: _ordered.Order, length: int
    ) -> FrozenDict[Any, Any]:
        """A large map of ``root`` (key -> value) and ``order``."""
        new = object.__new__(cls)
        new._keys = None
        new._vals = order
        new._root = root
        new._len = length
        new._hashed = None
        return new

    # -- reading ---------------------------------------------------------------

    _raw = dict_raw
    _find = dict_find
    _put = dict_put
    _raw_items = dict_items

    def __getitem__(self, key: K) -> V:
        # _raw inlined: indexing is the read of every front end (store.at(n)[k]).
        keys = self._keys
        if keys is None:
            value = _lookup(self._root, hash(key), key, MISSING)
            if value is MISSING:
                raise KeyError(key)
        else:
            try:
                value = self._vals[keys.index(key)]
            except ValueError:
                hash(key)  # an unhashable key is a TypeError, as in a dict
                raise KeyError(key) from None
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
        return _ordered.keys(self._vals[1])

    def __reversed__(self) -> Iterator[K]:
        return reversed(tuple(self))

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

    _set = dict_set

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """A new map with ``key`` bound to (a frozen) ``value``.

        Returns this very map when ``key`` is already bound to the same object.
        A key that is or holds NaN raises :class:`ValueError` (see ``_keys``).
        """
        if type(key) is not str:
            check_key(key)
        return self._set(key, _hooks.freeze_value(value))

    def delete(self, key: K) -> FrozenDict[K, V]:
        """A new map without ``key``; raises :class:`KeyError` if it is absent."""
        new = self.discarded(key)
        if new is self:
            hash(key)  # an unhashable key is a TypeError, as in a dict
            raise KeyError(key)
        return new

    def discarded(self, key: K) -> FrozenDict[K, V]:
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
        h = hash(key)
        root = _hamt.dissoc(self._root, 0, h, key)
        if root is self._root:
            return self
        n = self._len - 1
        return self._of_root(root, _ordered.remove(self._vals, h, key, n), n)

    def updated(
        self, items: Mapping[K, V] | Iterable[tuple[K, V]] = (), /, **kwargs: V
    ) -> FrozenDict[K, V]:
        """A new map with the given items added or replaced, as ``dict.update``.

        New keys go at the end, in the order given; replaced ones keep their place.
        """
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
        return self.updated(other)

    def __ror__(self, other: Mapping[K, V]) -> FrozenDict[K, V]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return FrozenDict(other).updated(self)

    # -- the names of in-place changes, refused (issue 10) ------------------------

    update = refused("update", "d.updated(...) or d | other")
    discard = refused("discard", "d.discarded(key) or d.delete(key)")
    pop = refused("pop", "d[key] and d.delete(key)")
    popitem = refused("popitem", "d.delete(key)")
    setdefault = refused("setdefault", "d.get(key, default) and d.set(key, value)")
    clear = refused("clear", "FrozenDict()")
    __ior__ = refused("|=", "d | other, bound to a new name")

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
        for k, v in dict_items(self._mapping):
            yield (k, v.copy() if type(v) is Opaque else v)


class _Values(ValuesView[V]):
    __slots__ = ()
    _mapping: FrozenDict[Any, V]

    def __iter__(self) -> Iterator[V]:
        for _, v in dict_items(self._mapping):
            yield v.copy() if type(v) is Opaque else v


def stored_value(mapping: FrozenDict[Any, Any], key: Any) -> Any:
    """The value ``mapping`` stores for ``key`` (boxes not opened), or MISSING."""
    return dict_raw(mapping, key)


def same_order(a: FrozenDict[Any, Any], b: FrozenDict[Any, Any]) -> bool:
    """Whether two maps with the same keys iterate them in the same order."""
    ka, kb = dict_small_keys(a), dict_small_keys(b)
    if ka is not None and kb is not None:
        return ka is kb or ka == kb
    if ka is None and kb is None and dict_order(a) is dict_order(b):
        return True
    return all(x is y or x == y for x, y in zip(a, b, strict=True))


Found = list[tuple[Any, Any, Any]]


def changes_in_order(
    a: FrozenDict[Any, Any], b: FrozenDict[Any, Any], found: Found
) -> Found:
    """The ``(key, old, new)`` changes from ``a`` to ``b``, arranged to keep b's order.

    ``found`` lists every key whose value differs (``old`` or ``new`` is MISSING
    for a key on one side only), in any order. Applied in the returned order, where
    a replaced key keeps its place and an added key goes at the end (as ``dict``
    does), they turn ``a`` into ``b`` in ``b``'s order: the additions come last, in
    ``b``'s order, and a key that ``b`` holds in a different place relative to the
    others is removed and added again (with its value even if that is the same).

    A ``b`` written from ``a`` (so sharing its order up to ``a``'s size) is
    arranged in time proportional to the change; otherwise the orders are walked.
    """
    ka, kb = dict_small_keys(a), dict_small_keys(b)
    if ka is not None and (ka is kb or ka == kb):
        return found
    tail: list[Any] | None = None
    if ka is None and kb is None:
        before, after = dict_order(a), dict_order(b)
        if before is after:
            return found
        tail = _ordered.appended_since(before, after)
    if tail is None:
        tail = _moved_or_added(a, b)
    if not tail:
        return found
    at_end = set(tail)
    out = [c for c in found if c[0] not in at_end]
    adds = []
    for k in tail:
        old, new = dict_raw(a, k), dict_raw(b, k)
        if old is not MISSING:
            out.append((k, old, MISSING))
        adds.append((k, MISSING, new))
    return out + adds


def _moved_or_added(a: FrozenDict[Any, Any], b: FrozenDict[Any, Any]) -> list[Any]:
    """The keys of ``b`` that must go to the end, in ``b``'s order.

    ``b``'s longest first stretch of keys that ``a`` holds in the same relative
    order stays; every key after it is added (again, if ``a`` holds it).
    """
    where = {k: i for i, k in enumerate(a)}
    last = -1
    bkeys = list(b)
    for j, k in enumerate(bkeys):
        i = where.get(k, -1)
        if i <= last:
            return bkeys[j:]
        last = i
    return []
