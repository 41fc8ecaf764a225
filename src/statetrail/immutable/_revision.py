"""RevisionedImmutable: one revision of an object whose history is kept.

A revision knows its version, when it was current, who made it and why; its manager
(:mod:`statetrail.immutable.revisioned`) records it in a timeline.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from statetrail.context import Metadata, RawOrigin, context, current_context
from statetrail.frozen import FrozenDict
from statetrail.frozen._dict import dict_of
from statetrail.immutable._object import Immutable
from statetrail.immutable._view import ContainerView
from statetrail.immutable.interfaces import IM_STATE_LOCKED, IM_STATE_RETIRED

if TYPE_CHECKING:
    from statetrail.immutable.revisioned import SimpleRevisionedImmutableManager

__all__ = ["RevisionedImmutable", "revision_context", "state_of"]


def revision_context(
    *, creator: str | None = None, comment: str | None = None
) -> AbstractContextManager[Metadata]:
    """The creator and comment of every revision made inside the block.

    Per thread and per asyncio task; arguments given to ``update()`` win, and a
    name not given here keeps the enclosing block's value. It is
    :func:`statetrail.context` under the names this API uses (creator is author).
    """
    names: dict[str, str] = {}
    if creator is not None:
        names["author"] = creator
    if comment is not None:
        names["comment"] = comment
    return context(**names)


class RevisionedImmutable(Immutable):
    """One revision of a versioned immutable object.

    Beside its own attributes it has:

    - ``__im_version__``: its number in its manager's timeline (0 for the first;
      increasing, unique, the order of revisions);
    - ``__im_start_on__`` / ``__im_end_on__``: when it became current and when it
      stopped being current (``None`` while it is current), aware UTC datetimes;
    - ``__im_creator__`` / ``__im_comment__``: who made it and why;
    - ``__im_manager__``: the manager holding it, if any;
    - ``__im_state__``: ``"transient"``, ``"locked"`` or ``"retired"`` (locked but
      no longer current).
    """

    __im_version__: int = 0
    __im_start_on__: datetime | None = None
    __im_end_on__: datetime | None = None
    __im_creator__: str | None = None
    __im_comment__: str | None = None
    __im_manager__: SimpleRevisionedImmutableManager | None = None

    @property
    def __im_state__(self) -> str:
        """``"transient"``, ``"locked"`` or ``"retired"``."""
        state = self.__im_session__.state
        if state is IM_STATE_LOCKED and self.__im_end_on__ is not None:
            return IM_STATE_RETIRED
        return state

    @__im_state__.setter
    def __im_state__(self, state: str) -> None:
        self.__im_set_state__(state)

    def __im_before_update__(
        self, clone: Self, creator: str | None = None, comment: str | None = None
    ) -> None:
        """Note the creator, comment and next version on the transient clone.

        A creator or comment not given comes from :func:`revision_context`.
        """
        manager = self.__im_manager__
        if manager is not None and _is_native(manager):
            manager._check_current(self)
        meta = current_context()
        state = clone.__dict__
        state["__im_creator__"] = meta.author if creator is None else creator
        state["__im_comment__"] = meta.comment if comment is None else comment
        state["__im_version__"] = self.__im_version__ + 1
        state["__im_start_on__"] = None
        state["__im_end_on__"] = None
        state.pop("__im_stands_for__", None)

    def __im_after_update__(
        self,
        clone: Self,
        creator: str | None = None,
        comment: str | None = None,
        *,
        _origin: RawOrigin | None = None,
    ) -> None:
        """Record the new revision with the manager, if there is one.

        A manager of another kind (shoobx's ``IRevisionedImmutableManager``) gets
        ``manager.addRevision(clone, old=self)``.
        """
        manager = self.__im_manager__
        if manager is None:
            return
        if _is_native(manager):
            manager._add(clone, self, _origin, 0)
        else:
            manager.addRevision(clone, old=self)

    def __im_set_state__(self, state: str) -> None:
        """Set the state; ``"retired"`` locks it and ends it now, if not ended yet."""
        if state != IM_STATE_RETIRED:
            super().__im_set_state__(state)
            return
        if self.__im_session__.state is not IM_STATE_LOCKED:
            self._im_lock()
        if self.__im_end_on__ is None:
            self.__im_end_on__ = datetime.now(UTC)

    def _im_discard(self, source: Self) -> None:
        super()._im_discard(source)
        # The user's name for the revision now points at this copy (``with
        # update(r) as r``), so it stands for ``source`` with the manager: a retry
        # updates from it, a rollback to it rolls back to ``source``.
        self.__dict__["__im_stands_for__"] = source.__dict__.get(
            "__im_stands_for__", source
        )


def _is_native(manager: object) -> bool:
    """Whether ``manager`` is statetrail's own (imported late: it imports this)."""
    from statetrail.immutable.revisioned import SimpleRevisionedImmutableManager

    return isinstance(manager, SimpleRevisionedImmutableManager)


def state_of(obj: Immutable) -> FrozenDict[str, Any]:
    """An object's attributes as a frozen dict, for the timeline to keep and diff."""
    items: dict[str, Any] = {}
    internal = obj.__im_is_internal_attr__
    for name, value in obj.__dict__.items():
        if internal(name):
            continue
        if isinstance(value, Immutable):
            value = state_of(value)
        elif isinstance(value, ContainerView):
            value = value._snapshot()
        items[name] = value
    return dict_of(items)
