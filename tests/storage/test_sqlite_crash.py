"""Killing writers with SIGKILL in the middle of their appends (RELIABILITY D1).

Each writer is a process that appends rows with consecutive numbers and writes
each number to its stdout pipe *after* ``append()`` returned (the ack). The test
sends SIGKILL at a random moment, reopens the file and checks that every acked
row is there (acked lost = 0), with no gaps, at most one row past the last ack
(the append in flight), every row rebuilt equal to what was written, and the
file passing ``integrity_check``. Four writers are four processes appending to
four timelines of one file (racing on one timeline is C5's test).

Writers are forked from a small fork server started once per configuration,
so a trial costs a fork rather than a Python start-up; the fork server never
opens a database, and each writer opens its own. Two configurations run at a
time (one fsync-bound, one CPU-bound), which keeps the test near 35 s on two
cores; kills are triggered by ack counts, not by timing, so that is safe.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from statetrail.errors import StorageError
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import row

ROOT = Path(__file__).resolve().parents[2]

FORK_SERVER = r"""
import os, signal, socket, sys, time
from statetrail.storage.sqlite import SQLiteBackend
from tests.storage.contract import row

signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the writers
server = socket.socket(fileno=int(sys.argv[1]))
while True:
    message, fds, _, _ = socket.recv_fds(server, 4096, 1)
    if not message:
        break
    path, durability, timeline, limit, interval = message.decode().split("\t")
    pid = os.fork()
    if pid == 0:
        os.dup2(fds[0], 1)
        backend = SQLiteBackend(
            path, durability=durability, batch_interval=float(interval)
        )
        for n in range(int(limit)):
            backend.append([row(n, timeline=timeline, author=timeline)])
            os.write(1, b"%d\n" % n)  # the ack: only after append() returned
        time.sleep(600)  # wait for the kill
        os._exit(0)
    os.close(fds[0])
    server.sendall(b"%d\n" % pid)
"""


class ForkServer:
    """A process that forks writers on request, each with its stdout a new pipe."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            cwd=ROOT,
        )
        theirs.close()
        self.socket = ours
        self.replies = ours.makefile("rb")

    def writer(
        self, path: Path, durability: str, timeline: str, limit: int, interval: float
    ) -> tuple[int, int]:
        """Start a writer; return its pid and the read end of its stdout."""
        read_end, write_end = os.pipe()
        message = f"{path}\t{durability}\t{timeline}\t{limit}\t{interval}"
        socket.send_fds(self.socket, [message.encode()], [write_end])
        os.close(write_end)  # the writer holds the only write end: EOF = dead
        return int(self.replies.readline()), read_end

    def close(self) -> None:
        self.replies.close()
        self.socket.close()
        self.process.wait(timeout=30)


@dataclass
class Outcome:
    """What one kill left behind, summed over its writers."""

    acked: int = 0
    acked_lost: int = 0
    gaps: int = 0
    beyond_ack: list[int] = field(default_factory=list)
    mismatches: int = 0
    integrity_failures: int = 0
    open_failures: int = 0


def kill_at_random(
    server: ForkServer,
    path: Path,
    *,
    durability: str,
    writers: int,
    writes: int,
    rng: random.Random,
    interval: float = 0.005,
) -> dict[str, list[int]]:
    """Run ``writers`` writers on ``path``, SIGKILL them all once a random number
    of acks (1..``writes``) has arrived, plus up to 2 ms. Return each timeline's
    acked numbers."""
    started = {
        f"w{w}": server.writer(path, durability, f"w{w}", writes // writers, interval)
        for w in range(writers)
    }
    output = {fd: bytearray() for _, fd in started.values()}
    selector = selectors.DefaultSelector()
    for fd in output:
        selector.register(fd, selectors.EVENT_READ)
    kill_after = rng.randint(1, writes // writers * writers)
    acks, killed = 0, False
    deadline = time.monotonic() + 120
    while selector.get_map():
        for key, _ in selector.select(timeout=0.2):
            data = os.read(key.fd, 65536)
            if data:
                output[key.fd] += data
                acks += data.count(b"\n")
            else:  # end of file: the writer is dead
                selector.unregister(key.fd)
                os.close(key.fd)
        if not killed and acks >= kill_after:
            time.sleep(rng.uniform(0, 0.002))
            for pid, _ in started.values():
                os.kill(pid, signal.SIGKILL)
            killed = True
        assert time.monotonic() < deadline, "writers stalled"
    selector.close()
    acked = {}
    for timeline, (_, fd) in started.items():
        lines = bytes(output[fd]).split(b"\n")[:-1]  # a torn last line is no ack
        acked[timeline] = [int(line) for line in lines]
        assert acked[timeline] == list(range(len(lines)))
    return acked


def check(path: Path, acked: dict[str, list[int]], outcome: Outcome) -> None:
    """Reopen ``path`` and add what it holds against ``acked`` to ``outcome``."""
    try:
        backend = SQLiteBackend(path)
    except StorageError:
        outcome.open_failures += 1
        return
    with backend:
        try:
            backend.integrity_check()
        except StorageError:
            outcome.integrity_failures += 1
        for timeline, numbers in acked.items():
            rows = backend.read(timeline)
            stored = [r.number for r in rows]
            outcome.acked += len(numbers)
            outcome.acked_lost += len(set(numbers) - set(stored))
            outcome.gaps += stored != list(range(len(stored)))
            outcome.beyond_ack.append(len(stored) - len(numbers))
            outcome.mismatches += sum(
                r != row(r.number, timeline=timeline, author=timeline) for r in rows
            )


def run_trials(
    tmp_path: Path, *, trials: int, durability: str, writers: int, seed: int
) -> Outcome:
    """``trials`` kills of fresh files; the outcomes summed."""
    rng = random.Random(seed)
    outcome = Outcome()
    server = ForkServer()
    try:
        for trial in range(trials):
            # A fresh file: the writers also race to create the schema.
            path = tmp_path / f"{durability}-{writers}-{trial}.db"
            acked = kill_at_random(
                server,
                path,
                durability=durability,
                writers=writers,
                writes=scaled(2_000, ci=500),
                rng=rng,
                interval=0.05 if durability == "batched" else 0.005,
            )
            check(path, acked, outcome)
    finally:
        server.close()
    return outcome


# Ordered so that each pair run together mixes a slow and a fast configuration.
CONFIGURATIONS = [("full", 1), ("normal", 4), ("full", 4), ("normal", 1)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
class TestKill:
    @pytest.mark.slow
    def test_acked_appends_survive_sigkill(self, tmp_path: Path) -> None:
        """20 kills per configuration (full and normal durability, 1 and 4
        writers), each at a random ack of up to 2,000 writes (500 in make test,
        20,000 in make soak): acked lost, gaps, rebuild mismatches, integrity and open
        failures are all 0, and at most the one in-flight row is past the ack."""
        trials = scaled(20)
        figures: dict[str, object] = {}
        total = Outcome()

        def configuration(seed: int) -> Outcome:
            durability, writers = CONFIGURATIONS[seed]
            return run_trials(
                tmp_path,
                trials=trials,
                durability=durability,
                writers=writers,
                seed=seed,
            )

        with ThreadPoolExecutor(2) as lanes:
            outcomes = list(lanes.map(configuration, range(len(CONFIGURATIONS))))
        for (durability, writers), outcome in zip(
            CONFIGURATIONS, outcomes, strict=True
        ):
            figures[f"{durability}_{writers}w"] = {
                "trials": trials,
                "acked": outcome.acked,
                "acked_lost": outcome.acked_lost,
                "in_flight_rows_found": sum(outcome.beyond_ack),
            }
            for name in (
                "acked",
                "acked_lost",
                "gaps",
                "mismatches",
                "integrity_failures",
                "open_failures",
            ):
                setattr(total, name, getattr(total, name) + getattr(outcome, name))
            total.beyond_ack += outcome.beyond_ack
        record(
            "D1",
            trials=trials * len(CONFIGURATIONS),
            writes=total.acked,
            acked_lost=total.acked_lost,
            gaps=total.gaps,
            rows_beyond_last_ack_max=max(total.beyond_ack),
            rebuild_mismatches=total.mismatches,
            integrity_failures=total.integrity_failures,
            open_failures=total.open_failures,
            four_writers="4 processes, one timeline each, one file",
            configurations=figures,
        )
        assert total.acked > 0
        assert total.acked_lost == 0
        assert total.gaps == 0
        assert total.mismatches == 0
        assert total.integrity_failures == 0
        assert total.open_failures == 0
        assert all(0 <= extra <= 1 for extra in total.beyond_ack)

    def test_the_checker_catches_lost_acks(self, tmp_path: Path) -> None:
        """Teeth: batched mode acks before its commit (as documented), so a kill
        loses acked rows, and the same checker reports them."""
        trials = scaled(4)
        outcome = run_trials(
            tmp_path, trials=trials, durability="batched", writers=1, seed=99
        )
        record(
            "D1-teeth",
            variant="durability='batched' (acks before commit), batch_interval=0.05",
            trials=trials,
            acked=outcome.acked,
            acked_lost=outcome.acked_lost,
        )
        assert outcome.acked_lost > 0
