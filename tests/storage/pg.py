"""PostgreSQL for the tests: the real server, a fresh schema per test.

``STATETRAIL_POSTGRES_URL`` names the server (default: the local one, database
``test``). When it cannot be reached a test skips, saying why, or fails when
``STATETRAIL_REQUIRE_SERVICES=1`` (CI sets it), so a missing server never passes
silently.

Also here: :class:`LossyProxy`, a TCP proxy that cuts connections the moment the
server's reply arrives, the way a network failure loses a COMMIT reply.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import random
import select
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from statetrail.storage.postgres import PostgresBackend

URL = os.environ.get(
    "STATETRAIL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def admin() -> psycopg.Connection[Any]:
    """An autocommit connection to the test server, or skip/fail the test."""
    try:
        return psycopg.connect(URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {URL}: {exc}"
        if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass(frozen=True)
class PgSchema:
    """A schema of its own for one test."""

    url: str
    name: str

    def backend(self, **options: Any) -> PostgresBackend:
        """A backend on this schema."""
        return PostgresBackend(self.url, schema=self.name, **options)

    def url_for(self, application_name: str, *, port: int | None = None) -> str:
        """The URL with an application name (to find its sessions), and a port."""
        extra: dict[str, Any] = {"application_name": application_name}
        if port is not None:  # through a LossyProxy: plain TCP, whose bytes it reads
            extra.update(port=port, sslmode="disable", gssencmode="disable")
        return make_conninfo(self.url, **extra)


@contextmanager
def fresh_schema() -> Iterator[PgSchema]:
    """Create an empty schema with a unique name; drop it, and all in it, after."""
    with closing(admin()) as conn:
        name = f"st_test_{uuid.uuid4().hex[:12]}"
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        try:
            yield PgSchema(URL, name)
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg() -> Iterator[PgSchema]:
    """A fresh schema on the test server, dropped after the test."""
    with fresh_schema() as schema:
        yield schema


def terminate(conn: psycopg.Connection[Any], application_name: str) -> int:
    """pg_terminate_backend every session of ``application_name``; how many."""
    record = conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = %s AND pid <> pg_backend_pid()",
        [application_name],
    ).fetchone()
    assert record is not None
    return int(record[0])


class LossyProxy:
    """A TCP proxy to the test server that loses replies on purpose.

    Every query reaches the server; a cut reply is dropped and both sides of its
    connection closed, so the client cannot know whether its statement committed.
    :meth:`cut_next_reply` cuts the next reply; ``cut_probability`` cuts replies at
    random. Replies during a connection's start-up (the first two client messages)
    are never cut, so connecting itself succeeds.
    """

    def __init__(self, *, cut_probability: float = 0.0, seed: int = 0) -> None:
        target = conninfo_to_dict(URL)
        self._target = (
            str(target.get("host", "127.0.0.1")),
            int(target.get("port", 5432)),
        )
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.cut_probability = cut_probability
        self.cuts = 0
        self._random = random.Random(seed)
        self._armed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next_reply(self) -> None:
        """Drop the next reply the server sends, on any connection."""
        self._armed.set()

    def _should_cut(self, messages_sent: int) -> bool:
        if messages_sent < 3:
            return False
        with self._lock:
            if self._armed.is_set() or self._random.random() < self.cut_probability:
                self._armed.clear()
                self.cuts += 1
                return True
        return False

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        with client, socket.create_connection(self._target) as server:
            sent = 0
            try:
                while not self._stop.is_set():
                    ready, _, _ = select.select([client, server], [], [], 0.5)
                    for sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            return
                        if sock is client:
                            sent += 1
                            server.sendall(data)
                        elif self._should_cut(sent):
                            return  # the reply is lost; both sockets close
                        else:
                            client.sendall(data)
            except OSError:  # either side went away (a terminated session)
                return

    def close(self) -> None:
        """Stop accepting; open connections end within half a second."""
        self._stop.set()
        self._listener.close()


def append_in_a_process(url: str, schema: str, timeline: str, count: int) -> None:
    """Append revisions 0 .. count-1 to ``timeline``, one per call (for spawn)."""
    from tests.storage.contract import row

    with closing(PostgresBackend(url, schema=schema)) as backend:
        for number in range(count):
            backend.append([row(number, timeline=timeline)])


def process_context() -> multiprocessing.context.ForkServerContext:
    """A multiprocessing context whose children start fast and clean.

    A fork server imports the test helpers once; each child is forked from it, not
    from the test process (whose threads and connections it must not inherit).
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.storage.pg", "tests.storage.pg_load"])
    return ctx
