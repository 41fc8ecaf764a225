"""Revisioned immutables: every ``update()`` a revision, kept in a Timeline.

A :class:`RevisionedImmutable` is one revision of a versioned object. Its manager, a
:class:`SimpleRevisionedImmutableManager`, records each revision in a
:class:`~statetrail.Timeline` (one per object; a :class:`RevisionedMapping` holds one
per key), so a revision also has an origin (the line of the ``update()`` block),
changes from its parent, blame and branches. The timeline keeps the object's
attributes as a frozen dict, so ``diff`` and ``blame`` work per attribute.

Rolling back never deletes: :meth:`~SimpleRevisionedImmutableManager.rollback_to`
moves the timeline's cursor to the revision, which becomes current again, and the
revisions after it stay on their branch; the next update starts a new branch from
it. Revisions are ordered by their version, the timeline's revision number, never
by timestamp.

>>> from statetrail.immutable import RevisionedImmutable, RevisionedMapping, update
>>> class Answer(RevisionedImmutable):
...     def __init__(self, answer=None):
...         self.answer = answer
>>> data = RevisionedMapping()
>>> data["a"] = first = Answer()
>>> with update(first, "universe", "Provide Answer") as second:
...     second.answer = 42
>>> history = data.revision_manager("a").revision_history()
>>> [(r.__im_version__, r.answer, r.__im_creator__) for r in history]
[(0, None, None), (1, 42, 'universe')]
>>> data.revision_manager("a").diff(first, second)
[Change('answer', None, 42)]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any, Protocol

from statetrail.errors import ConflictError, RevisionNotFoundError
from statetrail.frozen import FrozenDict
from statetrail.immutable._object import _restore
from statetrail.immutable._revision import (
    RevisionedImmutable,
    revision_context,
    state_of,
)
from statetrail.immutable.interfaces import IM_STATE_TRANSIENT
from statetrail.paths import PathLike
from statetrail.revision import Change, Revision
from statetrail.timeline import Timeline

__all__ = [
    "RevisionedImmutable",
    "RevisionedMapping",
    "SimpleRevisionedImmutableManager",
    "UnknownRevisionError",
    "revision_context",
]

#: Makes a manager's timeline from its first state, creator and comment.
TimelineOpener = Callable[
    [FrozenDict[str, Any], "str | None", "str | None"], Timeline[FrozenDict[str, Any]]
]


class MappingStorage(Protocol):
    """Where a stored :class:`RevisionedMapping` keeps its keys' histories."""

    def load(self) -> dict[Any, SimpleRevisionedImmutableManager]:
        """The managers of the keys already stored."""

    def new(self, key: Any) -> SimpleRevisionedImmutableManager:
        """A manager for a new key, whose timeline is made in storage."""


# "Capture the origin at the given depth" (rather than a pre-captured one).
_CAPTURE: Any = object()


class UnknownRevisionError(RevisionNotFoundError, KeyError, ValueError):
    """The object is not a revision held by this manager.

    A :class:`KeyError`, as shoobx's interface documents, and a :class:`ValueError`,
    as its ``SimpleRevisionedImmutableManager`` raises.
    """


class SimpleRevisionedImmutableManager:
    """The revisions of one object, recorded in a :class:`~statetrail.Timeline`.

    Thread-safe. The snake_case methods are the primary API; shoobx.immutable's
    camelCase names (``getCurrentRevision`` ...) do the same.

    An ``update()`` of a revision that is no longer current (a later one was made
    from it, or the history was rolled back past it) is refused with
    :class:`~statetrail.errors.ConflictError`, so no revision is ever recorded
    after changes it never saw; roll back to it first to branch from it.

    ``interceptors`` see each revision's state before it is recorded, as a
    timeline's do: one that refuses (a schema check) or a seal
    (``statetrail.interceptors.Encrypt``); one that changed the state would
    part the object from its record.
    """

    #: The clock of ``__im_start_on__`` and ``__im_end_on__`` (shoobx.immutable's
    #: testing hook). ``None``: the timeline's timestamps, aware UTC datetimes.
    now: Callable[[], datetime] | None = None

    def __init__(
        self,
        name: str = "",
        *,
        interceptors: Iterable[Callable[[Any], Any]] = (),
        _open: TimelineOpener | None = None,
    ) -> None:
        self.name = name
        fns = list(interceptors)
        self._timeline: Timeline[FrozenDict[str, Any]] | None = None
        self._objects: dict[int, RevisionedImmutable] = {}
        self._active = False
        self._lock = threading.RLock()
        # Makes the timeline at the first revision (a repository's, when stored).
        self._open: TimelineOpener = _open or (
            lambda state, author, comment: Timeline(
                state,
                name=self.name,
                author=author,
                comment=comment,
                interceptors=fns,
            )
        )

    @classmethod
    def from_timeline(
        cls,
        name: str,
        timeline: Timeline[FrozenDict[str, Any]],
        kind: type[RevisionedImmutable],
    ) -> SimpleRevisionedImmutableManager:
        """A manager over a timeline read back from storage.

        Each revision becomes a locked ``kind`` object with its attributes; it
        ended when its first later revision started (the current one has not).
        """
        manager = cls(name)
        manager._timeline = timeline
        revisions = timeline.revisions()
        ended: dict[int, datetime] = {}
        for rev in revisions:
            if rev.parent is not None and rev.parent not in ended:
                ended[rev.parent] = rev.timestamp
        head = timeline.head.number
        for rev in revisions:
            value = rev.value
            public = dict(value.items()) if isinstance(value, FrozenDict) else {}
            obj = _restore(kind, public, {})
            obj.__dict__.update(
                __im_version__=rev.number,
                __im_start_on__=rev.timestamp,
                __im_end_on__=None if rev.number == head else ended.get(rev.number),
                __im_creator__=rev.author,
                __im_comment__=rev.comment,
                __im_manager__=manager,
            )
            manager._objects[rev.number] = obj
        manager._active = True
        return manager

    @property
    def timeline(self) -> Timeline[FrozenDict[str, Any]] | None:
        """The engine underneath (``None`` before the first revision).

        Read it for branches, logs and the like; write through ``update()``.
        """
        return self._timeline

    # -- recording -------------------------------------------------------------------

    def add_revision(
        self, new: RevisionedImmutable, old: RevisionedImmutable | None = None
    ) -> None:
        """Record ``new`` (locked) as the current revision, made from ``old``.

        Without ``old`` it follows the current revision (or starts the history).
        ``update()`` calls this; an application rarely needs to.
        """
        self._add(new, old, _CAPTURE, 2)

    addRevision = add_revision

    def _add(
        self,
        new: RevisionedImmutable,
        old: RevisionedImmutable | None,
        origin: Any,
        depth: int,
    ) -> None:
        # ``origin``: a raw origin, None, or _CAPTURE to capture it ``depth`` frames
        # above this method.
        if not isinstance(new, RevisionedImmutable):
            raise TypeError(
                f"a revision is a RevisionedImmutable, not {type(new).__name__}"
            )
        if new.__im_session__.state is IM_STATE_TRANSIENT:
            raise ValueError("a revision is added once its update() block has ended")
        if new.__im_manager__ is not None and new.__im_manager__ is not self:
            raise ValueError("this object is already a revision of another history")
        with self._lock:
            if self._objects.get(new.__im_version__) is new:
                raise ValueError(
                    "this object is already a revision of this history; "
                    "rollback_to() makes it current again"
                )
            state = state_of(new)
            timeline = self._timeline
            previous = None
            if timeline is None:
                timeline = self._timeline = self._open(
                    state, new.__im_creator__, new.__im_comment__
                )
                rev = timeline.head
            else:
                previous = self._current()
                if old is not None:
                    self._check_current(old)
                author, comment = new.__im_creator__, new.__im_comment__
                if origin is _CAPTURE:
                    rev = timeline.set_in(
                        (), state, author=author, comment=comment, _depth=depth + 1
                    )
                else:
                    rev = timeline.set_in(
                        (), state, author=author, comment=comment, _origin=origin
                    )
            start = self._now(rev.timestamp)
            if previous is not None:
                previous.__im_end_on__ = start
            if old is not None and old is not new and old is not previous:
                # Not the current revision here (one this manager never held, or
                # one ended already): retired by its successor, as shoobx's
                # addRevision(new, old) retires it.
                if old.__im_session__.state is IM_STATE_TRANSIENT:
                    old._im_lock()
                if old.__im_end_on__ is None:
                    old.__im_end_on__ = start
            self._objects[rev.number] = new
            new.__im_version__ = rev.number
            new.__im_start_on__ = start
            new.__im_end_on__ = None
            new.__im_creator__ = rev.author
            new.__im_comment__ = rev.comment
            new.__im_manager__ = self
            self._active = True

    # -- reading ---------------------------------------------------------------------

    def _current(self) -> RevisionedImmutable | None:
        if not self._active or self._timeline is None:
            return None
        current = self._objects.get(self._timeline.head.number)
        if current is not None and current.__im_end_on__ is not None:
            # Ended by hand (shoobx's managers read __im_end_on__ the same way).
            return None
        return current

    def _now(self, default: datetime) -> datetime:
        """The time of a change: ``default`` (the timeline's), or the ``now`` hook's."""
        return default if self.now is None else self.now()

    def _check_current(self, revision: Any) -> None:
        """Refuse a revision that is no longer current as the base of an update.

        Raises:
            ConflictError: ``revision`` is not the newest revision (the timeline's
                head): updating it would drop the later revisions from its history.
            UnknownRevisionError: It is not a revision of this manager.
        """
        with self._lock:
            if self._timeline is None:
                return
            number = self._number_of(revision)
            head = self._timeline.head.number
            if number != head:
                raise ConflictError(
                    f"revision {number} of {self!r} is no longer current (revision "
                    f"{head} is): update the current revision "
                    "(getCurrentRevision()), or roll back to this one first "
                    "(rollback_to(), which keeps the later ones on a branch)"
                )

    def _number_of(self, obj: Any) -> int:
        obj = getattr(obj, "__im_stands_for__", obj)
        number = getattr(obj, "__im_version__", None)
        if isinstance(number, int) and self._objects.get(number) is obj:
            return number
        raise UnknownRevisionError(f"{obj!r} is not a revision of {self!r}")

    def current_revision(self) -> RevisionedImmutable | None:
        """The current revision.

        ``None`` before the first revision, and after a rollback that did not
        activate its target.
        """
        with self._lock:
            return self._current()

    def getCurrentRevision(self, obj: Any = None) -> RevisionedImmutable | None:
        """:meth:`current_revision` (``obj`` is not needed: one object per manager)."""
        return self.current_revision()

    def revision(self, version: int) -> RevisionedImmutable:
        """The revision with this ``__im_version__``."""
        try:
            return self._objects[version]
        except KeyError:
            raise UnknownRevisionError(f"{self!r} has no revision {version}") from None

    def record_of(self, revision: RevisionedImmutable) -> Revision:
        """The timeline's record of a revision: its origin, changes, branch ..."""
        with self._lock:
            number = self._number_of(revision)
            assert self._timeline is not None
            return self._timeline.revision(number)

    def number_of_revisions(self) -> int:
        """How many revisions lead to the current one (the current one included).

        Revisions left on other branches by a rollback are not counted; see
        :attr:`timeline` for all of them.
        """
        with self._lock:
            return 0 if self._timeline is None else len(self._timeline.history())

    def getNumberOfRevisions(self, obj: Any = None) -> int:
        """:meth:`number_of_revisions`."""
        return self.number_of_revisions()

    def revision_history(
        self,
        *,
        creator: str | None = None,
        comment: str | None = None,
        start_before: datetime | None = None,
        start_after: datetime | None = None,
        batch_start: int = 0,
        batch_size: int | None = None,
        reversed: bool = False,
    ) -> list[RevisionedImmutable]:
        """The revisions that led to the current one, oldest first.

        Args:
            creator: Only revisions by exactly this creator.
            comment: Only revisions whose comment contains this text.
            start_before: Only revisions that started before this time.
            start_after: Only revisions that started after this time (a naive
                datetime is local time, as :meth:`datetime.astimezone` reads it).
            batch_start: Skip this many matches.
            batch_size: Return at most this many.
            reversed: Newest first.
        """
        if batch_start < 0 or (batch_size is not None and batch_size < 0):
            raise ValueError("batch_start and batch_size must not be negative")
        with self._lock:
            timeline = self._timeline
            if timeline is None or batch_size == 0:
                # Timeline.log(limit=0) returns one revision, not none.
                return []
            if start_before is None and start_after is None:
                revs = timeline.log(
                    author=creator,
                    comment=comment,
                    reverse=reversed,
                    start=batch_start,
                    limit=batch_size,
                )
            else:
                revs = timeline.log(author=creator, comment=comment, reverse=reversed)
                # Compare __im_start_on__, which is what the caller sees and passes
                # back (the timeline's timestamp, or the ``now`` hook's time).
                before = None if start_before is None else _aware(start_before)
                after = None if start_after is None else _aware(start_after)
                objects = self._objects
                starts = {
                    r.number: _aware(objects[r.number].__im_start_on__ or r.timestamp)
                    for r in revs
                    if r.number in objects
                }
                revs = [
                    r
                    for r in revs
                    if r.number in starts
                    and (before is None or starts[r.number] < before)
                    and (after is None or starts[r.number] > after)
                ]
                end = None if batch_size is None else batch_start + batch_size
                revs = revs[batch_start:end]
            objects = self._objects
            return [objects[r.number] for r in revs if r.number in objects]

    def getRevisionHistory(
        self,
        obj: Any = None,
        creator: str | None = None,
        comment: str | None = None,
        startBefore: datetime | None = None,
        startAfter: datetime | None = None,
        batchStart: int = 0,
        batchSize: int | None = None,
        reversed: bool = False,
    ) -> list[RevisionedImmutable]:
        """:meth:`revision_history` under shoobx.immutable's argument names."""
        return self.revision_history(
            creator=creator,
            comment=comment,
            start_before=startBefore,
            start_after=startAfter,
            batch_start=batchStart,
            batch_size=batchSize,
            reversed=reversed,
        )

    def diff(
        self, old: RevisionedImmutable, new: RevisionedImmutable | None = None
    ) -> list[Change]:
        """The attribute changes from revision ``old`` to ``new`` (default: current)."""
        with self._lock:
            assert self._timeline is not None or not self._objects
            a = self._number_of(old)
            b = None if new is None else self._number_of(new)
            assert self._timeline is not None
            return self._timeline.diff(a, b)

    def blame(self, path: PathLike = ()) -> RevisionedImmutable | None:
        """The newest revision up to the current one that changed ``path``.

        ``path`` names an attribute, or a key below one (``"witnesses.0"``).
        """
        with self._lock:
            if self._timeline is None:
                return None
            rev = self._timeline.blame(path)
            return None if rev is None else self._objects[rev.number]

    # -- rolling back ------------------------------------------------------------------

    def rollback_to(self, revision: RevisionedImmutable, activate: bool = True) -> None:
        """Make ``revision`` the newest of the history again; nothing is deleted.

        The revisions after it stay on their branch of the timeline (the next update
        starts a new branch from ``revision``) and no longer count in
        :meth:`revision_history`. With ``activate`` (the default) ``revision``
        becomes current again (``__im_end_on__`` is ``None``, its state locked);
        without, no revision is current until the next update.

        Raises:
            UnknownRevisionError: ``revision`` is not a revision of this manager
                (a :class:`KeyError`).
        """
        with self._lock:
            number = self._number_of(revision)
            assert self._timeline is not None
            now = self._now(datetime.now(UTC))
            previous = self._current()
            if previous is not None and previous is not revision:
                previous.__im_end_on__ = now
            if self._timeline.head.number != number:
                self._timeline.checkout(number)
            if activate:
                revision.__im_end_on__ = None
            elif revision.__im_end_on__ is None:
                revision.__im_end_on__ = now
            self._active = activate

    rollbackToRevision = rollback_to

    def __repr__(self) -> str:
        current = self._current()
        where = (
            "no current revision"
            if current is None
            else (f"current revision {current.__im_version__}")
        )
        name = f" {self.name!r}" if self.name else ""
        return (
            f"<{type(self).__module__}.{type(self).__qualname__}{name} "
            f"({len(self._objects)} revisions, {where})>"
        )


def _aware(moment: datetime) -> datetime:
    """``moment`` as an aware datetime (a naive one is taken as local time)."""
    return moment if moment.tzinfo is not None else moment.astimezone(UTC)


class RevisionedMapping(MutableMapping[Any, "RevisionedImmutable | None"]):
    """A mapping whose values are revisioned: one history (and manager) per key.

    ``mapping[key] = obj`` starts the history of ``key`` with ``obj``, or, for a
    key already there, records ``obj`` as its next revision. ``mapping[key]`` is
    the current revision (``None`` when none is current).
    """

    #: The class of the managers it makes, one per key.
    manager_class: type[SimpleRevisionedImmutableManager] = (
        SimpleRevisionedImmutableManager
    )

    def __init__(self, *, _storage: MappingStorage | None = None) -> None:
        self._managers: dict[Any, SimpleRevisionedImmutableManager] = {}
        self._lock = threading.Lock()
        self._storage = _storage
        if _storage is not None:
            self._managers.update(_storage.load())

    def revision_manager(self, key: Any) -> SimpleRevisionedImmutableManager:
        """The manager of ``key``'s revisions; :class:`KeyError` if there is none."""
        return self._managers[key]

    getRevisionManager = revision_manager

    def __getitem__(self, key: Any) -> RevisionedImmutable | None:
        return self._managers[key].current_revision()

    def __setitem__(self, key: Any, value: RevisionedImmutable | None) -> None:
        if value is None:
            raise TypeError("a RevisionedMapping value is a RevisionedImmutable")
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                if self._storage is None:
                    manager = self.manager_class(name=str(key))
                else:
                    manager = self._storage.new(key)
                manager._add(value, None, _CAPTURE, 2)
                self._managers[key] = manager
                return
        if manager.current_revision() is not value:
            manager._add(value, None, _CAPTURE, 2)

    def __delitem__(self, key: Any) -> None:
        if self._storage is not None:
            raise TypeError(
                "a stored RevisionedMapping keeps every key's history: keys cannot "
                "be deleted (record a revision that marks the object as retired)"
            )
        with self._lock:
            del self._managers[key]

    def __contains__(self, key: object) -> bool:
        return key in self._managers

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._managers))

    def __len__(self) -> int:
        return len(self._managers)

    def __repr__(self) -> str:
        return f"RevisionedMapping({list(self._managers)!r})"
