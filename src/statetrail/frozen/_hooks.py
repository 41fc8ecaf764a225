"""The one function the containers need from ``_freeze``, installed by it.

``_freeze`` needs the container classes to build its dispatch table, and the
containers need ``freeze_value`` to freeze what is put into them. This module
imports nothing, so the cycle is broken whatever order the modules load in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["freeze_value", "lazy", "lazy_changes", "real"]


def _not_ready(value: Any) -> Any:  # pragma: no cover - replaced at import
    raise RuntimeError("statetrail.frozen._freeze has not been imported")


freeze_value: Callable[[Any], Any] = _not_ready


#: Values that load lazily from storage (``storage/_lazy.py``), by type, each
#: with what turns it into the frozen value it stands for. Filled by storage,
#: which the frozen layer must not import.
lazy: dict[type, Callable[[Any], Any]] = {}


def real(value: Any) -> Any:
    """``value`` itself, or the frozen value a lazily loaded one stands for."""
    make = lazy.get(type(value))
    return value if make is None else make(value)


#: For a lazily loaded type: ``changes(a, b)``, the ``(key, old, new)`` changes
#: from ``a`` to ``b`` when both stand on the same stored value (``diff`` goes
#: on into each pair, as for a dict's), or ``None`` (then both are
#: materialised and diffed as frozen values).
lazy_changes: dict[type, Callable[[Any, Any], list[tuple[Any, Any, Any]] | None]] = {}
