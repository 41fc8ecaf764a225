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

from statetrail.frozen import _splice, _vector
from statetrail.frozen._dict import FrozenDict, dict_raw, dict_set
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._hamt import MISSING
from statetrail.frozen._keys import check_key
from statetrail.frozen._list import FrozenList, list_of, list_vec
from statetrail.frozen._opaque import Opaque, unbox
from statetrail.frozen._set import FrozenSet
from statetrail.frozen._vector import Vec

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
#: A list draft logs at most this many edits; past it, a diff finds them.
_MAX_LOGGED = 256
#: Scalars a draft takes as they are (a diff compares them by type and ==).
_SCALARS = frozenset({str, int, float, bool, bytes, complex, type(None)})
#: Values that cannot change after they are put into a draft.
_SETTLED = _SCALARS | {FrozenDict, FrozenList, FrozenSet}


def _settled(value: Any) -> bool:
    """Whether ``value`` is frozen as it is: an immutable scalar or frozen container."""
    return type(value) in _SETTLED


def _opaque_change(old: Any, new: Any) -> bool:
    """Whether ``new`` in place of ``old`` changes something inside them.

    Both a dict or both a list: a diff finds what changed inside (a log would
    record the whole value replaced, and every path under it as touched).
    """
    t = type(old)
    return t is type(new) and (t is FrozenDict or t is FrozenList)


def _unchanged(old: Any, new: Any) -> bool:
    """Whether putting ``new`` where ``old`` was is no edit (as a diff would find)."""
    t = type(old)
    return old is new or (t is type(new) and t in _SCALARS and bool(old == new))


class Draft(Generic[F]):
    """Base of the three drafts: ``finish()`` returns the new frozen version."""

    __slots__ = ()

    def edits(self) -> list[tuple[tuple[Any, ...], Any, Any]] | None:
        """The edits made through this draft as ``(path, old, new)``, if known.

        ``None`` here: a set draft does not log its edits (a diff of the finished
        value finds them); :meth:`ListDraft.edits` and :meth:`DictDraft.edits`
        do.
        """
        return None

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
        value = dict_raw(self._base, key)
        if value is MISSING:
            raise KeyError(key)
        value = draft_of(value)
        if isinstance(value, Draft) or type(dict_raw(self._base, key)) is Opaque:
            changes[key] = value
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(key) is not str:
            check_key(key)  # no NaN key (see _keys)
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

    def edits(self) -> list[tuple[tuple[Any, ...], Any, Any]] | None:
        """The edits made through this draft and the drafts it handed out.

        A key set to a value that cannot change is a replace (an add for a new
        key, which goes last, as :meth:`finish` puts it), a key deleted a remove,
        and a nested draft's edits come under its key. ``None`` when any of them
        is not known exactly: a nested draft that does not know its own, a value
        that may still change, a dict or list put in place of another (a diff
        finds what changed inside), or a key deleted and set again (moved to the
        end).
        """
        if self._moved:
            return None
        base = self._base
        out: list[tuple[tuple[Any, ...], Any, Any]] = []
        for key, value in self._changes.items():
            old = dict_raw(base, key)
            if isinstance(value, Draft):
                inner = value.edits()
                if inner is None:
                    return None
                out += [((key, *path), a, b) for path, a, b in inner]
            elif value is _DELETED:
                if old is not MISSING:  # not a key this draft added and deleted
                    out.append(((key,), old, MISSING))
            elif not _settled(value) or _opaque_change(old, value):
                return None
            elif not _unchanged(old, value):
                out.append(((key,), old, value))
        return out

    def finish(self) -> FrozenDict[Any, Any]:
        """The new :class:`FrozenDict`; the original when nothing changed."""
        result = self._base
        moved = self._moved
        for key, value in self._changes.items():
            if value is _DELETED or key in moved:
                result = result.discarded(key)
            if value is not _DELETED:
                result = dict_set(result, key, finish_value(value))
        return result


class ListDraft(Draft[FrozenList[Any]], MutableSequence[Any]):
    """A mutable view of a :class:`FrozenList`.

    The draft edits a persistent vector of its own (a new version per edit, every
    one sharing all but a path with the last), so reading, writing, appending,
    inserting or deleting one item costs O(log n) and a slice O(log n) plus its
    items. Values that may still change (a nested draft handed out, a plain dict
    put in) wait in an overlay by index and are frozen at :meth:`finish`.
    """

    __slots__ = ("_base", "_edits", "_over", "_vec")

    def __init__(self, base: FrozenList[Any]) -> None:
        self._base = base
        self._vec: Vec = list_vec(base)
        # Index -> a value not frozen yet (a draft, a mutable value put in); the
        # vector holds a stale item at that index until finish() puts it there.
        self._over: dict[int, Any] = {}
        # The edits in order, as (path, old, new), while each is known exactly.
        self._edits: list[tuple[tuple[int, ...], Any, Any]] | None = []

    def __len__(self) -> int:
        return self._vec.size

    def _norm(self, i: SupportsIndex) -> int:
        n = self._vec.size
        j = to_index(i)  # TypeError for a float or str index, as list raises
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError("list index out of range")
        return j

    def _current(self, j: int) -> Any:
        """Item ``j`` as it stands, without handing out a draft of it."""
        over = self._over
        return over[j] if j in over else _vector.get(self._vec, j)

    def _note(self, j: int, old: Any, new: Any) -> None:
        """Log one edit at index ``j``, or stop logging when a value may change."""
        edits = self._edits
        if edits is None:
            return
        if (
            len(edits) >= _MAX_LOGGED
            or (new is not MISSING and not _settled(new))
            or (old is not MISSING and not _settled(old))
            or _opaque_change(old, new)
        ):
            self._edits = None
        else:
            edits.append(((j,), old, new))

    def _shift(self, at: int, by: int, gone: int = 0) -> None:
        """Move the overlay's indices from ``at + gone`` on by ``by``; drop the gone."""
        over = self._over
        if over:
            end = at + gone
            self._over = {
                (k + by if k >= end else k): v
                for k, v in over.items()
                if k < at or k >= end
            }

    @overload
    def __getitem__(self, i: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        j = self._norm(i)
        over = self._over
        if j in over:
            return over[j]
        raw = _vector.get(self._vec, j)
        value = draft_of(raw)
        if value is not raw:
            over[j] = value
            self._edits = None  # what is done to it is not seen here
        return value

    @overload
    def __setitem__(self, i: SupportsIndex, value: Any) -> None: ...
    @overload
    def __setitem__(self, i: slice, value: Iterable[Any]) -> None: ...

    def __setitem__(self, i: SupportsIndex | slice, value: Any) -> None:
        if isinstance(i, slice):
            self._set_slice(i, value)
            return
        j = self._norm(i)
        self._note(j, self._current(j), value)
        if _settled(value):
            self._over.pop(j, None)
            self._vec = _vector.put(self._vec, j, value)
        else:
            self._over[j] = value

    def _set_slice(self, s: slice, values: Iterable[Any]) -> None:
        new = list(values)
        start, stop, step = s.indices(len(self))
        if step != 1:
            targets = range(start, stop, step)
            if len(new) != len(targets):
                raise ValueError(
                    f"attempt to assign sequence of size {len(new)} "
                    f"to extended slice of size {len(targets)}"
                )
            for k, value in zip(targets, new, strict=True):
                self[k] = value
            return
        del self[start : max(start, stop)]
        if not new:
            return
        if len(new) > _MAX_LOGGED:
            self._edits = None
        if self._edits is not None:
            for k, value in enumerate(new, start):
                self._note(k, MISSING, value)
        self._shift(start, len(new))
        for k, value in enumerate(new, start):
            if not _settled(value):
                self._over[k] = value
        vec = self._vec
        middle = _vector.build(new)
        self._vec = _splice.concat(
            _splice.concat(_splice.take(vec, start), middle), _splice.drop(vec, start)
        )

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            targets = range(start, stop, step)
            if step == 1 and len(targets) > 1:
                if len(targets) > _MAX_LOGGED:
                    self._edits = None
                if self._edits is not None:
                    for j in targets:
                        self._note(start, self._current(j), MISSING)
                vec = self._vec
                self._vec = _splice.concat(
                    _splice.take(vec, start), _splice.drop(vec, stop)
                )
                self._shift(start, -len(targets), len(targets))
                return
            for j in sorted(targets, reverse=True):
                del self[j]
            return
        j = self._norm(i)
        self._note(j, self._current(j), MISSING)
        self._vec = _splice.delete(self._vec, j)
        self._shift(j, -1, 1)

    def insert(self, index: SupportsIndex, value: Any) -> None:
        """Insert ``value`` before ``index``, as ``list.insert``."""
        n = self._vec.size
        j = to_index(index)
        if j < 0:
            j = max(0, j + n)
        j = min(j, n)
        self._note(j, MISSING, value)
        self._shift(j, 1)
        if not _settled(value):
            self._over[j] = value
        self._vec = _splice.insert(self._vec, j, value)

    def append(self, value: Any) -> None:
        """Add ``value`` at the end."""
        j = self._vec.size
        self._note(j, MISSING, value)
        if not _settled(value):
            self._over[j] = value
        self._vec = _vector.append(self._vec, value)

    def clear(self) -> None:
        """Remove every item."""
        del self[:]

    def __eq__(self, other: object) -> bool:
        # Sequence defines no ==: compare as the list this draft stands for.
        if not isinstance(other, (list, ListDraft, FrozenList)):
            return NotImplemented
        return len(self) == len(other) and all(
            a is b or a == b for a, b in zip(self, other, strict=True)
        )

    def __repr__(self) -> str:
        return f"ListDraft({list(self)!r})"

    def edits(self) -> list[tuple[tuple[int, ...], Any, Any]] | None:
        """The edits made through this draft, in order, as ``(path, old, new)``.

        An insertion is ``((i,), MISSING, new)``, a deletion ``((i,), old,
        MISSING)``; indices are those of the list as each edit applies. ``None``
        when they are not known exactly: after a nested item was handed out (what
        is done to it is not seen here), a value that may still change was put
        in, a dict or list was put in place of another (a diff finds what changed
        inside), or after 256 edits.
        """
        edits = self._edits
        if edits is None:
            return None
        # An item set to itself (or an equal scalar) changes nothing: not an edit.
        return [edit for edit in edits if not _unchanged(edit[1], edit[2])]

    def finish(self) -> FrozenList[Any]:
        """The new :class:`FrozenList`; the original when nothing changed."""
        vec = self._vec
        for j, value in self._over.items():
            vec = _vector.put(vec, j, finish_value(value))
        base = self._base
        if vec is list_vec(base):
            return base
        old = list_vec(base)
        if (
            vec.size == old.size
            and next(_vector.changed_indices(old, vec), None) is None
        ):
            return base  # edits that cancelled out
        return list_of(vec)


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
