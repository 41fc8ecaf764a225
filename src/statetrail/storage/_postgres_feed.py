"""The change feed of the PostgreSQL backend: LISTEN on a connection of its own.

Plumbing for :mod:`statetrail.storage.postgres`, which exports :class:`ChangeFeed`.

A notification is sent only when an append commits, and only to sessions
listening at that moment: while the feed's connection is down, notifications are
lost. So the feed remembers, per timeline, the highest number it has delivered
(or found when it started), and after reconnecting it compares that with every
timeline's end record (``heads.count``, kept by a trigger inside each append):
each timeline that moved while the feed was away is delivered once, with its
newest number, as if its notification had come. The LISTEN is issued before the
end records are read, on the same connection, so an append that commits in
between is found by one or the other (twice at most, and delivered once).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from statetrail._log import get_logger
from statetrail.errors import StorageError
from statetrail.storage.base import Row

with contextlib.suppress(ImportError):  # postgres.py names the missing extra
    import psycopg

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["RECONNECT_FOR", "ChangeFeed"]

log = get_logger("statetrail.storage.postgres")

#: Seconds a feed keeps trying to reconnect before it raises StorageError.
RECONNECT_FOR: Final = 60.0

# Backoff between attempts: a random wait (full jitter) below a window that
# doubles from 0.1 s up to 2 s. The first attempt after a loss is immediate: a
# terminated session on a healthy server comes back at once.
_FIRST_WINDOW: Final = 0.1
_LAST_WINDOW: Final = 2.0


class ChangeFeed:
    """Appends as they commit: ``(timeline, number)``, number the highest stored.

    Made by ``PostgresBackend.listen()``. :meth:`get` gives notifications,
    :meth:`next_rows` the rows themselves. Within a timeline the numbers
    delivered only grow, and none is delivered twice.

    A lost connection (a server restart, ``pg_terminate_backend``, a network
    failure) is reconnected by the feed itself, at once and then with backoff
    and jitter, for up to ``reconnect_for`` seconds; meanwhile ``get`` and
    ``next_rows`` wait as they would for a notification. Once reconnected, every
    timeline whose end moved while the feed was away is delivered with its
    newest number, so nothing committed in between is missed. If the server
    stays away longer, :class:`~statetrail.StorageError` says so in one line;
    a later call tries again.

    Thread-safe: callers of ``get`` and ``next_rows`` take turns.
    """

    def __init__(
        self,
        connect: Callable[[], Connection[Any]],
        *,
        ends: str,
        timeline_at: Callable[[int], str],
        read: Callable[[str, int, int], list[Row]],
        place: str,
        after: Mapping[str, int] | None = None,
        reconnect_for: float = RECONNECT_FOR,
        _sleep: Callable[[float], None] = time.sleep,
        _random: Callable[[], float] = random.random,
    ) -> None:
        if reconnect_for < 0:
            raise ValueError(f"reconnect_for is >= 0 s, not {reconnect_for!r}")
        self._connect = connect
        self._ends = ends
        self._timeline_at = timeline_at
        self._read = read
        self._place = place
        self._reconnect_for = reconnect_for
        self._sleep = _sleep
        self._random = _random
        self._lock = threading.RLock()
        self._closed = False
        self._pending: deque[tuple[str, int]] = deque()
        #: Per timeline, the highest number delivered by get() (or found at start).
        self._known: dict[str, int] = {}
        #: Per timeline, the highest row number next_rows() delivered.
        self._delivered: dict[str, int] = dict(after or {})
        self._held: tuple[str, int] | None = None  # taken by next_rows, not read
        self._lost_at: float | None = None
        self._attempt = 0
        self._next_try = 0.0
        self._why: BaseException | None = None
        #: How many times the feed reconnected.
        self.reconnects = 0
        #: Seconds from the last loss noticed to the feed listening again.
        self.last_outage: float | None = None
        self._conn: Connection[Any] | None = None
        conn = connect()  # the first connection's failure is the caller's
        try:
            ends_now = self._read_ends(conn)
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(f"PostgreSQL change feed failed: {_line(exc)}") from exc
        self._conn = conn
        for name, number in ends_now:
            start = self._delivered.get(name)
            if start is not None and number > start:
                self._pending.append((name, number))  # moved since ``after``
            self._delivered.setdefault(name, number)
            self._known[name] = number

    @property
    def pid(self) -> int | None:
        """The server process listening for this feed now (``None`` while away)."""
        conn = self._conn
        return None if conn is None or conn.closed else conn.info.backend_pid

    def get(self, timeout: float | None = None) -> tuple[str, int] | None:
        """The next notification, or ``None`` if none came within ``timeout``.

        Waits up to ``timeout`` seconds, forever if it is ``None``, reconnecting
        if the connection is lost meanwhile.

        Raises:
            StorageError: The feed is closed, or could not reconnect within
                ``reconnect_for`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._pending:
                if self._closed:
                    raise StorageError("the PostgreSQL change feed is closed")
                if self._conn is None:
                    if not self._reconnect(deadline):
                        return None
                    continue
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left < 0:
                    return None
                try:
                    # Drain the generator: notifications that arrived together
                    # beyond stop_after would be dropped if it were abandoned.
                    notes = list(self._conn.notifies(timeout=left, stop_after=1))
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    self._lose(exc)
                    continue
                except psycopg.Error as exc:
                    raise StorageError(
                        f"PostgreSQL change feed failed: {_line(exc)}"
                    ) from exc
                for note in notes:
                    self._take(note.payload)
            name, number = self._pending.popleft()
            return name, number

    def next_rows(self, timeout: float | None = None) -> list[Row]:
        """The rows of one timeline committed after those delivered, in order.

        Reads the rows numbered after the last one this method delivered for
        the timeline (after ``listen(after=...)``'s number, or after the newest
        when the feed started, for a timeline that existed then), up to the
        next notification's number. Each row is delivered once, with no gap,
        across lost connections. An empty list: nothing within ``timeout``.

        Raises:
            StorageError: As :meth:`get`, or reading the rows failed (nothing
                is skipped: the next call reads them again).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._held is None:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left < 0:
                        return []
                    self._held = self.get(left)
                    if self._held is None:
                        return []
                name, number = self._held
                seen = self._delivered.get(name, -1)
                rows = self._read(name, seen, number) if number > seen else []
                self._held = None
                if rows:
                    self._delivered[name] = rows[-1].number
                    return rows

    def __iter__(self) -> Iterator[tuple[str, int]]:
        """Every notification, waiting as long as it takes."""
        while True:
            item = self.get()
            if item is not None:
                yield item

    def close(self) -> None:
        """Stop listening and close the connection; later calls raise."""
        self._closed = True
        conn = self._conn
        if conn is not None:
            conn.close()

    def __enter__(self) -> ChangeFeed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------

    def _read_ends(self, conn: Connection[Any]) -> list[tuple[str, int]]:
        # With parameters (none), so the "%%" quoting a "%" in the schema's
        # name is read as "%", as in every other statement.
        records = conn.execute(self._ends, []).fetchall()
        return [(str(name), int(number)) for name, number in records]

    def _take(self, payload: str) -> None:
        """Queue a notification, unless its number was delivered already."""
        try:
            data = json.loads(payload)
            name = data["t"] if "t" in data else self._timeline_at(int(data["s"]))
            number = int(data["n"])
        except (ValueError, KeyError, TypeError):
            log.info("change feed: ignored a notification it cannot read: %r", payload)
            return
        if number > self._known.get(name, -1):
            self._known[name] = number
            self._pending.append((name, number))

    def _lose(self, exc: BaseException) -> None:
        if self._closed:
            raise StorageError("the PostgreSQL change feed is closed") from exc
        log.info("change feed: connection lost (%s); reconnecting", _line(exc))
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._lost_at = time.monotonic()
        self._attempt = 0
        self._next_try = self._lost_at
        self._why = exc

    def _reconnect(self, deadline: float | None) -> bool:
        """Try to listen again until ``deadline``; ``True`` once connected.

        Raises:
            StorageError: ``reconnect_for`` seconds passed since the loss.
        """
        if self._lost_at is None:  # gave up before: a new window starts now
            self._lost_at = self._next_try = time.monotonic()
            self._attempt = 0
        while True:
            now = time.monotonic()
            if now - self._lost_at > self._reconnect_for:
                why = self._why
                self._lost_at = None
                raise StorageError(
                    f"PostgreSQL change feed: no connection to {self._place} for "
                    f"{self._reconnect_for:g} s (reconnect_for); last error: "
                    f"{_line(why) if why is not None else 'none'}"
                ) from why
            wait = min(self._next_try, self._lost_at + self._reconnect_for) - now
            if wait > 0:
                if deadline is not None and now + wait > deadline:
                    self._sleep(max(0.0, deadline - now))
                    return False
                self._sleep(wait)
            conn = None
            try:
                conn = self._connect()
                ends = self._read_ends(conn)
            except (StorageError, psycopg.Error) as exc:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                window = min(_LAST_WINDOW, _FIRST_WINDOW * 2**self._attempt)
                self._attempt += 1
                self._next_try = time.monotonic() + self._random() * window
                self._why = exc.__cause__ or exc  # the driver's, when there is one
                continue
            if self._closed:  # closed from another thread meanwhile
                conn.close()
                raise StorageError("the PostgreSQL change feed is closed")
            self._conn = conn
            moved = 0
            for name, number in ends:
                if number > self._known.get(name, -1):
                    self._known[name] = number
                    self._pending.append((name, number))
                    moved += 1
            self.reconnects += 1
            self.last_outage = time.monotonic() - self._lost_at
            log.info(
                "change feed: listening again after %.3f s; %d timeline(s) moved "
                "meanwhile",
                self.last_outage,
                moved,
            )
            return True


def _line(exc: BaseException) -> str:
    """The first line of an error's message (a driver's may have several)."""
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return text or type(exc).__name__
