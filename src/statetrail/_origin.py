"""What a timeline records beside a value: the caller's line and the metadata.

Two jobs of every write that are not the write itself, kept out of the write
core: capturing the origin (the code object, the instruction, the thread's and
the task's names, read raw and made into an
:class:`~statetrail.context.Origin` only when asked) and putting a revision's
metadata together with the enclosing :func:`~statetrail.context`'s, checking
its text. :meth:`Timeline._commit <statetrail.Timeline>`, the hot path, inlines
both for a plain write; every other write calls these.
"""

from __future__ import annotations

import sys
import threading
from sys import _getframe
from typing import Any

from statetrail.context import (
    _EMPTY,
    _META,
    CAPTURE,
    LOOP,
    RawOrigin,
    _checked_text,
    _task_name,
    _threads,
    capture_raw_walk,
)
from statetrail.revision import PLAIN, RevisionKind

__all__: list[str] = []

#: A revision's kind, target and metadata: ``(kind, target, label, author,
#: comment, extra)``.
Info = tuple[str, "int | None", "str | None", "str | None", "str | None", Any]

#: The origin of a revision recorded without one.
NO_ORIGIN = (None, None, None, None)

Raw = RawOrigin | tuple[None, None, None, None]

_modules = sys.modules  # asyncio's loop is read only once asyncio is imported


def capturing(enabled: bool | None) -> bool:
    """Whether a timeline with ``origin=enabled`` records origins now."""
    return CAPTURE.on if enabled is None else enabled


def capture_first(enabled: bool | None) -> Raw:
    """The origin of revision 0, which any number of constructors may make.

    It walks out of statetrail's frames instead of counting them.
    """
    return capture_raw_walk() if capturing(enabled) else NO_ORIGIN


def capture(enabled: bool | None, depth: int) -> Raw:
    """The raw origin ``depth`` frames above the caller (all None when off)."""
    if not capturing(enabled):
        return NO_ORIGIN
    try:
        frame = _getframe(depth + 1)
    except ValueError:  # fewer frames than that
        return NO_ORIGIN
    try:
        thread = _threads.thread
    except AttributeError:
        thread = _threads.thread = threading.current_thread()
    loop = LOOP.get() if "asyncio.events" in _modules else None
    return (
        frame.f_code,
        frame.f_lasti,
        thread._name,  # noqa: SLF001 - stdlib field, for speed
        None if loop is None else _task_name(loop),
    )


def info_of(
    kind: str,
    target: int | None,
    label: str | None,
    author: str | None,
    comment: str | None,
    extra: Any = None,
) -> Info:
    """A revision's kind, target and metadata; the context fills in the rest.

    The shared :data:`~statetrail.revision.PLAIN` when there is none. Every
    write with metadata comes here, so this is where the arguments are checked
    (:func:`~statetrail.context` checked its own): a non-string raises
    :class:`TypeError`, a NUL or a lone surrogate :class:`ValueError`, before
    anything is recorded.
    """
    # The common case (plain ASCII text) inline; the rest in _checked_text.
    if label is not None and (
        type(label) is not str or not label.isascii() or "\0" in label
    ):
        label = _checked_text("label", label)
    if author is not None and (
        type(author) is not str or not author.isascii() or "\0" in author
    ):
        author = _checked_text("author", author)
    if comment is not None and (
        type(comment) is not str or not comment.isascii() or "\0" in comment
    ):
        comment = _checked_text("comment", comment)
    meta = _META.get()
    if meta is not _EMPTY:
        if label is None:
            label = meta.label
        if author is None:
            author = meta.author
        if comment is None:
            comment = meta.comment
    if (
        kind is RevisionKind.SET
        and label is None
        and author is None
        and comment is None
        and extra is None
    ):
        return PLAIN
    return (kind, target, label, author, comment, extra)


def plain_or_info(
    kind: str,
    target: int | None,
    label: str | None,
    author: str | None,
    comment: str | None,
    extra: Any = None,
) -> Info:
    """:func:`info_of`, with the plain write (no metadata anywhere) kept cheap."""
    if (
        kind is RevisionKind.SET
        and label is None
        and author is None
        and comment is None
        and extra is None
        and _META.get() is _EMPTY
    ):
        return PLAIN
    return info_of(kind, target, label, author, comment, extra)
