"""Issue 14 (merge): two branches of a 10,000-entry state, 100 changes each.

Each side writes 100 entries drawn at random over the whole state (``spread``:
no entry twice, the two sides' entries apart), one ``FrozenDict.set`` at a time
as a timeline's writes make them, so the three versions share every entry
neither side wrote. Several such pairs are made before the timing starts, and
each call merges the next.

- ``merge3`` (the engine's three-way merge of values) against the peer, a
  naive three-way merge of plain dicts that looks at every key of the three
  (what a merge costs without structural sharing), on the same states thawed;
- ``Timeline.merge`` end to end: the common ancestor found, the values merged,
  the merge revision recorded (validators, listeners: none);
- the same 100 changes a side on a 100,000-entry state: time proportional to
  the changes, not to the state.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from _harness import Figure, per_call, spread
from statetrail import Timeline
from statetrail._merge import merge3
from statetrail.frozen import MISSING, FrozenDict, freeze, thaw

CHANGES = 100


def _state(n: int) -> FrozenDict[str, Any]:
    return freeze({f"k{i}": {"n": i, "tag": "t"} for i in range(n)})


def _sides(
    base: FrozenDict[str, Any], pairs: int, seed: int
) -> list[tuple[FrozenDict[str, Any], FrozenDict[str, Any]]]:
    """``pairs`` (ours, theirs): each side with 100 entries of its own written."""
    keys = spread(list(base), 2 * CHANGES * pairs, seed=seed)
    out = []
    for p in range(pairs):
        chunk = keys[2 * CHANGES * p : 2 * CHANGES * (p + 1)]
        ours, theirs = base, base
        for i, key in enumerate(chunk[:CHANGES]):
            ours = ours.set(key, {"n": -i, "tag": "ours"})
        for i, key in enumerate(chunk[CHANGES:]):
            theirs = theirs.set(key, {"n": -i, "tag": "theirs"})
        out.append((ours, theirs))
    return out


def naive_merge3(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The peer: a three-way merge of plain dicts, key by key over all keys."""
    merged: dict[str, Any] = {}
    conflicts: list[str] = []
    for key in {**base, **ours, **theirs}:
        b = base.get(key, MISSING)
        o = ours.get(key, MISSING)
        t = theirs.get(key, MISSING)
        if o == t or t == b:
            value = o
        elif o == b:
            value = t
        else:
            conflicts.append(key)
            value = o
        if value is not MISSING:
            merged[key] = value
    return merged, conflicts


def _each(fn: Any, cases: list[Any]) -> Any:
    it = iter(cases)
    return lambda: fn(*next(it))


def _cpu(fn: Any, cases: list[Any]) -> float:
    """CPU seconds per call (``time.process_time``): what the machine's load
    leaves out of a wall-clock figure (see README.md)."""
    gc.collect()
    start = time.process_time()
    for case in cases:
        fn(*case)
    return (time.process_time() - start) / len(cases)


def _values(quick: bool) -> list[Figure]:
    pairs = 10 if quick else 40
    rounds = 3 if quick else 7
    figures = []
    times: dict[int, float] = {}
    for n in (10_000, 100_000):
        base = _state(n)
        cases = [(base, o, t) for o, t in _sides(base, pairs, seed=n)]
        merged, conflicts = merge3(*cases[0])
        assert conflicts == []
        assert sum(1 for v in merged.values() if v["tag"] != "t") == 2 * CHANGES
        mine = statistics.median(
            per_call(_each(merge3, cases), pairs) for _ in range(rounds)
        )
        cpu = statistics.median(_cpu(merge3, cases) for _ in range(rounds))
        times[n] = cpu
        if n == 10_000:
            plain = [
                (thaw(b), thaw(o), thaw(t)) for b, o, t in cases[: max(3, pairs // 8)]
            ]
            assert naive_merge3(*plain[0])[0] == thaw(merged)
            theirs = statistics.median(
                per_call(_each(naive_merge3, plain), len(plain)) for _ in range(rounds)
            )
            figures.append(
                Figure(
                    14,
                    "merge3 of two branches of a 10,000-entry state, 100 changes each",
                    mine,
                    "<= 2 ms",
                    mine <= 2e-3,
                    "a naive three-way merge of plain dicts (every key)",
                    theirs,
                    extra={
                        "cpu_s": cpu,
                        "peer_cpu_s": statistics.median(
                            _cpu(naive_merge3, plain) for _ in range(rounds)
                        ),
                    },
                )
            )
    figures.append(
        Figure(
            14,
            "merge3 with 100 changes a side on a 100,000-entry state (vs 10,000; "
            "CPU time, which the machine's load leaves out)",
            times[100_000],
            "proportional to the changes: <= 3x the 10,000-entry merge (the same "
            "changes, about one trie level deeper and out of the CPU caches; a "
            "merge that looked at every key would take 10x)",
            times[100_000] <= 3 * times[10_000],
            "the same at 10,000 entries",
            times[10_000],
        )
    )
    return figures


def _forked(base: FrozenDict[str, Any], ours: Any, theirs: Any) -> Timeline[Any]:
    """A timeline whose main and feature branches each wrote their 100 entries."""
    timeline: Timeline[Any] = Timeline(base, origin=False)
    timeline.branch("feature")
    for key, value in theirs.items():
        if value is not base[key]:
            timeline.set_in((key,), value)
    timeline.switch("main")
    for key, value in ours.items():
        if value is not base[key]:
            timeline.set_in((key,), value)
    return timeline


def _timeline(quick: bool) -> list[Figure]:
    base = _state(10_000)
    count = 10 if quick else 30
    sides = _sides(base, 2 * count, seed=7)
    timelines = [_forked(base, o, t) for o, t in sides[:count]]
    it = iter(timelines)
    mine = per_call(lambda: next(it).merge("feature"), count)
    assert all(t.head.kind == "merge" for t in timelines)
    cpu = _cpu(
        lambda t: t.merge("feature"), [(_forked(base, o, t),) for o, t in sides[count:]]
    )
    return [
        Figure(
            14,
            "Timeline.merge of two branches of a 10,000-entry state, 100 revisions "
            "each (ancestor found, values merged, revision recorded)",
            mine,
            "<= 2 ms",
            mine <= 2e-3,
            extra={"cpu_s": cpu},
        )
    ]


def run(quick: bool = False) -> list[Figure]:
    """Every figure of this module."""
    return _values(quick) + _timeline(quick)


if __name__ == "__main__":
    for figure in run():
        ratio = f", {figure.ratio:.0f}x the peer" if figure.ratio else ""
        cpu = figure.extra.get("cpu_s")
        cpu_text = f" (CPU {cpu * 1e6:.0f} us)" if cpu else ""
        peer_cpu = figure.extra.get("peer_cpu_s")
        if peer_cpu:
            cpu_text += f" (peer CPU {peer_cpu * 1e6:.0f} us)"
        print(
            f"{figure.workload}: {figure.ours * 1e6:.0f} us{cpu_text}{ratio} "
            f"[{figure.target}] {'met' if figure.ok else 'MISSED'}"
        )
