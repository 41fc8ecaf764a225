"""The inspector commands: timelines, log, show, diff, blame, verify, anchor.

Each opens a history file or database through :func:`statetrail.open` and reads
one timeline through :class:`~statetrail.storage._reader.StoredTimeline`: only
the rows a question needs, checked against their digests and hash chain as a
program opening the history checks them, so what they show is what that program
sees, in the time the question takes rather than the history's length.

- ``log --limit N`` reads the newest rows of the cursor's line, a page at a time;
  a full log streams, in plain lines when standard output is not a terminal;
- ``show NAME@N`` and ``diff`` read the nearest checkpoint and its patches;
- ``blame PATH`` walks the cursor's line newest first and stops at the first
  revision that touched the path (a path that never changed walks to the start).
"""

from __future__ import annotations

import contextlib
import json
import linecache
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from statetrail.cli._output import Printer, cell, console, progress
from statetrail.diff import diff_values, format_json_pointer
from statetrail.errors import CorruptHistoryError, StatetrailError
from statetrail.frozen import MISSING, thaw
from statetrail.paths import format_path, lookup_in, parse_path
from statetrail.repository import Repository
from statetrail.repository import open as open_repository
from statetrail.storage._files import read_regular
from statetrail.storage._reader import StoredTimeline, touches
from statetrail.storage._sealed import ENC_TAG
from statetrail.storage.base import Row
from statetrail.storage.revision_json import origin_of, payload_of
from statetrail.timeline import Erased

__all__ = [
    "PICKLE_MAGIC",
    "CommandError",
    "anchor",
    "blame",
    "diff",
    "log",
    "opened",
    "reader",
    "show",
    "timelines",
    "verify",
]

#: How a pickle's bytes begin (protocols 2 to 5): such a file is never read.
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


class CommandError(StatetrailError):
    """A problem the command reports in one line (exit status 2)."""


@contextmanager
def opened(target: str) -> Iterator[Repository]:
    """Open an existing history (a missing file is an error, not a new file).

    A file or database is opened read-only: nothing is created, migrated or
    written (no lock file either), and an SQLite file or PostgreSQL schema that
    holds no statetrail history is an error.
    """
    options: dict[str, Any] = {}
    if target != ":memory:":
        options["read_only"] = True  # SQLite, JSON files and PostgreSQL
    if "://" not in target and target != ":memory:":
        if not os.path.exists(target):
            raise CommandError(f"{target}: no such file")
        if os.path.isdir(target):
            raise CommandError(f"{target}: is a directory, not a history file")
        # A FIFO or device is refused here, before anything waits on it.
        head = read_regular(target, 2)
        if head in PICKLE_MAGIC:
            raise CommandError(
                f"{target}: is a Python pickle, which is never read (unpickling runs "
                "code); statetrail reads SQLite, JSON history files and PostgreSQL"
            )
    repo = open_repository(target, **options)
    try:
        yield repo
    finally:
        repo.close()


def reader(repo: Repository, name: str) -> StoredTimeline:
    """The stored timeline ``name`` of ``repo``, read on demand."""
    return StoredTimeline(repo.backend, name)


def _plain(value: Any) -> Any:
    if isinstance(value, Erased):
        return {"erased": True, "author": value.author, "reason": value.reason}
    return thaw(value)


def _json(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, default=str)


#: The last second formatted, one tuple so threads swap it whole: a history's
#: revisions come many to a second.
_second: tuple[int, str] = (-1, "")


def _when(time_ns: int) -> str:
    global _second
    seconds = time_ns // 1_000_000_000
    known, text = _second
    if known != seconds:
        text = f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}Z"
        _second = (seconds, text)
    return text


def _file(file: str) -> str:
    if os.path.isabs(file):
        with contextlib.suppress(ValueError):  # another drive, on Windows
            file = os.path.relpath(file)
    return file


#: ``file:line`` of each origin text seen: a history has few call sites.
_places: dict[str, str] = {}


def _where(row: Row) -> str:
    text = row.origin
    if text is None:
        return "-"
    place = _places.get(text)
    if place is None:
        origin = origin_of(text)
        assert origin is not None
        place = f"{_file(origin['file'])}:{origin['line']}"
        if len(_places) >= 1024:
            _places.clear()
        _places[text] = place
    return place


def _short(text: str, width: int = 24) -> str:
    """``text``, or its start and ``…`` when longer than ``width``."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _summary(row: Row) -> str:
    """The row's changes in a few words: ``path=value``, ``-path``."""
    if row.payload is None:
        return "(erased)"
    payload = payload_of(row)
    if "value" in payload or row.parent is None:
        return "(initial)" if row.parent is None else "<all> replaced"
    ops = payload.get("patch") or []
    if not ops:
        return "(no change)"
    parts = []
    for op in ops[:2]:
        where = format_path(tuple(op[1])) if type(op[1]) is list else "?"
        if op[0] == "-":
            parts.append(f"-{where}")
        else:
            new = op[2] if len(op) > 2 else ""
            sealed = type(new) is dict and new.get("$t") == ENC_TAG
            text = "<encrypted>" if sealed else orjson.dumps(new).decode()
            parts.append(f"{where or '<all>'}={_short(text)}")
    if len(ops) > 2:
        parts.append(f"+{len(ops) - 2} more")
    return ", ".join(parts)


def timelines(target: str, out: TextIO) -> None:
    """List the timelines a history holds, with their revisions and branches."""
    from rich.table import Table

    with opened(target) as repo:
        table = Table("timeline", "revisions", "branches", "head", "last change")
        for name in repo.timelines():
            stored = reader(repo, name)
            heads = stored.heads
            head = stored.row(heads.cursor)
            table.add_row(
                name,
                str(stored.latest + 1),
                ", ".join(sorted(heads.tips)),
                f"{heads.cursor} ({heads.branch})",
                _when(head.time_ns),
            )
        console(out).print(table)


def _since_ns(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1e9)


def log(
    target: str,
    name: str,
    out: TextIO,
    *,
    author: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    path: str | None = None,
    branch: str | None = None,
    label: str | None = None,
    limit: int | None = None,
) -> None:
    """The revisions of a timeline, newest first, with who, why and where.

    Read newest first from storage and written as they are read: ``--limit``
    reads only the newest rows. A terminal gets a table, a file or pipe one
    tab-separated line per revision (number, time, author, label, comment,
    change, where).
    """
    if limit is not None and limit < 0:
        raise ValueError("--limit must not be negative")
    pointer = None if path is None else format_json_pointer(parse_path(path))
    since_ns, until_ns = _since_ns(since), _since_ns(until)
    with opened(target) as repo:
        stored = reader(repo, name)
        rows = _matching(
            stored.lineage(stored.tip(branch)),
            author=author,
            since_ns=since_ns,
            until_ns=until_ns,
            pointer=pointer,
            label=label,
            limit=limit,
        )
        if out.isatty():
            _log_table(name, rows, out)
            return
        lines = []
        for row in rows:
            kind = "" if row.kind in ("set", "initial") else f"[{row.kind}] "
            lines.append(
                f"{row.number}\t{_when(row.time_ns)}\t{cell(row.author or '-')}\t"
                f"{cell(row.label or '-')}\t{cell(kind + (row.comment or '-'))}\t"
                f"{cell(_summary(row))}\t{cell(_where(row))}\n"
            )
            if len(lines) >= 256:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
        out.flush()  # a reader that went away (| head) is found here


def _matching(
    rows: Iterator[Row],
    *,
    author: str | None,
    since_ns: int | None,
    until_ns: int | None,
    pointer: str | None,
    label: str | None,
    limit: int | None,
) -> Iterator[Row]:
    """The rows of ``rows`` (newest first) that pass every filter given."""
    if limit == 0:
        return
    count = 0
    for row in rows:
        if until_ns is not None and row.time_ns >= until_ns:
            continue
        if since_ns is not None and row.time_ns < since_ns:
            continue
        if author is not None and row.author != author:
            continue
        if label is not None and row.label != label:
            continue
        if pointer is not None and not any(
            touches(changed, pointer) for changed in row.paths
        ):
            continue
        yield row
        count += 1
        if limit is not None and count >= limit:
            return


#: Rows per table on a terminal: a long log is printed as it is read.
_TABLE_ROWS = 100


def _log_table(name: str, rows: Iterator[Row], out: TextIO) -> None:
    """``rows`` as tables of :data:`_TABLE_ROWS`, columns sized alike."""
    from rich import box
    from rich.table import Table

    screen = console(out)
    # Below 100 columns the origin gives way: the time stays whole and the
    # change keeps room to be read.
    wide = screen.width >= 100
    first = True
    batch: list[Row] = []

    def flush() -> None:
        nonlocal first
        table = Table(
            title=name if first else None,
            show_header=first,
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
            padding=(0, 1),
            expand=True,
        )
        # The time and number are never cut; the rest shorten with "…" rather
        # than wrap a value over lines.
        table.add_column("rev", no_wrap=True, justify="right", min_width=5)
        table.add_column("when", no_wrap=True, min_width=20)
        table.add_column("author", no_wrap=True, overflow="ellipsis", width=8)
        table.add_column("label", no_wrap=True, overflow="ellipsis", width=8)
        table.add_column("comment", no_wrap=True, overflow="ellipsis", ratio=2)
        table.add_column("change", no_wrap=True, overflow="ellipsis", ratio=3)
        if wide:
            table.add_column("where", no_wrap=True, overflow="ellipsis", ratio=2)
        for row in batch:
            kind = "" if row.kind in ("set", "initial") else f"[{row.kind}] "
            cells = [
                str(row.number),
                _when(row.time_ns),
                row.author or "-",
                row.label or "-",
                kind + (row.comment or "-"),
                _summary(row),
            ]
            if wide:
                cells.append(_where(row))
            table.add_row(*cells)
        screen.print(table)
        first = False
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= _TABLE_ROWS:
            flush()
    if batch or first:
        flush()


def show(target: str, spec: str, out: TextIO) -> None:
    """One revision: its metadata and its whole value."""
    name, _, rev_spec = spec.partition("@")
    say = Printer(out)
    with opened(target) as repo:
        stored = reader(repo, name)
        row = stored.row(stored.resolve(rev_spec))
        value = stored.value_at(row.number)
        say(
            f"{name}@{row.number} branch {row.branch}, {row.kind}, "
            f"{_when(row.time_ns)}",
            "bold",
        )
        for field, text in (
            ("author", row.author),
            ("comment", row.comment),
            ("label", row.label),
            ("parent", row.parent),
            ("origin", _where(row) if row.origin else None),
        ):
            if text is not None:
                say(f"  {field}: {text}")
        out.write(json.dumps(_plain(value), indent=2, ensure_ascii=False, default=str))
        out.write("\n")


def diff(target: str, name: str, a: str, b: str, out: TextIO) -> None:
    """The changes from one revision to another."""
    say = Printer(out)
    with opened(target) as repo:
        stored = reader(repo, name)
        first, second = stored.resolve(a), stored.resolve(b)
        before, after = stored.value_at(first), stored.value_at(second)
        if "<encrypted>" in repr(before) + repr(after):
            raise CommandError(
                f"{name}: the values are encrypted; pass --key-file to compare them"
            )
        changes = diff_values(before, after)
        say(f"{name}: {first} -> {second}, {len(changes)} change(s)")
        for change in changes:
            where = change.dotted or "<all>"
            if change.old is MISSING:
                say(f"+ {where}: {_json(change.new)}", "green")
            elif change.new is MISSING:
                say(f"- {where}: {_json(change.old)}", "red")
            else:
                say(f"~ {where}: {_json(change.old)} -> {_json(change.new)}", "yellow")


def blame(
    target: str, name: str, path: str, out: TextIO, *, branch: str | None = None
) -> None:
    """Who last changed a path, why, and the line of code that did it.

    Walks the cursor's line (or ``branch``'s) newest first and stops at the first
    revision that changed the path, something under it or an ancestor of it; the
    first revision counts only if the path exists in its value.
    """
    steps = parse_path(path)
    pointer = format_json_pointer(steps)
    say = Printer(out)
    with opened(target) as repo:
        stored = reader(repo, name)
        found = None
        for row in stored.lineage(stored.tip(branch)):
            if row.parent is None:
                value = stored.value_at(row.number)
                if lookup_in(value, steps, MISSING) is not MISSING:
                    found = row
                break
            if any(touches(changed, pointer) for changed in row.paths):
                found = row
                break
        if found is None:
            raise CommandError(f"{name} has no path {path!r}")
        say(
            f"{path}: revision {found.number} on {found.branch}, "
            f"{_when(found.time_ns)}, by {found.author or '-'} "
            f"({found.comment or 'no comment'})"
        )
        origin = origin_of(found.origin)
        if origin is not None:
            code = linecache.getline(origin["file"], origin["line"]).strip()
            task = f", task {origin['task']}" if origin["task"] else ""
            say(
                f"  {_where(found)} in {origin['function']} "
                f"[thread {origin['thread']}{task}]"
            )
            if code:
                say(f"  {code}", "cyan")


def verify(
    target: str,
    out: TextIO,
    *,
    anchor: str | None = None,
    full: bool = False,
    err: TextIO | None = None,
) -> None:
    """Check everything stored; every problem found is listed on ``out``.

    With ``anchor`` (from ``statetrail anchor`` or ``repo.anchor()``), also
    prove nothing up to the anchored revisions was rewritten or cut off since.
    A progress bar goes to ``err`` when it is a terminal.
    """
    say = Printer(out)
    verifying = False
    try:
        with opened(target) as repo, progress(err, "verify") as update:
            verifying = True
            checked = repo.verify(anchor=anchor, full=full, progress=update)
    except CorruptHistoryError as exc:
        # Opening fails on a damaged JSON document: its problems are listed when
        # they say more than the error's one line.
        if not verifying and all(t is None for t, _, _ in exc.problems):
            raise
        for timeline, number, what in exc.problems:
            where = "" if timeline is None else f"{timeline}"
            if number is not None:
                where += f"@{number}"
            say(f"problem: {where + ': ' if where else ''}{what}")
        raise
    for name, count in checked.items():
        say(f"{name}: {count} revision(s) verified")
    proved = " (anchor matched)" if anchor is not None else ""
    say(
        f"ok: {sum(checked.values())} revision(s) in {len(checked)} timeline(s){proved}"
    )


def anchor(target: str, out: TextIO) -> None:
    """Print the anchor of a history: keep it elsewhere, verify against it later."""
    with opened(target) as repo:
        out.write(repo.anchor() + "\n")
