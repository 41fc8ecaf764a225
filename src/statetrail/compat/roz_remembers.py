"""A drop-in for ``roz_remembers`` (roz-remembers 0.2.0), on statetrail's store.

Change ``from roz_remembers import ...`` to
``from statetrail.compat.roz_remembers import ...`` and the second seed's documented
examples run unchanged, with the documented results. Values come out as plain,
mutable Python objects, as roz-remembers' do.

What differs, on purpose, where roz-remembers' own code departs from its README or
loses data:

- A write that would descend into a scalar fails and returns ``False``, as the
  README says (roz-remembers' code silently replaces the scalar with ``{}``). A key
  holding ``None`` still counts as missing, and gets its dict.
- ``get()`` and event values are copies: changing them cannot alter the state (in
  roz-remembers, ``get()`` hands out the live nested dicts).
- ``save()`` is atomic (temporary file, fsync, rename, directory fsync), and a
  malformed file found by a load is copied to ``<file>.corrupt`` before anything
  can overwrite it.
- Each ``subscribe_events()`` call returns its own queue, so every consumer gets
  every event (roz-remembers hands all callers one queue, which they share).
- ``stop_processing()`` applies the actions already dispatched before it stops
  (roz-remembers cancels them).
- Actions are copied when dispatched.
- Malformed paths (``"a..b"``), dict keys that are not strings and NaN on save are
  refused; see :mod:`statetrail.store` for the rules.
- Everything is recorded: ``history()``, ``blame()``, ``diff()``, ``rollback()``
  and ``transaction()`` are there too.

Events are exactly the README's: ``{"type", "path", "old_value", "new_value"}``,
plus ``action_source`` from ``RozRemembers``. (The native
:class:`statetrail.Store` events also carry the ``revision`` number; read it here
from ``store.head`` or ``store.history()``.) Every value handed out (``get()``,
``get_state()``, events) is a plain, mutable copy, which ``json.dumps``, ``copy``
and ``isinstance(x, dict)`` take as they take roz-remembers' values.
"""

from __future__ import annotations

import os
from typing import Any

from statetrail.frozen import thaw
from statetrail.revision import Revision
from statetrail.store import AsyncStore, get_nested_value, set_nested_value
from statetrail.store import Store as _Store

__version__ = "0.2.0"
__all__ = ["RozRemembers", "Store", "get_nested_value", "set_nested_value"]

Event = dict[str, Any]


class Store(_Store):
    """roz-remembers' synchronous ``Store``; values handed out are plain copies.

    >>> store = Store({"job": {"bins": 10, "sorted": 0}})
    >>> store.set("job.sorted", 1)
    True
    >>> store.get("job")
    {'bins': 10, 'sorted': 1}
    """

    def _out(self, value: Any) -> Any:
        return thaw(value)

    def _event(self, rev: Revision) -> Event:
        return _seed_event(super()._event(rev))


class RozRemembers(AsyncStore):
    """roz-remembers' asyncio store; values handed out are plain copies.

    Subscriber queues are unbounded, as in roz-remembers.
    """

    EVENT_QUEUE_SIZE = 0

    def __init__(self, initial_state_file_path: str | os.PathLike[str]) -> None:
        super().__init__(initial_state_file_path)

    def _out(self, value: Any) -> Any:
        return thaw(value)

    def _event(self, rev: Revision) -> Event:
        return _seed_event(super()._event(rev))


def _seed_event(event: Event) -> Event:
    """The event with roz-remembers' keys only: the native ``revision`` removed."""
    del event["revision"]
    return event
