"""Killing a process in the middle of Store.save() (RELIABILITY D2).

A child process saves a growing state over and over and prints each number after
``save()`` returns; the parent kills it with SIGKILL at a random moment. The file
must then hold a whole state: the last one acknowledged, or the one being saved,
never a mix and never a broken file; and the next open leaves no temporary file.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from statetrail.store import Store
from tests.conftest import scaled

CHILD = """
import sys
from statetrail.store import Store

store = Store()
n = 0
while True:
    store.set("seq", n)
    store.set("payload", f"{n}:" + "x" * 4_000_000)
    store.save(sys.argv[1])
    print(n, flush=True)
    n += 1
"""


def saved_state(path: Any) -> Any:
    """The state in a saved file: plain JSON, the state and nothing else."""
    return json.loads(pathlib.Path(path).read_text("utf-8"))


def temporary_appears(directory: Path, timeout: float = 5.0) -> None:
    """Wait until a save's temporary file exists in ``directory``."""
    deadline = time.monotonic() + timeout
    while not any(name.endswith(".tmp") for name in os.listdir(directory)):
        assert time.monotonic() < deadline, "no save started"


def kill_during_saves(
    target: Path, rng: random.Random, *, aim: bool
) -> tuple[list[int], bool]:
    """Run the child and kill it: at a random moment, or (``aim``) just after a
    save has created its temporary file. Returns the numbers it acknowledged, and
    whether a temporary file was left (the kill came while the file was written)."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        first = child.stdout.readline()  # one save done: the file exists
        assert first.strip() == "0", first
        if aim:
            temporary_appears(target.parent)
            time.sleep(rng.uniform(0.0, 0.005))
        else:
            time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
    acked = [int(line) for line in [first, *rest.splitlines()]]
    torn = any(name.endswith(".tmp") for name in os.listdir(target.parent))
    return acked, torn


class TestKilledSave:
    @pytest.mark.slow
    def test_a_kill_leaves_the_old_or_the_new_file(self, tmp_path: Path) -> None:
        """After SIGKILL at random times, and just after a save began writing, the
        file always parses and holds one whole state (its payload matches its
        seq), no older than the last acknowledged save; the next open loads it and
        removes the temporary file."""
        rng = random.Random(3)
        trials = scaled(20)
        inside_a_save = 0
        for trial in range(trials):
            target = tmp_path / f"trial{trial}" / "state.json"
            target.parent.mkdir()
            acked, torn = kill_during_saves(target, rng, aim=trial % 2 == 0)
            inside_a_save += torn
            state = saved_state(target)
            assert state["payload"] == f"{state['seq']}:" + "x" * 4_000_000
            assert state["seq"] in (acked[-1], acked[-1] + 1)
            assert Store(state_file=target).get_state() == state
            assert os.listdir(target.parent) == ["state.json"]
        # Proof that the fault happened where it matters, not only between saves.
        assert inside_a_save >= trials // 4
