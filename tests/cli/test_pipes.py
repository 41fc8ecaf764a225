"""The command's output read by a process that stops early (``| head``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import statetrail


@pytest.mark.parametrize("command", ["export", "log"])
def test_a_reader_that_stops_ends_the_command_quietly(
    tmp_path: Path, command: str
) -> None:
    """`statetrail export FILE NAME | head -1` (or log): no "Broken pipe"
    message, no traceback, and the status of a process killed by SIGPIPE
    (issue 11)."""
    path = tmp_path / "h.db"
    with statetrail.open(path, durability="batched") as repo:
        store = repo.store("job", {"n": 0})
        for n in range(1, 3000):  # far more than a pipe's 64 KiB buffer
            store.set("n", n, comment="x" * 40)
    writer = subprocess.Popen(
        [sys.executable, "-m", "statetrail", command, str(path), "job"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None
    assert writer.stderr is not None
    first = writer.stdout.readline()
    writer.stdout.close()  # as head does once it has its line
    errors = writer.stderr.read()
    writer.stderr.close()
    assert writer.wait(timeout=60) == 141
    assert first.startswith(b"{" if command == "export" else b"2999\t")
    assert errors == b""
