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

from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from statetrail.context import RawOrigin, capture_raw, origin_capture
from statetrail.errors import FrozenError
from statetrail.immutable.interfaces import (
    IM_MODE_MASTER,
    IM_STATE_LOCKED,
    IM_STATE_TRANSIENT,
)

__all__ = [
    "LOCKED",
    "LOCKED_MESSAGE",
    "MASTER_MESSAGE",
    "ImmutableBase",
    "Session",
    "Update",
    "locked_error",
    "new_session",
    "update",
]

#: The message of every refused write, as shoobx.immutable words it.
LOCKED_MESSAGE = "Cannot update locked immutable object."
#: The message when ``update()`` is given a nested (slave) immutable.
MASTER_MESSAGE = "update() is only available for master immutables."

ImT = TypeVar("ImT", bound="ImmutableBase")


class Session:
    """The state shared by a master immutable and every slave reached from it."""

    __slots__ = ("state",)

    def __init__(self, state: str = IM_STATE_TRANSIENT) -> None:
        self.state = state


#: The session of everything locked from birth: it never becomes transient, so one
#: object serves them all.
LOCKED = Session(IM_STATE_LOCKED)


def new_session(state: str = IM_STATE_TRANSIENT) -> Session:
    """A fresh session (transient by default), for ``update()`` or a constructor."""
    return Session(state)


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
        """``"transient"`` inside an ``update()`` block, ``"locked"`` otherwise."""
        return self.__im_session__.state

    def _im_check(self) -> Session:
        """The session, if writes are allowed now; else the locked error."""
        session = self.__im_session__
        if session.state is not IM_STATE_TRANSIENT:
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

    def _im_lock(self) -> None:
        """Lock this transient master and everything reached from it."""
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
