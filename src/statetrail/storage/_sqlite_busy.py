"""Waiting out a busy SQLite database: retries with backoff and jitter, bounded.

SQLite's own busy handler sleeps 1, 2, 5, 10 ... then 100 ms between tries: the
writer that has waited longest tries least often, while the processes that just
committed come straight back. Under steady contention such a writer waited past
any timeout while the others progressed (issue 9, defect 9: 8 of 24 four-process
races on a loaded machine ended in "database is busy").

So SQLite is told not to wait (``busy_timeout`` 0 on every connection) and
:class:`BusyRetry` waits instead, between whole attempts, outside the fork gate:
a random time (full jitter) below a window that doubles from 1 ms and stops
growing at 8 ms, so a writer that has waited 20 seconds tries as often as one
that started waiting now, and writers that collided do not try again in step.
It gives up only after ``bound`` seconds (``busy_timeout``, 30 by default) and
lets the last busy error through, which the backend turns into a
:class:`~statetrail.StorageError` naming the bound.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from statetrail.storage._sqlite_errors import is_busy

__all__ = ["FIRST_WINDOW", "LONGEST_WINDOW", "BusyRetry"]

T = TypeVar("T")

#: The first wait is a random time below this many seconds.
FIRST_WINDOW = 0.001
#: The window doubles after each busy answer up to this many seconds.
LONGEST_WINDOW = 0.008


class BusyRetry:
    """Runs attempts until one finds the database free, for up to ``bound`` s.

    Args:
        bound: Seconds to keep trying after the first busy answer.
        sleep: Waits (the seam for tests, with ``clock`` and ``jitter``).
        clock: A monotonic clock, in seconds.
        jitter: A random float in [0, 1) (``random.random``, imported at the
            first busy answer: 0.9 ms of every first open otherwise).
    """

    def __init__(
        self,
        bound: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.bound = bound
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter

    def run(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, tried again while it raises a busy error.

        An attempt must do nothing when it raises a busy error (it is run again).

        Raises:
            sqlite3.OperationalError: The last busy error, once ``bound`` seconds
                have passed; any other error of an attempt at once.
        """
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            busy = exc
        return self._again(attempt, busy)

    def _again(self, attempt: Callable[[], T], busy: sqlite3.OperationalError) -> T:
        deadline = self._clock() + self.bound
        window = FIRST_WINDOW
        while True:
            left = deadline - self._clock()
            if left <= 0:
                raise busy
            if self._jitter is None:
                import random

                self._jitter = random.random
            self._sleep(min(left, window * self._jitter()))
            window = min(2 * window, LONGEST_WINDOW)
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                busy = exc
