"""``statetrail.open()``: a repository of named timelines kept in storage.

>>> import statetrail
>>> with statetrail.open(":memory:") as repo:
...     score = repo.watch("score", 0)
...     _ = score.set(10).set(20)
...     repo.timelines()
['score']

A repository opens a backend (SQLite for a file path, PostgreSQL for a
``postgresql://`` URL, a JSON file for a path ending in ``.json``, memory for
``":memory:"``) and hands out front ends whose every revision is written there
before the write returns. Opening a timeline again gives back its whole history,
branches and cursor, checked against its hash chain.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from statetrail._intercept import Interceptor, interceptors_of
from statetrail._log import get_logger
from statetrail._retention import trim_bounds
from statetrail._store_core import root_of
from statetrail.context import _checked_text
from statetrail.errors import (
    ConflictError,
    CorruptHistoryError,
    RevisionNotFoundError,
    StatetrailError,
    StorageError,
    UnknownTimelineError,
)
from statetrail.frozen import FrozenDict
from statetrail.revision import Trim, time_ns_at
from statetrail.storage import _integrity as integrity
from statetrail.storage._journal import CHECKPOINT_EVERY, StoreJournal, read_value
from statetrail.storage._lazy import NodeCache
from statetrail.storage._paged import open_records
from statetrail.storage._ranges import cut_of
from statetrail.storage.base import Backend, Heads, RangeTombstone
from statetrail.store import AsyncStore, Store
from statetrail.timeline import Handle, Timeline
from statetrail.var import Var

if TYPE_CHECKING:
    # Imported where used, not here: opening a SQLite file needs none of them,
    # and together they cost ~9 ms of its first ``open`` (issue 11).
    from statetrail.immutable.revisioned import (
        RevisionedImmutable,
        RevisionedMapping,
        SimpleRevisionedImmutableManager,
    )
    from statetrail.storage._publisher import Publisher

__all__ = ["Repository", "open"]

log = get_logger("statetrail")

#: Seconds ``close()`` waits for what is stored to be published.
_PUBLISH_ON_CLOSE = 5.0


def _poke(publisher: Publisher, name: str, _revision: object) -> None:
    """A listener: tell the publisher ``name`` has news (the cost of a write)."""
    publisher.poke(name)


T = TypeVar("T")

_DURABILITY = ("full", "normal", "batched")

# watch()'s default: None is a value a Var may start from.
_ABSENT: Any = object()
# What UnknownTimelineError advises where an initial value would create the name.
_ADVICE = "give an initial value to create it"


def open(
    target: str | os.PathLike[str],
    *,
    durability: Literal["full", "normal", "batched"] = "full",
    checkpoint_every: int = CHECKPOINT_EVERY,
    allow_pickle: bool = False,
    publish: str | None = None,
    **options: Any,
) -> Repository:
    """Open (or create) a repository of timelines.

    Args:
        target: A file path (SQLite, the default: no server, no set-up), a
            ``postgresql://`` URL (``?schema=NAME`` picks the schema), a path
            ending in ``.json`` (one JSON file), or ``":memory:"``.
        durability: ``"full"`` (the default): a write returns once it is durable.
            ``"normal"``: durable across crashes of the application, not of the
            machine. ``"batched"``: writes are committed in groups by a background
            thread; ``flush()`` waits for them. A batched repository is the
            only writer of its file while open: opening one beside another
            writer raises :class:`~statetrail.StorageError`.
        checkpoint_every: Keep a whole value every this many revisions along a
            lineage, so reading a revision from storage applies at most this many
            patches.
        allow_pickle: Read and write pickled values. Off by default, because
            unpickling runs code: a history containing pickle is refused.
        publish: A ``redis://`` or ``rediss://`` URL: publish every committed
            revision of every timeline to a Redis stream per timeline, after the
            commit, for :func:`statetrail.follow` and :func:`statetrail.mirror`
            (``?maxlen=`` bounds each stream, ``?prefix=`` names them; see
            ``docs/live.md``). Needs ``statetrail[redis]``.
        options: Passed to the backend (``schema=`` for PostgreSQL,
            ``read_only=True`` to create and write nothing ...).

    Raises:
        ValueError: A bad option, or a URL whose scheme statetrail does not
            store to (``mysql://``, a typo such as ``postgress://``).
    """
    if durability not in _DURABILITY:
        raise ValueError(
            f"durability is one of {', '.join(_DURABILITY)}, not {durability!r}"
        )
    backend: Backend
    text = os.fspath(target)
    scheme = _scheme(text)
    if text == ":memory:":
        from statetrail.storage.memory import MemoryBackend

        backend = MemoryBackend()
    elif scheme in _SCHEMES:
        from statetrail.storage.postgres import PostgresBackend

        # libpq reads the scheme in lower case only.
        backend = PostgresBackend(scheme + text[len(scheme) :], **options)
    elif text.endswith(".json"):
        from statetrail.storage.jsonfile import JsonFileBackend

        backend = JsonFileBackend(text, **options)
    else:
        from statetrail.storage.sqlite import SQLiteBackend

        backend = SQLiteBackend(text, durability=durability, **options)
    publisher = None
    if publish is not None:
        from statetrail.storage._publisher import Publisher

        try:
            publisher = Publisher(backend, publish)
        except BaseException:
            backend.close()
            raise
    return Repository(
        backend,
        checkpoint_every=checkpoint_every,
        allow_pickle=allow_pickle,
        publisher=publisher,
    )


#: The URL schemes :func:`open` stores to.
_SCHEMES = ("postgresql", "postgres")


def _scheme(text: str) -> str | None:
    """The URL scheme of ``text`` (lower case), or ``None`` for a path.

    Raises:
        ValueError: A scheme statetrail does not store to; the message names it,
            the supported ones, and the closest as a guess.
    """
    scheme, sep, _ = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]+", scheme):
        return None  # a path: "://" further in, or a drive letter ("C://x")
    scheme = scheme.lower()
    if scheme in _SCHEMES:
        return scheme
    import difflib

    guess = difflib.get_close_matches(scheme, _SCHEMES, n=1, cutoff=0.6)
    hint = f" (did you mean {guess[0]}://?)" if guess else ""
    raise ValueError(
        f"statetrail.open() does not know the URL scheme {scheme + '://'!r}{hint}; "
        "it opens postgresql:// (or postgres://) URLs, a file path (SQLite, or "
        "JSON for a name ending in .json) and ':memory:'"
    )


#: Timelines whose node caches a repository keeps (the oldest made goes first).
_NODE_CACHES_KEPT = 16


class Repository:
    """Named timelines in one backend, and front ends over them.

    Each name holds one timeline; asking for it again (in this process or after a
    restart) gives back the same history. Thread-safe.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
        allow_pickle: bool = False,
        publisher: Publisher | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.backend = backend
        self._every = checkpoint_every
        self._pickle = allow_pickle
        # Checkpoints value_at has hashed against their rows' value digests.
        self._checked: set[tuple[str, int, str, str]] = set()
        # Each timeline's checked checkpoint nodes (lazily loaded values, _lazy).
        self._node_caches: dict[str, NodeCache] = {}
        self._lock = threading.RLock()
        self._open: dict[str, Timeline[Any]] = {}
        self._closed = False
        self._publisher = publisher

    # -- timelines -----------------------------------------------------------------

    def timelines(self) -> list[str]:
        """The names of the timelines stored, sorted."""
        return self.backend.timelines()

    def timeline(
        self, name: str, initial: Any = None, *, create: bool = True, **options: Any
    ) -> Timeline[Any]:
        """The timeline ``name``: loaded from storage, or created with ``initial``.

        With ``create=False`` a timeline that is not stored raises
        :class:`~statetrail.UnknownTimelineError` (a
        :class:`~statetrail.RevisionNotFoundError`). ``options`` go to
        :class:`~statetrail.Timeline` (validators, retention ...); retention trims
        what this process holds in memory, and storage as it goes (in batches
        of ``TRIM_EVERY`` revisions, see :meth:`trim`).
        """
        return self._timeline(name, initial, create, "", options)

    def _timeline(
        self,
        name: str,
        initial: Any,
        create: bool,
        advice: str,
        options: dict[str, Any],
    ) -> Timeline[Any]:
        if not isinstance(name, str) or not name:
            raise ValueError("a timeline name is a non-empty string")
        name = _checked_text("a timeline name", name)  # no NUL, no lone surrogate
        with self._lock:
            if self._closed:
                raise StorageError("the repository is closed")
            timeline = self._open.get(name)
            if (
                timeline is None
                and not create
                and self.backend.latest(name) < 0
                and self.backend.end(name) is None
            ):
                raise UnknownTimelineError(name, self.timelines(), advice=advice)
            if timeline is None:
                timeline = self._load(name, initial, options)
                self._open[name] = timeline
                if self._publisher is not None:
                    timeline.add_listener(
                        functools.partial(_poke, self._publisher, name)
                    )
                    self._publisher.poke(name)
            return timeline

    def _journal(self, name: str) -> StoreJournal:
        publisher = self._publisher
        return StoreJournal(
            self.backend,
            name,
            checkpoint_every=self._every,
            allow_pickle=self._pickle,
            on_erase=None if publisher is None else publisher.erased,
        )

    def _load(self, name: str, initial: Any, options: dict[str, Any]) -> Timeline[Any]:
        """Open stored timeline ``name`` lazily (see ``_paged``), or create it.

        Only the heads, the newest page of revisions and the head's value (from
        its nearest checkpoint plus patches) are read; other revisions are read
        in pages when asked for.
        """
        for _ in range(3):
            latest = self.backend.latest(name)
            try:
                opened = open_records(
                    self.backend,
                    name,
                    checkpoint_every=self._every,
                    allow_pickle=self._pickle,
                    checked=self._checked,
                    cache=self._node_cache(name),
                )
            except CorruptHistoryError:
                if self.backend.latest(name) != latest:
                    continue  # a writer appended meanwhile: read again
                raise
            if opened is None:
                journal = self._journal(name)
                try:
                    return Timeline(initial, name=name, journal=journal, **options)
                except ConflictError:
                    continue  # another process created it first: load theirs
            records, heads, cut = opened
            return Handle.restore(
                records,
                branch=heads.branch,
                cursor=heads.cursor,
                tips=heads.tips,
                journal=self._journal(name),
                name=name,
                tombstones=[] if cut is None else [_trim_of(t) for t in cut.tombstones],
                **options,
            )
        raise StorageError(f"could not open timeline {name!r}: it keeps changing")

    def value_at(
        self, name: str, number: int | None = None, *, time: datetime | None = None
    ) -> Any:
        """The value of revision ``number`` of timeline ``name``, read from storage.

        Reads the nearest checkpoint on the revision's lineage and applies at most
        ``checkpoint_every`` patches, verified as they are read: the history is
        never replayed and the timeline need not be opened.

        With ``time`` instead of ``number``, the revision recorded last at or
        before that time, found by the backend's time index (see
        :meth:`Timeline.number_at <statetrail.Timeline.number_at>` for what
        "last" means; a naive datetime is local time).

        >>> import statetrail
        >>> with statetrail.open(":memory:") as repo:
        ...     score = repo.watch("score", 0)
        ...     _ = score.set(10).set(20)
        ...     then = repo.timeline("score").revision(1).timestamp
        ...     repo.value_at("score", 1), repo.value_at("score", time=then)
        (10, 10)

        Raises:
            RevisionNotFoundError: No such revision, it was trimmed, or no
                revision was recorded by ``time``.
            TypeError: Both ``number`` and ``time``, or neither.
        """
        if time is not None:
            if number is not None:
                raise TypeError("value_at takes a revision number or a time, not both")
            found = self.backend.number_at(name, time_ns_at(time))
            if found is None:
                raise RevisionNotFoundError(
                    f"timeline {name!r} has no revision recorded at or before "
                    f"{time.isoformat()}"
                )
            number = found
        elif number is None:
            raise TypeError("value_at needs a revision number or a time")
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError(f"a revision number is an int >= 0, not {number!r}")
        cut = cut_of(name, self.backend.trims(name))
        if cut is not None and number <= cut.last:
            trim = next(t for t in cut.tombstones if t.first <= number <= t.last)
            raise RevisionNotFoundError(
                f"revision {number} of timeline {name!r} was trimmed ({trim.reason}, "
                f"{_trim_of(trim).timestamp.isoformat()}); stored revisions start "
                f"at {cut.last + 1}"
            )
        return read_value(
            self.backend,
            name,
            number,
            checkpoint_every=self._every,
            allow_pickle=self._pickle,
            checked=self._checked,
            trimmed=cut,
            cache=self._node_cache(name),
        )

    def _node_cache(self, name: str) -> NodeCache:
        """Timeline ``name``'s cache of checked checkpoint nodes (bounded)."""
        with self._lock:
            cache = self._node_caches.get(name)
            if cache is None:
                if len(self._node_caches) >= _NODE_CACHES_KEPT:
                    self._node_caches.pop(next(iter(self._node_caches)))
                cache = NodeCache(self.backend.nodes, allow_pickle=self._pickle)
                self._node_caches[name] = cache
            return cache

    def trim(
        self,
        name: str,
        *,
        keep_last: int | None = None,
        older_than: timedelta | datetime | None = None,
        reason: str | None = None,
        author: str | None = None,
        dry_run: bool = False,
        reclaim: bool = False,
    ) -> Trim | None:
        """Remove the oldest revisions of stored timeline ``name`` from storage.

        Keeps the newest ``keep_last`` revisions and/or those recorded within
        ``older_than`` (a timedelta) or since it (a datetime), and always the
        cursor, every branch tip and the newest revision. Rows go in batches,
        each its own short transaction, so writers wait for one batch at most;
        a range tombstone (which revisions, when, why, by whom, and the chain
        at the cut) keeps the rest verifiable, and later anchors too. An
        anchor taken before the trim that names a trimmed revision makes
        :meth:`verify` say so. A timeline open in this repository is trimmed
        in memory too.

        Args:
            name: The timeline.
            keep_last: How many of the newest revisions to keep (at least 1).
            older_than: Remove revisions recorded before this moment, or
                longer ago than this timedelta.
            reason: Why, kept in the tombstone (default: the rule).
            author: Who, kept in the tombstone.
            dry_run: Only say what would go; change nothing.
            reclaim: Then give the space back (SQLite ``incremental_vacuum``,
                PostgreSQL ``VACUUM``).

        Returns:
            The :class:`~statetrail.revision.Trim` (with ``dry_run``, the one
            that would be made), or ``None`` if nothing is to go.

        Raises:
            ValueError: Neither rule, a bad ``keep_last``, or a cut among
                revisions written in format 1.
            TypeError: ``older_than`` is neither a timedelta nor a datetime.
            RevisionNotFoundError: There is no timeline ``name``.

        >>> import statetrail
        >>> with statetrail.open(":memory:") as repo:
        ...     score = repo.watch("score", 0)
        ...     for n in range(1, 10):
        ...         _ = score.set(n)
        ...     repo.trim("score", keep_last=3, reason="demo").count
        7
        """
        # The same checks and reason as Timeline.trim; the cut by number is
        # worked out from storage below.
        _cut, before_ns, why = trim_bounds(0, keep_last, older_than, reason)
        with self._lock:
            if self._closed:
                raise StorageError("the repository is closed")
            timeline = self._open.get(name)
        end = self.backend.end(name)
        if end is None:
            raise UnknownTimelineError(name, self.timelines(), advice="nothing to trim")
        below = end.length if keep_last is None else end.length - keep_last
        heads = None
        if timeline is not None:  # its heads, rather than a scan of the rows
            heads = Heads(
                timeline.current_branch, timeline.head.number, timeline.branches()
            )
        from statetrail.storage._trim import cut_for_age, plan_trim, trim_stored

        plan = plan_trim(self.backend, name, below, heads)
        if before_ns is not None:
            young = cut_for_age(self.backend, name, before_ns, plan.first - 1)
            plan = plan_trim(self.backend, name, min(below, young), plan.heads)
        trim = None
        if plan.size and dry_run:
            now = time.time_ns()
            trim = Trim(plan.first, plan.last, plan.size, why, now, author)
        elif not dry_run:
            # Storage first: a trim it refuses (format-1 rows) leaves memory whole.
            tomb = trim_stored(
                self.backend,
                name,
                plan.last + 1,
                reason=why,
                author=author,
                heads=plan.heads,
                checkpoint_every=self._every,
                allow_pickle=self._pickle,
            )
            trim = None if tomb is None else _trim_of(tomb, plan.size)
            if timeline is not None and trim is not None:
                with Handle(timeline).lock:  # memory follows (storage has nothing more)
                    timeline.trim(
                        keep_last=keep_last,
                        older_than=older_than,
                        reason=why,
                        author=author,
                    )
        if reclaim and not dry_run:
            self.backend.reclaim()
        return trim

    def reclaim(self) -> None:
        """Give the space of trimmed revisions back (see :meth:`trim`).

        First the checkpoint nodes no remaining checkpoint reaches are
        deleted, a batch per transaction (writers go on meanwhile).
        """
        from statetrail.storage._trim import sweep_nodes

        sweep_nodes(self.backend)
        self.backend.reclaim()

    # -- front ends ------------------------------------------------------------------

    @overload
    def watch(self, name: str, **options: Any) -> Var[Any]: ...
    @overload
    def watch(self, name: str, initial: T, **options: Any) -> Var[T]: ...

    def watch(self, name: str, initial: Any = _ABSENT, **options: Any) -> Var[Any]:
        """A :class:`~statetrail.Var` kept in storage.

        The stored timeline ``name`` with its history, or, if there is none, a
        new one starting from ``initial`` (``None`` included). Without
        ``initial``, a name that is not stored raises
        :class:`~statetrail.UnknownTimelineError`: a misspelt name never starts
        an empty history.
        """
        timeline_options: dict[str, Any] = {
            key: options.pop(key)
            for key in ("retention", "origin", "deep_copy")
            if key in options
        }
        given = initial is not _ABSENT
        # The timeline's own from the start: revision 0 passes them, and a seal
        # (Encrypt) covers its row too.
        fns = interceptors_of(
            options.pop("interceptors", None), options.pop("schema", None)
        )
        timeline = self._timeline(
            name,
            initial if given else None,
            given,
            _ADVICE,
            {"label": "initial", "interceptors": fns, **timeline_options},
        )
        _add_missing(timeline, fns)
        return Var(name, timeline.value, _timeline=timeline, **options)

    def store(
        self,
        name: str,
        initial_state: dict[str, Any] | None = None,
        *,
        interceptors: Iterable[Interceptor] = (),
        schema: Any = None,
    ) -> Store:
        """A :class:`~statetrail.Store` kept in storage.

        The stored timeline ``name``, or a new one starting from
        ``initial_state`` (``{}`` for an empty state). Without it, a name that is
        not stored raises :class:`~statetrail.UnknownTimelineError`.
        ``interceptors`` and ``schema`` are :class:`~statetrail.Store`'s.

        >>> import statetrail
        >>> with statetrail.open(":memory:") as repo:
        ...     _ = repo.store("job", {"bins": 10})
        ...     try:
        ...         repo.store("jbo")
        ...     except statetrail.UnknownTimelineError as exc:
        ...         exc.matches
        ['job']
        """
        fns = interceptors_of(interceptors, schema, plain=True)
        return Store(
            initial_state, name=name, _timeline=self._state(name, initial_state, fns)
        )

    def async_store(
        self,
        name: str,
        initial_state: dict[str, Any] | None = None,
        *,
        interceptors: Iterable[Interceptor] = (),
        schema: Any = None,
    ) -> AsyncStore:
        """An :class:`~statetrail.AsyncStore` kept in storage.

        As :meth:`store`: without ``initial_state``, a name that is not stored
        raises :class:`~statetrail.UnknownTimelineError`.
        """
        fns = interceptors_of(interceptors, schema, plain=True)
        timeline = self._state(name, initial_state, fns)
        return AsyncStore(initial_state=initial_state, name=name, _timeline=timeline)

    def _state(
        self,
        name: str,
        initial_state: Mapping[str, Any] | None,
        interceptors: list[Interceptor],
    ) -> Timeline[Any]:
        root = None if initial_state is None else root_of(initial_state)
        timeline = self._timeline(
            name,
            root,
            root is not None,
            _ADVICE,
            {"label": "initial", "interceptors": interceptors},
        )
        _add_missing(timeline, interceptors)
        return timeline

    def revisioned(
        self,
        name: str,
        kind: type[RevisionedImmutable] | None = None,
        initial: Mapping[str, RevisionedImmutable] | None = None,
        *,
        interceptors: Iterable[Interceptor] = (),
    ) -> RevisionedMapping:
        """A :class:`~statetrail.immutable.RevisionedMapping` kept in storage.

        Each key's history is the timeline ``"<name>/<key>"``; reopening gives
        back every key with all its revisions, read back as locked ``kind``
        objects (``kind=None``: :class:`~statetrail.immutable.RevisionedImmutable`).
        Keys are strings. History is never deleted: rollbacks move the
        cursor, and deleting a key is refused.

        A mapping is stored once it holds a key. Without ``initial``, a name
        with none stored raises :class:`~statetrail.UnknownTimelineError`; with
        it (``{}`` for an empty mapping), such a name starts a new mapping
        holding ``initial``'s items. A stored mapping ignores ``initial``.
        ``interceptors`` see each object's state before it is recorded (a
        schema check that refuses, or ``Encrypt``: one that changes the state
        would part the object from its record).

        >>> import statetrail
        >>> from statetrail.immutable import RevisionedImmutable, update
        >>> class Answer(RevisionedImmutable):
        ...     def __init__(self, answer=None):
        ...         self.answer = answer
        >>> with statetrail.open(":memory:") as repo:
        ...     data = repo.revisioned("answers", Answer, {})
        ...     data["a"] = first = Answer()
        ...     with update(first, "universe", "Provide Answer") as second:
        ...         second.answer = 42
        ...     again = repo.revisioned("answers", Answer)
        ...     [(r.__im_version__, r.answer) for r in
        ...      again.revision_manager("a").revision_history()]
        [(0, None), (1, 42)]
        """
        from statetrail.immutable.revisioned import (
            RevisionedImmutable,
            RevisionedMapping,
        )

        if not isinstance(name, str) or not name:
            raise ValueError("a mapping name is a non-empty string")
        if kind is None:
            kind = RevisionedImmutable
        storage = _StoredMapping(self, name, kind, interceptors_of(interceptors, None))
        mapping = RevisionedMapping(_storage=storage)
        if not mapping:
            if initial is None:
                names = {
                    stored.rsplit("/", 1)[0]
                    for stored in self.timelines()
                    if "/" in stored
                }
                raise UnknownTimelineError(name, names, "revisioned mapping", _ADVICE)
            for key, value in initial.items():
                mapping[key] = value
        return mapping

    # -- upkeep ----------------------------------------------------------------------

    def sync(self) -> int:
        """Take in what other processes wrote to the open timelines."""
        with self._lock:
            return sum(timeline.sync() for timeline in self._open.values())

    def verify(
        self,
        name: str | None = None,
        *,
        anchor: str | None = None,
        full: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, int]:
        """Check everything stored: every revision, checkpoint, heads and end.

        Rows are read a page at a time (memory stays bounded) and every problem
        is collected, not only the first. With ``anchor`` (what :meth:`anchor`
        returned earlier) it also proves that nothing up to the anchored
        revisions was rewritten or cut off since, however consistently.

        Args:
            name: Check only this timeline (and those the anchor names).
            anchor: Text from :meth:`anchor`.
            full: Run the thorough store checks (SQLite's ``integrity_check``
                instead of ``quick_check``).
            progress: Called as ``progress(timeline, done, total)``.

        Returns:
            The number of revisions checked per timeline.

        Raises:
            CorruptHistoryError: Anything does not verify; ``.problems`` lists
                each problem as ``(timeline, number, what)``.
            ValueError: ``anchor`` is not an anchor.

        >>> import statetrail
        >>> with statetrail.open(":memory:") as repo:
        ...     _ = repo.watch("score", 0).set(10)
        ...     kept = repo.anchor()
        ...     repo.verify(anchor=kept)
        {'score': 2}
        """
        from statetrail.storage import _verify

        anchors = [] if anchor is None else integrity.parse_anchor(anchor)
        return _verify.verify(
            self.backend,
            None if name is None else [name],
            anchors=anchors,
            full=full,
            progress=progress,
            allow_pickle=self._pickle,
            checkpoint_every=self._every,
            where=f"the {self.backend.kind} history",
        )

    def anchor(self, name: str | None = None) -> str:
        """A short text proving the history as it is now; keep it elsewhere.

        One line per timeline: the newest revision's number and the start of
        its chain, which covers every revision before it. Pass it to
        :meth:`verify` (or ``statetrail verify FILE --anchor TEXT``) later to
        detect any rewrite or truncation since.
        """
        self.flush()
        from statetrail.storage import _verify

        names = [name] if name is not None else self.timelines()
        return integrity.format_anchor(_verify.anchor_of(self.backend, names))

    def flush(self) -> None:
        """Make every write so far durable (with ``durability="batched"``)."""
        self.backend.flush()
        if self._publisher is not None:
            for name in self.timelines():
                self._publisher.poke(name)

    @property
    def publisher(self) -> Publisher | None:
        """What publishes this repository's revisions to Redis (``publish=``)."""
        return self._publisher

    def close(self) -> None:
        """Flush and close the backend; the front ends handed out stop writing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._open.clear()
        if self._publisher is not None:
            self.backend.flush()
            try:
                if not self._publisher.wait(timeout=_PUBLISH_ON_CLOSE):
                    log.warning(
                        "closing: revisions not yet published to %s will be "
                        "published by the next publisher of this history",
                        self._publisher.url,
                    )
            except StatetrailError as exc:
                log.warning("closing: %s", exc)
            self._publisher.close()
        self.backend.close()

    def __iter__(self) -> Iterator[str]:
        return iter(self.timelines())

    def __enter__(self) -> Repository:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"Repository({self.backend.kind}, closed)"
        return f"Repository({self.backend.kind}, timelines={len(self.timelines())})"


def _trim_of(tomb: RangeTombstone, count: int | None = None) -> Trim:
    """A stored range tombstone as the engine's :class:`Trim`."""
    removed = tomb.last - tomb.first + 1 if count is None else count
    return Trim(tomb.first, tomb.last, removed, tomb.reason, tomb.time_ns, tomb.author)


class _StoredMapping:
    """A revisioned mapping's keys, each a timeline ``"<name>/<key>"``."""

    def __init__(
        self,
        repo: Repository,
        name: str,
        kind: type[RevisionedImmutable],
        interceptors: list[Interceptor],
    ) -> None:
        self._repo = repo
        self._prefix = f"{name}/"
        self._kind = kind
        self._interceptors = interceptors

    def load(self) -> dict[Any, SimpleRevisionedImmutableManager]:
        """The managers of the keys stored, their histories read back."""
        from statetrail.immutable.revisioned import SimpleRevisionedImmutableManager

        managers: dict[Any, SimpleRevisionedImmutableManager] = {}
        for timeline_name in self._repo.timelines():
            if timeline_name.startswith(self._prefix):
                key = timeline_name[len(self._prefix) :]
                timeline = self._repo.timeline(timeline_name, create=False)
                _add_missing(timeline, self._interceptors)
                managers[key] = SimpleRevisionedImmutableManager.from_timeline(
                    key, timeline, self._kind
                )
        return managers

    def new(self, key: Any) -> SimpleRevisionedImmutableManager:
        """A manager whose timeline the repository makes at the first revision."""
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"a stored RevisionedMapping's keys are non-empty strings, not {key!r}"
            )
        name = self._prefix + key

        def open_timeline(
            state: FrozenDict[str, Any], author: str | None, comment: str | None
        ) -> Timeline[Any]:
            timeline = self._repo.timeline(
                name,
                state,
                author=author,
                comment=comment,
                interceptors=self._interceptors,
            )
            _add_missing(timeline, self._interceptors)
            return timeline

        from statetrail.immutable.revisioned import SimpleRevisionedImmutableManager

        return SimpleRevisionedImmutableManager(key, _open=open_timeline)


def _add_missing(timeline: Timeline[Any], interceptors: list[Interceptor]) -> None:
    """Give an already open ``timeline`` the ``interceptors`` it lacks."""
    held = timeline.interceptors
    for fn in interceptors:
        if fn not in held:
            timeline.add_interceptor(fn)
