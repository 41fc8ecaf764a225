"""Damaged SQLite files (RELIABILITY S4, the method of SQLite's own section 4.2).

A 200-revision database is damaged outside SQLite: a random page overwritten
with random bytes, zeros or a copy of another page, or the file cut short. Every
backend method is then called on it. Each must work or raise StorageError
(CorruptHistoryError when the damage is found); no other exception, no crash.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from statetrail.errors import CorruptHistoryError, StorageError
from statetrail.storage.base import Backend, Heads
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import row

CALLS: list[Callable[[SQLiteBackend], object]] = [
    lambda b: b.integrity_check(),
    lambda b: b.timelines(),
    lambda b: b.read("t"),
    lambda b: b.read("u", after=10, upto=20),
    lambda b: b.row("t", 150),
    lambda b: b.latest("t"),
    lambda b: b.heads("t"),
    lambda b: b.checkpoints("t"),
    lambda b: b.checkpoint("t", 128),
    lambda b: b.append([row(200)]),
    lambda b: b.save_heads("t", Heads("main", 200, {"main": 200})),
]


def healthy(path: Path) -> None:
    """200 revisions over two timelines, with heads and checkpoints."""
    with SQLiteBackend(path) as backend:
        for n in range(200):
            backend.append([row(n, timeline="t", comment="x" * (n % 50))])
        for n in range(0, 200, 64):
            backend.put_checkpoint("t", n, f'{{"n": {n}}}', f"h{n}")
        for n in range(30):
            backend.append([row(n, timeline="u")])
        backend.save_heads("t", Heads("main", 199, {"main": 199}))


def snapshot(backend: Backend) -> tuple[object, ...]:
    return (
        backend.read("t"),
        backend.read("u"),
        backend.heads("t"),
        [backend.checkpoint("t", n) for n in backend.checkpoints("t")],
    )


def damage(original: bytes, rng: random.Random, kind: str) -> bytes:
    """``original`` with one page overwritten, or cut short."""
    page_size = int.from_bytes(original[16:18], "big")
    pages = len(original) // page_size
    if kind == "truncate":
        return original[: rng.randrange(1, len(original))]
    page = rng.randrange(pages)
    if kind == "random":
        new = rng.randbytes(page_size)
    elif kind == "zeros":
        new = bytes(page_size)
    else:  # another page's content in the wrong place
        other = rng.randrange(pages)
        new = original[other * page_size : (other + 1) * page_size]
    return original[: page * page_size] + new + original[(page + 1) * page_size :]


class Untranslated(SQLiteBackend):
    """The broken variant for the teeth check: driver errors escape as they are."""

    def _translate(self, exc: sqlite3.Error) -> StorageError:
        raise exc


def damage_trials(
    tmp_path: Path, trials: int, backend_class: type[SQLiteBackend] = SQLiteBackend
) -> tuple[Counter[str], Counter[str]]:
    """Damage ``trials`` copies and call everything on each; return the
    exceptions other than StorageError, and what became of each copy."""
    source = tmp_path / "healthy.db"
    healthy(source)
    original = source.read_bytes()
    with SQLiteBackend(source) as backend:
        expected = snapshot(backend)
    rng = random.Random(4)
    foreign: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for trial in range(trials):
        path = tmp_path / f"damaged{trial}.db"
        path.write_bytes(damage(original, rng, KINDS[trial % len(KINDS)]))
        try:
            backend = backend_class(path)
        except StorageError as exc:
            outcomes[f"refused at open ({type(exc).__name__})"] += 1
            continue
        except Exception as exc:  # what this test exists to catch
            foreign[f"{type(exc).__name__}: {exc}"] += 1
            continue
        found = False
        with backend:
            try:
                intact = snapshot(backend) == expected
            except Exception:  # counted by the calls below
                intact = False
            for call in CALLS:
                try:
                    call(backend)
                except CorruptHistoryError:
                    found = True
                except StorageError:
                    pass
                except Exception as exc:  # what this test exists to catch
                    foreign[f"{type(exc).__name__}: {exc}"] += 1
        if found:
            outcomes["damage found"] += 1
        elif intact:
            outcomes["read intact (damage in unused space)"] += 1
        else:
            outcomes["altered, not found by SQLite"] += 1
    return foreign, outcomes


KINDS = ["random", "zeros", "misplaced", "truncate"]


class TestDamagedFiles:
    def test_damage_raises_storage_errors_only(self, tmp_path: Path) -> None:
        """Hundreds of damaged copies: every call works or raises StorageError;
        other exceptions = 0. What became of the copies is reported."""
        trials = scaled(300)
        foreign, outcomes = damage_trials(tmp_path, trials)
        record(
            "S4-sqlite",
            damaged_files=trials,
            kinds=KINDS,
            other_exceptions=sum(foreign.values()),
            outcomes=dict(outcomes),
        )
        assert foreign == Counter()
        refused = sum(n for k, n in outcomes.items() if k.startswith("refused"))
        assert outcomes["damage found"] + refused > trials // 2

    def test_the_checker_catches_untranslated_errors(self, tmp_path: Path) -> None:
        """Teeth: with driver errors left untranslated, the same run counts
        foreign exceptions."""
        foreign, _ = damage_trials(tmp_path, scaled(40), Untranslated)
        record("S4-sqlite-teeth", other_exceptions=sum(foreign.values()))
        assert sum(foreign.values()) > 0
