"""Issue 11: opening a long stored timeline and reading its head, as whole processes.

A SQLite timeline of 200,000 revisions (a 1,000-entry state, one leaf changed per
revision, keys drawn at random; ``--quick``: 20,000) is built once with batched
writes and kept under the temporary directory, keyed by the statetrail version,
the schema and its size, so later runs reuse it. Each figure runs in its own
process, as a user's program would:

- ``repo.store(NAME)`` and one read of its head: seconds beyond ``import
  statetrail`` (target ≤ 50 ms) and the resident memory it added (target ≤ 60
  MB), the median of five processes; the rows it read from storage are given
  too (a lazy opening reads the newest page, not the history);
- ``value_at`` of a middle revision on the opened timeline, and ``log(limit=20,
  reverse=True)``, in the same way;
- the first write after opening (``store.set`` of one leaf): the head's value
  is loaded lazily from its checkpoint's nodes, so this write materialises it
  and hashes it for the value digest (each process adds one revision to the
  kept history).

``STATETRAIL_BENCH_OPEN_MILLION=1`` adds the same figures at 1,000,000
revisions (the build takes several minutes on this machine).

    python benchmarks/bench_open.py [--quick]
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
from typing import Any

from _harness import Figure
from bench_cli import NAME
from bench_cli import history as cli_history

ISSUE = 11
_RUNS = 5


def history(revisions: int) -> pathlib.Path:
    """bench_cli's history, in a folder of its own: each run adds a revision."""
    return cli_history(revisions, cache="statetrail-bench-open")


#: The child: import statetrail, then time ``WORK`` and the memory it adds.
_CHILD = """
import json, sys, time
def rss():
    with open('/proc/self/status') as f:
        return int([l.split()[1] for l in f if l.startswith('VmRSS')][0])
import statetrail
before = rss()
started, cpu = time.perf_counter(), time.process_time()
repo = statetrail.open(sys.argv[1])
store = repo.store(sys.argv[2])
timeline = store.timeline
head = timeline.head.value["k5"]["n"]
opened, opened_cpu = time.perf_counter() - started, time.process_time() - cpu
added = rss() - before
rows = timeline._records.rows_read
started = time.perf_counter()
middle = timeline.value_at(int(sys.argv[3]))["k5"]["n"]
value_at = time.perf_counter() - started
started = time.perf_counter()
log = timeline.log(limit=20, reverse=True)
log_s = time.perf_counter() - started
rows_after = timeline._records.rows_read
started, cpu = time.perf_counter(), time.process_time()
store.set("k7.n", -1)  # materialises the head (lazy) and hashes it for the row
write_s, write_cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"open_s": opened, "open_cpu": opened_cpu,
                  "added_mib": added / 1024, "rows_read": rows,
                  "value_at_s": value_at, "log_s": log_s,
                  "rows_read_after": rows_after, "write_s": write_s,
                  "write_cpu": write_cpu}))
"""


def _child(path: pathlib.Path, middle: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's program runs
    src = str(pathlib.Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), NAME, str(middle)],
        check=True,
        capture_output=True,
        env=env,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _figures(revisions: int) -> list[Figure]:
    path = history(revisions)
    middle = revisions // 2
    _child(path, middle)  # compiled modules cached, the file in the page cache
    runs = [_child(path, middle) for _ in range(_RUNS)]
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    added = max(r["added_mib"] for r in runs)
    size = f"{revisions:,} revisions"
    return [
        Figure(
            ISSUE,
            f"repo.store(name) and its head, {size}, beyond import (whole process)",
            median["open_s"],
            "<= 50 ms",
            median["open_s"] <= 0.050,
            extra={"rows_read": median["rows_read"], "cpu_s": median["open_cpu"]},
        ),
        Figure(
            ISSUE,
            f"memory added by opening, {size} (max of {_RUNS} processes)",
            added,
            "<= 60 MB",
            added <= 60,
            unit="MiB",
        ),
        Figure(
            ISSUE,
            f"timeline.value_at({middle:,}) after opening, {size}",
            median["value_at_s"],
            "-",
            True,
        ),
        Figure(
            ISSUE,
            f"timeline.log(limit=20, reverse=True) after opening, {size}",
            median["log_s"],
            "-",
            True,
            extra={"rows_read_in_all": median["rows_read_after"]},
        ),
        Figure(
            ISSUE,
            f"the first write after opening (materialises the head), {size}",
            median["write_s"],
            "-",
            True,
            extra={"cpu_s": median["write_cpu"]},
        ),
    ]


def run(quick: bool) -> list[Figure]:
    """The figures of the module docstring."""
    figures = _figures(20_000 if quick else 200_000)
    if not quick and os.environ.get("STATETRAIL_BENCH_OPEN_MILLION"):
        figures += _figures(1_000_000)
    return figures


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv):
        print(figure)
