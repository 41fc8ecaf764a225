"""Store: dot-path rules, frozen state, events, history, transactions, threads, files.

The dot-path rules are checked example by example and, with Hypothesis, against a
plain-dict model written independently from the documented rules (RELIABILITY S5).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import statetrail
from statetrail import (
    FrozenDict,
    FrozenList,
    NestingError,
    ReentrancyError,
    RevisionNotFoundError,
    StorageError,
    freeze,
)
from statetrail._store_file import write_atomic
from statetrail._store_values import assoc_change
from statetrail.diff import diff
from statetrail.paths import STORE, Refused, set_frozen
from statetrail.store import (
    MAX_PATH_DEPTH,
    AsyncStore,
    Store,
    Transaction,
    get_nested_value,
    set_nested_value,
)
from tests.conftest import scaled
from tests.strategies import scalars, trees, tricky_values
from tests.test_concurrency import run_threads


def saved_state(path: Any) -> Any:
    """The state in a saved file: plain JSON, the state and nothing else."""
    return json.loads(pathlib.Path(path).read_text("utf-8"))


def here() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


# -- the model: the documented rules, on plain dicts, written independently --------


class Fail(Exception):
    pass


def model_steps(path: str) -> list[str]:
    steps = path.split(".")
    if "" in steps or len(steps) > MAX_PATH_DEPTH:
        raise Fail
    return steps


def model_index(node: Any, step: str) -> int:
    if not (isinstance(node, list) and step.isascii() and step.isdigit()):
        raise Fail
    if len(step) > 18 or int(step) >= len(node):
        raise Fail
    return int(step)


def model_get(data: Any, path: str) -> Any:
    try:
        node = data
        for step in model_steps(path):
            node = (
                node.get(step)
                if isinstance(node, dict)
                else node[model_index(node, step)]
            )
            if node is None:
                return None
        return node
    except Fail:
        return None


def model_set(data: Any, path: str, value: Any) -> tuple[bool, Any]:
    def put(node: Any, steps: list[str]) -> Any:
        step, rest = steps[0], steps[1:]
        if isinstance(node, dict):
            new = dict(node)
            child = node.get(step)
            new[step] = value if not rest else put({} if child is None else child, rest)
            return new
        i = model_index(node, step)
        items = list(node)
        items[i] = value if not rest else put({} if node[i] is None else node[i], rest)
        return items

    try:
        return True, put(data, model_steps(path))
    except Fail:
        return False, data


def model_delete(data: Any, path: str) -> tuple[bool, Any]:
    def drop(node: Any, steps: list[str]) -> Any:
        step, rest = steps[0], steps[1:]
        if isinstance(node, dict):
            if step not in node:
                raise Fail
            new = dict(node)
            if rest:
                new[step] = drop(node[step], rest)
            else:
                del new[step]
            return new
        i = model_index(node, step)
        items = list(node)
        if rest:
            items[i] = drop(node[i], rest)
        else:
            del items[i]
        return items

    try:
        return True, drop(data, model_steps(path))
    except Fail:
        return False, data


segments = st.one_of(
    st.sampled_from(
        ["a", "b", "0", "1", "2", "01", "-1", "", "__class__", " a", "é", "e\u0301"]
    ),
    st.text(alphabet="ab01.", max_size=3),
)
paths = st.lists(segments, max_size=4).map(".".join)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "b", "0", "x.y", ""]), children, max_size=3
        ),
    ),
    max_leaves=6,
)
states = st.dictionaries(st.sampled_from(["a", "b", "0", "1"]), values, max_size=4)
operations = st.lists(
    st.tuples(st.sampled_from(["set", "delete", "get"]), paths, values), max_size=12
)


class TestDotPathModel:
    @settings(max_examples=3 * settings().max_examples)
    @given(states, operations)
    def test_store_agrees_with_the_model(
        self, initial: dict[str, Any], ops: list[tuple[str, str, Any]]
    ) -> None:
        """Sets, deletes and gets on a Store give the model's results; every
        successful write is one revision whose state is the model's at that point;
        neither the initial dict nor the values passed in are modified."""
        before = json.dumps([initial, ops])
        store = Store(initial)
        model: Any = json.loads(json.dumps(initial))
        snapshots = [model]
        for op, path, value in ops:
            if op == "set":
                ok, model = model_set(model, path, value)
                assert store.set(path, value) is ok, (path, model)
                if ok:
                    assert store.get(path) == model_get(model, path)
            elif op == "delete":
                ok, model = model_delete(model, path)
                assert store.delete(path) is ok, (path, model)
            else:
                expected = model_get(model, path)
                assert store.get(path) == expected
                ok = False
            if ok:
                snapshots.append(model)
            assert store.get_state() == model
        assert [store.at(n) for n in range(len(snapshots))] == snapshots
        assert len(store.history()) == len(snapshots)
        assert json.dumps([initial, ops]) == before

    @given(states, paths, values)
    def test_plain_helpers_agree_with_the_model(
        self, initial: dict[str, Any], path: str, value: Any
    ) -> None:
        """get_nested_value and set_nested_value follow the same rules, in place;
        a refused write leaves the data exactly as it was."""
        data: Any = json.loads(json.dumps(initial))
        assert get_nested_value(path, data) == model_get(initial, path)
        ok, expected = model_set(initial, path, value)
        assert set_nested_value(path, value, data) is ok
        assert data == expected


class TestDotPathRules:
    def test_numeric_segments_index_lists_only(self) -> None:
        """A digit segment indexes a list and is a plain key on a dict; "01" is
        index 1; "-1" is no index."""
        store = Store({"items": ["x", "y"], "map": {"0": "zero"}})
        assert store.get("items.1") == "y"
        assert store.get("items.01") == "y"
        assert store.get("items.-1") is None
        assert store.get("map.0") == "zero"
        assert store.set("items.-1", "z") is False
        assert store.set("items.01", "Y") is True
        assert store.get("items") == ["x", "Y"]

    def test_a_none_on_the_way_counts_as_missing_for_writes(self) -> None:
        """A key holding None is replaced by a new dict when a write passes
        through it (a None is no data to lose); other scalars refuse."""
        store = Store({"machine": None, "count": 0, "items": [None]})
        assert store.set("machine.state", "READY") is True
        assert store.set("items.0.name", "first") is True
        assert store.set("count.x", 1) is False
        assert store.get_state() == {
            "machine": {"state": "READY"},
            "count": 0,
            "items": [{"name": "first"}],
        }

    def test_a_stored_none_reads_as_the_default(self) -> None:
        """get() gives the default for a stored None, as for a missing key."""
        store = Store({"a": None, "b": 0, "c": False, "d": ""})
        assert store.get("a", "dflt") == "dflt"
        assert [store.get(k, "dflt") for k in "bcd"] == [0, False, ""]

    @pytest.mark.parametrize("path", ["", ".", "a.", ".a", "a..b", "..", "a.b."])
    def test_empty_segments_are_malformed(
        self, path: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An empty segment (empty path, leading, trailing or double dot) reads as
        the default and is refused for writing, logged, with nothing recorded."""
        store = Store({"a": {"b": 1}, "": {"": 2}})
        assert store.get(path, "dflt") == "dflt"
        with caplog.at_level(logging.WARNING):
            assert store.set(path, 1) is False
            assert store.delete(path) is False
        assert "empty segment" in caplog.text
        assert len(store.history()) == 1
        assert get_nested_value(path, {"": {"": 2}}) is None
        assert set_nested_value(path, 1, {}) is False

    @pytest.mark.parametrize("path", [1, None, b"a.b", ("a", "b"), 1.5])
    def test_a_path_that_is_not_a_string_is_a_type_error(self, path: Any) -> None:
        """Non-string paths raise TypeError from every method that takes one (for
        history() and subscribe(), None means every path)."""
        store = Store({"a": 1})
        calls: list[Callable[[], object]] = [
            lambda: store.get(path),
            lambda: store.set(path, 1),
            lambda: store.delete(path),
            lambda: store.blame(path),
            lambda: get_nested_value(path, {}),
            lambda: set_nested_value(path, 1, {}),
        ]
        if path is not None:
            calls.append(lambda: store.history(path))
            calls.append(lambda: store.subscribe(print, path=path))
        for call in calls:
            with pytest.raises(TypeError, match="string"):
                call()

    def test_dict_keys_must_be_strings(self) -> None:
        """A value (or initial state) with a non-string dict key anywhere raises
        TypeError, since 1 and "1" would be one key in the saved JSON."""
        with pytest.raises(TypeError, match="keys are strings"):
            Store({1: "a"})  # type: ignore[dict-item]
        store = Store()
        with pytest.raises(TypeError, match="keys are strings"):
            store.set("a", {"ok": [{"x": {2: "b"}}]})
        with pytest.raises(TypeError, match="keys are strings"):
            store.set("a", ({None: 1},))
        assert store.get_state() == {}

    def test_attribute_names_are_only_keys(self) -> None:
        """__class__ and friends are looked up as keys, never as attributes."""
        store = Store({"a": {"b": 1}, "items": [1]})
        for path in (
            "__class__",
            "a.__class__",
            "a.__class__.__init__.__globals__",
            "items.__len__",
            "a.b.__class__",
        ):
            assert store.get(path) is None
        assert store.set("a.__class__", "x") is True
        assert store.get("a") == {"b": 1, "__class__": "x"}
        assert store.set("a.b.__class__", "x") is False
        assert store.set("items.__len__", 0) is False

    def test_hostile_lengths(self) -> None:
        """10,000 segments and a 1 MB path are refused or read as missing quickly
        (a set that deep is a NestingError, as any write nesting deeper than
        MAX_NESTING is); a 20-digit or 5,000-digit index is just out of range."""
        store = Store({"items": [0]})
        deep = ".".join(["a"] * 10_000)
        assert store.get(deep) is None
        with pytest.raises(NestingError, match="dot-path of 10000 segments"):
            store.set(deep, 1)
        assert store.delete(deep) is False
        assert store.head.number == 0
        ok = ".".join(["a"] * MAX_PATH_DEPTH)
        assert store.set(ok, 1) is True
        assert store.get(ok) == 1
        huge = "k" * 1_000_000
        assert store.set(huge, 1) is True
        assert store.get(huge) == 1
        assert store.get("items." + "9" * 20) is None
        assert store.set("items." + "9" * 5000, 1) is False

    def test_unicode_keys_are_kept_as_given(self) -> None:
        """NFC and NFD spellings are different keys; digits beyond ASCII are keys,
        not indices."""
        store = Store({"items": ["x"]})
        assert store.set("caf\u00e9", 1) is True
        assert store.set("cafe\u0301", 2) is True
        assert store.get("caf\u00e9") == 1
        assert store.get("cafe\u0301") == 2
        assert store.get("items.\u0661") is None  # ARABIC-INDIC DIGIT ONE

    def test_delete(self) -> None:
        """delete() removes a key or list item (later items move up); False when
        there is nothing there."""
        store = Store({"a": {"b": 1, "c": 2}, "items": [1, 2, 3]})
        assert store.delete("a.b") is True
        assert store.delete("items.0") is True
        assert store.get_state() == {"a": {"c": 2}, "items": [2, 3]}
        assert store.delete("a.b") is False
        assert store.delete("items.2") is False
        assert store.delete("a.c.d") is False
        assert store.delete("nothing.here") is False
        assert len(store.history()) == 3


class TestFrozenState:
    def test_snapshot_is_the_frozen_state_itself(self) -> None:
        """snapshot() returns the frozen state without copying (the same object
        until the next write), equal to the plain dict."""
        store = Store({"job": {"bins": 10}})
        snap = store.snapshot()
        assert isinstance(snap, FrozenDict)
        assert store.snapshot() is snap
        assert snap == {"job": {"bins": 10}}
        store.set("job.bins", 11)
        assert snap == {"job": {"bins": 10}}
        assert store.snapshot() is not snap

    def test_a_set_shares_what_it_does_not_touch(self) -> None:
        """A set copies the path it touches only: other subtrees are shared."""
        store = Store({f"e{i}": {"n": i} for i in range(1000)})
        before = store.snapshot()
        store.set("e5.n", -1)
        after = store.snapshot()
        assert all(after[f"e{i}"] is before[f"e{i}"] for i in range(1000) if i != 5)

    def test_get_returns_frozen_values(self) -> None:
        """get() of a container gives a frozen one, which cannot change the state."""
        store = Store({"job": {"bins": [1, 2]}})
        job = store.get("job")
        assert isinstance(job, FrozenDict)
        assert isinstance(job["bins"], FrozenList)
        with pytest.raises(TypeError):
            job["bins"] = []  # type: ignore[index]
        assert store.get("job") == {"bins": [1, 2]}

    def test_values_passed_in_are_copied(self) -> None:
        """Changing a dict after setting it does not change the state."""
        value = {"bins": [1]}
        store = Store({"job": value})
        store.set("other", value)
        value["bins"].append(2)
        assert store.get_state() == {"job": {"bins": [1]}, "other": {"bins": [1]}}

    def test_get_state_is_a_plain_mutable_copy(self) -> None:
        """get_state() is plain dicts and lists; changing it changes nothing."""
        store = Store({"job": {"bins": [1]}})
        state = store.get_state()
        assert type(state["job"]["bins"]) is list
        state["job"]["bins"].append(2)
        assert store.get("job.bins") == [1]

    def test_a_value_nested_too_deeply_is_refused(self) -> None:
        """A value too deep to record raises ValueError; nothing is recorded."""
        deep: Any = 0
        for _ in range(100_000):
            deep = [deep]
        store = Store()
        with pytest.raises(ValueError, match="too deeply"):
            store.set("a", deep)
        assert len(store.history()) == 1

    def test_frozen_values_can_be_set_back(self) -> None:
        """A frozen value read from the store can be set elsewhere, shared."""
        store = Store({"a": {"items": [1, {"b": 2}]}})
        assert store.set("copy", store.get("a")) is True
        assert store.snapshot()["copy"] is store.snapshot()["a"]
        assert store.set("items", store.get("a.items")) is True

    def test_repr(self) -> None:
        """The repr names the revision and the state."""
        store = Store({"a": 1})
        store.set("a", 2)
        assert repr(store) == "Store(revision=1, state=FrozenDict({'a': 2}))"

    def test_str_subclass_paths_work(self) -> None:
        """A str subclass is a path like any other string."""

        class Key(str):
            pass

        store = Store()
        assert store.set(Key("a.b"), 1) is True
        assert store.get(Key("a.b")) == 1

    def test_the_initial_state_must_be_a_dict(self) -> None:
        """A state that is not a mapping is a TypeError."""
        with pytest.raises(TypeError, match="dict"):
            Store([1, 2])  # type: ignore[arg-type]


class TestEvents:
    def test_event_shape(self) -> None:
        """An event has type, path (as asked), old_value, new_value and revision."""
        store = Store({"job": {"sorted": 0}})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        store.set("job.sorted", 1)
        store.set("machine.state", "READY")
        store.delete("job.sorted")
        assert events == [
            {
                "type": "STATE_CHANGED",
                "path": "job.sorted",
                "old_value": 0,
                "new_value": 1,
                "revision": 1,
            },
            {
                "type": "STATE_CHANGED",
                "path": "machine.state",
                "old_value": None,
                "new_value": "READY",
                "revision": 2,
            },
            {
                "type": "STATE_CHANGED",
                "path": "job.sorted",
                "old_value": 1,
                "new_value": None,
                "revision": 3,
            },
        ]

    def test_a_refused_write_sends_no_event(self) -> None:
        """Writes that cannot apply send nothing."""
        store = Store({"a": 1})
        events: list[Any] = []
        store.subscribe(events.append)
        assert store.set("a.b", 2) is False
        assert store.delete("zzz") is False
        assert events == []

    def test_event_values_cannot_alter_the_state(self) -> None:
        """Event values are frozen, and each subscriber gets its own event dict."""
        store = Store()
        events: list[dict[str, Any]] = []

        def meddle(event: dict[str, Any]) -> None:
            event["new_value"] = "changed"
            event.clear()

        store.subscribe(meddle)
        store.subscribe(events.append)
        store.set("job", {"bins": [1]})
        (event,) = events
        assert isinstance(event["new_value"], FrozenDict)
        assert event["new_value"] == {"bins": [1]}
        assert store.get_state() == {"job": {"bins": [1]}}

    def test_subscribe_to_a_path(self) -> None:
        """subscribe(path=...) gets changes at, under and above the path only."""
        store = Store({"job": {"bins": 1, "sorted": 0}, "other": 0})
        got: list[str] = []
        store.subscribe(lambda e: got.append(e["path"]), path="job.sorted")
        store.set("job.sorted", 1)  # at
        store.set("job.bins", 2)  # sibling: not delivered
        store.set("other", 1)  # elsewhere: not delivered
        store.set("job", {"sorted": 5})  # above, and it changes job.sorted
        store.set("job", {"sorted": 5, "bins": 3})  # above, job.sorted unchanged
        store.set("job.sorted.x", 1)  # refused
        store.set("job.sorted", {"deep": 1})
        store.set("job.sorted.deep", 2)  # under
        assert got == ["job.sorted", "job", "job.sorted", "job.sorted.deep"]

    def test_a_slow_subscriber_does_not_hold_other_writers(self) -> None:
        """Subscribers run outside the store's lock: while one sleeps on an event,
        another thread's set returns at once (its event is delivered after)."""
        store = Store()
        got: list[Any] = []
        started = threading.Event()

        def slow(event: dict[str, Any]) -> None:
            got.append(event["path"])
            if event["path"] == "first":
                started.set()
                time.sleep(0.5)

        store.subscribe(slow)
        first = threading.Thread(target=store.set, args=("first", 1))
        first.start()
        started.wait()
        begin = time.perf_counter()
        assert store.set("second", 2) is True
        elapsed = time.perf_counter() - begin
        first.join()
        assert elapsed < 0.25
        assert got == ["first", "second"]

    def test_a_list_insertion_concerns_every_later_item(self) -> None:
        """Removing a list item moves the later ones: their subscribers hear it."""
        store = Store({"items": ["a", "b", "c"]})
        got: list[Any] = []
        store.subscribe(lambda e: got.append(e["revision"]), path="items.2")
        store.delete("items.0")
        assert got == [1]

    def test_unsubscribe_is_idempotent(self) -> None:
        """The returned function stops delivery; calling it again does nothing."""
        store = Store()
        got: list[Any] = []
        stop = store.subscribe(got.append)
        store.set("a", 1)
        stop()
        stop()
        store.set("a", 2)
        assert [e["new_value"] for e in got] == [1]

    def test_a_subscriber_may_write_back(self) -> None:
        """A subscriber's own write is recorded after the one it reacts to, and
        every subscriber sees both, in commit order."""
        store = Store({"n": 0})
        seen: list[tuple[str, Any]] = []

        def double(event: dict[str, Any]) -> None:
            if event["path"] == "n":
                store.set("twice", event["new_value"] * 2)

        store.subscribe(double)
        store.subscribe(lambda e: seen.append((e["path"], e["new_value"])))
        store.set("n", 21)
        assert seen == [("n", 21), ("twice", 42)]
        assert store.get("twice") == 42

    def test_endless_write_back_is_stopped(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A subscriber that always writes back is cut off by ReentrancyError
        (logged), not a RecursionError, and the store keeps working."""
        store = Store({"n": 0})
        store.subscribe(lambda e: store.set("n", e["new_value"] + 1))
        with caplog.at_level(logging.ERROR):
            store.set("n", 1)
        assert store.get("n") == statetrail.MAX_LISTENER_DEPTH
        assert any(
            isinstance(r.exc_info[1], ReentrancyError)
            for r in caplog.records
            if r.exc_info
        )
        assert store.set("after", 1) is True

    def test_subscribing_during_delivery_takes_effect_next_time(self) -> None:
        """A subscriber added while an event is delivered gets the next one only."""
        store = Store()
        late: list[Any] = []

        def add_another(event: dict[str, Any]) -> None:
            if event["new_value"] == 1:
                store.subscribe(lambda e: late.append(e["new_value"]))

        store.subscribe(add_another)
        store.set("a", 1)
        store.set("a", 2)
        assert late == [2]

    def test_callback_must_be_callable(self) -> None:
        """subscribe() refuses something it cannot call."""
        with pytest.raises(TypeError, match="callable"):
            Store().subscribe("print")  # type: ignore[arg-type]


class TestHistory:
    def test_every_set_is_a_revision_with_its_metadata(self) -> None:
        """Each successful set records time, origin (this line), author, comment,
        label and the path it asked for."""
        store = Store({"job": {"sorted": 0}})
        with statetrail.context(author="alice"):
            store.set("job.sorted", 1, comment="card sorted", label="sort")
            line = here() - 1
        rev = store.head
        assert (rev.number, rev.author, rev.comment, rev.label) == (
            1,
            "alice",
            "card sorted",
            "sort",
        )
        assert rev.extra == {"op": "set", "path": "job.sorted"}
        assert rev.origin is not None
        assert (rev.origin.file, rev.origin.line) == (__file__, line)
        assert rev.origin.function == "test_every_set_is_a_revision_with_its_metadata"
        assert rev.origin.thread == threading.current_thread().name
        assert rev.timestamp <= store.head.timestamp

    def test_origins_of_every_write_point_at_the_callers_line(self) -> None:
        """set, delete, rollback, load and transaction record the user's line."""
        store = Store({"a": 1})
        lines = []
        store.set("b", 2)
        lines.append(here() - 1)
        store.delete("b")
        lines.append(here() - 1)
        store.rollback(0)
        lines.append(here() - 1)
        with store.transaction():
            lines.append(here() - 1)
            store.set("c", 3)
        origins = [r.origin for r in store.history()[1:]]
        assert [(o.file, o.line) for o in origins if o] == [
            (__file__, line) for line in lines
        ]

    def test_origin_capture_can_be_off(self) -> None:
        """With origin capture off, writes record no origin."""
        statetrail.set_origin_capture(False)
        store = Store()
        store.set("a", 1)
        with store.transaction():
            store.set("b", 2)
        store.delete("a")
        assert [r.origin for r in store.history()[1:]] == [None, None, None]

    def test_the_same_value_set_again_is_still_recorded(self) -> None:
        """A set is a revision even when the value does not change (who set it,
        and when, is history too)."""
        store = Store({"a": 1})
        assert store.set("a", 1) is True
        assert len(store.history()) == 2
        assert store.diff(0, 1) == []

    def test_history_of_a_path(self) -> None:
        """history(path) gives the revisions that changed the path, something
        under it, or a parent of it."""
        store = Store({"job": {"bins": 1}, "items": [{"n": 0}, {"n": 1}]})
        store.set("job.bins", 2)  # 1: at
        store.set("other", 1)  # 2: elsewhere
        store.set("job", {"bins": 3, "x": 1})  # 3: parent
        store.set("job.bins.deep", 1)  # refused
        store.set("job.x", 2)  # 4: sibling
        store.set("items.1.n", 5)  # 5: list item
        store.delete("items.0")  # 6: shifts items.1
        assert [r.number for r in store.history("job.bins")] == [1, 3]
        assert [r.number for r in store.history("job")] == [1, 3, 4]
        assert [r.number for r in store.history("items.1")] == [5, 6]
        assert [r.number for r in store.history("items.1.n")] == [5, 6]
        assert [r.number for r in store.history()] == list(range(7))

    def test_blame(self) -> None:
        """blame(path) is the newest revision that changed it; the first revision
        for a path never changed; None for a path that never existed."""
        store = Store({"job": {"bins": 1}, "items": [0, 1]})
        store.set("job.bins", 2)
        store.set("other", 1)
        store.set("items.1", 5)
        assert store.blame("job.bins").number == 1  # type: ignore[union-attr]
        assert store.blame("items.1").number == 3  # type: ignore[union-attr]
        assert store.blame("items.0").number == 0  # type: ignore[union-attr]
        assert store.blame("nothing") is None

    def test_at_diff_and_rollback(self) -> None:
        """at(n) is the state of revision n; diff(a, b) its changes; rollback
        appends a revision equal to an earlier one and notifies subscribers."""
        store = Store({"job": {"bins": 10}})
        store.set("job.bins", 9)
        store.set("machine.state", "READY")
        assert store.at(1) == {"job": {"bins": 9}}
        assert [(c.dotted, c.old, c.new) for c in store.diff(0, 2)] == [
            ("job.bins", 10, 9),
            ("machine", statetrail.MISSING, {"state": "READY"}),
        ]
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        rev = store.rollback(0, comment="undo all")
        assert (rev.number, rev.kind, rev.target, rev.comment) == (
            3,
            "rollback",
            0,
            "undo all",
        )
        assert store.get_state() == {"job": {"bins": 10}}
        assert [r.number for r in store.history()] == [0, 1, 2, 3]
        (event,) = events
        assert event["path"] == ""
        assert event["old_value"] == store.at(2)
        assert event["new_value"] == {"job": {"bins": 10}}
        with pytest.raises(RevisionNotFoundError):
            store.rollback(99)

    def test_a_rollback_to_the_same_state_is_an_event_at_the_root(self) -> None:
        """A revision that changed nothing and asked for no path has the root as
        its event path."""
        store = Store({"a": 1})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        store.rollback(0)
        assert [(e["path"], e["old_value"], e["new_value"]) for e in events] == [
            ("", {"a": 1}, {"a": 1})
        ]

    def test_a_validator_may_raise_conflict_error_itself(self) -> None:
        """A ConflictError from a validator reaches the writer unchanged."""
        store = Store()

        def refuse(state: Any) -> None:
            if "locked" in state:
                raise statetrail.ConflictError("locked elsewhere")

        store.add_validator(refuse)
        with pytest.raises(statetrail.ConflictError, match="locked elsewhere"):
            store.set("locked", True)
        assert store.get_state() == {}

    def test_history_queries_refuse_malformed_paths(self) -> None:
        """history() and blame() raise ValueError for a malformed path."""
        store = Store()
        with pytest.raises(ValueError, match="empty segment"):
            store.history("a..b")
        with pytest.raises(ValueError, match="empty segment"):
            store.blame("")


class TestTransactions:
    def test_several_sets_are_one_revision_and_one_event(self) -> None:
        """A transaction's writes are one revision and one event, whose path is
        the deepest one under which everything changed."""
        store = Store({"job": {"bins": 10, "sorted": 0}})
        events: list[dict[str, Any]] = []
        store.subscribe(events.append)
        with store.transaction(author="sorter", comment="card sorted") as tx:
            assert store.set("job.sorted", 1) is True
            assert tx.set("job.bins", 9) is True
            assert store.get("job.sorted") == 1
            assert tx.get("job.bins") == 9
            assert events == []
        assert tx.revision == store.head
        assert (store.head.number, store.head.author, store.head.comment) == (
            1,
            "sorter",
            "card sorted",
        )
        assert events == [
            {
                "type": "STATE_CHANGED",
                "path": "job",
                "old_value": {"bins": 10, "sorted": 0},
                "new_value": {"bins": 9, "sorted": 1},
                "revision": 1,
            }
        ]

    def test_an_exception_leaves_no_trace(self) -> None:
        """An exception inside the block records nothing and notifies nobody."""
        store = Store({"a": 1})
        events: list[Any] = []
        store.subscribe(events.append)

        def abort() -> None:
            with store.transaction():
                store.set("a", 2)
                store.delete("a")
                raise KeyError("abort")

        with pytest.raises(KeyError):
            abort()
        assert store.get_state() == {"a": 1}
        assert len(store.history()) == 1
        assert events == []
        assert store.set("a", 3) is True

    def test_validators_see_the_final_state_once(self) -> None:
        """A store-level validator sees a transaction's final state once, so a rule
        across fields holds though the fields change one at a time."""
        store = Store({"sorted": 0, "left": 10})
        seen: list[Any] = []

        def conserved(state: Any) -> None:
            seen.append(dict(state))
            if state["sorted"] + state["left"] != 10:
                raise ValueError("cards appeared or vanished")

        store.add_validator(conserved)
        with store.transaction():
            store.set("sorted", 1)
            store.set("left", 9)
        assert seen == [{"sorted": 1, "left": 9}]
        with pytest.raises(ValueError, match="vanished"):
            store.set("sorted", 5)
        with pytest.raises(ValueError, match="vanished"), store.transaction():
            store.set("sorted", 2)
        assert store.get_state() == {"sorted": 1, "left": 9}
        assert len(store.history()) == 2

    def test_a_nested_block_is_a_savepoint(self) -> None:
        """An exception in a nested block undoes only its own writes."""
        store = Store()

        def inner() -> None:
            with store.transaction():
                store.set("b", 2)
                raise RuntimeError

        with store.transaction():
            store.set("a", 1)
            with pytest.raises(RuntimeError):
                inner()
            store.set("c", 3)
        assert store.get_state() == {"a": 1, "c": 3}
        assert len(store.history()) == 2

    def test_a_nested_block_that_succeeds_joins_the_outer_one(self) -> None:
        """Writes of a nested block that ends normally are part of the outer
        transaction's one revision."""
        store = Store()
        with store.transaction() as outer:
            store.set("a", 1)
            with store.transaction() as inner:
                store.set("b", 2)
            assert inner is outer
            assert inner.revision is None
        assert outer.revision == store.head
        assert store.get_state() == {"a": 1, "b": 2}
        assert len(store.history()) == 2

    def test_refused_writes_inside(self, caplog: pytest.LogCaptureFixture) -> None:
        """Inside a transaction, writes that cannot apply return False, logged,
        and the others still count."""
        store = Store({"n": 1})
        with caplog.at_level(logging.WARNING), store.transaction() as tx:
            assert tx.set("a..b", 1) is False
            assert tx.delete("") is False
            assert tx.set("n.x", 1) is False
            assert tx.set("ok", 1) is True
        assert len(caplog.records) == 3
        assert store.get_state() == {"n": 1, "ok": 1}

    def test_a_transaction_that_changes_nothing_records_nothing(self) -> None:
        """A block with no net change, or only refused writes, records nothing."""
        store = Store({"a": 1})
        with store.transaction() as tx:
            store.set("a", 2)
            store.set("a", 1)
            store.set("a.b", 1)
        assert tx.revision is None
        assert len(store.history()) == 1

    def test_deletes_and_snapshot_inside(self) -> None:
        """delete() and snapshot() work on the working state."""
        store = Store({"a": 1, "b": {"c": 2}})
        with store.transaction() as tx:
            assert store.delete("a") is True
            assert tx.delete("b.c") is True
            assert tx.delete("zzz") is False
            assert store.snapshot() == {"b": {}}
            assert tx.snapshot() is store.snapshot()
            assert isinstance(tx, Transaction)
        assert store.get_state() == {"b": {}}

    def test_other_threads_see_the_committed_state_and_wait_to_write(self) -> None:
        """While a block is open, another thread reads the state before it, and
        its write is recorded after the block's revision."""
        store = Store({"a": 0})
        inside = threading.Event()
        results: dict[str, Any] = {}

        def other() -> None:
            inside.wait()
            results["read"] = store.get("a")
            store.set("b", 1)

        thread = threading.Thread(target=other)
        thread.start()
        with store.transaction():
            store.set("a", 1)
            inside.set()
            thread.join(0.2)
            assert thread.is_alive()  # its write waits for the block
        thread.join()
        assert results["read"] == 0
        assert [r.extra for r in store.history()[1:]] == [
            None,
            {"op": "set", "path": "b"},
        ]

    def test_rollback_inside_a_transaction_is_refused(self) -> None:
        """Rollback cannot be part of a transaction (it would bypass it)."""
        store = Store({"a": 1})
        store.set("a", 2)
        with pytest.raises(ReentrancyError), store.transaction():
            store.rollback(0)
        assert store.get("a") == 2


# Out of coverage, as tests/test_concurrency.py: under Python 3.11's tracer these
# trials took 4x as long and covered nothing the single-threaded tests do not.
@pytest.mark.no_cover
class TestThreads:
    def test_sixteen_threads_lose_no_set(self) -> None:
        """16 threads x 10,000 sets of one path: every set recorded once, in each
        thread's order, revisions contiguous, events delivered in commit order."""
        per = scaled(10_000)
        store = Store({"counter": None})
        delivered: list[int] = []
        store.subscribe(lambda e: delivered.append(e["revision"]))

        def work(tid: int) -> None:
            for seq in range(per):
                assert store.set("counter", [tid, seq]) is True

        assert run_threads(16, work) == []
        revs = store.history()
        assert [r.number for r in revs] == list(range(16 * per + 1))
        assert all(r.parent == r.number - 1 for r in revs[1:])
        writes = [tuple(r.value["counter"]) for r in revs[1:]]
        assert len(set(writes)) == len(writes)
        last: dict[int, int] = {}
        for tid, seq in writes:
            assert seq == last.get(tid, -1) + 1
            last[tid] = seq
        assert delivered == list(range(1, 16 * per + 1))
        assert store.get("counter") == list(writes[-1])

    def test_readers_during_writes(self) -> None:
        """Readers looping over get, snapshot, history, blame and diff while 4
        threads write see no error, and the head never goes backwards."""
        per = scaled(2_000)
        store = Store({"n": 0})
        done = threading.Event()
        problems: list[BaseException] = []

        def read() -> None:
            last = 0
            try:
                while not done.is_set():
                    number = store.head.number
                    assert number >= last
                    last = number
                    assert store.at(number) == store.timeline.value_at(number)
                    store.get("n")
                    store.snapshot()
                    store.blame("n")
                    store.diff(0, number)
                    len(store.history())
            except BaseException as exc:
                problems.append(exc)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()

        def write(tid: int) -> None:
            for seq in range(per):
                store.set("n", seq)

        assert run_threads(4, write) == []
        done.set()
        for reader in readers:
            reader.join()
        assert problems == []
        assert len(store.history()) == 4 * per + 1

    def test_threads_writing_different_paths_keep_all_of_them(self) -> None:
        """Concurrent sets to different keys are all kept (no lost update)."""
        per = scaled(2_000)
        store = Store()

        def work(tid: int) -> None:
            for seq in range(per):
                store.set(f"t{tid}.s{seq}", seq)

        assert run_threads(8, work) == []
        state = store.get_state()
        assert all(len(state[f"t{tid}"]) == per for tid in range(8))
        assert len(store.history()) == 8 * per + 1


class TestPersistence:
    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        """save() writes plain JSON; Store(state_file=) and load() read it back."""
        target = tmp_path / "state.json"
        store = Store({"job": {"bins": [1, 2], "name": "é"}, "n": None})
        store.save(target)
        assert saved_state(target) == store.get_state()
        assert Store(state_file=target).get_state() == store.get_state()
        other = Store({"x": 1})
        other.load(target)
        assert other.get_state() == store.get_state()
        assert other.head.extra == {"op": "load", "file": str(target)}
        assert len(other.history()) == 2

    def test_the_state_file_is_the_first_run_default(self, tmp_path: Path) -> None:
        """With initial_state and a state_file that does not exist yet, the store
        starts from initial_state; save() creates the file."""
        target = tmp_path / "new.json"
        store = Store({"a": 1}, state_file=target)
        assert store.get_state() == {"a": 1}
        assert store.state_file == str(target)
        store.save()
        assert saved_state(target) == {"a": 1}
        assert Store({"a": 2}, state_file=target).get_state() == {"a": 1}
        assert store.history()[0].comment is None

    def test_save_writes_the_state_only(self, tmp_path: Path) -> None:
        """save() writes plain JSON: the state and nothing else, after many sets
        too (issue 10, defect 2: the whole history went in under "$statetrail")."""
        target = tmp_path / "state.json"
        store = Store({"job": {"bins": 10}}, state_file=target)
        for n in range(50):
            store.set("job.bins", n)
        store.save()
        assert json.loads(target.read_text()) == {"job": {"bins": 49}}
        again = Store(state_file=target)
        assert again.get_state() == {"job": {"bins": 49}}
        assert [r.number for r in again.history()] == [0]

    def test_a_users_own_history_key_stays_state(self, tmp_path: Path) -> None:
        """ "$statetrail" is an ordinary key: set, saved and loaded back as state,
        even holding a dict, as long as it lacks the old history block's marker."""
        target = tmp_path / "state.json"
        store = Store()
        assert store.set("$statetrail", {"rows": [1, 2], "format": "mine"})
        store.save(target)
        assert json.loads(target.read_text()) == {
            "$statetrail": {"rows": [1, 2], "format": "mine"}
        }
        assert Store(state_file=target).get("$statetrail.rows") == [1, 2]

    @pytest.mark.parametrize(
        "block",
        [
            {"format": "statetrail-history", "version": 1, "timelines": {}},
            # Damaged: the block is dropped unread, never a reason to fail
            # (issue 9, defect 5: a damaged block made Store(state_file=) raise).
            {"format": "statetrail-history", "version": 1, "timelines": []},
            {"format": "statetrail-history", "timelines": {"s": {"rows": [7]}}},
            {"format": "statetrail-history"},
        ],
    )
    def test_an_old_history_block_is_dropped_with_a_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, block: Any
    ) -> None:
        """A file written by an earlier save(), with the history under
        "$statetrail": Store(state_file=), load() and AsyncStore's
        load_initial_state() all load its state only, with a warning."""
        target = tmp_path / "state.json"
        target.write_text(json.dumps({"job": {"bins": 3}, "$statetrail": block}))
        with caplog.at_level(logging.WARNING, logger="statetrail.store"):
            assert Store(state_file=target).get_state() == {"job": {"bins": 3}}
        assert "history block" in caplog.text
        assert "statetrail.open()" in caplog.text
        other = Store({"x": 1})
        other.load(target)
        assert other.get_state() == {"job": {"bins": 3}}

        async def initial() -> dict[str, Any]:
            store = AsyncStore(target)
            await store.load_initial_state()
            return store.get_state()

        assert asyncio.run(initial()) == {"job": {"bins": 3}}
        assert json.loads(target.read_text())["$statetrail"] == block  # untouched

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
    def test_a_fifo_is_neither_read_nor_replaced(self, tmp_path: Path) -> None:
        """Store(state_file=fifo) and save(fifo) raise StorageError at once and
        leave the FIFO (issue 9, defect 6: the first blocked for ever, the second
        replaced the FIFO with a file)."""
        fifo = tmp_path / "state.json"
        os.mkfifo(fifo)
        done: list[str] = []

        def construct() -> None:
            try:
                Store(state_file=fifo)
            except StorageError as exc:
                done.append(str(exc))

        worker = threading.Thread(target=construct, daemon=True)
        worker.start()
        worker.join(10)
        if worker.is_alive():  # let the blocked open return
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert done
        assert "is a FIFO, not a regular file" in done[0]
        with pytest.raises(StorageError, match="FIFO"):
            Store({"a": 1}).save(fifo)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)

    def test_save_does_not_replace_a_device(self) -> None:
        """save() to a character device raises StorageError and leaves it."""
        if not os.path.exists(os.devnull):
            pytest.skip("no null device")
        with pytest.raises(StorageError, match="character device"):
            Store({"a": 1}).save(os.devnull)
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)

    def test_a_state_file_nested_too_deeply_starts_from_the_default(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A JSON file nested deeper than MAX_NESTING is refused like malformed
        JSON: the default state, a warning, the bytes kept aside."""
        target = tmp_path / "deep.json"
        target.write_text('{"a":' * 150 + "1" + "}" * 150)
        with caplog.at_level(logging.WARNING, logger="statetrail.store"):
            assert Store({"d": 1}, state_file=target).get_state() == {"d": 1}
        assert "nested too deeply" in caplog.text
        assert (tmp_path / "deep.json.corrupt").exists()

    def test_values_json_lacks_are_written_as_text(self, tmp_path: Path) -> None:
        """Values without a JSON type are written as their str(), as the seed
        does; NaN is refused with ValueError and the file is left alone."""
        import datetime

        target = tmp_path / "s.json"
        day = datetime.date(2024, 1, 2)
        Store({"day": day, "tags": ("a", "b")}).save(target)
        assert saved_state(target) == {
            "day": "2024-01-02",
            "tags": ["a", "b"],
        }
        with pytest.raises(ValueError, match="cannot save"):
            Store({"x": float("nan")}).save(target)
        assert saved_state(target)["day"] == "2024-01-02"

    @pytest.mark.parametrize(
        "content",
        [
            b'{"job": ',
            b"",
            b"[1, 2]",
            b'"text"',
            b'{"a": 1, "a": 2}',
            b"\xff\xfe{}",
            b"[" * 100_000,
            b'{"n": ' + b"9" * 5000 + b"}",
        ],
    )
    def test_a_malformed_file_is_kept_aside_and_never_overwritten(
        self, tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Malformed JSON (also: not an object, a repeated key, bad UTF-8, too
        deep, a too-long number) starts empty with a warning; the file's bytes are
        kept in <file>.corrupt before any save replaces it."""
        target = tmp_path / "state.json"
        target.write_bytes(content)
        with caplog.at_level(logging.WARNING):
            store = Store(state_file=target)
        assert store.get_state() == {}
        assert "malformed JSON" in caplog.text
        store.set("fresh", 1)
        store.save()
        assert saved_state(target) == {"fresh": 1}
        assert (tmp_path / "state.json.corrupt").read_bytes() == content

    def test_each_malformed_version_is_kept(self, tmp_path: Path) -> None:
        """A second, different malformed file goes to .corrupt.1; loading the same
        one twice keeps one copy."""
        target = tmp_path / "s.json"
        target.write_text("{bad")
        Store(state_file=target)
        Store(state_file=target)
        target.write_text("{worse")
        Store(state_file=target)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "s.json",
            "s.json.corrupt",
            "s.json.corrupt.1",
        ]
        assert (tmp_path / "s.json.corrupt.1").read_text() == "{worse"

    def test_load_of_a_missing_file_empties_the_state(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """load() of a missing file records the empty state, with a warning."""
        store = Store({"a": 1})
        with caplog.at_level(logging.WARNING):
            store.load(tmp_path / "absent.json")
        assert store.get_state() == {}
        assert "not found" in caplog.text
        assert store.at(0) == {"a": 1}

    def test_an_unreadable_file_is_an_error(self, tmp_path: Path) -> None:
        """A file that exists but cannot be read (a directory here) raises."""
        with pytest.raises(IsADirectoryError):
            Store(state_file=tmp_path)

    def test_save_keeps_the_file_mode_and_follows_links(self, tmp_path: Path) -> None:
        """A save keeps the old file's permissions and writes through a symlink."""
        real = tmp_path / "real.json"
        real.write_text("{}")
        real.chmod(0o640)
        link = tmp_path / "link.json"
        link.symlink_to(real)
        Store({"a": 1}).save(link)
        assert link.is_symlink()
        assert saved_state(real) == {"a": 1}
        assert stat.S_IMODE(real.stat().st_mode) == 0o640

    def test_save_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        """After saves only the target exists; a failed save removes its temporary
        file and leaves the old content."""
        target = tmp_path / "s.json"
        store = Store({"a": 1})
        store.save(target)
        store.save(target)
        assert [p.name for p in tmp_path.iterdir()] == ["s.json"]

        class Full:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            def fsync(self, fd: int) -> None:
                raise OSError(28, "No space left on device")

        with pytest.raises(OSError, match="No space"):
            write_atomic(str(target), b'{"b": 2}', _os=Full())
        assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
        assert saved_state(target) == {"a": 1}

    def test_the_write_is_fsynced_before_the_rename_and_the_directory_after(
        self, tmp_path: Path
    ) -> None:
        """The order that survives power loss: write, fsync the file, close,
        rename over the target, fsync the directory."""
        calls: list[str] = []

        class Recording:
            def __getattr__(self, name: str) -> Any:
                real = getattr(os, name)

                def call(*args: Any, **kwargs: Any) -> Any:
                    calls.append(name)
                    return real(*args, **kwargs)

                return call

        write_atomic(str(tmp_path / "s.json"), b"{}", _os=Recording())
        assert calls == [
            "open",
            "write",
            "fsync",
            "close",
            "stat",
            "replace",
            "open",
            "fsync",
            "close",
        ]

    def test_stale_temporary_files_are_removed_on_open(self, tmp_path: Path) -> None:
        """A temporary file left by a process that died is removed by the next
        load; one of a live process is not."""
        target = tmp_path / "s.json"
        target.write_text("{}")
        dead = tmp_path / ".s.json.999999999.abcd.tmp"
        live = tmp_path / f".s.json.{os.getpid()}.abcd.tmp"
        dead.write_text("{")
        live.write_text("{")
        Store(state_file=target)
        assert not dead.exists()
        assert live.exists()


class TestKnownChanges:
    """Store.set tells the engine what it changed instead of having it diffed; what
    it tells must be exactly what a diff finds."""

    @given(
        state=st.dictionaries(
            st.sampled_from(["a", "b", "c"]),
            trees(leaves=tricky_values | scalars, max_leaves=12),
            max_size=3,
        ),
        path=st.lists(
            st.sampled_from(["a", "b", "c", "0", "1", "x"]), min_size=1, max_size=3
        ),
        value=trees(leaves=tricky_values | scalars, max_leaves=6),
    )
    @example(state={"a": 1}, path=["a"], value=True)
    @example(state={"a": [0.0]}, path=["a", "0"], value=0)
    @example(state={"a": {"b": 1}}, path=["a"], value={"b": True})
    @example(state={"a": None}, path=["a", "b"], value=1)
    def test_the_changes_told_are_the_changes_a_diff_finds(
        self, state: dict[str, Any], path: list[str], value: Any
    ) -> None:
        """For any state, path and value: assoc_change's changes equal diff's."""
        root = freeze(state)
        steps = tuple(path)
        try:
            expected_root = set_frozen(root, steps, freeze(value), True, STORE)
        except Refused:
            return
        new_root, changes = assoc_change(root, steps, freeze(value))
        assert new_root == expected_root
        if changes is not None:
            assert list(changes) == diff(root, new_root)
            assert [type(c.new) for c in changes] == [
                type(c.new) for c in diff(root, new_root)
            ]

    def test_a_stored_store_records_the_same_history_either_way(self) -> None:
        """The revisions' changes and the path index agree with a plain diff."""
        store = Store({"job": {"bins": [1, 2], "sorted": 0}})
        store.set("job.sorted", 1)
        store.set("job.bins.1", 3)
        store.set("job.new", {"x": 1})
        store.set("job.sorted", 1)
        store.set("job.sorted", True)
        revs = store.history()
        for rev in revs[1:]:
            parent = revs[rev.number - 1]
            assert list(rev.changes) == diff(parent.value, rev.value)
        assert [r.number for r in store.history("job.sorted")] == [1, 5]
