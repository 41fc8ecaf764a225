"""Reading a stored timeline from its rows (issue 11): the same answers as the
engine that loads it whole, checked as the engine checks, reading a page at a
time."""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import statetrail
from statetrail.errors import CorruptHistoryError, RevisionNotFoundError
from statetrail.repository import Repository
from statetrail.storage._reader import StoredTimeline, heads_from_forks
from statetrail.storage.base import Fork, Heads
from statetrail.timeline import Timeline
from tests.conftest import scaled
from tests.storage.pg import fresh_schema


def _linear(timeline: Timeline[Any]) -> None:
    for n in range(1, 6):
        timeline.set(n)


def _branches(timeline: Timeline[Any]) -> None:
    for n in range(1, 4):
        timeline.set(n)
    timeline.checkout(1)
    timeline.branch("idea")
    timeline.set(10)
    timeline.set(11)
    timeline.switch("main")
    timeline.set(4)


def _undo_and_write(timeline: Timeline[Any]) -> None:
    for n in range(1, 4):
        timeline.set(n)
    timeline.undo()
    timeline.undo()
    timeline.set(20)  # a new branch from revision 1
    timeline.set(21)


def _rollback_then_checkout(timeline: Timeline[Any]) -> None:
    for n in range(1, 4):
        timeline.set(n)
    timeline.rollback(1)
    timeline.checkout(2)  # saved heads: the cursor moved without a write


def _written_elsewhere(timeline: Timeline[Any]) -> None:
    timeline.set(1)
    timeline.checkout(0)
    timeline.branch("side")
    timeline.set(2)
    timeline.switch("main")
    timeline.set(3)
    timeline.set(4)


SCENARIOS: list[Callable[[Timeline[Any]], None]] = [
    _linear,
    _branches,
    _undo_and_write,
    _rollback_then_checkout,
    _written_elsewhere,
]


@pytest.fixture(params=["h.db", "h.json", ":memory:", "postgresql"])
def repo(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[Repository]:
    if request.param == "postgresql":
        with fresh_schema() as schema, Repository(schema.backend()) as opened:
            yield opened
        return
    target = request.param if request.param == ":memory:" else tmp_path / request.param
    with statetrail.open(target) as opened:
        yield opened


class TestSameAsTheEngine:
    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
    def test_heads_lineage_and_values(
        self, repo: Repository, scenario: Callable[[Timeline[Any]], None]
    ) -> None:
        """Cursor, branch, tips, each line and each value are the engine's."""
        timeline = repo.timeline("t", 0)
        scenario(timeline)
        stored = StoredTimeline(repo.backend, "t")
        heads = stored.heads
        assert (heads.branch, heads.cursor) == (
            timeline.current_branch,
            timeline.head.number,
        )
        assert heads.tips == timeline.branches()
        for branch in (None, *timeline.branches()):
            line = [row.number for row in stored.lineage(stored.tip(branch))]
            assert line == [r.number for r in reversed(timeline.history(branch))]
        for revision in timeline.revisions():
            assert stored.value_at(revision.number) == revision.value
        assert [row.number for row in stored.forward()] == list(range(len(timeline)))
        values = [v for _, v in stored.values(stored.forward())]
        assert values == [r.value for r in timeline.revisions()]

    def test_specs(self, repo: Repository) -> None:
        """-1 is the cursor, -2 its parent; a branch names its tip; an unknown
        number or name is RevisionNotFoundError."""
        timeline = repo.timeline("t", 0)
        _branches(timeline)
        stored = StoredTimeline(repo.backend, "t")
        line = [r.number for r in reversed(timeline.history())]
        assert [stored.resolve(f"-{i + 1}") for i in range(len(line))] == line
        assert stored.resolve("idea") == timeline.branches()["idea"]
        assert stored.resolve("head") == timeline.head.number
        for bad in ("99", f"-{len(line) + 1}", "nowhere"):
            with pytest.raises(RevisionNotFoundError):
                stored.resolve(bad)
        with pytest.raises(RevisionNotFoundError, match="no timeline 'nope'"):
            StoredTimeline(repo.backend, "nope")


class TestForks:
    def test_a_run_that_does_not_start_at_the_cursor_leaves_it(self) -> None:
        """Rows written after the cursor moved back do not carry it along."""
        saved = Heads("main", 1, {"main": 3})
        heads = heads_from_forks(saved, [Fork(5, 2, "main")], 3, "main", 7)
        assert (heads.cursor, heads.tips) == (1, {"main": 7})
        heads = heads_from_forks(saved, [Fork(5, 1, "x")], 3, "main", 7)
        assert (heads.branch, heads.cursor, heads.tips) == ("x", 7, {"main": 4, "x": 7})


class TestBoundedReads:
    def test_the_newest_rows_only(self, tmp_path: pathlib.Path) -> None:
        """The first rows of a line read one page (and the opening's few rows),
        however long the history."""
        path = tmp_path / "long.db"
        n = scaled(3000)
        with statetrail.open(path, durability="batched") as repo:
            store = repo.store("s", {"n": 0})
            for i in range(n):
                store.set("n", i)
        with statetrail.open(path, read_only=True) as repo:
            stored = StoredTimeline(repo.backend, "s", page=100)
            opening = stored.rows_read
            assert opening <= 4
            rows = stored.lineage(stored.heads.cursor)
            newest = [row.number for _, row in zip(range(20), rows, strict=False)]
            assert newest == list(range(n, n - 20, -1))
            assert stored.rows_read - opening <= 102

    def test_forward_reads_a_page_at_a_time(self, tmp_path: pathlib.Path) -> None:
        """Streaming every row holds one page: rows read run at most a page
        ahead of rows handed on."""
        path = tmp_path / "long.db"
        with statetrail.open(path, durability="batched") as repo:
            store = repo.store("s", {"n": 0})
            for i in range(scaled(1000)):
                store.set("n", i)
        with statetrail.open(path, read_only=True) as repo:
            stored = StoredTimeline(repo.backend, "s", page=64)
            start = stored.rows_read
            for handed, _ in enumerate(stored.forward(), 1):
                assert stored.rows_read - start - handed < 64


class TestChecked:
    def _tampered(self, tmp_path: pathlib.Path) -> pathlib.Path:
        path = tmp_path / "t.db"
        with statetrail.open(path) as repo:
            store = repo.store("s", {"n": 0})
            for i in range(1, 10):
                store.set("n", i)
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE revisions SET payload = ? WHERE number = 4",
                ('{"patch":[["=",["n"],999]]}',),
            )
        return path

    def test_an_altered_row_is_refused(self, tmp_path: pathlib.Path) -> None:
        """A row altered on disk is CorruptHistoryError wherever it is read."""
        path = self._tampered(tmp_path)
        with statetrail.open(path, read_only=True) as repo:
            stored = StoredTimeline(repo.backend, "s")
            with pytest.raises(CorruptHistoryError, match="revision 4"):
                list(stored.lineage(stored.heads.cursor))
            with pytest.raises(CorruptHistoryError, match="revision 4"):
                list(stored.forward())
            with pytest.raises(CorruptHistoryError, match="revision 4"):
                stored.row(4)
            assert stored.row(5).number == 5

    def test_truncation_is_refused_at_opening(self, tmp_path: pathlib.Path) -> None:
        """The newest rows deleted: the end record says so."""
        path = tmp_path / "t.db"
        with statetrail.open(path) as repo:
            var = repo.watch("v", 0)
            for i in range(1, 10):
                var.set(i)
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM revisions WHERE number > 6")
        with (
            statetrail.open(path, read_only=True) as repo,
            pytest.raises(CorruptHistoryError, match="missing"),
        ):
            StoredTimeline(repo.backend, "v")
