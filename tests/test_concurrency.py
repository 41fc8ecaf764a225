"""Threads against one Timeline and one Var (RELIABILITY C1, C2, C3).

Writers start together on a barrier with the interpreter's switch interval at
1 microsecond, to make races likely. Every value written is ``(thread, seq)``,
so a checker can tell exactly which write each revision is.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from statetrail import Revision, Timeline, Var
from tests.conftest import scaled

THREADS = 16

# Out of coverage (pytest-cov's no_cover): these trials run the same lines as the
# single-threaded tests, tens of thousands of times over, on 16 threads. Python
# 3.11's tracer made them 4.3x slower (the readers test 14.6x), the slowest file
# of `make test`, and proved nothing more; untraced they are also closer to the
# timing a user's threads see.
pytestmark = pytest.mark.no_cover


@contextmanager
def frequent_switches() -> Iterator[None]:
    """Switch threads every microsecond (pymongo's frequent_thread_switches)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` on ``count`` threads released together; return their errors.

    The threads start at the normal switch interval and are released together
    with it at 1 microsecond.
    """
    barrier = threading.Barrier(count + 1)  # the threads and this one
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            # A thread that never arrives breaks the barrier for all instead of
            # leaving the others (and the test run) waiting for ever.
            barrier.wait(timeout=120)
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    with frequent_switches():
        with suppress(threading.BrokenBarrierError):  # the threads report it
            barrier.wait(timeout=120)
        for t in threads:
            t.join()
    return errors


def check_history(revs: list[Revision], writers: int, per_writer: int) -> None:
    """The C1 checker: contiguous numbers, parent links, each write once, in order."""
    assert [r.number for r in revs] == list(range(len(revs)))
    assert all(r.parent == r.number - 1 for r in revs[1:])
    writes = [r.value for r in revs[1:]]
    assert len(writes) == writers * per_writer
    assert len(set(writes)) == len(writes)
    last: dict[int, int] = {}
    for tid, seq in writes:
        assert seq == last.get(tid, -1) + 1, f"thread {tid} out of order at {seq}"
        last[tid] = seq
    assert all(last[tid] == per_writer - 1 for tid in range(writers))


class TestManyWriters:
    def test_sixteen_threads_lose_no_set(self) -> None:
        """16 threads x 10,000 sets on one Var: every set recorded exactly once, in
        each thread's order, with no gap or duplicate number; listeners see every
        revision in commit order; the final value is the head's."""
        per = scaled(10_000)
        var: Var[Any] = Var("counter", None)
        delivered: list[int] = []
        var.add_listener(lambda v, rev: delivered.append(rev.number))

        def work(tid: int) -> None:
            for seq in range(per):
                var.set((tid, seq))

        assert run_threads(THREADS, work) == []
        revs = var.history()
        check_history(revs, THREADS, per)
        assert delivered == list(range(1, THREADS * per + 1))
        assert var.get() == revs[-1].value

    def test_without_listeners_too(self) -> None:
        """The listener-free fast path keeps the same guarantees."""
        per = scaled(5_000)
        t: Timeline[Any] = Timeline(None)

        def work(tid: int) -> None:
            for seq in range(per):
                t.set((tid, seq))

        assert run_threads(THREADS, work) == []
        check_history(t.history(), THREADS, per)

    def test_the_checker_has_teeth(self) -> None:
        """check_history fails on a history that lost, duplicated or reordered a
        write (the checker must not pass broken runs)."""
        t: Timeline[Any] = Timeline(None)
        for seq in range(3):
            t.set((0, seq))
        good = t.history()
        check_history(good, 1, 3)
        lost = [good[0], good[1], good[3]]
        swapped = [good[0], good[2], good[1], good[3]]
        for broken in (lost, swapped):
            with pytest.raises(AssertionError):
                check_history(broken, 1, 3)


class _NoLock:
    """A lock that does nothing: the deliberately broken variant for C2."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def hammer_updates(t: Timeline[int], per: int) -> list[BaseException]:
    def work(tid: int) -> None:
        for _ in range(per):
            t.update(lambda n: n + 1)

    return run_threads(THREADS, work)


class TestAtomicUpdate:
    def test_no_lost_updates(self) -> None:
        """16 threads x 10,000 update(n + 1) count to exactly 160,000."""
        per = scaled(10_000)
        t = Timeline(0)
        assert hammer_updates(t, per) == []
        assert t.value == THREADS * per
        assert len(t) == THREADS * per + 1

    def test_without_the_lock_updates_are_lost(self) -> None:
        """Teeth: against a timeline whose lock does nothing, updates that returned
        normally are lost (the final count is below the number of completed
        updates), so the test above would catch a broken lock."""

        def slow_increment(n: int) -> int:
            value = n
            for _ in range(50):  # widen the window between read and write
                value += 0
            return value + 1

        lost_runs = 0
        for _ in range(3):
            t = Timeline(0)
            t._lock = _NoLock()  # type: ignore[assignment]
            completed = [0] * THREADS

            def work(
                tid: int, t: Timeline[int] = t, done: list[int] = completed
            ) -> None:
                for _ in range(300):
                    try:
                        t.update(slow_increment)
                    except Exception:  # a broken lock may raise; count the rest
                        continue
                    done[tid] += 1

            assert run_threads(THREADS, work) == []
            if t.value < sum(completed):
                lost_runs += 1
        assert lost_runs >= 1


class TestReadersDuringWrites:
    def test_readers_never_see_errors_or_a_head_going_back(self) -> None:
        """4 readers loop over value, history, log, diff and blame while 8 writers
        write; no reader raises, and no reader sees the head number go down."""
        per = scaled(2_000, ci=500)
        t: Timeline[Any] = Timeline({"n": 0, "who": None})
        done = threading.Event()
        reader_errors: list[BaseException] = []

        def reader() -> None:
            last = -1
            try:
                while not done.is_set():
                    head = t.head.number
                    assert head >= last
                    last = head
                    revs = t.history()
                    assert revs[-1].number >= head
                    assert t.value_at(head)["n"] >= 0
                    t.diff(0, head)
                    t.blame("n")
                    t.log(limit=5, reverse=True)
            except BaseException as exc:
                reader_errors.append(exc)

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for r in readers:
            r.start()

        def work(tid: int) -> None:
            for seq in range(per):
                t.update(
                    lambda v, tid=tid, seq=seq: v.set("n", v["n"] + 1).set(
                        "who", (tid, seq)
                    )
                )

        errors = run_threads(8, work)
        done.set()
        for r in readers:
            r.join()
        assert errors == []
        assert reader_errors == []
        assert t.value["n"] == 8 * per
