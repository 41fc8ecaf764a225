"""A drop-in for ``shoobx.immutable`` 1.2.0, on statetrail's engine.

Change ``import shoobx.immutable as im`` to
``import statetrail.compat.shoobx_immutable as im`` and the third seed's documented
examples run unchanged, with the documented results.

What differs, on purpose, because shoobx.immutable's own code loses history or
wastes work:

- ``update()`` does not clone the tree: the new version shares every unchanged
  part with the old one, so changing one key of a large dict costs microseconds.
- ``rollbackToRevision()`` deletes nothing. The revision rolled back to becomes
  current and the later ones stay on a branch of the timeline (shoobx deleted the
  revision before the target as well as those after it).
- ``getRevisionHistory()`` returns a list, so ``len()`` works as the README uses it.
- Revisions are ordered by ``__im_version__``, the timeline's revision number,
  unique across branches; ``__im_start_on__`` is an aware UTC datetime.
- An update made from a retired revision records it as made from that revision (a
  new branch), instead of appending it after revisions it never saw.
- A failed ``update()`` block leaves the yielded object equal to the original
  and locked, instead of transient and half-changed.
- Every revision also has an origin, a diff and blame, through the manager's
  ``record_of()``, ``diff()``, ``blame()`` and ``timeline``.
- The pjpersist storage is not part of this module; statetrail's storage backends
  keep timelines.
"""

from statetrail.compat.shoobx_immutable import immutable, interfaces, revisioned
from statetrail.compat.shoobx_immutable.immutable import (
    Immutable,
    ImmutableBase,
    ImmutableDict,
    ImmutableList,
    ImmutableMeta,
    ImmutableSet,
    applyStateOnInit,
    failOnNonTransient,
    update,
)
from statetrail.compat.shoobx_immutable.revisioned import (
    RevisionedImmutable,
    RevisionedImmutableBase,
    RevisionedMapping,
    SimpleRevisionedImmutableManager,
)

__version__ = "1.2.0"

__all__ = [
    "Immutable",
    "ImmutableBase",
    "ImmutableDict",
    "ImmutableList",
    "ImmutableMeta",
    "ImmutableSet",
    "RevisionedImmutable",
    "RevisionedImmutableBase",
    "RevisionedMapping",
    "SimpleRevisionedImmutableManager",
    "applyStateOnInit",
    "failOnNonTransient",
    "immutable",
    "interfaces",
    "revisioned",
    "update",
]
