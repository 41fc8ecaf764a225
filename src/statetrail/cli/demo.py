"""``statetrail demo``: a card-sorting job whose every change is recorded.

Two sorter threads and an asyncio quality checker change one job's state (the
card-sorting machine of the second seed document), each under its own author.
Then the demo shows what the history knows: the log with who, why and which line,
a diff, a blame, a rollback and a what-if branch.
"""

from __future__ import annotations

import asyncio
import linecache
import os
import threading
import time
from typing import Any, TextIO

import statetrail
from statetrail import Revision, Var
from statetrail.context import _APPLICATION_FILES

__all__ = ["run"]

# This file is the demo's application code, though it ships inside statetrail.
_APPLICATION_FILES.add(__file__)


def _where(rev: Revision) -> str:
    origin = rev.origin
    if origin is None:
        return "-"
    path = os.path.relpath(origin.file) if os.path.isabs(origin.file) else origin.file
    return f"{path}:{origin.line}"


def _code(rev: Revision) -> str:
    origin = rev.origin
    if origin is None:
        return ""
    return linecache.getline(origin.file, origin.line).strip()


def _summary(rev: Revision) -> str:
    if not rev.changes:
        return "(initial state)"
    parts = []
    for change in rev.changes[:3]:
        new = (
            "-"
            if change.new is statetrail.MISSING
            else repr(statetrail.thaw(change.new))
        )
        parts.append(f"{change.dotted or '<all>'}={new}")
    if len(rev.changes) > 3:
        parts.append(f"... {len(rev.changes) - 3} more")
    return ", ".join(parts)


def _sort_cards(job: Var[Any], sorter: str, cards: int) -> None:
    for _ in range(cards):
        time.sleep(0.001)  # the machine's pace: lets the two sorters interleave
        with statetrail.context(author=sorter, comment="card sorted into a bin"):
            job.update(lambda s: s.set("sorted", s["sorted"] + 1))


async def _check_quality(job: Var[Any]) -> None:
    await asyncio.sleep(0)
    with statetrail.context(author="quality-bot", comment="bent card found"):
        job.update(lambda s: s.set("rejects", s["rejects"].append("card #3")))


def run(*, cards: int = 6, out: TextIO) -> None:
    """Record the demo job and print what its history tells."""

    def say(text: str = "") -> None:
        out.write(text + "\n")

    job: Var[Any] = Var(
        "job", {"bins": 10, "sorted": 0, "machine": "IDLE", "rejects": []}
    )
    with statetrail.context(author="operator", comment="start of shift"):
        job.set_in("machine", "CARD_READY")

    sorters = [
        threading.Thread(target=_sort_cards, args=(job, name, cards), name=name)
        for name in ("sorter-A", "sorter-B")
    ]
    for thread in sorters:
        thread.start()
    asyncio.run(_check_quality(job))
    for thread in sorters:
        thread.join()
    with statetrail.context(author="operator", comment="end of shift"):
        job.set_in("machine", "IDLE")

    say("statetrail demo: a card-sorting job, every change recorded\n")
    say(f"{'rev':>3}  {'author':<12} {'comment':<24} {'change':<28} where")
    for rev in job.history():
        say(
            f"{rev.number:>3}  {rev.author or '-':<12} {rev.comment or '-':<24} "
            f"{_summary(rev):<28} {_where(rev)}"
        )

    head = job.last_change().number
    say(f"\ndiff 0 -> {head}:")
    for change in job.diff(0, head):
        old = (
            "(absent)"
            if change.old is statetrail.MISSING
            else repr(statetrail.thaw(change.old))
        )
        say(f"  {change.dotted}: {old} -> {statetrail.thaw(change.new)!r}")

    blamed = job.blame("rejects")
    assert blamed is not None
    assert blamed.origin is not None
    say(
        f"\nblame rejects: revision {blamed.number} by {blamed.author} "
        f"({blamed.comment}), thread {blamed.origin.thread}, task {blamed.origin.task}"
        f"\n  {_where(blamed)}: {_code(blamed)}"
    )

    job.rollback(1, comment="re-run the shift")
    say(f"\nrollback to revision 1: sorted={job.get()['sorted']}, nothing lost:")
    kind = job.last_change().kind
    say(f"  {len(job.history())} revisions on the branch, the newest a {kind}")

    job.checkout(head).branch("what-if")
    job.set_in("bins", 12, comment="two more bins")
    say(
        f"\nbranch 'what-if' from revision {head}: bins={job.get()['bins']}; "
        f"branches: {job.branches()}"
    )
