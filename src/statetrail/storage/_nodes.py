"""Content-addressed checkpoints: the value commitment's own tree, stored by digest.

A checkpoint used to hold the whole value as JSON text: with a 10,000-entry
state every 64th durable write serialised all of it (about 100 ms), and a cold
read parsed all of it again. The value commitment (``_value_digest``) already
keeps a Merkle tree of the value beside each stored timeline's journal, updated
per write. This module stores that tree's nodes keyed by their digest, as git
stores trees: a checkpoint is then the text ``#nodes:<root digest>``, and it
writes only the nodes that are not stored yet, which are the nodes on the
paths the writes since the last checkpoint touched.

**A node's key is its digest in the value commitment**, the very SHA-256 the
rows' ``value_digest`` carries. The root of a checkpoint is therefore checked
against its row's committed digest by a string compare, and a node read back is
checked by working its digest out from its bytes (its children's digests are
in it, its small values inline): a node altered, swapped or missing raises
:class:`~statetrail.CorruptHistoryError`. Nothing in a node depends on
``hash()``: its bytes are canonical JSON, buckets ordered by key digest, so
every process writes the same bytes for the same value (tested under two
``PYTHONHASHSEED`` values).

**The node kinds** (each body is canonical JSON ``[kind, ...]``; a *child* is
``[0, value]``, the codec's JSON of a value small enough to sit inline, or
``[1, digest]``, a node of its own):

- ``["J", value]``: a whole value without large parts (the root only);
- ``["M", n, first key, root]``: a dict of more than 32 keys; ``["N",
  [[nibble, digest], ...]]``: one of the four 16-way levels of its trie by
  key-digest prefix; ``["B", [[key, child, next key's digest], ...]]``: a
  bucket, its entries in key-digest order (the links give the dict's order);
- ``["V", n, root]``: a list of more than 64 items; ``["T", [digest, ...]]``:
  a 32-way level of its tree; ``["C", [child, ...]]``: a chunk of 32 items;
- ``["D", [[key, child], ...]]`` and ``["L", [child, ...]]``: a small dict or
  list holding a large one (else it is inline in its parent).

Why these and not the frozen tries' own nodes: those are shaped by ``hash()``
(seeded per process) and by history, so equal values would store differently
and another process could not share them; the commitment's tree has a
canonical shape and its digests are computed per write anyway, so a checkpoint
costs the serialisation of the changed nodes only. A bucket holds about one key
at 10,000 entries and about 15 at 1,000,000 (65,536 buckets), so a write of one
key makes six new nodes (``M``, four ``N``, one ``B``, about 1.7 KB); 64 writes
between checkpoints make at most 384.

**Figures** (``benchmarks/bench_durable_sizes.py --quick``, SQLite,
``durability="full"``, one run each of this branch and of main back to back on
the shared 2-core machine at a load average of 11-13, so wall times are
inflated several times; CPU time per write is the steadier figure):

=================  ==========================  ==========================
state              main (whole checkpoints)    nodes (this module)
=================  ==========================  ==========================
10,000 entries     6.5 ms mean, max 112 ms;    6.4 ms mean, max 110 ms;
                   CPU max 16.3 ms             CPU max 16.0 ms
100,000 entries    32.8 ms mean, p99 1.45 s,   6.1 ms mean, p99 136 ms,
                   max 1.93 s; CPU max 208 ms  max 195 ms; CPU max 30 ms
=================  ==========================  ==========================

A checkpoint at 10,000 entries writes about 200 nodes (64 random keys
changed): 3.5-5.7 ms of CPU to make them (1.6-2.5 ms of it the seven
presence queries, one per tree level) and 4-13 ms to insert them with the row
(random keys in a B-tree: each node dirties a page); at 10,000 entries a whole
value is about as cheap, at 100,000 and beyond the nodes win by the state's
size. A cold read is slower than a whole checkpoint's: 1.6 s against 0.65 s
at 10,000 entries and 17.7 s against 13.0 s at 100,000 (every node parsed
and checked in Python, against one parse and one digest of the whole).

**Sweeping** (:func:`sweep`): nodes no checkpoint reaches any more (after a
trim, or between checkpoints a value passed through) are deleted in batches,
guarded against a writer's concurrent checkpoint (see its docstring and
docs/storage.md, "Sweeping unreachable nodes"). The JSON file keeps
whole-value checkpoints (it is rewritten whole, so a node table would not make
its checkpoints cheaper). A cold read no longer
loads the whole value: ``_lazy`` reads the nodes on the path of what is asked
for (:func:`load` is what materialises such a value, and what ``verify``
uses).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from statetrail.errors import CorruptHistoryError, StatetrailError, StorageError
from statetrail.frozen import freeze
from statetrail.storage import codec
from statetrail.storage._value_digest import (
    _CHUNK,
    _LEVELS,
    _ZERO,
    SMALL_LIST,
    _Dict,
    _digest,
    _leaf,
    _List,
    _n,
    _shadow,
    plain_digest,
)

__all__ = [
    "EPOCH",
    "PREFIX",
    "SWEEP_BATCH",
    "Node",
    "NodeWriter",
    "NodesSweptError",
    "check",
    "load",
    "reference",
    "referenced",
    "sweep",
    "worth",
]

#: How a checkpoint that names a root node begins (not JSON: an older reader
#: refuses it rather than taking it for a value).
PREFIX = "#nodes:"
#: A stored node: its digest (32 bytes) and its body.
Node = tuple[bytes, bytes]
#: Which of these digests are stored (the backend's ``has_nodes``).
Present = Callable[[list[bytes]], set[bytes]]
#: The bodies of those of these digests that are stored (``Backend.nodes``).
Fetch = Callable[[list[bytes]], dict[bytes, bytes]]
#: A node to write: its digest and how to make its body and its children.
_Task = tuple[bytes, Callable[[], tuple[bytes, list[Any]]]]

_sha = hashlib.sha256


def _i64(n: int) -> bool:
    """Whether ``n`` is a JSON integer as the codec writes it (within 64 bits)."""
    return -(2**63) <= n < 2**63


#: The key of the node store's one row that is not a node: how many sweep
#: batches have deleted nodes (its body, decimal). Not 32 bytes, so no digest
#: asked for ever meets it, and a sweep never lists it.
EPOCH = b"sweeps"
#: Unreachable nodes deleted per transaction by :func:`sweep`: about as long
#: a wait for a writer as a trim's batch of rows.
SWEEP_BATCH = 512


class NodesSweptError(StorageError):
    """A sweep deleted nodes since this writer asked which were stored.

    Raised by an append naming nodes when the store's sweep count is not the
    one the writer read before working out its nodes: the writer forgets what
    it thought stored and works them out again (nothing was written).
    """


#: What a malformed node raises on the way (each becomes CorruptHistoryError).
_BAD = (StatetrailError, ValueError, TypeError, KeyError, IndexError, OverflowError)
#: How many digests a writer remembers as stored before it starts over (then
#: it asks the backend again: one query per level of the tree).
_KNOWN_KEPT = 1 << 20


def reference(root: bytes) -> str:
    """The checkpoint text that names ``root`` (a node's digest)."""
    return PREFIX + root.hex()


def referenced(text: str) -> bytes | None:
    """The root digest a checkpoint text names, or ``None`` for a whole value.

    Raises:
        CorruptHistoryError: It names one, malformed.
    """
    if not text.startswith(PREFIX):
        return None
    hexes = text[len(PREFIX) :]
    try:
        root = bytes.fromhex(hexes)
    except ValueError:
        root = b""
    if len(root) != 32 or hexes != root.hex():
        raise CorruptHistoryError(f"a checkpoint names a malformed node: {text[:90]!r}")
    return root


# -- writing -------------------------------------------------------------------------


def worth(shadow: Any) -> bool:
    """Whether a value is worth storing as nodes ahead of its first checkpoint.

    True when it has a large part (a dict of more than 32 keys, a list of more
    than 64 items): a value without one is a single node, written whole.
    """
    return _big(shadow)


def _big(shadow: Any) -> bool:
    """Whether ``shadow``'s value is stored as nodes (a large part in it)."""
    t = type(shadow)
    if t is _Dict:
        return shadow.buckets is not None or any(
            type(slot[1]) is not bytes and _big(slot[1])
            for slot in shadow.slots.values()
        )
    if t is _List:
        return len(shadow.items) > SMALL_LIST or any(
            type(c) is not bytes and _big(c) for c in shadow.items
        )
    return False


class NodeWriter:
    """Writes the nodes of one timeline's values, remembering which are stored.

    Not thread-safe: the journal calls it under the timeline's lock.
    """

    __slots__ = ("_epoch", "_known", "_pickle")

    def __init__(self, *, allow_pickle: bool = False) -> None:
        self._pickle = allow_pickle
        self._known: set[bytes] = set()
        self._epoch: int | None = None

    def save(
        self, shadow: Any, value: Any, present: Present, epoch: int | None = None
    ) -> tuple[bytes, list[Node]]:
        """The root digest of ``value`` and the nodes of it not stored yet.

        ``shadow`` is the value commitment's tree of ``value`` (up to date);
        ``present`` tells which digests the backend has. The tree is walked
        from the root a level at a time, and a subtree whose root is stored is
        not entered: content addressing makes all of it stored (a sweep
        deletes a node before its children, :func:`sweep`). ``epoch`` is the
        store's sweep count, read before: when it moved since the last call,
        what this writer remembers as stored is forgotten (a sweep may have
        deleted it), and the append naming the nodes passes it on to be
        checked in its transaction.
        """
        known = self._known
        if epoch != self._epoch:
            known.clear()
            self._epoch = epoch
        if len(known) > _KNOWN_KEPT:
            known.clear()
        root = _digest(shadow)
        frontier: list[_Task] = [(root, self._root_task(shadow, value))]
        out: list[Node] = []
        while frontier:
            ask = [d for d, _ in frontier if d not in known]
            stored = present(ask) if ask else set()
            known.update(stored)
            after: list[_Task] = []
            for digest, make in frontier:
                if digest in known:
                    continue
                body, children = make()
                out.append((digest, body))
                known.add(digest)
                after += children
            frontier = after
        return root, out

    def forget(self) -> None:
        """Forget which nodes are stored (a write of them may have failed)."""
        self._known.clear()
        self._epoch = None

    # -- the tasks: a node's body and its children's tasks --------------------------

    def _root_task(
        self, shadow: Any, value: Any
    ) -> Callable[[], tuple[bytes, list[Any]]]:
        if _big(shadow):
            return self._task(shadow, value)
        return lambda: (
            codec.canonical(["J", codec.to_json(value, allow_pickle=self._pickle)]),
            [],
        )

    def _task(self, shadow: Any, value: Any) -> Callable[[], tuple[bytes, list[Any]]]:
        """The task of a value stored as nodes (:func:`_big`)."""
        if type(shadow) is _Dict:
            if shadow.buckets is not None:
                return lambda: self._large_dict(shadow, value)
            return lambda: self._small_dict(shadow, value)
        if len(shadow.items) > SMALL_LIST:
            return lambda: self._large_list(shadow, value)
        return lambda: self._small_list(shadow, value)

    def _child(self, shadow: Any, value: Any, tasks: list[_Task]) -> list[Any]:
        """A child's form in its parent; a node of its own goes in ``tasks``."""
        if type(shadow) is bytes:  # a leaf
            t = type(value)
            if t is str or t is bool or value is None or (t is int and _i64(value)):
                return [0, value]  # its own JSON (the codec's too)
        elif _big(shadow):
            digest = _digest(shadow)
            tasks.append((digest, self._task(shadow, value)))
            return [1, digest.hex()]
        return [0, codec.to_json(value, allow_pickle=self._pickle)]

    def _key(self, key: Any) -> Any:
        if type(key) is str:
            return key
        return codec.to_json(key, allow_pickle=self._pickle)

    def _large_dict(self, shadow: Any, value: Any) -> tuple[bytes, list[Any]]:
        top = _sha(b"N" + b"".join(shadow.nodes[0][0])).digest()
        body = ["M", len(shadow.slots), self._key(shadow.first), top.hex()]
        return codec.canonical(body), [(top, self._level(shadow, value, 0, 0))]

    def _level(
        self, shadow: Any, value: Any, depth: int, node: int
    ) -> Callable[[], tuple[bytes, list[Any]]]:
        def make() -> tuple[bytes, list[Any]]:
            kids = shadow.nodes[depth][node]
            tasks: list[_Task] = []
            parts = []
            known = self._known
            for i, kid in enumerate(kids):
                if not kid:
                    continue
                digest = kid[1:]
                parts.append([i, digest.hex()])
                if digest in known:
                    continue  # stored, and all below it
                child = (node << 4) | i
                if depth == _LEVELS - 1:
                    tasks.append((digest, self._bucket(shadow, value, child)))
                else:
                    tasks.append((digest, self._level(shadow, value, depth + 1, child)))
            return codec.canonical(["N", parts]), tasks

        return make

    def _bucket(
        self, shadow: Any, value: Any, bucket: int
    ) -> Callable[[], tuple[bytes, list[Any]]]:
        def make() -> tuple[bytes, list[Any]]:
            members = shadow.buckets[bucket]
            tasks: list[_Task] = []
            entries = []
            for kd in sorted(members):
                key = shadow.keyof[kd]
                after = members[kd][64:]
                entries.append(
                    [
                        self._key(key),
                        self._child(shadow.slots[key][1], value[key], tasks),
                        "" if after == _ZERO else after.hex(),
                    ]
                )
            return codec.canonical(["B", entries]), tasks

        return make

    def _small_dict(self, shadow: Any, value: Any) -> tuple[bytes, list[Any]]:
        tasks: list[_Task] = []
        entries = [
            [self._key(key), self._child(slot[1], value[key], tasks)]
            for key, slot in shadow.slots.items()
        ]
        return codec.canonical(["D", entries]), tasks

    def _small_list(self, shadow: Any, value: Any) -> tuple[bytes, list[Any]]:
        tasks: list[_Task] = []
        items = [self._child(c, value[i], tasks) for i, c in enumerate(shadow.items)]
        return codec.canonical(["L", items]), tasks

    def _large_list(self, shadow: Any, value: Any) -> tuple[bytes, list[Any]]:
        levels = shadow.levels
        top = levels[-1][0]
        body = ["V", len(shadow.items), top.hex()]
        return codec.canonical(body), [
            (top, self._tier(shadow, value, len(levels) - 1, 0))
        ]

    def _tier(
        self, shadow: Any, value: Any, level: int, index: int
    ) -> Callable[[], tuple[bytes, list[Any]]]:
        def make() -> tuple[bytes, list[Any]]:
            if level == 0:  # a chunk of items
                tasks: list[_Task] = []
                start = index * _CHUNK
                part = shadow.items[start : start + _CHUNK]
                items = [
                    self._child(c, value[start + i], tasks) for i, c in enumerate(part)
                ]
                return codec.canonical(["C", items]), tasks
            below = shadow.levels[level - 1]
            first = index * _CHUNK
            kids = below[first : first + _CHUNK]
            known = self._known
            return codec.canonical(["T", [k.hex() for k in kids]]), [
                (k, self._tier(shadow, value, level - 1, first + j))
                for j, k in enumerate(kids)
                if k not in known
            ]

        return make


# -- sweeping --------------------------------------------------------------------------


def sweep(
    backend: Any,
    *,
    batch: int = SWEEP_BATCH,
    pinned: set[bytes] | None = None,
    _after_mark: Callable[[], None] | None = None,
) -> int:
    """Delete the nodes no checkpoint reaches any more; return how many went.

    Mark, then sweep in batches, each its own short transaction (writers wait
    for one batch at most):

    1. Mark (reads only): every node reachable from the root each checkpoint
       names, of every timeline (their links read, not their digests checked:
       ``verify`` does that).
    2. The unreachable ones, listed a page of digests at a time, are ordered
       parents first (Kahn's order over the links among them), so a stored
       node's subtree is whole at every moment: a writer that finds a node
       stored still need not look below it, even if a sweep dies half way.
    3. Batches deleted by ``backend.sweep_nodes(batch, roots)``, which in the
       same transaction reads the roots named now: a checkpoint committed
       since the mark names roots not marked, and the batch is then not
       deleted but those roots are marked (step 1 for them) and the batch
       tried again. A deleting batch moves the store's sweep count
       (:data:`EPOCH`), which a writer's append naming nodes checks in its own
       transaction (:class:`NodesSweptError`): a writer that found a node
       stored before a batch deleted it never names it.

    ``pinned``: more node digests to keep with all they reach (the lazy values
    alive in this process, ``_lazy.live_roots``).

    Raises:
        CorruptHistoryError: A node a checkpoint reaches is missing or altered.
    """
    roots = backend.node_roots()
    reached: set[bytes] = set()
    _mark(backend, roots, reached)
    for digest in pinned or ():  # values in memory: kept as far as they stand
        try:
            _mark(backend, {digest}, reached)
        except CorruptHistoryError:
            continue  # already gone (another process swept): nothing to keep
    order = _parents_first(backend, reached)
    if _after_mark is not None:  # the seam through which tests interleave writes
        _after_mark()
    gone = 0
    at = 0
    while at < len(order):
        part = [d for d in order[at : at + batch] if d not in reached]
        if not part:
            at += batch
            continue
        new = backend.sweep_nodes(part, roots)
        if new:  # committed since the mark: theirs are not garbage
            _mark(backend, new, reached)
            roots = roots | new
            continue
        gone += len(part)
        at += batch
    return gone


def _mark(backend: Any, roots: set[bytes], reached: set[bytes]) -> None:
    """Add every node ``roots`` reach to ``reached``, a level at a time.

    Only the links are read (``verify`` checks the nodes' digests): at 10,000
    entries this is a parse per node, not the codec's decoding of its values.

    Raises:
        CorruptHistoryError: A reached node is missing or not a node.
    """
    frontier = [r for r in roots if r not in reached]
    while frontier:
        wanted = list(dict.fromkeys(d for d in frontier if d not in reached))
        got = backend.nodes(wanted) if wanted else {}
        frontier = []
        for digest in wanted:
            body = got.get(digest)
            if body is None:
                raise CorruptHistoryError(
                    f"node {digest.hex()} of a checkpoint is missing from storage"
                )
            frontier += _links(digest, body)
            reached.add(digest)


def _links(digest: bytes, body: bytes) -> list[bytes]:
    """The digests of the nodes ``body`` links to (not checked against them).

    Raises:
        CorruptHistoryError: ``body`` is not a node.
    """
    try:
        node = orjson.loads(body)
        kind = node[0]
        if kind == "J":
            return []
        if kind == "M":
            return [bytes.fromhex(node[3])]
        if kind == "V":
            return [bytes.fromhex(node[2])]
        if kind == "N":
            return [bytes.fromhex(h) for _, h in node[1]]
        if kind == "T":
            return [bytes.fromhex(h) for h in node[1]]
        if kind == "B" or kind == "D":
            children = [entry[1] for entry in node[1]]
        elif kind in ("L", "C"):
            children = node[1]
        else:
            raise ValueError(f"an unknown node {str(kind)[:20]!r}")
        return [bytes.fromhex(c[1]) for c in children if c[0] == 1]
    except _BAD as exc:
        raise CorruptHistoryError(
            f"node {digest.hex()} of a checkpoint is malformed (altered): {exc}"
        ) from exc


def _parents_first(backend: Any, reached: set[bytes]) -> list[bytes]:
    """The stored nodes not in ``reached``, each before every node it links to."""
    garbage: list[bytes] = []
    after = b""
    while True:
        page = backend.node_digests(after, 4096)
        if not page:
            break
        garbage += [d for d in page if d not in reached]
        after = page[-1]
    links: dict[bytes, list[bytes]] = {}
    for i in range(0, len(garbage), 500):
        for digest, body in backend.nodes(garbage[i : i + 500]).items():
            try:
                links[digest] = _links(digest, body)
            except CorruptHistoryError:
                links[digest] = []  # altered, and unreachable: its links unknown
    above = dict.fromkeys(garbage, 0)
    for kids in links.values():
        for kid in kids:
            if kid in above:
                above[kid] += 1
    ready = [d for d, n in above.items() if n == 0]
    order: list[bytes] = []
    while ready:
        digest = ready.pop()
        order.append(digest)
        for kid in links.get(digest, ()):
            if kid in above:
                above[kid] -= 1
                if above[kid] == 0:
                    ready.append(kid)
    return order


# -- reading ---------------------------------------------------------------------------


def load(fetch: Fetch, root: bytes, *, allow_pickle: bool = False) -> Any:
    """The frozen value whose root node is ``root``, every node checked.

    The nodes are fetched a level of the tree at a time (one call of ``fetch``
    each), each checked against its digest as it arrives.

    Raises:
        CorruptHistoryError: A node is missing, malformed or altered.
    """
    reader = _Reader(allow_pickle)
    _walk(fetch, [root], reader, set())
    return reader.build(root)


def check(
    fetch: Fetch, root: bytes, seen: set[bytes], *, allow_pickle: bool = False
) -> None:
    """Check every node ``root`` reaches that is not in ``seen``; add them.

    For ``verify``: consecutive checkpoints share most of their nodes, so
    each is read and checked once per pass.

    Raises:
        CorruptHistoryError: A node is missing, malformed or altered.
    """
    _walk(fetch, [root], _Reader(allow_pickle, keep=False), seen)


def check_many(
    fetch: Fetch, roots: list[bytes], seen: set[bytes], *, allow_pickle: bool = False
) -> None:
    """:func:`check` for several roots at once, a level of all their trees a call.

    ``verify`` checks a page of rows' checkpoints together: SQLite reads a
    node in 4.4 us of CPU in a query of 500 digests against 7.0 us in one of
    35 (65,139 nodes of the bench history, warm cache), and one checkpoint's
    level holds about 35 new nodes. A problem names no root: the caller checks
    them one by one to find whose it is (a node checked is added to ``seen``
    only once it verified, so those checks read only what is left).

    Raises:
        CorruptHistoryError: A node is missing, malformed or altered.
    """
    _walk(fetch, roots, _Reader(allow_pickle, keep=False), seen)


def _walk(fetch: Fetch, roots: list[bytes], reader: _Reader, seen: set[bytes]) -> None:
    frontier = list(roots)
    while frontier:
        wanted = [d for d in dict.fromkeys(frontier) if d not in seen]
        got = fetch(wanted) if wanted else {}
        frontier = []
        for digest in wanted:
            body = got.get(digest)
            if body is None:
                raise CorruptHistoryError(
                    f"node {digest.hex()} of a checkpoint is missing from storage"
                )
            frontier += reader.take(digest, body)
            seen.add(digest)


class _Reader:
    """Nodes as read and checked: each digest's kind, parts and child digests."""

    __slots__ = ("keep", "nodes", "pickle")

    def __init__(self, allow_pickle: bool, *, keep: bool = True) -> None:
        self.pickle = allow_pickle
        self.keep = keep  # whether the nodes are kept, to build the value
        self.nodes: dict[bytes, list[Any]] = {}

    def take(self, digest: bytes, body: bytes) -> list[bytes]:
        """Check and keep one node; return its children's digests."""
        try:
            node = orjson.loads(body)
            computed, children = self._check(node)
        except _BAD as exc:
            raise CorruptHistoryError(
                f"node {digest.hex()} of a checkpoint is malformed (altered): {exc}"
            ) from exc
        if computed != digest:
            raise CorruptHistoryError(
                f"node {digest.hex()} of a checkpoint does not match its digest "
                "(altered)"
            )
        if self.keep:
            self.nodes[digest] = node
        return children

    def _value(self, tree: Any) -> tuple[Any, bytes]:
        t = type(tree)
        if t is str or t is int or t is bool or tree is None:
            return tree, _leaf(tree, self.pickle)  # JSON's own: the codec's too
        if not self.keep:  # checked, not kept: the digest alone, if plain
            digest = plain_digest(tree)
            if digest is not None:
                return tree, digest
        value = codec.from_json(tree, allow_pickle=self.pickle)
        return value, _digest(_shadow(value, self.pickle))

    def _childof(self, child: Any, refs: list[bytes]) -> bytes:
        """Check a child's form; an inline value is decoded in place."""
        if type(child) is not list or len(child) != 2 or type(child[0]) is not int:
            raise ValueError("a child is [0, value] or [1, digest]")
        if child[0] not in (0, 1):
            raise ValueError("a child is [0, value] or [1, digest]")
        if child[0] == 1:
            digest = bytes.fromhex(child[1])
            refs.append(digest)
            return digest
        value, digest = self._value(child[1])
        child[1] = value
        return digest

    def _check(self, node: Any) -> tuple[bytes, list[bytes]]:
        """The digest a node's parts give, and its children's digests."""
        kind = node[0]
        refs: list[bytes] = []
        if kind == "J" and len(node) == 2:
            node[1], digest = self._value(node[1])
            return digest, refs
        if kind == "M" and len(node) == 4:
            key = codec.from_json(node[2], allow_pickle=self.pickle)
            node[2] = key
            top = bytes.fromhex(node[3])
            refs.append(top)
            return _sha(
                b"M" + _n(node[1]) + _leaf(key, self.pickle) + top
            ).digest(), refs
        if kind == "N" and len(node) == 2:
            parts = []
            last = -1
            for nibble, hexes in node[1]:
                if not last < nibble < 16:
                    raise ValueError("a level's children are out of order")
                last = nibble
                refs.append(bytes.fromhex(hexes))
                parts.append(bytes((nibble,)) + refs[-1])
            return _sha(b"N" + b"".join(parts)).digest(), refs
        if kind == "B" and len(node) == 2:
            parts = []
            kept = []
            for key, child, after in node[1]:
                if type(key) is str:  # the usual key, spared two calls
                    kd = _sha(b"s" + key.encode("utf-8", "surrogatepass")).digest()
                else:
                    key, kd = self._value(key)
                following = bytes.fromhex(after) if after else None
                vd = self._childof(child, refs)
                parts.append(kd + vd + (following or _ZERO))
                kept.append((key, child, following, kd))  # for _buckets
            if parts != sorted(parts):
                raise ValueError("a bucket's entries are out of order")
            node[1] = kept
            return _sha(b"B" + b"".join(parts)).digest(), refs
        if kind == "D" and len(node) == 2:
            parts = [_n(len(node[1]))]
            for entry in node[1]:
                entry[0], kd = self._value(entry[0])
                parts.append(kd)
                parts.append(self._childof(entry[1], refs))
            return _sha(b"D" + b"".join(parts)).digest(), refs
        if kind in ("L", "C") and len(node) == 2:
            parts = [_n(len(node[1]))] if kind == "L" else []
            parts += [self._childof(child, refs) for child in node[1]]
            return _sha(kind.encode() + b"".join(parts)).digest(), refs
        if kind == "V" and len(node) == 3:
            top = bytes.fromhex(node[2])
            refs.append(top)
            return _sha(b"V" + _n(node[1]) + top).digest(), refs
        if kind == "T" and len(node) == 2:
            refs += [bytes.fromhex(h) for h in node[1]]
            return _sha(b"T" + b"".join(refs)).digest(), refs
        raise ValueError(f"an unknown node {str(kind)[:20]!r}")

    # -- building the value -----------------------------------------------------------

    def build(self, digest: bytes) -> Any:
        """The frozen value of a checked node."""
        try:
            return self._build(digest)
        except _BAD as exc:
            raise CorruptHistoryError(
                f"the nodes of a checkpoint do not make a value (altered): {exc}"
            ) from exc

    def _build(self, digest: bytes) -> Any:
        node = self.nodes[digest]
        kind = node[0]
        if kind == "J":
            return node[1]
        if kind == "M":
            return self._dict(node)
        if kind == "D":
            return freeze({k: self._of(c) for k, c in node[1]})
        if kind == "L":
            return freeze([self._of(c) for c in node[1]])
        if kind == "V":
            items: list[Any] = []
            self._items(bytes.fromhex(node[2]), items)
            if len(items) != node[1]:
                raise ValueError("a list's length is not its count")
            return freeze(items)
        raise ValueError(f"a {kind!r} node where a value's belongs")

    def _of(self, child: list[Any]) -> Any:
        return child[1] if child[0] == 0 else self._build(bytes.fromhex(child[1]))

    def _items(self, digest: bytes, out: list[Any]) -> None:
        node = self.nodes[digest]
        if node[0] == "C":
            out += [self._of(c) for c in node[1]]
        elif node[0] == "T":
            for hexes in node[1]:
                self._items(bytes.fromhex(hexes), out)
        else:
            raise ValueError(f"a {node[0]!r} node in a list")

    def _dict(self, node: list[Any]) -> Any:
        entries: dict[bytes, tuple[Any, Any, bytes | None]] = {}
        self._buckets(bytes.fromhex(node[3]), 0, entries)
        count = node[1]
        out: dict[Any, Any] = {}
        kd: bytes | None = _leaf(node[2], self.pickle)
        while kd is not None and len(out) < count:
            key, child, kd = entries[kd]
            if key in out:
                raise ValueError("a dict's links go round")
            out[key] = child[1] if child[0] == 0 else self._of(child)
        if len(out) != count or len(entries) != count:
            raise ValueError("a dict's links do not reach its count of keys")
        return freeze(out)

    def _buckets(
        self,
        digest: bytes,
        depth: int,
        out: dict[bytes, tuple[Any, Any, bytes | None]],
    ) -> None:
        node = self.nodes[digest]
        if depth == _LEVELS:
            if node[0] != "B":
                raise ValueError(f"a {node[0]!r} node where a bucket belongs")
            for key, child, following, kd in node[1]:
                out[kd] = (key, child, following)
            return
        if node[0] != "N":
            raise ValueError(f"a {node[0]!r} node where a level belongs")
        for _, hexes in node[1]:
            self._buckets(bytes.fromhex(hexes), depth + 1, out)


#: The node reader, public to the package (``_lazy`` reads nodes one by one).
Reader = _Reader
