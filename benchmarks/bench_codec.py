"""Issue 5: the JSON codec with type tags, against stdlib json tagging naively.

A frozen state of 10,000 records (strings, ints, floats, a list; every tenth also
a datetime, a Decimal and a tuple). The peer does the same job the obvious way: a
recursive isinstance walk that tags, json.dumps (sorted keys, compact), and
json.loads with an object_pairs_hook that refuses duplicate keys and decodes
tags, then freeze(). A third figure is what the duplicate-key check costs: our
strict parse() against a bare orjson.loads.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from typing import Any

import orjson

from _harness import Figure, interleaved
from statetrail.frozen import FrozenDict, FrozenList, freeze
from statetrail.storage import codec

N = 10_000


def _state() -> Any:
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    records = {}
    for i in range(N):
        record: dict[str, Any] = {
            "name": f"user {i}",
            "n": i,
            "score": i / 7,
            "tags": ["a", "b", str(i % 5)],
        }
        if i % 10 == 0:
            record["when"] = start + datetime.timedelta(seconds=i)
            record["price"] = decimal.Decimal(i) / 100
            record["xy"] = (i, -i)
        records[f"r{i}"] = record
    return freeze({"records": records, "meta": {"version": 3}})


def _tag(x: Any) -> Any:
    if isinstance(x, FrozenDict | dict):
        return {k: _tag(v) for k, v in x.items()}
    if isinstance(x, FrozenList | list):
        return [_tag(v) for v in x]
    if isinstance(x, tuple):
        return {"$t": "tuple", "v": [_tag(v) for v in x]}
    if isinstance(x, datetime.datetime):
        return {"$t": "datetime", "v": x.isoformat()}
    if isinstance(x, decimal.Decimal):
        return {"$t": "decimal", "v": str(x)}
    if isinstance(x, float) and not math.isfinite(x):
        return {"$t": "float", "v": repr(x)}
    return x


_UNTAG = {
    "tuple": tuple,
    "datetime": datetime.datetime.fromisoformat,
    "decimal": decimal.Decimal,
    "float": float,
}


def _pairs(pairs: list[tuple[str, Any]]) -> Any:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    if "$t" in obj:
        return _UNTAG[obj["$t"]](obj["v"])
    return obj


def _stdlib_dumps(value: Any) -> bytes:
    text = json.dumps(
        _tag(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return text.encode()


def _stdlib_loads(data: bytes) -> Any:
    return freeze(json.loads(data, object_pairs_hook=_pairs))


def run(quick: bool) -> list[Figure]:
    state = _state()
    data = codec.dumps(state)
    assert codec.loads(data) == state
    assert _stdlib_loads(_stdlib_dumps(state)) == state
    number, rounds = (1, 3) if quick else (5, 9)
    figures = []
    for workload, ours, theirs, peer in (
        (
            "dumps of a 10,000-record state (ours vs stdlib json, naive tagging)",
            lambda: codec.dumps(state),
            lambda: _stdlib_dumps(state),
            "stdlib json",
        ),
        (
            "loads of a 10,000-record state to frozen values (ours vs stdlib json)",
            lambda: codec.loads(data),
            lambda: _stdlib_loads(data),
            "stdlib json",
        ),
        (
            "strict parse with the duplicate-key check (ours vs bare orjson.loads)",
            lambda: codec.parse(data),
            lambda: orjson.loads(data),
            "orjson.loads",
        ),
    ):
        mine, other = interleaved(ours, theirs, number=number, rounds=rounds)
        figures.append(
            Figure(
                5,
                workload,
                mine,
                "reported",
                True,
                peer,
                other,
                extra={"bytes": len(data)},
            )
        )
    return figures
