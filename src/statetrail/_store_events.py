"""A store's events: what a revision changed, told in dot-paths.

An event is a dict: ``type`` (``"STATE_CHANGED"``), ``path``, ``old_value``,
``new_value`` and ``revision``. ``path`` is the path a set or delete asked for
(``"machine.state"``, even when the write created ``machine``); for any other
revision (a transaction, a rollback, a load) it is the deepest path under which
everything changed, ``""`` for the whole state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from statetrail.frozen import FrozenDict
from statetrail.paths import STORE, get_at, parse_path
from statetrail.revision import Change, Revision

__all__ = [
    "EVENT_TYPE_EVENTS_DROPPED",
    "EVENT_TYPE_STATE_CHANGED",
    "Event",
    "concerns",
    "make_event",
]

EVENT_TYPE_STATE_CHANGED = "STATE_CHANGED"
#: The notice a subscriber's full queue leaves of the events it dropped.
EVENT_TYPE_EVENTS_DROPPED = "EVENTS_DROPPED"

Event = dict[str, Any]


def requested_path(rev: Revision) -> str | None:
    """The dot-path a set or delete asked for, as noted with the revision."""
    extra = rev.extra
    if isinstance(extra, FrozenDict):
        path = extra.get("path")
        if isinstance(path, str):
            return path
    return None


def _change_steps(change: Change) -> tuple[str, ...]:
    path = change.path
    # An insertion or removal in a list moves every later item: it concerns the list.
    if change.kind != "replace" and path and isinstance(path[-1], int):
        path = path[:-1]
    return tuple(str(step) for step in path)


def _common_prefix(changes: tuple[Change, ...]) -> tuple[str, ...]:
    paths = [_change_steps(c) for c in changes]
    if not paths:
        return ()
    prefix = paths[0]
    for path in paths[1:]:
        n = 0
        while n < min(len(prefix), len(path)) and prefix[n] == path[n]:
            n += 1
        prefix = prefix[:n]
    return prefix


def make_event(rev: Revision, before: Any, out: Callable[[Any], Any]) -> Event:
    """The event of ``rev``, whose parent's state is ``before``.

    ``out`` turns each value into what subscribers get.
    """
    path = requested_path(rev)
    if path is not None:
        steps = parse_path(path, STORE)
    else:
        steps = _common_prefix(rev.changes)
        path = ".".join(steps)
    return {
        "type": EVENT_TYPE_STATE_CHANGED,
        "path": path,
        "old_value": out(get_at(before, steps, STORE)),
        "new_value": out(get_at(rev.value, steps, STORE)),
        "revision": rev.number,
    }


def concerns(rev: Revision, prefix: tuple[str, ...]) -> bool:
    """Whether ``rev`` set something at or under ``prefix``, or changed it.

    A set at the path counts even when the value stayed the same; a change above
    the path counts only when it reached it.
    """
    requested = requested_path(rev)
    if requested is not None and parse_path(requested, STORE)[: len(prefix)] == prefix:
        return True
    for change in rev.changes:
        steps = _change_steps(change)
        n = min(len(steps), len(prefix))
        if steps[:n] == prefix[:n]:
            return True
    return False
