"""``.data`` and ``__data__``: a container's content as a plain dict, list or set.

shoobx.immutable's ``ImmutableDict`` and ``ImmutableList`` are ``UserDict`` and
``UserList``, whose ``.data`` (the plain dict or list inside) is documented public
API of :mod:`collections`, and its ``ImmutableSet`` keeps a plain set in
``__data__``. statetrail's containers keep a frozen value instead; their ``.data``
(``__data__`` for the set) is a real ``dict``, ``list`` or ``set`` (so
``isinstance``, ``json``, ``copy`` and ``unittest``'s ``assertDictEqual`` take it)
holding the content when it is read, values as the immutable hands them out.

It is never a way around the immutable's checks: every write to it (``d.data[k] =
v``, ``lst.data.append(x)``, ``s.__data__.add(x)`` ...) is made on the immutable,
through the method of ``ImmutableDict``, ``ImmutableList`` or ``ImmutableSet``
itself, and then the copy reads the immutable's whole content again (through
those classes' methods too, so a subclass that overrides ``__setitem__`` to write
``self.data[key] = value``, as ``UserDict`` subclasses do, works instead of
recursing). Inside an ``update()`` block the write lands in the new version, as
the same write to the immutable would; on a locked immutable it raises
``AttributeError('Cannot update locked immutable object.')``
(:class:`~statetrail.errors.FrozenError`), as the immutable does, and changes
nothing. ``copy()``, ``copy.copy()``, ``copy.deepcopy()``, pickling and the
operators that make new containers (``|``, ``+``, ``*``) give plain ones.

>>> from statetrail.immutable import ImmutableDict, update
>>> answer = ImmutableDict({"answer": 0})
>>> answer.data
{'answer': 0}
>>> answer.data["answer"] = 42
Traceback (most recent call last):
...
statetrail.errors.FrozenError: Cannot update locked immutable object.
>>> with update(answer) as new:
...     new.data["answer"] = 42
>>> new.data, answer.data
({'answer': 42}, {'answer': 0})
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, MutableMapping, MutableSequence
from collections.abc import MutableSet as AbstractMutableSet
from typing import Any, ClassVar, Self, SupportsIndex

__all__ = ["DictData", "ListData", "SetData"]


class _Mirror:
    """What the three share: a copy of an immutable's content whose writes go to it.

    The concrete class is a ``dict``, ``list`` or ``set`` subclass that declares
    the ``_owner`` and ``_kind`` slots (a builtin's layout cannot be mixed with a
    base that has slots of its own) and reads the content again in ``_sync``.
    """

    __slots__ = ()

    #: The plain type a copy, a deep copy or a pickle gives.
    _plain: ClassVar[type]
    _owner: Any
    _kind: Any

    @classmethod
    def of(cls, owner: Any, kind: type) -> Self:
        """The content of ``owner`` now, in a container whose writes go to it.

        ``kind`` is ``ImmutableDict``, ``ImmutableList`` or ``ImmutableSet``: its
        methods read and write ``owner``.
        """
        new = cls()
        new._owner = owner
        new._kind = kind
        new._sync()
        return new

    def _sync(self) -> None:
        raise NotImplementedError

    def _write(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self._kind, name)(self._owner, *args, **kwargs)
        self._sync()
        return result

    def __copy__(self) -> Any:
        return self._plain(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.deepcopy(self._plain(self), memo)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return (self._plain, (self._plain(self),))


class DictData(_Mirror, dict[Any, Any]):
    """An ``ImmutableDict``'s ``.data``: its items when read, writes made on it."""

    __slots__ = ("_kind", "_owner")

    _plain = dict
    _owner: MutableMapping[Any, Any]
    _kind: Any

    def _sync(self) -> None:
        owner, kind = self._owner, self._kind
        keys = list(kind.__iter__(owner))
        dict.clear(self)
        dict.update(self, [(key, kind.__getitem__(owner, key)) for key in keys])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._write("__setitem__", key, value)

    def __delitem__(self, key: Any) -> None:
        self._write("__delitem__", key)

    def clear(self) -> None:
        """Remove every item, from the immutable."""
        self._write("clear")

    def pop(self, *args: Any) -> Any:
        """Remove a key from the immutable, as ``dict.pop``."""
        return self._write("pop", *args)

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return some item of the immutable."""
        return self._write("popitem")  # type: ignore[no-any-return]

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """``self[key]``, first setting it on the immutable if it is missing."""
        return self._write("setdefault", key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add or replace items of the immutable, as ``dict.update``."""
        self._write("update", *args, **kwargs)

    def __ior__(self, other: Any) -> Self:  # type: ignore[misc]
        self.update(other)
        return self

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None) -> Any:
        """A plain dict (there is no immutable to write to)."""
        return dict.fromkeys(iterable, value)


class ListData(_Mirror, list[Any]):
    """An ``ImmutableList``'s ``.data``: its items when read, writes made on it."""

    __slots__ = ("_kind", "_owner")

    _plain = list
    _owner: MutableSequence[Any]
    _kind: Any

    def _sync(self) -> None:
        owner, kind = self._owner, self._kind
        items = [kind.__getitem__(owner, i) for i in range(kind.__len__(owner))]
        list.__setitem__(self, slice(None), items)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._write("__setitem__", index, value)

    def __delitem__(self, index: Any) -> None:
        self._write("__delitem__", index)

    def append(self, value: Any) -> None:
        """Add ``value`` at the end of the immutable."""
        self._write("append", value)

    def extend(self, values: Iterable[Any]) -> None:
        """Add ``values`` at the end of the immutable."""
        self._write("extend", values)

    def insert(self, index: SupportsIndex, value: Any) -> None:
        """Insert ``value`` into the immutable before ``index``."""
        self._write("insert", index, value)

    def pop(self, index: SupportsIndex = -1) -> Any:
        """Remove and return the immutable's item at ``index``."""
        return self._write("pop", index)

    def remove(self, value: Any) -> None:
        """Remove the immutable's first item equal to ``value``."""
        self._write("remove", value)

    def clear(self) -> None:
        """Remove every item, from the immutable."""
        self._write("clear")

    def reverse(self) -> None:
        """Reverse the immutable's items."""
        self._write("reverse")

    def sort(self, *args: Any, **kwargs: Any) -> None:
        """Sort the immutable's items, as ``list.sort``."""
        self._write("sort", *args, **kwargs)

    def __iadd__(self, other: Iterable[Any]) -> Self:  # type: ignore[misc]
        self._write("__iadd__", other)
        return self

    def __imul__(self, n: SupportsIndex) -> Self:
        self._write("__imul__", n)
        return self


class SetData(_Mirror, set[Any]):
    """An ``ImmutableSet``'s ``__data__``: its members when read, writes made on it."""

    __slots__ = ("_kind", "_owner")

    _plain = set
    _owner: AbstractMutableSet[Any]
    _kind: Any

    def _sync(self) -> None:
        members = list(self._kind.__iter__(self._owner))
        set.clear(self)
        set.update(self, members)

    def add(self, value: Any) -> None:
        """Add ``value`` to the immutable."""
        self._write("add", value)

    def discard(self, value: Any) -> None:
        """Remove ``value`` from the immutable if it is a member."""
        self._write("discard", value)

    def remove(self, value: Any) -> None:
        """Remove ``value`` from the immutable; :class:`KeyError` if it is absent."""
        self._write("remove", value)

    def pop(self) -> Any:
        """Remove and return some member of the immutable."""
        return self._write("pop")

    def clear(self) -> None:
        """Remove every member, from the immutable."""
        self._write("clear")

    def update(self, *others: Iterable[Any]) -> None:
        """Add the members of ``others`` to the immutable."""
        self._write("update", *others)

    def difference_update(self, *others: Iterable[Any]) -> None:
        """Remove the members of ``others`` from the immutable."""
        self._write("difference_update", *others)

    def intersection_update(self, *others: Iterable[Any]) -> None:
        """Keep in the immutable only the members found in every one of ``others``."""
        self._write("intersection_update", *others)

    def symmetric_difference_update(self, other: Iterable[Any]) -> None:
        """Keep in the immutable the members in exactly one of it and ``other``."""
        self._write("symmetric_difference_update", other)

    def __ior__(self, other: Any) -> Self:  # type: ignore[misc]
        self.update(other)
        return self

    def __iand__(self, other: Any) -> Self:  # type: ignore[misc]
        self.intersection_update(other)
        return self

    def __ixor__(self, other: Any) -> Self:  # type: ignore[misc]
        self.symmetric_difference_update(other)
        return self

    def __isub__(self, other: Any) -> Self:  # type: ignore[misc]
        self.difference_update(other)
        return self
