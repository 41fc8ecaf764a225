"""Values that load from the node store as they are read.

A checkpoint stored as nodes (``_nodes``) names the root of the value
commitment's tree. Loading all of it eagerly costs the state's size: every node
fetched, parsed and re-hashed in Python (622 ms at 10,000 entries, 6.3 s at
100,000, measured on main before this module). A read of one leaf needs only
the nodes on its path: the root ``M``, four 16-way ``N`` levels chosen by the
key's digest and one ``B`` bucket for a dict (six nodes at any size); ``V``,
``log32(n / 32)`` ``T`` levels and one ``C`` chunk for a list.

:class:`LazyDict` and :class:`LazyList` are those values: a
:class:`~collections.abc.Mapping` and a :class:`~collections.abc.Sequence` that
read the nodes on the path of what is asked for, each node checked against its
digest as it arrives (as ``_nodes.load`` checks it: a node altered, swapped or
missing raises :class:`~statetrail.CorruptHistoryError` at that access), kept in
the timeline's :class:`NodeCache`, an LRU of at most :data:`NODES_KEPT` checked
nodes. Nested large dicts and lists are lazy in turn; small values sit inline
in their parent's node and come decoded.

**Where it lives, and why here.** Only storage knows nodes, digests and the
backend to fetch them from; the frozen containers are tries shaped by
``hash()`` (seeded per process), so a node of the commitment cannot become a
``FrozenDict`` node without reading all of it. The engine meets these values
only through :mod:`statetrail.frozen._hooks`: ``real`` turns one into the frozen
value it stands for (:meth:`LazyDict.materialize`, the eager ``_nodes.load``
plus the patches it carries), and ``freeze_value``, ``thaw``, the diff, the
value commitment and the engine's write core call it. So a write, a diff
against it, an ``edit`` or a ``thaw`` materialise it once (cached in the value);
reads (``[]``, ``get``, ``in``, ``len``, path reads) do not. Iteration, ``==``
against another value and ``repr`` materialise too: the dict's insertion order
is a chain of links through every bucket, so walking it reads every node anyway.

**Patches on top.** A revision between checkpoints is its checkpoint plus up to
``checkpoint_every`` patches. Replacing, adding or removing a dict key, and
replacing a list item, go into an overlay the value carries (the next value
shares the nodes, the cache and the overlay's other entries); inserting into or
removing from a lazy list shifts indexes, so that list (only) is materialised
first. Materialising replays the overlay's operations in order, so the result
is exactly what the eager patches gave, insertion order included.

**Figures** (``benchmarks/bench_cold.py``, SQLite, a fresh process per run
with the repository open, median of five, load average 14-24 on the shared
2-core machine; benchmarks/README.md has the runs): ``repo.value_at(name, 96)``
(its checkpoint at 64 plus 32 patches) and one leaf take 1.6 ms of CPU at 13
leaves (a whole-value checkpoint), 2.4 ms at 10,000 entries and 2.2 ms at
100,000, reading 6 nodes at both sizes (eagerly, main took 622 ms and 6.3 s
wall). ``thaw`` of the whole value (every node fetched and checked, as the
eager load did) costs 0.40 s of CPU at 10,000 entries and 3.8 s at 100,000:
the cost a read of one leaf no longer pays.

A lazy value holds its timeline's cache and, through it, the backend: read
after the repository is closed, a node not cached raises the backend's
error. ``materialize()`` (or ``thaw``) detaches it.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from statetrail.diff import same_value
from statetrail.errors import CorruptHistoryError, PathError, StorageError
from statetrail.frozen import MISSING, FrozenDict, FrozenList, _hooks
from statetrail.frozen._dict import dict_raw
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._list import list_raw
from statetrail.paths import delete_in, insert_in, set_in
from statetrail.storage import _nodes as nodes
from statetrail.storage._value_digest import _CHUNK, _LEVELS, _leaf

__all__ = [
    "NODES_KEPT",
    "LazyDict",
    "LazyList",
    "NodeCache",
    "apply",
    "lazy_value",
    "live_roots",
]

#: Checked nodes a timeline's cache keeps (about 1-2 KB each): a leaf read
#: needs 6-7, so thousands of distinct leaves stay warm in a few MB.
NODES_KEPT = 4096

_sha = hashlib.sha256
#: Keys that may equal a stored key of another type (1 == 1.0 == True).
_NUMBERS = (int, float, bool)
_GONE: Any = object()  # a key the overlay removed
#: One patch step an overlay took: the key or index, the operation, the path
#: below it and the new value (replayed in order by ``materialize``).
_Logged = tuple[Any, str, tuple[Any, ...], Any]


class NodeCache:
    """The checked nodes of one timeline's checkpoints, by digest (an LRU).

    ``fetch`` is the backend's ``nodes``; each node is checked against its
    digest once, when it is fetched. :attr:`fetched` counts the nodes read from
    the backend (for the scale tests). Thread-safe.
    """

    __slots__ = ("_fetch", "_lock", "_nodes", "allow_pickle", "fetched", "limit")

    def __init__(
        self,
        fetch: nodes.Fetch,
        *,
        allow_pickle: bool = False,
        limit: int = NODES_KEPT,
    ) -> None:
        self._fetch = fetch
        self.allow_pickle = allow_pickle
        self.limit = limit
        self.fetched = 0
        self._nodes: OrderedDict[bytes, list[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._nodes)

    def fetch(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """The stored bodies of ``digests`` (unchecked: for ``_nodes.load``).

        Raises:
            StorageError: The backend cannot read (closed, say), with a word on
                what a lazily loaded value needs.
        """
        try:
            got = self._fetch(digests)
        except StorageError as exc:
            raise StorageError(
                f"{exc} (a value loaded lazily from a checkpoint reads its nodes "
                "from its repository's backend: thaw() it, or call its "
                "materialize(), before closing the repository)"
            ) from exc
        self.fetched += len(got)
        return got

    def get(self, digest: bytes) -> list[Any]:
        """The checked node ``digest`` (see ``_nodes._Reader`` for its form).

        Raises:
            CorruptHistoryError: It is missing, malformed or altered.
        """
        with self._lock:
            node = self._nodes.get(digest)
            if node is not None:
                self._nodes.move_to_end(digest)
                return node
        body = self.fetch([digest]).get(digest)
        if body is None:
            raise CorruptHistoryError(
                f"node {digest.hex()} of a checkpoint is missing from storage"
            )
        reader = nodes.Reader(self.allow_pickle)
        reader.take(digest, body)  # CorruptHistoryError if altered
        node = reader.nodes[digest]
        with self._lock:
            self._nodes[digest] = node
            while len(self._nodes) > self.limit:
                self._nodes.popitem(last=False)
        return node


def _corrupt(digest: bytes, what: str) -> CorruptHistoryError:
    return CorruptHistoryError(
        f"node {digest.hex()} of a checkpoint is out of place (altered): {what}"
    )


def lazy_value(cache: NodeCache, digest: bytes) -> Any:
    """The value whose node is ``digest``: lazy if large, else as decoded.

    Raises:
        CorruptHistoryError: The node is missing, altered, or not a value's.
    """
    node = cache.get(digest)
    kind = node[0]
    if kind == "J":
        return node[1]
    if kind in ("M", "D"):
        return LazyDict(cache, digest, node)
    if kind in ("V", "L"):
        return LazyList(cache, digest, node)
    raise _corrupt(digest, f"a {kind!r} node where a value's belongs")


#: The lazy values alive in this process: a sweep of the node store keeps what
#: they reach (``_trim.sweep_nodes``), so a value read before a trim removed its
#: checkpoint can still fetch the parts it has not read yet.
#: Keyed by ``id``: a ``WeakSet`` would hash the value, and a lazy value's
#: hash is its whole value's (it would load it all).
_LIVE: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def live_roots() -> set[bytes]:
    """The node digests the lazy values alive in this process stand on."""
    return {value._digest for value in list(_LIVE.values())}  # noqa: SLF001 - this module's


def _child(cache: NodeCache, child: list[Any]) -> Any:
    """A child as its parent's node holds it: inline, or a node of its own."""
    if child[0] == 0:
        return child[1]
    return lazy_value(cache, bytes.fromhex(child[1]))


def _key_digest(key: Any, allow_pickle: bool) -> bytes:
    if type(key) is str:
        return _sha(b"s" + key.encode("utf-8", "surrogatepass")).digest()
    return _leaf(key, allow_pickle)


class _StandsIn:
    """What a lazily loaded value shares: it stands for a frozen value.

    Unequal, hashed, printed and pickled as that value (materialised); copies
    are itself (it is immutable).
    """

    __slots__ = ()

    # Each class's own, in its slots:
    materialize: Callable[[], Any]
    _cache: NodeCache
    _digest: bytes
    _log: Any
    _len: int
    _real: Any

    def _load(self, kind: str, counted: str) -> Any:
        """The frozen value, read whole from the nodes, the overlay replayed.

        Kept as ``_real``. ``kind`` and ``counted`` name it in the error.

        Raises:
            CorruptHistoryError: A node is missing or altered, or the value
                does not hold the count its checkpoint says.
        """
        cache = self._cache
        real = nodes.load(
            cache.fetch,
            self._digest,
            allow_pickle=cache.allow_pickle,
        )
        real = _replay(real, self._log)
        if len(real) != self._len:
            raise CorruptHistoryError(
                f"a checkpoint's {kind} does not hold its count of {counted} (altered)"
            )
        self._real = real
        return real

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.materialize())

    def __repr__(self) -> str:
        return repr(self.materialize())

    def __reduce__(self) -> Any:
        return self.materialize().__reduce__()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self


class LazyDict(_StandsIn, Mapping[Any, Any]):
    """A frozen dict read from the node store on access; see the module.

    Reads navigate the nodes by key digest; everything else works on
    :meth:`materialize`'s ``FrozenDict``, which it equals.
    """

    __slots__ = (
        "__weakref__",
        "_cache",
        "_digest",
        "_kids",
        "_len",
        "_log",
        "_node",
        "_over",
        "_real",
    )

    def __init__(
        self,
        cache: NodeCache,
        digest: bytes,
        node: list[Any],
        over: dict[Any, Any] | None = None,
        log: tuple[_Logged, ...] = (),
        length: int | None = None,
    ) -> None:
        self._cache = cache
        self._digest = digest
        self._node = node
        self._over: dict[Any, Any] = {} if over is None else over
        self._log = log
        if length is None:
            length = node[1] if node[0] == "M" else len(node[1])
        self._len: int = length
        self._real: FrozenDict[Any, Any] | None = None
        self._kids: dict[Any, Any] = {}
        _LIVE[id(self)] = self

    # -- reads ---------------------------------------------------------------------

    def _base(self, key: Any) -> Any:
        """``key``'s value in the checkpoint's nodes, or MISSING."""
        kid = self._kids.get(key, MISSING)
        if kid is not MISSING:
            return kid
        node = self._node
        if node[0] == "D":
            for k, child in node[1]:
                if k == key:
                    kid = _child(self._cache, child)
                    break
            else:
                return MISSING
        else:
            kid = self._large(key)
            if kid is MISSING:
                return MISSING
        if len(self._kids) < 1024:
            self._kids[key] = kid
        return kid

    def _large(self, key: Any) -> Any:
        cache = self._cache
        kd = _key_digest(key, cache.allow_pickle)
        bucket = (kd[0] << 8) | kd[1]
        digest = bytes.fromhex(self._node[3])
        for depth in range(_LEVELS):
            node = cache.get(digest)
            if node[0] != "N":
                raise _corrupt(digest, f"a {node[0]!r} node where a level belongs")
            nibble = (bucket >> (4 * (_LEVELS - 1 - depth))) & 15
            for n, hexes in node[1]:
                if n == nibble:
                    digest = bytes.fromhex(hexes)
                    break
            else:
                return self._other_form(key)
        node = cache.get(digest)
        if node[0] != "B":
            raise _corrupt(digest, f"a {node[0]!r} node where a bucket belongs")
        for _, child, _, entry in node[1]:
            if entry == kd:
                return _child(cache, child)
        return self._other_form(key)

    def _other_form(self, key: Any) -> Any:
        # A key equal to a stored one of another type (1.0 and 1, True and 1)
        # has another digest: a dict finds it all the same.
        if type(key) not in _NUMBERS:
            return MISSING
        return dict_raw(self.materialize(), key) if self._real is None else MISSING

    def _raw(self, key: Any, default: Any = MISSING) -> Any:
        """``key``'s value or ``default`` (for ``paths``, as ``FrozenDict._raw``)."""
        real = self._real
        if real is not None:
            return dict_raw(real, key, default)
        hash(key)  # TypeError for an unhashable key, as a dict raises
        value = self._over.get(key, MISSING)
        if value is _GONE:
            return default
        if value is MISSING:
            value = self._base(key)
        elif type(value) is _Pending:
            value = value.resolve(self._base(key))
        return default if value is MISSING else value

    #: The same, public to the package: ``paths`` steps into a lazy dict with it.
    raw = _raw

    def __getitem__(self, key: Any) -> Any:
        value = self._raw(key)
        if value is MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            return self._raw(key) is not MISSING
        except TypeError:
            return False

    def get(self, key: Any, default: Any = None) -> Any:
        """``key``'s value, or ``default``."""
        return self._raw(key, default)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return iter(self.materialize())

    def shallow_keys(self) -> list[Any] | None:
        """The keys in order without reading a node, or ``None`` if that needs one.

        A small dict's node (``D``) lists its keys in order, so they are known
        with no read, unless a patch since the checkpoint added or removed one
        (then only the materialised dict knows the order). A large dict's keys
        are spread over its buckets: ``None``. For the web API's depth-limited
        answers, which send a large child as a stub.
        """
        real = self._real
        if real is not None:
            return list(real)
        if self._node[0] != "D":
            return None
        keys = [k for k, _ in self._node[1]]
        if self._over:
            known = set(keys)
            if any(v is _GONE or k not in known for k, v in self._over.items()):
                return None
        return keys

    def keys(self) -> Any:
        return self.materialize().keys()

    def values(self) -> Any:
        return self.materialize().values()

    def items(self) -> Any:
        return self.materialize().items()

    # A class that defines __eq__ gets __hash__ = None unless it says otherwise.
    __hash__ = _StandsIn.__hash__

    def __eq__(self, other: object) -> bool:
        if (
            type(other) is LazyDict
            and other._digest == self._digest
            and not other._log
            and not self._log
        ):
            return True  # the same checkpoint's root: the same value
        return bool(self.materialize() == _hooks.real(other))

    # -- the overlay ---------------------------------------------------------------

    def _patched(self, key: Any, op: str, rest: tuple[Any, ...], new: Any) -> LazyDict:
        """This value with one patch step at ``(key, *rest)`` in its overlay.

        A step below a key the overlay does not hold yet waits (``_Pending``)
        until the key is read: applying a patch reads no node, except an
        addition, which must know whether the key is new.
        """
        over = self._over.get(key, MISSING)
        length = self._len
        if rest:
            if over is _GONE:
                raise PathError(f"no key {key!r} in path {[key, *rest]!r}")
            step = (op, rest, new)
            if over is MISSING:
                entry: Any = _Pending((step,))
            elif type(over) is _Pending:
                entry = _Pending((*over.steps, step))
            else:
                entry = _step(over, op, rest, new)
        elif op == "+":
            length += key not in self
            entry = freeze_value(new)
        elif over is _GONE:
            raise PathError(f"no key {key!r} in path {[key]!r}")
        elif op == "-":
            entry = _GONE
            length -= 1
        else:
            entry = freeze_value(new)
        out = LazyDict(
            self._cache,
            self._digest,
            self._node,
            {**self._over, key: entry},
            (*self._log, (key, op, rest, new)),
            length,
        )
        out._kids = self._kids  # the nodes' children: the same for both
        return out

    # -- becoming the frozen value -------------------------------------------------

    def materialize(self) -> FrozenDict[Any, Any]:
        """The ``FrozenDict`` this value stands for (loaded once, then kept).

        Raises:
            CorruptHistoryError: A node is missing or altered.
        """
        real = self._real
        return self._load("dict", "keys") if real is None else real


class LazyList(_StandsIn, Sequence[Any]):
    """A frozen list read from the node store on access; see the module."""

    __slots__ = (
        "__weakref__",
        "_cache",
        "_digest",
        "_height",
        "_kids",
        "_len",
        "_log",
        "_node",
        "_over",
        "_real",
    )

    def __init__(
        self,
        cache: NodeCache,
        digest: bytes,
        node: list[Any],
        over: dict[int, Any] | None = None,
        log: tuple[_Logged, ...] = (),
    ) -> None:
        self._cache = cache
        self._digest = digest
        self._node = node
        self._over: dict[int, Any] = {} if over is None else over
        self._log = log
        self._len: int = node[1] if node[0] == "V" else len(node[1])
        height = 0  # the T levels above the chunks
        count = (self._len + _CHUNK - 1) // _CHUNK
        while count > 1:
            count = (count + _CHUNK - 1) // _CHUNK
            height += 1
        self._height = height
        self._real: FrozenList[Any] | None = None
        self._kids: dict[int, Any] = {}
        _LIVE[id(self)] = self

    def _base(self, i: int) -> Any:
        kid = self._kids.get(i, MISSING)
        if kid is not MISSING:
            return kid
        node = self._node
        cache = self._cache
        if node[0] == "L":
            kid = _child(cache, node[1][i])
        else:
            chunk, at = divmod(i, _CHUNK)
            digest = bytes.fromhex(node[2])
            for level in range(self._height, 0, -1):
                tier = cache.get(digest)
                if tier[0] != "T":
                    raise _corrupt(digest, f"a {tier[0]!r} node where a level belongs")
                place = (chunk >> (5 * (level - 1))) & (_CHUNK - 1)
                if place >= len(tier[1]):
                    raise _corrupt(digest, "a list's level is short of its count")
                digest = bytes.fromhex(tier[1][place])
            part = cache.get(digest)
            if part[0] != "C" or at >= len(part[1]):
                raise _corrupt(digest, "a list's chunk is not where its count says")
            kid = _child(cache, part[1][at])
        if len(self._kids) < 1024:
            self._kids[i] = kid
        return kid

    def _raw(self, i: int) -> Any:
        """Item ``i`` (0 <= i < len), for ``paths`` (as ``FrozenList._raw``)."""
        real = self._real
        if real is not None:
            return list_raw(real, i)
        value = self._over.get(i, MISSING)
        if value is MISSING:
            return self._base(i)
        if type(value) is _Pending:
            return value.resolve(self._base(i))
        return value

    #: The same, public to the package: ``paths`` steps into a lazy list with it.
    raw = _raw

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> FrozenList[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self.materialize()[i]
        if not isinstance(i, int):
            raise TypeError(f"list indices must be integers or slices, not {type(i)}")
        n = self._len
        index = i + n if i < 0 else i
        if not 0 <= index < n:
            raise IndexError("list index out of range")
        return self._raw(index)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        return iter(self.materialize())

    def __contains__(self, item: object) -> bool:
        return item in self.materialize()

    def __reversed__(self) -> Iterator[Any]:
        return iter(self.materialize()[::-1])

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The first index of ``value`` (as ``list.index``)."""
        real = self.materialize()
        return real.index(value, start, len(real) if stop is None else stop)

    def count(self, value: Any) -> int:
        """How many items equal ``value``."""
        return self.materialize().count(value)

    # A class that defines __eq__ gets __hash__ = None unless it says otherwise.
    __hash__ = _StandsIn.__hash__

    def __eq__(self, other: object) -> bool:
        if (
            type(other) is LazyList
            and other._digest == self._digest
            and not other._over
            and not self._over
        ):
            return True
        return bool(self.materialize() == _hooks.real(other))

    def _patched(self, i: int, op: str, rest: tuple[Any, ...], new: Any) -> LazyList:
        """This list with a step replacing item ``i`` or below it (see LazyDict's)."""
        over = self._over.get(i, MISSING)
        if not rest:
            entry: Any = freeze_value(new)
        elif over is MISSING:
            entry = _Pending(((op, rest, new),))
        elif type(over) is _Pending:
            entry = _Pending((*over.steps, (op, rest, new)))
        else:
            entry = _step(over, op, rest, new)
        out = LazyList(
            self._cache,
            self._digest,
            self._node,
            {**self._over, i: entry},
            (*self._log, (i, op, rest, new)),
        )
        out._kids = self._kids
        return out

    def materialize(self) -> FrozenList[Any]:
        """The ``FrozenList`` this value stands for (loaded once, then kept).

        Raises:
            CorruptHistoryError: A node is missing or altered.
        """
        real = self._real
        return self._load("list", "items") if real is None else real


_LAZY = (LazyDict, LazyList)


def _materialize(value: Any) -> Any:
    return value.materialize()


def _steps_after(a: Any, b: Any) -> tuple[_Logged, ...] | None:
    """The overlay steps that made ``b`` from ``a``, if it was made from it."""
    if type(a) is not type(b) or a._digest != b._digest:  # noqa: SLF001 - this module's own class
        return None
    before, after = a._log, b._log  # noqa: SLF001 - this module's own class
    if len(after) < len(before) or after[: len(before)] != before:
        return None
    return after[len(before) :]  # type: ignore[no-any-return]


def _dict_changes(a: LazyDict, b: LazyDict) -> list[tuple[Any, Any, Any]] | None:
    """The ``(key, old, new)`` changes from ``a`` to ``b``, made from it by patches.

    Only the keys the steps touched can differ. Arranged as
    ``frozen._dict.changes_in_order`` arranges a dict's: a key the steps added,
    or removed and added again, goes last (removed first if ``a`` holds it), in
    the order of its last addition, so applying them rebuilds ``b``'s order.
    ``None`` when ``b`` was not made from ``a`` that way.
    """
    steps = _steps_after(a, b)
    if steps is None:
        return None
    touched: dict[Any, None] = {}
    moved: dict[Any, None] = {}  # added where a lacked them: to the end, in order
    present: dict[Any, bool] = {}
    for key, op, rest, _ in steps:
        touched[key] = None
        if rest or op == "=":
            continue
        if op == "-":
            present[key] = False
            continue
        was = present[key] if key in present else a.raw(key) is not MISSING
        if not was:
            moved.pop(key, None)
            moved[key] = None
        present[key] = True
    found: list[tuple[Any, Any, Any]] = []
    for key in touched:
        if key in moved:
            continue
        old, new = a.raw(key), b.raw(key)
        if old is new or (
            old is not MISSING and new is not MISSING and _equal(old, new)
        ):
            continue
        found.append((key, old, new))
    adds = []
    for key in moved:
        old, new = a.raw(key), b.raw(key)
        if new is MISSING:  # added, then removed again
            if old is not MISSING:
                found.append((key, old, MISSING))
            continue
        if old is not MISSING:
            found.append((key, old, MISSING))
        adds.append((key, MISSING, new))
    return found + adds


def _equal(old: Any, new: Any) -> bool:
    """Whether two values need no change (containers go on to ``diff``)."""
    if type(old) is type(new) and type(old) in _CONTAINERS:
        return False
    return same_value(old, new)


_CONTAINERS = (FrozenDict, FrozenList, LazyDict, LazyList)


def _list_changes(a: LazyList, b: LazyList) -> list[tuple[Any, Any, Any]] | None:
    """The items ``b`` replaced since ``a``, as ``(index, old, new)``; see above."""
    steps = _steps_after(a, b)
    if steps is None:
        return None
    found = []
    for i in sorted({i for i, _, _, _ in steps}):
        old, new = a.raw(i), b.raw(i)
        if old is not new and not _equal(old, new):
            found.append((i, old, new))
    return found


for _type in _LAZY:
    _hooks.lazy[_type] = _materialize
_hooks.lazy_changes[LazyDict] = _dict_changes
_hooks.lazy_changes[LazyList] = _list_changes


def _index(value: LazyList, step: Any, path: tuple[Any, ...]) -> int:
    if type(step) is not int or not 0 <= step < len(value):
        raise PathError(f"no list index {step!r} in path {list(path)!r}")
    return step


def apply(value: LazyDict | LazyList, op: str, path: tuple[Any, ...], new: Any) -> Any:
    """Apply one stored patch step (``=``, ``+``, ``-`` at a non-empty ``path``).

    The lazy containers take it in their overlays; a lazy list that must
    insert or remove an item is materialised first (its indexes shift).

    Raises:
        PathError: The step does not fit the value (as far as it is read).
    """
    key = path[0]
    rest = path[1:]
    if type(value) is LazyList:
        if op != "=" and not rest:
            return _frozen(value.materialize(), op, path, new)
        return value._patched(_index(value, key, path), op, rest, new)  # noqa: SLF001 - this module's own class
    return value._patched(key, op, rest, new)  # noqa: SLF001 - this module's own class


def _step(value: Any, op: str, path: tuple[Any, ...], new: Any) -> Any:
    if type(value) in _LAZY:
        return apply(value, op, path, new)
    return _frozen(value, op, path, new)


def _frozen(value: Any, op: str, path: tuple[Any, ...], new: Any) -> Any:
    if op == "=":
        return set_in(value, path, new, create=False)
    if op == "+":
        return insert_in(value, path, new)
    return delete_in(value, path)


def _replay(real: Any, log: tuple[_Logged, ...]) -> Any:
    """``real`` (the checkpoint's frozen value) with the overlay's steps, in order."""
    try:
        for key, op, rest, new in log:
            real = _frozen(real, op, (key, *rest), new)
    except PathError as exc:
        raise CorruptHistoryError(
            f"a patch does not apply to its checkpoint's value ({exc})"
        ) from exc
    return real


class _Pending:
    """Patch steps below one key or item, applied when it is first read."""

    __slots__ = ("done", "steps")

    def __init__(self, steps: tuple[tuple[str, tuple[Any, ...], Any], ...]) -> None:
        self.steps = steps
        self.done: Any = MISSING

    def resolve(self, base: Any) -> Any:
        """The steps applied to ``base`` (the checkpoint's child), once."""
        done = self.done
        if done is MISSING:
            if base is MISSING:
                raise CorruptHistoryError(
                    "a patch steps into a key its checkpoint's value does not hold"
                )
            done = base
            try:
                for op, path, new in self.steps:
                    done = _step(done, op, path, new)
            except PathError as exc:
                raise CorruptHistoryError(
                    f"a patch does not apply to its checkpoint's value ({exc})"
                ) from exc
            self.done = done
        return done
