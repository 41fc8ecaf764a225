"""Every write path of every immutable: refused when locked, applied inside update().

Each write is listed once, with the same operation on a plain dict, list or set as
its model: inside ``update()`` the immutable must end up equal to the model, and
outside it (on a master, on a nested slave, and on a slave handed out inside a block
and kept after it) the write must raise ``AttributeError('Cannot update locked
immutable object.')`` and change nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from statetrail.errors import FrozenError
from statetrail.immutable import (
    Immutable,
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    update,
)

LOCKED = "Cannot update locked immutable object."

Op = Callable[[Any], Any]


def _ior(c: Any, other: Any) -> Any:
    c |= other
    return c


def _iand(c: Any, other: Any) -> Any:
    c &= other
    return c


def _ixor(c: Any, other: Any) -> Any:
    c ^= other
    return c


def _isub(c: Any, other: Any) -> Any:
    c -= other
    return c


def _iadd(c: Any, other: Any) -> Any:
    c += other
    return c


def _imul(c: Any, n: int) -> Any:
    c *= n
    return c


def _setattr(c: Any) -> None:
    c.anything = 1


def _delattr(c: Any) -> None:
    del c.anything


DICT_WRITES: dict[str, Op] = {
    "setitem-new": lambda d: d.__setitem__("new", [1]),
    "setitem-replace": lambda d: d.__setitem__("a", {"x": 2}),
    "delitem": lambda d: d.__delitem__("a"),
    "clear": lambda d: d.clear(),
    "update": lambda d: d.update({"b": 3}, c=4),
    "setdefault-missing": lambda d: d.setdefault("z", 0),
    "pop": lambda d: d.pop("a"),
    "pop-default": lambda d: d.pop("missing", None),
    "popitem": lambda d: d.popitem(),
    "ior": lambda d: _ior(d, {"b": 5}),
}

LIST_WRITES: dict[str, Op] = {
    "setitem": lambda lst: lst.__setitem__(0, {"x": 1}),
    "setitem-negative": lambda lst: lst.__setitem__(-1, "last"),
    "setitem-slice": lambda lst: lst.__setitem__(slice(0, 2), ["p", "q", "r"]),
    "delitem": lambda lst: lst.__delitem__(1),
    "delitem-slice": lambda lst: lst.__delitem__(slice(None, None, 2)),
    "append": lambda lst: lst.append([7]),
    "extend": lambda lst: lst.extend([8, 9]),
    "insert": lambda lst: lst.insert(1, "in"),
    "pop": lambda lst: lst.pop(),
    "pop-index": lambda lst: lst.pop(0),
    "remove": lambda lst: lst.remove(3),
    "clear": lambda lst: lst.clear(),
    "reverse": lambda lst: lst.reverse(),
    "sort": lambda lst: lst.sort(key=str),
    "sort-reverse": lambda lst: lst.sort(key=str, reverse=True),
    "iadd": lambda lst: _iadd(lst, [10]),
    "imul": lambda lst: _imul(lst, 2),
}

SET_WRITES: dict[str, Op] = {
    "add": lambda s: s.add(9),
    "add-present": lambda s: s.add(1),
    "discard": lambda s: s.discard(1),
    "discard-absent": lambda s: s.discard(99),
    "remove": lambda s: s.remove(2),
    "pop": lambda s: s.pop(),
    "clear": lambda s: s.clear(),
    "update": lambda s: s.update({7}, [8]),
    "difference_update": lambda s: s.difference_update({1}),
    "intersection_update": lambda s: s.intersection_update({1, 2}),
    "symmetric_difference_update": lambda s: s.symmetric_difference_update({1, 5}),
    "ior": lambda s: _ior(s, {41}),
    "iand": lambda s: _iand(s, {1}),
    "ixor": lambda s: _ixor(s, {1, 41}),
    "isub": lambda s: _isub(s, {2}),
}


def _dict() -> dict[str, Any]:
    return {"a": {"x": 1}, "b": [1, 2]}


def _list() -> list[Any]:
    return [3, "b", 1]


def _set() -> set[Any]:
    return {1, 2, "c"}


CASES = (
    [("dict", name, op, _dict, ImmutableDict) for name, op in DICT_WRITES.items()]
    + [("list", name, op, _list, ImmutableList) for name, op in LIST_WRITES.items()]
    + [("set", name, op, _set, ImmutableSet) for name, op in SET_WRITES.items()]
)
IDS = [f"{kind}-{name}" for kind, name, *_ in CASES]


def _same_result(name: str, plain: Any, ours: Any) -> None:
    if name in ("pop", "popitem") and not isinstance(plain, list):
        # A set's pop() and a dict's popitem() take some item, not a given one
        # (ImmutableDict.popitem() takes the first, as shoobx.immutable's does).
        assert len(ours) == len(plain)
    else:
        assert ours == plain


class TestContainerWrites:
    """Each write of ImmutableDict/List/Set, locked and inside update()."""

    @pytest.mark.parametrize(("kind", "name", "op", "make", "cls"), CASES, ids=IDS)
    def test_refused_on_a_locked_master(
        self, kind: str, name: str, op: Op, make: Callable[[], Any], cls: type
    ) -> None:
        """The write raises the locked AttributeError and the object is unchanged."""
        obj = cls(make())
        with pytest.raises(AttributeError, match=f"^{LOCKED}$") as info:
            op(obj)
        assert isinstance(info.value, FrozenError)
        assert obj == make()

    @pytest.mark.parametrize(("kind", "name", "op", "make", "cls"), CASES, ids=IDS)
    def test_refused_on_a_locked_slave(
        self, kind: str, name: str, op: Op, make: Callable[[], Any], cls: type
    ) -> None:
        """A container nested in a locked dict refuses the write as well."""
        outer = ImmutableDict({"inner": make()})
        inner = outer["inner"]
        assert isinstance(inner, cls)
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            op(inner)
        assert outer == {"inner": make()}

    @pytest.mark.parametrize(("kind", "name", "op", "make", "cls"), CASES, ids=IDS)
    def test_refused_on_a_slave_kept_after_the_block(
        self, kind: str, name: str, op: Op, make: Callable[[], Any], cls: type
    ) -> None:
        """A slave handed out inside update() is locked with its master on exit."""
        outer = ImmutableDict({"inner": make()})
        with update(outer) as new:
            kept = new["inner"]
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            op(kept)
        assert kept == make()
        assert new == {"inner": make()}

    @pytest.mark.parametrize(("kind", "name", "op", "make", "cls"), CASES, ids=IDS)
    def test_applied_inside_update_as_on_a_plain_container(
        self, kind: str, name: str, op: Op, make: Callable[[], Any], cls: type
    ) -> None:
        """Inside update() the write does what it does to a plain container.

        The original keeps its old content.
        """
        plain = make()
        expected = op(plain)
        original = cls(make())
        with update(original) as new:
            got = op(new)
        _same_result(name, plain, new)
        if name not in ("pop", "popitem"):
            assert got == expected or got is new
        assert original == make()
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            op(new)

    @pytest.mark.parametrize(("kind", "name", "op", "make", "cls"), CASES, ids=IDS)
    def test_applied_to_a_slave_lands_in_the_master(
        self, kind: str, name: str, op: Op, make: Callable[[], Any], cls: type
    ) -> None:
        """A write through a nested container inside update() changes the new master."""
        plain = make()
        op(plain)
        outer = ImmutableDict({"inner": make(), "other": [1]})
        with update(outer) as new:
            op(new["inner"])
        _same_result(name, plain, new["inner"])
        assert outer["inner"] == make()
        assert new["other"] == [1]

    @pytest.mark.parametrize("cls", [ImmutableDict, ImmutableList, ImmutableSet])
    @pytest.mark.parametrize("write", [_setattr, _delattr])
    def test_attribute_writes_refused(
        self, cls: type, write: Callable[[Any], None]
    ) -> None:
        """Setting or deleting an attribute of a locked container is a locked write."""
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            write(cls())

    @pytest.mark.parametrize("cls", [ImmutableDict, ImmutableList, ImmutableSet])
    def test_attribute_writes_refused_inside_update(self, cls: type) -> None:
        """A container has no attributes to set, even while transient."""
        with update(cls()) as new, pytest.raises(AttributeError, match="no attribute"):
            new.anything = 1

    @pytest.mark.parametrize("cls", [ImmutableDict, ImmutableList, ImmutableSet])
    def test_empty_container_writes_still_refused(self, cls: type) -> None:
        """clear() on an empty locked container raises rather than doing nothing."""
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            cls().clear()


class Point(Immutable):
    def __init__(self, x: int = 0, tags: list[str] | None = None) -> None:
        self.x = x
        self.tags = tags or []


class TestObjectWrites:
    """Writes to a custom immutable."""

    def test_setattr_refused(self) -> None:
        """Setting an attribute after __init__ raises the locked error."""
        p = Point(1)
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            p.x = 2
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            p.y = 2
        assert p.x == 1
        assert not hasattr(p, "y")

    def test_delattr_refused(self) -> None:
        """Deleting an attribute after __init__ raises the locked error."""
        p = Point(1)
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            del p.x
        assert p.x == 1

    def test_nested_list_refuses_writes(self) -> None:
        """A list attribute is locked with the object."""
        p = Point(1, ["a"])
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            p.tags.append("b")
        assert p.tags == ["a"]

    def test_internal_attributes_always_settable(self) -> None:
        """Names like ``__note__`` are internal and can be set on a locked object."""
        p = Point(1)
        p.__note__ = "internal"
        assert p.__note__ == "internal"
        del p.__note__
        assert not hasattr(p, "__note__")

    def test_writes_inside_update_then_refused(self) -> None:
        """Attributes change inside update(); the new object locks on exit."""
        p = Point(1, ["a"])
        with update(p) as q:
            q.x = 2
            q.tags.append("b")
            del q.x
            q.x = 3
        assert (q.x, q.tags) == (3, ["a", "b"])
        assert (p.x, p.tags) == (1, ["a"])
        with pytest.raises(AttributeError, match=f"^{LOCKED}$"):
            q.x = 4

    def test_copy_of_locked_is_itself(self) -> None:
        """Copying a locked immutable gives the object itself: it cannot change."""
        p = Point(1)
        assert copy.copy(p) is p
        assert copy.deepcopy(p) is p
