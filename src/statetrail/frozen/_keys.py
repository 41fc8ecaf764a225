"""Dict keys that can be found again: no NaN, inside or out.

A dict key that is not equal to itself (a float or Decimal NaN, a complex with a
NaN part, or a tuple, frozenset or frozen dataclass holding one) is found in its
own dict only by identity. Any copy of it (a stored history read back, a pickle,
a value sent to another process) is a new object, so a patch step naming the key
finds nothing: a timeline holding ``{nan: 1}`` and then ``{nan: 2}`` could not
be read back (issue 9, "bad input"). Such keys are refused when a value is
frozen (``freeze``, and so every front end), by ``FrozenDict`` itself, and by the
codec, so nothing records what it could not read back. Set members are not
keys: a set is stored and patched whole, so a NaN in a set reads back.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence, Set
from typing import Any

__all__ = ["check_key", "nan_key_reason", "unequal_to_itself"]


def unequal_to_itself(key: Any) -> bool:
    """Whether ``key`` is, or holds, a value that is not equal to itself (NaN).

    Tuples, frozensets, frozen containers and dataclasses are looked into: their
    own ``==`` takes an item that *is* the other side's as equal, so a NaN inside
    would pass ``key == key``.
    """
    if key is None:
        return False
    if key != key:
        return True
    if isinstance(key, (str, bytes, int, float)):
        return False
    if isinstance(key, Mapping):  # a FrozenDict
        return any(unequal_to_itself(k) or unequal_to_itself(v) for k, v in key.items())
    if isinstance(key, (tuple, Set, Sequence)):  # FrozenList, FrozenSet too
        return any(unequal_to_itself(item) for item in key)
    # A dataclass exists only once its module is imported: looked up, not
    # imported, so that import statetrail does not load dataclasses and inspect.
    dataclasses = sys.modules.get("dataclasses")
    if (
        dataclasses is not None
        and dataclasses.is_dataclass(key)
        and not isinstance(key, type)
    ):
        return any(
            unequal_to_itself(getattr(key, field.name))
            for field in dataclasses.fields(key)
        )
    return False


def check_key(key: Any) -> bool:
    """True, or :class:`ValueError` if ``key`` is or holds NaN (see the module).

    True so that a comprehension can call it in its condition: freezing a dict
    checks its keys in the loop that freezes its values, and a string or integer
    key costs one type test (``type(k) is str or check_key(k)``).
    """
    if type(key) is int or not unequal_to_itself(key):
        return True
    raise ValueError(nan_key_reason(key))


def nan_key_reason(key: Any) -> str:
    """Why ``key`` (which is or holds NaN) is refused, and what to do instead."""
    return (
        f"a dict key that is or holds NaN ({key!r}) cannot be recorded: NaN is not "
        "equal to itself, so the key could not be found again once the value is "
        "stored, copied or read back; use None or a string such as 'nan' instead"
    )
