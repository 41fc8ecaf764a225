"""Between a timeline and a backend: the journal protocol.

:class:`StoreJournal` is the :class:`~statetrail.timeline.Journal` a repository
gives each timeline it opens; it sees the timeline only through the storage
seam, :class:`~statetrail.timeline.Handle`. On every commit it encodes the new
revision as a :class:`~statetrail.storage.base.Row` (``_rows``: a patch against
the parent, its digest and chained hash) and appends it before the revision
becomes visible; when another process took the number first, it brings the
timeline up to date (``_cold``: the newcomers' rows decoded and verified) and
lets the :class:`~statetrail.ConflictError` through, so a retry appends after
the newcomer.

The names this module held before it was split by job are still importable
from it (``_rows``: rows and digests; ``_cold``: cold reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statetrail._log import get_logger
from statetrail.diff import invert
from statetrail.errors import (
    ConflictError,
    CorruptHistoryError,
    StatetrailError,
    StorageError,
)
from statetrail.revision import NUMBER, VALUE, Revision
from statetrail.storage import _integrity as integrity
from statetrail.storage import _nodes as nodes
from statetrail.storage import codec
from statetrail.storage._cold import (
    CHECKPOINT_EVERY,
    CHECKPOINT_NOT_COMMITTED,
    decode_rows,
    read_value,
    stored_chain,
)
from statetrail.storage._rows import (
    MISSING_PARENT,
    WHOLE_PATCH,
    NeedsCheckpoint,
    RowEncoder,
    heads_after,
    record_of,
    row_steps,
    row_value,
)

# The old private names some modules import (live/_core on its branch).
from statetrail.storage._rows import _origin as _origin
from statetrail.storage._sealed import Seal, seals_of
from statetrail.storage.base import Backend, Checkpoint, Heads, Row
from statetrail.timeline import Erased, Handle

__all__ = [
    "CHECKPOINT_EVERY",
    "CHECKPOINT_NOT_COMMITTED",
    "MISSING_PARENT",
    "TRIM_EVERY",
    "WHOLE_PATCH",
    "NeedsCheckpoint",
    "StoreJournal",
    "decode_rows",
    "heads_after",
    "read_value",
    "record_of",
    "row_steps",
    "row_value",
]

logger = get_logger("statetrail")

_ROOT_CHAIN = integrity.ROOT_CHAIN
#: How many revisions retention lets pile up in storage beyond its rule before
#: it trims them (a trim's fixed cost, a few queries, is spread over as many
#: writes).
TRIM_EVERY = 256
#: Retention sweeps unreachable checkpoint nodes on one trim in this many.
SWEEP_EVERY = 4
#: How many revisions' chained hashes and lineage depths a journal keeps.
_KEPT = 4096
#: How many times an append naming nodes works them out again when a sweep
#: deleted nodes meanwhile (each sweep batch is one short transaction).
_SWEPT_TRIES = 8


class StoreJournal:
    """The journal of one stored timeline."""

    def __init__(
        self,
        backend: Backend,
        name: str,
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
        allow_pickle: bool = False,
        chains: dict[int, str] | None = None,
        depths: dict[int, int] | None = None,
        on_erase: Callable[[str, int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.name = name
        #: Told ``(timeline, number)`` after an erasure is stored (a publisher
        #: then strips the revision from its stream).
        self.on_erase = on_erase
        self._every = checkpoint_every
        self._pickle = allow_pickle
        self._chains: dict[int, str] = {} if chains is None else chains
        self._depths: dict[int, int] = {} if depths is None else depths
        self._encoder = RowEncoder(name, allow_pickle=allow_pickle)
        self._values = self._encoder.values
        self._nodes = (
            nodes.NodeWriter(allow_pickle=allow_pickle)
            if backend.stores_nodes
            else None
        )
        self._trimmed_below: int | None = None  # the first revision stored
        self._trims = 0  # retention's trims of storage so far

    # -- the Journal protocol ----------------------------------------------------

    def record(self, timeline: Handle, revision: Revision) -> None:
        """Append ``revision`` durably; on a conflict, catch up and raise."""
        seal = seals_of(timeline.timeline.interceptors)
        row, value_json = self.encode(revision, seal)
        depth = 0 if row.parent is None else self._depth(row.parent) + 1
        checkpoints: tuple[Checkpoint, ...] = ()
        made: list[nodes.Node] = []
        epoch: int | None = None
        if row.parent is None:
            text, made, _ = self._nodes_of(revision, seal)
            if made:  # a large first value: its first checkpoint costs the change
                self._put_nodes(made)
                made = []
        elif depth >= self._every:
            # In the row's own transaction: one commit to wait for, not two
            # (its nodes, if any, in it too).
            text, made, epoch = self._nodes_of(revision, seal)
            if text is None:
                text = codec.canonical(
                    value_json
                    if value_json is not None
                    else codec.to_json(
                        revision.value, allow_pickle=self._pickle, seal=seal
                    )
                ).decode()
            checkpoints = (
                Checkpoint(
                    row.number,
                    text,
                    integrity.checkpoint_digest(row.chain, text.encode()),
                ),
            )
            depth = 0
        heads = None
        if checkpoints:
            heads = self._heads_with(timeline, row)
        elif row.number == 0:
            # The first revision's heads go with it: a timeline is never stored
            # without them, so heads that go missing are found.
            first = Heads(row.branch, 0, {row.branch: 0})
            heads = Heads(
                row.branch,
                0,
                first.tips,
                integrity.heads_seal(self.name, first, {0: row.chain}),
            )
        try:
            for _ in range(_SWEPT_TRIES):
                try:
                    self._append(row, checkpoints, made, heads, epoch)
                    break
                except nodes.NodesSweptError:
                    # A sweep deleted nodes since they were asked for: ask again.
                    assert self._nodes is not None  # only node checkpoints check
                    self._nodes.forget()
                    _, made, epoch = self._nodes_of(revision, seal)
            else:
                raise StorageError(
                    f"timeline {self.name!r}: sweeps of the node store kept "
                    f"deleting nodes {_SWEPT_TRIES} times over; revision "
                    f"{row.number} was not written"
                )
        except ConflictError:
            if made and self._nodes is not None:
                self._nodes.forget()  # undone with the row, maybe
            # Back to the parent, then along the newcomers' rows: a process
            # that loses races hashes what changed, not its whole value.
            self._step_back(revision, row.parent)
            self.refresh(timeline)
            raise
        except BaseException:
            if self._nodes is not None:
                self._nodes.forget()
            self._values.forget()
            raise
        self._chains[row.number] = row.chain
        self._depths[row.number] = depth
        if len(self._depths) > 2 * _KEPT:
            # Both are caches (a miss reads the chain back, or counts the depth
            # as a full stretch): keep the newest revisions'.
            self._chains = dict(list(self._chains.items())[-_KEPT:])
            self._depths = dict(list(self._depths.items())[-_KEPT:])

    def _append(
        self,
        row: Row,
        checkpoints: tuple[Checkpoint, ...],
        made: list[nodes.Node],
        heads: Heads | None,
        epoch: int | None,
    ) -> None:
        """The row, its checkpoint and new nodes: the sweep count checked with them."""
        if made or epoch is not None:
            self.backend.append_with_nodes(
                (row,), checkpoints, made, heads, epoch=epoch
            )
        else:
            self.backend.append((row,), checkpoints, heads)

    def _nodes_of(
        self, revision: Revision, seal: tuple[Seal, ...]
    ) -> tuple[str | None, list[nodes.Node], int | None]:
        """A checkpoint naming the root of ``revision``'s value, and its new nodes.

        The nodes are those not stored yet (``_nodes``). ``(None, [])`` where
        a whole value is kept instead: a backend without a node store, a value
        the tracker does not hold, one without a large part (one node would
        cost the same), or a timeline whose values are sealed (encrypted or
        compressed: nodes hold plain values, so its checkpoints stay whole
        values, sealed as its rows are).
        """
        writer = self._nodes
        if writer is None or seal:
            return None, [], None
        shadow = self._values.shadow(revision.number)
        if shadow is None or not nodes.worth(shadow):
            return None, [], None
        try:
            # Read before the nodes are asked for: a sweep after it moves it.
            epoch = self.backend.node_epoch()
            root, made = writer.save(
                shadow, revision.value, self.backend.has_nodes, epoch
            )
        except BaseException:
            writer.forget()
            raise
        return nodes.reference(root), made, epoch

    def _put_nodes(self, made: list[nodes.Node]) -> None:
        try:
            self.backend.put_nodes(made)
        except BaseException:
            if self._nodes is not None:
                self._nodes.forget()
            raise

    def _heads_with(self, timeline: Handle, row: Row) -> Heads:
        """The heads once ``row`` is written, sealed: saved with its checkpoint.

        So an opening finds where the cursor is from the forks written since
        the last checkpoint, not since the cursor last moved without a write
        (a scan of the whole history on a timeline only ever written to).
        """
        tips = {**timeline.timeline.branches(), row.branch: row.number}
        chains = {n: self._chain_of(n) for n in tips.values() if n != row.number}
        chains[row.number] = row.chain
        heads = Heads(row.branch, row.number, tips)
        seal = integrity.heads_seal(self.name, heads, chains)
        return Heads(row.branch, row.number, tips, seal)

    def moved(self, timeline: Handle) -> None:
        """Save the cursor and the branch tips, sealed with their chains."""
        seen = timeline.timeline
        heads = Heads(seen.current_branch, seen.head.number, seen.branches())
        chains = {n: self._chain_of(n) for n in (heads.cursor, *heads.tips.values())}
        seal = integrity.heads_seal(self.name, heads, chains)
        self.backend.save_heads(
            self.name, Heads(heads.branch, heads.cursor, heads.tips, seal)
        )

    def refresh(self, timeline: Handle) -> None:
        """Take in the rows other processes appended."""
        with timeline.lock:
            after = timeline.next - 1
            rows = self.backend.read(self.name, after=after)
            if not rows:
                return
            known = {}
            for row in rows:
                if row.parent is not None and row.parent <= after:
                    parent = timeline.find(row.parent)
                    if parent is not None:
                        known[row.parent] = parent[VALUE]
            records = decode_rows(
                self.backend,
                self.name,
                rows,
                known=known,
                chains=self._chains,
                allow_pickle=self._pickle,
            )
            timeline.absorb(records)
            values = self._values
            for row, record in zip(rows, records, strict=True):
                if values.number is None or values.number != row.parent:
                    continue
                if row.payload is None:
                    values.forget()
                    continue
                values.advance(row_steps(row, self._pickle), record[VALUE], row.number)

    def _step_back(self, revision: Revision, parent: int | None) -> None:
        """Return the value digest's tracker from ``revision`` to its parent."""
        values = self._values
        if parent is None or values.number != revision.number:
            values.forget()
            return
        values.revert(invert(revision.changes), parent)

    def erase(self, timeline: Handle, number: int, tombstone: Erased) -> None:
        """Keep the children readable (checkpoints), then drop the payload.

        The tombstone carries the payload's digest, so the row's metadata still
        verifies, the digests of the children's checkpoints (their values' only
        source from now on), and a seal bound to the row's chain.
        """
        children: dict[int, str] = {}
        seal = seals_of(timeline.timeline.interceptors)
        for child in timeline.children(number):
            if type(child[VALUE]) is Erased:
                continue  # no value to keep; its children got theirs when erased
            stored = self.backend.checkpoint(self.name, child[NUMBER])
            if stored is None:
                text = codec.canonical(
                    codec.to_json(
                        Revision(child).value, allow_pickle=self._pickle, seal=seal
                    )
                )
                digest = integrity.checkpoint_digest(
                    self._chain_of(child[NUMBER]), text
                )
                self.backend.put_checkpoint(
                    self.name, child[NUMBER], text.decode(), digest
                )
            else:
                digest = stored[1]
            children[child[NUMBER]] = digest
        row = self.backend.row(self.name, number)
        if row is None or row.payload is None:
            raise CorruptHistoryError(
                f"revision {number} of timeline {self.name!r} is missing from storage"
            )
        payload: str | None = integrity.payload_digest(row.payload.encode())
        if row.digest != integrity.row_digest(integrity.meta_bytes(row), payload or ""):
            payload = None  # a format-1 row: its digest does not use this one
        self.backend.erase(
            self.name,
            number,
            integrity.tombstone(
                row.chain,
                tombstone.author,
                tombstone.reason,
                tombstone.time_ns,
                payload,
                children,
            ),
        )
        if self.on_erase is not None:
            self.on_erase(self.name, number)

    def trimmed(
        self,
        timeline: Handle,
        below: int,
        reason: str,
        author: str | None,
        explicit: bool,
    ) -> None:
        """Trim storage to ``below`` as the timeline trimmed its memory (``_trim``).

        Retention (not ``explicit``) waits until :data:`TRIM_EVERY` revisions
        can go, then extends its tombstone; a failure is logged, since the
        write that triggered it is recorded. An explicit trim raises.
        """
        from statetrail.storage._trim import trim_stored

        if not explicit:
            if self._trimmed_below is None:
                tombs = self.backend.trims(self.name)
                self._trimmed_below = tombs[-1].last + 1 if tombs else 0
            if below - self._trimmed_below < TRIM_EVERY:
                return
        try:
            tomb = trim_stored(
                self.backend,
                self.name,
                below,
                reason=reason,
                author=author,
                extend=not explicit,
                heads=Heads(
                    timeline.timeline.current_branch,
                    timeline.timeline.head.number,
                    timeline.timeline.branches(),
                ),
                checkpoint_every=self._every,
                allow_pickle=self._pickle,
                # Retention sweeps the node store every few trims: a mark reads
                # every reachable node, so spread over SWEEP_EVERY trims' writes.
                sweep=explicit or self._trims % SWEEP_EVERY == SWEEP_EVERY - 1,
            )
            self._trims += 1
        except (StatetrailError, ValueError) as exc:
            self._trimmed_below = None  # read again next time
            if explicit:
                raise
            logger.warning(
                "retention could not trim timeline %r in storage: %s", self.name, exc
            )
            return
        if tomb is not None:
            self._trimmed_below = tomb.last + 1

    # -- encoding ------------------------------------------------------------------

    def _depth(self, number: int) -> int:
        depth = self._depths.get(number)
        if depth is None:
            # An older parent (after a checkout): count conservatively from here.
            depth = self._every
        return depth

    def _chain_of(self, number: int) -> str:
        chain = self._chains.get(number)
        if chain is None:
            chain = stored_chain(self.backend, self.name, number)
            self._chains[number] = chain
        return chain

    def encode(
        self, revision: Revision, seal: tuple[Seal, ...] = ()
    ) -> tuple[Row, Any]:
        """The row for ``revision`` (see :meth:`RowEncoder.encode`), chained."""
        number = revision.number
        previous = _ROOT_CHAIN if number == 0 else self._chain_of(number - 1)
        return self._encoder.encode(revision, previous, seal)

    def stored(self, row: Row) -> None:
        """Remember ``row``'s chained hash: it is stored (a save outside record)."""
        self._chains[row.number] = row.chain
