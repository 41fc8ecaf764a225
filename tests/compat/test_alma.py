"""The first seed's documented examples, run against statetrail.compat.alma.

Each test is an example from the alma README with ``import alma`` changed to
``import statetrail.compat.alma as alma`` and nothing else, plus the documented
results as assertions.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

import statetrail
import statetrail.compat.alma as alma


class TestQuickstart:
    def test_the_readme_walkthrough(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Watch, set with chaining, inspect, history, rollback and reset."""
        score = alma.watch("score", 0)
        score.set(10).set(20).set(30)  # fluent chaining
        print(score.get())  # 30
        print(score.last_change())  # ChangeRecord(index=3, value=30, ...)
        for record in score.history():
            print(record)
        score.rollback(1)  # back to 10
        print(score.get())  # 10
        score.reset()
        print(score.get())  # 0

        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "30"
        assert lines[1].startswith("ChangeRecord(index=3, value=30, ")
        assert [line.split(",")[0] for line in lines[2:6]] == [
            "ChangeRecord(index=0",
            "ChangeRecord(index=1",
            "ChangeRecord(index=2",
            "ChangeRecord(index=3",
        ]
        assert lines[6] == "10"
        assert lines[7] == "0"

    def test_history_records_carry_index_value_timestamp_label(self) -> None:
        """ChangeRecord has the documented fields; index 0 is the initial value."""
        score = alma.watch("score", 0)
        score.set(5, label="bonus")
        first, second = score.history()
        assert (first.index, first.value, first.label) == (0, 0, "initial")
        assert (second.index, second.value, second.label) == (1, 5, "bonus")
        assert second.timestamp.tzinfo is UTC
        assert first.timestamp <= second.timestamp <= datetime.now(UTC)

    def test_rollback_is_recorded_never_rewrites(self) -> None:
        """rollback(index) appends a new record; the audit trail is never cut."""
        score = alma.watch("score", 0)
        score.set(10).set(20).set(30)
        score.rollback(1)
        assert [r.value for r in score.history()] == [0, 10, 20, 30, 10]
        assert score.last_change().label == "rollback to index 1"
        score.reset()
        assert score.last_change().label == "reset to initial"
        assert score.get() == 0

    def test_rollback_out_of_range_raises_rollback_error(self) -> None:
        """An index outside the history raises RollbackError (an AlmaError)."""
        score = alma.watch("score", 0)
        with pytest.raises(alma.RollbackError, match="out of range"):
            score.rollback(5)
        with pytest.raises(alma.AlmaError):
            score.rollback(-1)
        assert [r.value for r in score.history()] == [0]

    def test_diff_gives_consecutive_changes_with_elapsed_ms(self) -> None:
        """diff() lists consecutive changes with from/to index, values, elapsed ms."""
        v = alma.watch("v", {"a": 1})
        v.set({"a": 2})
        (entry,) = v.diff()
        assert entry["from_index"] == 0
        assert entry["to_index"] == 1
        assert entry["from_value"] == {"a": 1}
        assert entry["to_value"] == {"a": 2}
        assert type(entry["to_value"]) is dict
        assert entry["elapsed_ms"] >= 0


class TestValidators:
    def test_must_be_positive(self) -> None:
        """The README's validator example: a negative balance raises ValueError."""

        def must_be_positive(v: float) -> None:
            if v < 0:
                raise ValueError(f"Expected positive, got {v}")

        balance = alma.watch("balance", 100.0)
        balance.add_validator(must_be_positive)
        balance.set(50)  # OK
        with pytest.raises(ValueError, match="Expected positive, got -1"):
            balance.set(-1)
        assert balance.get() == 50
        assert [r.value for r in balance.history()] == [100.0, 50]

    def test_validators_argument(self) -> None:
        """validators= given to watch() reject values the same way."""

        def even(v: int) -> None:
            if v % 2:
                raise ValueError("odd")

        n = alma.watch("n", 0, validators=[even])
        n.set(2)
        with pytest.raises(ValueError, match="odd"):
            n.set(3)
        assert n.get() == 2


class TestListeners:
    def test_audit_listener_logs_immediately(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The README's on_change example logs the new value on every set."""

        def audit(var: Any, record: Any) -> None:
            logging.info("[%s] → %r (index=%d)", var.name, record.value, record.index)

        with caplog.at_level(logging.INFO):
            price = alma.watch("price", 9.99, on_change=[audit])
            price.set(12.49)  # logs immediately
        assert "[price] → 12.49 (index=1)" in caplog.text

    def test_listener_gets_the_var_and_a_change_record(self) -> None:
        """Listeners receive (alma_var, ChangeRecord)."""
        seen: list[tuple[Any, Any]] = []
        v = alma.watch("v", 0)
        v.add_listener(lambda var, record: seen.append((var, record)))
        v.set(1)
        ((var, record),) = seen
        assert var is v
        assert isinstance(record, alma.ChangeRecord)
        assert (record.index, record.value) == (1, 1)

    def test_a_raising_listener_is_logged_and_isolated(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A listener that raises never breaks the caller or the other listeners,
        and (unlike alma) the failure is logged."""
        calls: list[int] = []

        def broken(var: Any, record: Any) -> None:
            raise RuntimeError("boom")

        v = alma.watch("v", 0, on_change=[broken, lambda var, r: calls.append(r.value)])
        with caplog.at_level(logging.ERROR, logger="statetrail"):
            v.set(1)
        assert v.get() == 1
        assert calls == [1]
        assert "boom" in caplog.text


class TestFreeze:
    def test_frozen_config_raises_frozen_error(self) -> None:
        """The README's freeze example: set() on a frozen var raises FrozenError."""
        config = alma.watch("config", {"debug": True})
        config.freeze()
        with pytest.raises(alma.FrozenError):
            config.set({"debug": False})
        assert config.get() == {"debug": True}
        config.thaw()
        config.set({"debug": False})
        assert config.get() == {"debug": False}

    def test_frozen_error_is_catchable_as_alma_and_statetrail_errors(self) -> None:
        """FrozenError is an AlmaError, statetrail's FrozenError and AttributeError."""
        v = alma.watch("v", 1).freeze()
        for kind in (alma.AlmaError, statetrail.FrozenError, AttributeError):
            with pytest.raises(kind):
                v.set(2)
        with pytest.raises(alma.FrozenError):
            v.rollback(0)


class TestRegistry:
    def test_registry_example(self) -> None:
        """The README's AlmaRegistry example: snapshot, all_vars, unregister."""
        from statetrail.compat.alma import AlmaRegistry

        reg = AlmaRegistry()
        x = reg.watch("x", 0)
        y = reg.watch("y", 100)
        assert reg.snapshot() == {"x": 0, "y": 100}
        assert reg.all_vars() == {"x": x, "y": y}
        reg.unregister("x")
        assert reg.snapshot() == {"y": 100}

    def test_duplicate_names_need_overwrite(self) -> None:
        """Registering a name twice raises AlmaError unless overwrite=True."""
        alma.watch("dup", 1)
        with pytest.raises(alma.AlmaError, match="already registered"):
            alma.watch("dup", 2)
        replaced = alma.watch("dup", 3, overwrite=True)
        assert alma.get_registry().get_var("dup") is replaced
        assert [r.value for r in replaced.history()] == [3]

    def test_unknown_names_raise_alma_error(self) -> None:
        """get_var and unregister of an unknown name raise AlmaError."""
        reg = alma.get_registry()
        with pytest.raises(alma.AlmaError, match="No variable named"):
            reg.get_var("nope")
        with pytest.raises(alma.AlmaError):
            reg.unregister("nope")


class TestHistoryIsSafe:
    def test_values_read_back_cannot_alter_history(self) -> None:
        """Changing what get() or a record returns changes nothing recorded
        (alma itself hands out its stored objects)."""
        v = alma.watch("v", {"items": [1, 2]})
        got = v.get()
        got["items"].append(3)
        v.history()[0].value["items"].append(4)
        assert v.get() == {"items": [1, 2]}
        assert v.history()[0].value == {"items": [1, 2]}

    def test_values_passed_in_cannot_alter_history(self) -> None:
        """Changing an object after set() leaves the recorded value as it was."""
        data = {"items": [1, 2]}
        v = alma.watch("v", data)
        data["items"].append(3)
        assert v.get() == {"items": [1, 2]}

    def test_deep_copy_false_keeps_the_reference(self) -> None:
        """deep_copy=False stores the object itself, as documented."""
        lock = threading.Lock()  # cannot be deep-copied
        v = alma.watch("lock", lock, deep_copy=False)
        assert v.get() is lock
        with pytest.raises(TypeError, match="deep_copy=False"):
            alma.watch("lock2", lock)

    def test_thread_safe_sets(self) -> None:
        """Concurrent sets are all recorded with distinct indices."""
        v = alma.watch("n", 0)

        def worker() -> None:
            for i in range(500):
                v.set(i)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        indices = [r.index for r in v.history()]
        assert indices == list(range(2001))

    def test_repr_and_equality_as_alma(self) -> None:
        """repr is alma's; a variable equals its value."""
        v = alma.watch("v", 1)
        v.set(2)
        assert repr(v) == "AlmaVar(name='v', value=2, history_len=2)"
        assert v == 2
        assert v.freeze() == alma.watch("w", 2)
        assert "[frozen]" in repr(v)

    def test_records_keep_statetrail_metadata(self) -> None:
        """var.revision(index) is statetrail's record: origin, author, comment."""
        v = alma.watch("v", 0)
        with statetrail.context(author="alice", comment="tuning"):
            v.set(1)
        record = v.last_change()
        revision = v.revision(record.index)
        assert revision.author == "alice"
        assert revision.comment == "tuning"
        assert revision.value == record.value
        origin = revision.origin
        assert origin is not None
        assert origin.file == __file__
        assert origin.function == "test_records_keep_statetrail_metadata"

    def test_module_exports_the_seed_names(self) -> None:
        """The compat module has every public name of alma."""
        for name in (
            "watch",
            "AlmaVar",
            "ChangeRecord",
            "AlmaError",
            "RollbackError",
            "FrozenError",
            "AlmaRegistry",
            "AlmaNamespace",
            "get_registry",
        ):
            assert hasattr(alma, name), name
        assert copy.copy(alma.__version__) == "0.1.0"


class TestChangeRecordAsAlma:
    """Issue 10, defect 4: ChangeRecord has exactly alma's four fields."""

    def test_fields_astuple_asdict(self) -> None:
        """dataclasses sees index, value, timestamp and label, nothing more."""
        v = alma.watch("v", 0)
        v.set(5, label="five")
        record = v.last_change()
        assert [f.name for f in dataclasses.fields(record)] == [
            "index",
            "value",
            "timestamp",
            "label",
        ]
        assert dataclasses.astuple(record) == (1, 5, record.timestamp, "five")
        assert dataclasses.asdict(record) == {
            "index": 1,
            "value": 5,
            "timestamp": record.timestamp,
            "label": "five",
        }
        assert record.timestamp.tzinfo is UTC

    def test_repr_and_equality_are_alma_s(self) -> None:
        """The repr is alma's; records with the same fields are equal."""
        v = alma.watch("v", 0)
        v.set(5, label="five")
        record = v.last_change()
        ts = record.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
        assert repr(record) == f"ChangeRecord(index=1, value=5, at={ts} [five])"
        assert record == alma.ChangeRecord(1, 5, record.timestamp, "five")
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.value = 6  # type: ignore[misc]

    def test_revision_gives_the_full_record(self) -> None:
        """var.revision(index) is the revision behind the record."""
        v = alma.watch("v", 0)
        v.set(1)
        assert v.revision(1).index == v.last_change().index
        assert v.revision(0).label == "initial"


class TestNamespaceAndOptions:
    """Issue 10, defect 6: AlmaNamespace, and watch() with statetrail's options."""

    def test_alma_namespace_watches_each_key(self) -> None:
        """Each key has its own history of ChangeRecords; values are plain."""
        ns = alma.AlmaNamespace({"cfg": {"debug": True}})
        ns["cfg"] = {"debug": False}
        ns["theme"] = "dark"
        assert ns["cfg"] == {"debug": False}
        assert isinstance(ns["cfg"], dict)
        assert [r.value for r in ns.history("cfg")] == [
            {"debug": True},
            {"debug": False},
        ]
        assert all(isinstance(r, alma.ChangeRecord) for r in ns.history("cfg"))
        assert ns.snapshot() == {"cfg": {"debug": False}, "theme": "dark"}
        assert isinstance(ns, statetrail.Namespace)
        assert repr(ns) == ("AlmaNamespace({'cfg': {'debug': False}, 'theme': 'dark'})")

    @pytest.mark.parametrize("initial", ["app", 5, ["a", "b"]])
    def test_a_namespace_of_something_else_is_a_type_error(self, initial: Any) -> None:
        """AlmaNamespace("app") (a name where the initial values go) raises a
        TypeError naming the argument and, for a string, saying how to pass a
        name; it used to be a raw AttributeError from inside ('str' object has
        no attribute 'items'). statetrail.Namespace says the same."""
        for cls in (alma.AlmaNamespace, statetrail.Namespace):
            with pytest.raises(TypeError, match=r"mapping .* as initial, not") as info:
                cls(initial)
            if initial == "app":
                assert "pass name='app'" in str(info.value)
        assert alma.AlmaNamespace(None, name="app").name == "app"

    def test_watch_takes_interceptors(self) -> None:
        """interceptors= transforms each value before it is stored."""
        v = alma.watch("name", " Ada ", interceptors=[str.strip])
        v.set("  Bob")
        assert [r.value for r in v.history()] == ["Ada", "Bob"]

    def test_watch_takes_a_schema(self) -> None:
        """schema= validates and converts each value with pydantic."""
        v = alma.watch("port", "8080", schema=int)
        assert v.get() == 8080
        with pytest.raises(ValueError, match="int"):
            v.set("not a number")
        assert v.get() == 8080

    def test_registry_watch_takes_the_options(self) -> None:
        """AlmaRegistry.watch() passes the options on too."""
        reg = alma.AlmaRegistry()
        v = reg.watch("n", 1.5, schema=float, interceptors=[abs])
        v.set(-2)
        assert v.get() == 2.0


class TestValuesPythonAccepts:
    """Issue 10, defect 8: values json, copy and isinstance(x, dict) accept."""

    def test_every_value_handed_out_is_plain(self) -> None:
        """get(), value, at(), records, diff() and snapshot() are plain copies."""
        v = alma.watch("cfg", {"a": [1, {"b": 2}]})
        v.set({"a": [1, {"b": 3}], "c": {"d": 4}})
        values = [
            v.get(),
            v.value,
            v.at(0),
            v.last_change().value,
            v.history()[0].value,
            v.diff()[0]["to_value"],
            alma.get_registry().snapshot()["cfg"],
        ]
        for value in values:
            assert isinstance(value, dict)
            assert json.loads(json.dumps(value)) == value
            assert copy.deepcopy(value) == value
        got = v.get()
        got["a"].append(5)  # a mutable copy: history is untouched
        assert v.get() == {"a": [1, {"b": 3}], "c": {"d": 4}}
