"""Store.set against roz-remembers' Store.set, and how its cost grows with the state.

roz-remembers deep-copies the whole state on every set; statetrail's Store copies
only the path it touches and keeps every revision. The state is the seed's own
shape scaled up: entries like ``{"id": 7, "status": "idle", "bins": [7, 8]}``, and
each set changes one entry's status to a new value. The entries are drawn at random
over the whole state, made before the timing starts, and none repeats within a
store until every entry has had its turn (``_harness.spread``).

Issue 10 adds, on the same state: ``Store.set`` at 100,000 entries; the memory
one such revision keeps (tracemalloc, after a collection); reading one leaf of a
random entry of an old revision by indexing, ``store.at(n)[key]["status"]``; and
``Store(state)`` of 100,000 entries against building the same state as nested
``immutables.Map`` objects (lists as tuples), the collector on for both.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from itertools import count
from typing import Any

from _harness import Figure, consume, interleaved, spread
from statetrail.store import Store

ISSUE = 3


def records(n: int, prefix: str = "e") -> dict[str, Any]:
    """A state of ``n`` entries shaped like the seed's ``job``."""
    return {
        f"{prefix}{i}": {"id": i, "status": "idle", "bins": [i, i + 1]}
        for i in range(n)
    }


def flat(n: int) -> dict[str, Any]:
    """A state of ``n`` integers (the cheapest state for a deep copy)."""
    return {f"e{i}": i for i in range(n)}


_seeds = count()


def setter(
    store: Any, n: int, leaf: str, batch: int, calls: int
) -> Callable[[], object]:
    """``calls`` runs of ``batch`` sets of fresh values on random entries."""
    paths = spread([f"e{i}{leaf}" for i in range(n)], batch * calls, next(_seeds))
    pairs = iter(
        [list(zip(paths[k : k + batch], count(k))) for k in range(0, len(paths), batch)]
    )
    set_ = store.set

    def run() -> None:
        for path, value in next(pairs):
            set_(path, value)

    return run


def versus_roz(
    make: Callable[[int], dict[str, Any]], leaf: str, n: int, rounds: int
) -> tuple[float, float]:
    """Seconds per set: (ours, roz-remembers'), in interleaved rounds."""
    import roz_remembers

    state = make(n)
    batch = 1000

    def fresh() -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            setter(Store(state), n, leaf, batch, 3),
            setter(roz_remembers.Store(state), n, leaf, 1, 3),
        )

    ours, theirs = interleaved(lambda: None, None, number=3, rounds=rounds, fresh=fresh)
    assert theirs is not None
    return ours / batch, theirs


def per_set(n: int, rounds: int, batch: int) -> float:
    """Seconds per Store.set on an ``n``-entry state with history."""
    state = records(n)

    def fresh() -> tuple[Callable[[], object], None]:
        return setter(Store(state), n, ".status", batch, 5), None

    ours, _ = interleaved(lambda: None, None, number=5, rounds=rounds, fresh=fresh)
    return ours / batch


def history_memory(n: int, writes: int) -> tuple[float, float]:
    """Bytes one revision of a random ``Store.set`` keeps, state of ``n`` entries.

    Twice, each in a fresh store: first on paths no store of this process has
    written (each revision also pays its path's entry in the store's cache of
    paths, one per path text, bounded), then on the same paths again: what a
    revision itself keeps.
    """
    paths = spread([f"h{i}.status" for i in range(n)], writes, 7)
    out = []
    for _ in range(2):
        store = Store(records(n, "h"))
        pairs = list(zip(paths, count()))
        set_ = store.set
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for path, value in pairs:
                set_(path, value)
            gc.collect()
            out.append((tracemalloc.get_traced_memory()[0] - before) / writes)
        finally:
            tracemalloc.stop()
    return out[1], out[0]


def read_old(n: int, reads: int, rounds: int) -> float:
    """Seconds per ``store.at(500)[key]["status"]`` of 1,000 revisions, random keys.

    Revision 500, as ``bench_var`` reads the whole state of one, and a key drawn
    at random over the whole state for each read.
    """
    store = Store(records(n))
    for i, path in enumerate(spread([f"e{i}.status" for i in range(n)], 1000, 8)):
        store.set(path, i)
    keys = spread([f"e{i}" for i in range(n)], reads, 10)
    at = store.at

    def read(key: str) -> object:
        return at(500)[key]["status"]

    def empty(key: str) -> object:
        return None

    def timed(fn: Callable[[str], object]) -> float:
        gc.collect()
        start = time.perf_counter()
        consume(map(fn, keys))
        return (time.perf_counter() - start) / reads

    # The loop's own cost (map calling a Python function) is taken off: what is
    # left is the read, as ``store.at(500)[key]["status"]`` costs written inline.
    times = [timed(read) - timed(empty) for _ in range(rounds)]
    return sorted(times)[len(times) // 2]


def build(n: int, rounds: int) -> tuple[float, float]:
    """Seconds for ``Store(state)`` and for the same state as nested Maps."""
    import immutables

    state = records(n)
    Map = immutables.Map

    def theirs() -> object:
        return Map(
            {
                k: Map({"id": v["id"], "status": v["status"], "bins": tuple(v["bins"])})
                for k, v in state.items()
            }
        )

    ours, peer = interleaved(lambda: Store(state), theirs, number=1, rounds=rounds)
    assert peer is not None
    return ours, peer


def run(quick: bool) -> list[Figure]:
    """The issue's figures: the ratio to roz-remembers, and the scaling."""
    rounds = 3 if quick else 9
    ours, theirs = versus_roz(records, ".status", 10_000, rounds)
    flat_ours, flat_theirs = versus_roz(flat, "", 10_000, rounds)
    figures = [
        Figure(
            issue=ISSUE,
            workload="Store.set on a random path of a 10,000-entry state, history kept",
            ours=ours,
            peer="roz-remembers 0.2.0 Store.set",
            theirs=theirs,
            target=">= 1000x faster than roz-remembers",
            ok=theirs / ours >= 1000,
            extra={
                "state": "10,000 entries of {id, status, bins}",
                "flat_10k_ints_ours": flat_ours,
                "flat_10k_ints_theirs": flat_theirs,
                "flat_10k_ints_ratio": flat_theirs / flat_ours,
            },
        ),
        Figure(
            issue=10,
            workload="Store.set on a random path of a 10,000-entry state, history "
            "kept (issue 10)",
            ours=ours,
            peer="roz-remembers 0.2.0 Store.set",
            theirs=theirs,
            target="<= 12 us and >= 3000x faster than roz-remembers",
            ok=ours <= 12e-6 and theirs / ours >= 3000,
        ),
    ]
    small = per_set(1_000, rounds, 1000)
    large = per_set(100_000, rounds, 1000)
    figures.append(
        Figure(
            issue=ISSUE,
            workload="Store.set cost at 100,000 entries / at 1,000 entries",
            ours=large / small,
            unit="x",
            target="<= 3x",
            ok=large / small <= 3,
            extra={"at_1k_s": small, "at_100k_s": large},
        )
    )
    figures.append(
        Figure(
            issue=10,
            workload="Store.set on a random path of a 100,000-entry state, "
            "history kept",
            ours=large,
            target="<= 36 us",
            ok=large <= 36e-6,
        )
    )
    memory, first = history_memory(10_000, 500 if quick else 5_000)
    figures.append(
        Figure(
            issue=10,
            workload="history memory per Store.set revision, 10,000-entry state",
            ours=memory,
            unit="bytes",
            target="<= 1,500 bytes",
            ok=memory <= 1500,
            extra={"first_write_of_each_path_bytes": first},
        )
    )
    read = read_old(10_000, 20_000 if quick else 200_000, rounds)
    figures.append(
        Figure(
            issue=10,
            workload='store.at(500)[key]["status"]: one leaf of an old revision '
            "of a 10,000-entry state, random keys",
            ours=read,
            target="<= 1 us",
            ok=read <= 1e-6,
        )
    )
    n = 10_000 if quick else 100_000
    made, peer = build(n, 3 if quick else 5)
    figures.append(
        Figure(
            issue=10,
            workload=f"Store(state) of a {n:,}-entry nested dict",
            ours=made,
            peer="immutables 0.21, the same state as nested Maps",
            theirs=peer,
            target="no slower than immutables",
            ok=made <= peer,
        )
    )
    return figures
