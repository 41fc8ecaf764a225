"""``statetrail serve`` as a user runs it, over a demo history, for the page tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from statetrail.cli.demo import _record, _rollback_and_branch


def demo_history(path: Path, cards: int = 5) -> Path:
    """The demo's history (two sorters, a controller, a rollback, a branch) at ``path``.

    Made in a thread of its own: the demo runs an event loop, and Playwright's
    runs in the test's thread.
    """

    def record() -> None:
        _record(str(path), cards)
        _rollback_and_branch(str(path))

    worker = threading.Thread(target=record, name="demo")
    worker.start()
    worker.join()
    return path


@contextmanager
def serve(target: Path, *extra: str) -> Iterator[str]:
    """Run ``statetrail serve TARGET --port 0``; yields the URL it prints."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "statetrail",
            "serve",
            str(target),
            "--port",
            "0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if " at http://" not in line:
            process.kill()
            raise RuntimeError(
                f"statetrail serve did not start: {line}{process.stderr}"
            )
        yield line.rsplit(" at ", 1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    """Poll ``predicate()`` until it is true (or fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
