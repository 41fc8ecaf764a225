"""Replay a recorded history against a reducer: recorded trails as regression tests.

A *recording* is a timeline's history: the ``statetrail export --format jsonl``
output (a path, or its lines; docs/revision-json.md), or the timeline itself
(a :class:`~statetrail.Timeline`, or a ``Var``, ``Store`` or ``AsyncStore``).
:func:`replay` runs a reducer over it, as Redux DevTools' test generator does:
each recorded revision after the first is a :class:`Step`, the reducer is given
the state it made for the step's parent and the step, and what it returns must
equal the recorded value.

>>> import statetrail
>>> counter = statetrail.Var("clicks", 0)
>>> for _ in range(3):
...     _ = counter.update(lambda n: n + 1)
>>> statetrail.replay(counter, lambda state, step: state + 1).ok
True
>>> result = statetrail.replay(counter, lambda state, step: state + 2)
>>> result.ok, result.first_mismatch
(False, Mismatch(number=1, expected=1, got=2))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from statetrail.errors import CorruptHistoryError
from statetrail.revision import Revision

__all__ = ["Mismatch", "ReplayResult", "Step", "apply_step", "replay"]


@dataclass(frozen=True)
class Step:
    """One recorded revision, as a reducer sees it.

    Attributes:
        number: The revision number.
        parent: The number of the revision it was made from.
        kind: ``set``, ``rollback``, ``undo`` ... (:class:`~statetrail.RevisionKind`).
        label, author, comment: Its metadata.
        changes: What it changed from its parent, as RFC 6902 (JSON Patch)
            operations (values in the codec's JSON form, as exported).
        action: The action an :class:`~statetrail.AsyncStore` applied, when the
            recording holds it (a timeline does; an export does not).
    """

    number: int
    parent: int | None
    kind: str
    label: str | None
    author: str | None
    comment: str | None
    changes: tuple[Mapping[str, Any], ...]
    action: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Mismatch:
    """The first revision whose recorded value the reducer did not reproduce."""

    number: int
    expected: Any
    got: Any


@dataclass(frozen=True)
class ReplayResult:
    """What :func:`replay` found: ``ok``, or the first mismatch.

    True when ``ok``, so ``assert statetrail.replay(...)`` works in a test;
    pytest then shows the result, mismatch and all.
    """

    ok: bool
    replayed: int
    first_mismatch: Mismatch | None = None

    def __bool__(self) -> bool:
        return self.ok


Reducer = Callable[[Any, Step], Any]


def replay(recording: Any, reducer: Reducer, *, initial: Any = None) -> ReplayResult:
    """Run ``reducer`` over ``recording``; compare each state it makes.

    Args:
        recording: A path to ``export --format jsonl`` output, its lines
            (``str``/``bytes``) or parsed objects, or a timeline (or a ``Var``,
            ``Store``, ``AsyncStore``: their ``timeline``).
        reducer: ``reducer(state, step) -> new state``: the code under test.
            An ``AsyncStore``'s own reducers: ``store.reduce`` (the step's
            ``action``).
        initial: The state before the first step (default: the recorded
            first value).

    Returns:
        A :class:`ReplayResult`; it stops at the first mismatch.

    Raises:
        CorruptHistoryError: A recording line that is not a revision object,
            or a revision whose parent comes after it.
    """
    states: dict[int, Any] = {}
    replayed = 0
    for n, (step, expected) in enumerate(_steps(recording)):
        if n == 0:
            states[step.number] = expected if initial is None else initial
            continue
        if step.parent not in states:
            raise CorruptHistoryError(
                f"revision {step.number} of the recording has parent {step.parent}, "
                "which is not before it"
            )
        got = reducer(states[step.parent], step)
        replayed += 1
        if not _equal(got, expected):
            return ReplayResult(False, replayed, Mismatch(step.number, expected, got))
        states[step.number] = got
    return ReplayResult(True, replayed)


def _equal(got: Any, expected: Any) -> bool:
    try:
        return bool(got == expected)
    except Exception:  # an odd __eq__ is a mismatch, not a crash
        return False


def _steps(recording: Any) -> Iterable[tuple[Step, Any]]:
    """Each revision of ``recording`` as a step and its recorded value."""
    timeline = getattr(recording, "timeline", recording)
    revisions = getattr(timeline, "revisions", None)
    if callable(revisions):
        return (_from_revision(rev) for rev in revisions())
    if isinstance(recording, str | os.PathLike):
        return _from_docs(_lines_of(os.fspath(recording)))
    if isinstance(recording, Iterable):
        return _from_docs(recording)
    raise TypeError(
        "a recording is a path, export lines, or a timeline (Var, Store, "
        f"AsyncStore), not {type(recording).__name__}"
    )


def _lines_of(path: str) -> Iterable[bytes]:
    with open(path, "rb") as f:
        yield from f


def _from_revision(rev: Revision) -> tuple[Step, Any]:
    from statetrail.storage.revision_json import from_revision

    doc = from_revision(rev, "")
    extra = rev.extra
    action = extra.get("action") if isinstance(extra, Mapping) else None
    return _step(doc, action), rev.value


def _from_docs(lines: Iterable[Any]) -> Iterable[tuple[Step, Any]]:
    from statetrail.storage import codec

    values: dict[int, Any] = {}
    for line in lines:
        doc = line
        if isinstance(line, bytes | str):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise CorruptHistoryError(
                    f"a recording line is not JSON: {exc}"
                ) from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("number"), int):
            raise CorruptHistoryError(
                "a recording line is a revision object (docs/revision-json.md)"
            )
        step = _step(doc, None)
        if "value" in doc:
            value = codec.from_json(doc["value"])
        else:
            base = None if step.parent is None else values.get(step.parent)
            value = apply_step(base, step)
        values[step.number] = value
        yield step, value


def _step(doc: Mapping[str, Any], action: Any) -> Step:
    parents = doc.get("parents") or []
    return Step(
        number=doc["number"],
        parent=parents[0] if parents else None,
        kind=doc.get("kind", "set"),
        label=doc.get("label"),
        author=doc.get("author"),
        comment=doc.get("comment"),
        changes=tuple(doc.get("changes") or ()),
        action=action,
    )


def apply_step(state: Any, step: Step) -> Any:
    """``state`` with ``step``'s recorded changes applied (a write, not logic)."""
    from statetrail.diff import apply_json_patch
    from statetrail.storage import codec

    ops = [
        {**op, "value": codec.from_json(op["value"])} if "value" in op else op
        for op in step.changes
    ]
    return apply_json_patch(state, ops)
