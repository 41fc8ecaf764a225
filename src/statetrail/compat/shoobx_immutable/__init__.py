"""A drop-in for ``shoobx.immutable`` 1.2.0, on statetrail's engine.

Change ``import shoobx.immutable as im`` to
``import statetrail.compat.shoobx_immutable as im`` and the third seed's documented
examples run unchanged, with the documented results. The modules ``immutable``,
``revisioned`` and ``interfaces`` are shoobx.immutable's, with the subclassing
surface (``__im_mode__``, ``__im_conform__``, ``__im_clone__``,
``__im_finalize__``, ``__im_set_state__``, the ``im_finalize=`` and ``im_mode=``
keywords, ``applyStateOnInit``, ``failOnNonTransient``). The zope interfaces
(``interfaces.IImmutable`` and the others, provided by the same classes as in
shoobx.immutable) need zope.interface: ``pip install 'statetrail[shoobx]'``;
without it, they raise :class:`ImportError` naming the extra, and everything else
works.

What differs, on purpose, because shoobx.immutable's own code loses history,
aliases data or wastes work:

- ``update()`` does not clone the tree: the new version shares every unchanged
  part with the old one, so changing one key of a large dict costs microseconds.
  ``__im_clone__()`` shares the same way.
- ``rollbackToRevision()`` deletes nothing. The revision rolled back to becomes
  current and the later ones stay on a branch of the timeline (shoobx deleted the
  revision before the target as well as those after it).
- ``getRevisionHistory()`` returns a list, so ``len()`` works as the README uses it.
- Revisions are ordered by ``__im_version__``, the timeline's revision number,
  unique across branches; ``__im_start_on__`` is an aware UTC datetime (a
  manager's ``now`` hook, when set, gives it instead).
- An ``update()`` of a revision that is no longer current (a later revision
  exists) is refused with :class:`statetrail.errors.ConflictError`, before its
  block runs, or when it ends if another update landed meanwhile. shoobx appended
  such an update after revisions it never saw; roll back to the revision first to
  branch from it.
- ``RevisionedMapping[key] = obj`` on a key already there records ``obj`` as the
  key's next revision (shoobx started a new manager and dropped the history).
- A failed ``update()`` block leaves the yielded object equal to the original
  and locked, instead of transient and half-changed.
- A locked immutable is never made transient in place
  (``__im_set_state__("transient")`` raises ``FrozenError``): it may be shared, in
  history among others. ``update()`` and ``__im_clone__()`` give transient
  versions.
- The members of an ``ImmutableSet`` stay locked while the set is transient: a
  member is hashed by its content, so a changeable one would either change its
  hash inside the set (shoobx's do) or be unhashable, and ``set(s)``, ``s <= t``
  or a member used as a key would fail inside the block. To change one, discard
  it and add the new one.
- Every subclass of ``ImmutableBase`` is locked once its ``__init__`` returns, as
  ``Immutable``'s are (shoobx left a direct ``ImmutableBase`` subclass transient
  unless its ``__init__`` was decorated with ``applyStateOnInit``); pass
  ``im_finalize=False`` to keep a new object transient.
- A revision unknown to a manager is an ``UnknownRevisionError``, both the
  ``KeyError`` shoobx's interface documents and the ``ValueError`` its manager
  raised.
- The containers keep a frozen value, not shoobx's storage. Their ``.data``
  (``ImmutableDict``, ``ImmutableList``) and ``__data__`` (``ImmutableSet``) are a
  plain ``dict``, ``list`` and ``set`` of the content when read, whose writes are
  made on the container through its own checked methods: inside ``update()`` they
  land in the new version; on a locked container they raise ``AttributeError``
  (``FrozenError``) as the container does, where shoobx let ``.data`` change a
  locked container in place. A container takes no attributes but its items,
  even inside ``update()`` (shoobx let a transient one take any). A manager's and
  a mapping's ``__data__`` are read-only copies of their revisions and managers.
- Every revision also has an origin, a diff and blame, through the manager's
  ``record_of()``, ``diff()``, ``blame()`` and ``timeline``.
- The pjpersist storage is not part of this module; statetrail's storage backends
  keep timelines.

shoobx.immutable 1.2.0's own ``test_immutable.py`` and ``test_revisioned.py`` run
against this module in ``tests/compat/upstream/``, with only their imports changed.
Two of their tests read the original's private storage, ``.data``, and check
behaviour that differs on purpose (above); they run as expected failures:
``ImmutableDictTest``'s ``test_attribute_setting`` and ``ImmutableListTest``'s
``test_attribute_setting`` write to a locked container's ``.data``
(``dct.data['answer'] = 42``, ``im_list.data.append(42)``), which raises.
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
