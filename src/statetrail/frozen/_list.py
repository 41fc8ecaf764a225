"""FrozenList: an immutable sequence with structural sharing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from operator import index as to_index
from typing import TYPE_CHECKING, Any, SupportsIndex, TypeVar, overload

from statetrail.frozen import _hooks, _splice, _vector
from statetrail.frozen._opaque import Opaque
from statetrail.frozen._refuse import refused
from statetrail.frozen._vector import Vec

if TYPE_CHECKING:
    from statetrail.frozen._draft import ListDraft

__all__ = [
    "FrozenList",
    "list_items",
    "list_of",
    "list_of_frozen",
    "list_raw",
    "list_set",
    "list_vec",
]

T = TypeVar("T")


# -- package-internal access (issue 11) ----------------------------------------------
# The rest of statetrail reads a list's stored items and writes it at an index
# through these names, never through its private members (ruff's SLF001). The
# methods among them are the methods themselves (FrozenList binds them as
# ``_raw``, ``_set`` and ``_raw_iter``), so a call costs what ``node._raw(i)`` did.


def list_raw(self: FrozenList[Any], i: int) -> Any:
    """The stored item ``i`` (an :class:`Opaque` box is not opened)."""
    return _vector.get(self._vec, self._index(i))


def list_set(self: FrozenList[Any], i: int, value: Any) -> FrozenList[Any]:
    """This list with item ``i`` (an index in range) replaced by ``value`` (frozen)."""
    vec = _vector.put(self._vec, i, value)
    return self if vec is self._vec else self._of(vec)


def list_items(self: FrozenList[Any]) -> Iterator[Any]:
    """The stored items in order (an :class:`Opaque` box is not opened)."""
    return _vector.iterate(self._vec)


def list_vec(self: FrozenList[Any]) -> Vec:
    """The list's persistent vector (shared between versions)."""
    return self._vec


def list_of(vec: Vec) -> FrozenList[Any]:
    """A list of the vector ``vec``, whose items are frozen already."""
    self: FrozenList[Any] = object.__new__(FrozenList)
    self._vec = vec
    self._hashed = None
    return self


def list_of_frozen(items: Iterable[Any]) -> FrozenList[Any]:
    """A list of ``items``, frozen already (nothing is checked)."""
    return list_of(_vector.build(items))


class FrozenList(Sequence[T]):
    """An immutable list whose versions share their unchanged parts.

    It equals a plain list with the same items (and, like a list, not a tuple),
    hashes when its items hash, and every "write" returns a new ``FrozenList``.
    Reading, setting or appending an item costs O(log32 n); inserting or deleting
    anywhere, slicing and concatenating cost O(log n), and share the rest.

    >>> xs = FrozenList([1, 2, 3])
    >>> ys = xs.appended(4).set(0, 0)
    >>> xs, ys
    (FrozenList([1, 2, 3]), FrozenList([0, 2, 3, 4]))
    >>> ys == [0, 2, 3, 4]
    True

    The methods that would change a list in place (``append``, ``sort``, ``+=``
    ...) raise :class:`~statetrail.FrozenError`; :meth:`appended` and its kin
    return the new list.
    """

    __slots__ = ("_hashed", "_vec")

    _vec: Vec
    _hashed: int | None

    def __init__(self, items: Iterable[T] = (), /) -> None:
        freeze_value = _hooks.freeze_value
        self._vec = _vector.build(tuple(freeze_value(x) for x in items))
        self._hashed = None

    @classmethod
    def _of(cls, vec: Vec) -> FrozenList[Any]:
        new = object.__new__(cls)
        new._vec = vec
        new._hashed = None
        return new

    @classmethod
    def _of_frozen(cls, items: Iterable[Any]) -> FrozenList[Any]:
        return cls._of(_vector.build(items))

    # -- reading ---------------------------------------------------------------

    _raw = list_raw
    _raw_iter = list_items

    def _index(self, i: SupportsIndex) -> int:
        n = self._vec.size
        j = to_index(i)  # TypeError for a float or str index, as list raises
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError("FrozenList index out of range")
        return j

    @overload
    def __getitem__(self, i: SupportsIndex) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> FrozenList[T]: ...

    def __getitem__(self, i: SupportsIndex | slice) -> T | FrozenList[T]:
        if isinstance(i, slice):
            return self._slice(i)
        v = self._vec
        j = self._index(i)
        off = v.size - len(v.tail)
        value = v.tail[j - off] if j >= off else _vector.get(v, j)
        if type(value) is Opaque:
            return value.copy()  # type: ignore[no-any-return]
        return value  # type: ignore[no-any-return]

    def _slice(self, s: slice) -> FrozenList[Any]:
        start, stop, step = s.indices(self._vec.size)
        if step != 1:
            return self._of_frozen(tuple(self._raw_iter())[s])
        vec = _splice.drop(_splice.take(self._vec, max(stop, start)), start)
        return self if vec is self._vec else self._of(vec)

    def __len__(self) -> int:
        return self._vec.size

    def __iter__(self) -> Iterator[T]:
        for x in _vector.iterate(self._vec):
            yield x.copy() if type(x) is Opaque else x

    def __reversed__(self) -> Iterator[T]:
        items = tuple(self._raw_iter())
        for x in reversed(items):
            yield x.copy() if type(x) is Opaque else x

    def __contains__(self, value: object) -> bool:
        return any(x is value or x == value for x in self._raw_iter())

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The first index of ``value``; :class:`ValueError` if it is absent."""
        n = self._vec.size
        start, stop, _ = slice(start, stop).indices(n)
        for k, x in enumerate(islice(self._raw_iter(), start, stop), start):
            if x is value or x == value:
                return k
        raise ValueError(f"{value!r} is not in FrozenList")

    def count(self, value: Any) -> int:
        """How many items equal ``value``."""
        return sum(1 for x in self._raw_iter() if x is value or x == value)

    # -- persistent writes -----------------------------------------------------

    def set(self, i: SupportsIndex, value: T) -> FrozenList[T]:
        """A new list with item ``i`` replaced by (a frozen) ``value``."""
        return self._set(self._index(i), _hooks.freeze_value(value))

    _set = list_set

    def appended(self, value: T) -> FrozenList[T]:
        """A new list with ``value`` added at the end."""
        return self._of(_vector.append(self._vec, _hooks.freeze_value(value)))

    def extended(self, values: Iterable[T]) -> FrozenList[T]:
        """A new list with ``values`` added at the end."""
        vec = self._vec
        if type(values) is FrozenList:
            return self._of(_splice.concat(vec, list_vec(values))) if values else self
        for x in values:
            vec = _vector.append(vec, _hooks.freeze_value(x))
        return self if vec is self._vec else self._of(vec)

    def inserted(self, i: SupportsIndex, value: T) -> FrozenList[T]:
        """A new list with ``value`` inserted before index ``i``, as ``list.insert``."""
        n = self._vec.size
        j = to_index(i)
        if j < 0:
            j = max(0, j + n)
        return self._of(
            _splice.insert(self._vec, min(j, n), _hooks.freeze_value(value))
        )

    def delete(self, i: SupportsIndex | slice) -> FrozenList[T]:
        """A new list without item ``i`` (or the items of a slice)."""
        v = self._vec
        if not isinstance(i, slice):
            return self._of(_splice.delete(v, self._index(i)))
        start, stop, step = i.indices(v.size)
        if step != 1:
            items = list(self._raw_iter())
            del items[i]
            return self._of_frozen(items)
        if stop <= start:
            return self
        return self._of(_splice.concat(_splice.take(v, start), _splice.drop(v, stop)))

    def removed(self, value: T) -> FrozenList[T]:
        """A new list without the first item equal to ``value``."""
        return self.delete(self.index(value))

    def draft(self) -> ListDraft:
        """A mutable draft of this list; ``draft.finish()`` gives the new version."""
        from statetrail.frozen._draft import ListDraft

        return ListDraft(self)

    # -- protocols ---------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenList):
            if self._vec.size != other._vec.size:
                return False
            a, b = self._vec, other._vec
            return all(
                _vector.get(a, k) == _vector.get(b, k)
                for k in _vector.changed_indices(a, b)
            )
        if isinstance(other, list):
            if len(other) != self._vec.size:
                return False
            return all(
                x is y or x == y for x, y in zip(self._raw_iter(), other, strict=True)
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def _cmp_key(self, other: object) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
        if isinstance(other, (FrozenList, list)):
            return tuple(self), tuple(other)
        return None

    def __lt__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._cmp_key(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]

    def __hash__(self) -> int:
        h = self._hashed
        if h is None:
            h = self._hashed = hash(tuple(self._raw_iter()))
        return h

    def __add__(self, other: Iterable[T]) -> FrozenList[T]:
        if isinstance(other, FrozenList):
            return self._of(_splice.concat(self._vec, other._vec))
        if not isinstance(other, (list, tuple)):
            return NotImplemented
        return self.extended(other)

    def __radd__(self, other: Iterable[T]) -> FrozenList[T]:
        if not isinstance(other, (list, tuple)):
            return NotImplemented
        return FrozenList(other) + self

    def __mul__(self, n: SupportsIndex) -> FrozenList[T]:
        try:
            times = to_index(n)
        except TypeError:
            return NotImplemented
        return self._of_frozen(tuple(self._raw_iter()) * times)

    __rmul__ = __mul__

    # -- the names of in-place changes, refused (issue 10) ------------------------

    append = refused("append", "xs.appended(value)")
    extend = refused("extend", "xs.extended(values) or xs + values")
    insert = refused("insert", "xs.inserted(i, value)")
    remove = refused("remove", "xs.removed(value)")
    pop = refused("pop", "xs[i] and xs.delete(i)")
    clear = refused("clear", "FrozenList()")
    sort = refused("sort", "FrozenList(sorted(xs))")
    reverse = refused("reverse", "xs[::-1]")
    __iadd__ = refused("+=", "xs + values, bound to a new name")
    __imul__ = refused("*=", "xs * n, bound to a new name")

    def __repr__(self) -> str:
        return f"FrozenList([{', '.join(repr(x) for x in self._raw_iter())}])"

    def __reduce__(self) -> tuple[Any, tuple[list[Any]]]:
        return (FrozenList, (list(self._raw_iter()),))

    def __copy__(self) -> FrozenList[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList[T]:
        return self
