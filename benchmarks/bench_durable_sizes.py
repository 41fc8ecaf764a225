"""Issue 11: durable writes at three state sizes, checkpoints included.

A durable ``Store.set`` (SQLite, ``durability="full"``) of one leaf on a state of
13 leaves, 10,000 and 1,000,000 entries (100,000 with ``--quick``), against the
true floor: raw sqlite3 inserting a row of the same size (the same columns, a
payload as long as ours on average) and committing, WAL, ``synchronous=FULL``,
on the same disk. Every write is timed on its own, so the mean and the p99 and
the worst include the writes that checkpoint (every 64th: since issue 11 they
write the value commitment's nodes changed since the last one, ``_nodes``).
Rounds alternate, ours then theirs, each a run of 64 writes with random keys.

The same on PostgreSQL (``synchronous_commit`` on, loopback) against its true
floor: a raw psycopg INSERT of a row of the same size in autocommit mode, one
round trip (``STATETRAIL_POSTGRES_URL`` names the server; skipped when none).

Also per size (SQLite): a cold ``value_at`` of a revision that checkpointed followed by
one leaf read (a new repository on the file, so nothing is cached), and a full
``thaw`` of that value, reported apart.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import statetrail
from _harness import Figure, spread
from statetrail.storage._sqlite_schema import INSERT, MIGRATIONS, params
from statetrail.storage.base import Row

ISSUE = 11
_RUN = 64  # writes per round and side: one checkpoint per round of ours
_SMALL = {
    "counts": {f"bin{i}": 0 for i in range(10)},
    "sorted": 0,
    "owner": "bench",
    "open": True,
}


def _state(entries: int) -> dict[str, Any]:
    if entries <= 13:
        return _SMALL
    return {"counts": {f"bin{i}": 0 for i in range(entries)}}


def _raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for step in MIGRATIONS:
        step(conn)
    return conn


def _peer_rows(template: Row, total: int) -> list[Any]:
    """Rows like ``template`` (our typical row), numbered from 1."""
    return [
        params(
            template._replace(
                number=n,
                parent=n - 1,
                digest=f"{n:064x}",
                chain=f"{n * 7:064x}",
            )
        )
        for n in range(1, total + 1)
    ]


def _percentile(times: list[float], p: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def measure(entries: int, rounds: int, scratch: Path) -> dict[str, float]:
    """Per-write times of ours and the peer's, and the cold read figures."""
    state = _state(entries)
    names = list(state["counts"])
    keys = spread(names, rounds * _RUN + 200, seed=entries)
    paths = [f"counts.{k}" for k in keys]
    values = count(1)
    ours: list[float] = []
    theirs: list[float] = []
    cpu: list[float] = []  # ours, CPU seconds per write (the machine is shared)
    path = scratch / f"ours{entries}.db"
    with statetrail.open(path, durability="full") as repo:
        store = repo.store("bench", state)
        for p in paths[:130]:  # warm: the first writes, two checkpoints
            store.set(p, next(values))
        row = repo.backend.row("bench", 100)
        assert row is not None
        raw = _raw(scratch / f"raw{entries}.db")
        peer = iter(_peer_rows(row, rounds * _RUN))
        todo = iter(paths[130:])
        clock = time.perf_counter
        for _ in range(rounds):
            for _ in range(_RUN):
                p, v = next(todo), next(values)
                started, busy = clock(), time.process_time()
                store.set(p, v)
                ours.append(clock() - started)
                cpu.append(time.process_time() - busy)
            for _ in range(_RUN):
                args = next(peer)
                started = clock()
                raw.execute("BEGIN")
                raw.execute(INSERT, args)
                raw.execute("COMMIT")
                theirs.append(clock() - started)
        raw.close()
        last = repo.backend.checkpoints("bench")[-1]
    cold, thaw = _cold(path, last, keys[0])
    return {
        "ours_mean": statistics.fmean(ours),
        "ours_p99": _percentile(ours, 0.99),
        "ours_max": max(ours),
        "ours_cpu_mean": statistics.fmean(cpu),
        "ours_cpu_max": max(cpu),
        "theirs_mean": statistics.fmean(theirs),
        "theirs_p99": _percentile(theirs, 0.99),
        "cold_value_at_and_leaf_s": cold,
        "thaw_s": thaw,
    }


_URL = os.environ.get(
    "STATETRAIL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def measure_postgres(entries: int, rounds: int) -> dict[str, float] | None:
    """Per-write times on PostgreSQL and of a raw autocommit INSERT."""
    try:
        import psycopg
        from psycopg import sql

        from statetrail.storage.postgres import PostgresBackend
    except ImportError:
        return None
    try:
        admin = psycopg.connect(_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None  # no server: skipped
    schema = f"st_bench_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(schema)
    state = _state(entries)
    keys = spread(list(state["counts"]), rounds * _RUN + 200, seed=entries)
    paths = [f"counts.{k}" for k in keys]
    values = count(1)
    ours: list[float] = []
    theirs: list[float] = []
    try:
        backend = PostgresBackend(_URL, schema=schema, synchronous_commit=True)
        with statetrail.Repository(backend) as repo:
            store = repo.store("bench", state)
            for p in paths[:130]:
                store.set(p, next(values))
            row = backend.row("bench", 100)
            assert row is not None
            admin.execute(
                sql.SQL("CREATE TABLE {}.raw (LIKE {}.revisions INCLUDING ALL)").format(
                    ident, ident
                )
            )
            insert = sql.SQL(
                "INSERT INTO {}.raw (timeline, number, parent, branch, time_ns,"
                " kind, target, label, author, comment, extra, origin, payload,"
                " paths, digest, chain, erased) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(ident)
            with psycopg.connect(_URL, autocommit=True) as raw:
                raw.execute("SET synchronous_commit = on")
                todo = iter(paths[130:])
                clock = time.perf_counter
                n = count(1)
                for _ in range(rounds):
                    for _ in range(_RUN):
                        p, v = next(todo), next(values)
                        started = clock()
                        store.set(p, v)
                        ours.append(clock() - started)
                    for _ in range(_RUN):
                        r = row._replace(number=next(n))
                        args = (
                            r.timeline, r.number, r.parent, r.branch, r.time_ns,
                            r.kind, r.target, r.label, r.author, r.comment, r.extra,
                            r.origin, r.payload, [x.encode() for x in r.paths],
                            r.digest, r.chain, r.erased,
                        )  # fmt: skip
                        started = clock()
                        raw.execute(insert, args)
                        theirs.append(clock() - started)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
        admin.close()
    return {
        "ours_mean": statistics.fmean(ours),
        "ours_p99": _percentile(ours, 0.99),
        "ours_max": max(ours),
        "theirs_mean": statistics.fmean(theirs),
        "theirs_p99": _percentile(theirs, 0.99),
    }


def _cold(path: Path, number: int, key: str) -> tuple[float, float]:
    """A cold value_at of ``number`` plus one leaf read; a full thaw of it."""
    with statetrail.open(path) as repo:
        started = time.perf_counter()
        value = repo.value_at("bench", number)
        value["counts"][key]
        cold = time.perf_counter() - started
        started = time.perf_counter()
        statetrail.thaw(value)
        return cold, time.perf_counter() - started


def _figure(entries: int, m: dict[str, float]) -> Figure:
    ratio = m["theirs_mean"] / m["ours_mean"]
    return Figure(
        ISSUE,
        f'durable Store.set, durability="full", {entries:,}-entry state, '
        "checkpoints included (vs raw sqlite3 INSERT + COMMIT of a row of the "
        "same size, WAL, synchronous=FULL)",
        m["ours_mean"],
        ">= 0.8x raw sqlite3 on average, no write over 20 ms",
        ratio >= 0.8 and m["ours_max"] <= 0.020,
        f"sqlite3 {sqlite3.sqlite_version}",
        m["theirs_mean"],
        extra=m,
        paired_ratio=ratio,
    )


def run(quick: bool) -> list[Figure]:
    """Durable writes and cold reads at three sizes."""
    figures = []
    with tempfile.TemporaryDirectory() as scratch:
        for entries in (13, 10_000, 100_000 if quick else 1_000_000):
            m = measure(entries, 5 if quick else 15, Path(scratch))
            figures.append(_figure(entries, m))
            pg = measure_postgres(entries, 5 if quick else 15)
            if pg is not None:
                ratio = pg["theirs_mean"] / pg["ours_mean"]
                figures.append(
                    Figure(
                        ISSUE,
                        f"durable Store.set on PostgreSQL, {entries:,}-entry state,"
                        " checkpoints included (vs raw psycopg autocommit INSERT of"
                        " a row of the same size, one round trip)",
                        pg["ours_mean"],
                        ">= 0.8x raw psycopg on average, no write over 20 ms",
                        ratio >= 0.8 and pg["ours_max"] <= 0.020,
                        "psycopg autocommit INSERT",
                        pg["theirs_mean"],
                        extra=pg,
                        paired_ratio=ratio,
                    )
                )
    return figures


def _show(figure: Figure) -> None:
    m: Callable[[str], float] = figure.extra.__getitem__
    if "PostgreSQL" in figure.workload:
        print(
            f"{figure.workload[:52]}: ours {m('ours_mean') * 1e3:.2f} ms mean,"
            f" p99 {m('ours_p99') * 1e3:.2f}, max {m('ours_max') * 1e3:.2f};"
            f" raw {m('theirs_mean') * 1e3:.2f} ms mean,"
            f" p99 {m('theirs_p99') * 1e3:.2f}; ratio {figure.ratio:.2f}x"
        )
        return
    print(
        f"{figure.workload[:44]}: ours {m('ours_mean') * 1e3:.2f} ms mean,"
        f" p99 {m('ours_p99') * 1e3:.2f}, max {m('ours_max') * 1e3:.2f};"
        f" raw {m('theirs_mean') * 1e3:.2f} ms mean, p99 {m('theirs_p99') * 1e3:.2f};"
        f" ratio {figure.ratio:.2f}x; ours CPU {m('ours_cpu_mean') * 1e3:.2f} ms"
        f" mean, max {m('ours_cpu_max') * 1e3:.1f}; cold value_at+leaf"
        f" {m('cold_value_at_and_leaf_s') * 1e3:.1f} ms,"
        f" thaw {m('thaw_s') * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    import sys

    for each in run(quick="--quick" in sys.argv):
        _show(each)
