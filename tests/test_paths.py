"""Dot-paths and tuple paths into frozen trees, against a plain-dict oracle."""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statetrail.errors import PathError, StatetrailError
from statetrail.frozen import FrozenDict, FrozenList, freeze, thaw
from statetrail.paths import (
    delete_in,
    format_path,
    get_in,
    insert_in,
    is_prefix,
    lookup_in,
    parse_path,
    set_in,
)
from tests.conftest import scaled
from tests.strategies import scalars, trees


class Box:
    """A mutable object of a type statetrail does not know, with attributes."""

    def __init__(self) -> None:
        self.secret = "attribute, never a key"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box)

    __hash__ = None  # type: ignore[assignment]


NFC = unicodedata.normalize("NFC", "é")
NFD = unicodedata.normalize("NFD", "é")

#: Steps a hostile caller might use (RELIABILITY.md S5), and the keys the trees use.
HOSTILE_STEPS = [
    "", ".", "a", "b", "0", "1", "-1", "01", "1" * 20, " a", " 1", "+1", "1_0", "٣",
    "²", "\uff11", "__class__", "__init__", "__globals__", "__dict__", "secret",
    "keys", "items", NFC, NFD, "-", "a.b",
]  # fmt: skip
tree_keys = st.sampled_from(["a", "b", "0", "01", "__class__", NFC, NFD, " a", ""])
hostile_trees = trees(scalars, tree_keys, max_leaves=20)
steps = st.one_of(
    st.sampled_from(HOSTILE_STEPS),
    st.integers(-3, 4),
    st.booleans(),
    st.text(max_size=3),
)


class Nowhere(Exception):
    """The oracle's way of saying a path leads nowhere."""


def oracle_index(node: list[Any], step: Any, *, end_ok: bool = False) -> int:
    """The documented list-index rule: ASCII digits, or an int counting from 0 or -1."""
    if isinstance(step, str) and step and all("0" <= c <= "9" for c in step):
        index = int(step)
    elif type(step) is int:
        index = step + len(node) if step < 0 else step
    else:
        raise Nowhere
    if not 0 <= index < len(node) + end_ok:
        raise Nowhere
    return index


def oracle_child(node: Any, step: Any) -> tuple[Any, Any]:
    if isinstance(node, dict):
        try:
            if step in node:
                return step, node[step]
        except TypeError:
            pass
        raise Nowhere
    if isinstance(node, list):
        index = oracle_index(node, step)
        return index, node[index]
    raise Nowhere


def oracle_get(tree: Any, path: tuple[Any, ...]) -> Any:
    node = tree
    for step in path:
        _, node = oracle_child(node, step)
    return node


def oracle_set(tree: Any, path: tuple[Any, ...], value: Any, create: bool) -> Any:
    if not path:
        return value
    root = copy.deepcopy(tree)
    node = root
    for step in path[:-1]:
        if isinstance(node, dict) and create:
            try:
                node = node.setdefault(step, {})
            except TypeError:
                raise Nowhere from None
        else:
            _, node = oracle_child(node, step)
    last = path[-1]
    if isinstance(node, list):
        node[oracle_index(node, last)] = value
    elif isinstance(node, dict):
        try:
            if not create and last not in node:
                raise Nowhere
            node[last] = value
        except TypeError:
            raise Nowhere from None
    else:
        raise Nowhere
    return root


def outcome(action: Any) -> tuple[str, Any]:
    try:
        return ("ok", action())
    except (PathError, Nowhere):
        return ("nowhere", None)


def existing_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in a plain tree (list steps as ints)."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += existing_paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += existing_paths(v, (*prefix, i))
    return out


class TestParsePath:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("", ()),
            ("a", ("a",)),
            ("job.bins.0", ("job", "bins", "0")),
            (" a", (" a",)),
            ("a. b", ("a", " b")),
            ("__class__", ("__class__",)),
            ("-1", ("-1",)),
            (("a.b", 3), ("a.b", 3)),
            (["a", 0], ("a", 0)),
            ((), ()),
            (("",), ("",)),
        ],
    )
    def test_parse(self, path: Any, expected: tuple[Any, ...]) -> None:
        """Dot-strings split on dots; tuples pass through; lists become tuples."""
        assert parse_path(path) == expected

    @pytest.mark.parametrize("path", [".", "a.", ".a", "a..b", "..", "a.b."])
    def test_empty_steps_raise_value_error(self, path: str) -> None:
        """An empty step in a dot-path is refused with ValueError, naming the path."""
        with pytest.raises(ValueError, match="empty step"):
            parse_path(path)

    @pytest.mark.parametrize("path", [5, None, b"a.b", 1.5, {"a": 1}, {"a"}])
    def test_non_string_paths_raise_type_error(self, path: Any) -> None:
        """An int, None, bytes or any other non-path is a TypeError."""
        with pytest.raises(TypeError, match="a path is a dot-string or a tuple"):
            parse_path(path)
        for action in (
            lambda: get_in(freeze({}), path),
            lambda: lookup_in(freeze({}), path),
            lambda: set_in(freeze({}), path, 1),
            lambda: insert_in(freeze({}), path, 1),
            lambda: delete_in(freeze({}), path),
        ):
            with pytest.raises(TypeError):
                action()

    def test_long_paths(self) -> None:
        """10,000 segments and a 1 MB path parse without trouble."""
        n = scaled(10_000)
        assert parse_path(".".join(["a"] * n)) == ("a",) * n
        big = "x" * 1_000_000
        assert parse_path(big) == (big,)
        assert len(parse_path("a." * 300_000 + "a")) == 300_001
        with pytest.raises(ValueError, match="empty step") as info:
            parse_path("a" * 1_000_000 + ".")
        assert len(str(info.value)) < 300, "the message quotes only the start"


class TestFormatAndPrefix:
    def test_format_path(self) -> None:
        """Steps joined with dots; the root is the empty string."""
        assert format_path(("job", "bins", 0)) == "job.bins.0"
        assert format_path(()) == ""
        assert format_path((None, 1.5)) == "None.1.5"

    @given(st.lists(st.text(min_size=1).filter(lambda s: "." not in s), max_size=5))
    def test_format_then_parse_round_trips_for_plain_keys(
        self, keys: list[str]
    ) -> None:
        """Non-empty string keys without dots survive format then parse."""
        assert parse_path(format_path(tuple(keys))) == tuple(keys)

    def test_is_prefix(self) -> None:
        """A path is a prefix of itself and of its descendants only."""
        assert is_prefix((), ("a",))
        assert is_prefix(("a",), ("a",))
        assert is_prefix(("a",), ("a", "b"))
        assert not is_prefix(("a", "b"), ("a",))
        assert not is_prefix(("a",), ("ab",))
        assert not is_prefix(("a", 0), ("a", "0"))


class TestGetIn:
    @given(hostile_trees, st.data())
    def test_every_existing_path_reads_what_the_tree_holds(
        self, tree: Any, data: st.DataObject
    ) -> None:
        """get_in at any path in the tree gives the value there, tuple or dot form."""
        frozen = freeze(tree)
        path = data.draw(st.sampled_from(existing_paths(tree)))
        assert get_in(frozen, path) == oracle_get(tree, path)
        assert lookup_in(frozen, path, "default") == oracle_get(tree, path)
        as_text = tuple(str(s) if type(s) is int else s for s in path)
        if all(isinstance(s, str) and s and "." not in s for s in as_text):
            assert get_in(frozen, ".".join(as_text)) == oracle_get(tree, path)

    @given(hostile_trees, st.lists(steps, max_size=4))
    def test_hostile_paths_match_the_oracle(self, tree: Any, path: list[Any]) -> None:
        """Any path reads what the oracle reads, or raises PathError where it fails."""
        frozen = freeze(tree)
        expected = outcome(lambda: oracle_get(tree, tuple(path)))
        assert outcome(lambda: get_in(frozen, tuple(path))) == expected
        assert lookup_in(frozen, tuple(path), Nowhere) == (
            expected[1] if expected[0] == "ok" else Nowhere
        )

    @given(hostile_trees, st.lists(st.sampled_from(HOSTILE_STEPS), max_size=4))
    def test_hostile_dot_paths_match_the_oracle(
        self, tree: Any, path: list[str]
    ) -> None:
        """A dot-string reads what its steps read; empty steps raise ValueError."""
        frozen = freeze(tree)
        text = ".".join(path)
        parts = tuple(text.split(".")) if text else ()
        if "" in parts:
            with pytest.raises(ValueError, match="empty step"):
                get_in(frozen, text)
            return
        expected = outcome(lambda: oracle_get(tree, parts))
        assert outcome(lambda: get_in(frozen, text)) == expected

    def test_missing_keys_and_bad_steps_raise_path_error(self) -> None:
        """A missing key, a bad index or a step into a scalar is a PathError."""
        tree = freeze({"a": {"b": [10, 20]}, "n": 1, "s": "text", "t": (1, 2)})
        for path in (
            "x", "a.x", "a.b.2", "a.b.-1", "a.b.x", "a.b. 1", "a.b.+1", "a.b.1_0",
            "a.b.٣", "a.b.\uff11", "n.x", "s.0", "t.0", ("a", "b", 2), ("a", "b", -3),
            ("a", "b", 1.0), ("a", "b", None), ("a", "b", True),
        ):  # fmt: skip
            with pytest.raises(PathError):
                get_in(tree, path)
            assert lookup_in(tree, path) is None
            assert lookup_in(tree, path, "d") == "d"

    def test_path_error_is_a_lookup_error(self) -> None:
        """PathError is a LookupError and a StatetrailError, with the path in it."""
        with pytest.raises(LookupError) as info:
            get_in(freeze({"a": {}}), "a.missing")
        assert isinstance(info.value, StatetrailError)
        assert "a.missing" in str(info.value)

    def test_list_index_rules(self) -> None:
        """ASCII digits index a list (leading zeros too); ints may be negative."""
        tree = freeze({"l": [10, 20, 30]})
        assert get_in(tree, "l.0") == 10
        assert get_in(tree, "l.2") == 30
        assert get_in(tree, "l.01") == 20
        assert get_in(tree, ("l", -1)) == 30
        assert get_in(tree, ("l", "2")) == 30
        with pytest.raises(PathError, match="out of range"):
            get_in(tree, "l." + "9" * 20)

    def test_attribute_names_are_just_missing_keys(self) -> None:
        """__class__ and friends are keys, never attributes (S5)."""
        tree = freeze({"a": {"x": 1}, "box": Box(), "s": "str", "l": [1]})
        for path in (
            "__class__",
            "a.__class__",
            "a.__class__.__init__.__globals__",
            "a.keys",
            "a.items",
            "s.__class__",
            "s.upper",
            "l.__class__",
            "l.append",
            "box.secret",
            "box.__dict__",
            "a.x.__class__",
        ):
            with pytest.raises(PathError):
                get_in(tree, path)
            assert lookup_in(tree, path, "missing") == "missing"
        with_key = freeze({"__class__": {"__init__": "a real key"}})
        assert get_in(with_key, "__class__.__init__") == "a real key"

    def test_nfc_and_nfd_keys_are_distinct(self) -> None:
        """Keys are compared as given: NFC and NFD spellings are different keys."""
        tree = freeze({NFC: "composed", NFD: "decomposed"})
        assert get_in(tree, NFC) == "composed"
        assert get_in(tree, NFD) == "decomposed"
        assert lookup_in(freeze({NFC: 1}), NFD) is None

    def test_unhashable_steps_raise_path_error(self) -> None:
        """An unhashable key in a tuple path is a PathError wherever it is used."""
        tree = freeze({"a": {"b": 1}})
        path = ("a", ["x"])
        for action in (
            lambda: get_in(tree, path),
            lambda: set_in(tree, path, 1),
            lambda: set_in(tree, path, 1, create=False),
            lambda: insert_in(tree, path, 1),
            lambda: delete_in(tree, path),
            lambda: set_in(tree, (["x"], "b"), 1),
        ):
            with pytest.raises(PathError, match="unhashable"):
                action()
        assert lookup_in(tree, path, "d") == "d"

    def test_opaque_values_are_read_as_copies(self) -> None:
        """A value of an unknown type is handed out as a fresh copy."""
        tree = freeze({"box": Box()})
        got = get_in(tree, "box")
        assert type(got) is Box
        got.secret = "changed"
        assert get_in(tree, "box").secret == "attribute, never a key"


class TestSetIn:
    @given(hostile_trees, st.lists(steps, max_size=4), st.booleans(), scalars)
    def test_set_in_matches_the_oracle(
        self, tree: Any, path: list[Any], create: bool, value: Any
    ) -> None:
        """set_in writes where the oracle writes, or raises PathError where it fails."""
        frozen = freeze(tree)
        before = copy.deepcopy(tree)
        expected = outcome(lambda: oracle_set(tree, tuple(path), value, create))
        got = outcome(lambda: set_in(frozen, tuple(path), value, create=create))
        assert got[0] == expected[0]
        if got[0] == "ok":
            assert got[1] == expected[1]
            assert thaw(got[1]) == expected[1]
        assert frozen == before, "the original tree changed"
        assert tree == before, "the plain input changed"

    @given(hostile_trees, st.data(), scalars)
    def test_set_at_an_existing_path(
        self, tree: Any, data: st.DataObject, value: Any
    ) -> None:
        """Setting any existing path changes just that value; get_in reads it back."""
        frozen = freeze(tree)
        path = data.draw(st.sampled_from(existing_paths(tree)))
        new = set_in(frozen, path, value, create=False)
        assert get_in(new, path) == value
        assert new == oracle_set(tree, path, value, create=False)
        assert set_in(frozen, path, get_in(frozen, path)) is frozen or path == ()

    def test_missing_keys_are_created_as_dicts(self) -> None:
        """With create (the default), missing keys on the way become dicts."""
        assert set_in(freeze({}), "a.b.c", 1) == {"a": {"b": {"c": 1}}}
        assert set_in(freeze({"a": {"x": 0}}), "a.b.c", 1) == {
            "a": {"x": 0, "b": {"c": 1}}
        }

    def test_create_false_refuses_missing_keys(self) -> None:
        """With create=False a missing key, on the way or at the end, is a PathError."""
        tree = freeze({"a": {"b": 1}})
        with pytest.raises(PathError):
            set_in(tree, "a.c", 2, create=False)
        with pytest.raises(PathError):
            set_in(tree, "x.c", 2, create=False)
        assert set_in(tree, "a.b", 2, create=False) == {"a": {"b": 2}}

    def test_list_indices_must_exist(self) -> None:
        """set_in never grows a list: the index must be there."""
        tree = freeze({"l": [1, 2]})
        assert set_in(tree, "l.1", 9) == {"l": [1, 9]}
        assert set_in(tree, ("l", -1), 9) == {"l": [1, 9]}
        for path in ("l.2", "l.-1", ("l", 2), ("l", -3), "l.x"):
            with pytest.raises(PathError):
                set_in(tree, path, 9)

    def test_steps_into_scalars_raise_path_error(self) -> None:
        """A step into a scalar or an opaque object is a PathError."""
        tree = freeze({"n": 1, "box": Box()})
        for path in ("n.x", "n.x.y", "box.secret"):
            with pytest.raises(PathError, match="cannot step into"):
                set_in(tree, path, 1)

    def test_root_path_replaces_the_value(self) -> None:
        """The empty path is the whole value, frozen."""
        assert set_in(freeze({"a": 1}), "", [1]) == [1]
        assert type(set_in(freeze({"a": 1}), (), [1])) is FrozenList

    def test_only_the_written_path_is_copied(self) -> None:
        """Everything off the path is shared with the original tree."""
        tree = freeze({"a": {"b": {"c": 1}, "d": [1]}, "e": {"f": 2}})
        new = set_in(tree, "a.b.c", 2)
        assert new["e"] is tree["e"]
        assert new["a"]["d"] is tree["a"]["d"]
        assert set_in(tree, "a.b.c", 1) is tree

    def test_plain_trees_are_frozen_and_left_alone(self) -> None:
        """A plain tree is frozen first; the input is not modified."""
        plain = {"a": [1, {"b": 2}]}
        new = set_in(plain, "a.1.b", 3)
        assert type(new) is FrozenDict
        assert new == {"a": [1, {"b": 3}]}
        assert plain == {"a": [1, {"b": 2}]}


class TestInsertAndDelete:
    def test_insert_into_lists(self) -> None:
        """insert_in inserts before an index; the length appends."""
        tree = freeze({"l": [1, 2, 3]})
        assert insert_in(tree, "l.0", 0) == {"l": [0, 1, 2, 3]}
        assert insert_in(tree, "l.1", "x") == {"l": [1, "x", 2, 3]}
        assert insert_in(tree, "l.3", 4) == {"l": [1, 2, 3, 4]}
        assert insert_in(tree, ("l", -1), "x") == {"l": [1, 2, "x", 3]}
        with pytest.raises(PathError):
            insert_in(tree, "l.4", 5)
        with pytest.raises(PathError):
            insert_in(tree, "l.-1", 5)

    def test_insert_into_dicts_sets_the_key(self) -> None:
        """insert_in on a dict adds or replaces the key; missing parents fail."""
        tree = freeze({"a": {"b": 1}})
        assert insert_in(tree, "a.c", [2]) == {"a": {"b": 1, "c": [2]}}
        assert insert_in(tree, "a.b", 2) == {"a": {"b": 2}}
        assert insert_in(tree, "", 5) == 5
        with pytest.raises(PathError):
            insert_in(tree, "x.y", 1)
        with pytest.raises(PathError, match="cannot step into"):
            insert_in(tree, "a.b.c", 1)

    def test_delete(self) -> None:
        """delete_in removes a key or a list item; nothing there is a PathError."""
        tree = freeze({"a": {"b": 1, "c": 2}, "l": [1, 2, 3]})
        assert delete_in(tree, "a.b") == {"a": {"c": 2}, "l": [1, 2, 3]}
        assert delete_in(tree, "l.0") == {"a": {"b": 1, "c": 2}, "l": [2, 3]}
        assert delete_in(tree, ("l", -1)) == {"a": {"b": 1, "c": 2}, "l": [1, 2]}
        for path in ("a.x", "l.3", "x.y", "a.b.c"):
            with pytest.raises(PathError):
                delete_in(tree, path)
        with pytest.raises(PathError, match="root"):
            delete_in(tree, "")
        assert tree == {"a": {"b": 1, "c": 2}, "l": [1, 2, 3]}

    @given(hostile_trees, st.data())
    def test_delete_then_insert_restores(self, tree: Any, data: st.DataObject) -> None:
        """Deleting an item and inserting it back gives the tree back."""
        paths = [p for p in existing_paths(tree) if p]
        if not paths:
            return
        path = data.draw(st.sampled_from(paths))
        frozen = freeze(tree)
        removed = delete_in(frozen, path)
        assert lookup_in(removed, path, Nowhere) is Nowhere or isinstance(path[-1], int)
        assert insert_in(removed, path, get_in(frozen, path)) == frozen


class TestLongPaths:
    def test_ten_thousand_segments(self) -> None:
        """set_in builds 10,000 nested dicts; every path function walks them."""
        n = scaled(10_000)
        path = ("a",) * n
        deep = set_in(freeze({}), path, 1)
        assert get_in(deep, path) == 1
        assert get_in(deep, ".".join(path)) == 1
        assert lookup_in(deep, (*path, "b")) is None
        assert lookup_in(deep, (*path[:-1], "x")) is None
        assert get_in(set_in(deep, path, 2), path) == 2
        assert get_in(set_in(deep, path, 1), path) == 1
        assert get_in(insert_in(deep, (*path[:-1], "b"), 3), (*path[:-1], "b")) == 3
        assert lookup_in(delete_in(deep, path), path) is None
        with pytest.raises(PathError):
            set_in(freeze({}), path, 1, create=False)

    def test_a_one_megabyte_path(self) -> None:
        """A 1 MB single-step path and a 1 MB dotted path are handled."""
        key = "k" * 1_000_000
        tree = set_in(freeze({}), key, 1)
        assert get_in(tree, key) == 1
        dotted = ".".join(["ab"] * 333_333)
        assert lookup_in(tree, dotted) is None
        with pytest.raises(PathError) as info:
            get_in(freeze({"ab": 1}), dotted)
        assert "cannot step into" in str(info.value)
