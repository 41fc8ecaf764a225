"""Live revisions as server-sent events, from :func:`statetrail.follow`.

Each client of ``GET /api/timelines/{name}/events`` gets a follower of its own,
iterated in a thread of its own (a follower waits on storage or Redis, which
would block the event loop), which hands each revision to the response through
a bounded queue: a slow client holds back its own follower only. Each revision
is sent as::

    id: 42
    event: revision
    data: {"timeline": "job", "number": 42, ...}

with the revision object of ``docs/revision-json.md`` (no value). The event id
is the revision number, so a client reconnecting with ``Last-Event-ID: 42``
(EventSource sends it by itself) or ``?after=42`` resumes with 43. A comment
line goes out every :data:`HEARTBEAT` seconds of silence, so proxies do not
close a quiet stream, and the response starts with one, so the client knows
it is connected.

When the client goes away, the response is cancelled and the follower closed;
its thread ends within one :data:`POLL`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import orjson

from statetrail._log import get_logger
from statetrail.errors import StatetrailError
from statetrail.live import Following
from statetrail.storage.revision_json import dumps, from_revision

__all__ = ["HEARTBEAT", "POLL", "Pump", "sse"]

log = get_logger("statetrail.web")

#: Seconds of silence after which a comment line is sent.
HEARTBEAT: Final = 15.0
#: Seconds a pump thread waits for a revision before it looks whether to stop.
POLL: Final = 0.25
#: Revisions a pump may be ahead of its client.
QUEUE: Final = 256

#: What a pump hands over: ``(number, event bytes)``, or ``(None, error text)``.
Item = tuple[int | None, bytes]


class Pump:
    """A thread that iterates one follower into an asyncio queue.

    Args:
        start: Makes the follower (called in the thread: opening one may wait
            on a server).
        name: The timeline, for the revision objects and the thread's name.
        loop: The event loop the queue belongs to.
    """

    def __init__(
        self,
        start: Callable[[], Following],
        name: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE)
        self._start = start
        self._name = name
        self._loop = loop
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._following: Following | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"statetrail-events {name!r}", daemon=True
        )

    def start(self) -> None:
        """Start following."""
        self.thread.start()

    def close(self) -> None:
        """Stop: the follower is closed and the thread ends soon after."""
        with self._lock:
            self._stop.set()
            following = self._following
        if following is not None:
            following.close()

    def _put(self, item: Item) -> bool:
        """Hand ``item`` to the client; ``False`` once stopped."""
        try:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self._loop)
        except RuntimeError:  # the loop is closed
            return False
        while not self._stop.is_set():
            try:
                future.result(POLL)
                return True
            except concurrent.futures.TimeoutError:
                continue  # the client is slow: wait, unless stopped
            except concurrent.futures.CancelledError:
                return False
        future.cancel()
        return False

    def _run(self) -> None:
        try:
            following = self._start()
        except (StatetrailError, OSError, ValueError) as exc:
            self._put((None, str(exc).encode()))
            return
        with self._lock:
            if self._stop.is_set():
                following.close()
                return
            self._following = following
        try:
            while not self._stop.is_set():
                revision = following.get(POLL)
                if revision is None:
                    continue
                data = dumps(from_revision(revision, self._name))
                event = b"id: %d\nevent: revision\ndata: %s\n\n" % (
                    revision.number,
                    data,
                )
                if not self._put((revision.number, event)):
                    break
        except Exception as exc:
            if not self._stop.is_set():
                log.warning("events of %r: %s", self._name, exc)
                self._put((None, f"following stopped: {exc}".encode()))
        finally:
            following.close()


async def sse(
    start: Callable[[], Following],
    name: str,
    *,
    heartbeat: float = HEARTBEAT,
    on_open: Callable[[Pump], Any] | None = None,
    on_close: Callable[[Pump], Any] | None = None,
) -> AsyncIterator[bytes]:
    """The event stream of one client, as the chunks of its response body.

    ``on_open`` and ``on_close`` are told of the pump (the app counts its open
    streams with them).
    """
    pump = Pump(start, name, asyncio.get_running_loop())
    if on_open is not None:
        on_open(pump)
    pump.start()
    try:
        yield b": statetrail events of one timeline\nretry: 1000\n\n"
        while True:
            try:
                number, event = await asyncio.wait_for(pump.queue.get(), heartbeat)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if number is None:
                error = orjson.dumps({"error": event.decode()})
                yield b"event: error\ndata: %s\n\n" % error
                return
            yield event
    finally:
        pump.close()
        if on_close is not None:
            with contextlib.suppress(Exception):
                on_close(pump)
