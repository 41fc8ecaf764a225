"""The insertion order of a large FrozenDict: positions in a trie, keys in a vector.

A :class:`~statetrail.frozen.FrozenDict` of more than eight keys keeps its items in
a hash trie (``_hamt``), which iterates in hash order. Its insertion order is kept
beside it as Scala's ``VectorMap`` keeps it: a persistent vector of the keys in the
order they came (``_vector``), with a hole where a key was deleted, and a second
hash trie from each key to its position in that vector, so a deletion finds its
hole in O(log32 n). Keys added are entered in that trie only when a deletion
needs it, and a deleted key's entry stays until the next compaction. When holes
outnumber keys the vector is compacted, so its size stays below twice the map's
and deleting costs O(1) amortized.

Why beside the values and not in the value trie, as ``VectorMap``'s
``key -> (position, value)``: reassigning a key, by far the most frequent write (a
``Store.set`` of an existing path), then touches only the value trie, exactly as
before order was kept, and a lookup stays one trie walk with no pair to unpack;
only adding and deleting keys pay for the order (a vector append; a lookup, a
vector put and, once for each key added since, a trie write). Both structures
hold only keys, positions and the hole marker, so their tuples are untracked by
the garbage collector. ``benchmarks/README.md`` has the figures.

A map derived from another by writes shares its vector up to the old size: the
keys it added since sit past that size, and its new holes are the keys it deleted.
:func:`appended_since` reads that difference in time proportional to it, which is
how a diff of two versions stays proportional to the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from itertools import chain, repeat
from operator import is_not
from typing import Any

from statetrail.frozen import _hamt, _vector
from statetrail.frozen._hamt import Node
from statetrail.frozen._vector import Vec

__all__ = ["HOLE", "Order", "add", "appended_since", "build", "keys", "remove"]

#: Where a deleted key was. A bare ``object()``: never a user's key, and not
#: tracked by the garbage collector, so tuples of keys holding it are not either.
HOLE: Any = object()

_live = partial(is_not, HOLE)


#: The order of a large map: the positions trie, the keys vector, and how many
#: positions the trie covers (keys added since are not in it yet).
Order = tuple[Node, Vec, int]


def build(keys: Iterable[Any]) -> Order:
    """The order of distinct ``keys``, every position in the trie."""
    order = _vector.build(tuple(keys))
    pos = _hamt.build([(hash(k), k, i) for i, k in enumerate(_vector.iterate(order))])
    return pos, order, order.size


def keys(order: Vec) -> Iterator[Any]:
    """The keys in insertion order (the holes skipped)."""
    return filter(_live, chain.from_iterable(_vector.leaves(order)))


def add(state: Order, key: Any) -> Order:
    """``key`` (not yet in the map) placed at the end.

    Only the vector grows: the positions trie learns the keys added since it was
    last brought up to date when a deletion needs it, so a map that only grows
    (the usual case) never pays for it, and one that also shrinks pays one trie
    write per key added, once.
    """
    pos, order, indexed = state
    return pos, _vector.append(order, key), indexed


def remove(state: Order, h: int, key: Any, length: int) -> Order:
    """``key`` (in the map, whose hash is ``h``) taken out, leaving a hole.

    ``length`` keys remain. The keys added since the positions trie was last
    brought up to date are entered first. The key's own entry is left as it is
    (pointing at the hole), which saves a trie write per deletion: only live keys
    are looked up, and a key added again gets its new position before any lookup.
    Compacting, when the holes outnumber the remaining keys, drops such entries
    with the holes.
    """
    pos, order, indexed = state
    get, assoc = _vector.get, _hamt.assoc
    for i in range(indexed, order.size):
        k = get(order, i)
        if k is not HOLE:
            pos, _ = assoc(pos, 0, hash(k), k, i)
    order = _vector.put(order, _hamt.lookup(pos, h, key, None), HOLE)
    if order.size > 2 * length:
        return build(keys(order))
    return pos, order, order.size


def appended_since(before: Vec, after: Vec) -> list[Any] | None:
    """The keys ``after`` holds past the keys it kept from ``before``, in order.

    ``after`` grew from ``before`` when every position below ``before.size`` holds
    the same key in both or a hole in ``after`` (a deletion): then ``after``'s
    order is ``before``'s with the holes' keys taken out and the returned keys
    appended, some of which ``before`` may have held (deleted and added again).
    Such keys that come first and already follow every kept key in ``before``'s
    order, in the same order, need no move and are left out. ``None`` when
    ``after`` did not grow from ``before`` (compacted, or built apart). The cost is
    proportional to what differs, shared subtrees being skipped.
    """
    if after.size < before.size:
        return None
    get = _vector.get
    was: dict[Any, int] = {}
    for i in _vector.changed_indices(before, after):
        if get(after, i) is not HOLE:
            return None
        was[get(before, i)] = i
    tail = list(filter(_live, map(get, repeat(after), range(before.size, after.size))))
    if was and tail and tail[0] in was:
        # The last kept key: scan back over holes, a few steps at most (a long run
        # of old holes only costs a move that was not needed).
        last = before.size - 1
        while last >= 0 and get(after, last) is HOLE and before.size - last < 64:
            last -= 1
        if last < 0 or get(after, last) is not HOLE:
            kept = 0
            for k in tail:
                i = was.get(k, -1)
                if i <= last:
                    break
                last = i
                kept += 1
            del tail[:kept]
    return tail
