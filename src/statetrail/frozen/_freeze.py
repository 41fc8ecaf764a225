"""freeze() and thaw(): between plain Python values and frozen trees."""

from __future__ import annotations

import copy
import datetime
import enum
import sys
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from statetrail.errors import NestingError
from statetrail.frozen import _dict as _dict_module
from statetrail.frozen import _hamt, _hooks, _native, _vector
from statetrail.frozen._dict import SMALL as _SMALL
from statetrail.frozen._dict import FrozenDict as _FrozenDict
from statetrail.frozen._dict import dict_items, dict_of, dict_of_small
from statetrail.frozen._keys import check_key
from statetrail.frozen._list import FrozenList as _FrozenList
from statetrail.frozen._list import list_items, list_of_frozen
from statetrail.frozen._opaque import Opaque
from statetrail.frozen._set import FrozenSet as _FrozenSet
from statetrail.frozen._set import set_of

__all__ = [
    "MAX_NESTING",
    "PURE_DICT_METHODS",
    "check_nesting",
    "check_path_nesting",
    "freeze",
    "freeze_value",
    "is_frozen",
    "late_immutable",
    "nesting_error",
    "register_frozen_form",
    "register_immutable",
    "thaw",
]

#: Types whose instances never change: recorded as they are, never copied.
_IMMUTABLE: set[type] = {
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    range,
    slice,
    type(Ellipsis),
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.timezone,
}

#: Immutable types of modules ``import statetrail`` does not import (issue 11:
#: pathlib alone brings urllib and ipaddress). A value of one can exist only once
#: its module is imported, so each module's types join ``_IMMUTABLE`` when met:
#: those imported already now, the others by :func:`late_immutable`, which the
#: fallback paths for types not in ``_IMMUTABLE`` call first.
_LATER: dict[str, tuple[str, ...]] = {
    "decimal": ("Decimal",),
    "fractions": ("Fraction",),
    "uuid": ("UUID",),
    "pathlib": (
        "PurePath",
        "PurePosixPath",
        "PureWindowsPath",
        "Path",
        "PosixPath",
        "WindowsPath",
    ),
}


def _add_imported() -> None:
    for name, attributes in list(_LATER.items()):
        module = sys.modules.get(name)
        if module is None:
            continue
        types = [getattr(module, attribute, None) for attribute in attributes]
        found = [t for t in types if isinstance(t, type)]
        if len(found) == len(types):  # not half imported
            _IMMUTABLE.update(found)
            _LATER.pop(name, None)


_add_imported()


def late_immutable(t: type) -> bool:
    """Whether ``t`` is an immutable type of a module imported since statetrail.

    ``Decimal``, ``Fraction``, ``UUID`` and the ``pathlib`` paths: it adds them to
    the types kept as they are, so the next check finds them at once.
    """
    if t.__module__ in _LATER:
        _add_imported()
        return t in _IMMUTABLE
    return False


def register_immutable(cls: type) -> type:
    """Declare that instances of ``cls`` never change, so they are kept as they are.

    By default an object of a type statetrail does not know is deep-copied when it
    is recorded and again when it is read. Registering a type you know to be
    immutable (a frozen dataclass of scalars, say) skips both copies. Usable as a
    class decorator.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_immutable() takes a class, not {cls!r}")
    _IMMUTABLE.add(cls)
    return cls


#: How deeply a value may nest: dicts, lists, sets and tuples, one inside the other,
#: at most this many levels (the value itself is level 1). Deeper values, and values
#: that contain themselves, are refused with :class:`~statetrail.NestingError` by
#: every front end, so what is recorded can always be thawed, diffed and stored:
#: each level takes at most two of the codec's ``MAX_DEPTH`` (200) JSON levels.
MAX_NESTING = 100


class _TooDeep(Exception):
    """Raised where a value passes MAX_NESTING; the entry point names the value."""


def nesting_error(value: Any, above: int = 0) -> NestingError:
    """The :class:`~statetrail.NestingError` for ``value``, found to nest too deeply.

    It says whether ``value`` contains itself, which no limit could make storable.
    ``above``: the container levels of the path it was written at.
    """
    if _contains_itself(value):
        return NestingError(
            "value nested too deeply: it contains itself (a dict, list or set inside "
            "itself), which cannot be recorded; break the cycle, or record a copy"
        )
    where = (
        f", counting the {above} levels of the path it is written at" if above else ""
    )
    return NestingError(
        f"value nested too deeply: more than MAX_NESTING ({MAX_NESTING}) levels of "
        f"dicts, lists, sets and tuples{where}; flatten it, or store the deep part "
        "as text"
    )


def check_nesting(value: Any) -> None:
    """Refuse ``value`` if it contains itself or nests deeper than MAX_NESTING.

    Raises :class:`~statetrail.NestingError`, as :func:`freeze_value` would, for a
    caller that does not freeze (the codec). Frozen containers inside are not
    walked: they were checked when made.
    """
    t = type(value)
    if t in _IMMUTABLE or t in _FROZEN:
        return
    try:
        _check(value, 1)
    except (_TooDeep, RecursionError):
        raise nesting_error(value) from None


def _check(node: Any, depth: int) -> None:
    t = type(node)
    if t in _IMMUTABLE or t in _FROZEN:
        return
    if depth > MAX_NESTING:
        raise _TooDeep
    inner = depth + 1
    if isinstance(node, Mapping):
        for key, child in node.items():
            _check(key, inner)
            _check(child, inner)
    elif isinstance(node, (list, tuple, set, frozenset)):
        for child in node:
            _check(child, inner)


#: What counts as a level: dicts, lists, sets and tuples, frozen or not.
_CONTAINERS = (Mapping, list, tuple, set, frozenset, _FrozenList, _FrozenSet)


def _children(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [*node.keys(), *node.values()]
    if isinstance(node, (list, tuple, set, frozenset, _FrozenList, _FrozenSet)):
        return list(node)
    return []


def _contains_itself(value: Any) -> bool:
    """Whether a container inside ``value`` (or ``value``) contains itself.

    Depth-first, without recursion, each container walked once (shared parts too).
    """
    on_path: set[int] = set()
    done: set[int] = set()
    stack: list[tuple[Any, list[Any]]] = [(value, _children(value))]
    on_path.add(id(value))
    while stack:
        node, todo = stack[-1]
        if not todo:
            stack.pop()
            on_path.discard(id(node))
            done.add(id(node))
            continue
        child = todo.pop()
        key = id(child)
        if key in on_path:
            return True
        if key in done or type(child) in _IMMUTABLE:
            continue
        on_path.add(key)
        stack.append((child, _children(child)))
    return False


def freeze_value(obj: Any, above: int = 0) -> Any:
    """Freeze ``obj`` for storage inside a frozen tree.

    Dicts, lists and sets (nested up to :data:`MAX_NESTING` levels) become frozen
    containers, tuples get frozen items, immutable scalars stay as they are, and
    any other object is deep-copied into an :class:`Opaque` box that hands out
    copies. ``above``: how many container levels the value is written under (a
    path write's steps), which count towards the limit too.

    Raises:
        NestingError: ``obj`` contains itself or nests deeper than MAX_NESTING.
    """
    t = type(obj)
    if t in _IMMUTABLE or t in _FROZEN:
        if above:
            check_path_nesting(obj, above)
        return obj
    try:
        if above:
            return _freeze(obj, above + 1)  # which checks the level of obj itself
        return _HANDLERS.get(t, _freeze_other)(obj, 1)
    except (_TooDeep, RecursionError):
        # A RecursionError can still come from deep-copying an object whose own
        # attributes nest too deeply.
        raise nesting_error(obj, above) from None


def check_path_nesting(value: Any, above: int) -> None:
    """Refuse ``value`` under ``above`` levels if the whole nests too deeply.

    ``above``: the container levels of a path write's steps; the limit is
    :data:`MAX_NESTING`. For a value frozen already, whose levels freezing does
    not count again: a walk of at most ``MAX_NESTING - above`` levels (none for
    a scalar).

    Raises:
        NestingError: the path and the value together pass the limit.
    """
    if above > MAX_NESTING:
        raise nesting_error(value, above)
    t = type(value)
    if t in _IMMUTABLE or above == 0:
        return
    budget = MAX_NESTING - above  # levels the value may take
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, _CONTAINERS):
            continue  # an opaque object or an enum: no level
        if level > budget:
            raise nesting_error(value, above)
        for child in _children(node):
            if type(child) not in _IMMUTABLE:
                stack.append((child, level + 1))


def _freeze(obj: Any, depth: int) -> Any:
    """``obj`` frozen, where it sits ``depth`` levels down (the top is level 1)."""
    t = type(obj)
    if t in _IMMUTABLE or t in _FROZEN:
        return obj
    if depth > MAX_NESTING:
        raise _TooDeep
    return _HANDLERS.get(t, _freeze_other)(obj, depth)


def _freeze_dict(obj: Mapping[Any, Any], depth: int) -> Any:
    inner = depth + 1
    # A key that is or holds NaN is refused (see _keys): a string key costs one
    # type test.
    if type(obj) is dict and len(obj) <= _SMALL:
        # The small form straight from the dict: its keys, and its values with the
        # scalars taken as they are, without a call each (Store(state) of 100,000
        # entries freezes 100,000 of these).
        keys = tuple(obj)
        for k in keys:
            if type(k) is not str:
                check_key(k)
        leaf = _IMMUTABLE
        vals = [v if type(v) in leaf else _freeze(v, inner) for v in obj.values()]
        return dict_of_small(keys, tuple(vals))
    return dict_of(
        {k: _freeze(v, inner) for k, v in obj.items() if type(k) is str or check_key(k)}
    )


def _freeze_list(obj: Any, depth: int) -> Any:
    inner = depth + 1
    leaf = _IMMUTABLE
    return list_of_frozen(
        tuple([x if type(x) in leaf else _freeze(x, inner) for x in obj])
    )


def _freeze_set(obj: Any, depth: int) -> Any:
    inner = depth + 1
    return set_of(frozenset(_freeze(x, inner) for x in obj))


def _freeze_tuple(obj: tuple[Any, ...], depth: int) -> Any:
    inner = depth + 1
    items = tuple(_freeze(x, inner) for x in obj)
    if all(a is b for a, b in zip(items, obj, strict=True)):
        return obj
    if any(type(x) is Opaque for x in items):
        return Opaque(_retuple(type(obj), _unboxed(items)))
    return _retuple(type(obj), items)


def _unboxed(items: tuple[Any, ...]) -> tuple[Any, ...]:
    # Nothing opens an Opaque box inside a tuple or frozenset on the way out, so one
    # holding a box is boxed whole, around the copies already made: reads of it
    # then hand out copies like any other boxed object.
    return tuple(x.obj if type(x) is Opaque else x for x in items)


def _retuple(cls: type[tuple[Any, ...]], items: tuple[Any, ...]) -> Any:
    """``items`` as an instance of ``cls``, a tuple type or subclass."""
    if cls is tuple:
        return items
    # A named tuple takes its fields as arguments, other subclasses one iterable.
    make = getattr(cls, "_make", None)
    return make(items) if make is not None else cls(items)


def _freeze_frozenset(obj: frozenset[Any], depth: int) -> Any:
    inner = depth + 1
    items = tuple(_freeze(x, inner) for x in obj)
    if all(a is b for a, b in zip(items, obj, strict=True)):
        return obj
    if any(type(x) is Opaque for x in items):
        return Opaque(frozenset(_unboxed(items)))
    return frozenset(items)


#: Classes whose instances stand for a frozen value, with the function giving it:
#: statetrail.immutable's ImmutableDict, ImmutableList and ImmutableSet (and their
#: subclasses) are recorded as the FrozenDict, FrozenList or FrozenSet they hold.
_FORMS: dict[type, Callable[[Any], Any]] = {}


def register_frozen_form(cls: type, frozen_of: Callable[[Any], Any]) -> None:
    """Freeze instances of ``cls`` and its subclasses as ``frozen_of(instance)``.

    ``frozen_of`` returns a frozen value that was checked when made (a frozen
    container). For packages above this one, which this module cannot import.
    """
    _FORMS[cls] = frozen_of


def _freeze_other(obj: Any, depth: int) -> Any:
    make = _hooks.lazy.get(type(obj))
    if make is not None:  # loaded lazily from storage: the frozen value it is
        return make(obj)
    if type(obj) is Opaque or late_immutable(type(obj)):
        return obj
    if isinstance(obj, enum.Enum):
        return obj
    for cls, frozen_of in _FORMS.items():
        if isinstance(obj, cls):
            return frozen_of(obj)
    if isinstance(obj, tuple):
        return _freeze_tuple(obj, depth)
    if isinstance(obj, Mapping):
        return _freeze_dict(obj, depth)
    if isinstance(obj, list):
        return _freeze_list(obj, depth)
    if isinstance(obj, frozenset):
        return _freeze_frozenset(obj, depth)
    if isinstance(obj, AbstractSet):
        return _freeze_set(obj, depth)
    try:
        return Opaque(copy.deepcopy(obj))
    except RecursionError:
        raise
    except Exception as exc:
        raise TypeError(
            f"cannot record a {type(obj).__qualname__}: it can be neither frozen nor "
            f"deep-copied ({exc}); pass deep_copy=False to keep it by reference, or "
            "register_immutable() its type if it never changes"
        ) from exc


def freeze(obj: Any) -> Any:
    """Return an immutable version of ``obj``, sharing whatever is already frozen.

    Dicts, lists and sets, nested to any depth, become :class:`FrozenDict`,
    :class:`FrozenList` and :class:`FrozenSet`; tuples (named tuples too) keep
    their type with frozen items; numbers, strings, datetimes and other immutable
    scalars stay as they are. Any other object is deep-copied.

    >>> from statetrail.frozen import freeze
    >>> state = freeze({"job": {"bins": [1, 2]}})
    >>> state
    FrozenDict({'job': FrozenDict({'bins': FrozenList([1, 2])})})
    >>> state == {"job": {"bins": [1, 2]}}
    True
    >>> freeze(state) is state
    True

    Raises:
        TypeError: an object inside can be neither frozen nor deep-copied.
        NestingError: ``obj`` contains itself, or nests deeper than
            :data:`MAX_NESTING` levels (a :class:`ValueError`).
    """
    value = freeze_value(obj)
    if type(value) is Opaque:
        return value.copy()
    return value


def is_frozen(obj: Any) -> bool:
    """Whether ``obj`` is a frozen container or an immutable scalar."""
    t = type(obj)
    if t in _IMMUTABLE or t in _FROZEN or isinstance(obj, enum.Enum):
        return True
    if late_immutable(t):
        return True
    if isinstance(obj, (tuple, frozenset)):
        return all(is_frozen(x) for x in obj)
    return False


def thaw(obj: Any) -> Any:
    """Return plain, mutable copies of frozen containers, recursively.

    Members of a set are left as they are, since a set can only hold hashable
    values: a :class:`FrozenList` in a :class:`FrozenSet` stays frozen.

    >>> from statetrail.frozen import freeze, thaw
    >>> thaw(freeze({"a": [1, {2}]}))
    {'a': [1, {2}]}

    Raises:
        NestingError: ``obj`` is nested deeper than Python's recursion limit allows
            (a :class:`ValueError`).
    """
    try:
        return _thaw(obj)
    except RecursionError:
        raise NestingError(
            "value nested too deeply to thaw (deeper than Python's recursion limit)"
        ) from None


def _thaw(obj: Any) -> Any:
    t = type(obj)
    if t in _IMMUTABLE:
        return obj
    if t is _FrozenDict:
        return {k: _thaw(v) for k, v in dict_items(obj)}
    if t is _FrozenList:
        return [_thaw(x) for x in list_items(obj)]
    if t is _FrozenSet:
        # Members must stay hashable: thawed, a frozen list or dict member would not
        # be. Iterating the set already hands out copies of boxed members.
        return set(obj)
    if t is Opaque:
        return obj.copy()
    if isinstance(obj, tuple):
        return _retuple(t, tuple(_thaw(x) for x in obj))
    if isinstance(obj, _FrozenDict):
        return {k: _thaw(v) for k, v in dict_items(obj)}
    if isinstance(obj, _FrozenList):
        return [_thaw(x) for x in list_items(obj)]
    if isinstance(obj, _FrozenSet):
        return set(obj)
    make = _hooks.lazy.get(t)
    if make is not None:  # loaded lazily from storage
        return _thaw(make(obj))
    return obj


_FROZEN: set[type] = {_FrozenDict, _FrozenList, _FrozenSet}
_HANDLERS: dict[type, Callable[[Any, int], Any]] = {
    dict: _freeze_dict,
    list: _freeze_list,
    set: _freeze_set,
    tuple: _freeze_tuple,
    frozenset: _freeze_frozenset,
}
_hooks.freeze_value = freeze_value


#: FrozenDict's reads and path writes in Python, which the compiled ones replace
#: on the class when the speedups are in use (the tests compare the two).
PURE_DICT_METHODS: dict[str, Callable[..., Any]] = {
    name: _FrozenDict.__dict__[name] for name in ("__getitem__", "_find", "_put")
}


def _use_speedups() -> None:
    """Hand the compiled module (see ``_native``) the classes it builds and reads.

    It then serves ``FrozenDict.__getitem__``, ``_find`` and ``_put`` and freezes
    plain dicts and lists; everything else it meets goes back to the functions
    above, which stay the reference.
    """
    speedups = _native.speedups
    if speedups is None:
        return
    speedups.configure(
        _FrozenDict,
        _FrozenList,
        _vector.Vec,
        Opaque,
        _hamt.MISSING,
        _hamt.EMPTY,
        _IMMUTABLE,
        _FROZEN,
        _freeze,
        _freeze_dict,
        _freeze_list,
        check_key,
        _SMALL,
        MAX_NESTING,
    )
    _HANDLERS[dict] = speedups.freeze_dict
    _HANDLERS[list] = speedups.freeze_list
    # The package-internal names (issue 11) follow the class: from here on
    # dict_find and dict_put are the compiled methods, as FrozenDict's _find and
    # _put are, so a path write through them keeps the compiled walk.
    # tests/test_path_policies.py checks they stay the same objects.
    for name in ("_find", "_put"):
        setattr(_dict_module, "dict" + name, _FrozenDict.__dict__[name])


_use_speedups()
