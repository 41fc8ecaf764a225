"""The SQLite backend: the contract in every durability mode, and what is SQLite's own.

Crash, corruption and multi-process tests are in test_sqlite_crash.py,
test_sqlite_corrupt.py and test_sqlite_processes.py.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from statetrail.errors import (
    ConflictError,
    CorruptHistoryError,
    RevisionNotFoundError,
    StorageError,
)
from statetrail.storage import _sqlite_connections
from statetrail.storage._sqlite_schema import (
    APPLICATION_ID,
    INSERT,
    MIGRATIONS,
    params,
)
from statetrail.storage.base import Backend, Checkpoint, Heads, Row
from statetrail.storage.sqlite import SQLiteBackend, has_wal_reset_bug
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import BackendContract, row

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")


class FlushingBackend(SQLiteBackend):
    """Batched mode with each write flushed at once: the contract's view of it.

    The contract expects a write's error from the write itself, and reads that
    see it; batched mode raises errors from flush() and reads see committed rows
    only. Everything else (queue, thread, group transaction, savepoints,
    conflicts) is the real batched path. The lock keeps each write with its
    flush, so a conflict reaches the thread whose append caused it.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, durability="batched")
        self._pairing = threading.Lock()

    def append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        with self._pairing:
            super().append(rows, checkpoints, heads)
            self.flush()

    def save_heads(self, timeline: str, heads: Heads) -> None:
        with self._pairing:
            super().save_heads(timeline, heads)
            self.flush()

    def put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        with self._pairing:
            super().put_checkpoint(timeline, number, value, digest)
            self.flush()


class TestSQLiteBackend(BackendContract):
    """The shared contract, once per durability mode."""

    @pytest.fixture(autouse=True, params=["full", "normal", "batched"])
    def _mode(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.durability = request.param
        self.path = tmp_path / "history.db"

    def make_backend(self) -> Iterator[Backend]:
        if self.durability == "batched":
            backend: SQLiteBackend = FlushingBackend(self.path)
        else:
            backend = SQLiteBackend(self.path, durability=self.durability)  # type: ignore[arg-type]
        yield backend
        backend.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look at the file from outside."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def numbers(path: Path, timeline: str = "t") -> list[int]:
    """The revision numbers of ``timeline`` as another connection sees them."""
    with raw(path) as conn:
        rows = conn.execute(
            "SELECT number FROM revisions WHERE timeline = ? ORDER BY number",
            (timeline,),
        ).fetchall()
    conn.close()
    return [n for (n,) in rows]


class TestSettings:
    @pytest.mark.parametrize(
        ("durability", "synchronous"), [("full", 2), ("normal", 1), ("batched", 2)]
    )
    def test_wal_and_synchronous_per_mode(
        self, tmp_path: Path, durability: str, synchronous: int
    ) -> None:
        """WAL journal, synchronous FULL (2) or NORMAL (1); SQLite itself does
        not wait on a busy database (the backend retries, up to busy_timeout)."""
        with SQLiteBackend(
            tmp_path / "h.db",
            durability=durability,  # type: ignore[arg-type]
            busy_timeout=1.5,
        ) as backend:
            writer = backend._process.writer()
            assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert writer.execute("PRAGMA synchronous").fetchone() == (synchronous,)
            assert writer.execute("PRAGMA busy_timeout").fetchone() == (0,)
            assert backend._busy.bound == 1.5
        with raw(tmp_path / "h.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.close()

    def test_a_relative_path_survives_chdir(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Connections opened after a chdir (a new thread's) use the same file."""
        monkeypatch.chdir(tmp_path)
        with SQLiteBackend("h.db") as backend:
            backend.append([row(0)])
            monkeypatch.chdir(tmp_path.parent)
            seen: list[int] = []
            reader = threading.Thread(target=lambda: seen.append(backend.latest("t")))
            reader.start()
            reader.join()
            assert seen == [0]
            assert backend.path == str(tmp_path / "h.db")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"durability": "off"},
            {"durability": "FULL"},
            {"busy_timeout": -1},
            {"batch_interval": 0},
            {"batch_size": 0},
        ],
    )
    def test_bad_arguments(self, tmp_path: Path, kwargs: dict[str, object]) -> None:
        """Unknown durability and impossible numbers are ValueErrors."""
        with pytest.raises(ValueError, match="must be"):
            SQLiteBackend(tmp_path / "h.db", **kwargs)  # type: ignore[arg-type]
        assert not (tmp_path / "h.db").exists()

    @pytest.mark.parametrize("path", [":memory:", "", "file:h.db?mode=memory"])
    def test_memory_is_not_a_file(self, path: str) -> None:
        """In-memory databases are the memory backend's job."""
        with pytest.raises(ValueError, match="MemoryBackend"):
            SQLiteBackend(path)


class TestMigrations:
    def test_an_empty_file_is_migrated(self, tmp_path: Path) -> None:
        """A zero-byte file (and a missing one) gets the current schema."""
        for path in (tmp_path / "empty.db", tmp_path / "missing.db"):
            if path.name == "empty.db":
                path.touch()
            SQLiteBackend(path).close()
            with raw(path) as conn:
                assert conn.execute("PRAGMA user_version").fetchone() == (
                    len(MIGRATIONS),
                )
                assert conn.execute("PRAGMA application_id").fetchone() == (
                    APPLICATION_ID,
                )
                tables = {
                    name
                    for (name,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    )
                }
            conn.close()
            assert tables == {
                "revisions",
                "heads",
                "checkpoints",
                "trims",
                "paths",
                "nodes",
            }

    def test_steps_run_in_order_once(self, tmp_path: Path) -> None:
        """Reopening with one more step runs only that step; reopening again runs
        nothing; the data written in between stays."""
        ran: list[str] = []

        def notes(conn: sqlite3.Connection) -> None:
            ran.append("notes")
            conn.execute("CREATE TABLE notes (text TEXT)")

        path = tmp_path / "h.db"
        with SQLiteBackend(path) as backend:
            backend.append([row(0)])
        for _ in range(2):
            with SQLiteBackend(path, _migrations=(*MIGRATIONS, notes)) as backend:
                assert backend.read("t") == [row(0)]
        assert ran == ["notes"]
        with raw(path) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()
            assert version == (len(MIGRATIONS) + 1,)
        conn.close()

    def test_a_failing_step_changes_nothing(self, tmp_path: Path) -> None:
        """Migrations run in one transaction: a step that fails after creating a
        table leaves neither the table nor a new version."""

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("CREATE TABLE half (x)")
            conn.execute("SELECT * FROM no_such_table")

        path = tmp_path / "h.db"
        SQLiteBackend(path).close()
        with pytest.raises(StorageError) as caught:
            SQLiteBackend(path, _migrations=(*MIGRATIONS, broken))
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        with raw(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
            assert conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'half'"
            ).fetchone() == (0,)
        conn.close()
        SQLiteBackend(path).close()  # still usable by this version

    def test_a_newer_file_is_refused(self, tmp_path: Path) -> None:
        """A schema version above what this code knows is refused, untouched."""
        path = tmp_path / "h.db"
        SQLiteBackend(path).close()
        with raw(path) as conn:
            conn.execute("PRAGMA user_version = 7")
        conn.close()
        with pytest.raises(StorageError, match="newer than this statetrail"):
            SQLiteBackend(path)
        with raw(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (7,)
        conn.close()

    def test_another_applications_file_is_refused(self, tmp_path: Path) -> None:
        """A database marked by another application is not written into."""
        path = tmp_path / "other.db"
        with raw(path) as conn:
            conn.execute("PRAGMA application_id = 42")
            conn.execute("CREATE TABLE mine (x)")
        conn.close()
        with pytest.raises(StorageError, match="another application"):
            SQLiteBackend(path)

    def test_a_foreign_table_of_the_same_name_is_an_error(self, tmp_path: Path) -> None:
        """An unmarked database with its own ``revisions`` table: StorageError."""
        path = tmp_path / "other.db"
        with raw(path) as conn:
            conn.execute("CREATE TABLE revisions (x)")
        conn.close()
        with pytest.raises(StorageError, match="already exists"):
            SQLiteBackend(path)


class TestErrors:
    def test_a_conflict_names_the_row_and_keeps_the_driver_error(
        self, tmp_path: Path
    ) -> None:
        """ConflictError lists (timeline, number); __cause__ is the IntegrityError."""
        with SQLiteBackend(tmp_path / "h.db") as backend:
            backend.append([row(0), row(1)])
            with pytest.raises(ConflictError) as caught:
                backend.append([row(2), row(1)])
            assert caught.value.conflicts == (("t", 1),)
            assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
            assert backend.latest("t") == 1

    def test_other_constraint_failures_are_storage_errors(self, tmp_path: Path) -> None:
        """A NOT NULL violation is a StorageError, not a conflict."""
        with SQLiteBackend(tmp_path / "h.db") as backend:
            with pytest.raises(StorageError) as caught:
                backend.append([row(0), row(1, branch=None)])
            assert not isinstance(caught.value, ConflictError)
            assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
            assert backend.read("t") == []

    def test_a_file_that_is_not_a_database(self, tmp_path: Path) -> None:
        """Text where a database should be: CorruptHistoryError, driver error kept."""
        path = tmp_path / "notes.db"
        path.write_text("these are my notes, not a database\n" * 200)
        with pytest.raises(CorruptHistoryError) as caught:
            SQLiteBackend(path)
        assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
        assert path.read_text().startswith("these are my notes")

    def test_a_missing_directory(self, tmp_path: Path) -> None:
        """A path that cannot be opened: StorageError with the driver's error."""
        with pytest.raises(StorageError) as caught:
            SQLiteBackend(tmp_path / "no" / "such" / "h.db")
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)

    def test_a_busy_database_becomes_a_storage_error(self, tmp_path: Path) -> None:
        """Another connection holding the write lock past busy_timeout: a
        StorageError saying so, never a raw 'database is locked'; reads go on."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, busy_timeout=0.2) as backend:
            backend.append([row(0)])
            other = raw(path)
            other.execute("BEGIN IMMEDIATE")
            other.execute(INSERT, params(row(1, author="other")))
            start = time.monotonic()
            with pytest.raises(StorageError, match=r"busy_timeout=0\.2 s") as caught:
                backend.append([row(1)])
            waited = time.monotonic() - start
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            assert 0.2 <= waited < 2
            assert backend.read("t") == [row(0)]  # WAL: readers are not blocked
            other.rollback()
            other.close()
            backend.append([row(1)])
            assert backend.latest("t") == 1

    def test_a_short_lock_is_waited_out(self, tmp_path: Path) -> None:
        """A write lock released within busy_timeout costs a wait, not an error."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, busy_timeout=5) as backend:
            other = raw(path)
            other.execute("BEGIN IMMEDIATE")
            release = threading.Timer(0.2, other.rollback)
            release.start()
            backend.append([row(0)])
            release.join()
            other.close()
            assert backend.latest("t") == 0

    def test_integers_beyond_64_bits(self, tmp_path: Path) -> None:
        """Numbers SQLite cannot hold are a ValueError; nothing is stored."""
        with SQLiteBackend(tmp_path / "h.db") as backend:
            with pytest.raises(ValueError, match="2\\*\\*63"):
                backend.append([row(0), row(1, time_ns=2**64)])
            with pytest.raises(ValueError, match="2\\*\\*63"):
                backend.row("t", 2**64)
            assert backend.read("t") == []


class TestDamage:
    """Content SQLite accepts but statetrail cannot read: CorruptHistoryError."""

    @pytest.mark.parametrize(
        ("statement", "call"),
        [
            (
                "UPDATE revisions SET comment = CAST(x'fffe' AS TEXT)",
                lambda b: b.read("t"),
            ),
            ("UPDATE revisions SET paths = '[\"/a\", '", lambda b: b.row("t", 0)),
            ("UPDATE revisions SET paths = '{\"a\": 1}'", lambda b: b.read("t")),
            ("UPDATE revisions SET paths = 7", lambda b: b.read("t")),
            ("UPDATE heads SET tips = 'not json'", lambda b: b.heads("t")),
            ('UPDATE heads SET tips = \'{"main": "x"}\'', lambda b: b.heads("t")),
            ("UPDATE heads SET cursor = 'x'", lambda b: b.heads("t")),
        ],
    )
    def test_unreadable_content(
        self, tmp_path: Path, statement: str, call: object
    ) -> None:
        """Text that is not UTF-8, paths or tips that are not the JSON written."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path) as backend:
            backend.append([row(0)])
            backend.save_heads("t", Heads("main", 0, {"main": 0}))
            with raw(path) as conn:
                conn.execute(statement)
            conn.close()
            with pytest.raises(CorruptHistoryError, match="restore"):
                call(backend)  # type: ignore[operator]

    def test_integrity_check_reports_a_damaged_index(self, tmp_path: Path) -> None:
        """An index page zeroed outside SQLite fails integrity_check()."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path) as backend:
            backend.append([row(n, author=f"a{n}") for n in range(300)])
            backend.integrity_check()
        with raw(path) as conn:
            ((root,),) = conn.execute(
                "SELECT rootpage FROM sqlite_master "
                "WHERE name = 'sqlite_autoindex_revisions_1'"
            ).fetchall()
            (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.close()
        data = bytearray(path.read_bytes())
        data[(root - 1) * page_size : root * page_size] = bytes(page_size)
        path.write_bytes(bytes(data))
        with SQLiteBackend(path) as backend:
            with pytest.raises(CorruptHistoryError) as caught:
                backend.integrity_check()
            assert "restore" in str(caught.value)


class TestNames:
    def test_nul_and_lookalikes_are_distinct(self, tmp_path: Path) -> None:
        """Names differing only after a NUL, or in a trailing space, stay apart
        in revisions, heads and checkpoints."""
        names = ["a\x00b", "a\x00c", "a", "a ", "A", "\uff41"]  # last: fullwidth a
        with SQLiteBackend(tmp_path / "h.db") as backend:
            for i, name in enumerate(names):
                backend.append([row(0, timeline=name, author=name)])
                backend.save_heads(name, Heads(name, i, {name: i}))
                backend.put_checkpoint(name, 0, f'"{i}"', name)
            assert backend.timelines() == sorted(names)
            for i, name in enumerate(names):
                assert backend.read(name) == [row(0, timeline=name, author=name)]
                assert backend.heads(name) == Heads(name, i, {name: i})
                assert backend.checkpoint(name, 0) == (f'"{i}"', name)

    def test_names_never_become_schema(self, tmp_path: Path) -> None:
        """After hostile names are stored, the schema is what the migration made."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path) as backend:
            with raw(path) as conn:
                before = conn.execute("SELECT * FROM sqlite_master").fetchall()
            conn.close()
            for name in ["x'); DROP TABLE revisions; --", "t]; CREATE TABLE z(a)"]:
                backend.append([row(0, timeline=name, comment=name)])
                backend.save_heads(name, Heads(name, 0, {name: 0}))
        with raw(path) as conn:
            assert conn.execute("SELECT * FROM sqlite_master").fetchall() == before
        conn.close()


class TestBatched:
    def test_append_returns_before_the_commit(self, tmp_path: Path) -> None:
        """Queued rows are invisible to other connections until flush()."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0)])
            backend.append([row(1)])
            assert numbers(path) == []
            assert backend.latest("t") == -1  # reads see committed rows only
            backend.flush()
            assert numbers(path) == [0, 1]
            assert backend.latest("t") == 1

    def test_the_interval_and_the_size_trigger_commits(self, tmp_path: Path) -> None:
        """Without flush, rows reach the file after batch_interval, or as soon as
        batch_size rows are queued."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=0.05) as b:
            b.append([row(0)])
            deadline = time.monotonic() + 5
            while numbers(path) != [0]:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        with SQLiteBackend(
            path, durability="batched", batch_interval=30, batch_size=10
        ) as b:
            for n in range(1, 10):
                b.append([row(n)])
            time.sleep(0.2)
            assert numbers(path) == [0]
            b.append([row(10)])
            deadline = time.monotonic() + 5
            while numbers(path) != list(range(11)):
                assert time.monotonic() < deadline
                time.sleep(0.01)

    def test_a_conflict_is_raised_by_flush_and_logged(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A taken number found at commit time: that append alone is dropped, the
        rest of the group is committed, flush() raises it once, and it is logged."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0), row(1)])
            backend.flush()
            backend.append([row(1, author="late")])
            backend.append([row(2)])
            backend.append([row(3), row(0)])  # one taken number: neither row
            backend.append([row(3)])
            with (
                caplog.at_level(logging.ERROR, logger="statetrail.storage.sqlite"),
                pytest.raises(ConflictError) as caught,
            ):
                backend.flush()
            assert caught.value.conflicts == (("t", 1), ("t", 0))
            assert numbers(path) == [0, 1, 2, 3]
            assert backend.row("t", 1) == row(1)
            assert (
                len([r for r in caplog.records if "already stored" in r.message]) == 2
            )
            backend.flush()  # raised once

    def test_writes_keep_their_order(self, tmp_path: Path) -> None:
        """Heads and checkpoints are queued with the rows, committed in order."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0)])
            backend.save_heads("t", Heads("main", 0, {"main": 0}))
            backend.put_checkpoint("t", 0, "0", "h0")
            backend.save_heads("t", Heads("main", 1, {"main": 1}))
            assert backend.heads("t") is None
            backend.flush()
            assert backend.heads("t") == Heads("main", 1, {"main": 1})
            assert backend.checkpoints("t") == [0]

    def test_a_refused_value_is_raised_by_flush(self, tmp_path: Path) -> None:
        """An integer SQLite cannot hold fails its own append only."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0, time_ns=2**64)])
            backend.append([row(0)])
            with pytest.raises(StorageError) as caught:
                backend.flush()
            assert isinstance(caught.value.__cause__, ValueError)
            assert numbers(path) == [0]

    @pytest.mark.parametrize("json", [True, False], ids=["json", "executemany"])
    def test_a_group_is_stored_exactly(self, tmp_path: Path, json: bool) -> None:
        """A group goes in as one statement (JSON parameters) or, without SQLite's
        JSON functions, through executemany: either way every value comes back
        as it was, 64-bit extremes and odd text included, and an integer beyond
        64 bits is refused instead of read back as a float."""
        path = tmp_path / "h.db"
        odd = {
            "time_ns": 2**63 - 1,
            "target": -(2**63),
            "comment": 'quote " backslash \\ nul \x00 é 🙂',
            "label": "",
        }
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            if not json:
                backend._json = False
            rows = [row(0), row(1, **odd), row(2, paths=("/a", "/b~1c"))]
            backend.append(rows[:2])
            backend.append(rows[2:])
            backend.put_checkpoint("t", 2, '{"x": 1}', "h2")
            backend.flush()
            assert backend.read("t") == rows
            assert backend.checkpoint("t", 2) == ('{"x": 1}', "h2")
            backend.append([row(3, time_ns=2**63)])
            backend.append([row(3)])
            with pytest.raises(StorageError) as caught:
                backend.flush()
            assert isinstance(caught.value.__cause__, ValueError)
            assert backend.read("t") == [*rows, row(3)]

    def test_the_checkpoint_of_a_refused_row_is_dropped(self, tmp_path: Path) -> None:
        """A checkpoint follows its row; when the row's number was taken (another
        process wrote it), the checkpoint would describe the wrong revision, so it
        is dropped, whether it is committed in the row's group or the next."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0), row(1)])
            backend.put_checkpoint("t", 1, "theirs", "h1")
            backend.flush()
            backend.append([row(1, author="late", digest="l1", chain="l1")])
            backend.put_checkpoint("t", 1, "mine", "hm")  # same group
            # Another timeline's row: it neither descends from nor follows the
            # refused one (a row of "t" numbered 2 follows it in the chain).
            backend.append([row(0, timeline="u")])
            backend.put_checkpoint("u", 0, "two", "h2")
            with pytest.raises(ConflictError):
                backend.flush()
            backend.append([row(0, author="late", digest="l0", chain="l0")])
            with pytest.raises(ConflictError):
                backend.flush()
            backend.put_checkpoint("t", 0, "mine", "hm")  # the next group
            backend.flush()
            assert backend.checkpoint("t", 1) == ("theirs", "h1")
            assert backend.checkpoint("u", 0) == ("two", "h2")
            assert backend.checkpoint("t", 0) is None
            assert numbers(path) == [0, 1]
            assert numbers(path, "u") == [0]

    def test_the_children_of_a_refused_row_are_not_stored(self, tmp_path: Path) -> None:
        """Issue 9, defect 1 at the storage level: a writer that got past the
        writers' lock (here a bare connection) takes number 2; this backend's
        queued revisions 2, 3 and 4, each the child of the one before, are all
        refused though 3 and 4 are free (stored, they broke the chain), with the
        checkpoint of 4, in this group and the next; a row that does not descend
        from them is stored."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0), row(1)])
            backend.flush()
            other = raw(path)
            other.execute(INSERT, params(row(2, author="o", digest="o2", chain="o2")))
            other.close()
            for n in (2, 3, 4):
                backend.append([row(n, digest=f"m{n}", chain=f"m{n}")])
            backend.put_checkpoint("t", 4, "mine", "h4")
            backend.append([row(0, timeline="u")])
            with pytest.raises(ConflictError) as caught:
                backend.flush()
            assert caught.value.conflicts == (("t", 2), ("t", 3), ("t", 4))
            backend.append([row(5, digest="m5", chain="m5")])  # the next group
            with pytest.raises(ConflictError, match="descends from revision 4"):
                backend.flush()
            assert numbers(path) == [0, 1, 2]
            assert [r.author for r in backend.read("t")] == [None, None, "o"]
            assert backend.checkpoints("t") == []
            assert numbers(path, "u") == [0]

    def test_erase_runs_after_the_queue(self, tmp_path: Path) -> None:
        """erase() of a row still queued finds it: it flushes first."""
        with SQLiteBackend(
            tmp_path / "h.db", durability="batched", batch_interval=30
        ) as backend:
            backend.append([row(0)])
            backend.erase("t", 0, '{"why": "asked"}')
            assert backend.row("t", 0) == row(
                0, payload=None, erased='{"why": "asked"}'
            )
            with pytest.raises(RevisionNotFoundError):
                backend.erase("t", 1, "{}")

    def test_close_and_exit_commit_the_queue(self, tmp_path: Path) -> None:
        """close() commits what is queued; so does the interpreter's exit when a
        program forgets close()."""
        path = tmp_path / "h.db"
        backend = SQLiteBackend(path, durability="batched", batch_interval=30)
        backend.append([row(0)])
        batch = backend._process.batch
        assert batch is not None
        backend.close()
        assert numbers(path) == [0]
        assert not batch._thread.is_alive()
        script = (
            "import sys\n"
            "from statetrail.storage.sqlite import SQLiteBackend\n"
            "from tests.storage.contract import row\n"
            "b = SQLiteBackend(sys.argv[1], durability='batched', batch_interval=30)\n"
            "b.append([row(1)])\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(path)],
            check=True,
            cwd=Path(__file__).parents[2],
            timeout=60,
        )
        assert numbers(path) == [0, 1]

    def test_a_fast_writer_is_held_back(self, tmp_path: Path) -> None:
        """Appends far faster than commits wait for the queue to drain instead of
        growing it without bound; every row still arrives."""
        path = tmp_path / "h.db"
        with SQLiteBackend(
            path, durability="batched", batch_interval=0.001, batch_size=5
        ) as backend:
            limit = 0
            for n in range(scaled(2_000)):
                backend.append([row(n)])
                batch = backend._process.batch
                assert batch is not None
                limit = max(limit, batch._rows)
            backend.flush()
            assert limit <= 50
        assert numbers(path) == list(range(scaled(2_000)))


class TestThreads:
    def test_reads_go_on_during_a_write(self, tmp_path: Path) -> None:
        """While this process's write transaction is open, other threads read the
        committed rows without waiting."""
        with SQLiteBackend(tmp_path / "h.db") as backend:
            backend.append([row(0)])
            inside, release = threading.Event(), threading.Event()

            def slow(conn: sqlite3.Connection) -> None:
                conn.execute(INSERT, params(row(1)))
                inside.set()
                release.wait(10)

            writer = threading.Thread(target=backend._write, args=(slow,))
            writer.start()
            assert inside.wait(10)
            start = time.monotonic()
            assert [r.number for r in backend.read("t")] == [0]
            assert time.monotonic() - start < 0.5
            release.set()
            writer.join()
            assert backend.latest("t") == 1

    def test_connections_of_finished_threads_are_closed(self, tmp_path: Path) -> None:
        """A thread per request does not leak a connection per thread."""
        with SQLiteBackend(tmp_path / "h.db") as backend:
            for _ in range(20):
                thread = threading.Thread(target=backend.latest, args=("t",))
                thread.start()
                thread.join()
            assert len(backend._process._readers) <= 1

    def test_close_closes_every_connection(self, tmp_path: Path) -> None:
        """The writer and each thread's reader are closed by close()."""
        backend = SQLiteBackend(tmp_path / "h.db")
        backend.append([row(0)])
        barrier = threading.Barrier(4)

        def read() -> None:
            backend.read("t")
            barrier.wait()  # alive together: four readers

        threads = [threading.Thread(target=read) for _ in range(3)]
        for t in threads:
            t.start()
        backend.read("t")
        barrier.wait()
        for t in threads:
            t.join()
        opened = [*backend._process._readers.values(), backend._process.writer()]
        assert len(opened) == 5
        backend.close()
        assert backend._process._writer is None
        assert backend._process._readers == {}
        for conn in opened:
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                conn.execute("SELECT 1")

    @pytest.mark.parametrize(
        "call",
        [
            lambda b, p: b.timelines(),
            lambda b, p: b.append([row(1)]),
            lambda b, p: b.read("t"),
            lambda b, p: b.row("t", 0),
            lambda b, p: b.latest("t"),
            lambda b, p: b.save_heads("t", Heads("main", 0)),
            lambda b, p: b.heads("t"),
            lambda b, p: b.put_checkpoint("t", 0, "0", "h"),
            lambda b, p: b.checkpoint("t", 0),
            lambda b, p: b.checkpoints("t"),
            lambda b, p: b.erase("t", 0, "{}"),
            lambda b, p: b.flush(),
            lambda b, p: b.integrity_check(),
            lambda b, p: b.backup(p / "copy.db"),
        ],
    )
    @pytest.mark.parametrize("durability", ["full", "batched"])
    def test_every_method_refuses_after_close(
        self, tmp_path: Path, call: object, durability: str
    ) -> None:
        """After close, each method raises StorageError; close() again is fine."""
        backend = SQLiteBackend(tmp_path / "h.db", durability=durability)  # type: ignore[arg-type]
        backend.append([row(0)])
        backend.close()
        with pytest.raises(StorageError, match="closed"):
            call(backend, tmp_path)  # type: ignore[operator]
        backend.close()


class TestBackup:
    def test_a_backup_while_four_threads_write(self, tmp_path: Path) -> None:
        """Copies taken while 4 threads append are consistent: each opens, passes
        integrity_check and holds a prefix of every writer's rows (D5b)."""
        path = tmp_path / "h.db"
        backend = SQLiteBackend(path, durability="normal")
        stop = threading.Event()
        errors: list[BaseException] = []

        def writer(w: int) -> None:
            n = 0
            try:
                while not stop.is_set() or n < 50:
                    backend.append([row(n, timeline=f"w{w}", author=f"w{w}")])
                    n += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        copies = scaled(5)
        sizes = []
        for i in range(copies):
            time.sleep(0.05)
            backend.backup(tmp_path / f"copy{i}.db")
        stop.set()
        for t in threads:
            t.join()
        backend.close()
        assert errors == []
        failures = 0
        for i in range(copies):
            with SQLiteBackend(tmp_path / f"copy{i}.db") as copy:
                try:
                    copy.integrity_check()
                except CorruptHistoryError:
                    failures += 1
                for w in range(4):
                    rows = copy.read(f"w{w}")
                    assert rows == [
                        row(n, timeline=f"w{w}", author=f"w{w}")
                        for n in range(len(rows))
                    ]
                sizes.append(sum(len(copy.read(f"w{w}")) for w in range(4)))
        assert failures == 0
        assert sizes == sorted(sizes)
        assert sizes[0] > 0
        record("D5b", backups=copies, writer_threads=4, integrity_failures=failures)

    def test_no_backup_onto_itself(self, tmp_path: Path) -> None:
        """Backing a file up onto itself is refused before anything is touched."""
        with (
            SQLiteBackend(tmp_path / "h.db") as backend,
            pytest.raises(ValueError, match="onto itself"),
        ):
            backend.backup(tmp_path / "." / "h.db")


def _child(backend: SQLiteBackend, n: int, parent_state: object) -> int:
    """In a forked child: append and read back through new connections."""
    try:
        backend.append([row(n, timeline="child")])
        backend.flush()
        if backend._process is parent_state or backend._process.pid != os.getpid():
            return 4
        if backend.read("child", after=n - 1) != [row(n, timeline="child")]:
            return 5
        backend.close()
        return 0
    except BaseException:
        return 2


def _refused_child(backend: SQLiteBackend, n: int, parent_state: object) -> int:
    """In a forked child of a batched writer: the write is refused, naming it."""
    try:
        backend.append([row(n, timeline="child")])
        backend.flush()
    except StorageError as exc:
        return 0 if f"process {os.getppid()}" in str(exc) else 3
    except BaseException:
        return 2
    return 1


def fork_and_wait(
    backend: SQLiteBackend,
    n: int,
    timeout: float = 20,
    child: Callable[[SQLiteBackend, int, object], int] | None = None,
) -> int:
    """Fork; the child runs ``child`` (default :func:`_child`); return its exit
    code (or fail on a hang)."""
    parent_state = backend._process
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit((child or _child)(backend, n, parent_state))
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.002)


@needs_fork
class TestFork:
    def test_children_open_their_own_connections(self, tmp_path: Path) -> None:
        """Across fork cycles, each child appends through connections of its own,
        and the parent's connections stay usable (D5a)."""
        cycles = scaled(100)
        with SQLiteBackend(tmp_path / "h.db") as backend:
            backend.append([row(0, timeline="parent")])
            backend.read("parent")  # the parent's reader is open before the fork
            for n in range(cycles):
                assert fork_and_wait(backend, n) == 0
                backend.append([row(n + 1, timeline="parent")])
                assert backend.latest("parent") == n + 1
                assert backend.latest("child") == n
            backend.integrity_check()
            assert [r.number for r in backend.read("child")] == list(range(cycles))
        record("D5a", fork_cycles=cycles, integrity_failures=0, child_failures=0)

    def test_a_fork_while_threads_write(self, tmp_path: Path) -> None:
        """Forking while other threads hold the write lock: the child does not
        inherit the held lock, and finishes."""
        with SQLiteBackend(tmp_path / "h.db", durability="normal") as backend:
            stop = threading.Event()

            def writer(w: int) -> None:
                n = 0
                while not stop.is_set():
                    backend.append([row(n, timeline=f"w{w}")])
                    n += 1

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
            for t in threads:
                t.start()
            try:
                for n in range(scaled(20)):
                    assert fork_and_wait(backend, n) == 0
            finally:
                stop.set()
                for t in threads:
                    t.join()
            backend.integrity_check()

    def test_queued_rows_stay_the_parents(self, tmp_path: Path) -> None:
        """Batched rows queued before a fork are committed once, by the parent;
        the child cannot write through the batched backend it inherited while
        the parent holds the file (a batched backend is its only writer)."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0)])
            backend.flush()
            for n in range(1, 10):
                backend.append([row(n)])
            assert fork_and_wait(backend, 0, child=_refused_child) == 0
            backend.flush()  # no ConflictError: the child did not commit them
            assert numbers(path) == list(range(10))
            assert numbers(path, "child") == []


class TestHazards:
    def test_the_wal_reset_range(self) -> None:
        """Versions inside 3.7.0-3.51.2 have the bug, except the fixed backports."""
        affected = ["3.7.0", "3.40.1", "3.44.5", "3.45.0", "3.50.6", "3.51.2"]
        fixed = ["3.6.23", "3.44.6", "3.44.9", "3.50.7", "3.51.3", "3.52.0", "4.0.0"]
        assert all(has_wal_reset_bug(v) for v in affected)
        assert not any(has_wal_reset_bug(v) for v in fixed)

    def test_the_wal_reset_warning_is_logged_once(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Opening databases logs the WAL-reset warning once per process, with
        the link, when this SQLite has the bug (3.40.1 here)."""
        _sqlite_connections._warned.clear()
        with caplog.at_level(logging.WARNING, logger="statetrail.storage.sqlite"):
            for name in ("a.db", "b.db", "a.db"):
                SQLiteBackend(tmp_path / name).close()
        warnings = [r for r in caplog.records if "WAL-reset" in r.getMessage()]
        if has_wal_reset_bug(sqlite3.sqlite_version):
            assert len(warnings) == 1
            assert sqlite3.sqlite_version in warnings[0].getMessage()
            assert "https://www.sqlite.org/wal.html#walresetbug" in (
                warnings[0].getMessage()
            )
        else:
            assert warnings == []
        record(
            "D5d",
            sqlite_version=sqlite3.sqlite_version,
            wal_reset_bug=has_wal_reset_bug(sqlite3.sqlite_version),
            warnings_logged=len(warnings),
        )

    def test_wal_and_shm_files_are_never_deleted(self, tmp_path: Path) -> None:
        """No Python-level removal of -wal or -shm files during open, writes,
        backup, integrity check and close (D5c); SQLite's own C code manages them."""
        removed: list[str] = []
        _watch_removals(removed)
        _watching.set()
        try:
            for durability in ("full", "normal", "batched"):
                path = tmp_path / f"{durability}.db"
                with SQLiteBackend(path, durability=durability) as backend:  # type: ignore[arg-type]
                    backend.append([row(0)])
                    backend.flush()
                    backend.backup(tmp_path / f"{durability}-copy.db")
                    backend.integrity_check()
                    assert Path(f"{path}-wal").exists()
        finally:
            _watching.clear()
        assert [p for p in removed if p.endswith(("-wal", "-shm"))] == []
        record("D5c", wal_or_shm_unlinks=0)


_watching = threading.Event()
_hooked: list[list[str]] = []


def _watch_removals(into: list[str]) -> None:
    """Record the paths os.remove/os.unlink/shutil.rmtree get while watching.

    Audit hooks cannot be removed, so one is installed per test process and
    does nothing unless the flag is set.
    """
    if not _hooked:

        def hook(event: str, args: tuple[object, ...]) -> None:
            if _watching.is_set() and event in (
                "os.remove",
                "os.unlink",
                "shutil.rmtree",
            ):
                _hooked[-1].append(str(args[0]))

        sys.addaudithook(hook)
    _hooked.append(into)


def acked_rows_lost_when_the_parent_closes(path: Path, *, hooked: bool) -> int:
    """Fork; the child appends 50 rows while the parent closes its backend (its
    last connection checkpoints). Return how many of the child's acknowledged
    rows are missing afterwards.

    ``hooked=False`` takes the backend out of the before-fork hook, as a fork made
    below Python would: the child then opens connections beside inherited open
    ones, which is the hazard the hook exists for.
    """
    backend = SQLiteBackend(path)
    backend.append([row(0)])
    backend.read("t")
    if not hooked:
        _sqlite_connections._live.discard(backend._process)
    ready, go = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            backend.append([row(0, timeline="child")])
            os.write(go, b"1")
            time.sleep(0.2)  # the parent closes meanwhile
            for n in range(1, 50):
                backend.append([row(n, timeline="child")])
            backend.close()
            code = 0
        finally:
            os._exit(code)
    os.close(go)
    assert os.read(ready, 1) == b"1"
    os.close(ready)
    backend.close()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    with SQLiteBackend(path) as check:
        return 50 - len(check.read("child"))


@needs_fork
class TestForkHazard:
    def test_a_child_outliving_the_parents_connections_keeps_its_rows(
        self, tmp_path: Path
    ) -> None:
        """The parent closing its backend while a forked child writes loses none
        of the child's acknowledged rows. Teeth: with the before-fork hook
        bypassed, the same run loses most of them."""
        assert (
            acked_rows_lost_when_the_parent_closes(tmp_path / "a.db", hooked=True) == 0
        )
        lost = acked_rows_lost_when_the_parent_closes(tmp_path / "b.db", hooked=False)
        assert lost > 0
        record("D5a-close", acked_lost=0, teeth_acked_lost=lost)
