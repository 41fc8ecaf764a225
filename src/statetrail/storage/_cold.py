"""Cold reads: stored rows back to verified records and values.

:func:`decode_rows` turns rows into the engine's records, checking every digest
and chain link on the way: a history altered on disk raises
:class:`~statetrail.CorruptHistoryError`. :func:`read_value` reads one
revision's value without replaying the history: from the nearest checkpoint
(whole, or a root in the node store) plus at most ``checkpoint_every`` patches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from statetrail._change import UNSTORED, Change
from statetrail.errors import CorruptHistoryError, PathError, RevisionNotFoundError
from statetrail.revision import Record
from statetrail.storage import _integrity as integrity
from statetrail.storage import _nodes as nodes
from statetrail.storage import codec
from statetrail.storage._lazy import NodeCache, lazy_value
from statetrail.storage._ranges import Cut
from statetrail.storage._rows import (
    MISSING_PARENT,
    WHOLE_PATCH,
    NeedsCheckpoint,
    apply_stored,
    chain_link,
    erased_of,
    record_of,
    row_value,
)
from statetrail.storage._value_digest import value_digest
from statetrail.storage.base import Backend, Row

__all__ = [
    "CHECKPOINT_EVERY",
    "CHECKPOINT_NOT_COMMITTED",
    "decode_rows",
    "read_value",
    "stored_chain",
]

#: How many revisions along a lineage may pass without a checkpoint; bounds the
#: patches a cold read of one revision applies.
CHECKPOINT_EVERY = 64
_ROOT_CHAIN = integrity.ROOT_CHAIN


def decode_rows(
    backend: Backend,
    timeline: str,
    rows: Sequence[Row],
    *,
    known: dict[int, Any] | None = None,
    chains: dict[int, str] | None = None,
    allow_pickle: bool = False,
    trimmed: Cut | None = None,
) -> list[Record]:
    """Records for ``rows`` (ascending), each digest and chain link verified.

    ``known`` gives values and ``chains`` chained hashes of revisions decoded
    before (the parents of the first rows, the revision before the first);
    both are updated. ``trimmed``: where the stored history starts after a
    trim (the chain at the cut, the checkpoints its tombstone sealed).
    """
    values = {} if known is None else known
    chain_of = {} if chains is None else chains
    if trimmed is not None:
        chain_of.setdefault(trimmed.last, trimmed.chain)
    out: list[Record] = []
    newer = False  # a format-2 row was seen: no format-1 row may follow
    for row in rows:
        if row.timeline != timeline:
            raise CorruptHistoryError(f"a row of {row.timeline!r} among {timeline!r}'s")
        number = row.number
        previous = _ROOT_CHAIN
        if number > 0:
            previous = chain_of.get(number - 1) or stored_chain(
                backend, timeline, number - 1
            )
        parent = row.parent
        version = chain_link(
            row,
            previous,
            lambda: chain_of.get(parent) or stored_chain(backend, timeline, parent),  # type: ignore[arg-type]  # noqa: B023 - called at once
        )
        if version == 2:
            newer = True
        elif newer:
            raise CorruptHistoryError(
                f"revision {number} of timeline {timeline!r} is in the older format "
                "after newer ones: the history was altered on disk"
            )
        parent_value = (
            values.get(parent, MISSING_PARENT) if parent is not None else None
        )
        chain_of[number] = row.chain
        try:
            value = row_value(row, parent_value, allow_pickle=allow_pickle)
        except NeedsCheckpoint:
            value = _from_checkpoint(
                backend,
                timeline,
                number,
                row.chain,
                version,
                allow_pickle,
                lambda: backend.row(timeline, parent),  # type: ignore[arg-type]  # noqa: B023 - called at once
                integrity.committed_value(row),
                sealed=_sealed_by_trim(trimmed, row),
            )
        values[number] = value
        out.append(record_of(row, value, allow_pickle=allow_pickle))
    return out


def _sealed_by_trim(trimmed: Cut | None, row: Row) -> str | None:
    """The checkpoint digest a range tombstone lists for ``row``, if trimmed below.

    ``""`` (no digest matches) for a row whose parent was trimmed but which the
    tombstone does not list.
    """
    if trimmed is None or row.parent is None or row.parent > trimmed.last:
        return None
    return trimmed.checkpoints.get(row.number, "")


def stored_chain(backend: Backend, timeline: str, number: int) -> str:
    parent = backend.row(timeline, number)
    if parent is None:
        raise CorruptHistoryError(f"timeline {timeline!r} lacks revision {number}")
    return parent.chain


def _from_checkpoint(
    backend: Backend,
    timeline: str,
    number: int,
    chain: str,
    version: int,
    allow_pickle: bool,
    parent: Callable[[], Row | None] | None = None,
    committed: str | None = None,
    checked: set[tuple[str, int, str, str]] | None = None,
    sealed: str | None = None,
    cache: NodeCache | None = None,
) -> Any:
    """The value of revision ``number`` from its checkpoint.

    The checkpoint is checked against ``chain`` (the revision's) and its format;
    with ``parent`` (which gives the parent's row), against the digest an erased
    parent's sealed tombstone lists for it: such a checkpoint alone holds the
    value, so one rewritten with its digest recomputed is found there. With
    ``committed`` (the value digest the revision's own row holds, format 3), its
    value is checked against it: that row was chained when it was written, so a
    checkpoint rewritten later, by whatever route, does not match it.
    ``checked`` holds the checkpoints (timeline, number, digest, value digest)
    whose value was hashed before: the stored text is still checked against its
    digest (one SHA-256 of the text), but not hashed as a value again.
    ``sealed`` (its parent was trimmed), against that digest, from the range
    tombstone. A checkpoint of nodes gives a lazily loaded value (``_lazy``)
    reading through ``cache`` (the timeline's, or one of its own).
    """
    stored = backend.checkpoint(timeline, number)
    if stored is None:
        raise CorruptHistoryError(
            f"revision {number} of timeline {timeline!r} needs a checkpoint (its "
            "parent was erased) and has none"
        )
    text, digest = stored
    if integrity.checkpoint_problem(chain, version, text, digest) is not None:
        raise CorruptHistoryError(
            f"the checkpoint of revision {number} of timeline {timeline!r} was altered"
        )
    if sealed is not None:
        if sealed != digest:
            what = "its checkpoint is not the one the range tombstone sealed (altered)"
            raise CorruptHistoryError(
                f"revision {number} of timeline {timeline!r}: {what}",
                [(timeline, number, what)],
            )
    elif parent is not None:
        row = parent()
        if row is not None and row.payload is None:
            sealed = integrity.sealed_checkpoint(row, number)
            if sealed is not None and sealed != digest:
                what = (
                    "its checkpoint is not the one its erased parent's tombstone "
                    "sealed (altered)"
                )
                raise CorruptHistoryError(
                    f"revision {number} of timeline {timeline!r}: {what}",
                    [(timeline, number, what)],
                )
    root = nodes.referenced(text)
    if root is not None:
        # Its nodes are checked against their digests as they are read, and
        # the root against the row's commitment here: nothing to hash again.
        if committed is not None and root.hex() != committed:
            what = CHECKPOINT_NOT_COMMITTED
            raise CorruptHistoryError(
                f"revision {number} of timeline {timeline!r}: {what}",
                [(timeline, number, what)],
            )
        if cache is None:
            cache = NodeCache(backend.nodes, allow_pickle=allow_pickle)
        return lazy_value(cache, root)  # read, and checked, as it is asked for
    value = codec.from_json(codec.parse(text), allow_pickle=allow_pickle)
    if committed is None:
        return value
    key = (timeline, number, digest, committed)
    if checked is not None and key in checked:
        return value
    if value_digest(value, allow_pickle=allow_pickle) != committed:
        what = CHECKPOINT_NOT_COMMITTED
        raise CorruptHistoryError(
            f"revision {number} of timeline {timeline!r}: {what}",
            [(timeline, number, what)],
        )
    if checked is not None:
        if len(checked) >= _CHECKED_KEPT:
            checked.clear()
        checked.add(key)
    return value


#: How many checked checkpoints a repository remembers (see _from_checkpoint).
_CHECKED_KEPT = 256


#: The problem of a checkpoint whose value is not the one its row commits to.
CHECKPOINT_NOT_COMMITTED = (
    "its checkpoint holds another value than its row's value digest commits to "
    "(altered)"
)


def read_value(
    backend: Backend,
    timeline: str,
    number: int,
    *,
    checkpoint_every: int = CHECKPOINT_EVERY,
    allow_pickle: bool = False,
    checked: set[tuple[str, int, str, str]] | None = None,
    trimmed: Cut | None = None,
    cache: NodeCache | None = None,
) -> Any:
    """The value of one stored revision, without replaying the history.

    Walks from revision ``number`` up its lineage to the nearest whole value (a
    checkpoint, or the first revision), then applies the patches on the way back
    down: at most ``checkpoint_every`` of them when the checkpoints are in place.
    Every row walked is checked against its digest and its link in the chain,
    and the checkpoint against the value digest its row commits to (format 3;
    ``checked`` remembers those already hashed, see :func:`_from_checkpoint`).
    Every row walked is checked against its digest and its link in the chain.
    ``trimmed``: where the stored history starts after a trim (see
    :func:`decode_rows`). A checkpoint of nodes gives a value that loads them
    as it is read (``_lazy``), through ``cache`` when one is given.
    """
    # On a line of history the nearest checkpoint below is an ancestor: read from
    # there in one query (a branch may need more, read as the walk goes). One
    # index probe, asked again only when the walk passes below it (a branch).
    nearest = backend.checkpoint_below(timeline, number)
    window = number - nearest + 1 if nearest is not None else checkpoint_every + 1
    rows: dict[int, Row] = {}
    walked: list[Row] = []  # newest first
    current: int | None = number
    base: Any = MISSING_PARENT

    def chain_at(n: int) -> str:
        known = rows.get(n)
        if known is not None:
            return known.chain
        if trimmed is not None and n == trimmed.last:
            return trimmed.chain
        return stored_chain(backend, timeline, n)

    while current is not None:
        row = rows.get(current)
        if row is None:
            # One more row below the window: the chain of the revision before.
            for each in backend.read(
                timeline, after=max(-1, current - window - 1), upto=current
            ):
                rows[each.number] = each
            window = checkpoint_every + 1
            row = rows.get(current)
            if row is None:
                if current == number:
                    raise RevisionNotFoundError(
                        f"timeline {timeline!r} has no revision {number}"
                    )
                raise CorruptHistoryError(
                    f"timeline {timeline!r} lacks revision {current}"
                )
        parent = row.parent
        version = chain_link(
            row,
            _ROOT_CHAIN if current == 0 else chain_at(current - 1),
            lambda: chain_at(parent),  # type: ignore[arg-type]  # noqa: B023 - called at once
        )
        if row.payload is None:
            if not walked:
                return erased_of(row)
            raise CorruptHistoryError(
                f"revision {walked[-1].number} of timeline {timeline!r} follows an "
                "erased revision and has no checkpoint"
            )
        if nearest is not None and current < nearest:
            nearest = backend.checkpoint_below(timeline, current)
        if current == nearest and not row.payload.startswith(WHOLE_PATCH):
            # (A row that replaces the whole value needs no checkpoint: a write
            # after an erased parent keeps one its parent's tombstone never saw.)

            def parent_row(n: int | None = parent) -> Row | None:
                if n is None:
                    return None
                return rows.get(n) or backend.row(timeline, n)

            base = _from_checkpoint(
                backend,
                timeline,
                current,
                row.chain,
                version,
                allow_pickle,
                parent_row,
                integrity.committed_value(row),
                checked,
                sealed=_sealed_by_trim(trimmed, row),
                cache=cache,
            )
            break
        walked.append(row)
        if parent is None or row.payload.startswith(WHOLE_PATCH):
            break
        current = parent
    if base is MISSING_PARENT:  # the walk reached a whole value
        base = row_value(walked.pop(), None, allow_pickle=allow_pickle)
    replaced = _replacements(walked)
    if replaced is not None:
        pickle = allow_pickle
        changes = [
            Change(tuple(path), UNSTORED, codec.from_json(new, allow_pickle=pickle))
            for path, new in replaced
        ]
        try:
            return apply_stored(base, changes)
        except PathError as exc:
            raise CorruptHistoryError(
                f"timeline {timeline!r}: a patch does not apply on the way to "
                f"revision {number} ({exc})"
            ) from exc
    value = base
    for row in reversed(walked):
        value = row_value(row, value, allow_pickle=allow_pickle)
    return value


def _replacements(walked: list[Row]) -> list[tuple[list[Any], Any]] | None:
    """The patches of ``walked`` (newest first) boiled down, if they only replace.

    When every operation replaces a value at an existing path, only the newest
    replacement of each path matters, and none under a path replaced later: the
    result applies oldest first. ``None`` when some operation adds or removes,
    or a path is not plain strings and integers (then each patch is applied).
    """
    kept: list[tuple[list[Any], Any]] = []
    covered: set[tuple[Any, ...]] = set()
    for row in walked:
        payload = row.payload
        if payload is None:
            return None
        try:
            patch = orjson.loads(payload)["patch"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if type(patch) is not list:
            return None
        for op in reversed(patch):
            if type(op) is not list or len(op) != 3 or op[0] != "=":
                return None
            steps = op[1]
            if type(steps) is not list or not all(
                type(step) is str or type(step) is int for step in steps
            ):
                return None
            path = tuple(steps)
            if any(path[:i] in covered for i in range(len(path) + 1)):
                continue  # a later revision replaced this path or one above it
            covered.add(path)
            kept.append((steps, op[2]))
    kept.reverse()
    return kept
