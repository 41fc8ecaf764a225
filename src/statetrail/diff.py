"""Structural diff of frozen trees, applying and inverting changes, and JSON Patch.

:func:`diff` compares two values and returns the :class:`~statetrail.Change` list
that turns the first into the second. Subtrees the two values share are skipped by
identity, so comparing two versions of a large state that differ in one leaf costs
the size of that change, not of the state. Inside lists, insertions and removals
are found with Myers' O(ND) algorithm, so a list that gained one item in the middle
diffs to one ``add``, not a ``replace`` for every shifted index.

Lists are diffed by structure. Two versions of a list share every subtree that no
edit copied, wherever an insertion or deletion has shifted it, and
:func:`~statetrail.frozen._vector.regions` walks both trees to the stretches between
the shared subtrees: O(32 log n) items around each edit. Each stretch is trimmed of
the items equal at its two ends, and Myers' search runs on what is left; past
``_MAX_EDITS`` edits in one stretch it pairs items up instead. So one insertion
into a list of a million items diffs to one ``add`` after visiting a few hundred
items, and two lists built apart (no shared subtree: one stretch) cost what the
whole list costs, as before lists were trees.

>>> from statetrail.frozen import freeze
>>> a = freeze({"job": {"bins": [1, 2, 3], "state": "idle"}})
>>> b = freeze({"job": {"bins": [1, 9, 2, 3], "state": "busy"}})
>>> for change in diff(a, b):
...     print(change)
Change('job.bins.1', MISSING, 9)
Change('job.state', 'idle', 'busy')
>>> apply_changes(a, diff(a, b)) == b
True
>>> to_json_patch(diff(a, b))[0]
{'op': 'add', 'path': '/job/bins/1', 'value': 9}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, count
from operator import is_not
from typing import Any

from statetrail._change import Change, fields
from statetrail.errors import NestingError, PatchError, PathError
from statetrail.frozen import (
    MISSING,
    FrozenDict,
    FrozenList,
    _hamt,
    _hooks,
    _vector,
    thaw,
)
from statetrail.frozen._dict import (
    changes_in_order,
    dict_items,
    dict_raw,
    dict_small_keys,
    dict_small_vals,
    dict_trie,
    same_order,
)
from statetrail.frozen._freeze import freeze_value
from statetrail.frozen._hamt import EXACT_TYPES
from statetrail.frozen._list import list_vec
from statetrail.paths import (
    POINTER,
    Path,
    delete_in,
    get_in,
    insert_in,
    resolve,
    set_in,
)

__all__ = [
    "apply_changes",
    "apply_json_patch",
    "dict_changes",
    "diff",
    "format_json_pointer",
    "invert",
    "list_hunks",
    "list_items",
    "parse_json_pointer",
    "to_json_patch",
]

#: Beyond this many edits inside one list, Myers' search (whose trace grows with
#: the square of the edits) stops, and the differing stretch is reported item by
#: item instead: still correct, less minimal.
_MAX_EDITS = 400

#: Two lists of one length are first compared index by index; past this many
#: items changed in place, the stretches between their shared subtrees are diffed.
_MAX_IN_PLACE = 128


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type, also inside dicts, lists and tuples.

    1, 1.0 and True are different values to record, and ``==`` on containers would
    not tell ``[1]`` from ``[True]``; nor would it tell two dicts in different
    orders apart, which are different values to record too. Shared parts are
    skipped by identity.
    """
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t in EXACT_TYPES:
        return bool(a == b)
    if t is FrozenDict:
        if len(a) != len(b):
            return False
        if dict_small_keys(a) is None and dict_small_keys(b) is None:
            pairs: list[tuple[Any, Any]] = []
            _hamt.diff_nodes(
                dict_trie(a), dict_trie(b), lambda k, x, y: pairs.append((x, y))
            )
            if not all(x is not MISSING and _same(x, y) for x, y in pairs):
                return False
            return same_order(a, b)
        for k, x in dict_items(a):
            y = dict_raw(b, k)
            if x is not y and not _same(x, y):
                return False
        return same_order(a, b)
    if t is FrozenList:
        va, vb = list_vec(a), list_vec(b)
        if va.size != vb.size:
            return False
        for k in _vector.changed_indices(va, vb):
            if not _same(_vector.get(va, k), _vector.get(vb, k)):
                return False
        return True
    if t is tuple:
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def same_value(a: Any, b: Any) -> bool:
    """Whether a diff of ``a`` and ``b`` (frozen) finds nothing: equal, same types."""
    return _same(a, b)


def diff(a: Any, b: Any) -> list[Change]:
    """The changes that turn ``a`` into ``b`` (both frozen first, if they are not).

    Dicts are compared key by key and lists item by item, recursively; anything
    else that differs (a scalar, a set, a change of type) is one ``replace``.
    """
    out: list[Change] = []
    try:
        _diff(freeze_value(a), freeze_value(b), (), out)
    except RecursionError:
        raise NestingError("values nested too deeply to compare") from None
    return out


def diff_values(a: Any, b: Any) -> tuple[Change, ...]:
    """:func:`diff` of two frozen values; ``()`` when ``a`` is MISSING."""
    if a is MISSING:
        return ()
    out: list[Change] = []
    try:
        _diff(a, b, (), out)
    except RecursionError:
        raise NestingError("values nested too deeply to compare") from None
    return tuple(out)


def _diff(a: Any, b: Any, path: Path, out: list[Change]) -> None:
    if a is b:
        return
    ta = type(a)
    if ta is type(b):
        if ta is FrozenDict:
            _diff_dict(a, b, path, out)
            return
        if ta is FrozenList:
            _diff_list(a, b, path, out)
            return
        if ta in _hooks.lazy:  # both loaded lazily from storage (storage/_lazy.py)
            _diff_lazy(a, b, path, out)
            return
        if _same(a, b):
            return
    elif ta in _hooks.lazy or type(b) in _hooks.lazy:
        _diff(_hooks.real(a), _hooks.real(b), path, out)
        return
    out.append(Change(path, a, b))


def _diff_lazy(a: Any, b: Any, path: Path, out: list[Change]) -> None:
    """:func:`_diff` of two lazily loaded values of one type.

    The changes their overlays make when they stand on the same stored value,
    else a diff of the frozen values they stand for.
    """
    found = _hooks.lazy_changes[type(a)](a, b)
    if found is None:
        _diff(_hooks.real(a), _hooks.real(b), path, out)
        return
    for k, av, bv in found:
        if av is MISSING or bv is MISSING:
            out.append(Change((*path, k), av, bv))
        else:
            _diff(av, bv, (*path, k), out)


def dict_changes(
    a: FrozenDict[Any, Any], b: FrozenDict[Any, Any]
) -> list[tuple[Any, Any, Any]]:
    """The keys whose values differ from ``a`` to ``b``, as ``(key, old, new)``.

    Values are as stored (not unboxed); ``old`` or ``new`` is
    :data:`~statetrail.frozen.MISSING` for a key on one side only. Subtrees the
    two maps share are skipped by identity, so the cost is the size of the change.
    A value that is a dict or list on both sides is listed when it is not the
    very same object, even if equal (a diff of the two finds nothing then).
    Ordered so that applied in turn they rebuild ``b``'s order (see
    :func:`~statetrail.frozen._dict.changes_in_order`).
    """
    found: list[tuple[Any, Any, Any]] = []
    keys = dict_small_keys(a)
    if keys is not None and (keys is dict_small_keys(b) or keys == dict_small_keys(b)):
        # Small dicts with the same keys in the same order (the usual case after
        # an edit): only the values that are not the identical object are looked at.
        avals, bvals = dict_small_vals(a), dict_small_vals(b)
        for i in compress(count(), map(is_not, avals, bvals)):
            av, bv = avals[i], bvals[i]
            tv = type(av)
            if (tv is type(bv) and (tv is FrozenDict or tv is FrozenList)) or not _same(
                av, bv
            ):
                found.append((keys[i], av, bv))
        return found
    if keys is None and dict_small_keys(b) is None:
        _hamt.diff_nodes(
            dict_trie(a), dict_trie(b), lambda k, o, n: found.append((k, o, n))
        )
        # The trie finds the keys in hash order; the changes must also rebuild b's
        # insertion order when applied (additions last, in b's order).
        return changes_in_order(a, b, found)
    aa = dict(dict_items(a))
    bb = dict(dict_items(b))
    for k, av in aa.items():
        bv = bb.get(k, MISSING)
        if av is bv:
            continue
        tv = type(av)
        if (
            bv is MISSING
            or (tv is type(bv) and (tv is FrozenDict or tv is FrozenList))
            or not _same(av, bv)
        ):
            # Containers of one type go straight to _diff, which finds what
            # changed inside them (nothing, if they are equal) in one pass.
            found.append((k, av, bv))
    for k, bv in bb.items():
        if k not in aa:
            found.append((k, MISSING, bv))
    return changes_in_order(a, b, found)


def _diff_dict(
    a: FrozenDict[Any, Any], b: FrozenDict[Any, Any], path: Path, out: list[Change]
) -> None:
    for k, av, bv in dict_changes(a, b):
        if av is MISSING or bv is MISSING:
            out.append(Change((*path, k), av, bv))
        else:
            _diff(av, bv, (*path, k), out)


def list_hunks(
    a: FrozenList[Any], b: FrozenList[Any]
) -> list[tuple[int, int, list[Any]]]:
    """Where ``b`` differs from ``a``, as ``(start, end, items)`` hunks of ``a``.

    Each hunk says that ``a``'s items from ``start`` up to ``end`` (exclusive;
    ``start == end`` for an insertion before ``start``) became ``items`` (as
    stored, not unboxed). Hunks are in order and neither overlap nor touch:
    applied from the last to the first, they turn ``a`` into ``b``. Found as
    :func:`diff` finds list edits: only the stretches between the subtrees the
    two lists share are looked at, with Myers' search inside each.
    """
    hunks: list[tuple[int, int, list[Any]]] = []
    for i, xs, _, ys in _vector.regions(list_vec(a), list_vec(b)):
        n, m = len(xs), len(ys)
        prefix = 0
        while prefix < n and prefix < m and _same(xs[prefix], ys[prefix]):
            prefix += 1
        suffix = 0
        while (
            suffix < n - prefix
            and suffix < m - prefix
            and _same(xs[n - 1 - suffix], ys[m - 1 - suffix])
        ):
            suffix += 1
        xs, ys = xs[prefix : n - suffix], ys[prefix : m - suffix]
        if not xs and not ys:
            continue
        base = i + prefix
        start: int | None = None
        end = 0
        items: list[Any] = []
        for op, x, y in _edit_script(xs, ys):
            if op == "=":
                if start is not None:
                    hunks.append((start, end, items))
                    start, items = None, []
                continue
            if start is None:
                start = end = base + x
            if op in "-~":
                end = base + x + 1
            if op in "+~":
                items.append(ys[y])
        if start is not None:
            hunks.append((start, end, items))
    return hunks


def _diff_list(
    a: FrozenList[Any], b: FrozenList[Any], path: Path, out: list[Change]
) -> None:
    va, vb = list_vec(a), list_vec(b)
    get = _vector.get
    if va.size == vb.size:
        # Same length: first look for items changed in place, skipping shared
        # subtrees; past a few, the stretches below find the edits instead. The
        # bound keeps a removal and an insertion far apart (every index between
        # them changed) from costing the distance between them.
        limit = max(8, min(va.size // 8, _MAX_IN_PLACE))
        changed: list[int] = []
        for k in _vector.changed_indices(va, vb):
            if not _same(get(va, k), get(vb, k)):
                changed.append(k)
                if len(changed) > limit:
                    break
        if len(changed) <= limit:
            for k in changed:
                _diff(get(va, k), get(vb, k), (*path, k), out)
            return
    for _, xs, start, ys in _vector.regions(va, vb):
        # Between two subtrees both lists hold: each stretch is diffed alone, and
        # starts in b where the list, changed so far, has it.
        n, m = len(xs), len(ys)
        prefix = 0
        while prefix < n and prefix < m and _same(xs[prefix], ys[prefix]):
            prefix += 1
        suffix = 0
        while (
            suffix < n - prefix
            and suffix < m - prefix
            and _same(xs[n - 1 - suffix], ys[m - 1 - suffix])
        ):
            suffix += 1
        xs, ys = xs[prefix : n - suffix], ys[prefix : m - suffix]
        if xs or ys:
            _emit_script(xs, ys, _edit_script(xs, ys), start + prefix, path, out)


def list_items(a: FrozenList[Any], start: int, end: int) -> list[Any]:
    """Items ``start`` up to ``end`` of ``a``, as stored (boxes not opened)."""
    get, vec = _vector.get, list_vec(a)
    return [get(vec, k) for k in range(start, end)]


def _edit_script(xs: Sequence[Any], ys: Sequence[Any]) -> list[tuple[str, int, int]]:
    """Myers' shortest edit script, as ``("=" | "-" | "+", i, j)`` steps."""
    n, m = len(xs), len(ys)
    if not n or not m:
        return [("-", i, 0) for i in range(n)] + [("+", 0, j) for j in range(m)]
    v: dict[int, int] = {1: 0}
    trace: list[dict[int, int]] = []
    for d in range(min(n + m, _MAX_EDITS) + 1):
        trace.append(v.copy())
        for k in range(-d, d + 1, 2):
            down = k == -d or (k != d and v[k - 1] < v[k + 1])
            x = v[k + 1] if down else v[k - 1] + 1
            y = x - k
            while x < n and y < m and _same(xs[x], ys[y]):
                x += 1
                y += 1
            v[k] = x
            if x >= n and y >= m:
                return _backtrack(trace, n, m, xs, ys)
    # Too many edits for a minimal script: pair items up, then add or remove the rest.
    script = [("=" if _same(xs[i], ys[i]) else "~", i, i) for i in range(min(n, m))]
    script += [("-", i, m) for i in range(m, n)]
    script += [("+", n, j) for j in range(n, m)]
    return script


def _backtrack(
    trace: list[dict[int, int]], n: int, m: int, xs: Sequence[Any], ys: Sequence[Any]
) -> list[tuple[str, int, int]]:
    script: list[tuple[str, int, int]] = []
    x, y = n, m
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        if k == -d or (k != d and v.get(k - 1, -1) < v.get(k + 1, -1)):
            prev_k = k + 1
        else:
            prev_k = k - 1
        prev_x = v.get(prev_k, 0)
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            x -= 1
            y -= 1
            script.append(("=", x, y))
        if d > 0:
            if x == prev_x:
                script.append(("+", x, prev_y))
            else:
                script.append(("-", prev_x, y))
        x, y = prev_x, prev_y
    script.reverse()
    return script


def _emit_script(
    xs: Sequence[Any],
    ys: Sequence[Any],
    script: list[tuple[str, int, int]],
    start: int,
    path: Path,
    out: list[Change],
) -> None:
    k = start
    i = 0
    while i < len(script):
        op, x, y = script[i]
        nxt = script[i + 1] if i + 1 < len(script) else None
        if op == "=":
            k += 1
        elif op == "~":
            _diff(xs[x], ys[y], (*path, k), out)
            k += 1
        elif nxt is not None and {op, nxt[0]} == {"-", "+"}:
            # A removal next to an insertion at the same place is a replacement.
            old = xs[x] if op == "-" else xs[nxt[1]]
            new = ys[nxt[2]] if op == "-" else ys[y]
            _diff(old, new, (*path, k), out)
            k += 1
            i += 1
        elif op == "-":
            out.append(Change((*path, k), xs[x], MISSING))
        else:
            out.append(Change((*path, k), MISSING, ys[y]))
            k += 1
        i += 1


# -- applying and inverting ----------------------------------------------------


def apply_changes(value: Any, changes: Iterable[Change]) -> Any:
    """Apply ``changes`` in order to (a frozen copy of) ``value``.

    The old values are not compared with ``value``: only whether a change adds
    (old is ``MISSING``), removes (new is ``MISSING``) or replaces counts, so
    the changes of a stored patch apply as well as a diff's.

    Raises :class:`~statetrail.PathError` when a change does not fit the value.
    """
    result = freeze_value(value)
    for change in changes:
        # The fields as held: a boxed object goes in as its box, not a copy (a
        # box hands out copies, so sharing it is safe). The old value is only
        # told apart from MISSING: a stored patch's is UNSTORED.
        path, old, new = fields(change)
        if old is MISSING:
            result = insert_in(result, path, new)
        elif new is MISSING:
            result = delete_in(result, path)
        elif not path:
            result = freeze_value(new)
        else:
            result = set_in(result, path, new, create=False)
    return result


def invert(changes: Sequence[Change]) -> list[Change]:
    """The changes that undo ``changes``: each inverted, in reverse order."""
    return [change.inverse() for change in reversed(changes)]


# -- JSON Patch (RFC 6902) and JSON Pointer (RFC 6901) ---------------------------


def format_json_pointer(path: Path) -> str:
    """The JSON Pointer for a path (``()`` is ``""``).

    >>> format_json_pointer(("a/b", "m~n", 0))
    '/a~1b/m~0n/0'
    """
    return "".join(
        "/" + str(step).replace("~", "~0").replace("/", "~1") for step in path
    )


#: A ``~`` not followed by ``0`` or ``1``: the only escapes RFC 6901 allows.
_BAD_ESCAPE = re.compile("~(?![01])")


def parse_json_pointer(pointer: str) -> tuple[str, ...]:
    """The steps of a JSON Pointer, unescaped; :class:`PatchError` if malformed."""
    if not isinstance(pointer, str):
        raise PatchError(f"a JSON Pointer is a string, not {type(pointer).__name__}")
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise PatchError(f"JSON Pointer {pointer!r} must start with '/'")
    steps = []
    for raw in pointer[1:].split("/"):
        if _BAD_ESCAPE.search(raw):
            raise PatchError(f"bad escape in JSON Pointer {pointer!r}")
        steps.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(steps)


def to_json_patch(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """The JSON Patch operations for ``changes``, values thawed to plain types."""
    patch: list[dict[str, Any]] = []
    for change in changes:
        pointer = format_json_pointer(change.path)
        if change.old is MISSING:
            patch.append({"op": "add", "path": pointer, "value": thaw(change.new)})
        elif change.new is MISSING:
            patch.append({"op": "remove", "path": pointer})
        else:
            patch.append({"op": "replace", "path": pointer, "value": thaw(change.new)})
    return patch


def _resolve(doc: Any, pointer: str, *, for_add: bool = False) -> Path:
    """Steps of ``pointer`` with list steps turned into indices, checked on ``doc``.

    The walk is :func:`statetrail.paths.resolve` under RFC 6901's list steps
    (:data:`~statetrail.paths.POINTER`); a step that leads nowhere is its
    :class:`~statetrail.PathError`, which :func:`apply_json_patch` reports as a
    :class:`PatchError`.
    """
    return resolve(doc, parse_json_pointer(pointer), POINTER, for_add=for_add)


def _operand(op: Mapping[str, Any], name: str) -> Any:
    if name not in op:
        raise PatchError(f"operation {dict(op)!r} has no {name!r}")
    return op[name]


def apply_json_patch(doc: Any, patch: Iterable[Mapping[str, Any]]) -> Any:
    """Apply a JSON Patch to (a frozen copy of) ``doc`` and return the result.

    All six operations are supported. The patch applies entirely or not at all:
    on any error a :class:`PatchError` is raised and ``doc`` is untouched (it is
    frozen).
    """
    result = freeze_value(doc)
    for op in patch:
        if not isinstance(op, Mapping):
            raise PatchError(f"a patch operation is an object, not {op!r}")
        kind = _operand(op, "op")
        pointer = _operand(op, "path")
        try:
            if kind == "add":
                result = insert_in(
                    result,
                    _resolve(result, pointer, for_add=True),
                    _operand(op, "value"),
                )
            elif kind == "remove":
                result = _remove(result, pointer)
            elif kind == "replace":
                path = _resolve(result, pointer)
                get_in(result, path)
                result = (
                    freeze_value(_operand(op, "value"))
                    if not path
                    else set_in(result, path, _operand(op, "value"), create=False)
                )
            elif kind in ("move", "copy"):
                source = _operand(op, "from")
                value = get_in(result, _resolve(result, source))
                if kind == "move":
                    src, dst = parse_json_pointer(source), parse_json_pointer(pointer)
                    if len(dst) > len(src) and dst[: len(src)] == src:
                        raise PatchError(f"cannot move {source!r} into its own child")
                    result = _remove(result, source)
                result = insert_in(
                    result, _resolve(result, pointer, for_add=True), value
                )
            elif kind == "test":
                actual = get_in(result, _resolve(result, pointer))
                if not _json_equal(actual, _operand(op, "value")):
                    raise PatchError(f"test failed at {pointer!r}")
            else:
                raise PatchError(f"unknown patch operation {kind!r}")
        except PathError as exc:
            raise PatchError(f"{kind} at {pointer!r} does not apply: {exc}") from exc
    return result


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as RFC 6902's test defines it: 1 equals 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return len(a) == len(b) and all(k in b and _json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, FrozenList)) and isinstance(b, (list, FrozenList)):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    return bool(a == b)


def _remove(doc: Any, pointer: str) -> Any:
    path = _resolve(doc, pointer)
    if not path:
        raise PatchError("cannot remove the whole document")
    return delete_in(doc, path)
