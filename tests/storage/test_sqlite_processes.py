"""Several processes appending to one timeline of one file (RELIABILITY C5).

Each process loops: read the latest number, append latest + 1, and on
ConflictError (another process took that number first) read again and retry.
Every exception is counted by type: only ConflictError may reach the caller,
never a raw "database is locked".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from statetrail.errors import CorruptHistoryError
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import row

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import collections, json, sqlite3, sys
from statetrail.errors import ConflictError
from statetrail.storage.sqlite import SQLiteBackend
from tests.storage.contract import row

path, tag, target, broken = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


class Swallowing(SQLiteBackend):
    # The broken variant for the teeth check: a conflict reported as a commit.
    def append(self, rows):
        try:
            super().append(rows)
        except ConflictError:
            pass


backend = (Swallowing if broken == "broken" else SQLiteBackend)(path)
print("ready", flush=True)
sys.stdin.readline()  # go: all processes start together
exceptions = collections.Counter()
committed, attempts, raw_locked = [], 0, 0
while len(committed) < target and attempts < 100 * target:
    try:
        number = backend.latest("t") + 1
        attempts += 1
        backend.append([row(number, author=tag)])
        committed.append(number)
    except Exception as exc:
        exceptions[type(exc).__name__] += 1
        raw_locked += isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
backend.close()
print(json.dumps({"tag": tag, "attempts": attempts, "committed": committed,
                  "exceptions": exceptions, "raw_locked": raw_locked}))
"""


def race(path: Path, per_process: int, *, broken: bool = False) -> dict[str, Any]:
    """Run 4 writer processes on ``path``; return the checker's figures."""
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
        "durability": "full",
        "seconds": round(seconds, 1),
    }


class TestProcesses:
    @pytest.mark.slow
    def test_four_processes_race_on_one_timeline(self, tmp_path: Path) -> None:
        """4 processes x 2,000 appends to one timeline, retrying on conflicts:
        commits + conflicts = attempts, numbers 0..N-1 each stored once by the
        process that was told it committed it, parents chained, no other
        exception, integrity_check ok."""
        per_process = scaled(2_000)
        figures = race(tmp_path / "shared.db", per_process)
        record("C5", **figures)
        assert figures["commits"] + figures["conflicts"] == figures["attempts"]
        assert figures["commits"] == 4 * per_process
        assert figures["conflicts"] > 0  # proof that the processes did race
        assert figures["other_exceptions"] == {}
        assert figures["raw_database_is_locked"] == 0
        assert figures["duplicates"] == 0
        assert figures["gaps"] == 0
        assert figures["silent_overwrites"] == 0
        assert figures["broken_parent_links"] == 0
        assert figures["rebuild_mismatches"] == 0
        assert figures["integrity_check"] == "ok"

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
