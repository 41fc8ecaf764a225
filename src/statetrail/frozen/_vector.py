"""A persistent vector: a relaxed radix-balanced tree of tuples with a tail.

This is the structure under :class:`~statetrail.frozen.FrozenList`. A vector is the
four values ``(size, shift, root, tail)``. ``tail`` holds the last 1 to 32 items
(all of them while there are at most 32, so small lists are one tuple), ``root`` is
a node ``shift // 5`` levels above its leaves, which hold 1 to 32 items each.

Two kinds of node, both plain tuples (Bagwell and Rompf's RRB-tree, as Clojure's
core.rrb-vector and Scala's ``Vector``):

- a *dense* node is a tuple of 1 to 32 children, every leaf below it full (32
  items) and every child but the last complete. Item ``i`` is found by its bits
  alone, five a level, as in Clojure's ``PersistentVector``; a vector only ever
  built, appended to, set and popped has dense nodes only (the layout of the 32-way
  vector this module was before), and reads it at the same speed;
- a *relaxed* node is its children followed by a size table ``(TABLE, c0, c0 +
  c1, ...)``, the cumulative item counts of the children; the child that holds
  item ``i`` is found by bisection in that table (``bisect_right`` in C, five
  steps at most).

Inserting or deleting in the middle copies the path to the leaf, as a B-tree does
(:mod:`~statetrail.frozen._splice`): a leaf that would hold 33 items is split in
two, a split that fills a node splits it too, and a leaf or node left with fewer
than 16 slots is merged with a neighbour that has room. The nodes on that path
become relaxed, and everything else is shared. So insert, delete, slicing and
concatenation cost O(log n), 4 to 40 us from 10,000 to 1,000,000 items, where the
dense vector this module was rebuilt the whole list (1.4 ms at 10,000 items, 211
ms at 1,000,000). Random edits leave leaves about two-thirds full, so a relaxed
tree is a level deeper at most where the dense one is nearly full (a million items
after 20,000 random inserts: four levels, three dense); a read bisects a table a
level, two to three times a dense read's time (1.2-2.2 us against 0.6-1 us for a
random index of 100,000 items, on this shared machine). Reads and appends of a dense
tree are the code they were, and measure the same before and after in one run
(1.0-1.2x and 1.0x, ``benchmarks/bench_list.py``); iteration chains the leaves in
C and is faster (0.7-0.9 ms for 100,000 items, 3.4-4.5 ms before).

Why tuples and a size table as the last slot, and not node objects: a dense tree,
the common case, is exactly the tuples it was, with no table and nothing to test
on the read path but the first slot of the root's last slot; tuples of atomic
items (a table too) are untracked by the garbage collector; and the nodes stay
visible to :func:`changed_indices` and :func:`regions`, which skip the subtrees
two versions share, so a diff costs the change and not the list.

Every function here is pure: a vector is never changed, a write returns a new one,
and a write that changes nothing returns the very same vector.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import accumulate, chain, compress, count, repeat
from operator import is_not, sub
from typing import Any, NamedTuple

__all__ = [
    "EMPTY",
    "TABLE",
    "Vec",
    "append",
    "build",
    "counts",
    "get",
    "is_dense",
    "iterate",
    "kids",
    "leaves",
    "locate",
    "make",
    "node_size",
    "pop",
    "pop_leaf",
    "push_leaf",
    "put",
    "tail_offset",
    "with_root",
]

_BITS = 5
_WIDTH = 32
_MASK = 31

Node = tuple[Any, ...]


class _Table:
    """The mark that opens a size table.

    A node's last slot is a table when its first slot is this mark; a child's first
    slot is a node or an item, never this.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "TABLE"


#: The first slot of a size table: ``(TABLE, c0, c0 + c1, ...)``, the counts of
#: the children so far. A plain tuple, not a subclass: ``bisect`` reads an exact
#: tuple in C, and a tuple subclass through ``__getitem__`` (measured 106 ns
#: against 989 ns for one bisection of 32). Nor a list, which the garbage
#: collector would track; a tuple of ints and this untracked object is not.
TABLE: Any = _Table()


class Vec(NamedTuple):
    """The four values of a persistent vector."""

    size: int
    shift: int
    root: Node
    tail: Node


EMPTY = Vec(0, _BITS, (), ())


def tail_offset(count: int) -> int:
    """Index of the first item in the tail of a *dense* vector of ``count`` items.

    Any vector's tail starts at ``v.size - len(v.tail)``; this is the same number
    for a vector whose tree is dense.
    """
    return 0 if count < _WIDTH else ((count - 1) >> _BITS) << _BITS


# -- nodes ----------------------------------------------------------------------


def is_dense(node: Node) -> bool:
    """Whether an inner node has no size table (its items are found by bits)."""
    return node[-1][0] is not TABLE


def kids(node: Node) -> Node:
    """The children of an inner node, without its size table."""
    return node[:-1] if node[-1][0] is TABLE else node


def node_size(node: Node, level: int) -> int:
    """How many items are under ``node`` (a leaf at level 0)."""
    while level:
        last = node[-1]
        if last[0] is TABLE:
            return last[-1]  # type: ignore[no-any-return]
        # Dense: every child but the last holds 32 ** (level / 5) items.
        size_before = (len(node) - 1) << level
        if size_before:
            return size_before + node_size(last, level - _BITS)
        node = last
        level -= _BITS
    return len(node)


def counts(node: Node, level: int) -> list[int]:
    """The item count of each child of the inner node ``node``."""
    last = node[-1]
    if last[0] is TABLE:
        return list(map(sub, last[1:], (0, *last[1:-1])))
    full = 1 << level
    return [full] * (len(node) - 1) + [node_size(last, level - _BITS)]


def make(children: list[Node] | Node, sizes: list[int], level: int) -> Node:
    """An inner node at ``level`` of ``children``, whose item counts are ``sizes``.

    Dense (no table) when every child but the last is complete and every child is
    dense (a full leaf at level 5); relaxed otherwise.
    """
    full = 1 << level
    n = len(sizes)
    complete = sizes.count(full)
    if complete == n or (complete == n - 1 and sizes[-1] < full):
        if level == _BITS:
            if complete == n:  # leaves: every one full
                return tuple(children)
        elif all(c[-1][0] is not TABLE for c in children):
            return tuple(children)
    return (*children, (TABLE, *accumulate(sizes)))


def locate(node: Node, level: int, i: int) -> tuple[int, int]:
    """The child of ``node`` that holds its item ``i``, and ``i`` within it."""
    table = node[-1]
    if table[0] is TABLE:
        j = bisect_right(table, i, 1) - 1
        return j, (i - table[j] if j else i)
    j = (i >> level) & _MASK
    return j, i - (j << level)


# -- reading --------------------------------------------------------------------


def get(v: Vec, i: int) -> Any:
    """Item ``i`` (``0 <= i < v.size``, not checked)."""
    size, level, node, tail = v
    off = size - len(tail)
    if i >= off:
        return tail[i - off]
    if node[-1][0] is TABLE:
        while level:
            table = node[-1]
            if table[0] is not TABLE:
                break
            j = bisect_right(table, i, 1) - 1
            if j:
                i -= table[j]
            node = node[j]
            level -= _BITS
    while level > 0:
        node = node[(i >> level) & _MASK]
        level -= _BITS
    return node[i & _MASK]


def leaves(v: Vec) -> Iterator[Node]:
    """Yield the leaf tuples in order, the tail last."""
    if v.root:
        yield from _leaves(v.root, v.shift)
    yield v.tail


def _leaves(node: Node, level: int) -> Iterator[Node]:
    if level == _BITS:
        yield from kids(node)
        return
    for child in kids(node):
        yield from _leaves(child, level - _BITS)


def iterate(v: Vec) -> Iterator[Any]:
    """Every item in order: the leaves chained in C, not yielded one by one."""
    return chain.from_iterable(leaves(v))


# -- writing at an index ----------------------------------------------------------


def put(v: Vec, i: int, value: Any) -> Vec:
    """A vector with item ``i`` replaced; ``v`` itself when the item is ``value``."""
    off = v.size - len(v.tail)
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


def _put(node: Node, level: int, i: int, value: Any) -> Node:
    if level == 0:
        if node[i] is value:
            return node
        items = list(node)
        items[i] = value
        return tuple(items)
    j, i = locate(node, level, i)
    child = node[j]
    new = _put(child, level - _BITS, i, value)
    if new is child:
        return node
    items = list(node)  # a size table, if any, is kept as it is
    items[j] = new
    return tuple(items)


# -- the end: append and pop ----------------------------------------------------------


def append(v: Vec, value: Any) -> Vec:
    """A vector with ``value`` added at the end."""
    if len(v.tail) < _WIDTH:
        return Vec(v.size + 1, v.shift, v.root, (*v.tail, value))
    # The tail is full: it becomes a leaf of the tree and a new tail starts.
    root, shift = push_leaf(v.root, v.shift, v.size - _WIDTH, v.tail)
    return Vec(v.size + 1, shift, root, (value,))


def push_leaf(root: Node, shift: int, tree_size: int, leaf: Node) -> tuple[Node, int]:
    """The root and shift of a tree of ``tree_size`` items with ``leaf`` added last."""
    if not root:
        return _new_path(_BITS, leaf), _BITS
    if root[-1][0] is not TABLE and len(leaf) == _WIDTH:
        # Dense, as Clojure's: the position alone says where the leaf goes.
        count = tree_size + _WIDTH
        if (tree_size >> _BITS) >= (1 << shift):
            return (root, _dense_path(shift, leaf)), shift + _BITS
        return _push_tail(count, shift, root, leaf), shift
    new = _push_relaxed(root, shift, leaf)
    if new is not None:
        return new, shift
    n = len(leaf)
    return make(
        (root, _new_path(shift, leaf)), [tree_size, n], shift + _BITS
    ), shift + _BITS


def _dense_path(level: int, node: Node) -> Node:
    while level > 0:
        node = (node,)
        level -= _BITS
    return node


def _new_path(level: int, leaf: Node) -> Node:
    """``leaf`` under single-child nodes up to ``level`` (sized when it is short)."""
    if len(leaf) == _WIDTH:
        return _dense_path(level, leaf)
    node = leaf
    table = (TABLE, len(leaf))
    while level > 0:
        node = (node, table)
        level -= _BITS
    return node


def _push_tail(count: int, level: int, parent: Node, tail: Node) -> Node:
    j = ((count - 1) >> level) & _MASK
    if level == _BITS:
        insert: Node = tail
    elif j < len(parent):
        insert = _push_tail(count, level - _BITS, parent[j], tail)
    else:
        insert = _dense_path(level - _BITS, tail)
    if j < len(parent):
        return (*parent[:j], insert, *parent[j + 1 :])
    return (*parent, insert)


def _push_relaxed(node: Node, level: int, leaf: Node) -> Node | None:
    """``node`` with ``leaf`` after its last item; ``None`` when it has no room."""
    children = kids(node)
    if level == _BITS:
        if len(children) == _WIDTH:
            return None
        new_kids = (*children, leaf)
    else:
        child = _push_relaxed(children[-1], level - _BITS, leaf)
        if child is not None:
            new_kids = (*children[:-1], child)
        elif len(children) < _WIDTH:
            new_kids = (*children, _new_path(level - _BITS, leaf))
        else:
            return None
    sizes = counts(node, level)
    if len(new_kids) > len(children):
        sizes.append(len(leaf))
    else:
        sizes[-1] += len(leaf)
    return make(new_kids, sizes, level)


def pop(v: Vec) -> Vec:
    """A vector without its last item (``v.size >= 1``)."""
    if v.size == 1:
        return EMPTY
    if len(v.tail) > 1:
        return Vec(v.size - 1, v.shift, v.root, v.tail[:-1])
    # The tail empties: the last leaf of the tree becomes the tail.
    root, leaf = pop_leaf(v.root, v.shift)
    return with_root(v.size - 1, v.shift, root, leaf)


def pop_leaf(node: Node, level: int) -> tuple[Node | None, Node]:
    """``node`` without its last leaf (``None`` if that was all), and the leaf."""
    children = kids(node)
    if level == _BITS:
        leaf = children[-1]
        rest = children[:-1]
    else:
        child, leaf = pop_leaf(children[-1], level - _BITS)
        rest = children[:-1] if child is None else (*children[:-1], child)
    if not rest:
        return None, leaf
    if node[-1][0] is not TABLE:
        return rest, leaf  # a dense node less its last leaf is dense
    sizes = counts(node, level)
    if len(rest) < len(children):
        sizes.pop()
    else:
        sizes[-1] -= len(leaf)
    return make(rest, sizes, level), leaf


def with_root(size: int, shift: int, root: Node | None, tail: Node) -> Vec:
    """A vector of ``root`` (or none) and ``tail``, its root's lone children lifted.

    Lifts single-child roots, as Clojure's pop does, so the height is what the
    size needs; an empty tail takes the tree's last leaf.
    """
    if root is None or not root:
        if not tail:
            return EMPTY
        return Vec(size, _BITS, (), tail)
    if not tail:
        root, tail = pop_leaf(root, shift)
        if root is None:
            return Vec(size, _BITS, (), tail)
    while shift > _BITS and len(kids(root)) == 1:
        root = root[0]
        shift -= _BITS
    return Vec(size, shift, root, tail)


def build(items: Iterable[Any]) -> Vec:
    """A vector holding ``items``, built level by level (O(n)); its tree is dense."""
    seq = items if isinstance(items, tuple) else tuple(items)
    n = len(seq)
    if n <= _WIDTH:
        return Vec(n, _BITS, (), seq)
    off = tail_offset(n)
    tail = seq[off:]
    level: list[Node] = [seq[i : i + _WIDTH] for i in range(0, off, _WIDTH)]
    shift = 0
    # Group 32 nodes at a time until one root holds them; a root is always a
    # tuple of children (shift >= 5), as Clojure's is.
    while len(level) > 1 or shift == 0:
        level = [tuple(level[i : i + _WIDTH]) for i in range(0, len(level), _WIDTH)]
        shift += _BITS
    return Vec(n, shift, level[0], tail)


# -- comparing two vectors ----------------------------------------------------------

#: A cursor over a vector's nodes: a stack of ``(node, level, size)``, the next
#: node on top, and the index of the top's first item.
_Stack = list[tuple[Node, int, int]]


def _stack(v: Vec) -> _Stack:
    stack: _Stack = []
    if v.tail:
        stack.append((v.tail, 0, len(v.tail)))
    if v.root:
        stack.append((v.root, v.shift, v.size - len(v.tail)))
    return stack


def _expand(stack: _Stack) -> None:
    """Replace the inner node on top of ``stack`` by its children."""
    node, level, _ = stack.pop()
    below = level - _BITS
    children = kids(node)
    stack.extend(
        zip(
            reversed(children),
            [below] * len(children),
            reversed(counts(node, level)),
            strict=True,
        )
    )


def changed_indices(a: Vec, b: Vec) -> Iterator[int]:
    """Indices below ``min(a.size, b.size)`` whose items are not identical.

    Subtrees shared by the two vectors at the same index are skipped, so two
    versions of a long list that differ in one item are compared in O(log n),
    whatever their shapes (a vector that grew by appends, a relaxed one).
    """
    if _dense(a) and _dense(b):
        yield from _changed_dense(a, b)
        return
    n = min(a.size, b.size)
    sa, sb = _stack(a), _stack(b)
    pa = pb = 0
    while sa and sb and pa < n and pb < n:
        na, la, za = sa[-1]
        nb, lb, zb = sb[-1]
        if na is nb and pa == pb:
            sa.pop()
            sb.pop()
            pa += za
            pb += zb
        elif la or lb:
            if la >= lb:
                _expand(sa)
            if lb >= la:
                _expand(sb)
        else:
            end_a, end_b = pa + za, pb + zb
            for k in range(max(pa, pb), min(end_a, end_b, n)):
                if na[k - pa] is not nb[k - pb]:
                    yield k
            if end_a <= end_b:
                sa.pop()
                pa = end_a
            if end_b <= end_a:
                sb.pop()
                pb = end_b


def _dense(v: Vec) -> bool:
    """Whether ``v``'s tree has no relaxed node (its root has no size table)."""
    return not v.root or v.root[-1][0] is not TABLE


def _changed_dense(a: Vec, b: Vec) -> Iterator[int]:
    """:func:`changed_indices` of two dense vectors: positions say where to look."""
    if a.size > b.size:
        a, b = b, a
    n = a.size
    off = tail_offset(n)
    if off:
        # The tree is left-packed, so the node of b covering a's tree is the first
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


def _leaf_for(v: Vec, i: int) -> Node:
    """The leaf of a dense vector's tree that holds item ``i``."""
    node = v.root
    level = v.shift
    while level > 0:
        node = node[(i >> level) & _MASK]
        level -= _BITS
    return node


def _changed(na: Node, nb: Node, level: int, base: int) -> Iterator[int]:
    if level == 0:
        yield from compress(count(base), map(is_not, na, nb))
        return
    span = 1 << level
    for j in compress(count(), map(is_not, na, nb)):
        yield from _changed(na[j], nb[j], level - _BITS, base + j * span)


def regions(a: Vec, b: Vec) -> Iterator[tuple[int, list[Any], int, list[Any]]]:
    """The stretches where ``a`` and ``b`` differ, between the subtrees they share.

    Yields ``(i, xs, j, ys)``: items ``xs`` of ``a`` from index ``i`` stand where
    ``b`` has ``ys`` from index ``j``, and what lies between two stretches is a
    subtree both vectors hold (the same object, wherever it sits). A vector edited
    from the other shares all but the paths it copied, so the stretches hold
    O(32 log n) items around each edit, however the edit shifted the indices after
    it; two vectors built apart share nothing, and the one stretch is both lists.
    """
    sa, sb = _stack(a), _stack(b)
    pa = pb = 0
    xs: list[Any] = []
    ys: list[Any] = []
    start_a = start_b = 0
    while sa and sb:
        na, la, za = sa[-1]
        nb, lb, zb = sb[-1]
        if na is nb:
            if xs or ys:
                yield start_a, xs, start_b, ys
                xs, ys = [], []
            sa.pop()
            sb.pop()
            pa += za
            pb += zb
            start_a, start_b = pa, pb
        elif la < 0 or lb < 0:
            # One side is at the children two nodes opened together share at
            # their end (see _open_both): the other side catches up first.
            if la < 0:
                if lb:
                    _expand(sb)
                else:
                    sb.pop()
                    ys.extend(nb)
                    pb += zb
            elif la:
                _expand(sa)
            else:
                sa.pop()
                xs.extend(na)
                pa += za
        elif la != lb:
            # The higher node may hold the other's subtree: open it first.
            _expand(sa if la > lb else sb)
        elif la and pa == pb:
            skip_a, skip_b = _open_both(sa, sb, la)
            if skip_a or skip_b:
                if xs or ys:
                    yield start_a, xs, start_b, ys
                    xs, ys = [], []
                pa += skip_a
                pb += skip_b
                start_a, start_b = pa, pb
        else:
            # Same height: the side behind moves on (both when level).
            move_a, move_b = pa <= pb, pb <= pa
            if move_a:
                if la:
                    _expand(sa)
                else:
                    sa.pop()
                    xs.extend(na)
                    pa += za
            if move_b:
                if lb:
                    _expand(sb)
                else:
                    sb.pop()
                    ys.extend(nb)
                    pb += zb
    for stack, out in ((sa, xs), (sb, ys)):
        while stack:
            node, level, _ = stack.pop()
            assert level >= 0, "a shared run is reached from both sides"
            if level:
                stack.append((node, level, 0))
                _expand(stack)
            else:
                out.extend(node)
    if xs or ys:
        yield start_a, xs, start_b, ys


def _open_both(sa: _Stack, sb: _Stack, level: int) -> tuple[int, int]:
    """Open the two inner nodes on top of ``sa`` and ``sb``, which start together.

    The children they share at the front are skipped (their item counts on each
    side are returned), and those they share at the end become one entry on each
    stack, the same new object at level -1, met from both sides as shared. The
    shared children are found by comparing the two tuples in C, so a path copied
    by an edit costs two node comparisons a level instead of 32 steps of the loop.
    """
    na = sa.pop()[0]
    nb = sb.pop()[0]
    ka, kb = kids(na), kids(nb)
    ca, cb = counts(na, level), counts(nb, level)
    m = min(len(ka), len(kb))
    front = next(compress(count(), map(is_not, ka, kb)), m)
    end = next(compress(count(), map(is_not, reversed(ka), reversed(kb))), m)
    end = min(end, m - front)
    if end:
        run: Node = (object(),)  # a new object, met only as itself
        sa.append((run, -1, sum(ca[len(ca) - end :])))
        sb.append((run, -1, sum(cb[len(cb) - end :])))
    below = level - _BITS
    for stack, children, sizes in ((sa, ka, ca), (sb, kb, cb)):
        stop = len(children) - end
        stack.extend(
            zip(
                reversed(children[front:stop]),
                repeat(below),
                reversed(sizes[front:stop]),
                strict=False,
            )
        )
    return sum(ca[:front]), sum(cb[:front])
