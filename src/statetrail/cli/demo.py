"""``statetrail demo``: a card-sorting job recorded into SQLite, then looked at.

Two sorter threads and an asyncio controller change one job's state (the card
sorting machine of the second seed document: bins, sorted counts, machine state),
each under its own author, into a SQLite file. Then the demo reads that file
through the same functions as ``statetrail log``, ``diff`` and ``blame``, rolls
back and branches, and shows the history again.

The file is kept (``demo.db`` in the current folder unless ``--file`` says
otherwise), so the commands it prints can be run again, and the same history
looked at in the browser with ``statetrail serve demo.db``. Running the demo
again records it afresh: a file a previous demo left is replaced, and any other
file of that name is refused, never overwritten.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, TextIO

import statetrail
from statetrail.cli import inspect
from statetrail.context import _APPLICATION_FILES
from statetrail.errors import StatetrailError
from statetrail.store import AsyncStore, Store

__all__ = ["DEFAULT_FILE", "run"]

#: Where the demo records when not told otherwise (in the current folder).
DEFAULT_FILE = "demo.db"

# This file is the demo's application code, though it ships inside statetrail.
_APPLICATION_FILES.add(__file__)

JOB = {"job": {"bins": 10, "sorted": 0, "rejects": []}, "machine": {"state": "IDLE"}}


def _sort_cards(store: Store, sorter: str, cards: int) -> None:
    for _ in range(cards):
        time.sleep(0.001)  # the machine's pace: lets the two sorters interleave
        with (
            statetrail.context(author=sorter, comment="card sorted into a bin"),
            store.transaction(),
        ):
            store.set("job.sorted", store.get("job.sorted") + 1)


async def _controller(store: AsyncStore) -> None:
    store.start_processing()
    with statetrail.context(author="controller", comment="feeder ready"):
        await store.dispatch_and_wait(
            {"type": "SET_STATE", "path": "machine.state", "value": "CARD_READY"}
        )
    await asyncio.sleep(0.005)
    with statetrail.context(author="quality-bot", comment="bent card found"):
        await store.dispatch_and_wait(
            {"type": "SET_STATE", "path": "job.rejects", "value": ["card #3"]}
        )
    await store.stop_processing()


def _record(path: str, cards: int) -> None:
    with statetrail.open(path) as repo:
        store = repo.store("job", JOB)
        controller = repo.async_store("job")
        with statetrail.context(author="operator", comment="start of shift"):
            store.set("machine.state", "RUNNING")
        sorters = [
            threading.Thread(target=_sort_cards, args=(store, name, cards), name=name)
            for name in ("sorter-A", "sorter-B")
        ]
        for thread in sorters:
            thread.start()
        asyncio.run(_controller(controller))
        for thread in sorters:
            thread.join()
        with statetrail.context(author="operator", comment="end of shift"):
            store.set("machine.state", "IDLE")


def _rollback_and_branch(path: str) -> tuple[int, int]:
    with statetrail.open(path) as repo:
        store = repo.store("job")
        head = store.head.number
        with statetrail.context(author="operator", comment="re-run the shift"):
            store.rollback(1)
        timeline: Any = store.timeline
        timeline.checkout(head)
        timeline.branch("what-if")
        with statetrail.context(author="planner", comment="two more bins"):
            store.set("job.bins", 12)
        return head, store.head.number


def _replace_previous(path: str) -> None:
    """Remove what a previous demo recorded at ``path``; refuse anything else.

    Raises:
        CommandError: ``path`` holds something that is not a demo's history.
    """
    if not os.path.lexists(path):
        return
    try:
        with inspect.opened(path) as repo:
            names = repo.timelines()
    except (StatetrailError, OSError, ValueError):
        names = None
    if names != ["job"]:
        raise inspect.CommandError(
            f"{path} exists and is not a history the demo recorded: it is left "
            "as it is; give the demo another file with --file"
        )
    for suffix in ("", "-wal", "-shm", "-journal", "-lock"):
        if os.path.lexists(path + suffix):
            os.remove(path + suffix)


def run(*, cards: int = 6, out: TextIO, file: str | None = None) -> None:
    """Record the demo job into a SQLite file and show what its history tells.

    The file (``file``, by default :data:`DEFAULT_FILE` in the current folder)
    is kept; one a previous demo recorded is replaced.
    """

    def say(text: str = "") -> None:
        out.write(text + "\n")

    path = file or DEFAULT_FILE
    _replace_previous(path)
    _record(path, cards)
    shown = path
    say(
        f"statetrail demo: a card-sorting job, recorded into {os.path.basename(path)}\n"
    )
    say(f"$ statetrail log {shown} job")
    inspect.log(path, "job", out)
    say(f"\n$ statetrail diff {shown} job 0 head")
    inspect.diff(path, "job", "0", "head", out)
    say(f"\n$ statetrail blame {shown} job job.rejects")
    inspect.blame(path, "job", "job.rejects", out)

    head, what_if = _rollback_and_branch(path)
    say(
        f"\nrolled back to revision 1 (recorded as a new revision, nothing lost), "
        f"then branched 'what-if' from revision {head}:"
    )
    say(f"$ statetrail log {shown} job --branch main --limit 2")
    inspect.log(path, "job", out, branch="main", limit=2)
    say(f"\n$ statetrail timelines {shown}")
    inspect.timelines(path, out)
    say(f"\n$ statetrail show {shown} job@{what_if}")
    inspect.show(path, f"job@{what_if}", out)
    say(f"\n$ statetrail verify {shown}")
    inspect.verify(path, out)
    say(
        f"\nThe history is kept in {os.path.abspath(path)}: the commands above "
        "run again as they are.\nLook at it in the browser (timeline, slider, "
        "diffs, blame; pip install 'statetrail[web]'):\n"
        f"$ statetrail serve {shown}"
    )
