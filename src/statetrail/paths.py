"""Paths into frozen trees: parsing, and get, set, insert and delete.

A path is a tuple of keys: each step subscripts a mapping by key or a list by
index. ``()`` is the whole value. Dot-paths are the readable spelling of paths
whose keys are strings: ``"job.bins.0"`` is ``("job", "bins", "0")``, and a step
spelled in ASCII digits indexes a list. Steps only ever subscript frozen
containers, never look up attributes, so a path such as ``"a.__class__"`` is just a
missing key.

>>> from statetrail.frozen import freeze
>>> tree = freeze({"job": {"bins": [10, 20]}})
>>> get_in(tree, "job.bins.1")
20
>>> set_in(tree, "job.sorted", 1)
FrozenDict({'job': FrozenDict({'bins': FrozenList([10, 20]), 'sorted': 1})})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from statetrail.errors import PathError
from statetrail.frozen import MISSING, FrozenDict, FrozenList
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._hooks import lazy
from statetrail.frozen._opaque import Opaque

__all__ = [
    "Path",
    "delete_in",
    "format_path",
    "get_in",
    "insert_in",
    "is_prefix",
    "lookup_in",
    "parse_path",
    "set_frozen",
    "set_in",
]

Path = tuple[Any, ...]
PathLike = str | Sequence[Any]

_EMPTY_DICT: FrozenDict[Any, Any] = FrozenDict()


def parse_path(path: PathLike) -> Path:
    """The tuple form of a dot-path string or a sequence of keys.

    ``""`` is the root, ``()``. Empty steps (``"a..b"``, ``".a"``, ``"a."``) are
    refused with :class:`ValueError`, since no key was meant; to address an empty
    or dotted key, pass a tuple. Anything but a string, tuple or list is a
    :class:`TypeError`.

    >>> parse_path("job.bins.0")
    ('job', 'bins', '0')
    >>> parse_path(("a.b", 3))
    ('a.b', 3)
    """
    if isinstance(path, str):
        if not path:
            return ()
        steps = tuple(path.split("."))
        if "" in steps:
            raise ValueError(
                f"empty step in path {path[:80]!r}; pass a tuple of keys to address "
                "an empty or dotted key"
            )
        return steps
    if isinstance(path, tuple):
        return path
    if isinstance(path, list):
        return tuple(path)
    raise TypeError(
        f"a path is a dot-string or a tuple of keys, not {type(path).__name__}"
    )


def format_path(path: Path) -> str:
    """The dot spelling of a path, for display (``()`` shows as ``""``).

    >>> format_path(("job", "bins", 0))
    'job.bins.0'
    """
    return ".".join(str(step) for step in path)


def is_prefix(prefix: Path, path: Path) -> bool:
    """Whether ``prefix`` is ``path`` or one of its ancestors."""
    return path[: len(prefix)] == prefix


def _index(container: FrozenList[Any], step: Any, path: Path, *, end_ok: bool) -> int:
    if isinstance(step, str):
        if not (step.isascii() and step.isdigit()):
            raise PathError(
                f"{step!r} is not a list index, in path {format_path(path)!r}"
            )
        index = int(step)
    elif isinstance(step, int) and not isinstance(step, bool):
        index = step
    else:
        raise PathError(f"{step!r} is not a list index, in path {format_path(path)!r}")
    n = len(container)
    if index < 0:
        index += n
    if not 0 <= index < n + end_ok:
        raise PathError(
            f"list index {step!r} out of range (length {n}), "
            f"in path {format_path(path)!r}"
        )
    return index


def _child(node: Any, step: Any, path: Path) -> tuple[Any, Any]:
    """The key and the stored child for one step (the child may be MISSING)."""
    if isinstance(node, FrozenDict):
        try:
            return step, node._raw(step)
        except TypeError:
            raise PathError(
                f"unhashable key {step!r}, in path {format_path(path)!r}"
            ) from None
    if isinstance(node, FrozenList):
        index = _index(node, step, path, end_ok=False)
        return index, node._raw(index)
    if type(node) in lazy:  # loaded lazily from storage (storage/_lazy.py)
        if isinstance(node, Sequence):
            index = _index(node, step, path, end_ok=False)  # type: ignore[arg-type]
            return index, node._raw(index)  # type: ignore[attr-defined]
        try:
            return step, node._raw(step)
        except TypeError:
            raise PathError(
                f"unhashable key {step!r}, in path {format_path(path)!r}"
            ) from None
    kind = "an object" if type(node) is Opaque else type(node).__name__
    raise PathError(
        f"cannot step into {kind} at {step!r}, in path {format_path(path)!r}"
    )


def lookup_in(tree: Any, path: PathLike, default: Any = None) -> Any:
    """The value at ``path``, or ``default`` where the path leads nowhere."""
    try:
        return get_in(tree, path)
    except PathError:
        return default


def get_in(tree: Any, path: PathLike) -> Any:
    """The value at ``path``; :class:`~statetrail.PathError` where it leads nowhere."""
    steps = parse_path(path)
    node = tree
    for step in steps:
        _, node = _child(node, step, steps)
        if node is MISSING:
            raise PathError(f"no key {step!r}, in path {format_path(steps)!r}")
    if type(node) is Opaque:
        return node.copy()
    return node


def _descend(
    tree: Any, steps: Path, *, create: bool
) -> tuple[list[tuple[Any, Any]], Any]:
    """Walk to the parent of the last step: the (container, key) pairs on the way."""
    trail: list[tuple[Any, Any]] = []
    node = tree
    for step in steps[:-1]:
        key, child = _child(node, step, steps)
        if child is MISSING:
            if not create:
                raise PathError(f"no key {step!r}, in path {format_path(steps)!r}")
            child = _EMPTY_DICT
        trail.append((node, key))
        node = child
    return trail, node


def _rebuild(trail: list[tuple[Any, Any]], value: Any) -> Any:
    for container, key in reversed(trail):
        value = container._set(key, value)
    return value


def set_in(tree: Any, path: PathLike, value: Any, *, create: bool = True) -> Any:
    """A new tree with ``value`` (frozen) at ``path``; only that path is copied.

    Missing keys on the way become empty dicts when ``create`` is true. A list
    index must exist. Stepping into anything but a dict or list, or a missing
    key with ``create=False``, raises :class:`~statetrail.PathError`. The result
    is ``tree`` itself when ``path`` already holds this very value.
    """
    steps = parse_path(path)
    value = freeze_value(value)
    if not steps:
        return value
    return set_frozen(freeze_value(tree), steps, value, create)


def set_frozen(tree: Any, steps: Path, value: Any, create: bool = True) -> Any:
    """:func:`set_in` for a frozen tree, parsed steps and a frozen value.

    ``steps`` must not be empty. Errors are :func:`set_in`'s.

    One loop down the path, then the changed containers are rebuilt bottom-up;
    the engine's writes come through here, so it avoids per-step calls.
    """
    # (container, key, place): a dict's place (FrozenDict._find) is where its
    # new child goes back in, so the path is walked once, not again to copy.
    trail: list[tuple[Any, Any, Any]] = []
    node = tree
    last = len(steps) - 1
    for i, step in enumerate(steps):
        kind = type(node)
        place = None
        if kind is FrozenDict or (
            kind is not FrozenList and isinstance(node, FrozenDict)
        ):
            if i == last:
                value = _dict_set(node, steps, value, create=create)
                break
            try:
                if kind is FrozenDict:
                    child, place = node._find(step)
                else:  # a subclass writes through its own _set
                    child = node._raw(step)
            except TypeError:
                raise PathError(
                    f"unhashable key {step!r}, in path {format_path(steps)!r}"
                ) from None
            if child is MISSING:
                if not create:
                    raise PathError(f"no key {step!r}, in path {format_path(steps)!r}")
                child = _EMPTY_DICT
        elif kind is FrozenList or isinstance(node, FrozenList):
            step = _index(node, step, steps, end_ok=False)
            if i == last:
                value = node._set(step, value)
                break
            child = node._raw(step)
        else:
            _child(node, step, steps)  # raises the PathError for a non-container
            raise AssertionError("unreachable")  # pragma: no cover
        trail.append((node, step, place))
        node = child
    for container, key, place in reversed(trail):
        if place is None:
            value = container._set(key, value)
        else:
            value = container._put(place, value)
    return value


def insert_in(tree: Any, path: PathLike, value: Any) -> Any:
    """Like :func:`set_in`, but a list index inserts before it (``len`` appends)."""
    steps = parse_path(path)
    if not steps:
        return freeze_value(value)
    tree = freeze_value(tree)
    trail, parent = _descend(tree, steps, create=False)
    if isinstance(parent, FrozenList):
        index = _index(parent, steps[-1], steps, end_ok=True)
        if index == len(parent):
            return _rebuild(trail, parent.appended(value))
        return _rebuild(trail, parent.inserted(index, value))
    return _rebuild(trail, _dict_set(parent, steps, freeze_value(value)))


def _dict_set(parent: Any, steps: Path, value: Any, *, create: bool = True) -> Any:
    """``parent`` with the last step bound to ``value`` (frozen already).

    A PathError when ``parent`` is no dict or the key is unhashable (or, without
    ``create``, missing).
    """
    if isinstance(parent, FrozenDict):
        key = steps[-1]
        try:
            if not create and key not in parent:
                raise PathError(f"no key {key!r}, in path {format_path(steps)!r}")
            return parent._set(key, value)
        except TypeError:
            raise PathError(
                f"unhashable key {key!r}, in path {format_path(steps)!r}"
            ) from None
    _child(parent, steps[-1], steps)
    raise AssertionError("unreachable")  # pragma: no cover


def delete_in(tree: Any, path: PathLike) -> Any:
    """A new tree without the key or list item at ``path``.

    Raises :class:`~statetrail.PathError` when there is nothing there.
    """
    steps = parse_path(path)
    if not steps:
        raise PathError("cannot delete the root")
    tree = freeze_value(tree)
    trail, parent = _descend(tree, steps, create=False)
    key, child = _child(parent, steps[-1], steps)
    if child is MISSING:
        raise PathError(f"no key {steps[-1]!r}, in path {format_path(steps)!r}")
    if isinstance(parent, FrozenList):
        return _rebuild(trail, parent.delete(key))
    return _rebuild(trail, parent.discarded(key))
