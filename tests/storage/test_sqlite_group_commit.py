"""The SQLite group commit's typed operations, and the driver-error translation.

A batched backend queues :class:`Insert`, :class:`PutCheckpoint` and
:class:`SaveHeads` operations; the committer reads what each holds from its type
(issue 11: it inspected ``functools.partial`` closures before).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from statetrail.errors import ConflictError, StatetrailError, StorageError
from statetrail.storage._driver_errors import Translated
from statetrail.storage._sqlite_batch import Insert, PutCheckpoint, SaveHeads
from statetrail.storage._sqlite_schema import params
from statetrail.storage.base import Checkpoint, Heads
from statetrail.storage.sqlite import SQLiteBackend, _bulk
from tests.storage.contract import row


class TestTypedOperations:
    def test_a_usual_group_goes_in_one_statement_per_table(self) -> None:
        """Appends, checkpoints and saved heads: the rows' parameters in one list,
        the checkpoints in another, the heads left to run on their own."""
        rows = [row(1), row(2)]
        heads = SaveHeads(("t", "main", 2, "{}", None))
        checkpoint = PutCheckpoint("t", 2, "{}", "x2")
        group = [
            (Insert([rows[0]], [params(rows[0])]), 1),
            (Insert([rows[1]], [params(rows[1])]), 1),
            (checkpoint, 0),
            (heads, 0),
        ]
        plan = _bulk(group)
        assert plan is not None
        bulk_rows, checkpoints, others = plan
        assert bulk_rows == [params(r) for r in rows]
        assert checkpoints == [checkpoint]
        assert others == [(heads, 0)]

    def test_rows_queued_with_heads_go_one_at_a_time(self) -> None:
        """A first revision's rows carry its heads, undone with them: such a
        group is not stored in bulk."""
        first = row(0)
        op = Insert([first], [params(first)], ("t", "main", 0, "{}", None))
        assert _bulk([(op, 2)]) is None

    def test_checkpoints_of_a_group_are_one_statement(self, tmp_path: Path) -> None:
        """Through a real batched backend: three queued checkpoints reach SQLite
        as one statement (the bulk path), and everything queued is stored."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(0)], heads=Heads("main", 0, {"main": 0}))
            backend.flush()
            statements: list[str] = []
            backend._process.writer().set_trace_callback(statements.append)
            for n in range(1, 7):
                checkpoints = [Checkpoint(n, "{}", f"x{n}")] if n % 2 else []
                backend.append([row(n)], checkpoints)
            backend.save_heads("t", Heads("main", 6, {"main": 6}))
            backend.flush()
            backend._process.writer().set_trace_callback(None)
            written = [s.strip() for s in statements]
            into = [s for s in written if s.startswith("INSERT OR REPLACE INTO checkp")]
            assert len(into) == 1
            assert sum(s.startswith("INSERT INTO heads") for s in written) == 1
            assert [r.number for r in backend.read("t")] == list(range(7))
            assert [n for n in range(7) if backend.checkpoint("t", n)] == [1, 3, 5]
            saved = backend.heads("t")
            assert saved is not None
            assert saved.cursor == 6

    def test_a_refused_rows_checkpoint_is_dropped(self, tmp_path: Path) -> None:
        """A queued row whose number is taken is refused at flush, and the
        checkpoint queued with it is not stored for the other revision."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path) as other:
            other.append([row(0)])
            other.append([row(1, digest="theirs", chain="theirs")])
        with SQLiteBackend(path, durability="batched", batch_interval=30) as backend:
            backend.append([row(1)], [Checkpoint(1, "{}", "ours")])
            with pytest.raises(ConflictError):
                backend.flush()
            assert backend.checkpoint("t", 1) is None
            stored = backend.row("t", 1)
            assert stored is not None
            assert stored.digest == "theirs"


class TestTranslated:
    driver = Translated((sqlite3.Error,), lambda exc: StorageError(f"failed: {exc}"))

    def _raise(self, error: BaseException, nested: bool = False) -> None:
        with self.driver:
            if nested:
                with self.driver:
                    raise error
            raise error

    def test_a_driver_error_becomes_ours_with_its_cause(self) -> None:
        """The driver's error is the translation's __cause__."""
        with pytest.raises(StorageError, match="failed: disk I/O") as info:
            self._raise(sqlite3.OperationalError("disk I/O error"))
        assert type(info.value.__cause__) is sqlite3.OperationalError

    def test_ours_and_other_errors_pass_as_they_are(self) -> None:
        """A statetrail error (translated further in) and an error of another
        kind are not translated."""
        conflict = ConflictError("taken", [("t", 1)])
        with pytest.raises(ConflictError) as info:
            self._raise(conflict)
        assert info.value is conflict
        with pytest.raises(KeyError):
            self._raise(KeyError("k"))

    def test_it_is_reentrant(self) -> None:
        """One instance serves nested blocks (a backend keeps one): translated
        once, by the inner block."""
        with pytest.raises(StorageError) as info:
            self._raise(sqlite3.DatabaseError("inner"), nested=True)
        assert isinstance(info.value, StatetrailError)
        assert type(info.value.__cause__) is sqlite3.DatabaseError

    def test_sqlite_integers_beyond_64_bits_are_value_errors(
        self, tmp_path: Path
    ) -> None:
        """Through the backend: OverflowError is a ValueError, nothing stored."""
        with SQLiteBackend(tmp_path / "h.db") as backend:
            backend.append([row(0)])
            with pytest.raises(ValueError, match="2\\*\\*63"):
                backend.append([row(1, time_ns=2**64)], [Checkpoint(1, "{}", "x")])
            assert backend.latest("t") == 0
