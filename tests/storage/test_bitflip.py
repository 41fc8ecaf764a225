"""Bit-flip fuzz of SQLite files (issue 9; RELIABILITY S4).

A history written through a repository is vacuumed (no free pages), then one bit
of a copy is flipped at a time: half the flips in live bytes (b-tree page
headers, cell pointers and cells), half anywhere in the file. Each copy is
opened and verified; when verify passes, everything a reader can get (every
revision's value and metadata, branches, cursor, blame) is compared with the
original. A flip must be detected or change nothing: *silently altered* copies
and raw (non-statetrail) exceptions must both be 0. The teeth: with no verify,
and the stored rows read straight from the backend, the same run counts silent
alterations.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path

import statetrail
from statetrail.errors import StatetrailError
from statetrail.repository import Repository
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.tamper import EVERY, build, export

Verifier = Callable[[Repository], object]

UNUSED, LIVE, HEADER = 0, 1, 2


def healthy(path: Path) -> None:
    """The reference history, vacuumed: every page in use."""
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        build(repo)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def byte_map(data: bytes) -> bytearray:
    """What each byte of a database is: UNUSED, LIVE or the file HEADER.

    Unused: between a b-tree page's cell pointers and its cell content, in
    freeblocks, and in a pointer-map page (files with auto_vacuum, which new
    files have for trimming) past the entries of the pages the file has.
    Everything else in a page is live.
    """
    size = int.from_bytes(data[16:18], "big")
    size = 65536 if size == 1 else size
    kinds = bytearray([LIVE]) * len(data)
    kinds[:100] = bytes([HEADER]) * 100
    pages = len(data) // size
    maps = set()
    if int.from_bytes(data[52:56], "big"):  # auto_vacuum: pointer-map pages
        entries = size // 5  # (usable size, as no page reserves bytes)
        ptrmap = 2
        while ptrmap <= pages:
            base = (ptrmap - 1) * size
            maps.add(base)
            used = 5 * max(0, min(entries, pages - ptrmap))
            kinds[base + used : base + size] = bytes(size - used)
            ptrmap += entries + 1
    for base in range(0, len(data), size):
        if base in maps:
            continue
        top = base + (100 if base == 0 else 0)
        kind = data[top]
        if kind not in (2, 5, 10, 13):
            continue  # an overflow page: all live
        cells = int.from_bytes(data[top + 3 : top + 5], "big")
        start = int.from_bytes(data[top + 5 : top + 7], "big") or 65536
        pointers = top + (12 if kind in (2, 5) else 8) + 2 * cells
        kinds[pointers : base + start] = bytes(base + start - pointers)
        free = int.from_bytes(data[top + 1 : top + 3], "big")
        while free:
            at = base + free
            length = int.from_bytes(data[at + 2 : at + 4], "big")
            kinds[at : at + length] = bytes(length)
            free = int.from_bytes(data[at : at + 2], "big")
    return kinds


def verified(repo: Repository) -> object:
    """The verify under test."""
    return repo.verify()


def unchecked(repo: Repository) -> object:
    """The broken variant (teeth): no verify at all."""
    return None


def stored(repo: Repository) -> object:
    """Everything stored, read straight from the backend (no chain checked)."""
    backend = repo.backend
    return [
        (
            backend.read(name),
            backend.heads(name),
            [backend.checkpoint(name, n) for n in backend.checkpoints(name)],
        )
        for name in ("job", "score")
    ]


def flip_trials(
    tmp_path: Path,
    flips: int,
    verify: Verifier,
    seed: int = 9,
    read: Callable[[Repository], object] = export,
) -> tuple[Counter[str], Counter[str], int]:
    """Flip ``flips`` bits one copy at a time; return the outcomes, the raw
    exceptions met, and how many flips landed in live bytes."""
    source = tmp_path / "healthy.db"
    healthy(source)
    data = source.read_bytes()
    with statetrail.open(source) as repo:
        original = read(repo)
    kinds = byte_map(data)
    live = [i for i, k in enumerate(kinds) if k == LIVE]
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    in_live = 0
    path = tmp_path / "flipped.db"
    for trial in range(flips):
        position = rng.choice(live) if trial % 2 == 0 else rng.randrange(len(data))
        in_live += kinds[position] == LIVE
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        for extra in ("-wal", "-shm"):
            with suppress(FileNotFoundError):
                Path(str(path) + extra).unlink()
        path.write_bytes(damaged)
        where = ("unused", "live", "header")[kinds[position]]
        try:
            outcome = _one(path, original, verify, read)
        except Exception as exc:  # what this test exists to catch
            raw[f"{type(exc).__name__}: {exc}"] += 1
            outcome = "raw exception"
        outcomes[f"{outcome} ({where})"] += 1
    return outcomes, raw, in_live


def _one(
    path: Path,
    original: object,
    verify: Verifier,
    read: Callable[[Repository], object],
) -> str:
    try:
        with statetrail.open(path) as repo:
            try:
                verify(repo)
            except StatetrailError:
                return "detected"
            try:
                got = read(repo)
            except StatetrailError:
                return "detected on reading"
            return "harmless" if got == original else "silently altered"
    except StatetrailError:
        return "detected"


def _total(outcomes: Counter[str], prefix: str) -> int:
    return sum(n for k, n in outcomes.items() if k.startswith(prefix))


class TestBitFlips:
    def test_every_flip_is_detected_or_harmless(self, tmp_path: Path) -> None:
        """At least 500 flips (scale 1), at least half in live bytes: silently
        altered = 0, raw exceptions = 0; harmless flips land in unused bytes or
        in the database header's bookkeeping."""
        flips = scaled(500)
        outcomes, raw, in_live = flip_trials(tmp_path, flips, verified)
        silent = _total(outcomes, "silently altered")
        record(
            "S4-sqlite-bitflip",
            files_damaged=flips,
            flips_in_live_bytes=in_live,
            detected=_total(outcomes, "detected"),
            harmless=_total(outcomes, "harmless"),
            silently_altered=silent,
            raw_exceptions=sum(raw.values()),
            outcomes=dict(outcomes),
        )
        assert in_live >= flips // 2
        assert raw == Counter()
        assert silent == 0, outcomes
        assert outcomes["harmless (live)"] == 0, outcomes

    def test_the_checker_has_teeth(self, tmp_path: Path) -> None:
        """Teeth: without verify, reading what is stored straight from the
        backend (no chain checked), the same run counts silent alterations."""
        outcomes, _, _ = flip_trials(
            tmp_path, scaled(120), unchecked, seed=3, read=stored
        )
        silent = _total(outcomes, "silently altered")
        record("S4-sqlite-bitflip-teeth", silently_altered=silent)
        assert silent > 0


def damage_index(path: Path) -> None:
    """Empty the primary-key index of ``revisions`` (a leaf page): every row is
    still in the table, and no lookup by number finds it."""
    with closing(sqlite3.connect(path)) as conn:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master"
            " WHERE name = 'sqlite_autoindex_revisions_1'"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    top = (root - 1) * size
    assert data[top] == 10, "the index must fit one leaf page"
    data[top + 1 : top + 8] = bytes([0, 0, 0, 0]) + size.to_bytes(2, "big")[:2] + b"\0"
    path.write_bytes(bytes(data))
