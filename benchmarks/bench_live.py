"""Issue 12: following a trail live over Redis Streams, on loopback.

Workloads (random, non-repeating paths over a 1,000-entry state; GC on; a
redis-server of the benchmark's own on a free loopback port, append-only file
with ``appendfsync everysec``, as a production Redis runs):

- **lag**: revisions written at about 1,000/s by a publishing repository; a
  follower in another process timestamps each arrival. The
  lag is arrival time minus the revision's commit time: p50 and p99 (target:
  p99 <= 5 ms), for each durability: ``"normal"``, ``"full"`` (durable), and
  ``"batched"``, whose lag includes the wait for its group commit (up to
  ``batch_interval``, 5 ms: the target is 5 ms more); the writer's CPU per
  revision counts the publisher thread's (and the batch thread's);
- **throughput**: a history already written (20,000 revisions) published from
  scratch and followed to its end by one follower in a process of its own (as
  followers run: elsewhere): revisions per second from the publisher's start to
  the follower's last arrival (target: >= 10,000/s), and each side's CPU time
  per revision (on this shared machine the wall rate also counts the time the
  other engineers' processes hold the two cores);
- **live, batched writes**: the same follower while a writer with
  ``durability="batched"`` writes 20,000 revisions as fast as it can,
  publishing as it goes: revisions per second from the first write to the
  last arrival, beside the writes' own rate;
- **cost of publishing**: ``Store.set`` with ``durability="full"`` on SQLite,
  with and without ``publish=`` (paired rounds; target: within 5%).

Without redis-server or redis-py the module reports no figures, unless
``STATETRAIL_REQUIRE_SERVICES=1``, when it fails.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from _harness import Figure


class _Server:
    def __init__(self, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(folder), "--appendonly", "yes",
                "--appendfsync", "everysec", "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def _paths(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"u{rng.randrange(1000)}.v{rng.randrange(10**9)}" for _ in range(n)]


def lag(
    url: str,
    folder: Path,
    quick: bool,
    durability: Literal["full", "normal", "batched"] = "normal",
) -> Figure:
    import statetrail

    count = 300 if quick else 2_000
    name = f"lag-{durability}"
    repo = statetrail.open(
        folder / f"{name}.sqlite",
        publish=url,
        durability=durability,
    )
    store = repo.store(name, {f"u{i}": {} for i in range(1000)})
    repo.flush()
    assert repo.publisher is not None
    repo.publisher.wait(timeout=60)
    child = _follower(url, name, count)
    load = os.getloadavg()[0]
    cpu = time.process_time()
    start = time.perf_counter()
    for i, path in enumerate(_paths(count, 1)):
        store.set(path, 1)
        # Paced to 1,000/s from the start (not a sleep after each write, which
        # runs slower on a loaded machine).
        pause = start + (i + 1) / 1000 - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    rate = count / (time.perf_counter() - start)
    seen = _finished(child)
    writer_cpu = (time.process_time() - cpu) / count
    repo.close()
    lags = sorted(seen["lags"][1:])  # revision 0 was written before it started
    p50 = statistics.median(lags) / 1e9
    p99 = lags[int(len(lags) * 0.99) - 1] / 1e9
    load = max(load, os.getloadavg()[0])
    bound = 0.010 if durability == "batched" else 0.005
    return Figure(
        12,
        f"lag from commit to the apply of a follower in another process at"
        f" {rate:,.0f} revisions/s, durability={durability!r} ({count:,} revisions;"
        f" p50 {p50 * 1e3:.2f} ms; CPU per revision: writer+publisher"
        f" {writer_cpu * 1e6:.0f} us, follower"
        f" {seen['cpu'] / count * 1e6:.0f} us; load {load:.1f})",
        p99,
        f"p99 <= {bound * 1e3:.0f} ms",
        p99 <= bound and len(lags) == count,
        extra={
            "durability": durability,
            "p50_s": p50,
            "p99_s": p99,
            "received": len(lags),
            "rate": rate,
            "load": load,
            "writer_cpu_us": writer_cpu * 1e6,
            "follower_cpu_us": seen["cpu"] / count * 1e6,
        },
    )


_FOLLOWER = """
import json, sys, time
import statetrail
url, name, last = sys.argv[1], sys.argv[2], int(sys.argv[3])
with statetrail.follow(url, name) as following:
    print("ready", flush=True)
    cpu = time.process_time()
    got = 0
    lags = []
    while True:
        rev = following.get(timeout=120)
        if rev is None:
            break
        got += 1
        lags.append(time.time_ns() - rev.time_ns)
        if rev.number >= last:
            break
    print(json.dumps({"got": got, "at": time.time(), "cpu": time.process_time() - cpu,
                      "lags": lags}))
"""


def _follower(url: str, name: str, last: int) -> subprocess.Popen[str]:
    """A follower of ``name`` up to revision ``last``, in a process of its own
    (as a follower runs: elsewhere), ready to read once this returns."""
    child = subprocess.Popen(
        [sys.executable, "-c", _FOLLOWER, url, name, str(last)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def _finished(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = child.communicate(timeout=600)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def throughput(url: str, folder: Path, quick: bool) -> Figure:
    import statetrail

    count = 2_000 if quick else 20_000
    path = folder / "throughput.sqlite"
    with statetrail.open(path, durability="batched") as repo:
        store = repo.store("tp", {f"u{i}": {} for i in range(1000)})
        for p in _paths(count, 2):
            store.set(p, 1)
    child = _follower(url, "tp", count)
    start = time.time()
    cpu = time.process_time()
    repo = statetrail.open(path, publish=url)
    assert repo.publisher is not None
    repo.publisher.wait(timeout=600)
    published_cpu = time.process_time() - cpu
    repo.close()
    seen = _finished(child)
    rate = seen["got"] / (seen["at"] - start)
    publisher_us = published_cpu / (count + 1) * 1e6
    follower_us = seen["cpu"] / (count + 1) * 1e6
    return Figure(
        12,
        f"publish a written history of {count:,} revisions, followed by another "
        f"process to its end (CPU per revision: publisher {publisher_us:.0f} us, "
        f"follower {follower_us:.0f} us; load {os.getloadavg()[0]:.1f})",
        rate,
        ">= 10,000 revisions/s",
        rate >= 10_000 and seen["got"] == count + 1,
        unit="revisions/s",
        extra={
            "publisher_cpu_us_per_revision": publisher_us,
            "follower_cpu_us_per_revision": follower_us,
            "rate_if_each_had_a_core": 1e6 / max(publisher_us, follower_us),
        },
    )


def live_batched(url: str, folder: Path, quick: bool) -> Figure:
    """Writing with ``durability="batched"`` while publishing, followed by
    another process: revisions per second from the first write to the
    follower's last arrival."""
    import statetrail

    count = 2_000 if quick else 20_000
    child = _follower(url, "live", count)
    start = time.time()
    with statetrail.open(
        folder / "live.sqlite", durability="batched", publish=url
    ) as repo:
        store = repo.store("live", {f"u{i}": {} for i in range(1000)})
        for p in _paths(count, 4):
            store.set(p, 1)
        written = count / (time.time() - start)
    seen = _finished(child)
    rate = seen["got"] / (seen["at"] - start)
    return Figure(
        12,
        f"live: {count:,} batched writes published as they are made and followed"
        f" by another process (writes alone: {written:,.0f}/s)",
        rate,
        "reported beside the throughput",
        seen["got"] == count + 1,
        unit="revisions/s",
        extra={"writes_per_s": written},
    )


def publish_cost(url: str, folder: Path, quick: bool) -> Figure:
    """Durable ``Store.set`` on SQLite with ``publish=`` against without.

    Interleaved rounds on two files open side by side (the order alternates
    between rounds), random non-repeating paths into a growing state. Per round:
    the wall time of the writes alone (what a caller waits), and the process's
    CPU time of the writes plus, for the publishing side, the publisher
    thread's work until the round is in Redis (``wait()``), so no publishing
    spills into the next round; and the writing thread's own CPU time (what
    publishing adds to the write itself: the cost of queueing). The figure is
    the median per-round ratio
    (without / with: >= 0.95 is within 5%), with its quartiles.
    """
    import statetrail

    number = 50 if quick else 200
    rounds = 7 if quick else 21
    paths = iter(_paths(10**6, 3))
    plain = statetrail.open(folder / "plain.sqlite", durability="full")
    published = statetrail.open(
        folder / "published.sqlite", durability="full", publish=url
    )
    publisher = published.publisher
    assert publisher is not None
    sides = {False: plain.store("c", {}), True: published.store("c", {})}
    publisher.wait(timeout=60)
    wall: list[float] = []
    cpu: list[float] = []
    caller: list[float] = []  # the writing thread's own CPU time
    walls: dict[bool, list[float]] = {False: [], True: []}
    for i in range(rounds):
        took: dict[bool, tuple[float, float]] = {}
        for side in (True, False) if i % 2 == 0 else (False, True):
            store = sides[side]
            todo = [next(paths) for _ in range(number)]
            c0 = time.process_time()
            t0 = time.thread_time()
            w0 = time.perf_counter()
            for path in todo:
                store.set(path, 1)
            w = time.perf_counter() - w0
            t = time.thread_time() - t0
            if side:
                publisher.wait(timeout=60)
            took[side] = (w, time.process_time() - c0, t)
            walls[side].append(w / number)
        wall.append(took[False][0] / took[True][0])
        cpu.append(took[False][1] / took[True][1])
        caller.append(took[False][2] / took[True][2])
    plain.close()
    published.close()
    ratio = statistics.median(wall)
    q_wall = statistics.quantiles(wall, n=4)
    q_cpu = statistics.quantiles(cpu, n=4)
    q_caller = statistics.quantiles(caller, n=4)
    return Figure(
        12,
        'durable Store.set (durability="full") with publish= against without '
        f"(wall ratio quartiles {q_wall[0]:.2f}-{q_wall[2]:.2f}; the writing "
        f"thread's CPU {statistics.median(caller):.2f}x, quartiles "
        f"{q_caller[0]:.2f}-{q_caller[2]:.2f}; the process's CPU, the publisher "
        f"thread's included, {statistics.median(cpu):.2f}x, quartiles "
        f"{q_cpu[0]:.2f}-{q_cpu[2]:.2f}; load {os.getloadavg()[0]:.1f})",
        statistics.median(walls[True]),
        "within 5% (>= 0.95x)",
        ratio >= 0.95,
        "the same without publishing",
        statistics.median(walls[False]),
        paired_ratio=ratio,
        extra={
            "wall_ratios": wall,
            "cpu_ratios": cpu,
            "cpu_ratio_median": statistics.median(cpu),
            "caller_cpu_ratios": caller,
            "caller_cpu_ratio_median": statistics.median(caller),
            "load": os.getloadavg()[0],
        },
    )


def run(quick: bool) -> list[Figure]:
    try:
        import redis  # noqa: F401
    except ImportError as exc:
        return _unavailable(exc)
    if shutil.which("redis-server") is None:
        return _unavailable(RuntimeError("redis-server is not on the PATH"))
    folder = Path(tempfile.mkdtemp(prefix="statetrail-bench-live-"))
    (folder / "redis").mkdir()
    server = _Server(folder / "redis")
    try:
        return [
            lag(server.url, folder, quick),
            lag(server.url, folder, quick, "full"),
            lag(server.url, folder, quick, "batched"),
            throughput(server.url, folder, quick),
            live_batched(server.url, folder, quick),
            publish_cost(server.url, folder, quick),
        ]
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _unavailable(exc: Exception) -> list[Figure]:
    if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
        raise exc
    print(f"  skipped: Redis is not available ({exc})")
    return []
