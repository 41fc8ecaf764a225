"""Transaction: the working state of an open ``store.transaction()`` block.

It keeps its own frozen state, which every write inside the block replaces (only
the path written is copied) and every read inside the block sees. The store
records it as one revision when the block ends; nothing of it is recorded if the
block raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from statetrail._log import get_logger
from statetrail._store_values import freeze_checked, split_or_warn
from statetrail.context import running_loop
from statetrail.frozen import MISSING, DictDraft, FrozenDict
from statetrail.frozen._dict import stored_value
from statetrail.paths import STORE, Refused, delete_at, get_at, parse_path, set_frozen
from statetrail.revision import Revision

__all__ = ["Transaction", "current_owner"]

logger = get_logger("statetrail.store")

State = FrozenDict[str, Any]


def current_owner() -> tuple[int, object]:
    """The thread and the asyncio task (if any) running now."""
    loop = running_loop()
    if loop is None:
        return threading.get_ident(), None
    import asyncio  # imported already, since a loop runs

    return threading.get_ident(), asyncio.current_task(loop)


class Transaction:
    """The working state of an open ``store.transaction()`` block.

    Writes go to it and reads see them; nothing reaches the store until the block
    ends without an exception, and then all of it is one revision. A reducer of an
    :class:`~statetrail.store.AsyncStore` gets one for each action.
    """

    __slots__ = ("_base", "_out", "_owner", "_root", "_touched", "revision")

    def __init__(self, base: State, out: Callable[[Any], Any]) -> None:
        self._base = base
        self._root = base
        self._out = out
        self._touched: set[str] = set()
        self._owner = current_owner()
        #: The revision the transaction recorded, once it has ended (``None`` while
        #: open, after an exception, or when it changed nothing).
        self.revision: Revision | None = None

    def owned(self) -> bool:
        """Whether the running thread and task are the ones that opened it."""
        return self._owner == current_owner()

    def opened_on_this_thread(self) -> bool:
        """Whether the running thread opened it (whatever the task)."""
        return self._owner[0] == threading.get_ident()

    def get(self, path: str, default: Any = None) -> Any:
        """The value at ``path`` in the working state, or ``default``."""
        try:
            value = get_at(self._root, parse_path(path, STORE), STORE)
        except ValueError:
            return default
        return default if value is None else self._out(value)

    def snapshot(self) -> State:
        """The working state, frozen."""
        return self._root

    def set(self, path: str, value: Any) -> bool:
        """Set ``value`` at ``path`` in the working state; ``False`` if it cannot."""
        steps = split_or_warn(path, "set")
        if steps is None:
            return False
        frozen = freeze_checked(value, len(steps))  # the path's levels count too
        return self._change(
            path, "set", steps, lambda r: set_frozen(r, steps, frozen, True, STORE)
        )

    def delete(self, path: str) -> bool:
        """Remove the key or list item at ``path``; ``False`` if there is none."""
        steps = split_or_warn(path, "delete")
        if steps is None:
            return False
        return self._change(path, "delete", steps, lambda r: delete_at(r, steps, STORE))

    def _change(
        self,
        path: str,
        verb: str,
        steps: tuple[str, ...],
        change: Callable[[State], State],
    ) -> bool:
        try:
            self._root = change(self._root)
        except Refused as exc:
            logger.warning("cannot %s %r: %s", verb, path, exc)
            return False
        self._touched.add(steps[0])
        return True

    def restore(self, state: State) -> None:
        """Put back a working state :meth:`snapshot` gave (a nested block failed)."""
        self._root = state

    def apply_to(self, draft: DictDraft) -> bool:
        """Put the changed top-level keys into ``draft``; whether anything changed."""
        changed = False
        for key in self._touched:
            new = stored_value(self._root, key)
            if new is stored_value(self._base, key):
                continue
            changed = True
            if new is MISSING:
                del draft[key]
            else:
                draft[key] = new
        return changed
