"""What every immutable shares: its mode and state, and the ``update()`` block.

An immutable tree has one *master* (the object a user creates) and any number of
*slaves* (the nested dicts, lists, sets and custom immutables reached from it).
Every object of a tree points at one :class:`Session`, whose state is
``transient`` while an ``update()`` block is open on the master and ``locked``
after, so locking a tree is one assignment, however large the tree.

``update()`` never copies the tree: the transient version of a dict, list or set
master is a view of a draft of the frozen value (see :mod:`statetrail.frozen`), and
its changes become one new frozen version, sharing everything untouched, on exit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, ParamSpec, Self, TypeVar

from statetrail.context import RawOrigin, capture_raw, origin_capture
from statetrail.errors import FrozenError
from statetrail.immutable.interfaces import (
    IM_MODE_MASTER,
    IM_MODES,
    IM_STATE_LOCKED,
    IM_STATE_TRANSIENT,
)

__all__ = [
    "LOCKED",
    "LOCKED_MESSAGE",
    "MASTER_MESSAGE",
    "MEMBER_MESSAGE",
    "ImmutableBase",
    "Session",
    "Update",
    "applyStateOnInit",
    "checked_mode",
    "failOnNonTransient",
    "locked_error",
    "member_session",
    "new_session",
    "update",
]

#: The message of every refused write, as shoobx.immutable words it.
LOCKED_MESSAGE = "Cannot update locked immutable object."
#: The message of a write to a set's member while the set is transient.
MEMBER_MESSAGE = (
    "a set's member cannot change in place: the set holds it by its hash; "
    "discard it and add the changed one"
)
#: The message when ``update()`` is given a nested (slave) immutable.
MASTER_MESSAGE = "update() is only available for master immutables."

ImT = TypeVar("ImT", bound="ImmutableBase")
P = ParamSpec("P")
R = TypeVar("R")


class Session:
    """The state shared by a master immutable and every slave reached from it.

    ``standalone`` marks the session of a transient object made on its own (with
    ``im_finalize=False``, or by ``__im_clone__()``), not by an ``update()``
    block: placed in a tree, such an object joins it instead of being copied, as
    shoobx.immutable's ``__im_conform__`` keeps it.

    ``shown`` is set on the session of a set's members (:func:`member_session`):
    they are always locked, since a set holds them by their hash, but they show
    the state of the set they were read from, as shoobx.immutable's slaves do.
    """

    __slots__ = ("shown", "standalone", "state")

    def __init__(
        self, state: str = IM_STATE_TRANSIENT, standalone: bool = False
    ) -> None:
        self.state = state
        self.standalone = standalone
        self.shown: Session | None = None


#: The session of everything locked from birth: it never becomes transient, so one
#: object serves them all.
LOCKED = Session(IM_STATE_LOCKED)


def new_session(state: str = IM_STATE_TRANSIENT, standalone: bool = False) -> Session:
    """A fresh session (transient by default), for ``update()`` or a constructor."""
    return Session(state, standalone)


def member_session(session: Session) -> Session:
    """The session of the members read from a set of ``session``.

    Locked, whatever ``session``'s state: a set holds its members by their hash,
    so a member that changed in place would be lost in it. It shows ``session``'s
    state (``__im_state__`` is ``"transient"`` inside an ``update()`` block, as
    shoobx.immutable's slaves are), and a write to a member inside the block
    raises :class:`~statetrail.errors.FrozenError` saying to discard it and add
    the new one.
    """
    if session.state is IM_STATE_LOCKED and session.shown is None:
        return LOCKED
    member = Session(IM_STATE_LOCKED)
    member.shown = session.shown or session
    return member


def locked_error() -> FrozenError:
    """The error of a write to a locked immutable (an ``AttributeError`` too)."""
    return FrozenError(LOCKED_MESSAGE)


class ImmutableBase:
    """The base of every immutable: dicts, lists, sets and custom immutables.

    ``__im_mode__`` is ``"master"`` or ``"slave"`` and ``__im_state__`` is
    ``"transient"`` or ``"locked"`` (see :mod:`statetrail.immutable.interfaces`).
    Only a master can be updated, with :func:`update`.
    """

    __slots__ = ()

    __im_session__: Session
    __im_mode__: str
    #: The revision manager of a revisioned immutable; ``None`` for the others.
    __im_manager__: Any = None

    @property
    def __im_state__(self) -> str:
        """``"transient"`` inside an ``update()`` block, ``"locked"`` otherwise.

        A set's member shows the state of its set (see :func:`member_session`).
        Setting it is :meth:`__im_set_state__`.
        """
        session = self.__im_session__
        return (session.shown or session).state

    @__im_state__.setter
    def __im_state__(self, state: str) -> None:
        self.__im_set_state__(state)

    # -- shoobx.immutable's subclassing surface ------------------------------------

    def __im_set_state__(self, state: str) -> None:
        """Set the state of this object and everything reached from it.

        ``"locked"`` locks a transient tree (as :meth:`__im_finalize__`, but a
        locked one stays locked). A tree shares one state: locking a slave locks
        its master and the whole tree with it. A locked immutable is never made
        transient again: it may be shared, with history among others;
        ``update()`` gives a transient version of it instead.

        Raises:
            FrozenError: ``state`` is ``"transient"`` and this object is locked.
            ValueError: ``state`` is not a state.
        """
        if state == self.__im_session__.state:
            return
        if state == IM_STATE_LOCKED:
            self._im_lock()
            return
        if state == IM_STATE_TRANSIENT:
            raise FrozenError(
                "a locked immutable is not unlocked in place: "
                "update() gives a transient version of it"
            )
        raise ValueError(f"unknown immutable state {state!r}")

    def __im_finalize__(self) -> None:
        """Lock this transient object and everything reached from it.

        A tree shares one state: finalizing a slave locks the whole tree.

        Raises:
            RuntimeError: It is not transient.
        """
        state = self.__im_session__.state
        if state is not IM_STATE_TRANSIENT:
            raise RuntimeError(f"Cannot finalize an immutable in state: {state}")
        self._im_lock()

    def __im_clone__(self) -> Self:
        """A transient copy of this object, standing on its own.

        It shares all its data with this one; changes to it change only the copy.
        """
        return self._im_clone(new_session(standalone=True), self.__im_mode__)

    def __im_is_internal_attr__(self, name: str) -> bool:
        """Whether ``name`` is internal: settable whatever the state."""
        return name[:2] == "__" and name[-2:] == "__"

    def _im_check(self) -> Session:
        """The session, if writes are allowed now; else the locked error."""
        session = self.__im_session__
        if session.state is not IM_STATE_TRANSIENT:
            shown = session.shown
            if shown is not None and shown.state is IM_STATE_TRANSIENT:
                raise FrozenError(MEMBER_MESSAGE)
            raise locked_error()
        return session

    # -- what each kind of immutable provides ----------------------------------------

    def _im_clone(self, session: Session, mode: str) -> Self:
        """A copy bound to ``session`` in ``mode``; it shares all data with this one.

        Transient when ``session`` is.
        """
        raise NotImplementedError

    def _im_conform(self, session: Session) -> Any:
        """What a container or an attribute of a ``session`` tree keeps of this.

        A dict, list or set gives its frozen value; a custom immutable a slave copy
        of itself bound to ``session``.
        """
        raise NotImplementedError

    def _im_join(self, session: Session) -> Any:
        """What a ``session`` tree keeps of this object, made for it as a slave.

        As :meth:`_im_conform`, for an object made to be placed (shoobx's
        ``__im_get__()`` twins are made as slaves).
        """
        return self._im_conform(session)

    def _im_lock(self) -> None:
        """Lock this transient master and everything reached from it."""
        raise NotImplementedError

    def _im_rebind(self, old: Session, new: Session) -> None:
        """Move this object, and what it holds, from session ``old`` to ``new``.

        For a standalone transient object joining a tree; what is bound to another
        session is left alone.
        """
        raise NotImplementedError

    def _im_discard(self, source: Self) -> None:
        """Drop the changes of a failed ``update()`` block: become ``source`` again."""
        raise NotImplementedError

    # -- update --------------------------------------------------------------------

    def __im_update__(
        self, creator: str | None = None, comment: str | None = None
    ) -> Update[Self]:
        """The context manager :func:`update` returns for this immutable.

        To change what an update does, override the ``__im_before_update__`` and
        ``__im_after_update__`` hooks.
        """
        return Update(self, creator, comment)

    def __im_before_update__(
        self, clone: Self, creator: str | None = None, comment: str | None = None
    ) -> None:
        """Called with the transient clone before the ``update()`` block runs.

        Revisioned immutables note the creator, comment and version here; the
        others take no arguments.
        """
        if creator is not None or comment is not None:
            raise TypeError(
                "a creator and a comment are recorded only for revisioned immutables"
            )

    def __im_after_update__(
        self,
        clone: Self,
        creator: str | None = None,
        comment: str | None = None,
        *,
        _origin: RawOrigin | None = None,
    ) -> None:
        """Called with the new, locked version after the ``update()`` block.

        Revisioned immutables hand it to their manager here.
        """


def failOnNonTransient(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a method so that it runs only while its immutable is transient.

    shoobx.immutable's helper for the write methods of a subclass: outside an
    ``update()`` block the method raises ``AttributeError('Cannot update locked
    immutable object.')`` (a :class:`~statetrail.errors.FrozenError`) instead.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if args[0].__im_state__ != IM_STATE_TRANSIENT:  # type: ignore[attr-defined]
            raise locked_error()
        return func(*args, **kwargs)

    return wrapper


def applyStateOnInit(func: Callable[..., None]) -> Callable[..., None]:
    """Decorate ``__init__`` to take shoobx.immutable's ``im_finalize`` and ``im_mode``.

    The object is locked once ``func`` returns, unless ``im_finalize=False``;
    ``im_mode`` (``"master"`` or ``"slave"``) sets its mode. Classes made by
    :class:`~statetrail.immutable.ImmutableMeta` (``Immutable`` and its subclasses)
    take both keywords without it.
    """

    @functools.wraps(func)
    def wrapper(
        self: Any,
        *args: Any,
        im_finalize: bool = True,
        im_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        func(self, *args, **kwargs)
        if im_mode is not None:
            self.__im_mode__ = checked_mode(im_mode)
        if im_finalize:
            self.__im_finalize__()

    wrapper.__im_applies_state__ = True  # type: ignore[attr-defined]
    return wrapper


def checked_mode(mode: str) -> str:
    """``mode``, if it is a mode; else :class:`ValueError`."""
    if mode not in IM_MODES:
        raise ValueError(f"unknown immutable mode {mode!r}; one of {IM_MODES}")
    return mode


class Update(Generic[ImT]):
    """The ``update()`` block: a transient version on entry, locked on exit.

    On an exception inside the block the transient version drops its changes and
    is locked equal to the original; nothing is recorded.
    """

    __slots__ = ("_clone", "_comment", "_creator", "_obj", "_origin")

    def __init__(self, obj: ImT, creator: str | None, comment: str | None) -> None:
        if obj.__im_mode__ != IM_MODE_MASTER:
            raise FrozenError(MASTER_MESSAGE)
        self._obj = obj
        self._creator = creator
        self._comment = comment
        self._clone: ImT | None = None
        self._origin: RawOrigin | None = None

    def __enter__(self) -> ImT:
        obj = self._obj
        if obj.__im_session__.state is IM_STATE_TRANSIENT:
            # Already inside an update() block of this object: it is its own draft.
            return obj
        clone = obj._im_clone(Session(), IM_MODE_MASTER)
        obj.__im_before_update__(clone, self._creator, self._comment)
        if obj.__im_manager__ is not None and origin_capture():
            # The line of the user's ``with`` statement, one frame up.
            self._origin = capture_raw(1)
        self._clone = clone
        return clone

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        clone = self._clone
        if clone is None:
            return
        self._clone = None
        if exc_type is not None:
            clone._im_discard(self._obj)
            return
        clone._im_lock()
        self._obj.__im_after_update__(
            clone, self._creator, self._comment, _origin=self._origin
        )


def update(
    obj: ImT, creator: str | None = None, comment: str | None = None
) -> Update[ImT]:
    """Change an immutable: a block whose transient version becomes the new one.

    Inside the block the yielded object can be changed at any depth; on exit it is
    locked, and ``obj`` itself is never changed. Everything the block does not
    touch is shared with ``obj``, not copied. ``creator`` and ``comment`` are
    recorded with a revisioned immutable's new revision.

    >>> from statetrail.immutable import ImmutableDict, update
    >>> config = ImmutableDict({"db": {"host": "localhost"}, "debug": False})
    >>> with update(config) as new:
    ...     new["db"]["host"] = "db.internal"
    >>> new["db"]["host"], config["db"]["host"]
    ('db.internal', 'localhost')

    Raises:
        AttributeError: ``obj`` is a nested (slave) immutable; update its master.
    """
    return Update(obj, creator, comment)
