"""``shoobx.immutable.interfaces``: the modes and states, and the zope interfaces.

The constants are :mod:`statetrail.immutable.interfaces`'s and need nothing else.
``IImmutable``, ``IImmutableObject``, ``IRevisionedImmutable`` and
``IRevisionedImmutableManager`` are real zope interfaces, provided by the classes
shoobx's provide them, when zope.interface is installed (the ``shoobx`` extra:
``pip install 'statetrail[shoobx]'``). Without it, using one of them raises
:class:`ImportError` naming the extra; the rest of the module works.
"""

from typing import Any

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
    "IImmutable",
    "IImmutableObject",
    "IRevisionedImmutable",
    "IRevisionedImmutableManager",
]

_INTERFACES = frozenset(
    {
        "IImmutable",
        "IImmutableObject",
        "IRevisionedImmutable",
        "IRevisionedImmutableManager",
    }
)

try:
    from statetrail.compat.shoobx_immutable._zope import (
        IImmutable,
        IImmutableObject,
        IRevisionedImmutable,
        IRevisionedImmutableManager,
    )
except ModuleNotFoundError as exc:
    if exc.name is None or not exc.name.startswith("zope"):
        raise
    _missing = exc

    def __getattr__(name: str) -> Any:
        if name in _INTERFACES:
            raise ImportError(
                f"{name} is a zope interface: install zope.interface with "
                "pip install 'statetrail[shoobx]'",
                name=name,
            ) from _missing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
