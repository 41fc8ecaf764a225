"""The follow core: stored rows in, revisions out, each once and in order.

Every way of following a timeline (a Redis stream, an SQLite file's data version,
PostgreSQL's LISTEN/NOTIFY) ends here, without I/O of its own: the driver reads
rows from wherever they come and hands them to :meth:`Applier.take`, which

- drops a row already applied (a duplicate after a reconnect), by number;
- raises :class:`Gap` for a row beyond the next expected one, so the driver
  backfills the missing ones from the source, or gives up with a clear error;
- checks the row's digest and its link in the hash chain against the revision
  before it, as a backend's reader does: an entry written by hand that does not
  verify is refused with :class:`~statetrail.SyncError` and never applied;
- works out the value from the parent's (kept for the last ``keep`` revisions;
  older ones are asked of the source) and the changes by a diff that skips what
  the two share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from statetrail.diff import diff_values
from statetrail.errors import StatetrailError, SyncError
from statetrail.revision import VALUE, Change, Record, Revision
from statetrail.storage._integrity import ROOT_CHAIN, row_check
from statetrail.storage._journal import (
    MISSING_PARENT,
    NeedsCheckpoint,
    record_of,
    row_value,
)
from statetrail.storage.base import Row

__all__ = ["Applier", "Gap", "Source"]

#: How many recent revisions' values and chains an applier keeps.
KEEP: Final = 1_024

#: What a source gives: ``(number) -> (value, chain)`` of a stored revision.
Source = Callable[[int], tuple[Any, str]]


class Gap(Exception):
    """Rows ``expected .. got - 1`` are missing before the row numbered ``got``."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(expected, got)
        self.expected = expected
        self.got = got


class Applier:
    """Applies the rows of one timeline in number order, each exactly once.

    Args:
        name: The timeline.
        after: The last revision already applied (``None``: none, start at 0).
        source: Gives the value and chain of a stored revision, for revisions
            this applier has not seen (``None``: it has only what it applied).
        keep: How many recent values and chains to keep.
    """

    def __init__(
        self,
        name: str,
        *,
        after: int | None = None,
        source: Source | None = None,
        allow_pickle: bool = False,
        keep: int = KEEP,
    ) -> None:
        if after is not None and (type(after) is not int or after < -1):
            raise ValueError(f"after is a revision number, not {after!r}")
        self.name = name
        #: The number of the next revision to apply.
        self.next = 0 if after is None else after + 1
        self._source = source
        self._pickle = allow_pickle
        self._keep = keep
        self._values: dict[int, Any] = {}
        self._chains: dict[int, str] = {}
        if self.next == 0:
            self._chains[-1] = ROOT_CHAIN
        #: The time (ns) of the newest revision applied, for the lag.
        self.time_ns: int | None = None

    def take(self, row: Row) -> Revision | None:
        """The revision ``row`` records, or ``None`` for a row already applied.

        Raises:
            Gap: ``row`` is beyond the next revision to apply.
            SyncError: ``row`` does not verify, or a value it needs is not known
                here and there is no source to ask.
        """
        number = row.number
        if row.timeline != self.name:
            raise SyncError(
                f"revision {number} belongs to {row.timeline!r}, not {self.name!r}; "
                "it was not applied"
            )
        if number < self.next:
            return None
        if number > self.next:
            raise Gap(self.next, number)
        _version, problem = row_check(
            row,
            self._chain(number - 1),
            lambda: self._chain(row.parent),  # type: ignore[arg-type]
        )
        if problem is not None:
            raise SyncError(
                f"revision {number} of {self.name!r} {problem}: it was not applied"
            )
        parent = row.parent
        before = None if parent is None else self._value(parent)
        try:
            value = row_value(row, before, allow_pickle=self._pickle)
        except NeedsCheckpoint:
            value = self._from_source(number)[0]
        except StatetrailError as exc:
            raise SyncError(
                f"revision {number} of {self.name!r} cannot be read ({exc}); it was "
                "not applied"
            ) from exc
        self._remember(self._chains, number, row.chain)
        self._remember(self._values, number, value)
        self.next = number + 1
        self.time_ns = row.time_ns
        record = record_of(row, value, allow_pickle=self._pickle)
        if parent is None:
            return Revision(record, None, ())
        return Revision(record, _Diff(before))

    # -- what this applier knows, and asks of the source ---------------------------

    def _remember(self, kept: dict[int, Any], number: int, item: Any) -> None:
        kept[number] = item
        # In order, the revision ``keep`` back goes; what the source gave out of
        # order is pruned when the dict reaches twice its bound.
        kept.pop(number - self._keep, None)
        if len(kept) > 2 * self._keep:
            for old in sorted(kept)[: -self._keep]:
                del kept[old]

    def _chain(self, number: int) -> str:
        chain = self._chains.get(number)
        if chain is None:
            chain = self._from_source(number)[1]
        return chain

    def _value(self, number: int) -> Any:
        value = self._values.get(number, MISSING_PARENT)
        if value is MISSING_PARENT:
            value = self._from_source(number)[0]
        return value

    def _from_source(self, number: int) -> tuple[Any, str]:
        if self._source is None:
            raise SyncError(
                f"revision {number} of {self.name!r} is needed to apply what "
                "follows, and it was not applied here: follow with source= (the "
                "file or URL the history is stored in), or from the start"
            )
        try:
            value, chain = self._source(number)
        except StatetrailError as exc:
            raise SyncError(
                f"revision {number} of {self.name!r} could not be read from the "
                f"source: {exc}"
            ) from exc
        self._remember(self._chains, number, chain)
        self._remember(self._values, number, value)
        return value, chain


class _Diff:
    """A revision's changes, worked out from its parent's value when asked."""

    __slots__ = ("_before",)

    def __init__(self, before: Any) -> None:
        self._before = before

    def _changes_of(self, record: Record) -> tuple[Change, ...]:
        return diff_values(self._before, record[VALUE])
