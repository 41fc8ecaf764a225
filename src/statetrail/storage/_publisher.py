"""Publishing committed revisions to Redis Streams: the history is the outbox.

Made by ``statetrail.open(target, publish="redis://...")``. A write never waits
for Redis: it only marks its timeline as having news (a set insert and a condition
notify). A thread of the publisher then reads the rows stored after the last one
the stream holds and adds them, in number order, in one pipelined round trip per
page. So:

- a revision committed while Redis is unreachable is published when it is back,
  in order: the thread retries with backoff and jitter, logging the outage once;
- nothing is lost across a crash of the publishing process: the next publisher
  starts from the stream's last entry, and the rows after it are in the history;
- several processes may publish one history: entry ids are revision numbers, and
  Redis refuses an id at or below the stream's last, so each revision is stored
  once (see :mod:`statetrail.storage._stream`);
- writes made elsewhere (another process, a batched flush) are seen by a poll of
  the backend every ``poll`` seconds.

Streams are bounded by ``XADD ... MAXLEN ~ maxlen``; a follower further behind
backfills from the source.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Final

from statetrail._log import get_logger
from statetrail.errors import StatetrailError
from statetrail.storage._stream import (
    connect,
    encode_entry,
    entry_id,
    number_of,
    options_of,
    redacted,
    stream_key,
)
from statetrail.storage.base import Backend

__all__ = ["Publisher"]

log = get_logger("statetrail")

#: Rows read from the backend and added to Redis per round trip.
PAGE: Final = 1_000
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MOST: Final = 5.0


class Publisher:
    """Publishes every stored revision of ``backend``'s timelines to Redis.

    Args:
        backend: The history to publish (the source of truth).
        url: ``redis://[user:password@]host:port/db`` or ``rediss://...``; its
            query may set ``maxlen`` and ``prefix`` (the arguments win).
        maxlen: About how many entries each stream keeps.
        prefix: Timeline ``t`` is published to the stream ``prefix + t``.
        poll: Seconds between looks at the backend for revisions written by
            others (other processes, a batched flush).
    """

    def __init__(
        self,
        backend: Backend,
        url: str,
        *,
        maxlen: int | None = None,
        prefix: str | None = None,
        poll: float = 1.0,
    ) -> None:
        url, url_maxlen, url_prefix = options_of(url)
        maxlen = url_maxlen if maxlen is None else maxlen
        prefix = url_prefix if prefix is None else prefix
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, not {maxlen!r}")
        if poll <= 0:
            raise ValueError(f"poll must be positive, not {poll!r}")
        self._client = connect(url)
        self._where = redacted(url)
        self._backend = backend
        self._maxlen = maxlen
        self._prefix = prefix
        self._poll = poll
        self._cond = threading.Condition()
        self._dirty: set[str] = set()
        self._published: dict[str, int] = {}
        self._busy = False
        self._closed = False
        self._failing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="statetrail-publisher", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The Redis URL published to, without its password."""
        return self._where

    def poke(self, timeline: str) -> None:
        """Say that ``timeline`` has new revisions: the cost of a write."""
        with self._cond:
            self._dirty.add(timeline)
            self._cond.notify()

    def published(self, timeline: str) -> int:
        """The newest revision of ``timeline`` known to be in its stream (-1: none)."""
        with self._cond:
            return self._published.get(timeline, -1)

    def wait(self, timeout: float | None = None) -> bool:
        """Publish what is stored now; ``True`` once done, ``False`` at ``timeout``.

        Raises:
            StatetrailError: Publishing stopped on an error that retrying cannot
                mend (it is logged too).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for name in self._backend.timelines():
            self.poke(name)
        with self._cond:
            while self._dirty or self._busy:
                if self._error is not None:
                    raise StatetrailError(
                        f"publishing to {self._where} stopped: {self._error}"
                    ) from self._error
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Stop the thread (what is not published yet will be, by the next one)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._client.close()

    # -- the thread --------------------------------------------------------------

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        next_poll = 0.0
        while True:
            with self._cond:
                while not self._dirty and not self._closed:
                    left = next_poll - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._closed:
                    return
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self._poll
                    self._dirty.update(self._all_timelines())
                todo, self._dirty = self._dirty, set()
                self._busy = True
            try:
                for name in sorted(todo):
                    self._publish(name)
            except Exception as exc:
                with self._cond:
                    self._dirty |= todo
                    self._busy = False
                    self._cond.notify_all()
                if not self._failing:
                    log.warning(
                        "publishing to %s failed (%s); retrying until it is back",
                        self._where,
                        exc,
                    )
                    self._failing = True
                with self._cond:
                    pause = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                    self._cond.wait_for(lambda: self._closed, pause)
                backoff = min(backoff * 2, _BACKOFF_MOST)
                continue
            if self._failing:
                log.warning("publishing to %s works again", self._where)
                self._failing = False
            backoff = _BACKOFF_FIRST
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _all_timelines(self) -> list[str]:
        try:
            return self._backend.timelines()
        except StatetrailError as exc:
            log.warning("publishing: the history could not be read (%s)", exc)
            return []

    def _publish(self, name: str) -> None:
        key = stream_key(name, self._prefix)
        last = self._published.get(name)
        if last is None:
            newest = self._client.xrevrange(key, count=1)
            last = number_of(newest[0][0]) if newest else -1
            if last < 0:
                # An empty stream (new, or Redis lost it): start within its bound.
                last = max(-1, self._backend.latest(name) - self._maxlen)
        while True:
            rows = self._backend.read(name, after=last, upto=last + PAGE)
            if not rows:
                return
            pipe = self._client.pipeline(transaction=False)
            command = pipe.execute_command
            for row in rows:
                # XADD spelled out: redis-py's xadd() builds the same arguments
                # more slowly.
                command(
                    "XADD",
                    key,
                    "MAXLEN",
                    "~",
                    self._maxlen,
                    entry_id(row.number),
                    *_flat(encode_entry(row)),
                )
            for row, result in zip(
                rows, pipe.execute(raise_on_error=False), strict=True
            ):
                if isinstance(result, Exception) and not _already_there(result):
                    raise result
                last = row.number
            with self._cond:
                self._published[name] = last


def _flat(fields: dict[str, bytes]) -> tuple[str | bytes, ...]:
    """``{"a": x, "b": y}`` as ``("a", x, "b", y)``: an XADD's field arguments."""
    return tuple(item for pair in fields.items() for item in pair)


def _already_there(error: Exception) -> bool:
    """Whether an XADD was refused because its id is not above the last one."""
    return "equal or smaller" in str(error)
