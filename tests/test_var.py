"""Watched variables: Var, Registry, Namespace and watch()."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import sys
import threading
from typing import Any

import pydantic
import pytest

import statetrail
from statetrail import (
    FrozenError,
    Namespace,
    Registry,
    Retention,
    Revision,
    RollbackError,
    Var,
)


class TestVar:
    def test_the_seed_table(self) -> None:
        """get, set (chained, labelled), history, last_change, rollback, reset."""
        score = statetrail.watch("score", 0)
        assert score.set(10, label="first").set(20).set(30) is score
        assert score.get() == score.value == 30
        assert score.last_change().index == 3
        assert [r.label for r in score.history()] == ["initial", "first", None, None]
        score.rollback(1)
        assert score.get() == 10
        assert score.last_change().label == "rollback to index 1"
        score.reset()
        assert score.get() == 0
        assert score.last_change().label == "reset to initial"

    def test_rollback_errors(self) -> None:
        """Unknown, negative or non-int indices are refused."""
        v = statetrail.watch("v", 0)
        with pytest.raises(RollbackError, match="variable 'v'"):
            v.rollback(9)
        with pytest.raises(RollbackError):
            v.rollback(-1)
        with pytest.raises(TypeError):
            v.rollback("1")  # type: ignore[arg-type]
        with pytest.raises(LookupError):
            v.rollback(9)

    def test_diff_forms(self) -> None:
        """diff() gives the seed's consecutive dicts; diff(a, b) structural changes."""
        v = statetrail.watch("cfg", {"debug": True})
        v.set({"debug": False})
        (step,) = v.diff()
        assert (step["from_index"], step["to_index"]) == (0, 1)
        assert step["to_value"] == {"debug": False}
        assert step["elapsed_ms"] >= 0
        assert [tuple(c) for c in v.diff(0, 1)] == [(("debug",), True, False)]

    def test_freeze_and_thaw(self) -> None:
        """A frozen var refuses changes until thawed."""
        v = statetrail.watch("v", 1).freeze()
        assert v.is_frozen
        with pytest.raises(FrozenError):
            v.set(2)
        assert "frozen" in repr(v)
        v.thaw().set(2)
        assert v.get() == 2

    def test_validators_and_listeners(self) -> None:
        """Validators reject; listeners get (var, revision) after each change."""
        seen: list[tuple[Var[Any], Revision]] = []

        def positive(value: Any) -> None:
            if value < 0:
                raise ValueError("negative")

        v = statetrail.watch(
            "v", 1, validators=[positive], on_change=[lambda *a: seen.append(a)]
        )
        v.set(2)
        with pytest.raises(ValueError, match="negative"):
            v.set(-5)
        assert [(var.name, rev.value) for var, rev in seen] == [("v", 2)]

        def listener(var: Var[Any], rev: Revision) -> None:
            seen.append((var, rev))

        v.add_listener(listener)
        v.set(3)
        assert len(seen) == 3
        v.remove_listener(listener)
        v.set(4)
        assert len(seen) == 4

    def test_paths_edit_update(self) -> None:
        """set_in, delete_in, update and edit change a structured value."""
        v = statetrail.watch("state", {"job": {"bins": 10}, "log": []})
        v.set_in("job.bins", 9).set_in("job.sorted", 1).delete_in("log")
        v.update(lambda s: s.set("count", 1))
        with v.edit(comment="batch") as state:
            state["count"] += 1
        assert v.get() == {"job": {"bins": 9, "sorted": 1}, "count": 2}
        assert v.last_change().comment == "batch"
        assert v.blame("job.bins").number == 1
        assert [r.number for r in v.path_history("job")] == [1, 2]
        assert v.log(comment="batch")[0].number == 5

    def test_branches_undo_revert(self) -> None:
        """at, checkout, branch, switch, branches, undo, redo, revert."""
        v = statetrail.watch("v", "a")
        v.set("b").set("c")
        assert v.at(1) == "b"
        v.checkout(1).set("b2")
        assert v.get() == "b2"
        assert set(v.branches()) == {"main", "branch-3"}
        v.switch("main").branch("exp").set("x")
        assert v.branches()["exp"] == 4
        v.undo()
        assert v.get() == "c"
        v.redo()
        assert v.get() == "x"
        w = statetrail.watch("w", {"a": 1, "b": 1})
        w.set_in("a", 2).set_in("b", 2)
        w.revert(1)
        assert w.get() == {"a": 1, "b": 2}

    def test_trim_and_retention(self) -> None:
        """Retention keeps the newest revisions; reset goes to the oldest held."""
        v = Var("v", 0, retention=Retention(keep_last=3))
        for i in range(1, 10):
            v.set(i)
        assert [r.value for r in v.history()] == [7, 8, 9]
        v.reset()
        assert v.get() == 7
        v.trim(keep_last=1)
        assert [r.value for r in v.history()] == [7]
        assert v.timeline.tombstones[-1].reason == "trim(keep_last=1)"

    def test_interceptors_transform_before_storage(self) -> None:
        """Interceptors (middleware) change values before validation and storage."""
        v = Var("name", " Alice ", interceptors=[str.strip])
        assert v.get() == "Alice"
        v.add_interceptor(str.lower).set(" BOB ")
        assert v.get() == "bob"
        v.update(lambda s: s + " Smith ")
        assert v.get() == "bob smith"
        with pytest.raises(TypeError):
            v.add_interceptor(3)  # type: ignore[arg-type]

    def test_schema_validation_with_pydantic(self) -> None:
        """schema= validates and converts every value (typed generics + Pydantic)."""

        class Settings(pydantic.BaseModel):
            debug: bool
            level: int

        v: Var[Settings] = Var(
            "settings", {"debug": True, "level": "3"}, schema=Settings
        )
        assert v.get() == Settings(debug=True, level=3)
        with pytest.raises(ValueError, match="level"):
            v.set({"debug": True, "level": "high"})  # type: ignore[arg-type]
        assert len(v.timeline) == 1
        counts: Var[list[int]] = Var("counts", ["1", 2], schema=list[int])
        assert counts.get() == [1, 2]

    def test_set_async(self) -> None:
        """set_async awaits async interceptors; tasks on one loop take turns."""

        async def normalise(value: int) -> int:
            await asyncio.sleep(0)
            return value * 10

        v = Var("n", 0)
        v.add_interceptor(normalise)

        async def main() -> None:
            await asyncio.gather(*(v.set_async(i) for i in range(1, 6)))

        asyncio.run(main())
        assert sorted(r.value for r in v.history()[1:]) == [10, 20, 30, 40, 50]

    def test_replay(self) -> None:
        """replay(fn) runs fn over the recorded values in order."""
        v = statetrail.watch("v", 1)
        v.set(2).set(3)
        assert v.replay(lambda n: n * n) == [1, 4, 9]

    def test_opaque_values_are_copied_in_and_out(self) -> None:
        """A dataclass value cannot be changed through get()."""

        @dataclasses.dataclass
        class Point:
            x: int

        p = Point(1)
        v = statetrail.watch("p", p)
        p.x = 5
        v.get().x = 9
        assert v.get() == Point(1)

    def test_origin_of_var_writes(self) -> None:
        """Var methods record the caller's line, not statetrail's."""
        v = statetrail.watch("v", {"a": 1})
        for rev in (
            v.set({"a": 2}).last_change(),
            v.set_in("a", 3).last_change(),
            v.rollback(0).last_change(),
            v.undo().last_change(),
            v.update(lambda s: s).last_change(),
        ):
            assert rev.origin is not None
            assert rev.origin.file == __file__
            assert rev.origin.function == "test_origin_of_var_writes"

    def test_the_first_revision_records_the_callers_line(self) -> None:
        """watch() reaches the engine through several constructors; revision 0
        still records the caller."""
        v = statetrail.watch("v", 0)
        origin = v.history()[0].origin
        assert origin is not None
        assert origin.file == __file__
        assert origin.function == "test_the_first_revision_records_the_callers_line"

    def test_name_must_be_a_string(self) -> None:
        """A Var's name is a string."""
        with pytest.raises(TypeError):
            Var(1, 0)  # type: ignore[arg-type]

    def test_repr(self) -> None:
        """repr shows name, value and revision."""
        v = statetrail.watch("v", 1)
        assert repr(v) == "Var('v', value=1, revision=0)"


class TestRegistry:
    def test_watch_get_all_unregister_snapshot(self) -> None:
        """The registry's operations, with Python's exceptions for bad names."""
        reg = Registry()
        x = reg.watch("x", 0)
        reg.watch("y", 100)
        assert reg.snapshot() == {"x": 0, "y": 100}
        assert reg.get_var("x") is x
        assert "x" in reg
        assert len(reg) == 2
        assert list(reg) == ["x", "y"]
        reg.unregister("x")
        assert reg.snapshot() == {"y": 100}
        with pytest.raises(KeyError, match="no variable named 'x'"):
            reg.get_var("x")
        with pytest.raises(KeyError):
            reg.unregister("x")
        assert repr(reg) == "Registry(['y'])"

    def test_overwrite_rules(self) -> None:
        """A taken name needs overwrite=True, which starts a new history."""
        reg = Registry()
        reg.watch("x", 0).set(1)
        with pytest.raises(ValueError, match="already registered"):
            reg.watch("x", 5)
        new = reg.watch("x", 5, overwrite=True)
        assert [r.value for r in new.history()] == [5]

    def test_default_registry_and_reset(self) -> None:
        """watch() uses the default registry; reset_registry() empties it."""
        v = statetrail.watch("v", 1)
        assert statetrail.get_registry().get_var("v") is v
        fresh = statetrail.reset_registry()
        assert fresh is statetrail.get_registry()
        assert "v" not in fresh


class TestNamespace:
    def test_every_key_is_its_own_var(self) -> None:
        """Setting a key records a revision of that key only."""
        ns = Namespace({"debug": False}, name="app")
        ns["theme"] = "dark"
        ns["theme"] = "light"
        assert ns["theme"] == "light"
        assert ns.snapshot() == {"debug": False, "theme": "light"}
        assert [r.value for r in ns.history("theme")] == ["dark", "light"]
        assert [r.value for r in ns.var("debug").history()] == [False]
        assert ns.var("theme").name == "app.theme"
        assert sorted(ns) == ["debug", "theme"]
        assert len(ns) == 2
        del ns["debug"]
        assert "debug" not in ns
        with pytest.raises(KeyError):
            ns["debug"]
        assert repr(ns) == "Namespace({'theme': 'light'})"

    def test_options_apply_to_each_var(self) -> None:
        """Options given to the namespace (validators) apply to every key."""

        def short(value: str) -> None:
            if len(value) > 3:
                raise ValueError("too long")

        ns = Namespace(validators=[short])
        ns["a"] = "abc"
        with pytest.raises(ValueError, match="too long"):
            ns["a"] = "abcd"
        assert ns["a"] == "abc"


class TestNamespaceDeletion:
    """Issue 10, defect 9: deleting a key records the deletion, keeps history."""

    def test_deleting_a_key_records_it_and_keeps_its_history(self) -> None:
        """del ns[key] appends a revision of kind "delete" (value None, with the
        context's author and the deleting line); the key is gone from the
        namespace, its history is still readable."""
        ns = Namespace({"theme": "dark"})
        ns["theme"] = "light"
        with statetrail.context(author="ops", comment="theme dropped"):
            line = sys._getframe().f_lineno + 1
            del ns["theme"]
        assert "theme" not in ns
        assert ns.snapshot() == {}
        assert len(ns) == 0
        with pytest.raises(KeyError):
            ns["theme"]
        with pytest.raises(KeyError):
            ns.var("theme")
        assert ns.deleted() == ["theme"]
        history = ns.history("theme")
        assert [(r.kind, r.value) for r in history] == [
            ("initial", "dark"),
            ("set", "light"),
            ("delete", None),
        ]
        deletion = history[-1]
        assert (deletion.author, deletion.comment) == ("ops", "theme dropped")
        assert deletion.origin is not None
        assert deletion.origin.line == line

    def test_a_key_set_again_goes_on_after_its_deletion(self) -> None:
        """Setting a deleted key brings it back; its history runs through the
        deletion."""
        ns = Namespace({"a": 1})
        del ns["a"]
        ns["a"] = 2
        assert ns["a"] == 2
        assert ns.deleted() == []
        assert [(r.kind, r.value) for r in ns.history("a")] == [
            ("initial", 1),
            ("delete", None),
            ("set", 2),
        ]

    def test_missing_keys_and_validators(self) -> None:
        """Deleting a key that is not there (or no longer) raises KeyError and
        records nothing; validators do not judge a deletion (no value)."""

        def positive(value: int) -> None:
            if value <= 0:
                raise ValueError("not positive")

        ns = Namespace({"n": 1}, validators=[positive])
        with pytest.raises(KeyError):
            del ns["missing"]
        with pytest.raises(KeyError):
            ns.history("missing")
        del ns["n"]
        with pytest.raises(KeyError):
            del ns["n"]
        assert len(ns.history("n")) == 2
        with pytest.raises(ValueError, match="not positive"):
            ns["n"] = -1
        assert "n" not in ns
        assert len(ns.history("n")) == 2

    def test_a_listener_may_write_back_into_the_namespace(self) -> None:
        """Listeners run by a deletion or a comeback may write to the namespace."""
        ns: Namespace

        def log(var: Var[Any], rev: Revision) -> None:
            if var.name != "log":
                ns["log"] = f"{var.name} {rev.kind}"

        ns = Namespace({"log": "", "a": 1}, on_change=[log])
        del ns["a"]
        assert ns["log"] == "a delete"
        ns["a"] = 2
        assert ns["log"] == "a set"

    def test_a_deletion_is_stored_like_any_revision(self, tmp_path: Any) -> None:
        """The deletion revision of a stored variable reads back from SQLite, and
        the history verifies (what a stored namespace's key keeps)."""
        path = tmp_path / "ns.db"
        with statetrail.open(path) as repo:
            theme = repo.watch("theme", "dark")
            theme.timeline.mark_deleted(author="ops")
            theme.set("light")
        with statetrail.open(path) as repo:
            history = repo.watch("theme").history()
            assert [(r.kind, r.value, r.author) for r in history] == [
                ("initial", "dark", None),
                ("delete", None, "ops"),
                ("set", "light", None),
            ]
            assert repo.verify() == {"theme": 3}


_ONLY_REGULAR = (
    "statetrail reads and writes history and state only in regular files: give "
    "the path of one"
)


class TestSaveAndLoad:
    def test_the_whole_history_round_trips(self, tmp_path: Any) -> None:
        """save() writes every revision with its metadata and branches; load()
        gives them back, checked against the hash chain."""
        v = statetrail.watch("score", 0)
        with statetrail.context(author="alice", comment="level up"):
            v.set(10).set(20)
        v.checkout(1).set(11)
        path = tmp_path / "score.json"
        v.save(path)
        w = statetrail.Var.load(path)
        assert w.name == "score"
        assert w.get() == 11
        assert w.branches() == v.branches()
        assert [
            (r.number, r.value, r.author, r.comment, r.origin)
            for r in w.timeline.revisions()
        ] == [
            (r.number, r.value, r.author, r.comment, r.origin)
            for r in v.timeline.revisions()
        ]
        w.set(12)
        assert w.history()[-1].parent == 3

    def test_a_plain_json_value_file_starts_a_new_variable(self, tmp_path: Any) -> None:
        """A file holding just a value (the seed's state files) gives a variable
        starting from it, named after the file."""
        path = tmp_path / "config.json"
        path.write_text('{"debug": true, "level": [1, 2]}')
        v = statetrail.Var.load(path)
        assert (v.name, v.get()) == ("config", {"debug": True, "level": [1, 2]})
        assert len(v.history()) == 1

    def test_damaged_and_pickled_files_are_refused(self, tmp_path: Any) -> None:
        """An altered history is a CorruptHistoryError; a pickle never runs."""
        v = statetrail.watch("v", {"n": 1})
        v.set_in("n", 2)
        path = tmp_path / "v.json"
        v.save(path)
        path.write_text(path.read_text().replace('"initial"', '"tampered"'))
        with pytest.raises(statetrail.CorruptHistoryError):
            statetrail.Var.load(path)
        import pickle

        path.write_bytes(pickle.dumps({"a": 1}))
        with pytest.raises(statetrail.CorruptHistoryError):
            statetrail.Var.load(path)

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
    def test_a_fifo_is_neither_read_nor_replaced(self, tmp_path: Any) -> None:
        """Var.load() of a FIFO raises StorageError at once; save() to it leaves
        it (issue 9, defect 6: load blocked for ever)."""
        fifo = tmp_path / "v.json"
        os.mkfifo(fifo)
        done: list[str] = []

        def load() -> None:
            try:
                statetrail.Var.load(fifo)
            except statetrail.StorageError as exc:
                done.append(str(exc))

        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        worker.join(10)
        if worker.is_alive():  # let the blocked open return
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert done == [f"{fifo} is a FIFO, not a regular file; {_ONLY_REGULAR}"]
        with pytest.raises(statetrail.StorageError, match="FIFO"):
            statetrail.watch("v", 1).save(fifo)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)

    def test_a_trimmed_history_cannot_be_saved(self, tmp_path: Any) -> None:
        """Saving needs the whole history, so the chain starts at revision 0."""
        v = Var("v", 0, retention=Retention(keep_last=2))
        for i in range(5):
            v.set(i)
        with pytest.raises(ValueError, match="trimmed"):
            v.save(tmp_path / "v.json")
