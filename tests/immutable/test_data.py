"""``.data`` and ``__data__``: the containers' content as a plain dict, list or set.

A copy of the content when read; every write to it is made on the container,
through the container's own checks: it lands in the new version inside an
``update()`` block, and raises on a locked container, so nothing recorded can be
changed through it.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from statetrail.errors import FrozenError
from statetrail.immutable import (
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    RevisionedImmutable,
    RevisionedMapping,
    interfaces,
    update,
)


class Answers(RevisionedImmutable):
    def __init__(self, scores: dict[str, int], seen: list[int]) -> None:
        self.scores = scores
        self.seen = seen


DICT_WRITES: list[Callable[[dict[Any, Any]], Any]] = [
    lambda d: d.__setitem__("b", 2),
    lambda d: d.__delitem__("a"),
    lambda d: d.clear(),
    lambda d: d.pop("a"),
    lambda d: d.pop("missing", None),
    lambda d: d.popitem(),
    lambda d: d.setdefault("c", [3]),
    lambda d: d.update({"b": 2}, c=3),
    lambda d: d.__ior__({"b": 2}),
]

LIST_WRITES: list[Callable[[list[Any]], Any]] = [
    lambda lst: lst.__setitem__(0, 40),
    lambda lst: lst.__setitem__(slice(0, 1), [40, 39]),
    lambda lst: lst.__delitem__(0),
    lambda lst: lst.append(43),
    lambda lst: lst.extend([43, 44]),
    lambda lst: lst.insert(0, 40),
    lambda lst: lst.pop(),
    lambda lst: lst.remove(42),
    lambda lst: lst.clear(),
    lambda lst: lst.reverse(),
    lambda lst: lst.sort(reverse=True),
    lambda lst: lst.__iadd__([43]),
    lambda lst: lst.__imul__(2),
]

SET_WRITES: list[Callable[[set[Any]], Any]] = [
    lambda s: s.add(41),
    lambda s: s.discard(42),
    lambda s: s.remove(42),
    lambda s: s.pop(),
    lambda s: s.clear(),
    lambda s: s.update({41}, [40]),
    lambda s: s.difference_update({42}),
    lambda s: s.intersection_update({41}),
    lambda s: s.symmetric_difference_update({41, 42}),
    lambda s: s.__ior__({41}),
    lambda s: s.__iand__({41}),
    lambda s: s.__ixor__({41}),
    lambda s: s.__isub__({42}),
]


class TestReading:
    """A real dict, list or set, equal to the content."""

    def test_dict(self) -> None:
        d = ImmutableDict({"a": 1, "b": {"c": [2]}})
        data = d.data
        assert type(data) is not dict
        assert isinstance(data, dict)
        assert data == {"a": 1, "b": {"c": [2]}}
        assert isinstance(data["b"], ImmutableDict)
        assert data["b"].__im_state__ == interfaces.IM_STATE_LOCKED
        assert list(data) == list(d)

    def test_list(self) -> None:
        lst = ImmutableList([1, [2], {"x": 3}])
        data = lst.data
        assert isinstance(data, list)
        assert data == [1, [2], {"x": 3}]
        assert isinstance(data[1], ImmutableList)

    def test_set(self) -> None:
        s = ImmutableSet({1, frozenset({2})})
        data = s.__data__
        assert isinstance(data, set)
        assert data == {1, frozenset({2})}
        assert data.difference({1}) == {frozenset({2})}

    def test_each_read_is_a_new_copy(self) -> None:
        d = ImmutableDict(a=1)
        assert d.data is not d.data
        assert d.data == d.data

    def test_a_transient_clone_reads_its_content(self) -> None:
        clone = ImmutableDict({"one": 1}).__im_clone__()
        assert clone.data == {"one": 1}
        assert ImmutableList([42]).__im_clone__().data == [42]
        assert ImmutableSet([1]).__im_clone__().__data__ == {1}

    def test_copies_pickles_and_json_are_plain(self) -> None:
        for data, plain in (
            (ImmutableDict(a=1).data, dict),
            (ImmutableList([1]).data, list),
            (ImmutableSet({1}).__data__, set),
        ):
            for made in (
                copy.copy(data),
                copy.deepcopy(data),
                pickle.loads(pickle.dumps(data)),
                data.copy(),
            ):
                assert type(made) is plain
                assert made == data
        assert json.loads(json.dumps(ImmutableDict(a=1).data)) == {"a": 1}
        assert json.loads(json.dumps(ImmutableList([1, "x"]).data)) == [1, "x"]
        assert type(ImmutableDict.fromkeys([]).data.fromkeys("ab")) is dict
        assert type(ImmutableDict(a=1).data | {"b": 2}) is dict
        assert type(ImmutableList([1]).data + [2]) is list  # noqa: RUF005
        assert type(ImmutableSet({1}).__data__ | {2}) is set


class TestLocked:
    """Every write raises as the same write to the container does; nothing changes."""

    @pytest.mark.parametrize("write", DICT_WRITES)
    def test_dict(self, write: Callable[[dict[Any, Any]], Any]) -> None:
        d = ImmutableDict(a=[1])
        data = d.data
        with pytest.raises(FrozenError, match="locked immutable"):
            write(data)
        assert d == {"a": [1]}
        assert data == {"a": [1]}

    @pytest.mark.parametrize("write", LIST_WRITES)
    def test_list(self, write: Callable[[list[Any]], Any]) -> None:
        lst = ImmutableList([41, 42])
        data = lst.data
        with pytest.raises(FrozenError, match="locked immutable"):
            write(data)
        assert lst == [41, 42]
        assert data == [41, 42]

    @pytest.mark.parametrize("write", SET_WRITES)
    def test_set(self, write: Callable[[set[Any]], Any]) -> None:
        s = ImmutableSet({42})
        data = s.__data__
        with pytest.raises(FrozenError, match="locked immutable"):
            write(data)
        assert s == {42}
        assert data == {42}

    def test_assigning_it_raises(self) -> None:
        d, lst, s = ImmutableDict(a=1), ImmutableList([1]), ImmutableSet({1})
        with pytest.raises(FrozenError):
            d.data = {}
        with pytest.raises(FrozenError):
            lst.data = []
        with pytest.raises(FrozenError):
            s.__data__ = set()
        assert (d, lst, s) == ({"a": 1}, [1], {1})

    def test_nested_values_are_locked_too(self) -> None:
        d = ImmutableDict({"b": {"c": [2]}})
        with pytest.raises(FrozenError):
            d.data["b"]["c"].append(3)
        with pytest.raises(FrozenError):
            d.data["b"].data["c"] = 3
        assert d == {"b": {"c": [2]}}

    def test_data_read_inside_a_block_refuses_writes_after_it(self) -> None:
        with update(ImmutableList([1])) as lst:
            data = lst.data
            data.append(2)
        with pytest.raises(FrozenError):
            data.append(3)
        assert lst == [1, 2]

    def test_history_cannot_be_changed_through_it(self) -> None:
        mapping = RevisionedMapping()
        mapping["q"] = rev = Answers({"answer": 0}, [0])
        with update(rev) as rev:
            rev.scores.data["answer"] = 42
            rev.seen.data.append(42)
        for revision in mapping.revision_manager("q").getRevisionHistory():
            with pytest.raises(FrozenError):
                revision.scores.data["answer"] = 1
            with pytest.raises(FrozenError):
                revision.seen.data.append(1)
        history = mapping.revision_manager("q").getRevisionHistory()
        assert [r.scores["answer"] for r in history] == [0, 42]
        assert [list(r.seen) for r in history] == [[0], [0, 42]]


class TestTransient:
    """Inside update(), writes land in the new version, checked and conformed."""

    @pytest.mark.parametrize("write", DICT_WRITES)
    def test_dict(self, write: Callable[[dict[Any, Any]], Any]) -> None:
        expected = {"a": [1]}
        write(expected)
        old = ImmutableDict(a=[1])
        with update(old) as new:
            data = new.data
            write(data)
            assert data == new
        assert new == expected
        assert old == {"a": [1]}

    @pytest.mark.parametrize("write", LIST_WRITES)
    def test_list(self, write: Callable[[list[Any]], Any]) -> None:
        expected = [41, 42]
        write(expected)
        old = ImmutableList([41, 42])
        with update(old) as new:
            data = new.data
            write(data)
            assert data == new
        assert new == expected
        assert old == [41, 42]

    @pytest.mark.parametrize("write", SET_WRITES)
    def test_set(self, write: Callable[[set[Any]], Any]) -> None:
        expected = {42}
        write(expected)
        old = ImmutableSet({42})
        with update(old) as new:
            data = new.__data__
            write(data)
            assert data == new
        assert new == expected
        assert old == {42}

    def test_values_are_conformed(self) -> None:
        with update(ImmutableDict()) as d:
            d.data["list"] = [1, {"x": 2}]
            assert isinstance(d["list"], ImmutableList)
            assert isinstance(d.data["list"], ImmutableList)
            with pytest.raises(ValueError, match="conform"):
                d.data["bad"] = object()
        assert d == {"list": [1, {"x": 2}]}
        assert d["list"].__im_state__ == interfaces.IM_STATE_LOCKED

    def test_nested_writes_land(self) -> None:
        old = ImmutableDict({"b": {"c": [2]}})
        with update(old) as new:
            new.data["b"]["c"].append(3)
            new.data["b"].data["d"] = 4
        assert new == {"b": {"c": [2, 3], "d": 4}}
        assert old == {"b": {"c": [2]}}

    def test_after_a_write_it_reads_the_whole_content(self) -> None:
        with update(ImmutableDict(a=1)) as d:
            data = d.data
            d["b"] = 2  # a write to the dict itself: data is a copy of before
            assert data == {"a": 1}
            data["c"] = 3
            assert data == {"a": 1, "b": 2, "c": 3}

    def test_assigning_it_replaces_the_content(self) -> None:
        with update(ImmutableDict(a=1)) as d:
            d.data = {"b": [2]}
            d.data = d.data
        assert d == {"b": [2]}
        assert isinstance(d["b"], ImmutableList)
        with update(ImmutableList([1])) as lst:
            lst.data = [2, 3]
            lst.data += [4]
        assert lst == [2, 3, 4]
        with update(ImmutableSet({1})) as s:
            s.__data__ = {2}
            s.__data__ |= {3}
        assert s == {2, 3}

    def test_a_failed_block_drops_writes_through_it(self) -> None:
        old = ImmutableList([1])
        kept = []

        def fail() -> None:
            with update(old) as new:
                kept.append(new)
                new.data.append(2)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail()
        assert kept == [[1]]
        assert old == [1]


class LowerKeys(ImmutableDict[str, Any]):
    """A subclass written the UserDict way: its writes go through ``self.data``."""

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key.lower()] = value

    def __getitem__(self, key: str) -> Any:
        return self.data[key.lower()]


class Doubling(ImmutableList[int]):
    def append(self, value: int) -> None:
        self.data.append(value * 2)


class TestSubclasses:
    """A subclass that reads and writes ``self.data`` in its overrides, as
    ``UserDict`` and ``UserList`` subclasses do, gets the container's own methods
    underneath (no recursion), checked as ever."""

    def test_dict(self) -> None:
        old = LowerKeys({"a": 1})
        with pytest.raises(FrozenError):
            old["B"] = 2
        with update(old) as new:
            new["B"] = 2
            new.data["c"] = 3
            assert new["b"] == new["B"] == 2
        assert dict(new) == {"a": 1, "b": 2, "c": 3}
        assert new.data == {"a": 1, "b": 2, "c": 3}
        assert type(new) is LowerKeys
        assert dict(old) == {"a": 1}

    def test_list(self) -> None:
        old = Doubling([1])  # the constructor appends through the override too
        assert old == [2]
        with pytest.raises(FrozenError):
            old.append(2)
        with update(old) as new:
            new.append(2)
            new.data.append(3)
        assert new == [2, 4, 3]
        assert old == [2]
