"""``shoobx.immutable.interfaces``: the mode and state constants and value types.

The zope.interface declarations are not reproduced; the constants are
:mod:`statetrail.immutable.interfaces`'s.
"""

from statetrail.immutable.interfaces import (
    DICT_TYPES,
    IM_MODE_DEFAULT,
    IM_MODE_MASTER,
    IM_MODE_SLAVE,
    IM_MODES,
    IM_STATE_LOCKED,
    IM_STATE_RETIRED,
    IM_STATE_TRANSIENT,
    IM_STATES,
    IM_STATES_REVISIONED,
    IMMUTABLE_TYPES,
    LIST_TYPES,
    SET_TYPES,
)

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
