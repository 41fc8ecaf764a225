"""The memory backend: the whole contract, kept in dicts.

For tests and for ``statetrail.open(":memory:")``. It is a backend, not a mock: it
raises the same errors as the others.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from statetrail.errors import ConflictError, RevisionNotFoundError, StorageError
from statetrail.storage import _index
from statetrail.storage._nodes import NodesSweptError, referenced
from statetrail.storage.base import (
    Backend,
    Checkpoint,
    End,
    Heads,
    RangeTombstone,
    Row,
    timeline_of,
)

__all__ = ["MemoryBackend"]


class MemoryBackend(Backend):
    """Revisions in memory, gone when the process ends."""

    kind = "memory"
    stores_nodes = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[int, Row]] = {}
        self._heads: dict[str, Heads] = {}
        self._checkpoints: dict[str, dict[int, tuple[str, str]]] = {}
        self._ends: dict[str, End] = {}
        self._trims: dict[str, list[RangeTombstone]] = {}
        self._nodes: dict[bytes, bytes] = {}
        self._epoch = 0  # sweep batches that deleted nodes
        # Held by a sweep batch and by an append naming nodes, around their
        # check (the lock above is taken inside, call by call).
        self._sweeping = threading.Lock()
        self._closed = False
        self._version = 0  # moved by every append and erasure

    @classmethod
    def holding(
        cls,
        timelines: Mapping[
            str, tuple[Sequence[Row], Heads | None, Mapping[int, tuple[str, str]]]
        ],
        ends: Mapping[str, End],
        trims: Mapping[str, list[RangeTombstone]],
    ) -> MemoryBackend:
        """A backend holding stored records as they are, for ``verify`` to check.

        ``timelines`` maps each name to its rows, saved heads and checkpoints
        (number to value text and digest). Nothing is checked here: rows with
        gaps or a broken chain are kept as given, as a damaged file holds them.
        """
        backend = cls()
        for name, (rows, heads, checkpoints) in timelines.items():
            backend._rows[name] = {row.number: row for row in rows}
            if heads is not None:
                backend._heads[name] = heads
            backend._checkpoints[name] = dict(checkpoints)
        backend._ends.update(ends)
        backend._trims.update(trims)
        return backend

    def _check(self) -> None:
        if self._closed:
            raise StorageError("the memory backend is closed")

    def timelines(self) -> list[str]:
        """The names of the timelines stored, sorted."""
        with self._lock:
            self._check()
            return sorted(set(self._rows) | set(self._ends))

    def append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store ``rows``, ``checkpoints`` and ``heads`` at once.

        ConflictError if a number is taken.
        """
        timeline = timeline_of(rows, checkpoints)
        with self._lock:
            self._check()
            staged: dict[tuple[str, int], Row] = {}
            for row in rows:
                taken = self._rows.get(row.timeline, {})
                key = (row.timeline, row.number)
                if row.number in taken or key in staged:
                    raise ConflictError(
                        f"revision {row.number} of timeline {row.timeline!r} is "
                        "already stored",
                        [(row.timeline, row.number)],
                    )
                staged[key] = row
            for (name, number), row in staged.items():
                self._rows.setdefault(name, {})[number] = row
                end = self._ends.get(name)
                if end is None or number >= end.length:
                    self._ends[name] = End(number + 1, row.chain)
            if checkpoints:
                kept = self._checkpoints.setdefault(timeline, {})
                for number, value, digest in checkpoints:
                    kept[number] = (value, digest)
            if heads is not None and rows:
                self._heads[timeline] = Heads(
                    heads.branch, heads.cursor, dict(heads.tips), heads.seal
                )
            self._version += 1

    def read(
        self, timeline: str, after: int = -1, upto: int | None = None
    ) -> list[Row]:
        """Rows numbered above ``after`` and at most ``upto``, in number order."""
        with self._lock:
            self._check()
            rows = self._rows.get(timeline, {})
            top = max(rows, default=-1) if upto is None else upto
            return [rows[n] for n in sorted(rows) if after < n <= top]

    def row(self, timeline: str, number: int) -> Row | None:
        """One row, or ``None``."""
        with self._lock:
            self._check()
            return self._rows.get(timeline, {}).get(number)

    def latest(self, timeline: str) -> int:
        """The highest revision number, or -1."""
        with self._lock:
            self._check()
            return max(self._rows.get(timeline, {}), default=-1)

    def touching(
        self,
        timeline: str,
        path: str,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[int]:
        """Revisions that changed ``path``, under or above it, newest first.

        Answered from the rows held, newest first, stopping at ``limit``: a
        backend in memory (and the JSON file, read whole) keeps no index that
        could disagree with them.
        """
        _index.check_pointer(path)
        _index.check_limit(limit)
        if limit == 0:
            return []
        touches = _index.touches
        out: list[int] = []
        with self._lock:
            self._check()
            rows = self._rows.get(timeline, {})
            for number in sorted(rows, reverse=True):
                if before is not None and number >= before:
                    continue
                if any(touches(changed, path) for changed in rows[number].paths):
                    out.append(number)
                    if limit is not None and len(out) >= limit:
                        break
        return out

    def number_at(self, timeline: str, time_ns: int) -> int | None:
        """The revision recorded last at or before ``time_ns``, from the rows held."""
        with self._lock:
            self._check()
            found = [
                (row.time_ns, row.number)
                for row in self._rows.get(timeline, {}).values()
                if row.time_ns <= time_ns
            ]
        return max(found)[1] if found else None

    def end(self, timeline: str) -> End | None:
        """The end record, or ``None``."""
        with self._lock:
            self._check()
            return self._ends.get(timeline)

    def save_heads(self, timeline: str, heads: Heads) -> None:
        """Record the cursor and the branch tips."""
        with self._lock:
            self._check()
            self._heads[timeline] = Heads(
                heads.branch, heads.cursor, dict(heads.tips), heads.seal
            )

    def heads(self, timeline: str) -> Heads | None:
        """The heads last saved, or ``None``."""
        with self._lock:
            self._check()
            heads = self._heads.get(timeline)
            return (
                None
                if heads is None
                else Heads(heads.branch, heads.cursor, dict(heads.tips), heads.seal)
            )

    def put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        """Keep a whole value."""
        with self._lock:
            self._check()
            self._checkpoints.setdefault(timeline, {})[number] = (value, digest)

    def put_nodes(self, nodes: Sequence[tuple[bytes, bytes]]) -> None:
        """Keep nodes (see :meth:`Backend.put_nodes`)."""
        with self._lock:
            self._check()
            for digest, body in nodes:
                self._nodes.setdefault(digest, body)

    def append_with_nodes(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint],
        nodes: Sequence[tuple[bytes, bytes]],
        heads: Heads | None = None,
        *,
        epoch: int | None = None,
    ) -> None:
        """The epoch checked, then nodes kept and rows appended (see Backend)."""
        with self._sweeping:  # no sweep batch between the check and the append
            if epoch is not None and epoch != self.node_epoch():
                raise NodesSweptError("nodes were swept since they were asked for")
            super().append_with_nodes(rows, checkpoints, nodes, heads)

    def node_epoch(self) -> int:
        """How many sweep batches have deleted nodes."""
        with self._lock:
            self._check()
            return self._epoch

    def node_roots(self) -> set[bytes]:
        """The root digests the checkpoints of every timeline name."""
        with self._lock:
            self._check()
            texts = [
                value
                for kept in self._checkpoints.values()
                for value, _ in kept.values()
            ]
        return {r for r in map(referenced, texts) if r is not None}

    def node_digests(self, after: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` stored node digests above ``after``, in order."""
        with self._lock:
            self._check()
            return sorted(d for d in self._nodes if d > after)[:limit]

    def sweep_nodes(self, digests: Sequence[bytes], roots: set[bytes]) -> set[bytes]:
        """Delete ``digests`` unless new roots are named (see Backend)."""
        with self._sweeping:
            new = self.node_roots() - roots
            if new:
                return new
            with self._lock:
                for digest in digests:
                    self._nodes.pop(digest, None)
                self._epoch += 1
            return set()

    def nodes(self, digests: Sequence[bytes]) -> dict[bytes, bytes]:
        """The bodies of those of ``digests`` that are kept."""
        with self._lock:
            self._check()
            kept = self._nodes
            return {d: kept[d] for d in digests if d in kept}

    def has_nodes(self, digests: Sequence[bytes]) -> set[bytes]:
        """Those of ``digests`` that are kept."""
        with self._lock:
            self._check()
            return {d for d in digests if d in self._nodes}

    def checkpoint(self, timeline: str, number: int) -> tuple[str, str] | None:
        """A checkpoint, or ``None``."""
        with self._lock:
            self._check()
            return self._checkpoints.get(timeline, {}).get(number)

    def checkpoints(self, timeline: str) -> list[int]:
        """The revisions that have checkpoints."""
        with self._lock:
            self._check()
            return sorted(self._checkpoints.get(timeline, {}))

    def data_version(self) -> int:
        """Moves with every append and erasure (no other process writes here)."""
        return self._version

    def erase(self, timeline: str, number: int, tombstone: str) -> None:
        """Drop a payload, keep the tombstone."""
        with self._lock:
            self._check()
            rows = self._rows.get(timeline, {})
            row = rows.get(number)
            if row is None:
                raise RevisionNotFoundError(
                    f"timeline {timeline!r} has no revision {number} to erase"
                )
            rows[number] = row._replace(payload=None, erased=tombstone)
            self._version += 1

    def trims(self, timeline: str) -> list[RangeTombstone]:
        """The range tombstones of ``timeline``, oldest first."""
        with self._lock:
            self._check()
            return list(self._trims.get(timeline, ()))

    def put_trim(
        self,
        timeline: str,
        tombstone: RangeTombstone,
        expect: str | None,
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store a tombstone (replacing one with its ``first``) and checkpoints."""
        with self._lock:
            self._check()
            self._put_trim(timeline, tombstone, expect, checkpoints, heads)

    def _put_trim(
        self,
        timeline: str,
        tombstone: RangeTombstone,
        expect: str | None,
        checkpoints: Sequence[Checkpoint],
        heads: Heads | None,
    ) -> None:
        kept = self._trims.get(timeline, [])
        newest = kept[-1].seal if kept else None
        if newest != expect:
            raise ConflictError(
                f"timeline {timeline!r} was trimmed by another writer meanwhile",
                [(timeline, tombstone.first)],
            )
        kept = [t for t in kept if t.first != tombstone.first] + [tombstone]
        self._trims[timeline] = sorted(kept, key=lambda t: t.first)
        if checkpoints:
            stored = self._checkpoints.setdefault(timeline, {})
            for number, value, digest in checkpoints:
                stored[number] = (value, digest)
        if heads is not None:
            self._heads[timeline] = Heads(
                heads.branch, heads.cursor, dict(heads.tips), heads.seal
            )

    def delete_trimmed(self, timeline: str, upto: int, limit: int) -> int:
        """Remove at most ``limit`` of the oldest rows a tombstone covers."""
        with self._lock:
            self._check()
            return len(self._delete_trimmed(timeline, upto, limit))

    def _delete_trimmed(self, timeline: str, upto: int, limit: int) -> list[Row]:
        kept = self._trims.get(timeline)
        if not kept:
            return []
        upto = min(upto, kept[-1].last)
        rows = self._rows.get(timeline, {})
        gone = sorted(n for n in rows if n <= upto)[:limit]
        checkpoints = self._checkpoints.get(timeline, {})
        for number in gone:
            checkpoints.pop(number, None)
        return [rows.pop(number) for number in gone]

    def close(self) -> None:
        """Forget everything."""
        with self._lock:
            self._closed = True
