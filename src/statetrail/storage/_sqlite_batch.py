"""Group commit for the SQLite backend's ``durability="batched"`` mode.

Writers queue operations and return at once; one background thread commits what
is queued in a single transaction when the oldest queued operation has waited
``interval`` seconds, when ``size`` rows are queued, or when someone flushes. One
fsync then covers the whole group, which is where the speed comes from, and also
why a write has *not* reached the disk when ``append()`` returns.

Errors cannot reach the writer that queued the operation (it has moved on), so
they are logged when found and kept for the next :meth:`GroupCommit.flush`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from statetrail._log import get_logger
from statetrail.errors import ConflictError, StatetrailError, StorageError
from statetrail.storage.base import Row

__all__ = [
    "GroupCommit",
    "Insert",
    "Op",
    "PutCheckpoint",
    "Queued",
    "SaveHeads",
    "rows_of",
]

log = get_logger("statetrail.storage.sqlite")

#: The parameters of one statement.
Params = tuple[object, ...]


class Insert(NamedTuple):
    """A queued ``append()``: its rows, and the heads saved with the first."""

    rows: list[Row]
    #: The rows' parameters of ``INSERT`` (``_sqlite_schema.params``).
    parameters: list[Params]
    #: The parameters of ``SAVE_HEADS``, undone with the rows (or ``None``).
    heads: Params | None = None


class PutCheckpoint(NamedTuple):
    """A queued ``put_checkpoint()``: dropped if its revision's row is refused."""

    timeline: str
    number: int
    value: str
    digest: str


class SaveHeads(NamedTuple):
    """A queued ``save_heads()``: the parameters of ``SAVE_HEADS``."""

    parameters: Params


#: One queued write: it runs inside the group's transaction (``sqlite._run``). The
#: committer reads what it holds (rows to store in one statement, a checkpoint
#: to drop) from its type, not from a closure.
Op = Insert | PutCheckpoint | SaveHeads

#: An operation and the number of rows it writes.
Queued = tuple[Op, int]


def rows_of(op: Op) -> list[Row]:
    """The rows ``op`` stores (none but an :class:`Insert`'s)."""
    return op.rows if type(op) is Insert else []


#: Commits a group: returns the error of each operation that failed (in order).
Committer = Callable[[list[Queued]], list[StatetrailError]]


class GroupCommit:
    """A queue of writes and the thread that commits them in groups.

    Args:
        commit: Runs one group in one transaction and returns the errors found.
        interval: Longest time, in seconds, a queued write waits for its commit.
        size: Number of queued rows that triggers a commit at once.
        name: Thread name, for debuggers and logs.
    """

    def __init__(
        self, commit: Committer, *, interval: float, size: int, name: str
    ) -> None:
        self._commit = commit
        self._interval = interval
        self._size = size
        # A writer faster than the disk waits here instead of growing the queue
        # without bound.
        self._limit = 10 * size
        # Entered as the bare lock (cheaper than the Condition's own methods);
        # waits and wake-ups go through the Condition built on it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: list[Queued] = []
        self._rows = 0
        self._oldest = 0.0
        self._queued = 0  # operations ever queued
        self._done = 0  # operations committed or failed
        self._urgent = 0  # flushes waiting
        self._idle = False  # the thread waits for work: wake it on the next
        self._stopping = False
        self._errors: list[StatetrailError] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, op: Op, rows: int) -> None:
        """Queue ``op`` (which writes ``rows`` rows) and return.

        Raises:
            StorageError: The queue has been stopped (the backend is closed).
        """
        with self._lock:
            while self._rows >= self._limit and not self._stopping:
                self._cond.wait()
            if self._stopping:
                raise StorageError("the SQLite backend is closed")
            if not self._queue:
                self._oldest = time.monotonic()
            self._queue.append((op, rows))
            self._rows += rows
            self._queued += 1
            # Wake the thread only when it must act: notify() costs more than
            # queueing does.
            if self._idle or self._rows - rows < self._size <= self._rows:
                self._cond.notify_all()

    def flush(self) -> None:
        """Wait until every operation queued so far is committed.

        Raises:
            ConflictError: Queued appends found their numbers taken (all of them
                are listed in ``conflicts``); the other operations are committed.
            StatetrailError: The first other error found since the last flush.
        """
        with self._lock:
            target = self._queued
            self._urgent += 1
            self._cond.notify_all()
            try:
                while self._done < target:
                    self._cond.wait()
            finally:
                self._urgent -= 1
            errors, self._errors = self._errors, []
        _raise(errors)

    def stop(self) -> None:
        """Commit everything queued, stop the thread, raise what :meth:`flush` would.

        Later :meth:`submit` calls raise :class:`~statetrail.StorageError`.
        """
        with self._lock:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        with self._lock:
            errors, self._errors = self._errors, []
        _raise(errors)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                if not self._queue:
                    return
                deadline = self._oldest + self._interval
                while not (self._stopping or self._urgent or self._rows >= self._size):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                group, self._queue, self._rows = self._queue, [], 0
                self._cond.notify_all()  # writers waiting on the limit
            try:
                errors = self._commit(group)
            except Exception as exc:  # kept for flush(): a lost error is a lost write
                errors = [StorageError(f"a batched commit failed: {exc!r}")]
                errors[0].__cause__ = exc
            for error in errors:
                log.error("a batched SQLite write failed: %s", error)
            with self._lock:
                self._errors += errors
                self._done += len(group)
                self._cond.notify_all()


def _raise(errors: list[StatetrailError]) -> None:
    """Raise nothing, the one error, or one error that stands for them all."""
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    others = [e for e in errors if not isinstance(e, ConflictError)]
    if others:
        raise others[0]
    conflicts = [c for e in errors if isinstance(e, ConflictError) for c in e.conflicts]
    raise ConflictError(
        f"{len(errors)} batched appends found their revision numbers taken: "
        + "; ".join(str(e) for e in errors[:3])
        + (" ..." if len(errors) > 3 else ""),
        conflicts,
    ) from errors[0]
