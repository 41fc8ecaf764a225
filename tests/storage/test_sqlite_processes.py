"""Several processes appending to one timeline of one file (RELIABILITY C5).

Each process loops: read the latest number, append latest + 1, and on
ConflictError (another process took that number first) read again and retry.
Every exception is counted by type: only ConflictError may reach the caller,
never a raw "database is locked".
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from statetrail.errors import CorruptHistoryError, StorageError
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import SCALE, scaled
from tests.reliability import record
from tests.storage.contract import row

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import collections, json, sqlite3, sys, time
from statetrail.errors import ConflictError
from statetrail.storage.sqlite import SQLiteBackend
from tests.storage.contract import row

path, tag, target, broken = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
options = json.loads(sys.argv[5])


class Swallowing(SQLiteBackend):
    # The broken variant for the teeth check: a conflict reported as a commit.
    def append(self, rows):
        try:
            super().append(rows)
        except ConflictError:
            pass


backend = (Swallowing if broken == "broken" else SQLiteBackend)(path, **options)
print("ready", flush=True)
sys.stdin.readline()  # go: all processes start together
exceptions = collections.Counter()
committed, attempts, raw_locked, longest, busy = [], 0, 0, 0.0, []
while len(committed) < target and attempts < 100 * target:
    try:
        number = backend.latest("t") + 1
        attempts += 1
        started = time.monotonic()
        try:
            backend.append([row(number, author=tag)])
        finally:
            longest = max(longest, time.monotonic() - started)
        committed.append(number)
    except Exception as exc:
        exceptions[type(exc).__name__] += 1
        raw_locked += isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        if "busy" in str(exc) and len(busy) < 3:
            busy.append(str(exc))
backend.close()
print(json.dumps({"tag": tag, "attempts": attempts, "committed": committed,
                  "exceptions": exceptions, "raw_locked": raw_locked,
                  "longest_append": longest, "busy": busy}))
"""


def race(
    path: Path,
    per_process: int,
    *,
    broken: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run 4 writer processes on ``path``; return the checker's figures.

    ``options`` go to each writer's backend (``busy_timeout`` ...).
    """
    SQLiteBackend(path).close()
    start = time.monotonic()
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(path),
                f"p{i}",
                str(per_process),
                "broken" if broken else "sound",
                json.dumps(options or {}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(4)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.close()
    results = []
    for writer in writers:
        assert writer.stdout is not None
        results.append(json.loads(writer.stdout.read()))
        writer.stdout.close()
        assert writer.wait(timeout=300) == 0
    seconds = time.monotonic() - start

    commits = sum(len(r["committed"]) for r in results)
    owner = {n: r["tag"] for r in results for n in r["committed"]}
    with SQLiteBackend(path) as backend:
        integrity = "ok"
        try:
            backend.integrity_check()
        except CorruptHistoryError as exc:
            integrity = str(exc)
        rows = backend.read("t")
    stored = [r.number for r in rows]
    author = {r.number: r.author for r in rows}
    return {
        "processes": 4,
        "appends_per_process": per_process,
        "attempts": sum(r["attempts"] for r in results),
        "commits": commits,
        "conflicts": sum(r["exceptions"].get("ConflictError", 0) for r in results),
        "other_exceptions": {
            name: count
            for r in results
            for name, count in r["exceptions"].items()
            if name != "ConflictError"
        },
        "raw_database_is_locked": sum(r["raw_locked"] for r in results),
        "duplicates": commits - len(owner),
        "gaps": len(set(range(max(stored, default=-1) + 1)) - set(stored))
        + len(set(owner) - set(stored)),
        # Appends that returned, whose row holds another process's write.
        "silent_overwrites": sum(
            author.get(n) != r["tag"] for r in results for n in r["committed"]
        ),
        "broken_parent_links": sum(
            r.parent != (r.number - 1 if r.number else None) for r in rows
        ),
        "rebuild_mismatches": sum(
            r != row(r.number, author=owner.get(r.number)) for r in rows
        ),
        "integrity_check": integrity,
        "busy_errors": [b for r in results for b in r["busy"]][:3],
        "longest_append_s": round(max(r["longest_append"] for r in results), 3),
        "durability": "full",
        "seconds": round(seconds, 1),
    }


def problems(figures: dict[str, Any]) -> list[str]:
    """What the checker finds wrong with one race (empty when it was sound)."""
    per_process = figures["appends_per_process"]
    wrong = []
    if figures["commits"] + figures["conflicts"] != figures["attempts"]:
        wrong.append("an attempt was neither committed nor a ConflictError")
    if figures["commits"] != 4 * per_process:
        wrong.append(f"{figures['commits']} commits of {4 * per_process}")
    if figures["other_exceptions"]:
        wrong.append(
            f"other exceptions: {figures['other_exceptions']} {figures['busy_errors']}"
        )
    for name in (
        "raw_database_is_locked",
        "duplicates",
        "gaps",
        "silent_overwrites",
        "broken_parent_links",
        "rebuild_mismatches",
    ):
        if figures[name]:
            wrong.append(f"{name}: {figures[name]}")
    if figures["integrity_check"] != "ok":
        wrong.append(figures["integrity_check"])
    return wrong


@contextlib.contextmanager
def cpu_hog() -> Iterator[int]:
    """A busy-looping process per core while the block runs; yields how many."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield len(hogs)
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


class TestProcesses:
    @pytest.mark.slow
    def test_four_processes_race_on_one_timeline(self, tmp_path: Path) -> None:
        """4 processes x 2,000 appends (500 in make test) to one timeline,
        retrying on conflicts:
        commits + conflicts = attempts, numbers 0..N-1 each stored once by the
        process that was told it committed it, parents chained, no other
        exception, integrity_check ok."""
        per_process = scaled(2_000, ci=500)
        figures = race(tmp_path / "shared.db", per_process)
        record("C5", **figures)
        assert problems(figures) == []
        assert figures["conflicts"] > 0  # proof that the processes did race

    def test_the_checker_catches_swallowed_conflicts(self, tmp_path: Path) -> None:
        """Teeth: a backend that reports a taken number as committed makes two
        processes claim one revision; the checker counts the duplicates and the
        silently overwritten appends."""
        figures = race(tmp_path / "broken.db", scaled(300), broken=True)
        record(
            "C5-teeth",
            variant="append() swallows ConflictError",
            duplicates=figures["duplicates"],
            silent_overwrites=figures["silent_overwrites"],
        )
        assert figures["duplicates"] > 0
        assert figures["silent_overwrites"] > 0


GREEDY = r"""
import sqlite3, sys
# SQLite's own busy handler (the policy before issue 9's fix): whoever has just
# committed begins again at once, while the others sleep up to 100 ms.
conn = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
conn.execute("PRAGMA synchronous = FULL")
print("ready", flush=True)
n = 0
while True:
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO greedy VALUES (?)", (n,))
        conn.execute("COMMIT")
        n += 1
    except sqlite3.OperationalError:
        pass
"""


@contextlib.contextmanager
def greedy_writers(path: Path, count: int = 3) -> Iterator[None]:
    """``count`` processes committing back to back into ``path`` while the block
    runs (into a table of their own)."""
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode = WAL")
    setup.execute("CREATE TABLE IF NOT EXISTS greedy (n INTEGER)")
    setup.close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", GREEDY, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
        yield
    finally:
        for writer in writers:
            writer.kill()
        for writer in writers:
            writer.wait()
            assert writer.stdout is not None
            writer.stdout.close()


def waits(append: Callable[[int], None], appends: int, budget: float) -> dict[str, Any]:
    """Time ``append(i)`` for each i (until ``budget`` seconds are spent)."""
    seconds: list[float] = []
    errors = []
    for i in range(appends):
        started = time.monotonic()
        try:
            append(i)
        except StorageError as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        seconds.append(time.monotonic() - started)
        if sum(seconds) > budget:
            break
    return {
        "appends": len(seconds),
        "errors": len(errors),
        "first_error": errors[:1],
        "longest_wait_s": round(max(seconds), 3),
        "mean_wait_s": round(sum(seconds) / len(seconds), 3),
    }


class TestBusyDatabase:
    """Issue 9, defect 9: no writer is starved into "database is busy"."""

    @pytest.mark.slow
    def test_no_writer_is_starved_beside_a_cpu_hog(self, tmp_path: Path) -> None:
        """The 4-process race, 3 runs in a row (50 in soak) while a process per
        core loops on the CPU: every run is sound, with no busy error (before
        the fix a writer waited past busy_timeout in 8 of 24 runs)."""
        runs, per_process = (3 if SCALE == 1 else 5 * SCALE), 400
        longest = 0.0
        conflicts = 0
        with cpu_hog() as hogs:
            for n in range(runs):
                figures = race(tmp_path / f"{n}.db", per_process)
                assert problems(figures) == [], f"run {n + 1} of {runs}: {figures}"
                longest = max(longest, figures["longest_append_s"])
                conflicts += figures["conflicts"]
        record(
            "C5-busy",
            runs_in_a_row=runs,
            processes=4,
            appends_per_process=per_process,
            cpu_hogs=hogs,
            busy_errors=0,
            conflicts=conflicts,
            longest_append_s=longest,
            busy_timeout_s=30,
        )
        assert conflicts > 0  # the processes did race

    @pytest.mark.slow
    def test_a_writer_beside_greedy_writers_is_not_starved(
        self, tmp_path: Path
    ) -> None:
        """Three processes commit back to back with SQLite's own busy handler,
        which lets the one that has just committed win again: each of this
        process's appends still gets through."""
        path = tmp_path / "h.db"
        appends = scaled(15)
        with SQLiteBackend(path) as backend, greedy_writers(path):
            figures = waits(lambda n: backend.append([row(n)]), appends, budget=600)
        record("C5-greedy", greedy_processes=3, **figures)
        assert figures["errors"] == 0, figures
        assert figures["appends"] == appends

    def test_the_checker_catches_a_starved_writer(self, tmp_path: Path) -> None:
        """Teeth: a writer that gives up at the first busy answer beside the
        greedy writers fails, and the same check reports it."""
        path = tmp_path / "h.db"
        with SQLiteBackend(path, busy_timeout=0) as backend, greedy_writers(path):
            figures = waits(lambda n: backend.append([row(n)]), 15, budget=60)
        assert figures["errors"] > 0

    def test_the_checker_catches_a_writer_that_gives_up(self, tmp_path: Path) -> None:
        """Teeth: writers that give up at the first busy answer (busy_timeout=0)
        beside the hog; the checker reports their busy errors."""
        with cpu_hog():
            figures = race(tmp_path / "g.db", 100, options={"busy_timeout": 0})
        record(
            "C5-busy-teeth",
            variant="busy_timeout=0: no retry",
            other_exceptions=figures["other_exceptions"],
            busy_errors=figures["busy_errors"][:1],
        )
        assert figures["other_exceptions"].get("StorageError", 0) > 0
        assert problems(figures) != []
