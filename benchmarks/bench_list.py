"""Issue 11 (lists): insert and remove anywhere in a long list, recorded.

Each insert or removal is recorded as a revision through ``Timeline.edit()`` (a
list draft's ``insert`` and ``del``; the revision's one change comes from the
draft, no diff) on lists of 10,000, 100,000 and 1,000,000 items, at an index drawn
at random before the timing starts (``_harness.spread``). The peer is pyrsistent's
``pvector`` (C), which has no insert: ``v[:i].append(x).extend(v[i:])``, and
``v.delete(i)``, unrecorded. "Before" is the 32-way vector FrozenList had until
this change (``_vector_before.py``), whose insert rebuilt the list.

Then what must not get slower, before against after in the same run: a random
index read, an append and iterating, on a dense tree (the layout only appends make,
where both are the same tuples), and the same reads on a relaxed tree.
"""

from __future__ import annotations

import statistics
from itertools import repeat
from typing import Any

import pyrsistent

import _vector_before as before
from _harness import Call, Figure, consume, interleaved, paired, per_call, spread
from statetrail import Store, Timeline
from statetrail.diff import diff
from statetrail.frozen import FrozenList, _splice, _vector

SIZES = (10_000, 100_000, 1_000_000)


def _rebuild_insert(v: before.Vec, i: int, x: object) -> before.Vec:
    """FrozenList.insert before this change: every item into a new vector."""
    items = list(before.iterate(v))
    items.insert(i, x)
    return before.build(items)


def _rebuild_delete(v: before.Vec, i: int) -> before.Vec:
    """FrozenList.delete before this change (but at the end)."""
    items = list(before.iterate(v))
    del items[i]
    return before.build(items)


def _each(fn: Any, values: list[Any]) -> Any:
    """A call of ``fn`` on the next of ``values`` each time."""
    it = iter(values)
    return lambda: fn(next(it))


def _editor(timeline: Timeline[Any], kind: str, spots: list[int]) -> Any:
    """One recorded insert (or removal) per call, at the next of ``spots``."""
    where = iter(spots)

    def insert() -> None:
        with timeline.edit() as items:
            items.insert(next(where), -1)

    def remove() -> None:
        with timeline.edit() as items:
            del items[next(where)]

    return insert if kind == "insert" else remove


def _recorded(n: int, quick: bool) -> list[Figure]:
    base = FrozenList(range(n))
    number = 300 if quick else 2_000
    spots = spread(range(n - number), number, seed=n)
    # The peers copy the whole list per call: fewer calls at a million items.
    k = max(3, min(200, 2_000_000 // n)) // (4 if quick else 1) or 1
    peer_spots = spread(range(n), 100 * k, seed=1)
    pv = pyrsistent.pvector(range(n))
    old = before.build(range(n))
    figures = []
    for kind in ("insert", "remove"):
        rounds = []
        for _ in range(3 if quick else 5):
            timeline = Timeline(base)
            rounds.append(per_call(_editor(timeline, kind, spots), number))
            grown = number if kind == "insert" else -number
            assert len(timeline.value) == n + grown
            change = timeline.head.changes[0]
            assert change.kind == ("add" if kind == "insert" else "remove")
        mine = statistics.median(rounds)
        if kind == "insert":
            theirs = per_call(
                _each(lambda i: pv[:i].append(-1).extend(pv[i:]), peer_spots), k
            )
            was = per_call(_each(lambda i: _rebuild_insert(old, i, -1), peer_spots), k)
        else:
            theirs = per_call(_each(pv.delete, peer_spots), k)
            was = per_call(_each(lambda i: _rebuild_delete(old, i), peer_spots), k)
        figures.append(
            Figure(
                11,
                f"{kind} at a random index of a {n:,}-item list, recorded "
                "(Timeline.edit; peer pvector, unrecorded)",
                mine,
                "<= 200 us" if n == 100_000 else "reported",
                mine <= 200e-6 if n == 100_000 else True,
                "pyrsistent pvector",
                theirs,
                extra={"before_structure_only_s": was},
            )
        )
    return figures


def _changes(quick: bool) -> list[Figure]:
    """A revision's changes, by a diff of the two versions: the size of the change."""
    times = {}
    for n in (10_000, 1_000_000):
        a = FrozenList(range(n))
        pairs = [(a, a.inserted(i, -1)) for i in spread(range(n), 50, seed=5)]
        one = _each(lambda pair: diff(*pair), pairs * 100)
        times[n] = min(per_call(one, 50 if quick else 200) for _ in range(3))
    return [
        Figure(
            11,
            "diff of two versions of a list, one insert apart, at 1,000,000 items "
            "(vs 10,000)",
            times[1_000_000],
            "proportional to the change: <= 200 us, and <= 4x the 10,000-item diff "
            "(the same change, two levels deeper)",
            times[1_000_000] <= min(200e-6, 4 * times[10_000]),
            "the same at 10,000 items",
            times[10_000],
        )
    ]


def _store(quick: bool) -> list[Figure]:
    """Store.delete of a list item: the store's front-end call that removes one."""
    n = 100_000
    store = Store({"items": list(range(n))})
    number = 200 if quick else 1_000
    paths = iter([f"items.{i}" for i in spread(range(n - number), number, seed=9)])
    mine = per_call(lambda: store.delete(next(paths)), number)
    assert len(store.get("items")) == n - number
    return [
        Figure(
            11,
            "Store.delete of the item at a random index of a 100,000-item list",
            mine,
            "<= 200 us",
            mine <= 200e-6,
        )
    ]


def _no_regression(quick: bool) -> list[Figure]:
    n = 100_000
    new, old = _vector.build(range(n)), before.build(range(n))
    relaxed = new
    for i in spread(range(n), 3_000, seed=4):
        relaxed = _splice.delete(_splice.insert(relaxed, i, -1), (i * 7) % n)
    assert relaxed.root[-1][0] is _vector.TABLE
    number = 20_000 if quick else 200_000
    spots = spread(range(n), number, seed=6)
    figures = []
    # Before against after in paired rounds: each round times both back to back
    # (the order alternating), and the figure is the median of the round ratios.
    workloads = [
        (
            "read at a random index of a 100,000-item list (dense; after vs before)",
            Call(_reads, (_vector.get, new, spots)),
            Call(_reads, (before.get, old, spots)),
            number,
            Call(_reads, (_vector.get, relaxed, spots)),
        ),
        (
            "append to a 100,000-item list (after vs before)",
            Call(_append_many, (_vector.append, new, number)),
            Call(_append_many, (before.append, old, number)),
            number,
            None,
        ),
        (
            "iterate a 100,000-item list (dense; after vs before)",
            Call(_iterate, (_vector.iterate, new)),
            Call(_iterate, (before.iterate, old)),
            1,
            Call(_iterate, (_vector.iterate, relaxed)),
        ),
    ]
    for workload, after, was, per, on_relaxed in workloads:
        mine, theirs, ratio = paired(
            lambda a=after, w=was: (a, w), number=1, rounds=9 if quick else 21
        )
        extra = {}
        if on_relaxed is not None:
            relaxed_t, _ = interleaved(on_relaxed, None, number=1)
            extra["relaxed_tree_s"] = relaxed_t / per
        figures.append(
            Figure(
                11,
                workload,
                mine / per,
                "no regression: >= 0.9x before",
                ratio >= 0.9,
                "the 32-way vector before",
                theirs / per,
                extra=extra,
                paired_ratio=ratio,
            )
        )
    return figures


def _reads(get: Any, v: object, spots: list[int]) -> None:
    consume(map(get, repeat(v), spots))


def _append_many(append: Any, v: object, k: int) -> None:
    for i in range(k):
        v = append(v, i)


def _iterate(iterate: Any, v: object) -> None:
    consume(iterate(v))


def run(quick: bool) -> list[Figure]:
    figures = []
    for n in SIZES:
        figures += _recorded(n, quick)
    figures += _changes(quick)
    figures += _store(quick)
    figures += _no_regression(quick)
    return figures
