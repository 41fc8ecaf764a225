"""The exceptions statetrail raises.

Every error is a :class:`StatetrailError`, and where Python code already catches a
builtin for the same situation, it is that builtin too::

    StatetrailError
    ├── FrozenError (AttributeError)      a write to a frozen Var or locked immutable,
    │                                     or an in-place mutator on a frozen value
    ├── RevisionNotFoundError (LookupError)   no such revision or branch
    │   ├── RollbackError                 a rollback to a revision not there
    │   └── UnknownTimelineError (KeyError)   no timeline of that name is
    │                                     stored, and no initial value given
    ├── PathError (LookupError)           a path that cannot be read or written
    ├── PatchError (ValueError)           a JSON Patch malformed or not applying
    ├── NestingError (ValueError)         a value that contains itself or nests
    │                                     deeper than MAX_NESTING levels
    ├── ConflictError                     the head moved under an expected-head
    │                                     write, another process wrote first, or
    │                                     a revert meets later changes
    ├── ReentrancyError (RuntimeError)    writes re-entering without end
    ├── StorageError                      a backend failed (driver error: __cause__)
    │   └── CorruptHistoryError           stored history fails to parse or verify
    ├── DecryptionError                   an encrypted value and no key that opens
    │                                     it (none given, or the wrong one)
    └── SyncError                         publishing or following over Redis failed

Plain bad arguments raise :class:`ValueError` or :class:`TypeError`, as Python's own
functions do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "ConflictError",
    "CorruptHistoryError",
    "DecryptionError",
    "FrozenError",
    "NestingError",
    "PatchError",
    "PathError",
    "ReentrancyError",
    "RevisionNotFoundError",
    "RollbackError",
    "StatetrailError",
    "StorageError",
    "SyncError",
    "UnknownTimelineError",
]


class StatetrailError(Exception):
    """The base of every error statetrail raises."""


class FrozenError(StatetrailError, AttributeError):
    """A write to something frozen.

    A frozen ``Var``, a locked immutable, or an in-place mutator (``append``,
    ``update``, ``+=`` ...) called on a frozen container.
    """


class RevisionNotFoundError(StatetrailError, LookupError):
    """No revision with that number (or no branch with that name) is held."""


class RollbackError(RevisionNotFoundError):
    """A rollback names a revision that is not there (out of range or trimmed)."""


class UnknownTimelineError(RevisionNotFoundError, KeyError):
    """No timeline of that name is stored, and nothing says to create one.

    Raised by a repository's ``store``, ``async_store``, ``watch`` and
    ``revisioned`` given a name that holds no history and no initial value, so
    a misspelt name fails at once instead of starting an empty timeline; pass
    an initial value to create one. ``name`` is the name asked for, ``matches``
    the stored names closest to it (:func:`difflib.get_close_matches`), which
    the message offers. ``repo.timeline(name, create=False)`` raises it too.
    A :class:`KeyError`, as for a missing key of a mapping,
    whose message reads as a sentence (``str()`` of a ``KeyError`` would quote
    it).
    """

    def __init__(
        self,
        name: str,
        known: Iterable[str] = (),
        what: str = "timeline",
        advice: str = "give an initial value to create it",
    ) -> None:
        import difflib  # only when raised: import statetrail stays light

        self.name = name
        self.what = what
        self.advice = advice
        self.matches: list[str] = difflib.get_close_matches(name, list(known), n=3)
        if self.matches:
            hint = "did you mean " + " or ".join(repr(m) for m in self.matches) + "?"
        else:
            hint = "no stored name is close to it"
        message = f"there is no {what} {name!r} ({hint})"
        super().__init__(f"{message}; {advice}" if advice else message)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.matches, self.what, self.advice))


class PathError(StatetrailError, LookupError):
    """A path that cannot be followed.

    A missing key, an index out of range, or a step into something that is not a
    container.
    """


class PatchError(StatetrailError, ValueError):
    """A JSON Patch that is malformed or does not apply to the document."""


class NestingError(StatetrailError, ValueError):
    """A value that contains itself, or nests deeper than ``MAX_NESTING`` levels.

    Every front end (``watch``, ``Var.set``, ``Store``, ``AsyncStore``, the
    immutable containers, ``Timeline``, ``freeze`` and the codec) refuses such a
    value at once with this error, before anything is recorded. The limit,
    :data:`statetrail.frozen.MAX_NESTING`, counts containers (dicts, lists, sets,
    tuples) one inside the other: a value within it can be thawed, diffed and
    stored by every backend.
    """


class ConflictError(StatetrailError):
    """A write that would silently overwrite or undo someone else's change.

    Raised when the head moved under a write that expected it at a given revision,
    when another process recorded a revision first and the write cannot simply be
    re-applied on top (a whole-value set, ``update(fn)``, a transaction: see
    docs/storage.md, "Several processes"), and when
    :meth:`~statetrail.Timeline.revert` meets later changes to the same paths.
    ``conflicts`` lists what collided, for a report; ``winner`` is the number of
    the revision that won when another process recorded one first (``None``
    otherwise).
    """

    def __init__(
        self, message: str, conflicts: Sequence[Any] = (), *, winner: int | None = None
    ) -> None:
        super().__init__(message)
        self.conflicts: tuple[Any, ...] = tuple(conflicts)
        self.winner = winner


class ReentrancyError(StatetrailError, RuntimeError):
    """A write that re-enters a timeline where that cannot end well.

    Listeners kept writing back past the allowed depth, or a validator, an
    ``update()`` function or another task tried to write while a write was in
    progress.
    """


class StorageError(StatetrailError):
    """A storage backend failed; the driver's own error is ``__cause__``."""


class CorruptHistoryError(StorageError):
    """Stored history fails to parse or its hash chain does not verify.

    ``problems`` lists what a verification found, each as ``(timeline, number,
    what)`` (``None`` where a problem is not about one timeline or revision).
    Never empty: an error raised at the first problem met while reading lists
    that one, as ``(None, None, message)`` when it names no timeline.
    """

    def __init__(self, message: str, problems: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.problems: list[tuple[str | None, int | None, str]] = list(problems) or [
            (None, None, message)
        ]


class DecryptionError(StatetrailError):
    """An encrypted value could not be read: no key given, or not the right one.

    Values sealed by :class:`statetrail.interceptors.Encrypt` are authenticated,
    so a wrong key is this error, never a garbled value.
    """


class SyncError(StatetrailError):
    """Publishing revisions to Redis, or following them from it, failed."""
