"""Stored timelines open lazily: paged records against the in-memory ones.

The engine runs the same random scripts (writes, checkouts, branches, undo and
redo, rollbacks, erasures, trims, retention) on a timeline in memory and on a
stored one opened through :class:`~statetrail.storage._paged.PagedRecords`
with tiny pages (4 records, 2 kept), reopened along the way; every read
(``history``, ``log``, ``diff``, ``blame``, ``path_history``, ``value_at``,
``branches``, ``revisions``, ``len``) must agree. Then: opening reads the
newest page only, memory stays bounded over a long history, and the bounded
checks at opening still refuse what they cover.

Scale (``STATETRAIL_SCALE``): 20,000 revisions in ``make test``; 200,000 and
1,000,000 in ``make soak``. They assert rows read and tracemalloc peaks, never
wall-clock time.
"""

from __future__ import annotations

import random
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail import CorruptHistoryError, Timeline
from statetrail.revision import Revision
from statetrail.storage import _paged
from statetrail.storage._journal import CHECKPOINT_EVERY
from statetrail.storage._paged import PagedRecords
from statetrail.storage.base import Row
from statetrail.storage.sqlite import SQLiteBackend
from statetrail.timeline import Erased
from tests.conftest import SCALE


@pytest.fixture
def tiny_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 4 records, 2 kept: every script crosses many page boundaries."""
    monkeypatch.setattr(_paged, "PAGE", 4)
    monkeypatch.setattr(_paged, "PAGES_KEPT", 2)


def _plain(value: Any) -> Any:
    """``value``, with an erasure's tombstone as its reason (the times differ)."""
    return ("erased", value.reason) if isinstance(value, Erased) else value


def _summary(rev: Revision) -> tuple[Any, ...]:
    return (rev.number, rev.parent, rev.branch, rev.kind, rev.label, _plain(rev.value))


def _reads(timeline: Timeline[Any]) -> dict[str, Any]:
    """Everything a script compares, read through the public API."""
    numbers = [r.number for r in timeline.revisions()]
    held_values = {r.number: r.value for r in timeline.revisions()}
    out: dict[str, Any] = {
        "head": _summary(timeline.head),
        "branch": timeline.current_branch,
        "branches": timeline.branches(),
        "len": len(timeline),
        "revisions": [_summary(r) for r in timeline.revisions()],
        "history": [_summary(r) for r in timeline.history()],
        "log": [r.number for r in timeline.log(limit=5, reverse=True)],
        "log_all": [r.number for r in timeline.log(all_branches=True, start=1)],
        # (A child of an erased revision has the changes settled at the erasure
        # in the process that erased it; a reopened timeline has its patch.)
        "changes": [
            [(c.path, _plain(c.old), _plain(c.new)) for c in r.changes]
            for r in timeline.history()
            if not isinstance(held_values.get(r.parent), Erased)
        ],
        "blame": [
            None if b is None else b.number
            for b in (timeline.blame(k) for k in ("a", "b", "c", "z"))
        ],
        "path_history": [r.number for r in timeline.path_history("a")],
        "values": [_plain(timeline.value_at(n)) for n in numbers],
    }
    if len(numbers) >= 2:
        out["diff"] = [
            (c.path, _plain(c.old), _plain(c.new)) for c in timeline.diff(numbers[0])
        ]
    return out


def _script(seed: int, steps: int, *, reopen: bool) -> Iterator[tuple[str, Any]]:
    """Random steps: with ``reopen``, reopenings; without, erasures and trims.

    (Those two are kept apart: a reopened timeline holds what storage kept, and
    a trim in storage keeps every revision from the oldest branch tip on, where
    memory keeps only the tips; a child of an erased revision has the changes
    settled at the erasure only in the process that erased it.)
    """
    erase = trim = not reopen
    draw = random.Random(seed)
    for _ in range(steps):
        roll = draw.random()
        if roll < 0.55:
            yield "set", (draw.choice("abc"), draw.randrange(100))
        elif roll < 0.62:
            yield "checkout", draw.random()
        elif roll < 0.67:
            yield "branch", draw.random()
        elif roll < 0.74:
            yield "undo", None
        elif roll < 0.78:
            yield "redo", None
        elif roll < 0.82:
            yield "rollback", draw.random()
        elif roll < 0.86 and erase:
            yield "erase", draw.random()
        elif roll < 0.88 and trim:
            yield "trim", draw.randrange(3, 12)
        elif roll < 0.92:
            yield "switch", draw.random()
        elif reopen:
            yield "reopen", None


def _apply(timeline: Timeline[Any], op: str, arg: Any, names: list[str]) -> None:
    """One step; a step the engine refuses is refused the same way on both."""
    numbers = [r.number for r in timeline.revisions()]
    pick = numbers[int(arg * len(numbers))] if isinstance(arg, float) else None
    try:
        if op == "set":
            key, n = arg
            current = timeline.value  # (an erased revision checked out: no value)
            timeline.set({**({} if isinstance(current, Erased) else current), key: n})
        elif op == "checkout":
            timeline.checkout(pick)
        elif op == "branch":
            name = f"b{len(names)}"
            names.append(name)
            timeline.branch(name, pick)
        elif op == "undo":
            timeline.undo()
        elif op == "redo":
            timeline.redo()
        elif op == "rollback":
            timeline.rollback(pick)
        elif op == "erase":
            timeline.erase(pick, reason="privacy")
        elif op == "trim":
            timeline.trim(keep_last=arg, reason="test")
        elif op == "switch":
            branches = sorted(timeline.branches())
            timeline.switch(branches[int(arg * len(branches))])
    except (statetrail.StatetrailError, ValueError) as exc:
        raise _Refused(type(exc).__name__) from exc


class _Refused(Exception):
    pass


@pytest.mark.parametrize("reopen", [True, False], ids=["reopen", "erase-trim"])
@pytest.mark.parametrize("backend", ["memory", "json", "sqlite"])
@pytest.mark.parametrize("seed", range(3))
def test_paged_reads_match_memory(
    tiny_pages: None, tmp_path: Path, backend: str, seed: int, reopen: bool
) -> None:
    """The same script on both record implementations reads the same."""
    target = {
        "memory": ":memory:",
        "json": str(tmp_path / "t.json"),
        "sqlite": str(tmp_path / "t.db"),
    }[backend]
    memory: Timeline[Any] = Timeline({"a": 0}, label="initial")
    with statetrail.open(target, checkpoint_every=5) as repo:
        stored = repo.timeline("t", {"a": 0}, label="initial")
        names_m: list[str] = []
        names_s: list[str] = []
        repo._open.clear()  # opened from storage, paged, from the start
        stored = repo.timeline("t", create=False)
        for step, (op, arg) in enumerate(_script(seed, 120, reopen=reopen)):
            if op == "reopen":
                repo._open.clear()  # the next opening reads storage again
                stored = repo.timeline("t", create=False)
                assert isinstance(stored._records, PagedRecords)
                continue
            refused = []
            for timeline, names in ((memory, names_m), (stored, names_s)):
                try:
                    _apply(timeline, op, arg, names)
                    refused.append(None)
                except _Refused as exc:
                    refused.append(str(exc))
            assert refused[0] == refused[1], (op, arg)
            if step % 8 == 0 or step == 119:
                assert _reads(stored) == _reads(memory), (step, op, arg)
        assert repo.verify("t")


def test_retention_on_a_stored_timeline(tiny_pages: None, tmp_path: Path) -> None:
    """Retention drops from paged records as from memory; reopening agrees."""
    rule = statetrail.Retention(keep_last=7)
    memory: Timeline[Any] = Timeline({"a": 0}, retention=rule)
    with statetrail.open(tmp_path / "r.db", checkpoint_every=3) as repo:
        stored = repo.timeline("r", {"a": 0}, retention=rule)
        for n in range(60):
            for timeline in (memory, stored):
                timeline.set({"a": n})
                if n == 30:
                    timeline.checkout(25)
                    timeline.set({"a": -1})
                    timeline.switch("main")
        assert _reads(stored) == _reads(memory)
        assert len(stored) == len(memory)


def _grow(path: Path, revisions: int) -> None:
    """A stored timeline of ``revisions`` revisions, written in batches."""
    with statetrail.open(path, durability="batched") as repo:
        timeline = repo.timeline("big", {"n": 0, "k": "x"})
        for n in range(1, revisions):
            timeline.set({"n": n, "k": "x"})


def _sizes() -> list[int]:
    if SCALE == 1:
        return [20_000]
    return [SCALE * 20_000, SCALE * 100_000]  # 200,000 and 1,000,000 at soak


@pytest.fixture(scope="module", params=_sizes())
def long_history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("long") / "long.db"
    _grow(path, request.param)
    return path, request.param


def test_opening_reads_the_newest_page(long_history: tuple[Path, int]) -> None:
    """Opening reads a page of rows and the head's lineage down to its
    checkpoint, whatever the length; the memory it takes is bounded too."""
    path, revisions = long_history
    with statetrail.open(path) as repo:
        tracemalloc.start()
        timeline = repo.timeline("big", create=False)
        assert timeline.value["n"] == revisions - 1
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        records = timeline._records
        assert isinstance(records, PagedRecords)
        assert timeline.head.number == revisions - 1
        assert records.rows_read <= _paged.PAGE
        assert records.pages_held == 0
        assert peak < 8 * 2**20, peak
        # Heads go with each checkpoint: the forks since them are few rows.
        saved = repo.backend.heads("big")
        assert saved is not None
        assert saved.cursor >= revisions - 1 - CHECKPOINT_EVERY


def test_reading_everything_keeps_memory_bounded(
    long_history: tuple[Path, int],
) -> None:
    """Walking the whole history holds at most the cache's pages at a time;
    a read in the middle reads one page."""
    path, revisions = long_history
    with statetrail.open(path) as repo:
        timeline = repo.timeline("big", create=False)
        records = timeline._records
        assert isinstance(records, PagedRecords)
        before = records.rows_read
        assert timeline.value_at(revisions // 2)["n"] == revisions // 2
        assert records.rows_read - before == _paged.PAGE
        tracemalloc.start()
        count = sum(1 for _ in records.oldest_first())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == revisions
        assert records.pages_held <= records.keep
        assert peak < 32 * 2**20, peak
        assert [r.number for r in timeline.log(limit=20, reverse=True)] == list(
            range(revisions - 1, revisions - 21, -1)
        )


def test_blame_and_path_history_read_the_stored_index(
    long_history: tuple[Path, int],
) -> None:
    """``blame``, ``path_history`` and ``log(path=)`` on a stored timeline ask
    storage's path index: no path index is built in memory, and the rows read
    are a few pages (the one a revision found is in, and the first one for the
    branch's start), not the history."""
    path, revisions = long_history
    with statetrail.open(path) as repo:
        timeline = repo.timeline("big", create=False)
        records = timeline._records
        assert isinstance(records, PagedRecords)
        before = records.rows_read
        newest = timeline.blame("n")
        assert newest is not None
        assert newest.number == revisions - 1
        # "k" never changed: the answer is the first revision, where it is.
        never = timeline.blame("k")
        assert never is not None
        assert never.number == 0
        assert timeline.blame("nowhere") is None
        assert timeline.path_history("k") == []
        assert [r.number for r in timeline.log(path="k", reverse=True)] == []
        assert timeline._path_index is None
        assert records.rows_read - before <= 2 * _paged.PAGE


def test_first_undo_reads_the_newest_part(long_history: tuple[Path, int]) -> None:
    """The first undo of a freshly opened timeline works its stack out from
    the newest records of the lineage (the tail page), not all of them."""
    path, revisions = long_history
    with statetrail.open(path) as repo:
        timeline = repo.timeline("big", create=False)
        records = timeline._records
        assert isinstance(records, PagedRecords)
        before = records.rows_read
        assert timeline.undo().value["n"] == revisions - 2
        assert timeline.undo().value["n"] == revisions - 3
        assert timeline.redo().value["n"] == revisions - 2
        assert records.rows_read - before <= _paged.PAGE


def _tamper(path: Path, sql: str, *params: Any) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql, params)


def _rows(path: Path) -> list[Row]:
    with SQLiteBackend(path) as backend:
        return backend.read("t")


class TestBoundedChecksAtOpening:
    """What opening still refuses, from the newest page and the heads alone."""

    def _history(self, path: Path, n: int = 40) -> None:
        with statetrail.open(path, checkpoint_every=8) as repo:
            var = repo.watch("t", 0)
            for i in range(1, n):
                var.set(i)

    def test_truncated_newest_rows(self, tmp_path: Path) -> None:
        path = tmp_path / "t.db"
        self._history(path)
        _tamper(path, "DELETE FROM revisions WHERE number >= 35")
        with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError):
            repo.watch("t")

    def test_altered_newest_row(self, tmp_path: Path) -> None:
        path = tmp_path / "t.db"
        self._history(path)
        _tamper(path, "UPDATE revisions SET author = 'mallory' WHERE number = 38")
        with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError):
            repo.watch("t")

    def test_altered_old_row_is_found_when_read(
        self, tiny_pages: None, tmp_path: Path
    ) -> None:
        """A row outside the newest page is not read at opening: reading it, or
        verify(), finds the change."""
        path = tmp_path / "t.db"
        self._history(path)
        _tamper(path, "UPDATE revisions SET author = 'mallory' WHERE number = 3")
        with statetrail.open(path) as repo:
            var = repo.watch("t")
            assert var.value == 39
            with pytest.raises(CorruptHistoryError):
                var.timeline.revision(3)
            with pytest.raises(CorruptHistoryError):
                repo.verify("t")
