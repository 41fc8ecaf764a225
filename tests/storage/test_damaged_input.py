"""Bad values and damaged files at the storage boundary (issue 9, defects 2, 5, 6, 7).

What a history file or database holds is input like any other: whatever was
done to it, reading it gives the history or a
:class:`~statetrail.StatetrailError` (:class:`~statetrail.CorruptHistoryError`
for stored history), never another exception and never a hang.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import pathlib
import random
import sqlite3
import stat
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import statetrail
from statetrail.cli import main
from statetrail.errors import (
    CorruptHistoryError,
    RevisionNotFoundError,
    StatetrailError,
    StorageError,
)
from statetrail.repository import Repository
from statetrail.storage import _sqlite_schema as sqlite_schema
from statetrail.storage._row_checks import KNOWN
from statetrail.storage.base import Heads, Row
from statetrail.storage.jsonfile import JsonFileBackend, load_history
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import row


@pytest.fixture(params=["h.db", "h.json"])
def history_path(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> pathlib.Path:
    path: pathlib.Path = tmp_path / request.param
    return path


class TestTwoNaNs:
    def test_a_value_holding_two_nans_stays_readable(
        self, history_path: pathlib.Path
    ) -> None:
        """{nan, nan} and a dict of NaN values are recorded, and the timeline
        reads back after a restart with both (defect 2: 'a member appears twice'
        made the whole timeline unreadable on SQLite and JSON). A dict with NaN
        keys is refused (a patch naming such a key cannot find it once read
        back) and records nothing."""
        with statetrail.open(history_path) as repo:
            var = repo.watch("v", 0)
            var.set({float("nan"), float("nan")})
            var.set({"a": float("nan"), "b": float("nan"), "x": [float("nan")]})
            with pytest.raises(ValueError, match="is or holds NaN"):
                var.set({float("nan"): 1, float("nan"): 2})
            var.set(3)
        with statetrail.open(history_path) as repo:
            var = repo.watch("v", 0)
            values = [rev.value for rev in var.history()]
            assert repo.verify() == {"v": 4}
        assert len(values[1]) == 2
        assert all(math.isnan(x) for x in values[1])
        assert all(math.isnan(x) for x in (values[2]["a"], values[2]["b"]))
        assert values[3] == 3


def finishes(
    call: Callable[[], object], fifo: pathlib.Path, limit: float = 10.0
) -> str:
    """What ``call()`` did within ``limit`` seconds: its error's type name,
    "returned", or "hung" (then a writer opens and closes the FIFO so the thread
    can end)."""
    result: list[str] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported, for the assertion to show
            result.append(type(exc).__name__)
        else:
            result.append("returned")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return "hung"
    return result[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
class TestNotRegularFiles:
    @pytest.mark.parametrize("name", ["x.json", "x.db"])
    def test_open_refuses_a_fifo_at_once(
        self, tmp_path: pathlib.Path, name: str
    ) -> None:
        """statetrail.open() of a FIFO: StorageError at once (defect 6: it blocked
        for ever)."""
        fifo = tmp_path / name
        os.mkfifo(fifo)
        assert finishes(lambda: statetrail.open(fifo).close(), fifo) == "StorageError"
        with pytest.raises(StorageError, match="is a FIFO, not a regular file"):
            statetrail.open(fifo)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)

    def test_open_refuses_a_device(self) -> None:
        """A character device is refused by both file backends, and left alone."""
        if not os.path.exists(os.devnull):
            pytest.skip("no null device")
        for backend in (JsonFileBackend, SQLiteBackend):
            with pytest.raises(StorageError, match="character device"):
                backend(os.devnull)
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)

    def test_load_history_refuses_a_fifo(self, tmp_path: pathlib.Path) -> None:
        """jsonfile.load_history() of a FIFO: StorageError at once."""
        fifo = tmp_path / "h.json"
        os.mkfifo(fifo)
        assert finishes(lambda: load_history(fifo), fifo) == "StorageError"

    def test_a_file_swapped_for_a_fifo_is_not_replaced(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A JSON history whose file became a FIFO refuses the write, leaves the
        FIFO, and keeps nothing of the refused change in memory."""
        path = tmp_path / "h.json"
        backend = JsonFileBackend(path)
        try:
            backend.append([row(0)])
            path.unlink()
            os.mkfifo(path)
            with pytest.raises(StorageError, match="FIFO"):
                backend.append([row(1)])
            assert stat.S_ISFIFO(os.stat(path).st_mode)
            assert [r.number for r in backend.read("t")] == [0]
        finally:
            backend.close()


# -- JSON history files: every field x {wrong type, missing, null, huge} ------------


def healthy_json_history(path: pathlib.Path) -> None:
    """A JSON history with what a file can hold: two timelines, sets, a branch,
    an erased revision, checkpoints and heads (more revisions at larger scales)."""
    with statetrail.open(path, checkpoint_every=2) as repo:
        store = repo.store("job", {"job": {"bins": 10, "sorted": 0}})
        with statetrail.context(author="alice", comment="sorted one"):
            store.set("job.sorted", 1)
        store.set("job.bins", 11)
        store.set("job.tags", ["a", "b"])
        store.timeline.checkout(1)
        store.timeline.branch("idea")
        store.set("job.bins", 99)
        store.timeline.erase(2, reason="fuzz")
        score = repo.watch("score", 0)
        for n in range(1, 1 + scaled(3)):  # more rows to mutate in make soak
            score.set(n)


def _wrong_type(value: object) -> object:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"a": 1}
    if isinstance(value, dict):
        return [1, 2]
    return {"x": [1]}


def _huge(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return "x" * 100_000
    if isinstance(value, int):
        return 10**40 if value >= 0 else -(10**40)
    if isinstance(value, str):
        return value + "x" * 100_000
    if isinstance(value, list):
        return (value or [0]) * 1000
    if isinstance(value, dict):
        return {**value, **{f"k{i}": i for i in range(1000)}}
    return value


MUTATIONS = ("wrong type", "missing", "null", "huge")


def fields(tree: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """The path of every field (object member or array item) in a JSON tree."""
    out: list[tuple[object, ...]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.append((*path, key))
            out.extend(fields(value, (*path, key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out.append((*path, i))
            out.extend(fields(value, (*path, i)))
    return out


def pattern(path: tuple[object, ...]) -> str:
    """The field a path names, with row and timeline names generalised:
    ``timelines.*.rows.*.number``."""
    parts = []
    for i, step in enumerate(path):
        after_timelines = i >= 1 and path[i - 1] in ("timelines", "rows", "tips")
        parts.append("*" if isinstance(step, int) or after_timelines else str(step))
    return ".".join(parts)


def mutated(tree: object, path: tuple[object, ...], mutation: str) -> object:
    """A deep copy of ``tree`` with the field at ``path`` mutated."""
    tree = json.loads(json.dumps(tree))
    parent = tree
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    last = path[-1]
    if mutation == "missing":
        del parent[last]  # type: ignore[attr-defined]
    elif mutation == "null":
        parent[last] = None  # type: ignore[index]
    elif mutation == "wrong type":
        parent[last] = _wrong_type(parent[last])  # type: ignore[index]
    else:
        parent[last] = _huge(parent[last])  # type: ignore[index]
    return tree


def read_everything(path: pathlib.Path, backend_class: type[JsonFileBackend]) -> None:
    """Open the history and read all of it: values, heads, verify, blame, log."""
    repo = Repository(backend_class(path))
    try:
        for name in repo.timelines():
            timeline = repo.timeline(name, create=False)
            for rev in timeline.revisions():
                _ = (rev.value, rev.changes, rev.origin, rev.author, rev.extra)
            _ = (timeline.head, timeline.branches(), timeline.current_branch)
            timeline.blame(("job",))
        repo.verify()
    finally:
        repo.close()


def field_fuzz(
    tmp_path: pathlib.Path,
    per_field: int,
    backend_class: type[JsonFileBackend] = JsonFileBackend,
    *,
    cli: bool = False,
) -> tuple[Counter[str], Counter[str], int, int]:
    """Mutate every field of a healthy file in each of four ways and read it all.

    ``per_field``: how many of the places a field appears in (its rows, its
    timelines) are mutated; ``cli``: also run ``statetrail verify`` and
    ``statetrail show`` on each damaged file. Returns the raw exceptions
    (neither StatetrailError nor a clean read, by field and type), the outcomes,
    the fields and the cases.
    """
    source = tmp_path / "healthy.json"
    healthy_json_history(source)
    tree = json.loads(source.read_text())
    by_pattern: dict[str, list[tuple[object, ...]]] = {}
    for path in fields(tree):
        by_pattern.setdefault(pattern(path), []).append(path)
    rng = random.Random(9)
    raw: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    cases = 0
    target = tmp_path / "damaged.json"
    for name, paths in sorted(by_pattern.items()):
        chosen = paths if len(paths) <= per_field else rng.sample(paths, per_field)
        for path in chosen:
            for mutation in MUTATIONS:
                damaged = mutated(tree, path, mutation)
                target.write_text(json.dumps(damaged))
                cases += 1
                try:
                    read_everything(target, backend_class)
                except CorruptHistoryError:
                    outcomes["CorruptHistoryError"] += 1
                except StatetrailError as exc:
                    outcomes[type(exc).__name__] += 1
                except Exception as exc:  # what this test exists to catch
                    raw[f"{name} {mutation}: {type(exc).__name__}: {exc}"[:300]] += 1
                else:
                    outcomes["read (harmless here)"] += 1
                if cli:
                    for command in (
                        ["verify", str(target)],
                        ["show", str(target), "job"],
                    ):
                        try:
                            status = quiet(main, command)
                        except Exception as exc:  # a traceback in the terminal
                            raw[
                                f"cli {command[0]} {name} {mutation}: {exc!r}"[:300]
                            ] += 1
                        else:
                            outcomes[f"cli exit {status}"] += 1
    return raw, outcomes, len(by_pattern), cases


def quiet(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """``main(argv)`` with its output thrown away."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        return main(argv)


def rows_of_document_unchecked(data: Any, where: str) -> dict[str, Any]:
    """Rows, heads and checkpoints taken from a document with no checks at all."""
    out = {}
    for name, entry in data["timelines"].items():
        rows = [
            Row(timeline=name, **{**row, "paths": tuple(row["paths"])})
            for row in entry["rows"]
        ]
        heads = entry.get("heads")
        if heads is not None:
            heads = Heads(heads["branch"], heads["cursor"], dict(heads["tips"]))
        checkpoints = {int(k): tuple(v) for k, v in entry["checkpoints"].items()}
        out[name] = (rows, heads, checkpoints)
    return out


class NoFieldChecks(JsonFileBackend):
    """The broken variant for the teeth check: rows taken as they are in the file,
    with no check of their fields' types."""

    _rows_of_document = staticmethod(rows_of_document_unchecked)


class TestJsonFieldFuzz:
    def test_every_field_mutated_gives_statetrail_errors_only(
        self, tmp_path: pathlib.Path
    ) -> None:
        """Every field of a JSON history x {wrong type, missing, null, huge}: each
        case reads cleanly or raises a StatetrailError; raw exceptions = 0 (issue
        9, defect 5: AttributeError and TypeError escaped). Every field is
        mutated at 3 of the places it appears in (seeded; 100 of 213 places, 400
        cases) in make test, at every place in make soak; statetrail verify and
        show on each damaged file exit 0 or 2, never with a traceback."""
        per_field = scaled(10_000, ci=3)
        raw, outcomes, n_fields, cases = field_fuzz(tmp_path, per_field, cli=True)
        record(
            "S3-json-fields",
            fields=n_fields,
            mutations=list(MUTATIONS),
            cases=cases,
            raw_exceptions=sum(raw.values()),
            outcomes=dict(outcomes),
        )
        assert raw == Counter()
        assert outcomes["CorruptHistoryError"] > cases // 2

    def test_teeth_without_the_field_checks_raw_exceptions_escape(
        self, tmp_path: pathlib.Path
    ) -> None:
        """Teeth: with the rows' fields unchecked, the same fuzz counts raw
        exceptions."""
        raw, _, _, cases = field_fuzz(tmp_path, 1, NoFieldChecks)
        record("S3-json-fields-teeth", cases=cases, raw_exceptions=sum(raw.values()))
        assert sum(raw.values()) > 0


def read_back(path: pathlib.Path) -> None:
    """Load timeline "job", verify the history and read revision 5 from storage."""
    with statetrail.open(path) as repo:
        repo.timeline("job", create=False)
        repo.verify()
        repo.value_at("job", 5)


class TestStoredRows:
    def test_every_row_field_has_a_checked_type(self) -> None:
        """Each of Row's fields has a type the row checks know, so a field added
        later is checked too (or this test says it is not)."""
        kinds = {
            name: getattr(kind, "__forward_arg__", kind)
            for name, kind in Row.__annotations__.items()
        }
        assert {n: k for n, k in kinds.items() if k not in KNOWN} == {}

    @pytest.mark.parametrize(
        "damage",
        [
            "UPDATE revisions SET payload = CAST(payload AS BLOB) WHERE number = 3",
            "UPDATE revisions SET number = 'three' WHERE number = 3",
            "UPDATE revisions SET author = x'00ff' WHERE number = 2",
            "UPDATE revisions SET time_ns = 1.5 WHERE number = 1",
            "UPDATE checkpoints SET value = CAST(value AS BLOB)",
            "UPDATE checkpoints SET digest = x'00'",
        ],
    )
    def test_sqlite_columns_of_the_wrong_type(
        self, tmp_path: pathlib.Path, damage: str
    ) -> None:
        """A BLOB payload or checkpoint, a text revision number ...: reading the
        history raises CorruptHistoryError (defect 5: AttributeError, ValueError)."""
        path = tmp_path / "h.db"
        with statetrail.open(path, checkpoint_every=2) as repo:
            store = repo.store("job", {"a": 0})
            for n in range(1, 6):
                store.set("a", n)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(damage)
            conn.commit()
        with pytest.raises(CorruptHistoryError):
            read_back(path)


class TestHeadsAndNumbering:
    @pytest.mark.parametrize("pointer", ["cursor", "tip"])
    def test_a_head_at_a_missing_revision_is_corrupt_history(
        self, history_path: pathlib.Path, pointer: str
    ) -> None:
        """The cursor or a branch tip naming a revision that is not stored:
        CorruptHistoryError, not RevisionNotFoundError (defect 5)."""
        with statetrail.open(history_path) as repo:
            store = repo.store("job", {"a": 0})
            store.set("a", 1)
            store.timeline.checkout(0)  # saves the heads
        cursor, tips = (
            (99, '{"main": 1}') if pointer == "cursor" else (0, '{"main": 99}')
        )
        if history_path.suffix == ".db":
            with contextlib.closing(sqlite3.connect(history_path)) as conn:
                conn.execute("UPDATE heads SET cursor = ?, tips = ?", (cursor, tips))
                conn.commit()
        else:
            tree = json.loads(history_path.read_text())
            heads = tree["timelines"]["job"]["heads"]
            heads["cursor"], heads["tips"] = cursor, json.loads(tips)
            history_path.write_text(json.dumps(tree))
        with (
            statetrail.open(history_path) as repo,
            pytest.raises(CorruptHistoryError, match="not stored") as info,
        ):
            repo.timeline("job", create=False)
        assert not isinstance(info.value, RevisionNotFoundError)

    def test_a_missing_row_is_corrupt_history(self, tmp_path: pathlib.Path) -> None:
        """A row taken out of the middle of a JSON history: CorruptHistoryError
        (a ValueError escaped before)."""
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            store = repo.store("job", {"a": 0})
            for n in range(1, 4):
                store.set("a", n)
        tree = json.loads(path.read_text())
        del tree["timelines"]["job"]["rows"][2]
        path.write_text(json.dumps(tree))
        with pytest.raises(CorruptHistoryError), statetrail.open(path) as repo:
            repo.timeline("job", create=False)

    def test_two_rows_with_one_number_are_corrupt_history(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A JSON history holding a row twice (one edited): CorruptHistoryError,
        not the last copy silently kept."""
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            repo.store("job", {"a": 0}).set("a", 1)
        tree = json.loads(path.read_text())
        rows = tree["timelines"]["job"]["rows"]
        rows.append({**rows[-1], "comment": "forged"})
        path.write_text(json.dumps(tree))
        with pytest.raises(CorruptHistoryError, match="two rows with one number"):
            statetrail.open(path)


class TestUnknownKeys:
    def test_unknown_top_level_keys_survive_writes(
        self, tmp_path: pathlib.Path
    ) -> None:
        """Keys a JSON history file holds besides format, version and timelines
        are written back by every later write (defect 7: they were dropped)."""
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            repo.store("job", {}).set("a", 1)
        tree = json.loads(path.read_text())
        tree["note"] = "written by a tool"
        tree["x-tool"] = {"runs": [1, 2, {"ok": True}]}
        path.write_text(json.dumps(tree))
        with statetrail.open(path) as repo:
            repo.store("job", {}).set("a", 2)
            repo.watch("other", 0).set(1)
        after = json.loads(path.read_text())
        assert after["note"] == "written by a tool"
        assert after["x-tool"] == {"runs": [1, 2, {"ok": True}]}
        assert after["timelines"]["job"]["rows"][-1]["number"] == 2

    def test_keys_that_cannot_be_written_back_are_refused_at_open(
        self, tmp_path: pathlib.Path
    ) -> None:
        """An unknown key holding what the file format cannot write (an integer
        beyond 64 bits): refused at open, not dropped by the next write."""
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            repo.store("job", {}).set("a", 1)
        tree = json.loads(path.read_text())
        tree["big"] = 10**30
        path.write_text(json.dumps(tree))
        with pytest.raises(CorruptHistoryError, match="cannot be written back"):
            statetrail.open(path)
        assert json.loads(path.read_text())["big"] == 10**30


# -- SQLite: every column x {BLOB, text, real, null, huge} -----------------------------

SQL_MUTATIONS = {
    "blob": "CAST({col} AS BLOB)",
    "bytes": "x'00ff'",
    "text": "'three'",
    "real": "1.5",
    "null": "NULL",
    "huge": "9223372036854775807",
}


def healthy_sqlite_history(path: pathlib.Path) -> None:
    """An SQLite history with a branch, an erased revision, checkpoints, heads."""
    with statetrail.open(path, checkpoint_every=2) as repo:
        store = repo.store("job", {"job": {"bins": 10}})
        for n in range(1, 5):
            store.set("job.bins", n)
        store.timeline.checkout(2)
        store.timeline.branch("idea")
        store.set("job.bins", 99)
        store.timeline.erase(3, reason="fuzz")


def sqlite_column_fuzz(
    tmp_path: pathlib.Path, backend_class: type[SQLiteBackend] = SQLiteBackend
) -> tuple[Counter[str], Counter[str], int]:
    """Set one column of one row of each table to each mutation, then read all.

    Tables and columns come from the file itself, so columns added later are
    fuzzed too. Returns the raw exceptions, the outcomes and the cases.
    """
    source = tmp_path / "healthy.db"
    healthy_sqlite_history(source)
    with contextlib.closing(sqlite3.connect(source)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'"
            )
        ]
        columns = {
            table: [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
            for table in tables
        }
    raw: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    cases = 0
    target = tmp_path / "damaged.db"
    for table, names in columns.items():
        for column in names:
            for mutation, value in SQL_MUTATIONS.items():
                target.unlink(missing_ok=True)
                target.write_bytes(source.read_bytes())
                with contextlib.closing(sqlite3.connect(target)) as conn:
                    try:
                        conn.execute(
                            f"UPDATE {table} SET {column} = "
                            f"{value.format(col=column)} WHERE rowid = "
                            f"(SELECT (min(rowid) + max(rowid)) / 2 FROM {table})"
                        )
                        conn.commit()
                    except sqlite3.Error:
                        outcomes["refused by SQLite (constraint)"] += 1
                        continue
                cases += 1
                try:
                    read_sqlite(target, backend_class)
                except StatetrailError as exc:
                    outcomes[type(exc).__name__] += 1
                except Exception as exc:  # what this test exists to catch
                    where = f"{table}.{column} {mutation}"
                    raw[f"{where}: {type(exc).__name__}: {exc}"[:300]] += 1
                else:
                    outcomes["read (harmless here)"] += 1
    return raw, outcomes, cases


def read_sqlite(path: pathlib.Path, backend_class: type[SQLiteBackend]) -> None:
    """Open the database and read everything: timelines, values, verify, value_at."""
    repo = Repository(backend_class(path), checkpoint_every=2)
    try:
        for name in repo.timelines():
            timeline = repo.timeline(name, create=False)
            for rev in timeline.revisions():
                _ = (rev.value, rev.changes, rev.origin, rev.extra)
            for number in repo.backend.checkpoints(name):
                repo.value_at(name, number)
        repo.verify()
    finally:
        repo.close()


class NoRowChecks(SQLiteBackend):
    """The broken variant for the teeth check: rows and checkpoints as SQLite
    returns them, their types unchecked."""

    def read(
        self, timeline: str, after: int = -1, upto: int | None = None
    ) -> list[Row]:
        top = 2**63 - 1 if upto is None else upto
        records = self._read(sqlite_schema.RANGE, (timeline, after, top))
        return [sqlite_schema.row_from(r, self.path) for r in records]

    def checkpoint(self, timeline: str, number: int) -> tuple[str, str] | None:
        records = self._read(sqlite_schema.CHECKPOINT, (timeline, number))
        return (records[0][0], records[0][1]) if records else None


class TestSqliteColumnFuzz:
    def test_every_column_damaged_gives_statetrail_errors_only(
        self, tmp_path: pathlib.Path
    ) -> None:
        """Every column of every table set to a BLOB, text, a real, NULL or the
        largest integer: reading gives the history or a StatetrailError; raw
        exceptions = 0 (defect 5: a BLOB payload or checkpoint escaped)."""
        raw, outcomes, cases = sqlite_column_fuzz(tmp_path)
        record(
            "S3-sqlite-columns",
            cases=cases,
            mutations=list(SQL_MUTATIONS),
            raw_exceptions=sum(raw.values()),
            outcomes=dict(outcomes),
        )
        assert raw == Counter()

    def test_teeth_without_the_row_checks_raw_exceptions_escape(
        self, tmp_path: pathlib.Path
    ) -> None:
        """Teeth: with the rows' types unchecked, the same fuzz counts raw
        exceptions."""
        raw, _, cases = sqlite_column_fuzz(tmp_path, NoRowChecks)
        record("S3-sqlite-columns-teeth", cases=cases, raw_exceptions=sum(raw.values()))
        assert sum(raw.values()) > 0
