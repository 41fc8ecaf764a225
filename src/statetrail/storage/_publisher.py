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
- on a backend that reports its commits (SQLite's ``on_commit``), the commit
  itself wakes the thread once the rows are durable (a batched write at its
  flush, not before it, when there is nothing to read yet) and hands it the
  rows, which it adds without reading them back; a write's own poke is then
  not needed. Rows it is not handed (dropped, or with a gap before them) are
  read from the history, which stays the outbox;
- writes made elsewhere (another process, another backend) are seen, on
  PostgreSQL, through its change feed (a thread LISTENs and wakes the
  publisher for each timeline a NOTIFY names: nothing is read while nothing is
  written); elsewhere by a look at the backend's data version every ``poll``
  seconds (SQLite's ``PRAGMA data_version``: one query says whether anyone
  committed); only when it moved are the timelines whose newest number passed
  the published one read.

Streams are bounded by ``XADD ... MAXLEN ~ maxlen``; a follower further behind
backfills from the source.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from statetrail._log import get_logger
from statetrail.errors import StatetrailError
from statetrail.storage._stream import (
    FORMAT,
    connect,
    encode_entry,
    entry_id,
    is_transient,
    number_of,
    options_of,
    redacted,
    send_packed,
    stream_key,
)
from statetrail.storage.base import Backend, Row

__all__ = ["Publisher"]

log = get_logger("statetrail")

#: Rows read from the backend and added to Redis per round trip.
PAGE: Final = 1_000
#: Seconds between looks for revisions written elsewhere: a look at the data
#: version (one ``PRAGMA`` on SQLite), or, for a backend without one, reading
#: each timeline's newest number.
_POLL: Final = 0.1
_POLL_READING: Final = 1.0
#: Seconds a wait on PostgreSQL's change feed lasts before it looks again
#: whether the publisher was closed (close() also cuts it).
_FEED_SLICE: Final = 1.0
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MOST: Final = 5.0
#: Rows handed over by commits and not yet taken by the thread, at most (older
#: ones are dropped and read from the history instead: a thread that stopped, a
#: forked child's writes, Redis away, cost no more memory than this).
_HANDED_MOST: Final = 10 * PAGE


class Publisher:
    """Publishes every stored revision of ``backend``'s timelines to Redis.

    Args:
        backend: The history to publish (the source of truth).
        url: ``redis://[user:password@]host:port/db`` or ``rediss://...``; its
            query may set ``maxlen`` and ``prefix`` (the arguments win).
        maxlen: About how many entries each stream keeps.
        prefix: Timeline ``t`` is published to the stream ``prefix + t``.
        poll: Seconds between looks at the backend for revisions written by
            others (other processes, a batched flush). By default none on a
            backend with a change feed (PostgreSQL's ``listen``: its NOTIFYs
            wake the publisher), 0.1 for a backend with a data version (a look
            is then one cheap query, and timelines are read only when it
            moved), else 1. Given, it is used instead of the change feed.
    """

    def __init__(
        self,
        backend: Backend,
        url: str,
        *,
        maxlen: int | None = None,
        prefix: str | None = None,
        poll: float | None = None,
    ) -> None:
        url, url_maxlen, url_prefix = options_of(url)
        maxlen = url_maxlen if maxlen is None else maxlen
        prefix = url_prefix if prefix is None else prefix
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, not {maxlen!r}")
        listen = getattr(backend, "listen", None)
        if poll is not None and poll <= 0:
            raise ValueError(f"poll must be positive, not {poll!r}")
        if poll is None and listen is None:
            poll = _POLL if backend.data_version() is not None else _POLL_READING
        self._client = connect(url)
        self._where = redacted(url)
        self._backend = backend
        self._maxlen = maxlen
        self._prefix = prefix
        # None: no looking (PostgreSQL's change feed says which timeline moved).
        self._poll: float | None = poll
        self._look = True  # look at every timeline in the next round
        # A write only adds to ``_dirty`` and sets ``_news`` (no lock unless the
        # flag was down); the thread clears the flag before it takes the names,
        # so a name added after it took them raises the flag again.
        self._news = threading.Event()
        self._dirty: set[str] = set()
        self._erasures: deque[tuple[str, int]] = deque()
        self._cond = threading.Condition()  # guards what follows, for wait()
        self._published: dict[str, int] = {}
        self._version: int | None = None  # the backend's, at the last look
        self._busy = False
        self._closed = False
        self._failing = False
        self._error: BaseException | None = None
        # Rows the backend's commits hand over (appended by writers, popped by the
        # thread), then sorted by timeline for the next round (the thread's).
        self._handed: deque[Row] = deque(maxlen=_HANDED_MOST)
        self._ready: dict[str, list[Row]] = {}
        self.looks = 0  #: looks at the backend for revisions written elsewhere
        self._thread = threading.Thread(
            target=self._run, name="statetrail-publisher", daemon=True
        )
        self._hook = getattr(backend, "on_commit", None)
        if self._hook is not None:
            self._hook(self._committed)
        self._feed: Any = None
        self._watcher: threading.Thread | None = None
        if listen is not None and poll is None:
            self._watcher = threading.Thread(
                target=self._watch,
                args=(listen,),
                name="statetrail-publisher-feed",
                daemon=True,
            )
            self._watcher.start()
        self._thread.start()

    @property
    def url(self) -> str:
        """The Redis URL published to, without its password."""
        return self._where

    def poke(self, timeline: str) -> None:
        """Say that ``timeline`` has new revisions: the cost of a write.

        A set insert and a flag: lock-free while the flag is already up. Nothing
        on a backend that reports its commits: they wake the thread themselves,
        once durable, with the rows (a poke would make it read again to find
        nothing).
        """
        if self._hook is None:
            self._mark(timeline)

    def _mark(self, timeline: str) -> None:
        self._dirty.add(timeline)
        if not self._news.is_set():
            self._news.set()

    def erased(self, timeline: str, number: int) -> None:
        """Say that revision ``number`` of ``timeline`` was erased.

        Its entry is deleted from the stream (``XDEL``), so Redis no longer
        holds its value. A follower that has not read it yet finds a gap
        there, and reads the erased revision (its tombstone) from its source.
        """
        self._erasures.append((timeline, number))
        self._news.set()

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
            self._mark(name)
        with self._cond:
            while self._dirty or self._erasures or self._busy:
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
        if self._hook is not None:
            self._hook(None)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._news.set()
        feed = self._feed
        if feed is not None:
            feed.close()  # cuts the watcher's wait
        for thread in (self._thread, self._watcher):
            if thread is not None and threading.current_thread() is not thread:
                thread.join()
        self._client.close()

    # -- the thread --------------------------------------------------------------

    def _committed(self, names: set[str], rows: Sequence[Row]) -> None:
        """The backend's commit hook: ``rows`` of ``names`` are durable."""
        self._handed.extend(rows)
        self._dirty.update(names)
        if not self._news.is_set():
            self._news.set()

    def _take(self) -> set[str]:
        """The timelines marked since the last take (only this thread pops).

        The rows handed over meanwhile go to ``_ready``, by timeline (those
        marked are taken after them, so a timeline's rows come with its mark).
        """
        self._news.clear()
        handed = self._handed
        ready = self._ready
        while handed:
            row = handed.popleft()
            ready.setdefault(row.timeline, []).append(row)
        todo: set[str] = set()
        dirty = self._dirty
        while dirty:
            todo.add(dirty.pop())
        return todo

    def _watch(self, listen: Any) -> None:
        """Poke each timeline PostgreSQL's change feed names (a thread).

        The feed is LISTENed to before every timeline is looked at once, so a
        commit in between is found by one or the other. A feed that cannot
        reconnect (``StorageError`` after its own retries) is listened to anew
        with backoff, and every timeline is looked at again.
        """
        backoff = _BACKOFF_FIRST
        while not self._closed:
            try:
                feed = self._feed = listen(after=self.published_all())
                self._look = True
                self._news.set()
                backoff = _BACKOFF_FIRST
                while not self._closed:
                    note = feed.get(timeout=_FEED_SLICE)
                    if note is not None:
                        self.poke(note[0])
            except StatetrailError as exc:
                if self._stopped():  # the feed was closed by close()
                    return
                log.warning("publishing: the change feed failed (%s); again", exc)
                with self._cond:
                    pause = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                    self._cond.wait_for(lambda: self._closed, pause)
                backoff = min(backoff * 2, _BACKOFF_MOST)
            finally:
                feed, self._feed = self._feed, None
                if feed is not None:
                    feed.close()

    def _stopped(self) -> bool:
        return self._closed

    def published_all(self) -> dict[str, int]:
        """The newest revision known to be in each timeline's stream."""
        with self._cond:
            return dict(self._published)

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        next_poll = 0.0
        while True:
            if self._poll is None:
                self._news.wait()
            else:
                self._news.wait(max(0.0, next_poll - time.monotonic()))
            with self._cond:
                if self._closed:
                    return
                self._busy = True
            todo = self._take()
            if self._look or (self._poll is not None and time.monotonic() >= next_poll):
                self._look = False
                next_poll = time.monotonic() + (self._poll or 0.0)
                todo.update(self._moved())
            try:
                for name in sorted(todo):
                    self._publish(name)
                # After publishing: an entry added from a row read before its
                # erasure is deleted too.
                self._strip()
            except Exception as exc:
                if not self._failing:
                    log.warning(
                        "publishing to %s failed (%s); retrying until it is back",
                        self._where,
                        exc,
                    )
                    self._failing = True
                self._dirty.update(todo)  # for wait(), and the next round
                self._ready.clear()  # read from the history when it is back
                self._news.set()
                # A refusal (a wrong password, a key of another type) makes
                # wait() raise instead of waiting; the thread still retries.
                self._error = None if is_transient(exc) else exc
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                    pause = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
                    self._cond.wait_for(lambda: self._closed, pause)
                backoff = min(backoff * 2, _BACKOFF_MOST)
                continue
            self._error = None
            if self._failing:
                log.warning("publishing to %s works again", self._where)
                self._failing = False
            backoff = _BACKOFF_FIRST
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _strip(self) -> None:
        """Delete the entries of erased revisions (only this thread pops)."""
        while self._erasures:
            name, number = self._erasures[0]
            self._client.xdel(stream_key(name, self._prefix), entry_id(number))
            self._erasures.popleft()

    def _moved(self) -> list[str]:
        """The timelines with revisions past those published.

        Read only if the history changed since the last look (its data version
        says; without one, it is read every time).
        """
        backend = self._backend
        self.looks += 1
        try:
            version = backend.data_version()
            if version is not None and version == self._version:
                return []
            # The version first: a commit after it moves it again for next time.
            moved = [
                name
                for name in backend.timelines()
                if backend.latest(name) > self._published.get(name, -1)
            ]
        except StatetrailError as exc:
            log.warning("publishing: the history could not be read (%s)", exc)
            return []
        self._version = version
        return moved

    def _publish(self, name: str) -> None:
        key = stream_key(name, self._prefix)
        last = self._published.get(name)
        if last is None:
            newest = self._client.xrevrange(key, count=1)
            last = number_of(newest[0][0]) if newest else -1
            if last < 0:
                # An empty stream (new, or Redis lost it): start within its bound.
                last = max(-1, self._backend.latest(name) - self._maxlen)
        head = _xadd_head(key, self._maxlen)
        handed = self._ready.pop(name, [])
        while True:
            first = last + 1
            rows, handed = _following(handed, last)
            if rows:
                whole = not handed  # the newest handed over: no read to find none
            else:
                whole = False
                rows = self._backend.read(name, after=last, upto=last + PAGE)
            if not rows:
                return
            # One XADD per row, packed here in Redis's protocol and sent in one
            # write (redis-py's pipeline packs each argument through its
            # encoder: 40% of the publisher's CPU), the replies read in order.
            packed = b"".join(
                head + _bulk(entry_id(row.number).encode()) + _FIELDS + _bulk(json)
                for row in rows
                for json in (encode_entry(row)["row"],)
            )
            errors = send_packed(self._client, packed, len(rows))
            for row, error in zip(rows, errors, strict=True):
                if error is not None and not _already_there(error):
                    raise error
                last = row.number
            with self._cond:
                self._published[name] = last
            if whole or (
                len(rows) < PAGE and rows[0].number == first == last - len(rows) + 1
            ):
                # Every number from the first to the newest, and none beyond it
                # within the page: the newest stored now. No read to find
                # nothing (a write published alone took two reads). Rows stored
                # after the handed ones are handed over or found by a look.
                return


def _following(handed: list[Row], last: int) -> tuple[list[Row], list[Row]]:
    """The handed rows that follow ``last`` without a gap, and those after them.

    A page at most; none if the first not published is not ``last + 1``.
    """
    start = 0
    while start < len(handed) and handed[start].number <= last:
        start += 1  # published already (by a read, or another process)
    end = start
    stop = min(len(handed), start + PAGE)
    while end < stop and handed[end].number == last + 1 + end - start:
        end += 1
    if end == start:
        return [], []  # a gap: read from the history, which has them all
    return handed[start:end], handed[end:]


def _bulk(data: bytes) -> bytes:
    """``data`` as a bulk string of Redis's protocol (RESP)."""
    return b"$%d\r\n%b\r\n" % (len(data), data)


def _xadd_head(key: str, maxlen: int) -> bytes:
    """``XADD key MAXLEN ~ maxlen`` of a ten-argument command, packed."""
    return b"*10\r\n" + b"".join(
        _bulk(part) for part in (b"XADD", key.encode(), b"MAXLEN", b"~", b"%d" % maxlen)
    )


#: An entry's fields after its id: ``format 2 row`` (the row's JSON follows).
_FIELDS: Final = _bulk(b"format") + _bulk(FORMAT.encode()) + _bulk(b"row")


def _already_there(error: Exception) -> bool:
    """Whether an XADD was refused because its id is not above the last one."""
    return "equal or smaller" in str(error)
