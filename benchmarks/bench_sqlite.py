"""Issue 5: the SQLite backend against raw sqlite3 on the same disk.

- Durable appends: one row per transaction, ``durability="full"``, against plain
  sqlite3 doing the same INSERT into the same schema and a COMMIT per write, WAL
  and ``synchronous=FULL``, in the same temporary directory, rounds paired.
- Batched appends: rows per second, the final flush() included.
- Reading a 64-row range from a 10,000-row timeline (raw sqlite3's fetchall of
  the same rows, without building Row objects, is shown beside it).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path

from _harness import Figure, interleaved, paired
from statetrail.storage._sqlite_schema import INSERT, MIGRATIONS_3, RANGE, params
from statetrail.storage.base import Row
from statetrail.storage.sqlite import SQLiteBackend

ISSUE = 5
_files = count()


def _row(n: int, timeline: str = "bench") -> Row:
    """A revision row of typical size: a small patch, origin, one path."""
    return Row(
        timeline=timeline,
        number=n,
        parent=n - 1 if n else None,
        branch="main",
        time_ns=1_700_000_000_000_000_000 + n,
        kind="set",
        target=None,
        label=None,
        author="bench",
        comment=None,
        extra=None,
        origin='["app.py", 42, "handler", "MainThread", null]',
        payload=f'[{{"op": "replace", "path": "/jobs/{n % 97}/status", '
        f'"value": "s{n}"}}]',
        paths=(f"/jobs/{n % 97}/status",),
        digest=f"{n:064x}",
        chain=f"{n * 7:064x}",
    )


def _raw(path: Path) -> sqlite3.Connection:
    """Plain sqlite3 with the same table: WAL, synchronous=FULL.

    The table as it was before the path and time indexes (schema 3): the floor
    is storing the row alone, so what the indexes cost shows in the ratio.
    """
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for step in MIGRATIONS_3:
        step(conn)
    conn.commit()
    return conn


def durable_appends(directory: Path, quick: bool) -> Figure:
    number = 50 if quick else 200
    rows = [_row(n) for n in range(number * 40)]
    opened: list[SQLiteBackend | sqlite3.Connection] = []

    def fresh() -> tuple[Callable[[], object], Callable[[], object]]:
        for resource in opened:
            resource.close()
        opened.clear()
        ours = SQLiteBackend(directory / f"ours{next(_files)}.db")
        theirs = _raw(directory / f"raw{next(_files)}.db")
        opened.extend([ours, theirs])
        mine, peer = iter(rows), iter([params(r) for r in rows])

        def append() -> None:
            ours.append([next(mine)])

        def insert() -> None:
            theirs.execute(INSERT, next(peer))
            theirs.commit()

        return append, insert

    t_ours, t_theirs, ratio = paired(fresh, number=number, rounds=9 if quick else 21)
    for resource in opened:
        resource.close()
    return Figure(
        ISSUE,
        'durable appends, one row per transaction, durability="full" (vs raw '
        "sqlite3 INSERT + COMMIT, WAL, synchronous=FULL, same schema and disk)",
        1 / t_ours,
        ">= 0.8x raw sqlite3",
        ratio >= 0.8,
        f"sqlite3 {sqlite3.sqlite_version}",
        1 / t_theirs,
        unit="writes/s",
        paired_ratio=ratio,
    )


def batched_appends(directory: Path, quick: bool) -> Figure:
    number = 5_000 if quick else 20_000
    rows = [_row(n) for n in range(number)]
    rates = []
    for _ in range(3 if quick else 5):
        backend = SQLiteBackend(
            directory / f"batched{next(_files)}.db", durability="batched"
        )
        start = time.perf_counter()
        for r in rows:
            backend.append([r])
        backend.flush()
        rates.append(number / (time.perf_counter() - start))
        backend.close()
    rate = statistics.median(rates)
    return Figure(
        ISSUE,
        f'batched appends (durability="batched"), {number:,} rows, final flush '
        "included",
        rate,
        ">= 20,000 writes/s",
        rate >= 20_000,
        unit="writes/s",
    )


def range_read(directory: Path, quick: bool) -> Figure:
    path = directory / f"read{next(_files)}.db"
    backend = SQLiteBackend(path)
    backend.append([_row(n) for n in range(10_000)])
    raw = sqlite3.connect(path)
    rng = random.Random(5)
    tops = [rng.randrange(63, 10_000) for _ in range(1_000)]
    mine, peer = iter(tops * 100), iter(tops * 100)
    ours, theirs = interleaved(
        lambda: backend.read("bench", after=(n := next(mine)) - 64, upto=n),
        lambda: raw.execute(RANGE, ("bench", (n := next(peer)) - 64, n)).fetchall(),
        number=200 if quick else 1_000,
        rounds=5 if quick else 9,
    )
    assert len(backend.read("bench", after=9_935, upto=9_999)) == 64
    backend.close()
    raw.close()
    return Figure(
        ISSUE,
        "read rows [n-63, n] of a 10,000-row timeline as Row objects (theirs: "
        "raw sqlite3 fetchall of the same rows as tuples)",
        ours,
        "reported",
        True,
        f"sqlite3 {sqlite3.sqlite_version}, tuples",
        theirs,
    )


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as name:
        directory = Path(name)
        return [
            durable_appends(directory, quick),
            batched_appends(directory, quick),
            range_read(directory, quick),
        ]
