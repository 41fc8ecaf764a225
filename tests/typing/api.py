"""Typed usage of the public API, checked by mypy --strict (not run by pytest)."""

from __future__ import annotations

from typing import Any

import statetrail
from statetrail import Change, FrozenDict, Revision, Timeline, Var


def timeline_api() -> None:
    t: Timeline[int] = Timeline(0, name="counter")
    rev: Revision = t.set(1, author="alice")
    number: int = rev.number
    value: int = t.value
    t.update(lambda n: n + 1)
    changes: list[Change] = t.diff(0, number)
    blamed: Revision | None = t.blame()
    with statetrail.context(author="bob", comment="why"):
        t.rollback(0)
    history: list[Revision] = t.log(author="bob", reverse=True, limit=10)
    print(value, changes, blamed, history)


def var_api() -> None:
    v: Var[dict[str, Any]] = statetrail.watch("config", {"debug": True})
    v.set({"debug": False}).set({"debug": True}, label="back")
    current: dict[str, Any] = v.get()
    steps: list[dict[str, Any]] = v.diff()
    structural: list[Change] = v.diff(0, 1)
    print(current, steps, structural)


def frozen_api() -> None:
    d: FrozenDict[str, int] = FrozenDict({"a": 1})
    d2: FrozenDict[str, int] = d.set("b", 2).discarded("a")
    plain: Any = statetrail.thaw(d2)
    print(plain, statetrail.freeze([1, 2]))


def conflict_and_deletion_api() -> None:
    ns = statetrail.Namespace({"theme": "dark"})
    del ns["theme"]
    gone: list[str] = ns.deleted()
    kept: list[Revision] = ns.history("theme")
    t: Timeline[int] = Timeline(0)
    deleted: Revision = t.mark_deleted(comment="dropped")
    try:
        t.set(1)
    except statetrail.ConflictError as exc:
        winner: int | None = exc.winner
        print(winner)
    print(gone, kept, deleted.kind)


def repository_api() -> None:
    # statetrail.open and Repository are imported on first use (issue 11); the
    # type checker sees them as the package's own names.
    repo: statetrail.Repository = statetrail.open(":memory:")
    score: Var[int] = repo.watch("score", 0)
    again: Var[Any] = repo.watch("score")
    try:
        repo.store("scroe")
    except statetrail.UnknownTimelineError as exc:
        matches: list[str] = exc.matches
        name: str = exc.name
        print(matches, name)
    queue_type: type[statetrail.EventQueue] = statetrail.EventQueue
    print(score, again, queue_type)
    repo.close()


def merge_api() -> None:
    t: Timeline[dict[str, int]] = Timeline({"a": 1})
    t.branch("b")
    t.switch("main")

    def pick(conflict: statetrail.MergeConflict) -> object:
        return conflict.theirs

    merged: Revision = t.merge("b", resolve=pick, author="ann")
    parents: tuple[int, ...] = merged.parents
    store = statetrail.Store({"n": 0})
    start: Revision = store.branch("b")
    tips: dict[str, int] = store.branches()
    again: Revision = store.merge("b", resolve="ours")
    try:
        t.merge("b")
    except statetrail.MergeConflictError as exc:
        print(exc.conflicts)
    print(parents, start, tips, again)
