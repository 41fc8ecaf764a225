"""Following a PostgreSQL history: NOTIFY on commit only, and the tail that misses
nothing."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import closing
from typing import Any

import psycopg
import pytest
from psycopg import sql

from statetrail.errors import ConflictError, StorageError
from statetrail.storage._postgres_connect import Server
from statetrail.storage._postgres_sql import COLUMNS
from statetrail.storage.postgres import ChangeFeed, PostgresBackend
from tests.conftest import scaled
from tests.storage.contract import row
from tests.storage.pg import (
    LossyProxy,
    PgSchema,
    admin,
    append_in_a_process,
    fresh_schema,
    pg,
    process_context,
)
from tests.storage.test_postgres_open import unused_port

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


def append_range(url: str, schema: str, timeline: str, start: int, stop: int) -> None:
    """Append revisions start .. stop-1 of ``timeline``, one per call (spawned)."""
    with closing(PostgresBackend(url, schema=schema)) as backend:
        for number in range(start, stop):
            backend.append([row(number, timeline=timeline)])


def in_a_process(*args: Any) -> Any:
    """A started process running :func:`append_range` with ``args``."""
    child = process_context().Process(target=append_range, args=args)
    child.start()
    return child


def terminate_pid(pid: int | None) -> None:
    """pg_terminate_backend one session, from another connection."""
    assert pid is not None
    with closing(admin()) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])


def follow(
    feed: ChangeFeed, want: dict[str, int], seconds: float = 60
) -> dict[str, list[int]]:
    """The row numbers ``next_rows`` delivers, per timeline, until each timeline
    in ``want`` reached its number (or the time is up)."""
    seen: dict[str, list[int]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(
        (seen.get(name) or [-1])[-1] < top for name, top in want.items()
    ):
        for r in feed.next_rows(timeout=1):
            seen.setdefault(r.timeline, []).append(r.number)
    return seen


class TestReconnect:
    def test_rows_resume_with_no_gap_and_no_repeat(self, pg: PgSchema) -> None:
        """The feed's session is terminated (three times); another process
        commits meanwhile (to a timeline the feed knew and to a new one) and
        goes on committing after: the follower sees every revision once, in
        order, with no gap (25 revisions per stretch, times STATETRAIL_SCALE)."""
        with (
            closing(pg.backend()) as listener,
            closing(pg.backend()) as writer,
            listener.listen() as feed,
        ):
            for number in range(5):
                writer.append([row(number)])
            assert follow(feed, {"t": 4}) == {"t": [0, 1, 2, 3, 4]}
            step = scaled(25)
            for away in range(1, 4):  # three losses, each with commits meanwhile
                start = 5 + 2 * step * (away - 1)
                first_pid = feed.pid
                terminate_pid(first_pid)
                children = [
                    in_a_process(pg.url, pg.name, "t", start, start + step),
                    in_a_process(pg.url, pg.name, f"new{away}", 0, 10),
                ]
                for child in children:
                    child.join(120)
                    assert child.exitcode == 0
                later = in_a_process(
                    pg.url, pg.name, "t", start + step, start + 2 * step
                )
                seen = follow(feed, {"t": start + 2 * step - 1, f"new{away}": 9})
                later.join(120)
                assert later.exitcode == 0
                assert seen == {
                    "t": list(range(start, start + 2 * step)),
                    f"new{away}": list(range(10)),
                }
                assert feed.reconnects == away
                assert feed.pid not in (None, first_pid)
                assert feed.last_outage is not None

    def test_notifications_lost_while_away_are_delivered_once(
        self, pg: PgSchema
    ) -> None:
        """get() after a reconnect: each timeline that moved while the feed was
        away, once, with its newest number; then notifications as before."""
        with (
            closing(pg.backend()) as backend,
            backend.listen() as feed,
        ):
            backend.append([row(0)])
            assert feed.get(10) == ("t", 0)
            terminate_pid(feed.pid)
            backend.append([row(1)])
            backend.append([row(2), row(3)])
            backend.append([row(0, timeline="v")])
            assert drain(feed) == [("t", 3), ("v", 0)]
            backend.append([row(4)])
            assert drain(feed) == [("t", 4)]
            assert feed.reconnects == 1

    def test_after_resumes_from_a_number(self, pg: PgSchema) -> None:
        """listen(after={...}) starts the rows after the follower's number, and
        get() gives the timeline's newest at once."""
        with closing(pg.backend()) as backend:
            for number in range(10):
                backend.append([row(number)])
            with backend.listen(after={"t": 6}) as feed:
                assert [r.number for r in feed.next_rows(5)] == [7, 8, 9]
                assert feed.next_rows(0.2) == []
            with backend.listen(after={"t": 6}) as feed:
                assert feed.get(5) == ("t", 9)

    def test_gives_up_after_reconnect_for_in_one_line(self, pg: PgSchema) -> None:
        """The server stays away (its proxy closed): after reconnect_for seconds
        the feed raises StorageError naming host:port and the bound, with the
        last driver error as cause; a later call tries again."""
        proxy = LossyProxy()
        url = pg.url_for(f"st-gone-{uuid.uuid4().hex[:8]}", port=proxy.port)
        backend = PostgresBackend(url, schema=pg.name)
        try:
            feed = backend.listen(reconnect_for=1)
            proxy.close()  # its connections end within half a second
            started = time.monotonic()

            def until_it_gives_up() -> None:
                while time.monotonic() - started < 30:
                    feed.get(1)

            with pytest.raises(StorageError) as info:
                until_it_gives_up()
            elapsed = time.monotonic() - started
            assert 1 <= elapsed < 10
            message = str(info.value)
            assert "\n" not in message
            assert f"no connection to 127.0.0.1:{proxy.port} for 1 s" in message
            assert isinstance(info.value.__cause__, psycopg.OperationalError)
            with pytest.raises(StorageError, match="for 1 s"):
                feed.get(5)
            feed.close()
            with pytest.raises(StorageError, match="closed"):
                feed.get(0)
        finally:
            backend.close()

    def test_close_from_another_thread_ends_a_waiting_get(self, pg: PgSchema) -> None:
        """A get() waiting without a timeout ends with StorageError when another
        thread closes the feed; it does not reconnect."""
        with closing(pg.backend()) as backend:
            feed = backend.listen()
            outcome: list[object] = []

            def wait() -> None:
                try:
                    outcome.append(feed.get())
                except StorageError as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=wait)
            thread.start()
            time.sleep(0.3)
            feed.close()
            thread.join(10)
            assert not thread.is_alive()
            assert [str(e) for e in outcome] == ["the PostgreSQL change feed is closed"]
            assert feed.reconnects == 0

    def test_backoff_doubles_to_its_bound_with_jitter(self, pg: PgSchema) -> None:
        """Attempts after a loss: the first at once, then after a random share
        of a window doubling from 0.1 s (here the whole window: the random draw
        is 1)."""
        waits: list[float] = []
        refused = f"postgresql://postgres@127.0.0.1:{unused_port()}/test"
        with closing(pg.backend()) as backend:
            ends = backend._sql.ends
            server = backend._server
            attempts: list[float] = []

            def connect() -> psycopg.Connection[Any]:
                attempts.append(time.monotonic())
                target = server if len(attempts) == 1 else Server.of(refused)
                conn = target.connect()
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier("x")))
                return conn

            def sleep(seconds: float) -> None:
                waits.append(seconds)
                time.sleep(seconds)

            feed = ChangeFeed(
                connect,
                ends=ends,
                timeline_at=str,
                read=backend.read,
                place="here",
                reconnect_for=1.6,
                _sleep=sleep,
                _random=lambda: 1.0,
            )
            terminate_pid(feed.pid)
            with pytest.raises(StorageError, match="no connection to here"):
                feed.get(30)
        assert len(attempts) == 1 + 6  # at 0, 0.1, 0.3, 0.7, 1.5 and 1.6 s
        assert [round(w, 1) for w in waits] == [0.1, 0.2, 0.4, 0.8, 0.1]


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


def tail_until(
    backend: PostgresBackend,
    cursor: tuple[int, int],
    count: int,
    limit: int = 1000,
    seconds: float = 60,
) -> tuple[list[Any], tuple[int, int]]:
    """Page through the tail until ``count`` rows came (or the time is up).

    The tail holds back rows of transactions newer than the oldest still
    running anywhere on the server (``pg_snapshot_xmin`` is cluster-wide):
    other tests' transactions, in this database or another, delay it.
    """
    seen: list[Any] = []
    deadline = time.monotonic() + seconds
    while len(seen) < count and time.monotonic() < deadline:
        page, after = backend.tail(cursor, limit=limit)
        if not page:
            assert after == cursor  # an empty page keeps the cursor
            time.sleep(0.05)
            continue
        assert len(page) <= limit
        seen += page
        cursor = after
    return seen, cursor


class TestTail:
    def test_every_row_once_in_pages(self, pg: PgSchema) -> None:
        """Paging with the cursor returned gives each row once; each timeline's
        rows in number order; an empty page keeps the cursor."""
        with closing(pg.backend()) as backend:
            for number in range(5):
                backend.append([row(number, timeline="a")])
                backend.append([row(number, timeline="b")])
            backend.append([row(5, timeline="a"), row(6, timeline="a")])
            seen, cursor = tail_until(backend, (0, 0), 12, limit=3)
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
            rows, cursor = tail_until(backend, (0, 0), 1)
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
                rows, cursor = tail_until(backend, cursor, 2)
                assert [r.number for r in rows] == [1, 2]
