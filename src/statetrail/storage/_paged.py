"""Records of a stored timeline, read from storage a page at a time.

:class:`PagedRecords` implements :class:`~statetrail._records.Records` for a
timeline a repository opens: it holds the newest page of records (the tail, which
writes go onto) and a bounded LRU cache of older pages; any other record is read
on demand, :data:`PAGE` rows at a time. A page's values are materialised from the
nearest checkpoint plus patches (:func:`~statetrail.storage._journal.read_value`)
for the first row whose parent is not in the page, then by applying each next
row's patch to its parent's value: never by replaying the history. Every row read
is checked against its digest and its link in the chain, as
:func:`~statetrail.storage._journal.decode_rows` checks them.

:func:`open_records` opens a stored timeline this way: it reads the end record,
the saved heads and the forks since they were saved (where the cursor is), and
the tail page, and checks what can be checked in bounded time (the end record
against the newest row, the heads against their seal, the tail page's rows and
the chain from the head down to its checkpoint). The full pass over every row is
:meth:`~statetrail.Repository.verify`'s.

Which branch each revision starts and which revisions have more than one child
(the forks) are read from the backend on first use (:meth:`Backend.forks`, one
query on SQL backends), not at opening.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from statetrail._records import droppable
from statetrail.diff import format_json_pointer
from statetrail.errors import CorruptHistoryError, RevisionNotFoundError
from statetrail.paths import Path
from statetrail.revision import BRANCH, NUMBER, PARENT, VALUE, Record
from statetrail.storage._journal import decode_rows, read_value
from statetrail.storage._lazy import NodeCache
from statetrail.storage._placement import check_placement
from statetrail.storage._ranges import Cut, cut_of
from statetrail.storage._reader import heads_from_forks
from statetrail.storage._verify import corrupt, end_problems, heads_problems
from statetrail.storage.base import Backend, Heads, Row

__all__ = ["PAGE", "PAGES_KEPT", "Opened", "PagedRecords", "open_records"]

#: Records per page: the rows one read brings in.
PAGE = 256
#: Pages kept in the LRU cache besides the tail (about 4,000 records).
PAGES_KEPT = 16


class _Source:
    """Where pages come from: one stored timeline, and how its rows decode."""

    __slots__ = (
        "allow_pickle",
        "backend",
        "cache",
        "checked",
        "cut",
        "every",
        "name",
        "rows_read",
    )

    def __init__(
        self,
        backend: Backend,
        name: str,
        cut: Cut | None,
        every: int,
        allow_pickle: bool,
        checked: set[tuple[str, int, str, str]] | None = None,
        cache: NodeCache | None = None,
    ) -> None:
        self.backend = backend
        #: The checked nodes its values load from (``_lazy``).
        self.cache = (
            NodeCache(backend.nodes, allow_pickle=allow_pickle)
            if cache is None
            else cache
        )
        #: Checkpoints already hashed against their rows (see read_value).
        self.checked = checked
        self.name = name
        self.cut = cut
        self.every = every
        self.allow_pickle = allow_pickle
        self.rows_read = 0

    def rows(self, low: int, high: int) -> list[Row]:
        """The rows numbered ``low..high``, without gaps.

        A batching backend may hold some still queued: it is flushed and read
        again before a gap counts as damage.
        """
        rows = self.backend.read(self.name, after=low - 1, upto=high)
        if len(rows) != high - low + 1:
            self.backend.flush()
            rows = self.backend.read(self.name, after=low - 1, upto=high)
        self.rows_read += len(rows)
        if len(rows) != high - low + 1 or (rows and rows[0].number != low):
            have = {row.number for row in rows}
            missing = next(n for n in range(low, high + 1) if n not in have)
            raise corrupt(
                [(self.name, missing, "is missing")], f"timeline {self.name!r}"
            )
        return rows

    def value_of(self, number: int) -> Any:
        """Revision ``number``'s value from its nearest checkpoint plus patches."""
        return read_value(
            self.backend,
            self.name,
            number,
            checkpoint_every=self.every,
            allow_pickle=self.allow_pickle,
            checked=self.checked,
            trimmed=self.cut,
            cache=self.cache,
        )

    def decode(
        self, rows: Sequence[Row], held: PagedRecords | None = None
    ) -> list[Record]:
        """Records for ``rows`` (ascending, without gaps), each row verified.

        A parent outside ``rows`` gives its value from ``held`` if it is in
        memory there, else from its checkpoint (:meth:`value_of`).
        """
        if not rows:
            return []
        low = rows[0].number
        chains: dict[int, str] = {}
        cut = self.cut
        if low > 0 and (cut is None or low - 1 != cut.last):
            before = self.backend.row(self.name, low - 1)
            if before is None:  # trimmed since opening: the newest tombstone
                cut = self.cut = cut_of(self.name, self.backend.trims(self.name))
            else:
                chains[low - 1] = before.chain
        trimmed = -1 if cut is None else cut.last
        known: dict[int, Any] = {}
        for row in rows:
            parent = row.parent
            if parent is None or parent >= low or parent <= trimmed or parent in known:
                continue  # (a trimmed parent: the row's sealed checkpoint serves)
            record = None if held is None else held.cached(parent)
            if record is not None:
                known[parent] = record[VALUE]
                continue
            try:
                known[parent] = self.value_of(parent)
            except RevisionNotFoundError:  # trimmed since: the row's checkpoint
                cut = self.cut = cut_of(self.name, self.backend.trims(self.name))
        return decode_rows(
            self.backend,
            self.name,
            rows,
            known=known,
            chains=chains,
            allow_pickle=self.allow_pickle,
            trimmed=cut,
        )


class PagedRecords:
    """A stored timeline's records, read in pages on demand; see the module.

    Numbers below :attr:`low` were trimmed (from storage, or from memory by
    retention); the records retention had to keep below it (branch tips, the
    cursor) wait in a dict, as in :class:`~statetrail._records.MemoryRecords`.
    """

    __slots__ = (
        "_first",
        "_forks",
        "_kept",
        "_next",
        "_pages",
        "_source",
        "_tail_start",
        "keep",
        "low",
        "page",
        "tail",
        "tips",
    )

    def __init__(
        self,
        source: _Source,
        tail: list[Record],
        low: int,
        *,
        page: int = PAGE,
        keep: int = PAGES_KEPT,
    ) -> None:
        if not tail:
            raise ValueError("a stored timeline has at least one record")
        self._source = source
        #: The newest records, from a page boundary (or :attr:`low`) on.
        self.tail: list[Record] = tail
        self._tail_start: int = _number(tail[0])
        self._next: int = _number(tail[-1]) + 1
        #: The oldest number held in pages (see the class).
        self.low = low
        self.page = page
        self.keep = keep
        self._pages: OrderedDict[int, list[Record]] = OrderedDict()
        self._kept: dict[int, Record] = {}
        self.tips: dict[str, int] = {}
        # From Backend.forks on first use (None until then), then kept up to date.
        self._first: dict[str, int] | None = None
        self._forks: dict[int, list[int]] | None = None

    # -- reading ---------------------------------------------------------------------

    @property
    def next(self) -> int:
        """The number the next revision takes (one more than the newest)."""
        return self._next

    @property
    def rows_read(self) -> int:
        """How many rows were read from storage (for tests and benchmarks)."""
        return self._source.rows_read

    @property
    def pages_held(self) -> int:
        """How many older pages are in memory now (at most :attr:`keep`)."""
        return len(self._pages)

    def __len__(self) -> int:
        return self._next - self.low + len(self._kept)

    def cached(self, number: int) -> Record | None:
        """The record numbered ``number`` if it is in memory now (no read)."""
        if number >= self._tail_start:
            i = number - self._tail_start
            return self.tail[i] if i < len(self.tail) else None
        if number < self.low:
            return self._kept.get(number)
        page = self._pages.get(number // self.page)
        if page is None:
            return None
        i = number - _number(page[0])
        return page[i] if 0 <= i < len(page) else None

    def find(self, number: int) -> Record | None:
        """The record numbered ``number``, or ``None`` if none is held."""
        if number >= self._tail_start:
            i = number - self._tail_start
            return self.tail[i] if i < len(self.tail) else None
        if number < self.low:
            return self._kept.get(number)
        page = self._page(number // self.page)
        return page[number - _number(page[0])]

    def _page(self, k: int) -> list[Record]:
        """Page ``k`` (numbers ``k * page`` on, from :attr:`low`), read if need be."""
        pages = self._pages
        page = pages.get(k)
        if page is not None:
            pages.move_to_end(k)
            return page
        low = max(k * self.page, self.low)
        high = min((k + 1) * self.page, self._tail_start) - 1
        source = self._source
        page = source.decode(source.rows(low, high), self)
        pages[k] = page
        if len(pages) > self.keep:
            pages.popitem(last=False)
        return page

    def _numbers(self, low: int, high: int) -> Iterator[Record]:
        """The records numbered ``low..high - 1`` held in pages, ascending."""
        n = low
        while n < high:
            if n >= self._tail_start:
                yield from self.tail[n - self._tail_start : high - self._tail_start]
                return
            page = self._page(n // self.page)
            start = page[0][NUMBER]
            stop = min(start + len(page), high)
            yield from page[n - start : stop - start]
            n = stop

    def oldest_first(self) -> Iterator[Record]:
        """Every held record, in number order (a page in memory at a time)."""
        if self._kept:
            yield from sorted(self._kept.values(), key=_number)
        yield from self._numbers(self.low, self._next)

    def newest_first(self) -> Iterator[Record]:
        """Every held record, newest first (a page in memory at a time)."""
        high = self._next
        while high > self.low:
            if high > self._tail_start:
                low = max(self._tail_start, self.low)
            else:
                low = max((high - 1) // self.page * self.page, self.low)
            yield from reversed(list(self._numbers(low, high)))
            high = low
        if self._kept:
            yield from sorted(self._kept.values(), key=_number, reverse=True)

    # -- the path index (storage's) --------------------------------------------------

    def touching(
        self, path: Path, *, before: int | None = None, limit: int | None = None
    ) -> list[int]:
        """Numbers of held records that changed ``path``, newest first.

        From the backend's path index (:meth:`Backend.touching`: one range scan
        and a lookup per ancestor on the SQL backends), never from the records:
        ``blame`` and ``path_history`` cost the revisions that touched the path
        (see :meth:`Records.touching <statetrail._records.Records.touching>`).
        Revision 0 is left out (it has no changes), and so are numbers trimmed
        from memory and rows another process appended that this timeline has
        not taken in yet.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        source = self._source
        pointer = format_json_pointer(path)
        upto = self._next if before is None else min(before, self._next)
        found: list[int] = []
        while limit is None or len(found) < limit:
            want = None if limit is None else limit - len(found)
            numbers = source.backend.touching(
                source.name, pointer, before=upto, limit=want
            )
            found += [
                n for n in numbers if n > 0 and (n >= self.low or n in self._kept)
            ]
            if want is None or len(numbers) < want or numbers[-1] <= 0:
                break
            upto = numbers[-1]
        return found

    # -- branches and children (from the forks, on first use) ---------------------

    def _linked(self) -> tuple[dict[str, int], dict[int, list[int]]]:
        if self._first is None or self._forks is None:
            first: dict[str, int] = {}
            forks: dict[int, list[int]] = {}
            for record in sorted(self._kept.values(), key=_number):
                _link(first, forks, record[NUMBER], record[PARENT], record[BRANCH])
            source = self._source
            for fork in source.backend.forks(source.name, self.low - 1):
                if fork.number < self._next:  # not a row appended since
                    _link(first, forks, fork.number, fork.parent, fork.branch)
            self._first, self._forks = first, forks
        return self._first, self._forks

    def first_of(self, branch: str) -> int | None:
        """The number of the first held revision recorded on ``branch``, if any."""
        return self._linked()[0].get(branch)

    def children(self, number: int) -> list[Record]:
        """The held records whose parent is revision ``number``, by number."""
        found = []
        for n in (number + 1, *self._linked()[1].get(number, ())):
            child = self.find(n)
            if child is not None and child[PARENT] == number:
                found.append(child)
        return found

    # -- writing ---------------------------------------------------------------------

    def append(self, record: Record) -> None:
        """Hold ``record``, numbered :attr:`next`; :attr:`next` moves on by one."""
        number = record[NUMBER]
        if number != self._next:
            raise ValueError(f"expected revision {self._next}, got {number}")
        if number % self.page == 0 and self.tail:
            # A full page: into the cache, and a new tail.
            self._pages[(number - 1) // self.page] = self.tail
            if len(self._pages) > self.keep:
                self._pages.popitem(last=False)
            self.tail = []
            self._tail_start = number
        previous = self.tail[-1] if self.tail else self.cached(number - 1)
        self.tail.append(record)
        self._next = number + 1
        if (
            self._first is not None
            and self._forks is not None
            and (
                record[PARENT] != number - 1
                or previous is None
                or previous[BRANCH] != record[BRANCH]
            )
        ):
            _link(self._first, self._forks, number, record[PARENT], record[BRANCH])

    def replace(self, record: Record) -> None:
        """Hold ``record`` instead of the held one with its number (erasure).

        A page not in memory needs nothing: storage already has the change.
        """
        number = record[NUMBER]
        if self.find(number) is None:
            raise KeyError(number)
        if number >= self._tail_start:
            self.tail[number - self._tail_start] = record
        elif number < self.low:
            self._kept[number] = record
        else:
            page = self._pages.get(number // self.page)
            if page is not None:
                page[number - page[0][NUMBER]] = record

    def droppable(
        self, cutoff: int, before_ns: int | None, keep: set[int]
    ) -> list[Record]:
        """The records retention would drop, oldest first; nothing is dropped yet."""
        line = self._numbers(self.low, min(cutoff, self._next - 1))
        return droppable(self._kept, line, cutoff, before_ns, keep)

    def drop(self, records: Sequence[Record]) -> None:
        """Forget ``records``; kept ones below them wait in a dict."""
        gone = {record[NUMBER] for record in records}
        for n in gone:
            self._kept.pop(n, None)
        low = max((n + 1 for n in gone if n >= self.low), default=self.low)
        for record in self._numbers(self.low, low):
            if record[NUMBER] not in gone:
                self._kept[record[NUMBER]] = record  # kept: a tip or the cursor
        self.low = low
        for k in [k for k, page in self._pages.items() if page[-1][NUMBER] < low]:
            del self._pages[k]
        if self._tail_start < low:
            del self.tail[: low - self._tail_start]
            self._tail_start = low
        if self._forks is not None:
            for n in gone:
                self._forks.pop(n, None)


def _link(
    first: dict[str, int],
    forks: dict[int, list[int]],
    number: int,
    parent: int | None,
    branch: str,
) -> None:
    first.setdefault(branch, number)
    if parent is not None and parent != number - 1:
        forks.setdefault(parent, []).append(number)


def _number(record: Record) -> int:
    return record[NUMBER]  # type: ignore[no-any-return]


class Opened(NamedTuple):
    """A stored timeline as :func:`open_records` found it."""

    records: PagedRecords
    heads: Heads
    cut: Cut | None


def open_records(
    backend: Backend,
    name: str,
    *,
    checkpoint_every: int,
    allow_pickle: bool,
    page: int | None = None,
    keep: int | None = None,
    checked: set[tuple[str, int, str, str]] | None = None,
    cache: NodeCache | None = None,
) -> Opened | None:
    """Open stored timeline ``name`` lazily; ``None`` if it has no revisions.

    Reads the end record, the heads, the forks since they were saved and the
    tail page; checks the end record against the newest row and the heads
    against their seal and the stored numbers. ``checked``: the repository's
    checkpoints already hashed (see :func:`read_value`). ``page`` and ``keep``:
    the page size and how many pages the cache keeps (:data:`PAGE` and
    :data:`PAGES_KEPT` as they are at the call by default). ``cache``: the
    timeline's checked checkpoint nodes, which its values load from as they
    are read (``_lazy``: the head's value is not loaded whole at opening).

    Raises:
        CorruptHistoryError: Any of those checks fails, or a row read does not
            verify (the end record says there are revisions, but none is stored).
    """
    page = PAGE if page is None else page
    keep = PAGES_KEPT if keep is None else keep
    end = backend.end(name)  # before the rows: see _verify.opening_problems
    latest = backend.latest(name)
    if latest < 0:
        if end is not None and end.length > 0:
            raise corrupt(
                [(name, 0, f"all {end.length} revision(s) are missing")],
                f"timeline {name!r}",
            )
        return None
    cut = cut_of(name, backend.trims(name))
    first = 0 if cut is None else cut.last + 1
    source = _Source(backend, name, cut, checkpoint_every, allow_pickle, checked, cache)
    tail_start = max(first, latest // page * page)
    rows = backend.read(name, after=tail_start - 1, upto=latest)
    source.rows_read += len(rows)
    if not rows or rows[0].number != tail_start or rows[-1].number != latest:
        check_placement(name, rows, Heads("", latest))  # says which is missing
        raise corrupt([(name, tail_start, "is missing")], f"timeline {name!r}")
    saved = backend.heads(name)
    after = -1 if saved is None else min(max(saved.tips.values(), default=-1), latest)
    before = backend.row(name, after) if after >= first else None
    heads = heads_from_forks(
        saved,
        [fork for fork in backend.forks(name, after) if fork.number <= latest],
        after,
        None if before is None else before.branch,
        latest,
    )
    chains = {row.number: row.chain for row in rows}

    def chain_at(number: int) -> str | None:
        if cut is not None and number == cut.last:
            return cut.chain
        chain = chains.get(number)
        if chain is None:
            row = backend.row(name, number)
            chain = None if row is None else row.chain
        return chain

    problems = [
        *end_problems(name, end, latest + 1, chain_at, backend.end(name)),
        *heads_problems(name, saved, latest + 1, chain_at),
    ]
    if problems:
        # Opening must not hand back an older state as if it were the newest
        # (truncated rows, a cursor moved by hand).
        raise corrupt(problems, f"timeline {name!r}")
    for what, number in [
        ("the cursor", heads.cursor),
        *((f"branch {b!r}", n) for b, n in heads.tips.items()),
    ]:
        if not first <= number <= latest:
            raise CorruptHistoryError(
                f"{what} of timeline {name!r} points at revision {number}, which is "
                f"not stored (revisions {first}..{latest})"
            )
    records = PagedRecords(source, source.decode(rows), first, page=page, keep=keep)
    return Opened(records, heads, cut)
