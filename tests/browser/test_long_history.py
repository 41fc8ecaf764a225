"""A long history in the page: paged, one value per step, never all of it.

The page must stay usable on a 200,000-revision timeline (issue 13); here, at
``STATETRAIL_SCALE`` times 1,000 revisions, it is checked by what it asks the
server for, never by time: the first screen asks for one page of the list and
one value, a slider drag asks for at most one value per step and shows the
last, and older revisions come a page at a time (``before=``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import statetrail
from tests.browser import served
from tests.conftest import scaled

pytest.importorskip("starlette", reason="the page tests need statetrail[web]")

PAGE = 100  # the page's list page (timeline.js)


@pytest.fixture(scope="module")
def long_history(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, int, Path]]:
    """``statetrail serve`` over a timeline of 1,000 (scaled) revisions."""
    path = tmp_path_factory.mktemp("long") / "long.db"
    count = scaled(1000)

    def build() -> None:
        with statetrail.open(path, durability="batched") as repo:
            store = repo.store("counter", {"n": 0, "entries": {}})
            for i in range(1, count):
                store.set(f"entries.e{i % 50}", i, author=f"w{i % 3}")

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()
    with served.serve(path) as url:
        yield url, count, path


def test_the_page_asks_for_pages_and_single_values(
    page: Any, long_history: tuple[str, int, Path]
) -> None:
    url, count, _ = long_history
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url[len(url) :]))
    page.goto(url)
    page.wait_for_selector(f".st-state h2:text('State at #{count - 1}')")
    lists = [a for a in asked if "/revisions?" in a]
    values = [a for a in asked if re.search(r"/revisions/\d+", a)]
    assert lists == [f"api/timelines/counter/revisions?limit={PAGE}"]
    assert values == [f"api/timelines/counter/revisions/{count - 1}"]
    assert page.locator(".st-revisions tbody tr").count() == PAGE
    # A drag over 60 revisions: at most one value per step, the last one shown.
    asked.clear()
    slider = page.locator(".st-slider")
    for n in range(count - 2, count - 62, -1):
        slider.fill(str(n))
    last = count - 61
    page.wait_for_selector(f".st-state h2:text('State at #{last}')")
    values = [a for a in asked if re.search(r"/revisions/\d+", a)]
    assert 1 <= len(values) <= 60
    assert values[-1].endswith(f"/revisions/{last}")
    assert page.locator(".st-leaf[data-path='/n'] .st-val").count() == 1
    # Older revisions: the next page, before the oldest shown.
    asked.clear()
    page.locator(".st-older").click()
    page.wait_for_function(
        "n => document.querySelectorAll('.st-revisions tbody tr').length === n",
        arg=2 * PAGE,
    )
    oldest = count - 1 - PAGE + 1
    assert [a for a in asked if "/revisions?" in a] == [
        f"api/timelines/counter/revisions?limit={PAGE}&before={oldest}"
    ]


def test_a_step_updates_the_state_in_place(
    page: Any, long_history: tuple[str, int, Path]
) -> None:
    """A slider step redraws only what it changed: the tree and the rows that
    did not change are the same elements, every leaf shows the stored value,
    and the highlight moves to the leaf the step changed."""
    url, count, path = long_history
    page.goto(url)
    page.wait_for_selector(f".st-state h2:text('State at #{count - 1}')")
    slider = page.locator(".st-slider")

    def shown() -> dict[str, str]:
        return dict(
            page.locator(".st-state .st-leaf").evaluate_all(
                "bs => bs.map(b => [b.dataset.path, "
                "b.querySelector('.st-val').textContent])"
            )
        )

    def changed() -> list[str]:
        return list(
            page.locator(".st-state .st-leaf.st-changed").evaluate_all(
                "bs => bs.map(b => b.dataset.path)"
            )
        )

    with statetrail.open(path) as repo:
        for n in (count - 5, count - 6, count - 4, count - 40):
            # Mark the tree and a row the step leaves alone.
            page.evaluate(
                "() => { const t = document.querySelector('.st-state .st-tree');"
                " t.dataset.mark = 'kept';"
                " document.querySelector(\".st-leaf[data-path='/n']\")"
                ".closest('li').dataset.mark = 'kept'; }"
            )
            slider.fill(str(n))
            page.wait_for_selector(f".st-state h2:text('State at #{n}')")
            revision = repo.timeline("counter", create=False).revision(n)
            value = revision.value
            want = {"/n": str(value["n"])}
            want |= {f"/entries/{k}": str(v) for k, v in value["entries"].items()}
            assert shown() == want, n
            assert page.locator(".st-state .st-tree[data-mark='kept']").count() == 1
            assert page.locator("li[data-mark='kept'] .st-leaf").count() == 1
            key = f"e{n % 50}"
            assert changed() == [f"/entries/{key}"], n
