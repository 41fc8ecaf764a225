"""Issue 11, retention reaches storage: trim throughput, writer stalls, file size.

- Trim throughput: a 50,000-revision SQLite timeline (a 1,000-entry store, one
  random key set per revision, ``durability="full"``) trimmed offline to its
  newest 1,000 with ``repo.trim()``: revisions removed per second, reclaim
  (``incremental_vacuum``) included. The same on PostgreSQL (20,000).
- Writer stall: while that trim runs, another thread keeps writing durably to
  another timeline of the same file; the longest single write during the trim
  against the longest in as many writes without a trim beside them (on a
  shared 2-core machine a plain durable write alone may take hundreds of ms,
  so the target is relative).
- Retention as writes happen: ``Retention(keep_last=1,000)`` on a stored store,
  20,000 writes; the longest write (one in 256 carries a trim) and the p99, and
  the file's size (with its WAL) sampled every 1,000 writes.

No peer library trims a stored history: the targets are our own (a writer waits
for one batch of a trim, never for the whole trim).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import statetrail
from _harness import Figure, spread

ISSUE = 11
_KEYS = [f"k{i}" for i in range(1_000)]


def _history(repo: statetrail.Repository, name: str, revisions: int) -> None:
    store = repo.store(name, dict.fromkeys(_KEYS, 0))
    for n, key in enumerate(spread(_KEYS, revisions - 1), 1):
        store.set(key, n)


def _size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _writes_beside(repo: statetrail.Repository, stop: threading.Event) -> list[float]:
    """Durable writes to timeline "w" until ``stop``; each one's seconds."""
    store = repo.store("w", {"n": 0})
    times: list[float] = []
    n = 0
    while not stop.is_set():
        n += 1
        start = time.perf_counter()
        store.set("n", n)
        times.append(time.perf_counter() - start)
    return times


def _trim_with_writer(
    repo: statetrail.Repository, keep: int
) -> tuple[float, int, list[float]]:
    """Trim "t" to ``keep`` while a thread writes "w": seconds, removed, writes."""
    stop = threading.Event()
    times: list[float] = []
    writer = threading.Thread(target=lambda: times.extend(_writes_beside(repo, stop)))
    writer.start()
    time.sleep(0.2)
    skip = len(times)
    start = time.perf_counter()
    trim = repo.trim("t", keep_last=keep, reclaim=True)
    took = time.perf_counter() - start
    stop.set()
    writer.join()
    return took, 0 if trim is None else trim.count, times[skip:]


def _alone(repo: statetrail.Repository, seconds: float) -> list[float]:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    times = _writes_beside(repo, stop)
    timer.cancel()
    return times


def run(quick: bool) -> list[Figure]:
    """The figures (see the module)."""
    revisions = 5_000 if quick else 50_000
    keep = 1_000
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trim.db"
        with statetrail.open(path) as repo:
            _history(repo, "t", revisions)
            repo._open.clear()  # trimmed offline, as `statetrail trim` does
            before = _size(path)
            took, removed, during = _trim_with_writer(repo, keep)
            after = _size(path)
            alone = _alone(repo, max(took, 1.0))
        figures.append(
            Figure(
                ISSUE,
                f"trim {removed:,} of {revisions:,} SQLite revisions (and reclaim)",
                removed / took,
                ">= 10,000 revisions/s",
                removed / took >= 10_000,
                unit="rev/s",
                extra={"seconds": took, "size_before": before, "size_after": after},
            )
        )
        figures.append(
            Figure(
                ISSUE,
                "SQLite: longest durable write of another timeline during that trim",
                max(during) * 1e3,
                "<= 50 ms more than the longest of as many writes without a trim",
                max(during) <= max(alone) + 0.05,
                unit="ms",
                extra={
                    "writes_during": len(during),
                    "median_during_ms": statistics.median(during) * 1e3,
                    "longest_alone_ms": max(alone) * 1e3,
                    "median_alone_ms": statistics.median(alone) * 1e3,
                },
            )
        )
        writes = 4_000 if quick else 20_000
        figures.append(_retention(Path(tmp) / "retained.db", writes, max(alone)))
    figures += _postgres(2_000 if quick else 20_000, keep)
    return figures


def _retention(path: Path, writes: int, plain: float) -> Figure:
    sizes: list[int] = []
    times: list[float] = []
    with statetrail.open(path) as repo:
        var = repo.watch("r", 0, retention=statetrail.Retention(keep_last=1_000))
        for n in range(1, writes):
            start = time.perf_counter()
            var.set(n)
            times.append(time.perf_counter() - start)
            if n % 1_000 == 0:
                sizes.append(_size(path))
    times.sort()
    return Figure(
        ISSUE,
        f"Retention(keep_last=1,000), {writes:,} durable SQLite writes: longest write",
        times[-1] * 1e3,
        "<= 50 ms more than the longest plain durable write measured before",
        times[-1] <= plain + 0.05,
        unit="ms",
        extra={
            "longest_plain_write_ms": plain * 1e3,
            "p50_ms": times[len(times) // 2] * 1e3,
            "p99_ms": times[int(len(times) * 0.99)] * 1e3,
            "sizes_every_1000_writes": sizes,
        },
    )


def _postgres(revisions: int, keep: int) -> list[Figure]:
    import uuid

    try:
        import psycopg
    except ImportError:  # pragma: no cover - the extra is missing
        return []
    url = os.environ.get(
        "STATETRAIL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    schema = f"bench_trim_{uuid.uuid4().hex[:8]}"
    try:
        with statetrail.open(url, schema=schema) as repo:
            _history(repo, "t", revisions)
            repo._open.clear()
            took, removed, during = _trim_with_writer(repo, keep)
            alone = _alone(repo, max(took, 1.0))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    extra: dict[str, Any] = {
        "seconds": took,
        "median_write_during_ms": statistics.median(during) * 1e3,
        "longest_write_alone_ms": max(alone) * 1e3,
        "median_write_alone_ms": statistics.median(alone) * 1e3,
    }
    return [
        Figure(
            ISSUE,
            f"trim {removed:,} of {revisions:,} PostgreSQL revisions (VACUUM included)",
            removed / took,
            ">= 5,000 revisions/s",
            removed / took >= 5_000,
            unit="rev/s",
            extra=extra,
        ),
        Figure(
            ISSUE,
            "PostgreSQL: longest write of another timeline during that trim",
            max(during) * 1e3,
            "<= 50 ms more than the longest of as many writes without a trim",
            max(during) <= max(alone) + 0.05,
            unit="ms",
            extra=extra,
        ),
    ]
