"""Several processes incrementing one stored counter through the public API.

Each process opens the repository, takes the timeline ``counter`` and loops
``timeline.update(lambda n: n + 1)``; a ``ConflictError`` (another process
committed first) is counted and retried. Afterwards: every attempt is either a
commit or a ConflictError, every commit a process saw return is in storage with
the value it wrote, and the counter equals the number of commits (a lost update
would leave it short). The broken variant, a journal that reports a conflict as
done, must be caught by the same checks.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import statetrail
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.pg import fresh_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]

WRITER = r"""
import collections, json, sys
import statetrail
from statetrail import ConflictError
from statetrail.storage._journal import StoreJournal

target, tag, count, broken = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
options = json.loads(sys.argv[5])

if broken == "broken":
    # The teeth check: a journal that swallows conflicts (a silent overwrite).
    _record = StoreJournal.record

    def record(self, timeline, revision):
        try:
            _record(self, timeline, revision)
        except ConflictError:
            pass

    StoreJournal.record = record

repo = statetrail.open(target, **options)
counter = repo.timeline("counter", 0)
print("ready", flush=True)
sys.stdin.readline()  # go: every process starts together
exceptions = collections.Counter()
committed, attempts = [], 0
while len(committed) < count and attempts < 200 * count:
    attempts += 1
    try:
        with statetrail.context(author=tag):
            rev = counter.update(lambda n: n + 1)
        committed.append([rev.number, rev.value])
    except Exception as exc:
        exceptions[type(exc).__name__] += 1
repo.close()
print(json.dumps({"tag": tag, "attempts": attempts, "committed": committed,
                  "exceptions": exceptions}))
"""


def race(
    target: str,
    processes: int,
    per_process: int,
    *,
    broken: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the writers on ``target`` and check what storage holds afterwards."""
    with statetrail.open(target, **(options or {})) as repo:
        repo.timeline("counter", 0)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    start = time.monotonic()
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                target,
                f"p{i}",
                str(per_process),
                "broken" if broken else "sound",
                json.dumps(options or {}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for i in range(processes)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    reports = []
    for writer in writers:
        out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0
        reports.append(json.loads(out.strip().splitlines()[-1]))
    seconds = time.monotonic() - start

    exceptions: Counter[str] = Counter()
    claimed: Counter[int] = Counter()
    attempts = commits = 0
    for report in reports:
        exceptions.update(report["exceptions"])
        attempts += report["attempts"]
        commits += len(report["committed"])
        claimed.update(number for number, _ in report["committed"])
    with statetrail.open(target, **(options or {})) as repo:
        stored = {
            r.number: (r.value, r.author) for r in repo.timeline("counter").revisions()
        }
        verified = repo.verify("counter")["counter"]
    missing = lost = 0
    for report in reports:
        for number, value in report["committed"]:
            if stored.get(number) != (value, report["tag"]):
                missing += 1
    final = max(value for value, _ in stored.values())
    lost = commits - final
    return {
        "processes": processes,
        "attempts": attempts,
        "commits": commits,
        "conflicts": exceptions.pop("ConflictError", 0),
        "other_exceptions": dict(exceptions),
        "claimed_twice": sum(1 for n in claimed.values() if n > 1),
        "commits_missing_from_storage": missing,
        "lost_updates": lost,
        "stored_revisions": len(stored),
        "verified": verified,
        "seconds": round(seconds, 2),
    }


def check(figures: dict[str, Any]) -> list[str]:
    """What the checker reports wrong (empty when the run was sound)."""
    wrong = []
    if figures["attempts"] != figures["commits"] + figures["conflicts"]:
        wrong.append("an attempt was neither committed nor a ConflictError")
    if figures["other_exceptions"]:
        wrong.append(f"other exceptions: {figures['other_exceptions']}")
    if figures["claimed_twice"]:
        wrong.append(f"{figures['claimed_twice']} revision numbers claimed twice")
    if figures["commits_missing_from_storage"]:
        wrong.append(f"{figures['commits_missing_from_storage']} commits missing")
    if figures["lost_updates"]:
        wrong.append(f"{figures['lost_updates']} lost updates")
    if figures["stored_revisions"] != figures["commits"] + 1:
        wrong.append("storage holds revisions nobody committed")
    return wrong


def test_four_processes_on_one_sqlite_timeline(tmp_path: pathlib.Path) -> None:
    """4 processes, one counter in one SQLite file: no write silently lost."""
    per_process = scaled(150)
    figures = race(str(tmp_path / "counter.db"), 4, per_process)
    record("C5-repository", **figures)
    assert check(figures) == []
    assert figures["commits"] == 4 * per_process
    assert figures["conflicts"] > 0, "the processes never raced: no evidence"


def test_the_checker_catches_swallowed_conflicts(tmp_path: pathlib.Path) -> None:
    """Teeth: with conflicts swallowed, the same checks report lost writes."""
    figures = race(str(tmp_path / "counter.db"), 4, 60, broken=True)
    record("C5-repository-teeth", **figures)
    assert check(figures) != []


def test_eight_processes_on_one_postgresql_timeline() -> None:
    """8 processes, one counter in one PostgreSQL schema: no write silently lost."""
    per_process = scaled(60)
    with fresh_schema() as schema:
        figures = race(schema.url, 8, per_process, options={"schema": schema.name})
    record("C6-repository", **figures)
    assert check(figures) == []
    assert figures["commits"] == 8 * per_process
    assert figures["conflicts"] > 0, "the processes never raced: no evidence"


def test_the_checker_catches_swallowed_conflicts_on_postgresql() -> None:
    """Teeth on PostgreSQL: swallowed conflicts are reported as lost writes."""
    with fresh_schema() as schema:
        figures = race(schema.url, 8, 20, broken=True, options={"schema": schema.name})
    record("C6-repository-teeth", **figures)
    assert check(figures) != []
