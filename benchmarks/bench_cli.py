"""Issue 11: the ``statetrail`` commands as whole processes on a long history.

A 200,000-revision SQLite timeline (a 1,000-entry state, one leaf changed per
revision, keys drawn at random) is built once and kept under the temporary
directory, keyed by the statetrail version and its size, so later runs reuse it
(``--quick``: 20,000 revisions). Each command then runs as its own process, as
a user runs it, output to a file:

- ``log --limit 20``, ``show NAME@N``, ``diff A B``, ``blame PATH`` and
  ``timelines``: seconds per process (target ≤ 0.5 s), the median of three;
- full ``log``, ``export`` (changes) and ``verify``: revisions per second
  (target ≥ 50,000) over the whole process;
- ``import statetrail.cli.inspect`` alone, the floor under every figure.

Each figure also gives the process's CPU time (user + system, from ``wait4``),
which the other processes on a shared machine do not inflate, and its peak
resident memory (``ru_maxrss``): constant memory shows as the same peak at
20,000 and 200,000 revisions. The load average at the start and the end of the
run is printed with the figures.

The children run as an installed package runs, from compiled bytecode: a
cache of ``.pyc`` files under the temporary directory, made by a first run
that is not counted. (A shell with ``PYTHONDONTWRITEBYTECODE=1``, as the
shared machine's, otherwise compiles some 170 modules from source in every
process: about 0.35 s of CPU, the larger part of the figures of 2026-12-07.)

    python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

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
ENTRIES = 1_000
NAME = "big"
_RUNS = 3


def build(path: pathlib.Path, revisions: int) -> None:
    """The history: ``revisions`` writes of one random leaf of 1,000 entries."""
    partial = path.with_suffix(".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    with statetrail.open(partial, durability="batched") as repo:
        store = repo.store(
            NAME, {f"k{i}": {"n": i, "name": f"entry {i}"} for i in range(ENTRIES)}
        )
        draw = random.Random(11)
        keys = list(range(ENTRIES))
        for n in range(revisions):
            if n % ENTRIES == 0:
                draw.shuffle(keys)
            store.set(f"k{keys[n % ENTRIES]}.n", n)
    for suffix in ("-wal", "-shm", "-lock"):
        extra = pathlib.Path(str(partial) + suffix)
        if extra.exists():
            extra.unlink()
    partial.rename(path)


def history(revisions: int, cache: str = "statetrail-bench-cli") -> pathlib.Path:
    """The cached history of ``revisions`` revisions, built if missing.

    ``cache``: the folder under the temporary directory (a benchmark that
    writes to its history keeps its own).
    """
    folder = pathlib.Path(tempfile.gettempdir()) / cache
    folder.mkdir(exist_ok=True)
    # Keyed by the schema too: a file of an older schema is refused read-only.
    from statetrail.storage._sqlite_schema import MIGRATIONS

    path = folder / f"{__version__}-schema{len(MIGRATIONS)}-{revisions}.db"
    if not path.exists():
        started = time.perf_counter()
        build(path, revisions)
        print(
            f"  built {path} ({revisions:,} revisions) in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return path


#: Run before the command in the child: at exit, its own peak resident memory
#: (VmHWM) goes to the file named by $STATETRAIL_PEAK. The parent cannot ask
#: wait4(): Linux counts the pages the child had before exec, the parent's.
_PRELUDE = (
    "import atexit, os, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kb = [l.split()[1] for l in f if l.startswith('VmHWM')][0]\n"
    "    with open(os.environ['STATETRAIL_PEAK'], 'w') as f:\n"
    "        f.write(kb)\n"
    "atexit.register(_peak)\n"
)


def _bytecode() -> str:
    """The folder of the children's compiled bytecode (``PYTHONPYCACHEPREFIX``)."""
    return str(pathlib.Path(tempfile.gettempdir()) / "statetrail-bench-cli" / "pyc")


def _process(code: str, args: list[str]) -> tuple[float, float, int]:
    """Run ``code`` with ``args`` in a new interpreter, output to a file: wall
    seconds, CPU seconds, peak resident KiB."""
    env = dict(os.environ)
    src = str(pathlib.Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = _bytecode()
    argv = [sys.executable, "-c", _PRELUDE + code, *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as scratch:
        peak = pathlib.Path(scratch) / "peak"
        env["STATETRAIL_PEAK"] = str(peak)
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        assert child.stderr is not None
        errors = child.stderr.read()
        child.stderr.close()
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {errors.decode()}")
        kib = int(peak.read_text())
    return wall, usage.ru_utime + usage.ru_stime, kib


#: The command, as ``python -m statetrail`` runs it.
_MAIN = "from statetrail.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _command(*args: str) -> tuple[str, list[str]]:
    return _MAIN, list(args)


def _timed(argv: tuple[str, list[str]], runs: int = _RUNS) -> dict[str, Any]:
    results = [_process(*argv) for _ in range(runs)]
    return {
        "wall_s": statistics.median(r[0] for r in results),
        "cpu_s": statistics.median(r[1] for r in results),
        "peak_rss_mib": max(r[2] for r in results) / 1024,
    }


def run(quick: bool) -> list[Figure]:
    """The figures of the module docstring."""
    revisions = 20_000 if quick else 200_000
    path = str(history(revisions))
    middle, later = revisions // 2, revisions * 3 // 4
    figures = []
    # Compile the bytecode the children run from (not counted).
    _process(_MAIN, ["show", path, f"{NAME}@{middle}"])
    _process(_MAIN, ["timelines", path])
    _process("import statetrail.cli.export, statetrail.storage._verify\n", [])
    floor = _timed(("import statetrail.cli.inspect\n", []))
    figures.append(
        Figure(
            ISSUE,
            "import statetrail.cli.inspect (the floor of every command)",
            floor["wall_s"],
            "-",
            True,
            extra=floor,
        )
    )
    for label, argv in (
        ("log --limit 20", _command("log", path, NAME, "--limit", "20")),
        (f"show {NAME}@{middle}", _command("show", path, f"{NAME}@{middle}")),
        (
            f"diff {middle} {later}",
            _command("diff", path, NAME, str(middle), str(later)),
        ),
        ("blame k5.n", _command("blame", path, NAME, "k5.n")),
        ("timelines", _command("timelines", path)),
    ):
        measured = _timed(argv)
        figures.append(
            Figure(
                ISSUE,
                f"statetrail {label}, {revisions:,} revisions, whole process",
                measured["wall_s"],
                "<= 0.5 s",
                measured["wall_s"] <= 0.5,
                extra=measured,
            )
        )
    for label, argv in (
        ("log (all)", _command("log", path, NAME)),
        ("export (changes)", _command("export", path, NAME)),
        ("verify", _command("verify", path)),
    ):
        measured = _timed(argv, runs=1)
        rate = (revisions + 1) / measured["wall_s"]
        measured["cpu_rev_per_s"] = (revisions + 1) / measured["cpu_s"]
        figures.append(
            Figure(
                ISSUE,
                f"statetrail {label} to a file, {revisions:,} revisions",
                rate,
                ">= 50,000 revisions/s, constant memory",
                rate >= 50_000,
                unit="rev/s",
                extra=measured,
            )
        )
    return figures


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    for figure in run(quick="--quick" in sys.argv):
        mark = "ok  " if figure.ok else "MISS"
        extra = ", ".join(
            f"{k} {v:,.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in figure.extra.items()
        )
        print(f"{mark} {figure.workload}: {figure.ours:,.3f} {figure.unit} ({extra})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
