"""Retention reaches storage: trims remove rows and leave range tombstones.

Every test runs on real SQLite files, JSON files and PostgreSQL schemas (and the
memory backend where no file is edited): the rows really go, a range tombstone
keeps the rest verifiable, and the tamper model (a tombstone edited or forged,
rows deleted beyond the cut, a sealed checkpoint rewritten) is checked on the
stored rows themselves.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail.cli import main
from statetrail.errors import CorruptHistoryError, RevisionNotFoundError, StorageError
from statetrail.repository import Repository
from statetrail.storage import _integrity as integrity
from statetrail.storage import _ranges
from statetrail.storage._journal import TRIM_EVERY
from statetrail.storage._trim import trim_stored
from statetrail.storage.base import RangeTombstone
from statetrail.storage.memory import MemoryBackend
from tests.storage.pg import fresh_schema

KINDS = ["sqlite", "json", "postgresql"]


class Stored:
    """One history on one backend: reopen it, and edit its stored trims."""

    def __init__(self, kind: str, where: str, schema: str | None = None) -> None:
        self.kind = kind
        self.where = where
        self.schema = schema

    def open(self, **options: Any) -> Repository:
        if self.schema is not None:
            return statetrail.open(self.where, schema=self.schema, **options)
        return statetrail.open(self.where, **options)

    @contextmanager
    def sql(self) -> Iterator[Any]:
        """A raw connection (SQLite, PostgreSQL) on which ``{s}`` is the schema."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.where, isolation_level=None)) as conn:
                yield _Sqlite(conn)
        else:
            import psycopg

            with psycopg.connect(self.where, autocommit=True) as conn:
                yield _Postgres(conn, self.schema or "")

    def tombstones(self) -> list[RangeTombstone]:
        if self.kind == "json":
            doc = json.loads(Path(self.where).read_text())
            listed = doc["timelines"]["t"].get("trims", [])
            return [RangeTombstone(*t) for t in listed]
        with self.sql() as raw:
            return [
                RangeTombstone(*r)
                for r in raw.all(
                    "SELECT first, last, time_ns, reason, author, chain, checkpoints,"
                    " seal FROM {s}trims WHERE timeline = 't' ORDER BY first"
                )
            ]

    def set_tombstone(self, tomb: RangeTombstone) -> None:
        """Replace the stored tombstone with ``first`` by ``tomb``."""
        if self.kind == "json":
            path = Path(self.where)
            doc = json.loads(path.read_text())
            entry = doc["timelines"]["t"]
            entry["trims"] = [
                list(tomb) if t[0] == tomb.first else t for t in entry["trims"]
            ]
            path.write_text(json.dumps(doc))
            return
        with self.sql() as raw:
            raw.run(
                "UPDATE {s}trims SET last = ?, time_ns = ?, reason = ?, author = ?,"
                " chain = ?, checkpoints = ?, seal = ? WHERE timeline = 't'"
                " AND first = ?",
                (*tomb[1:], tomb.first),
            )

    def drop_tombstones(self) -> None:
        if self.kind == "json":
            path = Path(self.where)
            doc = json.loads(path.read_text())
            doc["timelines"]["t"].pop("trims")
            path.write_text(json.dumps(doc))
            return
        with self.sql() as raw:
            raw.run("DELETE FROM {s}trims WHERE timeline = 't'", ())

    def delete_rows(self, first: int, last: int) -> None:
        if self.kind == "json":
            path = Path(self.where)
            doc = json.loads(path.read_text())
            entry = doc["timelines"]["t"]
            entry["rows"] = [
                r for r in entry["rows"] if not first <= r["number"] <= last
            ]
            path.write_text(json.dumps(doc))
            return
        with self.sql() as raw:
            raw.run(
                "DELETE FROM {s}revisions WHERE timeline = 't'"
                " AND number BETWEEN ? AND ?",
                (first, last),
            )

    def row_count(self) -> int:
        if self.kind == "json":
            doc = json.loads(Path(self.where).read_text())
            return len(doc["timelines"]["t"]["rows"])
        with self.sql() as raw:
            return int(raw.all("SELECT count(*) FROM {s}revisions", ())[0][0])

    def set_checkpoint(self, number: int, value: str, digest: str) -> None:
        if self.kind == "json":
            path = Path(self.where)
            doc = json.loads(path.read_text())
            doc["timelines"]["t"]["checkpoints"][str(number)] = [value, digest]
            path.write_text(json.dumps(doc))
            return
        with self.sql() as raw:
            raw.run(
                "UPDATE {s}checkpoints SET value = ?, digest = ?"
                " WHERE timeline = 't' AND number = ?",
                (value, digest, number),
            )


class _Sqlite:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def run(self, text: str, params: tuple[Any, ...]) -> None:
        self.conn.execute(text.replace("{s}", ""), params)

    def all(self, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.conn.execute(text.replace("{s}", ""), params).fetchall()


class _Postgres:
    def __init__(self, conn: Any, schema: str) -> None:
        self.conn = conn
        self.prefix = '"' + schema.replace('"', '""') + '".'

    def _text(self, text: str) -> str:
        return text.replace("{s}", self.prefix).replace("?", "%s")

    def run(self, text: str, params: tuple[Any, ...]) -> None:
        self.conn.execute(self._text(text), params)

    def all(self, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(self.conn.execute(self._text(text), params).fetchall())


@pytest.fixture(params=KINDS)
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stored]:
    kind = request.param
    if kind == "sqlite":
        yield Stored(kind, str(tmp_path / "h.db"))
    elif kind == "json":
        yield Stored(kind, str(tmp_path / "h.json"))
    else:
        with fresh_schema() as pg:
            yield Stored(kind, pg.url, pg.name)


def _history(repo: Repository, count: int) -> None:
    """Revisions 0..count-1 of timeline "t": a dict whose "n" is the number."""
    store = repo.store("t", {"n": 0, "keep": {"a": 1}})
    for n in range(1, count):
        store.set("n", n)


def _values(repo: Repository, numbers: range) -> list[Any]:
    return [repo.value_at("t", n)["n"] for n in numbers]


class TestTrim:
    def test_rows_go_and_the_rest_verifies(self, stored: Stored) -> None:
        """keep_last=50 of 300: 250 rows leave the backend, one tombstone stays
        (0..249, its reason and author), values, verify, reopening and writes
        after it all work; a trimmed revision is RevisionNotFoundError."""
        with stored.open(checkpoint_every=16) as repo:
            _history(repo, 300)
            repo._open.clear()  # trimmed offline: from storage alone
            trim = repo.trim("t", keep_last=50, reason="cleanup", author="ops")
            assert trim is not None
            assert (trim.first, trim.last, trim.count) == (0, 249, 250)
            assert repo.verify() == {"t": 50}
            assert _values(repo, range(250, 300)) == list(range(250, 300))
            with pytest.raises(RevisionNotFoundError, match="was trimmed"):
                repo.value_at("t", 249)
        assert stored.row_count() == 50
        (tomb,) = stored.tombstones()
        assert (tomb.first, tomb.last, tomb.reason, tomb.author) == (
            0,
            249,
            "cleanup",
            "ops",
        )
        with stored.open(checkpoint_every=16) as repo:
            timeline = repo.timeline("t", create=False)
            assert [(t.first, t.last) for t in timeline.tombstones] == [(0, 249)]
            assert [r.number for r in timeline.revisions()] == list(range(250, 300))
            assert timeline.value["n"] == 299
            store = repo.store("t")
            store.set("n", 1000)
            anchor = repo.anchor()
            assert repo.verify(anchor=anchor) == {"t": 51}
        with stored.open() as repo:
            assert repo.store("t").get("n") == 1000

    def test_a_second_trim_adds_a_tombstone(self, stored: Stored) -> None:
        """Two explicit trims leave two contiguous tombstones; the second's
        checkpoint is taken from the first cut's sealed checkpoint."""
        with stored.open(checkpoint_every=8) as repo:
            _history(repo, 120)
            repo.trim("t", keep_last=100)
            repo.trim("t", keep_last=30)
            assert repo.verify() == {"t": 30}
            assert _values(repo, range(90, 120)) == list(range(90, 120))
        assert [(t.first, t.last) for t in stored.tombstones()] == [(0, 19), (20, 89)]

    def test_timeline_trim_reaches_storage(self, stored: Stored) -> None:
        """Timeline.trim() on a stored timeline trims storage too, at once."""
        with stored.open() as repo:
            _history(repo, 40)
            trim = repo.timeline("t").trim(keep_last=15, reason="now")
            assert trim is not None
            assert trim.last == 24
        assert stored.row_count() == 15
        assert [(t.first, t.last, t.reason) for t in stored.tombstones()] == [
            (0, 24, "now")
        ]

    def test_a_dry_run_changes_nothing(self, stored: Stored) -> None:
        """dry_run says what would go and removes nothing."""
        with stored.open() as repo:
            _history(repo, 40)
            trim = repo.trim("t", keep_last=10, dry_run=True)
            assert trim is not None
            assert (trim.first, trim.last) == (0, 29)
            assert repo.verify() == {"t": 40}
        assert stored.row_count() == 40
        assert stored.tombstones() == []

    def test_the_cursor_and_branch_tips_are_kept(self, stored: Stored) -> None:
        """A branch started from an old revision and the cursor hold the cut
        back; a branch whose parent is trimmed keeps its value (a checkpoint
        sealed by the tombstone)."""
        with stored.open(checkpoint_every=8) as repo:
            _history(repo, 60)
            timeline = repo.timeline("t")
            timeline.checkout(5)
            repo.store("t").set("side", True)  # revision 60, branch from 5
            timeline.switch("main")
            store = repo.store("t")
            for n in range(61, 100):
                store.set("n", n)
            repo._open.clear()
            plan = repo.trim("t", keep_last=20)
            assert plan is not None
            assert plan.last == 59
            assert repo.value_at("t", 60) == {"n": 5, "keep": {"a": 1}, "side": True}
            assert repo.verify() == {"t": 40}
            (tomb,) = stored.tombstones()
            assert set(json.loads(tomb.checkpoints)) == {"60", "61"}
        with stored.open() as repo:
            timeline = repo.timeline("t", create=False)
            assert timeline.branches()["branch-60"] == 60
            assert timeline.value["n"] == 99

    def test_an_anchor_naming_a_trimmed_revision_says_so(self, stored: Stored) -> None:
        """An anchor taken before the trim naming a revision it removed fails
        verify with its own problem (trimmed when, by which tombstone); one
        naming the revision at the cut still proves it."""
        with stored.open() as repo:
            _history(repo, 30)
            before = repo.anchor()  # names revision 29
            store = repo.store("t")
            for n in range(30, 60):
                store.set("n", n)
            at_cut = repo.anchor()  # names revision 59
            for n in range(60, 100):
                store.set("n", n)
            repo.trim("t", keep_last=40, reason="monthly", author="ops")
            assert repo.verify(anchor=at_cut) == {"t": 40}
            with pytest.raises(CorruptHistoryError) as caught:
                repo.verify(anchor=before)
        ((name, number, what),) = caught.value.problems
        assert (name, number) == ("t", 29)
        assert "was trimmed at" in what
        assert "by ops" in what
        assert "monthly" in what
        assert "0..59" in what

    def test_an_interrupted_trim_loses_nothing(self, stored: Stored) -> None:
        """A trim that stops after its tombstone (the process died) leaves rows
        below the cut that nobody reads; opening and verify pass, and the next
        trim removes them."""

        def die() -> None:
            raise KeyboardInterrupt

        with stored.open() as repo:
            _history(repo, 100)
            with pytest.raises(KeyboardInterrupt):
                trim_stored(
                    repo.backend,
                    "t",
                    60,
                    reason="r",
                    checkpoint_every=64,
                    batch=10,
                    _after_tombstone=die,
                )
        assert stored.row_count() == 100
        with stored.open() as repo:
            assert repo.verify() == {"t": 40}
            assert repo.timeline("t", create=False).value["n"] == 99
            assert repo.trim("t", keep_last=40) is None  # nothing new to go
        assert stored.row_count() == 40


class TestTamper:
    def _trimmed(self, stored: Stored) -> RangeTombstone:
        with stored.open(checkpoint_every=8) as repo:
            _history(repo, 80)
            repo.trim("t", keep_last=30)
        (tomb,) = stored.tombstones()
        return tomb

    def _problems(self, stored: Stored) -> list[str]:
        try:
            with stored.open() as repo:
                repo.verify()
        except CorruptHistoryError as exc:
            return [what for _, _, what in exc.problems]
        return []

    def _refused(self, stored: Stored) -> None:
        with pytest.raises(CorruptHistoryError), stored.open() as repo:
            repo.timeline("t", create=False)

    def test_an_edited_tombstone_is_found(self, stored: Stored) -> None:
        """Another reason (seal not recomputed): verify and opening refuse it."""
        tomb = self._trimmed(stored)
        stored.set_tombstone(tomb._replace(reason="nothing to see"))
        assert any("does not match its seal" in p for p in self._problems(stored))
        self._refused(stored)

    def test_a_forged_chain_at_the_cut_is_found(self, stored: Stored) -> None:
        """The chain at the cut changed and the seal recomputed: the first kept
        revision no longer links to it."""
        tomb = self._trimmed(stored)
        forged = tomb._replace(chain="0" * 64)
        stored.set_tombstone(forged._replace(seal=_ranges.range_seal("t", forged)))
        assert any("breaks the hash chain" in p for p in self._problems(stored))
        self._refused(stored)

    def test_rows_deleted_beyond_the_cut_are_found(self, stored: Stored) -> None:
        """Rows just after the cut deleted: they are missing, the tombstone
        does not cover them."""
        tomb = self._trimmed(stored)
        stored.delete_rows(tomb.last + 1, tomb.last + 5)
        problems = self._problems(stored)
        assert any("revisions 50 to 54 are missing" in p for p in problems), problems
        self._refused(stored)

    def test_a_tombstone_extended_over_kept_rows_is_found(self, stored: Stored) -> None:
        """Rows deleted beyond the cut and the tombstone stretched over them,
        resealed: the revision after the new cut has no sealed checkpoint."""
        tomb = self._trimmed(stored)
        with stored.open() as repo:
            chain = repo.backend.row("t", tomb.last + 5)
        assert chain is not None
        stored.delete_rows(tomb.last + 1, tomb.last + 5)
        forged = tomb._replace(last=tomb.last + 5, chain=chain.chain)
        stored.set_tombstone(forged._replace(seal=_ranges.range_seal("t", forged)))
        problems = self._problems(stored)
        assert any(
            "not the one the range tombstone sealed" in p or "no checkpoint" in p
            for p in problems
        ), problems

    def test_a_deleted_tombstone_is_found(self, stored: Stored) -> None:
        """Without its tombstone, the kept rows start in the middle."""
        self._trimmed(stored)
        stored.drop_tombstones()
        problems = self._problems(stored)
        assert any("revisions 0 to 49 are missing" in p for p in problems), problems
        self._refused(stored)

    def test_a_rewritten_sealed_checkpoint_is_found(self, stored: Stored) -> None:
        """The checkpoint of the revision after the cut (its only source of
        value) rewritten with its digest recomputed: not the one sealed."""
        tomb = self._trimmed(stored)
        number = tomb.last + 1
        with stored.open() as repo:
            row = repo.backend.row("t", number)
        assert row is not None
        value = '{"n":-1,"keep":{"a":1}}'
        digest = integrity.checkpoint_digest(row.chain, value.encode())
        stored.set_checkpoint(number, value, digest)
        problems = self._problems(stored)
        # Format 3 rows commit to their value too: either check may find it.
        found = ("range tombstone sealed", "value digest commits to")
        assert any(f in p for p in problems for f in found), problems
        self._refused(stored)
        with stored.open() as repo, pytest.raises(CorruptHistoryError):
            repo.value_at("t", number + 1)


class TestRetention:
    def test_retention_trims_storage_as_writes_happen(self, stored: Stored) -> None:
        """Retention(keep_last=50) on a stored timeline: storage holds at most
        keep_last + TRIM_EVERY revisions, under one extended tombstone; the
        history verifies and reopens."""
        writes = 700 if stored.kind != "json" else 400
        with stored.open() as repo:
            var = repo.watch("t", 0, retention=statetrail.Retention(keep_last=50))
            for n in range(1, writes):
                var.set(n)
                if n % 97 == 0:
                    assert stored.row_count() <= 50 + TRIM_EVERY + 1
            assert repo.verify()["t"] <= 50 + TRIM_EVERY
        tombs = stored.tombstones()
        assert len(tombs) == 1
        assert tombs[0].reason == "keep_last=50"
        assert tombs[0].last >= writes - 50 - TRIM_EVERY - 1
        with stored.open() as repo:
            assert repo.watch("t").get() == writes - 1

    def test_retention_by_age(self) -> None:
        """max_age on a stored timeline trims by the recorded time."""
        with statetrail.Repository(MemoryBackend()) as repo:
            var = repo.watch("t", 0)
            for n in range(1, 2 * TRIM_EVERY):
                var.set(n)
            repo.timeline("t").retention = statetrail.Retention(max_age=timedelta(0))
            var.set(-1)
            assert repo.verify()["t"] <= 2
            assert repo.backend.trims("t")[0].reason == "max_age=0:00:00"


class TestCommand:
    def test_trim_dry_run_then_trim(self, tmp_path: Path, capsys: Any) -> None:
        """`statetrail trim --dry-run` says what would go and changes nothing;
        without it the revisions go, and verify passes."""
        path = tmp_path / "h.db"
        with statetrail.open(path) as repo:
            _history(repo, 100)
        assert main(["trim", str(path), "t", "--keep-last", "10", "--dry-run"]) == 0
        assert "would remove revisions 0..89" in capsys.readouterr().out
        with statetrail.open(path) as repo:
            assert repo.verify() == {"t": 100}
        assert main(["trim", str(path), "t", "--keep-last", "10"]) == 0
        assert "removed revisions 0..89 of 't' (90 revision(s)" in (
            capsys.readouterr().out
        )
        assert main(["trim", str(path), "t", "--max-age", "30d"]) == 0
        assert "nothing to trim" in capsys.readouterr().out
        assert main(["verify", str(path)]) == 0

    def test_the_reading_commands_read_a_trimmed_history(
        self, tmp_path: Path, capsys: Any
    ) -> None:
        """log, show, diff, blame and export start after the cut; a trimmed
        revision is one line saying so."""
        path = tmp_path / "h.db"
        with statetrail.open(path) as repo:
            _history(repo, 100)
            repo.trim("t", keep_last=10)
        capsys.readouterr()
        assert main(["export", str(path), "t"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [json.loads(line)["number"] for line in lines] == list(range(90, 100))
        assert main(["diff", str(path), "t", "90", "95"]) == 0
        assert "90 -> 95" in capsys.readouterr().out
        assert main(["blame", str(path), "t", "n"]) == 0
        assert "revision 99" in capsys.readouterr().out
        assert main(["log", str(path), "t"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 10
        assert main(["show", str(path), "t@5"]) == 2
        assert "was trimmed" in capsys.readouterr().err

    def test_bad_input_is_one_line(self, tmp_path: Path, capsys: Any) -> None:
        """No rule, an unknown timeline or file: status 2 and one line."""
        path = tmp_path / "h.db"
        with statetrail.open(path) as repo:
            _history(repo, 5)
        for argv, message in [
            (["trim", str(path), "t"], "say what to keep"),
            (["trim", str(path), "x", "--keep-last", "1"], "no timeline 'x'"),
            (["trim", str(tmp_path / "no.db"), "t", "--keep-last", "1"], "no such"),
        ]:
            assert main(argv) == 2
            assert message in capsys.readouterr().err
        assert not (tmp_path / "no.db").exists()

    def test_vacuum_shrinks_an_old_file(self, tmp_path: Path) -> None:
        """A file without auto_vacuum (as main wrote them) reuses freed pages;
        --vacuum rebuilds it with incremental vacuum, and it shrinks."""
        path = tmp_path / "old.db"
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA auto_vacuum = NONE")
            conn.execute("CREATE TABLE x (y)")  # fixes auto_vacuum at NONE
            conn.execute("DROP TABLE x")
        with statetrail.open(path) as repo:
            _history(repo, 2000)
        size = path.stat().st_size
        assert main(["trim", str(path), "t", "--keep-last", "10"]) == 0
        assert path.stat().st_size > size // 2  # reused, not given back
        assert main(["trim", str(path), "t", "--keep-last", "10", "--vacuum"]) == 0
        assert path.stat().st_size < size // 4
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        assert main(["verify", str(path)]) == 0


DATA = Path(__file__).parent / "data"


class TestOlderFiles:
    def test_a_file_written_before_trims_migrates_and_trims(
        self, stored: Stored
    ) -> None:
        """A history as the previous version wrote it (no trims table, schema
        2; a JSON document of version 2) opens, migrates, trims and verifies."""
        with stored.open() as repo:
            _history(repo, 40)
        if stored.kind == "json":
            assert json.loads(Path(stored.where).read_text())["version"] == 2
        else:
            with stored.sql() as raw:
                raw.run("DROP TABLE {s}trims", ())
                raw.run("DROP TABLE {s}paths", ())  # and the indexes of version 4
                raw.run("DROP INDEX {s}revisions_time", ())
                raw.run("DROP INDEX {s}revisions_breaks", ())
                if stored.kind == "sqlite":
                    raw.run("DROP TRIGGER revisions_paths", ())
                    raw.run("DROP TRIGGER revisions_paths_gone", ())
                    raw.run("PRAGMA user_version = 2", ())
                else:
                    raw.run("DROP FUNCTION {s}revisions_paths() CASCADE", ())
                    raw.run("DROP FUNCTION {s}revisions_paths_gone() CASCADE", ())
                    raw.run("UPDATE {s}meta SET version = 2", ())
        with stored.open() as repo:
            assert repo.verify() == {"t": 40}
            trim = repo.trim("t", keep_last=5)
            assert trim is not None
            assert trim.last == 34
            assert repo.verify() == {"t": 5}
        if stored.kind == "json":
            assert json.loads(Path(stored.where).read_text())["version"] == 3

    def test_format_1_revisions_are_not_cut_into(self, tmp_path: Path) -> None:
        """A file of format-1 rows (written before issue 9) gets new rows in
        format 2; a trim may cut among those, not among the old ones, whose
        chain follows parent links (ValueError, nothing removed)."""
        path = tmp_path / "old.db"
        path.write_bytes((DATA / "main_v1.db").read_bytes())
        with statetrail.open(path) as repo:
            score = repo.watch("score")
            for n in range(10):
                score.set(n)  # revisions 6..15, in format 2
            with pytest.raises(ValueError, match="format 1"):
                repo.trim("score", keep_last=12)
            assert repo.verify()["score"] == 16
            trim = repo.trim("score", keep_last=3)
            assert trim is not None
            assert trim.last == 12
            assert repo.verify()["score"] == 3


class TestConcurrency:
    def test_two_writers_with_retention_and_a_trim_beside(self, tmp_path: Path) -> None:
        """Two repositories on one SQLite file write one timeline in turns, each
        with retention (one's trim may find the other's came first: logged,
        tried later), while a thread trims another timeline: every write is
        kept up to the rule, and the file verifies."""
        path = tmp_path / "shared.db"
        rule = statetrail.Retention(keep_last=100)
        with statetrail.open(path) as a, statetrail.open(path) as b:
            _history(a, 600)
            first = a.store("s", {"n": 0})
            second = b.store("s")
            a.timeline("s").retention = rule
            b.timeline("s").retention = rule
            errors: list[BaseException] = []

            def trim_beside() -> None:
                try:
                    for keep in (400, 200, 50):
                        a.trim("t", keep_last=keep)
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=trim_beside)
            thread.start()
            for n in range(1, 800):
                (first if n % 2 else second).set("n", n)
            thread.join()
            assert errors == []
            b.sync()  # the last write was a's
            assert b.store("s").get("n") == 799
            checked = b.verify()
        assert checked["t"] == 50
        assert checked["s"] <= 100 + 2 * TRIM_EVERY
        with statetrail.open(path) as repo:
            assert repo.store("s").get("n") == 799


class TestReadOnly:
    def test_a_read_only_backend_refuses_to_trim(self, stored: Stored) -> None:
        """Opened read-only, a history cannot be trimmed nor (SQLite,
        PostgreSQL) reclaimed: StorageError, and nothing changes."""
        with stored.open() as repo:
            _history(repo, 20)
        with stored.open(read_only=True) as repo:
            with pytest.raises(StorageError):
                repo.trim("t", keep_last=5)
            if stored.kind != "json":  # a JSON file has nothing to give back
                with pytest.raises(StorageError):
                    repo.reclaim()
        assert stored.row_count() == 20
        assert stored.tombstones() == []
