"""Checkpoint nodes no remaining checkpoint reaches are swept, never one in use.

On real SQLite files, PostgreSQL schemas and the memory backend (the JSON
file keeps whole-value checkpoints, no nodes). The interleaving tests put a
writer's checkpoint between the sweep's mark and its deletions (through the
sweep's ``_after_mark`` seam), and a sweep between a writer's question of
which nodes are stored and its commit (through the backend's ``has_nodes``,
called for real): the nodes that checkpoint names must all stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail.repository import Repository
from statetrail.storage import _nodes as nodes
from statetrail.storage._lazy import LazyDict
from statetrail.storage._trim import trim_stored
from statetrail.storage.base import Backend
from statetrail.storage.memory import MemoryBackend
from tests.storage.pg import fresh_schema

KINDS = ["sqlite", "memory", "postgresql"]
EVERY = 4  # a checkpoint every 4 revisions: many checkpoints, few writes
KEYS = 100  # more than 32 keys: the value is stored as nodes


@pytest.fixture(params=KINDS)
def opener(request: Any, tmp_path: Path) -> Iterator[Callable[[], Repository]]:
    """Opens repositories on one store (each with its own writer, as a process)."""
    opened: list[Repository] = []
    if request.param == "postgresql":
        with fresh_schema() as pg:

            def open_pg() -> Repository:
                repo = statetrail.open(pg.url, schema=pg.name, checkpoint_every=EVERY)
                opened.append(repo)
                return repo

            yield open_pg
            for repo in opened:
                repo.close()
        return
    if request.param == "memory":
        backend = MemoryBackend()

        def open_memory() -> Repository:
            repo = Repository(backend, checkpoint_every=EVERY)
            opened.append(repo)
            return repo

        yield open_memory
    else:

        def open_sqlite() -> Repository:
            repo = statetrail.open(tmp_path / "h.db", checkpoint_every=EVERY)
            opened.append(repo)
            return repo

        yield open_sqlite
    for repo in opened:
        repo.close()


def _value(tag: str, extra: int) -> dict[str, Any]:
    return {**{f"key{i:03d}": f"{tag}-{i}" for i in range(KEYS)}, "n": extra}


def _stored(backend: Backend) -> set[bytes]:
    out: list[bytes] = []
    after = b""
    while page := backend.node_digests(after, 1000):
        out += page
        after = page[-1]
    return set(out)


def _reachable(backend: Backend) -> set[bytes]:
    """Every node the remaining checkpoints reach, each read and checked."""
    seen: set[bytes] = set()
    for root in backend.node_roots():
        nodes.check(backend.nodes, root, seen)
    return seen


def _history_a_then_b(repo: Repository) -> Any:
    """Value A (checkpointed), then eight values B sharing none of A's buckets,
    then storage trimmed to the last two without a sweep: A's nodes are
    unreachable but stored."""
    var = repo.watch("v", _value("a", -1))
    for j in range(EVERY):
        var.set(_value("a", j))  # a checkpoint of A's keys
    for j in range(8):
        var.set(_value(f"b{j}", 0))
    end = repo.backend.end("v")
    assert end is not None
    trim_stored(
        repo.backend,
        "v",
        end.length - 2,
        reason="test",
        checkpoint_every=EVERY,
        sweep=False,
    )
    return var


class TestSweep:
    def test_unreachable_nodes_go_and_the_rest_verifies(
        self, opener: Callable[[], Repository]
    ) -> None:
        repo = opener()
        _history_a_then_b(repo)
        backend = repo.backend
        before = _stored(backend)
        garbage = before - _reachable(backend)
        assert len(garbage) > KEYS // 2  # A's buckets at least
        repo.reclaim()
        after = _stored(backend)
        assert after == _reachable(backend)  # exactly: nothing else is left
        assert after == before - garbage
        assert repo.verify()["v"] >= 2
        assert backend.node_epoch() >= 1
        again = opener()  # a cold read, through the nodes
        assert again.value_at("v", backend.latest("v")) == _value("b7", 0)

    def test_a_checkpoint_between_mark_and_sweep_keeps_its_nodes(
        self, opener: Callable[[], Repository]
    ) -> None:
        """The writer remembers A's nodes as stored: back to A, its checkpoint
        names them without writing them. It commits after the sweep marked
        them unreachable: the sweep finds its root and keeps them."""
        repo = opener()
        var = _history_a_then_b(repo)
        backend = repo.backend
        garbage = _stored(backend) - _reachable(backend)

        def write_back_to_a() -> None:
            for j in range(EVERY + 1):
                var.set(_value("a", 10 + j))

        gone = nodes.sweep(backend, batch=16, _after_mark=write_back_to_a)
        named = _reachable(backend)  # raises if a checkpoint lost a node
        assert len(garbage & named) > KEYS // 2  # A's buckets came back
        assert gone == len(garbage - named)
        assert repo.verify()["v"] >= 2
        latest = backend.latest("v")
        assert opener().value_at("v", latest) == _value("a", 10 + EVERY)

    def test_a_sweep_between_a_writers_question_and_commit(
        self, opener: Callable[[], Repository], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A second writer (as another process) asks which of A's nodes are
        stored; they are. A sweep then deletes them before its commit: the
        commit sees the sweep count moved, and the writer stores them again."""
        first = opener()
        _history_a_then_b(first)
        repo = opener()
        backend = repo.backend
        var = repo.watch("v")
        asked = backend.has_nodes
        swept: list[int] = []

        def ask_then_sweep(digests: list[bytes]) -> set[bytes]:
            answer = asked(digests)
            if not swept and answer:  # stale once the sweep below commits
                swept.append(nodes.sweep(backend))
            return answer

        monkeypatch.setattr(backend, "has_nodes", ask_then_sweep)
        j = 0
        while not swept:  # up to the write whose checkpoint asked
            j += 1
            assert j <= EVERY + 1
            var.set(_value("a", 20 + j))
        assert swept[0] > KEYS // 2  # A's buckets went meanwhile
        assert backend.node_epoch() >= 1
        # Checked before any later checkpoint writes the same nodes again.
        _reachable(backend)  # raises if a checkpoint lost a node
        assert repo.verify()["v"] >= 2
        latest = backend.latest("v")
        assert opener().value_at("v", latest) == _value("a", 20 + j)

    def test_retention_sweeps_as_writes_go(self, tmp_path: Path) -> None:
        """Retention alone (no reclaim) keeps the node store near what the
        kept checkpoints reach."""
        with statetrail.open(tmp_path / "r.db", checkpoint_every=EVERY) as repo:
            var = repo.watch(
                "v", _value("a", 0), retention=statetrail.Retention(keep_last=64)
            )
            for j in range(1, 2_600):
                var.set({**var.get(), f"key{j % KEYS:03d}": j})
            stored = _stored(repo.backend)
            reachable = _reachable(repo.backend)
            assert reachable <= stored
            # Every value's checkpoint makes ~7 new nodes: 2,600 writes made
            # ~4,500; what is left is within a few trims' worth of the kept.
            assert len(stored) < 2 * len(reachable) + 4 * 256 * 7 // EVERY
            assert repo.verify()["v"] >= 64

    def test_a_lazy_value_read_before_a_trim_still_reads(
        self, opener: Callable[[], Repository]
    ) -> None:
        """A kept revision's value read lazily from a checkpoint the trim then
        removes: the sweep keeps the nodes it stands on (this process's)."""
        repo = opener()
        var = repo.watch("v", _value("a", -1))
        for j in range(EVERY):
            var.set(_value("a", j))  # a checkpoint of A at revision EVERY
        var.set(_value("a", 99))  # revision EVERY + 1, read from it
        for j in range(8):
            var.set(_value(f"b{j}", 0))
        end = repo.backend.end("v")
        assert end is not None
        if not isinstance(repo.backend, MemoryBackend):
            repo.close()  # as another process: nothing of its writes cached
        reader = opener()
        old = reader.value_at("v", EVERY + 1)
        reader.trim("v", keep_last=end.length - EVERY - 1, reason="test")
        assert reader.backend.trims("v")[-1].last == EVERY  # its checkpoint went
        # The nodes it stands on are kept (whether or not it read them yet).
        assert isinstance(old, LazyDict)
        root = old._digest  # the root it stands on
        assert reader.backend.has_nodes([root]) == {root}
        assert dict(old) == _value("a", 99)
        assert reader.verify()["v"] == end.length - EVERY - 1
