"""Drafts: mutable views of a frozen value that become one new version when done.

A draft records only what is changed. Reading a nested container through a draft
hands out a draft of that container, so ``draft["a"]["b"] = 1`` works as it would
on plain dicts. :meth:`~Draft.finish` applies the changes to the frozen original,
so everything not touched is shared with it, and an untouched draft finishes as
the very same object.
"""

from __future__ import annotations

from collections.abc import (
    Iterable,
    Iterator,
    MutableMapping,
    MutableSequence,
    MutableSet,
)
from contextlib import contextmanager
from operator import index as to_index
from typing import Any, Generic, SupportsIndex, TypeVar, overload

from statetrail.frozen._dict import FrozenDict
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._hamt import MISSING
from statetrail.frozen._list import FrozenList
from statetrail.frozen._opaque import Opaque, unbox
from statetrail.frozen._set import FrozenSet

__all__ = [
    "DictDraft",
    "Draft",
    "ListDraft",
    "SetDraft",
    "draft_of",
    "edit",
    "finish_value",
]

F = TypeVar("F")
_DELETED: Any = object()


class Draft(Generic[F]):
    """Base of the three drafts: ``finish()`` returns the new frozen version."""

    __slots__ = ()

    def finish(self) -> F:
        """The frozen value with this draft's changes applied."""
        raise NotImplementedError  # pragma: no cover - every draft overrides it


def draft_of(value: Any) -> Any:
    """A draft for a frozen container; any other value is returned as it is."""
    t = type(value)
    if t is FrozenDict:
        return DictDraft(value)
    if t is FrozenList:
        return ListDraft(value)
    if t is FrozenSet:
        return SetDraft(value)
    if t is Opaque:
        return value.copy()
    return value


def finish_value(value: Any) -> Any:
    """The frozen form of a value put into a draft (finishing nested drafts)."""
    if isinstance(value, Draft):
        return value.finish()
    return freeze_value(value)


class DictDraft(Draft[FrozenDict[Any, Any]], MutableMapping[Any, Any]):
    """A mutable view of a :class:`FrozenDict`, in insertion order as a dict.

    Changes are kept in a plain dict beside the frozen original; a key of the
    original deleted and set again is noted, since it moves to the end.
    """

    __slots__ = ("_base", "_changes", "_moved")

    def __init__(self, base: FrozenDict[Any, Any]) -> None:
        self._base = base
        self._changes: dict[Any, Any] = {}
        # Keys of the original that were deleted and set again: now at the end.
        self._moved: set[Any] = set()

    def __getitem__(self, key: Any) -> Any:
        changes = self._changes
        if key in changes:
            value = changes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        value = self._base._raw(key)
        if value is MISSING:
            raise KeyError(key)
        value = draft_of(value)
        if isinstance(value, Draft) or type(self._base._raw(key)) is Opaque:
            changes[key] = value
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        changes = self._changes
        if changes.get(key, MISSING) is _DELETED:
            # Deleted and set again: to the end, as in a dict.
            del changes[key]
            if key in self._base:
                self._moved.add(key)
        changes[key] = value

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self._changes[key] = _DELETED

    def __contains__(self, key: object) -> bool:
        changes = self._changes
        if key in changes:
            return changes[key] is not _DELETED
        return key in self._base

    def __iter__(self) -> Iterator[Any]:
        changes, moved, base = self._changes, self._moved, self._base
        for key in base:
            if key not in moved and changes.get(key, MISSING) is not _DELETED:
                yield key
        for key, value in changes.items():
            if value is not _DELETED and (key in moved or key not in base):
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last ``(key, value)`` pair, as ``dict.popitem``."""
        for key in reversed(list(self)):
            value = self[key]
            del self[key]
            return key, value
        raise KeyError("popitem(): dictionary is empty")

    def __repr__(self) -> str:
        return f"DictDraft({dict(self.items())!r})"

    def finish(self) -> FrozenDict[Any, Any]:
        """The new :class:`FrozenDict`; the original when nothing changed."""
        result = self._base
        moved = self._moved
        for key, value in self._changes.items():
            if value is _DELETED or key in moved:
                result = result.discarded(key)
            if value is not _DELETED:
                result = result._set(key, finish_value(value))
        return result


class ListDraft(Draft[FrozenList[Any]], MutableSequence[Any]):
    """A mutable view of a :class:`FrozenList`.

    Item reads, writes and appends are kept as an overlay on the frozen list, so a
    change to one item of a long list costs O(log n); an insertion or deletion in
    the middle copies the items into a plain list first.
    """

    __slots__ = ("_appended", "_base", "_items", "_sets")

    def __init__(self, base: FrozenList[Any]) -> None:
        self._base = base
        self._sets: dict[int, Any] = {}
        self._appended: list[Any] = []
        self._items: list[Any] | None = None

    def _materialize(self) -> list[Any]:
        items = self._items
        if items is None:
            items = list(self._base._raw_iter())
            for i, value in self._sets.items():
                items[i] = value
            items.extend(self._appended)
            self._items = items
            self._sets = {}
            self._appended = []
        return items

    def __len__(self) -> int:
        if self._items is not None:
            return len(self._items)
        return len(self._base) + len(self._appended)

    def _norm(self, i: SupportsIndex) -> int:
        n = len(self)
        j = to_index(i)  # TypeError for a float or str index, as list raises
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError("list index out of range")
        return j

    @overload
    def __getitem__(self, i: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        j = self._norm(i)
        items = self._items
        if items is not None:
            value = items[j]
            if not isinstance(value, Draft):
                drafted = draft_of(value)
                if drafted is not value:
                    items[j] = drafted
                value = drafted
            return value
        n = len(self._base)
        if j >= n:
            return self._appended[j - n]
        if j in self._sets:
            return self._sets[j]
        raw = self._base._raw(j)
        value = draft_of(raw)
        if value is not raw:
            self._sets[j] = value
        return value

    @overload
    def __setitem__(self, i: SupportsIndex, value: Any) -> None: ...
    @overload
    def __setitem__(self, i: slice, value: Iterable[Any]) -> None: ...

    def __setitem__(self, i: SupportsIndex | slice, value: Any) -> None:
        if isinstance(i, slice):
            self._materialize()[i] = value
            return
        j = self._norm(i)
        if self._items is not None:
            self._items[j] = value
            return
        n = len(self._base)
        if j >= n:
            self._appended[j - n] = value
        else:
            self._sets[j] = value

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        del self._materialize()[i]

    def insert(self, index: SupportsIndex, value: Any) -> None:
        """Insert ``value`` before ``index``, as ``list.insert``."""
        if self._items is None and to_index(index) >= len(self):
            self._appended.append(value)
            return
        self._materialize().insert(index, value)

    def append(self, value: Any) -> None:
        """Add ``value`` at the end."""
        if self._items is not None:
            self._items.append(value)
        else:
            self._appended.append(value)

    def __eq__(self, other: object) -> bool:
        # Sequence defines no ==: compare as the list this draft stands for.
        if not isinstance(other, (list, ListDraft, FrozenList)):
            return NotImplemented
        return len(self) == len(other) and all(
            a is b or a == b for a, b in zip(self, other, strict=True)
        )

    def __repr__(self) -> str:
        return f"ListDraft({list(self)!r})"

    def finish(self) -> FrozenList[Any]:
        """The new :class:`FrozenList`; the original when nothing changed."""
        if self._items is not None:
            new = [finish_value(x) for x in self._items]
            base = self._base
            if len(new) == len(base) and all(
                a is b for a, b in zip(new, base._raw_iter(), strict=True)
            ):
                return base
            return FrozenList._of_frozen(new)
        result = self._base
        for i, value in self._sets.items():
            result = result._set(i, finish_value(value))
        if self._appended:
            result = result.extended(finish_value(x) for x in self._appended)
        return result


class SetDraft(Draft[FrozenSet[Any]], MutableSet[Any]):
    """A mutable view of a :class:`FrozenSet`."""

    __slots__ = ("_added", "_base", "_removed")

    def __init__(self, base: FrozenSet[Any]) -> None:
        self._base = base
        self._added: set[Any] = set()
        self._removed: set[Any] = set()

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> set[Any]:
        # The Set operators (draft - other, draft & other, ...) build their result
        # with this; a draft cannot be made from an iterable, a plain set can.
        return set(it)

    def __contains__(self, item: object) -> bool:
        if item in self._added:
            return True
        return item in self._base and item not in self._removed

    def __iter__(self) -> Iterator[Any]:
        for item in self._base:
            if item not in self._removed:
                yield item
        for item in self._added:
            if item not in self._base:
                yield unbox(item)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def add(self, value: Any) -> None:
        """Add ``value`` to the set."""
        value = freeze_value(value)
        self._removed.discard(value)
        if value not in self._base:
            self._added.add(value)

    def discard(self, value: Any) -> None:
        """Remove ``value`` if present."""
        value = freeze_value(value)  # as add() froze it
        self._added.discard(value)
        if value in self._base:
            self._removed.add(value)

    def __repr__(self) -> str:
        return f"SetDraft({set(self)!r})"

    def finish(self) -> FrozenSet[Any]:
        """The new :class:`FrozenSet`; the original when nothing changed."""
        result = self._base
        for item in self._removed:
            result = result.discarded(item)
        for item in self._added:
            result = result.added(item)
        return result


@contextmanager
def edit(value: Any) -> Iterator[Any]:
    """Edit a frozen container through a mutable draft; the result is on the draft.

    >>> from statetrail.frozen import edit, freeze
    >>> state = freeze({"job": {"bins": 10}})
    >>> with edit(state) as draft:
    ...     draft["job"]["bins"] = 12
    ...     draft["job"]["sorted"] = 1
    >>> draft.finish()
    FrozenDict({'job': FrozenDict({'bins': 12, 'sorted': 1})})
    >>> state["job"]["bins"]
    10

    An exception inside the block propagates and no new version is made.
    """
    drafted = draft_of(freeze_value(value))
    if not isinstance(drafted, Draft):
        raise TypeError(
            "edit() takes a dict, list or set (frozen or not), "
            f"not {type(value).__name__}"
        )
    yield drafted
