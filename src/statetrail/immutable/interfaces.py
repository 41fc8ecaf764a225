"""The modes and states of immutables, under the names shoobx.immutable gives them.

An immutable is a *master* (the root of a tree, the only one :func:`update` accepts)
or a *slave* (anything reached from a master: a nested dict, list, set or custom
immutable, locked and unlocked with it).

A master is *transient* inside an ``update()`` block and *locked* everywhere else;
a revisioned immutable that is no longer its manager's current revision is
*retired*.

>>> from statetrail.immutable import interfaces
>>> interfaces.IM_STATE_RETIRED in interfaces.IM_STATES_REVISIONED
True
"""

from __future__ import annotations

import datetime
import decimal
from typing import Final

__all__ = [
    "DICT_TYPES",
    "IMMUTABLE_TYPES",
    "IM_MODES",
    "IM_MODE_DEFAULT",
    "IM_MODE_MASTER",
    "IM_MODE_SLAVE",
    "IM_STATES",
    "IM_STATES_REVISIONED",
    "IM_STATE_LOCKED",
    "IM_STATE_RETIRED",
    "IM_STATE_TRANSIENT",
    "LIST_TYPES",
    "SET_TYPES",
]

IM_MODE_MASTER: Final = "master"
IM_MODE_SLAVE: Final = "slave"
IM_MODE_DEFAULT: Final = IM_MODE_MASTER
IM_MODES: Final = (IM_MODE_MASTER, IM_MODE_SLAVE)

IM_STATE_LOCKED: Final = "locked"
IM_STATE_TRANSIENT: Final = "transient"
IM_STATES: Final = (IM_STATE_LOCKED, IM_STATE_TRANSIENT)

IM_STATE_RETIRED: Final = "retired"
IM_STATES_REVISIONED: Final = (IM_STATE_LOCKED, IM_STATE_TRANSIENT, IM_STATE_RETIRED)

#: Values that are kept as they are (tuples and frozensets get their items
#: conformed). Any type registered with :func:`statetrail.register_immutable` is
#: accepted too.
IMMUTABLE_TYPES: Final = (
    bool,
    int,
    float,
    complex,
    decimal.Decimal,
    tuple,
    str,
    bytes,
    type(None),
    datetime.date,
    datetime.time,
    datetime.datetime,
    datetime.timedelta,
    datetime.tzinfo,
)

#: Values converted to an :class:`~statetrail.immutable.ImmutableDict`.
DICT_TYPES: Final = (dict,)

#: Values converted to an :class:`~statetrail.immutable.ImmutableList`.
LIST_TYPES: Final = (list,)

#: Values converted to an :class:`~statetrail.immutable.ImmutableSet`.
SET_TYPES: Final = (set,)
