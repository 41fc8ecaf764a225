"""What Store and AsyncStore share: a dot-path face over one Timeline.

The state is a frozen dict held by a :class:`~statetrail.Timeline`. A write
works out the new state from the current one (copying only the path it touches)
and records it as a revision; subscribers are timeline listeners, so they run after
the commit, outside the lock, in commit order, each isolated from the others.
:class:`StoreBase` holds all of it; :class:`~statetrail.store.Store` and
:class:`~statetrail.store.AsyncStore` add only their way of being called.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from statetrail._intercept import Interceptor, interceptors_of
from statetrail._log import get_logger
from statetrail._origin import Info
from statetrail._store_events import (
    EVENT_TYPE_STATE_CHANGED,
    Event,
    concerns,
    make_event,
)
from statetrail._store_file import dump_state, read_state, write_atomic
from statetrail._store_transaction import Transaction
from statetrail._store_values import (
    assoc_change,
    freeze_checked,
    replace_changes,
    split_or_warn,
)
from statetrail.context import CAPTURE, RawOrigin, capture_raw
from statetrail.errors import ConflictError, RevisionNotFoundError
from statetrail.frozen import FrozenDict, thaw
from statetrail.frozen._dict import dict_of, dict_of_small
from statetrail.frozen._freeze import check_path_nesting
from statetrail.frozen._hooks import lazy, real
from statetrail.paths import (
    STORE,
    Refused,
    delete_at,
    get_at,
    parse_path,
    replace_existing,
    set_frozen,
    spellings,
    split_store,
)
from statetrail.revision import (
    NUMBER,
    PLAIN,
    VALUE,
    Change,
    Revision,
    RevisionKind,
)
from statetrail.timeline import Timeline, Validator

__all__ = ["StoreBase", "capture", "root_of"]

logger = get_logger("statetrail.store")

State = FrozenDict[str, Any]
# "Capture the origin from the frames": the writer is the caller's own code.
_FROM_FRAMES: Any = object()


def capture(depth: int) -> RawOrigin | None:
    """The origin ``depth`` frames above the caller, when origin capture is on."""
    return capture_raw(depth + 1) if CAPTURE.on else None


def root_of(value: Any) -> State:
    """A whole state, frozen: a dict with string keys."""
    if not isinstance(value, Mapping):
        raise TypeError(f"a store's state is a dict, not {type(value).__name__}")
    root: State = freeze_checked(value)
    return root


#: Values frozen as they are, with no key to check.
_SCALARS = frozenset({str, int, float, bool, type(None)})

#: What a set needs that depends on its path text alone, one entry per path:
#: the steps, the note ``{"op": "set", "path": ...}`` and the revision's info
#: holding it. Revisions of a path share the note and the info (two tracked
#: objects fewer per revision for the garbage collector to walk, about 300
#: bytes fewer), and the path is split once. At most _MAX_PATHS entries: a state
#: of 10,000 entries keeps all of its paths.
_SET_PATHS: dict[str, tuple[tuple[str, ...], FrozenDict[str, str], Info]] = {}
_MAX_PATHS = 1 << 16
_NOTE_KEYS = ("op", "path")


def _set_entry(
    path: str,
) -> tuple[tuple[str, ...], FrozenDict[str, str], Info] | None:
    """A path's entry of :data:`_SET_PATHS` (``None``, warned, if malformed)."""
    steps = split_or_warn(path, "set")  # TypeError for a path that is not a str
    if steps is None:
        return None
    # A path deeper than the limit is refused whatever it sets (a scalar skips
    # freezing, which counts the path's levels otherwise).
    check_path_nesting(None, len(steps))
    note: FrozenDict[str, str] = dict_of_small(_NOTE_KEYS, ("set", path))
    entry = steps, note, (RevisionKind.SET, None, None, None, None, note)
    if type(path) is str:
        if len(_SET_PATHS) >= _MAX_PATHS:
            _SET_PATHS.clear()
        _SET_PATHS[path] = entry
    return entry


if TYPE_CHECKING:
    # PEP 696 defaults, for the type checker only: a bare ``Store`` is
    # ``Store[dict[str, Any]]``, as it was before the parameter existed.
    import typing_extensions

    S = typing_extensions.TypeVar("S", bound=Mapping[str, Any], default=dict[str, Any])
else:
    S = TypeVar("S", bound=Mapping[str, Any])


class StoreBase(Generic[S]):
    """The dot-path store over one timeline: reads, writes, history, persistence.

    Not used directly: see :class:`~statetrail.store.Store` and
    :class:`~statetrail.store.AsyncStore`. The type parameter ``S`` is the plain
    state's type (a ``TypedDict``, say): what :meth:`get_state` returns and the
    initial state is; inferred from the initial state, ``dict[str, Any]``
    without one.
    """

    EVENT_TYPE_STATE_CHANGED = EVENT_TYPE_STATE_CHANGED

    def __init__(
        self,
        initial_state: S | None = None,
        *,
        state_file: str | os.PathLike[str] | None = None,
        name: str = "",
        interceptors: Iterable[Interceptor] = (),
        schema: Any = None,
        _timeline: Timeline[State] | None = None,
    ) -> None:
        self._state_file = None if state_file is None else os.fspath(state_file)
        self._default = root_of({} if initial_state is None else initial_state)
        self._tx: Transaction | None = None
        # Plain data back from a schema: the state stays a mapping, a model its dict.
        fns = interceptors_of(interceptors, schema, plain=True)
        if _timeline is not None:
            # A timeline kept elsewhere (a repository's): the store works on it.
            self._timeline = _timeline
            for fn in fns:
                _timeline.add_interceptor(fn)
            return
        root = self._default
        comment = None
        if self._state_file is not None:
            loaded = read_state(self._state_file)
            if loaded is not None:
                root = root_of(loaded)
                comment = f"loaded from {self._state_file}"
        self._timeline = Timeline(
            root, name=name, label="initial", comment=comment, interceptors=fns
        )

    # -- values handed out -----------------------------------------------------------

    def _out(self, value: Any) -> Any:
        """A value as handed to callers: frozen here; the compat module thaws it."""
        return value

    def _root(self) -> State:
        """The state this thread or task sees: its open transaction's, or the head's."""
        tx = self._tx
        if tx is not None and tx.owned():
            return tx.snapshot()
        return self._timeline.value

    # -- reading ---------------------------------------------------------------------

    @property
    def timeline(self) -> Timeline[State]:
        """The engine underneath, for everything the store does not wrap."""
        return self._timeline

    @property
    def head(self) -> Revision:
        """The revision of the current state."""
        return self._timeline.head

    @property
    def state_file(self) -> str | None:
        """The file :meth:`save` writes when given no path."""
        return self._state_file

    def get(self, path: str, default: Any = None) -> Any:
        """The value at dot-path ``path``, or ``default`` if there is none.

        A stored ``None`` also gives ``default``. Dicts and lists come back frozen
        (equal to plain ones); :meth:`get_state` gives a mutable copy.
        """
        try:
            value = get_at(self._root(), split_store(path), STORE)
        except ValueError:
            return default
        return default if value is None else self._out(value)

    def snapshot(self) -> State:
        """The whole state, frozen, in O(1)."""
        return self._root()

    def get_state(self) -> S:
        """A plain, mutable deep copy of the whole state."""
        state: S = thaw(self._root())
        return state

    # -- writing ---------------------------------------------------------------------

    def _apply(
        self,
        change: Callable[[State], State],
        extra: Any,
        label: str | None,
        author: str | None,
        comment: str | None,
        origin: Any,
        depth: int,
        with_changes: Callable[[State], tuple[State, tuple[Change, ...] | None]]
        | None = None,
        *,
        rebase: bool = False,
    ) -> Revision:
        """Record ``change(current state)`` as one revision.

        ``depth``: frames between this method and the user's code, for the origin
        (unless ``origin`` was captured already). ``with_changes``, when given, does
        what ``change`` does and also tells the changes it made (or ``None``), which
        spares the engine a diff. Raises :class:`~statetrail.paths.Refused`.

        Another thread's write in between: ``change`` runs again on its state. A
        revision another process recorded first (a stored store): with ``rebase``
        (a path write) the same; without (a whole state), the engine's
        :class:`~statetrail.ConflictError` naming it.
        """
        timeline = self._timeline
        if origin is _FROM_FRAMES:
            # Work the new state out without the lock and commit it if nobody wrote
            # in between: the common case costs one lock round.
            # The head record itself: a store's state is a frozen dict, never the
            # Opaque box that Revision.value would copy.
            # The front-end seam: read the head record, commit onto it.
            head = timeline._cursor.head  # noqa: SLF001 - the commit seam
            changes = None
            root = head[VALUE]
            if type(root) in lazy:  # a test, not a call: most states are not lazy
                root = real(root)
            if with_changes is None:
                new = change(root)
            else:
                new, changes = with_changes(root)
            try:
                info: Info
                if label is None and author is None and comment is None:
                    info = (
                        PLAIN
                        if extra is None
                        else (RevisionKind.SET, None, None, None, None, extra)
                    )
                else:
                    info = (RevisionKind.SET, None, label, author, comment, extra)
                record = timeline._commit(  # noqa: SLF001 - the commit seam
                    new,
                    info=info,
                    expect=head[NUMBER],
                    changes=changes,
                    depth=depth + 1,
                )
                return Revision(record, timeline)
            except ConflictError as exc:
                if timeline._cursor.head is head:  # noqa: SLF001 - the commit seam
                    raise  # not ours: a validator raised it
                if exc.winner is not None and not rebase:
                    raise  # another process wrote a state this one did not see
            # Another writer came first: do it again under the lock, which
            # succeeds unless other processes keep winning, so a busy store
            # cannot starve a writer.
            return timeline.update(
                change,
                label=label,
                author=author,
                comment=comment,
                extra=extra,
                _depth=depth + 1,
                _rebase=rebase,
            )
        return timeline.update(
            change,
            label=label,
            author=author,
            comment=comment,
            extra=extra,
            _origin=origin,
            _rebase=rebase,
        )

    def _set_path(
        self,
        path: str,
        value: Any,
        extra: Any,
        label: str | None,
        author: str | None,
        comment: str | None,
        origin: Any,
        depth: int,
    ) -> Revision | None:
        steps = split_or_warn(path, "set")
        if steps is None:
            return None
        return self._write_path(
            path,
            steps,
            freeze_checked(value, len(steps)),  # the path's levels count too
            extra,
            label,
            author,
            comment,
            origin,
            depth + 1,
        )

    def _write_path(
        self,
        path: str,
        steps: tuple[str, ...],
        frozen: Any,
        extra: Any,
        label: str | None,
        author: str | None,
        comment: str | None,
        origin: Any,
        depth: int,
    ) -> Revision | None:
        """:meth:`_set_path` of a path split and a value frozen already."""
        try:
            return self._apply(
                lambda root: set_frozen(root, steps, frozen, True, STORE),
                extra,
                label,
                author,
                comment,
                origin,
                depth + 1,
                lambda root: assoc_change(root, steps, frozen),
                rebase=True,
            )
        except Refused as exc:
            logger.warning("cannot set %r: %s", path, exc)
            return None

    def set(
        self,
        path: str,
        value: Any,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> bool:
        """Set ``value`` at dot-path ``path``; ``True`` if it was applied.

        Missing dicts on the way are created. ``False`` (logged, nothing recorded)
        when it cannot apply: a list index out of range, a step into a scalar, a
        malformed path. Raises :class:`TypeError` for a path that is not a string
        or a dict key that is not, and whatever a validator raises.
        """
        tx = self._tx
        if tx is not None and tx.owned():
            return tx.set(path, value)
        entry = _SET_PATHS.get(path) if type(path) is str else None
        if entry is None:
            entry = _set_entry(path)
            if entry is None:
                return False
        steps, note, info = entry
        frozen = value if type(value) in _SCALARS else freeze_checked(value, len(steps))
        if label is None and author is None and comment is None:
            # The usual write (a key that is there, dicts down to it) in one walk,
            # recorded straight onto the head it was worked out from; anything
            # else, or a write from another thread in between, takes _apply's way.
            # The changes are worked out only for a timeline that keeps them: a
            # plain one (nothing but appends) has no use for them, and should it
            # stop being plain before the lock is taken, it diffs instead.
            timeline = self._timeline
            # The front-end seam: read the head record (and whether the timeline
            # keeps changes), commit onto it.
            head = timeline._cursor.head  # noqa: SLF001 - the commit seam
            plain = timeline._plain  # noqa: SLF001 - the commit seam
            root = head[VALUE]
            if type(root) in lazy:  # a test, not a call: most states are not lazy
                root = real(root)
            # replace_change's two calls made here: one call fewer per write.
            found = replace_existing(root, steps, frozen)
            if found is not None:
                try:
                    # ``info`` is this path's, made once: its revisions share it.
                    timeline._commit(  # noqa: SLF001 - the commit seam
                        found[0],
                        info=info,
                        expect=head[NUMBER],
                        changes=None
                        if plain
                        else replace_changes(steps, found[1], frozen),
                        depth=2,
                    )
                    return True
                except ConflictError:
                    if timeline._cursor.head is head:  # noqa: SLF001 - the commit seam
                        raise  # not ours: a validator raised it
        rev = self._write_path(
            path, steps, frozen, note, label, author, comment, _FROM_FRAMES, 2
        )
        return rev is not None

    def delete(
        self,
        path: str,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> bool:
        """Remove the key or list item at ``path``; ``False`` if there is none."""
        tx = self._tx
        if tx is not None and tx.owned():
            return tx.delete(path)
        steps = split_or_warn(path, "delete")
        if steps is None:
            return False
        extra = dict_of({"op": "delete", "path": path})
        try:
            self._apply(
                lambda root: delete_at(root, steps, STORE),
                extra,
                label,
                author,
                comment,
                _FROM_FRAMES,
                2,
                rebase=True,
            )
        except Refused as exc:
            logger.warning("cannot delete %r: %s", path, exc)
            return False
        return True

    def rollback(
        self,
        revision: int,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Revision:
        """Record a revision whose state is revision ``revision``'s; nothing is lost.

        Raises :class:`~statetrail.RevisionNotFoundError` if there is no such
        revision.
        """
        return self._timeline.rollback(
            revision, label=label, author=author, comment=comment, _depth=2
        )

    # -- branches --------------------------------------------------------------------

    def branches(self) -> dict[str, int]:
        """Each branch name and the number of its newest revision."""
        return self._timeline.branches()

    @property
    def current_branch(self) -> str:
        """The branch the store is on."""
        return self._timeline.current_branch

    def branch(self, name: str, at: int | None = None) -> Revision:
        """Create branch ``name`` at revision ``at`` (default: the head), switch to it.

        The next write is recorded on it; the branch left keeps its revisions.
        Returns the revision the new branch starts from.
        """
        return self._timeline.branch(name, at)

    def switch(self, branch: str) -> Revision:
        """Move to the newest revision of ``branch``; the state becomes its state."""
        return self._timeline.switch(branch)

    def checkout(self, target: int | str) -> Revision:
        """Move to a revision number or a branch name; nothing is recorded.

        The next write after checking out an older revision starts a new
        branch, so the forward path is kept.
        """
        return self._timeline.checkout(target)

    def transaction(
        self,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> contextlib.AbstractContextManager[Transaction]:
        """A block whose writes are recorded together, as one revision and one event.

        Inside it, this thread's (or task's) :meth:`set`, :meth:`delete` and
        :meth:`get` go to the transaction, which the block also receives. An
        exception in the block leaves no trace; validators see the final state,
        once. The block holds the store's lock, so other threads' writes wait for
        it. A nested block is a savepoint: its exception undoes only its own writes.
        A transaction that changes nothing records nothing.

        >>> from statetrail.store import Store
        >>> store = Store({"job": {"bins": 10, "sorted": 0}})
        >>> with store.transaction(comment="card sorted"):
        ...     store.set("job.sorted", 1)
        ...     store.set("job.bins", 9)
        True
        True
        >>> store.head.comment, store.get("job.bins")
        ('card sorted', 9)
        """
        return self._transaction(label, author, comment, None, capture(1))

    @contextlib.contextmanager
    def _transaction(
        self,
        label: str | None,
        author: str | None,
        comment: str | None,
        extra: Any,
        origin: RawOrigin | None,
    ) -> Iterator[Transaction]:
        tx = self._tx
        if tx is not None and tx.owned():
            saved = tx.snapshot()
            try:
                yield tx
            except BaseException:
                tx.restore(saved)
                raise
            return
        timeline = self._timeline
        recorded: list[Revision] = []
        with timeline.edit(
            label=label,
            author=author,
            comment=comment,
            extra=extra,
            _origin=origin,
            _recorded=recorded,
        ) as draft:
            tx = Transaction(real(timeline.value), self._out)
            self._tx = tx
            try:
                yield tx
            finally:
                self._tx = None
            tx.apply_to(draft)
        if recorded:
            tx.revision = recorded[0]

    def add_interceptor(self, fn: Interceptor) -> Callable[[], None]:
        """Pass every new state through ``fn(state)`` before it is validated.

        ``fn`` gets the whole new state, frozen, and returns the state to record;
        it runs on every write (``set``, ``delete``, a transaction, an action).
        Returns a function that removes it.
        """
        return self._timeline.add_interceptor(fn)

    def add_validator(self, fn: Validator) -> Callable[[], None]:
        """Check every new state with ``fn(state)`` before it is recorded.

        ``fn`` gets the whole new state, frozen, and raises to reject it; the
        write then records nothing and the exception reaches the writer. It sees
        a transaction's final state once, so rules across fields hold. Returns a
        function that removes the validator.
        """
        return self._timeline.add_validator(fn)

    # -- events ----------------------------------------------------------------------

    def _event(self, rev: Revision) -> Event:
        """The ``STATE_CHANGED`` event of a revision (see ``_store_events``)."""
        try:
            before = None if rev.parent is None else self._timeline.value_at(rev.parent)
        except RevisionNotFoundError:  # trimmed by a retention rule set on the timeline
            before = None
        return make_event(rev, before, self._out)

    def _listen(
        self, send: Callable[[Event], object], path: str | None, name: str
    ) -> Callable[[], None]:
        """Call ``send(event)`` for each revision that concerns ``path``.

        Returns the function that stops it.
        """
        prefix = None if path is None else parse_path(path, STORE)

        def deliver(rev: Revision) -> None:
            if prefix is None or concerns(rev, prefix):
                send(self._event(rev))

        deliver.__qualname__ = name
        return self._timeline.add_listener(deliver)

    def subscribe(
        self, callback: Callable[[Event], object], path: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns an unsubscribe function.

        The event is a dict: ``type`` (``"STATE_CHANGED"``), ``path``,
        ``old_value``, ``new_value`` and ``revision``. With ``path``, only the
        sets at or under that path, and the changes above it that reach it, are
        delivered. Callbacks run after the change
        is recorded, in commit order; one that raises is logged (logger
        ``"statetrail"``) and the others still run.
        """
        if not callable(callback):
            raise TypeError(f"a subscriber must be callable, not {callback!r}")
        name = getattr(callback, "__qualname__", repr(callback))
        return self._listen(callback, path, name)

    # -- history ---------------------------------------------------------------------

    def history(self, path: str | None = None) -> list[Revision]:
        """The revisions that led to the current state, oldest first.

        With ``path``, only those that changed it, something under it, or one of
        its parents.
        """
        if path is None:
            return self._timeline.history()
        found: dict[int, Revision] = {}
        for steps in spellings(self._timeline.value, parse_path(path, STORE)):
            for rev in self._timeline.path_history(steps):
                found[rev.number] = rev
        return [found[n] for n in sorted(found)]

    def blame(self, path: str) -> Revision | None:
        """The newest revision that changed ``path`` (or a parent or child of it).

        ``None`` if no revision did and the path does not exist.
        """
        revs = [
            self._timeline.blame(steps)
            for steps in spellings(self._timeline.value, parse_path(path, STORE))
        ]
        return max(
            (r for r in revs if r is not None), key=lambda r: r.number, default=None
        )

    def at(self, revision: int | None = None, *, time: datetime | None = None) -> State:
        """The whole state at revision ``revision``, or as it was at ``time``, frozen.

        With ``time``, the revision recorded last at or before it (see
        :meth:`Timeline.number_at <statetrail.Timeline.number_at>`).
        """
        state: State = self._timeline.value_at(revision, time=time)
        return state

    def diff(self, a: int, b: int | None = None) -> list[Change]:
        """The changes from revision ``a`` to revision ``b`` (default: now)."""
        return self._timeline.diff(a, b)

    # -- persistence -----------------------------------------------------------------

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the state as plain JSON to ``path`` (or ``state_file``).

        The file holds the state and nothing else, as the second seed writes it:
        any JSON reader sees exactly the state. The history is not in it; to keep
        the history across restarts, open the store from a repository
        (``statetrail.open("app.db").store("app")``). The file is replaced
        atomically: after a crash it holds the old file or the new one, never a
        mix. NaN and infinities raise :class:`ValueError`; a target that is not a
        regular file (a FIFO, a device) raises :class:`~statetrail.StorageError`
        and is left alone.
        """
        target = self._state_file if path is None else os.fspath(path)
        if target is None:
            raise ValueError("save() needs a path, or a state_file given to the store")
        write_atomic(target, dump_state(thaw(self._timeline.value)))
        logger.debug("saved the state to %s", target)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace the state with the JSON object in ``path``, as one revision.

        A missing or malformed file gives the empty state, with a warning; a
        malformed one is first copied aside (``<path>.corrupt``).
        """
        target = os.fspath(path)
        loaded = read_state(target)
        root = root_of({} if loaded is None else loaded)
        self._apply(
            lambda _: root,
            dict_of({"op": "load", "file": target}),
            None,
            None,
            None,
            _FROM_FRAMES,
            2,
        )

    def __repr__(self) -> str:
        head = self._timeline.head
        return f"{type(self).__name__}(revision={head.number}, state={head.value!r})"
