"""The benchmark harness: medians of interleaved rounds, garbage collector on.

Each ``bench_*.py`` module beside this one defines ``run(quick: bool) ->
list[Figure]``. A figure compares statetrail with a peer library measured in the
same run, round by round (ours, theirs, ours, theirs ...), so a noisy moment on
the machine hits both. Times are per operation, in seconds.
"""

from __future__ import annotations

import collections
import functools
import gc
import itertools
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Call", "Figure", "consume", "interleaved", "paired", "per_call", "spread"]


@dataclass(frozen=True)
class Call:
    """``fn(*args)``, timed as written, the way :mod:`timeit` times a statement.

    For operations of a microsecond or less: a lambda around them costs a call of
    its own (about 50 ns here) on both sides, which is no part of either library
    and pulls every ratio towards 1. The loop that times a Call is compiled with
    the call spelled out in it, so the time is the call's and the loop's only.
    """

    fn: Callable[..., object]
    args: tuple[Any, ...] = ()

    def __call__(self) -> object:
        return self.fn(*self.args)


@functools.cache
def _loop(arity: int) -> Callable[..., None]:
    """``loop(n, fn, a0, ...)``: call ``fn(a0, ...)`` n times (timeit's template)."""
    names = ", ".join(f"a{i}" for i in range(arity))
    source = (
        f"def loop(_n, _fn{', ' if names else ''}{names}):\n"
        f"    for _ in _repeat(None, _n):\n"
        f"        _fn({names})\n"
    )
    scope: dict[str, Any] = {"_repeat": itertools.repeat}
    exec(compile(source, f"<timing loop of {arity} arguments>", "exec"), scope)
    loop: Callable[..., None] = scope["loop"]
    return loop


def spread(population: Sequence[Any], k: int, seed: int = 0) -> list[Any]:
    """``k`` items of ``population`` drawn at random, made before any timing starts.

    Random permutations of the whole population, one after another: no item comes
    back until every other has had its turn, so a benchmark touches keys and paths
    over the whole state instead of the few that stay hot in the caches. The seed
    makes a run reproducible.
    """
    rng = random.Random(seed)
    out: list[Any] = []
    while len(out) < k:
        batch = list(population)
        rng.shuffle(batch)
        out += batch
    return out[:k]


def consume(calls: Iterable[object]) -> None:
    """Run an iterator of calls (``map(m.get, keys)``) to its end in C."""
    collections.deque(calls, maxlen=0)


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

    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """How many times faster statetrail is than the peer.

        The median of the per-round ratios when the rounds were paired (each
        round timed both sides back to back, so a slow spell on the machine
        affects both), else theirs / ours of the medians.
        """
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.theirs is None or not self.ours:
            return None
        return self.theirs / self.ours

    def as_dict(self) -> dict[str, Any]:
        """For reports/benchmarks.json."""
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls, the collector left on.

    Garbage left by the previous measurement is collected first, so one side's
    collections do not land in the other's time.
    """
    assert gc.isenabled(), "benchmarks measure with the garbage collector on"
    gc.collect()
    if isinstance(fn, Call):
        loop = _loop(len(fn.args))
        start = time.perf_counter()
        loop(number, fn.fn, *fn.args)
        return (time.perf_counter() - start) / number
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


def paired(
    fresh: Callable[[], tuple[Callable[[], object], Callable[[], object]]],
    *,
    number: int,
    rounds: int = 21,
) -> tuple[float, float, float]:
    """Medians of ours and theirs, and the median of the per-round ratios.

    Each round makes fresh objects and times ours then theirs back to back; the
    order alternates between rounds.
    """
    mine: list[float] = []
    peer: list[float] = []
    ratios: list[float] = []
    for i in range(rounds):
        ours, theirs = fresh()
        if i % 2:
            t_theirs = per_call(theirs, number)
            t_ours = per_call(ours, number)
        else:
            t_ours = per_call(ours, number)
            t_theirs = per_call(theirs, number)
        mine.append(t_ours)
        peer.append(t_theirs)
        ratios.append(t_theirs / t_ours)
    return statistics.median(mine), statistics.median(peer), statistics.median(ratios)
