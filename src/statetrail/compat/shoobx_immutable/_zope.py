"""shoobx.immutable's zope interfaces, and the classes that provide them.

Imported by :mod:`statetrail.compat.shoobx_immutable.interfaces` when
zope.interface is installed (``pip install 'statetrail[shoobx]'``). The interfaces
have shoobx.immutable's names, methods and attributes, so
``zope.interface.verify.verifyClass`` accepts the same classes.
"""

import zope.interface
from zope.interface import Attribute, Interface

from statetrail.compat.shoobx_immutable import immutable, revisioned
from statetrail.immutable import Immutable as _Immutable
from statetrail.immutable import (
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    RevisionedImmutable,
    SimpleRevisionedImmutableManager,
)

__all__ = [
    "IImmutable",
    "IImmutableObject",
    "IRevisionedImmutable",
    "IRevisionedImmutableManager",
]

# The method declarations below are zope.interface's notation: no ``self``.


class IImmutable(Interface):
    """An object whose data changes only in a transient clone (``update()``)."""

    __im_mode__ = Attribute("'master' (updatable) or 'slave' (part of a master).")
    __im_state__ = Attribute("'transient' (writable) or 'locked'.")

    def __im_conform__(object):
        """The immutable equivalent of ``object``, a transient slave."""

    def __im_clone__():
        """A transient clone of this object."""

    def __im_set_state__(state):
        """Set the state of this object and all its sub-objects."""

    def __im_finalize__():
        """Lock this transient object and all its sub-objects."""

    def __im_before_update__(clone):
        """Called with the transient clone before the update block runs."""

    def __im_after_update__(clone):
        """Called with the new, locked version after the update block."""

    def __im_update__():
        """A context manager giving a transient version to change."""

    def __setattr__(name, value):
        """Set an attribute; only a transient object accepts it."""


class IImmutableObject(IImmutable):
    """A custom immutable class: takes ``im_finalize`` and ``im_mode``."""


class IRevisionedImmutableManager(Interface):
    """Keeps the revisions of an immutable."""

    def getCurrentRevision(obj):
        """The current revision, or ``None``."""

    def getNumberOfRevisions(obj):
        """How many revisions there are."""

    def getRevisionHistory(
        obj,
        creator=None,
        comment=None,
        startBefore=None,
        startAfter=None,
        batchStart=0,
        batchSize=None,
        reversed=False,
    ):
        """The revisions, oldest first, filtered, ordered and batched."""

    def addRevision(new, old=None):
        """Record ``new`` as the current revision, retiring ``old``."""

    def rollbackToRevision(revision, activate=True):
        """Make ``revision`` the newest revision again."""


class IRevisionedImmutable(IImmutable):
    """One revision of an immutable, managed by an IRevisionedImmutableManager."""

    __im_version__ = Attribute("The version: the chronological order of revisions.")
    __im_start_on__ = Attribute("When the revision became current.")
    __im_end_on__ = Attribute("When it stopped being current; None while current.")
    __im_creator__ = Attribute("Who made the revision.")
    __im_comment__ = Attribute("Why it was made.")
    __im_manager__ = Attribute("The IRevisionedImmutableManager, if any.")

    def __im_update__(creator=None, comment=None):
        """A context manager giving a transient version, recorded as a revision."""


for _cls in (ImmutableDict, ImmutableList, ImmutableSet, immutable.ImmutableBase):
    zope.interface.classImplements(_cls, IImmutable)
zope.interface.classImplements(_Immutable, IImmutableObject)
zope.interface.classImplements(RevisionedImmutable, IRevisionedImmutable)
zope.interface.classImplements(revisioned.RevisionedImmutableBase, IRevisionedImmutable)
zope.interface.classImplements(
    SimpleRevisionedImmutableManager, IRevisionedImmutableManager
)
