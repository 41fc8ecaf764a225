"""Following a PostgreSQL history: NOTIFY on commit only, and the tail that misses
nothing."""

from __future__ import annotations

import threading
import uuid
from contextlib import closing
from typing import Any

import psycopg
import pytest
from psycopg import sql

from statetrail.errors import ConflictError, StorageError
from statetrail.storage._postgres_sql import COLUMNS
from statetrail.storage.postgres import ChangeFeed, PostgresBackend
from tests.storage.contract import row
from tests.storage.pg import (
    PgSchema,
    admin,
    append_in_a_process,
    fresh_schema,
    pg,
    process_context,
    terminate,
)

__all__ = ["pg"]  # the fixture, imported for the tests below


def drain(feed: ChangeFeed, timeout: float = 0.3) -> list[tuple[str, int]]:
    """Every notification until none comes for ``timeout`` seconds."""
    heard = []
    while (item := feed.get(timeout)) is not None:
        heard.append(item)
    return heard


class TestChangeFeed:
    def test_another_backend_in_another_thread_is_heard(self, pg: PgSchema) -> None:
        """One notification per append, carrying the highest number stored."""
        with closing(pg.backend()) as listener, listener.listen() as feed:

            def write() -> None:
                with closing(pg.backend()) as writer:
                    writer.append([row(0)])
                    writer.append([row(1), row(2)])
                    writer.append([row(0, timeline="other")])

            thread = threading.Thread(target=write)
            thread.start()
            heard = [feed.get(10), feed.get(10), feed.get(10)]
            thread.join()
            assert heard == [("t", 0), ("t", 2), ("other", 0)]
            assert feed.get(0.2) is None

    def test_another_process_is_heard(self, pg: PgSchema) -> None:
        """Appends made by another process are heard, in order."""
        with closing(pg.backend()) as listener, listener.listen() as feed:
            child = process_context().Process(
                target=append_in_a_process, args=(pg.url, pg.name, "child", 3)
            )
            child.start()
            heard = [feed.get(30) for _ in range(3)]
            child.join(30)
            assert child.exitcode == 0
            assert heard == [("child", 0), ("child", 1), ("child", 2)]

    def test_iterating_waits_for_the_next(self, pg: PgSchema) -> None:
        """Iterating a feed yields notifications as they come."""
        with closing(pg.backend()) as backend, backend.listen() as feed:
            backend.append([row(0)])
            assert next(iter(feed)) == ("t", 0)

    def test_nothing_is_heard_from_a_rolled_back_append(self, pg: PgSchema) -> None:
        """An append that conflicts rolls back, and its NOTIFY with it; so does
        any transaction that notifies and rolls back."""
        with closing(pg.backend()) as backend, backend.listen() as feed:
            backend.append([row(0)])
            assert drain(feed) == [("t", 0)]
            with pytest.raises(ConflictError):
                backend.append([row(1), row(0)])
            assert drain(feed) == []
            with closing(admin()) as conn:
                for outcome in ("ROLLBACK", "COMMIT"):
                    conn.execute("BEGIN")
                    conn.execute(
                        "SELECT pg_notify(%s, %s)",
                        [backend.channel, f'{{"t": "{outcome}", "n": 9}}'],
                    )
                    conn.execute(outcome)
            assert drain(feed) == [("COMMIT", 9)]

    def test_a_long_name_is_sent_as_seq_and_resolved(self, pg: PgSchema) -> None:
        """A name too long for NOTIFY's 8,000 bytes travels as the row's seq; the
        feed gives the name back."""
        name = "ü" * 5_000
        with (
            closing(pg.backend()) as backend,
            backend.listen() as feed,
            closing(admin()) as raw,
        ):
            raw.execute(sql.SQL("LISTEN {}").format(sql.Identifier(backend.channel)))
            backend.append([row(0, timeline=name), row(1, timeline=name)])
            assert feed.get(10) == (name, 1)
            payloads = [n.payload for n in raw.notifies(timeout=5, stop_after=1)]
        assert len(payloads) == 1
        assert len(payloads[0].encode()) < 100
        assert '"s"' in payloads[0]

    def test_schemas_do_not_hear_each_other(self, pg: PgSchema) -> None:
        """Each schema has its own channel: no cross-talk between histories."""
        with (
            fresh_schema() as elsewhere,
            closing(pg.backend()) as here,
            closing(elsewhere.backend()) as there,
            here.listen() as feed,
        ):
            assert here.channel != there.channel
            there.append([row(0)])
            here.append([row(0, timeline="here")])
            assert drain(feed) == [("here", 0)]

    def test_a_lost_feed_connection_is_a_storage_error(self, pg: PgSchema) -> None:
        """A feed whose session is terminated raises StorageError with the driver's
        error as cause."""
        app = f"st-feed-{uuid.uuid4().hex[:8]}"
        backend = PostgresBackend(pg.url_for(app), schema=pg.name)
        with closing(backend), backend.listen() as feed, closing(admin()) as conn:
            terminate(conn, app)
            with pytest.raises(StorageError) as info:
                feed.get(5)
            assert isinstance(info.value.__cause__, psycopg.OperationalError)


def insert_uncommitted(conn: psycopg.Connection[Any], schema: str, number: int) -> None:
    """Insert revision ``number`` of "t" in ``conn``'s open transaction."""
    r = row(number)
    conn.execute(
        sql.SQL("INSERT INTO {}.revisions ({}) VALUES ({})").format(
            sql.Identifier(schema),
            sql.SQL(COLUMNS),  # type: ignore[arg-type]
            sql.SQL(", ").join([sql.Placeholder()] * 17),
        ),
        [
            r.timeline, r.number, r.parent, r.branch, r.time_ns, r.kind, r.target,
            r.label, r.author, r.comment, r.extra, r.origin, r.payload,
            [p.encode() for p in r.paths], r.digest, r.chain, r.erased,
        ],
    )  # fmt: skip


class TestTail:
    def test_every_row_once_in_pages(self, pg: PgSchema) -> None:
        """Paging with the cursor returned gives each row once; each timeline's
        rows in number order; an empty page keeps the cursor."""
        with closing(pg.backend()) as backend:
            for number in range(5):
                backend.append([row(number, timeline="a")])
                backend.append([row(number, timeline="b")])
            backend.append([row(5, timeline="a"), row(6, timeline="a")])
            seen, cursor = [], (0, 0)
            while True:
                page, cursor = backend.tail(cursor, limit=3)
                if not page:
                    break
                assert len(page) <= 3
                seen += page
            assert sorted((r.timeline, r.number) for r in seen) == sorted(
                [("a", n) for n in range(7)] + [("b", n) for n in range(5)]
            )
            assert len(seen) == 12
            assert [r.number for r in seen if r.timeline == "a"] == list(range(7))
            assert backend.tail(cursor) == ([], cursor)

    def test_a_late_commit_is_not_skipped(self, pg: PgSchema) -> None:
        """A row inserted first (lower seq) but committed last: polling seq > last
        skips it; the tail waits for its transaction and returns it."""
        with closing(pg.backend()) as backend, closing(admin()) as slow:
            backend.append([row(0)])
            rows, cursor = backend.tail()
            assert [r.number for r in rows] == [0]
            slow.execute("BEGIN")
            insert_uncommitted(slow, pg.name, 1)  # draws the lower seq
            # The higher seq, committed first: in another timeline, as one
            # timeline's appends queue behind each other on its end record.
            backend.append([row(2, timeline="u")])

            with closing(admin()) as poller:
                table = sql.Identifier(pg.name, "revisions")

                def poll(last: int) -> list[tuple[int, int]]:
                    return poller.execute(  # type: ignore[return-value]
                        sql.SQL(
                            "SELECT seq, number FROM {} WHERE seq > %s ORDER BY seq"
                        ).format(table),
                        [last],
                    ).fetchall()

                naive = poll(0)
                assert [n for _, n in naive] == [0, 2]
                last = naive[-1][0]
                assert backend.tail(cursor) == ([], cursor)  # waits for "slow"
                slow.execute("COMMIT")
                assert poll(last) == []  # revision 1 was skipped by seq polling
                rows, cursor = backend.tail(cursor)
                assert [r.number for r in rows] == [1, 2]
