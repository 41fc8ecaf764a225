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
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import logging

__all__ = ["get_logger"]

_lock = threading.Lock()
_handled = False


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
            logger = self._logger = _real(self._name)
        return getattr(logger, attribute)

    def __repr__(self) -> str:
        return f"<statetrail logger {self._name!r}>"
