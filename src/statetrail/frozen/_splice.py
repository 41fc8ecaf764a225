"""Insert, delete, cut and join persistent vectors in O(log n): the relaxed edits.

The edits of :mod:`~statetrail.frozen._vector` that move the items after them. Each
copies one path (two for :func:`concat`) and makes the nodes on it relaxed, with a
size table, as a B-tree does:

- :func:`insert` puts the item into its leaf; a leaf of 33 splits into 16 and 17,
  and a node of 33 children splits the same way, up to a new root if need be;
- :func:`delete` takes it out; a leaf or node left with fewer than 16 slots is
  merged with a neighbour when the two fit in one (so a tree that only shrinks
  stays at least about half full), an empty one is dropped;
- :func:`take` and :func:`drop` keep the nodes on one side of the cut and cut the
  one node on it at each level; the root's lone children are lifted;
- :func:`concat` pushes the left tail into the left tree, then hangs the shorter
  tree on the facing edge of the taller one at its own height, splitting nodes
  that overflow. Bagwell and Rompf's concatenation also redistributes the nodes
  along the seam, so that a radix guess lands within a few steps of the right
  child; here a read bisects each table instead, whatever the widths, so the seam
  is left as it is and a join copies one node a level. The price is height:
  200 lists of up to 3,000 items joined one after another (283,715 items) make a
  tree one level deeper than a dense one (shift 20, not 15).

Costs measured on this shared 2-core machine (medians of 5 x 1,000 edits at random
indices; ``benchmarks/bench_list.py`` has the recorded figures):

============  ========  ========  ===========  ==========  ====================
items         insert    delete    take + drop  concat      before: rebuild
============  ========  ========  ===========  ==========  ====================
10,000        13 us     9 us      26 us        13 us       1.4 ms
100,000       8 us      8 us      32 us        13 us       8.9 ms
1,000,000     30 us     19 us     38 us        4 us        211 ms
============  ========  ========  ===========  ==========  ====================

"before" is what FrozenList did until this module: every item into a new dense
vector (O(n)). Once a node is relaxed, an insert or delete through it copies the
node and adds one to its table from the child on; only a dense node, edited for
the first time, is recounted into a table.
"""

from __future__ import annotations

from typing import Any

from statetrail.frozen._vector import (
    EMPTY,
    TABLE,
    Node,
    Vec,
    append,
    counts,
    iterate,
    kids,
    locate,
    make,
    node_size,
    push_leaf,
    with_root,
)

__all__ = ["concat", "delete", "drop", "insert", "take"]

_BITS = 5
_WIDTH = 32
#: A leaf or node with fewer slots than this, after a delete, is merged with a
#: neighbour if both fit in one.
_HALF = 16
#: A list this short is joined to another by appending (or inserting) its items.
_SHORT = 64


def insert(v: Vec, i: int, value: Any) -> Vec:
    """A vector with ``value`` before item ``i`` (``0 <= i <= v.size``)."""
    size, shift, root, tail = v
    off = size - len(tail)
    if i >= off:
        j = i - off
        tail = (*tail[:j], value, *tail[j:])
        if len(tail) <= _WIDTH:
            return Vec(size + 1, shift, root, tail)
        # 33 items: the first 32 go into the tree as a full leaf.
        root, shift = push_leaf(root, shift, off, tail[:_WIDTH])
        return Vec(size + 1, shift, root, tail[_WIDTH:])
    parts = _insert(root, shift, i, value)
    if len(parts) == 1:
        return Vec(size + 1, shift, parts[0], tail)
    left = node_size(parts[0], shift)
    root = make(parts, [left, off + 1 - left], shift + _BITS)
    return Vec(size + 1, shift + _BITS, root, tail)


def _insert(node: Node, level: int, i: int, value: Any) -> tuple[Node, ...]:
    """``node`` with ``value`` before its item ``i``: one node, or two after a split."""
    if level == 0:
        items = (*node[:i], value, *node[i:])
        if len(items) <= _WIDTH:
            return (items,)
        return items[:_HALF], items[_HALF:]
    j, k = locate(node, level, i)
    parts = _insert(node[j], level - _BITS, k, value)
    table = node[-1]
    if len(parts) == 1 and table[0] is TABLE:
        # The usual case once a node is relaxed: one child and the table change.
        return ((*node[:j], parts[0], *node[j + 1 : -1], _add(table, j, 1)),)
    children = kids(node)
    sizes = counts(node, level)
    new = (*children[:j], *parts, *children[j + 1 :])
    if len(parts) == 1:
        sizes[j] += 1
    else:
        first = node_size(parts[0], level - _BITS)
        sizes[j : j + 1] = [first, sizes[j] + 1 - first]
    if len(new) <= _WIDTH:
        return (make(new, sizes, level),)
    return (
        make(new[:_HALF], sizes[:_HALF], level),
        make(new[_HALF:], sizes[_HALF:], level),
    )


def delete(v: Vec, i: int) -> Vec:
    """A vector without item ``i`` (``0 <= i < v.size``)."""
    size, shift, root, tail = v
    off = size - len(tail)
    if i >= off:
        j = i - off
        if len(tail) > 1:
            return Vec(size - 1, shift, root, (*tail[:j], *tail[j + 1 :]))
        return with_root(size - 1, shift, root, ())
    return with_root(size - 1, shift, _delete(root, shift, i), tail)


def _delete(node: Node, level: int, i: int) -> Node | None:
    """``node`` without its item ``i``; ``None`` when nothing is left."""
    if level == 0:
        if len(node) == 1:
            return None
        return (*node[:i], *node[i + 1 :])
    j, k = locate(node, level, i)
    child = _delete(node[j], level - _BITS, k)
    below = level - _BITS
    table = node[-1]
    if child is not None and table[0] is TABLE and _width(child, below) >= _HALF:
        # The usual case once a node is relaxed: one child and the table change.
        return (*node[:j], child, *node[j + 1 : -1], _add(table, j, -1))
    children = kids(node)
    sizes = counts(node, level)
    if child is None:
        if len(children) == 1:
            return None
        del sizes[j]
        return make((*children[:j], *children[j + 1 :]), sizes, level)
    new = list(children)
    new[j] = child
    sizes[j] -= 1
    width = _width(child, below)
    if width < _HALF:
        for n in (j + 1, j - 1):
            if 0 <= n < len(new) and width + _width(new[n], below) <= _WIDTH:
                lo = min(j, n)
                new[lo : lo + 2] = [_merge(new[lo], new[lo + 1], below)]
                sizes[lo : lo + 2] = [sizes[lo] + sizes[lo + 1]]
                break
    return make(new, sizes, level)


def _add(table: Node, j: int, by: int) -> Node:
    """A size table with ``by`` more items in child ``j``."""
    return (*table[: j + 1], *map(by.__add__, table[j + 1 :]))


def _width(node: Node, level: int) -> int:
    """How many slots of ``node`` are taken (items of a leaf, children above)."""
    return len(node) if level == 0 else len(kids(node))


def _merge(a: Node, b: Node, level: int) -> Node:
    """One node at ``level`` holding the items of ``a`` then ``b`` (they fit)."""
    if level == 0:
        return a + b
    return make((*kids(a), *kids(b)), counts(a, level) + counts(b, level), level)


def take(v: Vec, n: int) -> Vec:
    """The first ``n`` items (``0 <= n``)."""
    size, shift, root, tail = v
    if n >= size:
        return v
    if n == 0:
        return EMPTY
    off = size - len(tail)
    if n > off:
        return Vec(n, shift, root, tail[: n - off])
    if n == off:
        return with_root(n, shift, root, ())
    return with_root(n, shift, _take(root, shift, n), ())


def _take(node: Node, level: int, n: int) -> Node:
    if level == 0:
        return node[:n]
    j, k = locate(node, level, n - 1)
    sizes = counts(node, level)[: j + 1]
    child = node[j]
    if k + 1 < sizes[j]:
        child = _take(child, level - _BITS, k + 1)
        sizes[j] = k + 1
    return make((*kids(node)[:j], child), sizes, level)


def drop(v: Vec, n: int) -> Vec:
    """All items but the first ``n`` (``0 <= n``)."""
    size, shift, root, tail = v
    if n == 0:
        return v
    if n >= size:
        return EMPTY
    off = size - len(tail)
    if n >= off:
        return Vec(size - n, _BITS, (), tail[n - off :])
    return with_root(size - n, shift, _drop(root, shift, n), tail)


def _drop(node: Node, level: int, n: int) -> Node:
    if level == 0:
        return node[n:]
    j, k = locate(node, level, n)
    sizes = counts(node, level)[j:]
    child = node[j]
    if k:
        child = _drop(child, level - _BITS, k)
        sizes[0] -= k
    return make((child, *kids(node)[j + 1 :]), sizes, level)


def concat(a: Vec, b: Vec) -> Vec:
    """The items of ``a`` then those of ``b``."""
    if not b.size:
        return a
    if not a.size:
        return b
    if b.size <= _SHORT:
        for x in iterate(b):
            a = append(a, x)
        return a
    if a.size <= _SHORT:
        for x in reversed(tuple(iterate(a))):
            b = insert(b, 0, x)
        return b
    # Both trees are non-empty (more than 64 items, at most 32 in a tail).
    left_size = a.size - len(a.tail)
    left, hl = push_leaf(a.root, a.shift, left_size, a.tail)
    left_size = a.size
    right, hr = b.root, b.shift
    right_size = b.size - len(b.tail)
    if hl == hr:
        parts: tuple[Node, ...] = (left, right)
        level = hl
    elif hl > hr:
        parts = _hang_right(left, hl, right, hr, right_size)
        level = hl
    else:
        parts = _hang_left(right, hr, left, hl, left_size)
        level = hr
    if len(parts) == 1:
        root = parts[0]
    else:
        sizes = [node_size(p, level) for p in parts]
        if _width(parts[0], level) + _width(parts[1], level) <= _WIDTH:
            root = _merge(parts[0], parts[1], level)
        else:
            root = make(parts, sizes, level + _BITS)
            level += _BITS
    return with_root(a.size + b.size, level, root, b.tail)


def _hang_right(
    node: Node, level: int, right: Node, rlevel: int, rsize: int
) -> tuple[Node, ...]:
    """``node`` with ``right`` (a node at ``rlevel``) after its last item."""
    children = kids(node)
    sizes = counts(node, level)
    if level == rlevel + _BITS:
        new = (*children, right)
        sizes.append(rsize)
    else:
        parts = _hang_right(children[-1], level - _BITS, right, rlevel, rsize)
        new = (*children[:-1], *parts)
        if len(parts) == 1:
            sizes[-1] += rsize
        else:
            first = node_size(parts[0], level - _BITS)
            sizes[-1:] = [first, sizes[-1] + rsize - first]
    return _split(new, sizes, level)


def _hang_left(
    node: Node, level: int, left: Node, llevel: int, lsize: int
) -> tuple[Node, ...]:
    """``node`` with ``left`` (a node at ``llevel``) before its first item."""
    children = kids(node)
    sizes = counts(node, level)
    if level == llevel + _BITS:
        new = (left, *children)
        sizes.insert(0, lsize)
    else:
        parts = _hang_left(children[0], level - _BITS, left, llevel, lsize)
        new = (*parts, *children[1:])
        if len(parts) == 1:
            sizes[0] += lsize
        else:
            first = node_size(parts[0], level - _BITS)
            sizes[:1] = [first, sizes[0] + lsize - first]
    return _split(new, sizes, level)


def _split(new: Node, sizes: list[int], level: int) -> tuple[Node, ...]:
    """One node of ``new`` children, or two halves when they are more than 32."""
    if len(new) <= _WIDTH:
        return (make(new, sizes, level),)
    h = len(new) // 2
    return make(new[:h], sizes[:h], level), make(new[h:], sizes[h:], level)
