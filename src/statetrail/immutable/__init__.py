"""Immutable dicts, lists, sets and objects, changed only through ``update()``.

The third seed's API (shoobx.immutable) on statetrail's engine: an immutable is
locked once created, and ``with update(obj) as new:`` gives a transient version
that becomes a new locked object on exit, sharing every unchanged part with
``obj``. Revisioned immutables keep every version in a
:class:`~statetrail.Timeline`.

>>> from statetrail.immutable import ImmutableDict, update
>>> answer = ImmutableDict({"question": "Life, the universe ...", "answer": 0})
>>> with update(answer) as answer:
...     answer["answer"] = 42
>>> answer["answer"]
42
"""

from statetrail.immutable import interfaces
from statetrail.immutable._base import (
    ImmutableBase,
    applyStateOnInit,
    failOnNonTransient,
    update,
)
from statetrail.immutable._dict import ImmutableDict
from statetrail.immutable._list import ImmutableList
from statetrail.immutable._object import Immutable, ImmutableMeta
from statetrail.immutable._set import ImmutableSet
from statetrail.immutable.revisioned import (
    RevisionedImmutable,
    RevisionedMapping,
    SimpleRevisionedImmutableManager,
    UnknownRevisionError,
    revision_context,
)

__all__ = [
    "Immutable",
    "ImmutableBase",
    "ImmutableDict",
    "ImmutableList",
    "ImmutableMeta",
    "ImmutableSet",
    "RevisionedImmutable",
    "RevisionedMapping",
    "SimpleRevisionedImmutableManager",
    "UnknownRevisionError",
    "applyStateOnInit",
    "failOnNonTransient",
    "interfaces",
    "revision_context",
    "update",
]
