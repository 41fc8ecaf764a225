"""Immutable: the base of custom immutable classes, locked once ``__init__`` returns.

Attributes are set freely in ``__init__`` and inside an ``update()`` block, and
refused everywhere else. Dict, list and set values become ``ImmutableDict``,
``ImmutableList`` and ``ImmutableSet`` slaves, and custom immutables become slave
copies, all locked with the object. Names that start and end with two underscores
are internal (``__im_version__`` and the like) and can always be set.

shoobx.immutable's constructor keywords work on every class: ``im_finalize=False``
leaves the new object transient (lock it with ``__im_finalize__()``), and
``im_mode="slave"`` makes it a slave. A transient object made so, placed in a tree,
joins it (shoobx's ``__im_conform__`` keeps it, as a slave); a locked one is
copied. A slave custom immutable cannot be placed anywhere again: one object in
two places of a tree would be changed through both (``AssertionError``, as
shoobx.immutable asserts).
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from statetrail.frozen import register_immutable
from statetrail.immutable._base import (
    ImmutableBase,
    Session,
    checked_mode,
    new_session,
)
from statetrail.immutable._conform import conform_attr, im_conform, rebind_within
from statetrail.immutable.interfaces import (
    IM_MODE_MASTER,
    IM_MODE_SLAVE,
    IM_STATE_LOCKED,
    IM_STATE_TRANSIENT,
)

__all__ = ["Immutable", "ImmutableMeta"]

_T = TypeVar("_T")

#: Internal attributes that describe a place in a running system, not the object's
#: content, and so are not pickled.
_UNPICKLED = frozenset({"__im_session__", "__im_manager__", "__im_stands_for__"})
_setattr = object.__setattr__


class ImmutableMeta(type):
    """Locks each new instance once its ``__init__`` has run.

    Every class it makes is registered with
    :func:`~statetrail.register_immutable`, so frozen containers and timelines keep
    its instances by reference instead of copying them.
    """

    def __init__(
        cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], /
    ) -> None:
        super().__init__(name, bases, namespace)
        register_immutable(cls)

    def __call__(cls: type[_T], *args: Any, **kwargs: Any) -> _T:
        if getattr(cls.__init__, "__im_applies_state__", False):
            # An __init__ decorated with applyStateOnInit takes the keywords itself.
            return type.__call__(cls, *args, **kwargs)  # type: ignore[no-any-return]
        finalize = kwargs.pop("im_finalize", True)
        mode = kwargs.pop("im_mode", None)
        obj = type.__call__(cls, *args, **kwargs)
        state = obj.__dict__
        if mode is not None:
            state["__im_mode__"] = checked_mode(mode)
        if finalize:
            state["__im_session__"].state = IM_STATE_LOCKED
        return obj  # type: ignore[no-any-return]


class Immutable(ImmutableBase, metaclass=ImmutableMeta):
    """The base of custom immutable classes.

    >>> from statetrail.immutable import Immutable, ImmutableList, update
    >>> class Answer(Immutable):
    ...     def __init__(self, question=None, answer=None, witnesses=None):
    ...         self.question = question
    ...         self.answer = answer
    ...         self.witnesses = witnesses
    >>> answer = Answer("The Answer", 42, ["Arthur", "Gag"])
    >>> isinstance(answer.witnesses, ImmutableList)
    True
    >>> with update(answer) as answer:
    ...     answer.answer = 54
    >>> answer.answer
    54
    """

    __im_mode__ = IM_MODE_MASTER

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        obj = super().__new__(cls)
        # Made on its own: left transient (im_finalize=False), it joins the tree it
        # is placed in.
        obj.__dict__["__im_session__"] = new_session(standalone=True)
        return obj

    def __init__(self) -> None:
        # Here so that a subclass without __init__ refuses arguments, as object does
        # when __new__ is not overridden.
        pass

    __im_conform__ = im_conform

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__im_is_internal_attr__(name):
            _setattr(self, name, value)
            return
        session = self._im_check()
        _setattr(self, name, conform_attr(value, session))

    def __delattr__(self, name: str) -> None:
        if not self.__im_is_internal_attr__(name):
            self._im_check()
        object.__delattr__(self, name)

    # -- ImmutableBase ---------------------------------------------------------------

    def _im_clone(self, session: Session, mode: str) -> Self:
        new = object.__new__(type(self))
        state = new.__dict__
        internal = self.__im_is_internal_attr__
        for name, value in self.__dict__.items():
            if isinstance(value, ImmutableBase) and not internal(name):
                # Nested dicts, lists and sets are views of shared frozen data, so
                # this costs one small object per attribute, not a copy of the data.
                value = value._im_clone(session, IM_MODE_SLAVE)
            state[name] = value
        state["__im_session__"] = session
        if mode == IM_MODE_MASTER:
            state.pop("__im_mode__", None)
        else:
            state["__im_mode__"] = mode
        return new

    def _im_conform(self, session: Session) -> Any:
        if self.__im_mode__ != IM_MODE_MASTER:
            # shoobx.immutable asserts the same: a slave belongs to one place.
            raise AssertionError(
                f"this {type(self).__name__} is already part of another immutable "
                "(a slave); place a copy of it (copy.copy() of its master, or "
                "__im_clone__())"
            )
        return self._im_join(session)

    def _im_join(self, session: Session) -> Any:
        own = self.__im_session__
        if own.standalone and own.state is IM_STATE_TRANSIENT and own is not session:
            # Made transient on its own: it joins the tree as it is. A nested view
            # read from it before (not one of its attributes) keeps the old session,
            # now locked: a write through it would land nowhere.
            self._im_rebind(own, session)
            own.state = IM_STATE_LOCKED
            self.__dict__["__im_mode__"] = IM_MODE_SLAVE
            return self
        return self._im_clone(session, IM_MODE_SLAVE)

    def _im_rebind(self, old: Session, new: Session) -> None:
        state = self.__dict__
        if state["__im_session__"] is not old:
            return
        state["__im_session__"] = new
        internal = self.__im_is_internal_attr__
        for name, value in state.items():
            if not internal(name):
                rebind_within(value, old, new)

    def _im_lock(self) -> None:
        self.__im_session__.state = IM_STATE_LOCKED

    def _im_discard(self, source: Self) -> None:
        session = self.__im_session__
        fresh = source._im_clone(session, IM_MODE_MASTER)
        state = self.__dict__
        state.clear()
        state.update(fresh.__dict__)
        session.state = IM_STATE_LOCKED

    # -- copying and pickling --------------------------------------------------------

    def __copy__(self) -> Self:
        if self.__im_session__.state is IM_STATE_TRANSIENT:
            return self._im_clone(new_session(IM_STATE_LOCKED), self.__im_mode__)
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.__copy__()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        public: dict[str, Any] = {}
        internal: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if not self.__im_is_internal_attr__(name):
                public[name] = value
            elif name not in _UNPICKLED:
                internal[name] = value
        return (_restore, (type(self), public, internal))


def _restore(
    cls: type[Immutable], public: dict[str, Any], internal: dict[str, Any]
) -> Any:
    """Rebuild a pickled immutable: a locked object with the same content."""
    obj = object.__new__(cls)
    state = obj.__dict__
    state.update(internal)
    session = state["__im_session__"] = new_session()
    for name, value in public.items():
        if isinstance(value, Immutable):
            # Unpickled on its own, a slave of this object again.
            state[name] = value._im_clone(session, IM_MODE_SLAVE)
        else:
            state[name] = conform_attr(value, session)
    session.state = IM_STATE_LOCKED
    return obj
