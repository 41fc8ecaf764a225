"""Fixtures for every test and doctest: clean global state before each one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import statetrail
from statetrail.compat import alma


@pytest.fixture(autouse=True)
def _clean_globals() -> Iterator[None]:
    """Every test starts with empty default registries and origin capture on."""
    statetrail.reset_registry()
    alma._reset()
    statetrail.set_origin_capture(True)
    yield
    statetrail.reset_registry()
    alma._reset()
    statetrail.set_origin_capture(True)
