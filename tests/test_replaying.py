"""statetrail.replay: recorded histories replayed against reducers (issue 14)."""

from __future__ import annotations

import asyncio
import io
import pathlib
from typing import Any

import pytest

import statetrail
from statetrail import CorruptHistoryError, Var
from statetrail.cli import main
from statetrail.replaying import Mismatch, Step
from statetrail.store import AsyncStore, Store, Transaction


def _cart_reducer(state: Any, step: Step) -> Any:
    """The code under test: items and a total kept in step."""
    new = dict(state)
    for op in step.changes:
        if op["path"].startswith("/items"):
            items = dict(new.get("items", {}))
            items[op["path"].split("/")[2]] = op["value"]
            new["items"] = items
    new["total"] = sum(new.get("items", {}).values())
    return new


def _export(target: str, name: str, *full: str) -> list[str]:
    out = io.StringIO()
    assert main(["export", target, name, *full], out=out) == 0
    return out.getvalue().splitlines()


class TestReplay:
    """Var, Store and AsyncStore histories, in memory and exported."""

    def test_var_timeline(self) -> None:
        """A counter's history against a reducer that does or does not match."""
        v = Var("n", 0)
        for _ in range(5):
            v.update(lambda n: n + 1)
        result = statetrail.replay(v, lambda state, step: state + 1)
        assert result
        assert result.replayed == 5
        bad = statetrail.replay(v, lambda state, step: state + (step.number != 3))
        assert not bad
        assert bad.first_mismatch == Mismatch(number=3, expected=3, got=2)
        assert v.replay(lambda n: n * 10) == [0, 10, 20, 30, 40, 50]

    def test_initial(self) -> None:
        """initial= starts the reducer elsewhere: the first step then differs."""
        v = Var("n", 0).set(1)
        result = statetrail.replay(v, lambda s, step: s + 1, initial=5)
        assert result.first_mismatch == Mismatch(1, 1, 6)

    def test_store_exported_jsonl(self, tmp_path: pathlib.Path) -> None:
        """A stored Store's export replays from a path and from lines."""
        target = str(tmp_path / "h.db")
        with statetrail.open(target) as repo:
            store = repo.store("cart", {"items": {}, "total": 0})
            for name, price in (("tea", 3), ("jam", 5), ("bun", 2)):
                with store.transaction():
                    store.set(f"items.{name}", price)
                    store.set("total", store.get("total") + price)
            with store.transaction():  # the bug the replay must find
                store.set("items.oat", 4)
                store.set("total", 100)
        lines = _export(target, "cart")
        path = tmp_path / "cart.jsonl"
        path.write_text("\n".join(lines) + "\n")
        for recording in (path, str(path), lines, [line.encode() for line in lines]):
            result = statetrail.replay(recording, _cart_reducer)
            assert result.first_mismatch is not None
            assert result.first_mismatch.number == 4
            assert result.first_mismatch.got["total"] == 14
            assert result.first_mismatch.expected["total"] == 100
        good = statetrail.replay(lines[:4], _cart_reducer)
        assert good.ok
        assert good.replayed == 3
        full = _export(target, "cart", "--full")
        assert statetrail.replay(full[:4], _cart_reducer).ok

    def test_async_store_reducers(self) -> None:
        """An AsyncStore's recorded actions replay against store.reduce."""

        def add(tx: Transaction, action: Any) -> None:
            tx.set("n", tx.get("n", 0) + action["by"])

        async def record() -> AsyncStore:
            store = AsyncStore(initial_state={"n": 0})
            store.reducer("ADD", add)
            store.start_processing()
            for by in (1, 2, 3):
                await store.dispatch_and_wait({"type": "ADD", "by": by})
            await store.dispatch_and_wait(
                {"type": "SET_STATE", "path": "note", "value": "x"}
            )
            await store.stop_processing()
            return store

        store = asyncio.run(record())
        store.set("direct", 1)  # no action: its recorded change applies
        assert statetrail.replay(store, store.reduce)
        fresh = AsyncStore(initial_state={"n": 0})

        def add_twice(tx: Transaction, action: Any) -> None:
            tx.set("n", tx.get("n", 0) + 2 * action["by"])

        fresh.reducer("ADD", add_twice)
        result = statetrail.replay(store, fresh.reduce)
        assert result.first_mismatch is not None
        assert result.first_mismatch.number == 1

    def test_pytest_helper(self) -> None:
        """assert replay(...) passes or fails as the result says."""
        s = Store({"a": 1})
        s.set("a", 2)
        assert statetrail.replay(s, lambda state, step: {"a": state["a"] + 1})
        with pytest.raises(AssertionError):
            assert statetrail.replay(s, lambda state, step: state)

    def test_bad_recordings(self, tmp_path: pathlib.Path) -> None:
        """Lines that are not revision objects, or out of order: clear errors."""
        with pytest.raises(CorruptHistoryError, match="not JSON"):
            statetrail.replay(["{nope"], lambda s, step: s)
        with pytest.raises(CorruptHistoryError, match="revision object"):
            statetrail.replay(['{"a": 1}'], lambda s, step: s)
        first = (
            '{"number": 0, "parents": [], '
            '"changes": [{"op": "replace", "path": "", "value": 1}]}'
        )
        orphan = '{"number": 2, "parents": [1], "changes": []}'
        with pytest.raises(CorruptHistoryError, match="not before it"):
            statetrail.replay([first, orphan], lambda s, step: s)
        with pytest.raises(TypeError, match="recording"):
            statetrail.replay(42, lambda s, step: s)
