"""Durable writes end to end, and reading any revision back (issue 5).

Each write is one ``Store.set`` of a single leaf (a bin drawn at random) through
``statetrail.open``, durable before it returns (SQLite in WAL mode at
``synchronous=FULL``; a PostgreSQL commit). The peers, measured in the same run
and round by round:

* raw ``sqlite3``: one ``INSERT`` of a row of the same size and a ``COMMIT``, on
  a file in WAL mode at ``synchronous=FULL`` (the floor any SQLite store pays);
* raw ``psycopg``: one ``INSERT`` and ``COMMIT`` on one connection;
* the ``eventsourcing`` library: an aggregate with one event per change, saved
  by its application into its SQLite (WAL, ``synchronous=FULL``) or PostgreSQL
  recorder.

Then: group commit (``durability="batched"``) in writes per second, and the time
to read the state at a random revision of a 10,000-revision timeline from
SQLite, both cold (``Repository.value_at``: a checkpoint and its patches) and
from the timeline once opened.
"""

from __future__ import annotations

import functools
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count, cycle
from typing import Any

import statetrail
from _harness import Figure, spread

ISSUE = 5
PG_URL = os.environ.get(
    "STATETRAIL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

#: The state every store starts with: the second seed's job, with a few bins.
STATE = {
    "job": {"bins": 10, "sorted": 0, "rejects": []},
    "machine": {"state": "RUNNING"},
    "counts": {f"bin{i}": 0 for i in range(10)},
}

_seeds = count()


def _bins(prefix: str = "") -> Iterator[str]:
    """The bins the writes set, drawn at random and made before the timing starts
    (``_harness.spread``), each with ``prefix``."""
    return cycle(
        [prefix + b for b in spread(list(STATE["counts"]), 1_000, next(_seeds))]
    )


# -- the writers: each returns a function doing one durable write ----------------


def ours(repo: statetrail.Repository, name: str) -> Callable[[], object]:
    """One Store.set of one leaf."""
    store = repo.store(name, STATE)
    values = count(1)
    paths = _bins("counts.")
    return lambda: store.set(next(paths), next(values))


#: The row a single-leaf Store.set writes, as the raw peers insert it: the same
#: columns and sizes, without the work of making them (encoding, hashing).
_ORIGIN = '["/app/bench_storage.py",59,"<lambda>","MainThread",null]'
_EXTRA = '{"op":"set","path":"counts.bin3"}'
_HASH = "c" * 64

_RAW_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS revisions (timeline TEXT NOT NULL, "
    "number INTEGER NOT NULL, parent INTEGER, branch TEXT NOT NULL, "
    "time_ns INTEGER NOT NULL, kind TEXT NOT NULL, target INTEGER, label TEXT, "
    "author TEXT, comment TEXT, extra TEXT, origin TEXT, payload TEXT, "
    "paths TEXT NOT NULL, digest TEXT NOT NULL, chain TEXT NOT NULL, erased TEXT, "
    "PRIMARY KEY (timeline, number))"
)


def _raw_row(number: int) -> tuple[Any, ...]:
    return (
        "board",
        number,
        number - 1,
        "main",
        time.time_ns(),
        "set",
        None,
        None,
        None,
        None,
        _EXTRA,
        _ORIGIN,
        _payload(number),
        '["/counts/bin3"]',
        _HASH,
        _HASH,
        None,
    )


def raw_sqlite(path: str) -> tuple[Callable[[], object], Callable[[], None]]:
    """One INSERT and COMMIT of the same row into the same table, WAL, FULL."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(_RAW_SQLITE_TABLE)
    insert = "INSERT INTO revisions VALUES (" + ", ".join("?" * 17) + ")"
    numbers = count(1)

    def write() -> None:
        conn.execute(insert, _raw_row(next(numbers)))
        conn.commit()

    return write, conn.close


def _payload(number: int) -> str:
    return json.dumps({"patch": [["=", ["counts", "bin3"], number]]})


@functools.cache
def _board() -> Any:
    """The eventsourcing aggregate (one class per process: it registers a topic)."""
    from eventsourcing.domain import Aggregate, event

    class Board(Aggregate):  # type: ignore[misc]
        @event("Created")
        def __init__(self) -> None:
            self.counts: dict[str, int] = {}

        @event("CountSet")
        def set_count(self, key: str, value: int) -> None:
            self.counts[key] = value

    return Board


def eventsourcing_app(env: dict[str, str]) -> Callable[[], object]:
    """One event saved by an eventsourcing application."""
    from eventsourcing.application import Application

    app = Application(env=env)
    board = _board()()
    app.save(board)
    values = count(1)
    bins = _bins()

    def write() -> None:
        board.set_count(next(bins), next(values))
        app.save(board)

    return write


# -- SQLite -----------------------------------------------------------------------


def sqlite_durable(scratch: str, writes: int, rounds: int) -> list[Figure]:
    """Ours vs raw sqlite3 vs eventsourcing's SQLite application."""
    serial = count()
    versus_raw: list[float] = []
    versus_es: list[float] = []
    mine: list[float] = []
    raw: list[float] = []
    es: list[float] = []
    for i in range(rounds):
        n = next(serial)
        repo = statetrail.open(os.path.join(scratch, f"ours{n}.db"))
        write_ours = ours(repo, "board")
        write_raw, close_raw = raw_sqlite(os.path.join(scratch, f"raw{n}.db"))
        write_es = eventsourcing_app(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": os.path.join(scratch, f"es{n}.db"),
            }
        )
        sides = [(mine, write_ours), (raw, write_raw), (es, write_es)]
        if i % 2:
            sides.reverse()
        times = {}
        for bucket, write in sides:
            times[id(bucket)] = _per_write(write, writes)
            bucket.append(times[id(bucket)])
        versus_raw.append(times[id(raw)] / times[id(mine)])
        versus_es.append(times[id(es)] / times[id(mine)])
        repo.close()
        close_raw()
    ours_s = statistics.median(mine)
    raw_ratio = statistics.median(versus_raw)
    es_ratio = statistics.median(versus_es)
    return [
        Figure(
            issue=ISSUE,
            workload="durable single-leaf Store.set on SQLite (synchronous=FULL)",
            ours=ours_s,
            peer="raw sqlite3 INSERT+COMMIT (WAL, FULL)",
            theirs=statistics.median(raw),
            paired_ratio=raw_ratio,
            target=">= 0.8x raw sqlite3",
            ok=raw_ratio >= 0.8,
            extra={
                "writes_per_s": 1 / ours_s,
                "raw_writes_per_s": 1 / statistics.median(raw),
            },
        ),
        Figure(
            issue=ISSUE,
            workload="durable single-leaf Store.set on SQLite (synchronous=FULL)",
            ours=ours_s,
            peer="eventsourcing 9 SQLite application (WAL, FULL)",
            theirs=statistics.median(es),
            paired_ratio=es_ratio,
            target=">= 1.2x eventsourcing",
            ok=es_ratio >= 1.2,
            extra={"eventsourcing_writes_per_s": 1 / statistics.median(es)},
        ),
    ]


def _per_write(write: Callable[[], object], writes: int) -> float:
    write()  # warm: the first write creates tables and statements
    start = time.perf_counter()
    for _ in range(writes):
        write()
    return (time.perf_counter() - start) / writes


def sqlite_batched(scratch: str, writes: int) -> Figure:
    """Group commit: writes per second, the final flush included."""
    rates = []
    for n in range(3):
        repo = statetrail.open(
            os.path.join(scratch, f"batched{n}.db"), durability="batched"
        )
        write = ours(repo, "board")
        start = time.perf_counter()
        for _ in range(writes):
            write()
        repo.flush()
        rates.append(writes / (time.perf_counter() - start))
        repo.close()
    rate = statistics.median(rates)
    return Figure(
        issue=ISSUE,
        workload=f'{writes:,} Store.set with durability="batched", flush included',
        ours=rate,
        unit="writes/s",
        target=">= 20,000 writes/s",
        ok=rate >= 20_000,
        extra={"runs": rates},
    )


def sqlite_reads(scratch: str, revisions: int, probes: int) -> list[Figure]:
    """Reading the state at random revisions of a long timeline."""
    path = os.path.join(scratch, "long.db")
    with statetrail.open(path, durability="batched") as repo:
        write = ours(repo, "board")
        for _ in range(revisions - 1):
            write()
    rng = random.Random(5)
    numbers = [rng.randrange(revisions) for _ in range(probes)]
    with statetrail.open(path) as repo:
        start = time.perf_counter()
        for n in numbers:
            repo.value_at("board", n)
        cold = (time.perf_counter() - start) / probes
        start = time.perf_counter()
        timeline = repo.timeline("board")
        opening = time.perf_counter() - start
        start = time.perf_counter()
        for n in numbers:
            timeline.value_at(n)
        warm = (time.perf_counter() - start) / probes
        assert all(
            repo.value_at("board", n) == timeline.value_at(n) for n in numbers[:20]
        )
    return [
        Figure(
            issue=ISSUE,
            workload=f"state at a random revision of a {revisions:,}-revision "
            "SQLite timeline, cold (checkpoint + patches)",
            ours=cold,
            target="<= 1 ms",
            ok=cold <= 1e-3,
        ),
        Figure(
            issue=ISSUE,
            workload=f"state at a random revision of a {revisions:,}-revision "
            "SQLite timeline, once opened",
            ours=warm,
            target="<= 1 ms",
            ok=warm <= 1e-3,
            extra={"opening_the_timeline_s": opening},
        ),
    ]


# -- PostgreSQL -------------------------------------------------------------------


@contextmanager
def pg_schema() -> Iterator[str | None]:
    """A scratch schema on the test server (None when it is not reachable)."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        yield None
        return
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        yield None
        return
    name = f"st_bench_{uuid.uuid4().hex[:10]}"
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        admin.close()


def raw_psycopg(schema: str) -> tuple[Callable[[], object], Callable[[], None]]:
    """One INSERT and COMMIT of the same row into the same table shape."""
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(PG_URL)
    table = sql.Identifier(schema, "raw_revisions")
    conn.execute(
        sql.SQL(
            'CREATE TABLE IF NOT EXISTS {} (timeline text COLLATE "C" NOT NULL, '
            "number bigint NOT NULL, parent bigint, branch text NOT NULL, "
            "time_ns bigint NOT NULL, kind text NOT NULL, target bigint, label text, "
            "author text, comment text, extra text, origin text, payload text, "
            "paths bytea[] NOT NULL, digest text NOT NULL, chain text NOT NULL, "
            "erased text, PRIMARY KEY (timeline, number))"
        ).format(table)
    )
    conn.commit()
    insert = sql.SQL("INSERT INTO {} VALUES (" + ", ".join(["%s"] * 17) + ")").format(
        table
    )
    numbers = count(1)

    def write() -> None:
        values = list(_raw_row(next(numbers)))
        values[13] = [b"/counts/bin3"]
        conn.execute(insert, values)
        conn.commit()

    return write, conn.close


def _es_postgres_env(schema: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(PG_URL)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "test")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_SCHEMA": schema,
    }


def postgres_durable(writes: int, rounds: int) -> list[Figure]:
    """Ours vs raw psycopg vs eventsourcing's PostgreSQL application."""
    with pg_schema() as schema:
        if schema is None:
            return [
                Figure(
                    issue=ISSUE,
                    workload="durable single-leaf Store.set on PostgreSQL",
                    ours=float("nan"),
                    target="PostgreSQL reachable at " + PG_URL,
                    ok=False,
                )
            ]
        repo = statetrail.open(PG_URL, schema=schema)
        write_raw, close_raw = raw_psycopg(schema)
        write_es = eventsourcing_app(_es_postgres_env(schema))
        serial = count()
        mine: list[float] = []
        raw: list[float] = []
        es: list[float] = []
        versus_raw: list[float] = []
        versus_es: list[float] = []
        for i in range(rounds):
            write_ours = ours(repo, f"board{next(serial)}")
            sides = [(mine, write_ours), (raw, write_raw), (es, write_es)]
            if i % 2:
                sides.reverse()
            times = {}
            for bucket, write in sides:
                times[id(bucket)] = _per_write(write, writes)
                bucket.append(times[id(bucket)])
            versus_raw.append(times[id(raw)] / times[id(mine)])
            versus_es.append(times[id(es)] / times[id(mine)])
        repo.close()
        close_raw()
    ours_s = statistics.median(mine)
    raw_ratio = statistics.median(versus_raw)
    es_ratio = statistics.median(versus_es)
    return [
        Figure(
            issue=ISSUE,
            workload="durable single-leaf Store.set on PostgreSQL",
            ours=ours_s,
            peer="raw psycopg INSERT+COMMIT",
            theirs=statistics.median(raw),
            paired_ratio=raw_ratio,
            target=">= 0.8x raw psycopg",
            ok=raw_ratio >= 0.8,
            extra={
                "writes_per_s": 1 / ours_s,
                "raw_writes_per_s": 1 / statistics.median(raw),
            },
        ),
        Figure(
            issue=ISSUE,
            workload="durable single-leaf Store.set on PostgreSQL",
            ours=ours_s,
            peer="eventsourcing 9 PostgreSQL application",
            theirs=statistics.median(es),
            paired_ratio=es_ratio,
            target=">= 1.8x eventsourcing",
            ok=es_ratio >= 1.8,
            extra={"eventsourcing_writes_per_s": 1 / statistics.median(es)},
        ),
    ]


def run(quick: bool) -> list[Figure]:
    """The issue's storage figures."""
    # fsync times vary from one write to the next on a VM: many short paired
    # rounds give a steadier median ratio than a few long ones.
    writes = 40 if quick else 300
    rounds = 3 if quick else 21
    with tempfile.TemporaryDirectory() as scratch:
        figures = sqlite_durable(scratch, writes, rounds)
        figures.append(sqlite_batched(scratch, 2_000 if quick else 20_000))
        figures += sqlite_reads(scratch, 10_000, 200 if quick else 1_000)
    figures += postgres_durable(writes, rounds)
    return figures
