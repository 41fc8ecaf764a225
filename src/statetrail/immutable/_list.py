"""ImmutableList: a locked list, backed by a FrozenList, changed only by update()."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence
from typing import Any, ClassVar, Self, SupportsIndex, TypeVar, overload

from statetrail.frozen import Draft, FrozenList, ListDraft
from statetrail.frozen._list import list_items, list_of_frozen
from statetrail.immutable._base import LOCKED, ImmutableBase
from statetrail.immutable._conform import conform, register_view, wrap
from statetrail.immutable._data import ListData
from statetrail.immutable._view import ContainerView, detached, own
from statetrail.immutable.interfaces import IM_STATE_TRANSIENT

__all__ = ["ImmutableList"]

T = TypeVar("T")


class ImmutableList(ContainerView, MutableSequence[T]):
    """A list that cannot be changed once created, except through ``update()``.

    Nested dicts, lists and sets become immutables locked with it. It equals a plain
    list with the same items, hashes, pickles, and every write (``append``,
    ``lst[i] = x``, ``del``, ``sort``, ``+=``, ``*=`` ...) raises
    ``AttributeError('Cannot update locked immutable object.')`` outside an
    ``update()`` block. ``+`` and ``*`` make new locked lists.

    >>> from statetrail.immutable import ImmutableList, update
    >>> witnesses = ImmutableList(["Arthur", "Gag"])
    >>> with update(witnesses) as witnesses:
    ...     witnesses.append("Deep Thought")
    >>> witnesses
    ['Arthur', 'Gag', 'Deep Thought']
    """

    __slots__ = ()

    _frozen_type: ClassVar[type] = FrozenList
    _draft_type: ClassVar[type] = ListDraft
    _storage_name: ClassVar[str] = "data"
    #: Whether this class overrides ``append``: then, as in shoobx.immutable, the
    #: constructor (so ``+`` and ``*`` too), ``extend()`` and ``+=`` go through it.
    _im_through_append: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.append is ImmutableList.append:
            return
        cls._im_through_append = True
        # The plain class keeps its direct extend() (no check on the fast path).
        if cls.extend is ImmutableList.extend:
            cls.extend = _extend_through_append  # type: ignore[method-assign]

    def __init__(
        self,
        items: Iterable[T] = (),
        /,
        *,
        im_finalize: bool = True,
        im_mode: str | None = None,
    ) -> None:
        if type(items) is FrozenList:
            data = items
        elif self._im_through_append:
            # shoobx.immutable puts each item through the subclass's append().
            self._init(list_of_frozen([]), False, im_mode)
            for value in list(items):
                self.append(value)
            if im_finalize:
                self.__im_finalize__()
            return
        elif isinstance(items, ImmutableList):
            data = items._snapshot()
        else:
            data = list_of_frozen([conform(x, LOCKED) for x in items])
        self._init(data, im_finalize, im_mode)

    def __im_is_internal_attr__(self, name: str) -> bool:
        """Whether ``name`` is internal (``data`` too, shoobx's UserList storage)."""
        return name == "data" or super().__im_is_internal_attr__(name)

    @property
    def data(self) -> list[T]:
        """The items as a plain ``list``: shoobx's (``UserList``'s) ``.data``.

        A copy of the items when read. Its writes are made on this list
        through ``ImmutableList``'s own methods, beneath a subclass's overrides as with
        ``UserDict``: inside an ``update()`` block they land in the new version, on
        a locked list they raise ``FrozenError``. ``lst.data = [...]`` inside the
        block replaces every item.
        """
        return ListData.of(self, ImmutableList)

    def _im_replace(self, content: Any) -> None:
        # Beneath a subclass's overrides, as UserList's ``self.data = ...`` is.
        ImmutableList.__setitem__(self, slice(None), list(content))

    # -- reading -------------------------------------------------------------------

    @overload
    def __getitem__(self, i: SupportsIndex) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> ImmutableList[T]: ...

    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        if isinstance(i, slice):
            return type(self)._master(self._snapshot()[i])
        session = self.__im_session__
        if session.state is IM_STATE_TRANSIENT:
            data = self._data
            value = data[i]
            if not isinstance(value, Draft):
                value = own(data, i, value, session)
        else:
            value = self._read()[i]
        return wrap(value, session)

    def __len__(self) -> int:
        return len(self._read())

    def __iter__(self) -> Iterator[T]:
        session = self.__im_session__
        if session.state is IM_STATE_TRANSIENT:
            for k in range(len(self._data)):
                yield self[k]
        else:
            for value in self._read():
                yield wrap(value, session)

    def __reversed__(self) -> Iterator[T]:
        for k in range(len(self) - 1, -1, -1):
            yield self[k]

    def __contains__(self, value: object) -> bool:
        return _plain(value) in self._snapshot()

    def index(self, value: Any, start: SupportsIndex = 0, stop: Any = None) -> int:
        """The first index of ``value``; :class:`ValueError` if it is absent."""
        return int(self._snapshot().index(_plain(value), start.__index__(), stop))

    def count(self, value: Any) -> int:
        """How many items equal ``value``."""
        return int(self._snapshot().count(_plain(value)))

    # -- writing (inside update() only) ----------------------------------------------

    @overload
    def __setitem__(self, i: SupportsIndex, value: T) -> None: ...
    @overload
    def __setitem__(self, i: slice, value: Iterable[T]) -> None: ...

    def __setitem__(self, i: SupportsIndex | slice, value: Any) -> None:
        session = self._im_check()
        if isinstance(i, slice):
            self._data[i] = [conform(x, session) for x in value]
        else:
            self._data[i] = conform(value, session)

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        del self._draft()[i]

    def insert(self, index: SupportsIndex, value: T) -> None:
        """Insert ``value`` before ``index``, as ``list.insert``."""
        session = self._im_check()
        self._data.insert(index, conform(value, session))

    def append(self, value: T) -> None:
        """Add ``value`` at the end."""
        session = self._im_check()
        self._data.append(conform(value, session))

    def extend(self, values: Iterable[T]) -> None:
        """Add ``values`` at the end."""
        session = self._im_check()
        data = self._data
        for value in list(values):
            data.append(conform(value, session))

    def pop(self, index: SupportsIndex = -1) -> T:
        """Remove and return the item at ``index`` (the last by default)."""
        data = self._draft()
        value = detached(data[index])
        del data[index]
        return value  # type: ignore[no-any-return]

    def remove(self, value: T) -> None:
        """Remove the first item equal to ``value``; :class:`ValueError` if none."""
        data = self._draft()
        del data[self.index(value)]

    def clear(self) -> None:
        """Remove every item."""
        del self._draft()[:]

    def reverse(self) -> None:
        """Reverse the items in place."""
        data = self._draft()
        data[:] = list(list_items(self._snapshot()))[::-1]

    def sort(
        self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False
    ) -> None:
        """Sort the items in place, as ``list.sort`` (``key`` sees the immutables)."""
        data = self._draft()
        pairs = [(wrap(x, LOCKED), x) for x in list_items(self._snapshot())]
        if key is None:
            pairs.sort(key=_first, reverse=reverse)
        else:
            pairs.sort(key=lambda pair: key(pair[0]), reverse=reverse)
        data[:] = [raw for _, raw in pairs]

    def __iadd__(self, other: Iterable[T]) -> Self:
        self.extend(other)
        return self

    def __imul__(self, n: SupportsIndex) -> Self:
        data = self._draft()
        if n.__index__() > 1 and any(
            isinstance(x, ImmutableBase) for x in list_items(self._snapshot())
        ):
            # One object in two places would be changed through both (shoobx
            # asserts the same).
            raise AssertionError(
                "a list holding custom immutables cannot repeat them in place"
            )
        data[:] = list(list_items(self._snapshot())) * n.__index__()
        return self

    # -- new lists -------------------------------------------------------------------

    def __add__(self, other: Iterable[T]) -> ImmutableList[T]:
        if self._im_through_append:  # through the subclass's append(), as shoobx
            return type(self)([*self, *other])
        items = list(list_items(self._snapshot()))
        items.extend(conform(x, LOCKED) for x in other)
        return type(self)._master(list_of_frozen(items))

    def __radd__(self, other: Iterable[T]) -> ImmutableList[T]:
        if self._im_through_append:
            return type(self)([*other, *self])
        items = [conform(x, LOCKED) for x in other]
        items.extend(list_items(self._snapshot()))
        return type(self)._master(list_of_frozen(items))

    def __mul__(self, n: SupportsIndex) -> ImmutableList[T]:
        if self._im_through_append:
            return type(self)([*self] * n.__index__())
        return type(self)._master(self._snapshot() * n)

    __rmul__ = __mul__

    def __lt__(self, other: Any) -> bool:
        return self._snapshot().__lt__(_plain(other))  # type: ignore[no-any-return]

    def __le__(self, other: Any) -> bool:
        return self._snapshot().__le__(_plain(other))  # type: ignore[no-any-return]

    def __gt__(self, other: Any) -> bool:
        return self._snapshot().__gt__(_plain(other))  # type: ignore[no-any-return]

    def __ge__(self, other: Any) -> bool:
        return self._snapshot().__ge__(_plain(other))  # type: ignore[no-any-return]


def _extend_through_append(self: ImmutableList[Any], values: Iterable[Any]) -> None:
    """Add ``values`` at the end, each through ``self.append()`` (as shoobx)."""
    self._im_check()
    for value in list(values):
        self.append(value)


def _plain(value: Any) -> Any:
    """An immutable's frozen value, to compare with the frozen items."""
    if isinstance(value, ContainerView):
        return value._snapshot()
    return value


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


register_view(FrozenList, ImmutableList._view)
register_view(ListDraft, ImmutableList._view)
