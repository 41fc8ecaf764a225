"""Issue 13: the served page in Chromium on a 200,000-revision timeline.

The history is bench_cli's (a 1,000-entry state, one random leaf changed per
revision, built once and cached under the temporary directory; ``--quick``:
20,000 revisions). ``statetrail serve`` runs it as a user runs it, and Debian's
chromium (through Playwright) opens the page at 1280x800:

- the first screen: from navigation until the list shows its first page and
  the state tree shows the newest revision, in a fresh browser context (no
  cache), median of five (target <= 1 s);
- a slider step: the slider set to a revision drawn at random over the whole
  history (none twice), and 40 steps back one by one (the arrow key), until the
  state shows that revision's value, median and 90th percentile of 40 steps
  (target <= 100 ms each), with the CPU per step of the browser, the server
  and Playwright's driver together (user + system time, which a loaded machine does
  not inflate).

Every request the page makes is counted: the figures also say how many list
pages and values it fetched (one page of 100, one value per step).

    python benchmarks/bench_page.py [--quick]
"""

from __future__ import annotations

import os
import pathlib
import random
import statistics
import sys
import time
from typing import Any

from _harness import Figure
from bench_cli import NAME, history

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import harness, served  # noqa: E402

ISSUE = 13
_OPENS = 5
_STEPS = 40


def _first_screen(browser: Any, url: str) -> tuple[float, int]:
    context = browser.new_context(viewport=harness.VIEWPORT)
    try:
        page = context.new_page()
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(".st-revisions tbody tr")
        page.wait_for_selector(".st-state h2:has-text('State at #')")
        page.wait_for_selector(".st-state .st-leaf")
        took = time.perf_counter() - started
        return took, sum("/revisions?" in a for a in asked)
    finally:
        context.close()


def _cpu_below(pid: int) -> float:
    """CPU seconds used by the processes descended from ``pid`` (the browser
    Playwright started, and the server ``served.serve`` started)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        children.setdefault(int(fields[1]), []).append((int(entry), ticks))
    total, stack = 0, [pid]
    while stack:
        for child, ticks in children.get(stack.pop(), []):
            total += ticks
            stack.append(child)
    return total / os.sysconf("SC_CLK_TCK")


def _steps(
    browser: Any, url: str, numbers: list[int]
) -> tuple[list[float], list[float], int, float]:
    """Seconds until the state shows each of ``numbers`` (set on the slider),
    the server's answer times, the values fetched, and the CPU per step of
    the browser and the server together."""
    context = browser.new_context(viewport=harness.VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(".st-state h2:has-text('State at #')")
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        slider = page.locator(".st-slider")
        times = []
        used = _cpu_below(os.getpid())
        for n in numbers:
            started = time.perf_counter()
            slider.fill(str(n))
            page.wait_for_selector(f".st-state h2:text-is('State at #{n}')")
            times.append(time.perf_counter() - started)
        used = (_cpu_below(os.getpid()) - used) / len(numbers)
        # How long the server took to answer each value: the page's own share
        # of a step is the rest.
        answers = page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter(e => /\\/revisions\\/\\d+$/.test(e.name))"
            ".map(e => e.duration / 1000)"
        )
        values = sum("/revisions/" in a for a in asked)
        return times, answers[-len(times) :], values, used
    finally:
        context.close()


def run(quick: bool) -> list[Figure]:
    """The figures of the module docstring."""
    why = harness.missing()
    if why is not None:
        print(f"  skipped: {why}")
        return []
    revisions = 20_000 if quick else 200_000
    path = history(revisions)
    figures = []
    with served.serve(path) as url, harness.chromium() as browser:
        _first_screen(browser, url)  # the server's first reads and Chromium warm up
        opens = [_first_screen(browser, url) for _ in range(_OPENS)]
        first = statistics.median(t for t, _ in opens)
        figures.append(
            Figure(
                ISSUE,
                f"the page's first screen, {revisions:,} revisions ({NAME})",
                first,
                "<= 1 s",
                first <= 1.0,
                extra={
                    "runs_s": [round(t, 3) for t, _ in opens],
                    "list_pages": opens[0][1],
                },
            )
        )
        draw = random.Random(13)
        start = draw.randrange(_STEPS, revisions - _STEPS)
        for label, numbers in (
            (
                "a slider step to a random revision",
                draw.sample(range(revisions), _STEPS),
            ),
            ("a slider step back", list(range(start, start - _STEPS, -1))),
        ):
            steps, answers, values, used = _steps(browser, url, numbers)
            median = statistics.median(steps)
            p90 = statistics.quantiles(steps, n=10)[-1]
            figures.append(
                Figure(
                    ISSUE,
                    f"{label} of {revisions:,}",
                    median,
                    "<= 100 ms",
                    p90 <= 0.1,
                    extra={
                        "p90_s": round(p90, 4),
                        "server_answer_median_s": round(statistics.median(answers), 4),
                        "browser_server_driver_cpu_per_step_s": round(used, 4),
                        "steps": len(steps),
                        "values_fetched": values,
                    },
                )
            )
    return figures


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        mark = "ok  " if figure.ok else "MISS"
        print(
            f"{mark} {figure.workload}: {figure.ours:,.3f} {figure.unit} {figure.extra}"
        )
