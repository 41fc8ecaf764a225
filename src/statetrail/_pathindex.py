"""The path index: for each path, the revisions that touched it.

Blame and path history ask "which revisions changed this path, something under it,
or an ancestor of it". A trie of paths whose nodes list revision numbers answers
that by merging a few sorted lists, so the cost is the number of revisions that
touched the path, not the length of the history. A timeline builds it on first
use and keeps it up to date after that.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

from statetrail._change import Change
from statetrail.paths import Path

__all__ = ["PathIndex", "index_path"]


def index_path(change: Change) -> Path:
    """Where a change is indexed.

    An insertion or removal in a list shifts every later item, so it is indexed
    at the list itself and counts as a change to each item's path.
    """
    path = change.path
    if path and isinstance(path[-1], int) and change.kind != "replace":
        return path[:-1]
    return path


class _Node:
    __slots__ = ("children", "here", "under")

    def __init__(self) -> None:
        self.children: dict[Any, _Node] = {}
        self.here: list[int] = []  # revisions that changed exactly this path
        self.under: list[int] = []  # revisions that changed this path or below it


class PathIndex:
    """Revision numbers by the paths their changes touched."""

    __slots__ = ("_root",)

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, number: int, changes: Iterable[Change]) -> None:
        """Index revision ``number`` (numbers must come in increasing order)."""
        for change in changes:
            node = self._root
            if not node.under or node.under[-1] != number:
                node.under.append(number)
            for step in index_path(change):
                child = node.children.get(step)
                if child is None:
                    child = node.children[step] = _Node()
                node = child
                if not node.under or node.under[-1] != number:
                    node.under.append(number)
            if not node.here or node.here[-1] != number:
                node.here.append(number)

    def remove(self, number: int, changes: Iterable[Change]) -> None:
        """Forget revision ``number`` (trimmed ones are the oldest: near the front)."""
        for change in changes:
            node: _Node | None = self._root
            trail = [self._root]
            for step in index_path(change):
                node = node.children.get(step) if node is not None else None
                if node is None:
                    break
                trail.append(node)
            for each in trail:
                if number in each.under:
                    each.under.remove(number)
            if node is not None and number in node.here:
                node.here.remove(number)

    def touching(self, path: Path) -> Iterator[int]:
        """Numbers of revisions that changed ``path``, under it, or an ancestor of it.

        In increasing order, without repeats.
        """
        lists: list[list[int]] = []
        node: _Node | None = self._root
        for step in path:
            assert node is not None
            lists.append(node.here)
            node = node.children.get(step)
            if node is None:
                break
        if node is not None:
            lists.append(node.under)
        last = -1
        for n in heapq.merge(*lists):
            if n != last:
                yield n
                last = n
