"""Writers and a checker for the PostgreSQL reliability tests (C6, D6).

Each writer makes logical writes ``(writer, k)``: a batch of one row, or two when
``k % 3 == 0``. A row's author is its writer and its comment ``"k/i"``, so the
checker can tell every logical write apart from the stored rows alone. A writer
reads the latest number and appends after it, and on ConflictError catches up and
tries again after a jittered, exponential pause (up to 64 ms), as the engine
would; a writer alone on its timeline should never see a conflict.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from statetrail.errors import ConflictError, StorageError
from statetrail.storage.base import Row
from statetrail.storage.postgres import PostgresBackend


def batch_size(k: int) -> int:
    """Rows in logical write ``k``."""
    return 2 if k % 3 == 0 else 1


def make_row(timeline: str, number: int, writer: str, k: int, i: int) -> Row:
    """Row ``i`` of logical write ``(writer, k)``, stored as revision ``number``."""
    now = time.time_ns()
    digest = hashlib.sha256(f"{writer}:{k}:{i}:{number}:{now}".encode()).hexdigest()
    return Row(
        timeline=timeline,
        number=number,
        parent=number - 1 if number else None,
        branch="main",
        time_ns=now,
        kind="set",
        target=None,
        label=None,
        author=writer,
        comment=f"{k}/{i}",
        extra=None,
        origin=None,
        payload=f'{{"writer": "{writer}", "k": {k}, "i": {i}}}',
        paths=("/value",),
        digest=digest,
        chain=digest,
    )


@dataclass
class WriterLog:
    """What one writer did: the Jepsen-style outcomes of its attempts."""

    writer: str
    timeline: str
    solo: bool
    attempts: int = 0
    commits: int = 0
    conflicts: int = 0
    errors: int = 0  # StorageError after the backend's own retries: "info"
    resolved: int = 0  # of those, found stored when the writer looked
    acked: list[int] = field(default_factory=list)
    seconds: float = 0.0


def write(
    backend: PostgresBackend, timeline: str, writer: str, count: int, *, solo: bool
) -> WriterLog:
    """Make ``count`` logical writes to ``timeline``; return the log."""
    log = WriterLog(writer, timeline, solo)
    start = time.perf_counter()
    k = streak = 0
    while k < count:
        log.attempts += 1
        latest = -2
        try:
            latest = backend.latest(timeline)
            backend.append(
                [
                    make_row(timeline, latest + 1 + i, writer, k, i)
                    for i in range(batch_size(k))
                ]
            )
        except ConflictError:
            log.conflicts += 1
            streak += 1
            # Jittered exponential backoff: racing again at once mostly loses again.
            time.sleep(random.uniform(0, 0.0005 * 2 ** min(streak, 7)))
            continue
        except StorageError:
            # The outcome is unknown: look before writing again, or risk a copy.
            log.errors += 1
            if latest > -2 and _stored(backend, timeline, writer, k, latest):
                log.resolved += 1
                k += 1
            continue
        log.commits += 1
        log.acked.append(k)
        k += 1
        streak = 0
    log.seconds = time.perf_counter() - start
    return log


def _stored(
    backend: PostgresBackend, timeline: str, writer: str, k: int, after: int
) -> bool:
    while True:
        try:
            rows = backend.read(timeline, after=after)
        except StorageError:
            time.sleep(0.1)
            continue
        return any(r.author == writer and r.comment == f"{k}/0" for r in rows)


def write_in_a_process(
    url: str,
    schema: str,
    timeline: str,
    writer: str,
    count: int,
    solo: bool,
    start: Any,
    results: Any,
) -> None:
    """:func:`write` in a child process: wait for ``start``, put the log on
    ``results`` (for spawn)."""
    with closing(PostgresBackend(url, schema=schema, max_size=1)) as backend:
        backend.latest(timeline)  # connected before the start
        start.wait()
        results.put(write(backend, timeline, writer, count, solo=solo))


@dataclass
class Report:
    """What the checker found; every figure but ``rows`` should be 0."""

    rows: int = 0
    gaps: int = 0  # numbers missing in a timeline
    overwrites: int = 0  # numbers stored more than once in a timeline
    duplicates: int = 0  # logical rows stored more than once
    acked_lost: int = 0  # acknowledged logical writes not stored
    half_written: int = 0  # logical writes with some of their rows only
    spurious_conflicts: int = 0  # conflicts seen by a writer alone on its timeline
    unaccounted: int = 0  # attempts that were neither commit, conflict nor error

    def failures(self) -> dict[str, int]:
        """The figures that are not 0 (``rows`` aside)."""
        return {k: v for k, v in vars(self).items() if k != "rows" and v}


def check(rows: Iterable[Row], logs: Iterable[WriterLog]) -> Report:
    """Compare what is stored with what the writers were told."""
    rows = list(rows)
    logs = list(logs)
    report = Report(rows=len(rows))
    by_timeline: dict[str, list[int]] = {}
    for r in rows:
        by_timeline.setdefault(r.timeline, []).append(r.number)
    for numbers in by_timeline.values():
        counts = Counter(numbers)
        report.overwrites += sum(c - 1 for c in counts.values())
        report.gaps += max(numbers) + 1 - len(counts)
    logical = Counter((r.author, r.comment) for r in rows)
    report.duplicates = sum(c - 1 for c in logical.values())
    for log in logs:
        for k in log.acked:
            if (log.writer, f"{k}/0") not in logical:
                report.acked_lost += 1
        if log.solo:
            report.spurious_conflicts += log.conflicts
        report.unaccounted += log.attempts - log.commits - log.conflicts - log.errors
    writes = {(author, comment.split("/")[0]) for author, comment in logical if comment}
    for author, k in writes:
        present = sum(
            (author, f"{k}/{i}") in logical for i in range(batch_size(int(k)))
        )
        report.half_written += present != batch_size(int(k))
    return report


def every_row(backend: PostgresBackend) -> list[Row]:
    """Every stored row of every timeline."""
    return [r for t in backend.timelines() for r in backend.read(t)]


def repeat(every: float, action: Callable[[], object], stop: Any) -> int:
    """Call ``action`` every ``every`` seconds until ``stop`` is set; how often."""
    calls = 0
    while not stop.wait(every):
        action()
        calls += 1
    return calls
