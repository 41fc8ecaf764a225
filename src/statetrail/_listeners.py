"""Listener dispatch: revisions delivered after the commit, in commit order.

A timeline queues each recorded revision here (with the generation of
listener write-backs it belongs to) and delivers the queue after releasing its
lock. One thread at a time delivers, so listeners see revisions in commit
order; a thread that finds another delivering leaves its revisions to it. A
listener that raises is logged (logger ``"statetrail"``) and the others still
run. A listener that writes back has its revision queued, not delivered
recursively, and the generations are counted across timelines
(:data:`MAX_LISTENER_DEPTH`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from statetrail._log import get_logger
from statetrail.revision import Record, Revision

__all__ = ["MAX_LISTENER_DEPTH", "Dispatcher", "Listener", "write_depth"]

logger = get_logger("statetrail")

Listener = Callable[[Revision], object]

#: How many generations of listener write-backs are allowed before a write raises
#: :class:`~statetrail.ReentrancyError` (a listener writing, whose revision's
#: listener writes, and so on, across timelines too).
MAX_LISTENER_DEPTH = 100

_local = threading.local()
# Threads now delivering to listeners: only they need the thread-local depth, so a
# write elsewhere skips that lookup.
_delivering: set[int] = set()


def write_depth() -> int:
    """The generation of listener write-backs a write on this thread belongs to."""
    return getattr(_local, "depth", 0) if _delivering else 0


class Dispatcher:
    """The listeners of one timeline and the revisions waiting for them.

    Args:
        listeners: The first listeners.
        lock: The timeline's lock, taken to pop the queue.
        view: Makes the :class:`~statetrail.Revision` a listener gets.
        label: Names the timeline in the log.
    """

    __slots__ = ("_label", "_lock", "_turn", "_view", "listeners", "pending")

    def __init__(
        self,
        listeners: tuple[Listener, ...],
        lock: Any,
        view: Callable[[Record], Revision],
        label: Callable[[], str],
    ) -> None:
        self.listeners = listeners
        self.pending: deque[tuple[Record, int]] = deque()
        self._lock = lock
        self._view = view
        self._label = label
        self._turn = threading.Lock()  # held by the thread delivering

    def add(self, fn: Listener) -> None:
        """Call ``fn`` too (with the timeline's lock held)."""
        self.listeners = (*self.listeners, fn)

    def remove(self, fn: Listener) -> bool:
        """Stop calling ``fn``; whether it was there (with the lock held)."""
        listeners = list(self.listeners)
        if fn not in listeners:
            return False
        listeners.remove(fn)
        self.listeners = tuple(listeners)
        return True

    def run(self) -> None:
        """Deliver what is queued, unless another thread is delivering it.

        The loop re-checks after releasing its turn, so nothing queued in
        between is stranded.
        """
        while self.pending:
            if not self._turn.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        if not self.pending:
                            break
                        record, depth = self.pending.popleft()
                        listeners = self.listeners
                    self._deliver(self._view(record), depth, listeners)
            finally:
                self._turn.release()

    def _deliver(
        self, rev: Revision, depth: int, listeners: tuple[Listener, ...]
    ) -> None:
        ident = threading.get_ident()
        outer = getattr(_local, "depth", 0)
        _local.depth = depth
        _delivering.add(ident)
        try:
            for fn in listeners:
                try:
                    fn(rev)
                except Exception:
                    logger.exception(
                        "listener %r failed on revision %d of %s",
                        fn,
                        rev.number,
                        self._label(),
                    )
        finally:
            _local.depth = outer
            if not outer:
                _delivering.discard(ident)
