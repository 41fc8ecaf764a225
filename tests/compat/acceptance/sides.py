"""What the acceptance tests share: the two sides, and loading them."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

from statetrail.frozen import freeze

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


#: Issue 10, defect 1 (being fixed on its own branch): statetrail's frozen dict keeps
#: insertion order for up to 8 keys only.
ORDER_DEFECT = (
    "fidelity defect (issue 10, defect 1): statetrail.frozen.FrozenDict keeps "
    "insertion order for up to 8 keys only, so a larger dict handed out iterates "
    "in hash order where the seed package keeps the order it was given"
)


def twenty_keys() -> dict[str, int]:
    """A dict of 20 keys whose insertion order is not their sorted or hash order."""
    return {f"key{(i * 7) % 20:02d}": i for i in range(20)}


#: Whether this build keeps a large dict's order (issue 10, defect 1 fixed).
ORDER_KEPT = list(freeze(twenty_keys())) == list(twenty_keys())


def xfail_on_statetrail(
    request: pytest.FixtureRequest,
    module: ModuleType,
    defect: str,
    *,
    present: bool = True,
) -> None:
    """Mark this test's statetrail side a strict xfail for ``defect``.

    ``present`` is whether this build still has the defect: once it is fixed, the
    test runs as any other, on both sides.
    """
    if present and not is_original(module):
        request.applymarker(pytest.mark.xfail(strict=True, reason=defect))
