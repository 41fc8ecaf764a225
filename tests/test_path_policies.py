"""The one path module against the walks it replaced, policy by policy (issue 11).

statetrail.paths under ENGINE, STORE and POINTER must do what paths.py,
_store_paths.py and diff._resolve did before they became one module: the same
value, the same tree (the very same object where nothing changed), or a failure
where the old walk failed. tests/paths_before_engine.py and
tests/paths_before_store.py keep the old walks verbatim as the reference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tests.paths_before_engine as old_engine
import tests.paths_before_store as old_store
from statetrail import _store_values
from statetrail.errors import PatchError, PathError
from statetrail.frozen import freeze
from statetrail.paths import (
    ENGINE,
    POINTER,
    STORE,
    Refused,
    delete_at,
    delete_in,
    get_at,
    get_in,
    get_nested_value,
    insert_in,
    lookup_in,
    resolve,
    set_frozen,
    set_in,
    set_nested_value,
    spellings,
)
from tests.conftest import scaled
from tests.strategies import scalars

#: Keys the trees use, and so the steps that often lead somewhere: digit strings
#: are keys in a dict and indices in a list.
KEYS = ["a", "b", "0", "1", "01", "2", "-", "__class__"]
leaves = st.one_of(st.none(), scalars, st.just(None))
plain_trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    ),
    max_leaves=12,
)
#: The store's trees: a dict at the top.
store_trees = st.dictionaries(st.sampled_from(KEYS), plain_trees, max_size=4)
dot_steps = st.sampled_from([*KEYS, "3", "99999999999999999999", "x"])
engine_steps = st.one_of(
    dot_steps, st.integers(-3, 3), st.booleans(), st.just(()), st.just(1.5)
)
engine_paths = st.lists(engine_steps, max_size=4).map(tuple)
store_paths = st.one_of(
    st.lists(dot_steps, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["", "a..b", ".a", "a.", "a." * 80 + "a"]),
)
values = st.one_of(scalars, plain_trees)


def outcome(action: Callable[[], Any]) -> tuple[str, Any]:
    """What an action did: ("ok", value) or ("failed", the kind of error).

    The old store raised a bare ``Refused`` (an Exception) and the old JSON
    Pointer walk a PatchError; the one module raises PathError subclasses. Any
    of them is a refusal; anything else (a TypeError, a ValueError) is kept by
    type.
    """
    try:
        return "ok", action()
    except (PathError, PatchError, old_store.Refused):
        return "failed", "refused"
    except (TypeError, ValueError) as exc:
        return "failed", type(exc)


def assert_same(before: tuple[str, Any], after: tuple[str, Any], tree: Any) -> None:
    """The same outcome: equal values of the same types, the same identity."""
    assert before[0] == after[0], (before, after)
    if before[0] == "failed":
        assert before[1] == after[1], (before, after)
        return
    old, new = before[1], after[1]
    assert repr(old) == repr(new)  # types and order too, not only ==
    assert (old is tree) == (new is tree)


class TestEngine:
    """ENGINE, the default, is the old paths.py."""

    @given(tree=plain_trees, path=engine_paths)
    @settings(max_examples=scaled(300), deadline=None)
    def test_reads(self, tree: Any, path: tuple[Any, ...]) -> None:
        frozen = freeze(tree)
        for new, old in (
            (get_in, old_engine.get_in),
            (lookup_in, old_engine.lookup_in),
        ):
            assert_same(
                outcome(lambda o=old: o(frozen, path)),  # type: ignore[misc]
                outcome(lambda n=new: n(frozen, path)),  # type: ignore[misc]
                frozen,
            )

    @given(tree=plain_trees, path=engine_paths, value=values, create=st.booleans())
    @settings(max_examples=scaled(300), deadline=None)
    @example(tree={"a": None}, path=("a", "b"), value=1, create=True)
    @example(tree={"a": [1]}, path=("a", 5), value=1, create=True)
    @example(tree={"a": [1]}, path=("a", ()), value=1, create=True)
    def test_writes(
        self, tree: Any, path: tuple[Any, ...], value: Any, create: bool
    ) -> None:
        frozen = freeze(tree)
        same = get_in(frozen, path) if _leads(frozen, path) else value
        for new, old in (
            (
                lambda: set_in(frozen, path, value, create=create),
                lambda: old_engine.set_in(frozen, path, value, create=create),
            ),
            (
                lambda: set_in(frozen, path, same),
                lambda: old_engine.set_in(frozen, path, same),
            ),
            (
                lambda: insert_in(frozen, path, value),
                lambda: old_engine.insert_in(frozen, path, value),
            ),
            (
                lambda: delete_in(frozen, path),
                lambda: old_engine.delete_in(frozen, path),
            ),
        ):
            assert_same(outcome(old), outcome(new), frozen)


def _leads(tree: Any, path: tuple[Any, ...]) -> bool:
    try:
        get_in(tree, path)
    except (PathError, TypeError):
        return False
    return True


class TestStore:
    """STORE is the old _store_paths.py: None as missing, no raising, a depth limit."""

    @given(tree=store_trees, path=store_paths)
    @settings(max_examples=scaled(300), deadline=None)
    @example(tree={"a": None}, path="a.b")
    @example(tree={"a": [None]}, path="a.0.b")
    def test_reads(self, tree: dict[str, Any], path: str) -> None:
        frozen = freeze(tree)
        assert_same(
            outcome(lambda: old_store.lookup(frozen, old_store.split_path(path))),
            outcome(lambda: get_in(frozen, path, STORE)),
            frozen,
        )
        assert get_nested_value(path, tree) == old_store.get_nested_value(path, tree)

    @given(tree=store_trees, path=store_paths, value=values)
    @settings(max_examples=scaled(300), deadline=None)
    @example(tree={"a": None}, path="a.b", value=1)
    @example(tree={"a": [None]}, path="a.0.b", value=1)
    @example(tree={"a": [0]}, path="a.0.b", value=1)
    @example(tree={"a": {"b": None}}, path="a.b.c", value=None)
    def test_writes(self, tree: dict[str, Any], path: str, value: Any) -> None:
        frozen = freeze(tree)
        try:
            steps = old_store.split_path(path)
        except ValueError:
            assert outcome(lambda: set_in(frozen, path, value, policy=STORE)) == (
                outcome(lambda: old_store.split_path(path))
            )
            return
        v = freeze(value)
        pairs: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
            (
                lambda: old_store.assoc(frozen, steps, v),
                lambda: set_frozen(frozen, steps, v, True, STORE),
            ),
            (
                lambda: old_store.dissoc(frozen, steps),
                lambda: delete_at(frozen, steps, STORE),
            ),
            (
                lambda: old_store.assoc_change(frozen, steps, v),
                lambda: _store_values.assoc_change(frozen, steps, v),
            ),
            (
                lambda: old_store.replace_change(frozen, steps, v),
                lambda: _store_values.replace_change(frozen, steps, v),
            ),
        ]
        for old, new in pairs:
            assert_same(outcome(old), outcome(new), frozen)
        before, after = copy.deepcopy(tree), copy.deepcopy(tree)
        assert old_store.set_nested_value(path, value, before) == set_nested_value(
            path, value, after
        )
        assert repr(before) == repr(after)

    @given(tree=store_trees, path=st.lists(dot_steps, min_size=1, max_size=4))
    @settings(max_examples=scaled(300), deadline=None)
    def test_spellings(self, tree: dict[str, Any], path: list[str]) -> None:
        """History and blame look a dot-path up by the same engine spellings."""
        frozen = freeze(tree)
        steps = tuple(path)
        assert spellings(frozen, steps) == old_store.engine_paths(frozen, steps)

    def test_a_refusal_is_a_path_error(self) -> None:
        """What the store refuses is a PathError, never a bare Exception."""
        frozen = freeze({"a": [1], "s": 2})
        for steps in (("a", "5"), ("s", "x"), ("a", "x")):
            with pytest.raises(PathError) as caught:
                set_frozen(frozen, steps, 1, True, STORE)
            assert type(caught.value) is Refused
        assert get_at(frozen, ("s", "x"), STORE) is None


pointer_steps = st.sampled_from([*KEYS, "00", "3", "-", "~", "99999999999999999999"])


class TestPointer:
    """POINTER, for JSON Patch, is the old diff._resolve."""

    @given(
        tree=plain_trees,
        steps=st.lists(pointer_steps, max_size=4),
        for_add=st.booleans(),
    )
    @settings(max_examples=scaled(300), deadline=None)
    @example(tree={"l": [1]}, steps=["l", "-"], for_add=True)
    @example(tree={"l": [1]}, steps=["l", "01"], for_add=False)
    def test_resolve(self, tree: Any, steps: list[str], for_add: bool) -> None:
        frozen = freeze(tree)
        pointer = "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in steps)
        assert_same(
            outcome(lambda: old_engine._resolve(frozen, pointer, for_add=for_add)),
            outcome(lambda: resolve(frozen, tuple(steps), POINTER, for_add=for_add)),
            frozen,
        )


def test_the_policies_differ_where_the_rules_do() -> None:
    """One tree, one path, three answers: what each policy is for."""
    tree = freeze({"a": None, "l": [10, 20]})
    assert get_in(tree, "a") is None  # a stored None is a value
    try:
        get_in(tree, "a.b")
    except PathError:
        pass
    else:
        raise AssertionError("the engine stepped into None")
    assert get_in(tree, "a.b", STORE) is None
    assert set_in(tree, "a.b", 1, policy=STORE)["a"] == {"b": 1}
    assert resolve(tree, ("l", "-"), POINTER, for_add=True) == ("l", 2)
    try:
        resolve(tree, ("l", "-"), ENGINE, for_add=True)
    except PathError:
        pass
    else:
        raise AssertionError("the engine took '-' for an index")


def test_the_package_internal_names_are_the_methods() -> None:
    """dict_raw and the rest cost what node._raw did: they are the very functions.

    The path walks call them once or more per step (paths.get_at, set_frozen),
    so a wrapper around the method would add a call to every step.
    """
    from statetrail.frozen import FrozenDict, FrozenList, _dict, _list

    for name, function in [
        ("_raw", _dict.dict_raw),
        ("_find", _dict.dict_find),
        ("_put", _dict.dict_put),
        ("_set", _dict.dict_set),
        ("_raw_items", _dict.dict_items),
    ]:
        assert getattr(FrozenDict, name) is function
    for name, function in [
        ("_raw", _list.list_raw),
        ("_set", _list.list_set),
        ("_raw_iter", _list.list_items),
    ]:
        assert getattr(FrozenList, name) is function


def test_store_walks_ask_isinstance_of_no_abc() -> None:
    """A Store write through a list, a delete and a read test the exact types first.

    ``isinstance(node, FrozenDict)`` of a FrozenList (or the reverse) is ABCMeta's
    ``__instancecheck__``, a Python call per write; the walks must not reach it
    for the two container classes. Counted with a profile hook (not timed).
    """
    import abc
    import sys

    from statetrail.store import Store

    store = Store({"a": {"bins": [1, 2], "id": 3}, "b": [{"x": 1}]})
    store.set("a.bins.0", 0)  # warm (the first write may look more up)
    seen: list[str] = []

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is abc.ABCMeta.__instancecheck__.__code__:
            back = frame.f_back
            seen.append(f"{back.f_code.co_filename}:{back.f_lineno}" if back else "?")

    sys.setprofile(hook)
    try:
        assert store.set("a.bins.1", 5)
        assert store.set("b.0.x", 2)
        assert store.delete("a.id")
        assert store.delete("b.0.x")
        got = (store.get("b.0"), store.get("a.bins.1"))
    finally:
        sys.setprofile(None)
    assert seen == []
    assert got == ({}, 5)
    assert store.get_state() == {"a": {"bins": [0, 5]}, "b": [{}]}
