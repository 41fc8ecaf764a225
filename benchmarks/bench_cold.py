"""Issue 11: a cold ``value_at`` and one leaf, at any state size, as whole processes.

A SQLite history per size (a state of ``size`` entries ``{"k<i>": {"n": i,
"name": ...}}``; 13 scalar leaves for the smallest; then 96 writes of random,
non-repeating keys, so revision 64 has a checkpoint and 96 is that checkpoint
plus 32 patches) is built once and kept under the temporary directory. Each
figure is measured in a fresh process (nothing cached, the collector on):

- ``repo.value_at(NAME, 96)`` and one leaf of a random key, right after
  ``statetrail.open(path)`` (target ≤ 5 ms at any size), wall and CPU
  (``time.process_time``), and the checkpoint nodes read; the opening itself
  (importing the storage modules, connecting) is given beside it;
- then ``thaw`` of that whole value, as a separate figure (it reads every node:
  the cost the lazy value spares a read of one leaf).

Sizes: 13 leaves, 10,000 and 100,000 entries; 1,000,000 too unless ``--quick``
(its build takes a few minutes). The median of five processes each.

    python benchmarks/bench_cold.py [--quick]
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import statetrail
from _harness import Figure
from statetrail._version import __version__

ISSUE = 11
NAME = "cold"
WRITES = 96
_RUNS = 5


def _state(size: int) -> dict[str, Any]:
    if size == 13:
        return {f"k{i}": i for i in range(13)}
    return {f"k{i}": {"n": i, "name": f"entry {i}"} for i in range(size)}


def build(path: pathlib.Path, size: int) -> None:
    """The history: the state, then ``WRITES`` writes of distinct random keys."""
    partial = path.with_suffix(".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    draw = random.Random(size)
    keys = draw.sample(range(size), min(size, WRITES))
    with statetrail.open(partial, durability="batched") as repo:
        store = repo.store(NAME, _state(size))
        for n in range(WRITES):
            key = f"k{keys[n % len(keys)]}"
            store.set(key if size == 13 else f"{key}.n", -n)
    for suffix in ("-wal", "-shm", "-lock"):
        extra = pathlib.Path(str(partial) + suffix)
        if extra.exists():
            extra.unlink()
    partial.rename(path)


def history(size: int) -> pathlib.Path:
    """The cached history of a ``size``-entry state, built if missing."""
    folder = pathlib.Path(tempfile.gettempdir()) / "statetrail-bench-cold"
    folder.mkdir(exist_ok=True)
    from statetrail.storage._sqlite_schema import MIGRATIONS

    path = folder / f"{__version__}-schema{len(MIGRATIONS)}-{size}.db"
    if not path.exists():
        started = time.perf_counter()
        build(path, size)
        print(
            f"  built {path} ({size:,} entries) in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return path


#: The child: import statetrail, then time a cold read of one leaf, then thaw.
_CHILD = """
import json, random, sys, time
import statetrail
from statetrail.frozen import thaw
size = int(sys.argv[3])
key = f"k{random.randrange(size)}"
wall, cpu = time.perf_counter(), time.process_time()
repo = statetrail.open(sys.argv[1])
open_s, open_cpu = time.perf_counter() - wall, time.process_time() - cpu
wall, cpu = time.perf_counter(), time.process_time()
value = repo.value_at(sys.argv[2], 96)
leaf = value[key] if size == 13 else value[key]["n"]
read_s, read_cpu = time.perf_counter() - wall, time.process_time() - cpu
nodes = repo._node_cache(sys.argv[2]).fetched
wall, cpu = time.perf_counter(), time.process_time()
whole = thaw(value)
thaw_s, thaw_cpu = time.perf_counter() - wall, time.process_time() - cpu
assert len(whole) == size
print(json.dumps({"open_s": open_s, "open_cpu": open_cpu, "read_s": read_s,
                  "read_cpu": read_cpu, "nodes": nodes, "thaw_s": thaw_s,
                  "thaw_cpu": thaw_cpu}))
"""


def _child(path: pathlib.Path, size: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a user's program runs
    src = str(pathlib.Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), NAME, str(size)],
        check=True,
        capture_output=True,
        env=env,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _figures(size: int) -> list[Figure]:
    path = history(size)
    _child(path, size)  # compiled modules cached, the file in the page cache
    runs = [_child(path, size) for _ in range(_RUNS)]
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    what = "13 leaves" if size == 13 else f"{size:,} entries"
    return [
        Figure(
            ISSUE,
            f"cold value_at + one leaf, {what} (a fresh process, repository open)",
            median["read_s"],
            "<= 5 ms",
            median["read_s"] <= 0.005,
            extra={
                "cpu_s": median["read_cpu"],
                "nodes_read": median["nodes"],
                "open_s": median["open_s"],
                "open_cpu_s": median["open_cpu"],
            },
        ),
        Figure(
            ISSUE,
            f"thaw of that whole value, {what}",
            median["thaw_s"],
            "-",
            True,
            extra={"cpu_s": median["thaw_cpu"]},
        ),
    ]


def run(quick: bool) -> list[Figure]:
    """The figures of the module docstring."""
    sizes = [13, 10_000, 100_000] + ([] if quick else [1_000_000])
    figures: list[Figure] = []
    for size in sizes:
        figures += _figures(size)
    return figures


if __name__ == "__main__":
    print(f"load: {os.getloadavg()}")
    for figure in run("--quick" in sys.argv):
        print(figure)
