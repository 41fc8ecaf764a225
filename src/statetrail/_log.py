"""statetrail's loggers, made when first used.

``import statetrail`` does not import :mod:`logging` (with it come ``traceback``,
``tokenize``, ``textwrap`` and more: issue 11): a module asks for its logger
with :func:`get_logger` at import time, and gets a stand-in that becomes the
real :class:`logging.Logger` at its first call. Calls go straight to the real
logger's bound methods, so a record names the caller's line, not this module.

The first one made also gives the ``"statetrail"`` logger a
:class:`logging.NullHandler`, as a library should: without a logging set-up in
the application, Python's last-resort handler does not print statetrail's
warnings to standard error.

A record made while :mod:`logging` is not imported is dropped without importing
it (issue 11: 5 ms of a first ``statetrail.open``): no handler can have been set
up yet, and the ``"statetrail"`` logger's :class:`~logging.NullHandler` keeps
Python's last-resort handler from printing it, so it would reach no one.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import logging

__all__ = ["get_logger"]

_lock = threading.Lock()
_handled = False

#: The methods that make a record: dropped while logging is not imported.
_EMITTERS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal"}
)


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (``"statetrail"`` or under it), made at its first use."""
    return cast("logging.Logger", _Deferred(name))


def _real(name: str) -> logging.Logger:
    global _handled
    import logging

    if not _handled:
        with _lock:
            if not _handled:
                logging.getLogger("statetrail").addHandler(logging.NullHandler())
                _handled = True
    return logging.getLogger(name)


class _Deferred:
    """Stands for ``logging.getLogger(name)`` until an attribute is asked for."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: logging.Logger | None = None

    def __getattr__(self, attribute: str) -> Any:
        logger = self._logger
        if logger is None:
            if attribute in _EMITTERS and "logging" not in sys.modules:
                return _drop  # no handler exists to receive the record
            logger = self._logger = _real(self._name)
        return getattr(logger, attribute)

    def __repr__(self) -> str:
        return f"<statetrail logger {self._name!r}>"


def _drop(*_args: object, **_kwargs: object) -> None:
    """A record made before :mod:`logging` is imported: it would reach no one."""
