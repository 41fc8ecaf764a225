"""Waiting out a busy SQLite database (issue 9, defect 9): the retry loop.

Driven through its seams (a clock that only the fake sleep moves, a fixed
jitter), so each wait is known exactly; the race of four processes beside a CPU
hog is in test_sqlite_processes.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from statetrail.errors import StorageError
from statetrail.storage._sqlite_busy import FIRST_WINDOW, LONGEST_WINDOW, BusyRetry
from statetrail.storage._sqlite_connections import GATE
from statetrail.storage._sqlite_schema import INSERT, params
from statetrail.storage.sqlite import SQLiteBackend
from tests.storage.contract import row


class FakeTime:
    """A clock that moves only when ``sleep`` is called; the sleeps it saw."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        #: Threads inside the fork gate at each sleep.
        self.inside_gate: list[int] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.inside_gate.append(GATE._inside)
        self.now += seconds


def busy(code: int = 5) -> sqlite3.OperationalError:
    """A busy error as sqlite3 raises it (SQLITE_BUSY, or an extended code)."""
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


def busy_for(answers: int) -> tuple[list[int], Callable[[], str]]:
    """An attempt that is busy ``answers`` times, then returns "done"."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= answers:
            raise busy(517 if len(calls) % 2 else 5)  # BUSY_SNAPSHOT, BUSY
        return "done"

    return calls, attempt


class TestBusyRetry:
    def test_a_free_database_costs_no_wait(self) -> None:
        """The first attempt that succeeds returns at once: no sleep, no clock."""
        fake = FakeTime()
        retry = BusyRetry(30, sleep=fake.sleep, clock=fake.clock, jitter=lambda: 0.5)
        calls, attempt = busy_for(0)
        assert retry.run(attempt) == "done"
        assert (len(calls), fake.sleeps) == (1, [])

    def test_the_window_doubles_then_stays_short(self) -> None:
        """Waits are jitter x a window doubling from 1 ms to 8 ms, then 8 ms
        however long the wait: a writer that has waited long tries as often as
        one that just started (SQLite's own handler goes to 100 ms)."""
        fake = FakeTime()
        retry = BusyRetry(30, sleep=fake.sleep, clock=fake.clock, jitter=lambda: 0.5)
        calls, attempt = busy_for(2_000)
        assert retry.run(attempt) == "done"
        assert len(calls) == 2_001
        assert fake.sleeps[:5] == pytest.approx([0.0005, 0.001, 0.002, 0.004, 0.004])
        assert max(fake.sleeps) == pytest.approx(LONGEST_WINDOW / 2)
        assert FIRST_WINDOW == 0.001
        assert LONGEST_WINDOW == 0.008

    def test_jitter_spreads_the_waits(self) -> None:
        """The waits are the jitter's fraction of the window: two writers that
        collided do not try again in step."""
        fake = FakeTime()
        fractions = iter([0.0, 0.9, 0.1, 0.99])
        retry = BusyRetry(
            30, sleep=fake.sleep, clock=fake.clock, jitter=lambda: next(fractions)
        )
        _, attempt = busy_for(4)
        assert retry.run(attempt) == "done"
        assert fake.sleeps == pytest.approx([0.0, 0.0018, 0.0004, 0.00792])

    def test_it_gives_up_after_the_bound(self) -> None:
        """Busy throughout: waits add up to the bound exactly (the last is cut
        short), then the last busy error is raised."""
        fake = FakeTime()
        retry = BusyRetry(30, sleep=fake.sleep, clock=fake.clock, jitter=lambda: 1.0)
        errors = [busy(5), busy(261)]  # BUSY, BUSY_RECOVERY

        def attempt() -> None:
            errors.append(busy(5))
            raise errors[-1]

        with pytest.raises(sqlite3.OperationalError) as caught:
            retry.run(attempt)
        assert caught.value is errors[-1]
        assert sum(fake.sleeps) == pytest.approx(30)
        assert fake.now == pytest.approx(130)
        assert len(fake.sleeps) == pytest.approx(30 / LONGEST_WINDOW, abs=5)

    def test_other_errors_are_not_retried(self) -> None:
        """An error that is not busy goes through at once, without a wait."""
        fake = FakeTime()
        retry = BusyRetry(30, sleep=fake.sleep, clock=fake.clock)
        calls: list[int] = []

        def attempt() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise busy()
            raise sqlite3.OperationalError("disk I/O error")

        with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
            retry.run(attempt)
        assert len(calls) == 2
        assert len(fake.sleeps) == 1

    def test_a_bound_of_zero_gives_up_at_once(self) -> None:
        """busy_timeout=0: the first busy answer is the error."""
        fake = FakeTime()
        retry = BusyRetry(0, sleep=fake.sleep, clock=fake.clock)
        calls, attempt = busy_for(1)
        with pytest.raises(sqlite3.OperationalError):
            retry.run(attempt)
        assert (len(calls), fake.sleeps) == (1, [])


class TestTheBackendWaits:
    def test_a_held_database_is_waited_for_up_to_the_bound(
        self, tmp_path: Path
    ) -> None:
        """Another connection holds the write lock: the backend's attempts wait
        busy_timeout in all, outside the fork gate, then StorageError names the
        bound; nothing is stored, and the next write after the lock goes works."""
        path = tmp_path / "h.db"
        fake = FakeTime()
        retry = BusyRetry(45, sleep=fake.sleep, clock=fake.clock, jitter=lambda: 0.5)
        with SQLiteBackend(path, busy_timeout=45, _busy=retry) as backend:
            backend.append([row(0)])
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            other.execute(INSERT, params(row(1, author="other")))
            with pytest.raises(StorageError, match=r"busy_timeout=45 s") as caught:
                backend.append([row(1)])
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            assert sum(fake.sleeps) == pytest.approx(45)
            assert set(fake.inside_gate) == {0}
            assert backend.read("t") == [row(0)]
            other.rollback()
            other.close()
            backend.append([row(1), row(2)])  # a transaction, no wait
            assert backend.latest("t") == 2

    def test_a_lock_released_while_waiting_costs_only_the_wait(
        self, tmp_path: Path
    ) -> None:
        """The lock goes after some waits: the write goes through, once."""
        path = tmp_path / "h.db"
        other = sqlite3.connect(path, isolation_level=None)
        fake = FakeTime()

        def sleep(seconds: float) -> None:
            fake.sleep(seconds)
            if len(fake.sleeps) == 20:
                other.rollback()

        retry = BusyRetry(30, sleep=sleep, clock=fake.clock, jitter=lambda: 0.5)
        with SQLiteBackend(path, _busy=retry) as backend:
            other.execute("BEGIN IMMEDIATE")
            backend.append([row(0)])
            assert backend.read("t") == [row(0)]
            assert len(fake.sleeps) == 20
        other.close()
