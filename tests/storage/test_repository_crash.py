"""kill -9 a process writing a Store into SQLite through ``statetrail.open``.

The backend's own crash test (test_sqlite_crash.py) kills raw appends 80 times;
this one kills the whole stack a user runs (Store -> Timeline -> journal ->
backend, with checkpoints every 64 revisions) and checks, after each kill, that
the file opens and verifies, that every write acknowledged before the kill is in
the history with its value, and that a cold read of any revision agrees with
the replayed history. The broken variant (batched durability, whose writes
return before they are on disk) must be caught by the same checks.
"""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys

import statetrail
from tests.conftest import scaled
from tests.reliability import record

ROOT = pathlib.Path(__file__).resolve().parents[2]

WRITER = r"""
import os, sys
import statetrail

path, durability, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
repo = statetrail.open(path, durability=durability, batch_interval=60.0)
store = repo.store("job", {"job": {"sorted": 0, "bins": 10}})
for n in range(1, limit + 1):
    store.set("job.sorted", n)
    os.write(1, b"%d\n" % n)  # the ack: only after set() returned
os.write(1, b"done\n")
sys.stdin.readline()  # wait for the kill
"""


def trial(path: pathlib.Path, durability: str, writes: int, kill_after: int) -> int:
    """Start a writer, kill -9 it after ``kill_after`` acks; return the last ack."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), durability, str(writes)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert writer.stdout is not None
    last = 0
    for line in writer.stdout:
        if line.strip() == b"done":
            break
        last = int(line)
        if last >= kill_after:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    for line in writer.stdout:  # acks written before the kill landed
        if line.strip() != b"done":
            last = int(line)
    writer.stdout.close()
    assert writer.stdin is not None
    writer.stdin.close()
    return last


def survey(path: pathlib.Path, acked: int) -> dict[str, int]:
    """What the file holds after a kill, against the acks."""
    with statetrail.open(path) as repo:
        if "job" not in repo.timelines():  # not even the first revision reached disk
            return {
                "acked": acked,
                "acked_lost": acked,
                "verified": 0,
                "beyond_last_ack": 0,
                "cold_read_mismatches": 0,
            }
        verified = repo.verify("job")["job"]
        store = repo.store("job")
        recorded = {r.value["job"]["sorted"] for r in store.timeline.revisions()}
        lost = sum(1 for n in range(1, acked + 1) if n not in recorded)
        probes = random.Random(acked).sample(
            range(len(recorded)), min(10, len(recorded))
        )
        cold_mismatches = sum(
            repo.value_at("job", n) != store.timeline.value_at(n) for n in probes
        )
        beyond = max(recorded) - acked
    return {
        "acked": acked,
        "acked_lost": lost,
        "verified": verified,
        "beyond_last_ack": beyond,
        "cold_read_mismatches": cold_mismatches,
    }


def kills(tmp_path: pathlib.Path, durability: str, trials: int) -> dict[str, int]:
    """Run ``trials`` kills on fresh files; sum what they left."""
    rng = random.Random(20261123)
    writes = 2_000
    totals = {"trials": 0, "acked": 0, "acked_lost": 0, "cold_read_mismatches": 0}
    beyond = 0
    for i in range(trials):
        path = tmp_path / f"{durability}-{i}.db"
        acked = trial(path, durability, writes, rng.randint(1, writes))
        figures = survey(path, acked)
        totals["trials"] += 1
        totals["acked"] += figures["acked"]
        totals["acked_lost"] += figures["acked_lost"]
        totals["cold_read_mismatches"] += figures["cold_read_mismatches"]
        beyond = max(beyond, figures["beyond_last_ack"])
    totals["most_beyond_last_ack"] = beyond
    return totals


def test_kill_9_loses_no_acknowledged_store_write(tmp_path: pathlib.Path) -> None:
    """Every Store.set that returned survives kill -9, and the file verifies
    (3 kills in make test, 60 in make soak)."""
    totals = kills(tmp_path, "full", scaled(6, ci=3))
    record("D1-repository", **totals)
    assert totals["acked_lost"] == 0
    assert totals["cold_read_mismatches"] == 0
    assert totals["most_beyond_last_ack"] <= 1  # only the write in flight


def test_the_check_catches_writes_acknowledged_before_they_are_durable(
    tmp_path: pathlib.Path,
) -> None:
    """Teeth: batched writes return before commit; kill -9 loses some of them."""
    totals = kills(tmp_path, "batched", 2)
    record("D1-repository-teeth", **totals)
    assert totals["acked_lost"] > 0
