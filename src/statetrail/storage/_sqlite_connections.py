"""The SQLite backend's connections: a writer per process, a reader per thread.

Also what makes them safe across ``fork()``, and the WAL-reset bug check.

SQLite keeps what a process knows about an open file (the locks it holds, its
shared-memory mapping) in C globals, and a forked child inherits them. A child
that opens new connections beside inherited open ones shares that bookkeeping:
it believes it holds locks only its parent holds, so its parent's last close can
checkpoint and delete the WAL under it, and the child's acknowledged writes go to
a deleted file (measured: 48 of 49 lost). See
https://www.sqlite.org/howtocorrupt.html, section 2.6.

So nothing is inherited: before ``os.fork()`` (:func:`os.register_at_fork`), the
fork waits until no thread is inside SQLite (:data:`GATE`), and every backend
closes its connections. Parent and child reopen on next use; the child also gets
new locks and an empty batch queue (a lock another thread held at the fork would
never be released in the child). A fork made below Python, without the hooks, is
still detected by the PID check: its inherited connections are then left open,
unused, as SQLite asks, and new ones opened.

The WAL-reset bug (https://www.sqlite.org/wal.html#walresetbug) needs two or
more connections writing or checkpointing one WAL; each process writes through
one connection here, but several processes may share a file, so a warning is
logged once per process when the linked SQLite has the bug.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable
from types import TracebackType

from statetrail._log import get_logger
from statetrail.storage._sqlite_batch import GroupCommit

__all__ = ["GATE", "Connections", "has_wal_reset_bug", "warn_wal_reset"]

log = get_logger("statetrail.storage.sqlite")
# Process-wide: the WAL-reset warning is logged once per SQLite version.
_warned: set[str] = set()


class _Gate:
    """Any number of threads may be inside SQLite at once; a fork waits for none.

    Held around every SQLite call, and only there: no other lock is taken while
    it is held, so waiting for it never deadlocks.
    """

    def __init__(self) -> None:
        self.reset()

    def __enter__(self) -> None:
        # The lock's own context manager, not the condition's (a Python call): the
        # gate is passed on every write.
        with self._lock:
            while self._forking:
                self._cond.wait()
            self._inside += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._inside -= 1
            if self._forking and not self._inside:
                self._cond.notify_all()

    def shut(self) -> None:
        """Wait until no thread is inside, and keep new ones out."""
        with self._cond:
            self._forking = True
            while self._inside:
                self._cond.wait()

    def open(self) -> None:
        """Let threads in again."""
        with self._cond:
            self._forking = False
            self._cond.notify_all()

    def reset(self) -> None:
        """Start afresh (in a forked child: the threads that waited are gone)."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._inside = 0
        self._forking = False


#: The one gate of this process: SQLite's per-file state is per process too.
GATE = _Gate()
_live: weakref.WeakSet[Connections] = weakref.WeakSet()
# Connections a fork made below Python left open: kept referenced, never used
# nor closed (closing could release locks and checkpoint on the parent's behalf).
_inherited: list[Connections] = []


class Connections:
    """One process's connections to one file, its write lock and batch queue.

    Use :meth:`writer` with ``write_lock`` held and :data:`GATE` entered, and
    :meth:`reader` with :data:`GATE` entered; hold no connection past the gate.

    Args:
        connect: Opens a connection; ``True`` for the writer.
    """

    def __init__(self, connect: Callable[[bool], sqlite3.Connection]) -> None:
        self.pid = os.getpid()
        self.write_lock = threading.Lock()
        self.batch: GroupCommit | None = None
        #: Whether this process took the writers' lock (see ``_sqlite_lock``).
        self.claimed = False
        self._connect = connect
        self._writer: sqlite3.Connection | None = None
        self._readers: dict[threading.Thread, sqlite3.Connection] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        _live.add(self)

    def writer(self) -> sqlite3.Connection:
        """The write connection, opened on first use."""
        if self._writer is None:
            self._writer = self._connect(True)
        return self._writer

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(False)
            with self._lock:
                # Threads come and go: close the connections of those gone.
                for thread in [t for t in self._readers if not t.is_alive()]:
                    self._readers.pop(thread).close()
                self._readers[threading.current_thread()] = conn
            self._local.conn = conn
        return conn

    def renewed(self) -> Connections:
        """Connections for a forked child, leaving these (the parent's) alone."""
        if self._writer is not None or self._readers:
            _inherited.append(self)  # a fork without Python's hooks
        _live.discard(self)
        return Connections(self._connect)

    def close(self) -> None:
        """Close the readers, then the writer (the last to close checkpoints)."""
        with self.write_lock, GATE:
            self.close_now()
        _live.discard(self)

    def close_now(self) -> None:
        """Close every connection, the writer last, without taking the gate.

        For :meth:`close`, and before a fork, whose hook holds the gate shut.
        """
        with self._lock:
            readers, self._readers = list(self._readers.values()), {}
            self._local = threading.local()
        for conn in readers:
            conn.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def has_wal_reset_bug(version: str) -> bool:
    """Whether SQLite ``version`` has the WAL-reset bug.

    It is in 3.7.0 to 3.51.2, fixed in 3.51.3 and in the 3.44.6 and 3.50.7
    backports (https://www.sqlite.org/wal.html#walresetbug).

    >>> has_wal_reset_bug("3.40.1"), has_wal_reset_bug("3.44.6")
    (True, False)
    """
    v = tuple(int(part) for part in version.split(".")[:3])
    return (
        (3, 7, 0) <= v < (3, 51, 3)
        and not (3, 44, 6) <= v < (3, 45, 0)
        and not (3, 50, 7) <= v < (3, 51, 0)
    )


def warn_wal_reset(version: str) -> None:
    """Log, once per process, that the linked SQLite has the WAL-reset bug."""
    if version in _warned or not has_wal_reset_bug(version):
        return
    if "logging" not in sys.modules:
        # No handler can receive it yet (see statetrail._log): the first open
        # after the application imports logging warns instead.
        return
    _warned.add(version)
    log.warning(
        "SQLite %s has the WAL-reset bug: when two or more connections write or "
        "checkpoint the same WAL file at once (for statetrail: several processes "
        "writing to one database), a rare race can corrupt it. Each process writes "
        "through one connection, but other processes may open the file too. A "
        "Python linked with SQLite 3.51.3 (or 3.44.6, 3.50.7) or later is safe; "
        "see https://www.sqlite.org/wal.html#walresetbug",
        version,
    )


def _before_fork() -> None:
    GATE.shut()
    pid = os.getpid()
    for connections in list(_live):
        if connections.pid == pid:
            connections.close_now()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(
        before=_before_fork, after_in_parent=GATE.open, after_in_child=GATE.reset
    )
