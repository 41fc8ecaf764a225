"""The change feed of the PostgreSQL backend: LISTEN on a connection of its own.

Plumbing for :mod:`statetrail.storage.postgres`, which exports :class:`ChangeFeed`.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from statetrail.errors import StorageError

with contextlib.suppress(ImportError):  # postgres.py names the missing extra
    import psycopg

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["ChangeFeed"]


class ChangeFeed:
    """Appends as they commit: ``(timeline, number)``, number the highest stored.

    Made by ``PostgresBackend.listen()``. A notification is a hint: one sent while
    no feed listens is lost, so a follower reads the rows themselves (``read`` or
    ``tail``) and uses the feed to know when. A lost connection raises
    :class:`~statetrail.StorageError`; open a new feed and catch up.
    """

    def __init__(
        self, conn: Connection[Any], timeline_at: Callable[[int], str]
    ) -> None:
        self._conn = conn
        self._timeline_at = timeline_at
        self._pending: deque[tuple[str, int]] = deque()

    def get(self, timeout: float | None = None) -> tuple[str, int] | None:
        """The next notification, or ``None`` if none came within ``timeout``.

        Waits up to ``timeout`` seconds, forever if it is ``None``.

        Raises:
            StorageError: The connection was lost or the feed is closed.
        """
        if not self._pending:
            try:
                # Drain the generator: notifications that arrived together beyond
                # stop_after would be dropped if it were abandoned.
                notes = list(self._conn.notifies(timeout=timeout, stop_after=1))
            except psycopg.Error as exc:
                raise StorageError(f"PostgreSQL change feed failed: {exc}") from exc
            for note in notes:
                data = json.loads(note.payload)
                name = data["t"] if "t" in data else self._timeline_at(data["s"])
                self._pending.append((name, data["n"]))
        return self._pending.popleft() if self._pending else None

    def __iter__(self) -> Iterator[tuple[str, int]]:
        """Every notification, waiting as long as it takes."""
        while True:
            item = self.get()
            if item is not None:
                yield item

    def close(self) -> None:
        """Stop listening and close the connection."""
        self._conn.close()

    def __enter__(self) -> ChangeFeed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
