"""The JSON file backend: a whole history in one readable JSON file.

Every change rewrites the file atomically (a temporary file, fsync, rename, fsync
of the directory), so a crash leaves the old file or the new one, never a torn
one. It suits small histories and files people want to read or diff: each write
costs the size of the file. One process at a time: a second one opening the same
file gets :class:`~statetrail.StorageError` instead of overwriting the first one's
writes. For many writes, or many processes, use SQLite or PostgreSQL.

The file is JSON::

    {"format": "statetrail-history", "version": 2,
     "timelines": {"name": {"rows": [...], "heads": {...}, "checkpoints": {...},
                            "end": [count, chain]}},
     "index": {"timelines": [[name, count, chain], ...], "seal": "..."}}

Version 2 adds each timeline's end record and the heads' ``seal`` (see
``_integrity``), and the ``index``: every timeline with its end record, sealed,
so that deleting a timeline's entry (one edit) is found. A version-1 file is
read as it is, its end records and seals worked out from its rows (trusted as
found), and written back as version 2; a version-2 file written before the
index gets one at its next write.

Top-level keys other than these four (a newer version's, or a tool's own) are
kept: every rewrite of the file writes them back as they were read.

What is read is checked before it is used: each row's fields have their types,
the heads point at stored revisions, the file is a regular file. Damage is
:class:`~statetrail.CorruptHistoryError`, never another exception.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from statetrail.errors import CorruptHistoryError, StorageError
from statetrail.storage import _integrity as integrity
from statetrail.storage import _verify, codec
from statetrail.storage._files import (
    read_regular,
    remove_stale_temporaries,
    write_atomic,
)
from statetrail.storage._journal import (
    CHECKPOINT_EVERY,
    StoreJournal,
    decode_rows,
    heads_after,
)
from statetrail.storage._placement import check_placement
from statetrail.storage._row_checks import check_row, is_int
from statetrail.storage._sealed import seals_of
from statetrail.storage.base import (
    Checkpoint,
    End,
    Heads,
    Problem,
    RangeTombstone,
    Row,
    timeline_of,
)
from statetrail.storage.codec import CodecError
from statetrail.storage.memory import MemoryBackend
from statetrail.timeline import Handle, Timeline

__all__ = [
    "FORMAT",
    "JsonFileBackend",
    "document",
    "ends_of_document",
    "history_tree",
    "load_history",
    "rows_of_document",
    "save_history",
    "timeline_from_tree",
]

FORMAT = "statetrail-history"
VERSION = 2
#: The version of a document that holds range tombstones (see
#: :func:`_version_3_range_tombstones`); an older statetrail refuses it rather
#: than read a history that starts in the middle.
VERSION_TRIMMED = 3
#: The versions this code reads.
_READS = (1, 2, 3)
# The top-level keys this version writes; any other is kept as it was.
_TOP_LEVEL = frozenset({"format", "version", "timelines", "index"})
_FIELDS = list(Row._fields)


def _row_json(row: Row) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in _FIELDS if name != "timeline"}
    out["paths"] = list(row.paths)
    return out


def _row_of(timeline: str, data: Any) -> Row:
    if not isinstance(data, dict) or set(data) != set(_FIELDS) - {"timeline"}:
        number = data.get("number") if isinstance(data, dict) else None
        what = "is malformed (not an object of a row's fields)"
        raise CorruptHistoryError(
            f"a row of timeline {timeline!r} {what}",
            [(timeline, number if is_int(number) else None, what)],
        )
    paths = data["paths"]
    row = Row(
        timeline=timeline,
        **{**data, "paths": tuple(paths) if type(paths) is list else paths},
    )
    return check_row(row, f"timeline {timeline!r}")


def _heads_of(data: Any, timeline: str, where: str) -> Heads | None:
    if data is None:
        return None
    if not (
        isinstance(data, dict)
        and type(data.get("branch")) is str
        and is_int(data.get("cursor"))
        and isinstance(data.get("tips"), dict)
        and all(is_int(n) for n in data["tips"].values())
        and (data.get("seal") is None or type(data.get("seal")) is str)
    ):
        raise CorruptHistoryError(
            f"the heads of timeline {timeline!r} in {where} are malformed"
        )
    return Heads(data["branch"], data["cursor"], dict(data["tips"]), data.get("seal"))


def _checkpoints_of(data: Any, timeline: str, where: str) -> dict[int, tuple[str, str]]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CorruptHistoryError(
            f"the checkpoints of timeline {timeline!r} in {where} are malformed"
        )
    checkpoints: dict[int, tuple[str, str]] = {}
    problems: list[Problem] = []
    for key, value in data.items():
        number = (
            int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None
        )
        if number is None or not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, str) for v in value)
        ):
            problems.append(
                (timeline, number, f"its checkpoint (key {key!r}) is malformed")
            )
            continue
        checkpoints[number] = (value[0], value[1])
    if problems:
        raise CorruptHistoryError(
            f"a checkpoint of timeline {timeline!r} in {where} is malformed", problems
        )
    return checkpoints


def document(
    timelines: dict[str, tuple[list[Row], Heads | None, dict[int, tuple[str, str]]]],
    ends: dict[str, End] | None = None,
    trims: dict[str, list[RangeTombstone]] | None = None,
) -> dict[str, Any]:
    """The JSON document for some timelines' rows, heads, checkpoints and ends.

    With ``trims``, each trimmed timeline's range tombstones too (version 3).
    """
    out: dict[str, Any] = {}
    for name, (rows, heads, checkpoints) in timelines.items():
        out[name] = {
            "rows": [_row_json(row) for row in rows],
            "heads": None
            if heads is None
            else {
                "branch": heads.branch,
                "cursor": heads.cursor,
                "tips": heads.tips,
                "seal": heads.seal,
            },
            "checkpoints": {str(n): list(v) for n, v in checkpoints.items()},
        }
        end = (ends or {}).get(name)
        if end is not None:
            out[name]["end"] = [end.length, end.chain]
    entries = [
        [name, end.length, end.chain]
        for name, end in sorted((ends or {}).items())
        if name in timelines
    ]
    index = {"timelines": entries, "seal": integrity.index_seal(entries)}
    version = _version_3_range_tombstones(out, trims or {})
    return {"format": FORMAT, "version": version, "timelines": out, "index": index}


def _version_3_range_tombstones(
    out: dict[str, Any], trims: dict[str, list[RangeTombstone]]
) -> int:
    """Put each timeline's range tombstones in ``out``; the document's version.

    Version 3 is version 2 with ``"trims"`` (a list of tombstones as lists of
    their fields) in the entries of trimmed timelines. A document none of whose
    timelines was trimmed stays version 2, readable by older statetrails.
    """
    trimmed = False
    for name, tombs in trims.items():
        if tombs and name in out:
            out[name]["trims"] = [list(t) for t in tombs]
            trimmed = True
    return VERSION_TRIMMED if trimmed else VERSION


def trims_of_document(
    data: dict[str, Any], problems: list[Problem]
) -> dict[str, list[RangeTombstone]]:
    """The range tombstones a document holds; malformed ones go to ``problems``."""
    out: dict[str, list[RangeTombstone]] = {}
    timelines = data.get("timelines")
    if not isinstance(timelines, dict):
        return out
    for name, entry in timelines.items():
        listed = entry.get("trims") if isinstance(entry, dict) else None
        if listed is None:
            continue
        if data.get("version") != VERSION_TRIMMED:
            what = (
                "has range tombstones in a document not labelled version "
                f"{VERSION_TRIMMED} (altered)"
            )
            problems.append((name, None, what))
            continue
        fields = len(RangeTombstone._fields)
        if not isinstance(listed, list) or not all(
            isinstance(t, list) and len(t) == fields for t in listed
        ):
            problems.append((name, None, "its range tombstones are malformed"))
            continue
        out[name] = [RangeTombstone(*t) for t in listed]
    return out


def downgrade_problems(data: dict[str, Any], loaded: _Loaded) -> list[Problem]:
    """Format-2 parts in a document labelled version 1: its version set back.

    Read as version 1, its end records and seals would be worked out from the
    rows as found (and written back sealed), so a cursor moved back with the
    label would pass: refused instead.
    """
    if data.get("version") != 1:
        return []
    problems: list[Problem] = []
    if "index" in data:
        problems.append((None, None, "holds an index of timelines"))
    for name, entry in data["timelines"].items():
        if "end" in entry:
            problems.append((name, None, "has an end record"))
        heads = entry.get("heads")
        if isinstance(heads, dict) and heads.get("seal") is not None:
            problems.append((name, None, "has sealed heads"))
        rows = loaded.get(name, ([], None, {}))[0]
        newest = max((r.number for r in rows), default=None)
        for row in rows:  # the newest (a timeline switches for good) and erased
            if (
                row.number == newest or row.erased is not None
            ) and integrity.written_in_format_2(row):
                problems.append((name, row.number, "is written in format 2"))
    return [
        (
            name,
            number,
            f"{what}, which only version 2 writes, in a document labelled version "
            "1: its version was set back by hand (altered)",
        )
        for name, number, what in problems
    ]


def index_problems(data: dict[str, Any], ends: dict[str, End]) -> list[Problem]:
    """The document's index (every timeline and its end, sealed) against ``ends``.

    Deleting one timeline's entry, or emptying ``"timelines"``, is one edit: the
    index still lists it. A document written before the index (version 1, or
    version 2 before 2026-12) has none and is taken as found.
    """
    if "index" not in data:
        return []
    index = data["index"]
    entries = index.get("timelines") if isinstance(index, dict) else None
    if not (
        isinstance(entries, list)
        and all(
            isinstance(e, list)
            and len(e) == 3
            and isinstance(e[0], str)
            and is_int(e[1])
            and isinstance(e[2], str)
            for e in entries
        )
        and len({e[0] for e in entries}) == len(entries)
    ):
        return [(None, None, "the document's index of timelines is malformed")]
    if index.get("seal") != integrity.index_seal(entries):
        return [
            (None, None, "the document's index of timelines does not match its seal")
        ]
    problems: list[Problem] = []
    listed = {name: End(count, chain) for name, count, chain in entries}
    for name, end in sorted(listed.items()):
        found = ends.get(name)
        if found is None:
            problems.append(
                (
                    name,
                    None,
                    f"is missing: the document's index lists it with {end.length} "
                    "revision(s) (timeline deleted)",
                )
            )
        elif found != end:
            problems.append(
                (
                    name,
                    None,
                    f"its end record ({found.length} revision(s)) is not the one the "
                    f"document's index lists ({end.length}): altered",
                )
            )
    for name in sorted(ends.keys() - listed.keys()):
        problems.append((name, None, "is not in the document's index (added by hand)"))
    return problems


def ends_of_document(
    data: dict[str, Any],
    loaded: dict[str, tuple[list[Row], Heads | None, dict[int, tuple[str, str]]]],
    where: str,
    problems: list[Problem] | None = None,
) -> tuple[dict[str, End], dict[str, Heads | None]]:
    """The end records of a document :func:`rows_of_document` read, and its heads.

    A version-1 document has neither end records nor seals: they are worked out
    from its rows, as found. A malformed end record goes into ``problems`` when
    it is given (and that timeline gets none), else raises.
    """
    found: list[Problem] = []
    ends: dict[str, End] = {}
    heads_of: dict[str, Heads | None] = {}
    for name, (rows, heads, _) in loaded.items():
        if data.get("version") == 1:
            chains = {r.number: r.chain for r in rows}
            if rows:
                ends[name] = End(rows[-1].number + 1, rows[-1].chain)
                if heads is None:
                    heads = heads_after(rows, None)
            if heads is not None and all(
                n in chains for n in (heads.cursor, *heads.tips.values())
            ):
                heads = Heads(
                    heads.branch,
                    heads.cursor,
                    heads.tips,
                    integrity.heads_seal(name, heads, chains),
                )
            heads_of[name] = heads
            continue
        heads_of[name] = heads
        end = data["timelines"][name].get("end")
        if end is None:
            continue
        if not (
            isinstance(end, list)
            and len(end) == 2
            and is_int(end[0])
            and isinstance(end[1], str)
        ):
            found.append((name, None, f"its end record {end!r} is malformed"))
            continue
        ends[name] = End(end[0], end[1])
    if found:
        if problems is None:
            raise _verify.corrupt(found, where)
        problems += found
    return ends, heads_of


def _problems_beyond(tree: dict[str, Any], where: str) -> list[Problem]:
    """What a full verify finds in the intact timelines of a damaged document.

    Opening a document with a damaged timeline fails; its error lists the
    others' problems too, so one damaged timeline does not hide another.
    """
    try:
        loaded, _ = read_timelines(tree, where)
        bad: list[Problem] = []
        ends, heads_of = ends_of_document(tree, loaded, where, bad)
        damaged = {t for t, _, _ in bad}
        memory = MemoryBackend.holding(
            {
                name: (rows, heads_of[name], checkpoints)
                for name, (rows, _, checkpoints) in loaded.items()
                if name not in damaged
            },
            ends,
            trims_of_document(tree, []),
        )
        _verify.verify(memory)
    except CorruptHistoryError as exc:
        return list(exc.problems)
    except (StorageError, ValueError, TypeError):
        return []
    return []


def rows_of_document(
    data: Any, where: str
) -> dict[str, tuple[list[Row], Heads | None, dict[int, tuple[str, str]]]]:
    """The rows, heads and checkpoints a history document holds (checked)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptHistoryError(f"{where} is not a statetrail history file")
    if type(data.get("version")) is not int:
        raise CorruptHistoryError(f"{where} has no valid format version")
    if data.get("version") not in _READS:
        raise StorageError(
            f"{where} is version {data.get('version')!r} of the history format; this "
            f"statetrail reads versions up to {VERSION}: upgrade statetrail"
        )
    out, problems = read_timelines(data, where)
    if problems:
        raise _verify.corrupt(problems, where)
    return out


_Loaded = dict[str, tuple[list[Row], Heads | None, dict[int, tuple[str, str]]]]


def read_timelines(data: dict[str, Any], where: str) -> tuple[_Loaded, list[Problem]]:
    """The intact timelines of a document, and what is wrong with the others.

    Every timeline is read, whatever the damage to another: the problems list
    each one's (timeline, number, what).
    """
    timelines = data.get("timelines")
    if not isinstance(timelines, dict):
        raise CorruptHistoryError(f"{where} has no timelines")
    out: _Loaded = {}
    problems: list[Problem] = []
    for name, entry in timelines.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("rows"), list):
            problems.append((name, None, "is malformed (it holds no list of rows)"))
            continue
        found: list[Problem] = []
        rows = []
        for data_row in entry["rows"]:
            try:
                rows.append(_row_of(name, data_row))
            except CorruptHistoryError as exc:
                found += _verify.problems_of(exc, name)
        repeated = Counter(row.number for row in rows)
        found += [
            (name, number, f"is stored {times} times (two rows with one number)")
            for number, times in sorted(repeated.items())
            if times > 1
        ]
        heads = checkpoints = None
        try:
            heads = _heads_of(entry.get("heads"), name, where)
        except CorruptHistoryError:
            found.append((name, None, "its heads are malformed"))
        try:
            checkpoints = _checkpoints_of(entry.get("checkpoints"), name, where)
        except CorruptHistoryError as exc:
            found += _verify.problems_of(exc, name)
        if found or checkpoints is None:
            problems += found
            continue
        out[name] = (rows, heads, checkpoints)
    return out, problems


def _check_writable(kept: dict[str, Any]) -> None:
    """Refuse unknown top-level keys that could not be written back as read."""
    try:
        codec.canonical(kept)
    except (CodecError, ValueError) as exc:
        raise CorruptHistoryError(
            f"its top-level keys {sorted(kept)} cannot be written back as they are "
            f"({exc}); remove them, or open the file with the statetrail that "
            "wrote them"
        ) from exc


class JsonFileBackend(MemoryBackend):
    """A history kept in one JSON file, rewritten atomically on every change."""

    kind = "json"
    # How the document read from the file becomes rows: the seam through which
    # the field-fuzz test's teeth put a reader that checks nothing.
    _rows_of_document = staticmethod(rows_of_document)

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, _os: Any = os
    ) -> None:
        """Open (or, unless ``read_only``, create at the first write) ``path``.

        ``read_only`` takes no lock, creates and removes nothing, and refuses
        every write (the file is replaced atomically by its writer, so reading
        it beside one is safe).
        """
        super().__init__()
        self.read_only = read_only
        self._os = _os  # the seam through which tests fail the file operations
        # Held across a change and the write of the file, so writes never interleave.
        self._writes = threading.Lock()
        # Top-level keys of the file that this version does not use: written back
        # as they were, never dropped (issue 9, defect 7).
        self._kept: dict[str, Any] = {}
        self.path = os.path.realpath(os.fspath(path))
        self._lock_file = -1
        if not read_only:
            self._lock_file = self._take_lock(self.path + ".lock")
            remove_stale_temporaries(self.path)
        try:
            data = read_regular(self.path)  # a FIFO or device: refused, not read
        except FileNotFoundError:
            return
        except StorageError:
            self._release()
            raise
        except OSError as exc:
            self._release()
            raise StorageError(f"cannot read {self.path}: {exc.strerror}") from exc
        tree: Any = None
        try:
            tree = codec.parse(data)
            loaded = self._rows_of_document(tree, self.path)
            listed = downgrade_problems(tree, loaded)
            if listed:
                raise _verify.corrupt(listed, self.path)
            ends, heads_of = ends_of_document(tree, loaded, self.path)
            listed = index_problems(tree, ends)
            trims = trims_of_document(tree, listed)
            if listed:
                raise _verify.corrupt(listed, self.path)
            kept = {k: v for k, v in tree.items() if k not in _TOP_LEVEL}
            _check_writable(kept)
        except CorruptHistoryError as exc:
            self._release()
            problems = list(exc.problems)
            if isinstance(tree, dict) and tree.get("format") == FORMAT:
                found = set(problems)
                problems += [
                    p for p in _problems_beyond(tree, self.path) if p not in found
                ]
            raise _verify.corrupt(problems, self.path) from exc
        except BaseException:
            self._release()
            raise
        self._kept = kept
        for name, (rows, _, checkpoints) in loaded.items():
            self._rows[name] = {row.number: row for row in rows}
            heads = heads_of[name]
            if heads is not None:
                self._heads[name] = heads
            self._checkpoints[name] = dict(checkpoints)
        self._ends.update(ends)
        self._trims.update(trims)

    @staticmethod
    def _take_lock(path: str) -> int:
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StorageError(
                    f"{path[:-5]} is open in another process; a JSON history file has "
                    "one writer at a time (use SQLite or PostgreSQL for several)"
                ) from exc
            raise StorageError(f"cannot lock {path}: {exc.strerror}") from exc
        return fd

    def _release(self) -> None:
        fd, self._lock_file = self._lock_file, -1
        if fd >= 0:
            os.close(fd)

    def _persist(self, undo: Callable[[], None]) -> None:
        """Write the whole document; on failure undo the change in memory."""
        if self.read_only:
            undo()
            raise StorageError(f"{self.path} is open read-only: nothing is written")
        snapshot = {
            name: (
                [rows[n] for n in sorted(rows)],
                self._heads.get(name),
                self._checkpoints.get(name, {}),
            )
            for name, rows in self._rows.items()
        }
        data = codec.canonical(
            {**self._kept, **document(snapshot, self._ends, self._trims)}
        )
        try:
            write_atomic(self.path, data, _os=self._os)
        except StorageError:  # the file was swapped for a FIFO or device since
            undo()
            raise
        except OSError as exc:
            undo()
            raise StorageError(
                f"cannot write {self.path}: {exc.strerror}; nothing was recorded"
            ) from exc

    def append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store ``rows``, ``checkpoints`` and ``heads``, rewriting the file once.

        Nothing is kept if writing the file fails.
        """
        with self._writes:
            self._append(rows, checkpoints, heads)

    def _append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint],
        heads: Heads | None,
    ) -> None:
        timeline = timeline_of(rows, checkpoints)
        before = {
            c.number: self._checkpoints.get(timeline, {}).get(c.number)
            for c in checkpoints
        }
        end_before = self._ends.get(timeline)
        heads_before = self._heads.get(timeline)
        super().append(rows, checkpoints, heads)

        def undo() -> None:
            if heads_before is None:
                self._heads.pop(timeline, None)
            else:
                self._heads[timeline] = heads_before
            if end_before is None:
                self._ends.pop(timeline, None)
            else:
                self._ends[timeline] = end_before
            for row in rows:
                self._rows.get(row.timeline, {}).pop(row.number, None)
                if not self._rows.get(row.timeline):
                    self._rows.pop(row.timeline, None)
            for number, value in before.items():
                if value is None:
                    self._checkpoints[timeline].pop(number, None)
                else:
                    self._checkpoints[timeline][number] = value

        with self._lock:
            self._persist(undo)

    def save_heads(self, timeline: str, heads: Heads) -> None:
        """Record the heads and rewrite the file."""
        with self._writes:
            self._save_heads(timeline, heads)

    def _save_heads(self, timeline: str, heads: Heads) -> None:
        before = self._heads.get(timeline)
        super().save_heads(timeline, heads)

        def undo() -> None:
            if before is None:
                self._heads.pop(timeline, None)
            else:
                self._heads[timeline] = before

        with self._lock:
            self._persist(undo)

    def put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        """Keep a checkpoint and rewrite the file."""
        with self._writes:
            self._put_checkpoint(timeline, number, value, digest)

    def _put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        before = self._checkpoints.get(timeline, {}).get(number)
        super().put_checkpoint(timeline, number, value, digest)

        def undo() -> None:
            if before is None:
                self._checkpoints[timeline].pop(number, None)
            else:
                self._checkpoints[timeline][number] = before

        with self._lock:
            self._persist(undo)

    def erase(self, timeline: str, number: int, tombstone: str) -> None:
        """Drop a payload and rewrite the file."""
        with self._writes:
            self._erase(timeline, number, tombstone)

    def _erase(self, timeline: str, number: int, tombstone: str) -> None:
        before = self.row(timeline, number)
        super().erase(timeline, number, tombstone)

        def undo() -> None:
            if before is not None:
                self._rows[timeline][number] = before

        with self._lock:
            self._persist(undo)

    def put_trim(
        self,
        timeline: str,
        tombstone: RangeTombstone,
        expect: str | None,
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store a tombstone and checkpoints, rewriting the file once."""
        with self._writes, self._lock:
            self._check()
            trims_before = list(self._trims.get(timeline, ()))
            before = dict(self._checkpoints.get(timeline, {}))
            heads_before = self._heads.get(timeline)
            self._put_trim(timeline, tombstone, expect, checkpoints, heads)

            def undo() -> None:
                self._trims[timeline] = trims_before
                self._checkpoints[timeline] = before
                if heads_before is not None:
                    self._heads[timeline] = heads_before

            self._persist(undo)

    def delete_trimmed(self, timeline: str, upto: int, limit: int) -> int:
        """Remove at most ``limit`` rows a tombstone covers, rewriting the file."""
        with self._writes, self._lock:
            self._check()
            before = dict(self._checkpoints.get(timeline, {}))
            gone = self._delete_trimmed(timeline, upto, limit)
            if not gone:
                return 0

            def undo() -> None:
                self._rows.setdefault(timeline, {}).update(
                    {row.number: row for row in gone}
                )
                self._checkpoints[timeline] = before

            self._persist(undo)
            return len(gone)

    def close(self) -> None:
        """Release the file."""
        super().close()
        with contextlib.suppress(OSError):
            self._release()


# -- one timeline as a JSON tree (Var.save, Store.save) --------------------------------


def history_tree(name: str, timeline: Timeline[Any]) -> dict[str, Any]:
    """One timeline's whole history as a JSON-able document.

    Every held revision is encoded as the backends store it (patches, digests and
    the hash chain), so :func:`timeline_from_tree` verifies it on the way back. A
    timeline whose oldest revisions were trimmed is refused: the chain would start
    in the middle.
    """
    with Handle(timeline).lock:
        revisions = timeline.revisions()
        if revisions[0].number != 0 or len(revisions) != revisions[-1].number + 1:
            raise ValueError(
                f"cannot save {name!r}: retention trimmed part of its history; keep "
                "the whole history (or use a repository) to save it"
            )
        memory = MemoryBackend()
        journal = StoreJournal(memory, name, checkpoint_every=CHECKPOINT_EVERY)
        seal = seals_of(timeline.interceptors)
        for revision in revisions:
            row, _ = journal.encode(revision, seal)
            memory.append([row])
            journal.stored(row)
        journal.moved(Handle(timeline))
        heads = memory.heads(name)
        rows = memory.read(name)
        end = memory.end(name)
    assert end is not None
    return document({name: (rows, heads, {})}, {name: end})


def timeline_from_tree(
    tree: Any, where: str, name: str | None = None, *, allow_pickle: bool = False
) -> tuple[str, Timeline[Any]]:
    """The timeline a history document holds (the one named, or its only one).

    Every revision is checked against its digest and the chain; a damaged document
    raises :class:`~statetrail.CorruptHistoryError`.
    """
    loaded = rows_of_document(tree, where)
    if name is None:
        if len(loaded) != 1:
            raise ValueError(
                f"{where} holds {len(loaded)} timelines; name the one to load"
            )
        name = next(iter(loaded))
    if name not in loaded:
        raise KeyError(f"{where} has no timeline {name!r}")
    rows, _, checkpoints = loaded[name]
    listed = downgrade_problems(tree, loaded)
    if listed:
        raise _verify.corrupt(listed, where)
    ends, heads_of = ends_of_document(tree, loaded, where)
    listed = index_problems(tree, ends)
    if listed:
        raise _verify.corrupt(listed, where)
    heads = heads_of[name]
    memory = MemoryBackend()
    memory.append(rows)
    for number, (value, digest) in checkpoints.items():
        memory.put_checkpoint(name, number, value, digest)
    place = heads_after(rows, heads)
    check_placement(name, rows, place)
    records = decode_rows(memory, name, rows, allow_pickle=allow_pickle)
    problems = _verify.opening_problems(memory, name, rows, ends.get(name), heads)
    if problems:
        raise _verify.corrupt(problems, where)
    timeline = Handle.restore(
        records, branch=place.branch, cursor=place.cursor, tips=place.tips, name=name
    )
    return name, timeline


def save_history(
    path: str | os.PathLike[str], name: str, timeline: Timeline[Any]
) -> None:
    """Write one timeline's history to ``path`` atomically (never a torn file)."""
    write_atomic(os.fspath(path), codec.canonical(history_tree(name, timeline)))


def load_history(
    path: str | os.PathLike[str], name: str | None = None, *, allow_pickle: bool = False
) -> tuple[str, Timeline[Any]]:
    """The timeline saved in ``path`` by :func:`save_history` (or a backend)."""
    where = os.fspath(path)
    data = read_regular(where)
    return timeline_from_tree(codec.parse(data), where, name, allow_pickle=allow_pickle)
