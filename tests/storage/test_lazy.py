"""Lazily loaded values (storage/_lazy.py): equal to the eager load, checked as
they are read, patched without reading, materialised by a write."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail import CorruptHistoryError
from statetrail._change import UNSTORED, Change
from statetrail.diff import apply_changes, diff, diff_values
from statetrail.frozen import MISSING, FrozenDict, FrozenList, freeze, thaw
from statetrail.frozen._freeze import freeze_value
from statetrail.storage._lazy import LazyDict, LazyList, NodeCache, lazy_value
from statetrail.storage._nodes import NodeWriter, load
from statetrail.storage._rows import apply_stored
from statetrail.storage._value_digest import Tracker, value_digest
from statetrail.storage.memory import MemoryBackend
from tests.conftest import SCALE, scaled


def _apply(value: Any, ops: list[tuple[str, tuple[Any, ...], Any]]) -> Any:
    """Apply ``(op, path, new)`` steps as a stored patch's changes are applied."""
    return apply_stored(
        value,
        [
            Change(
                path,
                MISSING if op == "+" else UNSTORED,
                MISSING if op == "-" else freeze(new),
            )
            for op, path, new in ops
        ],
    )


def _stored(value: Any) -> tuple[MemoryBackend, bytes]:
    """``value`` saved as nodes in a memory backend, and its root."""
    backend = MemoryBackend()
    tracker = Tracker()
    tracker.reset(value, 0)
    root, made = NodeWriter().save(tracker.shadow(0), value, backend.has_nodes)
    backend.put_nodes(made)
    assert root.hex() == value_digest(value)
    return backend, root


def _lazy(backend: MemoryBackend, root: bytes) -> tuple[Any, NodeCache]:
    cache = NodeCache(backend.nodes)
    return lazy_value(cache, root), cache


def _random_value(draw: random.Random, depth: int = 0) -> Any:
    """Random nested state: large and small dicts and lists, every leaf kind."""
    roll = draw.random()
    if depth >= 3 or roll < 0.45:
        return draw.choice(
            [
                draw.randrange(-(2**40), 2**40),
                f"s{draw.random()}",
                draw.random(),
                None,
                True,
                2**70 + draw.randrange(9),
                (1, "t"),
                frozenset({draw.randrange(5)}),
            ]
        )
    if roll < 0.75:
        size = draw.choice([0, 3, 40, 150] if depth == 0 else [0, 3, 40])
        keys: list[Any] = [f"k{draw.randrange(10**9)}" for _ in range(size)]
        if size and draw.random() < 0.2:
            keys[0] = draw.randrange(10**6)  # a value's keys need not be strings
        return {k: _random_value(draw, depth + 1) for k in keys}
    size = draw.choice([0, 5, 65, 200] if depth == 0 else [0, 5, 64, 65])
    return [_random_value(draw, depth + 2) for _ in range(size)]


def _paths(value: Any, draw: random.Random, prefix: tuple[Any, ...] = ()) -> Any:
    """Some paths into ``value`` (frozen), each with what it holds."""
    yield prefix, value
    if isinstance(value, FrozenDict) and len(value):
        for key in draw.sample(list(value), min(3, len(value))):
            yield from _paths(value[key], draw, (*prefix, key))
    elif isinstance(value, FrozenList) and len(value):
        for i in draw.sample(range(len(value)), min(3, len(value))):
            yield from _paths(value[i], draw, (*prefix, i))


def _find(value: Any, path: tuple[Any, ...]) -> Any:
    """What ``path`` holds, or a marker where it leads nowhere."""
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return "<nowhere>"
    return value


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@pytest.mark.parametrize("seed", range(12))
def test_a_lazy_value_reads_as_the_eager_one(seed: int) -> None:
    """Random states: each path read lazily (a fresh value each time, so the
    read navigates the nodes) equals the eager load; then equality, order,
    length, membership, thaw and freeze_value."""
    draw = random.Random(seed)
    value = freeze({"top": _random_value(draw), "big": _random_value(draw)})
    backend, root = _stored(value)
    eager = load(backend.nodes, root)
    assert eager == value
    for path, held in _paths(value, draw):
        lazy, _ = _lazy(backend, root)
        got = _at(lazy, path)
        assert got == held
        if isinstance(held, FrozenDict):
            assert len(got) == len(held)
            assert ("no such key" in got) == ("no such key" in held)
            assert got.get("no such key", 5) == 5
            assert list(got) == list(held)  # the dict's order
        elif isinstance(held, FrozenList) and len(held):
            assert got[-1] == held[-1]
            assert got[1:3] == held[1:3]
            with pytest.raises(IndexError):
                got[len(held)]
    lazy, _ = _lazy(backend, root)
    assert thaw(lazy) == thaw(value)
    assert list(lazy) == list(value)
    lazy, _ = _lazy(backend, root)
    frozen = freeze_value(lazy)
    assert type(frozen) is FrozenDict
    assert frozen == value
    assert lazy == value
    assert value == lazy
    assert hash(lazy) == hash(value) if _hashable(value) else True


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _ops(value: Any, draw: random.Random) -> list[tuple[str, tuple[Any, ...], Any]]:
    """Random patch steps that fit ``value`` applied in order."""
    ops: list[tuple[str, tuple[Any, ...], Any]] = []
    for _ in range(draw.randrange(1, 30)):
        paths = [p for p, _ in _paths(value, draw) if p]
        if not paths:
            break
        path = draw.choice(paths)
        parent = _at(value, path[:-1])
        roll = draw.random()
        if roll < 0.5:
            op = ("=", path, draw.randrange(1000))
        elif roll < 0.75 and isinstance(parent, FrozenDict):
            op = ("+", (*path[:-1], f"new{draw.randrange(10**6)}"), "added")
        elif roll < 0.85:
            op = (
                ("+", path, "inserted")
                if isinstance(parent, FrozenList)
                else (
                    "=",
                    path,
                    {"a": [1, 2]},
                )
            )
        else:
            op = ("-", path, None)
        ops.append(op)
        value = _apply(value, [op])
    return ops


@pytest.mark.parametrize("seed", range(12))
def test_patches_on_a_lazy_value_give_the_eager_result(seed: int) -> None:
    """Random replacements, additions, insertions and removals applied to a
    lazy value (its overlay) equal the same applied to the eager one: read
    before materialising, after, and in the dict's order."""
    draw = random.Random(seed)
    value = freeze(
        {
            "d": {f"k{i}": {"n": i, "l": list(range(70))} for i in range(200)},
            "l": [{"i": i} for i in range(300)],
            "s": {"x": 1},
        }
    )
    backend, root = _stored(value)
    ops = _ops(value, draw)
    expected = _apply(value, ops)
    lazy, _ = _lazy(backend, root)
    patched = _apply(lazy, ops)
    for _, path, _ in ops:  # what each step touched, removed ones included
        assert _find(patched, path) == _find(expected, path)
    for path, held in _paths(expected, draw):
        assert _at(patched, path) == held
    cut = draw.randrange(len(ops) + 1)  # a parent and its child, both lazy
    parent = _apply(_lazy(backend, root)[0], ops[:cut])
    child = _apply(parent, ops[cut:])
    changes = diff_values(parent, child)
    assert child._real is None  # found from the overlays: nothing loaded whole
    eager = diff_values(_apply(value, ops[:cut]), expected)
    rebuilt = apply_changes(_apply(value, ops[:cut]), changes)
    assert rebuilt == expected
    assert list(rebuilt) == list(expected)
    if all(op == "=" for op, _, _ in ops[cut:]):
        assert sorted(map(repr, changes)) == sorted(map(repr, eager))
    fresh = _apply(_lazy(backend, root)[0], ops)
    assert thaw(fresh) == thaw(expected)
    assert list(fresh) == list(expected)
    if isinstance(expected.get("d"), FrozenDict):
        assert list(fresh["d"]) == list(expected["d"])
        assert len(fresh["d"]) == len(expected["d"])


def _bucket_of(backend: MemoryBackend, key: str) -> bytes:
    """The digest of the bucket node holding ``key``."""
    found = [d for d, body in backend._nodes.items() if f'"{key}"'.encode() in body]
    (digest,) = [d for d in found if backend._nodes[d].startswith(b'["B"')]
    return digest


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_damaged_node_raises_when_read_and_only_then(damage: str) -> None:
    """A bucket altered or missing: reading a key in it raises
    CorruptHistoryError; a key in another bucket still reads; thaw raises."""
    value = freeze({f"k{i}": {"n": i} for i in range(3000)})
    backend, root = _stored(value)
    digest = _bucket_of(backend, "k42")
    if damage == "altered":
        backend._nodes[digest] = backend._nodes[digest].replace(b'"n":42', b'"n":41')
    else:
        del backend._nodes[digest]
    lazy, _ = _lazy(backend, root)
    assert len(lazy) == 3000  # the root alone
    other = next(
        k for k in (f"k{i}" for i in range(3000)) if _bucket_of(backend, k) != digest
    )
    assert lazy[other] == value[other]
    with pytest.raises(CorruptHistoryError, match=damage):
        lazy["k42"]
    with pytest.raises(CorruptHistoryError):
        thaw(_lazy(backend, root)[0])


def test_a_node_out_of_place_raises() -> None:
    """A level's child swapped for a bucket's digest (both stored, both intact):
    the walk finds a bucket where a level belongs."""
    value = freeze({f"k{i}": i for i in range(500)})
    backend, root = _stored(value)
    _, cache = _lazy(backend, root)
    top = bytes.fromhex(cache.get(root)[3])
    bucket = _bucket_of(backend, "k1")
    fake = MemoryBackend()
    fake.put_nodes([(root, backend._nodes[root]), (top, backend._nodes[bucket])])
    with pytest.raises(CorruptHistoryError):
        lazy_value(NodeCache(fake.nodes), root)["k1"]


@pytest.mark.parametrize("size", [scaled(20_000)] + ([100_000] if SCALE > 1 else []))
def test_one_leaf_reads_six_nodes_at_any_size(size: int) -> None:
    """A dict leaf: the root, four trie levels, one bucket; a list item: its
    header, its tree's levels and one chunk. Counted, at any size (100,000
    under STATETRAIL_SCALE)."""
    value = freeze(
        {"d": {f"k{i}": i for i in range(size)}, "l": list(range(size)), "x": 1}
    )
    backend, root = _stored(value)
    lazy, cache = _lazy(backend, root)
    assert cache.fetched == 1  # the root: a small dict holding two large parts
    assert lazy["d"]["k12345"] == 12345
    assert cache.fetched == 1 + 6
    before = cache.fetched
    assert lazy["l"][size - 7] == size - 7
    levels = 1 if size <= 32 * 32 else 2 if size <= 32**3 else 3
    assert cache.fetched - before == 1 + levels + 1
    assert lazy["d"]["k12345"] == 12345  # cached in the value
    assert cache.fetched - before == 1 + levels + 1


def test_the_node_cache_is_bounded() -> None:
    """The cache keeps at most its limit; a node it dropped is fetched again."""
    value = freeze({f"k{i}": i for i in range(5000)})
    backend, root = _stored(value)
    cache = NodeCache(backend.nodes, limit=50)
    for i in range(0, 5000, 37):
        assert lazy_value(cache, root)[f"k{i}"] == i
    assert len(cache) == 50
    assert cache.fetched > 50


def _history(
    path: Path, entries: int, writes: int, snapshots: dict[int, Any] | None = None
) -> dict[str, Any]:
    """A stored history of one-leaf writes; the model of its head (and, in
    ``snapshots``, of the revisions asked for)."""
    model = {f"k{i}": {"n": i, "name": f"entry {i}"} for i in range(entries)}
    with statetrail.open(path, checkpoint_every=16, durability="batched") as repo:
        store = repo.store("s", model)
        draw = random.Random(5)
        for n in range(writes):
            key = f"k{draw.randrange(entries)}"
            store.set(f"{key}.n", -n)
            model[key]["n"] = -n
            if snapshots is not None and n + 1 in snapshots:
                snapshots[n + 1] = thaw(freeze(model))
    return model


def test_value_at_and_opening_give_lazy_values(tmp_path: Path) -> None:
    """A cold repo.value_at and an opened timeline's head are lazy, equal to
    the model, and read a few nodes for a leaf."""
    path = tmp_path / "h.db"
    snapshots: dict[int, Any] = {40: None}
    model = _history(path, 2000, 300, snapshots)
    with statetrail.open(path) as repo:
        value = repo.value_at("s", 32)  # a checkpoint
        assert type(value) is LazyDict
        cache = repo._node_cache("s")
        assert value["k7"]["name"] == "entry 7"
        assert cache.fetched == 6  # the root, four levels, one bucket
        later = repo.value_at("s", 40)  # its checkpoint plus 8 patches
        assert later["k8"]["name"] == "entry 8"
        assert thaw(later) == snapshots[40]
        revision = repo.store("s").timeline.head
        head = revision.value
        assert type(head) is LazyDict
        (change,) = revision.changes  # from the overlays, not a whole diff
        assert change.path[1:] == ("n",)
        assert change.new == model[change.path[0]]["n"]
        assert head._real is None
        assert thaw(head) == model


def test_a_lazy_head_survives_being_written_through(tmp_path: Path) -> None:
    """Writes after opening materialise the head and record the right
    changes: the value, a reopened history and verify all agree."""
    path = tmp_path / "h.db"
    model = _history(path, 1500, 300)  # the tail page starts past a checkpoint
    with statetrail.open(path, checkpoint_every=16) as repo:
        store = repo.store("s")
        assert type(store.timeline.head.value) is LazyDict
        store.set("k3.n", "first")
        model["k3"]["n"] = "first"
        store.set("added", [1, 2])
        model["added"] = [1, 2]
        store.delete("k4")
        del model["k4"]
        assert thaw(store.timeline.head.value) == model
        changes = diff(repo.value_at("s", 300), store.timeline.head.value)
        assert {c.path for c in changes} == {("k3", "n"), ("added",), ("k4",)}
        for n in range(40):  # on to the next checkpoints
            store.set(f"k{n + 10}.n", n)
            model[f"k{n + 10}"]["n"] = n
        assert repo.verify() == {"s": 344}
    with statetrail.open(path) as repo:
        assert thaw(repo.store("s").timeline.head.value) == model
        assert list(repo.value_at("s", 343)) == list(model)
        assert repo.verify() == {"s": 344}


def test_a_lazy_value_set_whole_is_stored_as_its_value(tmp_path: Path) -> None:
    """Setting a lazy value read from one timeline onto another stores the
    value it stands for (freeze_value materialises it)."""
    path = tmp_path / "h.db"
    model = _history(path, 300, 5)
    with statetrail.open(path) as repo:
        value = repo.value_at("s", 5)
        other = repo.store("t", {"x": 1})
        other.timeline.set(value)
        assert type(other.timeline.head.value) is FrozenDict
    with statetrail.open(path) as repo:
        assert thaw(repo.value_at("t", 1)) == model
        assert repo.verify() == {"s": 6, "t": 2}


def test_a_lazy_list_is_a_sequence() -> None:
    """Index, negative index, slices, iteration, reversed, index(), count()."""
    value = freeze({"l": list(range(500))})
    backend, root = _stored(value)
    lazy, _ = _lazy(backend, root)
    items = lazy["l"]
    assert type(items) is LazyList
    assert items[-1] == 499
    assert items[10:13] == FrozenList([10, 11, 12])
    assert list(reversed(items))[:2] == [499, 498]
    assert items.index(42) == 42
    assert items.count(7) == 1
    assert 300 in items
    assert items == list(range(500))


def test_tampered_node_on_disk_found_when_read(tmp_path: Path) -> None:
    """Through SQLite: a bucket altered in the file raises on reading its key."""
    path = tmp_path / "h.db"
    _history(path, 500, 16)
    with sqlite3.connect(path) as conn:
        (digest, body) = conn.execute(
            "SELECT digest, body FROM nodes WHERE CAST(body AS TEXT) LIKE ?"
            " AND CAST(body AS TEXT) LIKE '[\"B\"%'",
            ('%"entry 77"%',),
        ).fetchone()
        conn.execute(
            "UPDATE nodes SET body = ? WHERE digest = ?",
            (bytes(body).replace(b"entry 77", b"entry 78"), digest),
        )
    with statetrail.open(path) as repo:
        value = repo.value_at("s", 16)
        assert value["k1"]["name"] == "entry 1" or "k1" not in value
        with pytest.raises(CorruptHistoryError, match="does not match its digest"):
            value["k77"]


def test_a_store_reads_and_writes_through_a_lazy_head(tmp_path: Path) -> None:
    """Store.get through lazy dicts and lists, a transaction, a path write and
    undo on a freshly opened timeline whose head is lazy."""
    path = tmp_path / "h.db"
    state = {
        "items": [{"i": i} for i in range(100)],
        **{f"k{i}": {"n": i} for i in range(100)},
    }
    with statetrail.open(path, checkpoint_every=16, durability="batched") as repo:
        store = repo.store("s", state)
        for n in range(300):
            store.set(f"k{n % 100}.n", -n)
    with statetrail.open(path) as repo:
        store = repo.store("s")
        head = store.timeline.head.value
        assert type(head) is LazyDict
        assert type(head["items"]) is LazyList
        assert store.get("items.7.i") == 7
        assert store.get("items.700.i", "none") == "none"
        assert store.get("k5.n") == -205
        assert store.get("k5.nothing", "none") == "none"
        assert head._real is None
        with store.transaction():
            store.set("items.3.i", "three")
            store.set("k1.n", "one")
        assert store.get("items.3.i") == "three"
        assert store.get("k1.n") == "one"
        store.timeline.undo()
        assert store.get("k1.n") == -201
        assert repo.verify() == {"s": 303}  # the transaction, the undo


def test_keys_equal_across_types_are_found_as_a_dict_finds_them() -> None:
    """1.0 and True find the key 1 (another digest), as in a dict; a key of
    another type that equals nothing misses."""
    value = freeze({**{f"k{i}": i for i in range(100)}, 1: "one", 2.5: "f"})
    backend, root = _stored(value)
    for key in (1, 1.0, True, 2.5, "k3", "k1", 0, None, (1,)):
        lazy, _ = _lazy(backend, root)
        assert lazy.get(key, "missing") == value.get(key, "missing")
        assert (key in lazy) == (key in value)


def test_a_lazy_value_read_after_closing_says_what_to_do(tmp_path: Path) -> None:
    """Read after its repository closed, a lazy value's nodes cannot be
    fetched: StorageError, naming thaw(); one thawed before closing is whole."""
    path = tmp_path / "h.db"
    model = _history(path, 500, 20)
    with statetrail.open(path) as repo:
        lazy = repo.value_at("s", 20)
        whole = thaw(repo.value_at("s", 20))
    assert whole == model
    with pytest.raises(statetrail.StorageError, match=r"thaw\(\)"):
        lazy["k3"]
