"""What ImmutableDict, ImmutableList and ImmutableSet share: a view of frozen data.

A container immutable holds one frozen container (:mod:`statetrail.frozen`) while
locked, and a draft of it while transient. A master owns its data; a slave is a
view, made on each read, of a container nested in its master's data (or of a draft
of it, inside an ``update()`` block, so its writes land in the master's draft).
Views are cheap: a few slots, no copy.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn, Self

from statetrail.frozen import (
    DictDraft,
    Draft,
    FrozenDict,
    FrozenList,
    FrozenSet,
    ListDraft,
    SetDraft,
)
from statetrail.frozen._dict import dict_items
from statetrail.frozen._freeze import register_frozen_form
from statetrail.frozen._list import list_items
from statetrail.immutable._base import (
    LOCKED,
    ImmutableBase,
    Session,
    checked_mode,
    locked_error,
    new_session,
)
from statetrail.immutable._conform import im_conform, rebind_within, wrap
from statetrail.immutable.interfaces import (
    IM_MODE_MASTER,
    IM_MODE_SLAVE,
    IM_STATE_LOCKED,
    IM_STATE_TRANSIENT,
)

__all__ = ["ContainerView", "detached", "own", "show"]


class ContainerView(ImmutableBase):
    """The shared machinery of the three container immutables."""

    __slots__ = ("__im_mode__", "__im_session__", "__weakref__", "_data")

    #: The frozen container type behind this kind of view, and its draft type.
    _frozen_type: ClassVar[type]
    _draft_type: ClassVar[type]
    #: The attribute that reads as the plain content (shoobx's storage): ``data``
    #: for the dict and the list, ``__data__`` for the set.
    _storage_name: ClassVar[str]

    _data: Any

    @classmethod
    def _view(cls, data: Any, session: Session, mode: str = IM_MODE_SLAVE) -> Self:
        """A view of ``data`` in ``session``: a draft of it when transient."""
        new = object.__new__(cls)
        if session.state is IM_STATE_TRANSIENT and type(data) is cls._frozen_type:
            data = cls._draft_type(data)
        _set_data(new, data)
        _set_session(new, session)
        _set_mode(new, mode)
        return new

    @classmethod
    def _master(cls, data: Any) -> Self:
        """A new locked master holding frozen ``data``."""
        return cls._view(data, LOCKED, IM_MODE_MASTER)

    def _init(self, data: Any, finalize: bool = True, mode: str | None = None) -> None:
        """Make this freshly constructed object a locked master of ``data``.

        ``finalize`` and ``mode`` are shoobx.immutable's ``im_finalize`` and
        ``im_mode``: with ``finalize=False`` it stays transient, on its own.
        """
        if finalize:
            session = LOCKED
        else:
            session = new_session(standalone=True)
            data = self._draft_type(data)
        _set_data(self, data)
        _set_session(self, session)
        _set_mode(self, IM_MODE_MASTER if mode is None else checked_mode(mode))

    # -- reading the data ----------------------------------------------------------

    def _read(self) -> Any:
        """The data to read: the draft while transient, else the frozen value."""
        data = self._data
        if isinstance(data, Draft) and self.__im_session__.state is not (
            IM_STATE_TRANSIENT
        ):
            # A view handed out inside an update() block, read after it: finish
            # its draft once.
            data = data.finish()
            _set_data(self, data)
        return data

    def _snapshot(self) -> Any:
        """The frozen value now (a transient draft is finished, not consumed)."""
        data = self._read()
        if isinstance(data, Draft):
            return data.finish()
        return data

    def _draft(self) -> Any:
        """The draft to write to; the locked error when the tree is locked."""
        self._im_check()
        return self._data

    # -- ImmutableBase ---------------------------------------------------------------

    def _im_clone(self, session: Session, mode: str) -> Self:
        data = self._data
        if isinstance(data, Draft):
            data = self._snapshot()
        return self._view(data, session, mode)

    def _im_conform(self, session: Session) -> Any:
        return self._snapshot()

    __im_conform__ = im_conform

    def _im_rebind(self, old: Session, new: Session) -> None:
        if self.__im_session__ is not old:
            return
        data = self._snapshot()
        rebind_within(data, old, new)
        if new.state is IM_STATE_TRANSIENT:
            data = self._draft_type(data)
        _set_data(self, data)
        _set_session(self, new)

    def _im_lock(self) -> None:
        data = self._data
        if isinstance(data, Draft):
            _set_data(self, data.finish())
        self.__im_session__.state = IM_STATE_LOCKED

    def _im_discard(self, source: Self) -> None:
        _set_data(self, source._snapshot())
        self.__im_session__.state = IM_STATE_LOCKED

    # -- protocols -------------------------------------------------------------------

    def copy(self) -> Self:
        """A new, locked master with the same content (shared, not copied).

        Unlike the object it is made from, the copy can be updated even when that
        object is a nested (slave) immutable.

        Raises:
            AssertionError: This object is transient (inside an ``update()``
                block), where shoobx.immutable refuses ``copy()`` too;
                ``copy.copy()`` gives a locked snapshot of the content so far.
        """
        if self.__im_session__.state is IM_STATE_TRANSIENT:
            raise AssertionError(
                "copy() of a transient immutable: use copy.copy() for a locked "
                "snapshot of its content so far, or copy() after the update() block"
            )
        return type(self)._master(self._snapshot())

    def __copy__(self) -> Self:
        if self.__im_session__.state is IM_STATE_TRANSIENT:
            return type(self)._master(self._snapshot())
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.__copy__()

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return (type(self), (self._snapshot(),))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ContainerView):
            other = other._snapshot()
        return self._snapshot().__eq__(other)  # type: ignore[no-any-return]

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        if self.__im_session__.state is IM_STATE_TRANSIENT:
            raise TypeError(
                f"unhashable: a transient {type(self).__name__} can still change"
            )
        return hash(self._read())

    def __repr__(self) -> str:
        return show(self._snapshot())

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "__im_state__":
            self.__im_set_state__(value)
            return
        if name == self._storage_name:
            self._im_check()
            self._im_replace(value)
            return
        self._refuse_attribute(name)

    def _im_replace(self, content: Any) -> None:
        """Replace the whole content (``x.data = ...``); the state is checked."""
        raise NotImplementedError

    def __delattr__(self, name: str) -> NoReturn:
        self._refuse_attribute(name)

    def _refuse_attribute(self, name: str) -> NoReturn:
        if self.__im_session__.state is not IM_STATE_TRANSIENT:
            raise locked_error()
        raise AttributeError(
            f"{type(self).__name__} has no attribute {name!r} to change; "
            "change its items instead"
        )


#: The draft to make of a frozen container found in a draft (a value assigned in
#: the block is kept there as given).
_DRAFT_OF: dict[type, type] = {
    FrozenDict: DictDraft,
    FrozenList: ListDraft,
    FrozenSet: SetDraft,
}


def own(data: Any, key: Any, value: Any, session: Session) -> Any:
    """``value``, read at ``key`` of a transient draft, made this block's own.

    A frozen container becomes a draft and a custom immutable of another tree a
    transient slave copy, each stored back at ``key``, so that writes through what
    the reader gets land in this block's new version.
    """
    make = _DRAFT_OF.get(type(value))
    if make is not None:
        value = data[key] = make(value)
    elif isinstance(value, ImmutableBase) and value.__im_session__ is not session:
        value = data[key] = value._im_clone(session, IM_MODE_SLAVE)
    return value


def detached(value: Any) -> Any:
    """A value taken out of a draft (by ``pop``), as a locked, self-standing one."""
    if isinstance(value, Draft):
        value = value.finish()
    if isinstance(value, ImmutableBase):
        return value
    return wrap(value, LOCKED)


# The views refuse attribute writes, so their own code sets their slots through
# the slot descriptors (faster than object.__setattr__, on the update() hot path).
_set_data = ContainerView.__dict__["_data"].__set__
_set_session = ContainerView.__dict__["__im_session__"].__set__
_set_mode = ContainerView.__dict__["__im_mode__"].__set__

# Put into a Store, Var or timeline, an ImmutableDict, ImmutableList or ImmutableSet
# is recorded as the frozen container it holds (ImmutableList used to be kept as an
# opaque copy the codec could not store).
register_frozen_form(ContainerView, ContainerView._snapshot)


def show(value: Any) -> str:
    """The repr of a frozen value as the plain dict, list or set it stands for.

    >>> from statetrail.frozen import freeze
    >>> show(freeze({"witnesses": ["Arthur", "Gag"], "seen": {6}}))
    "{'witnesses': ['Arthur', 'Gag'], 'seen': {6}}"
    """
    t = type(value)
    if t is FrozenDict:
        body = ", ".join(f"{show(k)}: {show(v)}" for k, v in dict_items(value))
        return f"{{{body}}}"
    if t is FrozenList:
        return f"[{', '.join(show(x) for x in list_items(value))}]"
    if t is FrozenSet:
        if not value:
            return "set()"
        return f"{{{', '.join(show(x) for x in value)}}}"
    if t is tuple:
        if len(value) == 1:
            return f"({show(value[0])},)"
        return f"({', '.join(show(x) for x in value)})"
    return repr(value)
