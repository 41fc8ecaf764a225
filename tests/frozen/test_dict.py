"""FrozenDict against a plain dict: the Mapping API, persistence and isolation."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Hashable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from statetrail.frozen import (
    DictDraft,
    FrozenDict,
    FrozenList,
    FrozenSet,
    edit,
    freeze,
    thaw,
)
from statetrail.frozen._dict import SMALL
from tests.conftest import scaled
from tests.strategies import Collide, colliding_keys


class Box:
    """A mutable object of a type statetrail does not know."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items

    __hash__ = None  # type: ignore[assignment]


def big(n: int = 20) -> dict[str, int]:
    return {f"k{i}": i for i in range(n)}


both = pytest.mark.parametrize("n", [3, 20], ids=["small", "trie"])


class TestConstruction:
    def test_from_a_dict_pairs_and_keywords(self) -> None:
        """Built like dict(): from a mapping, from pairs, with keyword arguments."""
        assert FrozenDict({"a": 1}) == {"a": 1}
        assert FrozenDict([("a", 1), ("b", 2)]) == {"a": 1, "b": 2}
        assert FrozenDict({"a": 1}, b=2) == {"a": 1, "b": 2}
        assert FrozenDict(a=1) == {"a": 1}
        assert FrozenDict() == {}
        assert len(FrozenDict()) == 0

    def test_later_keyword_wins(self) -> None:
        """A keyword overrides the same key from the positional argument."""
        assert FrozenDict({"a": 1}, a=2) == {"a": 2}

    def test_values_are_frozen_deeply(self) -> None:
        """Nested lists, dicts and sets become frozen containers."""
        d = FrozenDict({"l": [1, [2]], "d": {"x": {"y": 1}}, "s": {1, 2}})
        assert type(d["l"]) is FrozenList
        assert type(d["l"][1]) is FrozenList
        assert type(d["d"]["x"]) is FrozenDict
        assert type(d["s"]) is FrozenSet

    def test_input_is_not_modified_and_not_kept(self) -> None:
        """Freezing copies: later changes to the input do not reach the frozen map."""
        source = {"l": [1, 2], "d": {"x": 1}}
        d = FrozenDict(source)
        assert source == {"l": [1, 2], "d": {"x": 1}}
        source["l"].append(3)
        source["d"]["x"] = 99
        source["new"] = 1
        assert d == {"l": [1, 2], "d": {"x": 1}}

    def test_unhashable_key_raises_type_error(self) -> None:
        """Keys are hashed as a dict hashes them."""
        with pytest.raises(TypeError):
            FrozenDict({}).set([], 1)
        with pytest.raises(TypeError):
            FrozenDict([([], 1)])


class TestReading:
    @both
    def test_matches_dict_reads(self, n: int) -> None:
        """[], get, in, len, iteration and the views agree with dict."""
        model = big(n)
        d = FrozenDict(model)
        assert len(d) == n
        assert set(d) == set(model)
        for k, v in model.items():
            assert d[k] == v
            assert d.get(k) == v
            assert k in d
        assert d.get("missing") is None
        assert d.get("missing", 5) == 5
        assert "missing" not in d
        assert sorted(d.keys()) == sorted(model.keys())
        assert sorted(d.values()) == sorted(model.values())
        assert sorted(d.items()) == sorted(model.items())
        assert d.keys() == model.keys()
        assert d.items() == model.items()

    @both
    def test_missing_key_raises_key_error_with_the_key(self, n: int) -> None:
        """A missing key raises KeyError carrying that key, as dict does."""
        d = FrozenDict(big(n))
        with pytest.raises(KeyError) as info:
            d["nope"]
        assert info.value.args == ("nope",)

    @both
    def test_unhashable_key_raises_type_error_on_read(self, n: int) -> None:
        """d[[]], d.get([]) and [] in d raise TypeError, as for dict."""
        d = FrozenDict(big(n))
        with pytest.raises(TypeError):
            d[[]]  # type: ignore[index]
        with pytest.raises(TypeError):
            d.get([])  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            [] in d  # noqa: B015

    def test_views_behave_like_dict_views(self) -> None:
        """keys() supports set operations; items() membership checks the value."""
        d = FrozenDict({"a": 1, "b": 2})
        assert d.keys() & {"a", "z"} == {"a"}
        assert d.keys() | {"z"} == {"a", "b", "z"}
        assert ("a", 1) in d.items()
        assert ("a", 2) not in d.items()
        assert 2 in d.values()
        assert len(d.items()) == len(d.values()) == 2

    def test_is_a_mapping_but_not_mutable(self) -> None:
        """It is a collections.abc.Mapping and Hashable, not a MutableMapping."""
        d = FrozenDict({"a": 1})
        assert isinstance(d, Mapping)
        assert isinstance(d, Hashable)
        assert not isinstance(d, MutableMapping)

    def test_equal_keys_of_other_types_find_the_entry(self) -> None:
        """As in dict, 1, 1.0 and True are the same key."""
        for n in (3, 20):
            d = FrozenDict({**big(n), 1: "one"})
            assert d[1.0] == "one"
            assert d[True] == "one"
            assert d.set(1.0, "uno")[1] == "uno"
            assert len(d.set(1.0, "uno")) == len(d)

    def test_small_maps_keep_insertion_order(self) -> None:
        """Up to eight keys iterate in insertion order, like dict."""
        keys = ["z", "a", "m", 3, "b", 1, "q", "c"]
        d = FrozenDict()
        for k in keys:
            d = d.set(k, k)
        assert list(d) == keys
        assert list(d.discarded("m").set("m", 0)) == [*keys[:2], *keys[3:], "m"]

    def test_a_map_shrunk_from_the_trie_keeps_insertion_order(self) -> None:
        """Back at eight keys a map keeps the insertion order it had (issue 10,
        defect 1: it used to take the trie's)."""
        keys = [f"k{i}" for i in reversed(range(SMALL + 3))]
        big = FrozenDict(dict.fromkeys(keys, 0))
        shrunk = big.delete(keys[3]).delete(keys[0]).delete(keys[-1])
        assert shrunk._keys is not None
        assert list(shrunk) == [
            k for k in keys if k not in (keys[3], keys[0], keys[-1])
        ]


class TestOrder:
    """Insertion order at every size, as dict keeps it (issue 10, defect 1)."""

    def test_large_maps_keep_insertion_order(self) -> None:
        """Twenty keys given in any order iterate in that order, and so do their
        items, values, repr, pickle, thaw and JSON."""
        keys = [f"key{i}" for i in (7, 3, 19, 0, 12, 5, 18, 1, 9, 4, 16, 2)] + [
            f"z{i}" for i in range(8)
        ]
        plain = {k: i for i, k in enumerate(keys)}
        d = FrozenDict(plain)
        assert d._keys is None
        assert list(d) == keys
        assert list(d.items()) == list(plain.items())
        assert list(d.values()) == list(plain.values())
        assert repr(d) == f"FrozenDict({plain!r})"
        assert list(pickle.loads(pickle.dumps(d))) == keys
        assert list(thaw(d)) == keys
        assert list(freeze(plain)) == keys

    def test_set_keeps_the_place_and_delete_then_add_moves_to_the_end(self) -> None:
        """Reassigning keeps a key's place; deleting and adding it again moves it
        to the end, exactly as in a dict."""
        plain = {f"k{i}": i for i in range(20)}
        d = FrozenDict(plain)
        d2 = d.set("k3", "new").delete("k5").set("k5", 5).set("new", 0)
        plain["k3"] = "new"
        del plain["k5"]
        plain["k5"] = 5
        plain["new"] = 0
        assert list(d2) == list(plain)
        assert list(d) == [f"k{i}" for i in range(20)]

    def test_equality_and_hash_ignore_order(self) -> None:
        """Two maps with the same items in different orders are equal and hash
        alike, as dicts are."""
        items = [(f"k{i}", i) for i in range(20)]
        a, b = FrozenDict(items), FrozenDict(reversed(items))
        assert list(a) != list(b)
        assert a == b
        assert a == dict(reversed(items))
        assert hash(a) == hash(b)

    def test_many_deletions_compact_the_order(self) -> None:
        """Deleting most keys of a large map compacts its vector of keys, and the
        order stays right all the way down to the small form."""
        plain = {f"k{i}": i for i in range(100)}
        d = FrozenDict(plain)
        for i in range(0, 100, 3):
            d = d.delete(f"k{i}")
            del plain[f"k{i}"]
            assert d._keys is not None or d._vals[1].size <= 2 * len(d)
        for i in range(1, 100, 3):
            d = d.delete(f"k{i}").set(f"k{i}", -i)
            del plain[f"k{i}"]
            plain[f"k{i}"] = -i
        assert list(d.items()) == list(plain.items())
        for k in list(plain)[:-5]:
            d = d.delete(k)
            del plain[k]
        assert d._keys is not None
        assert list(d.items()) == list(plain.items())

    def test_updated_and_union_order(self) -> None:
        """updated() and | put new keys last in the order given, as dict.update
        and dict | do."""
        base = {f"k{i}": i for i in range(10)}
        other = {"z": 1, "k2": 20, "a": 2}
        d = FrozenDict(base)
        assert list(d.updated(other)) == list({**base, **other})
        assert list(d | other) == list(base | other)
        assert list(other | d) == list(other | base)


class TestWrites:
    @both
    def test_writes_return_new_maps_and_leave_the_old_one(self, n: int) -> None:
        """set, delete, discard and update return new maps; the original stays."""
        model = big(n)
        d = FrozenDict(model)
        assert d.set("k0", "x") == {**model, "k0": "x"}
        assert d.set("new", 1) == {**model, "new": 1}
        assert d.delete("k1") == {k: v for k, v in model.items() if k != "k1"}
        assert d.discarded("k1") == d.delete("k1")
        assert d.updated({"k0": 0.5}, z=1) == {**model, "k0": 0.5, "z": 1}
        assert d.updated([("a", 1)]) == {**model, "a": 1}
        assert d == model

    @both
    def test_delete_of_a_missing_key_raises_key_error(self, n: int) -> None:
        """delete() raises KeyError like ``del d[k]``; discard() does not."""
        d = FrozenDict(big(n))
        with pytest.raises(KeyError):
            d.delete("nope")
        assert d.discarded("nope") is d

    @both
    def test_noop_writes_return_the_same_map(self, n: int) -> None:
        """Writing back a key's very value, or an empty update, returns self."""
        d = FrozenDict(big(n))
        assert d.set("k1", d["k1"]) is d
        assert d.updated({}) is d
        assert d.updated({"k2": d["k2"]}) is d
        nested = FrozenDict({"l": [1], **big(n)})
        assert nested.set("l", nested["l"]) is nested

    def test_equal_but_distinct_value_is_a_write(self) -> None:
        """1.0 replaces 1: identity, not equality, decides what a no-op is."""
        d = FrozenDict({"a": 1})
        e = d.set("a", 1.0)
        assert e is not d
        assert type(e["a"]) is float

    def test_unchanged_values_are_shared(self) -> None:
        """A write shares every value it does not touch."""
        for n in (3, 20):
            d = FrozenDict({"l": [1, 2], **big(n)})
            assert d.set("k0", "x")["l"] is d["l"]

    def test_item_assignment_and_attributes_are_refused(self) -> None:
        """There is no __setitem__/__delitem__ and no instance __dict__."""
        d = FrozenDict({"a": 1})
        with pytest.raises(TypeError):
            d["a"] = 2  # type: ignore[index]
        with pytest.raises(TypeError):
            del d["a"]  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            d.extra = 1  # type: ignore[attr-defined]
        assert d == {"a": 1}

    def test_draft_returns_a_dict_draft(self) -> None:
        """draft() hands out a DictDraft of this map."""
        d = FrozenDict({"a": 1})
        draft = d.draft()
        assert isinstance(draft, DictDraft)
        draft["b"] = 2
        assert draft.finish() == {"a": 1, "b": 2}
        assert d == {"a": 1}


class TestSmallTrieBoundary:
    def test_growing_past_eight_keys_moves_to_the_trie(self) -> None:
        """The ninth key moves the map into the trie, keeping every entry."""
        d = FrozenDict(big(SMALL))
        assert d._keys is not None
        e = d.set("ninth", 9)
        assert e._keys is None
        assert e == {**big(SMALL), "ninth": 9}
        assert d == big(SMALL)
        assert e.set("k0", 0) is e

    def test_shrinking_to_eight_keys_moves_back_to_a_dict(self) -> None:
        """Deleting the ninth key returns to the small form, equal and equal-hashed."""
        e = FrozenDict(big(SMALL + 1))
        assert e._keys is None
        d = e.delete("k8")
        assert d._keys is not None
        assert d == big(SMALL)
        assert hash(d) == hash(FrozenDict(big(SMALL)))
        assert d.discarded("k0")._keys is not None

    @pytest.mark.parametrize("n", range(SMALL - 2, SMALL + 4))
    def test_every_size_near_the_boundary(self, n: int) -> None:
        """Sizes around the boundary read, grow and shrink correctly."""
        model = big(n)
        d = FrozenDict(model)
        assert d == model
        assert (d._keys is not None) == (n <= SMALL)
        grown = d.set("extra", -1)
        assert grown == {**model, "extra": -1}
        assert grown.delete("extra") == d
        if n:
            assert d.delete("k0") == {k: v for k, v in model.items() if k != "k0"}

    def test_colliding_keys_across_the_boundary(self) -> None:
        """Keys with equal hashes work in both forms and across the move."""
        keys = [Collide(i) for i in range(12)] + [-1, -2]
        d = FrozenDict()
        for i, k in enumerate(keys):
            d = d.set(k, i)
        assert d == {k: i for i, k in enumerate(keys)}
        for k in keys[:10]:
            d = d.delete(k)
        assert d == {k: i for i, k in enumerate(keys) if i >= 10}
        assert d[-1] == 12
        assert d[-2] == 13


class TestEquality:
    @both
    def test_equal_to_a_plain_dict_both_ways(self, n: int) -> None:
        """FrozenDict == dict and dict == FrozenDict; != is its negation."""
        model = big(n)
        d = FrozenDict(model)
        assert d == model
        assert model == d
        assert not d != model  # noqa: SIM202
        assert d != {**model, "k0": -1}
        assert {**model, "k0": -1} != d
        assert d != {**model, "extra": 1}
        assert d == MappingProxyType(model)

    def test_equality_between_forms_and_orders(self) -> None:
        """Maps with equal items are equal whatever order built them."""
        model = big(30)
        a = FrozenDict(model)
        b = FrozenDict(reversed(list(model.items())))
        c = FrozenDict(big(31)).delete("k30")
        assert a == b == c
        assert a != b.set("k0", "x")

    def test_values_compare_as_dict_values_do(self) -> None:
        """Like dict, 1 == 1.0 == True and a frozen list equals a list."""
        assert FrozenDict({"a": 1}) == {"a": 1.0}
        assert FrozenDict({"a": [1, 2]}) == {"a": [1, 2]}
        assert FrozenDict({"a": [1, 2]}) != {"a": (1, 2)}

    def test_not_equal_to_non_mappings(self) -> None:
        """A map is never equal to a list or a string; no error either."""
        d = FrozenDict({"a": 1})
        assert d != [("a", 1)]
        assert d != "a"
        assert d.__eq__(5) is NotImplemented


class TestHash:
    @both
    def test_equal_maps_hash_alike(self, n: int) -> None:
        """Equal FrozenDicts have equal hashes, however they were made."""
        model = big(n)
        a = FrozenDict(model)
        b = FrozenDict(reversed(list(model.items())))
        assert hash(a) == hash(b)
        assert hash(a.set("x", 1).delete("x")) == hash(a)
        assert {a: 1}[b] == 1

    def test_equal_values_of_other_types_hash_alike(self) -> None:
        """{'a': 1} and {'a': True} are equal, so they hash alike."""
        assert hash(FrozenDict({"a": 1})) == hash(FrozenDict({"a": True}))

    def test_unhashable_value_raises_type_error(self) -> None:
        """A map holding an unhashable value cannot be hashed."""
        d = FrozenDict({"b": Box([1])})
        with pytest.raises(TypeError):
            hash(d)
        with pytest.raises(TypeError):
            hash(FrozenDict({"b": bytearray(b"x"), **big(20)}))

    def test_nested_frozen_values_hash(self) -> None:
        """Lists and dicts inside are frozen, so the whole map hashes."""
        d = FrozenDict({"l": [1, {"x": [2]}], "s": {1}})
        assert hash(d) == hash(FrozenDict({"s": {1}, "l": [1, {"x": [2]}]}))


class TestProtocols:
    @both
    def test_repr_round_trips(self, n: int) -> None:
        """repr() shows the items and evaluates back to an equal map."""
        d = FrozenDict({"l": [1], **big(n)})
        text = repr(d)
        assert text.startswith("FrozenDict({")
        names = {"FrozenDict": FrozenDict, "FrozenList": FrozenList}
        assert eval(text, names) == d

    def test_repr_of_small_map(self) -> None:
        """A small map shows its items in order."""
        assert repr(FrozenDict({"a": 1, "b": [2]})) == (
            "FrozenDict({'a': 1, 'b': FrozenList([2])})"
        )
        assert repr(FrozenDict()) == "FrozenDict({})"

    @both
    def test_pickle_round_trip(self, n: int) -> None:
        """Pickling gives back an equal FrozenDict with frozen values."""
        d = FrozenDict({"l": [1, {"x": 2}], "s": {3}, "b": Box([4]), **big(n)})
        back = pickle.loads(pickle.dumps(d))
        assert type(back) is FrozenDict
        assert back == d
        assert type(back["l"]) is FrozenList
        assert back["b"] == Box([4])

    def test_copy_and_deepcopy_return_self(self) -> None:
        """A frozen map needs no copying."""
        d = FrozenDict({"a": [1]})
        assert copy.copy(d) is d
        assert copy.deepcopy(d) is d
        assert copy.deepcopy({"x": d})["x"] is d

    @both
    def test_union_operators(self, n: int) -> None:
        """| merges like dict's |, the right side winning, from either side."""
        model = big(n)
        d = FrozenDict(model)
        right = d | {"k0": "r", "z": 1}
        assert type(right) is FrozenDict
        assert right == model | {"k0": "r", "z": 1}
        left = {"k0": "l", "z": 1} | d
        assert type(left) is FrozenDict
        assert left == {"k0": "l", "z": 1} | model
        assert d | FrozenDict({"z": 2}) == {**model, "z": 2}
        with pytest.raises(TypeError):
            d | [("a", 1)]  # type: ignore[operator]
        with pytest.raises(TypeError):
            [("a", 1)] | d  # type: ignore[operator]


class TestIsolation:
    def test_opaque_values_are_copied_in_and_out(self) -> None:
        """An object of an unknown type is deep-copied in, and every read is a copy."""
        box = Box([1])
        d = FrozenDict({"b": box})
        box.items.append(2)
        first = d["b"]
        assert first == Box([1])
        assert first is not box
        first.items.append(3)
        assert d["b"] == Box([1])
        assert d["b"] is not d["b"]
        got = d.get("b")
        assert got == Box([1])
        got.items.clear()
        for v in d.values():
            v.items.clear()
        for _, v in d.items():
            v.items.clear()
        assert d["b"] == Box([1])

    def test_opaque_values_in_a_trie_map(self) -> None:
        """Reads from the trie form copy opaque values too."""
        d = FrozenDict({"b": Box([1]), **big(20)})
        d["b"].items.append(2)
        assert d["b"] == Box([1])
        assert d == {"b": Box([1]), **big(20)}

    def test_values_read_back_cannot_change_the_map(self) -> None:
        """Containers read back are frozen themselves."""
        d = FrozenDict({"l": [1]})
        inner = d["l"]
        with pytest.raises(AttributeError):
            inner.extend_in_place = 1  # type: ignore[attr-defined]
        assert inner.appended(2) == [1, 2]
        assert d == {"l": [1]}


# -- stateful model ----------------------------------------------------------------

values = st.one_of(
    st.integers(-3, 3),
    st.none(),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(
        st.text(max_size=2), st.lists(st.booleans(), max_size=2), max_size=2
    ),
)


class FrozenDictMachine(RuleBasedStateMachine):
    """Each write on a FrozenDict and on a plain dict; no older version ever changes."""

    def __init__(self) -> None:
        super().__init__()
        self.current: FrozenDict[Any, Any] = FrozenDict()
        self.model: dict[Any, Any] = {}
        self.versions: list[tuple[FrozenDict[Any, Any], dict[Any, Any]]] = []

    def _record(self, new: FrozenDict[Any, Any]) -> None:
        self.current = new
        self.versions.append((new, copy.deepcopy(self.model)))

    @rule(key=colliding_keys, value=values)
    def set(self, key: Any, value: Any) -> None:
        before = copy.deepcopy(value)
        new = self.current.set(key, value)
        assert value == before, "the input was modified"
        self.model[key] = value
        self._record(new)

    @rule(key=colliding_keys)
    def delete(self, key: Any) -> None:
        if key in self.model:
            del self.model[key]
            self._record(self.current.delete(key))
        else:
            with pytest.raises(KeyError):
                self.current.delete(key)

    @rule(key=colliding_keys)
    def discard(self, key: Any) -> None:
        new = self.current.discarded(key)
        if key not in self.model:
            assert new is self.current
        self.model.pop(key, None)
        self._record(new)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete_existing(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(list(self.model)))
        del self.model[key]
        self._record(self.current.delete(key))

    @rule(pairs=st.dictionaries(colliding_keys, values, max_size=12))
    def update(self, pairs: dict[Any, Any]) -> None:
        before = copy.deepcopy(pairs)
        new = self.current.updated(pairs)
        assert pairs == before
        self.model.update(pairs)
        self._record(new)

    @rule(pairs=st.dictionaries(colliding_keys, values, max_size=12))
    def union(self, pairs: dict[Any, Any]) -> None:
        self.model = self.model | pairs
        self._record(self.current | pairs)

    @rule()
    def rewrite_same_value(self) -> None:
        for key in list(self.model)[:3]:
            assert self.current.set(key, self.current._raw(key)) is self.current

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), value=values)
    def delete_and_add_again(self, data: st.DataObject, value: Any) -> None:
        """A key deleted and set again moves to the end (issue 10, defect 1)."""
        key = data.draw(st.sampled_from(list(self.model)))
        del self.model[key]
        self.model[key] = value
        self._record(self.current.delete(key).set(key, value))

    @rule(data=st.data())
    def edit_in_a_draft(self, data: st.DataObject) -> None:
        """Sets and deletions through edit(), in the order a dict would keep."""
        with edit(self.current) as draft:
            for _ in range(data.draw(st.integers(0, 6))):
                key = data.draw(colliding_keys)
                if data.draw(st.booleans()) and key in self.model:
                    del draft[key]
                    del self.model[key]
                else:
                    value = data.draw(values)
                    draft[key] = value
                    self.model[key] = value
            assert list(draft) == list(self.model)
        self._record(draft.finish())

    @rule()
    def thaw_and_freeze(self) -> None:
        plain = thaw(self.current)
        assert list(plain) == list(self.model)
        self._record(freeze(plain))

    @invariant()
    def matches_the_model(self) -> None:
        d, model = self.current, self.model
        assert len(d) == len(model)
        assert d == model
        assert model == d
        for k, v in model.items():
            assert d[k] == v
        assert (d._keys is not None) == (len(d) <= SMALL)
        # Insertion order, as dict keeps it (issue 10, defect 1).
        assert list(d) == list(model)
        assert [k for k, _ in d.items()] == list(model)
        assert list(d.values()) == list(model.values())
        assert list(reversed(d)) == list(reversed(model))
        assert list(thaw(d)) == list(model)
        if d._keys is None:
            # The keys vector stays below twice the map's size (holes compacted).
            assert d._vals[1].size <= 2 * len(d)

    @invariant()
    def no_older_version_changed(self) -> None:
        for version, snapshot in self.versions:
            assert version == snapshot
            assert len(version) == len(snapshot)
            assert list(version) == list(snapshot)


TestFrozenDictStateful = FrozenDictMachine.TestCase
# Every step compares every older version: keep the runs short, scale them in soak.
TestFrozenDictStateful.settings = settings(
    max_examples=scaled(50), stateful_step_count=30
)


@given(st.dictionaries(colliding_keys, values, max_size=30))
def test_freeze_of_any_dict_equals_it(model: dict[Any, Any]) -> None:
    """freeze() of a dict of JSON-like values equals it and hashes."""
    frozen = freeze(model)
    assert frozen == model
    assert hash(frozen) == hash(FrozenDict(model))
