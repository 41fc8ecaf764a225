"""What the acceptance tests share: the two sides, and loading them."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

#: fixture name -> (the original's import name, its distribution, the compat module)
SIDES: dict[str, tuple[str, str, str]] = {
    "alma": ("alma", "alma-framework==0.1.0", "statetrail.compat.alma"),
    "roz": ("roz_remembers", "roz-remembers==0.2.0", "statetrail.compat.roz_remembers"),
    "im": (
        "shoobx.immutable",
        "shoobx.immutable==1.2.0",
        "statetrail.compat.shoobx_immutable",
    ),
}

PARAMS = [
    pytest.param("original", id="original"),
    pytest.param("statetrail", id="statetrail"),
]


def load(fixture: str, side: str) -> ModuleType:
    """The module under test: the original package, or statetrail's compat module.

    A missing original skips the test, or fails it when
    ``STATETRAIL_REQUIRE_SERVICES=1``.
    """
    original, dist, compat = SIDES[fixture]
    if side == "statetrail":
        return importlib.import_module(compat)
    try:
        return importlib.import_module(original)
    except ImportError as exc:
        reason = (
            f"the original package {dist} cannot be imported ({exc}); "
            "it is a test dependency: pip install -e '.[dev]'"
        )
        if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def is_original(module: ModuleType) -> bool:
    """Whether ``module`` is the original package (not statetrail's compat)."""
    return not module.__name__.startswith("statetrail.")


def twenty_keys() -> dict[str, int]:
    """A dict of 20 keys whose insertion order is not their sorted or hash order."""
    return {f"key{(i * 7) % 20:02d}": i for i in range(20)}
