"""Reading one stored timeline straight from its rows, a page at a time.

The inspector commands (``statetrail log``, ``show``, ``diff``, ``blame``,
``export``) and the web API read a history without building a
:class:`~statetrail.Timeline`, which would load every revision: a
:class:`StoredTimeline` reads only the rows a question needs, in pages of
:data:`PAGE`, and keeps none of them once they are handed on, so its memory is
bounded whatever the length of the history.

What it reads is checked as the engine checks it: each row against its digest
and its link in the hash chain, the end record against the newest row (a
truncated history is refused) and the saved heads against their seal. A
revision's value comes from its nearest checkpoint plus at most
``checkpoint_every`` patches (:func:`~statetrail.storage._journal.read_value`).

Where the cursor is: the heads a timeline saves when its cursor moves without a
write, carried along by the rows written since, as a timeline opening does
(:func:`~statetrail.storage._journal.heads_after`), but from the rows that fork
(:meth:`~statetrail.storage.base.Backend.forks`) rather than every row.
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from statetrail.diff import format_json_pointer
from statetrail.errors import CorruptHistoryError, RevisionNotFoundError
from statetrail.paths import PathLike, parse_path
from statetrail.revision import time_ns_at
from statetrail.storage import _integrity as integrity
from statetrail.storage._index import touches
from statetrail.storage._journal import (
    CHECKPOINT_EVERY,
    MISSING_PARENT,
    NeedsCheckpoint,
    read_value,
    row_value,
)
from statetrail.storage._ranges import cut_of
from statetrail.storage._row_checks import is_int
from statetrail.storage._verify import corrupt, end_problems, heads_problems
from statetrail.storage.base import Backend, Fork, Heads, Row

__all__ = ["PAGE", "StoredTimeline", "path_numbers", "touches"]

#: Rows read per query.
PAGE = 512
#: Rows the first query of a walk back along a line reads (then twice as many).
FIRST_PAGE = 32
#: A revision named by a time begins with a date.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def path_numbers(
    backend: Backend,
    name: str,
    path: PathLike,
    *,
    before: int | None = None,
    limit: int | None = None,
) -> list[int]:
    """Numbers of ``name``'s revisions that changed ``path``, newest first.

    From the backend's path index (a change under the path or at an ancestor
    counts), on every branch: for a timeline whose records are read from
    storage on demand, to answer ``blame`` and ``path_history`` with its own
    line's spans, never a replay. ``path`` is a dot-path, a JSON Pointer-style
    sequence of steps, or a tuple, as the engine's path methods take.
    """
    pointer = format_json_pointer(parse_path(path))
    return backend.touching(name, pointer, before=before, limit=limit)


def heads_from_forks(
    saved: Heads | None, forks: list[Fork], after: int, branch: str | None, latest: int
) -> Heads:
    """Where the cursor and tips are after the rows numbered above ``after``.

    ``forks`` are those rows' forks, ``branch`` the branch of row ``after`` and
    ``latest`` the newest row's number. Between forks each row continues the
    one before it, so a run of them moves the cursor only if it starts right
    after the cursor (as :func:`~statetrail.storage._journal.heads_after`).
    """
    if saved is None:
        cursor, current, tips = -1, "", {}
    else:
        cursor, current, tips = saved.cursor, saved.branch, dict(saved.tips)
    position = after + 1
    for fork in [*forks, None]:
        end = latest if fork is None else fork.number - 1
        if position <= end and branch is not None:
            tips[branch] = end
            if cursor == position - 1 or saved is None:
                cursor, current = end, branch
        if fork is None:
            break
        tips[fork.branch] = fork.number
        if fork.parent == cursor or saved is None:
            cursor, current = fork.number, fork.branch
        branch, position = fork.branch, fork.number + 1
    return Heads(current, cursor, tips)


class StoredTimeline:
    """One stored timeline, read on demand; see the module.

    Opening it reads the end record, the saved heads and the forks since they
    were saved, and checks the end and the heads.

    Raises:
        RevisionNotFoundError: There is no timeline ``name``.
        CorruptHistoryError: Its end record or heads do not verify.
    """

    def __init__(
        self,
        backend: Backend,
        name: str,
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
        allow_pickle: bool = False,
        page: int = PAGE,
    ) -> None:
        self.backend = backend
        self.name = name
        self.every = checkpoint_every
        self.pickle = allow_pickle
        self.page = page
        #: How many rows were read (for tests: memory follows the page, not this).
        self.rows_read = 0
        self._chains: dict[int, str] = {}
        self._breaks: list[tuple[int, int | None]] | None = None
        end = backend.end(name)
        latest = backend.latest(name)
        if latest < 0:
            if end is not None and end.length > 0:
                raise corrupt(
                    [(name, 0, f"all {end.length} revision(s) are missing")],
                    f"timeline {name!r}",
                )
            raise RevisionNotFoundError(
                f"there is no timeline {name!r} (timelines: "
                f"{', '.join(backend.timelines()) or 'none'})"
            )
        self.latest = latest
        # After a trim, the rows start after the newest range tombstone, whose
        # chain the first of them links to (see _ranges).
        self.cut = cut_of(name, backend.trims(name))
        self.first = 0 if self.cut is None else self.cut.last + 1
        saved = backend.heads(name)
        after = -1 if saved is None else max(saved.tips.values(), default=-1)
        after = min(after, latest)
        before = self._row(after) if after >= 0 else None
        forks = backend.forks(name, after)
        self.heads = heads_from_forks(
            saved, forks, after, None if before is None else before.branch, latest
        )
        problems = [
            *end_problems(name, end, latest + 1, self.chain_at, backend.end(name)),
            *heads_problems(name, saved, latest + 1, self.chain_at),
        ]
        if problems:
            raise corrupt(problems, f"timeline {name!r}")

    # -- single rows -----------------------------------------------------------------

    def _row(self, number: int) -> Row | None:
        row = self.backend.row(self.name, number)
        self.rows_read += row is not None
        return row

    def chain_at(self, number: int) -> str | None:
        """The chain of revision ``number`` (``None`` if it is not stored)."""
        if self.cut is not None and number == self.cut.last:
            return self.cut.chain
        chain = self._chains.get(number)
        if chain is None:
            row = self._row(number)
            if row is None:
                return None
            chain = row.chain
        return chain

    def _stored_chain(self, number: int) -> str:
        chain = self.chain_at(number)
        if chain is None:
            raise CorruptHistoryError(
                f"timeline {self.name!r} lacks revision {number}: the history was "
                "altered on disk"
            )
        return chain

    def check(self, row: Row, previous: str | None = None) -> Row:
        """``row``, checked against its digest and its link in the chain.

        ``previous`` is the chain of the row numbered one below (read when not
        given).
        """
        if row.timeline != self.name:
            raise CorruptHistoryError(
                f"a row of {row.timeline!r} among {self.name!r}'s"
            )
        if previous is None:
            previous = (
                integrity.ROOT_CHAIN
                if row.number == 0
                else self._stored_chain(row.number - 1)
            )
        parent = row.parent
        _, problem = integrity.row_check(
            row,
            previous,
            lambda: (
                integrity.ROOT_CHAIN if parent is None else self._stored_chain(parent)
            ),
        )
        if problem is not None:
            raise CorruptHistoryError(
                f"revision {row.number} of timeline {self.name!r} {problem}: the "
                "history was altered on disk",
                [(self.name, row.number, problem)],
            )
        return row

    def _trimmed(self, number: int) -> None:
        """Raise if revision ``number`` was trimmed away."""
        if self.cut is not None and 0 <= number <= self.cut.last:
            raise RevisionNotFoundError(
                f"revision {number} of timeline {self.name!r} was trimmed; stored "
                f"revisions start at {self.first}"
            )

    def row(self, number: int) -> Row:
        """Revision ``number``'s row, checked."""
        self._trimmed(number)
        row = self._row(number)
        if row is None:
            raise RevisionNotFoundError(
                f"timeline {self.name!r} has no revision {number} (revisions 0 to "
                f"{self.latest})"
            )
        return self.check(row)

    def value_at(self, number: int) -> Any:
        """Revision ``number``'s whole value (frozen), from its nearest checkpoint."""
        self._trimmed(number)
        return read_value(
            self.backend,
            self.name,
            number,
            checkpoint_every=self.every,
            allow_pickle=self.pickle,
            trimmed=self.cut,
        )

    def resolve(self, spec: str) -> int:
        """The revision number ``spec`` names: a number, ``-N``, a branch, ``head``.

        ``-1`` is the cursor, ``-2`` its parent and so on along its line. An
        ISO 8601 time (``2026-12-01T10:00Z``, an offset, or local time without
        one) names the revision recorded last at or before it, from the time
        index.
        """
        spec = spec.strip()
        if spec in ("", "head", "HEAD"):
            return self.heads.cursor
        if _ISO_DATE.match(spec) and spec not in self.heads.tips:
            return self._at_time(spec)  # a branch of that name comes first
        if spec.lstrip("-").isdigit():
            number = int(spec)
            if number >= 0:
                if number > self.latest:
                    raise RevisionNotFoundError(
                        f"timeline {self.name!r} has no revision {number} "
                        f"(revisions 0 to {self.latest})"
                    )
                return number
            steps = -number
            for row in self.lineage(self.heads.cursor):
                steps -= 1
                if steps == 0:
                    return row.number
            raise RevisionNotFoundError(
                f"revision {number}: the current line has only {-number - steps} "
                f"revisions; use -1 to -{-number - steps} or a revision number"
            )
        tip = self.heads.tips.get(spec)
        if tip is not None:
            return tip
        raise RevisionNotFoundError(
            f"{spec!r} is neither a revision number nor a branch"
        )

    def _at_time(self, spec: str) -> int:
        try:
            when = datetime.fromisoformat(spec)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {spec!r}") from None
        found = self.number_at(time_ns_at(when))
        if found is None:
            raise RevisionNotFoundError(
                f"timeline {self.name!r} has no revision recorded at or before {spec}"
            )
        return found

    def tip(self, branch: str | None) -> int:
        """The cursor (``branch`` ``None``) or a branch's newest revision."""
        if branch is None:
            return self.heads.cursor
        tip = self.heads.tips.get(branch)
        if tip is None:
            raise RevisionNotFoundError(
                f"timeline {self.name!r} has no branch {branch!r} (branches: "
                f"{', '.join(sorted(self.heads.tips))})"
            )
        return tip

    # -- the path and time indexes ---------------------------------------------------

    def spans(self, tip: int) -> list[tuple[int, int]]:
        """The runs ``(first, last)`` of numbers on ``tip``'s line, newest first.

        From the line breaks (:meth:`~statetrail.storage.base.Backend.line_breaks`):
        between two of them each row's parent is the row below, so a line is a
        few runs of consecutive numbers, each ending where its first row's
        parent is.
        """
        breaks = self._line_breaks()
        starts = [number for number, _ in breaks]
        out: list[tuple[int, int]] = []
        current: int | None = tip
        while current is not None and current >= self.first:
            at = bisect.bisect_right(starts, current) - 1
            if at < 0:  # no break at or below: the rows run from the first kept
                out.append((self.first, current))
                break
            number, parent = breaks[at]
            out.append((max(number, self.first), current))
            current = parent
        return out

    def _line_breaks(self) -> list[tuple[int, int | None]]:
        if self._breaks is None:
            self._breaks = self.backend.line_breaks(self.name, self.first - 1)
        return self._breaks

    def touching(self, pointer: str, tip: int, page: int = 64) -> Iterator[Row]:
        """The rows on ``tip``'s line that changed ``pointer``, newest first, checked.

        From the backend's path index (a change under the path or at an
        ancestor counts), a page of numbers at a time; each row is checked
        against its digest and chain, and its own ``paths`` (covered by the
        digest) must touch ``pointer``, so an index entry added by hand finds
        nothing.
        """
        spans = self.spans(tip)
        before = tip + 1
        while True:
            numbers = self.backend.touching(
                self.name, pointer, before=before, limit=page
            )
            kept = [
                n
                for n in numbers
                if n >= self.first and any(a <= n <= b for a, b in spans)
            ]
            # The rows in one read, the chains below them (their links) in one.
            found = {r.number: r for r in self.backend.rows(self.name, kept)}
            links = self.backend.chains(
                self.name, [n - 1 for n in kept if n - 1 not in found and n > 0]
            )
            self.rows_read += len(found)
            for number in kept:
                row = found.get(number)
                if row is None:
                    row = self.row(number)  # gone meanwhile (a trim): says so
                below = found.get(number - 1)
                previous = links.get(number - 1) if below is None else below.chain
                if self.cut is not None and number - 1 == self.cut.last:
                    previous = self.cut.chain
                self.check(row, previous)
                if any(touches(changed, pointer) for changed in row.paths):
                    yield row
            if len(numbers) < page or (numbers and numbers[-1] < self.first):
                return
            before = numbers[-1]

    def number_at(self, time_ns: int) -> int | None:
        """The revision recorded last at or before ``time_ns`` (the time index).

        ``None`` if none was, or only trimmed ones.
        """
        found = self.backend.number_at(self.name, time_ns)
        return None if found is None or found < self.first else found

    # -- many rows -------------------------------------------------------------------

    def _read(self, after: int, upto: int) -> list[Row]:
        rows = self.backend.read(self.name, after=after, upto=upto)
        self.rows_read += len(rows)
        return rows

    def lineage(self, tip: int) -> Iterator[Row]:
        """The rows from ``tip`` back along its parents to the first, checked.

        Rows are read a page at a time, newest first, each page reaching one row
        below itself (for the chain link of its lowest row). The first page is
        :data:`FIRST_PAGE` rows, each next one twice the last up to
        :attr:`page`: ``log --limit 20`` reads 33 rows, not 513.
        """
        page: dict[int, Row] = {}
        size = min(FIRST_PAGE, self.page)
        current: int | None = tip
        while current is not None and current >= self.first:
            row = page.get(current)
            if row is None:
                page = {r.number: r for r in self._read(current - size - 1, current)}
                size = min(2 * size, self.page)
                row = page.get(current)
                if row is None:
                    if current == tip:
                        raise RevisionNotFoundError(
                            f"timeline {self.name!r} has no revision {tip}"
                        )
                    raise CorruptHistoryError(
                        f"timeline {self.name!r} lacks revision {current}: the "
                        "history was altered on disk",
                        [(self.name, current, "is missing")],
                    )
            below = page.get(current - 1)
            yield self.check(row, None if below is None else below.chain)
            current = row.parent

    def ancestry(self, tip: int) -> Iterator[Row]:
        """Every row ``tip`` descends from, through both parents of merges.

        Newest first (by number), each once, checked: the first-parent line of
        ``tip`` (:meth:`lineage`), with the line of each merge's second parent
        (its ``target``) woven in by number. Two lines that meet go on as one.
        """
        lines: list[tuple[int, int, Row, Iterator[Row]]] = []
        opened = 0

        def start(number: int) -> None:
            nonlocal opened
            line = self.lineage(number)
            row = next(line, None)
            if row is not None:
                opened += 1
                heapq.heappush(lines, (-row.number, opened, row, line))

        start(tip)
        seen: set[int] = set()
        while lines:
            _, which, row, line = heapq.heappop(lines)
            if row.number in seen:
                continue  # another line reached it first and goes on from it
            if lines:
                seen.add(row.number)
            else:
                seen.clear()  # one line left: it only goes down from here,
                # and needs no heap until a merge opens another line (a push
                # and a pop per row of a full `log` otherwise).
                while row.kind != "merge":
                    yield row
                    following = next(line, None)
                    if following is None:
                        return
                    row = following
            yield row
            after = next(line, None)
            if after is not None:
                heapq.heappush(lines, (-after.number, which, after, line))
            other = row.target
            if (
                row.kind == "merge"
                and is_int(other)
                and other is not None
                and self.first <= other < row.number
                and other not in seen
            ):
                start(other)

    def forward(
        self, after: int = -1, progress: Callable[[int], None] | None = None
    ) -> Iterator[Row]:
        """Every row numbered above ``after``, in number order, checked.

        ``progress(done)`` is called after each page.
        """
        after = max(after, self.first - 1)
        previous = None if after < 0 else self._stored_chain(after)
        expected = after + 1
        done = 0
        while expected <= self.latest:
            rows = self._read(expected - 1, expected - 1 + self.page)
            if not rows:
                break
            for row in rows:
                if row.number != expected:
                    raise CorruptHistoryError(
                        f"timeline {self.name!r} lacks revision {expected}: the "
                        "history was altered on disk",
                        [(self.name, expected, "is missing")],
                    )
                self.check(row, integrity.ROOT_CHAIN if expected == 0 else previous)
                previous = row.chain
                if len(self._chains) >= 4096:
                    self._chains.clear()
                self._chains[row.number] = row.chain
                expected += 1
                yield row
            done += len(rows)
            if progress is not None:
                progress(done)

    def values(self, rows: Iterator[Row], keep: int = 256) -> Iterator[tuple[Row, Any]]:
        """Each row of ``rows`` (ascending) with its whole value (frozen).

        A value is built from its parent's, kept for the next ``keep`` rows;
        a parent further back is read from its checkpoint.
        """
        kept: dict[int, Any] = {}
        for row in rows:
            parent = row.parent
            base: Any = None
            if parent is not None:
                base = kept.get(parent, MISSING_PARENT)
                if base is MISSING_PARENT and parent >= self.first:
                    base = self.value_at(parent)
            try:
                value = row_value(row, base, allow_pickle=self.pickle)
            except NeedsCheckpoint:
                value = self.value_at(row.number)
            kept[row.number] = value
            if len(kept) > keep:
                del kept[next(iter(kept))]
            yield row, value
