"""Structural diff, applying and inverting changes, and JSON Patch in and out."""

from __future__ import annotations

import copy
import json
import pickle
import random
from typing import Any

import jsonpatch
import jsonpointer
import pytest
from hypothesis import given
from hypothesis import strategies as st

from statetrail import Change
from statetrail.diff import (
    apply_changes,
    apply_json_patch,
    diff,
    diff_values,
    format_json_pointer,
    invert,
    parse_json_pointer,
    same_value,
    to_json_patch,
)
from statetrail.errors import PatchError, PathError
from statetrail.frozen import (
    MISSING,
    FrozenDict,
    FrozenList,
    _vector,
    freeze,
    thaw,
)
from statetrail.paths import set_in
from tests.conftest import scaled
from tests.counting import count_calls
from tests.strategies import json_trees, tree_pairs

_diff_module = __import__("statetrail.diff", fromlist=["_diff"])


class Box:
    """A mutable object of a type statetrail does not know."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items

    __hash__ = None  # type: ignore[assignment]


def strictly_equal(a: Any, b: Any, *, ordered: bool = True) -> bool:
    """Equal with the same types all the way down (1, 1.0 and True differ), and
    dicts' keys in the same order unless ``ordered`` is false."""
    a, b = thaw(a), thaw(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        if ordered and list(a) != list(b):
            return False
        return a.keys() == b.keys() and all(
            strictly_equal(a[k], b[k], ordered=ordered) for k in a
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(
            strictly_equal(x, y, ordered=ordered) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b) or (a != a and b != b)


class TestDiffAndApply:
    @given(tree_pairs)
    def test_applying_the_diff_gives_the_target(self, pair: tuple[Any, Any]) -> None:
        """apply_changes(a, diff(a, b)) is b, types and dict order included;
        invert gives a back (a removal inverted adds the key at the end, as a dict
        does, so that one ignores order).

        No change is redundant (an equal value of the same type), and the inputs
        are left as they were.
        """
        a, b = pair
        plain_a, plain_b = copy.deepcopy(a), copy.deepcopy(b)
        changes = diff(a, b)
        assert strictly_equal(apply_changes(a, changes), b)
        assert strictly_equal(apply_changes(freeze(a), changes), b)
        assert strictly_equal(apply_changes(b, invert(changes)), a, ordered=False)
        assert invert(invert(changes)) == changes
        for change in changes:
            if change.kind == "replace":
                assert not strictly_equal(change.old, change.new)
        assert a == plain_a
        assert b == plain_b, "the inputs were modified"

    @given(json_trees)
    def test_no_changes_between_equal_values(self, tree: Any) -> None:
        """A value has no changes against itself or an equal copy."""
        frozen = freeze(tree)
        assert diff(frozen, frozen) == []
        assert diff(tree, copy.deepcopy(tree)) == []
        assert diff_values(frozen, freeze(copy.deepcopy(tree))) == ()
        assert apply_changes(frozen, []) is frozen

    @pytest.mark.parametrize(
        ("old", "new"),
        [(1, True), (1, 1.0), (0, False), (1.0, True), ("1", 1), ([], {}), ({}, []),
         (None, 0), ([1], (1,)), (FrozenList([1]), {1})],
    )  # fmt: skip
    def test_type_changes_are_changes(self, old: Any, new: Any) -> None:
        """1 -> True, 1 -> 1.0 and other equal-but-different values are replaces."""
        for a, b, path in (
            (old, new, ()),
            ({"k": old}, {"k": new}, ("k",)),
            ([0, old, 2], [0, new, 2], (1,)),
            ({"l": [old] * 50}, {"l": [old] * 25 + [new] + [old] * 24}, ("l", 25)),
        ):
            changes = diff(a, b)
            assert len(changes) == 1
            assert changes[0].path == path
            assert changes[0].kind == "replace"
            assert strictly_equal(apply_changes(a, changes), b)

    def test_nan_policy(self) -> None:
        """The same NaN object is no change; two NaN objects are a change."""
        nan = float("nan")
        tree = freeze({"x": nan})
        assert diff(tree, tree) == []
        assert diff({"x": nan}, {"x": nan}) == []
        assert len(diff({"x": nan}, {"x": float("nan")})) == 1

    def test_dict_changes_carry_the_key_path(self) -> None:
        """Added, removed and replaced keys at any depth, as add/remove/replace."""
        a = {"keep": 1, "gone": 2, "deep": {"x": 1, "y": [1, 2]}}
        b = {"keep": 1, "deep": {"x": 2, "y": [1, 2]}, "new": 3}
        changes = {(c.path, c.kind, c.old, c.new) for c in diff(a, b)}
        assert changes == {
            (("gone",), "remove", 2, MISSING),
            (("new",), "add", MISSING, 3),
            (("deep", "x"), "replace", 1, 2),
        }

    def test_unknown_objects_compare_by_equality(self) -> None:
        """Opaque values are compared by their own equality; changes hold copies."""
        assert diff({"b": Box([1])}, {"b": Box([1])}) == []
        changes = diff({"b": Box([1])}, {"b": Box([2])})
        assert len(changes) == 1
        assert type(changes[0].new) is Box
        changes[0].new.items.append(3)
        assert changes[0].new == Box([2])
        path, old, new = changes[0]
        assert (path, old, new) == (("b",), Box([1]), Box([2]))


def _writes(draw: st.DrawFn, start: FrozenDict[str, Any]) -> FrozenDict[str, Any]:
    """``start`` after random sets, deletions and deletions-then-sets."""
    d = start
    pool = [f"k{i}" for i in range(40)]
    for _ in range(draw(st.integers(0, 30))):
        key = draw(st.sampled_from(pool))
        op = draw(st.sampled_from(["set", "set", "delete", "move", "nest"]))
        if op == "set":
            d = d.set(key, draw(st.integers(0, 3)))
        elif op == "nest":
            d = d.set(key, {"x": draw(st.integers(0, 3)), "a": 0})
        elif key in d:
            moved = d.delete(key)
            d = moved.set(key, d[key]) if op == "move" else moved
    return d


@st.composite
def written_pairs(draw: st.DrawFn) -> tuple[FrozenDict[str, Any], Any]:
    """A large frozen dict and a version written from it (sharing its order)."""
    keys = draw(st.permutations([f"k{i}" for i in range(20)]))
    a = freeze({k: i for i, k in enumerate(keys)})
    a = _writes(draw, a)
    return a, _writes(draw, a)


class TestDictOrder:
    """Diffs rebuild the order of dicts (issue 10, defect 1)."""

    @given(written_pairs())
    def test_a_version_written_from_another(
        self, pair: tuple[FrozenDict[str, Any], FrozenDict[str, Any]]
    ) -> None:
        """Sets keep places, deletions leave them, a key deleted and set again
        moves: the changes and their JSON Patch rebuild b's order exactly."""
        a, b = pair
        changes = diff(a, b)
        assert strictly_equal(apply_changes(a, changes), b)
        patched = jsonpatch.apply_patch(thaw(a), to_json_patch(changes))
        assert strictly_equal(patched, b)
        assert list(patched) == list(b)
        assert diff(a, b) == [] or not same_value(a, b)

    def test_additions_come_last_in_order(self) -> None:
        """New keys are added after the other changes (those in the trie's
        order), in b's order."""
        a = freeze({f"k{i}": i for i in range(12)})
        b = a.set("z", 1).delete("k3").set("k0", -1).set("a", 2)
        changes = [(c.path, c.kind) for c in diff(a, b)]
        assert set(changes[:2]) == {(("k0",), "replace"), (("k3",), "remove")}
        assert changes[2:] == [(("z",), "add"), (("a",), "add")]

    def test_a_key_moved_to_the_end_is_removed_and_added(self) -> None:
        """Deleting a key and setting it again (same value even) moves it: a
        remove and an add, so the patch moves it too."""
        a = freeze({f"k{i}": i for i in range(12)})
        b = a.delete("k2").set("k2", 2)
        assert a == b
        assert not same_value(a, b)
        assert [(c.path, c.kind) for c in diff(a, b)] == [
            (("k2",), "remove"),
            (("k2",), "add"),
        ]
        assert to_json_patch(diff(a, b)) == [
            {"op": "remove", "path": "/k2"},
            {"op": "add", "path": "/k2", "value": 2},
        ]

    def test_a_key_deleted_and_added_again_at_the_end_is_not_moved(self) -> None:
        """When the keys added again already come after every key kept, in the
        same order, the order needs no move: only their values are compared."""
        a = freeze({f"k{i}": i for i in range(12)})
        b = a.delete("k11").delete("k10").set("k10", -10).set("k11", 11).set("z", 0)
        assert [(c.path, c.kind) for c in diff(a, b)] == [
            (("k10",), "replace"),
            (("z",), "add"),
        ]
        c = a.delete("k11").delete("k10").set("k11", 11).set("k10", 10)
        assert [(c.path, c.kind) for c in diff(a, c)] == [
            (("k10",), "remove"),
            (("k10",), "add"),
        ]
        assert strictly_equal(apply_changes(a, diff(a, c)), c)

    @pytest.mark.parametrize("n", [3, 20])
    def test_a_dict_given_again_in_another_order(self, n: int) -> None:
        """Equal dicts in different orders differ for the record: the keys after
        the first one out of place move to the end."""
        a = freeze({f"k{i}": i for i in range(n)})
        b = freeze({"k1": 1, "k0": 0, **{f"k{i}": i for i in range(2, n)}})
        changes = diff(a, b)
        assert a == b
        assert strictly_equal(apply_changes(a, changes), b)
        assert changes[0] == Change(("k0",), 0, MISSING)
        assert len(changes) == 2 * (n - 1)
        assert diff(a, freeze(thaw(a))) == []

    def test_the_cost_of_a_moved_key_in_a_large_state(self) -> None:
        """A version written from another is arranged in time proportional to the
        change: no key of the other 100,000 is looked at."""
        a = freeze({f"k{i}": i for i in range(100_000)})
        b = a.delete("k5").set("k5", 5).set("new", 1)
        with count_calls(FrozenDict.__iter__, _vector.iterate) as calls:
            changes = diff(a, b)
        assert sum(calls.values()) == 0
        assert [(c.path, c.kind) for c in changes] == [
            (("k5",), "remove"),
            (("k5",), "add"),
            (("new",), "add"),
        ]


class TestListDiff:
    @pytest.mark.parametrize("where", [0, 1, 500, 999, 1000])
    def test_one_insertion_into_a_long_list_is_one_add(self, where: int) -> None:
        """Inserting one item into 1,000 gives one add, not a replace per shift."""
        a = list(range(1000))
        b = [*a[:where], "new", *a[where:]]
        changes = diff(a, b)
        assert changes == [Change((where,), MISSING, "new")]
        assert apply_changes(a, changes) == b

    @pytest.mark.parametrize("where", [0, 1, 500, 999])
    def test_one_removal_from_a_long_list_is_one_remove(self, where: int) -> None:
        """Removing one item of 1,000 gives one remove."""
        a = list(range(1000))
        b = a[:where] + a[where + 1 :]
        changes = diff(a, b)
        assert changes == [Change((where,), where, MISSING)]
        assert apply_changes(a, changes) == b

    def test_insertions_and_removals_in_the_middle(self) -> None:
        """A few edits scattered in a long list give one change each."""
        a = [{"id": i} for i in range(300)]
        b = list(a)
        del b[200]
        b.insert(150, {"id": "x"})
        b[100] = {"id": 100, "seen": True}
        del b[10:12]
        changes = diff(a, b)
        assert len(changes) == 5
        assert {c.kind for c in changes} == {"add", "remove"}
        assert sum(c.kind == "remove" for c in changes) == 3
        assert any(c.path == (98, "seen") for c in changes)
        assert apply_changes(a, changes) == b
        assert apply_json_patch(a, to_json_patch(changes)) == b

    def test_same_length_lists_changed_in_place(self) -> None:
        """Items changed in place are replaced where they are."""
        a = list(range(100))
        b = list(a)
        b[3] = "x"
        b[70] = [1]
        changes = diff(a, b)
        assert [(c.path, c.kind) for c in changes] == [
            ((3,), "replace"),
            ((70,), "replace"),
        ]

    def test_many_edits_fall_back_but_still_apply(self) -> None:
        """Past the edit budget the script is less minimal but still correct."""
        rnd = random.Random(7)
        a = [rnd.randrange(50) for _ in range(3000)]
        b = [rnd.randrange(50) for _ in range(2500)]
        changes = diff(a, b)
        assert apply_changes(a, changes) == b
        assert len(changes) <= len(a) + len(b)
        patch = to_json_patch(changes)
        assert apply_json_patch(a, patch) == b
        assert jsonpatch.apply_patch(a, patch) == b

    def test_nested_list_items_are_diffed_in_place(self) -> None:
        """A changed dict inside a list gives a change at the nested key."""
        a = [{"n": i, "tags": ["a"]} for i in range(20)]
        b = copy.deepcopy(a)
        b[7]["tags"].append("b")
        b.insert(3, {"n": "new"})
        changes = diff(a, b)
        assert [(c.path, c.kind) for c in changes] == [
            ((3,), "add"),
            ((8, "tags", 1), "add"),
        ]
        assert apply_changes(a, changes) == b


@pytest.fixture(scope="module")
def large_state() -> FrozenDict[str, Any]:
    """100k top-level keys, a thousand nested records and a 100k-item list."""
    n = scaled(100_000)
    return freeze(
        {
            **{f"k{i}": i for i in range(n)},
            "users": {f"user{i}": {"name": f"n{i}", "tags": [i]} for i in range(1000)},
            "items": list(range(n)),
        }
    )


class TestCost:
    def test_one_nested_change_in_a_large_state(
        self, large_state: FrozenDict[str, Any]
    ) -> None:
        """One leaf changed deep in a large state: one Change, a few steps of work."""
        b = set_in(large_state, ("users", "user777", "tags", 0), "changed")
        with count_calls(_diff_module._diff, _diff_module._same) as calls:
            changes = diff(large_state, b)
        assert changes == [Change(("users", "user777", "tags", 0), 777, "changed")]
        assert calls["_diff"] <= 5, "the root, users, the user, the tags, the item"
        # Each level checks the changed child once more: quadratic in the depth only.
        assert calls["_same"] <= 20

    def test_one_top_level_change_in_a_large_state(
        self, large_state: FrozenDict[str, Any]
    ) -> None:
        """One of 100k keys replaced, one added, one removed: three Changes."""
        b = large_state.set("k500", "x").set("new", 1).delete("k9")
        with count_calls(_diff_module._diff, _diff_module._same) as calls:
            changes = diff(large_state, b)
        assert sorted(changes, key=repr) == sorted(
            [
                Change(("k500",), 500, "x"),
                Change(("new",), MISSING, 1),
                Change(("k9",), 9, MISSING),
            ],
            key=repr,
        )
        assert calls["_diff"] <= 2
        assert calls["_same"] <= 2

    def test_one_change_in_a_large_list(
        self, large_state: FrozenDict[str, Any]
    ) -> None:
        """One item changed among 100k: one Change, one leaf path compared."""
        b = set_in(large_state, ("items", 54_321), -1)
        with count_calls(_diff_module._diff, _diff_module._same) as calls:
            changes = diff(large_state, b)
        assert changes == [Change(("items", 54_321), 54_321, -1)]
        assert calls["_diff"] <= 3
        assert calls["_same"] <= 6

    def test_one_insertion_into_a_large_list(
        self, large_state: FrozenDict[str, Any]
    ) -> None:
        """One item inserted among 100k: one add, a few leaves compared."""
        b = large_state.set("items", large_state["items"].inserted(60_000, "new"))
        with count_calls(_diff_module._same) as calls:
            changes = diff(large_state, b)
        assert changes == [Change(("items", 60_000), MISSING, "new")]
        assert calls["_same"] <= 2 * 33 + 4, "the two leaves around it, no more"


class TestListsByStructure:
    """Lists are diffed between the subtrees two versions share (diff.py's policy)."""

    @pytest.mark.parametrize("at", [0, 3, 50_000, 99_999])
    def test_insert_or_remove_anywhere_is_one_change(self, at: int) -> None:
        """Near the front the whole tail moves, yet only the leaves around it are
        compared: one add, one remove."""
        a = FrozenList(range(scaled(100_000)))
        with count_calls(_vector._expand) as calls:
            assert diff(a, a.inserted(at, "x")) == [Change((at,), MISSING, "x")]
            assert diff(a, a.delete(at)) == [Change((at,), at, MISSING)]
        assert calls["_expand"] <= 2 * 2 * 3 * 4, "a path per side, per level"

    def test_a_removal_and_an_insertion_far_apart(self) -> None:
        """Same length, every index between them shifted: still two changes, and
        the index-by-index look gives up after a bounded number of items."""
        a = FrozenList(range(scaled(100_000)))
        b = a.delete(10).inserted(90_000, "x")
        with count_calls(_diff_module._same) as calls:
            changes = diff(a, b)
        assert changes == [Change((10,), 10, MISSING), Change((90_000,), MISSING, "x")]
        assert calls["_same"] <= 2 * 130 + 4 * 33

    def test_scattered_edits_of_a_relaxed_list(self) -> None:
        """Inserts, removals and sets far apart: each found where it is."""
        a = FrozenList(range(20_000)).inserted(7, "a").delete(9_000)
        b = a.inserted(100, "x").delete(10_000).set(15_000, "y")
        assert diff(a, b) == [
            Change((100,), MISSING, "x"),
            Change((10_000,), a[9_999], MISSING),
            Change((15_000,), a[15_000], "y"),
        ]
        assert apply_changes(a, diff(a, b)) == b

    def test_lists_built_apart_are_diffed_by_value(self) -> None:
        """No shared subtree: one stretch, trimmed at both ends, then Myers."""
        items = list(range(5_000))
        a = FrozenList(items)
        items.insert(2_500, "x")
        assert diff(a, FrozenList(items)) == [Change((2_500,), MISSING, "x")]

    @given(st.data())
    def test_edited_lists_round_trip(self, data: st.DataObject) -> None:
        """Any edits of a long list: the diff applied to the old gives the new."""
        n = data.draw(st.sampled_from([0, 40, 1_100, 3_000]))
        a = FrozenList(range(n))
        b = a
        for _ in range(data.draw(st.integers(1, 12))):
            size = len(b)
            op = data.draw(st.sampled_from(["insert", "delete", "set", "cut"]))
            if op == "insert" or not size:
                b = b.inserted(data.draw(st.integers(0, size)), "n")
            elif op == "delete":
                b = b.delete(data.draw(st.integers(0, size - 1)))
            elif op == "set":
                b = b.set(data.draw(st.integers(0, size - 1)), "s")
            else:
                i = data.draw(st.integers(0, size))
                b = b[:i] + b[i + data.draw(st.integers(0, 50)) :]
        changes = diff(a, b)
        assert apply_changes(a, changes) == b
        assert apply_changes(b, invert(changes)) == a

    def test_a_change_next_to_a_large_shared_subtree(
        self, large_state: FrozenDict[str, Any]
    ) -> None:
        """A large subtree shared by both values is never entered."""
        a = freeze({"big": large_state, "small": {"x": 1}})
        b = a.set("small", {"x": 2})
        with count_calls(_diff_module._diff, _diff_module._diff_dict) as calls:
            assert diff(a, b) == [Change(("small", "x"), 1, 2)]
        assert calls["_diff_dict"] == 2


class TestChange:
    def test_kind_dotted_and_unpacking(self) -> None:
        """A change knows its kind and dotted path and unpacks as a triple."""
        assert Change(("a", 0), MISSING, 1).kind == "add"
        assert Change(("a", 0), 1, MISSING).kind == "remove"
        assert Change(("a", 0), 1, 2).kind == "replace"
        change = Change(("a", 0), 1, 2)
        assert change.dotted == "a.0"
        path, old, new = change
        assert (path, old, new) == (("a", 0), 1, 2)

    def test_inverse_equality_hash_repr_pickle(self) -> None:
        """inverse swaps old and new; equal changes hash alike; repr and pickle."""
        change = Change(("a",), 1, [2])
        assert change.inverse() == Change(("a",), [2], 1)
        assert change.inverse().inverse() == change
        assert change == Change(("a",), 1, [2])
        assert change != Change(("b",), 1, [2])
        assert change != Change(("a",), MISSING, [2])
        assert hash(change) == hash(Change(("a",), 1, [2]))
        assert repr(Change(("a", 0), MISSING, 1)) == "Change('a.0', MISSING, 1)"
        assert pickle.loads(pickle.dumps(change)) == change
        assert change.__eq__("x") is NotImplemented


class TestJsonPointer:
    @pytest.mark.parametrize(
        ("path", "pointer"),
        [
            ((), ""),
            (("",), "/"),
            (("a",), "/a"),
            (("a/b", "m~n", 0), "/a~1b/m~0n/0"),
            (("~1",), "/~01"),
            (("", ""), "//"),
            ((" ",), "/ "),
        ],
    )
    def test_format_and_parse(self, path: tuple[Any, ...], pointer: str) -> None:
        """Pointers escape ~ and / (RFC 6901) and parse back to string steps."""
        assert format_json_pointer(path) == pointer
        assert parse_json_pointer(pointer) == tuple(str(s) for s in path)

    @given(st.lists(st.text(max_size=5), max_size=5))
    def test_round_trip(self, steps: list[str]) -> None:
        """Any string steps survive format then parse."""
        assert parse_json_pointer(format_json_pointer(tuple(steps))) == tuple(steps)

    @pytest.mark.parametrize(
        "pointer", ["a", "a/b", "/~", "/~2", "/a~", "/~~01", "/~0~", "/~~", "/a/~3b"]
    )
    def test_malformed_pointers_raise_patch_error(self, pointer: str) -> None:
        """No leading slash, or a ~ not followed by 0 or 1, is a PatchError."""
        with pytest.raises(PatchError):
            parse_json_pointer(pointer)

    @pytest.mark.parametrize("pointer", [None, 5, b"/a", ["a"]])
    def test_non_string_pointers_raise_patch_error(self, pointer: Any) -> None:
        """A pointer must be a string."""
        with pytest.raises(PatchError, match="is a string"):
            parse_json_pointer(pointer)


class TestToJsonPatch:
    @given(tree_pairs)
    def test_every_emitted_patch_applies(self, pair: tuple[Any, Any]) -> None:
        """The patch for diff(a, b) turns a into b here and in the jsonpatch library."""
        a, b = pair
        patch = to_json_patch(diff(a, b))
        wire = json.loads(json.dumps(patch))
        assert wire == patch, "the patch is plain JSON"
        assert strictly_equal(apply_json_patch(a, wire), b)
        assert strictly_equal(jsonpatch.apply_patch(copy.deepcopy(a), wire), b)
        assert strictly_equal(jsonpatch.JsonPatch(wire).apply(copy.deepcopy(a)), b)

    def test_operations_and_thawed_values(self) -> None:
        """Adds, removes and replaces with plain values; keys are escaped."""
        patch = to_json_patch(
            [
                Change(("a/b",), MISSING, freeze({"x": [1]})),
                Change(("l", 0), 1, MISSING),
                Change(("m~",), 1, freeze([2])),
                Change((), 1, 2),
            ]
        )
        assert patch == [
            {"op": "add", "path": "/a~1b", "value": {"x": [1]}},
            {"op": "remove", "path": "/l/0"},
            {"op": "replace", "path": "/m~0", "value": [2]},
            {"op": "replace", "path": "", "value": 2},
        ]
        assert type(patch[0]["value"]) is dict
        assert type(patch[0]["value"]["x"]) is list


# RFC 6902 Appendix A, as (document, patch, result); result None means an error.
RFC_6902_EXAMPLES: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    ("A.1 adding an object member", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ("A.2 adding an array element", {"foo": ["bar", "baz"]},
     [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3 removing an object member", {"baz": "qux", "foo": "bar"},
     [{"op": "remove", "path": "/baz"}],
     {"foo": "bar"}),
    ("A.4 removing an array element", {"foo": ["bar", "qux", "baz"]},
     [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ("A.5 replacing a value", {"baz": "qux", "foo": "bar"},
     [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6 moving a value",
     {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7 moving an array element", {"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8 testing a value: success", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"},
      {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.9 testing a value: error", {"baz": "qux"},
     [{"op": "test", "path": "/baz", "value": "bar"}],
     None),
    ("A.10 adding a nested member object", {"foo": "bar"},
     [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11 ignoring unrecognized elements", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.12 adding to a nonexistent target", {"foo": "bar"},
     [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     None),
    # A.13's duplicate "op" parses, in Python as in most JSON parsers, last-wins.
    ("A.13 invalid JSON Patch document", {"foo": "bar"},
     [{"op": "remove", "path": "/baz", "value": "qux"}],
     None),
    ("A.14 ~ escape ordering", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": 10}],
     {"/": 9, "~1": 10}),
    ("A.15 comparing strings and numbers", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": "10"}],
     None),
    ("A.16 adding an array value", {"foo": ["bar"]},
     [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
]  # fmt: skip


class TestApplyJsonPatch:
    @pytest.mark.parametrize(
        ("doc", "patch", "expected"),
        [case[1:] for case in RFC_6902_EXAMPLES],
        ids=[case[0] for case in RFC_6902_EXAMPLES],
    )
    def test_rfc_6902_appendix_a(
        self, doc: Any, patch: list[dict[str, Any]], expected: Any
    ) -> None:
        """Every example of RFC 6902 Appendix A, as the jsonpatch library does it."""
        before = copy.deepcopy(doc)
        if expected is None:
            with pytest.raises(PatchError):
                apply_json_patch(doc, patch)
            # jsonpatch reports a missing parent (A.12) as a JsonPointerException.
            with pytest.raises(
                (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException)
            ):
                jsonpatch.apply_patch(copy.deepcopy(doc), patch)
        else:
            result = apply_json_patch(doc, patch)
            assert result == expected
            assert type(result) is FrozenDict
            assert jsonpatch.apply_patch(copy.deepcopy(doc), patch) == expected
        assert doc == before, "the input document changed"

    def test_all_six_operations(self) -> None:
        """add, remove, replace, move, copy and test in one patch."""
        doc = {"a": {"b": [1, 2]}, "c": "x"}
        patch = [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "replace", "path": "/c", "value": {"y": 1}},
            {"op": "copy", "from": "/a/b", "path": "/d"},
            {"op": "move", "from": "/c/y", "path": "/a/y"},
            {"op": "test", "path": "/d", "value": [2, 3]},
        ]
        expected = {"a": {"b": [2, 3], "y": 1}, "c": {}, "d": [2, 3]}
        assert apply_json_patch(doc, patch) == expected
        assert jsonpatch.apply_patch(doc, patch) == expected

    def test_whole_document_operations(self) -> None:
        """The empty pointer replaces, adds or tests the whole document."""
        assert apply_json_patch(
            {"a": 1}, [{"op": "replace", "path": "", "value": [1]}]
        ) == [1]
        assert apply_json_patch({"a": 1}, [{"op": "add", "path": "", "value": 2}]) == 2
        assert apply_json_patch([1], [{"op": "test", "path": "", "value": [1]}]) == [1]
        with pytest.raises(PatchError, match="whole document"):
            apply_json_patch({"a": 1}, [{"op": "remove", "path": ""}])

    def test_add_replaces_an_existing_member(self) -> None:
        """add on an existing member replaces it (RFC 6902 4.1)."""
        assert apply_json_patch(
            {"a": 1}, [{"op": "add", "path": "/a", "value": 2}]
        ) == {"a": 2}

    def test_dash_appends_only_for_adds(self) -> None:
        """'-' is past the end: fine for add, copy and move targets, not elsewhere."""
        doc = {"l": [1], "x": 2}
        assert apply_json_patch(doc, [{"op": "add", "path": "/l/-", "value": 2}]) == {
            "l": [1, 2],
            "x": 2,
        }
        assert apply_json_patch(
            doc, [{"op": "copy", "from": "/x", "path": "/l/-"}]
        ) == {"l": [1, 2], "x": 2}
        assert apply_json_patch(
            doc, [{"op": "move", "from": "/x", "path": "/l/-"}]
        ) == {"l": [1, 2]}
        for op in ("remove", "replace", "test"):
            with pytest.raises(PatchError, match="not an array index"):
                apply_json_patch(doc, [{"op": op, "path": "/l/-", "value": 1}])
        with pytest.raises(PatchError):
            apply_json_patch(doc, [{"op": "add", "path": "/l/-/0", "value": 1}])

    @pytest.mark.parametrize("index", ["01", "00", "-1", "1.0", " 1", "+1", "٣", "1e0"])
    def test_bad_array_indices_are_refused(self, index: str) -> None:
        """Leading zeros, signs and non-ASCII digits are not array indices."""
        doc = {"l": [10, 20, 30]}
        for op in (
            {"op": "add", "path": f"/l/{index}", "value": 1},
            {"op": "remove", "path": f"/l/{index}"},
            {"op": "replace", "path": f"/l/{index}", "value": 1},
            {"op": "test", "path": f"/l/{index}", "value": 20},
            {"op": "copy", "from": f"/l/{index}", "path": "/x"},
        ):
            with pytest.raises(PatchError):
                apply_json_patch(doc, [op])
        assert apply_json_patch(
            {"l": {index: 1}}, [{"op": "remove", "path": f"/l/{index}"}]
        ) == {"l": {}}

    def test_indices_out_of_range(self) -> None:
        """An add may target the length; other ops need an existing index."""
        doc = {"l": [1, 2]}
        assert apply_json_patch(doc, [{"op": "add", "path": "/l/2", "value": 3}]) == {
            "l": [1, 2, 3]
        }
        for op in (
            {"op": "add", "path": "/l/3", "value": 1},
            {"op": "remove", "path": "/l/2"},
            {"op": "replace", "path": "/l/2", "value": 1},
            {"op": "test", "path": "/l/2", "value": 1},
            {"op": "move", "from": "/l/2", "path": "/x"},
            {"op": "add", "path": "/l/99999999999999999999", "value": 1},
        ):
            with pytest.raises(PatchError, match="out of range"):
                apply_json_patch(doc, [op])

    @pytest.mark.parametrize(
        "op",
        [
            "not an object",
            ["op", "add"],
            None,
            {"path": "/a", "value": 1},
            {"op": "add", "value": 1},
            {"op": "add", "path": "/a"},
            {"op": "replace", "path": "/a"},
            {"op": "test", "path": "/a"},
            {"op": "move", "path": "/b"},
            {"op": "copy", "path": "/b"},
            {"op": "frobnicate", "path": "/a"},
            {"op": ["add"], "path": "/a", "value": 1},
            {"op": "add", "path": "a", "value": 1},
            {"op": "add", "path": 5, "value": 1},
            {"op": "add", "path": None, "value": 1},
            {"op": "move", "from": "/a", "path": 5},
            {"op": "move", "from": 5, "path": "/b"},
            {"op": "copy", "from": "/a", "path": None},
            {"op": "move", "from": "a", "path": "/b"},
            {"op": "add", "path": "/~2", "value": 1},
            {"op": "remove", "path": "/missing"},
            {"op": "replace", "path": "/missing", "value": 1},
            {"op": "test", "path": "/missing", "value": 1},
            {"op": "copy", "from": "/missing", "path": "/b"},
            {"op": "add", "path": "/a/b", "value": 1},
            {"op": "add", "path": "/missing/b", "value": 1},
        ],
    )
    def test_malformed_operations_raise_patch_error(self, op: Any) -> None:
        """Anything malformed or not applying is a PatchError, which is a ValueError."""
        doc = {"a": 1}
        with pytest.raises(PatchError) as info:
            apply_json_patch(doc, [{"op": "test", "path": "/a", "value": 1}, op])
        assert isinstance(info.value, ValueError)
        assert doc == {"a": 1}

    def test_move_into_its_own_child_is_refused(self) -> None:
        """A location cannot be moved into one of its children (RFC 6902 4.4)."""
        doc = {"a": {"b": {"c": 1}}}
        for target in ("/a/b/c/d", "/a/b/x"):
            with pytest.raises(PatchError, match="own child"):
                apply_json_patch(doc, [{"op": "move", "from": "/a", "path": target}])
        with pytest.raises(PatchError, match="own child"):
            apply_json_patch(doc, [{"op": "move", "from": "", "path": "/x"}])
        moved = apply_json_patch(doc, [{"op": "move", "from": "/a/b", "path": "/ab"}])
        assert moved == {"a": {}, "ab": {"c": 1}}
        same = apply_json_patch(doc, [{"op": "move", "from": "/a", "path": "/a"}])
        assert same == doc

    def test_failed_test_leaves_the_input_untouched(self) -> None:
        """A failing test raises and changes neither a plain nor a frozen input."""
        plain = {"a": [1, 2], "b": {"c": 1}}
        frozen = freeze(plain)
        patch = [
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "remove", "path": "/b/c"},
            {"op": "test", "path": "/a", "value": [1, 2]},
        ]
        for doc in (plain, frozen):
            with pytest.raises(PatchError, match="test failed"):
                apply_json_patch(doc, patch)
        assert plain == {"a": [1, 2], "b": {"c": 1}}
        assert frozen == plain

    def test_test_compares_values(self) -> None:
        """test compares numbers by value and containers deeply."""
        doc = {"n": 1, "l": [1, {"a": [2]}]}
        assert (
            apply_json_patch(doc, [{"op": "test", "path": "/n", "value": 1.0}]) == doc
        )
        assert (
            apply_json_patch(
                doc, [{"op": "test", "path": "/l", "value": [1, {"a": [2]}]}]
            )
            == doc
        )
        with pytest.raises(PatchError, match="test failed"):
            apply_json_patch(
                doc, [{"op": "test", "path": "/l", "value": [1, {"a": [3]}]}]
            )

    @pytest.mark.parametrize(
        ("actual", "value"),
        [(True, 1), (1, True), (0, False), (None, False), (None, 0), ([1], [True]),
         ({"a": False}, {"a": 0}), ([[1, True]], [[1, 1]]), ("1", 1)],
    )  # fmt: skip
    def test_test_tells_json_types_apart(self, actual: Any, value: Any) -> None:
        """true, false and null equal only themselves, nested too (RFC 6902 4.6)."""
        doc = {"a": actual}
        op = {"op": "test", "path": "/a", "value": value}
        with pytest.raises(PatchError, match="test failed"):
            apply_json_patch(doc, [op])
        with pytest.raises(jsonpatch.JsonPatchTestFailed):
            jsonpatch.apply_patch(doc, [op])

    def test_copy_shares_the_frozen_value(self) -> None:
        """A copied subtree is the same frozen object in both places."""
        result = apply_json_patch(
            {"a": {"b": [1]}}, [{"op": "copy", "from": "/a", "path": "/c"}]
        )
        assert result["c"] is result["a"]

    def test_pointers_are_applied_to_strings_only_in_dicts(self) -> None:
        """A numeric-looking step is a key in a dict and an index in a list."""
        doc = {"0": "key", "l": ["item"]}
        assert apply_json_patch(doc, [{"op": "remove", "path": "/0"}]) == {
            "l": ["item"]
        }
        assert apply_json_patch(doc, [{"op": "remove", "path": "/l/0"}]) == {
            "0": "key",
            "l": [],
        }

    def test_plain_errors_from_paths_become_patch_errors(self) -> None:
        """A PathError inside applying is reported as a PatchError, chained."""
        with pytest.raises(PatchError) as info:
            apply_json_patch({"a": 1}, [{"op": "remove", "path": "/b"}])
        assert isinstance(info.value.__cause__, PathError)


class TestDepth:
    def test_too_deep_values_raise_value_error(self) -> None:
        """10,000 levels: ValueError from diff, JSON Patch and applying changes."""
        deep: list[Any] = []
        for _ in range(10_000):
            deep = [deep]
        frozen_deep: FrozenList[Any] = FrozenList()
        other: FrozenList[Any] = FrozenList([1])
        for _ in range(10_000):
            frozen_deep = FrozenList([frozen_deep])
            other = FrozenList([other])
        actions = [
            lambda: diff(deep, []),
            lambda: diff([], deep),
            lambda: diff(frozen_deep, other),
            lambda: diff_values(frozen_deep, other),
            lambda: to_json_patch([Change(("a",), MISSING, frozen_deep)]),
            lambda: apply_json_patch({}, [{"op": "add", "path": "/a", "value": deep}]),
            lambda: apply_changes({}, [Change(("a",), MISSING, deep)]),
        ]
        for action in actions:
            with pytest.raises(ValueError, match="nested too deeply"):
                action()

    def test_deep_paths_diff_where_they_differ(self) -> None:
        """Two versions of a 10,000-deep tree: ValueError, not RecursionError."""
        path = ("a",) * 10_000
        a = set_in(freeze({}), path, 1)
        b = set_in(a, path, 2)
        with pytest.raises(ValueError, match="nested too deeply"):
            diff(a, b)
        assert diff(a, a) == []
        assert diff({"x": a}, {"x": a, "y": 1}) == [Change(("y",), MISSING, 1)]
