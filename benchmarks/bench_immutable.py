"""Issue 4: update() of one key of a nested 10,000-entry ImmutableDict.

Side by side with shoobx.immutable 1.2.0 in the same run. shoobx's update() clones
the whole tree; statetrail's shares everything but the changed path, so one update
is timed over a batch of them and the peer's one at a time, alternating rounds.
"""

from __future__ import annotations

import itertools
from typing import Any

from _harness import Figure, interleaved

ENTRIES = 10_000
TARGET_SECONDS = 20e-6
TARGET_RATIO = 1_000


def _tree() -> dict[str, Any]:
    return {
        f"user{i}": {"name": f"user {i}", "score": i, "tags": ["a", "b"]}
        for i in range(ENTRIES)
    }


def run(quick: bool) -> list[Figure]:
    import shoobx.immutable as shoobx

    import statetrail.immutable as im

    tree = _tree()
    key = f"user{ENTRIES // 2}"
    ours_state = [im.ImmutableDict(tree)]
    theirs_state = [shoobx.ImmutableDict(tree)]
    counter = itertools.count()
    batch = 200 if quick else 2_000

    def ours() -> None:
        for _ in range(batch):
            with im.update(ours_state[0]) as new:
                new[key]["score"] = next(counter)
            ours_state[0] = new

    def theirs() -> None:
        with shoobx.update(theirs_state[0]) as new:
            new[key]["score"] = next(counter)
        theirs_state[0] = new

    per_batch, per_theirs = interleaved(
        ours, theirs, number=1, rounds=3 if quick else 9
    )
    assert per_theirs is not None
    per_ours = per_batch / batch
    # Both really changed the key, and only in the new version.
    assert ours_state[0][key]["score"] != tree[key]["score"]
    assert theirs_state[0][key]["score"] != tree[key]["score"]
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
