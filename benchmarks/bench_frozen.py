"""Issue 2: choosing the persistent map by measurement.

statetrail's own hash trie (FrozenDict) against immutables.Map (a C HAMT) and
pyrsistent's pmap, on a 10,000-key map: a lookup, a one-key write that keeps the
old version, and finding what differs between two versions that share all but one
key. immutables does not expose its nodes, so its diff must visit every key.
"""

from __future__ import annotations

import immutables
import pyrsistent

import statetrail
from _harness import Figure, interleaved

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
    figures = []

    mine, theirs = interleaved(
        lambda: ours["k5000"], lambda: imm["k5000"], number=number
    )
    _, pyr = interleaved(lambda: None, lambda: pmap["k5000"], number=number)  # type: ignore[index]
    assert theirs is not None
    figures.append(
        Figure(
            2,
            "lookup in a 10,000-key map (ours vs immutables)",
            mine,
            "reported",
            True,
            "immutables",
            theirs,
            extra={"pyrsistent_s": pyr},
        )
    )

    mine, theirs = interleaved(
        lambda: ours.set("k5000", -1), lambda: imm.set("k5000", -1), number=number // 4
    )
    _, pyr = interleaved(
        lambda: None, lambda: pmap.set("k5000", -1), number=number // 4
    )  # type: ignore[attr-defined]
    assert theirs is not None
    figures.append(
        Figure(
            2,
            "one-key write keeping the old version (ours vs immutables)",
            mine,
            "reported",
            True,
            "immutables",
            theirs,
            extra={"pyrsistent_s": pyr},
        )
    )

    ours2 = ours.set("k5000", -1)
    imm2 = imm.set("k5000", -1)
    assert statetrail.diff(ours, ours2)[0].path == ("k5000",)
    assert _immutables_diff(imm, imm2) == ["k5000"]
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
