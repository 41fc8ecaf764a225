"""Content-addressed checkpoints (issue 11): the node store of ``_nodes``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

import statetrail
from statetrail import CorruptHistoryError
from statetrail._change import UNSTORED, Change
from statetrail.frozen import MISSING, freeze, thaw
from statetrail.storage import _integrity as integrity
from statetrail.storage._journal import CHECKPOINT_NOT_COMMITTED
from statetrail.storage._nodes import PREFIX, NodeWriter, check, load
from statetrail.storage._value_digest import Tracker, value_digest
from statetrail.storage.memory import MemoryBackend
from tests.storage.pg import PgSchema, admin, pg

__all__ = ["pg"]  # the fixture

_ROOT = Path(__file__).resolve().parents[2]
EVERY = 8


def _value(size: int, key: Any = 7) -> dict[Any, Any]:
    """A state with every kind of node: a large dict, a long list, small parts
    (``key``: a store's keys are strings, a value's need not be)."""
    return {
        "users": {f"user-{i}": {"n": i, "tags": {"x", str(i)}} for i in range(size)},
        "odd": {f"o{i}": [2**70 + i, 1.5 * i, None, True, "é"] for i in range(size)},
        "huge": {f"h{i}": 2**64 + i for i in range(size)},
        "list": [str(i) for i in range(3 * size)],
        "small": {"deep": list(range(100)), "flat": 1},
        key: frozenset({"a", "b"}),
    }


def _round_trip(value: Any) -> tuple[Any, list[tuple[bytes, bytes]]]:
    """Save ``value`` as nodes into a memory backend and load it back."""
    backend = MemoryBackend()
    tracker = Tracker()
    tracker.reset(value, 0)
    root, made = NodeWriter().save(tracker.shadow(0), value, backend.has_nodes)
    backend.put_nodes(made)
    assert root.hex() == value_digest(value)
    return load(backend.nodes, root), made


@pytest.mark.parametrize("size", [0, 5, 40, 300])
def test_a_value_comes_back_equal_and_in_order(size: int) -> None:
    """Dicts of every size keep their order (the links), lists their items."""
    value = freeze(_value(size))
    back, _ = _round_trip(value)
    assert back == value
    assert list(back["users"]) == list(value["users"])
    assert list(back) == list(value)


def test_edits_write_only_the_changed_nodes() -> None:
    """A second save after one leaf changed writes the nodes on its path: the
    dict's header, four trie levels and one bucket; a removed and an added key
    are followed (the links of their neighbours change)."""
    backend = MemoryBackend()
    tracker = Tracker()
    writer = NodeWriter()
    value = freeze({f"k{i}": i for i in range(2000)})
    tracker.reset(value, 0)
    _, first = writer.save(tracker.shadow(0), value, backend.has_nodes)
    backend.put_nodes(first)
    assert len(first) > 1000
    value = value.set("k5", -5)
    tracker.advance([Change(("k5",), UNSTORED, -5)], value, 1)
    root, made = writer.save(tracker.shadow(1), value, backend.has_nodes)
    backend.put_nodes(made)
    assert [body[:4] for _, body in made].count(b'["N"') == 4
    assert len(made) == 6
    assert load(backend.nodes, root) == value
    value = value.delete("k7").set("new", 1)
    gone, added = Change(("k7",), UNSTORED, MISSING), Change(("new",), MISSING, 1)
    tracker.advance([gone, added], value, 2)
    root, made = writer.save(tracker.shadow(2), value, backend.has_nodes)
    backend.put_nodes(made)
    back = load(backend.nodes, root)
    assert back == value
    assert list(back) == list(value)
    assert len(made) < 20


def _nodes_of(path: Path) -> list[tuple[bytes, bytes]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT digest, body FROM nodes"))


def _checkpoint_texts(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT number, value FROM checkpoints"))


def _history(path: Path, writes: int = 20) -> None:
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        store = repo.store("s", _value(60, "seven"))
        for i in range(writes):
            store.set(f"users.user-{(i * 7) % 60}.n", -i)


def test_a_stored_history_checkpoints_as_nodes_and_reads_back(tmp_path: Path) -> None:
    """Checkpoints name root nodes; a cold read of each equals the value the
    history gives; verify passes."""
    path = tmp_path / "h.db"
    _history(path)
    texts = _checkpoint_texts(path)
    assert texts
    assert all(t.startswith(PREFIX) for t in texts.values())
    with statetrail.open(path) as repo:
        expected = [repo.value_at("s", n) for n in sorted(texts)]
    with statetrail.open(path) as repo:  # cold: each from its checkpoint
        for n, value in zip(sorted(texts), expected, strict=True):
            assert repo.value_at("s", n) == value
        assert repo.verify() == {"s": 21}


_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import statetrail
from test_nodes import _history, _value
path = Path(sys.argv[2])
if sys.argv[3] == "write":
    _history(path)
else:
    with statetrail.open(path) as repo:
        assert repo.verify() == {"s": 21}
        value = repo.value_at("s", 16)
        assert value["users"]["user-7"]["n"] == -1, value["users"]["user-7"]
        assert list(value["users"]) == list(_value(60)["users"])
print(hash("a"))
"""


def test_node_bytes_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Written under two seeds: the same digests and bytes; a file written
    under one is read and verified under the other."""
    hashes = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(_ROOT / "src")}
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _SCRIPT,
                str(Path(__file__).parent),
                str(tmp_path / f"{seed}.db"),
                "write",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        hashes.append(done.stdout)
    assert hashes[0] != hashes[1]  # the seeds did differ
    assert _nodes_of(tmp_path / "1.db") == _nodes_of(tmp_path / "2.db")
    assert len(_nodes_of(tmp_path / "1.db")) > 100
    here = str(Path(__file__).parent)
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, here, str(tmp_path / "1.db"), "read"],
        env={**os.environ, "PYTHONHASHSEED": "2", "PYTHONPATH": str(_ROOT / "src")},
        check=True,
    )


def _a_node(path: Path, like: str) -> bytes:
    """The digest of a node reachable from the newest checkpoint whose body
    contains ``like`` (every node the history wrote is reachable from some)."""
    with sqlite3.connect(path) as conn:
        (digest,) = conn.execute(
            "SELECT digest FROM nodes WHERE CAST(body AS TEXT) LIKE ?",
            (f"%{like}%",),
        ).fetchone()
    return bytes(digest)


def _cold_read_fails(path: Path, number: int) -> CorruptHistoryError:
    with (
        statetrail.open(path) as repo,
        pytest.raises(CorruptHistoryError) as caught,
    ):
        thaw(repo.value_at("s", number))  # lazily loaded: read all of it
    return caught.value


def _checkpointed(path: Path) -> int:
    return max(_checkpoint_texts(path))


def test_a_tampered_node_is_found(tmp_path: Path) -> None:
    """A node's body altered (a leaf value in a bucket): a cold read through
    it raises, and verify reports the checkpoint."""
    path = tmp_path / "h.db"
    _history(path)
    digest = _a_node(path, '"user-59"')
    with sqlite3.connect(path) as conn:
        (body,) = conn.execute(
            "SELECT body FROM nodes WHERE digest = ?", (digest,)
        ).fetchone()
        altered = bytes(body).replace(b'"n":59', b'"n":58')
        assert altered != bytes(body)
        conn.execute("UPDATE nodes SET body = ? WHERE digest = ?", (altered, digest))
    assert "does not match its digest" in str(
        _cold_read_fails(path, _checkpointed(path))
    )
    with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError) as caught:
        repo.verify()
    assert caught.value.problems
    assert all("its checkpoint's nodes" in what for _, _, what in caught.value.problems)


def test_a_missing_node_is_found(tmp_path: Path) -> None:
    """A node deleted: a cold read through it raises; verify reports it."""
    path = tmp_path / "h.db"
    _history(path)
    digest = _a_node(path, '"user-33"')
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM nodes WHERE digest = ?", (digest,))
    assert "missing" in str(_cold_read_fails(path, _checkpointed(path)))
    with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError) as caught:
        repo.verify()
    assert any("missing" in what for _, _, what in caught.value.problems)


def test_a_checkpoint_naming_another_root_is_found(tmp_path: Path) -> None:
    """A checkpoint rewritten to name an earlier checkpoint's root (stored,
    every node intact), its digest recomputed for its revision's chain: the
    row's value digest does not name that root."""
    path = tmp_path / "h.db"
    _history(path)
    first, last = min(_checkpoint_texts(path)), _checkpointed(path)
    texts = _checkpoint_texts(path)
    with sqlite3.connect(path) as conn:
        (chain,) = conn.execute(
            "SELECT chain FROM revisions WHERE timeline = 's' AND number = ?", (last,)
        ).fetchone()
        forged = texts[first]
        conn.execute(
            "UPDATE checkpoints SET value = ?, digest = ? WHERE number = ?",
            (forged, integrity.checkpoint_digest(chain, forged.encode()), last),
        )
    assert CHECKPOINT_NOT_COMMITTED in str(_cold_read_fails(path, last))
    with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError) as caught:
        repo.verify()
    assert caught.value.problems == [("s", last, CHECKPOINT_NOT_COMMITTED)]


def test_erasing_keeps_a_child_readable_from_its_nodes(tmp_path: Path) -> None:
    """A revision erased whose child checkpointed as nodes: the child is read
    from its nodes (its parent's value is gone) and verify passes."""
    path = tmp_path / "h.db"
    _history(path)
    last = _checkpointed(path)
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        expected = thaw(repo.value_at("s", last))
        repo.timeline("s").erase(last - 1, reason="test")
    with statetrail.open(path) as repo:
        assert repo.value_at("s", last) == expected
        assert repo.verify() == {"s": 21}


def test_a_small_value_keeps_whole_checkpoints(tmp_path: Path) -> None:
    """A value without a large part checkpoints whole, as before (one node
    would cost the same)."""
    path = tmp_path / "h.db"
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        store = repo.store("s", {"a": 1})
        for i in range(10):
            store.set("a", i)
    texts = _checkpoint_texts(path)
    assert texts
    assert not any(t.startswith(PREFIX) for t in texts.values())
    assert _nodes_of(path) == []


def test_postgresql_checkpoints_as_nodes(pg: PgSchema) -> None:
    """The same on PostgreSQL: node checkpoints, cold reads equal, a node
    altered is found by a cold read and by verify."""
    backend = pg.backend()
    with statetrail.Repository(backend, checkpoint_every=EVERY) as repo:
        store = repo.store("s", _value(60, "seven"))
        for i in range(20):
            store.set(f"users.user-{(i * 7) % 60}.n", -i)
        expected = thaw(repo.value_at("s", 16))
    with statetrail.Repository(pg.backend()) as repo:
        assert repo.backend.checkpoint("s", 16)[0].startswith(PREFIX)  # type: ignore[index]
        assert repo.value_at("s", 16) == expected
        assert repo.verify() == {"s": 21}
    with closing(admin()) as conn:
        table = sql.Identifier(pg.name, "nodes")
        text = "convert_from(body, 'UTF8')"
        altered = conn.execute(
            sql.SQL(
                "UPDATE {} SET body = convert_to(replace("
                + text
                + ", '\"n\":59', '\"n\":58'), 'UTF8')"
                " WHERE position('\"user-59\"' in " + text + ") > 0"
            ).format(table)
        )
        assert altered.rowcount == 1
    with statetrail.Repository(pg.backend()) as repo:
        with pytest.raises(CorruptHistoryError):
            thaw(repo.value_at("s", 16))  # read as it loads
        with pytest.raises(CorruptHistoryError):
            repo.verify()


@pytest.mark.parametrize(
    ("was", "now"),
    [
        (b'"n":41', b'"n":40'),  # a number
        (b'"n":41', b'"n":41.0'),  # the same number, another type
        (b'"name":"entry 41"', b'"name":"entry 14"'),  # a string
        (b'"n":41,"name":"entry 41"', b'"name":"entry 41","n":41'),  # the order
        (b'"ok":true', b'"ok":false'),  # a boolean
        (b'"ok":true', b'"ok":{"$t":"tuple","v":[]}'),  # a tagged value
    ],
)
def test_verify_finds_a_plain_inline_value_altered(
    tmp_path: Path, was: bytes, now: bytes
) -> None:
    """A bucket's inline value of plain JSON (checked from the JSON alone,
    ``_value_digest.plain_digest``) altered: verify reports the checkpoint."""
    path = tmp_path / "h.db"
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        state = {f"k{i}": {"n": i, "name": f"entry {i}", "ok": True} for i in range(60)}
        store = repo.store("s", state)
        for i in range(20):
            store.set(f"k{(i * 7) % 60}.n", -i)
    with statetrail.open(path) as repo:
        assert repo.verify() == {"s": 21}
    digest = _a_node(path, '"entry 41"')
    with sqlite3.connect(path) as conn:
        (body,) = conn.execute(
            "SELECT body FROM nodes WHERE digest = ?", (digest,)
        ).fetchone()
        altered = bytes(body).replace(was, now)
        assert altered != bytes(body)
        conn.execute("UPDATE nodes SET body = ? WHERE digest = ?", (altered, digest))
    with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError) as caught:
        repo.verify()
    assert caught.value.problems
    assert all("its checkpoint's nodes" in what for _, _, what in caught.value.problems)


def _reaching(path: Path, digest: bytes) -> set[int]:
    """The checkpoints whose trees hold node ``digest`` (walked one by one)."""
    found = set()
    with closing(sqlite3.connect(path)) as conn:
        query = "SELECT body FROM nodes WHERE digest = ?"
        for number, text in _checkpoint_texts(path).items():
            read: list[bytes] = []

            def fetch(wanted: list[bytes], read: list[bytes] = read) -> Any:
                read.extend(wanted)
                return {
                    d: bytes(conn.execute(query, (d,)).fetchone()[0]) for d in wanted
                }

            check(fetch, bytes.fromhex(text[len(PREFIX) :]), set())
            if digest in read:
                found.add(number)
    return found


def test_a_node_tampered_is_listed_under_its_first_checkpoint(tmp_path: Path) -> None:
    """verify walks a page's checkpoints together (``check_many``); a node
    altered is listed, as when each was walked alone, under the first
    checkpoint that reaches it (the later ones share its checked parents), not
    under the page's first checkpoint."""
    path = tmp_path / "h.db"
    _history(path, writes=40)
    digest = _a_node(path, '"n":-10')  # written by revision 11
    reaching = _reaching(path, digest)
    assert min(reaching) == 16
    assert min(_checkpoint_texts(path)) < 16
    with sqlite3.connect(path) as conn:
        (body,) = conn.execute(
            "SELECT body FROM nodes WHERE digest = ?", (digest,)
        ).fetchone()
        altered = bytes(body).replace(b'"n":-10', b'"n":-11')
        assert altered != bytes(body)
        conn.execute("UPDATE nodes SET body = ? WHERE digest = ?", (altered, digest))
    with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError) as caught:
        repo.verify()
    assert [n for _, n, _ in caught.value.problems] == [16]
    assert all("its checkpoint's nodes" in what for _, _, what in caught.value.problems)
