"""Issue 11: the path and time indexes in storage, what they answer and cost.

Reads, on the 200,000-revision SQLite timeline of ``bench_cli`` (a 1,000-entry
state, one random leaf changed per revision; ``--quick``: 20,000), each through
:class:`~statetrail.storage._reader.StoredTimeline` opened once, keys drawn at
random (``_harness.spread``):

- blame of a leaf (``/kN/n``): the newest revision on the line that changed it
  (target ≤ 20 ms);
- the path history of a leaf: every revision on the line that changed it
  (about 200 of 200,000), each row read and checked (target ≤ 20 ms);
- the path history of an entry (``/kN``, its leaves below it);
- ``number_at``: the revision recorded last at or before a random time;
- opening the reader (end record, heads, forks), paid once per process.

The schema-3 file is copied and migrated once (migration 4 indexes its rows in
one statement): its time is reported when it runs.

Writes, in one run, schema 4 (the indexes) against schema 3 (none), paired
rounds: durable single-leaf ``Store.set`` (``synchronous=FULL``) on a 10-entry
state (as bench_storage's) and on a 1,000-entry state with random keys (the
index's pages scattered; at 10,000 entries the checkpoint every 64 writes
dominates both sides), and batched ``Store.set`` of the 10-entry state in CPU
time (``time.process_time``).

    python benchmarks/bench_index.py [--quick]
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import count, cycle
from pathlib import Path

from _harness import Figure, paired, per_call, spread
from bench_cli import NAME, history
from statetrail.repository import Repository
from statetrail.storage._reader import StoredTimeline
from statetrail.storage._sqlite_schema import MIGRATIONS, MIGRATIONS_3
from statetrail.storage.sqlite import SQLiteBackend

ISSUE = 11
_files = count()


def indexed_history(revisions: int) -> tuple[Path, float | None]:
    """The bench_cli history at schema 4, and the migration's seconds if it ran.

    Built from the cached schema-3 file when there is one (copied, then opened
    by a writer: migration 4), else built afresh.
    """
    folder = Path(tempfile.gettempdir()) / "statetrail-bench-index"
    folder.mkdir(exist_ok=True)
    path = folder / f"schema{len(MIGRATIONS)}-{revisions}.db"
    if path.exists():
        return path, None
    old = Path(tempfile.gettempdir()) / "statetrail-bench-cli"
    found = sorted(old.glob(f"*-schema3-{revisions}.db"))
    if not found:
        built = history(revisions)  # at this schema: nothing to migrate
        shutil.copy(built, path)
        return path, None
    partial = path.with_suffix(".partial")
    shutil.copy(found[-1], partial)
    started = time.perf_counter()
    SQLiteBackend(partial).close()
    took = time.perf_counter() - started
    partial.rename(path)
    return path, took


def _ms(seconds: float) -> float:
    return seconds * 1000


def reads(quick: bool) -> list[Figure]:
    """Blame, path history and number_at on the long history."""
    revisions = 20_000 if quick else 200_000
    path, migrated = indexed_history(revisions)
    figures: list[Figure] = []
    if migrated is not None:
        figures.append(
            Figure(
                ISSUE,
                f"migration 4 of a {revisions:,}-revision SQLite file (index its "
                "rows, build the time index)",
                migrated,
                "reported",
                True,
                unit="s",
            )
        )
    backend = SQLiteBackend(path, read_only=True)
    opened: list[float] = []
    for _ in range(5):
        started = time.perf_counter()
        stored = StoredTimeline(backend, NAME)
        stored.spans(stored.heads.cursor)
        opened.append(time.perf_counter() - started)
    tip = stored.heads.cursor
    keys = cycle(spread(list(range(1_000)), 1_000, 7))

    def blame() -> None:
        next(stored.touching(f"/k{next(keys)}/n", tip, page=8))

    def leaf_history() -> None:
        rows = list(stored.touching(f"/k{next(keys)}/n", tip, page=256))
        assert len(rows) > 1

    def entry_history() -> None:
        list(stored.touching(f"/k{next(keys)}", tip, page=256))

    first = backend.row(NAME, 0)
    last = backend.row(NAME, tip)
    assert first is not None
    assert last is not None
    draw = random.Random(3)
    times = [draw.randrange(first.time_ns, last.time_ns) for _ in range(2_000)]
    moments = cycle(times)

    def number_at() -> None:
        stored.number_at(next(moments))

    cases: list[tuple[str, Callable[[], None], int, float | None]] = [
        ("blame of a random leaf", blame, 300, 0.020),
        ("path history of a random leaf (its ~200 revisions)", leaf_history, 30, 0.020),
        ("path history of a random entry (its leaves too)", entry_history, 30, None),
        ("number_at a random time", number_at, 1_000, None),
    ]
    for label, fn, number, target in cases:
        seconds = statistics.median(per_call(fn, number) for _ in range(5))
        figures.append(
            Figure(
                ISSUE,
                f"{label}, {revisions:,} revisions, SQLite path index",
                seconds,
                "<= 20 ms" if target else "reported",
                target is None or seconds <= target,
                extra={"ms": _ms(seconds)},
            )
        )
    figures.append(
        Figure(
            ISSUE,
            f"open a StoredTimeline and its line's spans (forks), {revisions:,} "
            "revisions",
            statistics.median(opened),
            "reported",
            True,
            extra={"ms": _ms(statistics.median(opened))},
        )
    )
    backend.close()
    return figures


# -- what the indexes cost the writes ------------------------------------------------


def _repository(path: Path, indexed: bool, **options: object) -> Repository:
    migrations = MIGRATIONS if indexed else MIGRATIONS_3
    return Repository(SQLiteBackend(path, _migrations=migrations, **options))  # type: ignore[arg-type]


def _writer(repo: Repository, entries: int, seed: int) -> Callable[[], object]:
    """Store.set of one leaf of ``entries`` entries, keys drawn at random."""
    store = repo.store("board", {f"k{i}": {"n": 0} for i in range(entries)})
    keys = cycle(spread([f"k{i}.n" for i in range(entries)], entries, seed))
    values = count(1)
    return lambda: store.set(next(keys), next(values))


def durable_cost(scratch: Path, entries: int, quick: bool) -> Figure:
    """Durable Store.set, schema 4 against schema 3, paired rounds."""
    opened: list[Repository] = []
    seeds = count()

    def fresh() -> tuple[Callable[[], object], Callable[[], object]]:
        for repo in opened:
            repo.close()
        opened.clear()
        seed = next(seeds)
        four = _repository(scratch / f"four{next(_files)}.db", True)
        three = _repository(scratch / f"three{next(_files)}.db", False)
        opened.extend([four, three])
        return _writer(four, entries, seed), _writer(three, entries, seed)

    t_four, t_three, ratio = paired(
        fresh, number=40 if quick else 300, rounds=3 if quick else 21
    )
    for repo in opened:
        repo.close()
    return Figure(
        ISSUE,
        f"durable Store.set (synchronous=FULL), {entries:,}-entry state, random "
        "keys: schema 4 (indexes) vs schema 3",
        t_four,
        ">= 0.9x schema 3 (the issue: write figures keep their targets)",
        ratio >= 0.9,
        peer="the same writes at schema 3 (no path or time index)",
        theirs=t_three,
        paired_ratio=ratio,
        extra={"writes_per_s": 1 / t_four, "schema_3_writes_per_s": 1 / t_three},
    )


def batched_cost(scratch: Path, quick: bool) -> Figure:
    """Batched Store.set in CPU time, schema 4 against schema 3, alternating."""
    writes = 2_000 if quick else 20_000
    cpu: dict[bool, list[float]] = {True: [], False: []}
    wall: dict[bool, list[float]] = {True: [], False: []}
    for i in range(3 if quick else 7):
        for indexed in (True, False) if i % 2 else (False, True):
            repo = _repository(
                scratch / f"batched{next(_files)}.db", indexed, durability="batched"
            )
            write = _writer(repo, 10, i)
            repo.flush()
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(writes):
                write()
            repo.flush()
            cpu[indexed].append(time.process_time() - cpu_started)
            wall[indexed].append(time.perf_counter() - started)
            repo.close()
    rate = writes / statistics.median(wall[True])
    ratio = statistics.median(cpu[False]) / statistics.median(cpu[True])
    return Figure(
        ISSUE,
        f'{writes:,} Store.set with durability="batched", 10 entries (as '
        "bench_storage), flush included: schema 4 vs schema 3 in CPU time",
        rate,
        ">= 0.9x schema 3's CPU rate (bench_storage holds the 20,000/s target)",
        ratio >= 0.9,
        unit="writes/s",
        peer="the same writes at schema 3, CPU time",
        paired_ratio=ratio,
        extra={
            "cpu_s_schema_4": statistics.median(cpu[True]),
            "cpu_s_schema_3": statistics.median(cpu[False]),
            "schema_3_writes_per_s": writes / statistics.median(wall[False]),
        },
    )


def run(quick: bool) -> list[Figure]:
    """The figures of the module docstring."""
    figures = reads(quick)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as name:
        scratch = Path(name)
        figures.append(durable_cost(scratch, 10, quick))
        figures.append(durable_cost(scratch, 1_000, quick))
        figures.append(batched_cost(scratch, quick))
    return figures


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    for figure in run(quick="--quick" in sys.argv):
        mark = "ok  " if figure.ok else "MISS"
        ratio = "" if figure.ratio is None else f", ratio {figure.ratio:.3f}"
        extra = ", ".join(
            f"{k} {v:,.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in figure.extra.items()
        )
        print(
            f"{mark} {figure.workload}: {figure.ours:,.6f} {figure.unit}{ratio} "
            f"({extra})",
            flush=True,
        )
