"""The served page in Chromium, over ``statetrail serve`` and a demo history.

Each check reads what the page shows and compares it with what the history
holds, read through statetrail itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import statetrail
from tests.browser import served

pytest.importorskip("starlette", reason="the page tests need statetrail[web]")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's history in a SQLite file."""
    return served.demo_history(tmp_path_factory.mktemp("page") / "demo.db")


@pytest.fixture(scope="module")
def url(history: Path) -> Iterator[str]:
    """``statetrail serve`` over it, for the module's tests."""
    with served.serve(history) as address:
        yield address


@pytest.fixture
def job(history: Path) -> Iterator[statetrail.Timeline[Any]]:
    """The served timeline, read from the file as it is now."""
    with statetrail.open(history) as repo:
        yield repo.timeline("job", create=False)


@pytest.fixture
def opened(page: Any, url: str) -> Any:
    """The page, loaded, with every request it makes checked to stay on the server."""
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(url) else outside.append(r.url)
    )
    page.goto(url)
    page.wait_for_selector(".st-revisions tbody tr")
    page.wait_for_selector(".st-state h2:has-text('State at #')")
    yield page
    assert not outside, f"requests to other origins: {outside}"


def test_the_page_is_strict_about_where_it_loads_from(opened: Any) -> None:
    policy = opened.locator("meta[http-equiv='Content-Security-Policy']")
    assert policy.get_attribute("content") == "default-src 'self'"
    assert opened.locator("h1").inner_text() == "statetrail"
    assert opened.locator("main").count() == 1
    assert opened.locator("nav[aria-label='Timelines']").count() == 1


def test_the_timelines_and_the_list_show_the_demo(opened: Any, job: Any) -> None:
    row = opened.locator(".st-timelines tbody tr").first
    assert row.locator("button").inner_text() == "job"
    assert row.locator("td").nth(0).inner_text() == str(len(job))
    assert "what-if" in row.locator("td").nth(1).inner_text()
    rows = opened.locator(".st-revisions tbody tr")
    authors = set(rows.locator(".st-author").all_inner_texts())
    comments = set(rows.locator(".st-comment").all_inner_texts())
    assert {"operator", "sorter-A", "sorter-B", "controller", "quality-bot"} <= authors
    assert {"start of shift", "card sorted into a bin", "bent card found"} <= comments
    newest = max(job.branches().values())
    first = rows.first
    assert first.get_attribute("data-number") == str(newest)
    revision = job.revision(newest)
    assert first.locator(".st-author").inner_text() == revision.author
    assert first.locator(".st-kindcell").inner_text() == str(revision.kind)
    origin = first.locator(".st-origin").inner_text()
    assert origin == f"demo.py:{revision.origin.line} {revision.origin.function}"
    # Two branches, two lanes in the graph.
    lanes = opened.locator(".st-graph circle").evaluate_all(
        "cs => new Set(cs.map(c => c.getAttribute('cx'))).size"
    )
    assert lanes == 2


def leaf(page: Any, pointer: str) -> Any:
    return page.locator(f".st-state .st-leaf[data-path='{pointer}'] .st-val")


def test_the_slider_and_the_keys_move_the_state(opened: Any, job: Any) -> None:
    sorted_at = {r.number: r.value["job"]["sorted"] for r in job.revisions()}
    slider = opened.locator(".st-slider")
    for n in (3, 9, 6):
        slider.fill(str(n))
        opened.wait_for_selector(f".st-state h2:text('State at #{n}')")
        assert leaf(opened, "/job/sorted").inner_text() == str(sorted_at[n])
        row = opened.locator(f".st-revisions tbody tr[data-number='{n}']")
        assert row.get_attribute("aria-current") == "true"
    slider.focus()
    opened.keyboard.press("ArrowRight")
    opened.wait_for_selector(".st-state h2:text('State at #7')")
    assert leaf(opened, "/job/sorted").inner_text() == str(sorted_at[7])


def colour(locator: Any) -> str:
    return str(locator.evaluate("e => getComputedStyle(e).backgroundColor"))


def test_a_diff_is_coloured(opened: Any, job: Any) -> None:
    rejected = next(r.number for r in job.revisions() if r.author == "quality-bot")
    opened.locator(".st-slider").fill(str(rejected))
    opened.wait_for_selector(f".st-state h2:text('State at #{rejected}')")
    opened.locator(".st-against").fill("0")
    opened.locator(".st-compare button").click()
    opened.wait_for_selector(f".st-diff h2:text('Diff of #{rejected} against #0')")
    expected = statetrail.to_json_patch(job.diff(0, rejected))
    ops = opened.locator(".st-diff .st-op")
    assert ops.count() == len(expected)
    kinds = {op["op"] for op in expected}
    assert {"add", "replace"} <= kinds
    add = colour(opened.locator(".st-op.st-add").first)
    replace = colour(opened.locator(".st-op.st-replace").first)
    assert add != replace
    assert "rgba(0, 0, 0, 0)" not in (add, replace)
    assert (
        opened.locator(".st-op.st-add .st-path").first.inner_text() == "/job/rejects/0"
    )
    # The rollback removes the reject: a removal, in its own colour.
    rollback = next(r.number for r in job.revisions() if r.kind == "rollback")
    opened.locator(".st-against").fill("")
    opened.locator(".st-compare button").click()
    opened.locator(".st-slider").fill(str(rollback))
    opened.wait_for_selector(".st-diff .st-op.st-remove")
    assert colour(opened.locator(".st-op.st-remove").first) not in (add, replace)


def test_blame_on_a_leaf_names_the_revision(opened: Any, job: Any) -> None:
    newest = max(job.branches().values())
    opened.locator(".st-slider").fill(str(newest))
    opened.wait_for_selector(f".st-state h2:text('State at #{newest}')")
    opened.locator(".st-leaf[data-path='/job/rejects/0']").click()
    blamed = opened.locator(".st-blamed")
    blamed.wait_for()
    expected = job.blame(("job", "rejects", 0))
    assert expected is not None
    assert blamed.locator(".st-pick").inner_text() == f"#{expected.number}"
    assert blamed.locator(".st-blame-author").inner_text() == "quality-bot"
    assert "bent card found" in blamed.inner_text()
    assert f":{expected.origin.line} in " in blamed.inner_text()


def test_filtering_by_author(opened: Any, job: Any) -> None:
    opened.locator(".st-filters input[name='author']").fill("sorter-A")
    opened.locator(".st-filters button[type='submit']").click()
    expected = [r.number for r in job.log(all_branches=True, author="sorter-A")]
    rows = opened.locator(".st-revisions tbody tr")
    opened.wait_for_function(
        "n => document.querySelectorAll('.st-revisions tbody tr').length === n",
        arg=len(expected),
    )
    assert set(rows.locator(".st-author").all_inner_texts()) == {"sorter-A"}
    numbers = [int(n) for n in rows.evaluate_all("rs => rs.map(r => r.dataset.number)")]
    assert numbers == sorted(expected, reverse=True)
    opened.locator(".st-filters button[type='reset']").click()
    opened.wait_for_function(
        "n => document.querySelectorAll('.st-revisions tbody tr').length === n",
        arg=len(job.revisions()),
    )


def test_a_revision_written_while_open_appears(opened: Any, history: Path) -> None:
    with statetrail.open(history) as repo:
        store = repo.store("job")
        store.set("machine.state", "PAUSED", author="night-shift", comment="coffee")
        number = store.head.number
    row = opened.locator(f".st-revisions tbody tr[data-number='{number}']")
    row.wait_for(timeout=5000)
    assert row.locator(".st-author").inner_text() == "night-shift"
    assert row.locator(".st-comment").inner_text() == "coffee"
    assert opened.locator(".st-slider").get_attribute("max") == str(number)


def test_filtering_by_path_label_and_time(opened: Any, job: Any) -> None:
    form = opened.locator(".st-filters")
    rows = opened.locator(".st-revisions tbody tr")

    def numbers() -> list[int]:
        return [
            int(n) for n in rows.evaluate_all("rs => rs.map(r => r.dataset.number)")
        ]

    def shows(expected: list[int]) -> None:
        opened.wait_for_function(
            "n => document.querySelectorAll('.st-revisions tbody tr').length === n",
            arg=len(expected),
        )
        assert numbers() == sorted(expected, reverse=True)

    form.locator("input[name='path']").fill("/job/rejects")
    form.locator("button[type='submit']").click()
    # The revisions that changed the path, and the first, which made it.
    touched = job.log(all_branches=True, path=("job", "rejects"))
    shows([0, *(r.number for r in touched)])
    form.locator("input[name='path']").fill("")
    form.locator("input[name='label']").fill("initial")
    form.locator("button[type='submit']").click()
    shows([0])
    form.locator("input[name='label']").fill("")
    form.locator("input[name='since']").fill("2099-01-01T00:00:00")
    form.locator("button[type='submit']").click()
    shows([])
    assert "0 matching revisions" in opened.locator(".st-status").inner_text()


def test_a_server_with_a_token_serves_the_page_opened_with_it(
    browser: Any, history: Path
) -> None:
    with served.serve(history, "--token", "s3cret") as url:
        assert url.endswith("/?token=s3cret")
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = context.new_page()
            refused = page.goto(url.split("?")[0])
            assert refused is not None
            assert refused.status == 401
            page.goto(url)
            page.wait_for_selector(".st-state h2:has-text('State at #')")
            assert page.locator(".st-revisions tbody tr").count() > 10
        finally:
            context.close()
