"""Change: one difference between two values (re-exported by ``statetrail.revision``).

It sits below ``statetrail.diff``, which makes changes, and ``statetrail.revision``,
which holds them, so neither has to import the other's layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from statetrail.frozen import MISSING
from statetrail.frozen._opaque import unbox
from statetrail.paths import Path, format_path

__all__ = ["UNSTORED", "Change", "fields"]


class _Unstored:
    """The old value of a change read back from storage, which keeps new values."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<not stored>"

    def __reduce__(self) -> str:
        return "UNSTORED"


#: The ``old`` of a replacement or removal read back from a stored patch: the
#: patch keeps only new values (``statetrail.storage.codec.changes_from_json``),
#: and applying it needs no more (:func:`statetrail.diff.apply_changes`).
UNSTORED: Any = _Unstored()


class Change:
    """One difference between two values: at ``path``, ``old`` became ``new``.

    ``old`` is :data:`~statetrail.frozen.MISSING` for an addition and ``new`` is
    ``MISSING`` for a removal. In a list of changes, list indices refer to the list
    as it is when the change applies, so applying the changes in order turns the
    first value into the second (as JSON Patch does). A change unpacks as
    ``path, old, new``.

    >>> from statetrail import Change
    >>> c = Change(("job", "bins"), 10, 12)
    >>> c.kind, c.dotted
    ('replace', 'job.bins')
    >>> path, old, new = c
    """

    __slots__ = ("_new", "_old", "_path")

    def __init__(self, path: Path, old: Any, new: Any) -> None:
        self._path = path
        self._old = old
        self._new = new

    @property
    def path(self) -> Path:
        """Where the change is, as a tuple of keys."""
        return self._path

    @property
    def old(self) -> Any:
        """The value before (``MISSING`` for an addition).

        An object of a type statetrail cannot freeze is handed out as a fresh copy,
        as everywhere else, so changing it cannot alter recorded history.
        """
        return unbox(self._old)

    @property
    def new(self) -> Any:
        """The value after (``MISSING`` for a removal); a copy, as ``old`` is."""
        return unbox(self._new)

    @property
    def kind(self) -> str:
        """``"add"``, ``"remove"`` or ``"replace"``."""
        if self._old is MISSING:
            return "add"
        if self._new is MISSING:
            return "remove"
        return "replace"

    @property
    def dotted(self) -> str:
        """The path in dot spelling."""
        return format_path(self._path)

    def inverse(self) -> Change:
        """The change that undoes this one."""
        return Change(self._path, self._new, self._old)

    def __iter__(self) -> Iterator[Any]:
        yield self._path
        yield self.old
        yield self.new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return (
            self._path == other._path
            and _same(self._old, other._old)
            and _same(self._new, other._new)
        )

    def __hash__(self) -> int:
        return hash((self._path, self.kind))

    def __repr__(self) -> str:
        return f"Change({self.dotted!r}, {self._old!r}, {self._new!r})"

    def __reduce__(self) -> tuple[Any, tuple[Path, Any, Any]]:
        return (Change, (self._path, self._old, self._new))


def _same(a: Any, b: Any) -> bool:
    return a is b or (a is not MISSING and b is not MISSING and bool(a == b))


def fields(change: Change) -> tuple[Path, Any, Any]:
    """``change``'s path, old and new value as held: no copies (see :attr:`old`).

    For storage, which encodes and hashes the values as they are recorded.
    """
    return change._path, change._old, change._new  # noqa: SLF001 - the storage seam
