"""FrozenSet: an immutable set with structural sharing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from typing import TYPE_CHECKING, Any, TypeVar

from statetrail.frozen import _hamt, _hooks
from statetrail.frozen._dict import SMALL
from statetrail.frozen._hamt import MISSING
from statetrail.frozen._opaque import Opaque
from statetrail.frozen._refuse import refused

if TYPE_CHECKING:
    from statetrail.frozen._draft import SetDraft

__all__ = ["FrozenSet", "set_of"]

T = TypeVar("T")


def set_of(members: frozenset[Any]) -> FrozenSet[Any]:
    """A set of ``members``, frozen already (nothing is checked).

    Package-internal (issue 11): how the rest of statetrail builds a set it has
    frozen, instead of the private ``FrozenSet._of``.
    """
    self: FrozenSet[Any] = object.__new__(FrozenSet)
    self._init(members)
    return self


class FrozenSet(Set[T]):
    """An immutable set whose versions share their unchanged parts.

    It equals any set with the same members (``set`` and ``frozenset`` included),
    always hashes, supports the set operators, and ``added``/``discarded`` return
    new sets; ``add``, ``discard``, ``|=`` and the other in-place names raise
    :class:`~statetrail.FrozenError`. Small sets keep a ``frozenset``; larger ones
    a hash trie.

    >>> s = FrozenSet({6})
    >>> s.discarded(6).added(9)
    FrozenSet({9})
    >>> s == {6}
    True
    """

    __slots__ = ("_hashed", "_len", "_root", "_small")

    _small: frozenset[Any] | None
    _root: _hamt.Node
    _len: int
    _hashed: int | None

    def __init__(self, items: Iterable[T] = (), /) -> None:
        freeze_value = _hooks.freeze_value
        self._init(frozenset(freeze_value(x) for x in items))

    def _init(self, members: frozenset[Any]) -> None:
        self._hashed = None
        self._len = len(members)
        if self._len <= SMALL:
            self._small = members
            self._root = _hamt.EMPTY
        else:
            self._small = None
            self._root = _hamt.build([(hash(m), m, None) for m in members])

    @classmethod
    def _of(cls, members: frozenset[Any]) -> FrozenSet[Any]:
        new = object.__new__(cls)
        new._init(members)
        return new

    @classmethod
    def _of_root(cls, root: _hamt.Node, length: int) -> FrozenSet[Any]:
        if length <= SMALL:
            return cls._of(frozenset(_hamt.iter_keys(root)))
        new = object.__new__(cls)
        new._small = None
        new._root = root
        new._len = length
        new._hashed = None
        return new

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> FrozenSet[Any]:
        # Used by the Set mixins (``|``, ``&``, ``-``, ``^``).
        return cls(it)

    def __contains__(self, item: object) -> bool:
        small = self._small
        if small is not None:
            return item in small
        return _hamt.lookup(self._root, hash(item), item, MISSING) is not MISSING

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        small = self._small
        members = iter(small) if small is not None else _hamt.iter_keys(self._root)
        for member in members:
            # A member of a type statetrail cannot freeze is read as a fresh copy.
            yield member.copy() if type(member) is Opaque else member

    def added(self, item: T) -> FrozenSet[T]:
        """A new set with ``item`` (frozen) added; this set if already a member."""
        item = _hooks.freeze_value(item)
        small = self._small
        if small is not None:
            if item in small:
                return self
            return self._of(small | {item})
        root, _ = _hamt.assoc(self._root, 0, hash(item), item, None)
        if root is self._root:
            return self
        return self._of_root(root, self._len + 1)

    def discarded(self, item: T) -> FrozenSet[T]:
        """A new set without ``item``; this set when it is not a member."""
        # Frozen as add() freezes it, so a boxed member is found by its box.
        item = _hooks.freeze_value(item)
        small = self._small
        if small is not None:
            if item not in small:
                return self
            return self._of(small - {item})
        root = _hamt.dissoc(self._root, 0, hash(item), item)
        if root is self._root:
            return self
        return self._of_root(root, self._len - 1)

    def removed(self, item: T) -> FrozenSet[T]:
        """A new set without ``item``; :class:`KeyError` if it is not a member."""
        new = self.discarded(item)
        if new is self:
            raise KeyError(item)
        return new

    def updated(self, *others: Iterable[T]) -> FrozenSet[T]:
        """A new set with the members of ``others`` added."""
        result = self
        for other in others:
            for item in other:
                result = result.added(item)
        return result

    def draft(self) -> SetDraft:
        """A mutable draft of this set; ``draft.finish()`` gives the new version."""
        from statetrail.frozen._draft import SetDraft

        return SetDraft(self)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenSet):
            if self._len != other._len:
                return False
            if self._small is not None and other._small is not None:
                return self._small == other._small
            if self._small is None and other._small is None:
                return _hamt.equal_nodes(self._root, other._root)
        elif not isinstance(other, Set):
            return NotImplemented
        if len(other) != self._len:
            return False
        return all(item in other for item in self)

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        h = self._hashed
        if h is None:
            # Equal to a frozenset with the same members, so it must hash alike.
            h = self._hashed = hash(frozenset(self))
        return h

    # -- the names of in-place changes, refused (issue 10) ------------------------

    add = refused("add", "s.added(item)")
    discard = refused("discard", "s.discarded(item)")
    remove = refused("remove", "s.removed(item)")
    update = refused("update", "s.updated(items) or s | other")
    pop = refused("pop", "s.discarded(item)")
    clear = refused("clear", "FrozenSet()")
    difference_update = refused("difference_update", "s - other")
    intersection_update = refused("intersection_update", "s & other")
    symmetric_difference_update = refused("symmetric_difference_update", "s ^ other")
    __ior__ = refused("|=", "s | other, bound to a new name")
    __iand__ = refused("&=", "s & other, bound to a new name")
    __isub__ = refused("-=", "s - other, bound to a new name")
    __ixor__ = refused("^=", "s ^ other, bound to a new name")

    def __repr__(self) -> str:
        if not self._len:
            return "FrozenSet()"
        return f"FrozenSet({{{', '.join(repr(x) for x in self)}}})"

    def __reduce__(self) -> tuple[Any, tuple[set[Any]]]:
        return (FrozenSet, (set(self),))

    def __copy__(self) -> FrozenSet[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenSet[T]:
        return self
