"""Range tombstones: what a trim of stored history leaves, and how it is checked.

A trim removes the oldest revisions of a timeline, ``first..last``, from storage
(retention, ``repo.trim()``, ``statetrail trim``). It leaves one
:class:`~statetrail.storage.base.RangeTombstone` per trim: which revisions went,
when, why, by whom, and the chain of revision ``last`` (the *chain at the cut*).
Format 2 of the chain is linear (``_integrity``), so the first revision kept
links to that chain as it linked to the row that is gone: every kept row, the
end record, the heads and any anchor taken after the trim still verify.

Pure functions; the trim itself is in ``_trim``, the readers (opening,
``value_at``, ``verify``) call :func:`cut_of`.

**What a tombstone is bound to.** Its *seal* covers the timeline's name, the
range, time, reason, author, the chain at the cut and the digests of the
checkpoints of the kept revisions whose parent was trimmed (the revision just
after the cut, and a branch that started below it): those checkpoints alone
hold their values from then on, so one rewritten with its digest recomputed is
found, as for an erased revision's children. Editing a tombstone breaks its
seal; changing the chain at the cut (to hide rows deleted beyond it) breaks the
first kept row's link; deleting a tombstone leaves the kept rows without a
chain to link to.

**What it cannot prove.** As with erasure tombstones, a rewrite that recomputes
a seal (someone who can write the file and runs this code) can extend a trim
over more revisions, and the revisions after it still verify: an anchor taken
*before* such a trim names a revision that is gone, and :func:`anchor_problem`
says so as its own problem, never as a silent pass.

Tombstones are contiguous: the oldest starts at revision 0 and each one starts
where the one before ended. Automatic trims with the same reason and author
(retention running as writes happen) extend the newest tombstone in place, so
they do not pile up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from statetrail.storage import codec
from statetrail.storage.base import Problem, RangeTombstone

__all__ = [
    "Cut",
    "anchor_problem",
    "cut_of",
    "range_problems",
    "range_seal",
    "range_tombstone",
    "sealed_checkpoints",
]


class Cut(NamedTuple):
    """Where a timeline's stored history now starts, as its tombstones say.

    Attributes:
        last: The newest revision trimmed (the first kept is ``last + 1``).
        chain: The chain of revision ``last``, which ``last + 1`` links to.
        checkpoints: Each kept revision whose parent was trimmed, with the
            digest its checkpoint must have.
        tombstones: Every tombstone, oldest first.
    """

    last: int
    chain: str
    checkpoints: dict[int, str]
    tombstones: tuple[RangeTombstone, ...]


def range_seal(timeline: str, tomb: RangeTombstone) -> str:
    """The seal of ``tomb`` (its own ``seal`` field left out)."""
    body = [
        timeline,
        tomb.first,
        tomb.last,
        tomb.time_ns,
        tomb.reason,
        tomb.author,
        tomb.chain,
        tomb.checkpoints,
    ]
    return hashlib.sha256(b"st2t" + codec.canonical(body)).hexdigest()


def range_tombstone(
    timeline: str,
    first: int,
    last: int,
    time_ns: int,
    reason: str,
    author: str | None,
    chain: str,
    checkpoints: dict[int, str],
) -> RangeTombstone:
    """A sealed tombstone for revisions ``first..last`` of ``timeline``."""
    text = json.dumps({str(n): d for n, d in checkpoints.items()}, sort_keys=True)
    tomb = RangeTombstone(first, last, time_ns, reason, author, chain, text, "")
    return tomb._replace(seal=range_seal(timeline, tomb))


def sealed_checkpoints(tomb: RangeTombstone) -> dict[int, str] | None:
    """The checkpoint digests ``tomb`` lists, or ``None`` when malformed."""
    try:
        data = json.loads(tomb.checkpoints)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    out: dict[int, str] = {}
    for key, digest in data.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 18):
            return None
        if type(digest) is not str:
            return None
        out[int(key)] = digest
    return out


def _shape_problem(tomb: RangeTombstone) -> str | None:
    fields = (tomb.reason, tomb.chain, tomb.checkpoints, tomb.seal)
    if (
        any(type(n) is not int for n in (tomb.first, tomb.last, tomb.time_ns))
        or not all(type(f) is str for f in fields)
        or not (tomb.author is None or type(tomb.author) is str)
    ):
        return "has a field of the wrong type (altered)"
    if not 0 <= tomb.first <= tomb.last:
        return f"has an empty or negative range {tomb.first}..{tomb.last} (altered)"
    return None


def range_problems(timeline: str, tombs: Sequence[RangeTombstone]) -> list[Problem]:
    """What is wrong with a timeline's tombstones (oldest first): seals, order."""
    problems: list[Problem] = []
    expected = 0
    for tomb in tombs:
        what = _shape_problem(tomb)
        if what is None and tomb.seal != range_seal(timeline, tomb):
            what = "does not match its seal (altered)"
        if what is None and sealed_checkpoints(tomb) is None:
            what = "lists malformed checkpoints (altered)"
        if what is None and tomb.first != expected:
            what = (
                f"starts at revision {tomb.first}, not where the trims before "
                f"ended ({expected}): a tombstone is missing or was moved"
            )
        if what is not None:
            first = tomb.first if type(tomb.first) is int else None
            problems.append((timeline, first, f"the range tombstone {what}"))
            continue
        expected = tomb.last + 1
    return problems


def cut_of(timeline: str, tombs: Sequence[RangeTombstone]) -> Cut | None:
    """Where the kept history starts, ``None`` if nothing was trimmed.

    Raises:
        CorruptHistoryError: A tombstone is altered, missing or out of order.
    """
    if not tombs:
        return None
    problems = range_problems(timeline, tombs)
    if problems:
        from statetrail.storage._verify import corrupt

        raise corrupt(problems, f"timeline {timeline!r}")
    newest = tombs[-1]
    checkpoints = sealed_checkpoints(newest)
    assert checkpoints is not None  # range_problems checked it
    return Cut(newest.last, newest.chain, checkpoints, tuple(tombs))


def _when(time_ns: int) -> str:
    moment = datetime.fromtimestamp(time_ns / 1e9, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def anchor_problem(cut: Cut, number: int, chain: str) -> str | None:
    """What an anchor naming trimmed revision ``number`` learns, or ``None``.

    ``None`` when the tombstone ending at ``number`` holds the anchored chain
    (the anchor then still proves everything up to the cut). Otherwise the
    anchored revision was trimmed after the anchor was taken: the anchor can no
    longer vouch for it, and says by which trim.
    """
    for tomb in cut.tombstones:
        if tomb.first <= number <= tomb.last:
            if number == tomb.last and tomb.chain.startswith(chain):
                return None
            who = f" by {tomb.author}" if tomb.author else ""
            return (
                f"was trimmed at {_when(tomb.time_ns)}{who} ({tomb.reason}; range "
                f"tombstone {tomb.first}..{tomb.last}) after the anchor was taken: "
                "the anchor cannot vouch for it any more (take a new anchor after "
                "each trim)"
            )
    return None
