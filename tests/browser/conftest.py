"""The browser tests' Chromium: one for all of them; skipped without it (failed in CI).

Package-scoped, not session-scoped: Playwright's sync API keeps an event loop
running in the test thread while it is open, and the rest of the suite calls
``asyncio.run``; the browser closes after the last test of this folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import harness


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium through Playwright, shared by the browser tests."""
    why = harness.missing()
    if why is not None:
        if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
            pytest.fail(f"the browser tests need Chromium and Playwright: {why}")
        pytest.skip(why)
    with harness.chromium() as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280x800 page; the test fails on any page error."""
    context = browser.new_context(viewport=harness.VIEWPORT)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not errors, f"errors in the page: {errors}"
