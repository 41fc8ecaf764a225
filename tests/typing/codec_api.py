"""Typed usage of the storage codec, checked by mypy --strict (not run by pytest)."""

from __future__ import annotations

import dataclasses
from typing import Any

from statetrail import Change
from statetrail.storage import codec


@codec.register
@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


def codec_api() -> None:
    data: bytes = codec.dumps({"p": Point(1, 2)})
    value: Any = codec.loads(data)
    tree: Any = codec.to_json(value, allow_pickle=False)
    again: Any = codec.from_json(codec.parse(codec.canonical(tree)))
    key: str = codec.digest(data, codec.canonical(tree))
    patch: Any = codec.changes_to_json([Change(("p",), None, 1)])
    ops: list[Change] = codec.changes_from_json(patch)
    cls: type | None = codec.registered("app.Point")
    codec.register(Point, name="app.Point")
    limit: int = codec.MAX_DEPTH
    point: Point = Point(1, 2)  # the decorator keeps the class's type
    x: int = point.x
    try:
        codec.dumps(object())
    except codec.CodecError as exc:
        error: TypeError = exc
        print(error)
    print(again, key, ops, cls, limit, x)
