"""ImmutableDict, ImmutableList and ImmutableSet: building, reading, comparing."""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import pickle
import types
import weakref
from collections.abc import Mapping, MutableMapping, MutableSequence, MutableSet
from typing import Any, NamedTuple

import pytest

from statetrail.frozen import FrozenDict, FrozenList, FrozenSet
from statetrail.immutable import (
    Immutable,
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    interfaces,
    update,
)


class Tag(Immutable):
    def __init__(self, name: str) -> None:
        self.name = name


class Pair(NamedTuple):
    left: Any
    right: Any


class TestImmutableDict:
    """ImmutableDict outside update()."""

    def test_nested_values_become_locked_slaves(self) -> None:
        """Dicts, lists and sets inside become immutables, slaves locked with it."""
        d = ImmutableDict({"a": {"b": [1, {2}]}})
        inner = d["a"]
        assert isinstance(inner, ImmutableDict)
        assert isinstance(inner["b"], ImmutableList)
        assert isinstance(inner["b"][1], ImmutableSet)
        assert d.__im_mode__ == interfaces.IM_MODE_MASTER
        assert inner.__im_mode__ == interfaces.IM_MODE_SLAVE
        assert inner["b"].__im_state__ == interfaces.IM_STATE_LOCKED

    def test_keyword_construction(self) -> None:
        """Keywords add items, as dict(...) does."""
        assert ImmutableDict({"a": 1}, b=2) == {"a": 1, "b": 2}
        assert ImmutableDict([("a", 1)]) == {"a": 1}
        assert ImmutableDict() == {}

    def test_input_is_not_kept(self) -> None:
        """Changing the dict it was made from changes nothing."""
        source = {"a": [1]}
        d = ImmutableDict(source)
        source["a"].append(2)
        source["b"] = 3
        assert d == {"a": [1]}

    def test_is_a_mutable_mapping(self) -> None:
        """It passes for a dict-like object, as shoobx's UserDict-based one does."""
        d = ImmutableDict({"a": 1})
        assert isinstance(d, MutableMapping)
        assert isinstance(d, Mapping)

    def test_reads(self) -> None:
        """get, in, len, keys, values, items and iteration behave as on a dict."""
        d = ImmutableDict({"a": 1, "b": [2]})
        assert d.get("a") == 1
        assert d.get("zz") is None
        assert d.get("zz", 5) == 5
        assert "a" in d
        assert "zz" not in d
        assert len(d) == 2
        assert list(d) == ["a", "b"]
        assert list(d.keys()) == ["a", "b"]
        assert list(d.values()) == [1, [2]]
        assert isinstance(list(d.values())[1], ImmutableList)
        assert dict(d.items()) == {"a": 1, "b": [2]}
        with pytest.raises(KeyError):
            d["zz"]

    def test_equality(self) -> None:
        """Equal to any mapping with the same items, in both directions."""
        d = ImmutableDict({"a": [1], "b": {2}})
        assert d == {"a": [1], "b": {2}}
        assert {"a": [1], "b": {2}} == d
        assert d == ImmutableDict({"b": {2}, "a": [1]})
        assert d != {"a": [1]}
        assert d != [("a", [1])]
        assert (d == 5) is False

    def test_hash(self) -> None:
        """Equal locked dicts hash alike; the hash is that of the frozen value."""
        a = ImmutableDict({"x": [1, 2]})
        b = ImmutableDict({"x": [1, 2]})
        assert hash(a) == hash(b) == hash(FrozenDict({"x": [1, 2]}))
        assert {a: "found"}[b] == "found"

    def test_transient_is_unhashable(self) -> None:
        """A dict that can still change refuses to hash."""
        with update(ImmutableDict()) as new, pytest.raises(TypeError, match="unhash"):
            hash(new)

    def test_repr_reads_like_a_dict(self) -> None:
        """The repr is the plain dict's."""
        d = ImmutableDict({"a": [1, "x"], "b": {"c": None}, "s": set(), "t": (1,)})
        assert repr(d) == "{'a': [1, 'x'], 'b': {'c': None}, 's': set(), 't': (1,)}"
        assert repr(ImmutableList([(1, [2])])) == "[(1, [2])]"

    def test_pickle_round_trip(self) -> None:
        """Pickling gives an equal, locked master; nested slaves come back too."""
        d = ImmutableDict({"a": {"b": [1, {2}]}})
        back = pickle.loads(pickle.dumps(d))
        assert back == d
        assert type(back) is ImmutableDict
        assert back.__im_state__ == interfaces.IM_STATE_LOCKED
        assert back.__im_mode__ == interfaces.IM_MODE_MASTER
        slave = pickle.loads(pickle.dumps(d["a"]))
        assert slave == {"b": [1, {2}]}
        assert slave.__im_mode__ == interfaces.IM_MODE_MASTER

    def test_copy_is_a_locked_updatable_master(self) -> None:
        """copy() of a slave is a master: it can be updated; the tree is unchanged."""
        d = ImmutableDict({"a": {"b": 1}})
        c = d["a"].copy()
        assert c == {"b": 1}
        assert c.__im_mode__ == interfaces.IM_MODE_MASTER
        with pytest.raises(AttributeError):
            c["b"] = 2
        with update(c) as c2:
            c2["b"] = 2
        assert c2 == {"b": 2}
        assert d == {"a": {"b": 1}}

    def test_copy_of_transient_is_refused_copy_module_snapshots(self) -> None:
        """copy() inside update() is refused, as shoobx.immutable refuses it;
        copy.copy() gives the content so far, locked."""
        with update(ImmutableDict({"a": 1})) as new:
            new["a"] = 2
            with pytest.raises(AssertionError, match=r"copy\.copy\(\)"):
                new.copy()
            snap = copy.copy(new)
            new["a"] = 3
        assert snap == {"a": 2}
        assert new == {"a": 3}
        assert snap.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_copy_module(self) -> None:
        """copy.copy and copy.deepcopy of a locked dict return it: it cannot change."""
        d = ImmutableDict({"a": [1]})
        assert copy.copy(d) is d
        assert copy.deepcopy(d) is d
        with update(d) as new:
            shallow = copy.copy(new)
        assert shallow is not new
        assert shallow == d

    def test_fromkeys(self) -> None:
        """fromkeys binds every key to the (conformed) value."""
        d = ImmutableDict.fromkeys([41, 42], "answer")
        assert d == {41: "answer", 42: "answer"}
        assert type(d) is ImmutableDict
        lists = ImmutableDict.fromkeys("ab", [1])
        assert isinstance(lists["a"], ImmutableList)
        assert ImmutableDict.fromkeys([]) == {}

    def test_fromkeys_copies_custom_immutables(self) -> None:
        """A custom immutable value becomes a distinct slave copy per key."""
        tag = Tag("x")
        d = ImmutableDict.fromkeys([41, 42], tag)
        assert d[41] is not tag
        assert d[41] is not d[42]
        assert d[41].name == d[42].name == "x"
        assert d[41].__im_mode__ == interfaces.IM_MODE_SLAVE

    def test_or_makes_a_new_dict(self) -> None:
        """| merges into a new locked dict, as on plain dicts."""
        d = ImmutableDict({"a": 1})
        merged = d | {"b": [2]}
        assert merged == {"a": 1, "b": [2]}
        assert isinstance(merged, ImmutableDict)
        assert {"a": 0, "c": 3} | d == {"a": 1, "c": 3}
        assert d == {"a": 1}
        assert d.__or__(5) is NotImplemented

    def test_datetimes_and_scalars_kept_as_they_are(self) -> None:
        """Datetimes, decimals, bytes and other immutable scalars are kept as given."""
        now = datetime.datetime.now(datetime.UTC)
        values = {
            "dt": now,
            "date": now.date(),
            "time": now.time(),
            "delta": datetime.timedelta(days=42),
            "tz": datetime.UTC,
            "dec": decimal.Decimal("1.5"),
            "bytes": b"x",
        }
        d = ImmutableDict(values)
        for key, value in values.items():
            assert d[key] is value

    def test_any_tzinfo_is_accepted(self) -> None:
        """tzinfo objects of any kind are immutable values (shoobx 1.1.1)."""
        zone = datetime.tzinfo()
        d = ImmutableDict({"zone": zone})
        assert d["zone"] is zone
        with update(d) as new:
            new["again"] = zone
        assert new["again"] is zone

    def test_tuples_get_immutable_items(self) -> None:
        """A tuple is kept as a tuple, a named tuple as its class, items conformed."""
        d = ImmutableDict({"t": (1, [2]), "p": Pair([1], 2)})
        assert d["t"] == (1, FrozenList([2]))
        assert type(d["p"]) is Pair
        assert d["p"].left == [1]
        plain = (1, "a")
        assert ImmutableDict({"t": plain})["t"] is plain

    def test_mutable_objects_are_refused(self) -> None:
        """An object with no immutable equivalent raises ValueError, as in shoobx."""

        class Thing:
            pass

        with pytest.raises(ValueError, match="Unable to conform object to immutable"):
            ImmutableDict({"thing": Thing()})

    def test_im_get_protocol(self) -> None:
        """An object offering __im_get__() is stored as the immutable it returns."""

        class Mutable:
            def __im_get__(self, mode: str | None = None) -> Tag:
                assert mode == interfaces.IM_MODE_SLAVE
                return Tag("from mutable")

        d = ImmutableDict({"m": Mutable()})
        assert isinstance(d["m"], Tag)
        assert d["m"].name == "from mutable"

    def test_enums_drafts_and_im_get_failures(self) -> None:
        """Enums are kept; a frozen draft is finished; a bad __im_get__ is refused."""

        class Color(enum.Enum):
            RED = 1

        class Liar:
            def __im_get__(self, mode: str | None = None) -> object:
                return object()

        draft = FrozenDict({"a": 1}).draft()
        draft["b"] = 2
        d = ImmutableDict({"color": Color.RED, "draft": draft})
        assert d["color"] is Color.RED
        assert d["draft"] == {"a": 1, "b": 2}
        with pytest.raises(ValueError, match="Unable to conform"):
            ImmutableDict({"liar": Liar()})

    def test_or_and_popitem_edges(self) -> None:
        """| with a non-mapping is not supported; popitem on an empty dict raises."""
        d = ImmutableDict({"a": 1})
        with pytest.raises(TypeError):
            _ = 5 | d  # type: ignore[operator]
        with update(ImmutableDict()) as new, pytest.raises(KeyError, match="empty"):
            new.popitem()

    def test_frozen_values_are_shared(self) -> None:
        """Built from a frozen value, the dict holds that very value: no copy."""
        frozen = FrozenDict({"a": [1]})
        d = ImmutableDict(frozen)
        assert d._snapshot() is frozen
        assert ImmutableDict(d)._snapshot() is frozen

    def test_other_containers_are_converted(self) -> None:
        """Mappings, list and set subclasses and frozensets are conformed too."""

        class MyList(list[int]):
            pass

        d = ImmutableDict(
            {
                "m": FrozenDict({"x": 1}),
                "proxy": types.MappingProxyType({"y": [2]}),
                "l": MyList([1]),
                "fs": frozenset({1}),
                "f": FrozenSet({1}),
                "keys": {"k": 1}.keys(),
            }
        )
        assert isinstance(d["proxy"], ImmutableDict)
        assert d["proxy"] == {"y": [2]}
        assert isinstance(d["keys"], ImmutableSet)
        assert d["keys"] == {"k"}
        assert isinstance(d["l"], ImmutableList)
        assert d["fs"] == frozenset({1})
        assert isinstance(d["f"], ImmutableSet)


class TestImmutableList:
    """ImmutableList outside update()."""

    def test_nested_values_become_immutables(self) -> None:
        """Items that are containers become locked slave immutables."""
        lst = ImmutableList([[1], {"a": 1}, {3}])
        assert isinstance(lst[0], ImmutableList)
        assert isinstance(lst[1], ImmutableDict)
        assert isinstance(lst[2], ImmutableSet)
        assert lst[0].__im_mode__ == interfaces.IM_MODE_SLAVE
        assert isinstance(lst, MutableSequence)

    def test_reads(self) -> None:
        """Indexing, negative indexes, iteration, reversed, in, index and count."""
        lst = ImmutableList([1, 2, {"a": 1}, 2])
        assert lst[-1] == 2
        assert list(lst) == [1, 2, {"a": 1}, 2]
        assert list(reversed(lst)) == [2, {"a": 1}, 2, 1]
        assert {"a": 1} in lst
        assert ImmutableDict({"a": 1}) in lst
        assert 7 not in lst
        assert lst.index(2) == 1
        assert lst.index(2, 2) == 3
        assert lst.index({"a": 1}) == 2
        assert lst.count(2) == 2
        with pytest.raises(IndexError):
            lst[4]
        with pytest.raises(ValueError, match="not in"):
            lst.index(7)

    def test_built_from_another_immutable_list(self) -> None:
        """A list built from an immutable list shares its frozen value."""
        lst = ImmutableList([1, [2]])
        again = ImmutableList(lst)
        assert again == lst
        assert again._snapshot() is lst._snapshot()
        assert ImmutableSet(ImmutableSet({1}))._snapshot() == {1}

    def test_iteration_inside_update(self) -> None:
        """Iterating a transient list gives its items, nested ones writable."""
        with update(ImmutableList([{"n": 1}, {"n": 2}])) as new:
            for item in new:
                item["n"] += 10
        assert new == [{"n": 11}, {"n": 12}]

    def test_pop_of_a_custom_immutable(self) -> None:
        """pop() hands out a custom immutable item as it is."""
        with update(ImmutableList([Tag("x")])) as new:
            tag = new.pop()
        assert isinstance(tag, Tag)
        assert tag.name == "x"
        assert new == []

    def test_slices_are_new_locked_lists(self) -> None:
        """A slice is a new locked master list."""
        lst = ImmutableList([1, 2, 3, 4])
        part = lst[1:3]
        assert part == [2, 3]
        assert isinstance(part, ImmutableList)
        assert part.__im_mode__ == interfaces.IM_MODE_MASTER
        assert lst[::-1] == [4, 3, 2, 1]

    def test_equality_and_order(self) -> None:
        """Equal to a plain list (not a tuple), and ordered as lists are."""
        lst = ImmutableList([1, [2]])
        assert lst == [1, [2]]
        assert [1, [2]] == lst  # noqa: SIM300 - the reflected comparison
        assert lst == ImmutableList([1, [2]])
        assert lst != (1, [2])
        assert ImmutableList([1, 2]) < [1, 3]
        assert ImmutableList([1, 2]) <= ImmutableList([1, 2])
        assert ImmutableList([2]) > [1, 9]
        assert ImmutableList([2]) >= [2]

    def test_add_and_mul_make_new_lists(self) -> None:
        """+ and * return new locked lists; the operands are unchanged."""
        lst = ImmutableList([41, 42])
        joined = lst + [44, [43]]  # noqa: RUF005 - testing __add__
        assert joined == [41, 42, 44, [43]]
        assert isinstance(joined[3], ImmutableList)
        assert [40] + lst == [40, 41, 42]  # noqa: RUF005 - testing __radd__
        assert isinstance([40] + lst, ImmutableList)  # noqa: RUF005
        assert lst * 2 == [41, 42, 41, 42]
        assert 2 * lst == [41, 42, 41, 42]
        assert lst == [41, 42]

    def test_repr_hash_pickle_copy(self) -> None:
        """repr like a list, hash like the frozen list, pickle and copy round trip."""
        lst = ImmutableList(["Arthur", "Gag"])
        assert repr(lst) == "['Arthur', 'Gag']"
        assert hash(lst) == hash(ImmutableList(["Arthur", "Gag"]))
        back = pickle.loads(pickle.dumps(lst))
        assert back == lst
        assert back.__im_state__ == interfaces.IM_STATE_LOCKED
        c = lst.copy()
        assert c == lst
        assert c.__im_mode__ == interfaces.IM_MODE_MASTER
        with pytest.raises(AttributeError):
            c.append(1)

    def test_copy_of_list_holding_custom_immutables(self) -> None:
        """copy() works on a locked list of custom immutables (shoobx 1.0.5)."""
        lst = ImmutableList([41, Tag("x")])
        c = lst.copy()
        assert c[1].name == "x"

    def test_weak_references(self) -> None:
        """Immutables can be weakly referenced, as shoobx's can."""
        lst = ImmutableList([1])
        ref = weakref.ref(lst)
        assert ref() is lst
        del lst
        assert ref() is None

    def test_empty_set_repr(self) -> None:
        """An empty set nested in a list shows as set()."""
        assert repr(ImmutableList([set(), {1}])) == "[set(), {1}]"


class TestImmutableSet:
    """ImmutableSet outside update()."""

    def test_repr_like_a_set(self) -> None:
        """repr is the plain set's: {6}, and set() when empty."""
        assert repr(ImmutableSet({6})) == "{6}"
        assert repr(ImmutableSet()) == "set()"

    def test_reads(self) -> None:
        """in, len, iteration, and the set comparisons."""
        s = ImmutableSet({1, 2})
        assert 1 in s
        assert 3 not in s
        assert len(s) == 2
        assert sorted(s) == [1, 2]
        assert s <= {1, 2, 3}
        assert s.issubset([1, 2, 3])
        assert s.issuperset([1])
        assert s.isdisjoint({5})
        assert isinstance(s, MutableSet)

    def test_equality_and_hash(self) -> None:
        """Equal to set and frozenset alike, and hashes like that frozenset."""
        s = ImmutableSet({1, 2})
        assert s == {1, 2}
        assert {1, 2} == s
        assert s == frozenset({1, 2})
        assert s == ImmutableSet([2, 1])
        assert s != {1}
        assert hash(s) == hash(frozenset({1, 2}))
        assert {s: "found"}[ImmutableSet({1, 2})] == "found"

    def test_operators_make_new_locked_sets(self) -> None:
        """|, &, -, ^ and the named methods return new locked sets."""
        s = ImmutableSet({1, 2})
        for result, expected in [
            (s | {3}, {1, 2, 3}),
            (s & {2, 3}, {2}),
            (s - {1}, {2}),
            (s ^ {2, 3}, {1, 3}),
            (s.union([3], {4}), {1, 2, 3, 4}),
            (s.intersection([2, 3], {2}), {2}),
            (s.difference([1], {9}), {2}),
            (s.symmetric_difference([2, 3]), {1, 3}),
        ]:
            assert result == expected
            assert isinstance(result, ImmutableSet)
            assert result.__im_state__ == interfaces.IM_STATE_LOCKED
        assert s == {1, 2}

    def test_members_can_be_immutables(self) -> None:
        """Hashable immutables are members; they come back locked, even in update()."""
        member = ImmutableDict({"a": 1})
        s = ImmutableSet([member, ImmutableList([1])])
        assert member in s
        assert ImmutableList([1]) in s
        with update(s) as new:
            (inside,) = [m for m in new if isinstance(m, ImmutableDict)]
            with pytest.raises(AttributeError):
                inside["a"] = 2
            new.discard(member)
        assert new == {ImmutableList([1])}

    def test_pickle_and_copy(self) -> None:
        """Pickling and copy() give equal locked masters."""
        s = ImmutableSet({1, "a"})
        back = pickle.loads(pickle.dumps(s))
        assert back == s
        assert back.__im_state__ == interfaces.IM_STATE_LOCKED
        assert s.copy() == s
        assert copy.copy(s) is s

    def test_remove_missing_and_pop_empty_raise(self) -> None:
        """remove() of a non-member and pop() of an empty set raise KeyError."""
        with update(ImmutableSet()) as new:
            with pytest.raises(KeyError):
                new.remove(1)
            with pytest.raises(KeyError):
                new.pop()


class TestRecorded:
    """Put into a Store, a Var or a timeline, each container immutable is recorded
    as the frozen container it holds, and so can be stored: ImmutableList used to
    be kept as an opaque copy, which the codec refused (CodecError: ImmutableList
    ... not registered with the codec), inside an ImmutableDict too."""

    @staticmethod
    def samples() -> dict[str, tuple[Any, type]]:
        from statetrail.compat.shoobx_immutable import immutable as compat

        class Items(ImmutableList[Any]):
            pass

        return {
            "ImmutableDict": (ImmutableDict({"a": [1], "b": {2}}), FrozenDict),
            "ImmutableList": (ImmutableList([1, [2], {"x": 3}]), FrozenList),
            "ImmutableSet": (ImmutableSet({1, (2, 3)}), FrozenSet),
            "ImmutableDict of ImmutableList": (
                ImmutableDict({"a": ImmutableList([1])}),
                FrozenDict,
            ),
            "compat ImmutableList": (compat.ImmutableList([1, [2]]), FrozenList),
            "a subclass": (Items([1, [2]]), FrozenList),
        }

    def test_every_front_end_freezes_them(self) -> None:
        """freeze, Store.set, Var.set and Timeline.set give the frozen container,
        with frozen containers (not views) inside."""
        from statetrail import Store, Timeline, Var, freeze

        for name, (value, frozen_type) in self.samples().items():
            store = Store({})
            store.set("d", value)
            var = Var(f"recorded {name}", 0)
            var.set(value)
            for got in (
                freeze(value),
                store.get("d"),
                var.get(),
                Timeline(value).value,
            ):
                assert type(got) is frozen_type, name
                assert got == value
                inner = got.values() if isinstance(got, Mapping) else got
                assert not any(isinstance(x, ImmutableList) for x in inner), name

    @pytest.mark.parametrize("suffix", ["db", "json"])
    def test_they_are_stored_and_read_back(self, tmp_path: Any, suffix: str) -> None:
        """In a repository (SQLite, JSON file) they are written and read back
        equal, as plain frozen containers."""
        import statetrail

        target = tmp_path / f"h.{suffix}"
        samples = self.samples()
        with statetrail.open(target) as repo:
            store = repo.store("s", {})
            for name, (value, _) in samples.items():
                store.set(name.replace(" ", "_"), value)
            repo.watch("v", ImmutableList([1, ImmutableDict({"k": [2]})]))
        with statetrail.open(target) as repo:
            store = repo.store("s")
            for name, (value, frozen_type) in samples.items():
                back = store.get(name.replace(" ", "_"))
                assert type(back) is frozen_type
                assert back == value
            assert repo.watch("v").get() == [1, {"k": [2]}]
