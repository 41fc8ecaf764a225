"""The one function the containers need from ``_freeze``, installed by it.

``_freeze`` needs the container classes to build its dispatch table, and the
containers need ``freeze_value`` to freeze what is put into them. This module
imports nothing, so the cycle is broken whatever order the modules load in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["freeze_value"]


def _not_ready(value: Any) -> Any:  # pragma: no cover - replaced at import
    raise RuntimeError("statetrail.frozen._freeze has not been imported")


freeze_value: Callable[[Any], Any] = _not_ready
