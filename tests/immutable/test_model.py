"""Random update() sequences against a plain dict, list or set model.

Each example runs a few update() blocks, each a few writes at random places in the
tree (dicts, lists and sets at any depth), on the immutable and on a plain copy.
Some writes go through the container's ``.data`` (``__data__`` for a set) instead
of the container itself. After every block the new version, and its ``.data``, must
equal the model, and every older version must still equal the model as it was then.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from statetrail.immutable import ImmutableDict, ImmutableList, ImmutableSet, update
from tests.strategies import json_trees

small_keys = st.sampled_from(["a", "b", "c", "d", ""])
members = st.integers(min_value=0, max_value=12)
values = st.one_of(json_trees, st.sets(members, max_size=4))


def _containers(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of every dict, list and set in a plain tree."""
    found = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, (dict, list, set)):
                found.extend(_containers(value, (*path, key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            if isinstance(value, (dict, list, set)):
                found.extend(_containers(value, (*path, i)))
    return found


def _at(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def _write(data: st.DataObject, target: Any) -> tuple[str, tuple[Any, ...]]:
    """Draw one write that applies to ``target`` (a plain dict, list or set)."""
    if isinstance(target, dict):
        name = data.draw(
            st.sampled_from(["set", "del", "pop", "setdefault", "update", "clear"])
        )
        key = data.draw(small_keys)
        if name in ("del", "pop") and key not in target:
            name = "set"
        if name in ("set", "setdefault", "update"):
            return name, (key, data.draw(values))
        return name, (key,)
    if isinstance(target, list):
        names = ["append", "insert", "extend", "iadd", "reverse", "clear"]
        if target:
            names += ["setitem", "delitem", "pop"]
        name = data.draw(st.sampled_from(names))
        if name in ("setitem", "delitem", "pop", "insert"):
            bound = max(len(target) - 1, 0)
            index = data.draw(st.integers(min_value=-bound - 1, max_value=bound))
            if name in ("setitem", "insert"):
                return name, (index, data.draw(values))
            return name, (index,)
        if name in ("append", "extend", "iadd"):
            return name, (data.draw(values),)
        return name, ()
    name = data.draw(st.sampled_from(["add", "discard", "ior", "isub", "ixor"]))
    return name, (data.draw(members),)


def _apply(target: Any, name: str, args: tuple[Any, ...]) -> None:
    """Do a drawn write on a plain container or on an immutable one alike."""
    if name == "set" or name == "setitem":
        target[args[0]] = args[1]
    elif name in ("del", "delitem"):
        del target[args[0]]
    elif name == "pop":
        target.pop(args[0])
    elif name == "setdefault":
        target.setdefault(args[0], args[1])
    elif name == "update":
        target.update({args[0]: args[1]})
    elif name == "insert":
        target.insert(args[0], args[1])
    elif name in ("append", "add", "discard"):
        getattr(target, name)(args[-1])
    elif name == "extend":
        target.extend([args[0], copy.deepcopy(args[0])])
    elif name == "iadd":
        target += [args[0]]
    elif name == "ior":
        target |= {args[0]}
    elif name == "isub":
        target -= {args[0]}
    elif name == "ixor":
        target ^= {args[0]}
    else:
        getattr(target, name)()


def _storage(container: Any) -> Any:
    """A container's plain dict, list or set: ``.data``, or a set's ``__data__``."""
    if isinstance(container, ImmutableSet):
        return container.__data__
    return container.data


def _run(data: st.DataObject, plain: Any, cls: type) -> None:
    versions = [(cls(plain), copy.deepcopy(plain))]
    for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
        current, _ = versions[-1]
        with update(current) as new:
            for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
                path = data.draw(st.sampled_from(_containers(plain)))
                name, args = _write(data, _at(plain, path))
                _apply(_at(plain, path), name, copy.deepcopy(args))
                target = _at(new, path)
                if data.draw(st.booleans()):
                    target = _storage(target)
                _apply(target, name, args)
                assert _at(new, path) == _at(plain, path)
        versions.append((new, copy.deepcopy(plain)))
        assert new == plain
        for version, expected in versions:
            assert version == expected
            assert _storage(version) == expected


class TestRandomUpdates:
    """update() sequences match a plain model and never alter older versions."""

    @given(st.data(), st.dictionaries(small_keys, values, max_size=4))
    def test_dict(self, data: st.DataObject, initial: dict[str, Any]) -> None:
        """An ImmutableDict behaves as a dict, version after version."""
        _run(data, initial, ImmutableDict)

    @given(st.data(), st.lists(values, max_size=4))
    def test_list(self, data: st.DataObject, initial: list[Any]) -> None:
        """An ImmutableList behaves as a list, version after version."""
        _run(data, initial, ImmutableList)

    @given(st.data(), st.sets(members, max_size=6))
    def test_set(self, data: st.DataObject, initial: set[int]) -> None:
        """An ImmutableSet behaves as a set, version after version."""
        _run(data, initial, ImmutableSet)
