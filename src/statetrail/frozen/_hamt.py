"""A persistent hash array mapped trie (CHAMP layout) on plain tuples.

This is the structure under :class:`~statetrail.frozen.FrozenDict` and
:class:`~statetrail.frozen.FrozenSet`. A node is one tuple::

    (datamap, nodemap, k0, v0, k1, v1, ..., sub0, sub1, ...)

``datamap`` has a bit set for every 5-bit hash fragment stored inline as a key and
value pair; ``nodemap`` for every fragment that continues in a sub-node. Inline pairs
come first, in fragment order, then the sub-nodes, in fragment order (Steindorfer and
Vinju's CHAMP, OOPSLA 2015). Below the last level (``shift > _MAX_SHIFT``) keys whose
whole hash is equal share a collision node ``(hash, k0, v0, k1, v1, ...)``.

Why tuples and not ``immutables.Map``: an edit copies only the path it touches and
returns the very same node when nothing changed, and the nodes are visible to
:func:`diff_nodes`, so two versions that share subtrees are compared in time
proportional to what differs. ``immutables`` hides its nodes, so a diff has to walk
every key (benchmarks/README.md has the figures). Tuples that hold only atomic
values are also untracked by the garbage collector, so a long history costs the
collector less.

A read followed by a write of the same key, the usual ``Store.set`` (the old
value, then the new map), walks the trie once: :func:`locate` gives the path down
to the key and :func:`replace_at` copies it with the new value, where
:func:`lookup` then :func:`assoc` walked it twice, the second time through a
recursive call per level. With the store's other savings this took ``Store.set``
on a random path of 10,000 entries from 14.8 to 10.4 us of CPU per call
(benchmarks/README.md).

The layout is canonical: a sub-node left with a single pair is pulled up into its
parent on deletion, so equal key sets have equal shapes and :func:`equal_nodes` can
compare node by node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import compress, count
from operator import is_not, or_
from typing import Any

from statetrail.frozen._native import speedups as _speedups

__all__ = [
    "EMPTY",
    "EXACT_TYPES",
    "MISSING",
    "Node",
    "assoc",
    "build",
    "build_mapping",
    "diff_nodes",
    "dissoc",
    "equal_nodes",
    "iter_items",
    "iter_keys",
    "locate",
    "lookup",
    "pure_assoc",
    "pure_build",
    "pure_build_mapping",
    "pure_locate",
    "pure_lookup",
    "pure_replace_at",
    "replace_at",
]

Node = tuple[Any, ...]

_BITS = 5
_MASK = 31
#: The last shift at which a fragment is still taken from the hash; Python hashes
#: are 64-bit, so fragments at shift 0, 5, ..., 60 use every bit.
_MAX_SHIFT = 60

EMPTY: Node = (0, 0)


class _Missing:
    """The sentinel for "no value here" (a key absent from one side of a diff)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def pure_lookup(node: Node, h: int, key: Any, default: Any) -> Any:
    """Return the value for ``key`` (whose hash is ``h``) or ``default``."""
    shift = 0
    while True:
        bit = 1 << ((h >> shift) & _MASK)
        datamap = node[0]
        if datamap & bit:
            i = 2 + 2 * (datamap & (bit - 1)).bit_count()
            k = node[i]
            if k is key or k == key:
                return node[i + 1]
            return default
        nodemap = node[1]
        if not nodemap & bit:
            return default
        node = node[2 + 2 * datamap.bit_count() + (nodemap & (bit - 1)).bit_count()]
        shift += _BITS
        if shift > _MAX_SHIFT:
            return _collision_lookup(node, key, default)


def pure_locate(node: Node, h: int, key: Any) -> list[Any] | None:
    """Where ``key`` (whose hash is ``h``) is bound: ``None`` when it is absent.

    The place is the path down to it, flat: ``[node0, i0, node1, i1, ...]``, each
    index that of the child taken in its node, the last that of the value, so
    ``place[-2][place[-1]]`` is the value and :func:`replace_at` writes another
    in its stead. A read and a write of the same key walk the trie once (a
    ``Store.set`` reads the old value, then writes the new one).
    """
    place: list[Any] = []
    shift = 0
    while True:
        bit = 1 << ((h >> shift) & _MASK)
        datamap = node[0]
        if datamap & bit:
            i = 2 + 2 * (datamap & (bit - 1)).bit_count()
            k = node[i]
            if k is key or k == key:
                place += (node, i + 1)
                return place
            return None
        nodemap = node[1]
        if not nodemap & bit:
            return None
        j = 2 + 2 * datamap.bit_count() + (nodemap & (bit - 1)).bit_count()
        place += (node, j)
        node = node[j]
        shift += _BITS
        if shift > _MAX_SHIFT:
            for i in range(1, len(node), 2):
                k = node[i]
                if k is key or k == key:
                    place += (node, i + 1)
                    return place
            return None


def pure_replace_at(place: list[Any], value: Any) -> Node:
    """The root of a trie like the one ``place`` is in, ``value`` at its end.

    The path is copied bottom up (see :func:`locate`); every other node is shared.
    """
    for j in range(len(place) - 2, -1, -2):
        items = list(place[j])
        items[place[j + 1]] = value
        value = tuple(items)
    return value  # type: ignore[no-any-return]


def _collision_lookup(node: Node, key: Any, default: Any) -> Any:
    for i in range(1, len(node), 2):
        k = node[i]
        if k is key or k == key:
            return node[i + 1]
    return default


def _replaced(node: Node, i: int, value: Any) -> Node:
    # list() and tuple() copy in C: faster than slicing and concatenating.
    items = list(node)
    items[i] = value
    return tuple(items)


def pure_assoc(
    node: Node, shift: int, h: int, key: Any, value: Any
) -> tuple[Node, bool]:
    """Return ``(new_node, added)`` with ``key`` bound to ``value``.

    ``new_node is node`` when the key was already bound to this very value, so callers
    can keep their identity. ``added`` is true when the key was not present before.
    """
    if shift > _MAX_SHIFT:
        return _collision_assoc(node, h, key, value)
    bit = 1 << ((h >> shift) & _MASK)
    datamap = node[0]
    if datamap & bit:
        i = 2 + 2 * (datamap & (bit - 1)).bit_count()
        k = node[i]
        if k is key or k == key:
            if node[i + 1] is value:
                return node, False
            return _replaced(node, i + 1, value), False
        # Two keys share this fragment: push both into a new sub-node.
        sub = _pair(shift + _BITS, hash(k), k, node[i + 1], h, key, value)
        nodemap = node[1]
        j = 2 + 2 * datamap.bit_count() + (nodemap & (bit - 1)).bit_count()
        items = list(node)
        items[0] = datamap ^ bit
        items[1] = nodemap | bit
        items.insert(j, sub)
        del items[i : i + 2]
        return tuple(items), True
    nodemap = node[1]
    if nodemap & bit:
        j = 2 + 2 * datamap.bit_count() + (nodemap & (bit - 1)).bit_count()
        sub = node[j]
        new_sub, added = pure_assoc(sub, shift + _BITS, h, key, value)
        if new_sub is sub:
            return node, False
        return _replaced(node, j, new_sub), added
    i = 2 + 2 * (datamap & (bit - 1)).bit_count()
    items = list(node)
    items[0] = datamap | bit
    items[i:i] = (key, value)
    return tuple(items), True


def _pair(shift: int, h1: int, k1: Any, v1: Any, h2: int, k2: Any, v2: Any) -> Node:
    if shift > _MAX_SHIFT:
        return (h1, k1, v1, k2, v2)
    f1 = (h1 >> shift) & _MASK
    f2 = (h2 >> shift) & _MASK
    if f1 == f2:
        return (0, 1 << f1, _pair(shift + _BITS, h1, k1, v1, h2, k2, v2))
    if f1 < f2:
        return ((1 << f1) | (1 << f2), 0, k1, v1, k2, v2)
    return ((1 << f1) | (1 << f2), 0, k2, v2, k1, v1)


def _collision_assoc(node: Node, h: int, key: Any, value: Any) -> tuple[Node, bool]:
    for i in range(1, len(node), 2):
        k = node[i]
        if k is key or k == key:
            if node[i + 1] is value:
                return node, False
            return _replaced(node, i + 1, value), False
    return (*node, key, value), True


def dissoc(node: Node, shift: int, h: int, key: Any) -> Node:
    """Return the node without ``key``; the same node when the key is absent."""
    if shift > _MAX_SHIFT:
        for i in range(1, len(node), 2):
            k = node[i]
            if k is key or k == key:
                return node[:i] + node[i + 2 :]
        return node
    bit = 1 << ((h >> shift) & _MASK)
    datamap = node[0]
    if datamap & bit:
        i = 2 + 2 * (datamap & (bit - 1)).bit_count()
        k = node[i]
        if k is key or k == key:
            items = list(node)
            items[0] = datamap ^ bit
            del items[i : i + 2]
            return tuple(items)
        return node
    nodemap = node[1]
    if not nodemap & bit:
        return node
    j = 2 + 2 * datamap.bit_count() + (nodemap & (bit - 1)).bit_count()
    sub = node[j]
    new_sub = dissoc(sub, shift + _BITS, h, key)
    if new_sub is sub:
        return node
    single = _single_pair(new_sub, shift + _BITS)
    if single is None:
        return _replaced(node, j, new_sub)
    # Canonical form: a sub-node with one pair left moves into this node.
    k, v = single
    i = 2 + 2 * (datamap & (bit - 1)).bit_count()
    items = list(node)
    items[0] = datamap | bit
    items[1] = nodemap ^ bit
    del items[j]
    items[i:i] = (k, v)
    return tuple(items)


def _single_pair(node: Node, shift: int) -> tuple[Any, Any] | None:
    """The only pair of ``node`` when it holds exactly one and no sub-nodes."""
    if shift > _MAX_SHIFT:
        return (node[1], node[2]) if len(node) == 3 else None
    if node[1] == 0 and len(node) == 4:
        return (node[2], node[3])
    return None


def pure_build(pairs: list[tuple[int, Any, Any]], shift: int = 0) -> Node:
    """Build a node from ``(hash, key, value)`` triples with distinct keys.

    Bulk building partitions by fragment once per level instead of copying a path
    per key, so freezing a large dict costs O(n · depth) small steps.
    """
    if shift > _MAX_SHIFT:
        out: list[Any] = [pairs[0][0]]
        for _, k, v in pairs:
            out += (k, v)
        return tuple(out)
    buckets: dict[int, list[tuple[int, Any, Any]]] = {}
    for p in pairs:
        frag = (p[0] >> shift) & _MASK
        bucket = buckets.get(frag)
        if bucket is None:
            buckets[frag] = [p]
        else:
            bucket.append(p)
    datamap = nodemap = 0
    data: list[Any] = []
    subs: list[Node] = []
    for frag in sorted(buckets):
        bucket = buckets[frag]
        if len(bucket) == 1:
            datamap |= 1 << frag
            data += (bucket[0][1], bucket[0][2])
        else:
            nodemap |= 1 << frag
            subs.append(pure_build(bucket, shift + _BITS))
    return (datamap, nodemap, *data, *subs)


def iter_items(node: Node, shift: int = 0) -> Iterator[tuple[Any, Any]]:
    """Yield every ``(key, value)`` pair, in trie order."""
    if shift > _MAX_SHIFT:
        for i in range(1, len(node), 2):
            yield node[i], node[i + 1]
        return
    end = 2 + 2 * node[0].bit_count()
    for i in range(2, end, 2):
        yield node[i], node[i + 1]
    for j in range(end, len(node)):
        yield from iter_items(node[j], shift + _BITS)


def iter_keys(node: Node, shift: int = 0) -> Iterator[Any]:
    """Yield every key, in trie order."""
    if shift > _MAX_SHIFT:
        yield from node[1::2]
        return
    end = 2 + 2 * node[0].bit_count()
    yield from node[2:end:2]
    for j in range(end, len(node)):
        yield from iter_keys(node[j], shift + _BITS)


def equal_nodes(a: Node, b: Node, shift: int = 0) -> bool:
    """Structural equality of two canonical nodes; shared sub-nodes are skipped."""
    if a is b:
        return True
    if shift > _MAX_SHIFT:
        if len(a) != len(b):
            return False
        other = dict(zip(b[1::2], b[2::2], strict=True))
        for i in range(1, len(a), 2):
            bv = other.get(a[i], MISSING)
            av = a[i + 1]
            if bv is MISSING or not (av is bv or av == bv):
                return False
        return True
    if a[0] != b[0] or a[1] != b[1] or len(a) != len(b):
        return False
    end = 2 + 2 * a[0].bit_count()
    for i in range(2, end, 2):
        ak, bk = a[i], b[i]
        if not (ak is bk or ak == bk):
            return False
        av, bv = a[i + 1], b[i + 1]
        if not (av is bv or av == bv):
            return False
    return all(equal_nodes(a[j], b[j], shift + _BITS) for j in range(end, len(a)))


DiffCallback = Callable[[Any, Any, Any], None]


def diff_nodes(a: Node, b: Node, emit: DiffCallback, shift: int = 0) -> None:
    """Call ``emit(key, old, new)`` for every key whose value differs.

    ``old`` or ``new`` is :data:`MISSING` for a key present on one side only. Shared
    sub-nodes are skipped by identity, so the cost is proportional to the change.
    Values are compared by identity; strings, bytes, numbers and None also by type
    and equality. Other values that are not identical are emitted for the caller
    to compare: ``==`` on containers does not tell ``[1]`` from ``[True]``.
    """
    if a is b:
        return
    if shift > _MAX_SHIFT:
        _diff_flat(dict(iter_items(a, shift)), dict(iter_items(b, shift)), emit)
        return
    adata, anodes, bdata, bnodes = a[0], a[1], b[0], b[1]
    a_end = 2 + 2 * adata.bit_count()
    if adata == bdata and anodes == bnodes:
        # Same shape, the usual case after an edit: pairs line up one to one, and
        # sub-nodes are compared by identity at C speed before any is descended.
        if a_end > 2:
            # Only the pairs whose key or value is not the identical object are
            # looked at in Python.
            for i in compress(
                count(2, 2),
                map(
                    or_,
                    map(is_not, a[2:a_end:2], b[2:a_end:2]),
                    map(is_not, a[3:a_end:2], b[3:a_end:2]),
                ),
            ):
                ak, bk, av, bv = a[i], b[i], a[i + 1], b[i + 1]
                if ak is bk or ak == bk:
                    if not _same(av, bv):
                        emit(ak, av, bv)
                else:
                    emit(ak, av, MISSING)
                    emit(bk, MISSING, bv)
        for j in compress(count(a_end), map(is_not, a[a_end:], b[a_end:])):
            diff_nodes(a[j], b[j], emit, shift + _BITS)
        return
    b_end = 2 + 2 * bdata.bit_count()
    for frag in _bits(adata | anodes | bdata | bnodes):
        bit = 1 << frag
        below = bit - 1
        if adata & bit:
            i = 2 + 2 * (adata & below).bit_count()
            if bdata & bit:
                j = 2 + 2 * (bdata & below).bit_count()
                ak, bk = a[i], b[j]
                if ak is bk or ak == bk:
                    av, bv = a[i + 1], b[j + 1]
                    if not _same(av, bv):
                        emit(ak, av, bv)
                else:
                    emit(ak, a[i + 1], MISSING)
                    emit(bk, MISSING, b[j + 1])
            elif bnodes & bit:
                sub = b[b_end + (bnodes & below).bit_count()]
                _diff_flat({a[i]: a[i + 1]}, dict(iter_items(sub, shift + _BITS)), emit)
            else:
                emit(a[i], a[i + 1], MISSING)
        elif anodes & bit:
            sub_a = a[a_end + (anodes & below).bit_count()]
            if bnodes & bit:
                sub_b = b[b_end + (bnodes & below).bit_count()]
                diff_nodes(sub_a, sub_b, emit, shift + _BITS)
            elif bdata & bit:
                j = 2 + 2 * (bdata & below).bit_count()
                _diff_flat(
                    dict(iter_items(sub_a, shift + _BITS)), {b[j]: b[j + 1]}, emit
                )
            else:
                for k, v in iter_items(sub_a, shift + _BITS):
                    emit(k, v, MISSING)
        elif bdata & bit:
            j = 2 + 2 * (bdata & below).bit_count()
            emit(b[j], MISSING, b[j + 1])
        else:
            sub_b = b[b_end + (bnodes & below).bit_count()]
            for k, v in iter_items(sub_b, shift + _BITS):
                emit(k, MISSING, v)


def _diff_flat(a: dict[Any, Any], b: dict[Any, Any], emit: DiffCallback) -> None:
    for k, av in a.items():
        bv = b.get(k, MISSING)
        if bv is MISSING:
            emit(k, av, MISSING)
        elif not _same(av, bv):
            emit(k, av, bv)
    for k, bv in b.items():
        if k not in a:
            emit(k, MISSING, bv)


#: Types whose ``==`` says two values are the same value (given the same type).
EXACT_TYPES = frozenset({str, int, float, bool, bytes, complex, type(None)})


def _same(a: Any, b: Any) -> bool:
    # A diff records 1 -> True or 1 -> 1.0 as a change: equal, but not the same value.
    return a is b or (type(a) is type(b) and type(a) in EXACT_TYPES and bool(a == b))


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def pure_build_mapping(plain: dict[Any, Any]) -> Node:
    """The trie of a dict's items (:func:`build` of its ``(hash, key, value)``)."""
    return pure_build([(hash(k), k, v) for k, v in plain.items()])


# The functions the other modules call: the compiled ones when built (see
# _native), over the same tuples, else the pure-Python ones above, which stay
# the reference (the tests run both).
lookup: Callable[[Node, int, Any, Any], Any] = pure_lookup
locate: Callable[[Node, int, Any], list[Any] | None] = pure_locate
replace_at: Callable[[list[Any], Any], Node] = pure_replace_at
assoc: Callable[[Node, int, int, Any, Any], tuple[Node, bool]] = pure_assoc
build: Callable[[list[tuple[int, Any, Any]]], Node] = pure_build
build_mapping: Callable[[dict[Any, Any]], Node] = pure_build_mapping
if _speedups is not None:
    lookup = _speedups.lookup
    locate = _speedups.locate
    replace_at = _speedups.replace_at
    assoc = _speedups.assoc
    build = _speedups.build
    build_mapping = _speedups.build_mapping
