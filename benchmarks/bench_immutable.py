"""Issue 4: update() of one key of a nested 10,000-entry ImmutableDict.

Side by side with shoobx.immutable 1.2.0 in the same run. shoobx's update() clones
the whole tree; statetrail's shares everything but the changed path, so one update
is timed over a batch of them and the peer's one at a time, alternating rounds.
Each update changes a user drawn at random over all 10,000, made before the timing
starts, none twice until every user has had its turn (``_harness.spread``).
"""

from __future__ import annotations

import itertools
from typing import Any

from _harness import Figure, interleaved, spread

ENTRIES = 10_000
TARGET_SECONDS = 20e-6
TARGET_RATIO = 1_000


def _tree() -> dict[str, Any]:
    return {
        f"user{i}": {"name": f"user {i}", "score": i, "tags": ["a", "b"]}
        for i in range(ENTRIES)
    }


def batch_size(quick: bool) -> int:
    """How many updates one timed call of ours makes."""
    return 200 if quick else 2_000


def run(quick: bool) -> list[Figure]:
    import shoobx.immutable as shoobx

    import statetrail.immutable as im

    tree = _tree()
    rounds = 3 if quick else 9
    users = [f"user{i}" for i in range(ENTRIES)]
    batch = batch_size(quick)
    # Keys and values made before any timing: one list of (key, value) per call.
    keys = spread(users, batch * rounds, seed=4)
    ours_calls = iter(
        [
            list(zip(keys[k : k + batch], itertools.count(k + 1)))
            for k in range(0, len(keys), batch)
        ]
    )
    theirs_calls = iter(zip(spread(users, rounds, seed=5), itertools.count(1)))
    ours_state = [im.ImmutableDict(tree)]
    theirs_state = [shoobx.ImmutableDict(tree)]
    changed: list[str] = []

    def ours() -> None:
        pairs = next(ours_calls)
        state = ours_state[0]
        for key, value in pairs:
            with im.update(state) as new:
                new[key]["score"] = -value
            state = new
        ours_state[0] = state
        changed.append(pairs[-1][0])

    def theirs() -> None:
        key, value = next(theirs_calls)
        with shoobx.update(theirs_state[0]) as new:
            new[key]["score"] = -value
        theirs_state[0] = new
        changed.append(key)

    per_batch, per_theirs = interleaved(ours, theirs, number=1, rounds=rounds)
    assert per_theirs is not None
    per_ours = per_batch / batch
    # Both really changed their keys, and only in the new version.
    assert ours_state[0][changed[-2]]["score"] != tree[changed[-2]]["score"]
    assert theirs_state[0][changed[-1]]["score"] != tree[changed[-1]]["score"]
    ratio = per_theirs / per_ours
    return [
        Figure(
            issue=4,
            workload=f"update() one key of a nested {ENTRIES:,}-entry ImmutableDict",
            ours=per_ours,
            target=f"<= {TARGET_SECONDS * 1e6:.0f} us and >= {TARGET_RATIO:,}x",
            ok=per_ours <= TARGET_SECONDS and ratio >= TARGET_RATIO,
            peer="shoobx.immutable 1.2.0",
            theirs=per_theirs,
            extra={"batch": batch, "entries": ENTRIES},
        )
    ]
