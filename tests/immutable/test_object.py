"""Immutable: custom immutable classes."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from statetrail import Timeline, freeze
from statetrail.immutable import (
    Immutable,
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    interfaces,
    update,
)


class Answer(Immutable):
    def __init__(
        self, question: str | None = None, answer: int | None = None, **extra: Any
    ) -> None:
        self.question = question
        self.answer = answer
        self.witnesses = extra.get("witnesses", [])
        self.seen = extra.get("seen", set())
        self.meta = extra.get("meta", {})


class Base(Immutable):
    def __init__(self) -> None:
        self.base = 1


class Derived(Base):
    def __init__(self) -> None:
        super().__init__()
        self.derived = 2


class NoInit(Immutable):
    pass


class Defaults(Immutable):
    question = None
    answer = None

    def __init__(self, answer: int | None = None) -> None:
        self.answer = answer


class TestImmutable:
    """Custom immutables: construction, conversion, state."""

    def test_locked_after_init(self) -> None:
        """Attributes set in __init__ stay; the object is a locked master."""
        a = Answer("The Answer", 42)
        assert (a.question, a.answer) == ("The Answer", 42)
        assert a.__im_state__ == interfaces.IM_STATE_LOCKED
        assert a.__im_mode__ == interfaces.IM_MODE_MASTER

    def test_containers_become_slave_immutables(self) -> None:
        """list, set and dict attributes become immutables, slaves of the object."""
        a = Answer(witnesses=["Arthur", "Gag"], seen={1}, meta={"k": [1]})
        assert isinstance(a.witnesses, ImmutableList)
        assert isinstance(a.seen, ImmutableSet)
        assert isinstance(a.meta, ImmutableDict)
        assert isinstance(a.meta["k"], ImmutableList)
        assert a.witnesses.__im_mode__ == interfaces.IM_MODE_SLAVE
        assert a.witnesses.__im_state__ == interfaces.IM_STATE_LOCKED
        assert a.witnesses is a.witnesses

    def test_inheritance_locks_once_at_the_end(self) -> None:
        """A subclass __init__ calling super().__init__() can still set attributes."""
        d = Derived()
        assert (d.base, d.derived) == (1, 2)
        assert d.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_class_without_init(self) -> None:
        """A class with no __init__ gives a locked, empty object."""
        obj = NoInit()
        assert obj.__im_state__ == interfaces.IM_STATE_LOCKED
        with pytest.raises(AttributeError):
            obj.x = 1
        with pytest.raises(TypeError):
            NoInit(1)

    def test_class_attribute_defaults(self) -> None:
        """Class-level defaults read through; update() sets instance values."""
        d = Defaults(42)
        assert (d.question, d.answer) == (None, 42)
        with update(d) as d2:
            d2.question = "q"
        assert (d2.question, d2.answer) == ("q", 42)
        assert d.question is None

    def test_nested_custom_immutable_is_a_slave_copy(self) -> None:
        """A custom immutable assigned in __init__ is stored as a slave copy."""
        inner = Base()

        class Outer(Immutable):
            def __init__(self) -> None:
                self.inner = inner

        outer = Outer()
        assert outer.inner is not inner
        assert outer.inner.base == 1
        assert outer.inner.__im_mode__ == interfaces.IM_MODE_SLAVE
        assert inner.__im_mode__ == interfaces.IM_MODE_MASTER
        with pytest.raises(AttributeError, match="master"):
            update(outer.inner)

    def test_unconformable_attribute_refused(self) -> None:
        """A mutable object of an unknown type cannot be an attribute."""

        class Thing:
            pass

        with pytest.raises(ValueError, match="Unable to conform"):
            Answer(question=Thing())  # type: ignore[arg-type]

    def test_pickle_round_trip(self) -> None:
        """A pickled immutable comes back equal in content, locked, as a master."""
        a = Answer("q", 42, witnesses=["Arthur"], meta={"k": {1}})
        back = pickle.loads(pickle.dumps(a))
        assert type(back) is Answer
        assert (back.question, back.answer) == ("q", 42)
        assert back.witnesses == ["Arthur"]
        assert back.meta == {"k": {1}}
        assert back.__im_state__ == interfaces.IM_STATE_LOCKED
        assert back.witnesses.__im_mode__ == interfaces.IM_MODE_SLAVE
        with pytest.raises(AttributeError):
            back.answer = 1

    def test_timelines_keep_immutables_by_reference(self) -> None:
        """Immutable classes are registered as immutable with the engine."""
        a = Answer("q")
        assert freeze(a) is a
        assert Timeline(a).value is a

    def test_equality_is_identity(self) -> None:
        """As in shoobx.immutable, custom immutables compare by identity."""
        a = Answer("q")
        assert a == a
        assert a != Answer("q")
        assert len({a, Answer("q")}) == 2
