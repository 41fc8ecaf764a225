"""Typed usage of frozen values, paths and diffs, checked by mypy --strict."""

from __future__ import annotations

import json
from typing import Any

from statetrail.diff import (
    apply_changes,
    apply_json_patch,
    diff,
    invert,
    parse_json_pointer,
    to_json_patch,
)
from statetrail.frozen import (
    FrozenDict,
    FrozenList,
    FrozenSet,
    edit,
    freeze,
    is_frozen,
    json_default,
    thaw,
)
from statetrail.paths import Path, get_in, lookup_in, parse_path, set_in
from statetrail.revision import Change


def containers() -> None:
    d: FrozenDict[str, int] = FrozenDict({"a": 1}, b=2)
    d2: FrozenDict[str, int] = d.set("c", 3).discarded("a").updated({"d": 4})
    maybe: int | None = d2.get("c")
    either: int | str = d2.get("x", "default")
    merged: FrozenDict[str, int] = d2 | {"e": 5}
    xs: FrozenList[int] = FrozenList([1, 2, 3])
    ys: FrozenList[int] = xs.appended(4).set(0, 0).inserted(1, 9).delete(-1)
    first: int = ys[0]
    tail: FrozenList[int] = ys[1:]
    joined: FrozenList[int] = ys + [5] + xs  # noqa: RUF005
    s: FrozenSet[str] = FrozenSet({"a"}).added("b").discarded("a")
    more: FrozenList[int] = xs.extended([4]).removed(1)
    fewer: FrozenSet[str] = s.updated(["c"]).removed("c")
    text: str = json.dumps(d2, default=json_default)
    print(maybe, either, merged, first, tail, joined, s, is_frozen(s), more, fewer)
    print(text)


def freezing() -> None:
    tree: Any = freeze({"job": {"bins": [1, 2]}})
    plain: Any = thaw(tree)
    with edit(tree) as draft:
        draft["job"]["bins"].append(3)
    new: FrozenDict[str, Any] = draft.finish()
    print(plain, new)


def paths_and_diffs() -> None:
    tree: Any = freeze({"job": {"bins": [1, 2]}})
    path: Path = parse_path("job.bins.0")
    first: Any = get_in(tree, path)
    other: Any = set_in(tree, ("job", "state"), "busy")
    missing: Any = lookup_in(tree, "job.nope", default=None)
    changes: list[Change] = diff(tree, other)
    back: Any = apply_changes(other, invert(changes))
    patch: list[dict[str, Any]] = to_json_patch(changes)
    patched: Any = apply_json_patch(tree, patch)
    steps: tuple[str, ...] = parse_json_pointer("/job/bins/0")
    print(first, missing, back, patched, steps)
