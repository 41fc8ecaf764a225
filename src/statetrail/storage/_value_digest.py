"""The value commitment: a Merkle digest of a whole value, kept up to date per write.

Each row of format 3 carries the digest of the whole value its revision holds,
inside its payload (``{"patch": [...], "value_digest": "..."}``), so the row's
digest and the chain cover it. A checkpoint, which holds a whole value, is then
checked against the chain whatever was erased: a forged erasure (a parent's
payload dropped, the child's checkpoint given another value and listed in a
forged tombstone) or an ordinary checkpoint rewritten with its digest
recomputed no longer passes, since the child's own row, written at its time,
says what its value hashes to (``_integrity``; docs/storage.md, "Integrity").

**What the digest is.** A function of the value alone, in every process: equal
values give equal digests whatever history or tree shape built them, and it
never uses Python's ``hash()`` (randomised per process for ``str``). SHA-256
throughout; ``H(tag, ...)`` below is SHA-256 of a one-byte tag and the parts.

- a scalar: ``H("s", utf-8)`` for a string, ``H("i", decimal)``, ``H("f",
  repr)``, ``H("b", 0|1)``, ``H("n")``; any other leaf (tuple, set, date,
  dataclass ...) ``H("j", canonical(to_json(v)))``, the codec's own bytes, so a
  value read back from storage (which the codec returns as itself) hashes the
  same;
- a dict of at most :data:`SMALL_DICT` keys: ``H("D", n, kd0, vd0, kd1, vd1,
  ...)`` in its order (``kd`` the key's digest as a scalar, ``vd`` the value's);
- a larger dict: a Merkle trie over the keys' digests, a canonical shape (the
  first four hex digits of ``kd`` choose a bucket, one 16-way level per digit;
  empty subtrees are left out), each entry ``kd, vd, kd of the next key in
  order``, and ``H("M", n, kd of the first key, root)``. The links commit to the
  order: ``dict`` order is part of the value (``canonical()`` keeps it);
- a list of at most :data:`SMALL_LIST` items: ``H("L", n, vd0, vd1, ...)``; a
  longer one: chunks of 32 items by index, a 32-way tree over them, and ``H("V",
  n, root)``.

Why this and not a sum or polynomial of leaf hashes (an incremental
"multiset hash"): those are linear, and Wagner's generalized-birthday (k-sum)
attack finds collisions when many leaves can change, which is exactly what an
attacker who writes the file controls. A Merkle tree over a shape fixed by the
content is as collision-resistant as SHA-256 itself. Why not the frozen tries'
own shape: it depends on ``hash()`` (seeded per process) and on history
(holes, relaxed nodes), so two equal values could hash differently. Why buckets
by digest prefix and not a prolly tree (content-defined chunk boundaries): a
dict's writes are by key, and a fixed prefix trie is found by key in four
steps with no chunk to re-split; its order is committed by the links, which a
write of an existing key (the usual ``Store.set``) does not touch. A list is
chunked by index, so an item set or appended costs ``O(log n)``, while an
insert or delete in the middle rehashes the chunks after it (about ``n / 32``
hashes of 1 KB); a prolly tree would bound that too, and is left for the
content-addressed checkpoints of issue 11.

**Kept up to date.** :class:`Tracker` keeps the digests of one value as a
shadow tree (Python dicts and lists mirroring the value, each node with its
cached digest) and takes each write's changes (the ``Change`` objects the
stored patch reads back as; only their new values count): a write rehashes the
nodes on its paths and the new values it brings, not the state. The shadow
lives beside the journal of a stored timeline, not in the frozen containers:
the frozen tries' nodes are plain tuples with no room for a cache, an in-memory
``Store.set`` must not pay for it, and a compiled trie (``_hamt``) needs to
keep nothing for it. The price: the first write of a timeline opened from
storage, or a write on another branch than the last, hashes the whole value
once (0.07 s of CPU for 10,000 entries, 0.66 s for 100,000), and the digests
take memory beside the value (about 250 bytes an entry). A write that loses a
race for its number is stepped back with its inverted changes and then follows
the other process's rows, so writers taking turns do not hash whole values.

Figures (CPU per single-leaf step of a random key, this 2-core machine under
load, ``benchmarks/bench_durable_digest.py``): 5.6 us at 13 leaves, 13.5 us at
10,000 entries, 24 us at 1,000,000 (a bucket of about 15 keys re-joined: each
keeps its entries' bytes, and only the keys a write touched are made again).
A whole durable ``Store.set`` measured 5-9, 25-30 and about 100 us more than
main's (benchmarks/README.md): the rest is the collector and colder caches.

A compiled ``_hamt`` (wt/speed) needs to keep nothing for this module: the
shadow reads values through ``FrozenDict.items()`` and list iteration only, and
never the tries' nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from statetrail._change import Change, fields
from statetrail.frozen import MISSING, FrozenDict, FrozenList
from statetrail.frozen._hooks import lazy
from statetrail.storage import codec

__all__ = ["SMALL_DICT", "SMALL_LIST", "Tracker", "plain_digest", "value_digest"]

#: Dicts with at most this many keys are hashed flat, in order.
SMALL_DICT = 32
#: Lists with at most this many items are hashed flat.
SMALL_LIST = 64
_CHUNK = 32
_LEVELS = 4  # hex digits of a key's digest that choose its bucket
_ZERO = bytes(32)
#: No key (before the first, after the last). A bare ``object()``, which the
#: garbage collector does not track, so slots of strings and digests holding it
#: are not tracked either (a million-key dict has a million slots).
_MISSING: Any = object()

_sha = hashlib.sha256


def _n(count: int) -> bytes:
    return count.to_bytes(8, "big")


def _leaf(value: Any, allow_pickle: bool) -> bytes:
    """The digest of a value that is not a dict or list."""
    t = type(value)
    if t is str:
        return _sha(b"s" + value.encode("utf-8", "surrogatepass")).digest()
    if t is bool:
        return _sha(b"b1" if value else b"b0").digest()
    if t is int:
        return _sha(b"i" + str(value).encode()).digest()
    if t is float:
        return _sha(b"f" + repr(value).encode()).digest()
    if value is None:
        return _sha(b"n").digest()
    data = codec.canonical(codec.to_json(value, allow_pickle=allow_pickle))
    return _sha(b"j" + data).digest()


class _Dict:
    """The shadow of a dict: its keys in order, each with its digest and value's.

    ``slots`` maps a key to ``(kd, leaf digest or shadow, previous, next)`` in the
    dict's order (a Python dict keeps it as the frozen one does: a replaced key
    keeps its place, an added one goes last). The links and buckets are kept only
    while the dict is larger than :data:`SMALL_DICT`: ``buckets`` maps a bucket
    to its entries, ``kd -> kd + vd + next key's kd`` (the bytes its digest
    joins, in ``kd`` order), ``dirty`` holds the keys whose entry is to be made
    again, ``emptied`` the buckets that lost an entry.
    """

    __slots__ = (
        "buckets",
        "cached",
        "dirty",
        "emptied",
        "first",
        "keyof",
        "last",
        "nodes",
        "pickle",
        "slots",
    )

    def __init__(self, items: list[tuple[Any, Any]], allow_pickle: bool) -> None:
        self.pickle = allow_pickle
        self.cached: bytes | None = None
        self.buckets: dict[int, dict[bytes, bytes]] | None = None
        self.nodes: list[dict[int, list[bytes]]] = []
        self.dirty: set[Any] = set()
        self.emptied: set[int] = set()
        #: Each key by its digest, while large: a bucket's keys, for the node
        #: store (``_nodes``), which writes buckets with their keys.
        self.keyof: dict[bytes, Any] = {}
        self.first: Any = _MISSING
        self.last: Any = _MISSING
        self.slots: dict[Any, tuple[Any, ...]] = {
            key: (
                _sha(b"s" + key.encode("utf-8", "surrogatepass")).digest()
                if type(key) is str
                else _leaf(key, allow_pickle),
                child,
                _MISSING,
                _MISSING,
            )
            for key, child in items
        }
        self._relink()

    # -- the large form: links and buckets ----------------------------------------

    def _relink(self) -> None:
        """Build (or drop) the links and buckets for the current size."""
        self.cached = None
        slots = self.slots
        if len(slots) <= SMALL_DICT:
            self.buckets = None
            self.nodes = []
            self.dirty = set()
            self.emptied = set()
            self.keyof = {}
            return
        keys = list(slots)
        for key, before, after in zip(
            keys, [_MISSING, *keys[:-1]], [*keys[1:], _MISSING], strict=True
        ):
            kd, child, _, _ = slots[key]
            slots[key] = (kd, child, before, after)
        self.buckets = {}
        self.keyof = {slots[key][0]: key for key in keys}
        self.nodes = [{} for _ in range(_LEVELS)]
        self.first = keys[0]
        self.last = keys[-1]
        self.dirty = set(keys)
        self.emptied = set()

    def touch(self, key: Any) -> None:
        """``key``'s value (or a value under it) changed."""
        self.cached = None
        if self.buckets is not None:
            self.dirty.add(key)

    def put(self, key: Any, child: Any) -> None:
        """Bind ``key`` (present) to ``child``, keeping its place."""
        kd, _, before, after = self.slots[key]
        self.slots[key] = (kd, child, before, after)
        self.touch(key)

    def add(self, key: Any, child: Any) -> None:
        """Add ``key`` (absent) at the end."""
        kd = _leaf(key, self.pickle)
        self.slots[key] = (kd, child, self.last, _MISSING)
        if self.buckets is None:
            self.cached = None
            if len(self.slots) > SMALL_DICT:
                self._relink()
            return
        self.keyof[kd] = key
        if self.last is not _MISSING:
            self._link(self.last, key)
        else:
            self.first = key
        self.last = key
        self.touch(key)

    def _link(self, key: Any, following: Any) -> None:
        """Point ``key``'s next link at ``following``: its bucket's digest changes."""
        kd, child, before, _ = self.slots[key]
        self.slots[key] = (kd, child, before, following)
        self.touch(key)

    def remove(self, key: Any) -> None:
        """Take ``key`` (present) out."""
        if self.buckets is None:
            del self.slots[key]
            self.cached = None
            return
        kd, _, previous, following = self.slots[key]
        self.cached = None
        del self.slots[key]
        del self.keyof[kd]
        self.dirty.discard(key)
        bucket = self.buckets.get(_bucket(kd))
        if bucket is not None and bucket.pop(kd, None) is not None:
            self.emptied.add(_bucket(kd))
        if previous is _MISSING:
            self.first = following
        else:
            self._link(previous, following)
        if following is _MISSING:
            self.last = previous
        else:
            slot = self.slots[following]
            self.slots[following] = (slot[0], slot[1], previous, slot[3])
        if len(self.slots) <= SMALL_DICT:
            self._relink()

    def digest(self) -> bytes:
        cached = self.cached
        if cached is not None:
            return cached
        slots = self.slots
        if self.buckets is None:
            parts = [b"D", _n(len(slots))]
            for kd, child, _, _ in slots.values():
                parts += (kd, child if type(child) is bytes else child.digest())
            cached = _sha(b"".join(parts)).digest()
        else:
            cached = self._large()
        self.cached = cached
        return cached

    def _large(self) -> bytes:
        assert self.buckets is not None
        slots, buckets, nodes = self.slots, self.buckets, self.nodes
        # The entries of the keys that changed, then their buckets' digests.
        changed = self.emptied
        for key in self.dirty:
            kd, child, _, following = slots[key]
            b = (kd[0] << 8) | kd[1]
            entry = (
                kd
                + (child if type(child) is bytes else child.digest())
                + (_ZERO if following is _MISSING else slots[following][0])
            )
            bucket = buckets.get(b)
            if bucket is None:
                buckets[b] = {kd: entry}
            else:
                bucket[kd] = entry
            changed.add(b)
        self.dirty = set()
        self.emptied = set()
        # nodes[d] maps a node (its first 4 * (d + 1) bits) to its 16 children's
        # digests; the children of the deepest are the buckets.
        below = nodes[_LEVELS - 1]
        up: set[int] = set()
        for b in changed:
            members = buckets.get(b)
            kids = below.get(b >> 4)
            if kids is None:
                kids = below[b >> 4] = [b""] * 16
            up.add(b >> 4)
            if not members:
                buckets.pop(b, None)
                kids[b & 15] = b""
                continue
            body = b"".join([members[kd] for kd in sorted(members)])
            kids[b & 15] = _NIBBLES[b & 15] + _sha(b"B" + body).digest()
        changed = up
        for depth in range(_LEVELS - 1, 0, -1):
            level, above = nodes[depth], nodes[depth - 1]
            up = set()
            for node in changed:
                kids = level[node]
                body = b"".join(kids)
                row = above.get(node >> 4)
                if row is None:
                    row = above[node >> 4] = [b""] * 16
                if body:
                    row[node & 15] = _NIBBLES[node & 15] + _sha(b"N" + body).digest()
                else:
                    del level[node]
                    row[node & 15] = b""
                up.add(node >> 4)
            changed = up
        root = _sha(b"N" + b"".join(nodes[0][0])).digest()
        return _sha(b"M" + _n(len(slots)) + slots[self.first][0] + root).digest()


#: A child's place in its node, before its digest: ``nibble + digest`` per child
#: present, ``b""`` per child absent, so a node's digest is one join.
_NIBBLES = [bytes((i,)) for i in range(16)]


def _bucket(kd: bytes) -> int:
    """The bucket of a key digest: its first four hex digits."""
    return (kd[0] << 8) | kd[1]


class _List:
    """The shadow of a list: each item's digest or shadow, and chunk digests."""

    __slots__ = ("cached", "dirty", "items", "levels")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.cached: bytes | None = None
        self.levels: list[list[bytes]] = []
        self.dirty: set[int] = set()
        self.reset()

    def reset(self) -> None:
        self.cached = None
        self.levels = []
        self.dirty = set(range((len(self.items) + _CHUNK - 1) // _CHUNK))

    def touch(self, index: int) -> None:
        self.cached = None
        self.dirty.add(index // _CHUNK)

    def put(self, index: int, child: Any) -> None:
        self.items[index] = child
        self.touch(index)

    def add(self, index: int, child: Any) -> None:
        self.items.insert(index, child)
        self._shifted(index)

    def remove(self, index: int) -> None:
        del self.items[index]
        self._shifted(index)

    def _shifted(self, index: int) -> None:
        """Items from ``index`` on moved: their chunks are rehashed."""
        self.cached = None
        chunks = (len(self.items) + _CHUNK - 1) // _CHUNK
        self.dirty.update(range(index // _CHUNK, chunks))
        if self.levels:
            del self.levels[0][chunks:]

    def digest(self) -> bytes:
        cached = self.cached
        if cached is not None:
            return cached
        items = self.items
        if len(items) <= SMALL_LIST:
            parts = [b"L", _n(len(items))]
            parts += (c if type(c) is bytes else c.digest() for c in items)
            self.levels = []
            self.dirty = set(range((len(items) + _CHUNK - 1) // _CHUNK))
            cached = _sha(b"".join(parts)).digest()
        else:
            cached = self._large()
        self.cached = cached
        return cached

    def _large(self) -> bytes:
        items = self.items
        count = (len(items) + _CHUNK - 1) // _CHUNK
        if not self.levels:
            self.levels = [[]]
            self.dirty = set(range(count))
        chunks = self.levels[0]
        del chunks[count:]
        if len(chunks) < count:
            chunks.extend(_ZERO for _ in range(count - len(chunks)))
        # The last chunk always: a list that shrank changed it without a step.
        changed = {c for c in self.dirty if c < count} | {count - 1}
        for c in changed:
            part = items[c * _CHUNK : (c + 1) * _CHUNK]
            chunks[c] = _sha(
                b"C" + b"".join(x if type(x) is bytes else x.digest() for x in part)
            ).digest()
        below = chunks
        depth = 1
        while len(below) > 1:
            size = (len(below) + _CHUNK - 1) // _CHUNK
            if len(self.levels) <= depth:
                self.levels.append([_ZERO] * size)
                changed = set(range(len(below)))
            level = self.levels[depth]
            del level[size:]
            if len(level) < size:
                level.extend(_ZERO for _ in range(size - len(level)))
            changed = {c // _CHUNK for c in changed} | {size - 1}
            for c in changed:
                level[c] = _sha(
                    b"T" + b"".join(below[c * _CHUNK : (c + 1) * _CHUNK])
                ).digest()
            below = level
            depth += 1
        del self.levels[depth:]
        self.dirty = set()
        return _sha(b"V" + _n(len(items)) + below[0]).digest()


def _shadow(value: Any, allow_pickle: bool) -> Any:
    """The shadow of ``value``: a leaf's digest, or a dict's or list's shadow."""
    t = type(value)
    if t is str:  # the usual leaves, spared a call
        return _sha(b"s" + value.encode("utf-8", "surrogatepass")).digest()
    if t is int:
        return _sha(b"i" + str(value).encode()).digest()
    if t is FrozenDict or t is dict:
        return _Dict(
            [(k, _shadow(v, allow_pickle)) for k, v in value.items()], allow_pickle
        )
    if t is FrozenList or t is list:
        return _List([_shadow(v, allow_pickle) for v in value])
    make = lazy.get(t)
    if make is not None:  # loaded lazily (``_lazy``): its frozen value's shadow
        return _shadow(make(value), allow_pickle)
    return _leaf(value, allow_pickle)


def _digest(shadow: Any) -> bytes:
    return shadow if type(shadow) is bytes else shadow.digest()


#: How deep :func:`plain_digest` follows a tree before leaving it to the codec.
_PLAIN_DEPTH = 8


def plain_digest(tree: Any, depth: int = 0) -> bytes | None:
    """The digest of ``codec.from_json(tree)``, worked out from the JSON tree.

    For a tree of strings, integers, booleans, ``None``, finite floats, and
    small untagged objects and arrays of them (at most :data:`SMALL_DICT` keys,
    :data:`SMALL_LIST` items): the codec returns such a tree as it is (frozen),
    so its digest is the same without decoding it and building its shadow.
    ``None`` for anything else (a tag, a large container, a non-finite number,
    a deep tree): the caller decodes it, and the codec decides.

    ``verify`` checks a checkpoint's nodes with it (``_nodes.check``): their
    inline values were two thirds of a node's check (issue 11).

    >>> from statetrail.frozen import freeze
    >>> plain = {"n": 1, "name": "entry 1", "tags": [True, None, 2.5]}
    >>> plain_digest(plain) == _digest(_shadow(freeze(plain), False))
    True
    >>> plain_digest({"$t": "tuple", "v": [1]}) is None
    True
    """
    t = type(tree)
    if t is str:
        return _sha(b"s" + tree.encode("utf-8", "surrogatepass")).digest()
    if t is int:
        return _sha(b"i" + str(tree).encode()).digest()
    if t is bool:
        return _sha(b"b1" if tree else b"b0").digest()
    if tree is None:
        return _sha(b"n").digest()
    if t is float:
        if tree - tree != 0.0:  # inf or nan: the codec refuses it untagged
            return None
        return _sha(b"f" + repr(tree).encode()).digest()
    if depth >= _PLAIN_DEPTH:
        return None
    if t is dict:
        if len(tree) > SMALL_DICT or "$t" in tree:
            return None
        parts = [b"D", _n(len(tree))]
        for key, item in tree.items():
            vd = plain_digest(item, depth + 1)
            if vd is None:
                return None
            parts.append(_sha(b"s" + key.encode("utf-8", "surrogatepass")).digest())
            parts.append(vd)
        return _sha(b"".join(parts)).digest()
    if t is list:
        if len(tree) > SMALL_LIST:
            return None
        parts = [b"L", _n(len(tree))]
        for item in tree:
            vd = plain_digest(item, depth + 1)
            if vd is None:
                return None
            parts.append(vd)
        return _sha(b"".join(parts)).digest()
    return None


def value_digest(value: Any, *, allow_pickle: bool = False) -> str:
    """The value commitment of ``value`` (hex), worked out from scratch.

    Equal values (dicts in the same order) give equal digests in every process.

    >>> from statetrail.frozen import freeze
    >>> plain = {"a": [1, 2], "b": 0}
    >>> value_digest(plain) == value_digest(freeze(plain))
    True
    >>> value_digest({"a": 1, "b": 0}) == value_digest({"b": 0, "a": 1})
    False
    """
    return _digest(_shadow(value, allow_pickle)).hex()


def _op(old: Any, new: Any) -> str:
    """A change's step: ``-`` removes, ``+`` adds, ``=`` replaces."""
    if new is MISSING:
        return "-"
    return "+" if old is MISSING else "="


class Tracker:
    """The digest of one value, kept up to date as changes are applied.

    ``number`` is the revision whose value the tracker holds (``None`` before
    any): the journal advances it from a parent to its child with the child's
    changes, and starts over from the whole value when the parent is another.
    Not thread-safe: the journal calls it under the timeline's lock.
    """

    __slots__ = ("_pickle", "_root", "number", "wholes")

    def __init__(self, *, allow_pickle: bool = False) -> None:
        self._pickle = allow_pickle
        self._root: Any = None
        self.number: int | None = None
        #: How many times a whole value was hashed (the costly case).
        self.wholes = 0

    def reset(self, value: Any, number: int | None) -> str:
        """Start over from ``value`` (the whole value of revision ``number``)."""
        self.wholes += 1
        self._root = _shadow(value, self._pickle)
        self.number = number
        return _digest(self._root).hex()

    def advance(self, changes: Iterable[Change], value: Any, number: int) -> str:
        """Apply ``changes`` (the patch from the held value to ``value``).

        Only the new values are read (a stored patch has no old ones).

        ``value`` is the result, used only when a step cannot be followed in the
        shadow (then the whole value is hashed again). Returns the new digest.
        """
        self.number = None  # until the steps are all in
        try:
            for change in changes:
                path, old, new = fields(change)
                self._step(_op(old, new), path, new)
        except _Lost:
            return self.reset(value, number)
        self.number = number
        return _digest(self._root).hex()

    def revert(self, changes: Iterable[Change], number: int) -> None:
        """Undo the last write with its inverse ``changes``, back to ``number``.

        A key removed from a dict cannot be put back in its place by a step (an
        added key goes last): such an undo forgets the value instead, and the
        next write hashes it whole.
        """
        self.number = None
        try:
            for change in changes:
                path, old, new = fields(change)
                self._step(_op(old, new), path, new, back=True)
        except _Lost:
            self.forget()
            return
        self.number = number

    def shadow(self, number: int) -> Any:
        """The shadow tree of revision ``number``'s value, if it is the one held.

        For the node store (``_nodes``), which writes the tree's nodes; ``None``
        when another revision (or none) is held. Its digests are up to date
        after :meth:`advance` or :meth:`reset` returned.
        """
        return self._root if self.number == number else None

    def forget(self) -> None:
        """Drop the held value (a write failed after it was applied)."""
        self._root = None
        self.number = None

    def _step(self, op: str, path: Sequence[Any], new: Any, back: bool = False) -> None:
        if not path:
            if op != "=":
                raise _Lost
            self._root = _shadow(new, self._pickle)
            return
        node = self._root
        trail: list[tuple[Any, Any]] = []
        for key in path[:-1]:
            child = _child(node, key)
            trail.append((node, key))
            node = child
        key = path[-1]
        if type(node) is _Dict:
            present = key in node.slots
            if op == "=" and present:
                node.put(key, _shadow(new, self._pickle))
            elif op == "+" and not present and not back:
                node.add(key, _shadow(new, self._pickle))
            elif op == "-" and present:
                node.remove(key)
            else:
                raise _Lost
        elif type(node) is _List and type(key) is int and key >= 0:
            size = len(node.items)
            if op == "=" and key < size:
                node.put(key, _shadow(new, self._pickle))
            elif op == "+" and key <= size:
                node.add(key, _shadow(new, self._pickle))
            elif op == "-" and key < size:
                node.remove(key)
            else:
                raise _Lost
        else:
            raise _Lost
        for parent, step in trail:
            parent.touch(step)


class _Lost(Exception):
    """A step the shadow cannot follow: hash the whole value again."""


def _child(node: Any, key: Any) -> Any:
    if type(node) is _Dict:
        slot = node.slots.get(key)
        if slot is None or type(slot[1]) is bytes:
            raise _Lost
        return slot[1]
    if type(node) is _List and type(key) is int and 0 <= key < len(node.items):
        child = node.items[key]
        if type(child) is bytes:
            raise _Lost
        return child
    raise _Lost
