"""The contract every storage backend keeps.

A backend stores rows: one :class:`Row` per revision, plus checkpoints and each
timeline's heads. It knows nothing of values: payloads arrive already encoded as
JSON text (by :mod:`statetrail.storage.codec`), so a backend is only persistence,
and the same contract test suite runs against every one of them.

Rows hold a *patch* against the parent revision (revision 0's replaces the whole
value), a digest of their content and a hash chained to the previous revision's,
so a history altered on disk is detected. Checkpoints hold whole values every so
many revisions, bound to their revision's chain: they let a revision be read
without replaying the history from the start, and keep it readable after a
payload is erased. Each timeline also has an end record (:class:`End`), kept by
the append itself, so that deleting the newest revisions is detected too; what
each part's digest covers is argued in ``_integrity``.

Every method is atomic. Driver errors are raised as
:class:`~statetrail.StorageError` with the driver's error as ``__cause__``; a row
whose number is taken raises :class:`~statetrail.ConflictError` and stores nothing.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, NamedTuple

from statetrail.storage import _index

__all__ = [
    "Backend",
    "Checkpoint",
    "End",
    "Fork",
    "Heads",
    "Problem",
    "RangeTombstone",
    "Row",
]


class Row(NamedTuple):
    """One revision as a backend keeps it: primitives and JSON text only.

    A named tuple: one is made for every revision written or read, and a tuple is
    made in one call (a frozen dataclass takes seventeen ``__setattr__`` calls).

    Attributes:
        timeline: The timeline's name.
        number: The revision number (unique per timeline).
        parent: The parent's number, ``None`` for revision 0.
        branch: The branch it was recorded on.
        time_ns: UTC time of recording, nanoseconds since the epoch.
        kind, target, label, author, comment: As on :class:`~statetrail.Revision`.
        extra: The front end's note, as JSON text (``None`` when there is none).
        origin: ``[file, line, function, thread, task]`` as JSON text, or ``None``.
        payload: The patch against the parent as JSON text; ``None`` once erased.
        paths: The changed paths as JSON Pointers, for path queries.
        digest: sha256 hex of the row's content (metadata and payload).
        chain: sha256 hex of the parent's chain and this digest.
        erased: The tombstone (who, why, when) as JSON text once the payload is
            erased, else ``None``.
    """

    timeline: str
    number: int
    parent: int | None
    branch: str
    time_ns: int
    kind: str
    target: int | None
    label: str | None
    author: str | None
    comment: str | None
    extra: str | None
    origin: str | None
    payload: str | None
    paths: tuple[str, ...]
    digest: str
    chain: str
    erased: str | None = None


class Checkpoint(NamedTuple):
    """The whole value of one revision, stored beside its row.

    Attributes:
        number: The revision number.
        value: The value as canonical JSON text.
        digest: sha256 hex of ``value``.
    """

    number: int
    value: str
    digest: str


def timeline_of(rows: Sequence[Row], checkpoints: Sequence[Checkpoint]) -> str:
    """The timeline ``rows`` belong to, checking that ``checkpoints`` are theirs.

    For :meth:`Backend.append`. Raises :class:`ValueError` for a checkpoint of a
    revision that is not among ``rows``.
    """
    if not rows:
        if checkpoints:
            raise ValueError("a checkpoint is appended with its row")
        return ""
    timeline = rows[0].timeline
    if checkpoints:
        numbers = {r.number for r in rows}
        for checkpoint in checkpoints:
            if checkpoint.number not in numbers:
                raise ValueError(
                    f"a checkpoint of revision {checkpoint.number} appended without "
                    "its row"
                )
    return timeline


@dataclass(frozen=True, slots=True)
class Heads:
    """Where a timeline's cursor is and each branch's newest revision.

    ``seal`` covers the cursor and tips with the chains of the revisions they
    point at (``None`` when the caller did not seal them).
    """

    branch: str
    cursor: int
    tips: dict[str, int] = field(default_factory=dict)
    seal: str | None = None


class End(NamedTuple):
    """The end of a timeline's history, as the appends left it.

    Attributes:
        length: How many revisions (the newest's number plus one).
        chain: The chain of the newest revision.
    """

    length: int
    chain: str


class Fork(NamedTuple):
    """A row that does not simply continue the row numbered before it.

    Its parent is not that row (the first revision, a write after going back,
    a rollback's branch), or it is on another branch. Between two forks every
    row's parent is the row before it, on the same branch: where a timeline's
    cursor and branch tips ended up follows from its forks alone (see
    :meth:`Backend.forks`).
    """

    number: int
    parent: int | None
    branch: str


#: How many rows :meth:`Backend.forks` reads at a time by default.
FORKS_PAGE = 1024


class RangeTombstone(NamedTuple):
    """What a trim left: revisions ``first..last`` of a timeline were removed.

    See ``_ranges`` for what the seal covers and how readers use it.

    Attributes:
        first: The oldest revision removed by this trim.
        last: The newest; the first revision kept is ``last + 1``.
        time_ns: When, UTC nanoseconds since the epoch.
        reason: Why (the retention rule, or the caller's reason).
        author: Who, if known.
        chain: The chain of revision ``last`` (the chain at the cut).
        checkpoints: JSON text: each kept revision whose parent was removed, with
            the digest of the checkpoint that holds its value.
        seal: sha256 hex over all of the above and the timeline's name.
    """

    first: int
    last: int
    time_ns: int
    reason: str
    author: str | None
    chain: str
    checkpoints: str
    seal: str


#: One problem a check found: the timeline (``None`` for the whole store), the
#: revision number (``None`` for the timeline as a whole), and what is wrong.
Problem = tuple[str | None, int | None, str]


class Backend(ABC):
    """Where revisions are kept.

    The memory, JSON file, SQLite and PostgreSQL backends implement it.
    """

    #: A short name for messages: "memory", "json", "sqlite", "postgresql".
    kind: ClassVar[str] = "backend"

    @abstractmethod
    def timelines(self) -> list[str]:
        """The names of the timelines stored, sorted."""

    @abstractmethod
    def append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store ``rows`` (of one timeline) in one transaction.

        ``checkpoints`` are whole values of some of those rows, kept in the same
        transaction as if by :meth:`put_checkpoint`: a durable write then waits
        for one commit, not two. ``heads`` are saved in it too, as if by
        :meth:`save_heads` (the first revision's: a timeline is never seen
        without them).

        Raises :class:`~statetrail.ConflictError`, storing none of them (and no
        checkpoint), when a row's number is already taken in its timeline.
        """

    @abstractmethod
    def read(
        self, timeline: str, after: int = -1, upto: int | None = None
    ) -> list[Row]:
        """The rows of ``timeline`` numbered above ``after``, in number order.

        With ``upto``, only those numbered at most ``upto``.
        """

    def forks(self, timeline: str, after: int = -1) -> list[Fork]:
        """The rows numbered above ``after`` that are forks (:class:`Fork`).

        A row is a fork when its parent is not the row numbered one below it,
        or its branch is not that row's (the row numbered ``after`` counts as
        the one before the first). The default reads the rows a page at a
        time; the SQL backends ask the database, so a long line of history
        without forks costs one query, not a read of every row.
        """
        out: list[Fork] = []
        branch: str | None = None
        if after >= 0:
            before = self.row(timeline, after)
            branch = None if before is None else before.branch
        previous = after
        while True:
            rows = self.read(timeline, after=previous, upto=previous + FORKS_PAGE)
            for row in rows:
                if (
                    row.parent != row.number - 1
                    or row.branch != branch
                    or row.number != previous + 1
                ):
                    out.append(Fork(row.number, row.parent, row.branch))
                branch = row.branch
                previous = row.number
            if not rows:
                if self.latest(timeline) <= previous:
                    return out
                # A gap as long as a page (trimmed, or a damaged number): go on
                # from the next stored row, not a page at a time across it.
                rest = self.read(timeline, after=previous)
                if not rest:
                    return out
                previous = rest[0].number - 1
                branch = None

    @abstractmethod
    def row(self, timeline: str, number: int) -> Row | None:
        """One row, or ``None``."""

    def rows(self, timeline: str, numbers: Sequence[int]) -> list[Row]:
        """The rows with these numbers that are stored, in number order.

        For a few scattered rows (a path's revisions, each with the row below
        it for its chain link): the SQL backends read them in one query. The
        default reads them one at a time.
        """
        found = (self.row(timeline, n) for n in sorted(set(numbers)))
        return [r for r in found if r is not None]

    def chains(self, timeline: str, numbers: Sequence[int]) -> dict[int, str]:
        """The chains of the stored rows with these numbers, by number.

        The links a few scattered rows are checked against, without the rest
        of the rows below them. The default reads the rows.
        """
        return {r.number: r.chain for r in self.rows(timeline, numbers)}

    @abstractmethod
    def latest(self, timeline: str) -> int:
        """The highest revision number of ``timeline`` (``-1`` if it has none)."""

    def data_version(self) -> int | None:
        """A number that changes whenever rows are added or erased, by anyone.

        A cheap look for news (one ``PRAGMA data_version`` on SQLite): a reader
        compares it with the one it had and reads only when it moved. Compare
        numbers read by one thread (SQLite's is its connection's). ``None``: this
        backend has no such signal, so a reader reads to find out.
        """
        return None

    @abstractmethod
    def end(self, timeline: str) -> End | None:
        """The end record of ``timeline``, ``None`` if it has none.

        Every append moves it to its newest row, in the same transaction, and
        nothing else changes it: rows deleted behind the backend's back leave it
        where it was.
        """

    def check(self, full: bool = False) -> list[Problem]:
        """The store's own consistency checks (SQLite's ``quick_check`` ...).

        With ``full``, the thorough ones (``integrity_check``). The default finds
        nothing: a backend in memory has no file to check.
        """
        return []

    @abstractmethod
    def save_heads(self, timeline: str, heads: Heads) -> None:
        """Record where the cursor is and each branch's tip."""

    @abstractmethod
    def heads(self, timeline: str) -> Heads | None:
        """The heads last saved, or ``None``."""

    @abstractmethod
    def put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        """Keep the whole value of revision ``number`` (JSON text) and its digest."""

    @abstractmethod
    def checkpoint(self, timeline: str, number: int) -> tuple[str, str] | None:
        """The checkpoint of revision ``number`` as ``(value, digest)``, or ``None``."""

    @abstractmethod
    def checkpoints(self, timeline: str) -> list[int]:
        """The revision numbers that have checkpoints, ascending."""

    def checkpoint_below(self, timeline: str, number: int) -> int | None:
        """The greatest revision number ``<= number`` with a checkpoint, or ``None``.

        A cold read starts from there (``_journal.read_value``) instead of
        listing every checkpoint number: the SQL backends answer with one probe
        of the checkpoints' primary key. This default bisects
        :meth:`checkpoints` (the JSON file holds them in memory anyway).
        """
        numbers = self.checkpoints(timeline)
        below = bisect.bisect_right(numbers, number)
        return numbers[below - 1] if below else None

    @abstractmethod
    def erase(self, timeline: str, number: int, tombstone: str) -> None:
        """Drop revision ``number``'s payload and keep ``tombstone`` in its place.

        The digest and chain stay, so the rest of the chain still verifies.
        Raises :class:`~statetrail.RevisionNotFoundError` if there is no such row.
        """

    # -- the node store (content-addressed checkpoints, see _nodes) --------------------

    #: Whether :meth:`put_nodes` keeps nodes: a checkpoint may then name a root
    #: node (``#nodes:<digest>``) instead of holding the whole value.
    stores_nodes: ClassVar[bool] = False

    def put_nodes(self, nodes: Sequence[tuple[bytes, bytes]]) -> None:
        """Keep ``nodes`` (digest, body), each unless one of its digest is kept.

        Durable when it returns, in every mode: a checkpoint naming them may be
        committed next. Shared by all timelines (content-addressed).
        """
        raise NotImplementedError(f"the {self.kind} backend keeps no nodes")

    def append_with_nodes(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint],
        nodes: Sequence[tuple[bytes, bytes]],
        heads: Heads | None = None,
        *,
        epoch: int | None = None,
    ) -> None:
        """:meth:`put_nodes`, then :meth:`append` (a checkpoint naming them).

        The default is the two calls; a backend may do both in one
        transaction (one commit to wait for). ``nodes`` are kept even when
        the append raises :class:`~statetrail.ConflictError` (unnamed nodes
        are harmless: content-addressed). ``heads`` as for :meth:`append`.
        ``epoch``: the sweep count (:meth:`node_epoch`) the writer read before
        it asked which nodes are stored; a backend that sweeps checks it in
        the append's transaction and raises ``_nodes.NodesSweptError``,
        writing nothing, when a sweep deleted nodes since.
        """
        if nodes:
            self.put_nodes(nodes)
        self.append(rows, checkpoints, heads)

    def node_epoch(self) -> int:
        """How many sweep batches have deleted nodes (0: never swept)."""
        return 0

    def node_roots(self) -> set[bytes]:
        """The root digests the checkpoints of every timeline name."""
        raise NotImplementedError(f"the {self.kind} backend keeps no nodes")

    def node_digests(self, after: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` stored node digests above ``after``, in order."""
        raise NotImplementedError(f"the {self.kind} backend keeps no nodes")

    def sweep_nodes(self, digests: Sequence[bytes], roots: set[bytes]) -> set[bytes]:
        """Delete ``digests`` unless a checkpoint names a root not in ``roots``.

        One transaction: the roots named now are read first; those not in
        ``roots`` (checkpoints committed since the caller's mark) are returned
        and nothing is deleted. Else the nodes are deleted, the sweep count
        moves on, and the empty set is returned. See ``_nodes.sweep``.
        """
        raise NotImplementedError(f"the {self.kind} backend keeps no nodes")

    def nodes(self, digests: Sequence[bytes]) -> dict[bytes, bytes]:
        """The bodies of those of ``digests`` that are kept, by digest."""
        return {}

    def has_nodes(self, digests: Sequence[bytes]) -> set[bytes]:
        """Those of ``digests`` that are kept."""
        return set(self.nodes(digests))

    # -- trimming (see _ranges and _trim) ------------------------------------------

    @abstractmethod
    def trims(self, timeline: str) -> list[RangeTombstone]:
        """The range tombstones of ``timeline``, oldest first."""

    @abstractmethod
    def put_trim(
        self,
        timeline: str,
        tombstone: RangeTombstone,
        expect: str | None,
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store ``tombstone``, ``checkpoints`` and ``heads`` in one transaction.

        A tombstone with the ``first`` of a stored one replaces it (a trim
        extended); ``heads`` replace the saved ones (which may point below the
        cut). ``expect`` is the seal of the newest tombstone the caller
        read (``None``: there was none); no rows are removed here.

        Raises:
            ConflictError: The newest tombstone is not ``expect`` any more
                (another trim came first); nothing is stored.
        """

    @abstractmethod
    def delete_trimmed(self, timeline: str, upto: int, limit: int) -> int:
        """Remove at most ``limit`` of the oldest rows numbered ``upto`` or less.

        Their checkpoints (and any other per-revision rows) go with them, in one
        short transaction; returns how many rows went. Only rows a stored
        tombstone covers are removed: ``upto`` is capped at the newest
        tombstone's ``last``.
        """

    def crossing(self, timeline: str, cut: int) -> list[int]:
        """The numbers at or above ``cut`` whose parent is below it, ascending.

        These keep their value through a checkpoint once the rows below ``cut``
        are gone. The default reads the rows; SQL backends ask the database.
        """
        out: list[int] = []
        after = cut - 1
        while True:
            rows = self.read(timeline, after=after, upto=after + 1024)
            if not rows:
                return out
            out += [r.number for r in rows if r.parent is not None and r.parent < cut]
            after = rows[-1].number

    # -- the path and time indexes (see _index) --------------------------------------

    def touching(
        self,
        timeline: str,
        path: str,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[int]:
        """Numbers of the revisions that changed ``path``, newest first.

        ``path`` is a JSON Pointer (``""`` is the whole value). A change at the
        path, under it, or at one of its ancestors counts (a write to ``/a``
        replaces ``/a/b``), as :meth:`~statetrail.Timeline.log` counts it.
        ``before`` keeps only numbers below it, ``limit`` the newest so many.
        Every branch's revisions are listed: the caller keeps those on its line.

        The default reads the rows; the SQL backends answer from their path
        index (one range scan and one point lookup per ancestor).

        Raises:
            ValueError: ``path`` is not a JSON Pointer, or ``limit`` is negative.
        """
        _index.check_pointer(path)
        _index.check_limit(limit)
        out: list[int] = []
        upto = None if before is None else before - 1
        for row in reversed(self.read(timeline, upto=upto)):
            if any(_index.touches(changed, path) for changed in row.paths):
                out.append(row.number)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def number_at(self, timeline: str, time_ns: int) -> int | None:
        """The revision recorded last at or before ``time_ns``, or ``None``.

        Times are the wall clock's (UTC nanoseconds since the epoch): the answer
        is the revision whose recorded time is the latest not after ``time_ns``,
        the highest number among equal times. A clock set back can record a
        revision with an earlier time than the one before it; the answer is
        still the one whose own time is latest. The default reads the rows; the
        SQL backends use their time index (one seek).
        """
        best: tuple[int, int] | None = None
        for row in self.read(timeline):
            key = (row.time_ns, row.number)
            if row.time_ns <= time_ns and (best is None or key > best):
                best = key
        return None if best is None else best[1]

    def line_breaks(
        self, timeline: str, after: int = -1
    ) -> list[tuple[int, int | None]]:
        """``(number, parent)`` of the rows above ``after`` breaking a run.

        A row breaks a run when its parent is not the row numbered one below;
        they come in ascending order. A line of history (a revision and its
        ancestors) is runs of consecutive numbers, each starting at one of
        these rows: a path's revisions on one line are found from them
        without reading the rows between. (A change
        of branch whose parent is the row below does not break a run.) The
        default reads the forks; the SQL backends read a partial index that
        holds only these rows.
        """
        return [
            (f.number, f.parent)
            for f in self.forks(timeline, after)
            if f.parent is None or f.parent != f.number - 1
        ]

    def index_problems(self, timeline: str) -> list[Problem]:
        """Entries of the path index that do not match the rows' ``paths``.

        The index is not covered by the hash chain, so ``verify`` compares it
        with the rows: a missing or an extra entry is a problem. The default
        finds none: backends that answer from their rows keep no index.
        """
        return []

    def reclaim(self) -> None:  # noqa: B027 - only files have space to give back
        """Give the space of removed rows back (SQLite ``incremental_vacuum``...)."""

    def close(self) -> None:  # noqa: B027 - optional: most backends hold resources
        """Release connections and files; the backend is unusable afterwards."""

    def flush(self) -> None:  # noqa: B027 - only batching backends buffer writes
        """Make every append so far durable (backends that batch writes)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
