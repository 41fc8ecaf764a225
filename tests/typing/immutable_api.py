"""Typed usage of statetrail.immutable, checked by mypy (not run by pytest)."""

from __future__ import annotations

from datetime import datetime

from statetrail.immutable import (
    Immutable,
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    RevisionedImmutable,
    RevisionedMapping,
    SimpleRevisionedImmutableManager,
    revision_context,
    update,
)


class Answer(RevisionedImmutable):
    def __init__(self, answer: int = 0) -> None:
        self.answer = answer


class Point(Immutable):
    def __init__(self, x: int) -> None:
        self.x = x


def dicts() -> int:
    config: ImmutableDict[str, int] = ImmutableDict({"retries": 3})
    with update(config) as new:
        new["retries"] = 4
    same: ImmutableDict[str, int] = new
    return same["retries"]


def lists_and_sets() -> tuple[ImmutableList[int], ImmutableSet[str]]:
    numbers: ImmutableList[int] = ImmutableList([1, 2])
    names: ImmutableSet[str] = ImmutableSet({"a"})
    with update(numbers) as more:
        more.append(3)
    return more, names | {"b"}


def plain_content() -> tuple[dict[str, int], list[int], set[str]]:
    config: ImmutableDict[str, int] = ImmutableDict({"retries": 3})
    with update(config) as new:
        new.data["retries"] = 4
    numbers: ImmutableList[int] = ImmutableList([1, 2])
    names: ImmutableSet[str] = ImmutableSet({"a"})
    return new.data, numbers.data, names.__data__


def objects() -> Point:
    p = Point(1)
    with update(p) as q:
        q.x = 2
    moved: Point = q
    return moved


def revisions() -> list[Answer]:
    data = RevisionedMapping()
    data["a"] = first = Answer()
    with revision_context(creator="me"), update(first, "me", "why") as second:
        second.answer = 42
    manager: SimpleRevisionedImmutableManager = data.revision_manager("a")
    start: datetime | None = second.__im_start_on__
    history = manager.revision_history(start_before=start, batch_size=10)
    manager.rollback_to(first)
    return [r for r in history if isinstance(r, Answer)]
