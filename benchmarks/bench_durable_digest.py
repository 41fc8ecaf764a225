"""Issue 9 / 11: what the value commitment (format 3) adds to a durable write.

Each durable write now carries the Merkle digest of the revision's whole value
(``storage/_value_digest``), kept up to date from the write's changes. Measured
at 13 leaves (the durable benchmarks' state), 10,000 and 1,000,000 entries:

- the digest's own cost per single-leaf ``Store.set`` (``Tracker.advance`` with
  the write's step, a random key each time, CPU time, collector on);
- a whole durable ``Store.set`` on SQLite (``durability="normal"``, so the
  figure is the library's work and not an fsync) beside it, for scale;
- hashing the whole value once: the first write of a timeline opened from
  storage, or a write on another branch than the last, pays it.

The in-memory ``Store.set`` does not run any of this (only a journal does).
"""

from __future__ import annotations

import tempfile
import time
from itertools import count
from pathlib import Path
from typing import Any

import statetrail
from _harness import Figure, spread
from statetrail._change import UNSTORED, Change
from statetrail.frozen import freeze
from statetrail.storage._value_digest import Tracker

ISSUE = 11

#: The durable benchmarks' 13-leaf state (bench_storage.STATE's shape).
SMALL = {
    "counts": {f"bin{i}": 0 for i in range(10)},
    "sorted": 0,
    "owner": "bench",
    "open": True,
}


def _state(entries: int) -> dict[str, Any]:
    if entries <= 13:
        return SMALL
    return {"counts": {f"bin{i}": 0 for i in range(entries)}}


def _digest_per_set(value: Any, keys: list[str], writes: int) -> tuple[float, float]:
    """(seconds to hash ``value`` whole, CPU seconds per single-leaf step)."""
    tracker = Tracker()
    started = time.perf_counter()
    tracker.reset(value, 0)
    whole = time.perf_counter() - started
    steps = [
        Change(("counts", keys[i % len(keys)]), UNSTORED, i) for i in range(writes)
    ]
    started = time.process_time()
    for n, step in enumerate(steps, 1):
        tracker.advance((step,), None, n)
    return whole, (time.process_time() - started) / writes


def _durable_set(scratch: Path, state: Any, keys: list[str], writes: int) -> float:
    """Wall seconds per durable Store.set (synchronous=NORMAL)."""
    with statetrail.open(scratch / "d.db", durability="normal") as repo:
        store = repo.store("bench", state)
        store.set(f"counts.{keys[0]}", -1)  # the first write hashes the value
        values = count(1)
        paths = [f"counts.{k}" for k in keys]
        started = time.perf_counter()
        for i in range(writes):
            store.set(paths[i % len(paths)], next(values))
        return (time.perf_counter() - started) / writes


def run(quick: bool) -> list[Figure]:
    """The digest's cost per durable write at three state sizes."""
    figures = []
    sizes = (13, 10_000, 100_000 if quick else 1_000_000)
    for entries in sizes:
        state = _state(entries)
        value = freeze(state)
        names = list(state["counts"])
        keys = spread(names, min(len(names) * 50, 20_000), seed=entries)
        whole, per_set = _digest_per_set(value, keys, 2_000 if quick else 20_000)
        with tempfile.TemporaryDirectory() as scratch:
            durable = _durable_set(Path(scratch), state, keys, 200 if quick else 2_000)
        figures.append(
            Figure(
                issue=ISSUE,
                workload=f"value digest per single-leaf Store.set, {entries:,} entries",
                ours=per_set,
                target="about the change, not the state (<= 50 us at any size)",
                ok=per_set <= 50e-6,
                unit="s/op (CPU)",
                extra={
                    "durable_store_set_normal_s": durable,
                    "share_of_durable_set": per_set / durable,
                    "whole_value_once_s": whole,
                },
            )
        )
    return figures


if __name__ == "__main__":
    for figure in run(quick=False):
        print(
            f"{figure.workload}: {figure.ours * 1e6:.1f} us;"
            f" durable Store.set {figure.extra['durable_store_set_normal_s'] * 1e6:.0f}"
            f" us ({figure.extra['share_of_durable_set']:.1%});"
            f" whole value once {figure.extra['whole_value_once_s'] * 1e3:.1f} ms"
        )
