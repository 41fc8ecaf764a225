"""A read-only copy of a timeline's state that stays current: :func:`mirror`.

A thread follows the timeline (:func:`~statetrail.follow`) and applies each
revision as it arrives; readers see the state of the newest revision applied, as
a Store shows its head, with the same reads and subscriptions:

>>> import statetrail
>>> repo = statetrail.open(":memory:")
>>> store = repo.store("job", {"bins": 10})
>>> with statetrail.mirror(repo, "job") as copy:
...     _ = store.set("bins", 12)
...     copy.wait_for(1)
...     copy.get("bins"), copy.lag.revisions
True
(12, 0)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from statetrail._log import get_logger
from statetrail._store_events import Event, concerns, make_event
from statetrail.frozen import thaw
from statetrail.live._follow import Following, Lag, Target
from statetrail.paths import STORE, get_at, parse_path
from statetrail.revision import Revision
from statetrail.storage._stream import DEFAULT_PREFIX

__all__ = ["Mirror", "mirror"]

log = get_logger("statetrail")


def mirror(
    url: Target,
    name: str,
    *,
    source: Target | None = None,
    interval: float = 0.05,
    prefix: str = DEFAULT_PREFIX,
) -> Mirror:
    """A read-only, always current copy of timeline ``name``'s state.

    ``url``, ``source``, ``interval`` and ``prefix`` are :func:`follow`'s. The
    copy starts from the first revision (or, with a ``source``, reads the newest
    stored one first and follows from there).
    """
    return Mirror(url, name, source=source, interval=interval, prefix=prefix)


class Mirror:
    """A copy of a timeline's state kept current by a follower thread.

    Read it as a Store: :meth:`get`, :meth:`get_state`, :meth:`subscribe` (with
    a path, too). It cannot be written. :attr:`lag` says how far behind it is.
    """

    def __init__(
        self,
        url: Target,
        name: str,
        *,
        source: Target | None = None,
        interval: float = 0.05,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._following = Following(
            url, name, after="newest", source=source, interval=interval, prefix=prefix
        )
        self.name = name
        self._cond = threading.Condition()
        self._revision: Revision | None = None
        self._listeners: tuple[Callable[[Revision, Any], None], ...] = ()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"statetrail-mirror-{name}", daemon=True
        )
        self._thread.start()

    # -- reading -------------------------------------------------------------------

    @property
    def revision(self) -> Revision | None:
        """The newest revision applied (``None`` before the first)."""
        return self._revision

    @property
    def lag(self) -> Lag:
        """How far behind the newest revision seen this copy is."""
        return self._following.lag

    @property
    def error(self) -> BaseException | None:
        """What stopped the copy, if it stopped on an error (it is logged too)."""
        return self._error

    def get(self, path: str, default: Any = None) -> Any:
        """The value at dot-path ``path``, or ``default`` (as ``Store.get``)."""
        rev = self._revision
        if rev is None:
            return default
        try:
            value = get_at(rev.value, parse_path(path, STORE), STORE)
        except ValueError:
            return default
        return default if value is None else value

    def get_state(self) -> dict[str, Any]:
        """A plain, mutable deep copy of the whole state (``{}`` before the first)."""
        rev = self._revision
        return {} if rev is None else thaw(rev.value)

    def subscribe(
        self, callback: Callable[[Event], object], path: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for each revision applied (as ``Store.subscribe``).

        Events are dicts with ``type``, ``path``, ``old_value``, ``new_value`` and
        ``revision``; with ``path``, only the changes that concern it. Returns the
        function that stops it.
        """
        if not callable(callback):
            raise TypeError(f"a subscriber must be callable, not {callback!r}")
        prefix = None if path is None else parse_path(path, STORE)

        def deliver(rev: Revision, before: Any) -> None:
            if prefix is None or concerns(rev, prefix):
                callback(make_event(rev, before, _same))

        with self._cond:
            self._listeners = (*self._listeners, deliver)

        def stop() -> None:
            with self._cond:
                self._listeners = tuple(f for f in self._listeners if f is not deliver)

        return stop

    def wait_for(self, number: int, timeout: float | None = None) -> bool:
        """Wait until revision ``number`` is applied; ``False`` at ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._revision is None or self._revision.number < number:
                if self._error is not None or not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 0.5)
        return True

    # -- the follower thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            for rev in self._following:
                before = None if self._revision is None else self._revision.value
                with self._cond:
                    self._revision = rev
                    listeners = self._listeners
                    self._cond.notify_all()
                for deliver in listeners:
                    try:
                        deliver(rev, before)
                    except Exception:
                        log.exception("a mirror subscriber of %r raised", self.name)
        except BaseException as exc:
            if not self._following.closed:
                log.error("the mirror of %r stopped: %s", self.name, exc)
                self._error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def close(self) -> None:
        """Stop following."""
        self._following.close()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        at = None if self._revision is None else self._revision.number
        return f"<Mirror {self.name!r} at {at}, lag {self.lag.revisions}>"


def _same(value: Any) -> Any:
    return value
