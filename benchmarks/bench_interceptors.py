"""Issue 14: what ``Encrypt`` costs a durable write.

``Store.set`` of a random secret string at a random key of a 13-leaf state on
SQLite with ``durability="full"`` (each write fsynced), with
``interceptors=[Encrypt(key)]`` against the same store without it, in paired
rounds (each round times both back to back, the order alternating), the
garbage collector on. The target: within 15% of the plain write. Also
reported: ``Compress`` then ``Encrypt`` on the same write, and the seal's own
CPU time per value (Fernet on the codec's bytes).
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import statetrail
from _harness import Figure, paired, spread
from statetrail.interceptors import Compress, Encrypt
from statetrail.storage import codec

ISSUE = 14

STATE = {
    "counts": {f"bin{i}": "" for i in range(10)},
    "sorted": 0,
    "owner": "bench",
    "open": True,
}


def _writer(
    store: statetrail.Store, paths: Iterator[str], values: Iterator[str]
) -> Callable[[], object]:
    def write() -> object:
        return store.set(next(paths), next(values))

    return write


def _measure(
    scratch: Path, seal: list[object], quick: bool
) -> tuple[float, float, float]:
    """(sealed s/op, plain s/op, plain/sealed median ratio)."""
    rounds, number = (9, 30) if quick else (21, 100)
    total = rounds * number + 10
    keys = spread([f"counts.bin{i}" for i in range(10)], total * 2, seed=14)
    words = [secrets.token_hex(16) for _ in range(total * 2)]  # never repeated
    paths, values = iter(keys), iter(words)
    tag = "-".join(type(s).__name__ for s in seal)
    with (
        statetrail.open(scratch / f"{tag}-sealed.db", durability="full") as sealed_repo,
        statetrail.open(scratch / f"{tag}-plain.db", durability="full") as plain_repo,
    ):
        sealed = sealed_repo.store("bench", STATE, interceptors=seal)  # type: ignore[arg-type]
        plain = plain_repo.store("bench", STATE)
        ours = _writer(sealed, paths, values)
        theirs = _writer(plain, paths, values)
        for _ in range(5):  # warm both files and caches
            ours()
            theirs()
        return paired(lambda: (ours, theirs), number=number, rounds=rounds)


def _seal_cpu(enc: Encrypt, quick: bool) -> float:
    """CPU seconds per sealed value (a 32-character string)."""
    n = 2_000 if quick else 20_000
    values = [secrets.token_hex(16) for _ in range(n)]
    started = time.process_time()
    for value in values:
        codec.to_json(value, seal=(enc,))
    return (time.process_time() - started) / n


def run(quick: bool) -> list[Figure]:
    """Encrypt (and Compress + Encrypt) on a durable Store.set, against none."""
    enc = Encrypt(Encrypt.generate_key())
    figures = []
    with tempfile.TemporaryDirectory() as scratch:
        for seal, name in (([enc], "Encrypt"), ([Compress(), enc], "Compress+Encrypt")):
            ours, theirs, ratio = _measure(Path(scratch), list(seal), quick)
            figures.append(
                Figure(
                    issue=ISSUE,
                    workload=f"Store.set, SQLite durability=full, with {name}",
                    ours=ours,
                    peer="the same write without it",
                    theirs=theirs,
                    paired_ratio=ratio,
                    target="within 15% of the plain write (ratio >= 0.87)",
                    ok=ratio >= 1 / 1.15,
                    extra={"seal_cpu_per_value_s": _seal_cpu(enc, quick)},
                )
            )
    return figures


if __name__ == "__main__":
    for figure in run(quick=False):
        print(
            f"{figure.workload}: {figure.ours * 1e6:.0f} us against"
            f" {(figure.theirs or 0) * 1e6:.0f} us (ratio {figure.ratio:.2f});"
            f" seal {figure.extra['seal_cpu_per_value_s'] * 1e6:.1f} us CPU/value"
        )
