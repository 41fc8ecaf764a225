"""Three-way merge of frozen values: what both sides changed since a common base.

:func:`merge3` takes the value at the common ancestor (``base``) and the two
values that grew from it (``ours`` and ``theirs``) and returns one value with
both sides' changes, plus the places where the two sides disagree. It works on
the changes, not on the whole values: theirs' changes are found with the
structural diff (:func:`~statetrail.diff.dict_changes`,
:func:`~statetrail.diff.list_hunks` for both sides of a list), which skips the
subtrees a side shares with the base; ours' value is looked up at each key
theirs changed; and the result is ``ours`` with ``theirs``' changes written
into it. Merging two versions of a 10,000-key state with 100 changes each costs
what the 200 changes cost.

The rules (docs/merge.md has them with examples), at every place in the tree:

1. A side that did not change a place (the same object as the base, or equal and
   of the same types) takes the other side's value there.
2. Both sides changed it to the same value: taken once.
3. Both changed a dict (a dict on all three sides): merged key by key, with these
   rules for each key. A key deleted on one side and changed on the other, or
   added on both with different values, is a conflict.
4. Both changed a list (a list on all three sides): each side's edits become
   hunks of the base list (a run of base items replaced by new ones; an
   insertion replaces none; a run of deletions is one hunk per item). Hunks of
   the two sides that overlap, or two insertions at the same place, form one
   cluster; hunks that only touch combine (an insertion before an item the
   other side edited goes before it).
   A cluster made on one side only is applied; one whose two sides give the
   same items is applied once; one that is an in-place change of the same
   single item on both sides is merged as a value (rule 1 to 5 at that index);
   any other cluster is a conflict on that run of items (``span``).
5. Both changed a set: the members the other side added or removed are added to
   or removed from ours (sets never conflict).
6. Anything else changed differently on each side is a conflict at that path.

Where a conflict is, the merged value holds what ``resolve`` gives for it, or
ours when there is no ``resolve``.

>>> from statetrail.frozen import freeze
>>> base = freeze({"bins": 10, "sorted": 0, "log": ["a", "b"]})
>>> ours = freeze({"bins": 12, "sorted": 0, "log": ["a", "b", "c"]})
>>> theirs = freeze({"bins": 10, "sorted": 1, "log": ["z", "a", "b"]})
>>> merged, conflicts = merge3(base, ours, theirs)
>>> merged, conflicts
(FrozenDict({'bins': 12, 'sorted': 1, 'log': FrozenList(['z', 'a', 'b', 'c'])}), [])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from statetrail.diff import dict_changes, list_hunks, list_items, same_value
from statetrail.frozen import MISSING, FrozenDict, FrozenList, FrozenSet
from statetrail.frozen._dict import stored_value
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._opaque import unbox
from statetrail.paths import Path, format_path

__all__ = ["MergeConflict", "Resolver", "merge3", "resolver"]

Hunk = tuple[int, int, list[Any]]


class MergeConflict:
    """One place both sides of a merge changed differently.

    ``path`` is where (a tuple of keys and list indices, into the base value);
    ``base``, ``ours`` and ``theirs`` are the three values there
    (:data:`~statetrail.frozen.MISSING` where a side has no value: a deleted or
    never-added key). When ``span`` is true the conflict is on a run of list
    items starting at base index ``path[-1]``: the three values are lists of
    items, and a resolution is the list of items to put in their place.
    Two conflicts are equal when their paths are and their values are equal
    and of the same types, frozen or not.
    """

    __slots__ = ("_base", "_ours", "_path", "_span", "_theirs")

    def __init__(
        self, path: Path, base: Any, ours: Any, theirs: Any, *, span: bool = False
    ) -> None:
        self._path = path
        self._base = base
        self._ours = ours
        self._theirs = theirs
        self._span = span

    @property
    def path(self) -> Path:
        """Where the two sides disagree, as a tuple of keys."""
        return self._path

    @property
    def dotted(self) -> str:
        """The path in dot spelling."""
        return format_path(self._path)

    @property
    def base(self) -> Any:
        """The value at the common ancestor (``MISSING`` if it had none)."""
        return unbox(self._base)

    @property
    def ours(self) -> Any:
        """The value on the branch merged into (``MISSING``: deleted there)."""
        return unbox(self._ours)

    @property
    def theirs(self) -> Any:
        """The value on the branch merged from (``MISSING``: deleted there)."""
        return unbox(self._theirs)

    @property
    def span(self) -> bool:
        """Whether the values are runs of list items (see the class docstring)."""
        return self._span

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MergeConflict):
            return NotImplemented
        return (
            self._path == other._path
            and self._span == other._span
            and all(
                a is b
                or (
                    a is not MISSING
                    and b is not MISSING
                    and same_value(freeze_value(a), freeze_value(b))
                )
                for a, b in (
                    (self._base, other._base),
                    (self._ours, other._ours),
                    (self._theirs, other._theirs),
                )
            )
        )

    def __hash__(self) -> int:
        return hash(self._path)

    def __repr__(self) -> str:
        return (
            f"MergeConflict({self.dotted!r}, base={self._base!r}, ours={self._ours!r}, "
            f"theirs={self._theirs!r}{', span=True' if self._span else ''})"
        )


#: Given a conflict, the value to merge in at its path (``MISSING``: no value).
Resolver = Callable[[MergeConflict], Any]


def _ours(conflict: MergeConflict) -> Any:
    return conflict._ours  # noqa: SLF001 - this module's own class


def _theirs(conflict: MergeConflict) -> Any:
    return conflict._theirs  # noqa: SLF001 - this module's own class


def resolver(resolve: str | Resolver | None) -> Resolver | None:
    """The callable for a ``resolve=`` argument: ``"ours"``, ``"theirs"``, a callable.

    Raises:
        ValueError: a string that is neither ``"ours"`` nor ``"theirs"``.
        TypeError: anything else that is not callable.
    """
    if resolve is None:
        return None
    if isinstance(resolve, str):
        if resolve == "ours":
            return _ours
        if resolve == "theirs":
            return _theirs
        raise ValueError(f'resolve is "ours", "theirs" or a callable, not {resolve!r}')
    if not callable(resolve):
        raise TypeError(
            f'resolve is "ours", "theirs" or a callable, not {type(resolve).__name__}'
        )
    return resolve


def merge3(
    base: Any, ours: Any, theirs: Any, resolve: Resolver | None = None
) -> tuple[Any, list[MergeConflict]]:
    """Merge ``ours`` and ``theirs`` (frozen), which both grew from ``base``.

    Returns the merged value and every conflict found, in path order. At a
    conflict the merged value holds ``resolve(conflict)`` (frozen), or ours
    when ``resolve`` is ``None``. The rules are in the module docstring.
    """
    conflicts: list[MergeConflict] = []
    merged = _Merge(resolve, conflicts).value(base, ours, theirs, ())
    return merged, conflicts


class _Merge:
    """One merge: the resolver and the conflicts found so far."""

    __slots__ = ("conflicts", "resolve")

    def __init__(
        self, resolve: Resolver | None, conflicts: list[MergeConflict]
    ) -> None:
        self.resolve = resolve
        self.conflicts = conflicts

    def conflict(self, conflict: MergeConflict) -> Any:
        """Note ``conflict``; the value to merge in for it."""
        self.conflicts.append(conflict)
        if self.resolve is None:
            return conflict._ours  # noqa: SLF001 - this module's own class
        value = self.resolve(conflict)
        if conflict.span:
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise TypeError(
                    f"the resolution of the list items at {conflict.dotted or '<root>'}"
                    f" is a list of items, not {type(value).__name__}"
                )
            return FrozenList(value)
        return value if value is MISSING else freeze_value(value)

    def value(self, base: Any, ours: Any, theirs: Any, path: Path) -> Any:
        """The merged value at ``path``."""
        if ours is theirs or theirs is base:
            return ours
        if ours is base:
            return theirs
        kind = type(base)
        if kind is type(ours) and kind is type(theirs):
            # Containers merge by their changes, which finds an unchanged side
            # (or the same change on both) without comparing whole values.
            if kind is FrozenDict:
                return self.merge_dict(base, ours, theirs, path)
            if kind is FrozenList:
                return self.merge_list(base, ours, theirs, path)
            if kind is FrozenSet:
                return (ours | (theirs - base)) - (base - theirs)
        if base is not MISSING:
            if same_value(base, theirs):
                return ours
            if same_value(base, ours):
                return theirs
        if ours is not MISSING and theirs is not MISSING and same_value(ours, theirs):
            return ours
        return self.conflict(MergeConflict(path, base, ours, theirs))

    def merge_dict(
        self,
        base: FrozenDict[Any, Any],
        ours: FrozenDict[Any, Any],
        theirs: FrozenDict[Any, Any],
        path: Path,
    ) -> FrozenDict[Any, Any]:
        """Ours with theirs' changed keys merged in (rule 3)."""
        merged = ours
        for key, old, new in dict_changes(base, theirs):
            # Only theirs is diffed: ours' value at each key theirs changed is
            # looked up, and merged when ours changed it too.
            mine = stored_value(ours, key)
            if mine is not old:
                new = self.value(old, mine, new, (*path, key))
            merged = merged.discarded(key) if new is MISSING else merged.set(key, new)
        return merged

    def merge_list(
        self,
        base: FrozenList[Any],
        ours: FrozenList[Any],
        theirs: FrozenList[Any],
        path: Path,
    ) -> FrozenList[Any]:
        """Base with both sides' hunks applied (rule 4)."""
        mine = _itemised(list_hunks(base, ours))
        other = _itemised(list_hunks(base, theirs))
        merged = base
        for start, end, items in reversed(self.hunks(base, mine, other, path)):
            if end - start == 1 and len(items) == 1:
                merged = merged.set(start, items[0])
                continue
            if end > start:
                merged = merged.delete(slice(start, end))
            for offset, item in enumerate(items):
                merged = merged.inserted(start + offset, item)
        return merged

    def hunks(
        self, base: FrozenList[Any], mine: list[Hunk], other: list[Hunk], path: Path
    ) -> list[Hunk]:
        """The hunks of the merged list, in order, conflicts resolved."""
        tagged = sorted(
            [(s, e, items, True) for s, e, items in mine]
            + [(s, e, items, False) for s, e, items in other],
            key=lambda h: (h[0], h[1]),
        )
        out: list[Hunk] = []
        i = 0
        while i < len(tagged):
            start, end = tagged[i][0], tagged[i][1]
            j = i + 1
            while j < len(tagged):
                s, e = tagged[j][0], tagged[j][1]
                # Overlapping, or two insertions at one place: one cluster.
                if s < end or (s == e == start == end):
                    end = max(end, e)
                    j += 1
                else:
                    break
            out.append(self.cluster(base, tagged[i:j], start, end, path))
            i = j
        return out

    def cluster(
        self,
        base: FrozenList[Any],
        members: list[tuple[int, int, list[Any], bool]],
        start: int,
        end: int,
        path: Path,
    ) -> Hunk:
        """The one hunk a cluster of overlapping hunks becomes."""
        sides = {m[3] for m in members}
        if len(sides) == 1:
            if len(members) == 1:
                return members[0][:3]
            return (start, end, _apply(base, members, start, end))
        if len(members) == 2:
            (s1, e1, a, _), (s2, e2, b, _) = members
            if s1 == s2 and e1 == e2 == s1 + 1 and len(a) == len(b) == 1:
                # One item changed in place on both sides: merged as a value.
                mine, other = (a, b) if members[0][3] else (b, a)
                item = self.value(
                    list_items(base, s1, e1)[0], mine[0], other[0], (*path, s1)
                )
                return (s1, e1, [item])
        ours = _apply(base, [m for m in members if m[3]], start, end)
        theirs = _apply(base, [m for m in members if not m[3]], start, end)
        if len(ours) == len(theirs) and all(map(same_value, ours, theirs)):
            return (start, end, ours)
        before = list_items(base, start, end)
        items = self.conflict(
            MergeConflict(
                (*path, start),
                FrozenList(before),
                FrozenList(ours),
                FrozenList(theirs),
                span=True,
            )
        )
        return (start, end, list(items))


def _itemised(hunks: list[Hunk]) -> list[Hunk]:
    """``hunks`` with each run of deletions split into one deletion per item.

    A deleted run has no order of its own to keep, so the other side may insert
    between its items; a run replaced by new items stays one edit.
    """
    out: list[Hunk] = []
    for start, end, items in hunks:
        if items or end - start < 2:
            out.append((start, end, items))
        else:
            out.extend((k, k + 1, []) for k in range(start, end))
    return out


def _apply(
    base: FrozenList[Any],
    hunks: list[tuple[int, int, list[Any], bool]],
    start: int,
    end: int,
) -> list[Any]:
    """Base's items from ``start`` to ``end`` with one side's ``hunks`` applied."""
    out: list[Any] = []
    at = start
    for s, e, items, _ in hunks:
        out.extend(list_items(base, at, s))
        out.extend(items)
        at = e
    out.extend(list_items(base, at, end))
    return out
