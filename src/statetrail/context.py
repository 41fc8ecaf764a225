"""Who and why: revision metadata for a block of code, and where a change came from.

:func:`context` sets the author, comment and label of every revision recorded inside
it. It is per thread and per asyncio task (a :class:`~contextvars.ContextVar`), and
nested blocks override only what they name.

:func:`capture_origin` finds the caller's line, skipping statetrail's own frames.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from sys import _getframe as _frame_at
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple

from statetrail.revision import Origin

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Metadata",
    "capture_origin",
    "context",
    "current_context",
    "origin_capture",
    "set_origin_capture",
]


class Metadata(NamedTuple):
    """The revision metadata in force: author, comment and label."""

    author: str | None = None
    comment: str | None = None
    label: str | None = None


_EMPTY = Metadata()
_META: ContextVar[Metadata] = ContextVar("statetrail_metadata", default=_EMPTY)
_KEEP: Any = object()


def _checked_text(field: str, value: Any) -> str:
    """``value`` as a plain ``str`` that every backend stores and reads back as is.

    The one rule for revision metadata (author, comment, label) and timeline
    names, checked when they are given, before anything is recorded: anything
    but a string is a :class:`TypeError` (an integer author used to be recorded
    and then fail its digest on reopening); a NUL character, which PostgreSQL
    refuses, or a lone surrogate, which is not UTF-8, is a :class:`ValueError`
    on every backend, memory included. A ``str`` subclass is stored as the
    plain string.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string or None, not {type(value).__name__}")
    text = value if type(value) is str else str.__str__(value)  # a subclass: plain
    if "\0" in text:
        raise ValueError(
            f"{field} holds a NUL character (\\x00) at position "
            f"{text.index(chr(0))}: no backend stores it (PostgreSQL refuses it)"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{field} holds a lone surrogate ({text[exc.start]!r}) at position "
                f"{exc.start}: it is not valid Unicode text and cannot be stored"
            ) from None
    return text


def current_context() -> Metadata:
    """The metadata set by the innermost enclosing :func:`context` blocks."""
    return _META.get()


@contextlib.contextmanager
def context(
    *,
    author: str | None = _KEEP,
    comment: str | None = _KEEP,
    label: str | None = _KEEP,
) -> Iterator[Metadata]:
    """Record every change inside the block with this author, comment and label.

    Only the names given change; an enclosing block's others stay in force. An
    argument given to a write itself wins over the block.

    >>> import statetrail
    >>> price = statetrail.Timeline(9.99)
    >>> with statetrail.context(author="alice", comment="spring sale"):
    ...     rev = price.set(7.99)
    >>> rev.author, rev.comment
    ('alice', 'spring sale')
    """
    if author is not _KEEP and author is not None:
        author = _checked_text("author", author)
    if comment is not _KEEP and comment is not None:
        comment = _checked_text("comment", comment)
    if label is not _KEEP and label is not None:
        label = _checked_text("label", label)
    outer = _META.get()
    meta = Metadata(
        outer.author if author is _KEEP else author,
        outer.comment if comment is _KEEP else comment,
        outer.label if label is _KEEP else label,
    )
    token = _META.set(meta)
    try:
        yield meta
    finally:
        _META.reset(token)


# -- origin capture -------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Frames from these files are statetrail's own (or contextlib's, between a
#: ``with`` block and statetrail's context managers) and are skipped.
_INTERNAL = (_PACKAGE_DIR, contextlib.__file__)
_threads = threading.local()
#: Files inside the package that are applications, not library code: their frames
#: are the origin (``statetrail demo`` registers itself).
_APPLICATION_FILES: set[str] = set()


def _internal(filename: str) -> bool:
    return filename.startswith(_INTERNAL) and filename not in _APPLICATION_FILES


class _Switch:
    """Origin capture on or off: one object the engine reads on every write."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


CAPTURE = _Switch()

#: What a revision keeps of its origin until someone asks: the code object, the
#: instruction offset, the thread's name and the task's name. An :class:`Origin`
#: (with the line number looked up from the offset) is built on first use.
RawOrigin = tuple[Any, int, str, "str | None"]


def set_origin_capture(enabled: bool) -> None:
    """Turn origin capture on or off for timelines that do not choose for themselves.

    Capture costs one frame lookup per write (the benchmarks give the figure);
    turning it off records ``origin=None``.
    """
    CAPTURE.on = bool(enabled)


def origin_capture() -> bool:
    """Whether origin capture is on by default."""
    return CAPTURE.on


_modules = sys.modules


class _LoopProbe:
    """Reads the running asyncio loop without importing asyncio (issue 11).

    No loop can run before asyncio is imported, so the hot paths ask
    ``LOOP.get() if "asyncio.events" in sys.modules else None`` (``ASYNCIO``
    spelt out, a constant is cheaper than a global): one dict lookup while
    asyncio is not imported. ``get`` starts as a Python function that finds
    asyncio's own, and then puts that C function in its place, so that from then
    on a read costs what ``asyncio._get_running_loop()`` does.
    """

    __slots__ = ("get",)

    def __init__(self) -> None:
        self.get: Callable[[], asyncio.AbstractEventLoop | None] = self._find

    def _find(self) -> asyncio.AbstractEventLoop | None:
        events = _modules.get(ASYNCIO)
        if events is None:
            return None
        # The C function asyncio's own get_running_loop() calls, read from the
        # module's namespace: absent while another thread is importing asyncio,
        # and then no loop runs.
        get: Callable[[], asyncio.AbstractEventLoop | None] | None
        get = vars(events).get("_get_running_loop")
        if get is None:
            return None
        self.get = get
        return self.get()


#: The module whose presence means an asyncio loop may run.
ASYNCIO = "asyncio.events"
LOOP = _LoopProbe()


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio event loop running in this thread, or ``None``.

    It never imports asyncio (see :class:`_LoopProbe`).
    """
    return LOOP.get() if ASYNCIO in _modules else None


def _first_current_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
    # The first call puts asyncio's own function in its place (a loop runs, so
    # asyncio is imported): later calls cost what asyncio.current_task does.
    global _current_task
    from asyncio import current_task

    _current_task = current_task
    return current_task(loop)


_current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
    _first_current_task
)


def _task_name(loop: asyncio.AbstractEventLoop) -> str | None:
    task = _current_task(loop)
    return task.get_name() if task is not None else None


def capture_raw(depth: int = 1) -> RawOrigin | None:
    """What a revision keeps of the frame ``depth`` levels above the caller.

    Entry points pass how many of statetrail's frames lie between them and the
    user's code, so this is a single frame lookup with no walk (the engine's hot
    path inlines the same steps).
    """
    try:
        frame = _frame_at(depth + 1)
    except ValueError:  # fewer frames than that
        return None
    try:
        thread = _threads.thread
    except AttributeError:
        thread = _threads.thread = threading.current_thread()
    loop = LOOP.get() if "asyncio.events" in _modules else None
    return (
        frame.f_code,
        frame.f_lasti,
        thread.name,
        None if loop is None else _task_name(loop),
    )


def capture_raw_walk(
    _getframe: Callable[[int], FrameType] = _frame_at,
) -> RawOrigin | tuple[None, None, None, None]:
    """The raw origin of the first caller frame outside statetrail and contextlib.

    For writes whose depth is not known in advance (a timeline's first revision,
    made through however many constructors); all ``None`` at the top level.
    """
    frame: FrameType | None = _getframe(1)
    while frame is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return (None, None, None, None)
    loop = LOOP.get() if "asyncio.events" in _modules else None
    return (
        frame.f_code,
        frame.f_lasti,
        threading.current_thread().name,
        None if loop is None else _task_name(loop),
    )


def capture_origin(
    _getframe: Callable[[int], FrameType] = _frame_at,
) -> Origin | None:
    """The Origin of the first caller frame outside statetrail and contextlib.

    It walks up from the caller, so it works at any depth.

    ``_getframe`` is the seam tests use to hand in frames of their own.
    """
    frame: FrameType | None = _getframe(1)
    while frame is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return None
    loop = LOOP.get() if "asyncio.events" in _modules else None
    return Origin(
        frame.f_code.co_filename,
        frame.f_lineno,
        frame.f_code.co_name,
        threading.current_thread().name,
        None if loop is None else _task_name(loop),
    )
