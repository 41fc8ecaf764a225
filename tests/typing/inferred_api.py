"""Inferred types of the public API (issue 14), checked by mypy --strict.

Each ``assert_type`` fails the type check if the inference changes; pyright
checks the same file (tests/test_typing.py).
"""

from __future__ import annotations

from typing import Any, TypedDict, assert_type

import statetrail
from statetrail import AsyncStore, FrozenDict, Revision, Store, Timeline, Var
from statetrail.replaying import ReplayResult, Step


class Cart(TypedDict):
    items: dict[str, int]
    total: int


def inferred_vars() -> None:
    assert_type(statetrail.watch("n", 0), Var[int])
    assert_type(statetrail.watch("name", "ada"), Var[str])
    assert_type(statetrail.watch("xs", [1, 2]), Var[list[int]])
    assert_type(Var("f", 1.5), Var[float])
    v = statetrail.watch("n", 0)
    assert_type(v.get(), int)
    assert_type(v.set(1), Var[int])
    assert_type(v.set_in((), 2).update(lambda n: n + 1), Var[int])
    assert_type(v.last_change(), Revision)


def inferred_timelines() -> None:
    assert_type(Timeline(0), Timeline[int])
    assert_type(Timeline({"a": 1}), Timeline[dict[str, int]])
    t: Timeline[str] = Timeline("x", interceptors=[str.upper])
    assert_type(t.value, str)
    assert_type(t.set("y"), Revision)


def parametrised_stores() -> None:
    cart: Cart = {"items": {}, "total": 0}
    store = Store(cart)
    assert_type(store, Store[Cart])
    assert_type(store.get_state(), Cart)
    assert_type(store.snapshot(), FrozenDict[str, Any])
    plain = Store()
    assert_type(plain, Store[dict[str, Any]])
    bare: Store = Store({"a": 1})  # a bare Store is Store[dict[str, Any]]
    assert_type(bare.get_state(), dict[str, Any])
    typed: Store[Cart] = Store(cart, schema=Cart, interceptors=[lambda s: s])
    assert_type(typed.get_state()["total"], int)
    queue: AsyncStore[Cart] = AsyncStore(initial_state=cart)
    assert_type(queue.get_current_state(), Cart)
    assert_type(queue.reduce(cart, {"type": "SET_STATE"}), FrozenDict[str, Any])


def replaying() -> None:
    def reducer(state: int, step: Step) -> int:
        return state + len(step.changes)

    result = statetrail.replay(statetrail.watch("n", 0), reducer)
    assert_type(result, ReplayResult)
    assert_type(result.ok, bool)
