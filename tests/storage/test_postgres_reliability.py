"""PostgreSQL reliability (RELIABILITY.md C6 and D6), each with its teeth: the
checker must report failures against a deliberately broken variant."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from itertools import pairwise

import pytest
from psycopg import sql

from statetrail.storage.base import Row
from statetrail.storage.postgres import PostgresBackend
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import row
from tests.storage.pg import LossyProxy, PgSchema, admin, pg, process_context, terminate
from tests.storage.pg_load import (
    Report,
    WriterLog,
    batch_size,
    check,
    every_row,
    repeat,
    write,
    write_in_a_process,
)

__all__ = ["pg"]  # the fixture, imported for the tests below


class NoIdempotentRetry(PostgresBackend):
    """Broken on purpose: a retried append that finds itself stored conflicts."""

    def _was_this_write(
        self, rows: Sequence[Row], stored: dict[int, str], attempt: int
    ) -> bool:
        return False


class TestCheckerHasTeeth:
    def test_it_reports_each_kind_of_failure(self) -> None:
        """Hand-made broken histories: a lost acked write, a duplicate, a half
        batch, a gap and a reused number are each reported."""
        log = WriterLog("w", "t", solo=True, attempts=3, commits=3, acked=[0, 1, 2])

        def stored(*writes: tuple[int, str]) -> list[Row]:
            return [row(n, author="w", comment=c, digest=f"{n}{c}") for n, c in writes]

        good = stored((0, "0/0"), (1, "0/1"), (2, "1/0"), (3, "2/0"))
        assert check(good, [log]).failures() == {}
        assert check(good[:3], [log]).failures() == {"acked_lost": 1}
        assert check(good[1:], [log]).failures()["half_written"] == 1
        dup = [*good, row(4, author="w", comment="2/0")]
        assert check(dup, [log]).failures() == {"duplicates": 1}
        gap = [*good[:3], row(5, author="w", comment="2/0")]
        assert check(gap, [log]).failures() == {"gaps": 2}
        assert check([*good, good[3]], [log]).failures() == {
            "overwrites": 1,
            "duplicates": 1,
        }
        conflicted = WriterLog("w", "t", True, 4, 3, 1, acked=[0, 1, 2])
        assert check(good, [conflicted]).failures() == {"spurious_conflicts": 1}


def tail_everything(
    backend: PostgresBackend, stop: threading.Event, seen: list[tuple[str, int]]
) -> None:
    """Poll the tail 50 times a second until ``stop`` is set and it has given
    every row stored by then (or two minutes have passed).

    Not merely until it is empty: the tail holds back rows while any older
    transaction on the server is open (see ``PostgresBackend.tail``), and on a
    server other tests use at the same time one may be, so an empty answer
    does not yet mean the tail has caught up.
    """
    cursor = (0, 0)
    stored: int | None = None
    give_up = 0.0
    while True:
        if stored is None and stop.is_set():
            stored, give_up = len(every_row(backend)), time.monotonic() + 120
        rows, cursor = backend.tail(cursor)
        seen += [(r.timeline, r.number) for r in rows]
        late = time.monotonic() > give_up
        done = stored is not None and (len(seen) >= stored or late)
        if done and not rows:
            return
        time.sleep(0.02)


def batch(timeline: str, size: int) -> list[Row]:
    return [row(n, timeline=timeline, digest=f"{timeline}{n}") for n in range(size)]


class TestC6ManyProcesses:
    def test_processes_contend_and_the_tail_misses_nothing(self, pg: PgSchema) -> None:
        """8 processes x 1,000 appends (250 in make test) to one timeline (read
        latest, append after it, catch up on conflict) while 8 more append 250
        (100) each to their own, and 2 threads
        store a 1,000-row batch each. Commits + conflicts = attempts; no gaps,
        reused numbers or duplicates; no conflict for a writer alone; the tail
        sees every row once, each timeline in number order, each batch whole."""
        per, solo_per = scaled(1000, ci=250), scaled(250, ci=100)
        ctx = process_context()
        start = ctx.Barrier(17)
        results = ctx.Queue()
        writers = [("shared", f"shared-{i}", per, False) for i in range(8)]
        writers += [(f"solo-{i}", f"solo-{i}", solo_per, True) for i in range(8)]
        processes = [
            ctx.Process(
                target=write_in_a_process,
                args=(pg.url, pg.name, t, w, count, solo, start, results),
            )
            for t, w, count, solo in writers
        ]
        for p in processes:
            p.start()
        backend = pg.backend(max_size=3)
        seen: list[tuple[str, int]] = []
        stop = threading.Event()
        follower = threading.Thread(target=tail_everything, args=(backend, stop, seen))
        batchers = [
            threading.Thread(target=backend.append, args=(batch(t, scaled(1000)),))
            for t in ("batch-a", "batch-b")
        ]
        with closing(backend):
            follower.start()
            start.wait(timeout=60)
            began = time.perf_counter()
            for t in batchers:
                t.start()
            logs: list[WriterLog] = [results.get(timeout=300) for _ in processes]
            elapsed = time.perf_counter() - began
            for t in batchers:
                t.join()
            for p in processes:
                p.join(30)
            stop.set()
            follower.join()
            stored = every_row(backend)
        report = check([r for r in stored if r.author], logs)
        keys = [(r.timeline, r.number) for r in stored]
        missed = len(set(keys) - set(seen))
        tail_duplicates = len(seen) - len(set(seen))
        out_of_order = 0
        last: dict[str, int] = {}
        for timeline, number in seen:
            out_of_order += number <= last.get(timeline, -1)
            last[timeline] = number
        positions = [i for i, (t, _) in enumerate(seen) if t.startswith("batch-")]
        # One switch from the first batch to the second is expected.
        interleaved = sum(seen[i][0] != seen[j][0] for i, j in pairwise(positions)) - 1
        commits = sum(log.commits for log in logs)
        conflicts = sum(log.conflicts for log in logs)
        attempts = sum(log.attempts for log in logs)
        record(
            "C6",
            processes=16,
            writes_per_process={"shared timeline": per, "own timeline": solo_per},
            attempts=attempts,
            commits=commits,
            conflicts=conflicts,
            commits_plus_conflicts_equal_attempts=commits + conflicts == attempts,
            storage_errors=sum(log.errors for log in logs),
            rows=len(stored),
            gaps=report.gaps,
            silent_overwrites=report.overwrites,
            duplicates=report.duplicates,
            acked_lost=report.acked_lost,
            spurious_conflicts=report.spurious_conflicts,
            tail_missed=missed,
            tail_duplicates=tail_duplicates,
            tail_out_of_number_order=out_of_order,
            batches=f"2 x {scaled(1000)}",
            interleaved_batches=interleaved,
            seconds=round(elapsed, 2),
            slowest_writer_seconds={
                "shared timeline": round(max(g.seconds for g in logs if not g.solo), 2),
                "own timeline": round(max(g.seconds for g in logs if g.solo), 2),
            },
            commits_per_second=round(commits / elapsed),
            load_average=round(os.getloadavg()[0], 2),
        )
        assert all(p.exitcode == 0 for p in processes)
        assert report.failures() == {}
        assert commits + conflicts == attempts
        assert commits == 8 * per + 8 * solo_per
        assert Counter(t for t, _ in keys)["shared"] == 8 * sum(
            batch_size(k) for k in range(per)
        )
        assert (missed, tail_duplicates, out_of_order, interleaved) == (0, 0, 0, 0)

    def test_teeth_without_the_primary_key_numbers_are_reused(
        self, pg: PgSchema
    ) -> None:
        """Teeth: with the primary key dropped, racing writers store the same
        number twice and the checker says so."""
        with closing(pg.backend()) as backend:
            with closing(admin()) as conn:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT revisions_pkey").format(
                        sql.Identifier(pg.name, "revisions")
                    )
                )
            logs: list[WriterLog] = []

            def writer(i: int) -> None:
                with closing(pg.backend(max_size=1)) as own:
                    logs.append(write(own, "shared", f"w{i}", 150, solo=False))

            threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            report = check(every_row(backend), logs)
        record("C6-teeth", broken="no primary key", **report.failures())
        assert report.overwrites > 0


def run_faults(
    pg: PgSchema,
    backend_class: type[PostgresBackend],
    per_writer: int,
    cut_probability: float,
) -> tuple[Report, dict[str, object]]:
    """D6: five writers (three alone on a timeline, two sharing one) append
    through a proxy that loses replies, while every one of their sessions is
    terminated each 250 ms."""
    app = f"st-d6-{uuid.uuid4().hex[:8]}"
    proxy = LossyProxy(cut_probability=cut_probability, seed=6)
    url = pg.url_for(app, port=proxy.port)
    plan = [("solo-0", True), ("solo-1", True), ("solo-2", True)]
    plan += [("shared", False), ("shared", False)]
    logs: queue.SimpleQueue[WriterLog] = queue.SimpleQueue()
    settings: list[object] = []

    # Opened before the storm starts: what is measured is the appends.
    backends = [
        backend_class(url, schema=pg.name, max_size=2, retries=10) for _ in plan
    ]

    def writer(i: int, timeline: str, solo: bool) -> None:
        backend = backends[i]
        with closing(backend):
            show = "SHOW synchronous_commit"
            settings.append(backend._run(show, lambda c, _: c.execute(show).fetchone()))
            logs.put(write(backend, timeline, f"w{i}", per_writer, solo=solo))

    stop = threading.Event()
    storm_counts: Counter[str] = Counter()

    def storm_once() -> None:
        storm_counts["sessions"] += terminate(conn, app)

    def storm_loop() -> None:
        storm_counts["rounds"] = repeat(0.25, storm_once, stop)

    with closing(admin()) as conn:
        storm = threading.Thread(target=storm_loop)
        threads = [
            threading.Thread(target=writer, args=(i, t, solo))
            for i, (t, solo) in enumerate(plan)
        ]
        began = time.perf_counter()
        storm.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.perf_counter() - began
        stop.set()
        storm.join()
    proxy.close()
    stuck = sum(t.is_alive() for t in threads)
    with closing(pg.backend()) as backend:
        rows = every_row(backend)
    written = [logs.get() for _ in range(logs.qsize())]
    report = check(rows, written)
    figures: dict[str, object] = {
        "writers": len(plan),
        "logical_writes": per_writer * len(plan),
        "rows": len(rows),
        "termination_rounds": storm_counts["rounds"],
        "sessions_terminated": storm_counts["sessions"],
        "replies_cut": proxy.cuts,
        "writer_storage_errors": sum(log.errors for log in written),
        "writer_errors_resolved": sum(log.resolved for log in written),
        "writers_never_finished": stuck + len(plan) - len(written),
        "synchronous_commit": sorted({str(s) for s in settings}),
        "seconds": round(elapsed, 2),
    }
    return report, figures


class TestD6Faults:
    def test_writers_survive_terminations_and_lost_replies(
        self, pg: PgSchema, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Acked writes lost, duplicates, half-written batches, gaps and reused
        numbers: 0. Lost replies are resolved by the digest rule, and every
        writer reconnects and finishes."""
        with caplog.at_level(logging.INFO, "statetrail.storage.postgres"):
            report, figures = run_faults(
                pg, PostgresBackend, scaled(400), cut_probability=0.02
            )
        messages = [r.getMessage() for r in caplog.records]
        resolved = sum("commit reply was lost" in m for m in messages)
        retried = sum("connection lost" in m for m in messages)
        record(
            "D6",
            **figures,
            backend_retries=retried,
            info_appends_resolved_by_digest=resolved,
            acked_lost=report.acked_lost,
            duplicates=report.duplicates,
            half_written=report.half_written,
            gaps=report.gaps,
            silent_overwrites=report.overwrites,
            spurious_conflicts=report.spurious_conflicts,
        )
        assert report.failures() == {}
        assert figures["writers_never_finished"] == 0
        assert figures["synchronous_commit"] == ["('on',)"]
        assert figures["sessions_terminated"] > 0  # proof the faults happened
        assert resolved > 0

    def test_teeth_without_the_idempotent_retry_writes_are_duplicated(
        self, pg: PgSchema
    ) -> None:
        """Teeth: a backend that reports a retried, already committed append as a
        conflict makes writers store it again; the checker reports it."""
        # More writes than the real run: a cut must meet a committed append.
        report, _ = run_faults(pg, NoIdempotentRetry, scaled(150), cut_probability=0.05)
        record("D6-teeth", broken="no idempotent retry", **report.failures())
        assert report.duplicates > 0
        assert report.spurious_conflicts > 0
