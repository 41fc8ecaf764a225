"""EventQueue: one AsyncStore subscriber's events, and what it missed.

Kept apart from :mod:`statetrail.store` because it is an :class:`asyncio.Queue`:
``import statetrail`` (and a synchronous :class:`~statetrail.Store`) does not
import asyncio; the first ``subscribe_events()`` does (issue 11).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from statetrail._store_events import EVENT_TYPE_EVENTS_DROPPED, Event

__all__ = ["EventQueue"]


class EventQueue(asyncio.Queue[Event]):
    """One subscriber's events, in commit order (made by ``subscribe_events()``).

    A bounded queue never blocks the store. When it is full, new events are
    dropped; as soon as there is room again (the consumer takes an event), one
    ``EVENTS_DROPPED`` event (``count``, ``first_revision``, ``last_revision``)
    goes in after the events already queued and tells the consumer what it
    missed, so it can read those revisions from the history; delivery goes on.
    Events dropped while that notice is still the newest in the queue are added
    to it. ``dropped`` counts every event lost so.
    """

    def __init__(self, maxsize: int, loop: asyncio.AbstractEventLoop | None) -> None:
        if maxsize == 1 or maxsize < 0:
            raise ValueError("an event queue holds at least 2 events (0: unbounded)")
        super().__init__(maxsize)
        self._loop = loop
        self._thread = threading.get_ident()
        self._stop: Callable[[], None] = lambda: None
        # Events dropped and not yet told: [count, first revision, last revision].
        self._missed: list[int] = []
        # The notice at the end of the queue, still to be taken: later drops join it.
        self._notice: Event | None = None
        self.dropped = 0

    def subscribe(
        self, listen: Callable[[Callable[[Event], None]], Callable[[], None]]
    ) -> None:
        """Have ``listen(send)`` deliver events here; it returns how to stop.

        A store calls it once, when it makes the queue (see ``Store.events``).
        """
        self._stop = listen(self._send)

    def unsubscribe(self) -> None:
        """Stop delivering events to this queue (those already in it stay)."""
        self._stop()

    def get_nowait(self) -> Event:
        """Remove and return an event; :class:`asyncio.QueueEmpty` if there is none.

        ``get()`` ends here too. Taking an event makes room, so the notice of the
        events dropped while the queue was full goes in now, not with the next
        event.
        """
        event = super().get_nowait()
        if self._missed:
            count, first, last = self._missed
            self._missed = []
            self._notice = {
                "type": EVENT_TYPE_EVENTS_DROPPED,
                "count": count,
                "first_revision": first,
                "last_revision": last,
            }
            self.put_nowait(self._notice)
        return event

    def _send(self, event: Event) -> None:
        # Runs on the committing thread. Every event goes through the loop's own
        # queue of callbacks, so events committed from other threads keep their order.
        loop = self._loop
        if loop is None:
            self._offer(event)
            return
        try:
            if threading.get_ident() == self._thread:
                loop.call_soon(self._offer, event)
            else:
                loop.call_soon_threadsafe(self._offer, event)
        except RuntimeError:  # the loop is closed: nobody can read this queue
            self.unsubscribe()

    def _offer(self, event: Event) -> None:
        # Runs on the loop's thread, as the consumer does: no lock needed. Events
        # go missing only while the queue is full, and the first event taken after
        # that makes room for the notice, so the notice never waits for an event.
        if not self.full():
            self._notice = None  # an event follows it: the notice is final
            self.put_nowait(event)
            return
        self.dropped += 1
        number = event.get("revision", -1)
        notice = self._notice
        if notice is not None:  # still the newest in the queue: it tells this too
            notice["count"] += 1
            notice["last_revision"] = number
        elif self._missed:
            self._missed[0] += 1
            self._missed[2] = number
        else:
            self._missed = [1, number, number]
