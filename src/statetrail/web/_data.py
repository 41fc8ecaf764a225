"""What the web API reads from a history, as JSON-ready objects.

Every read of storage the server makes is here, so that a faster way to answer
one question (a path or time index in the backend) changes this module only.
Each answer reads what it shows, through the readers the inspector commands use
(:class:`~statetrail.storage._reader.StoredTimeline`, which checks every row
against its digest and its link in the hash chain, and
:meth:`~statetrail.Repository.value_at`, a checkpoint and its patches): never a
whole timeline.

- the revision list reads pages of rows newest first and stops when the page
  asked for is full (with a filter that matches rarely, it reads until it finds
  enough, or reaches the first revision);
- one revision, a diff and a blame read the nearest checkpoints and their
  patches, and blame walks the line back to the first revision that touched the
  path.

Revisions are the one revision object of ``docs/revision-json.md``
(:mod:`statetrail.storage.revision_json`).
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, NamedTuple

from statetrail.diff import diff_values, format_json_pointer, parse_json_pointer
from statetrail.errors import RevisionNotFoundError, StatetrailError
from statetrail.frozen._hooks import real
from statetrail.repository import Repository
from statetrail.storage import codec
from statetrail.storage._journal import NeedsCheckpoint, row_value
from statetrail.storage._lazy import LazyDict
from statetrail.storage._reader import (
    PAGE,
    StoredTimeline,
    heads_from_forks,
    touches,
)
from statetrail.storage._sealed import ENCRYPTED, contains_placeholder
from statetrail.storage.base import Heads, Row
from statetrail.storage.revision_json import (
    changes_from_patch,
    format_time,
    from_row,
)
from statetrail.timeline import Erased

__all__ = [
    "STUB_TAG",
    "VALUES_KEPT",
    "ErasedError",
    "Filters",
    "History",
    "NoPathError",
    "UnknownError",
    "stubbed",
]

#: Values kept for the next slider step (each shares most of its tree with the
#: next: a frozen value costs what its revision changed).
VALUES_KEPT = 64
#: Checkpoint values kept: a jump near one costs its patches, not a read of
#: its nodes (a 1,000-entry checkpoint: ~90 ms of CPU to read and check).
CHECKPOINTS_KEPT = 16
#: The most patches applied to a value held rather than reading the nearest
#: checkpoint. How many is measured (see ``History._reach``): a 1,000-entry
#: checkpoint of nodes costs about 60-80 ms of CPU to read and check, a patch
#: about 0.025 ms to read, check and apply (200k benchmark: 500 patches 13 ms,
#: a checkpoint 74 ms); a 13-leaf checkpoint costs a few patches.
PATCHES_OVER_CHECKPOINT = 4096
#: What a value not held reads as (``None`` is a value).
_NOT_HELD: Any = object()
_DIGITS = re.compile(r"[0-9]{1,18}")


class UnknownError(RevisionNotFoundError):
    """No timeline, revision or branch of that name (the API's 404)."""


class NoPathError(StatetrailError):
    """The path asked for leads nowhere in the revision's value (the API's 404)."""


class ErasedError(StatetrailError):
    """The revision's value was erased, so it cannot be shown or compared."""


class Filters(NamedTuple):
    """Which revisions the list keeps (``None``: any)."""

    author: str | None = None
    label: str | None = None
    #: A JSON Pointer: revisions that changed it, something under it or above it.
    path: str | None = None
    #: Nanoseconds since the epoch: at or after ``since``, before ``until``.
    since_ns: int | None = None
    until_ns: int | None = None
    #: Only this branch's line (from its tip back to the first revision).
    branch: str | None = None

    def keeps(self, row: Row) -> bool:
        """Whether ``row`` passes every filter but ``branch``."""
        if self.author is not None and row.author != self.author:
            return False
        if self.label is not None and row.label != self.label:
            return False
        if self.since_ns is not None and row.time_ns < self.since_ns:
            return False
        if self.until_ns is not None and row.time_ns >= self.until_ns:
            return False
        path = self.path
        return path is None or any(touches(changed, path) for changed in row.paths)


def _at(value: Any, steps: Sequence[str]) -> Any:
    """What the JSON Pointer ``steps`` leads to in ``value``, or :data:`_NOT_HELD`.

    Reads through a lazy value by key and index only, so a lazy container on
    the way is never read whole.
    """
    node = value
    for step in steps:
        if isinstance(node, Mapping):
            if step in node:
                node = node[step]
            elif _DIGITS.fullmatch(step) and int(step) in node:
                node = node[int(step)]
            else:
                return _NOT_HELD
        elif _is_list(node) and _DIGITS.fullmatch(step) and int(step) < len(node):
            node = node[int(step)]
        else:
            return _NOT_HELD
    return node


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(
        value, str | bytes | bytearray | tuple
    )


#: The tag of a stub: the codec tags no value ``more``, and a user's dict
#: with a ``"$t"`` key is written in the tagged ``dict`` form, so a stub
#: cannot be mistaken for data.
STUB_TAG = "more"
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


def stubbed(value: Any, depth: int | None, path: str = "") -> Any:
    """``value`` as the codec writes it, down to ``depth`` container levels.

    A dict or list ``depth`` levels down is sent as
    ``{"$t": "more", "v": {"path": POINTER, "size": LENGTH}}``: its JSON
    Pointer (from the timeline's root) and how many entries it has. Only
    ``len`` is asked of it, so a lazy one is not read. ``depth`` ``None`` is the
    whole value; 0 stubs ``value`` itself if it is a container.

    >>> stubbed({"a": {"b": [1, 2]}, "c": 3}, 1)
    {'a': {'$t': 'more', 'v': {'path': '/a', 'size': 1}}, 'c': 3}
    """
    kind = type(value)
    if (
        (kind is str and value.isascii())
        or kind is bool
        or value is None
        or (kind is int and _I64_MIN <= value <= _I64_MAX)
    ):
        return value  # its own JSON form: the common leaves, spared the codec
    if depth is None:
        return codec.to_json(_shown(value))
    if value is ENCRYPTED:
        return "<encrypted>"
    if isinstance(value, Mapping):
        if depth == 0:
            return {"$t": STUB_TAG, "v": {"path": path, "size": len(value)}}
        shallow = value.shallow_keys() if isinstance(value, LazyDict) else None
        pairs = value.items() if shallow is None else ((k, value[k]) for k in shallow)
        items = [
            (key, stubbed(item, depth - 1, _child_path(path, key)))
            for key, item in pairs
        ]
        if all(type(key) is str for key, _ in items) and all(
            key != "$t" for key, _ in items
        ):
            return dict(items)
        flat: list[Any] = []
        for key, item in items:
            flat += [codec.to_json(key), item]
        return {"$t": "dict", "v": flat}
    if _is_list(value):
        if depth == 0:
            return {"$t": STUB_TAG, "v": {"path": path, "size": len(value)}}
        return [
            stubbed(item, depth - 1, f"{path}/{index}")
            for index, item in enumerate(value)
        ]
    return codec.to_json(_shown(value))


def _child_path(path: str, key: Any) -> str:
    step = key if type(key) is str else str(key)
    return path + "/" + step.replace("~", "~0").replace("/", "~1")


def _exists(value: Any, steps: tuple[str, ...]) -> bool:
    """Whether the JSON Pointer ``steps`` leads somewhere in ``value``."""
    node = value
    for step in steps:
        if isinstance(node, (str, bytes)) or not hasattr(node, "__getitem__"):
            return False
        if hasattr(node, "keys"):
            if step in node:
                node = node[step]
            elif step.isdigit() and int(step) in node:
                node = node[int(step)]
            else:
                return False
        elif step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return False
    return True


class _Opened(NamedTuple):
    """A timeline opened for reading, and what it was opened at."""

    #: The newest number, the saved heads and the number of trims then.
    key: tuple[int, Heads | None, int]
    stored: StoredTimeline


class History:
    """The timelines of one open repository, answered for the web API.

    Thread-safe: the backends read through a connection per thread. Each
    timeline is opened once (which on a long history without saved heads reads
    every fork) and kept while it only grows: each request looks at its newest
    number, saved heads and trims (three short queries), and revisions written
    since move the heads along by their forks alone.
    """

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._lock = threading.Lock()
        self._opened: dict[str, _Opened] = {}
        self._known: frozenset[str] = frozenset()
        #: Values lately read, oldest first (frozen: shared, never copied).
        self._values: dict[tuple[str, int], Any] = {}
        #: Checkpoint values read from storage, oldest first.
        self._checkpoint_values: dict[tuple[str, int], Any] = {}
        #: CPU seconds the last checkpoint read of each timeline took, and a
        #: patch's (a moving average), this thread's time: a value held up to
        #: as many patches back as one checkpoint read costs is used instead.
        self._costs: dict[str, float] = {}
        self._patch_cost = 25e-6

    # -- timelines -------------------------------------------------------------------

    def names(self) -> list[str]:
        """The timelines stored, sorted."""
        names = self.repo.timelines()
        with self._lock:
            self._known = frozenset(names)
        return names

    def _is_known(self, name: str) -> bool:
        """Whether a timeline ``name`` is stored (the list read again on a miss)."""
        with self._lock:
            known = self._known
        return name in known or name in self.names()

    def stored(self, name: str) -> StoredTimeline:
        """Timeline ``name`` read on demand.

        Raises:
            UnknownError: No timeline has that name (checked against the list
                first, so a hostile name never reaches a query).
        """
        if not self._is_known(name):
            raise UnknownError(f"there is no timeline {name!r}")
        backend = self.repo.backend
        key = (backend.latest(name), backend.heads(name), len(backend.trims(name)))
        with self._lock:
            opened = self._opened.get(name)
        if opened is not None and opened.key == key:
            return opened.stored
        if opened is not None and opened.key[1:] == key[1:] and opened.key[0] < key[0]:
            stored = self._grown(opened.stored, key[0])
        else:
            stored = StoredTimeline(backend, name)
        with self._lock:
            self._opened[name] = _Opened(key, stored)
        return stored

    def _grown(self, old: StoredTimeline, latest: int) -> StoredTimeline:
        """``old`` with the revisions after its newest, up to ``latest``."""
        after = old.latest
        forks = self.repo.backend.forks(old.name, after)
        stored = copy.copy(old)
        stored.heads = heads_from_forks(
            old.heads, forks, after, old.row(after).branch, latest
        )
        stored.latest = latest
        return stored

    def latest(self, name: str) -> int:
        """The newest revision number of ``name`` (``UnknownError`` if none)."""
        return self.stored(name).latest

    def summaries(self) -> list[dict[str, Any]]:
        """Each timeline: name, revisions, head, branches and last change."""
        out = []
        for name in self.names():
            try:
                stored = self.stored(name)
            except RevisionNotFoundError:
                continue  # removed since it was listed
            newest = stored.row(stored.latest)
            out.append(
                {
                    "name": name,
                    "revisions": stored.latest + 1 - stored.first,
                    "head": stored.heads.cursor,
                    "branches": sorted(stored.heads.tips),
                    "last_change": format_time(newest.time_ns),
                }
            )
        return out

    # -- revisions -------------------------------------------------------------------

    def _newest_first(
        self, stored: StoredTimeline, upto: int, stop: int, first_page: int
    ) -> Iterator[Row]:
        """Every row numbered from ``upto`` down to above ``stop``, checked.

        Read in pages of ``first_page`` rows, doubling up to :data:`PAGE`: the
        first page of an unfiltered list is read whole, and no more.
        """
        stop = max(stop, stored.first - 1)
        page = max(1, first_page)
        while upto > stop:
            after = max(upto - page, stop)
            page = min(page * 2, PAGE)
            # One row more below the page: the chain its lowest row links to.
            rows = self.repo.backend.read(stored.name, after=after - 1, upto=upto)
            chains = {row.number: row.chain for row in rows}
            for row in reversed(rows):
                if row.number <= after:
                    break
                yield stored.check(row, chains.get(row.number - 1))
            upto = after

    def _touching(
        self,
        stored: StoredTimeline,
        pointer: str,
        upto: int,
        stop: int,
        spans: list[tuple[int, int]] | None,
        first_page: int,
    ) -> Iterator[Row]:
        """The rows from ``upto`` down to above ``stop`` that changed ``pointer``.

        Newest first, from the path index, a page of numbers at a time (doubling
        from ``first_page`` up to :data:`PAGE`); with ``spans`` (a line's runs,
        :meth:`StoredTimeline.spans`) only those on that line. Each row is read
        with the others of its page in one query and checked against its digest
        and chain, and its own ``paths`` (under the digest) must touch
        ``pointer``, so an index entry added by hand shows nothing.
        """
        backend, name = self.repo.backend, stored.name
        stop = max(stop, stored.first - 1)
        page = max(1, first_page)
        before = upto + 1
        while before - 1 > stop:
            numbers = backend.touching(name, pointer, before=before, limit=page)
            kept = [
                n
                for n in numbers
                if n > stop and (spans is None or any(a <= n <= b for a, b in spans))
            ]
            found = {r.number: r for r in backend.rows(name, kept)}
            links = backend.chains(
                name, [n - 1 for n in kept if n - 1 not in found and n > 0]
            )
            for number in kept:
                row = found.get(number)
                if row is None:
                    row = stored.row(number)  # gone meanwhile (a trim): says so
                below = found.get(number - 1)
                previous = links.get(number - 1) if below is None else below.chain
                if stored.cut is not None and number - 1 == stored.cut.last:
                    previous = stored.cut.chain
                stored.check(row, previous)
                if any(touches(changed, pointer) for changed in row.paths):
                    yield row
            if len(numbers) < page or numbers[-1] <= stop:
                return
            before = numbers[-1]
            page = min(page * 2, PAGE)

    def revisions(
        self, name: str, filters: Filters, *, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` revisions numbered below ``before``, newest first.

        Every revision of the timeline (all branches), or with ``filters.branch``
        those on that branch's line. What is read comes from the indexes, never
        a scan of the history: ``path`` reads the rows the path index names,
        ``since`` and ``until`` bound the numbers read by the time index (the
        revision recorded last before each, as ``statetrail log`` does: with a
        clock set back, a revision may be left out, never one let in), and
        ``before`` starts the read there. ``author`` and ``label`` have no
        index: they keep what those reads find, reading on until the page is
        full or the bounds are reached.

        Raises:
            UnknownError: No such timeline or branch.
        """
        stored = self.stored(name)
        out: list[dict[str, Any]] = []
        if limit <= 0:
            return out
        upto = stored.latest if before is None else min(before - 1, stored.latest)
        stop = stored.first - 1
        if filters.until_ns is not None:
            found = stored.number_at(filters.until_ns - 1)
            upto = min(upto, stop if found is None else found)
        if filters.since_ns is not None:
            found = stored.number_at(filters.since_ns - 1)
            stop = max(stop, -1 if found is None else found)
        spans = None
        if filters.branch is not None:
            tips = stored.heads.tips
            if filters.branch not in tips:
                raise UnknownError(
                    f"timeline {name!r} has no branch {filters.branch!r} "
                    f"(branches: {', '.join(sorted(tips))})"
                )
            spans = stored.spans(tips[filters.branch])
            upto = max((min(upto, b) for a, b in spans if a <= upto), default=stop)
        if upto <= stop:
            return out
        rows: Iterator[Row]
        if filters.path is not None:
            rows = self._touching(stored, filters.path, upto, stop, spans, limit)
        elif spans is not None:
            line = stored.lineage(upto)
            rows = itertools.takewhile(lambda row: row.number > stop, line)
        else:
            rows = self._newest_first(stored, upto, stop, limit)
        for row in rows:
            if filters.keeps(row):
                out.append(from_row(row))
                if len(out) >= limit:
                    break
        return out

    def _row(self, stored: StoredTimeline, number: int) -> Row:
        try:
            return stored.row(number)
        except RevisionNotFoundError as exc:
            raise UnknownError(str(exc)) from None

    def _checkpoint_below(self, stored: StoredTimeline, number: int) -> int:
        """The newest revision at or below ``number`` with a checkpoint.

        The first stored revision (a whole value) when none has: one probe of
        the checkpoints' index (``Backend.checkpoint_below``).
        """
        found = self.repo.backend.checkpoint_below(stored.name, number)
        return max(stored.first if found is None else int(found), stored.first)

    def _known_below(self, name: str, low: int, number: int) -> int | None:
        """The newest revision in ``[low, number)`` whose value is kept."""
        with self._lock:
            kept = [
                n
                for table in (self._values, self._checkpoint_values)
                for (timeline, n) in table
                if timeline == name and low <= n < number
            ]
        return max(kept, default=None)

    def _kept(self, name: str, number: int) -> Any:
        """The value of revision ``number`` if held, else :data:`_NOT_HELD`."""
        with self._lock:
            value = self._values.get((name, number), _NOT_HELD)
            if value is _NOT_HELD:
                value = self._checkpoint_values.get((name, number), _NOT_HELD)
        return value

    def _line_to(self, stored: StoredTimeline, base: int, row: Row) -> list[Row] | None:
        """The rows after ``base`` on ``row``'s line, oldest first, checked.

        Read in one query; ``None`` if ``base`` is not on that line.
        """
        rows = {
            r.number: r
            for r in self.repo.backend.read(
                stored.name, after=base - 1, upto=row.number
            )
        }
        walked = []  # newest first
        current = row
        while True:
            walked.append(current)
            parent = current.parent
            if parent == base:
                break
            if parent is None or parent < base or parent not in rows:
                return None
            current = rows[parent]
        walked.reverse()
        for step in walked:
            if step is not row:  # row was checked when it was read
                below = rows.get(step.number - 1)
                stored.check(step, None if below is None else below.chain)
        return walked

    def _value(self, stored: StoredTimeline, row: Row) -> Any:
        """The value of ``row`` (checked; read just now, so an erasure shows).

        From the nearest value on its line this server already holds (one it
        showed lately, or a checkpoint it read) and the patches after it: a
        slider step forward is one patch, a step back or a jump near a value
        held is at most :data:`~statetrail.storage._journal.CHECKPOINT_EVERY`
        patches read in one query. Only a jump far from any held value reads a
        checkpoint from storage (which is then held).

        Raises:
            ErasedError: The revision was erased.
        """
        name, number = row.timeline, row.number
        if row.payload is None:
            raise ErasedError(
                f"revision {number} of {name!r} was erased: its value is gone"
            )
        value: Any = self._kept(name, number)
        if value is not _NOT_HELD:
            self._remember(self._values, VALUES_KEPT, (name, number), value)
            return value
        checkpoint = self._checkpoint_below(stored, number)
        # A value held since the checkpoint before (a step forward onto a
        # checkpointed revision is one patch, not a read of the checkpoint).
        low = checkpoint
        if checkpoint == number and number > stored.first:
            low = self._checkpoint_below(stored, number - 1)
        # Patches from a value held further back, while they cost less than
        # reading a checkpoint of this timeline did (both measured here).
        low = max(min(low, number - self._reach(name)), stored.first)
        base = self._known_below(name, low, number)
        value = _NOT_HELD
        line: list[Row] | None = []
        reading = time.thread_time()  # the rows' read, counted in a patch's cost
        if base is not None:
            line = self._line_to(stored, base, row)
        if checkpoint < number and (base is None or line is None):
            base = None
            line = self._line_to(stored, checkpoint, row)
        elif line is None:
            base, line = None, []
        reading = time.thread_time() - reading
        if line is not None:
            start = checkpoint if base is None else base
            value = self._kept(name, start)
            if value is _NOT_HELD:
                began = time.thread_time()
                value = _whole(self.repo.value_at(name, start))
                self._costs[name] = time.thread_time() - began
                if not isinstance(value, Erased):
                    self._remember(
                        self._checkpoint_values, CHECKPOINTS_KEPT, (name, start), value
                    )
            began = time.thread_time()
            try:
                for step in line:
                    value = row_value(step, value)
                    if step.number == checkpoint < number:
                        # Passed on the way from a value held further back:
                        # held, the steps back from here cost no more than
                        # the patches since it.
                        self._remember(
                            self._checkpoint_values,
                            CHECKPOINTS_KEPT,
                            (name, checkpoint),
                            value,
                        )
            except NeedsCheckpoint:
                value = _NOT_HELD
            if len(line) >= 16:
                each = (reading + time.thread_time() - began) / len(line)
                self._patch_cost = (3 * self._patch_cost + each) / 4
        if value is _NOT_HELD or isinstance(value, Erased):
            value = _whole(self.repo.value_at(name, number))
        if isinstance(value, Erased):  # erased since its row was read
            raise ErasedError(
                f"revision {number} of {name!r} was erased ({value.reason}): "
                "its value is gone"
            )
        self._remember(self._values, VALUES_KEPT, (name, number), value)
        return value

    def _reach(self, name: str) -> int:
        """How many patches cost what a checkpoint of ``name`` did to read.

        0 until one was read; at most :data:`PATCHES_OVER_CHECKPOINT`.
        """
        cost = self._costs.get(name, 0.0)
        patch = max(self._patch_cost, 1e-6)
        return min(int(cost / patch), PATCHES_OVER_CHECKPOINT)

    def _remember(
        self,
        table: dict[tuple[str, int], Any],
        size: int,
        key: tuple[str, int],
        value: Any,
    ) -> None:
        """Hold ``value`` in ``table`` as its newest; drop the oldest past ``size``."""
        with self._lock:
            table.pop(key, None)
            table[key] = value
            while len(table) > size:
                del table[next(iter(table))]

    def revision(self, name: str, number: int) -> dict[str, Any]:
        """Revision ``number`` with its whole value (``null`` once erased)."""
        stored = self.stored(name)
        row = self._row(stored, number)
        if row.payload is None:
            return from_row(row, value=None, with_value=True)
        value = codec.to_json(_shown(self._value(stored, row)))
        return from_row(row, value=value, with_value=True)

    def part(
        self, name: str, number: int, *, path: str = "", depth: int | None = None
    ) -> dict[str, Any]:
        """Revision ``number`` with the part of its value at ``path``, to ``depth``.

        A container ``depth`` levels below ``path`` is sent as a stub
        (:func:`stubbed`) that the page asks for with ``path`` when it opens
        it. A value this server holds (the one shown last, a checkpoint) is
        read from memory; any other is read lazily from its checkpoint's
        nodes plus its patches (``Repository.value_at``), without reading it
        whole: only the nodes on ``path`` and those under the containers sent
        are read (6-7 nodes for a leaf of a 1,000-entry dict, against about
        2,000 for the whole value). A value held within the patches a
        checkpoint read costs (a slider step from the revision shown) is built
        from it as :meth:`revision` builds it, and held; a lazy one is not.

        Raises:
            NoPathError: ``path`` leads nowhere in the value.
        """
        stored = self.stored(name)
        row = self._row(stored, number)
        if row.payload is None:
            return from_row(row, value=None, with_value=True)
        value: Any = _NOT_HELD
        low = max(number - self._reach(name), stored.first)
        if self._known_below(name, low, number + 1) is not None:
            # A value held within reach: its patches, as a slider step (held).
            value = self._value(stored, row)
        else:
            value = self.repo.value_at(name, number)
            if isinstance(value, Erased):
                raise ErasedError(
                    f"revision {number} of {name!r} was erased ({value.reason}): "
                    "its value is gone"
                )
        steps = parse_json_pointer(path)
        node = _at(value, steps)
        if node is _NOT_HELD:
            raise NoPathError(f"revision {number} of {name!r} has nothing at {path!r}")
        doc = from_row(row, value=stubbed(node, depth, path), with_value=True)
        doc["path"] = path
        return doc

    def diff(self, name: str, a: int | None, b: int) -> dict[str, Any]:
        """The RFC 6902 operations turning revision ``a``'s value into ``b``'s.

        ``a`` defaults to ``b``'s parent; the first revision's diff (``a`` null)
        is its value replacing the whole document.
        """
        stored = self.stored(name)
        row_b = self._row(stored, b)
        if a is None:
            a = row_b.parent
        if a is None:
            value = codec.to_json(_shown(self._value(stored, row_b)))
            return {
                "a": None,
                "b": b,
                "changes": [{"op": "replace", "path": "", "value": value}],
            }
        row_a = self._row(stored, a)
        changes = diff_values(
            _shown(self._value(stored, row_a)), _shown(self._value(stored, row_b))
        )
        patch = changes_from_patch(codec.changes_to_json(changes))
        return {"a": a, "b": b, "changes": patch}

    def blame(
        self, name: str, pointer: str, *, at: int | None, branch: str | None
    ) -> dict[str, Any]:
        """The revision that last changed ``pointer`` (or above it) up to ``at``.

        Walks back from ``at`` (default: the tip of ``branch``, or the cursor)
        along its line. ``revision`` is ``null`` when the path is not in
        ``at``'s value (:class:`ErasedError` when that value was erased).
        """
        steps = parse_json_pointer(pointer)
        pointer = format_json_pointer(steps)
        stored = self.stored(name)
        if at is None:
            try:
                at = stored.tip(branch)
            except RevisionNotFoundError as exc:
                raise UnknownError(str(exc)) from None
        row_at = self._row(stored, at)
        found = None
        if not _exists(self._value(stored, row_at), steps):
            return {"path": pointer, "revision": None}
        for row in stored.lineage(at):
            if row.parent is None or row.number == stored.first:
                # The path is in every value down to here: this one made it.
                found = row
                break
            if any(touches(changed, pointer) for changed in row.paths):
                found = row
                break
        return {"path": pointer, "revision": None if found is None else from_row(found)}


def _whole(value: Any) -> Any:
    """The frozen value ``value`` stands for, read whole once.

    A value read from storage may load lazily (issue 11: its subtrees read from
    the node store on access). Every answer here shows the whole value, so a
    value held for the next steps is read whole once, when it is read: patches
    applied to it then make frozen values that share its tree, instead of lazy
    ones that each read the checkpoint's nodes again (56 ms of CPU per slider
    step instead of 3 ms, at 1,000 entries).
    """
    return real(value)


def _shown(value: Any) -> Any:
    """``value`` with each encrypted part no key opened as the text ``<encrypted>``.

    Without ``--key-file`` the server reads such parts as a placeholder (as the
    CLI shows them), which the codec cannot write: an answer says what is
    there without ever holding the plain value.
    """
    if value is ENCRYPTED:
        return "<encrypted>"
    if not contains_placeholder(value):
        return value
    if isinstance(value, Mapping):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple | Sequence | AbstractSet):
        return [_shown(v) for v in value]
    return value
