"""Trimming stored history: the oldest revisions leave the backend, in batches.

:func:`trim_stored` is the one way revisions leave storage: retention on a
stored timeline (through :meth:`StoreJournal.trimmed`), ``repo.trim()`` and
``statetrail trim`` all come here. It works in short steps, each its own
transaction, so writers (other threads, other processes) wait for one step at
most, never for the whole trim:

1. Plan (reads only): the cut, the first revision kept. Never past the cursor,
   a branch tip or the newest revision; never into rows of format 1, whose
   chain follows parent links and could not be taken up at the cut.
2. One transaction: the range tombstone (``_ranges``), holding the chain at the
   cut, and a checkpoint for each kept revision whose parent goes (the one
   just after the cut, and a branch that started below it), their digests
   under the tombstone's seal. From this commit on, readers start after the
   cut; nothing is lost if the process dies here.
3. Batches of at most ``batch`` rows (:data:`BATCH`; and their checkpoints,
   and any other per-revision rows the backend keeps) deleted, each in its own
   transaction, oldest first. An interrupted trim leaves rows below the cut,
   which no reader looks at, and the next trim of the timeline removes them.
4. The checkpoint nodes no remaining checkpoint reaches (of any timeline:
   nodes are shared) deleted, a batch per transaction (:func:`sweep_nodes`,
   ``_nodes.sweep``, which says why a writer's checkpoint committed meanwhile
   never loses a node).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from statetrail._log import get_logger
from statetrail.errors import CorruptHistoryError, RevisionNotFoundError
from statetrail.storage import _integrity as integrity
from statetrail.storage import _nodes as nodes
from statetrail.storage import codec
from statetrail.storage._journal import (
    WHOLE_PATCH,
    NeedsCheckpoint,
    read_value,
    row_value,
)
from statetrail.storage._lazy import live_roots
from statetrail.storage._ranges import Cut, cut_of, range_tombstone
from statetrail.storage._sealed import tracking
from statetrail.storage.base import Backend, Checkpoint, Heads, RangeTombstone

__all__ = [
    "BATCH",
    "Plan",
    "current_heads",
    "cut_for_age",
    "plan_trim",
    "remove_trimmed",
    "sweep_nodes",
    "trim_stored",
]

logger = get_logger("statetrail")

#: Rows deleted per transaction: about 6 ms of SQLite's time plus a commit,
#: as much as a writer may wait (benchmarks/bench_trim.py).
BATCH = 256


class Plan(NamedTuple):
    """What a trim would remove: revisions ``first..last`` (none if ``last < first``).

    ``cut`` is what the timeline's tombstones said before (``None``: never
    trimmed); ``held`` says why the trim stops short of what was asked, if it
    does.
    """

    first: int
    last: int
    cut: Cut | None
    held: str | None
    heads: Heads | None

    @property
    def size(self) -> int:
        """How many revisions would go."""
        return max(0, self.last - self.first + 1)


def current_heads(backend: Backend, name: str) -> Heads | None:
    """Where the cursor and the branch tips are now.

    The saved heads moved on by the rows written since (as the loader works
    them out), read a page at a time.
    """
    saved = backend.heads(name)
    after = -1 if saved is None else max(saved.tips.values(), default=-1)
    if saved is not None:
        branch, cursor, tips = saved.branch, saved.cursor, dict(saved.tips)
    else:
        branch, cursor, tips = "", -1, {}
    while True:
        rows = backend.read(name, after=after, upto=after + 1024)
        if not rows:
            break
        for row in rows:
            tips[row.branch] = row.number
            if saved is None or row.parent == cursor:
                cursor, branch = row.number, row.branch
        after = rows[-1].number
    return None if cursor < 0 else Heads(branch, cursor, tips)


def plan_trim(
    backend: Backend, name: str, below: int, heads: Heads | None = None
) -> Plan:
    """Which revisions a trim of ``name`` to ``below`` (the first kept) removes.

    ``heads``: where the cursor and tips are, if the caller knows (an open
    timeline); else worked out from storage (:func:`current_heads`).

    Raises:
        CorruptHistoryError: The stored tombstones are altered.
        RevisionNotFoundError: There is no timeline ``name``.
    """
    cut = cut_of(name, backend.trims(name))
    first = 0 if cut is None else cut.last + 1
    end = backend.end(name)
    if end is None or end.length < 1:
        raise RevisionNotFoundError(f"there is no stored timeline {name!r}")
    held = None
    stop = below
    newest = end.length - 1
    if stop > newest:
        stop, held = newest, f"the newest revision ({newest}) is always kept"
    if heads is None:
        heads = current_heads(backend, name)
    if heads is not None:
        for what, number in [
            ("the cursor", heads.cursor),
            *((f"the tip of branch {b!r}", n) for b, n in heads.tips.items()),
        ]:
            if number < stop:
                stop, held = number, f"{what} is at revision {number}"
    return Plan(first, stop - 1, cut, held, heads)


def cut_for_age(backend: Backend, name: str, before_ns: int, after: int) -> int:
    """The first revision above ``after`` recorded at or after ``before_ns``.

    Reads a page of rows at a time from the oldest kept; older ones (by their
    recorded time) go, up to the first that is not.
    """
    end = backend.end(name)
    limit = 0 if end is None else end.length
    while after + 1 < limit:
        rows = backend.read(name, after=after, upto=after + 1024)
        if not rows:
            break
        for row in rows:
            if row.time_ns >= before_ns:
                return row.number
        after = rows[-1].number
    return limit


def trim_stored(
    backend: Backend,
    name: str,
    below: int,
    *,
    reason: str,
    author: str | None = None,
    extend: bool = False,
    heads: Heads | None = None,
    checkpoint_every: int,
    allow_pickle: bool = False,
    batch: int = BATCH,
    sweep: bool = True,
    _after_tombstone: Callable[[], None] | None = None,
) -> RangeTombstone | None:
    """Remove revisions below ``below`` of stored timeline ``name``; see the module.

    Args:
        backend: Where the timeline is stored.
        name: The timeline.
        below: The first revision to keep (lowered to the cursor, a branch
            tip or the newest revision if any is older).
        reason: Why, kept in the tombstone.
        author: Who, kept in the tombstone.
        extend: Retention running as writes happen: extend the newest
            tombstone when it has the same reason and author.
        heads: The cursor and tips, when the caller knows them.
        checkpoint_every: As the repository's.
        allow_pickle: As the repository's.
        batch: Rows deleted per transaction.
        sweep: Then delete the nodes no checkpoint reaches any more
            (:func:`_nodes.sweep`; retention does it every few trims).
        _after_tombstone: Called between the tombstone and the deletions (the
            seam through which tests interrupt a trim).

    Returns:
        The tombstone written, or ``None`` when nothing was to go (rows left
        below the cut by an interrupted trim are removed anyway).

    Raises:
        ConflictError: Another trim of the timeline came first.
        CorruptHistoryError: What a trim needs to read does not verify.
        ValueError: The cut falls among rows written in format 1.
    """
    plan = plan_trim(backend, name, below, heads)
    cut = plan.cut
    if plan.held is not None:
        where = plan.last + 1
        logger.info("trim of %r stops at revision %d: %s", name, where, plan.held)
    if plan.size == 0:
        if cut is not None:
            remove_trimmed(backend, name, cut.last, batch)
        if sweep:
            sweep_nodes(backend)
        return None
    tombstone, checkpoints = _tombstone(
        backend, name, plan, reason, author, extend, checkpoint_every, allow_pickle
    )
    expect = None if cut is None else cut.tombstones[-1].seal
    # The heads saved may still point below the cut (they are saved when the
    # cursor moves without a write): the current ones go in the same commit.
    heads = plan.heads
    assert heads is not None  # a timeline with revisions has heads
    chains = {n: _chain(backend, name, n) for n in (heads.cursor, *heads.tips.values())}
    seal = integrity.heads_seal(name, heads, chains)
    sealed = Heads(heads.branch, heads.cursor, heads.tips, seal)
    backend.put_trim(name, tombstone, expect, checkpoints, sealed)
    if _after_tombstone is not None:
        _after_tombstone()
    remove_trimmed(backend, name, tombstone.last, batch)
    if sweep:
        sweep_nodes(backend)
    return tombstone


def sweep_nodes(backend: Backend) -> int:
    """Delete the nodes no remaining checkpoint reaches (``_nodes.sweep``).

    Nodes the lazy values alive in this process stand on are kept too (a
    value read before the trim may still fetch the parts it has not read).

    Returns how many went (0 on a backend without a node store).
    """
    if not backend.stores_nodes:
        return 0
    gone = nodes.sweep(backend, pinned=live_roots())
    if gone:
        logger.info("%d unreachable checkpoint nodes deleted", gone)
    return gone


def _chain(backend: Backend, name: str, number: int) -> str:
    row = backend.row(name, number)
    if row is None:
        raise CorruptHistoryError(
            f"timeline {name!r} lacks revision {number}, where its heads point",
            [(name, number, "is missing")],
        )
    return row.chain


def remove_trimmed(backend: Backend, name: str, upto: int, batch: int) -> int:
    """Delete the rows up to ``upto`` a tombstone covers, a batch per transaction."""
    gone = 0
    while True:
        count = backend.delete_trimmed(name, upto, batch)
        if not count:
            return gone
        gone += count


def _tombstone(
    backend: Backend,
    name: str,
    plan: Plan,
    reason: str,
    author: str | None,
    extend: bool,
    every: int,
    allow_pickle: bool,
) -> tuple[RangeTombstone, list[Checkpoint]]:
    """The sealed tombstone of ``plan`` and the checkpoints it needs written."""
    keep = plan.last + 1
    at_cut = backend.row(name, plan.last)
    kept = backend.row(name, keep)
    if at_cut is None or kept is None:
        raise CorruptHistoryError(
            f"timeline {name!r} lacks revision {plan.last if at_cut is None else keep}"
            ", which a trim to it needs",
            [(name, plan.last if at_cut is None else keep, "is missing")],
        )
    version, problem = integrity.row_check(kept, at_cut.chain, lambda: at_cut.chain)
    if problem is not None:
        raise CorruptHistoryError(
            f"revision {keep} of timeline {name!r} {problem}: not trimmed",
            [(name, keep, problem)],
        )
    if version != 2:
        raise ValueError(
            f"revision {keep} of timeline {name!r} was written in format 1, whose "
            "chain follows parent links: trim at a revision written by this "
            "statetrail, or re-record the history"
        )
    sealed: dict[int, str] = {}
    written: list[Checkpoint] = []

    def read(number: int) -> object:
        return read_value(
            backend,
            name,
            number,
            checkpoint_every=every,
            allow_pickle=allow_pickle,
            trimmed=plan.cut,
        )

    with tracking() as opened:
        for number in backend.crossing(name, keep):
            row = kept if number == keep else backend.row(name, number)
            if (
                row is None
                or row.payload is None
                or row.payload.startswith(WHOLE_PATCH)
            ):
                continue  # erased (its tombstone is its value), or a whole value
            stored = backend.checkpoint(name, number)
            parent = row.parent
            assert parent is not None  # it crosses the cut: it has a parent
            if plan.cut is not None and parent <= plan.cut.last:
                # Crossed an earlier cut too: its sealed checkpoint holds it.
                value = read(number)
            else:  # from its parent's value, not from a checkpoint it may have
                try:
                    value = row_value(row, read(parent), allow_pickle=allow_pickle)
                except NeedsCheckpoint:  # its parent was erased: the erasure's
                    value = read(number)  # checkpoint of it, sealed by the tombstone
            # Encrypted when read (statetrail.interceptors.Encrypt): so when written.
            seal = tuple(opened[:1])
            text = codec.canonical(
                codec.to_json(value, allow_pickle=allow_pickle, seal=seal)
            )
            digest = integrity.checkpoint_digest(row.chain, text)
            if stored is None or stored != (text.decode(), digest):
                written.append(Checkpoint(number, text.decode(), digest))
            sealed[number] = digest
    first = plan.first
    previous = None if plan.cut is None else plan.cut.tombstones[-1]
    if (
        extend
        and previous is not None
        and previous.reason == reason
        and previous.author == author
    ):
        first = previous.first  # the same rule again: one tombstone, extended
    tombstone = range_tombstone(
        name, first, plan.last, time.time_ns(), reason, author, at_cut.chain, sealed
    )
    return tombstone, written
