"""ImmutableSet: a locked set, backed by a FrozenSet, changed only by update()."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet
from collections.abc import Set as AbstractSet
from itertools import chain
from typing import Any, ClassVar, Self, TypeVar

from statetrail.frozen import FrozenSet, SetDraft
from statetrail.frozen._set import set_of
from statetrail.immutable._base import LOCKED, member_session
from statetrail.immutable._conform import conform, register_view, wrap
from statetrail.immutable._data import SetData
from statetrail.immutable._view import ContainerView

__all__ = ["ImmutableSet"]

T = TypeVar("T")


class ImmutableSet(ContainerView, MutableSet[T]):
    """A set that cannot be changed once created, except through ``update()``.

    It equals any set with the same members, hashes like the ``frozenset`` it
    equals, pickles, and every write (``add``, ``discard``, ``pop``, ``clear``,
    ``|=``, ``&=``, ``^=``, ``-=`` ...) raises ``AttributeError('Cannot update
    locked immutable object.')`` outside an ``update()`` block. The operators
    ``|``, ``&``, ``^`` and ``-`` make new locked sets.

    >>> from statetrail.immutable import ImmutableSet, update
    >>> data = ImmutableSet({6})
    >>> with update(data) as data:
    ...     data.discard(6)
    ...     data.add(9)
    >>> data
    {9}
    """

    __slots__ = ()

    _frozen_type: ClassVar[type] = FrozenSet
    _draft_type: ClassVar[type] = SetDraft
    _storage_name: ClassVar[str] = "__data__"
    #: Whether this class overrides ``add`` or ``discard``: then, as in
    #: shoobx.immutable, the constructor (so ``|``, ``&``, ``^``, ``-`` too),
    #: ``|=``, ``-=``, ``&=``, ``^=``, ``remove()``, ``pop()``, ``clear()`` and
    #: the ``*_update()`` methods go through them.
    _im_through_members: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.add is ImmutableSet.add and cls.discard is ImmutableSet.discard:
            return
        cls._im_through_members = True
        # The plain class keeps its direct methods (no check on the fast path); a
        # subclass that overrides add or discard gets the ones that call them,
        # unless it (or a class between) defines its own.
        for name, method in _THROUGH_MEMBERS.items():
            if getattr(cls, name) is getattr(ImmutableSet, name):
                setattr(cls, name, method)

    def __init__(
        self,
        items: Iterable[T] = (),
        /,
        *,
        im_finalize: bool = True,
        im_mode: str | None = None,
    ) -> None:
        if type(items) is FrozenSet:
            data = items
        elif self._im_through_members:
            # shoobx.immutable puts each member through the subclass's add().
            self._init(set_of(frozenset()), False, im_mode)
            for value in list(items):
                self.add(value)
            if im_finalize:
                self.__im_finalize__()
            return
        elif isinstance(items, ImmutableSet):
            data = items._snapshot()
        else:
            data = set_of(frozenset(conform(x, LOCKED) for x in items))
        self._init(data, im_finalize, im_mode)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> Self:  # type: ignore[override]
        # The Set mixins build the results of |, &, ^ and - with this; through a
        # subclass's add(), as shoobx's (MutableSet's cls(it)), if it has one.
        if cls._im_through_members:
            return cls(it)
        return cls._master(set_of(frozenset(conform(x, LOCKED) for x in it)))

    # The Set mixins build these with _from_iterable; declared for the type only.
    def __or__(self, other: AbstractSet[Any]) -> Self:
        return super().__or__(other)  # type: ignore[return-value]

    def __and__(self, other: AbstractSet[Any]) -> Self:
        return super().__and__(other)  # type: ignore[return-value]

    def __sub__(self, other: AbstractSet[Any]) -> Self:
        return super().__sub__(other)  # type: ignore[return-value]

    def __xor__(self, other: AbstractSet[Any]) -> Self:
        return super().__xor__(other)  # type: ignore[return-value]

    @property
    def __data__(self) -> set[T]:
        """The members as a plain ``set``: shoobx's ``ImmutableSet.__data__``.

        A copy of the members when read. Its writes are made on this set
        through ``ImmutableSet``'s own methods, beneath a subclass's overrides as with
        ``UserDict``: inside an ``update()`` block they land in the new version, on
        a locked set they raise ``FrozenError``. ``s.__data__ = {...}`` inside the
        block replaces every member.
        """
        return SetData.of(self, ImmutableSet)

    def _im_replace(self, content: Any) -> None:
        members = list(content)  # read before clearing: it may be __data__
        # Beneath a subclass's overrides, as shoobx's ``self.__data__ = ...`` is.
        ImmutableSet.clear(self)
        ImmutableSet.update(self, members)

    # -- reading -------------------------------------------------------------------

    def __contains__(self, value: object) -> bool:
        return _member(value) in self._read()

    def __iter__(self) -> Iterator[T]:
        # Members are hashed by their content, so they stay locked even inside an
        # update() block (showing the set's state): to change one, discard it and
        # add the new one.
        members = member_session(self.__im_session__)
        for value in self._read():
            yield wrap(value, members)

    def __len__(self) -> int:
        return len(self._read())

    def issubset(self, other: Iterable[Any]) -> bool:
        """Whether every member is in ``other``."""
        return self <= _as_set(other)

    def issuperset(self, other: Iterable[Any]) -> bool:
        """Whether every member of ``other`` is in this set."""
        return self >= _as_set(other)

    def union(self, *others: Iterable[Any]) -> Self:
        """A new set with the members of this set and of ``others``."""
        return self._from_iterable(chain(self, *others))

    def intersection(self, *others: Iterable[Any]) -> Self:
        """A new set with the members common to this set and all ``others``."""
        sets = [_as_set(o) for o in others]
        return self._from_iterable(x for x in self if all(x in s for s in sets))

    def difference(self, *others: Iterable[Any]) -> Self:
        """A new set with the members of this set that are in none of ``others``."""
        sets = [_as_set(o) for o in others]
        return self._from_iterable(x for x in self if not any(x in s for s in sets))

    def symmetric_difference(self, other: Iterable[Any]) -> Self:
        """A new set with the members in exactly one of this set and ``other``."""
        return self ^ _as_set(other)

    # -- writing (inside update() only) ----------------------------------------------

    def add(self, value: T) -> None:
        """Add ``value`` (conformed to an immutable)."""
        session = self._im_check()
        self._data.add(conform(value, session))

    def discard(self, value: T) -> None:
        """Remove ``value`` if it is a member."""
        self._draft().discard(_member(value))

    def remove(self, value: T) -> None:
        """Remove ``value``; :class:`KeyError` if it is not a member."""
        data = self._draft()
        member = _member(value)
        if member not in data:
            raise KeyError(value)
        data.discard(member)

    def pop(self) -> T:
        """Remove and return some member; :class:`KeyError` if the set is empty."""
        data = self._draft()
        for member in data:
            data.discard(member)
            return wrap(member, LOCKED)  # type: ignore[no-any-return]
        raise KeyError("pop from an empty set")

    def clear(self) -> None:
        """Remove every member."""
        data = self._draft()
        for member in list(data):
            data.discard(member)

    def update(self, *others: Iterable[T]) -> None:
        """Add the members of ``others``."""
        session = self._im_check()
        data = self._data
        for other in others:
            for value in list(other):
                data.add(conform(value, session))

    def difference_update(self, *others: Iterable[Any]) -> None:
        """Remove the members of ``others``."""
        data = self._draft()
        for other in others:
            for value in list(other):
                data.discard(_member(value))

    def intersection_update(self, *others: Iterable[Any]) -> None:
        """Keep only the members found in every one of ``others``."""
        data = self._draft()
        sets = [_as_set(o) for o in others]
        for member in list(data):
            if not all(member in s for s in sets):
                data.discard(member)

    def symmetric_difference_update(self, other: Iterable[Any]) -> None:
        """Keep the members in exactly one of this set and ``other``."""
        session = self._im_check()
        data = self._data
        for value in set(_as_set(other)):
            member = _member(value)
            if member in data:
                data.discard(member)
            else:
                data.add(conform(value, session))

    def __ior__(self, other: AbstractSet[Any]) -> Self:
        self.update(other)
        return self

    def __iand__(self, other: AbstractSet[Any]) -> Self:
        self.intersection_update(other)
        return self

    def __ixor__(self, other: AbstractSet[Any]) -> Self:
        self.symmetric_difference_update(other)
        return self

    def __isub__(self, other: AbstractSet[Any]) -> Self:
        self.difference_update(other)
        return self


def _update_through_members(self: ImmutableSet[Any], *others: Iterable[Any]) -> None:
    """Add the members of ``others``, each through ``self.add()``."""
    self._im_check()
    for other in others:
        for value in list(other):
            self.add(value)


def _remove_through_members(self: ImmutableSet[Any], value: Any) -> None:
    """Remove ``value`` through ``self.discard()``; KeyError if it is absent."""
    self._im_check()
    if value not in self:
        raise KeyError(value)
    self.discard(value)


def _pop_through_members(self: ImmutableSet[Any]) -> Any:
    """Remove some member through ``self.discard()``, and return it."""
    self._im_check()
    for value in self:
        self.discard(value)
        return value
    raise KeyError("pop from an empty set")


def _clear_through_members(self: ImmutableSet[Any]) -> None:
    """Remove every member, each through ``self.discard()``."""
    self._im_check()
    for value in list(self):
        self.discard(value)


def _difference_update_through_members(
    self: ImmutableSet[Any], *others: Iterable[Any]
) -> None:
    """Remove the members of ``others``, each through ``self.discard()``."""
    self._im_check()
    for other in others:
        for value in list(other):
            self.discard(value)


def _intersection_update_through_members(
    self: ImmutableSet[Any], *others: Iterable[Any]
) -> None:
    """Keep the members found in every one of ``others`` (``self.discard()``)."""
    self._im_check()
    sets = [_as_set(o) for o in others]
    for value in list(self):
        if not all(value in s for s in sets):
            self.discard(value)


def _symmetric_difference_update_through_members(
    self: ImmutableSet[Any], other: Iterable[Any]
) -> None:
    """Keep the members in exactly one of this set and ``other``.

    Each change goes through ``self.add()`` or ``self.discard()``.
    """
    self._im_check()
    for value in list(set(_as_set(other))):
        if value in self:
            self.discard(value)
        else:
            self.add(value)


#: The methods of a subclass that overrides ``add`` or ``discard``: they go
#: through them, as shoobx.immutable's (``MutableSet``'s) do; ``|=``, ``-=``,
#: ``&=`` and ``^=`` call these.
_THROUGH_MEMBERS: dict[str, Any] = {
    "update": _update_through_members,
    "remove": _remove_through_members,
    "pop": _pop_through_members,
    "clear": _clear_through_members,
    "difference_update": _difference_update_through_members,
    "intersection_update": _intersection_update_through_members,
    "symmetric_difference_update": _symmetric_difference_update_through_members,
}


def _member(value: Any) -> Any:
    """What the frozen set holds for ``value``: an immutable's frozen value."""
    if isinstance(value, ContainerView):
        return value._snapshot()
    return value


def _as_set(values: Iterable[Any]) -> AbstractSet[Any]:
    if isinstance(values, AbstractSet):
        return values
    return set_of(frozenset(_member(v) for v in values))


register_view(FrozenSet, ImmutableSet._view)
register_view(SetDraft, ImmutableSet._view)
