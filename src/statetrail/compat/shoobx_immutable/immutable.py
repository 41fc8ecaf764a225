"""``shoobx.immutable.immutable``: the immutable types, ``update()`` and helpers.

``ImmutableBase`` and ``Immutable`` are the bases of custom immutables, as in
shoobx.immutable: ``ImmutableBase()`` itself is an empty custom immutable, and
``isinstance(x, ImmutableBase)`` holds for the dicts, lists and sets too. Both are
:class:`statetrail.immutable.Immutable` underneath, so every subclass is locked
once its ``__init__`` returns (shoobx locks a direct ``ImmutableBase`` subclass
only if its ``__init__`` is decorated with ``applyStateOnInit``); pass
``im_finalize=False`` to keep a new object transient.
"""

from abc import ABCMeta

from statetrail.immutable import Immutable as _Immutable
from statetrail.immutable import (
    ImmutableDict,
    ImmutableList,
    ImmutableMeta,
    ImmutableSet,
    applyStateOnInit,
    failOnNonTransient,
    update,
)

__all__ = [
    "Immutable",
    "ImmutableBase",
    "ImmutableDict",
    "ImmutableList",
    "ImmutableMeta",
    "ImmutableSet",
    "applyStateOnInit",
    "failOnNonTransient",
    "update",
]


class _BaseMeta(ImmutableMeta, ABCMeta):
    """ImmutableMeta, with ``register()`` so the containers count as ImmutableBase."""


class ImmutableBase(_Immutable, metaclass=_BaseMeta):
    """shoobx.immutable's ``ImmutableBase``: the base of every immutable.

    >>> from statetrail.compat.shoobx_immutable import immutable
    >>> im = immutable.ImmutableBase()
    >>> with immutable.update(im) as im2:
    ...     im2.answer = 42
    >>> im2.answer, im2.__im_state__
    (42, 'locked')
    >>> isinstance(immutable.ImmutableDict(), immutable.ImmutableBase)
    True
    """


for _container in (ImmutableDict, ImmutableList, ImmutableSet):
    ImmutableBase.register(_container)


class Immutable(ImmutableBase):
    """shoobx.immutable's ``Immutable``: the base of custom immutable classes."""
