"""Seed 001, roz-remembers 0.2.0's README, on roz_remembers and its statetrail compat.

Every example and every documented feature of the README, plus the points of
issue 10 a user of roz-remembers meets (plain-JSON state files, exact event dicts,
plain values, dict order). Each test names the README passage it checks.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import statetrail
from statetrail.frozen import thaw
from statetrail.storage.jsonfile import history_tree
from tests.compat.acceptance.sides import (
    twenty_keys,
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh directory, so the README's relative file names work."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def legacy_file(path: Path, state: dict[str, Any], *sets: Any) -> None:
    """A state file as statetrail's save() wrote it before issue 10: the state,
    and the whole history under "$statetrail" (a real one, with its marker)."""
    store = statetrail.Store(state)
    for set_path, value in zip(sets[::2], sets[1::2], strict=True):
        store.set(set_path, value)
    block = history_tree("store", store.timeline)
    assert block["format"] == "statetrail-history"
    document = {**thaw(store.timeline.value), "$statetrail": block}
    path.write_text(json.dumps(document))


def recorder() -> tuple[list[dict[str, Any]], Any]:
    events: list[dict[str, Any]] = []
    return events, events.append


class TestImport:
    def test_the_import_line(self, roz: ModuleType) -> None:
        """Installation: "from roz_remembers import Store, RozRemembers,
        get_nested_value, set_nested_value"; "Both share the exported helpers"."""
        for name in ("Store", "RozRemembers", "get_nested_value", "set_nested_value"):
            assert name in roz.__all__
            assert getattr(roz, name) is not None


class TestDotPathConvention:
    def test_dotted_keys_address_nested_dicts(self, roz: ModuleType) -> None:
        """Dot-path convention: "user.theme" -> state["user"]["theme"]."""
        store = roz.Store({"user": {"theme": "dark"}})
        assert store.get("user.theme") == "dark"
        assert store.set("user.theme", "light") is True
        assert store.get_state() == {"user": {"theme": "light"}}

    def test_numeric_segments_index_into_lists(self, roz: ModuleType) -> None:
        """Dot-path convention: "items.0.name" -> state["items"][0]["name"]."""
        store = roz.Store({"items": [{"name": "a"}, {"name": "b"}]})
        assert store.get("items.0.name") == "a"
        assert store.get("items.1") == {"name": "b"}
        assert store.set("items.1.name", "B") is True
        assert store.get_state() == {"items": [{"name": "a"}, {"name": "B"}]}

    def test_missing_or_untraversable_reads_give_none_or_default(
        self, roz: ModuleType
    ) -> None:
        """Dot-path convention: reads of a missing or non-traversable path return
        None, or the default supplied to Store.get."""
        store = roz.Store({"job": {"bins": 10}, "items": [1]})
        for path in ("nope", "job.missing", "job.bins.deeper", "items.5", "items.x"):
            assert store.get(path) is None
            assert store.get(path, default=0) == 0
        assert store.get("job.bins", default=0) == 10

    def test_writes_auto_create_intermediate_dicts(self, roz: ModuleType) -> None:
        """Dot-path convention: "writes auto-create intermediate dicts as
        needed"."""
        store = roz.Store({})
        assert store.set("a.b.c", 1) is True
        assert store.get_state() == {"a": {"b": {"c": 1}}}

    def test_a_write_that_cannot_be_applied_returns_false(
        self, roz: ModuleType
    ) -> None:
        """Dot-path convention: a write fails (returns False) only if a segment
        can't be traversed or assigned, e.g. a list index out of range; the state
        is left as it was and no event is sent."""
        store = roz.Store({"items": [{"name": "a"}]})
        events, on_change = recorder()
        store.subscribe(on_change)
        for path in ("items.3", "items.3.name", "items.x", "items.name.x"):
            assert store.set(path, "v") is False
        assert store.get_state() == {"items": [{"name": "a"}]}
        assert events == []

    def test_statetrail_only_descending_into_a_scalar_fails(
        self, st_roz: ModuleType
    ) -> None:
        """statetrail only: Dot-path convention, a write fails "e.g. ... trying to
        descend into a scalar" (roz-remembers' code replaces the scalar with {}
        instead, and returns True)."""
        store = st_roz.Store({"job": {"bins": 10}})
        assert store.set("job.bins.deeper", 1) is False
        assert store.get_state() == {"job": {"bins": 10}}

    def test_the_exported_helpers(self, roz: ModuleType) -> None:
        """Both front ends "share the exported helpers get_nested_value(path, data)
        and set_nested_value(path, value, data)": they work on plain dicts."""
        data: dict[str, Any] = {"job": {"bins": 10}, "items": [{"n": 1}]}
        assert roz.get_nested_value("job.bins", data) == 10
        assert roz.get_nested_value("items.0.n", data) == 1
        assert roz.get_nested_value("job.missing", data) is None
        assert roz.set_nested_value("job.sorted", 1, data) is True
        assert roz.set_nested_value("machine.state", "READY", data) is True
        assert roz.set_nested_value("items.4.n", 1, data) is False
        assert data == {
            "job": {"bins": 10, "sorted": 1},
            "items": [{"n": 1}],
            "machine": {"state": "READY"},
        }


class TestQuickstartStore:
    def test_the_quickstart(self, roz: ModuleType, capsys: Any) -> None:
        """Quickstart - Store: each call gives the commented result, on_change
        fires for set("job.sorted", 2) and not after unsubscribe()."""
        store = roz.Store({"job": {"bins": 10, "sorted": 0}})
        # read / write by dot-path
        assert store.set("job.sorted", 1) is True  # -> True
        assert store.get("job.sorted") == 1  # -> 1
        assert store.get("job.missing", default=0) == 0  # -> 0
        # writes auto-create intermediate dicts
        store.set("machine.state", "CARD_READY")
        state = store.get_state()  # deep copy of the whole state
        assert state == {
            "job": {"bins": 10, "sorted": 1},
            "machine": {"state": "CARD_READY"},
        }

        def on_change(event: dict[str, Any]) -> None:
            print(event["path"], event["old_value"], "->", event["new_value"])

        unsubscribe = store.subscribe(on_change)
        store.set("job.sorted", 2)  # -> on_change fires
        unsubscribe()  # stop receiving events
        store.set("job.sorted", 3)
        assert capsys.readouterr().out == "job.sorted 1 -> 2\n"

    def test_get_state_is_a_deep_copy(self, roz: ModuleType) -> None:
        """Quickstart - Store: get_state() is "deep copy of the whole state":
        changing it changes nothing in the store."""
        store = roz.Store({"job": {"bins": [1, 2]}})
        state = store.get_state()
        state["job"]["bins"].append(3)
        state["new"] = 1
        assert store.get_state() == {"job": {"bins": [1, 2]}}

    def test_the_initial_state_is_copied(self, roz: ModuleType) -> None:
        """Quickstart - Store: Store(initial_state) holds its own state; changing
        the dict passed in afterwards changes nothing."""
        initial = {"job": {"bins": 10}}
        store = roz.Store(initial)
        initial["job"]["bins"] = 99
        assert store.get("job.bins") == 10

    def test_exact_events(self, roz: ModuleType) -> None:
        """The subscribe / events model: each set() calls every subscriber with a
        STATE_CHANGED event, exactly {"type", "path", "old_value", "new_value"}
        (issue 10, defect 3: no other key)."""
        store = roz.Store({"job": {"sorted": 0}})
        first, on_first = recorder()
        second, on_second = recorder()
        store.subscribe(on_first)
        store.subscribe(on_second)
        store.set("job.sorted", 1)
        store.set("machine.state", "READY")
        expected = [
            {
                "type": "STATE_CHANGED",
                "path": "job.sorted",
                "old_value": 0,
                "new_value": 1,
            },
            {
                "type": "STATE_CHANGED",
                "path": "machine.state",
                "old_value": None,
                "new_value": "READY",
            },
        ]
        assert first == expected
        assert second == expected
        assert all(type(e) is dict for e in first)

    def test_a_raising_subscriber_is_logged_and_isolated(
        self, roz: ModuleType, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The subscribe / events model: "A raising subscriber is logged and
        isolated - it won't break the store or other subscribers"."""
        events, on_change = recorder()

        def broken(event: dict[str, Any]) -> None:
            raise RuntimeError("subscriber bug")

        store = roz.Store({})
        store.subscribe(broken)
        store.subscribe(on_change)
        with caplog.at_level(logging.ERROR):
            assert store.set("a", 1) is True
        assert [e["new_value"] for e in events] == [1]
        assert store.get("a") == 1
        assert any(r.levelno >= logging.ERROR for r in caplog.records)


class TestPersistence:
    def test_the_persistence_example(self, roz: ModuleType, in_tmp: Path) -> None:
        """Persistence: save("state.json"), Store(state_file=...) restores it
        (get("job.bins") -> 10), and a store made with state_file saves back to
        it with save()."""
        store = roz.Store({"job": {"bins": 10, "sorted": 0}})
        store.save("state.json")  # write current state to disk
        restored = roz.Store(state_file="state.json")  # load state at construction
        assert restored.get("job.bins") == 10  # -> 10
        # a Store created with state_file remembers it, so save() needs no argument
        live = roz.Store(state_file="state.json")
        live.set("job.sorted", 5)
        live.save()  # persists back to state.json
        assert roz.Store(state_file="state.json").get("job.sorted") == 5

    def test_save_needs_a_path_without_a_state_file(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """Persistence: "a Store created with state_file remembers it, so save()
        needs no argument"; one made without needs a path (ValueError)."""
        store = roz.Store({"a": 1})
        with pytest.raises(ValueError, match="path"):
            store.save()
        assert list(in_tmp.iterdir()) == []

    def test_the_file_is_plain_json(self, roz: ModuleType, in_tmp: Path) -> None:
        """Persistence: "Store reads and writes plain JSON": the file holds the
        state and nothing else, for any other reader (issue 10, defect 2), after
        any number of sets."""
        store = roz.Store({"job": {"bins": 10}})
        for i in range(5):
            store.set("job.sorted", i)
        store.set("$statetrail", {"mine": True})  # a user's own key stays state
        store.save("state.json")
        on_disk = json.loads((in_tmp / "state.json").read_text())
        assert on_disk == {
            "job": {"bins": 10, "sorted": 4},
            "$statetrail": {"mine": True},
        }
        assert on_disk == store.get_state()
        again = roz.Store(state_file="state.json")
        assert again.get_state() == on_disk

    def test_a_file_written_by_another_program_loads(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """Persistence: Store reads plain JSON, whoever wrote it."""
        (in_tmp / "state.json").write_text('{"job": {"bins": 3}, "items": [1, 2]}')
        store = roz.Store(state_file="state.json")
        assert store.get_state() == {"job": {"bins": 3}, "items": [1, 2]}
        assert store.get("items.1") == 2

    @pytest.mark.parametrize("content", [None, "{not json", ""])
    def test_a_missing_or_malformed_file_starts_empty(
        self,
        roz: ModuleType,
        in_tmp: Path,
        caplog: pytest.LogCaptureFixture,
        content: str | None,
    ) -> None:
        """Persistence: "Loading a missing file or malformed JSON starts from an
        empty state (a warning is logged) rather than raising"."""
        if content is not None:
            (in_tmp / "state.json").write_text(content)
        with caplog.at_level(logging.WARNING):
            store = roz.Store(state_file="state.json")
        assert store.get_state() == {}
        assert any(r.levelno >= logging.WARNING for r in caplog.records)
        # a first run "just works": it can set and save
        assert store.set("job.bins", 1) is True
        store.save()
        assert json.loads((in_tmp / "state.json").read_text()) == {"job": {"bins": 1}}

    def test_statetrail_only_a_file_with_a_history_block_loads_its_state(
        self, st_roz: ModuleType, in_tmp: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """statetrail only (issue 10, defect 2): a file that an older statetrail's
        save() wrote, with its history under "$statetrail", still loads: its
        state, with a warning; saved again, it is plain JSON."""
        legacy_file(in_tmp / "state.json", {"job": {"bins": 10}}, "job.sorted", 1)
        with caplog.at_level(logging.WARNING):
            store = st_roz.Store(state_file="state.json")
        assert store.get_state() == {"job": {"bins": 10, "sorted": 1}}
        assert any("history block" in m for m in caplog.messages)
        store.save()
        assert json.loads((in_tmp / "state.json").read_text()) == {
            "job": {"bins": 10, "sorted": 1}
        }

    @pytest.mark.asyncio
    async def test_statetrail_only_load_initial_state_skips_a_history_block(
        self, st_roz: ModuleType, in_tmp: Path
    ) -> None:
        """statetrail only (issue 10, defect 2): RozRemembers.load_initial_state()
        on a file with a history block loads the state, not the block; a user's
        own "$statetrail" key without the format marker is state."""
        legacy_file(in_tmp / "initial_state.json", {"user": {"theme": "dark"}})
        store = st_roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        assert store.get_current_state() == {"user": {"theme": "dark"}}
        mine = {"$statetrail": {"format": "mine"}, "a": 1}
        (in_tmp / "initial_state.json").write_text(json.dumps(mine))
        await store.load_initial_state()
        assert store.get_current_state() == mine

    def test_dict_order_of_more_than_eight_keys(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """Issue 10, defect 1: a config of 20 keys keeps its order in get(),
        get_state() and the saved JSON, as roz-remembers' plain dicts do."""
        cfg = twenty_keys()
        store = roz.Store({"cfg": cfg})
        store.set("cfg.zz", 1)
        assert list(store.get("cfg")) == [*cfg, "zz"]
        assert list(store.get_state()["cfg"]) == [*cfg, "zz"]
        store.save("state.json")
        on_disk = json.loads((in_tmp / "state.json").read_text())
        assert list(on_disk["cfg"]) == [*cfg, "zz"]


class TestQuickstartRozRemembers:
    @pytest.mark.asyncio
    async def test_the_quickstart(
        self, roz: ModuleType, in_tmp: Path, capsys: Any
    ) -> None:
        """Quickstart - RozRemembers: load_initial_state() on an absent file,
        start_processing(), dispatch a SET_STATE, the STATE_CHANGED event as
        commented, get_current_state(), stop_processing()."""
        RozRemembers = roz.RozRemembers
        store = RozRemembers("initial_state.json")
        await store.load_initial_state()  # empty state if the file is absent
        store.start_processing()  # start the background action processor
        # observe state changes
        events = store.subscribe_events()  # an asyncio.Queue of event dicts
        assert isinstance(events, asyncio.Queue)
        action = {
            "type": RozRemembers.ACTION_TYPE_SET_STATE,  # "SET_STATE"
            "path": "user.theme",
            "value": "dark",
        }
        await store.dispatch(action)
        event = await asyncio.wait_for(events.get(), 5)
        # {'type': 'STATE_CHANGED', 'path': 'user.theme',
        #  'old_value': None, 'new_value': 'dark', 'action_source': {...}}
        assert event == {
            "type": "STATE_CHANGED",
            "path": "user.theme",
            "old_value": None,
            "new_value": "dark",
            "action_source": action,
        }
        print(event["path"], "->", event["new_value"])
        state = store.get_current_state()  # deep copy of the whole state
        assert state == {"user": {"theme": "dark"}}
        state["user"]["theme"] = "light"
        assert store.get_current_state() == {"user": {"theme": "dark"}}
        await store.stop_processing()
        assert capsys.readouterr().out == "user.theme -> dark\n"
        assert RozRemembers.ACTION_TYPE_SET_STATE == "SET_STATE"

    @pytest.mark.asyncio
    async def test_load_initial_state_from_a_file(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """Quickstart - RozRemembers: RozRemembers("initial_state.json") loads its
        state from the file with load_initial_state()."""
        (in_tmp / "initial_state.json").write_text('{"user": {"theme": "dark"}}')
        store = roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        assert store.get_current_state() == {"user": {"theme": "dark"}}

    @pytest.mark.asyncio
    async def test_malformed_initial_state_starts_empty(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """Persistence: malformed JSON starts from an empty state rather than
        raising, for the asyncio store too."""
        (in_tmp / "initial_state.json").write_text("{oops")
        store = roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        assert store.get_current_state() == {}

    @pytest.mark.asyncio
    async def test_ignored_actions_emit_no_event(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """The subscribe / events model: "Actions with no path, unknown action
        types, and writes that can't be applied are ignored and emit no event"."""
        store = roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        store.start_processing()
        events = store.subscribe_events()
        await store.dispatch({"type": "SET_STATE", "path": "items", "value": [1]})
        first = await asyncio.wait_for(events.get(), 5)
        assert first["path"] == "items"
        await store.dispatch({"type": "SET_STATE", "value": 1})  # no path
        await store.dispatch({"type": "RESET", "path": "a", "value": 1})  # unknown
        await store.dispatch({"type": "SET_STATE", "path": "items.7", "value": 1})
        await store.dispatch({"type": "SET_STATE", "path": "done", "value": True})
        event = await asyncio.wait_for(events.get(), 5)
        assert event["path"] == "done"
        assert events.empty()
        assert store.get_current_state() == {"items": [1], "done": True}
        await store.stop_processing()

    @pytest.mark.asyncio
    async def test_events_are_applied_in_dispatch_order(
        self, roz: ModuleType, in_tmp: Path
    ) -> None:
        """Quickstart - RozRemembers: "RozRemembers processes actions off a queue":
        one event per applied action, in order, old_value the previous value."""
        store = roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        store.start_processing()
        events = store.subscribe_events()
        for i in range(5):
            await store.dispatch({"type": "SET_STATE", "path": "n", "value": i})
        got = [await asyncio.wait_for(events.get(), 5) for _ in range(5)]
        assert [(e["old_value"], e["new_value"]) for e in got] == [
            (None, 0),
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 4),
        ]
        assert all(
            set(e) == {"type", "path", "old_value", "new_value", "action_source"}
            for e in got
        )
        await store.stop_processing()

    @pytest.mark.asyncio
    async def test_statetrail_only_every_consumer_gets_every_event(
        self, st_roz: ModuleType, in_tmp: Path
    ) -> None:
        """statetrail only: each subscribe_events() call gets its own queue with
        every event (roz-remembers hands every caller one shared queue)."""
        store = st_roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        store.start_processing()
        a, b = store.subscribe_events(), store.subscribe_events()
        await store.dispatch({"type": "SET_STATE", "path": "x", "value": 1})
        for queue in (a, b):
            assert (await asyncio.wait_for(queue.get(), 5))["new_value"] == 1
        await store.stop_processing()


class TestValuesAsPythonTakesThem:
    def test_values_are_plain(self, roz: ModuleType) -> None:
        """Issue 10, defect 8: get(), get_state() and event values are plain:
        json.dumps, copy and isinstance(x, dict) take them as roz-remembers'."""
        store = roz.Store({"job": {"bins": [1, 2], "meta": {"a": None}}})
        events, on_change = recorder()
        store.subscribe(on_change)
        store.set("job.meta", {"b": [3]})
        for value in (
            store.get("job"),
            store.get_state(),
            store.get("job.bins"),
            events[0]["new_value"],
            events[0]["old_value"],
        ):
            assert isinstance(value, dict | list)
            assert json.loads(json.dumps(value)) == value
            assert copy.deepcopy(value) == value
            assert copy.copy(value) == value
        assert isinstance(store.get("job"), dict)
        assert isinstance(store.get("job.bins"), list)
        assert json.dumps(store.get("job")) == ('{"bins": [1, 2], "meta": {"b": [3]}}')
        assert json.dumps(events[0]) == (
            '{"type": "STATE_CHANGED", "path": "job.meta", '
            '"old_value": {"a": null}, "new_value": {"b": [3]}}'
        )

    @pytest.mark.asyncio
    async def test_async_values_are_plain(self, roz: ModuleType, in_tmp: Path) -> None:
        """Issue 10, defect 8: get_current_state() and the asyncio events are plain
        too (json.dumps takes the whole event)."""
        store = roz.RozRemembers("initial_state.json")
        await store.load_initial_state()
        store.start_processing()
        events = store.subscribe_events()
        action = {"type": "SET_STATE", "path": "cfg", "value": {"a": [1]}}
        await store.dispatch(action)
        event = await asyncio.wait_for(events.get(), 5)
        assert isinstance(event["new_value"], dict)
        assert json.loads(json.dumps(event)) == event
        assert isinstance(store.get_current_state()["cfg"], dict)
        assert copy.deepcopy(store.get_current_state()) == {"cfg": {"a": [1]}}
        await store.stop_processing()
