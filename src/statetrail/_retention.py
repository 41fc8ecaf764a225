"""Retention: which revisions a timeline keeps, and the tombstones of the rest.

:class:`Retention` is the rule a timeline applies after each write;
:func:`trim_bounds` turns an explicit :meth:`~statetrail.Timeline.trim` call into
the same bounds. What goes is chosen by the records
(:meth:`~statetrail._records.Records.droppable`); what was removed is noted in
:class:`Tombstones`, so reading a trimmed revision can say so and nothing goes
silently.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import NamedTuple

from statetrail._log import get_logger
from statetrail.revision import NUMBER, Record, Trim

__all__ = ["Retention", "Tombstones", "check_retention", "rule_bounds", "trim_bounds"]

logger = get_logger("statetrail")

#: (cutoff, before_ns, reason): drop revisions numbered below ``cutoff`` and, when
#: ``before_ns`` is given, recorded before it.
Bounds = tuple[int, "int | None", str]


class Retention(NamedTuple):
    """Which revisions a timeline keeps.

    The last ``keep_last``, and/or those younger than ``max_age``. Older ones are
    trimmed after each write, leaving a :class:`~statetrail.revision.Trim`
    tombstone; branch tips and the current revision are always kept.
    """

    keep_last: int | None = None
    max_age: timedelta | None = None


def check_retention(rule: Retention | None) -> Retention | None:
    """``rule`` if it is a valid retention rule (or ``None``); else raise."""
    if rule is None:
        return None
    if not isinstance(rule, Retention):
        raise TypeError("retention is a statetrail.Retention")
    if rule.keep_last is not None and (
        not isinstance(rule.keep_last, int) or rule.keep_last < 1
    ):
        raise ValueError("Retention.keep_last must be a positive int")
    if rule.max_age is not None and not isinstance(rule.max_age, timedelta):
        raise TypeError("Retention.max_age is a timedelta")
    return rule


def rule_bounds(rule: Retention, next_number: int, held: int) -> list[Bounds]:
    """What ``rule`` trims from a timeline holding ``held`` of ``next_number``."""
    bounds: list[Bounds] = []
    if rule.keep_last is not None and held > rule.keep_last:
        bounds.append(
            (next_number - rule.keep_last, None, f"keep_last={rule.keep_last}")
        )
    if rule.max_age is not None:
        before = time.time_ns() - int(rule.max_age.total_seconds() * 1e9)
        bounds.append((next_number, before, f"max_age={rule.max_age}"))
    return bounds


def trim_bounds(
    next_number: int,
    keep_last: int | None,
    older_than: timedelta | datetime | None,
    reason: str | None,
) -> Bounds:
    """The bounds of an explicit trim; ``ValueError``/``TypeError`` for bad ones."""
    if keep_last is None and older_than is None:
        raise ValueError("trim() needs keep_last or older_than")
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1
    ):
        raise ValueError("keep_last must be a positive int")
    cutoff = next_number if keep_last is None else next_number - keep_last
    before = None
    if isinstance(older_than, timedelta):
        before = time.time_ns() - int(older_than.total_seconds() * 1e9)
    elif isinstance(older_than, datetime):
        before = int(older_than.timestamp() * 1e9)
    elif older_than is not None:
        raise TypeError("older_than is a timedelta or a datetime")
    given = [
        f"{k}={v}"
        for k, v in (("keep_last", keep_last), ("older_than", older_than))
        if v is not None
    ]
    return cutoff, before, reason or f"trim({', '.join(given)})"


class Tombstones:
    """What retention and explicit trims removed, oldest first."""

    __slots__ = ("trims",)

    def __init__(self) -> None:
        self.trims: list[Trim] = []

    def note(
        self,
        removed: list[Record],
        reason: str,
        author: str | None,
        label: str,
        *,
        explicit: bool,
    ) -> Trim:
        """Leave the tombstone of ``removed`` (not empty) and log it.

        Automatic trims for the same reason extend the last tombstone instead of
        piling up; ``label`` names the timeline in the log.
        """
        numbers = [record[NUMBER] for record in removed]
        first, last = min(numbers), max(numbers)
        trim = Trim(first, last, len(numbers), reason, time.time_ns(), author)
        previous = self.trims[-1] if self.trims else None
        if not explicit and previous is not None and previous.reason == reason:
            trim = Trim(
                previous.first,
                last,
                previous.count + len(numbers),
                reason,
                time.time_ns(),
                previous.author,
            )
            self.trims[-1] = trim
        else:
            self.trims.append(trim)
        log = logger.info if explicit else logger.debug
        log(
            "trimmed %d revision(s) %d..%d of %s (%s)",
            len(numbers),
            first,
            last,
            label,
            reason,
        )
        return trim
