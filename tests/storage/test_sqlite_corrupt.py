"""Damaged SQLite files (RELIABILITY S4, the method of SQLite's own section 4.2).

A 200-revision database written through a repository is damaged outside
SQLite: a random page overwritten with random bytes, zeros or a copy of another
page, or the file cut short. Each copy is verified, then every backend method is
called on it. Each must work or raise StorageError (CorruptHistoryError when the
damage is found); no other exception, no crash; and no copy whose content
changed may pass unnoticed (the hash chain, issue 9).
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import statetrail
from statetrail.errors import CorruptHistoryError, StorageError
from statetrail.repository import Repository
from statetrail.storage.base import Backend, Heads
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.contract import row
from tests.storage.test_bitflip import LIVE, byte_map

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
    with statetrail.open(path) as repo:
        store = repo.store("t", {"n": 0})
        for n in range(1, 200):
            with statetrail.context(comment="x" * (n % 50)):
                store.set("n", n)
        repo.timeline("t").checkout(150)
        score = repo.watch("u", 0)
        for n in range(1, 30):
            score.set(n)


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
    if kind == "cell":  # inside a cell: the page stays well formed
        live = [i for i, k in enumerate(byte_map(original)) if k == LIVE]
        at = rng.choice(live)
        return original[:at] + rng.randbytes(4) + original[at + 4 :]
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
    tmp_path: Path,
    trials: int,
    backend_class: type[SQLiteBackend] = SQLiteBackend,
    verify: bool = True,
    kinds: list[str] | None = None,
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
        chosen = kinds or KINDS
        path.write_bytes(damage(original, rng, chosen[trial % len(chosen)]))
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
            if verify:
                try:
                    Repository(backend).verify()
                except StorageError:
                    found = True
                except Exception as exc:  # what this test exists to catch
                    foreign[f"{type(exc).__name__}: {exc}"] += 1
            for call in CALLS if verify else CALLS[1:]:
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
            outcomes["altered, not found"] += 1
    return foreign, outcomes


KINDS = ["random", "zeros", "misplaced", "truncate", "cell"]


class TestDamagedFiles:
    def test_damage_raises_storage_errors_only(self, tmp_path: Path) -> None:
        """300 damaged copies (100 in make test): every call works or raises
        StorageError;
        other exceptions = 0. What became of the copies is reported."""
        trials = scaled(300, ci=100)
        foreign, outcomes = damage_trials(tmp_path, trials)
        record(
            "S4-sqlite",
            damaged_files=trials,
            kinds=KINDS,
            other_exceptions=sum(foreign.values()),
            altered_not_found=outcomes["altered, not found"],
            outcomes=dict(outcomes),
        )
        assert foreign == Counter()
        assert outcomes["altered, not found"] == 0, outcomes
        refused = sum(n for k, n in outcomes.items() if k.startswith("refused"))
        assert outcomes["damage found"] + refused > trials // 2

    def test_the_checker_catches_untranslated_errors(self, tmp_path: Path) -> None:
        """Teeth: with driver errors left untranslated, the same run counts
        foreign exceptions."""
        foreign, _ = damage_trials(tmp_path, scaled(40), Untranslated)
        record("S4-sqlite-teeth", other_exceptions=sum(foreign.values()))
        assert sum(foreign.values()) > 0

    def test_the_altered_count_has_teeth(self, tmp_path: Path) -> None:
        """Teeth: without verify and integrity_check (reads alone), bytes
        changed inside cells go unnoticed, and the same run counts them."""
        _, outcomes = damage_trials(tmp_path, scaled(60), verify=False, kinds=["cell"])
        record("S4-sqlite-altered-teeth", altered=outcomes["altered, not found"])
        assert outcomes["altered, not found"] > 0
