"""Store.set against roz-remembers' Store.set, and how its cost grows with the state.

roz-remembers deep-copies the whole state on every set; statetrail's Store copies
only the path it touches and keeps every revision. The state is the seed's own
shape scaled up: entries like ``{"id": 7, "status": "idle", "bins": [7, 8]}``, and
each set changes one entry's status to a new value. The entries are drawn at random
over the whole state, made before the timing starts, and none repeats within a
store until every entry has had its turn (``_harness.spread``).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

from _harness import Figure, interleaved, spread
from statetrail.store import Store

ISSUE = 3


def records(n: int) -> dict[str, Any]:
    """A state of ``n`` entries shaped like the seed's ``job``."""
    return {f"e{i}": {"id": i, "status": "idle", "bins": [i, i + 1]} for i in range(n)}


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
        )
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
    return figures
