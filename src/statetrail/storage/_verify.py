"""Checking a stored history: at open, and in full with :func:`verify`.

:func:`verify` goes through every timeline a page of rows at a time, so its
memory stays bounded whatever the length of the history (the values of the last
few hundred revisions, for the patches that follow them, and one checkpoint at
a time). It does not stop at the first problem: every problem found goes into
the :class:`~statetrail.CorruptHistoryError` it raises, as
``(timeline, number, what)``, so a damaged file is described once, whole.

What it checks, per timeline: each row's digest, tombstone and link in the chain
(``_integrity``); that numbers run without gaps; that each payload decodes and
its patch applies to its parent's value; each checkpoint's digest, its value
against the value digest its row commits to (format 3, ``_value_digest``)
and, where the value can be rebuilt from patches, against that value; the end
record against the newest row (truncation); the heads' seal (a cursor or tip
moved by hand); and against an anchor, that the revision it names still has its
chain; and the path index against the rows' ``paths`` (a missing or extra
entry: the index is not covered by the chain). Before the rows, the backend's
own checks (SQLite's ``quick_check`` or ``integrity_check``).

:func:`opening_problems` is the cheap part, run whenever a timeline is loaded:
the end record and the heads, against rows already read and verified.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import orjson

from statetrail.errors import CorruptHistoryError, StatetrailError
from statetrail.frozen._hooks import real
from statetrail.storage import _integrity as integrity
from statetrail.storage import _nodes as nodes
from statetrail.storage import _ranges, codec
from statetrail.storage._journal import (
    CHECKPOINT_EVERY,
    CHECKPOINT_NOT_COMMITTED,
    MISSING_PARENT,
    NeedsCheckpoint,
    read_value,
    row_steps,
    row_value,
)
from statetrail.storage._ranges import Cut
from statetrail.storage._sealed import contains_placeholder
from statetrail.storage._value_digest import Tracker
from statetrail.storage.base import Backend, End, Heads, Problem, RangeTombstone, Row
from statetrail.timeline import Erased

__all__ = [
    "Progress",
    "anchor_of",
    "corrupt",
    "opening_problems",
    "problems_of",
    "verify",
]

#: ``progress(timeline, done, total)``, called as rows are checked.
Progress = Callable[[str, int, int], None]

T = TypeVar("T")

#: Rows read per query.
PAGE = 512
#: Decoded values kept for the patches of the next rows (a branch whose parent
#: fell out is read back from its checkpoint).
_VALUES_KEPT = 256
_CHAINS_KEPT = 4096


def corrupt(problems: Sequence[Problem], where: str) -> CorruptHistoryError:
    """The error listing ``problems`` (the first few in its message)."""
    lines = [
        f"{'' if t is None else repr(t)}"
        f"{'' if n is None else f' revision {n}'}: {what}".strip()
        for t, n, what in problems[:5]
    ]
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return CorruptHistoryError(
        f"{where} was altered on disk or is damaged, {len(problems)} problem(s): "
        + "; ".join(lines)
        + more
        + "; restore it from a backup",
        problems,
    )


def end_problems(
    name: str,
    end: End | None,
    count: int,
    chain_at: Callable[[int], str | None],
    after: End | None,
) -> list[Problem]:
    """Whether the rows reach the end record (``count``: numbers 0 .. count-1).

    ``end`` was read before the rows, ``after`` after them: rows beyond the end
    record are another process's appends only if the record moved meanwhile.
    """
    if after is not None and after.length < count:
        return [
            (
                name,
                after.length,
                f"revisions from {after.length} on are beyond the end record "
                "(the end record was moved back)",
            )
        ]
    if end is None:
        if count:
            return [(name, None, "has no end record (removed?), so truncation "
                     "cannot be ruled out")]  # fmt: skip
        return []
    if end.length > count:
        return [
            (
                name,
                count,
                f"the newest {end.length - count} revision(s) are missing: the end "
                f"record says {end.length} (truncated)",
            )
        ]
    if end.length < 1 or chain_at(end.length - 1) != end.chain:
        return [
            (
                name,
                end.length - 1,
                "does not match the end record's chain (altered)",
            )
        ]
    return []


def heads_problems(
    name: str, heads: Heads | None, count: int, chain_at: Callable[[int], str | None]
) -> list[Problem]:
    """Whether the saved heads point at stored revisions and match their seal.

    A timeline with revisions has heads: the first revision is stored with them.
    """
    if heads is None:
        if count:
            return [(name, None, "has no heads (removed?)")]
        return []
    chains: dict[int, str] = {}
    for number in (heads.cursor, *heads.tips.values()):
        chain = chain_at(number)
        if chain is None:
            return [(name, number, "the heads point at a revision that is not stored")]
        chains[number] = chain
    if heads.seal != integrity.heads_seal(name, heads, chains):
        return [
            (
                name,
                heads.cursor,
                "the heads (cursor or a branch tip) do not match their seal (altered)",
            )
        ]
    return []


def opening_problems(
    backend: Backend,
    name: str,
    rows: Sequence[Row],
    end: End | None,
    heads: Heads | None,
) -> list[Problem]:
    """What a timeline being opened has wrong beyond its rows (already verified).

    ``end`` must have been read before ``rows``: an append by another process in
    between then leaves more rows than the end record says, never fewer.
    """
    chains = {r.number: r.chain for r in rows}

    def chain_at(number: int) -> str | None:
        chain = chains.get(number)
        if chain is None:
            row = backend.row(name, number)
            chain = None if row is None else row.chain
        return chain

    count = rows[-1].number + 1 if rows else 0
    after = end if end is not None and end.length >= count else backend.end(name)
    return [
        *end_problems(name, end, count, chain_at, after),
        *heads_problems(name, heads, count, chain_at),
    ]


def anchor_of(backend: Backend, names: Iterable[str]) -> list[integrity.Anchor]:
    """The anchors of ``names``: each one's newest revision and its chain."""
    anchors = []
    for name in names:
        end = backend.end(name)
        if end is None or end.length < 1:
            raise CorruptHistoryError(
                f"timeline {name!r} has no end record; run verify() first"
            )
        anchors.append(integrity.Anchor(name, end.length - 1, end.chain))
    return anchors


class _Timeline:
    """The check of one timeline, a page of rows at a time."""

    def __init__(
        self,
        backend: Backend,
        name: str,
        problems: list[Problem],
        allow_pickle: bool,
        every: int,
    ) -> None:
        self.backend = backend
        self.name = name
        self.problems = problems
        self.pickle = allow_pickle
        self.every = every
        self.values: OrderedDict[int, Any] = OrderedDict()
        self.chains: OrderedDict[int, str] = OrderedDict()
        self.checkpoints: set[int] = set()
        # Rows whose value cannot be had because of a problem already reported
        # (theirs or an ancestor's): their descendants are not reported again.
        self.broken: set[int] = set()
        self.unread: set[int] = set()  # rows the backend could not read
        self.newer = False
        self.count = 0
        self.tracker = Tracker(allow_pickle=allow_pickle)
        #: The nodes checked lately in this pass (``_nodes.check``): checkpoints
        #: share most of theirs. Bounded: see _Recent.
        self.nodes_seen = _Recent()
        #: The checkpoints whose nodes are still to be checked, with their
        #: roots: a page's are walked together (check_nodes).
        self.pending: list[tuple[int, bytes]] = []
        # The newest row's value as a plain JSON tree, kept by applying each
        # next row's stored patch to it: a checkpoint is then compared as
        # parsed JSON, without decoding it into a frozen value or encoding the
        # value (each costs the size of the state; at 1,000 entries that was
        # 20 ms per checkpoint and most of verify's time).
        self.tree: Any = _NO_TREE
        self.tree_at = -1
        self.cut: Cut | None = None

    def problem(self, number: int | None, what: str) -> None:
        self.problems.append((self.name, number, what))

    def read(self, what: Callable[[], T], default: T) -> tuple[T, bool]:
        """``what()``, or ``default`` with the problem listed when it fails."""
        try:
            return what(), True
        except CorruptHistoryError as exc:
            self.problems.extend(problems_of(exc, self.name))
            return default, False

    def chain_at(self, number: int) -> str | None:
        chain = self.chains.get(number)
        if chain is None:
            row = self.backend.row(self.name, number)
            chain = None if row is None else row.chain
        return chain

    def run(self, progress: Progress | None, watch: set[int]) -> dict[int, str]:
        """Check every row; return the chains of the numbers in ``watch``."""
        name, backend = self.name, self.backend
        # Before the rows: later appends only add rows.
        end, end_read = self.read(lambda: backend.end(name), None)
        self.cut = self.trims()
        none: list[int] = []
        self.checkpoints = set(self.read(lambda: backend.checkpoints(name), none)[0])
        latest, _ = self.read(
            lambda: backend.latest(name), -1 if end is None else end.length - 1
        )
        total = max(latest + 1, end.length if end is not None else 0)
        seen: dict[int, str] = {}
        previous: str | None = integrity.ROOT_CHAIN
        expected = 0
        after = -1
        if self.cut is not None:  # the kept rows start after the newest trim
            previous, expected = self.cut.chain, self.cut.last + 1
            after = self.cut.last
            self.chains[self.cut.last] = self.cut.chain
        while after < latest:
            upto = min(after + PAGE, latest)
            for row in self.page(after, upto):
                if row.number != expected:
                    if type(row.number) is not int or row.number < expected:
                        self.problem(row.number, "is out of order or repeated")
                        continue
                    if not self.unread.issuperset(range(expected, row.number)):
                        gone = f"revisions {expected} to {row.number - 1} are missing"
                        self.problem(expected, gone)
                    previous = None
                self.row(row, previous)
                previous = row.chain if type(row.chain) is str else None
                expected = row.number + 1
                if row.number in watch:
                    seen[row.number] = row.chain
                self.count += 1
                if progress is not None:
                    progress(name, self.count, total)
            self.check_nodes()
            after = upto
        if self.unread:  # the end and heads cannot be judged: the cause is listed
            return seen
        if end_read:
            moved = end
            if end is None or end.length < expected:
                moved, _ = self.read(lambda: backend.end(name), end)
            self.problems.extend(
                end_problems(name, end, expected, self.chain_at, moved)
            )
        heads, heads_read = self.read(lambda: backend.heads(name), None)
        if heads_read:
            self.problems.extend(heads_problems(name, heads, expected, self.chain_at))
        return seen

    def trims(self) -> Cut | None:
        """Where the stored history starts, with the tombstones' problems listed.

        Tombstones that do not verify are listed and the rows checked from 0,
        so the rows they claim are gone show as missing too.
        """
        none: list[RangeTombstone] = []
        tombs, read = self.read(lambda: self.backend.trims(self.name), none)
        if not read or not tombs:
            return None
        problems = _ranges.range_problems(self.name, tombs)
        if problems:
            self.problems.extend(problems)
            return None
        return _ranges.cut_of(self.name, tombs)

    def trimmed(self, parent: int | None) -> bool:
        """Whether revision ``parent`` was trimmed away."""
        return self.cut is not None and parent is not None and parent <= self.cut.last

    def page(self, after: int, upto: int) -> list[Row]:
        """The rows numbered above ``after`` up to ``upto``.

        When the backend refuses the page (a damaged row), the others are read
        one by one.
        """
        try:
            return self.backend.read(self.name, after=after, upto=upto)
        except CorruptHistoryError:
            pass
        rows = []
        failed: list[tuple[int, int, str]] = []  # runs of rows failing alike
        for number in range(after + 1, upto + 1):
            try:
                row = self.backend.row(self.name, number)
            except CorruptHistoryError as exc:
                self.broken.add(number)
                self.unread.add(number)
                if failed and failed[-1][1] == number - 1 and failed[-1][2] == str(exc):
                    failed[-1] = (failed[-1][0], number, str(exc))
                else:
                    failed.append((number, number, str(exc)))
                continue
            if row is not None:
                rows.append(row)
        for first, last, why in failed:
            what = (
                "cannot be read"
                if first == last
                else f"(and up to {last}) cannot be read"
            )
            self.problem(first, f"{what}: {why}")
        return rows

    def row(self, row: Row, previous: str | None) -> None:
        number = row.number

        def parent_chain() -> str:
            chain = self.chain_at(row.parent) if row.parent is not None else None
            return "" if chain is None else chain

        version, problem = integrity.row_check(
            row, integrity.ROOT_CHAIN if previous is None else previous, parent_chain
        )
        if type(row.chain) is str:
            self.chains[number] = row.chain
        if len(self.chains) > _CHAINS_KEPT:
            self.chains.popitem(last=False)
        if problem is not None:
            if previous is not None or "chain" not in problem:
                self.problem(number, problem)
            self.broken.add(number)
            return
        if row.kind == "merge" and not (
            type(row.target) is int
            and 0 <= row.target < number
            and row.target != row.parent
        ):
            # Its digest covers the target, so only a writer's fault (or a
            # rewrite that recomputed the chain) gets here.
            self.problem(
                number,
                f"is a merge whose second parent {row.target!r} is not an earlier "
                "revision",
            )
        if version == 2:
            self.newer = True
        elif self.newer:
            self.problem(number, "is in the older format after newer ones (altered)")
        value = self.quick(row)
        if value is _NOT_QUICK:
            value = self.value(row)
            self.follow(row, value)
        if number in self.checkpoints:
            self.checkpoint(row, version, value)

    def quick(self, row: Row) -> Any:
        """Follow ``row`` on the JSON tree alone: ``_LAZY``, or ``_NOT_QUICK``.

        Its patch is decoded (so a payload that does not decode is still found)
        but not applied to a frozen value: that value is built from storage
        only if a later row or check needs it. Anything unusual goes the slow
        way, which reports it.
        """
        parent = row.parent
        if (
            self.tree is _NO_TREE
            or self.tree_at != parent
            or parent is None
            or row.payload is None
            or parent in self.broken
            # A row that commits to its value's digest (format 3) is checked
            # against it, which needs the frozen value: the full way.
            or integrity.committed_value(row) is not None
        ):
            return _NOT_QUICK
        try:
            payload = orjson.loads(row.payload)
            if type(payload) is not dict or len(payload) != 1:
                return _NOT_QUICK
            patch = payload["patch"]
            if not _plain_patch(patch):
                codec.changes_from_json(patch, allow_pickle=self.pickle)
        except (
            orjson.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            RecursionError,
            StatetrailError,
        ):
            return _NOT_QUICK
        try:
            tree = _apply_tree(self.tree, patch)
        except (_NoTree, KeyError, IndexError, TypeError):
            self.tree = _NO_TREE  # half applied: rebuilt at the next whole value
            return _NOT_QUICK
        self.tree, self.tree_at = tree, row.number
        self.values[row.number] = _LAZY
        if len(self.values) > _VALUES_KEPT:
            self.values.popitem(last=False)
        return _LAZY

    def built(self, row: Row) -> Any:
        """The frozen value of a row followed only on the tree.

        ``_UNKNOWN`` if it cannot be had.
        """
        try:
            base = read_value(
                self.backend,
                self.name,
                row.parent,  # type: ignore[arg-type]  # quick() rows have parents
                checkpoint_every=self.every,
                allow_pickle=self.pickle,
            )
            return real(row_value(row, base, allow_pickle=self.pickle))
        except (StatetrailError, NeedsCheckpoint, ValueError, TypeError):
            return _UNKNOWN

    def follow(self, row: Row, value: Any) -> None:
        """Bring the JSON tree to ``row``, or drop it until the next checkpoint."""
        tree, self.tree = self.tree, _NO_TREE
        if value is _UNKNOWN or row.payload is None:
            return
        try:
            payload = orjson.loads(row.payload)
            if "value" in payload:
                tree = payload["value"]
            elif tree is _NO_TREE or self.tree_at != row.parent:
                return
            else:
                tree = _apply_tree(tree, payload["patch"])
        except (orjson.JSONDecodeError, _NoTree, KeyError, TypeError):
            return
        self.tree, self.tree_at = tree, row.number

    def value(self, row: Row) -> Any:
        """The row's value from its parent's, or ``_UNKNOWN`` if it cannot be had."""
        parent = row.parent
        base: Any = None
        if row.payload is None:  # erased: its tombstone is its value
            parent = None
        broken = False  # the parent's value is lost to a problem listed already
        if self.trimmed(parent):
            parent = None  # its checkpoint (sealed by the range tombstone) holds it
            base = _UNKNOWN
        if parent is not None:
            base = self.values.get(parent, _UNKNOWN)
            if parent in self.broken:
                base, broken = _UNKNOWN, True
            elif base is _UNKNOWN or base is _LAZY:
                try:
                    base = real(  # loaded whole: verify reads every node anyway
                        read_value(
                            self.backend,
                            self.name,
                            parent,
                            checkpoint_every=self.every,
                            allow_pickle=self.pickle,
                        )
                    )
                except StatetrailError:
                    base, broken = _UNKNOWN, True  # listed when that row is checked
        try:
            value = row_value(
                row,
                MISSING_PARENT if base is _UNKNOWN else base,
                allow_pickle=self.pickle,
            )
        except NeedsCheckpoint:
            if row.number not in self.checkpoints and not broken:
                gone = "a trimmed" if self.trimmed(row.parent) else "an erased"
                self.problem(
                    row.number,
                    f"follows {gone} revision and has no checkpoint: its value is lost",
                )
            value = _UNKNOWN
        except (StatetrailError, ValueError, TypeError, RecursionError) as exc:
            self.problem(row.number, f"its payload does not decode: {exc}")
            value = _UNKNOWN
        if value is _UNKNOWN:
            self.broken.add(row.number)  # a checkpoint may still give it
        elif type(value) is not Erased:
            self.commitment(row, value)
        self.values[row.number] = value
        if len(self.values) > _VALUES_KEPT:
            self.values.popitem(last=False)
        return value

    def commitment(self, row: Row, value: Any) -> None:
        """Check the value digest ``row`` commits to (format 3) against ``value``.

        The tracker follows the patches from one row to its child, so this
        costs what each revision changed; a row on another branch than the last
        one checked hashes its whole value.
        """
        committed = integrity.committed_value(row)
        if committed is None:
            self.tracker.forget()
            return
        tracker = self.tracker
        if contains_placeholder(value):
            # Encrypted and no key here: the digest commits to the plain value
            # (docs/interceptors.md); the chain, over the stored bytes, is checked.
            tracker.forget()
            return
        try:
            if row.parent is not None and tracker.number == row.parent:
                found = tracker.advance(row_steps(row, self.pickle), value, row.number)
            else:
                found = tracker.reset(value, row.number)
        except (StatetrailError, ValueError, TypeError, RecursionError) as exc:
            tracker.forget()
            self.problem(row.number, f"its value cannot be hashed: {exc}")
            return
        if found != committed:
            tracker.forget()
            self.problem(
                row.number,
                "its value digest does not match the value its patches give (altered)",
            )

    def sealed_by_parent(self, row: Row) -> str | None:
        """The checkpoint digest the parent's tombstone lists for ``row``.

        For a parent trimmed away, the one the range tombstone lists.
        """
        if row.parent is None:
            return None
        if self.cut is not None and row.parent <= self.cut.last:
            return self.cut.checkpoints.get(row.number, "")
        parent = self.backend.row(self.name, row.parent)
        tomb = None if parent is None else integrity.parse_tombstone(parent.erased)
        if tomb is None or not tomb.checkpoints:  # format 1, or not erased
            return None
        return tomb.checkpoints.get(str(row.number), "")

    def checkpoint(self, row: Row, version: int, value: Any) -> None:
        stored = self.backend.checkpoint(self.name, row.number)
        if stored is None:
            self.problem(row.number, "its checkpoint is listed but cannot be read")
            return
        text, digest = stored
        problem = integrity.checkpoint_problem(row.chain, version, text, digest)
        if problem is not None:
            self.problem(row.number, problem)
            return
        if self.tree is not _NO_TREE and self.tree_at == row.number:
            try:
                # The same bytes as the tree written canonically: nothing to
                # parse. Else the same value, read strictly (an older file's
                # keys may be in another order).
                if orjson.dumps(self.tree) == text.encode():
                    return
                if codec.parse(text) == self.tree:
                    return
            except (CorruptHistoryError, orjson.JSONEncodeError):
                pass  # reported below
        try:
            root = nodes.referenced(text)
        except CorruptHistoryError as exc:
            self.problem(row.number, f"its checkpoint does not decode: {exc}")
            return
        if root is not None:
            self.node_checkpoint(row, digest, root, value)
            return
        if value is _LAZY:
            value = self.built(row)
        try:
            kept = codec.from_json(codec.parse(text), allow_pickle=self.pickle)
        except (StatetrailError, ValueError, TypeError, RecursionError) as exc:
            self.problem(row.number, f"its checkpoint does not decode: {exc}")
            return
        committed = integrity.committed_value(row)
        # Where only the checkpoint holds the value, it must be the one its row
        # names: that row was chained when it was written, whatever was erased
        # or recomputed since. (A value the patches give was checked against it
        # already, and the checkpoint is compared with that value below.)
        if (
            committed is not None
            and value is _UNKNOWN
            and self.tracker.reset(kept, row.number) != committed
        ):
            self.tracker.forget()
            self.problem(row.number, CHECKPOINT_NOT_COMMITTED)
            return
        if value is _UNKNOWN:
            # Only the checkpoint holds this value: its digest must be the one
            # the erased parent's tombstone sealed.
            self.values[row.number] = kept  # the value its children build on
            self.broken.discard(row.number)
            sealed = self.sealed_by_parent(row)
            if sealed is not None and sealed != digest:
                whose = (
                    "the range tombstone"
                    if self.trimmed(row.parent)
                    else "its erased parent's tombstone"
                )
                what = f"its checkpoint is not the one {whose} sealed (altered)"
                self.problem(row.number, what)
        elif type(value) is not Erased and not _same(kept, value):
            self.problem(
                row.number,
                "its checkpoint holds another value than its patches give (altered)",
            )

    def check_nodes(self) -> None:
        """Check the nodes of the checkpoints put off (a page's), together.

        One walk over all their trees reads a level of them a query; when it
        finds a problem, ``seen`` is put back as it was and each is walked on
        its own, so the problem is listed under every checkpoint that reaches
        it, as when each was walked as it came.
        """
        pending, self.pending = self.pending, []
        if not pending:
            return
        seen, fetch = self.nodes_seen, self.backend.nodes
        seen.settle()
        newer, older = set(seen), set(seen.older)
        try:
            roots = [root for _, root in pending]
            nodes.check_many(fetch, roots, seen, allow_pickle=self.pickle)
            return
        except CorruptHistoryError:
            seen.clear()
            seen.update(newer)
            seen.older = older
        for number, root in pending:
            seen.settle()
            try:
                nodes.check(fetch, root, seen, allow_pickle=self.pickle)
            except CorruptHistoryError as exc:
                self.problem(number, f"its checkpoint's nodes: {exc}")

    def node_checkpoint(self, row: Row, digest: str, root: bytes, value: Any) -> None:
        """Check a checkpoint that names its value's root node (``_nodes``).

        Its nodes are checked against their digests (each once per pass, with
        the other checkpoints of its page: :meth:`check_nodes`), its
        root against the row's value digest: a value its patches gave was
        checked against that digest already, so the two are the same value.
        """
        committed = integrity.committed_value(row)
        if committed is None or root.hex() != committed:
            self.problem(row.number, CHECKPOINT_NOT_COMMITTED)
            return
        try:
            if value is _UNKNOWN:
                kept = nodes.load(self.backend.nodes, root, allow_pickle=self.pickle)
            else:
                self.pending.append((row.number, root))  # checked with its page's
                return
        except CorruptHistoryError as exc:
            self.problem(row.number, f"its checkpoint's nodes: {exc}")
            return
        if value is _UNKNOWN:
            self.values[row.number] = kept
            self.broken.discard(row.number)
            sealed = self.sealed_by_parent(row)
            if sealed is not None and sealed != digest:
                whose = (
                    "the range tombstone"
                    if self.trimmed(row.parent)
                    else "its erased parent's tombstone"
                )
                self.problem(
                    row.number,
                    f"its checkpoint is not the one {whose} sealed (altered)",
                )


_UNKNOWN: Any = object()
_NO_TREE: Any = object()
#: How many checked nodes' digests a verify pass lets a generation reach
#: before starting another (some 100 bytes each).
_NODES_SEEN_KEPT = 1 << 12


class _Recent(set[bytes]):
    """The digests of the nodes checked lately: two generations, bounded.

    A walk over a checkpoint's nodes stops at each node already checked, so
    only the new nodes and the few at the top of what consecutive checkpoints
    share are asked for; asking keeps a node of the older generation. Between
    two walks (:meth:`settle`), a generation grown past :data:`_NODES_SEEN_KEPT`
    becomes the older one and the older is forgotten: a walk never loses what
    it needs from the one before, and verify's memory stays the same at any
    length of history (issue 11; one set cleared at 1 << 20 grew with the
    history up to about 100 MiB). It holds at most two checkpoints' worth of
    nodes, as many as the state has, the first time.
    """

    __slots__ = ("older",)

    def __init__(self) -> None:
        super().__init__()
        self.older: set[bytes] = set()

    def __contains__(self, digest: object) -> bool:
        if set.__contains__(self, digest):
            return True
        if digest in self.older:
            self.add(digest)  # still shared: keep it
            return True
        return False

    def settle(self) -> None:
        """Start a new generation if this one is full (between two walks)."""
        if len(self) >= _NODES_SEEN_KEPT:
            self.older = set(self)
            self.clear()


#: A row's value that was only followed on the JSON tree (built when needed).
_LAZY: Any = object()
#: quick() could not follow the row.
_NOT_QUICK: Any = object()


class _NoTree(Exception):
    """A patch the plain JSON tree cannot follow (a tagged container on its path)."""


_SCALARS = (str, int, float, bool, type(None))


def _plain_patch(patch: Any) -> bool:
    """Whether ``patch`` is well formed with only scalar values and plain steps.

    Such a patch decodes as it is (the codec would only copy it), so decoding
    it to check it is skipped. ``False`` sends it to the codec, which decides.
    """
    if type(patch) is not list:
        return False
    for op in patch:
        if type(op) is not list or not 2 <= len(op) <= 3:
            return False
        kind, steps = op[0], op[1]
        if type(steps) is not list or any(
            type(step) is not str and type(step) is not int for step in steps
        ):
            return False
        if len(op) == 2:
            if kind != "-":
                return False
        elif (kind != "=" and kind != "+") or type(op[2]) not in _SCALARS:
            return False
    return True


def _apply_tree(tree: Any, patch: Any) -> Any:
    """``patch`` (stored operations) applied in place to a plain JSON tree.

    Raises:
        _NoTree: A step goes through something other than a plain object or
            array, or does not fit it.
    """
    for op in patch:
        kind, steps = op[0], op[1]
        if not steps:
            if kind != "=":
                raise _NoTree
            tree = op[2]
            continue
        node = tree
        for step in steps[:-1]:
            node = _child(node, step)
        last = steps[-1]
        if type(node) is dict and type(last) is str and "$t" not in node:
            # A replace or removal needs the key, an add its absence: anything
            # else goes the slow way, which reports it.
            if (last in node) == (kind == "+"):
                raise _NoTree
            if kind == "-":
                del node[last]
            else:
                node[last] = op[2]
        elif type(node) is list and type(last) is int and 0 <= last <= len(node):
            if kind == "+":
                node.insert(last, op[2])
            elif last == len(node):
                raise _NoTree
            elif kind == "-":
                del node[last]
            else:
                node[last] = op[2]
        else:
            raise _NoTree
    return tree


def _child(node: Any, step: Any) -> Any:
    if type(node) is dict and type(step) is str and "$t" not in node:
        return node[step]
    if type(node) is list and type(step) is int and 0 <= step < len(node):
        return node[step]
    raise _NoTree


def problems_of(exc: CorruptHistoryError, name: str | None) -> list[Problem]:
    """The problems ``exc`` lists, as problems of timeline ``name``."""
    return [(name if t is None else t, n, what) for t, n, what in exc.problems]


def _same(kept: Any, value: Any) -> bool:
    if kept == value:
        return True
    try:
        return codec.canonical(codec.to_json(kept)) == codec.canonical(
            codec.to_json(value)
        )
    except (StatetrailError, ValueError, TypeError):
        return False


def verify(
    backend: Backend,
    names: Sequence[str] | None = None,
    *,
    anchors: Sequence[integrity.Anchor] = (),
    full: bool = False,
    progress: Progress | None = None,
    allow_pickle: bool = False,
    checkpoint_every: int = CHECKPOINT_EVERY,
    where: str = "the history",
) -> dict[str, int]:
    """Check everything stored (or the timelines ``names``); see the module.

    Returns:
        The number of revisions checked per timeline.

    Raises:
        CorruptHistoryError: Something does not verify; ``problems`` lists
            every problem found.
    """
    problems: list[Problem] = []
    try:
        problems.extend(backend.check(full))
    except CorruptHistoryError as exc:
        problems.extend(problems_of(exc, None))
    try:
        stored = backend.timelines()
    except CorruptHistoryError as exc:
        problems.extend(problems_of(exc, None))
        stored = []
    wanted = list(stored) if names is None else list(names)
    by_name: dict[str, list[integrity.Anchor]] = {}
    for anchor in anchors:
        by_name.setdefault(anchor.name, []).append(anchor)
        if anchor.name not in wanted:
            wanted.append(anchor.name)
    checked: dict[str, int] = {}
    options = (progress, allow_pickle, checkpoint_every)
    for name in wanted:
        try:
            count = _one(backend, name, problems, stored, by_name, options)
        except CorruptHistoryError as exc:  # one timeline's: go on with the others
            problems.extend(problems_of(exc, name))
            continue
        if count is not None:
            checked[name] = count
    if problems:
        raise corrupt(list(dict.fromkeys(problems)), where)  # each listed once
    return checked


def _one(
    backend: Backend,
    name: str,
    problems: list[Problem],
    stored: list[str],
    by_name: dict[str, list[integrity.Anchor]],
    options: tuple[Progress | None, bool, int],
) -> int | None:
    """Check timeline ``name`` into ``problems``; the revisions checked."""
    progress, allow_pickle, checkpoint_every = options
    if name not in stored and backend.end(name) is None:
        problems.append(
            (
                name,
                None,
                "is not stored"
                + (", though the anchor names it" if name in by_name else ""),
            )
        )
        return None
    check = _Timeline(backend, name, problems, allow_pickle, checkpoint_every)
    pinned = by_name.get(name, [])
    seen = check.run(progress, {a.number for a in pinned})
    # The path index is not covered by the chain: it is compared with the rows.
    try:
        problems.extend(backend.index_problems(name))
    except CorruptHistoryError as exc:
        problems.extend(problems_of(exc, name))
    for anchor in pinned:
        chain = seen.get(anchor.number)
        if chain is None and check.cut is not None and anchor.number <= check.cut.last:
            what = _ranges.anchor_problem(check.cut, anchor.number, anchor.chain)
            if what is not None:
                problems.append((name, anchor.number, what))
        elif chain is None:
            problems.append(
                (
                    name,
                    anchor.number,
                    "is gone: the anchor names it (truncated since the anchor)",
                )
            )
        elif chain[: integrity.ANCHOR_HEX] != anchor.chain:
            problems.append(
                (
                    name,
                    anchor.number,
                    "has another chain than the anchor's: revisions up to it "
                    "were rewritten since the anchor",
                )
            )
    return check.count
