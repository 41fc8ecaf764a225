"""The 32-way persistent vector under FrozenList before it became a relaxed tree.

Kept verbatim from ``src/statetrail/frozen/_vector.py`` as of main 2026-12-07
(cc4a06e), so ``bench_list.py`` times reads, appends and iteration before and
after in one run: a dense tree has the same layout in both, and any cost the
relaxed nodes add to the dense read path shows as a ratio below 1.

A persistent vector: a 32-way trie of tuples with a tail (Clojure's layout).

This is the structure under :class:`~statetrail.frozen.FrozenList`. A vector is the
four values ``(count, shift, root, tail)``. ``tail`` holds the last 1 to 32 items
(all of them while there are at most 32, so small lists are one tuple), ``root`` is a
tuple of child tuples ``shift // 5`` levels deep whose leaves hold 32 items each.

Setting an item copies the leaf and the tuples on its path, so a write to a long
list costs O(log32 n) and shares everything else; appending mostly copies the tail.
Inserting or deleting in the middle shifts every later index, so it rebuilds the
trie from a list (O(n), the same order as ``list.insert``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import compress, count
from operator import is_not
from typing import Any, NamedTuple

__all__ = [
    "EMPTY",
    "Vec",
    "append",
    "build",
    "changed_indices",
    "get",
    "iterate",
    "pop",
    "put",
]

_BITS = 5
_WIDTH = 32
_MASK = 31


class Vec(NamedTuple):
    """The four values of a persistent vector."""

    size: int
    shift: int
    root: tuple[Any, ...]
    tail: tuple[Any, ...]


EMPTY = Vec(0, _BITS, (), ())


def tail_offset(count: int) -> int:
    """Index of the first item held in the tail."""
    return 0 if count < _WIDTH else ((count - 1) >> _BITS) << _BITS


def get(v: Vec, i: int) -> Any:
    """Item ``i`` (``0 <= i < v.size``, not checked)."""
    off = tail_offset(v.size)
    if i >= off:
        return v.tail[i - off]
    node = v.root
    level = v.shift
    while level > 0:
        node = node[(i >> level) & _MASK]
        level -= _BITS
    return node[i & _MASK]


def put(v: Vec, i: int, value: Any) -> Vec:
    """A vector with item ``i`` replaced; ``v`` itself when the item is ``value``."""
    off = tail_offset(v.size)
    if i >= off:
        j = i - off
        if v.tail[j] is value:
            return v
        tail = list(v.tail)
        tail[j] = value
        return Vec(v.size, v.shift, v.root, tuple(tail))
    root = _put(v.root, v.shift, i, value)
    if root is v.root:
        return v
    return Vec(v.size, v.shift, root, v.tail)


def _put(node: tuple[Any, ...], level: int, i: int, value: Any) -> tuple[Any, ...]:
    j = (i >> level) & _MASK
    if level == 0:
        if node[j] is value:
            return node
        items = list(node)
        items[j] = value
        return tuple(items)
    child = node[j]
    new = _put(child, level - _BITS, i, value)
    if new is child:
        return node
    items = list(node)
    items[j] = new
    return tuple(items)


def append(v: Vec, value: Any) -> Vec:
    """A vector with ``value`` added at the end."""
    if len(v.tail) < _WIDTH:
        return Vec(v.size + 1, v.shift, v.root, (*v.tail, value))
    # The tail is full: it becomes a leaf of the trie and a new tail starts.
    shift = v.shift
    if (v.size >> _BITS) > (1 << shift):
        root: tuple[Any, ...] = (v.root, _new_path(shift, v.tail))
        shift += _BITS
    else:
        root = _push_tail(v.size, shift, v.root, v.tail)
    return Vec(v.size + 1, shift, root, (value,))


def _new_path(level: int, node: tuple[Any, ...]) -> tuple[Any, ...]:
    while level > 0:
        node = (node,)
        level -= _BITS
    return node


def _push_tail(
    count: int, level: int, parent: tuple[Any, ...], tail: tuple[Any, ...]
) -> tuple[Any, ...]:
    j = ((count - 1) >> level) & _MASK
    if level == _BITS:
        insert: tuple[Any, ...] = tail
    elif j < len(parent):
        insert = _push_tail(count, level - _BITS, parent[j], tail)
    else:
        insert = _new_path(level - _BITS, tail)
    if j < len(parent):
        return (*parent[:j], insert, *parent[j + 1 :])
    return (*parent, insert)


def pop(v: Vec) -> Vec:
    """A vector without its last item (``v.size >= 1``)."""
    if v.size == 1:
        return EMPTY
    if len(v.tail) > 1:
        return Vec(v.size - 1, v.shift, v.root, v.tail[:-1])
    # The tail empties: the last leaf of the trie becomes the tail.
    new_count = v.size - 1
    tail = _leaf_for(v, new_count - 1)
    root = _pop_tail(v.size, v.shift, v.root)
    shift = v.shift
    if root is None:
        root = ()
    if shift > _BITS and len(root) == 1:
        root = root[0]
        shift -= _BITS
    return Vec(new_count, shift, root, tail)


def _leaf_for(v: Vec, i: int) -> tuple[Any, ...]:
    node = v.root
    level = v.shift
    while level > 0:
        node = node[(i >> level) & _MASK]
        level -= _BITS
    return node


def _pop_tail(count: int, level: int, node: tuple[Any, ...]) -> tuple[Any, ...] | None:
    j = ((count - 2) >> level) & _MASK
    if level > _BITS:
        child = _pop_tail(count, level - _BITS, node[j])
        if child is None and j == 0:
            return None
        if child is None:
            return node[:j]
        return (*node[:j], child)
    if j == 0:
        return None
    return node[:j]


def build(items: Iterable[Any]) -> Vec:
    """A vector holding ``items``, built level by level (O(n))."""
    seq = items if isinstance(items, tuple) else tuple(items)
    n = len(seq)
    if n <= _WIDTH:
        return Vec(n, _BITS, (), seq)
    off = tail_offset(n)
    tail = seq[off:]
    level: list[tuple[Any, ...]] = [seq[i : i + _WIDTH] for i in range(0, off, _WIDTH)]
    shift = 0
    # Group 32 nodes at a time until one root holds them; a root is always a
    # tuple of children (shift >= 5), as Clojure's is.
    while len(level) > 1 or shift == 0:
        level = [tuple(level[i : i + _WIDTH]) for i in range(0, len(level), _WIDTH)]
        shift += _BITS
    return Vec(n, shift, level[0], tail)


def leaves(v: Vec) -> Iterator[tuple[Any, ...]]:
    """Yield the leaf tuples in order, the tail last."""
    if v.size > _WIDTH or v.root:
        yield from _leaves(v.root, v.shift)
    yield v.tail


def _leaves(node: tuple[Any, ...], level: int) -> Iterator[tuple[Any, ...]]:
    if level == 0:
        yield node
        return
    for child in node:
        yield from _leaves(child, level - _BITS)


def iterate(v: Vec) -> Iterator[Any]:
    """Yield every item in order."""
    for leaf in leaves(v):
        yield from leaf


def changed_indices(a: Vec, b: Vec) -> Iterator[int]:
    """Indices below ``min(a.size, b.size)`` whose items are not identical.

    Subtrees shared by the two vectors are skipped, so two versions of a long list
    that differ in one item are compared in O(log n), and so are a vector and one
    that grew from it by appends (whose root may be deeper, its tail now a leaf).
    """
    if a.size > b.size:
        a, b = b, a
    n = a.size
    off = tail_offset(n)
    if off:
        # The trie is left-packed, so the node of b covering a's trie is the first
        # child, level by level down to a's shift.
        nb = b.root
        level = b.shift
        while level > a.shift:
            nb = nb[0]
            level -= _BITS
        if a.root is not nb:
            yield from _changed(a.root, nb, a.shift, 0)
    if n > off:
        leaf = b.tail if tail_offset(b.size) == off else _leaf_for(b, off)
        if a.tail is not leaf:
            yield from compress(count(off), map(is_not, a.tail, leaf))


def _changed(
    na: tuple[Any, ...], nb: tuple[Any, ...], level: int, base: int
) -> Iterator[int]:
    if level == 0:
        yield from compress(count(base), map(is_not, na, nb))
        return
    span = 1 << level
    for j in compress(count(), map(is_not, na, nb)):
        yield from _changed(na[j], nb[j], level - _BITS, base + j * span)
