"""Issue 2: choosing the persistent map by measurement.

statetrail's own hash trie (FrozenDict) against immutables.Map (a C HAMT) and
pyrsistent's pmap, on a 10,000-key map: a lookup, a one-key write that keeps the
old version, and finding what differs between two versions that share all but one
key. immutables does not expose its nodes, so its diff must visit every key.

Keys are drawn at random over the whole map before the timing starts, none twice
until every key has had its turn (``_harness.spread``); each side runs the same
keys through ``map()`` in C, so the loop costs both sides alike and little.
"""

from __future__ import annotations

import random

import immutables
import pyrsistent

import statetrail
from _harness import Figure, consume, interleaved, spread

N = 10_000


def _maps() -> tuple[statetrail.FrozenDict[str, int], immutables.Map[str, int], object]:
    plain = {f"k{i}": i for i in range(N)}
    return statetrail.FrozenDict(plain), immutables.Map(plain), pyrsistent.pmap(plain)


def _immutables_diff(
    a: immutables.Map[str, int], b: immutables.Map[str, int]
) -> list[str]:
    changed = [k for k, v in a.items() if b.get(k, v) != v or k not in b]
    changed += [k for k in b if k not in a]
    return changed


def run(quick: bool) -> list[Figure]:
    ours, imm, pmap = _maps()
    number = 20_000 if quick else 200_000
    keys = spread([f"k{i}" for i in range(N)], number, seed=2)
    figures = []

    mine, theirs = interleaved(
        lambda: consume(map(ours.__getitem__, keys)),
        lambda: consume(map(imm.__getitem__, keys)),
        number=1,
    )
    _, pyr = interleaved(
        lambda: None,
        lambda: consume(map(pmap.__getitem__, keys)),  # type: ignore[attr-defined]
        number=1,
    )
    assert theirs is not None
    assert pyr is not None
    figures.append(
        Figure(
            2,
            "lookup of a random key in a 10,000-key map (ours vs immutables)",
            mine / number,
            "reported",
            True,
            "immutables",
            theirs / number,
            extra={"pyrsistent_s": pyr / number},
        )
    )

    writes = keys[: number // 4]
    values = [-i for i in range(len(writes))]
    mine, theirs = interleaved(
        lambda: consume(map(ours.set, writes, values)),
        lambda: consume(map(imm.set, writes, values)),
        number=1,
    )
    _, pyr = interleaved(
        lambda: None,
        lambda: consume(map(pmap.set, writes, values)),  # type: ignore[attr-defined]
        number=1,
    )
    assert theirs is not None
    assert pyr is not None
    figures.append(
        Figure(
            2,
            "one-key write of a random key, old version kept (ours vs immutables)",
            mine / len(writes),
            "reported",
            True,
            "immutables",
            theirs / len(writes),
            extra={"pyrsistent_s": pyr / len(writes)},
        )
    )

    # The writes that pay for insertion order: a new key (appended to the keys
    # vector, a position recorded) and a deletion (a hole left).
    fresh = [f"new{i}" for i in range(len(writes))]
    mine, theirs = interleaved(
        lambda: consume(map(ours.set, fresh, values)),
        lambda: consume(map(imm.set, fresh, values)),
        number=1,
    )
    assert theirs is not None
    figures.append(
        Figure(
            10,
            "add a new key to a 10,000-key map, old version kept (ours vs immutables)",
            mine / len(fresh),
            "reported (the cost of keeping insertion order)",
            True,
            "immutables",
            theirs / len(fresh),
        )
    )
    mine, theirs = interleaved(
        lambda: consume(map(ours.delete, writes)),
        lambda: consume(map(imm.delete, writes)),
        number=1,
    )
    assert theirs is not None
    figures.append(
        Figure(
            10,
            "delete a random key of a 10,000-key map, old version kept (ours vs "
            "immutables)",
            mine / len(writes),
            "reported (the cost of keeping insertion order)",
            True,
            "immutables",
            theirs / len(writes),
        )
    )
    mine, theirs = interleaved(
        lambda: consume(ours.items()),
        lambda: consume(imm.items()),
        number=number // 1000,
    )
    assert theirs is not None
    figures.append(
        Figure(
            10,
            "iterate the items of a 10,000-key map, in insertion order (ours; "
            "immutables iterates in hash order)",
            mine,
            "reported",
            True,
            "immutables",
            theirs,
        )
    )

    key = random.Random(3).choice(keys)
    ours2 = ours.set(key, -1)
    imm2 = imm.set(key, -1)
    assert statetrail.diff(ours, ours2)[0].path == (key,)
    assert _immutables_diff(imm, imm2) == [key]
    mine, theirs = interleaved(
        lambda: statetrail.diff(ours, ours2),
        lambda: _immutables_diff(imm, imm2),
        number=number // 50,
    )
    assert theirs is not None
    figures.append(
        Figure(
            2,
            "what differs between two versions of a 10,000-key map",
            mine,
            "reported (why we keep our own trie)",
            True,
            "immutables",
            theirs,
        )
    )
    return figures
