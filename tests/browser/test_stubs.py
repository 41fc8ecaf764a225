"""A value deeper than the page asks for at once: its deep containers arrive as
stubs (``?depth=3``), and opening one fetches its entries (``?path=``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import statetrail
from tests.browser import served

pytest.importorskip("starlette", reason="the page tests need statetrail[web]")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``statetrail serve`` over a state five levels deep."""
    path = tmp_path_factory.mktemp("stubs") / "deep.db"
    with statetrail.open(path) as repo:
        store = repo.store(
            "deep", {"a": {"b": {"c": {"d": 1, "e": {"f": [7, 8]}}}}, "top": 0}
        )
        store.set("a.b.c.d", 2)
    with served.serve(path) as address:
        yield address


def test_opening_a_stub_shows_its_children(page: Any, url: str) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(url)
    page.wait_for_selector(".st-state h2:has-text('State at #')")
    stub = page.locator(".st-tree summary[data-path='/a/b/c']")
    stub.wait_for()
    assert stub.locator(".st-kind").inner_text() == "(2)"
    # Not drawn yet: the server sent /a/b/c as a stub.
    assert page.locator(".st-tree [data-path='/a/b/c/d']").count() == 0
    assert any("depth=3" in u for u in asked)
    page.wait_for_load_state("networkidle")  # the first screen's answers all in
    stub.click()
    # Revision 1's d, drawn open (it stays open on a redraw of the same tree).
    page.wait_for_selector(".st-tree button[data-path='/a/b/c/d'] .st-val:text-is('2')")
    assert any("path=%2Fa%2Fb%2Fc" in u for u in asked)
    # Its own deep container is drawn as it came: fully, or as a stub to open.
    deeper = page.locator(".st-tree summary[data-path='/a/b/c/e']")
    deeper.wait_for()
    assert page.locator(".st-tree .st-error").count() == 0
