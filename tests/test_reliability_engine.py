"""The engine under hostile use (RELIABILITY S6, S7, S9), figures recorded."""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
import tracemalloc
from typing import Any

import pytest

from statetrail import (
    MAX_LISTENER_DEPTH,
    ReentrancyError,
    Retention,
    Revision,
    Timeline,
)
from tests.conftest import scaled
from tests.reliability import record
from tests.test_concurrency import run_threads


class Custom(Exception):
    """A validator's own exception type."""


class TestS6ValidatorsUnderLoad:
    def test_rejections_leave_no_trace(self) -> None:
        """8 threads, 10,000 writes, 30% rejected by validators raising four kinds
        of exception: recorded = accepted, nothing rejected appears, every thread
        finishes, and each caller gets the exception type its validator raised."""
        total = scaled(10_000)
        per = total // 8
        kinds = [ValueError, KeyError, RuntimeError, Custom]

        def validator(value: Any) -> None:
            tid, seq, reject = value
            if reject is not None:
                raise kinds[reject](f"rejected {tid}/{seq}")

        t: Timeline[Any] = Timeline(None, validators=[validator])
        accepted: list[list[tuple[int, int]]] = [[] for _ in range(8)]
        wrong_type = [0]

        def work(tid: int) -> None:
            rng = random.Random(tid)
            for seq in range(per):
                reject = rng.randrange(4) if rng.random() < 0.3 else None
                try:
                    t.set((tid, seq, reject))
                except (ValueError, KeyError, RuntimeError, Custom) as exc:
                    if reject is None or type(exc) is not kinds[reject]:
                        wrong_type[0] += 1
                else:
                    accepted[tid].append((tid, seq))

        start = time.monotonic()
        assert run_threads(8, work) == []
        elapsed = time.monotonic() - start
        recorded = [(v[0], v[1]) for v in (r.value for r in t.history()[1:])]
        flat = [w for ws in accepted for w in ws]
        traces = sum(1 for r in t.history()[1:] if r.value[2] is not None)
        assert sorted(recorded) == sorted(flat)
        assert traces == 0
        assert wrong_type[0] == 0
        assert elapsed < 30
        record(
            "S6",
            writes=per * 8,
            accepted=len(flat),
            recorded=len(recorded),
            rejected_traces=traces,
            wrong_exception_types=wrong_type[0],
            seconds=round(elapsed, 2),
        )


class TestS7Subscribers:
    def test_hostile_listeners(self, caplog: pytest.LogCaptureFixture) -> None:
        """A raising listener is logged and isolated; a writing one finishes in
        order; one that subscribes and unsubscribes during dispatch takes effect
        on the next revision; the others see every revision in order."""
        t: Timeline[int] = Timeline(0)
        seen: list[int] = []
        late: list[int] = []

        def raising(rev: Revision) -> None:
            raise RuntimeError("always fails")

        def writer(rev: Revision) -> None:
            if 0 < rev.value < 50:
                t.set(rev.value + 1)

        def churn(rev: Revision) -> None:
            t.remove_listener(churn)
            t.add_listener(lambda r: late.append(r.value))

        for fn in (raising, writer, churn, lambda rev: seen.append(rev.value)):
            t.add_listener(fn)
        start = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="statetrail"):
            t.set(1)
        elapsed = time.monotonic() - start
        assert seen == list(range(1, 51))
        assert late == list(range(2, 51))
        failures = [r for r in caplog.records if "failed on revision" in r.getMessage()]
        assert len(failures) == 50
        assert elapsed < 5
        record(
            "S7-hostile", events=50, delivered_in_order=True, seconds=round(elapsed, 3)
        )

    def test_endless_reentrancy_is_a_reentrancy_error(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A listener that re-enters forever stops at the documented depth with a
        ReentrancyError; no RecursionError."""
        t: Timeline[int] = Timeline(0)
        t.add_listener(lambda rev: t.set(rev.value + 1))
        with caplog.at_level(logging.ERROR, logger="statetrail"):
            t.set(1)
        assert t.value == MAX_LISTENER_DEPTH
        assert ReentrancyError.__name__ in caplog.text
        assert "RecursionError" not in caplog.text
        record("S7-reentrancy", stopped_at_depth=t.value, recursion_errors=0)

    def test_a_slow_listener_does_not_block_other_writers(self) -> None:
        """While one thread is stuck delivering to a listener that sleeps, other
        threads' writes complete at full speed; afterwards every revision reaches
        the listener, in commit order."""
        t: Timeline[int] = Timeline(0)
        delivered: list[int] = []
        first = threading.Event()

        def sleeper(rev: Revision) -> None:
            if not first.is_set():
                first.set()
                time.sleep(0.3)
            delivered.append(rev.number)

        t.add_listener(sleeper)
        stuck = threading.Thread(target=lambda: t.set(1))
        stuck.start()
        assert first.wait(5)
        writes = scaled(2_000)
        start = time.monotonic()
        for i in range(writes):
            t.set(i)
        writer_seconds = time.monotonic() - start
        stuck.join()
        # The writes never waited for the sleeper (2,000 sets take milliseconds),
        # and the stuck thread delivered everything queued meanwhile, in order.
        assert writer_seconds < 0.3
        assert delivered == list(range(1, writes + 2))
        record(
            "S7-sleeper",
            writes=writes,
            writer_seconds=round(writer_seconds, 4),
            per_write_us=round(writer_seconds / writes * 1e6, 2),
            delivered_in_order=True,
        )


class TestS9RetentionAndBounds:
    # Out of coverage: tracemalloc and coverage's tracer together made this one
    # loop the slowest test of `make test` (4.2x its untraced time), and every line
    # it runs is covered by tests/test_timeline.py's retention tests.
    @pytest.mark.no_cover
    def test_keep_last_holds_memory_flat(self) -> None:
        """keep_last=1000 over 100,000 writes (20,000 in make test, 20 times the
        kept window): at most 1,001 revisions held, every trim reported in
        tombstones, and memory growth over the second half at most 5% (measured
        from the same line of code, so the values are alike)."""
        writes = scaled(100_000, ci=20_000)
        gc.collect()
        tracemalloc.start()
        t: Timeline[Any] = Timeline({"n": 0}, retention=Retention(keep_last=1000))
        middle = 0
        for i in range(writes):
            t.set_in("n", i)
            if i == writes // 2:
                gc.collect()
                middle = tracemalloc.get_traced_memory()[0]
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        kept = len(t)
        trimmed = sum(tomb.count for tomb in t.tombstones)
        growth = (end - middle) / middle
        assert kept <= 1001
        assert trimmed == writes + 1 - kept
        assert len(t.tombstones) == 1
        assert growth <= 0.05
        record(
            "S9",
            writes=writes,
            kept=kept,
            trimmed_reported=trimmed,
            silent_trims=writes + 1 - kept - trimmed,
            memory_at_middle_bytes=middle,
            memory_growth_second_half_ratio=round(growth, 4),
        )
