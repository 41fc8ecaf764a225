"""Following a timeline live: from a Redis stream, or from the storage itself.

:func:`follow` and :func:`follow_async` yield a timeline's revisions in number
order, each exactly once, resuming after a given number, for as long as the
caller iterates: new revisions arrive as they are committed, as ``tail -f``
shows new lines. Both end in the same core (:mod:`statetrail.live._core`),
whatever the revisions come from:

- ``redis://`` or ``rediss://`` (AUTH in the URL): the timeline's stream, as
  ``statetrail.open(..., publish=URL)`` writes it. A lost connection is retried
  with backoff and jitter, from the last revision applied. Revisions no longer
  in the stream (it is bounded), or refused there (an entry that does not
  verify), are read from ``source``: the file or URL the history is stored in.
  Without a source they raise :class:`~statetrail.SyncError`, saying where to
  restart.
- a file or a ``postgresql://`` URL: the storage itself, read after the last
  revision applied whenever it may have news: PostgreSQL's change feed
  (LISTEN/NOTIFY) says so; a file's data version (SQLite's ``PRAGMA
  data_version``, looked at every ``interval`` seconds) moves.

Every follower can be closed from another thread or task, promptly.

>>> import statetrail
>>> repo = statetrail.open(":memory:")
>>> store = repo.store("job", {"bins": 10})
>>> _ = store.set("bins", 12)
>>> following = statetrail.follow(repo, "job")
>>> [(r.number, r.value["bins"]) for r in (next(following), next(following))]
[(0, 10), (1, 12)]
>>> following.close()
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self

from statetrail._log import get_logger
from statetrail.errors import RevisionNotFoundError, StatetrailError, SyncError
from statetrail.live._core import Applier, Gap
from statetrail.repository import Repository
from statetrail.repository import open as open_repository
from statetrail.revision import Revision
from statetrail.storage._stream import (
    DEFAULT_PREFIX,
    connect,
    decode_entry,
    entry_id,
    is_transient,
    number_of,
    redacted,
    stream_key,
)
from statetrail.storage.base import Row

__all__ = ["Following", "Lag", "follow", "follow_async"]

log = get_logger("statetrail")

#: Entries read from Redis per round trip.
BATCH: Final = 500
#: Seconds a wait on PostgreSQL's change feed lasts at most before it looks
#: whether the follower was closed.
_SLICE: Final = 0.1
#: Revisions an async follower's thread reads ahead of its consumer.
_AHEAD: Final = 64
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MOST: Final = 5.0

#: Where a follower may read revisions: a Redis URL, a file or a database URL,
#: or an open repository.
Target = str | os.PathLike[str] | Repository


class Lag(NamedTuple):
    """How far a follower is behind: in revisions, and in seconds."""

    #: Revisions committed (as far as the follower has seen) and not yet applied.
    revisions: int
    #: Seconds from the commit of the newest revision applied until now
    #: (``0.0`` when nothing is behind; ``None`` before the first revision).
    seconds: float | None


def follow(
    url: Target,
    name: str,
    *,
    after: int | None = None,
    source: Target | None = None,
    interval: float = 0.05,
    prefix: str = DEFAULT_PREFIX,
) -> Following:
    """The revisions of timeline ``name``, in order, as they are committed.

    Args:
        url: A ``redis://`` or ``rediss://`` URL to follow a stream published by
            ``statetrail.open(..., publish=URL)``; or the history itself (a file,
            a ``postgresql://`` URL or an open repository).
        name: The timeline.
        after: The last revision already seen: start after it (``None``: from
            the first revision).
        source: Where the history is stored, to backfill what a Redis stream no
            longer holds (and to start after a revision without replaying the
            stream from its start).
        interval: Seconds between looks for news when following storage.
        prefix: The streams' prefix (as published).

    Returns:
        An iterator of :class:`~statetrail.Revision` (its ``lag`` says how far
        behind it is); ``close()`` it, or use it in a ``with`` block.
    """
    return Following(
        url, name, after=after, source=source, interval=interval, prefix=prefix
    )


async def follow_async(
    url: Target,
    name: str,
    *,
    after: int | None = None,
    source: Target | None = None,
    interval: float = 0.05,
    prefix: str = DEFAULT_PREFIX,
) -> AsyncIterator[Revision]:
    """:func:`follow` as an async iterator: waiting never blocks the event loop.

    A thread of its own reads (not the loop's default executor, which a few
    waiting followers would fill) and hands each revision over, in order, each
    once, holding at most a few ahead of the consumer. Leaving the ``async
    for``, or cancelling the task, closes the follower and ends the thread.
    """
    import asyncio  # here: importing statetrail does not import asyncio

    loop = asyncio.get_running_loop()
    following = await asyncio.to_thread(
        Following,
        url,
        name,
        after=after,
        source=source,
        interval=interval,
        prefix=prefix,
    )
    # Unbounded, since the thread only puts through the loop; the semaphore
    # holds it to _AHEAD revisions ahead of the consumer. No coroutine is made
    # in the thread, so none is left unawaited when the loop ends first.
    queue: asyncio.Queue[Revision | BaseException | None] = asyncio.Queue()
    ahead = threading.Semaphore(_AHEAD)

    def hand(item: Revision | BaseException | None) -> None:
        while not ahead.acquire(timeout=0.1):
            if following.closed:
                return  # the consumer has left
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # its loop has closed: nobody is waiting
            return

    def read() -> None:
        try:
            while not following.closed:
                revision = following.get()
                if revision is not None:
                    hand(revision)
        except BaseException as exc:  # handed to the consumer, raised there
            hand(exc)
        else:
            hand(None)

    thread = threading.Thread(target=read, name=f"statetrail-follow-{name}")
    thread.daemon = True
    thread.start()
    try:
        while True:
            item = await queue.get()
            ahead.release()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        following.close()


def _is_redis(url: Target) -> bool:
    return isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://"))


class _History:
    """Reads of the stored history, for backfill and for a storage follower."""

    def __init__(self, target: Target, name: str) -> None:
        if isinstance(target, Repository):
            self.repo, self._own = target, False
        else:
            text = os.fspath(target)
            if "://" not in text and text != ":memory:" and not os.path.exists(text):
                raise FileNotFoundError(f"no history to follow at {text!r}")
            # A database is read without creating anything in it.
            options: dict[str, Any] = (
                {"read_only": True} if text.startswith("postgres") else {}
            )
            self.repo, self._own = open_repository(text, **options), True
        self.name = name
        self._feed: Any = None
        self._feed_after = -2
        # The data version at which the last read found nothing new.
        self._quiet_at: tuple[int, int | None] | None = None

    def value(self, number: int) -> tuple[Any, str]:
        row = self.repo.backend.row(self.name, number)
        if row is None:
            raise RevisionNotFoundError(
                f"revision {number} of {self.name!r} is not in the history"
            )
        return self.repo.value_at(self.name, number), row.chain

    def rows(self, after: int, upto: int | None = None) -> list[Row]:
        return self.repo.backend.read(self.name, after=after, upto=upto)

    def latest(self) -> int:
        return self.repo.backend.latest(self.name)

    def news(self, after: int, timeout: float, closed: threading.Event) -> list[Row]:
        """The rows after ``after``, waiting up to ``timeout`` seconds for some.

        PostgreSQL says when there is news (its change feed, LISTEN/NOTIFY,
        which reconnects by itself). The others are looked at: their data
        version (SQLite's ``PRAGMA data_version``) says whether anyone committed
        since the last read found nothing, and only then are rows read. The
        wait ends early when ``closed`` is set.
        """
        backend = self.repo.backend
        listen = getattr(backend, "listen", None)
        if listen is None:
            # SQLite's version is its connection's, one per thread: compared
            # only within a thread.
            version = (threading.get_ident(), backend.data_version())
            if version[1] is not None and version == self._quiet_at:
                closed.wait(timeout)
                return []
            rows = self.rows(after, after + BATCH)
            # The version read before the rows: a commit after it moves it.
            self._quiet_at = None if rows else version
            if not rows:
                closed.wait(timeout)
            return rows
        if self._feed is None or self._feed_after != after:
            self._close_feed()
            self._feed = listen(after={self.name: after})
        # In slices, so that close() from another thread is seen within one.
        deadline = time.monotonic() + timeout
        while True:
            left = min(deadline - time.monotonic(), _SLICE)
            rows = [r for r in self._feed.next_rows(left) if r.timeline == self.name]
            if rows or closed.is_set() or time.monotonic() >= deadline:
                break
        if rows:
            self._feed_after = rows[-1].number
        else:
            self._feed_after = after
        return rows

    def _close_feed(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def close(self) -> None:
        self._close_feed()
        if self._own:
            self.repo.close()


class Following(Iterator[Revision]):
    """An iterator of a timeline's revisions as they are committed (see :func:`follow`).

    Thread-safe to close from another thread; iterate it from one thread.
    ``after="newest"`` starts with the newest stored revision (a mirror's start);
    it needs the history (a storage target, or ``source=``), else it starts from
    the first.
    """

    def __init__(
        self,
        url: Target,
        name: str,
        *,
        after: int | Literal["newest"] | None = None,
        source: Target | None = None,
        interval: float = 0.05,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a timeline name is a non-empty str, not {name!r}")
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self.name = name
        self._redis = _is_redis(url)
        self._where = redacted(url) if isinstance(url, str) else repr(url)
        self._interval = interval
        self._closed = threading.Event()
        self._reading = threading.Lock()  # held by the thread reading news
        self._pending: deque[Revision] = deque()
        self._seen = -1  # the newest number known to exist
        self._history: _History | None = None
        self._client: Any = None
        try:
            if self._redis:
                self._client = connect(url)  # type: ignore[arg-type]
                self._key = stream_key(name, prefix)
                if source is not None:
                    self._history = _History(source, name)
            else:
                self._history = _History(url, name)
        except BaseException:
            self.close()
            raise
        if after == "newest":
            after = None if self._history is None else self._history.latest() - 1
            after = None if after is not None and after < 0 else after
        resumable = after is None or self._history is not None
        # Without a source, a follower starting after a revision replays the stream
        # from its start and hands out only what comes after (it needs the values).
        self._quiet = -1 if after is None else after
        self._position = self._quiet
        self._applier = Applier(
            name,
            after=after if resumable else None,
            source=self._history.value if self._history is not None else None,
        )
        self._failing = False
        self._backoff = _BACKOFF_FIRST

    # -- the iterator --------------------------------------------------------------

    def __next__(self) -> Revision:
        while not self._pending or self._closed.is_set():
            if self._closed.is_set():
                raise StopIteration
            self._fill()
        return self._pop()

    def get(self, timeout: float | None = None) -> Revision | None:
        """The next revision, or ``None`` if none came within ``timeout`` seconds.

        Also ``None`` once the follower is closed. Without a ``timeout`` it waits
        as long as it takes.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending or self._closed.is_set():
            if self._closed.is_set():
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self._fill()
        return self._pop()

    def _pop(self) -> Revision:
        revision = self._pending.popleft()
        self._position = revision.number
        return revision

    @property
    def lag(self) -> Lag:
        """How far behind the newest revision seen this follower is."""
        behind = max(0, self._seen - self._position)
        applied = self._applier.time_ns
        if applied is None:
            return Lag(behind, None)
        seconds = 0.0 if behind == 0 else max(0.0, time.time() - applied / 1e9)
        return Lag(behind, seconds)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed.is_set()

    @property
    def position(self) -> int:
        """The number of the newest revision handed out.

        ``after`` (or -1) before the first. A new follower started ``after=`` it
        misses nothing: revisions read but not yet handed out are not counted.
        """
        return self._position

    def close(self) -> None:
        """Stop following; the iterator then ends.

        Safe from any thread or task, and prompt: a wait for news in another
        thread ends at once (a blocked Redis read is cut by closing its
        connection; a wait on storage wakes), and that thread hands out nothing
        more (a web server closes its followers as browsers leave).
        """
        self._closed.set()
        if self._client is not None:
            self._client.close()
        if self._reading.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._reading.release()
        # Else the thread reading releases the history as it leaves _fill.

    def _release(self) -> None:
        if self._history is not None:
            self._history.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Following {self.name!r} from {self._where} at {self.position}>"

    # -- reading -------------------------------------------------------------------

    def _fill(self) -> None:
        with self._reading:
            try:
                self._read()
            finally:
                if self._closed.is_set():
                    self._release()

    def _read(self) -> None:
        try:
            if self._redis:
                self._read_stream()
            else:
                self._read_history()
        except Exception as exc:
            if self._closed.is_set():
                return  # cut by close(): whatever it raised, the iterator ends
            if isinstance(exc, StatetrailError | ValueError | TypeError):
                raise
            if not is_transient(exc):
                raise SyncError(
                    f"following {self.name!r} from {self._where} failed: "
                    f"{type(exc).__name__}: {redacted(str(exc))}"
                ) from None
            if not self._failing:
                log.warning(
                    "following %r from %s: %s; reconnecting",
                    self.name,
                    self._where,
                    exc,
                )
                self._failing = True
            self._closed.wait(self._backoff * random.uniform(0.5, 1.5))  # noqa: S311
            self._backoff = min(self._backoff * 2, _BACKOFF_MOST)
            return
        if self._failing:
            log.warning("following %r from %s: reconnected", self.name, self._where)
            self._failing = False
        self._backoff = _BACKOFF_FIRST

    def _read_stream(self) -> None:
        last = self._applier.next - 1
        start = "0-0" if last < 0 else entry_id(last)
        block = max(1, int(min(self._interval * 4, 1.0) * 1000))
        reply = self._client.xread({self._key: start}, count=BATCH, block=block)
        for _key, entries in reply or ():
            for eid, fields in entries:
                self._entry(eid, fields)

    def _entry(self, eid: bytes, fields: dict[bytes, bytes]) -> None:
        number = number_of(eid)
        self._seen = max(self._seen, number)
        try:
            row = decode_entry(eid, fields, number)
            self._apply(row)
        except SyncError as exc:
            if self._history is None or number < self._applier.next:
                raise
            log.warning("following %r: %s; reading it from the source", self.name, exc)
            self._backfill(self._applier.next, number, "refused in the stream")

    def _apply(self, row: Row) -> None:
        try:
            revision = self._applier.take(row)
        except Gap as gap:
            self._backfill(gap.expected, gap.got - 1, "no longer in the stream")
            revision = self._applier.take(row)
        self._hand_out(revision)

    def _hand_out(self, revision: Revision | None) -> None:
        if revision is not None and revision.number > self._quiet:
            self._pending.append(revision)

    def _backfill(self, first: int, last: int, why: str) -> None:
        if self._history is None:
            raise SyncError(
                f"revisions {first}..{last} of {self.name!r} are {why} at "
                f"{self._where}: follow with source= (the file or URL the history "
                f"is stored in) to read them, or restart after {last} to skip them"
            )
        rows = self._history.rows(first - 1, last)
        if [r.number for r in rows] != list(range(first, last + 1)):
            raise SyncError(
                f"revisions {first}..{last} of {self.name!r} are {why}, and the "
                "source does not hold them all"
            )
        for row in rows:
            self._hand_out(self._applier.take(row))

    def _read_history(self) -> None:
        assert self._history is not None
        rows = self._history.news(self._applier.next - 1, self._interval, self._closed)
        if not rows:
            return
        self._seen = max(self._seen, rows[-1].number)
        for row in rows:
            self._apply(row)
