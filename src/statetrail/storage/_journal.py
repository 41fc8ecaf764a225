"""Between a timeline and a backend: revisions to rows and back, verified.

:class:`StoreJournal` is the :class:`~statetrail.timeline.Journal` a repository
gives each timeline it opens. On every commit it encodes the new revision as a
:class:`~statetrail.storage.base.Row` (a patch against the parent, its digest and
chained hash) and appends it before the revision becomes visible; when another
process took the number first, it brings the timeline up to date and lets the
:class:`~statetrail.ConflictError` through, so a retry appends after the newcomer.

:func:`decode_rows` turns rows back into the engine's records, checking every
digest and chain link on the way: a history altered on disk raises
:class:`~statetrail.CorruptHistoryError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from statetrail._log import get_logger
from statetrail._pathindex import index_path
from statetrail.diff import format_json_pointer
from statetrail.errors import (
    ConflictError,
    CorruptHistoryError,
    PathError,
    RevisionNotFoundError,
    StatetrailError,
)
from statetrail.frozen import MISSING, FrozenDict
from statetrail.paths import delete_in, insert_in, set_in
from statetrail.revision import (
    BRANCH,
    CODE,
    INFO,
    LASTI,
    NUMBER,
    PARENT,
    PLAIN,
    TASK,
    THREAD,
    TIME,
    VALUE,
    Origin,
    Record,
    Revision,
)
from statetrail.storage import _integrity as integrity
from statetrail.storage import _nodes as nodes
from statetrail.storage import codec
from statetrail.storage._lazy import _LAZY, NodeCache, lazy_value
from statetrail.storage._lazy import apply as lazy_apply
from statetrail.storage._ranges import Cut
from statetrail.storage._sealed import ENCRYPTED, Seal, seals_of
from statetrail.storage._value_digest import Tracker, value_digest
from statetrail.storage.base import Backend, Checkpoint, Heads, Row
from statetrail.timeline import Erased, Handle

__all__ = [
    "MISSING_PARENT",
    "NeedsCheckpoint",
    "StoreJournal",
    "decode_rows",
    "heads_after",
    "read_value",
    "row_steps",
    "row_value",
]

logger = get_logger("statetrail")

#: How many revisions along a lineage may pass without a checkpoint; bounds the
#: patches a cold read of one revision applies.
CHECKPOINT_EVERY = 64
_ROOT_CHAIN = integrity.ROOT_CHAIN
#: How many revisions retention lets pile up in storage beyond its rule before
#: it trims them (a trim's fixed cost, a few queries, is spread over as many
#: writes).
TRIM_EVERY = 256
#: How many call sites' origin texts, notes and paths a journal keeps.
_ORIGINS_KEPT = 1024
#: How many revisions' chained hashes and lineage depths a journal keeps.
_KEPT = 4096
_UNKNOWN: Any = object()


def _chain_link(row: Row, previous: str, parent: Callable[[], str]) -> int:
    """Check ``row`` (see :func:`_integrity.row_check`); return its format.

    Raises:
        CorruptHistoryError: The row does not verify.
    """
    version, problem = integrity.row_check(row, previous, parent)
    if problem is not None:
        raise CorruptHistoryError(
            f"revision {row.number} of timeline {row.timeline!r} {problem}: the "
            "history was altered on disk"
        )
    return version


def _note_text(note: Any, allow_pickle: bool) -> str:
    """A revision's note (``extra``) as canonical JSON text."""
    if type(note) is FrozenDict and note._keys is not None:
        # A front end's small note of ASCII strings, {"op": "set", "path": ...}:
        # already its own JSON form.
        keys, vals = note._keys, note._vals
        if all(type(x) is str and x.isascii() and x != "$t" for x in keys) and all(
            type(x) is str and x.isascii() for x in vals
        ):
            return orjson.dumps(dict(zip(keys, vals, strict=True))).decode()
    return codec.canonical(codec.to_json(note, allow_pickle=allow_pickle)).decode()


def _apply(value: Any, ops: Iterable[tuple[str, tuple[Any, ...], Any]]) -> Any:
    """Apply a stored patch (``=``, ``+``, ``-`` steps) to a frozen value.

    A value loaded lazily (``_lazy``) takes them in its overlay.
    """
    for op, path, new in ops:
        if value is ENCRYPTED and path:
            continue  # read without its key (placeholders): stays <encrypted>
        if path and type(value) in _LAZY:
            value = lazy_apply(value, op, path, new)
            continue
        if op == "=":
            value = new if not path else set_in(value, path, new, create=False)
        elif op == "+":
            value = insert_in(value, path, new)
        elif op == "-":
            value = delete_in(value, path)
        else:  # pragma: no cover - the codec refuses unknown operations
            raise CorruptHistoryError(f"unknown patch operation {op!r}")
    return value


def row_value(row: Row, parent_value: Any, *, allow_pickle: bool = False) -> Any:
    """The value a row records, given its parent's (unused for a whole value).

    The row's digest has been checked: its payload is the bytes this library
    wrote, so the plain parser is enough (the strict one guards untrusted text).
    """
    if row.payload is None:
        return _erased(row)
    try:
        payload = orjson.loads(row.payload)
    except orjson.JSONDecodeError as exc:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its payload is not JSON"
        ) from exc
    if not isinstance(payload, dict) or len(payload) != 1 + (
        type(payload.get("value_digest")) is str  # format 3 (_value_digest)
    ):
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: a payload is "
            '{"value": ...} or {"patch": [...]}, and its value digest'
        )
    if "value" in payload:
        return codec.from_json(payload["value"], allow_pickle=allow_pickle)
    if "patch" not in payload:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: bad payload"
        )
    ops = codec.changes_from_json(payload["patch"], allow_pickle=allow_pickle)
    if type(parent_value) is Erased or parent_value is MISSING_PARENT:
        if not (ops and ops[0][0] == "=" and not ops[0][1]):
            raise NeedsCheckpoint(row.number)
        # It starts by replacing the whole value (as a write after an erased
        # parent does): the parent's value is not needed.
        parent_value = None
    try:
        return _apply(parent_value, ops)
    except PathError as exc:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its patch does not apply to "
            f"its parent ({exc})"
        ) from exc


def row_steps(row: Row, allow_pickle: bool) -> list[tuple[str, Any, Any]]:
    """The ``(op, path, new)`` steps of a row's patch (a whole value: one step).

    For the value digest's tracker (``_value_digest``); the row's digest has
    been checked.
    """
    assert row.payload is not None
    payload = orjson.loads(row.payload)
    if "value" in payload:
        return [("=", (), codec.from_json(payload["value"], allow_pickle=allow_pickle))]
    return codec.changes_from_json(payload["patch"], allow_pickle=allow_pickle)


class NeedsCheckpoint(Exception):
    """The parent's value is gone (erased); the row's checkpoint must be used."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


#: The value of a parent that cannot be had: :func:`row_value` then needs a row
#: that replaces the whole value, or raises :class:`NeedsCheckpoint`.
MISSING_PARENT: Any = object()
#: How a stored patch that starts by replacing the whole value begins (the
#: codec's canonical text), so a cold read stops there without parsing it.
_WHOLE_PATCH = '{"patch":[["=",[],'


def _erased(row: Row) -> Erased:
    tomb = integrity.parse_tombstone(row.erased)
    if tomb is None:
        raise CorruptHistoryError(
            f"revision {row.number} of {row.timeline!r}: its tombstone is unreadable"
        )
    return Erased(tomb.author, tomb.reason, tomb.time_ns)


def _origin(text: str | None) -> Origin | None:
    if text is None:
        return None
    try:
        file, line, function, thread, task = orjson.loads(text)
        return Origin(str(file), int(line), str(function), str(thread), task)
    except (ValueError, TypeError) as exc:
        raise CorruptHistoryError(f"an origin is unreadable: {text[:80]!r}") from exc


def _record(row: Row, value: Any, *, allow_pickle: bool) -> Record:
    extra = (
        None
        if row.extra is None
        else codec.from_json(codec.parse(row.extra), allow_pickle=allow_pickle)
    )
    info = (row.kind, row.target, row.label, row.author, row.comment, extra)
    if info == PLAIN:
        info = PLAIN
    return (
        row.number,
        row.parent,
        row.branch,
        value,
        row.time_ns,
        info,
        _origin(row.origin),
        None,
        None,
        None,
    )


def decode_rows(
    backend: Backend,
    timeline: str,
    rows: Sequence[Row],
    *,
    known: dict[int, Any] | None = None,
    chains: dict[int, str] | None = None,
    allow_pickle: bool = False,
    trimmed: Cut | None = None,
) -> list[Record]:
    """Records for ``rows`` (ascending), each digest and chain link verified.

    ``known`` gives values and ``chains`` chained hashes of revisions decoded
    before (the parents of the first rows, the revision before the first);
    both are updated. ``trimmed``: where the stored history starts after a
    trim (the chain at the cut, the checkpoints its tombstone sealed).
    """
    values = {} if known is None else known
    chain_of = {} if chains is None else chains
    if trimmed is not None:
        chain_of.setdefault(trimmed.last, trimmed.chain)
    out: list[Record] = []
    newer = False  # a format-2 row was seen: no format-1 row may follow
    for row in rows:
        if row.timeline != timeline:
            raise CorruptHistoryError(f"a row of {row.timeline!r} among {timeline!r}'s")
        number = row.number
        previous = _ROOT_CHAIN
        if number > 0:
            previous = chain_of.get(number - 1) or _stored_chain(
                backend, timeline, number - 1
            )
        parent = row.parent
        version = _chain_link(
            row,
            previous,
            lambda: chain_of.get(parent) or _stored_chain(backend, timeline, parent),  # type: ignore[arg-type]  # noqa: B023 - called at once
        )
        if version == 2:
            newer = True
        elif newer:
            raise CorruptHistoryError(
                f"revision {number} of timeline {timeline!r} is in the older format "
                "after newer ones: the history was altered on disk"
            )
        parent_value = (
            values.get(parent, MISSING_PARENT) if parent is not None else None
        )
        chain_of[number] = row.chain
        try:
            value = row_value(row, parent_value, allow_pickle=allow_pickle)
        except NeedsCheckpoint:
            value = _from_checkpoint(
                backend,
                timeline,
                number,
                row.chain,
                version,
                allow_pickle,
                lambda: backend.row(timeline, parent),  # type: ignore[arg-type]  # noqa: B023 - called at once
                integrity.committed_value(row),
                sealed=_sealed_by_trim(trimmed, row),
            )
        values[number] = value
        out.append(_record(row, value, allow_pickle=allow_pickle))
    return out


def _sealed_by_trim(trimmed: Cut | None, row: Row) -> str | None:
    """The checkpoint digest a range tombstone lists for ``row``, if trimmed below.

    ``""`` (no digest matches) for a row whose parent was trimmed but which the
    tombstone does not list.
    """
    if trimmed is None or row.parent is None or row.parent > trimmed.last:
        return None
    return trimmed.checkpoints.get(row.number, "")


def _stored_chain(backend: Backend, timeline: str, number: int) -> str:
    parent = backend.row(timeline, number)
    if parent is None:
        raise CorruptHistoryError(f"timeline {timeline!r} lacks revision {number}")
    return parent.chain


def _from_checkpoint(
    backend: Backend,
    timeline: str,
    number: int,
    chain: str,
    version: int,
    allow_pickle: bool,
    parent: Callable[[], Row | None] | None = None,
    committed: str | None = None,
    checked: set[tuple[str, int, str, str]] | None = None,
    sealed: str | None = None,
    cache: NodeCache | None = None,
) -> Any:
    """The value of revision ``number`` from its checkpoint.

    The checkpoint is checked against ``chain`` (the revision's) and its format;
    with ``parent`` (which gives the parent's row), against the digest an erased
    parent's sealed tombstone lists for it: such a checkpoint alone holds the
    value, so one rewritten with its digest recomputed is found there. With
    ``committed`` (the value digest the revision's own row holds, format 3), its
    value is checked against it: that row was chained when it was written, so a
    checkpoint rewritten later, by whatever route, does not match it.
    ``checked`` holds the checkpoints (timeline, number, digest, value digest)
    whose value was hashed before: the stored text is still checked against its
    digest (one SHA-256 of the text), but not hashed as a value again.
    ``sealed`` (its parent was trimmed), against that digest, from the range
    tombstone. A checkpoint of nodes gives a lazily loaded value (``_lazy``)
    reading through ``cache`` (the timeline's, or one of its own).
    """
    stored = backend.checkpoint(timeline, number)
    if stored is None:
        raise CorruptHistoryError(
            f"revision {number} of timeline {timeline!r} needs a checkpoint (its "
            "parent was erased) and has none"
        )
    text, digest = stored
    if integrity.checkpoint_problem(chain, version, text, digest) is not None:
        raise CorruptHistoryError(
            f"the checkpoint of revision {number} of timeline {timeline!r} was altered"
        )
    if sealed is not None:
        if sealed != digest:
            what = "its checkpoint is not the one the range tombstone sealed (altered)"
            raise CorruptHistoryError(
                f"revision {number} of timeline {timeline!r}: {what}",
                [(timeline, number, what)],
            )
    elif parent is not None:
        row = parent()
        if row is not None and row.payload is None:
            sealed = integrity.sealed_checkpoint(row, number)
            if sealed is not None and sealed != digest:
                what = (
                    "its checkpoint is not the one its erased parent's tombstone "
                    "sealed (altered)"
                )
                raise CorruptHistoryError(
                    f"revision {number} of timeline {timeline!r}: {what}",
                    [(timeline, number, what)],
                )
    root = nodes.referenced(text)
    if root is not None:
        # Its nodes are checked against their digests as they are read, and
        # the root against the row's commitment here: nothing to hash again.
        if committed is not None and root.hex() != committed:
            what = CHECKPOINT_NOT_COMMITTED
            raise CorruptHistoryError(
                f"revision {number} of timeline {timeline!r}: {what}",
                [(timeline, number, what)],
            )
        if cache is None:
            cache = NodeCache(backend.nodes, allow_pickle=allow_pickle)
        return lazy_value(cache, root)  # read, and checked, as it is asked for
    value = codec.from_json(codec.parse(text), allow_pickle=allow_pickle)
    if committed is None:
        return value
    key = (timeline, number, digest, committed)
    if checked is not None and key in checked:
        return value
    if value_digest(value, allow_pickle=allow_pickle) != committed:
        what = CHECKPOINT_NOT_COMMITTED
        raise CorruptHistoryError(
            f"revision {number} of timeline {timeline!r}: {what}",
            [(timeline, number, what)],
        )
    if checked is not None:
        if len(checked) >= _CHECKED_KEPT:
            checked.clear()
        checked.add(key)
    return value


#: How many checked checkpoints a repository remembers (see _from_checkpoint).
_CHECKED_KEPT = 256


#: The problem of a checkpoint whose value is not the one its row commits to.
CHECKPOINT_NOT_COMMITTED = (
    "its checkpoint holds another value than its row's value digest commits to "
    "(altered)"
)


def read_value(
    backend: Backend,
    timeline: str,
    number: int,
    *,
    checkpoint_every: int = CHECKPOINT_EVERY,
    allow_pickle: bool = False,
    checked: set[tuple[str, int, str, str]] | None = None,
    trimmed: Cut | None = None,
    cache: NodeCache | None = None,
) -> Any:
    """The value of one stored revision, without replaying the history.

    Walks from revision ``number`` up its lineage to the nearest whole value (a
    checkpoint, or the first revision), then applies the patches on the way back
    down: at most ``checkpoint_every`` of them when the checkpoints are in place.
    Every row walked is checked against its digest and its link in the chain,
    and the checkpoint against the value digest its row commits to (format 3;
    ``checked`` remembers those already hashed, see :func:`_from_checkpoint`).
    Every row walked is checked against its digest and its link in the chain.
    ``trimmed``: where the stored history starts after a trim (see
    :func:`decode_rows`). A checkpoint of nodes gives a value that loads them
    as it is read (``_lazy``), through ``cache`` when one is given.
    """
    # On a line of history the nearest checkpoint below is an ancestor: read from
    # there in one query (a branch may need more, read as the walk goes). One
    # index probe, asked again only when the walk passes below it (a branch).
    nearest = backend.checkpoint_below(timeline, number)
    window = number - nearest + 1 if nearest is not None else checkpoint_every + 1
    rows: dict[int, Row] = {}
    walked: list[Row] = []  # newest first
    current: int | None = number
    base: Any = MISSING_PARENT

    def chain_at(n: int) -> str:
        known = rows.get(n)
        if known is not None:
            return known.chain
        if trimmed is not None and n == trimmed.last:
            return trimmed.chain
        return _stored_chain(backend, timeline, n)

    while current is not None:
        row = rows.get(current)
        if row is None:
            # One more row below the window: the chain of the revision before.
            for each in backend.read(
                timeline, after=max(-1, current - window - 1), upto=current
            ):
                rows[each.number] = each
            window = checkpoint_every + 1
            row = rows.get(current)
            if row is None:
                if current == number:
                    raise RevisionNotFoundError(
                        f"timeline {timeline!r} has no revision {number}"
                    )
                raise CorruptHistoryError(
                    f"timeline {timeline!r} lacks revision {current}"
                )
        parent = row.parent
        version = _chain_link(
            row,
            _ROOT_CHAIN if current == 0 else chain_at(current - 1),
            lambda: chain_at(parent),  # type: ignore[arg-type]  # noqa: B023 - called at once
        )
        if row.payload is None:
            if not walked:
                return _erased(row)
            raise CorruptHistoryError(
                f"revision {walked[-1].number} of timeline {timeline!r} follows an "
                "erased revision and has no checkpoint"
            )
        if nearest is not None and current < nearest:
            nearest = backend.checkpoint_below(timeline, current)
        if current == nearest and not row.payload.startswith(_WHOLE_PATCH):
            # (A row that replaces the whole value needs no checkpoint: a write
            # after an erased parent keeps one its parent's tombstone never saw.)

            def parent_row(n: int | None = parent) -> Row | None:
                if n is None:
                    return None
                return rows.get(n) or backend.row(timeline, n)

            base = _from_checkpoint(
                backend,
                timeline,
                current,
                row.chain,
                version,
                allow_pickle,
                parent_row,
                integrity.committed_value(row),
                checked,
                sealed=_sealed_by_trim(trimmed, row),
                cache=cache,
            )
            break
        walked.append(row)
        if parent is None or row.payload.startswith(_WHOLE_PATCH):
            break
        current = parent
    if base is MISSING_PARENT:  # the walk reached a whole value
        base = row_value(walked.pop(), None, allow_pickle=allow_pickle)
    replaced = _replacements(walked)
    if replaced is not None:
        ops = [
            ("=", tuple(path), codec.from_json(new, allow_pickle=allow_pickle))
            for path, new in replaced
        ]
        try:
            return _apply(base, ops)
        except PathError as exc:
            raise CorruptHistoryError(
                f"timeline {timeline!r}: a patch does not apply on the way to "
                f"revision {number} ({exc})"
            ) from exc
    value = base
    for row in reversed(walked):
        value = row_value(row, value, allow_pickle=allow_pickle)
    return value


def _replacements(walked: list[Row]) -> list[tuple[list[Any], Any]] | None:
    """The patches of ``walked`` (newest first) boiled down, if they only replace.

    When every operation replaces a value at an existing path, only the newest
    replacement of each path matters, and none under a path replaced later: the
    result applies oldest first. ``None`` when some operation adds or removes,
    or a path is not plain strings and integers (then each patch is applied).
    """
    kept: list[tuple[list[Any], Any]] = []
    covered: set[tuple[Any, ...]] = set()
    for row in walked:
        payload = row.payload
        if payload is None:
            return None
        try:
            patch = orjson.loads(payload)["patch"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if type(patch) is not list:
            return None
        for op in reversed(patch):
            if type(op) is not list or len(op) != 3 or op[0] != "=":
                return None
            steps = op[1]
            if type(steps) is not list or not all(
                type(step) is str or type(step) is int for step in steps
            ):
                return None
            path = tuple(steps)
            if any(path[:i] in covered for i in range(len(path) + 1)):
                continue  # a later revision replaced this path or one above it
            covered.add(path)
            kept.append((steps, op[2]))
    kept.reverse()
    return kept


def _steps(changes: Sequence[Any]) -> Iterable[tuple[str, Any, Any]]:
    """A revision's changes as patch steps (``=``, ``+``, ``-``; see codec)."""
    for change in changes:
        new = change._new
        if new is MISSING:
            yield "-", change._path, MISSING
        else:
            yield ("+" if change._old is MISSING else "="), change._path, new


def heads_after(rows: Sequence[Row], saved: Heads | None) -> Heads:
    """Where the cursor is after ``rows``, starting from the heads last saved.

    Heads are saved when the cursor moves without a write; a write moves the
    cursor to the new revision, so each later row whose parent is the cursor
    carries it along (as the timeline did in memory).
    """
    if not rows:
        raise CorruptHistoryError("a stored timeline has no revisions")
    if saved is None:
        tips: dict[str, int] = {}
        for row in rows:
            tips[row.branch] = row.number
        last = rows[-1]
        return Heads(last.branch, last.number, tips)
    branch, cursor, tips = saved.branch, saved.cursor, dict(saved.tips)
    as_of = max(tips.values(), default=-1)
    for row in rows:
        if row.number <= as_of:
            continue
        tips[row.branch] = row.number
        if row.parent == cursor:
            cursor, branch = row.number, row.branch
    return Heads(branch, cursor, tips)


class StoreJournal:
    """The journal of one stored timeline."""

    def __init__(
        self,
        backend: Backend,
        name: str,
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
        allow_pickle: bool = False,
        chains: dict[int, str] | None = None,
        depths: dict[int, int] | None = None,
        on_erase: Callable[[str, int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.name = name
        #: Told ``(timeline, number)`` after an erasure is stored (a publisher
        #: then strips the revision from its stream).
        self.on_erase = on_erase
        self._every = checkpoint_every
        self._pickle = allow_pickle
        self._chains: dict[int, str] = {} if chains is None else chains
        self._depths: dict[int, int] = {} if depths is None else depths
        self._origins: dict[tuple[Any, ...], str | None] = {}
        self._notes: dict[tuple[Any, ...], str] = {}
        self._pointers: dict[tuple[Any, ...], str] = {}
        self._values = Tracker(allow_pickle=allow_pickle)
        self._nodes = (
            nodes.NodeWriter(allow_pickle=allow_pickle)
            if backend.stores_nodes
            else None
        )
        self._trimmed_below: int | None = None  # the first revision stored

    # -- the Journal protocol ----------------------------------------------------

    def record(self, timeline: Handle, revision: Revision) -> None:
        """Append ``revision`` durably; on a conflict, catch up and raise."""
        seal = seals_of(timeline.timeline.interceptors)
        row, value_json = self._row(revision, seal)
        depth = 0 if row.parent is None else self._depth(row.parent) + 1
        checkpoints: tuple[Checkpoint, ...] = ()
        made: list[nodes.Node] = []
        if row.parent is None:
            text, made = self._nodes_of(revision, seal)
            if made:  # a large first value: its first checkpoint costs the change
                self._put_nodes(made)
                made = []
        elif depth >= self._every:
            # In the row's own transaction: one commit to wait for, not two
            # (its nodes, if any, in it too).
            text, made = self._nodes_of(revision, seal)
            if text is None:
                text = codec.canonical(
                    value_json
                    if value_json is not None
                    else codec.to_json(
                        revision.value, allow_pickle=self._pickle, seal=seal
                    )
                ).decode()
            checkpoints = (
                Checkpoint(
                    row.number,
                    text,
                    integrity.checkpoint_digest(row.chain, text.encode()),
                ),
            )
            depth = 0
        heads = None
        if checkpoints:
            heads = self._heads_with(timeline, row)
        elif row.number == 0:
            # The first revision's heads go with it: a timeline is never stored
            # without them, so heads that go missing are found.
            first = Heads(row.branch, 0, {row.branch: 0})
            heads = Heads(
                row.branch,
                0,
                first.tips,
                integrity.heads_seal(self.name, first, {0: row.chain}),
            )
        try:
            if made:
                self.backend.append_with_nodes((row,), checkpoints, made, heads)
            else:
                self.backend.append((row,), checkpoints, heads)
        except ConflictError:
            if made and self._nodes is not None:
                self._nodes.forget()  # undone with the row, maybe
            # Back to the parent, then along the newcomers' rows: a process
            # that loses races hashes what changed, not its whole value.
            self._step_back(revision, row.parent)
            self.refresh(timeline)
            raise
        except BaseException:
            if self._nodes is not None:
                self._nodes.forget()
            self._values.forget()
            raise
        self._chains[row.number] = row.chain
        self._depths[row.number] = depth
        if len(self._depths) > 2 * _KEPT:
            # Both are caches (a miss reads the chain back, or counts the depth
            # as a full stretch): keep the newest revisions'.
            self._chains = dict(list(self._chains.items())[-_KEPT:])
            self._depths = dict(list(self._depths.items())[-_KEPT:])

    def _nodes_of(
        self, revision: Revision, seal: tuple[Seal, ...]
    ) -> tuple[str | None, list[nodes.Node]]:
        """A checkpoint naming the root of ``revision``'s value, and its new nodes.

        The nodes are those not stored yet (``_nodes``). ``(None, [])`` where
        a whole value is kept instead: a backend without a node store, a value
        the tracker does not hold, one without a large part (one node would
        cost the same), or a timeline whose values are sealed (encrypted or
        compressed: nodes hold plain values, so its checkpoints stay whole
        values, sealed as its rows are).
        """
        writer = self._nodes
        if writer is None or seal:
            return None, []
        shadow = self._values.shadow(revision.number)
        if shadow is None or not nodes.worth(shadow):
            return None, []
        try:
            root, made = writer.save(shadow, revision.value, self.backend.has_nodes)
        except BaseException:
            writer.forget()
            raise
        return nodes.reference(root), made

    def _put_nodes(self, made: list[nodes.Node]) -> None:
        try:
            self.backend.put_nodes(made)
        except BaseException:
            if self._nodes is not None:
                self._nodes.forget()
            raise

    def _heads_with(self, timeline: Handle, row: Row) -> Heads:
        """The heads once ``row`` is written, sealed: saved with its checkpoint.

        So an opening finds where the cursor is from the forks written since
        the last checkpoint, not since the cursor last moved without a write
        (a scan of the whole history on a timeline only ever written to).
        """
        tips = {**timeline.timeline.branches(), row.branch: row.number}
        chains = {n: self._chain_of(n) for n in tips.values() if n != row.number}
        chains[row.number] = row.chain
        heads = Heads(row.branch, row.number, tips)
        seal = integrity.heads_seal(self.name, heads, chains)
        return Heads(row.branch, row.number, tips, seal)

    def moved(self, timeline: Handle) -> None:
        """Save the cursor and the branch tips, sealed with their chains."""
        seen = timeline.timeline
        heads = Heads(seen.current_branch, seen.head.number, seen.branches())
        chains = {n: self._chain_of(n) for n in (heads.cursor, *heads.tips.values())}
        seal = integrity.heads_seal(self.name, heads, chains)
        self.backend.save_heads(
            self.name, Heads(heads.branch, heads.cursor, heads.tips, seal)
        )

    def refresh(self, timeline: Handle) -> None:
        """Take in the rows other processes appended."""
        with timeline.lock:
            after = timeline.next - 1
            rows = self.backend.read(self.name, after=after)
            if not rows:
                return
            known = {}
            for row in rows:
                if row.parent is not None and row.parent <= after:
                    parent = timeline.find(row.parent)
                    if parent is not None:
                        known[row.parent] = parent[VALUE]
            records = decode_rows(
                self.backend,
                self.name,
                rows,
                known=known,
                chains=self._chains,
                allow_pickle=self._pickle,
            )
            timeline.absorb(records)
            values = self._values
            for row, record in zip(rows, records, strict=True):
                if values.number is None or values.number != row.parent:
                    continue
                if row.payload is None:
                    values.forget()
                    continue
                values.advance(row_steps(row, self._pickle), record[VALUE], row.number)

    def _step_back(self, revision: Revision, parent: int | None) -> None:
        """Return the value digest's tracker from ``revision`` to its parent."""
        values = self._values
        if parent is None or values.number != revision.number:
            values.forget()
            return
        back = []
        for change in reversed(revision.changes):
            old, new = change._old, change._new
            if new is MISSING:
                back.append(("+", change._path, old))
            elif old is MISSING:
                back.append(("-", change._path, MISSING))
            else:
                back.append(("=", change._path, old))
        values.revert(back, parent)

    def erase(self, timeline: Handle, number: int, tombstone: Erased) -> None:
        """Keep the children readable (checkpoints), then drop the payload.

        The tombstone carries the payload's digest, so the row's metadata still
        verifies, the digests of the children's checkpoints (their values' only
        source from now on), and a seal bound to the row's chain.
        """
        children: dict[int, str] = {}
        seal = seals_of(timeline.timeline.interceptors)
        for child in timeline.children(number):
            if type(child[VALUE]) is Erased:
                continue  # no value to keep; its children got theirs when erased
            stored = self.backend.checkpoint(self.name, child[NUMBER])
            if stored is None:
                text = codec.canonical(
                    codec.to_json(
                        Revision(child).value, allow_pickle=self._pickle, seal=seal
                    )
                )
                digest = integrity.checkpoint_digest(
                    self._chain_of(child[NUMBER]), text
                )
                self.backend.put_checkpoint(
                    self.name, child[NUMBER], text.decode(), digest
                )
            else:
                digest = stored[1]
            children[child[NUMBER]] = digest
        row = self.backend.row(self.name, number)
        if row is None or row.payload is None:
            raise CorruptHistoryError(
                f"revision {number} of timeline {self.name!r} is missing from storage"
            )
        payload: str | None = integrity.payload_digest(row.payload.encode())
        if row.digest != integrity.row_digest(integrity.meta_bytes(row), payload or ""):
            payload = None  # a format-1 row: its digest does not use this one
        self.backend.erase(
            self.name,
            number,
            integrity.tombstone(
                row.chain,
                tombstone.author,
                tombstone.reason,
                tombstone.time_ns,
                payload,
                children,
            ),
        )
        if self.on_erase is not None:
            self.on_erase(self.name, number)

    def trimmed(
        self,
        timeline: Handle,
        below: int,
        reason: str,
        author: str | None,
        explicit: bool,
    ) -> None:
        """Trim storage to ``below`` as the timeline trimmed its memory (``_trim``).

        Retention (not ``explicit``) waits until :data:`TRIM_EVERY` revisions
        can go, then extends its tombstone; a failure is logged, since the
        write that triggered it is recorded. An explicit trim raises.
        """
        from statetrail.storage._trim import trim_stored

        if not explicit:
            if self._trimmed_below is None:
                tombs = self.backend.trims(self.name)
                self._trimmed_below = tombs[-1].last + 1 if tombs else 0
            if below - self._trimmed_below < TRIM_EVERY:
                return
        try:
            tomb = trim_stored(
                self.backend,
                self.name,
                below,
                reason=reason,
                author=author,
                extend=not explicit,
                heads=Heads(
                    timeline.timeline.current_branch,
                    timeline.timeline.head.number,
                    timeline.timeline.branches(),
                ),
                checkpoint_every=self._every,
                allow_pickle=self._pickle,
            )
        except (StatetrailError, ValueError) as exc:
            self._trimmed_below = None  # read again next time
            if explicit:
                raise
            logger.warning(
                "retention could not trim timeline %r in storage: %s", self.name, exc
            )
            return
        if tomb is not None:
            self._trimmed_below = tomb.last + 1

    # -- encoding ------------------------------------------------------------------

    def _depth(self, number: int) -> int:
        depth = self._depths.get(number)
        if depth is None:
            # An older parent (after a checkout): count conservatively from here.
            depth = self._every
        return depth

    def _chain_of(self, number: int) -> str:
        chain = self._chains.get(number)
        if chain is None:
            chain = _stored_chain(self.backend, self.name, number)
            self._chains[number] = chain
        return chain

    def _row(self, revision: Revision, seal: tuple[Seal, ...] = ()) -> tuple[Row, Any]:
        """The row for ``revision`` and, for a whole value, its JSON tree.

        ``seal``: the timeline's seals (``statetrail.interceptors``), which the
        stored value and each patch value pass; the value digest is the plain
        value's (docs/interceptors.md).
        """
        rec = revision._rec
        kind, target, label, author, comment, note = rec[INFO]
        number, parent, branch, time_ns = (
            rec[NUMBER],
            rec[PARENT],
            rec[BRANCH],
            rec[TIME],
        )
        value_json = None
        values = self._values
        if parent is None:
            value_json = codec.to_json(
                revision.value, allow_pickle=self._pickle, seal=seal
            )
            payload = codec.canonical(
                {
                    "value": value_json,
                    "value_digest": values.reset(rec[VALUE], number),
                }
            )
            paths: tuple[str, ...] = ("",)
        else:
            changes = revision.changes
            if values.number == parent:
                committed = values.advance(_steps(changes), rec[VALUE], number)
            else:  # the first write here, or on another branch than the last
                committed = values.reset(rec[VALUE], number)
            payload = codec.canonical(
                {
                    "patch": codec.changes_to_json(
                        changes, allow_pickle=self._pickle, seal=seal
                    ),
                    "value_digest": committed,
                }
            )
            if len(changes) == 1:
                where = index_path(changes[0])
                pointer = self._pointers.get(where)
                if pointer is None:
                    if len(self._pointers) >= _ORIGINS_KEPT:
                        self._pointers.clear()
                    pointer = self._pointers[where] = format_json_pointer(where)
                paths = (pointer,)
            else:
                paths = tuple(
                    sorted({format_json_pointer(index_path(c)) for c in changes})
                )
        if note is None:
            extra = None
        elif seal:  # an AsyncStore's note holds the action, values and all
            extra = codec.canonical(
                codec.to_json(note, allow_pickle=self._pickle, seal=seal)
            ).decode()
        elif type(note) is FrozenDict and note._keys is not None:
            # Front ends write a few kinds of small note: work each out once. Only
            # notes of strings are kept, so a note equal to a kept one is the same
            # text (no 1 == 1.0 == True).
            key = (note._keys, note._vals)
            try:
                extra = self._notes.get(key)
            except TypeError:  # an unhashable value
                extra = None
            if extra is None:
                extra = _note_text(note, self._pickle)
                if all(type(v) is str for v in note._vals):
                    if len(self._notes) >= _ORIGINS_KEPT:
                        self._notes.clear()
                    self._notes[key] = extra
        else:
            extra = _note_text(note, self._pickle)
        where = (rec[CODE], rec[LASTI], rec[THREAD], rec[TASK])
        origin_text = self._origins.get(where, _UNKNOWN)
        if origin_text is _UNKNOWN:
            # One call site writes many revisions: its text is worked out once.
            origin = revision.origin
            origin_text = (
                None
                if origin is None
                else orjson.dumps(
                    [
                        origin.file,
                        origin.line,
                        origin.function,
                        origin.thread,
                        origin.task,
                    ]
                ).decode()
            )
            if len(self._origins) >= _ORIGINS_KEPT:
                self._origins.clear()
            self._origins[where] = origin_text
        name = self.name
        digest = integrity.row_digest(
            integrity.meta_of(
                name,
                number,
                parent,
                branch,
                time_ns,
                kind,
                target,
                label,
                author,
                comment,
                extra,
                origin_text,
                paths,
            ),
            integrity.payload_digest(payload),
        )
        previous = _ROOT_CHAIN if number == 0 else self._chain_of(number - 1)
        row = Row(
            name,
            number,
            parent,
            branch,
            time_ns,
            kind,
            target,
            label,
            author,
            comment,
            extra,
            origin_text,
            payload.decode(),
            paths,
            digest,
            integrity.chain_v2(previous, digest),
        )
        return row, value_json
