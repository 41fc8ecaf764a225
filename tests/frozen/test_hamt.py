"""The CHAMP hash trie under FrozenDict and FrozenSet, against a plain dict."""

from __future__ import annotations

import copy
import pickle
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statetrail.frozen import _hamt
from statetrail.frozen._hamt import (
    EMPTY,
    MISSING,
    Node,
    assoc,
    build,
    diff_nodes,
    dissoc,
    equal_nodes,
    iter_items,
    iter_keys,
    lookup,
)
from tests.conftest import scaled
from tests.counting import count_calls
from tests.strategies import MODULUS, Collide, colliding_keys, tricky_values

MAX_SHIFT = 60


def check_node(node: Node, shift: int = 0) -> int:
    """Assert the CHAMP invariants of ``node`` and its sub-nodes; return its key count.

    Bitmaps match the tuple's length, inline keys sit at their hash fragment, a
    sub-node holds at least two keys and is never a lone pair (canonical form), and a
    collision node holds two or more keys sharing one hash.
    """
    if shift > MAX_SHIFT:
        assert len(node) >= 5
        assert len(node) % 2 == 1
        keys = node[1::2]
        assert all(hash(k) == node[0] for k in keys)
        assert len(set(keys)) == len(keys)
        return len(keys)
    datamap, nodemap = node[0], node[1]
    assert datamap & nodemap == 0
    end = 2 + 2 * datamap.bit_count()
    assert len(node) == end + nodemap.bit_count()
    frags = [f for f in range(32) if datamap >> f & 1]
    for frag, i in zip(frags, range(2, end, 2), strict=True):
        assert (hash(node[i]) >> shift) & 31 == frag
    total = datamap.bit_count()
    for j in range(end, len(node)):
        sub = node[j]
        below = check_node(sub, shift + 5)
        assert below >= 2, "a sub-node with one key must be pulled up"
        total += below
    return total


def shape(node: Node, shift: int = 0) -> Any:
    """The layout of a node: bitmaps and inline keys, collision nodes as key sets."""
    if shift > MAX_SHIFT:
        return ("collision", node[0], frozenset(node[1::2]))
    end = 2 + 2 * node[0].bit_count()
    subs = tuple(shape(node[j], shift + 5) for j in range(end, len(node)))
    return (node[0], node[1], node[2:end:2], subs)


def from_pairs(items: list[tuple[Any, Any]]) -> Node:
    node = EMPTY
    for k, v in items:
        node, _ = assoc(node, 0, hash(k), k, v)
    return node


def build_from(model: dict[Any, Any]) -> Node:
    return build([(hash(k), k, v) for k, v in model.items()]) if model else EMPTY


def same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def brute_diff(a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, tuple[Any, Any]]:
    out = {}
    for k in a.keys() | b.keys():
        old, new = a.get(k, MISSING), b.get(k, MISSING)
        if old is MISSING or new is MISSING or not same(old, new):
            out[k] = (old, new)
    return out


def diffed(a: Node, b: Node) -> dict[Any, tuple[Any, Any]]:
    emitted: list[tuple[Any, Any, Any]] = []
    diff_nodes(a, b, lambda k, o, n: emitted.append((k, o, n)))
    out = {k: (o, n) for k, o, n in emitted}
    assert len(out) == len(emitted), f"a key emitted twice: {emitted}"
    return out


ops = st.lists(st.tuples(st.booleans(), colliding_keys, st.integers(0, 3)), max_size=80)


class TestAgainstDict:
    @given(ops)
    def test_assoc_dissoc_lookup_match_a_dict(
        self, steps: list[tuple[bool, Any, int]]
    ) -> None:
        """Any sequence of assoc and dissoc holds what a dict holds, canonically."""
        node, model = EMPTY, {}
        for is_set, key, value in steps:
            if is_set:
                node, added = assoc(node, 0, hash(key), key, value)
                assert added == (key not in model)
                model[key] = value
            else:
                node = dissoc(node, 0, hash(key), key)
                model.pop(key, None)
            assert check_node(node) == len(model)
        for key, value in model.items():
            assert lookup(node, hash(key), key, MISSING) == value
        assert dict(iter_items(node)) == model
        assert sorted(map(repr, iter_keys(node))) == sorted(map(repr, model))
        assert shape(node) == shape(build_from(model))
        assert equal_nodes(node, build_from(model))

    @given(st.lists(colliding_keys, max_size=60), colliding_keys)
    def test_lookup_of_absent_key_gives_default(
        self, keys: list[Any], probe: Any
    ) -> None:
        """A key that was never added (or was removed) is not found."""
        node = from_pairs([(k, 1) for k in keys])
        node = dissoc(node, 0, hash(probe), probe)
        sentinel = object()
        assert lookup(node, hash(probe), probe, sentinel) is sentinel

    @given(st.dictionaries(colliding_keys, st.integers(), max_size=80))
    def test_build_equals_insertion_one_by_one(self, model: dict[Any, int]) -> None:
        """Bulk building gives the very layout that single inserts give."""
        built = build_from(model)
        check_node(built)
        items = list(model.items())
        random.Random(len(items)).shuffle(items)
        assert shape(built) == shape(from_pairs(items))
        assert dict(iter_items(built)) == model

    def test_empty_node(self) -> None:
        """EMPTY holds nothing and removing from it returns it."""
        assert list(iter_items(EMPTY)) == []
        assert lookup(EMPTY, hash("a"), "a", None) is None
        assert dissoc(EMPTY, 0, hash("a"), "a") is EMPTY

    def test_many_keys(self) -> None:
        """Thousands of int and string keys, added, read and removed."""
        n = scaled(5000)
        keys = [*range(n), *(f"k{i}" for i in range(n))]
        node = build([(hash(k), k, k) for k in keys])
        assert check_node(node) == 2 * n
        assert all(lookup(node, hash(k), k, None) == k for k in keys)
        for k in keys[::2]:
            node = dissoc(node, 0, hash(k), k)
        assert check_node(node) == n
        assert dict(iter_items(node)) == {k: k for k in keys[1::2]}


class TestCollisions:
    def test_minus_one_and_minus_two_share_a_hash(self) -> None:
        """-1 and -2 hash alike in CPython; the trie keeps both apart."""
        assert hash(-1) == hash(-2)
        node = from_pairs([(-1, "a"), (-2, "b")])
        check_node(node)
        assert lookup(node, hash(-1), -1, None) == "a"
        assert lookup(node, hash(-2), -2, None) == "b"
        assert dict(iter_items(node)) == {-1: "a", -2: "b"}

    def test_constant_hash_keys(self) -> None:
        """Many keys with one hash live in a collision node at the bottom."""
        keys = [Collide(i) for i in range(10)]
        node = from_pairs([(k, k.n) for k in keys])
        assert check_node(node) == 10
        for k in keys:
            assert lookup(node, 42, k, None) == k.n
        assert lookup(node, 42, Collide(99), None) is None
        node, added = assoc(node, 0, 42, Collide(3), "new")
        assert not added
        assert lookup(node, 42, Collide(3), None) == "new"

    def test_removing_down_to_one_colliding_key_pulls_it_to_the_root(self) -> None:
        """With one of two colliding keys left, the chain of sub-nodes disappears."""
        # 7 hashes to 7 in every process (a str's hash is randomised per process and
        # could share the colliding keys' fragment at the root).
        node = from_pairs([(Collide(1), 1), (Collide(2), 2), (7, 3)])
        node = dissoc(node, 0, 42, Collide(1))
        check_node(node)
        assert node[1] == 0, "no sub-nodes left"
        assert shape(node) == shape(from_pairs([(7, 3), (Collide(2), 2)]))
        node = dissoc(node, 0, 42, Collide(2))
        node = dissoc(node, 0, 7, 7)
        assert node == EMPTY

    def test_distinct_ints_with_equal_hashes(self) -> None:
        """Ints a multiple of the hash modulus apart collide and stay distinct."""
        keys = [5, 5 + MODULUS, 5 + 2 * MODULUS]
        assert len({hash(k) for k in keys}) == 1
        node = from_pairs([(k, i) for i, k in enumerate(keys)])
        check_node(node)
        assert [lookup(node, 5, k, None) for k in keys] == [0, 1, 2]
        node = dissoc(node, 0, 5, 5 + MODULUS)
        assert dict(iter_items(node)) == {5: 0, 5 + 2 * MODULUS: 2}

    def test_keys_sharing_every_fragment_but_the_last(self) -> None:
        """Hashes equal below bit 55 build a deep chain, then split inline."""
        keys = [1 << 55, 2 << 55, 3 << 55]
        node = from_pairs([(k, k) for k in keys])
        check_node(node)
        assert all(lookup(node, hash(k), k, None) == k for k in keys)
        for k in keys:
            node = dissoc(node, 0, hash(k), k)
            check_node(node)
        assert node == EMPTY

    def test_equal_nodes_ignores_collision_order(self) -> None:
        """Collision nodes filled in different orders are equal."""
        keys = [Collide(i) for i in range(5)]
        a = from_pairs([(k, k.n) for k in keys])
        b = from_pairs([(k, k.n) for k in reversed(keys)])
        assert equal_nodes(a, b)
        c, _ = assoc(b, 0, 42, Collide(0), "other")
        assert not equal_nodes(a, c)
        d = dissoc(b, 0, 42, Collide(0))
        d, _ = assoc(d, 0, 42, Collide(9), 0)
        assert not equal_nodes(a, d)


class TestCanonicalForm:
    @given(
        st.dictionaries(colliding_keys, st.integers(0, 3), max_size=60),
        st.lists(colliding_keys, max_size=30),
        st.randoms(use_true_random=False),
    )
    def test_equal_key_sets_have_equal_shapes(
        self, model: dict[Any, int], extra: list[Any], rnd: random.Random
    ) -> None:
        """Keys added then removed leave no trace: same layout as a fresh build."""
        extra = [k for k in extra if k not in model]
        steps = [("set", k, v) for k, v in model.items()]
        steps += [("set", k, 9) for k in extra]
        rnd.shuffle(steps)
        node = EMPTY
        for _, k, v in steps:
            node, _ = assoc(node, 0, hash(k), k, v)
        removals = list(extra)
        rnd.shuffle(removals)
        for k in removals:
            node = dissoc(node, 0, hash(k), k)
        check_node(node)
        fresh = build_from(model)
        assert shape(node) == shape(fresh)
        assert equal_nodes(node, fresh)
        assert equal_nodes(fresh, node)

    @given(
        st.dictionaries(colliding_keys, st.integers(0, 3), min_size=1, max_size=40),
        st.data(),
    )
    def test_unequal_contents_are_not_equal_nodes(
        self, model: dict[Any, int], data: st.DataObject
    ) -> None:
        """A changed value or a missing key makes the nodes unequal."""
        key = data.draw(st.sampled_from(sorted(model, key=repr)))
        base = build_from(model)
        changed, _ = assoc(base, 0, hash(key), key, model[key] + 10)
        assert not equal_nodes(base, changed)
        smaller = dissoc(base, 0, hash(key), key)
        assert not equal_nodes(smaller, base)


class TestIdentity:
    @given(st.dictionaries(colliding_keys, st.integers(), min_size=1, max_size=50))
    def test_noop_writes_return_the_same_node(self, model: dict[Any, int]) -> None:
        """Rebinding a key to its very value, or dropping an absent key: no copy."""
        node = build_from(model)
        for k, v in iter_items(node):
            again, added = assoc(node, 0, hash(k), k, v)
            assert again is node
            assert not added
        absent = object()
        assert dissoc(node, 0, hash(absent), absent) is node
        assert dissoc(node, 0, 42, Collide(1000)) is node

    def test_a_write_shares_every_untouched_sub_node(self) -> None:
        """Changing one key copies one path; every other sub-node is shared."""
        n = scaled(20_000)
        node = build([(hash(i), i, i) for i in range(n)])
        new, _ = assoc(node, 0, hash(7), 7, "seven")
        end = 2 + 2 * node[0].bit_count()
        shared = sum(new[j] is node[j] for j in range(end, len(node)))
        assert shared == len(node) - end - 1


@pytest.fixture(scope="module")
def large_trie() -> Node:
    """A trie of 100k int keys, each bound to itself."""
    return build([(hash(i), i, i) for i in range(scaled(100_000))])


class TestDiffNodes:
    @given(
        st.dictionaries(colliding_keys, tricky_values, max_size=60),
        st.dictionaries(colliding_keys, tricky_values, max_size=20),
        st.lists(colliding_keys, max_size=20),
    )
    def test_matches_a_brute_force_diff(
        self, base: dict[Any, Any], updates: dict[Any, Any], removed: list[Any]
    ) -> None:
        """diff_nodes reports exactly the keys whose value differs, type included."""
        a = build_from(base)
        b = a
        model = dict(base)
        for k, v in updates.items():
            b, _ = assoc(b, 0, hash(k), k, v)
            model[k] = v
        for k in removed:
            b = dissoc(b, 0, hash(k), k)
            model.pop(k, None)
        assert dict(iter_items(b)) == model
        assert diffed(a, b) == brute_diff(base, model)
        assert diffed(b, a) == brute_diff(model, base)
        # Unrelated builds (nothing shared) give the same answer.
        assert diffed(build_from(base), build_from(model)) == brute_diff(base, model)

    def test_type_changes_are_differences(self) -> None:
        """1 -> True and 1 -> 1.0 are reported though the values are equal."""
        a = build_from({"a": 1, "b": 1, "c": 1.0, "d": 1.0})
        b = build_from({"a": True, "b": 1.0, "c": 1.0, "d": 1})
        assert diffed(a, b) == {"a": (1, True), "b": (1, 1.0), "d": (1.0, 1)}

    def test_equal_but_distinct_containers_are_left_to_the_caller(self) -> None:
        """Values == but not identical, other than str/bytes/numbers, are emitted.

        == on containers cannot tell [1] from [True]; the caller compares deeply.
        """
        old, new = (1, [2]), (1, [2])
        text, number = "".join(["te", "xt"]), int("1" + "0" * 30)
        a = build_from({"t": old, "s": "text", "n": 10**30})
        b = build_from({"t": new, "s": text, "n": number})
        assert text is not "text"  # noqa: F632
        assert number is not 10**30
        assert diffed(a, b) == {"t": (old, new)}

    def test_identical_nodes_emit_nothing(self) -> None:
        """A node compared with itself emits nothing and descends nowhere."""
        node = build([(hash(i), i, i) for i in range(1000)])
        with count_calls(diff_nodes) as calls:
            assert diffed(node, node) == {}
        assert calls["diff_nodes"] == 1

    @pytest.mark.parametrize(
        "edit",
        ["replace", "add", "remove", "add-colliding"],
    )
    def test_cost_is_proportional_to_the_change(
        self, edit: str, large_trie: Node
    ) -> None:
        """One change among 100k keys: one emit, a handful of nodes visited."""
        a = large_trie
        if edit == "replace":
            b, _ = assoc(a, 0, hash(500), 500, "x")
            expected = {500: (500, "x")}
        elif edit == "add":
            b, _ = assoc(a, 0, hash("new"), "new", 1)
            expected = {"new": (MISSING, 1)}
        elif edit == "remove":
            b = dissoc(a, 0, hash(500), 500)
            expected = {500: (500, MISSING)}
        else:
            key = 500 + MODULUS  # hashes as 500: forces a collision chain
            b, _ = assoc(a, 0, hash(key), key, 1)
            expected = {key: (MISSING, 1)}
        emitted: list[tuple[Any, Any, Any]] = []
        with count_calls(
            diff_nodes, _hamt._diff_flat, iter_items, _hamt._same
        ) as calls:
            diff_nodes(a, b, lambda k, o, new: emitted.append((k, o, new)))
        assert {k: (o, new) for k, o, new in emitted} == expected
        # A trie of 100k keys is about 4 levels deep: one node per level differs.
        assert calls["diff_nodes"] <= 6
        assert calls["iter_items"] <= 2 * 14
        assert calls["_same"] <= 32, "only the pairs of the one changed leaf node"


class TestMissing:
    def test_missing_is_a_falsy_singleton(self) -> None:
        """MISSING is one object, falsy, and shows as MISSING."""
        assert type(MISSING)() is MISSING
        assert not MISSING
        assert repr(MISSING) == "MISSING"

    def test_missing_survives_copy_and_pickle(self) -> None:
        """Copies and pickles of MISSING are MISSING itself."""
        assert copy.copy(MISSING) is MISSING
        assert copy.deepcopy(MISSING) is MISSING
        assert pickle.loads(pickle.dumps(MISSING)) is MISSING
