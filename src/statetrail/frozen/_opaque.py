"""The box that keeps objects of unknown types out of reach of their callers.

A value statetrail cannot freeze (an instance of the caller's own class, say) is
deep-copied when it is recorded and kept in an :class:`Opaque` box. Every read
hands out a fresh deep copy, so neither the object the caller passed in nor any
object read back can alter recorded history.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["Opaque", "unbox"]


class Opaque:
    """A privately held deep copy of an object of a type statetrail cannot freeze."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def copy(self) -> Any:
        """A fresh deep copy of the held object."""
        return copy.deepcopy(self.obj)

    def __eq__(self, other: object) -> bool:
        if type(other) is Opaque:
            other = other.obj
        return bool(self.obj == other)

    def __hash__(self) -> int:
        return hash(self.obj)

    def __repr__(self) -> str:
        return repr(self.obj)

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return (Opaque, (self.obj,))


def unbox(value: Any) -> Any:
    """``value`` itself, or a fresh copy of what an :class:`Opaque` box holds."""
    if type(value) is Opaque:
        return value.copy()
    return value
