"""How the SQLite backend's driver errors become statetrail's.

Every :class:`sqlite3.Error` leaving the backend is translated here, the driver's
error kept as ``__cause__``: a busy database, a damaged file and a closed
backend each get a message that says what to do.
"""

from __future__ import annotations

import sqlite3

from statetrail.errors import CorruptHistoryError, StatetrailError, StorageError

__all__ = ["PRIMARY_KEY", "code", "is_busy", "refused", "too_large", "translate"]

_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (extended codes share the low byte)
_CORRUPT = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
#: SQLITE_CONSTRAINT_PRIMARYKEY: a revision number already taken.
PRIMARY_KEY = 1555


def code(exc: sqlite3.Error) -> int | None:
    """The SQLite result code of ``exc``, ``None`` if SQLite did not raise it.

    The primary code, except for a primary-key violation (a taken number).
    """
    extended: int | None = getattr(exc, "sqlite_errorcode", None)
    if extended is None or extended == PRIMARY_KEY:
        return extended
    return extended & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether another connection holds what ``exc``'s statement needed."""
    return code(exc) in _BUSY


def translate(exc: sqlite3.Error, path: str, busy_timeout: float) -> StorageError:
    """The statetrail error for driver error ``exc`` on database ``path``."""
    if is_busy(exc):
        return StorageError(
            f"the SQLite database {path} is busy: other connections held it "
            f"through busy_timeout={busy_timeout} s of retries; retry later or "
            "raise busy_timeout"
        )
    # Text that is not UTF-8 comes back as an OperationalError without a code.
    if code(exc) in _CORRUPT or "decode" in str(exc):
        return CorruptHistoryError(
            f"{path} is not a readable statetrail database ({exc}); restore it "
            "from a backup"
        )
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return StorageError(f"the SQLite backend for {path} is closed")
    return StorageError(f"SQLite failed on {path}: {exc}")


def too_large(exc: OverflowError) -> ValueError:
    """The error for an integer SQLite cannot store."""
    return ValueError(f"{exc}: SQLite stores integers from -2**63 to 2**63 - 1")


def refused(exc: ValueError) -> StatetrailError:
    """The error flush() raises for a batched write with a value SQLite refused."""
    error = StorageError(f"a batched write was refused: {exc}")
    error.__cause__ = exc
    return error
