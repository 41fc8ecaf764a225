"""The store's value rules: string keys, freezing, and the changes of a path write.

The store's path rules themselves (missing vs ``None``, ``False`` instead of
raising, the depth limit) are :data:`statetrail.paths.STORE`; this module keeps
what is the store's own: a state is JSON, so its dict keys are strings
(:func:`check_keys`, :func:`freeze_checked`); a malformed path is refused with a
warning (:func:`split_or_warn`); and a path write tells the engine the changes
it made when they are plain to see (:func:`assoc_change`,
:func:`replace_change`), which spares a diff.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from statetrail._change import Change
from statetrail._log import get_logger
from statetrail.diff import same_value
from statetrail.errors import NestingError
from statetrail.frozen import MISSING, FrozenDict, FrozenList, FrozenSet
from statetrail.frozen._dict import dict_items, dict_small_keys, dict_small_vals
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._list import list_items
from statetrail.frozen._native import speedups as _speedups
from statetrail.paths import STORE, replace_existing, set_traced, split_store

__all__ = [
    "assoc_change",
    "check_keys",
    "freeze_checked",
    "replace_change",
    "replace_changes",
    "split_or_warn",
]

logger = get_logger("statetrail.store")

_LEAVES = frozenset({str, int, float, bool, type(None), bytes})


def split_or_warn(path: str, verb: str) -> tuple[str, ...] | None:
    """The segments of ``path``, or ``None`` (with a warning) when it is malformed.

    For writes, which refuse a malformed path by returning ``False``; a set at
    a path too deep raises :class:`~statetrail.NestingError`, the one error of
    every write that would nest too deeply. A path that is not a string raises
    :class:`TypeError`.
    """
    try:
        return split_store(path)  # TypeError for a path that is not a str
    except NestingError:
        if verb == "set":
            raise
        logger.warning("cannot %s %r: too many segments", verb, path[:80])
        return None
    except ValueError as exc:
        logger.warning("cannot %s %r: %s", verb, path, exc)
        return None


def assoc_change(
    root: Any, steps: tuple[str, ...], value: Any
) -> tuple[Any, tuple[Change, ...] | None]:
    """``value`` (frozen) set at ``steps``, and the changes when they are plain to see.

    Setting a leaf that exists or adding a key is one change (or none, when the
    value is the same); the changes are ``None`` when a diff must work them out
    (a container replaced by one of its kind, dicts made on the way). Raises
    :class:`~statetrail.paths.Refused` when the write cannot apply.
    """
    new_root, path, old = set_traced(root, steps, value, STORE)
    if path is None:
        return new_root, None
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

    The walk is :func:`statetrail.paths.replace_existing` (a key that is there,
    dicts all the way down). Without ``tell`` the changes are not worked out
    (``None``), for a timeline that keeps nothing by them (no path index,
    journal or listeners). ``Store.set`` makes these two calls itself, one
    call fewer per write.
    """
    found = replace_existing(root, steps, value)
    if found is None:
        return None
    return found[0], replace_changes(steps, found[1], value) if tell else None


def replace_changes(
    steps: tuple[str, ...], old: Any, value: Any
) -> tuple[Change, ...] | None:
    """The changes of :func:`replace_existing` putting ``value`` where ``old`` was.

    ``None`` for a container replaced by one of its kind (a diff works them out),
    ``()`` for the same value, else the one change.
    """
    told = type(old)
    if told is type(value) and (told is FrozenDict or told is FrozenList):
        return None
    if same_value(old, value):
        return ()
    # The engine's path is the keys, which are the steps themselves.
    return (Change(steps, old, value),)


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
            keys = dict_small_keys(node)
            if keys is not None:
                # The small form, the most common dict of a state: its keys
                # tuple, and only the values that are not scalars pushed.
                for key in keys:
                    if type(key) is not str:
                        raise _not_a_string(key)
                stack += [v for v in dict_small_vals(node) if type(v) not in _LEAVES]
                continue
            items: Iterator[tuple[Any, Any]] = dict_items(node)
        elif isinstance(node, Mapping):
            items = iter(node.items())
        else:
            if t is FrozenList:
                stack.extend(list_items(node))
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
