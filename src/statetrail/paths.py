"""Paths into frozen trees: parsing, and get, set, insert and delete, under a policy.

A path is a tuple of keys: each step subscripts a mapping by key or a list by
index. ``()`` is the whole value. Dot-paths are the readable spelling of paths
whose keys are strings: ``"job.bins.0"`` is ``("job", "bins", "0")``, and a step
spelled in ASCII digits indexes a list. Steps only ever subscript frozen
containers, never look up attributes, so a path such as ``"a.__class__"`` is just a
missing key.

This is the one module that walks paths (issue 11): the engine, the store front
end, JSON Patch (:mod:`statetrail.diff`) and the path index all come through it.
What differs between them is a :class:`PathPolicy`:

- :data:`ENGINE`, the default: a missing key and a stored ``None`` are different
  things, and anything that leads nowhere raises :class:`~statetrail.PathError`;
- :data:`STORE`, the store's rules: a dot-path string of at most
  :data:`MAX_PATH_DEPTH` segments; a key holding ``None`` counts as missing (a
  read gives ``None``, a write makes a dict there); a read that leads nowhere
  gives ``None``; a write that cannot apply raises :class:`Refused`, which the
  store turns into ``False`` and a warning;
- :data:`POINTER`, RFC 6901's list steps for :func:`resolve`: ``0`` or digits
  without a leading zero, and ``-`` (the end) where an item is added.

>>> from statetrail.frozen import freeze
>>> tree = freeze({"job": {"bins": [10, 20], "owner": None}})
>>> get_in(tree, "job.bins.1")
20
>>> set_in(tree, "job.sorted", 1)["job"]["sorted"]
1
>>> get_in(tree, "job.owner.name", STORE) is None
True
>>> set_in(tree, "job.owner.name", "ada", policy=STORE)["job"]["owner"]
FrozenDict({'name': 'ada'})
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Final

from statetrail._log import get_logger
from statetrail.errors import NestingError, PathError
from statetrail.frozen import MISSING, FrozenDict, FrozenList
from statetrail.frozen._dict import dict_find, dict_put, dict_raw, dict_set
from statetrail.frozen._freeze import MAX_NESTING, freeze_value
from statetrail.frozen._hooks import lazy
from statetrail.frozen._list import list_raw, list_set
from statetrail.frozen._opaque import Opaque

__all__ = [
    "ENGINE",
    "MAX_PATH_DEPTH",
    "POINTER",
    "STORE",
    "Path",
    "PathLike",
    "PathPolicy",
    "Refused",
    "delete_at",
    "delete_in",
    "format_path",
    "get_at",
    "get_in",
    "get_nested_value",
    "insert_in",
    "is_prefix",
    "lookup_in",
    "parse_path",
    "replace_existing",
    "resolve",
    "set_frozen",
    "set_in",
    "set_nested_value",
    "set_traced",
    "spellings",
    "split_store",
]

Path = tuple[Any, ...]
PathLike = str | Sequence[Any]

#: The most segments a store's dot-path may have: each is a container level, and
#: no value nests deeper than MAX_NESTING levels.
MAX_PATH_DEPTH: Final = MAX_NESTING

# A list index longer than this cannot exist, and int() of a very long digit string
# is slow (and refused past 4,300 digits).
_MAX_INDEX_DIGITS = 18

_EMPTY_DICT: FrozenDict[Any, Any] = FrozenDict()

logger = get_logger("statetrail.store")


class Refused(PathError):
    """A write the store's rules cannot apply; the message says why.

    Raised under :data:`STORE`; the store logs it and returns ``False``.
    """


class PathPolicy:
    """The rules a walk follows: :data:`ENGINE`, :data:`STORE` or :data:`POINTER`.

    ``none_is_missing``: a stored ``None`` counts as a missing key (reads give
    ``None``; writes make a dict in its place). ``soft``: a read that leads
    nowhere gives ``None`` instead of raising. ``max_depth``: the most steps a
    path may have (``None``: no limit). ``error``: the :class:`PathError` class a
    write raises. ``pointer``: list steps follow RFC 6901 (no leading zeros,
    ``-`` for the end), for :func:`resolve`.

    The three policies are the only instances; functions compare them by
    identity. A walk reads a policy's fields only where the rules differ (a
    ``None`` met, a step that fails), so the engine's path pays nothing for the
    store's rules.
    """

    __slots__ = ("error", "max_depth", "name", "none_is_missing", "pointer", "soft")

    def __init__(
        self,
        name: str,
        *,
        none_is_missing: bool,
        soft: bool,
        max_depth: int | None,
        error: type[PathError],
        pointer: bool = False,
    ) -> None:
        self.name = name
        self.none_is_missing = none_is_missing
        self.soft = soft
        self.max_depth = max_depth
        self.error = error
        self.pointer = pointer

    def __repr__(self) -> str:
        return f"statetrail.paths.{self.name}"


#: The engine's rules (the default): a stored ``None`` is a value, and a path
#: that leads nowhere raises :class:`~statetrail.PathError`.
ENGINE: Final = PathPolicy(
    "ENGINE", none_is_missing=False, soft=False, max_depth=None, error=PathError
)
#: The store's rules: dot-path strings of at most :data:`MAX_PATH_DEPTH`
#: segments, ``None`` counts as missing, reads give ``None`` where the path leads
#: nowhere and writes raise :class:`Refused`.
STORE: Final = PathPolicy(
    "STORE", none_is_missing=True, soft=True, max_depth=MAX_PATH_DEPTH, error=Refused
)
#: JSON Pointer's list steps (RFC 6901), for :func:`resolve`; otherwise the
#: engine's rules.
POINTER: Final = PathPolicy(
    "POINTER",
    none_is_missing=False,
    soft=False,
    max_depth=None,
    error=PathError,
    pointer=True,
)


# -- spelling ------------------------------------------------------------------------


def parse_path(path: PathLike, policy: PathPolicy = ENGINE) -> Path:
    """The tuple form of a dot-path string or a sequence of keys.

    ``""`` is the root, ``()``. Empty steps (``"a..b"``, ``".a"``, ``"a."``) are
    refused with :class:`ValueError`, since no key was meant; to address an empty
    or dotted key, pass a tuple. Anything but a string, tuple or list is a
    :class:`TypeError`.

    Under :data:`STORE` a path is a dot-path string (anything else is a
    :class:`TypeError`), ``""`` is malformed (:class:`ValueError`) and more than
    :data:`MAX_PATH_DEPTH` segments is a :class:`~statetrail.NestingError` (a
    :class:`ValueError`).

    >>> parse_path("job.bins.0")
    ('job', 'bins', '0')
    >>> parse_path(("a.b", 3))
    ('a.b', 3)
    """
    if policy is STORE:
        return split_store(path)  # type: ignore[arg-type]
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


def split_store(path: str) -> Path:
    """:func:`parse_path` under :data:`STORE`, called directly.

    ``Store.get`` and ``Store.set`` split every path here: called by name it
    costs about 275 instructions fewer than ``parse_path(path, STORE)`` (the
    policy argument and its test; callgrind, PYTHONHASHSEED=0).

    >>> split_store("job.bins.0")
    ('job', 'bins', '0')
    """
    if type(path) is not str:
        if not isinstance(path, str):
            raise TypeError(f"a dot-path is a string, not {type(path).__name__}")
        path = str(path)
    parts = tuple(path.split("."))
    if "" in parts:
        raise ValueError(f"malformed dot-path {path[:80]!r}: empty segment")
    if len(parts) > MAX_PATH_DEPTH:
        raise NestingError(  # a ValueError
            f"dot-path of {len(parts)} segments: each is a level of nesting, "
            f"and a value nests at most MAX_NESTING ({MAX_PATH_DEPTH}) levels"
        )
    return parts


def format_path(path: Path) -> str:
    """The dot spelling of a path, for display (``()`` shows as ``""``).

    >>> format_path(("job", "bins", 0))
    'job.bins.0'
    """
    return ".".join(str(step) for step in path)


def is_prefix(prefix: Path, path: Path) -> bool:
    """Whether ``prefix`` is ``path`` or one of its ancestors."""
    return path[: len(prefix)] == prefix


# -- one step ------------------------------------------------------------------------


def _list_index(step: Any, n: int, end_ok: bool = False) -> int | None:
    """The list index ``step`` names among ``n`` items, or ``None``.

    An int (not a bool; negative counts from the end) or a string of at most
    18 ASCII digits; ``end_ok`` admits ``n`` itself (an insertion at the end).
    """
    if type(step) is str:
        # A dot-path's step, the common case: digits are never negative.
        if step.isascii() and step.isdigit() and len(step) <= _MAX_INDEX_DIGITS:
            index = int(step)
            if index < n or (end_ok and index == n):
                return index
        return None
    if isinstance(step, int) and not isinstance(step, bool):
        index = step + n if step < 0 else int(step)
        if 0 <= index < n or (end_ok and index == n):
            return index
    return None


def _is_index(step: Any) -> bool:
    """Whether ``step`` is spelled as a list index (in range or not)."""
    if type(step) is str:
        return step.isascii() and step.isdigit()
    return isinstance(step, int) and not isinstance(step, bool)


def _kind(node: Any) -> str:
    return "an object" if type(node) is Opaque else type(node).__name__


def _failure(
    node: Any, step: Any, steps: Path, policy: PathPolicy, end_ok: bool = False
) -> PathError:
    """The error for a step that cannot be followed from ``node``.

    Worked out only once a walk has failed, so the walks themselves test no
    more than whether each step leads somewhere.
    """
    where = f"in path {format_path(steps)!r}"
    if isinstance(node, FrozenDict) or (
        type(node) in lazy and isinstance(node, Mapping)
    ):
        try:
            hash(step)
        except TypeError:
            return policy.error(f"unhashable key {step!r}, {where}")
        return policy.error(f"no key {step!r}, {where}")
    if isinstance(node, FrozenList) or (
        type(node) in lazy and isinstance(node, Sequence)
    ):
        if policy.pointer:  # RFC 6901's words and syntax
            if not _pointer_step(step, end_ok):
                return policy.error(f"{step!r} is not an array index, {where}")
            return policy.error(f"array index {step} out of range, {where}")
        if not _is_index(step):
            return policy.error(f"{step!r} is not a list index, {where}")
        return policy.error(
            f"list index {step!r} out of range (length {len(node)}), {where}"
        )
    return policy.error(f"cannot step into {_kind(node)} at {step!r}, {where}")


def _child(node: Any, step: Any) -> tuple[Any, Any]:
    """The key and the stored child for one step; the child is MISSING if none.

    MISSING too for a step into anything but a dict or list, or an unhashable
    key: :func:`_failure` tells them apart.
    """
    # The exact types first: ``isinstance`` of the other container class is
    # ABCMeta's __instancecheck__, a Python call (about 1k instructions).
    kind = type(node)
    if kind is FrozenDict or (kind is not FrozenList and isinstance(node, FrozenDict)):
        try:
            return step, dict_raw(node, step)
        except TypeError:
            return step, MISSING
    if kind is FrozenList or isinstance(node, FrozenList):
        index = _list_index(step, len(node))
        if index is None:
            return step, MISSING
        return index, list_raw(node, index)
    if type(node) in lazy:  # loaded lazily from storage (storage/_lazy.py)
        if isinstance(node, Sequence):
            index = _list_index(step, len(node))
            if index is None:
                return step, MISSING
            return index, node.raw(index)  # type: ignore[attr-defined]
        try:
            return step, node.raw(step)
        except TypeError:
            return step, MISSING
    return step, MISSING


# -- reading -------------------------------------------------------------------------


def get_in(tree: Any, path: PathLike, policy: PathPolicy = ENGINE) -> Any:
    """The value at ``path``; :class:`~statetrail.PathError` where it leads nowhere.

    Under :data:`STORE`, ``None`` where it leads nowhere or through a ``None``
    (a malformed path still raises, as :func:`parse_path` does). An
    :class:`~statetrail.frozen.Opaque` box comes out as a fresh copy of what it
    holds.
    """
    return get_at(tree, parse_path(path, policy), policy)


def get_at(tree: Any, steps: Path, policy: PathPolicy = ENGINE) -> Any:
    """:func:`get_in` of parsed steps (under :data:`STORE`, split already)."""
    # Where a ``None`` counts as missing, a missing step reads as ``None``:
    # then one test per step finds both (the policy is read once, not per step).
    missing = None if policy.none_is_missing else MISSING
    node = tree
    for step in steps:
        # The exact types first: a store's state has no others, and these two
        # tests are most of a read's cost.
        t = type(node)
        if t is FrozenDict:
            try:
                node = dict_raw(node, step, missing)
            except TypeError:
                node = missing
        elif t is FrozenList:
            index = _list_index(step, len(node))
            node = missing if index is None else list_raw(node, index)
        else:
            node = _child(node, step)[1]
            if node is MISSING:
                node = missing
        if node is missing:
            if policy.soft:
                return None
            raise _explain(tree, steps, policy)
    if type(node) is Opaque:
        return node.copy()
    return node


def _explain(tree: Any, steps: Path, policy: PathPolicy) -> PathError:
    """The error of a read of ``steps`` that led nowhere (walked again)."""
    node = tree
    for step in steps:
        _, child = _child(node, step)
        if child is MISSING:
            return _failure(node, step, steps, policy)
        node = child
    raise AssertionError("the path leads somewhere")  # pragma: no cover


def lookup_in(
    tree: Any, path: PathLike, default: Any = None, policy: PathPolicy = ENGINE
) -> Any:
    """The value at ``path``, or ``default`` where the path leads nowhere.

    Under :data:`STORE` a stored ``None`` gives ``default`` too.
    """
    try:
        value = get_in(tree, path, policy)
    except PathError:
        return default
    if value is None and policy.none_is_missing:
        return default
    return value


# -- writing -------------------------------------------------------------------------


Trail = list[tuple[Any, Any, Any]]


def _descend(
    tree: Any, steps: Path, policy: PathPolicy, *, create: bool
) -> tuple[Trail, Any, bool]:
    """Walk to the parent of the last step.

    The (write, container, key) triples on the way (``write`` is ``dict_set``
    or ``list_set``, for :func:`_rebuild`), the parent, and whether dicts were
    made: a missing key (and under :data:`STORE` a ``None``) becomes an empty
    dict when ``create`` is set; otherwise it raises the policy's error.
    """
    trail: Trail = []
    node = tree
    made = False
    for step in steps[:-1]:
        kind = type(node)
        if kind is FrozenDict or (
            kind is not FrozenList and isinstance(node, FrozenDict)
        ):
            write: Any = dict_set
            key = step
            try:
                child = dict_raw(node, step)
            except TypeError:
                child = MISSING
        else:
            write = list_set
            key, child = _child(node, step)
        if child is MISSING or (create and child is None and policy.none_is_missing):
            if not create or (child is MISSING and write is not dict_set):
                raise _failure(node, step, steps, policy)
            _hashable(step, steps, policy)
            child = _EMPTY_DICT
            made = True
        trail.append((write, node, key))
        node = child
    return trail, node, made


def _hashable(step: Any, steps: Path, policy: PathPolicy) -> None:
    try:
        hash(step)
    except TypeError:
        raise policy.error(
            f"unhashable key {step!r}, in path {format_path(steps)!r}"
        ) from None


def _rebuild(trail: Trail, value: Any) -> Any:
    for write, container, key in reversed(trail):
        value = write(container, key, value)
    return value


def set_in(
    tree: Any,
    path: PathLike,
    value: Any,
    *,
    create: bool = True,
    policy: PathPolicy = ENGINE,
) -> Any:
    """A new tree with ``value`` (frozen) at ``path``; only that path is copied.

    Missing keys on the way become empty dicts when ``create`` is true (under
    :data:`STORE`, keys holding ``None`` too). A list index must exist. Stepping
    into anything but a dict or list, or a missing key with ``create=False``,
    raises the policy's :class:`~statetrail.PathError` (:class:`Refused` under
    :data:`STORE`). The result is ``tree`` itself when ``path`` already holds
    this very value.
    """
    steps = parse_path(path, policy)
    value = freeze_value(value)
    if not steps:
        return value
    return set_frozen(freeze_value(tree), steps, value, create, policy)


def set_frozen(
    tree: Any,
    steps: Path,
    value: Any,
    create: bool = True,
    policy: PathPolicy = ENGINE,
) -> Any:
    """:func:`set_in` for a frozen tree, parsed steps and a frozen value.

    ``steps`` must not be empty. Errors are :func:`set_in`'s.

    One loop down the path, then the changed containers are rebuilt bottom-up;
    the engine's writes come through here, so it avoids per-step calls.
    """
    # (write, container, where): a dict's place (dict_find) is where its new
    # child goes back in (dict_put), so the path is walked once, not again to copy.
    trail: list[tuple[Any, Any, Any]] = []
    node = tree
    last = len(steps) - 1
    for i, step in enumerate(steps):
        kind = type(node)
        if kind is FrozenDict or (
            kind is not FrozenList and isinstance(node, FrozenDict)
        ):
            if i == last:
                value = _dict_set(node, steps, value, policy, create=create)
                break
            try:
                if kind is FrozenDict:
                    child, place = dict_find(node, step)
                else:  # a subclass is rebuilt by key
                    child, place = dict_raw(node, step), None
            except TypeError:
                raise _failure(node, step, steps, policy) from None
            if child is MISSING or (child is None and policy.none_is_missing):
                if not create:
                    raise _failure(node, step, steps, policy)
                child = _EMPTY_DICT
                place = None
            if place is None:
                trail.append((dict_set, node, step))
            else:
                trail.append((dict_put, node, place))
        elif kind is FrozenList or isinstance(node, FrozenList):
            index = _list_index(step, len(node))
            if index is None:
                raise _failure(node, step, steps, policy)
            if i == last:
                value = list_set(node, index, value)
                break
            child = list_raw(node, index)
            if child is None and create and policy.none_is_missing:
                child = _EMPTY_DICT
            trail.append((list_set, node, index))
        else:
            raise _failure(node, step, steps, policy)
        node = child
    for write, container, where in reversed(trail):
        value = write(container, where, value)
    return value


def set_traced(
    tree: Any, steps: Path, value: Any, policy: PathPolicy = STORE
) -> tuple[Any, Path | None, Any]:
    """:func:`set_frozen` that also tells where it wrote and what was there.

    ``(new tree, path, old value)``: the path with list steps as ints (the
    engine's spelling of the change) and the old value (``MISSING`` for a key
    added). The path is ``None`` when dicts were made on the way, whose changes a
    diff works out. ``steps`` must not be empty; ``value`` is frozen already.
    """
    trail, node, made = _descend(tree, steps, policy, create=True)
    last = steps[-1]
    kind = type(node)
    if kind is FrozenDict or (kind is not FrozenList and isinstance(node, FrozenDict)):
        key: Any = last
        try:
            old = dict_raw(node, last)
        except TypeError:
            raise _failure(node, last, steps, policy) from None
        new_node: Any = dict_set(node, last, value)
    elif kind is FrozenList or isinstance(node, FrozenList):
        index = _list_index(last, len(node))
        if index is None:
            raise _failure(node, last, steps, policy)
        key, old = index, list_raw(node, index)
        new_node = list_set(node, index, value)
    else:
        raise _failure(node, last, steps, policy)
    new_tree = _rebuild(trail, new_node)
    if made:
        return new_tree, None, old
    return new_tree, (*[t[2] for t in trail], key), old


def replace_existing(tree: Any, steps: Path, value: Any) -> tuple[Any, Any] | None:
    """``(new tree, old value)`` for the store's usual write; ``None`` for others.

    The usual write replaces the value of a key that is there, in dicts all the
    way down (none of them ``None``). Each dict on the way is read and written at
    the same place (``dict_find`` and ``dict_put``), so the path is walked
    once, not once to read and again to copy: ``Store.set`` of one leaf of a
    10,000-entry state costs about 7 us with it. Anything else (a list on the
    way, a key to add or dicts to make) gives ``None``, for :func:`set_traced`.
    """
    trail: list[Any] = []
    node = tree
    for step in steps:
        if type(node) is not FrozenDict:
            return None
        child, place = dict_find(node, step)
        if child is MISSING:
            return None
        trail += (node, place)
        node = child
        if node is None and len(trail) < 2 * len(steps):
            return None  # a None on the way is made a dict: set_traced's job
    old = node
    for j in range(len(trail) - 2, -1, -2):
        value = dict_put(trail[j], trail[j + 1], value)
    return value, old


def insert_in(
    tree: Any, path: PathLike, value: Any, policy: PathPolicy = ENGINE
) -> Any:
    """Like :func:`set_in`, but a list index inserts before it (``len`` appends)."""
    steps = parse_path(path, policy)
    if not steps:
        return freeze_value(value)
    tree = freeze_value(tree)
    trail, parent, _ = _descend(tree, steps, policy, create=False)
    if isinstance(parent, FrozenList):
        index = _list_index(steps[-1], len(parent), end_ok=True)
        if index is None:
            raise _failure(parent, steps[-1], steps, policy)
        if index == len(parent):
            return _rebuild(trail, parent.appended(value))
        return _rebuild(trail, parent.inserted(index, value))
    return _rebuild(trail, _dict_set(parent, steps, freeze_value(value), policy))


def _dict_set(
    parent: Any, steps: Path, value: Any, policy: PathPolicy, *, create: bool = True
) -> Any:
    """``parent`` with the last step bound to ``value`` (frozen already).

    The policy's error when ``parent`` is no dict or the key is unhashable (or,
    without ``create``, missing).
    """
    key = steps[-1]
    if isinstance(parent, FrozenDict):
        try:
            if not create and key not in parent:
                raise _failure(parent, key, steps, policy)
            return dict_set(parent, key, value)
        except TypeError:
            raise _failure(parent, key, steps, policy) from None
    raise _failure(parent, key, steps, policy)


def delete_in(tree: Any, path: PathLike, policy: PathPolicy = ENGINE) -> Any:
    """A new tree without the key or list item at ``path``.

    Raises the policy's :class:`~statetrail.PathError` when there is nothing
    there (under :data:`STORE`, a key holding ``None`` is deleted as any other).
    """
    return delete_at(freeze_value(tree), parse_path(path, policy), policy)


def delete_at(tree: Any, steps: Path, policy: PathPolicy = ENGINE) -> Any:
    """:func:`delete_in` of a frozen tree and parsed steps."""
    if not steps:
        raise policy.error("cannot delete the root")
    trail, parent, _ = _descend(tree, steps, policy, create=False)
    key, child = _child(parent, steps[-1])
    if child is MISSING:
        raise _failure(parent, steps[-1], steps, policy)
    kind = type(parent)
    if kind is FrozenList or (
        kind is not FrozenDict and isinstance(parent, FrozenList)
    ):
        return _rebuild(trail, parent.delete(key))
    return _rebuild(trail, parent.discarded(key))


# -- spellings -------------------------------------------------------------------------


def resolve(
    tree: Any, path: PathLike, policy: PathPolicy = ENGINE, *, for_add: bool = False
) -> Path:
    """``path`` as the engine spells it in ``tree``: list steps as int indices.

    Under :data:`ENGINE` and :data:`POINTER` each step must lead somewhere (the
    last one, with ``for_add``, may also name a key to add or a list's end) or
    :class:`~statetrail.PathError` is raised; :data:`POINTER` takes RFC 6901's
    list steps. Under :data:`STORE` nothing is checked: a digit step is an index
    where the tree has a list there, and a key everywhere else.

    >>> from statetrail.frozen import freeze
    >>> resolve(freeze({"a": [{"0": 1}]}), ("a", "0", "0"))
    ('a', 0, '0')
    """
    steps = path if isinstance(path, tuple) else parse_path(path, policy)
    resolved: list[Any] = []
    node = tree
    last = len(steps) - 1
    for n, step in enumerate(steps):
        if policy.soft:
            if type(node) is FrozenList and _list_index(step, 1 << 62) is not None:
                key: Any = int(step)
                node = list_raw(node, key) if key < len(node) else None
            else:
                key = step
                node = dict_raw(node, step, None) if type(node) is FrozenDict else None
            resolved.append(key)
            continue
        adding = for_add and n == last
        if isinstance(node, FrozenList):
            index = _pointer_index(step, len(node), adding, policy)
            if index is None:
                raise _failure(node, step, steps, policy, end_ok=adding)
            resolved.append(index)
            if n < last:
                node = list_raw(node, index)
        elif isinstance(node, FrozenDict):
            resolved.append(step)
            if n < last:
                _, child = _child(node, step)
                if child is MISSING:
                    raise _failure(node, step, steps, policy)
                node = child
        else:
            raise _failure(node, step, steps, policy)
    return tuple(resolved)


def _pointer_step(step: Any, adding: bool) -> bool:
    """Whether ``step`` is spelled as RFC 6901 spells a list step."""
    if type(step) is not str:
        return False
    if step == "-":
        return adding
    return step.isascii() and step.isdigit() and (step == "0" or step[0] != "0")


def _pointer_index(step: Any, n: int, adding: bool, policy: PathPolicy) -> int | None:
    """The list index of ``step`` among ``n`` items under ``policy``, or ``None``."""
    if not policy.pointer:
        return _list_index(step, n, adding)
    if not _pointer_step(step, adding):
        return None
    index = n if step == "-" else int(step)
    return index if index < n + adding else None


def spellings(tree: Any, steps: tuple[str, ...]) -> set[Path]:
    """The engine's spellings of a store's dot-path steps, for history and blame.

    The engine records list indices as ints and dict keys as strings, so a digit
    segment may be either: the path as it resolves in ``tree`` (:func:`resolve`
    under :data:`STORE`), with every digit segment a key, and with every digit
    segment an index.
    """
    as_ints = tuple(int(s) if _list_index(s, 1 << 62) is not None else s for s in steps)
    return {resolve(tree, steps, STORE), steps, as_ints}


# -- plain trees (the seed's helpers, under the store's rules) ------------------------


def get_nested_value(path: str, data: Any) -> Any:
    """The value at dot-path ``path`` in plain ``data``, or ``None``.

    ``None`` when a segment is missing, an index is out of range, a step leads
    into a scalar, or the path is malformed: :data:`STORE`'s rules, on dicts and
    lists.
    """
    try:
        steps = parse_path(path, STORE)
    except ValueError:
        return None
    node = data
    for step in steps:
        if isinstance(node, Mapping):
            node = node.get(step)
        elif isinstance(node, (list, FrozenList)):
            i = _list_index(step, len(node))
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
    """Set ``value`` at dot-path ``path`` inside plain ``data``, in place.

    Missing dicts on the way (and keys holding ``None``) are created. Returns
    ``False``, leaving ``data`` as it was, when the write cannot be applied: a
    list index out of range, a step into a scalar, or a malformed path (a path
    too deep raises :class:`~statetrail.NestingError`). ``value`` is stored as
    it is, not copied. The refusal is logged (logger ``"statetrail.store"``).
    """
    try:
        steps = parse_path(path, STORE)
    except NestingError:
        raise
    except ValueError as exc:
        logger.warning("cannot set %r: %s", path, exc)
        return False
    node = data
    last = len(steps) - 1
    for depth, step in enumerate(steps):
        if isinstance(node, MutableMapping):
            key: Any = step
            child = node.get(step) if depth < last else None
        elif isinstance(node, list):
            key = _list_index(step, len(node))
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
