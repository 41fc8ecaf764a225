"""The acceptance suite: the three seed documents, run against both sides.

Each test takes the module under test as a fixture parametrized over the original
package (``original``) and statetrail's compat module (``statetrail``), and makes
the same assertions on both. Where a seed package's own code has a documented
defect that statetrail drops (history lost after a rollback, aliasing, a
non-atomic save, races), a test asserts only the documented result, and the
stronger statetrail-only assertion is a separate test taking the compat module
alone, named ``test_statetrail_only_...``.

The originals are test dependencies (the ``dev`` extra). When one cannot be
imported, its side of a test skips, saying why, on a user's machine, and fails when
``STATETRAIL_REQUIRE_SERVICES=1`` (CI sets it), so a missing original never
passes silently.
"""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from tests.compat.acceptance.sides import PARAMS, load


@pytest.fixture(params=PARAMS)
def alma(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``import alma``: alma-framework 0.1.0, or statetrail.compat.alma.

    Each test starts with an empty default registry, on both sides.
    """
    module = load("alma", request.param)
    home = sys.modules[module.watch.__module__]
    monkeypatch.setattr(home, "_default_registry", module.AlmaRegistry())
    return module


@pytest.fixture(params=PARAMS)
def roz(request: pytest.FixtureRequest) -> ModuleType:
    """``import roz_remembers``: roz-remembers 0.2.0, or its statetrail compat."""
    return load("roz", request.param)


@pytest.fixture(params=PARAMS)
def im(request: pytest.FixtureRequest) -> ModuleType:
    """``import shoobx.immutable as im``: shoobx.immutable 1.2.0, or its compat."""
    return load("im", request.param)


@pytest.fixture
def st_alma() -> ModuleType:
    """statetrail.compat.alma alone, for the statetrail-only tests."""
    return load("alma", "statetrail")


@pytest.fixture
def st_roz() -> ModuleType:
    """statetrail.compat.roz_remembers alone, for the statetrail-only tests."""
    return load("roz", "statetrail")


@pytest.fixture
def st_im() -> ModuleType:
    """statetrail.compat.shoobx_immutable alone, for the statetrail-only tests."""
    return load("im", "statetrail")
