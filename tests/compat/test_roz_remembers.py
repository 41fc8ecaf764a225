"""The second seed's documented examples, run against statetrail.compat.roz_remembers.

Each test is an example or statement of the roz-remembers README with
``from roz_remembers import ...`` changed to
``from statetrail.compat.roz_remembers import ...`` and nothing else, plus the
documented results as assertions.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import pathlib
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail.compat.roz_remembers import (
    RozRemembers,
    Store,
    get_nested_value,
    set_nested_value,
)


def saved_state(path: Any) -> Any:
    """The state in a saved file: plain JSON, the state and nothing else."""
    return json.loads(pathlib.Path(path).read_text("utf-8"))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the example in an empty directory, as its relative file names expect."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestImport:
    def test_the_documented_names_are_there(self) -> None:
        """The README's import line gives the four documented names."""
        import statetrail.compat.roz_remembers as roz

        assert set(roz.__all__) == {
            "Store",
            "RozRemembers",
            "get_nested_value",
            "set_nested_value",
        }
        assert roz.__version__ == "0.2.0"


class TestDotPathConvention:
    def test_a_path_names_nested_keys(self) -> None:
        """ "user.theme" is state["user"]["theme"]."""
        state = {"user": {"theme": "dark"}}
        assert get_nested_value("user.theme", state) == state["user"]["theme"]
        assert Store(state).get("user.theme") == "dark"

    def test_numeric_segments_index_lists(self) -> None:
        """ "items.0.name" is state["items"][0]["name"]."""
        state = {"items": [{"name": "first"}, {"name": "second"}]}
        assert get_nested_value("items.0.name", state) == state["items"][0]["name"]
        assert Store(state).get("items.1.name") == "second"

    def test_missing_or_untraversable_reads_give_none_or_the_default(self) -> None:
        """Reads of a missing or non-traversable path return None (or the default
        on Store.get)."""
        state = {"job": {"bins": 10}, "items": [1]}
        store = Store(state)
        for path in ("job.missing", "nope.deeper", "job.bins.x", "items.5", "items.x"):
            assert get_nested_value(path, state) is None
            assert store.get(path) is None
            assert store.get(path, default="fallback") == "fallback"

    def test_writes_create_intermediate_dicts(self) -> None:
        """Writes auto-create intermediate dicts as needed."""
        data: dict[str, Any] = {}
        assert set_nested_value("a.b.c", 1, data) is True
        assert data == {"a": {"b": {"c": 1}}}
        store = Store()
        assert store.set("a.b.c", 1) is True
        assert store.get_state() == {"a": {"b": {"c": 1}}}

    def test_writes_fail_on_an_index_out_of_range(self) -> None:
        """A write to a list index out of range returns False and changes nothing."""
        data = {"items": [1, 2]}
        assert set_nested_value("items.2", 3, data) is False
        assert data == {"items": [1, 2]}
        store = Store({"items": [1, 2]})
        assert store.set("items.5.name", "x") is False
        assert store.get_state() == {"items": [1, 2]}

    def test_writes_fail_when_descending_into_a_scalar(self) -> None:
        """A write that would descend into a scalar returns False and changes
        nothing (as the README says; roz-remembers' code replaced the scalar)."""
        data = {"job": {"bins": 10}}
        assert set_nested_value("job.bins.count", 3, data) is False
        assert data == {"job": {"bins": 10}}
        store = Store({"job": {"bins": 10}})
        assert store.set("job.bins.count", 3) is False
        assert store.get_state() == {"job": {"bins": 10}}
        assert len(store.history()) == 1


class TestQuickstartStore:
    def test_the_readme_walkthrough(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The synchronous quickstart, line by line, with its documented results."""
        store = Store({"job": {"bins": 10, "sorted": 0}})

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
        state["job"]["bins"] = 0
        assert store.get("job.bins") == 10

        # subscribe to change events; subscribe() returns an unsubscribe function
        def on_change(event: dict[str, Any]) -> None:
            print(event["path"], event["old_value"], "->", event["new_value"])

        unsubscribe = store.subscribe(on_change)
        store.set("job.sorted", 2)  # -> on_change fires
        unsubscribe()  # stop receiving events
        store.set("job.sorted", 3)

        assert capsys.readouterr().out == "job.sorted 1 -> 2\n"


class TestPersistence:
    def test_the_readme_walkthrough(self, in_tmp: Path) -> None:
        """save, restore with state_file, and save() back to the remembered file."""
        store = Store({"job": {"bins": 10, "sorted": 0}})
        store.save("state.json")  # write current state to disk
        restored = Store(state_file="state.json")  # load state at construction
        assert restored.get("job.bins") == 10  # -> 10

        # a Store created with state_file remembers it, so save() needs no argument
        live = Store(state_file="state.json")
        live.set("job.sorted", 5)
        live.save()  # persists back to state.json

        assert saved_state(in_tmp / "state.json") == {"job": {"bins": 10, "sorted": 5}}

    def test_reads_and_writes_plain_json(self, in_tmp: Path) -> None:
        """The file is plain JSON any program can read."""
        Store({"a": [1, {"b": None}], "c": "é"}).save("plain.json")
        assert saved_state(in_tmp / "plain.json") == {
            "a": [1, {"b": None}],
            "c": "é",
        }

    def test_a_missing_file_starts_empty_with_a_warning(
        self, in_tmp: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Loading a missing file starts from an empty state and logs a warning."""
        with caplog.at_level(logging.WARNING):
            store = Store(state_file="absent.json")
        assert store.get_state() == {}
        assert any(
            r.levelno == logging.WARNING and "absent.json" in r.getMessage()
            for r in caplog.records
        )

    def test_malformed_json_starts_empty_with_a_warning(
        self, in_tmp: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Loading malformed JSON starts from an empty state and logs a warning,
        so a first run "just works"."""
        (in_tmp / "broken.json").write_text('{"job": ')
        with caplog.at_level(logging.WARNING):
            store = Store(state_file="broken.json")
        assert store.get_state() == {}
        assert any(r.levelno == logging.WARNING for r in caplog.records)
        store.set("job.sorted", 1)
        store.save()
        assert (in_tmp / "broken.json.corrupt").read_text() == '{"job": '

    def test_save_without_a_path_or_state_file_is_an_error(self) -> None:
        """save() with no path and no state_file raises ValueError, as in the seed."""
        with pytest.raises(ValueError, match="path"):
            Store().save()


class TestQuickstartRozRemembers:
    def test_the_readme_walkthrough(
        self, in_tmp: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The asynchronous quickstart, verbatim, with its documented results."""
        seen: list[dict[str, Any]] = []

        async def main() -> None:
            store = RozRemembers("initial_state.json")
            await store.load_initial_state()  # empty state if the file is absent
            store.start_processing()  # start the background action processor

            # observe state changes
            events = store.subscribe_events()  # an asyncio.Queue of event dicts

            await store.dispatch(
                {
                    "type": RozRemembers.ACTION_TYPE_SET_STATE,  # "SET_STATE"
                    "path": "user.theme",
                    "value": "dark",
                }
            )
            event = await events.get()
            # {'type': 'STATE_CHANGED', 'path': 'user.theme',
            # 'old_value': None, 'new_value': 'dark', 'action_source': {...}}
            print(event["path"], "->", event["new_value"])
            seen.append(event)

            print(store.get_current_state())  # deep copy of the whole state
            await store.stop_processing()

        asyncio.run(main())

        assert capsys.readouterr().out == (
            "user.theme -> dark\n{'user': {'theme': 'dark'}}\n"
        )
        (event,) = seen
        assert event["type"] == "STATE_CHANGED"
        assert (event["path"], event["old_value"], event["new_value"]) == (
            "user.theme",
            None,
            "dark",
        )
        assert event["action_source"] == {
            "type": "SET_STATE",
            "path": "user.theme",
            "value": "dark",
        }
        assert RozRemembers.ACTION_TYPE_SET_STATE == "SET_STATE"
        assert RozRemembers.EVENT_TYPE_STATE_CHANGED == "STATE_CHANGED"

    def test_the_initial_state_file_is_loaded(self, in_tmp: Path) -> None:
        """load_initial_state() reads the file given to the constructor."""
        (in_tmp / "initial_state.json").write_text('{"user": {"theme": "light"}}')

        async def main() -> dict[str, Any]:
            store = RozRemembers("initial_state.json")
            await store.load_initial_state()
            return store.get_current_state()

        assert asyncio.run(main()) == {"user": {"theme": "light"}}


class TestSubscribeEventsModel:
    def test_store_notifies_every_subscriber_synchronously(self) -> None:
        """Each set() that changes state calls every subscriber with a
        STATE_CHANGED event of type, path, old_value and new_value before it
        returns."""
        store = Store({"job": {"sorted": 0}})
        first: list[dict[str, Any]] = []
        second: list[dict[str, Any]] = []
        store.subscribe(first.append)
        store.subscribe(second.append)
        store.set("job.sorted", 1)
        assert first == second
        (event,) = first
        assert {k: event[k] for k in ("type", "path", "old_value", "new_value")} == {
            "type": "STATE_CHANGED",
            "path": "job.sorted",
            "old_value": 0,
            "new_value": 1,
        }

    def test_a_raising_subscriber_is_logged_and_isolated(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A raising subscriber is logged and breaks neither the store nor the
        other subscribers."""
        store = Store()
        received: list[Any] = []

        def broken(event: dict[str, Any]) -> None:
            raise RuntimeError("subscriber bug")

        store.subscribe(broken)
        store.subscribe(lambda event: received.append(event["new_value"]))
        with caplog.at_level(logging.ERROR):
            assert store.set("a", 1) is True
            assert store.set("a", 2) is True
        assert received == [1, 2]
        assert store.get("a") == 2
        logged = [r for r in caplog.records if r.exc_info]
        assert len(logged) == 2
        assert "subscriber bug" in str(logged[0].exc_info[1])  # type: ignore[index]

    def test_roz_remembers_events_carry_the_action(self) -> None:
        """subscribe_events() returns an asyncio.Queue; each applied SET_STATE puts
        a STATE_CHANGED event carrying action_source on it."""

        async def main() -> list[dict[str, Any]]:
            store = RozRemembers("absent.json")
            store.start_processing()
            events = store.subscribe_events()
            assert isinstance(events, asyncio.Queue)
            for n in range(3):
                await store.dispatch({"type": "SET_STATE", "path": "n", "value": n})
            got = [await events.get() for _ in range(3)]
            await store.stop_processing()
            return got

        got = asyncio.run(main())
        assert [e["new_value"] for e in got] == [0, 1, 2]
        assert [e["old_value"] for e in got] == [None, 0, 1]
        assert all(e["type"] == "STATE_CHANGED" for e in got)
        assert [e["action_source"]["value"] for e in got] == [0, 1, 2]

    def test_ignored_actions_emit_no_event(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Actions with no path, unknown action types, and writes that can't be
        applied are ignored and emit no event (and are logged)."""

        async def main() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            store = RozRemembers("absent.json")
            store.start_processing()
            events = store.subscribe_events()
            await store.dispatch({"type": "SET_STATE", "value": 1})
            await store.dispatch({"type": "NO_SUCH_TYPE", "path": "a", "value": 1})
            await store.dispatch({"type": "SET_STATE", "path": "x", "value": 5})
            await store.dispatch({"type": "SET_STATE", "path": "x.y", "value": 6})
            await store.dispatch({"type": "SET_STATE", "path": "ok", "value": 7})
            await store.stop_processing()
            got = []
            while not events.empty():
                got.append(events.get_nowait())
            return got, store.get_current_state()

        with caplog.at_level(logging.WARNING):
            got, state = asyncio.run(main())
        assert [e["path"] for e in got] == ["x", "ok"]
        assert state == {"x": 5, "ok": 7}
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "without a path" in messages
        assert "NO_SUCH_TYPE" in messages
        assert "x.y" in messages


class TestHelpers:
    def test_get_nested_value(self) -> None:
        """get_nested_value(path, data) reads dict keys and list indices."""
        data = {"job": {"bins": [10, {"size": 3}]}}
        assert get_nested_value("job.bins.1.size", data) == 3
        assert get_nested_value("job.bins.2", data) is None

    def test_set_nested_value(self) -> None:
        """set_nested_value(path, value, data) writes in place and returns True."""
        data: dict[str, Any] = {"job": {"bins": [10, {"size": 3}]}}
        assert set_nested_value("job.bins.1.size", 4, data) is True
        assert set_nested_value("job.bins.0", 11, data) is True
        assert data == {"job": {"bins": [11, {"size": 4}]}}


class TestPlainValuesOut:
    def test_get_hands_out_copies(self) -> None:
        """get() returns plain copies: changing one does not change the state."""
        store = Store({"job": {"bins": [1, 2]}})
        job = store.get("job")
        assert type(job) is dict
        assert type(job["bins"]) is list
        job["bins"].append(3)
        assert store.get("job.bins") == [1, 2]

    def test_event_values_are_copies(self) -> None:
        """Values in events are plain copies that cannot alter the state."""
        store = Store({"job": {"bins": [1]}})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        store.set("job", {"bins": [1, 2]})
        events[0]["new_value"]["bins"].append(99)
        events[0]["old_value"]["bins"].clear()
        assert store.get_state() == {"job": {"bins": [1, 2]}}
        assert store.at(0) == {"job": {"bins": [1]}}


class TestExactEvents:
    """Issue 10, defect 3: events have the README's keys and no others."""

    def test_store_events_have_exactly_the_documented_keys(self) -> None:
        """A Store event is {type, path, old_value, new_value}, in that order."""
        store = Store({"job": {"sorted": 0}})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        store.set("job.sorted", 1)
        store.set("machine.state", "CARD_READY")
        assert [list(e) for e in events] == [
            ["type", "path", "old_value", "new_value"]
        ] * 2

    def test_path_subscriptions_have_exactly_the_documented_keys(self) -> None:
        """So does an event delivered to a subscriber of one path."""
        store = Store({"job": {"sorted": 0}})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append, path="job")
        store.set("job.sorted", 1)
        assert events == [
            {
                "type": "STATE_CHANGED",
                "path": "job.sorted",
                "old_value": 0,
                "new_value": 1,
            }
        ]

    def test_async_events_add_only_action_source(self, in_tmp: Path) -> None:
        """A RozRemembers event is the Store's keys plus action_source."""

        async def main() -> dict[str, Any]:
            store = RozRemembers("initial_state.json")
            await store.load_initial_state()
            store.start_processing()
            events = store.subscribe_events()
            await store.dispatch({"type": "SET_STATE", "path": "a.b", "value": 1})
            event: dict[str, Any] = await events.get()
            await store.stop_processing()
            return event

        event = asyncio.run(main())
        assert list(event) == [
            "type",
            "path",
            "old_value",
            "new_value",
            "action_source",
        ]

    def test_the_native_store_keeps_the_revision(self) -> None:
        """statetrail.Store's own events still carry the revision number."""
        store = statetrail.Store({"a": 0})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        store.set("a", 1)
        assert events[0]["revision"] == store.head.index


class TestValuesPythonAccepts:
    """Issue 10, defect 8: values json, copy and isinstance(x, dict) accept."""

    def test_get_state_and_events_are_json_and_copyable(self) -> None:
        """get(), get_state() and event values are plain dicts and lists."""
        store = Store({"cfg": {"a": [1, {"b": 2}]}})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        store.set("cfg.c", {"d": [3]})
        for value in (store.get("cfg"), store.get_state(), events[0]):
            assert isinstance(value, dict)
            assert json.loads(json.dumps(value)) == value
            assert copy.deepcopy(value) == value
            assert copy.copy(value) == value
        cfg = store.get("cfg")
        cfg["a"].append(3)  # a mutable copy: the store is untouched
        assert store.get("cfg.a") == [1, {"b": 2}]

    def test_async_current_state_is_json(self, in_tmp: Path) -> None:
        """RozRemembers.get_current_state() and get() are plain too."""

        async def main() -> tuple[Any, Any]:
            store = RozRemembers("initial_state.json")
            await store.load_initial_state()
            store.set("a", {"b": [1]})
            return store.get_current_state(), store.get("a")

        state, a = asyncio.run(main())
        assert json.dumps(state) == '{"a": {"b": [1]}}'
        assert isinstance(a, dict)
        assert json.dumps(a) == '{"b": [1]}'
