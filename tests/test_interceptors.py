"""Interceptors and schema= on every write path (issue 14).

Each write method of each front end is driven with an interceptor that marks
what it saw, and with a ``schema=`` that must refuse a bad value: a path that
skipped the write core's interceptors (as ``set_in`` and ``edit`` once did)
records the plain value, or the bad one, and fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

import statetrail
from statetrail import Timeline, Var
from statetrail.frozen import thaw
from statetrail.immutable import (
    RevisionedImmutable,
    SimpleRevisionedImmutableManager,
    update,
)
from statetrail.store import AsyncStore, Store


def shout(value: Any) -> Any:
    """Upper-case every string leaf: an interceptor whose mark is easy to see."""
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, dict | statetrail.FrozenDict):
        return {k: shout(v) for k, v in value.items()}
    if isinstance(value, list | tuple | statetrail.FrozenList):
        return [shout(v) for v in value]
    return value


VAR_WRITES: dict[str, Callable[[Var[Any]], object]] = {
    "set": lambda v: v.set({"name": "ada", "tags": ["x"]}),
    "set_in": lambda v: v.set_in("name", "ada"),
    "set_in_list": lambda v: v.set_in(("tags", 0), "ada"),
    "update": lambda v: v.update(lambda s: {**s, "name": "ada"}),
    "timeline.set": lambda v: v.timeline.set({"name": "ada", "tags": []}),
    "timeline.update": lambda v: v.timeline.update(lambda s: {**s, "name": "ada"}),
}


def _edit(v: Var[Any]) -> None:
    with v.edit() as draft:
        draft["name"] = "ada"


VAR_WRITES["edit"] = _edit


def _set_async(v: Var[Any]) -> None:
    asyncio.run(v.set_async({"name": "ada", "tags": []}))


VAR_WRITES["set_async"] = _set_async


class TestVarPaths:
    """Every Var write passes the interceptors and the schema."""

    @pytest.mark.parametrize("write", list(VAR_WRITES), ids=list(VAR_WRITES))
    def test_interceptor_sees_every_write(self, write: str) -> None:
        """The recorded value is the interceptor's, whichever method wrote it."""
        v: Var[Any] = Var("user", {"name": "x", "tags": ["y"]}, interceptors=[shout])
        assert v.get() == {"name": "X", "tags": ["Y"]}
        VAR_WRITES[write](v)
        assert "ada" not in repr(thaw(v.get())), v.get()
        assert "ADA" in repr(thaw(v.get()))
        assert len(v.history()) == 2

    @pytest.mark.parametrize("write", list(VAR_WRITES), ids=list(VAR_WRITES))
    def test_added_interceptor_sees_every_write(self, write: str) -> None:
        """add_interceptor() on a Var works on every path too."""
        v: Var[Any] = Var("user", {"name": "x", "tags": ["y"]})
        v.add_interceptor(shout)
        VAR_WRITES[write](v)
        assert "ADA" in repr(thaw(v.get()))

    def test_schema_refuses_a_bad_leaf_through_set_in(self) -> None:
        """set_in of "not-an-int" in a list[int] var is refused; nothing recorded."""
        counts: Var[list[int]] = Var("counts", [1, 2], schema=list[int])
        with pytest.raises(ValueError, match="int"):
            counts.set_in((0,), "not-an-int")
        with pytest.raises(ValueError, match="int"), counts.edit() as draft:
            draft.append("not-an-int")
        with pytest.raises(ValueError, match="int"):
            counts.update(lambda xs: [*xs, "not-an-int"])
        assert counts.get() == [1, 2]
        assert len(counts.history()) == 1
        counts.set_in((1,), "7")  # converted, as set() converts
        assert counts.get() == [1, 7]

    def test_schema_model_on_set_in(self) -> None:
        """A pydantic model schema checks a dict var written by path."""

        class Settings(pydantic.BaseModel):
            level: int

        v: Var[Any] = Var("s", {"level": 1}, schema=dict[str, int])
        v.set_in("level", "3")
        assert v.get() == {"level": 3}
        with pytest.raises(ValueError, match="int"):
            v.set_in("level", "high")
        m: Var[Any] = Var("m", {"level": "2"}, schema=Settings)
        assert m.get() == Settings(level=2)

    def test_rejecting_interceptor_records_nothing(self) -> None:
        """An interceptor that raises rejects the write on every path."""

        def refuse(value: Any) -> Any:
            if "secret" in repr(thaw(value)):
                raise ValueError("no secrets")
            return value

        v: Var[Any] = Var("v", {"a": 1}, interceptors=[refuse])
        for write in (
            lambda: v.set({"a": "secret"}),
            lambda: v.set_in("a", "secret"),
            lambda: v.update(lambda s: {"a": "secret"}),
        ):
            with pytest.raises(ValueError, match="no secrets"):
                write()
        with pytest.raises(ValueError, match="no secrets"), v.edit() as draft:
            draft["a"] = "secret"
        assert len(v.history()) == 1

    def test_delete_revision_skips_interceptors(self) -> None:
        """mark_deleted records None: there is no value to transform."""
        t = Timeline("a", interceptors=[str.upper])
        assert t.value == "A"
        assert t.mark_deleted().value is None

    def test_async_interceptor_outside_set_async(self) -> None:
        """An async interceptor on a sync write: a clear TypeError, no record."""

        async def later(value: Any) -> Any:
            return value

        v: Var[int] = Var("n", 0)
        v.add_interceptor(later)
        with pytest.raises(TypeError, match="set_async"):
            v.set(1)
        asyncio.run(v.set_async(2))
        assert [r.value for r in v.history()] == [0, 2]

    def test_removing_an_interceptor(self) -> None:
        """Timeline.add_interceptor returns a remover; the fast path comes back."""
        t = Timeline("a")
        remove = t.add_interceptor(str.upper)
        t.set("b")
        remove()
        t.set("c")
        assert [r.value for r in t.history()] == ["a", "B", "c"]
        assert t.interceptors == ()

    def test_interceptor_changes_keep_diff_honest(self) -> None:
        """A transformed write's recorded changes are the transformed value's."""
        v: Var[Any] = Var("user", {"name": "x"}, interceptors=[shout])
        v.set_in("name", "ada")
        assert [(c.path, c.new) for c in v.timeline.head.changes] == [
            (("name",), "ADA")
        ]


STORE_WRITES: dict[str, Callable[[Store], object]] = {
    "set": lambda s: s.set("user.name", "ada"),
    "set_meta": lambda s: s.set("user.name", "ada", comment="c"),
    "set_new_path": lambda s: s.set("other.name", "ada"),
}


def _tx(s: Store) -> None:
    with s.transaction():
        s.set("user.name", "ada")


STORE_WRITES["transaction"] = _tx


class TestStorePaths:
    """Store.set, transactions and AsyncStore actions pass them too."""

    @pytest.mark.parametrize("write", list(STORE_WRITES), ids=list(STORE_WRITES))
    def test_store_interceptor(self, write: str) -> None:
        """Every store write records the interceptor's state."""
        s = Store({"user": {"name": "x"}}, interceptors=[shout])
        STORE_WRITES[write](s)
        assert "ADA" in repr(s.get_state())
        assert "ada" not in repr(s.get_state())

    def test_store_schema(self) -> None:
        """schema= checks every store write; a model is kept as its dict."""

        class User(pydantic.BaseModel):
            name: str
            age: int

        class State(pydantic.BaseModel):
            user: User

        s = Store({"user": {"name": "a", "age": "1"}}, schema=State)
        assert s.get_state() == {"user": {"name": "a", "age": 1}}
        with pytest.raises(ValueError, match="age"):
            s.set("user.age", "old")
        with pytest.raises(ValueError, match="age"), s.transaction():
            s.set("user.age", "old")
        s.set("user.age", "42")
        assert s.get("user.age") == 42
        assert len(s.history()) == 2

    def test_async_store_action(self) -> None:
        """An AsyncStore action's write passes the interceptors."""

        async def main() -> Any:
            store = AsyncStore(initial_state={"user": {"name": "x"}})
            store.add_interceptor(shout)
            store.start_processing()
            action = {"type": "SET_STATE", "path": "user.name", "value": "ada"}
            await store.dispatch_and_wait(action)
            await store.stop_processing()
            return store.get_state()

        assert asyncio.run(main()) == {"user": {"name": "ADA"}}

    def test_stored_store_and_var(self) -> None:
        """A repository's Var and Store take interceptors and schema= too."""
        with statetrail.open(":memory:") as repo:
            v = repo.watch("n", [1], schema=list[int])
            with pytest.raises(ValueError, match="int"):
                v.set_in((0,), "x")
            assert v.get() == [1]
            store = repo.store("s", {"a": "b"})
            store.add_interceptor(shout)
            store.set("a", "ada")
            assert store.get("a") == "ADA"
            with pytest.raises(ValueError, match="int"):
                repo.watch("m", ["x"], schema=list[int])

    def test_reopening_does_not_intercept_history(self, tmp_path: Any) -> None:
        """Recorded values are not run through a schema again on opening."""
        target = str(tmp_path / "h.db")
        with statetrail.open(target) as repo:
            repo.watch("v", ["a", "b"]).set(["c"])
        with statetrail.open(target) as repo:
            v = repo.watch("v", schema=list[int])  # history of strings: readable
            assert [r.value for r in v.history()] == [["a", "b"], ["c"]]
            with pytest.raises(ValueError, match="int"):
                v.set(["d"])  # new writes are checked
            v.set(["1"])
            assert v.get() == [1]


class Answer(RevisionedImmutable):
    """A revisioned object for the tests below."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer


def _int_answers(state: Any) -> Any:
    if not isinstance(state.get("answer"), int):
        raise ValueError("an answer is an int")
    return state


class TestRevisionedPaths:
    """Revisioned objects' revisions pass the interceptors."""

    def test_manager_refuses(self) -> None:
        """A refusing interceptor rejects a revision; nothing is recorded."""
        m = SimpleRevisionedImmutableManager("a", interceptors=[_int_answers])
        with pytest.raises(ValueError, match="an int"):
            m.add_revision(Answer("x"))
        assert m.number_of_revisions() == 0
        first = Answer(1)
        m.add_revision(first)
        with pytest.raises(ValueError, match="an int"), update(first) as nxt:
            nxt.answer = "forty-two"
        assert [r.answer for r in m.revision_history()] == [1]

    def test_stored_mapping_encrypts(self, tmp_path: Any) -> None:
        """repo.revisioned(..., interceptors=[Encrypt]): the file holds no secret."""
        from statetrail.interceptors import Encrypt
        from statetrail.storage import _sealed

        target = str(tmp_path / "h.db")
        try:
            with statetrail.open(target) as repo:
                enc = Encrypt(Encrypt.generate_key())
                data = repo.revisioned("answers", Answer, {}, interceptors=[enc])
                data["a"] = first = Answer("classified-1")
                with update(first) as nxt:
                    nxt.answer = "classified-2"
            raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
            assert b"classified" not in raw
            with statetrail.open(target) as repo:
                again = repo.revisioned("answers", Answer)
                assert again["a"].answer == "classified-2"
        finally:
            _sealed.reset_keyring()
