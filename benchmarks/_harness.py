"""The benchmark harness: medians of interleaved rounds, garbage collector on.

Each ``bench_*.py`` module beside this one defines ``run(quick: bool) ->
list[Figure]``. A figure compares statetrail with a peer library measured in the
same run, round by round (ours, theirs, ours, theirs ...), so a noisy moment on
the machine hits both. Times are per operation, in seconds.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Figure", "interleaved", "per_call"]


@dataclass
class Figure:
    """One measured workload and how it compares with its target."""

    issue: int
    workload: str
    ours: float  # seconds per operation (or the unit named in ``unit``)
    target: str  # the figure the issue asks for, in words
    ok: bool
    peer: str | None = None
    theirs: float | None = None
    unit: str = "s/op"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times faster statetrail is than the peer (theirs / ours)."""
        if self.theirs is None or not self.ours:
            return None
        return self.theirs / self.ours

    def as_dict(self) -> dict[str, Any]:
        """For reports/benchmarks.json."""
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls, the collector left on."""
    assert gc.isenabled(), "benchmarks measure with the garbage collector on"
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(
    ours: Callable[[], object],
    theirs: Callable[[], object] | None,
    *,
    number: int,
    rounds: int = 9,
    fresh: Callable[[], tuple[Callable[[], object], Callable[[], object] | None]]
    | None = None,
) -> tuple[float, float | None]:
    """Median seconds per call for ``ours`` and ``theirs``, alternating rounds.

    With ``fresh``, each round starts from new objects made by it (so a history
    that grows with every call does not grow across rounds).
    """
    mine: list[float] = []
    peer: list[float] = []
    for _ in range(rounds):
        if fresh is not None:
            ours, theirs = fresh()
        mine.append(per_call(ours, number))
        if theirs is not None:
            peer.append(per_call(theirs, number))
    return statistics.median(mine), (statistics.median(peer) if peer else None)
