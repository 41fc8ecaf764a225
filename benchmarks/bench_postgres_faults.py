"""Issue 11: PostgreSQL when the server is away: time to a one-line error, and the
change feed's time to come back.

Workloads (medians, whole operations):
- ``statetrail.open()`` on a loopback port nothing listens on (refused);
- ``statetrail.open()`` on a loopback socket that accepts and never answers (the
  connect timeout, 2 s by default, ends it);
- a change feed whose session is terminated (``pg_terminate_backend``) while an
  append commits: from the termination to the feed delivering that append (it
  notices the loss, reconnects, LISTENs again and reads the end records).

``STATETRAIL_POSTGRES_URL`` names the server (default: the local test database).
Without psycopg or a reachable server the module reports no figures, unless
``STATETRAIL_REQUIRE_SERVICES=1``, when it fails.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable

from _harness import Figure
from bench_postgres import URL, _unavailable
from statetrail.errors import StatetrailError


def _time_to_error(url: str, runs: int) -> float:
    import statetrail
    from statetrail.errors import StorageError

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        try:
            statetrail.open(url).close()
        except StorageError:
            times.append(time.perf_counter() - started)
        else:  # pragma: no cover - something answered
            raise AssertionError(f"{url} opened")
    return statistics.median(times)


def refused(quick: bool) -> Figure:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    seconds = _time_to_error(f"postgresql://postgres@127.0.0.1:{port}/test", 20)
    return Figure(
        11, "open() with nothing listening: one-line error", seconds, "<= 3 s",
        seconds <= 3,
    )  # fmt: skip


def silent(quick: bool) -> Figure:
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        url = f"postgresql://postgres@127.0.0.1:{port}/test"
        seconds = _time_to_error(url, 1 if quick else 3)
    finally:
        stop.set()
        thread.join()
        listener.close()
        for sock in held:
            sock.close()
    return Figure(
        11, "open() on a server that never answers: one-line error", seconds,
        "<= 3 s", seconds <= 3,
    )  # fmt: skip


def reconnect(backend: object, admin: object, quick: bool) -> Figure:
    from statetrail.storage.base import Row

    def row(number: int) -> Row:
        return Row(
            "t", number, number - 1 if number else None, "main", number, "set",
            None, None, None, None, None, None, "[]", (), "d", "c",
        )  # fmt: skip

    times: list[float] = []
    outages: list[float] = []
    append: Callable[[list[Row]], None] = backend.append  # type: ignore[attr-defined]
    with backend.listen() as feed:  # type: ignore[attr-defined]
        for number in range(10 if quick else 50):
            started = time.perf_counter()
            admin.execute("SELECT pg_terminate_backend(%s)", [feed.pid])  # type: ignore[attr-defined]
            append([row(number)])
            assert feed.get(30) == ("t", number)
            times.append(time.perf_counter() - started)
            outages.append(feed.last_outage)
    seconds = statistics.median(times)
    return Figure(
        11,
        "change feed: terminated session to the next append delivered",
        seconds,
        "reported",
        True,
        extra={
            "reconnect_median_s": statistics.median(outages),
            "reconnect_max_s": max(outages),
            "runs": len(times),
        },
    )


def run(quick: bool) -> list[Figure]:
    # The server is not needed for the first two figures: they have none.
    figures = [refused(quick), silent(quick)]
    try:
        import psycopg
        from psycopg import sql

        from statetrail.storage.postgres import PostgresBackend

        admin = psycopg.connect(URL, autocommit=True, connect_timeout=3)
    except (ImportError, StatetrailError) as exc:
        return figures + _unavailable(exc)
    except psycopg.OperationalError as exc:
        return figures + _unavailable(exc)
    name = f"st_bench_{uuid.uuid4().hex[:12]}"
    with admin:
        try:
            with PostgresBackend(URL, schema=name) as backend:
                figures.append(reconnect(backend, admin, quick))
        finally:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
            admin.execute(drop.format(sql.Identifier(name)))
    return figures
