"""The path and time indexes' rules, shared by every backend.

A row lists the paths its revision changed as JSON Pointers (``Row.paths``). The
path index keeps one entry per ``(timeline, path, number)``; a question about a
path ``P`` is answered by

- an exact lookup of ``P`` and a range scan of its descendants: every pointer
  under ``P`` starts with ``P + "/"``, and these sort in one range, from
  ``P + "/"`` up to (not including) ``P + "0"`` (``"0"`` is the character after
  ``"/"``). A key holding ``/`` or ``~`` is escaped in a pointer (``~1``,
  ``~0``), so no key can end the range early or fall into another's;
- one exact lookup per ancestor of ``P`` (``""``, ``/a`` for ``/a/b``): a write
  to ``/a`` replaces ``/a/b``.

Pointers compare as bytes (SQLite's BINARY collation, PostgreSQL's ``C``):
UTF-8 bytes order like code points, so the range holds in both.

An integer index and a key of the same digits share a pointer (``/0``): the
index answers for the pointer, as the rows record it.
"""

from __future__ import annotations

__all__ = [
    "ancestors",
    "check_limit",
    "check_pointer",
    "descendants",
    "expected_entries",
    "touches",
]


def check_pointer(path: str) -> None:
    """Raise :class:`ValueError` unless ``path`` is a JSON Pointer.

    >>> check_pointer("/a/b~1c")
    >>> check_pointer("a")
    Traceback (most recent call last):
    ValueError: 'a' is not a JSON Pointer: it must be empty or start with '/'
    """
    if type(path) is not str:
        raise TypeError(f"a path is a JSON Pointer string, not {type(path).__name__}")
    if path and path[0] != "/":
        raise ValueError(
            f"{path!r} is not a JSON Pointer: it must be empty or start with '/'"
        )


def check_limit(limit: int | None) -> None:
    """Raise :class:`ValueError` for a negative ``limit``."""
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")


def touches(changed: str, path: str) -> bool:
    """Whether a change at JSON Pointer ``changed`` touches ``path``.

    A change at the path, under it, or at one of its ancestors does.

    >>> touches("/a/b", "/a"), touches("", "/a"), touches("/ab", "/a")
    (True, True, False)
    """
    if changed == path:
        return True
    if changed.startswith(path) and changed[len(path)] == "/":
        return True
    return path.startswith(changed) and path[len(changed)] == "/"


def ancestors(path: str) -> list[str]:
    """The pointers above ``path``, the whole value first.

    >>> ancestors("/a/b~1c/d")
    ['', '/a', '/a/b~1c']
    >>> ancestors("")
    []
    """
    if not path:
        return []
    out = [""]
    cut = path.find("/", 1)
    while cut != -1:
        out.append(path[:cut])
        cut = path.find("/", cut + 1)
    return out


def descendants(path: str) -> tuple[str, str]:
    """The range ``[low, high)`` that holds every pointer under ``path``.

    >>> descendants("/a")
    ('/a/', '/a0')
    """
    return path + "/", path + "0"


def expected_entries(paths: tuple[str, ...]) -> set[str]:
    """The index entries a row with ``paths`` has: each distinct path once."""
    return set(paths)
