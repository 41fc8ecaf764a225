"""The commands as whole processes on a long history read what they show.

Issue 11: ``log --limit 20``, ``show NAME@N``, ``diff``, ``blame`` read a few
pages of rows whatever the length of the history; full ``log``, ``export`` and
``verify`` stream it, with the same peak memory at 20,000 revisions (``make
test``) as at 200,000 (``STATETRAIL_SCALE=10``). Each command runs in its own
interpreter; the rows it reads are counted there by wrapping the SQLite
backend's row reads (the real reads run, and their results are counted), and
its peak memory is its own high-water mark (``VmHWM``). No wall-clock time is
asserted: speed is measured in ``benchmarks/bench_cli.py``.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

import statetrail
from tests.conftest import scaled

REVISIONS = scaled(20_000)
ENTRIES = 200

#: Run in the child: count the rows the SQLite backend hands out, run the
#: command with its output to devnull, report rows and peak memory on stderr.
_CHILD = """
import json, os, sys
from statetrail.storage.sqlite import SQLiteBackend

counted = {"rows": 0}

def _counting(real, many):
    def wrapper(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        counted["rows"] += len(out) if many else out is not None
        return out
    return wrapper

SQLiteBackend.read = _counting(SQLiteBackend.read, True)
SQLiteBackend.rows = _counting(SQLiteBackend.rows, True)
SQLiteBackend.row = _counting(SQLiteBackend.row, False)

from statetrail.cli import main

with open(os.devnull, "w") as out:
    code = main(sys.argv[1:], out=out)
with open("/proc/self/status") as f:
    peak = int([line.split()[1] for line in f if line.startswith("VmHWM")][0])
print(json.dumps({"code": code, "rows": counted["rows"], "peak_kib": peak}),
      file=sys.stderr)
"""


def _grow(path: pathlib.Path, revisions: int) -> pathlib.Path:
    """A 200-entry state, one random-looking leaf changed per revision."""
    with statetrail.open(path, durability="batched") as repo:
        store = repo.store("big", {f"k{i}": {"n": i} for i in range(ENTRIES)})
        for n in range(1, revisions):
            store.set(f"k{n * 7919 % ENTRIES}.n", n)
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """:data:`REVISIONS` revisions."""
    return _grow(tmp_path_factory.mktemp("scale") / "long.db", REVISIONS)


@pytest.fixture(scope="module")
def short_history(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A tenth as many, to compare peak memory with."""
    return _grow(tmp_path_factory.mktemp("scale") / "short.db", REVISIONS // 10)


def _command(*argv: str) -> dict[str, Any]:
    """Run ``statetrail ARGV`` in a new interpreter: its status, rows read, peak."""
    env = dict(os.environ)
    src = str(pathlib.Path(statetrail.__file__).parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return report


@pytest.mark.skipif(
    not pathlib.Path("/proc/self/status").exists(), reason="reads VmHWM from /proc"
)
class TestReadWhatIsShown:
    def test_short_commands_read_a_few_pages(self, history: pathlib.Path) -> None:
        """log --limit 20, show, diff and blame read at most a few pages of
        rows (one page is 512; a value is a checkpoint and at most 64
        patches), not the 20,000 (or 200,000) revisions."""
        path = str(history)
        middle, later = REVISIONS // 2, REVISIONS * 3 // 4
        for argv, most in (
            (("log", path, "big", "--limit", "20"), 64),
            (("show", path, f"big@{middle}"), 512),
            (("diff", path, "big", str(middle), str(later)), 512),
            (("blame", path, "big", "k5.n"), 512),
        ):
            report = _command(*argv)
            assert report["rows"] <= most, (argv, report)

    def test_long_commands_stream_in_constant_memory(
        self, history: pathlib.Path, short_history: pathlib.Path
    ) -> None:
        """Full log, export and verify read every row once and hold no more
        than a few pages: their peak memory on the whole history is within
        4 MiB of their peak on a tenth of it."""
        for command in (("log",), ("export",), ("verify",)):
            peaks = []
            for path, revisions in (
                (short_history, REVISIONS // 10),
                (history, REVISIONS),
            ):
                argv = (
                    command[0],
                    str(path),
                    *(("big",) if command[0] != "verify" else ()),
                )
                report = _command(*argv)
                assert report["rows"] >= revisions, (argv, report)
                assert report["rows"] <= revisions + 1024, (argv, report)
                peaks.append(report["peak_kib"])
            assert peaks[1] - peaks[0] < 4 * 1024, (command, peaks)
