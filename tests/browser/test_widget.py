"""statetrail.widget in Chromium: the page's component fed by the widget model.

The module is rendered as anywidget renders it (a blob-URL import, then
``render({model, el})``) against a model object of anywidget's interface whose
messages reach the real Python widget (tests/browser/harness.py).
"""

from __future__ import annotations

from typing import Any

import pytest

import statetrail
from tests.browser import harness


@pytest.fixture
def settings() -> statetrail.Var[Any]:
    """A Var with four revisions by two authors."""
    var = statetrail.Var("settings", {"theme": "light", "size": 10, "tags": ["a"]})
    var.set(
        {"theme": "dark", "size": 10, "tags": ["a"]}, author="ann", comment="dark mode"
    )
    var.set(
        {"theme": "dark", "size": 12, "tags": ["a"]}, author="bob", comment="bigger"
    )
    var.set(
        {"theme": "dark", "size": 12, "tags": ["a", "b"]}, author="ann", comment="tag b"
    )
    return var


def shown(page: Any, widget: Any) -> None:
    harness.render_widget(page, widget)
    page.wait_for_selector(".st-revisions tbody tr >> nth=3")


def test_the_widget_renders_the_history_and_scrubs(page: Any, settings: Any) -> None:
    with harness.page_comms():
        widget = statetrail.widget(settings)
    shown(page, widget)
    rows = page.locator(".st-revisions tbody tr")
    assert rows.count() == 4
    assert rows.nth(0).locator(".st-author").inner_text() == "ann"
    assert rows.nth(0).locator(".st-comment").inner_text() == "tag b"
    assert rows.nth(1).locator(".st-author").inner_text() == "bob"
    page.wait_for_selector(".st-state h2:text('State at #3')")
    # Back one step with the keyboard: the state shows revision 2's value.
    page.locator(".st-slider").focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(".st-state h2:text('State at #2')")
    tags = page.locator(".st-leaf[data-path='/tags/1']")
    assert tags.count() == 0  # "b" came at revision 3
    assert page.locator(".st-leaf[data-path='/size'] .st-val").inner_text() == "12"
    assert page.locator(".st-diff .st-op.st-replace .st-path").inner_text() == "/size"
    # The slider to revision 1.
    page.locator(".st-slider").fill("1")
    page.wait_for_selector(".st-state h2:text('State at #1')")
    assert page.locator(".st-leaf[data-path='/size'] .st-val").inner_text() == "10"
    assert page.locator(".st-leaf[data-path='/theme'] .st-val").inner_text() == '"dark"'
    widget.close()


def test_the_widget_follows_new_revisions_and_blames(page: Any, settings: Any) -> None:
    with harness.page_comms():
        widget = statetrail.widget(settings)
    shown(page, widget)
    settings.set(
        {"theme": "solar", "size": 12, "tags": ["a", "b"]}, author="cy", comment="live"
    )
    page.wait_for_selector(".st-revisions tbody tr[data-number='4']")
    assert (
        page.locator(".st-revisions tbody tr").first.locator(".st-author").inner_text()
        == "cy"
    )
    # It was showing the newest revision, so it follows to the new one.
    page.wait_for_selector(".st-state h2:text('State at #4')")
    page.locator(".st-leaf[data-path='/size']").click()
    blamed = page.locator(".st-blamed")
    blamed.wait_for()
    assert blamed.locator(".st-blame-author").inner_text() == "bob"
    assert "bigger" in blamed.inner_text()
    widget.close()


def test_checkout_moves_the_cursor_with_the_slider(page: Any, settings: Any) -> None:
    with harness.page_comms():
        widget = statetrail.widget(settings.timeline)
    widget.checkout = True
    shown(page, widget)
    page.locator(".st-revisions tbody tr[data-number='1'] .st-pick").click()
    page.wait_for_selector(".st-state h2:text('State at #1')")
    page.wait_for_function("() => true")  # let the select message through
    page.wait_for_timeout(100)
    assert settings.timeline.head.number == 1
    assert settings.value["size"] == 10
    widget.close()
