"""One context manager for the drivers' errors: they leave a backend as ours.

Every backend that talks to a driver (``sqlite3``, ``psycopg``) wraps its calls
in a :class:`Translated` built with the driver's error classes and the
backend's translation, instead of an ``except`` clause at each call: what a
driver error becomes is decided in one place per backend, and the driver's
error stays as ``__cause__`` (docs/storage.md, "Errors").

>>> import sqlite3
>>> from statetrail.errors import StorageError
>>> driver = Translated((sqlite3.Error,), lambda exc: StorageError(f"failed: {exc}"))
>>> try:
...     with driver:
...         raise sqlite3.OperationalError("disk I/O error")
... except StorageError as exc:
...     print(exc, "|", type(exc.__cause__).__name__)
failed: disk I/O error | OperationalError
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Literal

from statetrail.errors import StatetrailError

__all__ = ["Translated"]


class Translated:
    """Inside ``with``, an error of one of ``kinds`` becomes ``translate(error)``.

    An error that is already statetrail's passes as it is (a translation made
    further in is not made twice), and so does every other error. Reusable and
    reentrant: it holds no state, so a backend keeps one (entering it costs
    about as much as a ``try`` statement's call of a method).

    Args:
        kinds: The driver's error classes (and ``OverflowError`` for SQLite's
            64-bit integers).
        translate: The error to raise instead, chained to the driver's.
    """

    __slots__ = ("_kinds", "_translate")

    def __init__(
        self,
        kinds: tuple[type[BaseException], ...],
        translate: Callable[[BaseException], Exception],
    ) -> None:
        self._kinds = kinds
        self._translate = translate

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or isinstance(exc, StatetrailError):
            return False
        if isinstance(exc, self._kinds):
            raise self._translate(exc) from exc
        return False
