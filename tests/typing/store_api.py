"""Typed usage of the store API, checked by mypy --strict (not run by pytest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statetrail import Change, FrozenDict, Revision
from statetrail.store import AsyncStore, EventQueue, Store, Transaction


def store_api() -> None:
    store = Store({"job": {"bins": 10}}, state_file="state.json", name="sorter")
    ok: bool = store.set("job.sorted", 1, author="alice", comment="why")
    value: Any = store.get("job.sorted", default=0)
    frozen: FrozenDict[str, Any] = store.snapshot()
    plain: dict[str, Any] = store.get_state()
    stop: Callable[[], None] = store.subscribe(print, path="job")
    with store.transaction(comment="batch") as tx:
        in_tx: bool = tx.set("job.bins", 9) and tx.delete("job.sorted")
    recorded: Revision | None = tx.revision
    history: list[Revision] = store.history("job")
    blamed: Revision | None = store.blame("job.bins")
    changes: list[Change] = store.diff(0)
    back: Revision = store.rollback(0)
    remove: Callable[[], None] = store.add_validator(lambda state: None)
    store.save()
    print(ok, value, frozen, plain, in_tx, recorded, history, blamed, changes, back)
    stop()
    remove()


async def async_store_api() -> None:
    store = AsyncStore("initial_state.json", event_queue_size=100)

    @store.reducer("INCREMENT")
    def increment(tx: Transaction, action: Any) -> None:
        tx.set("count", tx.get("count", 0) + action["by"])

    @store.middleware
    async def log(action: Any) -> Any:
        return action

    await store.load_initial_state()
    store.start_processing()
    events: EventQueue = store.subscribe_events(path="count")
    await store.dispatch({"type": "INCREMENT", "by": 1})
    rev: Revision | None = await store.dispatch_and_wait({"type": "INCREMENT", "by": 2})
    event: dict[str, Any] = await events.get()
    state: dict[str, Any] = store.get_current_state()
    await store.stop_processing()
    events.unsubscribe()
    print(rev, event, state, increment, log)
