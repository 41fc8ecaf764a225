"""Checking where a stored timeline's heads point before a timeline is built on them.

Rows are numbered without gaps and the cursor and each branch tip name a stored
revision. A file or database that breaks either is damaged: the caller gets
:class:`~statetrail.CorruptHistoryError` naming what is wrong, never the
``ValueError`` or ``RevisionNotFoundError`` that building the timeline would raise
(issue 9, defect 5).
"""

from __future__ import annotations

from collections.abc import Sequence

from statetrail.errors import CorruptHistoryError
from statetrail.storage.base import Heads, Row

__all__ = ["check_placement"]


def check_placement(name: str, rows: Sequence[Row], heads: Heads) -> None:
    """Refuse ``rows`` with gaps in their numbers, or ``heads`` pointing elsewhere.

    Raises :class:`~statetrail.CorruptHistoryError` unless ``rows`` (in order) are
    numbered without gaps and ``heads`` point at revisions among them.
    """
    if not rows:
        raise CorruptHistoryError(f"timeline {name!r} has no revisions")
    first = rows[0].number
    for i, row in enumerate(rows):
        if row.number != first + i:
            raise CorruptHistoryError(
                f"timeline {name!r} is missing revision {first + i}: stored "
                "revisions are numbered without gaps"
            )
    last = rows[-1].number
    pointers = [("the cursor", heads.cursor)]
    pointers += [(f"branch {b!r}", n) for b, n in heads.tips.items()]
    for what, number in pointers:
        if not first <= number <= last:
            raise CorruptHistoryError(
                f"{what} of timeline {name!r} points at revision {number}, which is "
                f"not stored (revisions {first}..{last})"
            )
