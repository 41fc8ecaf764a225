"""Issue 13: ``statetrail serve`` on a 200,000-revision history.

The history is bench_cli's (a 1,000-entry state, one random leaf changed per
revision, built once and cached; ``--quick``: 20,000). Every server runs in a
process of its own, as a user runs it, and the client (``http.client``, one
kept-alive connection) in this one:

- **the stack, chosen by measurement**: ``GET /api/timelines/big/revisions``
  (the first page, 50 revisions) against statetrail's app (Starlette on
  uvicorn) and against the same reads behind the standard library's
  ``ThreadingHTTPServer`` (the peer: no dependency at all). Requests per second
  over a kept-alive connection, the time to the first byte of the answer
  (median and 95th percentile) and each server's CPU time per request, rounds
  interleaved (ours, theirs, ...), the ratio the median of the per-round ratios;
- **the first screen**: a server just started, then ``/api/timelines``, the
  first page of revisions and the head revision with its value, one after the
  other on a new connection (target: ≤ 1 s in all), the median of three
  server starts;
- **a slider step**: ``/api/timelines/big/revisions/N`` (with its value) for
  200 random N, for 200 N one after the other forward and back (dragging the
  slider, arrow keys), and 200 jumps of 2 to 32 either way; target:
  each ≤ 100 ms; median, 95th percentile, the slowest, and the server's CPU time
  per step, which the other processes of a shared machine do not inflate;
- **a filtered list**: the revision list by path (the path index), a page
  of it deep in the history, by a time window (the time index) and a page
  deep in the history (``before``): median time and the server's CPU per ask;
- **live**: a revision committed by another process reaches a client of
  ``/events`` (target: ≤ 200 ms after the commit returns), 30 commits 50 ms
  apart, on a small SQLite history of its own (the delay does not depend on the
  history's length).

    python benchmarks/bench_web.py [--quick]
"""

from __future__ import annotations

import http.client
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

import statetrail
from _harness import Figure
from bench_cli import NAME, history

ISSUE = 13
SRC = str(pathlib.Path(__file__).resolve().parents[1] / "src")

#: The peer: the same reads (statetrail.web._data) behind the standard library's
#: threaded HTTP server, answering the one route measured.
_PEER = """
import sys, urllib.parse, orjson
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from statetrail.cli.inspect import opened
from statetrail.web._data import Filters, History

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Its head and body go out in two writes: without this, a kept-alive
    # request waits 40 ms for a delayed ACK (as uvicorn would: serve sets it).
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        name = urllib.parse.unquote(url.path.split("/")[3])
        body = orjson.dumps(HISTORY.revisions(
            name, Filters(), before=None, limit=int(query.get("limit", 50))))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

with opened(sys.argv[1]) as repo:
    HISTORY = History(repo)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"statetrail serve: peer at http://127.0.0.1:{server.server_port}/",
          flush=True)
    server.serve_forever()
"""


def cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(argv: list[str]) -> Iterator[tuple[str, int, int]]:
    """A server process; yields its host, port (from the URL it prints), pid."""
    path = SRC + os.pathsep + os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=path)
    process = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = urllib.parse.urlsplit(line.rsplit(" at ", 1)[1].strip())
        assert url.hostname is not None
        assert url.port is not None
        yield url.hostname, url.port, process.pid
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def ours(path: str) -> list[str]:
    return ["-m", "statetrail", "serve", path, "--port", "0"]


def peer(path: str) -> list[str]:
    return ["-c", _PEER, path]


def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, float, bytes]:
    """Seconds to the first byte and to the whole answer, and the body.

    A connection the server closed while idle (uvicorn after 5 s, while the
    other side's round ran) is opened again, outside the time.
    """
    try:
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionError):
        conn.close()
        conn.connect()
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
    first = time.perf_counter() - started
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
    return first, time.perf_counter() - started, body


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def stack(path: str, rounds: int, requests: int) -> list[Figure]:
    """Requests/s and time to first byte of the first page: ours and the peer's."""
    route = f"/api/timelines/{NAME}/revisions"
    results: dict[str, list[tuple[float, list[float]]]] = {"ours": [], "peer": []}
    used = {"ours": 0.0, "peer": 0.0}
    with server(ours(path)) as (host, port, pid), server(peer(path)) as peer_at:
        pids = {"ours": pid, "peer": peer_at[2]}
        connections = {
            "ours": http.client.HTTPConnection(host, port, timeout=30),
            "peer": http.client.HTTPConnection(peer_at[0], peer_at[1], timeout=30),
        }
        for conn in connections.values():
            for _ in range(20):  # warm up: connections, caches
                get(conn, route)
        for _ in range(rounds):
            for side, conn in connections.items():
                firsts = []
                before = cpu(pids[side])
                started = time.perf_counter()
                for _ in range(requests):
                    first, _, _ = get(conn, route)
                    firsts.append(first)
                rate = requests / (time.perf_counter() - started)
                used[side] += cpu(pids[side]) - before
                results[side].append((rate, firsts))
        for conn in connections.values():
            conn.close()
    ratio = statistics.median(
        o[0] / p[0] for o, p in zip(results["ours"], results["peer"], strict=True)
    )
    rate_ours = statistics.median(r for r, _ in results["ours"])
    rate_peer = statistics.median(r for r, _ in results["peer"])
    first_ours = [f for _, fs in results["ours"] for f in fs]
    first_peer = [f for _, fs in results["peer"] for f in fs]
    return [
        Figure(
            ISSUE,
            "GET .../revisions (first page of 50), kept-alive, requests/s",
            rate_ours,
            # What ASGI costs (streams that end with their client, middleware,
            # a maintained HTTP parser) against the bare standard library.
            ">= 0.5x the standard library's server",
            ratio >= 0.5,
            peer="http.server (ThreadingHTTPServer)",
            theirs=rate_peer,
            unit="req/s",
            extra={
                "ratio_ours_over_peer": ratio,
                "server_cpu_per_request_s": used["ours"] / (rounds * requests),
                "peer_cpu_per_request_s": used["peer"] / (rounds * requests),
            },
            # Higher is better here: the ratio is ours over theirs.
            paired_ratio=ratio,
        ),
        Figure(
            ISSUE,
            "GET .../revisions, time to the first byte (median)",
            statistics.median(first_ours),
            "<= 100 ms",
            statistics.median(first_ours) <= 0.1,
            peer="http.server (ThreadingHTTPServer)",
            theirs=statistics.median(first_peer),
            extra={
                "p95_s": percentile(first_ours, 0.95),
                "peer_p95_s": percentile(first_peer, 0.95),
            },
        ),
    ]


def first_screen(path: str, starts: int) -> Figure:
    """A just-started server: timelines, the first page, the head with its value."""
    totals = []
    parts: list[list[float]] = []
    for _ in range(starts):
        with server(ours(path)) as (host, port, _):
            conn = http.client.HTTPConnection(host, port, timeout=30)
            started = time.perf_counter()
            _, t1, body = get(conn, "/api/timelines")
            head = orjson.loads(body)[0]["head"]
            _, t2, _ = get(conn, f"/api/timelines/{NAME}/revisions")
            _, t3, _ = get(conn, f"/api/timelines/{NAME}/revisions/{head}")
            totals.append(time.perf_counter() - started)
            parts.append([t1, t2, t3])
            conn.close()
    middle = sorted(range(starts), key=lambda i: totals[i])[starts // 2]
    return Figure(
        ISSUE,
        "first screen on a just-started server (timelines + first page + head value)",
        statistics.median(totals),
        "<= 1 s",
        statistics.median(totals) <= 1.0,
        extra={
            "timelines_s": parts[middle][0],
            "first_page_s": parts[middle][1],
            "head_value_s": parts[middle][2],
        },
    )


def slider(path: str, revisions: int, steps: int) -> list[Figure]:
    """``revisions/N`` with its value: random jumps, steps forward and back,
    jumps near the revision shown."""
    draw = random.Random(13)
    jumps = [draw.randrange(revisions) for _ in range(steps)]
    start = draw.randrange(steps, revisions - steps)
    near: list[int] = []
    at = draw.randrange(64, revisions - 64)
    for _ in range(steps):  # each within 32 of the one before, either way
        at = min(revisions - 1, max(0, at + draw.choice([-1, 1]) * draw.randint(2, 32)))
        near.append(at)
    figures = []
    with server(ours(path)) as (host, port, pid):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        get(conn, f"/api/timelines/{NAME}/revisions/0")
        parts = [draw.randrange(revisions) for _ in range(2 * steps)]
        keys = [draw.randrange(1_000) for _ in range(steps)]
        for label, numbers in (
            ("a random jump", jumps),
            ("a step forward", list(range(start, start + steps))),
            ("a step back", list(range(start - 1, start - 1 - steps, -1))),
            ("a jump of 2-32 either way", near),
        ):
            before = cpu(pid)
            times = [
                get(conn, f"/api/timelines/{NAME}/revisions/{n}")[1] for n in numbers
            ]
            used = (cpu(pid) - before) / steps
            figures.append(
                Figure(
                    ISSUE,
                    f"slider, {label}: revisions/N with its value, {steps} N (median)",
                    statistics.median(times),
                    "<= 100 ms each",
                    max(times) <= 0.1,
                    extra={
                        "p95_s": percentile(times, 0.95),
                        "max_s": max(times),
                        "server_cpu_per_step_s": used,
                    },
                )
            )
        # Part of a value (issue 13's ?depth and ?path): the root's keys with
        # each entry a stub, and one entry, at random revisions not held.
        ahead = draw.randrange(steps, revisions - steps)
        for label, urls in (
            (
                "a random jump: revisions/N?depth=3",
                [f"/api/timelines/{NAME}/revisions/{n}?depth=3" for n in jumps],
            ),
            (
                "a step forward, revisions/N?depth=3",
                [
                    f"/api/timelines/{NAME}/revisions/{n}?depth=3"
                    for n in range(ahead, ahead + steps)
                ],
            ),
            (
                "a random jump: revisions/N?depth=1 (entries as stubs)",
                [f"/api/timelines/{NAME}/revisions/{n}?depth=1" for n in parts[:steps]],
            ),
            (
                "a random jump: revisions/N?path=/kI (one entry)",
                [
                    f"/api/timelines/{NAME}/revisions/{n}?path=/k{k}"
                    for n, k in zip(parts[steps:], keys, strict=True)
                ],
            ),
        ):
            before = cpu(pid)
            times = [get(conn, url)[1] for url in urls]
            used = (cpu(pid) - before) / steps
            figures.append(
                Figure(
                    ISSUE,
                    f"slider, {label}, {steps} N (median)",
                    statistics.median(times),
                    "<= 100 ms each",
                    max(times) <= 0.1,
                    extra={
                        "p95_s": percentile(times, 0.95),
                        "max_s": max(times),
                        "server_cpu_per_step_s": used,
                    },
                )
            )
        conn.close()
    return figures


def filtered(path: str, revisions: int, asks: int) -> list[Figure]:
    """The revision list filtered by path, by a time window, and paged deep."""
    draw = random.Random(17)
    route = f"/api/timelines/{NAME}/revisions"
    figures = []
    with server(ours(path)) as (host, port, pid):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        get(conn, route)
        deep = [draw.randrange(100, revisions) for _ in range(asks)]
        # A revision's time, then a window of about 100 revisions from it.
        windows = []
        for n in deep:
            docs = orjson.loads(get(conn, f"{route}?before={n + 1}&limit=100")[2])
            windows.append((docs[-1]["time"], docs[0]["time"]))
        entries = [draw.randrange(1000) for _ in range(asks)]
        cases = {
            "path (one entry's ~200 changes, first page of 50)": [
                f"{route}?path=/k{k}" for k in entries
            ],
            "path, a page deep in the history": [
                f"{route}?path=/k{k}&before={n}"
                for k, n in zip(entries, deep, strict=True)
            ],
            "since/until (a window of ~100 revisions)": [
                f"{route}?since={urllib.parse.quote(a)}&until={urllib.parse.quote(b)}"
                f"&limit=1000"
                for a, b in windows
            ],
            "before (a page of 50 deep in the history)": [
                f"{route}?before={n}" for n in deep
            ],
        }
        for label, routes in cases.items():
            before = cpu(pid)
            times = []
            for r in routes:
                _, took, body = get(conn, r)
                assert orjson.loads(body), r
                times.append(took)
            used = (cpu(pid) - before) / len(routes)
            figures.append(
                Figure(
                    ISSUE,
                    f"revision list filtered by {label}, {asks} asks (median)",
                    statistics.median(times),
                    "<= 100 ms",
                    statistics.median(times) <= 0.1,
                    extra={
                        "p95_s": percentile(times, 0.95),
                        "server_cpu_per_ask_s": used,
                    },
                )
            )
        conn.close()
    return figures


def live(commits: int) -> Figure:
    """Seconds from a commit's return (another process) to its event here."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "live.db")
        with statetrail.open(path) as repo:
            repo.store("job", {"n": 0})
        committed: dict[int, float] = {}
        received: dict[int, float] = {}
        with server(ours(path)) as (host, port, _):
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", "/api/timelines/job/events")
            response = conn.getresponse()
            assert response.readline().startswith(b":")  # connected

            def read() -> None:
                for line in iter(response.readline, b""):
                    if line.startswith(b"id: "):
                        received[int(line[4:])] = time.perf_counter()
                        if len(received) == commits:
                            return

            reader = threading.Thread(target=read)
            reader.start()
            writer = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys, time, statetrail\n"
                    "with statetrail.open(sys.argv[1]) as repo:\n"
                    "    store = repo.store('job')\n"
                    "    for n in range(int(sys.argv[2])):\n"
                    "        store.set('n', n)\n"
                    "        now = time.perf_counter()\n"
                    "        print(store.head.number, now, flush=True)\n"
                    "        time.sleep(0.05)\n",
                    path,
                    str(commits),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=dict(os.environ, PYTHONPATH=SRC),
            )
            assert writer.stdout is not None
            for line in writer.stdout:
                number, when = line.split()
                committed[int(number)] = float(when)
            writer.wait()
            writer.stdout.close()
            reader.join(30)
            conn.close()
    # perf_counter is CLOCK_MONOTONIC on Linux: one clock for both processes.
    delays = [received[n] - committed[n] for n in committed if n in received]
    return Figure(
        ISSUE,
        f"live: commit to event at the client, {commits} commits (median)",
        statistics.median(delays),
        "<= 200 ms",
        max(delays) <= 0.2 and len(delays) == commits,
        extra={"max_s": max(delays), "received": len(delays)},
    )


def run(quick: bool) -> list[Figure]:
    """The figures of the module docstring."""
    revisions = 20_000 if quick else 200_000
    path = str(history(revisions))
    return [
        *stack(path, rounds=3 if quick else 7, requests=50 if quick else 200),
        first_screen(path, starts=1 if quick else 3),
        *slider(path, revisions, steps=50 if quick else 200),
        *filtered(path, revisions, asks=10 if quick else 40),
        live(commits=10 if quick else 30),
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    for figure in run(quick="--quick" in sys.argv):
        mark = "ok  " if figure.ok else "MISS"
        theirs = "" if figure.theirs is None else f", theirs {figure.theirs:,.4f}"
        extra = ", ".join(
            f"{k} {v:,.4f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in figure.extra.items()
        )
        print(
            f"{mark} {figure.workload}: {figure.ours:,.4f} {figure.unit}{theirs} "
            f"({extra})"
        )
