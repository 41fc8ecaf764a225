"""Issue 5: the PostgreSQL backend against raw psycopg, on the same server.

Workloads (medians, garbage collector on, ours and the peer alternating): one
durable append per call against a raw psycopg INSERT of a similar row and a COMMIT
(both with synchronous_commit on); ``query(author=...)`` on a 10,000-row timeline.
Everything happens in a schema of its own, dropped afterwards.

``STATETRAIL_POSTGRES_URL`` names the server (default: the local test database).
Without psycopg or a reachable server the module reports no figures, unless
``STATETRAIL_REQUIRE_SERVICES=1``, when it fails.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any

from _harness import Figure, interleaved, paired

URL = os.environ.get(
    "STATETRAIL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

_RAW_TABLE = """
CREATE TABLE {}.raw_revisions (
    timeline text COLLATE "C" NOT NULL, number bigint NOT NULL, parent bigint,
    branch text NOT NULL, time_ns bigint NOT NULL, kind text NOT NULL,
    target bigint, label text, author text, comment text, extra text, origin text,
    payload text, paths bytea[] NOT NULL, digest text NOT NULL, chain text NOT NULL,
    erased text, PRIMARY KEY (timeline, number)
)
"""


def _row(number: int, timeline: str = "bench", author: str = "alice") -> Any:
    from statetrail.storage.base import Row

    return Row(
        timeline=timeline,
        number=number,
        parent=number - 1 if number else None,
        branch="main",
        time_ns=1_700_000_000_000_000_000 + number,
        kind="set",
        target=None,
        label=None,
        author=author,
        comment="a typical comment",
        extra=None,
        origin='["app.py", 12, "handler", "MainThread", null]',
        payload='[["replace", ["user", "name"], "Ada Lovelace"]]',
        paths=("/user/name",),
        digest="d" * 64,
        chain="c" * 64,
    )


def appends(backend: Any, raw: Any, schema: str, quick: bool) -> Figure:
    from psycopg import sql

    number = 200 if quick else 1_000
    ours_n = itertools.count()
    theirs_n = itertools.count()
    insert = sql.SQL(
        "INSERT INTO {}.raw_revisions VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    ).format(sql.Identifier(schema))

    def ours() -> None:
        backend.append([_row(next(ours_n))])

    def theirs() -> None:
        r = _row(next(theirs_n))
        raw.execute(
            insert,
            (
                r.timeline, r.number, r.parent, r.branch, r.time_ns, r.kind,
                r.target, r.label, r.author, r.comment, r.extra, r.origin,
                r.payload, [p.encode() for p in r.paths], r.digest, r.chain,
                r.erased,
            ),
        )  # fmt: skip
        raw.commit()

    mine, peer, ratio = paired(
        lambda: (ours, theirs), number=number, rounds=9 if quick else 21
    )
    return Figure(
        5,
        "durable append, one row per transaction (synchronous_commit on)",
        1 / mine,
        ">= 0.8x raw psycopg",
        ratio >= 0.8,
        "raw psycopg INSERT + COMMIT",
        1 / peer,
        unit="writes/s",
        paired_ratio=ratio,
    )


def query_by_author(backend: Any, quick: bool) -> Figure:
    rows = 10_000
    authors = 10
    for start in range(0, rows, 500):
        backend.append(
            [
                _row(n, timeline="big", author=f"author-{n % authors}")
                for n in range(start, start + 500)
            ]
        )
    assert len(backend.query("big", author="author-3")) == rows // authors
    mine, _ = interleaved(
        lambda: backend.query("big", author="author-3"),
        None,
        number=50 if quick else 300,
    )
    return Figure(
        5,
        f"query(author=...) on a {rows:,}-row timeline ({rows // authors:,} matches)",
        mine,
        "reported",
        True,
    )


def _unavailable(exc: Exception) -> list[Figure]:
    if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
        raise exc
    print(f"  skipped: PostgreSQL is not available ({exc})")
    return []


def run(quick: bool) -> list[Figure]:
    try:
        import psycopg
        from psycopg import sql

        from statetrail.storage.postgres import PostgresBackend
    except ImportError as exc:
        return _unavailable(exc)
    try:
        admin = psycopg.connect(URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        return _unavailable(exc)
    schema = f"st_bench_{uuid.uuid4().hex[:12]}"
    ident = sql.Identifier(schema)
    try:
        backend = PostgresBackend(URL, schema=schema, synchronous_commit=True)
        admin.execute(sql.SQL(_RAW_TABLE).format(ident))
        with psycopg.connect(URL) as raw:
            raw.execute("SET synchronous_commit = on")
            raw.commit()
            figures = [appends(backend, raw, schema, quick)]
        figures.append(query_by_author(backend, quick))
        backend.close()
        return figures
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident))
        admin.close()
