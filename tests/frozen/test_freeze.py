"""freeze(), thaw(), is_frozen(), register_immutable() and the Opaque box."""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import fractions
import pathlib
import pickle
import threading
import uuid
from collections import OrderedDict, deque, namedtuple
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, NamedTuple

import pytest
from hypothesis import given

from statetrail.errors import NestingError
from statetrail.frozen import (
    MAX_NESTING,
    FrozenDict,
    FrozenList,
    FrozenSet,
    edit,
    freeze,
    is_frozen,
    register_immutable,
    thaw,
)
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._opaque import Opaque, unbox
from statetrail.paths import set_in
from tests.strategies import json_trees

DEPTH = 10_000


class Color(enum.Enum):
    RED = 1
    BLUE = [2]  # noqa: RUF012 (a member may hold a mutable value: still kept as is)


class Pair(NamedTuple):
    left: Any
    right: Any


OldPair = namedtuple("OldPair", "a b")


class Tags(tuple):
    """A tuple subclass that is not a named tuple: built from one iterable."""


class Box:
    """A mutable object of a type statetrail does not know."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items

    def __hash__(self) -> int:
        return hash(tuple(self.items))


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1, 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(strictly_equal, a, b))
    return bool(a == b) or (a != a and b != b)


class TestFreeze:
    def test_nested_containers_become_frozen(self) -> None:
        """dicts, lists and sets at any depth become FrozenDict/List/Set."""
        frozen = freeze({"a": [1, {"b": {2, 3}}], "c": {"d": []}})
        assert type(frozen) is FrozenDict
        assert type(frozen["a"]) is FrozenList
        assert type(frozen["a"][1]) is FrozenDict
        assert type(frozen["a"][1]["b"]) is FrozenSet
        assert type(frozen["c"]["d"]) is FrozenList
        assert frozen == {"a": [1, {"b": {2, 3}}], "c": {"d": []}}

    def test_frozen_values_are_returned_as_they_are(self) -> None:
        """freeze() of a frozen value is that value; frozen parts are shared."""
        inner = freeze({"x": [1]})
        assert freeze(inner) is inner
        outer = freeze({"inner": inner, "l": [inner]})
        assert outer["inner"] is inner
        assert outer["l"][0] is inner

    def test_input_is_neither_modified_nor_kept(self) -> None:
        """Freezing copies the input; changing it afterwards changes nothing."""
        source = {"a": [1, {"b": [2]}], "s": {1}}
        frozen = freeze(source)
        assert source == {"a": [1, {"b": [2]}], "s": {1}}
        source["a"][1]["b"].append(3)
        source["s"].add(2)
        assert frozen == {"a": [1, {"b": [2]}], "s": {1}}

    @pytest.mark.parametrize(
        "value",
        [
            None,
            True,
            12,
            2**100,
            1.5,
            complex(1, 2),
            "text",
            b"bytes",
            range(3),
            decimal.Decimal("1.10"),
            fractions.Fraction(1, 3),
            datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC),
            datetime.date(2024, 1, 2),
            datetime.time(1, 2),
            datetime.timedelta(seconds=3),
            uuid.UUID(int=7),
            pathlib.PurePosixPath("/tmp/x"),
            Color.RED,
            Color.BLUE,
        ],
    )
    def test_immutable_values_are_kept_by_identity(self, value: Any) -> None:
        """Scalars, datetimes, Decimal, UUID, paths and Enum members are not copied."""
        assert freeze(value) is value
        assert freeze([value])[0] is value
        assert thaw(value) is value
        assert is_frozen(value)

    def test_tuples_keep_their_type_with_frozen_items(self) -> None:
        """A tuple stays a tuple (the same one if nothing inside needed freezing)."""
        plain = (1, "a", (2, 3))
        assert freeze(plain) is plain
        mixed = (1, [2, 3], {"a": 1})
        frozen = freeze(mixed)
        assert type(frozen) is tuple
        assert type(frozen[1]) is FrozenList
        assert frozen == (1, [2, 3], {"a": 1})
        assert hash(frozen) == hash(freeze((1, [2, 3], {"a": 1})))

    def test_named_tuples_keep_their_class(self) -> None:
        """Named tuples (typing and collections) keep their class and fields."""
        for value in (Pair(1, [2]), OldPair([1], 2)):
            frozen = freeze(value)
            assert type(frozen) is type(value)
            assert frozen == value
            back = thaw(frozen)
            assert type(back) is type(value)
            assert back == value

    def test_tuple_subclasses_keep_their_items(self) -> None:
        """A tuple subclass built from one iterable keeps its items when frozen."""
        value = Tags(([1, 2], "x"))
        frozen = freeze(value)
        assert type(frozen) is Tags
        assert frozen == Tags((FrozenList([1, 2]), "x"))
        assert len(frozen) == 2
        back = thaw(frozen)
        assert type(back) is Tags
        assert back == Tags(([1, 2], "x"))

    def test_frozensets_stay_frozensets(self) -> None:
        """A frozenset of immutables is kept as it is; unknown members are boxed."""
        plain = frozenset({1, "a", (2, 3)})
        assert freeze(plain) is plain
        boxed = freeze(frozenset({Box([1])}))
        assert type(boxed) is frozenset
        assert boxed == frozenset({Box([1])})

    def test_tuples_holding_unknown_objects_hand_out_copies(self) -> None:
        """Reading a tuple (or frozenset) that holds an unknown object gives copies."""
        box = Box([1])
        frozen = freeze({"t": (1, box), "p": Pair(box, [2]), "f": frozenset({box})})
        box.items.append(2)
        t = frozen["t"]
        assert t == (1, Box([1]))
        assert type(t[1]) is Box
        t[1].items.append(3)
        assert frozen["t"] == (1, Box([1]))
        p = frozen["p"]
        assert type(p) is Pair
        assert type(p.left) is Box
        assert p == Pair(Box([1]), [2])
        (member,) = frozen["f"]
        assert type(member) is Box
        assert freeze((box,))[0] is not box
        assert type(freeze((box,))[0]) is Box

    def test_sets_become_frozen_sets(self) -> None:
        """A set becomes a FrozenSet equal to it."""
        frozen = freeze({1, (2, 3)})
        assert type(frozen) is FrozenSet
        assert frozen == {1, (2, 3)}

    def test_other_mappings_become_frozen_dicts(self) -> None:
        """OrderedDict, mapping proxies and other Mappings are frozen as dicts."""
        for mapping in (OrderedDict(a=[1]), MappingProxyType({"a": [1]})):
            frozen = freeze(mapping)
            assert type(frozen) is FrozenDict
            assert frozen == {"a": [1]}

    def test_unknown_objects_are_deep_copied(self) -> None:
        """freeze() of an unknown object hands back a copy, not the object."""
        box = Box([1])
        frozen = freeze(box)
        assert frozen == box
        assert frozen is not box
        queue = deque([[1]])
        frozen_queue = freeze(queue)
        assert frozen_queue == queue
        assert frozen_queue[0] is not queue[0]

    def test_objects_that_cannot_be_copied_raise_type_error(self) -> None:
        """A lock cannot be deep-copied: TypeError saying what to do instead."""
        with pytest.raises(TypeError, match="register_immutable") as info:
            freeze({"lock": threading.Lock()})
        assert "lock" in str(info.value)
        assert info.value.__cause__ is not None
        with pytest.raises(TypeError, match="cannot record"):
            FrozenList([threading.Lock()])

    @given(json_trees)
    def test_thaw_of_freeze_gives_an_equal_plain_tree(self, tree: Any) -> None:
        """thaw(freeze(x)) equals x, with plain types all the way down."""
        frozen = freeze(tree)
        assert frozen == tree
        back = thaw(frozen)
        assert strictly_equal(back, tree)
        assert freeze(back) == frozen

    @given(json_trees)
    def test_thawed_trees_are_fresh_copies(self, tree: Any) -> None:
        """Mutating a thawed tree leaves the frozen one as it was."""
        frozen = freeze(tree)
        back = thaw(frozen)
        if isinstance(back, dict):
            back.clear()
        elif isinstance(back, list):
            back.append("x")
        assert frozen == tree


class TestThaw:
    def test_plain_types_come_back(self) -> None:
        """Frozen containers thaw to dict, list and set."""
        back = thaw(freeze({"a": [1, {"b": {2}}]}))
        assert type(back) is dict
        assert type(back["a"]) is list
        assert type(back["a"][1]) is dict
        assert type(back["a"][1]["b"]) is set

    def test_sets_holding_frozen_containers_thaw(self) -> None:
        """Set members stay hashable: frozen containers inside a set stay frozen."""
        frozen = freeze({"s": {(1, (2,)), "x"}, "t": [[1, 2], {"a": 1}, (5, [6])]})
        frozen = frozen.set("t", FrozenSet(frozen["t"]))
        back = thaw(frozen)
        assert back["s"] == {(1, (2,)), "x"}
        assert type(back["t"]) is set
        assert back["t"] == {
            FrozenList([1, 2]),
            FrozenDict({"a": 1}),
            (5, FrozenList([6])),
        }
        assert all(hash(member) is not None for member in back["t"])

    def test_unknown_objects_thaw_to_copies(self) -> None:
        """Opaque boxes inside tuples, sets and frozensets thaw to fresh copies."""
        frozen = freeze({"t": (Box([1]),), "s": {Box([2])}, "f": frozenset({Box([3])})})
        back = thaw(frozen)
        assert back == {"t": (Box([1]),), "s": {Box([2])}, "f": frozenset({Box([3])})}
        for member in (*back["t"], *back["s"], *back["f"]):
            assert type(member) is Box
        back["t"][0].items.append(9)
        assert thaw(frozen)["t"][0] == Box([1])

    def test_plain_values_are_returned_as_they_are(self) -> None:
        """thaw() of something not frozen returns it."""
        box = Box([1])
        assert thaw(box) is box
        assert thaw(5) == 5


class TestIsFrozen:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (FrozenDict({"a": [1]}), True),
            (FrozenList([1]), True),
            (FrozenSet({1}), True),
            ((1, (2, "a")), True),
            ((1, FrozenList([2])), True),
            (frozenset({1, 2}), True),
            (Color.BLUE, True),
            ({"a": 1}, False),
            ([1], False),
            ({1}, False),
            ((1, [2]), False),
            (Box([1]), False),
            (Opaque(Box([1])), False),
            (bytearray(b"x"), False),
        ],
    )
    def test_is_frozen(self, value: Any, expected: bool) -> None:
        """Frozen containers, immutable scalars and tuples of them are frozen."""
        assert is_frozen(value) is expected


class TestRegisterImmutable:
    def test_registered_types_are_kept_by_identity(self) -> None:
        """A registered class is recorded as it is, and works as a decorator."""

        @register_immutable
        class Point:
            def __init__(self, x: int) -> None:
                self.x = x

        p = Point(1)
        assert freeze(p) is p
        assert freeze({"p": p})["p"] is p
        assert FrozenList([p])[0] is p
        assert is_frozen(p)
        assert thaw(p) is p

    def test_only_classes_can_be_registered(self) -> None:
        """Registering an instance raises TypeError."""
        with pytest.raises(TypeError, match="takes a class"):
            register_immutable(Box([1]))  # type: ignore[arg-type]


class TestOpaque:
    def test_copy_is_deep(self) -> None:
        """Each copy is a new deep copy of the held object."""
        box = Opaque(Box([1]))
        first = box.copy()
        first.items.append(2)
        assert box.copy() == Box([1])
        assert box.copy() is not box.copy()
        assert unbox(box) == Box([1])
        assert unbox(5) == 5

    def test_equality_hash_and_repr_follow_the_object(self) -> None:
        """A box equals and hashes as what it holds; repr shows the object."""
        box = Opaque(Box([1]))
        assert box == Box([1])
        assert box == Opaque(Box([1]))
        assert box != Box([2])
        assert hash(box) == hash(Box([1]))
        assert repr(box) == repr(box.obj)

    def test_pickle_round_trip(self) -> None:
        """A box pickles with what it holds."""
        back = pickle.loads(pickle.dumps(Opaque(Box([1]))))
        assert type(back) is Opaque
        assert back == Box([1])

    def test_freeze_keeps_an_existing_box(self) -> None:
        """An Opaque inside a value being frozen is not boxed again."""
        box = Opaque(Box([1]))
        assert freeze_value(box) is box
        assert freeze_value([box])._raw(0) is box


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def deep_tuple(depth: int) -> tuple[Any, ...]:
    value: tuple[Any, ...] = ([],)
    for _ in range(depth):
        value = (value,)
    return value


def deep_frozen_list(depth: int) -> FrozenList[Any]:
    value: FrozenList[Any] = FrozenList()
    for _ in range(depth):
        value = FrozenList([value])  # the item is frozen already: no recursion
    return value


class TestDepth:
    @pytest.mark.parametrize(
        "action",
        [
            freeze,
            freeze_value,
            lambda v: FrozenList([v]),
            lambda v: FrozenDict({"a": v}),
            lambda v: FrozenDict(big=v),
            lambda v: FrozenSet([(v,)]),
            lambda v: FrozenDict().set("a", v),
            lambda v: FrozenList().appended(v),
            lambda v: FrozenList([1]).set(0, v),
            lambda v: FrozenList().inserted(0, v),
            lambda v: FrozenSet().added((v,)),
            lambda v: set_in({}, "a.b", v),
            lambda v: edit(v).__enter__(),
        ],
    )
    @pytest.mark.parametrize("make", [deep_list, deep_dict, deep_tuple])
    def test_freezing_too_deep_a_value_raises_value_error(
        self, action: Callable[[Any], Any], make: Callable[[int], Any]
    ) -> None:
        """10,000 levels: ValueError, never RecursionError, wherever values freeze."""
        with pytest.raises(ValueError, match="nested too deeply"):
            action(make(DEPTH))

    def test_thawing_too_deep_a_value_raises_value_error(self) -> None:
        """thaw() of a 10,000-deep frozen tree raises ValueError."""
        with pytest.raises(ValueError, match="nested too deeply"):
            thaw(deep_frozen_list(DEPTH))
        deep_dicts = set_in({}, ("a",) * DEPTH, 1)
        with pytest.raises(ValueError, match="nested too deeply"):
            thaw(deep_dicts)

    def test_moderate_depth_round_trips(self) -> None:
        """MAX_NESTING levels freeze and thaw back; one more is a NestingError."""
        value = deep_list(MAX_NESTING - 1)  # the innermost [] is a level too
        assert thaw(freeze(value)) == value
        assert thaw(freeze(deep_dict(MAX_NESTING - 1))) == deep_dict(MAX_NESTING - 1)
        with pytest.raises(NestingError, match=f"MAX_NESTING \\({MAX_NESTING}\\)"):
            freeze(deep_list(MAX_NESTING))

    def test_the_error_leaves_the_interpreter_usable(self) -> None:
        """After the error, freezing works again at once."""
        with pytest.raises(ValueError, match="nested too deeply"):
            freeze(deep_list(DEPTH))
        assert freeze([[1]]) == [[1]]
        assert copy.deepcopy(deep_list(50)) == deep_list(50)
