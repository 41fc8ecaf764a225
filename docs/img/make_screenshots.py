"""Take the README's screenshots: the served page and the notebook widget.

Run from the repository's root (needs statetrail[web,notebook], Playwright and
Debian's chromium, as the browser tests do):

    python docs/img/make_screenshots.py

It records the demo's history into a temporary SQLite file, serves it with
``statetrail serve`` and photographs the page (docs/img/page.png) with a
revision, its diff and a blame shown; then renders ``statetrail.widget`` of a
Var as anywidget would (docs/img/widget.png).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser import harness, served  # noqa: E402

import statetrail  # noqa: E402

OUT = Path(__file__).resolve().parent


def page_shot(browser: object) -> None:
    """docs/img/page.png: the demo served, a revision, its diff and a blame."""
    with tempfile.TemporaryDirectory() as folder:
        history = served.demo_history(Path(folder) / "demo.db", cards=8)
        with served.serve(history) as url:
            page = browser.new_page(viewport=harness.VIEWPORT)  # type: ignore[attr-defined]
            page.goto(url)
            page.wait_for_selector(".st-state h2:has-text('State at #')")
            with statetrail.open(history) as repo:
                rejected = next(
                    r.number
                    for r in repo.timeline("job", create=False).revisions()
                    if r.author == "quality-bot"
                )
            page.locator(".st-slider").fill(str(rejected))
            page.wait_for_selector(f".st-state h2:text('State at #{rejected}')")
            page.locator(".st-leaf[data-path='/job/rejects/0']").click()
            page.wait_for_selector(".st-blamed")
            page.mouse.move(0, 0)
            page.screenshot(path=str(OUT / "page.png"))
            page.close()


def widget_shot(browser: object) -> None:
    """docs/img/widget.png: statetrail.widget of a Var, scrubbed back."""
    cart = statetrail.Var("cart", {"items": [], "total": 0})
    cart.set({"items": ["tea"], "total": 4}, author="ann", comment="add tea")
    cart.set({"items": ["tea", "jam"], "total": 9}, author="bob", comment="add jam")
    cart.set_in("total", 8, author="ann", comment="coupon")
    cart.set_in("items", ["tea", "jam", "bread"], author="cy", comment="bread")
    with harness.page_comms():
        view = statetrail.widget(cart)
    page = browser.new_page(viewport={"width": 1100, "height": 620})  # type: ignore[attr-defined]
    harness.render_widget(page, view)
    page.wait_for_selector(".st-state h2:text('State at #4')")
    page.locator(".st-slider").fill("2")
    page.wait_for_selector(".st-state h2:text('State at #2')")
    page.locator(".st-leaf[data-path='/total']").click()
    page.wait_for_selector(".st-blamed")
    page.mouse.move(0, 0)
    page.screenshot(path=str(OUT / "widget.png"))
    page.close()
    view.close()


def main() -> None:
    """Both screenshots, in one Chromium."""
    why = harness.missing()
    if why is not None:
        sys.exit(why)
    with harness.chromium() as browser:
        page_shot(browser)
        widget_shot(browser)
    print(f"wrote {OUT / 'page.png'} and {OUT / 'widget.png'}")


if __name__ == "__main__":
    main()
