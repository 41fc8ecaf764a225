"""The store's path walks as they were before issue 11 made one path module.

Kept verbatim as the reference that tests/test_path_policies.py compares
statetrail.paths (under STORE) and statetrail._store_values with.

The store's dot-path rules, on plain trees and on frozen ones.

A dot-path such as ``"items.0.name"`` names a value in a tree of dicts and lists:

- each segment is a dict key; on a list, a segment of ASCII digits is an index
  (``"01"`` is index 1); nothing else steps into a list;
- reading a path that is missing or leads through anything but a dict or list
  gives ``None``;
- writing creates the missing dicts on the way (a key holding ``None`` counts as
  missing); it fails when a segment cannot be followed or assigned: a list index
  out of range, or a step into a scalar;
- a malformed path (``""``, an empty segment as in ``"a..b"``, ``".a"`` or
  ``"a."``) reads as ``None`` and cannot be written; a path that is not a string
  raises :class:`TypeError`;
- a path of more than :data:`MAX_PATH_DEPTH` (MAX_NESTING) segments reads as
  ``None``; writing at it raises :class:`~statetrail.NestingError`, as a write
  whose path and value together nest deeper than MAX_NESTING does.

Steps only ever subscript containers, never look up attributes, so
``"a.__class__"`` is just a key that is not there.

>>> data = {"job": {"bins": [10, 20]}}
>>> get_nested_value("job.bins.1", data)
20
>>> set_nested_value("job.state.name", "ready", data)
True
>>> data["job"]["state"]
{'name': 'ready'}
>>> set_nested_value("job.bins.5", 0, data), set_nested_value("job.bins.0.x", 0, data)
(False, False)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from statetrail._change import Change
from statetrail._log import get_logger
from statetrail.diff import same_value
from statetrail.errors import NestingError
from statetrail.frozen import MISSING, FrozenDict, FrozenList, FrozenSet
from statetrail.frozen._freeze import MAX_NESTING, freeze_value
from statetrail.frozen._hooks import lazy
from statetrail.frozen._native import speedups as _speedups
from statetrail.frozen._opaque import unbox

__all__ = [
    "MAX_PATH_DEPTH",
    "Refused",
    "assoc",
    "check_keys",
    "dissoc",
    "engine_paths",
    "freeze_checked",
    "get_nested_value",
    "lookup",
    "replace_change",
    "set_nested_value",
    "split_or_warn",
    "split_path",
]

logger = get_logger("statetrail.store")

#: The most segments a dot-path may have: each is a container level, and no
#: value nests deeper than MAX_NESTING levels.
MAX_PATH_DEPTH = MAX_NESTING

# A list index longer than this cannot exist, and int() of a very long digit string
# is slow (and refused past 4,300 digits).
_MAX_INDEX_DIGITS = 18

_LEAVES = frozenset({str, int, float, bool, type(None), bytes})


class Refused(Exception):
    """A write that cannot be applied; the message says why."""


def split_path(path: str) -> tuple[str, ...]:
    """The segments of a dot-path.

    Raises :class:`TypeError` when ``path`` is not a string and :class:`ValueError`
    when it is malformed (empty, an empty segment, too many segments).

    >>> split_path("items.0.name")
    ('items', '0', 'name')
    """
    if type(path) is not str:
        if not isinstance(path, str):
            raise TypeError(f"a dot-path is a string, not {type(path).__name__}")
        path = str(path)
    steps = tuple(path.split("."))
    if "" in steps:
        raise ValueError(f"malformed dot-path {path[:80]!r}: empty segment")
    if len(steps) > MAX_PATH_DEPTH:
        raise NestingError(  # a ValueError
            f"dot-path of {len(steps)} segments: each is a level of nesting, and "
            f"a value nests at most MAX_NESTING ({MAX_PATH_DEPTH}) levels"
        )
    return steps


def split_or_warn(path: str, verb: str) -> tuple[str, ...] | None:
    """The segments of ``path``, or ``None`` (with a warning) when it is malformed.

    For writes, which refuse a malformed path by returning ``False``; a set at
    a path too deep raises :class:`~statetrail.NestingError`, the one error of
    every write that would nest too deeply.
    """
    try:
        return split_path(path)
    except NestingError:
        if verb == "set":
            raise
        logger.warning("cannot %s %r: too many segments", verb, path[:80])
        return None
    except ValueError as exc:
        logger.warning("cannot %s %r: %s", verb, path, exc)
        return None


def _index(step: str, length: int) -> int | None:
    """The list index a segment names, or ``None`` if it names none in range."""
    if step.isascii() and step.isdigit() and len(step) <= _MAX_INDEX_DIGITS:
        i = int(step)
        if i < length:
            return i
    return None


# -- plain trees (the seed's helpers) ---------------------------------------------


def get_nested_value(path: str, data: Any) -> Any:
    """The value at dot-path ``path`` in ``data``, or ``None``.

    ``None`` when a segment is missing, an index is out of range, a step leads
    into a scalar, or the path is malformed.
    """
    try:
        steps = split_path(path)
    except ValueError:
        return None
    node = data
    for step in steps:
        if isinstance(node, Mapping):
            node = node.get(step)
        elif isinstance(node, (list, FrozenList)) or type(node) in lazy:
            # (a lazily loaded list: storage/_lazy.py; its dict is a Mapping)
            i = _index(step, len(node))
            if i is None:
                return None
            node = node[i]
        else:
            return None
        if node is None:
            return None
    return node


def _nest(steps: tuple[str, ...], value: Any) -> Any:
    for step in reversed(steps):
        value = {step: value}
    return value


def set_nested_value(path: str, value: Any, data: Any) -> bool:
    """Set ``value`` at dot-path ``path`` inside ``data``, in place.

    Missing dicts on the way are created. Returns ``False``, leaving ``data`` as it
    was, when the write cannot be applied: a list index out of range, a step into a
    scalar, or a malformed path. ``value`` is stored as it is, not copied.
    """
    steps = split_or_warn(path, "set")
    if steps is None:
        return False
    node = data
    last = len(steps) - 1
    for depth, step in enumerate(steps):
        if isinstance(node, MutableMapping):
            key: Any = step
            child = node.get(step) if depth < last else None
        elif isinstance(node, list):
            key = _index(step, len(node))
            if key is None:
                logger.warning("cannot set %r: no list index %r", path, step)
                return False
            child = node[key] if depth < last else None
        else:
            logger.warning("cannot set %r: %r is not a dict or list", path, step)
            return False
        if depth == last or child is None:
            # Only now is anything changed, so a refused write changes nothing.
            node[key] = _nest(steps[depth + 1 :], value)
            return True
        node = child
    raise AssertionError("unreachable")  # pragma: no cover


# -- frozen trees (the store's state) ---------------------------------------------


def lookup(root: Any, steps: tuple[str, ...]) -> Any:
    """The value at ``steps`` in a frozen tree, or ``None`` (never a copy)."""
    node = root
    for step in steps:
        t = type(node)
        if t is FrozenDict:
            node = node._raw(step, None)
        elif t is FrozenList:
            i = _index(step, len(node))
            if i is None:
                return None
            node = node._raw(i)
        elif t in lazy:  # loaded lazily from storage (storage/_lazy.py)
            if isinstance(node, Mapping):
                node = node._raw(step, None)  # type: ignore[attr-defined]
            else:
                i = _index(step, len(node))
                if i is None:
                    return None
                node = node._raw(i)
        else:
            return None
        if node is None:
            return None
    return unbox(node)


def _frozen_nest(steps: tuple[str, ...], value: Any) -> Any:
    for step in reversed(steps):
        value = FrozenDict._of({step: value})
    return value


def _descend(
    root: Any, steps: tuple[str, ...], *, create: bool
) -> tuple[list[tuple[Any, Any]], Any, int]:
    """Follow ``steps`` as far as they lead.

    Returns the (container, key) pairs on the way, the node reached, and how many
    steps were followed: fewer than all when ``create`` is set and a key is missing
    (or ``None``), whose dicts the caller then creates.
    """
    trail: list[tuple[Any, Any]] = []
    node = root
    for depth, step in enumerate(steps):
        t = type(node)
        if t is FrozenDict:
            key: Any = step
            child = node._raw(step, MISSING)
            if child is MISSING or (create and child is None):
                if create:
                    return trail, node, depth
                raise Refused(f"no key {step!r}")
        elif t is FrozenList:
            key = _index(step, len(node))
            if key is None:
                raise Refused(f"no list index {step!r} (length {len(node)})")
            child = node._raw(key)
            if create and child is None:
                return trail, node, depth
        else:
            raise Refused(f"cannot step into a {_kind(node)} at {step!r}")
        trail.append((node, key))
        node = child
    return trail, node, len(steps)


def _kind(node: Any) -> str:
    return "scalar" if type(node) in _LEAVES else type(unbox(node)).__name__


def _rebuild(trail: list[tuple[Any, Any]], value: Any) -> Any:
    for container, key in reversed(trail):
        value = container._set(key, value)
    return value


def assoc(root: Any, steps: tuple[str, ...], value: Any) -> Any:
    """A new frozen tree with ``value`` (already frozen) at ``steps``.

    Only the path is copied. Raises :class:`Refused` when the write cannot apply.
    """
    trail, node, done = _descend(root, steps[:-1], create=True)
    if done < len(steps) - 1:
        # node is a dict or list whose child at steps[done] is missing or None.
        key = steps[done] if type(node) is FrozenDict else int(steps[done])
        made = _frozen_nest(steps[done + 1 :], value)
        return _rebuild(trail, node._set(key, made))
    last = steps[-1]
    if type(node) is FrozenDict:
        return _rebuild(trail, node._set(last, value))
    if type(node) is FrozenList:
        i = _index(last, len(node))
        if i is None:
            raise Refused(f"no list index {last!r} (length {len(node)})")
        return _rebuild(trail, node._set(i, value))
    raise Refused(f"cannot step into a {_kind(node)} at {last!r}")


def assoc_change(
    root: Any, steps: tuple[str, ...], value: Any
) -> tuple[Any, tuple[Change, ...] | None]:
    """:func:`assoc`, and the changes it makes when they are plain to see.

    Setting a leaf that exists or adding a key is one change (or none, when the
    value is the same); the changes are ``None`` when a diff must work them out
    (a container replaced by one of its kind, dicts made on the way).
    """
    trail, node, done = _descend(root, steps[:-1], create=True)
    if done < len(steps) - 1:
        return assoc(root, steps, value), None
    last = steps[-1]
    t = type(node)
    if t is FrozenDict:
        key: Any = last
        old = node._raw(last, MISSING)
        new_node = node._set(last, value)
    elif t is FrozenList:
        key = _index(last, len(node))
        if key is None:
            raise Refused(f"no list index {last!r} (length {len(node)})")
        old = node._raw(key)
        new_node = node._set(key, value)
    else:
        raise Refused(f"cannot step into a {_kind(node)} at {last!r}")
    new_root = _rebuild(trail, new_node)
    path = (*(k for _, k in trail), key)
    if old is MISSING:
        return new_root, (Change(path, MISSING, value),)
    told = type(old)
    if told is type(value) and (told is FrozenDict or told is FrozenList):
        return new_root, None
    if same_value(old, value):
        return new_root, ()
    return new_root, (Change(path, old, value),)


def replace_change(
    root: Any, steps: tuple[str, ...], value: Any, tell: bool = True
) -> tuple[Any, tuple[Change, ...] | None] | None:
    """:func:`assoc_change` for the usual write, in one walk; ``None`` for the others.

    The usual write replaces the value of a key that is there, in dicts all the
    way down (none of them ``None``). Each dict on the way is read and written at
    the same place (``FrozenDict._find`` and ``_put``), so the path is walked
    once, not once to read and again to copy. Anything else (a list on the way,
    a key to add or dicts to make) gives ``None``: :func:`assoc_change` does it.
    Without ``tell`` the changes are not worked out (``None``), for a timeline
    that keeps nothing by them (no path index, journal or listeners).
    """
    trail: list[Any] = []
    node = root
    for step in steps:
        if type(node) is not FrozenDict:
            return None
        child, place = node._find(step)
        if child is MISSING:
            return None
        trail += (node, place)
        node = child
        if node is None and len(trail) < 2 * len(steps):
            return None  # a None on the way is made a dict: assoc's job
    old = node
    told = type(old)
    changes: tuple[Change, ...] | None
    if not tell or (told is type(value) and (told is FrozenDict or told is FrozenList)):
        changes = None
    elif same_value(old, value):
        changes = ()
    else:
        # The engine's path is the keys, which are the steps themselves.
        changes = (Change(steps, old, value),)
    for j in range(len(trail) - 2, -1, -2):
        value = trail[j]._put(trail[j + 1], value)
    return value, changes


def dissoc(root: Any, steps: tuple[str, ...]) -> Any:
    """A new frozen tree without the key or list item at ``steps``.

    Raises :class:`Refused` when there is nothing there.
    """
    trail, node, _ = _descend(root, steps[:-1], create=False)
    last = steps[-1]
    if type(node) is FrozenDict:
        if last not in node:
            raise Refused(f"no key {last!r}")
        return _rebuild(trail, node.discarded(last))
    if type(node) is FrozenList:
        i = _index(last, len(node))
        if i is None:
            raise Refused(f"no list index {last!r} (length {len(node)})")
        return _rebuild(trail, node.delete(i))
    raise Refused(f"cannot step into a {_kind(node)} at {last!r}")


def check_keys(value: Any) -> None:
    """Raise :class:`TypeError` if any dict inside ``value`` has a non-string key.

    A store's state is JSON: keys ``1`` and ``"1"`` would be one key once saved.
    """
    if type(value) in _LEAVES:
        return
    if _speedups is not None:
        # The same walk compiled (frozen/_native): Store(state) of 100,000
        # entries spent a third of its time here. What it does not walk itself
        # (sets, other mappings, large lists) it hands to _check_walk.
        key = _speedups.first_non_str_key(value, _check_walk)
        if key is not MISSING:
            raise _not_a_string(key)
        return
    _check_walk(value)


def _check_walk(value: Any) -> None:
    """:func:`check_keys` in Python.

    The reference, and what the compiled walk hands the values it does not
    walk itself.
    """
    stack = [value]
    while stack:
        node = stack.pop()
        t = type(node)
        if t in _LEAVES:
            continue
        if t is FrozenDict:
            keys = node._keys
            if keys is not None:
                # The small form, the most common dict of a state: its keys
                # tuple, and only the values that are not scalars pushed.
                for key in keys:
                    if type(key) is not str:
                        raise _not_a_string(key)
                stack += [v for v in node._vals if type(v) not in _LEAVES]
                continue
            items: Iterator[tuple[Any, Any]] = node._raw_items()
        elif isinstance(node, Mapping):
            items = iter(node.items())
        else:
            if t is FrozenList:
                stack.extend(node._raw_iter())
            elif isinstance(node, (list, tuple, set, frozenset, FrozenSet)):
                stack.extend(node)
            continue
        for key, child in items:
            if type(key) is not str:
                raise _not_a_string(key)
            stack.append(child)


def _not_a_string(key: Any) -> TypeError:
    return TypeError(
        f"a store's dict keys are strings (its state is JSON), "
        f"not {type(key).__name__}: {key!r}"
    )


def freeze_checked(value: Any, above: int = 0) -> Any:
    """``value`` frozen for a store's state, its dict keys checked to be strings.

    Raises :class:`TypeError` for another key, and
    :class:`~statetrail.NestingError` (a :class:`ValueError`) for a value that
    contains itself or nests deeper than :data:`~statetrail.frozen.MAX_NESTING`,
    counting the ``above`` levels of the path it is written at.
    """
    # Frozen first: freezing refuses a value that contains itself, which the walk
    # over the keys would follow for ever (issue 9, defect 4).
    frozen = freeze_value(value, above)
    check_keys(frozen)
    return frozen


def engine_paths(root: Any, steps: tuple[str, ...]) -> set[tuple[Any, ...]]:
    """The engine's spellings of a dot-path, for history and blame.

    The engine records list indices as ints and dict keys as strings, so a digit
    segment may be either: the path as it resolves in ``root``, with every digit
    segment a key, and with every digit segment an index.
    """
    digits = [
        s.isascii() and s.isdigit() and len(s) <= _MAX_INDEX_DIGITS for s in steps
    ]
    resolved: list[Any] = []
    node = root
    for step, is_digit in zip(steps, digits, strict=True):
        if type(node) is FrozenList and is_digit:
            key: Any = int(step)
            node = node._raw(key) if key < len(node) else None
        else:
            key = step
            node = node._raw(step, None) if type(node) is FrozenDict else None
        resolved.append(key)
    as_ints = tuple(int(s) if d else s for s, d in zip(steps, digits, strict=True))
    return {tuple(resolved), steps, as_ints}
