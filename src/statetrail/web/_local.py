"""The JSON API's answers for a timeline in this process (the widget's side).

The timeline component (``web/static/timeline.js``) asks its source for the
timelines, a page of revisions, one revision with its value, a diff and a blame.
Over HTTP ``statetrail serve`` answers from storage; in a notebook
:class:`LocalSource` answers the same questions, in the same JSON (the revision
object of :mod:`statetrail.storage.revision_json`), from a
:class:`~statetrail.Timeline` held in memory.

>>> import statetrail
>>> timeline = statetrail.Timeline({"a": [1]}, name="t")
>>> _ = timeline.set({"a": [1, 2]}, author="ann", comment="two")
>>> source = LocalSource(timeline)
>>> [(r["number"], r["author"]) for r in source.revisions("t", {})]
[(1, 'ann'), (0, None)]
>>> source.diff("t", None, 1)["changes"]
[{'op': 'add', 'path': '/a/1', 'value': 2}]
>>> source.blame("t", "/a/1")["revision"]["comment"]
'two'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from statetrail import paths
from statetrail.errors import RevisionNotFoundError, StatetrailError
from statetrail.frozen import MISSING
from statetrail.revision import Revision, time_ns_of
from statetrail.storage import codec
from statetrail.storage import revision_json as rj
from statetrail.timeline import Timeline

__all__ = ["MAX_LIMIT", "LocalSource", "pointer_steps"]

#: The most revisions one page holds, as in the HTTP API.
MAX_LIMIT = 1000
_DEFAULT_LIMIT = 50
_FILTERS = frozenset(
    {"before", "limit", "author", "path", "label", "since", "until", "branch"}
)


def pointer_steps(pointer: str, value: Any) -> tuple[Any, ...]:
    """The path steps of a JSON Pointer, read against ``value``.

    A pointer cannot tell a list index from a dict key made of digits: a step
    is an integer where ``value`` holds a sequence at that point (or a dict
    with that integer key), a string otherwise.

    Raises:
        ValueError: ``pointer`` is neither empty nor starts with ``/``.

    >>> pointer_steps("/a/0/b~1c", {"a": [{"b/c": 1}]})
    ('a', 0, 'b/c')
    >>> pointer_steps("/7", {"7": 1}), pointer_steps("", 1)
    (('7',), ())
    """
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise ValueError(f"a path is a JSON Pointer starting with '/': {pointer!r:.80}")
    if not pointer:
        return ()
    steps: list[Any] = []
    node = value
    for raw in pointer[1:].split("/"):
        step: Any = raw.replace("~1", "/").replace("~0", "~")
        if step.isdigit() and str(int(step)) == step:
            number = int(step)
            if (isinstance(node, Sequence) and not isinstance(node, str | bytes)) or (
                isinstance(node, Mapping) and step not in node and number in node
            ):
                step = number
        steps.append(step)
        node = _child(node, step)
    return tuple(steps)


def _child(node: Any, step: Any) -> Any:
    try:
        return node[step]
    except (KeyError, IndexError, TypeError):
        return None


def _time(text: Any, name: str) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 time: {text!r:.40}") from None
    return moment


def _number(text: Any, name: str) -> int | None:
    if text is None or text == "":
        return None
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError(f"{name} is not a revision number: {text!r:.40}")
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{name} is not a revision number: {text!r:.40}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def _shown(value: Any) -> Any:
    """``value`` in the codec's JSON form; what the codec cannot store, as its repr.

    A dict or list holding such a value keeps its shape, so the tree still opens.
    """
    try:
        return codec.to_json(value)
    except StatetrailError:
        pass
    if isinstance(value, Mapping):
        return {str(k): _shown(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_shown(v) for v in value]
    return {"$t": "repr", "v": repr(value)[:1000]}


class LocalSource:
    """The timeline component's questions, answered from one in-memory timeline.

    Every method returns JSON-able data: what the HTTP API sends for the same
    question. Unknown names and revisions raise
    :class:`~statetrail.RevisionNotFoundError`, malformed arguments
    :class:`ValueError`.

    Args:
        timeline: The timeline to show.
        name: Its name in the answers (default: the timeline's own, or
            ``"timeline"``).
    """

    def __init__(self, timeline: Timeline[Any], name: str | None = None) -> None:
        self.timeline = timeline
        self.name = name or timeline.name or "timeline"

    def _check(self, name: Any) -> Timeline[Any]:
        if name != self.name:
            raise RevisionNotFoundError(f"no timeline {name!r:.80}")
        return self.timeline

    def doc(self, revision: Revision, *, with_value: bool = False) -> dict[str, Any]:
        """The revision object of ``revision`` (its value too when asked)."""
        try:
            doc = rj.from_revision(revision, self.name)
        except StatetrailError:
            # A value the codec cannot store: shown as its repr, changes too.
            doc = rj.from_revision(_Plain(revision), self.name)  # type: ignore[arg-type]
            whole = _shown(revision.value)
            doc["changes"] = [{"op": "replace", "path": "", "value": whole}]
        if with_value:
            doc["value"] = None if doc["changes"] is None else _shown(revision.value)
        return doc

    def timelines(self) -> list[dict[str, Any]]:
        """The one timeline: name, revisions, head, branches and last change."""
        timeline = self.timeline
        branches = timeline.branches()
        newest = max(branches.values())
        return [
            {
                "name": self.name,
                "revisions": len(timeline),
                "head": newest,
                "branches": sorted(branches),
                "last_change": rj.format_time(timeline.revision(newest).time_ns),
            }
        ]

    def revisions(self, name: str, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A page of revisions, newest first (``filters`` as the HTTP API's)."""
        timeline = self._check(name)
        unknown = set(filters) - _FILTERS
        if unknown:
            raise ValueError(f"unknown filter: {sorted(unknown)[0]!r:.40}")
        before = _number(filters.get("before"), "before")
        limit = _number(filters.get("limit"), "limit")
        limit = _DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit is from 1 to {MAX_LIMIT}")
        path = filters.get("path") or None
        branch = filters.get("branch") or None
        if branch is not None and branch not in timeline.branches():
            raise RevisionNotFoundError(f"no branch {branch!r:.80}")
        chosen: dict[str, Any] = {
            "all_branches": branch is None,
            "branch": branch,
            "author": filters.get("author") or None,
            "label": filters.get("label") or None,
            "since": _time(filters.get("since"), "since"),
            "until": _time(filters.get("until"), "until"),
        }
        if path is None:
            page = self._page(timeline, chosen, before, limit)
            return [self.doc(r) for r in page]
        steps = pointer_steps(path, timeline.value)
        found = timeline.log(path=steps, reverse=True, **chosen)
        # The first revision set the whole value: it made the path, as
        # the HTTP API and blame count it.
        oldest = timeline.log(limit=1, **chosen)
        if (
            oldest
            and oldest[0].parent is None
            and (not found or found[-1].number != oldest[0].number)
            and paths.lookup_in(oldest[0].value, steps, MISSING) is not MISSING
        ):
            found.append(oldest[0])
        page = [r for r in found if before is None or r.number < before][:limit]
        return [self.doc(r) for r in page]

    def _page(
        self,
        timeline: Timeline[Any],
        chosen: Mapping[str, Any],
        before: int | None,
        limit: int,
    ) -> list[Revision]:
        """Up to ``limit`` revisions below ``before`` passing ``chosen``.

        Newest first, read one at a time from the newest down: a page of a long
        stored timeline reads the pages of rows it shows (and, with a filter
        that matches rarely, those it looks through), never the whole history.

        Every branch's revisions by number, or with a branch its line (first
        parents, as the HTTP API's ``branch``).
        """
        since, until = chosen["since"], chosen["until"]
        since_ns = None if since is None else time_ns_of(since)
        until_ns = None if until is None else time_ns_of(until)
        author, label = chosen["author"], chosen["label"]
        out: list[Revision] = []
        for revision in self._newest_first(timeline, chosen["branch"], before):
            if author is not None and revision.author != author:
                continue
            if label is not None and revision.label != label:
                continue
            if since_ns is not None and revision.time_ns < since_ns:
                continue
            if until_ns is not None and revision.time_ns >= until_ns:
                continue
            out.append(revision)
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def _newest_first(
        timeline: Timeline[Any], branch: str | None, before: int | None
    ) -> Iterator[Revision]:
        """The revisions below ``before``, newest first (see :meth:`_page`)."""
        tips = timeline.branches()
        if branch is not None:
            number: int | None = tips[branch]
            while number is not None:
                try:
                    revision = timeline.revision(number)
                except RevisionNotFoundError:
                    return  # trimmed below here
                if before is None or number < before:
                    yield revision
                number = revision.parent
            return
        newest = max(tips.values())
        top = newest if before is None else min(before - 1, newest)
        # Numbers not held (trimmed) are skipped; the walk ends once every
        # held revision at or below the top has been seen.
        left = len(timeline) - (newest - top)
        for number in range(top, -1, -1):
            if left <= 0:
                return
            try:
                revision = timeline.revision(number)
            except RevisionNotFoundError:
                continue
            left -= 1
            yield revision

    def after(self, name: str, number: int) -> list[dict[str, Any]]:
        """The revisions numbered above ``number``, oldest first (at most 1,000).

        Read one at a time upward from ``number``, never the whole history.
        """
        timeline = self._check(name)
        newest = max(timeline.branches().values())
        found = []
        for n in range(max(number + 1, 0), newest + 1):
            try:
                found.append(timeline.revision(n))
            except RevisionNotFoundError:
                continue  # not held (trimmed)
            if len(found) >= MAX_LIMIT:
                break
        return [self.doc(r) for r in found]

    def revision(self, name: str, number: Any) -> dict[str, Any]:
        """One revision with its ``value``."""
        timeline = self._check(name)
        n = _number(number, "the revision")
        if n is None:
            raise ValueError("which revision?")
        return self.doc(timeline.revision(n), with_value=True)

    def diff(self, name: str, a: Any, b: Any) -> dict[str, Any]:
        """The changes turning revision ``a``'s value into ``b``'s.

        ``a`` defaults to ``b``'s parent; ``b`` to the newest revision.
        """
        timeline = self._check(name)
        second = _number(b, "b")
        if second is None:
            second = max(timeline.branches().values())
        first = _number(a, "a")
        rev = timeline.revision(second)
        if first is None:
            if rev.parent is None:
                return {"a": None, "b": second, "changes": self.doc(rev)["changes"]}
            first = rev.parent
        try:
            changes = rj.changes_from_patch(
                codec.changes_to_json(timeline.diff(first, second))
            )
        except StatetrailError as exc:
            if isinstance(exc, RevisionNotFoundError):
                raise
            changes = [{"op": "replace", "path": "", "value": _shown(rev.value)}]
        return {"a": first, "b": second, "changes": changes}

    def blame(self, name: str, path: Any, at: Any = None) -> dict[str, Any]:
        """The revision that last changed ``path`` (a JSON Pointer) up to ``at``.

        Walks back from ``at`` (default: the cursor) along its lineage; the
        revision is ``None`` when the path is not in ``at``'s value.
        """
        timeline = self._check(name)
        number = _number(at, "at")
        start = timeline.head if number is None else timeline.revision(number)
        value = start.value
        steps = pointer_steps(path if path is not None else "", value)
        if paths.lookup_in(value, steps, MISSING) is MISSING:
            return {"path": path, "revision": None}
        revision = start
        while revision.parent is not None and not any(
            paths.is_prefix(c.path, steps) or paths.is_prefix(steps, c.path)
            for c in revision.changes
        ):
            try:
                revision = timeline.revision(revision.parent)
            except RevisionNotFoundError:
                break  # trimmed below here: the oldest held is the answer
        return {"path": path, "revision": self.doc(revision)}


class _Plain:
    """A revision's metadata with a value the codec can store (``None``)."""

    def __init__(self, revision: Revision) -> None:
        self._revision = revision
        self.value = None
        self.changes = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._revision, name)
