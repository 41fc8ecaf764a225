"""Seed 000, alma-framework 0.1.0's README, on alma and on statetrail.compat.alma.

Every example and every documented feature of the README, plus the points of
issue 10 a user of alma meets (ChangeRecord's four fields and repr, plain values,
dict order). Each test names the README passage it checks.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import threading
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from tests.compat.acceptance.sides import (
    twenty_keys,
)


class TestQuickstart:
    def test_the_quickstart_runs_with_its_documented_output(
        self, alma: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Quickstart, steps 1-6: watch, chained set, get, last_change, history,
        rollback(1) "back to 10", reset() back to 0, each print as commented."""
        # 1. Create a watched variable
        score = alma.watch("score", 0)
        # 2. Mutate it
        score.set(10).set(20).set(30)  # fluent chaining
        # 3. Inspect
        print(score.get())  # 30
        print(score.last_change())  # ChangeRecord(index=3, value=30, ...)
        # 4. Full audit trail
        for record in score.history():
            print(record)
        # 5. Time-travel
        score.rollback(1)  # back to 10
        print(score.get())  # 10
        # 6. Restore initial value
        score.reset()
        print(score.get())  # 0

        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "30"
        assert lines[1].startswith("ChangeRecord(index=3, value=30, ")
        assert [line.split(", at=")[0] for line in lines[2:6]] == [
            "ChangeRecord(index=0, value=0",
            "ChangeRecord(index=1, value=10",
            "ChangeRecord(index=2, value=20",
            "ChangeRecord(index=3, value=30",
        ]
        assert lines[6:] == ["10", "0"]

    def test_set_is_fluent_and_appends_a_record(self, alma: ModuleType) -> None:
        """Quickstart step 2 and the method table: set() returns self (fluent
        chaining) and appends a ChangeRecord."""
        score = alma.watch("score", 0)
        assert score.set(10) is score
        assert score.set(20).set(30) is score
        assert [r.value for r in score.history()] == [0, 10, 20, 30]
        assert [r.index for r in score.history()] == [0, 1, 2, 3]

    def test_rollback_appends_a_new_record(self, alma: ModuleType) -> None:
        """Method table: rollback(index, *, label=None) restores the value at index,
        appends a new record and returns self; reset() is rollback(0)."""
        score = alma.watch("score", 0)
        score.set(10).set(20).set(30)
        assert score.rollback(1) is score
        assert score.get() == 10
        assert [r.value for r in score.history()] == [0, 10, 20, 30, 10]
        assert score.last_change().index == 4
        assert score.rollback(2, label="undo") is score
        assert score.last_change().label == "undo"
        assert score.reset() is score
        assert score.get() == 0
        assert [r.value for r in score.history()] == [0, 10, 20, 30, 10, 20, 0]

    def test_rollback_out_of_range_raises(self, alma: ModuleType) -> None:
        """Method table, rollback(index): an index outside the history cannot be
        restored: RollbackError, an AlmaError, and nothing is recorded."""
        score = alma.watch("score", 0)
        score.set(1)
        for index in (2, -1):
            with pytest.raises(alma.RollbackError):
                score.rollback(index)
        assert issubclass(alma.RollbackError, alma.AlmaError)
        assert [r.value for r in score.history()] == [0, 1]


class TestWatch:
    def test_watch_signature(self, alma: ModuleType) -> None:
        """alma.watch(name, initial_value, *, deep_copy=True, validators=None,
        on_change=None, overwrite=False) -> AlmaVar: every keyword is accepted."""
        seen: list[Any] = []
        var = alma.watch(
            "v",
            1,
            deep_copy=True,
            validators=[lambda v: None],
            on_change=[lambda var, rec: seen.append(rec.value)],
            overwrite=False,
        )
        assert isinstance(var, alma.AlmaVar)
        assert var.name == "v"
        var.set(2)
        assert seen == [2]

    def test_name_is_a_unique_identifier(self, alma: ModuleType) -> None:
        """watch() arguments, name "Unique identifier" and overwrite "Replace an
        existing registration": a taken name raises AlmaError unless overwrite."""
        first = alma.watch("x", 0)
        with pytest.raises(alma.AlmaError):
            alma.watch("x", 1)
        second = alma.watch("x", 2, overwrite=True)
        assert second is not first
        assert second.get() == 2
        assert [r.value for r in second.history()] == [2]

    def test_deep_copy_stores_a_copy(self, alma: ModuleType) -> None:
        """watch() argument deep_copy: "Deep-copy every stored value (default
        True)": changing the caller's object afterwards leaves history alone."""
        value = {"items": [1, 2]}
        var = alma.watch("v", value)
        value["items"].append(3)
        new = {"items": [9]}
        var.set(new)
        new["items"].append(10)
        assert [r.value for r in var.history()] == [{"items": [1, 2]}, {"items": [9]}]

    def test_validators_argument(self, alma: ModuleType) -> None:
        """watch() argument validators: "Raise ValueError to reject a value"."""

        def even(v: int) -> None:
            if v % 2:
                raise ValueError("odd")

        n = alma.watch("n", 0, validators=[even])
        n.set(2)
        with pytest.raises(ValueError, match="odd"):
            n.set(3)
        assert n.get() == 2
        assert len(n.history()) == 2

    def test_on_change_argument(self, alma: ModuleType) -> None:
        """watch() argument on_change: "(var, record) listeners fired after every
        set"."""
        calls: list[tuple[Any, int, Any]] = []
        var = alma.watch(
            "v", 0, on_change=[lambda v, r: calls.append((v, r.index, r.value))]
        )
        var.set(1).set(2)
        assert calls == [(var, 1, 1), (var, 2, 2)]


class TestMethods:
    def test_get_and_last_change(self, alma: ModuleType) -> None:
        """Method table: get() is the current value; last_change() the most recent
        ChangeRecord (the initial one before any set)."""
        var = alma.watch("v", "a")
        assert var.get() == "a"
        assert var.last_change().index == 0
        assert var.last_change().value == "a"
        var.set("b", label="second")
        assert var.get() == "b"
        last = var.last_change()
        assert (last.index, last.value, last.label) == (1, "b", "second")

    def test_history_is_a_list_of_change_records(self, alma: ModuleType) -> None:
        """Method table: history() -> list[ChangeRecord], the full mutation
        history; changing the list returned changes nothing."""
        var = alma.watch("v", 0)
        var.set(1)
        history = var.history()
        assert type(history) is list
        assert all(isinstance(r, alma.ChangeRecord) for r in history)
        history.clear()
        assert len(var.history()) == 2

    def test_diff(self, alma: ModuleType) -> None:
        """Method table: diff() -> list[dict], "Consecutive-change diffs with
        elapsed ms"."""
        var = alma.watch("v", {"a": 1})
        var.set({"a": 2}).set({"a": 3})
        diffs = var.diff()
        assert type(diffs) is list
        assert [(d["from_index"], d["to_index"]) for d in diffs] == [(0, 1), (1, 2)]
        assert [(d["from_value"], d["to_value"]) for d in diffs] == [
            ({"a": 1}, {"a": 2}),
            ({"a": 2}, {"a": 3}),
        ]
        assert all(d["elapsed_ms"] >= 0 for d in diffs)
        assert set(diffs[0]) == {
            "from_index",
            "to_index",
            "from_value",
            "to_value",
            "elapsed_ms",
        }

    def test_freeze_and_thaw(self, alma: ModuleType) -> None:
        """Method table: freeze() "Prevent further mutations", thaw() "Re-enable
        mutations", both returning self."""
        var = alma.watch("v", 0)
        assert var.freeze() is var
        with pytest.raises(alma.FrozenError):
            var.set(1)
        with pytest.raises(alma.FrozenError):
            var.rollback(0)
        assert var.get() == 0
        assert var.thaw() is var
        var.set(1)
        assert var.get() == 1

    def test_add_validator_and_add_listener_return_self(self, alma: ModuleType) -> None:
        """Method table: add_validator(fn) and add_listener(fn) register and return
        self."""
        seen: list[Any] = []

        def positive(v: int) -> None:
            if v < 0:
                raise ValueError("negative")

        var = alma.watch("v", 0)
        assert var.add_validator(positive) is var
        assert var.add_listener(lambda v, r: seen.append(r.value)) is var
        var.set(3)
        with pytest.raises(ValueError, match="negative"):
            var.set(-3)
        assert seen == [3]

    def test_thread_safe(self, alma: ModuleType) -> None:
        """Intro: "a lightweight, thread-safe Python framework": sets from several
        threads at once all land, each with its own index."""
        var = alma.watch("n", 0)

        def work(k: int) -> None:
            for i in range(50):
                var.set(k * 1000 + i)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        history = var.history()
        assert [r.index for r in history] == list(range(201))
        assert sorted(r.value for r in history[1:]) == sorted(
            k * 1000 + i for k in range(4) for i in range(50)
        )


class TestChangeRecord:
    def test_the_four_documented_fields(self, alma: ModuleType) -> None:
        """ChangeRecord: "@dataclass(frozen=True) class ChangeRecord: index: int,
        value: Any, timestamp: datetime # UTC, label: str | None" (issue 10,
        defect 4: exactly these four)."""
        var = alma.watch("v", 0)
        var.set(5, label="bonus")
        record = var.last_change()
        assert dataclasses.is_dataclass(record)
        assert [f.name for f in dataclasses.fields(record)] == [
            "index",
            "value",
            "timestamp",
            "label",
        ]
        assert dataclasses.astuple(record) == (1, 5, record.timestamp, "bonus")
        assert dataclasses.asdict(record) == {
            "index": 1,
            "value": 5,
            "timestamp": record.timestamp,
            "label": "bonus",
        }
        assert record.timestamp.utcoffset() is not None
        assert record.timestamp.utcoffset().total_seconds() == 0
        assert record.timestamp <= datetime.now(UTC)

    def test_frozen(self, alma: ModuleType) -> None:
        """ChangeRecord is "Immutable", a frozen dataclass: fields cannot be set;
        it hashes, copies and takes dataclasses.replace() as a dataclass does."""
        record = alma.watch("v", 0).last_change()
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.value = 1
        assert hash(record) == hash(copy.copy(record))
        relabelled = dataclasses.replace(record, label="x")
        assert (relabelled.index, relabelled.value, relabelled.label) == (0, 0, "x")
        assert type(relabelled) is type(record)

    def test_constructed_by_hand(self, alma: ModuleType) -> None:
        """ChangeRecord's declaration: label defaults to None; records with the
        same fields are equal."""
        ts = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        record = alma.ChangeRecord(0, "x", ts)
        assert record.label is None
        assert record == alma.ChangeRecord(index=0, value="x", timestamp=ts)

    def test_repr(self, alma: ModuleType) -> None:
        """Quickstart step 3, "ChangeRecord(index=3, value=30, ...)": the repr, with
        the timestamp and the label in brackets (issue 10: alma's repr kept)."""
        ts = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        assert repr(alma.ChangeRecord(3, 30, ts)) == (
            "ChangeRecord(index=3, value=30, at=2024-01-02T03:04:05.000006)"
        )
        assert repr(alma.ChangeRecord(1, "a", ts, "why")) == (
            "ChangeRecord(index=1, value='a', at=2024-01-02T03:04:05.000006 [why])"
        )
        var = alma.watch("score", 0)
        var.set(30, label="final")
        at = var.last_change().timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
        assert repr(var.last_change()) == (
            f"ChangeRecord(index=1, value=30, at={at} [final])"
        )


class TestExamples:
    def test_validator_example(self, alma: ModuleType) -> None:
        """The validator example: balance.set(50) is OK, balance.set(-1) raises
        ValueError; the value stays 50."""

        def must_be_positive(v: float) -> None:
            if v < 0:
                raise ValueError(f"Expected positive, got {v}")

        balance = alma.watch("balance", 100.0)
        balance.add_validator(must_be_positive)
        balance.set(50)  # OK
        with pytest.raises(ValueError, match="Expected positive, got -1"):
            balance.set(-1)  # raises ValueError
        assert balance.get() == 50
        assert [r.value for r in balance.history()] == [100.0, 50]

    def test_listener_example(
        self, alma: ModuleType, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The audit listener example: price.set(12.49) "logs immediately"."""

        def audit(var: Any, record: Any) -> None:
            logging.info("[%s] → %r (index=%d)", var.name, record.value, record.index)

        caplog.set_level(logging.INFO)
        price = alma.watch("price", 9.99, on_change=[audit])
        price.set(12.49)  # logs immediately
        assert "[price] → 12.49 (index=1)" in caplog.messages

    def test_a_raising_listener_never_breaks_the_caller(
        self, alma: ModuleType, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Listeners (on_change, add_listener) fire after every set: one that raises
        does not break set() nor the listeners after it."""
        seen: list[int] = []

        def broken(var: Any, record: Any) -> None:
            raise RuntimeError("listener bug")

        var = alma.watch("v", 0, on_change=[broken])
        var.add_listener(lambda v, r: seen.append(r.value))
        with caplog.at_level(logging.CRITICAL + 1):
            assert var.set(1) is var
        assert seen == [1]
        assert var.get() == 1

    def test_freeze_example(self, alma: ModuleType) -> None:
        """The freeze example: config.set({"debug": False}) on a frozen config
        raises FrozenError (an AlmaError)."""
        config = alma.watch("config", {"debug": True})
        config.freeze()
        with pytest.raises(alma.FrozenError):
            config.set({"debug": False})  # raises FrozenError
        assert issubclass(alma.FrozenError, alma.AlmaError)
        assert config.get() == {"debug": True}

    def test_registry_example(self, alma: ModuleType) -> None:
        """The AlmaRegistry example: snapshot() is {"x": 0, "y": 100}, all_vars()
        {"x": AlmaVar(...), "y": AlmaVar(...)}, and unregister("x") removes x."""
        AlmaRegistry = alma.AlmaRegistry  # from alma import AlmaRegistry
        reg = AlmaRegistry()
        x = reg.watch("x", 0)
        y = reg.watch("y", 100)
        assert reg.snapshot() == {"x": 0, "y": 100}
        all_vars = reg.all_vars()
        assert all_vars == {"x": x, "y": y}
        assert list(all_vars) == ["x", "y"]
        assert all(isinstance(v, alma.AlmaVar) for v in all_vars.values())
        assert repr(all_vars["x"]).startswith("AlmaVar(")
        assert repr(all_vars["x"]) == "AlmaVar(name='x', value=0, history_len=1)"
        reg.unregister("x")
        assert reg.snapshot() == {"y": 100}
        with pytest.raises(alma.AlmaError):
            reg.unregister("x")
        # The registry is its own: the module-level watch() does not see it.
        assert alma.watch("x", 5).get() == 5


class TestValuesAsPythonTakesThem:
    def test_values_are_plain(self, alma: ModuleType) -> None:
        """Issue 10, defect 8: get(), records, diff() and snapshot() hand out values
        that json.dumps, copy and isinstance(x, dict) take, as alma's plain ones."""
        cfg = {"a": [1, 2], "b": {"c": None}}
        var = alma.watch("cfg", cfg)
        var.set({"a": [3], "b": {"c": "x"}})
        reg = alma.AlmaRegistry()
        reg.watch("cfg", cfg)
        values = [
            var.get(),
            var.history()[0].value,
            var.last_change().value,
            var.diff()[0]["from_value"],
            reg.snapshot()["cfg"],
        ]
        for value in values:
            assert isinstance(value, dict)
            assert isinstance(value["a"], list)
            assert json.loads(json.dumps(value)) == value
            assert copy.deepcopy(value) == value
            assert copy.copy(value) == value
        assert json.dumps(var.get()) == '{"a": [3], "b": {"c": "x"}}'
        assert json.dumps(dataclasses.asdict(var.last_change()), default=str)

    def test_dict_order_of_more_than_eight_keys(self, alma: ModuleType) -> None:
        """Issue 10, defect 1: a watched dict of 20 keys keeps the order it was
        given, in get(), history and snapshot(), as alma's deep copies do."""
        cfg = twenty_keys()
        var = alma.watch("cfg", cfg)
        var.set({**cfg, "zz": 1})
        assert list(var.history()[0].value) == list(cfg)
        assert list(var.get()) == [*cfg, "zz"]
        reg = alma.AlmaRegistry()
        reg.watch("cfg", cfg)
        assert list(reg.snapshot()["cfg"]) == list(cfg)
        assert json.dumps(var.get()) == json.dumps({**cfg, "zz": 1})


class TestStatetrailOnly:
    """Stronger than alma, where alma's own code loses or aliases history."""

    def test_statetrail_only_get_does_not_alias_history(
        self, st_alma: ModuleType
    ) -> None:
        """statetrail only (alma's get() hands out the recorded object itself, so
        changing it rewrites history): a change to get()'s value changes nothing."""
        var = st_alma.watch("v", {"items": [1]})
        var.get()["items"].append(2)
        var.history()[0].value["items"].append(3)
        assert var.get() == {"items": [1]}
        assert [r.value for r in var.history()] == [{"items": [1]}]

    def test_statetrail_only_rollback_keeps_the_revision(
        self, st_alma: ModuleType
    ) -> None:
        """statetrail only: each record's full revision is reachable by its index
        (var.revision(index)), rollbacks included."""
        var = st_alma.watch("v", 0)
        var.set(1, label="one").rollback(0)
        assert [var.revision(r.index).value for r in var.history()] == [0, 1, 0]

    def test_statetrail_only_namespace_and_native_options(
        self, st_alma: ModuleType
    ) -> None:
        """The roadmap's AlmaNamespace "Dict-like container that watches every key
        independently", and "Middleware / interceptors" (issue 10, defect 6:
        exported, and watch() takes interceptors=)."""
        ns = st_alma.AlmaNamespace({"debug": False})
        ns["theme"] = "dark"
        ns["theme"] = "light"
        assert ns.snapshot() == {"debug": False, "theme": "light"}
        assert [r.value for r in ns.history("theme")] == ["dark", "light"]
        shout = st_alma.watch("s", "a", interceptors=[str.upper])
        shout.set("b")
        assert shout.get() == "B"
        typed = st_alma.watch("t", [1], schema=list[int])
        with pytest.raises((TypeError, ValueError)):
            typed.set(["x"])
        assert typed.get() == [1]

    def test_statetrail_only_roadmap_persistence_branches_replay(
        self, st_alma: ModuleType, tmp_path: Any
    ) -> None:
        """The roadmap: "Persistence: var.save(path) / AlmaVar.load(path) ...
        persist history across restarts", "Branching history ... so rollbacks
        don't destroy the forward path", "Export / replay"."""
        var = st_alma.watch("score", 0)
        var.set(10, label="ten").set(20)
        var.save(tmp_path / "score.json")
        loaded = st_alma.AlmaVar.load(tmp_path / "score.json")
        assert isinstance(loaded, st_alma.AlmaVar)
        assert [r.value for r in loaded.history()] == [0, 10, 20]
        assert loaded.history()[1].label == "ten"
        assert loaded.replay(lambda v: v * 2) == [0, 20, 40]
        var.rollback(1)
        assert var.get() == 10
        assert 20 in [r.value for r in var.history()]

    def test_statetrail_only_namespace_deletion_is_recorded(
        self, st_alma: ModuleType
    ) -> None:
        """statetrail only (issue 10, defect 9): del namespace[key] records the
        deletion; the key's history stays readable."""
        ns = st_alma.AlmaNamespace({"theme": "dark"})
        ns["theme"] = "light"
        del ns["theme"]
        assert "theme" not in ns
        assert [r.value for r in ns.history("theme")][:2] == ["dark", "light"]
