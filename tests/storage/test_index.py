"""The path and time indexes in storage (issue 11): what is written with each
revision, how older files gain them, and what the engine asks of them."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import statetrail
from statetrail.repository import Repository
from statetrail.storage._reader import path_numbers
from statetrail.storage._sqlite_schema import MIGRATIONS, MIGRATIONS_3
from statetrail.storage.base import Backend
from statetrail.storage.sqlite import SQLiteBackend
from tests.storage.contract import row
from tests.storage.pg import PgSchema, pg

__all__ = ["pg"]  # the fixture, imported for the tests below

#: Paths of the rows written before the indexes existed.
OLD = [("",), ("/a/b",), ("/a",), ("/b~1c",), ("/a/b/c", "/d")]


def _entries(path: Path) -> list[tuple[str, str, int]]:
    with closing(sqlite3.connect(path)) as conn:
        return sorted(conn.execute("SELECT timeline, path, number FROM paths"))


def _history(repo: Repository) -> None:
    store = repo.store("s", {"a": {"b": 1, "c": 2}, "x/y": {"~z": 0}})
    store.set("a.b", 2)
    store.set("a.c", 3)
    timeline = repo.timeline("s")
    timeline.checkout(1)
    store.set("a.c", 30)  # a branch
    timeline.switch("main")
    store.set("x/y", {"~z": 1})


class TestSqliteMigration:
    def test_a_schema_3_file_is_indexed_when_opened(self, tmp_path: Path) -> None:
        """Rows written at schema 3 (no index) get their entries when a writer
        opens the file (migration 4), and later rows get theirs with them."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, _migrations=MIGRATIONS_3) as old:
            old.append([row(n, paths=p) for n, p in enumerate(OLD)])
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (3,)
            assert not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'paths'"
            ).fetchall()
        with SQLiteBackend(path) as backend:
            assert backend.touching("t", "/a/b") == [4, 2, 1, 0]
            assert backend.touching("t", "/b~1c") == [3, 0]
            assert backend.number_at("t", 1_700_000_000_000_000_002) == 2
            backend.append([row(5, paths=("/a/b",))])
            assert backend.touching("t", "/a/b", limit=2) == [5, 4]
            assert backend.index_problems("t") == []
            assert backend.check() == []
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert len(_entries(path)) == 7

    def test_a_schema_3_history_verifies_and_blames_after_migration(
        self, tmp_path: Path
    ) -> None:
        """A whole history written through the engine at schema 3 opens,
        verifies (index included) and answers blame from the index."""
        path = tmp_path / "h.db"
        with Repository(SQLiteBackend(path, _migrations=MIGRATIONS_3)) as repo:
            _history(repo)
        with statetrail.open(path) as repo:
            assert repo.verify() == {"s": 5}
            assert repo.backend.touching("s", "/a/c") == [3, 2, 0]
            assert repo.backend.index_problems("s") == []

    def test_batched_writes_are_indexed(self, tmp_path: Path) -> None:
        """The group commit's rows are indexed in their own transaction."""
        with SQLiteBackend(tmp_path / "h.db", durability="batched") as backend:
            for n, p in enumerate(OLD):
                backend.append([row(n, paths=p)])
            assert backend.touching("t", "/a") == [4, 2, 1, 0]  # flushes first
            assert backend.index_problems("t") == []


class TestPostgresMigration:
    def test_a_schema_3_schema_is_indexed_when_opened(self, pg: PgSchema) -> None:
        """The same on PostgreSQL: schema 3's rows indexed by schema 4."""
        with closing(pg.backend(_version_3_only=True)) as old:
            old.append([row(n, paths=p) for n, p in enumerate(OLD)])
            assert old.touching("t", "/a/b") == [4, 2, 1, 0]  # from its rows
        with closing(pg.backend()) as backend:
            assert backend.touching("t", "/a/b") == [4, 2, 1, 0]
            backend.append([row(5, paths=("/a/b",))])
            assert backend.touching("t", "/a/b", limit=2) == [5, 4]
            assert backend.index_problems("t") == []
            assert backend.check() == []


@pytest.fixture(params=["memory", "json", "sqlite", "postgresql"])
def repo(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Repository:  # pragma: no cover - the fixture
    kind = request.param
    if kind == "memory":
        return statetrail.open(":memory:")
    if kind == "json":
        return statetrail.open(tmp_path / "h.json")
    if kind == "sqlite":
        return statetrail.open(tmp_path / "h.db")
    schema: PgSchema = request.getfixturevalue("pg")
    return Repository(schema.backend())


class TestThroughTheEngine:
    def test_index_entries_after_writes_branches_erase_and_trim(
        self, repo: Repository
    ) -> None:
        """What the engine writes is indexed, on every backend alike: the
        escaped key, the branch, an erased revision; a trim takes its rows'
        entries."""
        with repo:
            _history(repo)
            backend: Backend = repo.backend
            assert backend.touching("s", "/a/c") == [3, 2, 0]
            assert backend.touching("s", "/x~1y/~0z") == [4, 0]
            assert backend.touching("s", "/a") == [3, 2, 1, 0]
            repo.timeline("s").erase(3, reason="privacy")
            assert backend.touching("s", "/a/c") == [3, 2, 0]
            repo.trim("s", keep_last=2)
            assert backend.touching("s", "/a/c") == [3]
            assert backend.index_problems("s") == []
            assert repo.verify() == {"s": 2}


def test_path_numbers_for_paged_records(tmp_path: Path) -> None:
    """The function a timeline read on demand calls: a dot-path or steps in,
    the index's numbers out, newest first, every branch."""
    with statetrail.open(tmp_path / "h.db") as repo:
        _history(repo)
        assert path_numbers(repo.backend, "s", "a.c") == [3, 2, 0]
        assert path_numbers(repo.backend, "s", ("x/y", "~z")) == [4, 0]
        assert path_numbers(repo.backend, "s", "a.c", before=3, limit=1) == [2]
