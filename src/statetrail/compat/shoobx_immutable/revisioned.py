"""``shoobx.immutable.revisioned``: revisioned immutables and their manager.

The classes are :mod:`statetrail.immutable.revisioned`'s, named as
shoobx.immutable names them, so a manager's repr reads
``<statetrail.compat.shoobx_immutable.revisioned.SimpleRevisionedImmutableManager
...>`` where shoobx's reads ``<shoobx.immutable.revisioned...>``.
"""

from __future__ import annotations

from typing import Any

from statetrail.compat.shoobx_immutable.immutable import ImmutableBase
from statetrail.immutable import revisioned as _native

__all__ = [
    "RevisionedImmutable",
    "RevisionedImmutableBase",
    "RevisionedMapping",
    "SimpleRevisionedImmutableManager",
]


class RevisionedImmutableBase(_native.RevisionedImmutable, ImmutableBase):
    """shoobx.immutable's base of revisioned immutables.

    See :class:`statetrail.immutable.RevisionedImmutable`.
    """


class RevisionedImmutable(RevisionedImmutableBase):
    """shoobx.immutable's ``RevisionedImmutable``: subclass it for your objects."""


class SimpleRevisionedImmutableManager(_native.SimpleRevisionedImmutableManager):
    """shoobx.immutable's revision manager, over a statetrail timeline.

    See :class:`statetrail.immutable.SimpleRevisionedImmutableManager`.
    """

    @property
    def __data__(self) -> list[_native.RevisionedImmutable]:
        """The revisions leading to the current one (shoobx's storage, read only).

        A new list on each read: changing it changes nothing.
        """
        return self.revision_history()


class RevisionedMapping(_native.RevisionedMapping):
    """shoobx.immutable's mapping of revisioned objects, one manager per key."""

    manager_class = SimpleRevisionedImmutableManager

    @property
    def __data__(self) -> dict[Any, _native.SimpleRevisionedImmutableManager]:
        """Each key's manager (shoobx's storage, read only; a new dict each read)."""
        return {key: self.revision_manager(key) for key in self}
