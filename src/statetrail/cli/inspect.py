"""The inspector commands: timelines, log, show, diff, blame, export, verify, anchor.

Each opens a history file or database through :func:`statetrail.open`, so what
they show is what a program reading the history sees.
"""

from __future__ import annotations

import contextlib
import json
import linecache
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from statetrail.diff import to_json_patch
from statetrail.errors import (
    CorruptHistoryError,
    RevisionNotFoundError,
    StatetrailError,
)
from statetrail.frozen import MISSING, thaw
from statetrail.repository import Repository
from statetrail.repository import open as open_repository
from statetrail.revision import Revision
from statetrail.storage._files import read_regular
from statetrail.timeline import Erased, Timeline

__all__ = [
    "anchor",
    "blame",
    "diff",
    "export",
    "log",
    "opened",
    "show",
    "timelines",
    "verify",
]

_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


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
        if head in _PICKLE_MAGIC:
            raise CommandError(
                f"{target}: is a Python pickle, which is never read (unpickling runs "
                "code); statetrail reads SQLite, JSON history files and PostgreSQL"
            )
    repo = open_repository(target, **options)
    try:
        yield repo
    finally:
        repo.close()


def _console(out: TextIO) -> Console:
    # Piped or redirected output gets room for whole paths instead of 80 columns.
    width = None if out.isatty() else 160
    return Console(file=out, markup=False, highlight=False, soft_wrap=True, width=width)


def _timeline(repo: Repository, name: str) -> Timeline[Any]:
    return repo.timeline(name, create=False)


def _revision(timeline: Timeline[Any], spec: str) -> Revision:
    spec = spec.strip()
    if spec in ("", "head", "HEAD"):
        return timeline.head
    if spec.lstrip("-").isdigit():
        number = int(spec)
        if number < 0:
            history = timeline.history()
            if -number > len(history):
                raise RevisionNotFoundError(
                    f"revision {number}: the current line has only {len(history)} "
                    f"revisions; use -1 to -{len(history)} or a revision number"
                )
            return history[number]
        return timeline.revision(number)
    if spec in timeline.branches():
        return timeline.revision(timeline.branches()[spec])
    raise RevisionNotFoundError(f"{spec!r} is neither a revision number nor a branch")


def _plain(value: Any) -> Any:
    if isinstance(value, Erased):
        return {"erased": True, "author": value.author, "reason": value.reason}
    return thaw(value)


def _json(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, default=str)


def _when(rev: Revision) -> str:
    return rev.timestamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _where(rev: Revision) -> str:
    origin = rev.origin
    if origin is None:
        return "-"
    file = origin.file
    if os.path.isabs(file):
        with contextlib.suppress(ValueError):  # another drive, on Windows
            file = os.path.relpath(file)
    return f"{file}:{origin.line}"


def _summary(rev: Revision) -> str:
    changes = rev.changes
    if not changes:
        return "(initial)" if rev.parent is None else "(no change)"
    parts = []
    for change in changes[:2]:
        if change.new is MISSING:
            parts.append(f"-{change.dotted}")
        else:
            text = _json(change.new)
            parts.append(f"{change.dotted or '<all>'}={text[:24]}")
    if len(changes) > 2:
        parts.append(f"+{len(changes) - 2} more")
    return ", ".join(parts)


def timelines(target: str, out: TextIO) -> None:
    """List the timelines a history holds, with their revisions and branches."""
    console = _console(out)
    with opened(target) as repo:
        table = Table("timeline", "revisions", "branches", "head", "last change")
        for name in repo.timelines():
            timeline = _timeline(repo, name)
            head = timeline.head
            table.add_row(
                name,
                str(len(timeline)),
                ", ".join(sorted(timeline.branches())),
                f"{head.number} ({timeline.current_branch})",
                _when(head),
            )
        console.print(table)


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
    limit: int | None = None,
) -> None:
    """The revisions of a timeline, newest first, with who, why and where."""
    console = _console(out)
    with opened(target) as repo:
        timeline = _timeline(repo, name)
        revs = timeline.log(
            author=author,
            since=since,
            until=until,
            path=path,
            branch=branch,
            reverse=True,
            limit=limit,
        )
        table = Table("rev", "when", "author", "comment", "change", "where", title=name)
        for rev in revs:
            kind = "" if rev.kind in ("set", "initial") else f"[{rev.kind}] "
            table.add_row(
                str(rev.number),
                _when(rev),
                rev.author or "-",
                kind + (rev.comment or "-"),
                _summary(rev),
                _where(rev),
            )
        console.print(table)


def show(target: str, spec: str, out: TextIO) -> None:
    """One revision: its metadata and its whole value."""
    name, _, rev_spec = spec.partition("@")
    console = _console(out)
    with opened(target) as repo:
        timeline = _timeline(repo, name)
        rev = _revision(timeline, rev_spec)
        console.print(
            Text(f"{name}@{rev.number}", style="bold"),
            f"branch {rev.branch}, {rev.kind}, {_when(rev)}",
        )
        for label, value in (
            ("author", rev.author),
            ("comment", rev.comment),
            ("label", rev.label),
            ("parent", rev.parent),
            ("origin", _where(rev) if rev.origin else None),
        ):
            if value is not None:
                console.print(f"  {label}: {value}")
        out.write(
            json.dumps(_plain(rev.value), indent=2, ensure_ascii=False, default=str)
        )
        out.write("\n")


def diff(target: str, name: str, a: str, b: str, out: TextIO) -> None:
    """The changes from one revision to another."""
    console = _console(out)
    with opened(target) as repo:
        timeline = _timeline(repo, name)
        first, second = _revision(timeline, a), _revision(timeline, b)
        changes = timeline.diff(first.number, second.number)
        console.print(
            f"{name}: {first.number} -> {second.number}, {len(changes)} change(s)"
        )
        for change in changes:
            where = change.dotted or "<all>"
            if change.old is MISSING:
                console.print(Text(f"+ {where}: {_json(change.new)}", style="green"))
            elif change.new is MISSING:
                console.print(Text(f"- {where}: {_json(change.old)}", style="red"))
            else:
                console.print(
                    Text(
                        f"~ {where}: {_json(change.old)} -> {_json(change.new)}",
                        style="yellow",
                    )
                )


def blame(target: str, name: str, path: str, out: TextIO) -> None:
    """Who last changed a path, why, and the line of code that did it."""
    console = _console(out)
    with opened(target) as repo:
        timeline = _timeline(repo, name)
        rev = timeline.blame(path)
        if rev is None:
            raise CommandError(f"{name} has no path {path!r}")
        console.print(
            f"{path}: revision {rev.number} on {rev.branch}, {_when(rev)}, "
            f"by {rev.author or '-'} ({rev.comment or 'no comment'})"
        )
        origin = rev.origin
        if origin is not None:
            code = linecache.getline(origin.file, origin.line).strip()
            task = f", task {origin.task}" if origin.task else ""
            console.print(
                f"  {_where(rev)} in {origin.function} [thread {origin.thread}{task}]"
            )
            if code:
                console.print(Text(f"  {code}", style="cyan"))


def export(target: str, name: str, fmt: str, out: TextIO) -> None:
    """Every revision as JSON Lines, or each revision's JSON Patch from its parent."""
    with opened(target) as repo:
        timeline = _timeline(repo, name)
        for rev in timeline.revisions():
            origin = rev.origin
            base: dict[str, Any] = {
                "number": rev.number,
                "parent": rev.parent,
                "branch": rev.branch,
                "time": rev.timestamp.isoformat(),
                "kind": rev.kind,
                "author": rev.author,
                "comment": rev.comment,
                "label": rev.label,
                "origin": None
                if origin is None
                else {
                    "file": origin.file,
                    "line": origin.line,
                    "function": origin.function,
                    "thread": origin.thread,
                    "task": origin.task,
                },
            }
            if fmt == "jsonl":
                base["value"] = _plain(rev.value)
            else:
                base["patch"] = (
                    [{"op": "replace", "path": "", "value": _plain(rev.value)}]
                    if rev.parent is None
                    else to_json_patch(rev.changes)
                )
            out.write(json.dumps(base, ensure_ascii=False, default=str))
            out.write("\n")


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
    console = _console(out)
    verifying = False
    try:
        with opened(target) as repo, _progress(err) as progress:
            verifying = True
            checked = repo.verify(anchor=anchor, full=full, progress=progress)
    except CorruptHistoryError as exc:
        # Opening fails on a damaged JSON document: its problems are listed when
        # they say more than the error's one line.
        if not verifying and all(t is None for t, _, _ in exc.problems):
            raise
        for timeline, number, what in exc.problems:
            where = "" if timeline is None else f"{timeline}"
            if number is not None:
                where += f"@{number}"
            console.print(f"problem: {where + ': ' if where else ''}{what}")
        raise
    for name, count in checked.items():
        console.print(f"{name}: {count} revision(s) verified")
    proved = " (anchor matched)" if anchor is not None else ""
    console.print(
        f"ok: {sum(checked.values())} revision(s) in {len(checked)} timeline(s){proved}"
    )


def anchor(target: str, out: TextIO) -> None:
    """Print the anchor of a history: keep it elsewhere, verify against it later."""
    with opened(target) as repo:
        out.write(repo.anchor() + "\n")


@contextmanager
def _progress(
    err: TextIO | None,
) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress callback drawing a bar on ``err``, if it is a terminal."""
    if err is None or not err.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=Console(file=err), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(name: str, done: int, total: int) -> None:
            if done % 256 and done != total:
                return  # the bar costs more than checking a row
            task = tasks.get(name)
            if task is None:
                task = tasks[name] = bar.add_task(f"verify {name}", total=total)
            bar.update(task, completed=done, total=total)

        yield update
