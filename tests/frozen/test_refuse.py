"""Frozen containers refuse the names of in-place changes (issue 10, defect 7).

``store.get("orders").append(x)`` used to return a new list and change nothing.
Each name Python uses to change a list, dict or set in place now raises
FrozenError (an AttributeError) naming the method that returns a new container
and the ways to change recorded state; drafts keep mutating.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import statetrail
from statetrail.errors import FrozenError
from statetrail.frozen import FrozenDict, FrozenList, FrozenSet, edit, freeze

CASES: list[tuple[Any, str, Callable[[Any], object], str]] = [
    (FrozenList([1, 2]), "append", lambda x: x.append(3), "appended"),
    (FrozenList([1, 2]), "extend", lambda x: x.extend([3]), "extended"),
    (FrozenList([1, 2]), "insert", lambda x: x.insert(0, 3), "inserted"),
    (FrozenList([1, 2]), "remove", lambda x: x.remove(1), "removed"),
    (FrozenList([1, 2]), "pop", lambda x: x.pop(), "delete"),
    (FrozenList([1, 2]), "clear", lambda x: x.clear(), "FrozenList()"),
    (FrozenList([2, 1]), "sort", lambda x: x.sort(), "sorted"),
    (FrozenList([1, 2]), "reverse", lambda x: x.reverse(), "[::-1]"),
    (FrozenDict({"a": 1}), "update", lambda x: x.update({"b": 2}), "updated"),
    (FrozenDict({"a": 1}), "pop", lambda x: x.pop("a"), "delete"),
    (FrozenDict({"a": 1}), "popitem", lambda x: x.popitem(), "delete"),
    (FrozenDict({"a": 1}), "setdefault", lambda x: x.setdefault("b", 2), "set"),
    (FrozenDict({"a": 1}), "clear", lambda x: x.clear(), "FrozenDict()"),
    (FrozenDict({"a": 1}), "discard", lambda x: x.discard("a"), "discarded"),
    (FrozenSet({1}), "add", lambda x: x.add(2), "added"),
    (FrozenSet({1}), "discard", lambda x: x.discard(1), "discarded"),
    (FrozenSet({1}), "remove", lambda x: x.remove(1), "removed"),
    (FrozenSet({1}), "update", lambda x: x.update({2}), "updated"),
    (FrozenSet({1}), "pop", lambda x: x.pop(), "discarded"),
    (FrozenSet({1}), "clear", lambda x: x.clear(), "FrozenSet()"),
    (FrozenSet({1}), "difference_update", lambda x: x.difference_update({1}), "-"),
    (FrozenSet({1}), "intersection_update", lambda x: x.intersection_update({1}), "&"),
    (
        FrozenSet({1}),
        "symmetric_difference_update",
        lambda x: x.symmetric_difference_update({1}),
        "^",
    ),
]


class TestRefusedNames:
    @pytest.mark.parametrize(
        ("value", "name", "call", "instead"),
        CASES,
        ids=[f"{type(c[0]).__name__}.{c[1]}" for c in CASES],
    )
    def test_each_mutator_name_raises_and_says_what_to_use(
        self, value: Any, name: str, call: Callable[[Any], object], instead: str
    ) -> None:
        """FrozenError, also an AttributeError, names the call refused, the method
        that returns a new container, and set/set_in/edit(); the value is as it
        was."""
        before = statetrail.thaw(value)
        with pytest.raises(FrozenError) as caught:
            call(value)
        message = str(caught.value)
        assert isinstance(caught.value, AttributeError)
        assert f"{name}()" in message
        assert instead in message
        assert "set(" in message
        assert "set_in(" in message
        assert "edit(" in message
        assert value == before

    def test_augmented_assignment_raises_instead_of_rebinding(self) -> None:
        """``x += y`` and ``s |= t`` would quietly bind a new container to the name
        only; they raise, and the name still holds the original."""
        xs = ys = FrozenList([1])
        with pytest.raises(FrozenError, match=r"xs \+ values"):
            xs += [2]
        with pytest.raises(FrozenError, match=r"xs \* n"):
            xs *= 2
        assert xs is ys
        d = e = FrozenDict({"a": 1})
        with pytest.raises(FrozenError, match=r"d \| other"):
            d |= {"b": 2}
        assert d is e
        s = t = FrozenSet({1})
        with pytest.raises(FrozenError, match=r"s \| other"):
            s |= {2}
        assert s is t

    def test_the_new_names_return_new_containers(self) -> None:
        """appended/extended/inserted/removed, updated/discarded and
        added/discarded/removed/updated leave the original as it was."""
        xs = FrozenList([1, 2])
        assert xs.appended(3) == [1, 2, 3]
        assert xs.extended([3, 4]) == [1, 2, 3, 4]
        assert xs.inserted(0, 0) == [0, 1, 2]
        assert xs.removed(1) == [2]
        d = FrozenDict({"a": 1})
        assert d.updated({"b": 2}) == {"a": 1, "b": 2}
        assert d.discarded("a") == {}
        s = FrozenSet({1})
        assert s.added(2) == {1, 2}
        assert s.discarded(1) == set()
        assert s.removed(1) == set()
        assert s.updated({3}) == {1, 3}
        assert (xs, d, s) == ([1, 2], {"a": 1}, {1})

    def test_drafts_keep_their_mutating_methods(self) -> None:
        """Inside edit() the same names change the draft, as on plain values."""
        state = freeze({"log": [1], "cfg": {"a": 1}, "tags": {"x"}})
        with edit(state) as draft:
            draft["log"].append(2)
            draft["log"].extend([3])
            draft["log"].insert(0, 0)
            draft["log"].remove(3)
            draft["cfg"].update({"b": 2})
            draft["cfg"].setdefault("c", 3)
            draft["tags"].add("y")
            draft["tags"].discard("x")
        assert draft.finish() == {
            "log": [0, 1, 2],
            "cfg": {"a": 1, "b": 2, "c": 3},
            "tags": {"y"},
        }

    def test_a_store_value_refuses_and_the_store_is_unchanged(self) -> None:
        """The defect as reported: store.get(...).append(x) changed nothing
        silently; now it raises, and set() is the way."""
        store = statetrail.Store({"orders": [1], "cfg": {"a": 1}})
        with pytest.raises(FrozenError, match="appended"):
            store.get("orders").append(2)
        with pytest.raises(FrozenError, match="updated"):
            store.get("cfg").update({"b": 2})
        store.set("orders", store.get("orders").appended(2))
        assert store.get("orders") == [1, 2]
