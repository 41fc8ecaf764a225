"""``statetrail trim``: remove a timeline's oldest revisions from a history.

::

    statetrail trim FILE_OR_URL NAME --keep-last N | --max-age 30d
                    [--dry-run] [--reason TEXT] [--author WHO] [--vacuum]

The offline twin of :meth:`statetrail.Repository.trim` (and of a ``Retention``
rule on a stored timeline): rows leave in batches, each its own transaction, so
applications writing the same history meanwhile wait for one batch at most; a
range tombstone keeps the rest verifiable. ``--dry-run`` says what would go and
changes nothing. Afterwards the space is given back (SQLite
``incremental_vacuum``, PostgreSQL plain ``VACUUM``); ``--vacuum`` rebuilds an
SQLite file made before incremental vacuum existed, so that it can shrink.
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import timedelta
from typing import Any, TextIO

from statetrail.errors import StatetrailError

__all__ = ["add_parser", "duration", "run"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s`` or ``2w`` as a timedelta."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (a number and a unit: 45s, 90m, 12h, 30d, 2w)"
        )
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return number


def add_parser(commands: Any) -> None:
    """Add ``trim`` to the command's subparsers."""
    p = commands.add_parser(
        "trim", help="remove a timeline's oldest revisions, leaving a tombstone"
    )
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("name", metavar="NAME")
    rule = p.add_argument_group("what to keep (one or both)")
    rule.add_argument("--keep-last", type=_positive, metavar="N")
    rule.add_argument(
        "--max-age",
        type=duration,
        metavar="AGE",
        help="remove revisions older than this: 45s, 90m, 12h, 30d, 2w",
    )
    p.add_argument("--dry-run", action="store_true", help="say what would go")
    p.add_argument("--reason", help="why, kept in the tombstone")
    p.add_argument("--author", help="who, kept in the tombstone")
    p.add_argument(
        "--vacuum",
        action="store_true",
        help="SQLite: rebuild the file afterwards (VACUUM), so a file made "
        "without incremental vacuum can shrink",
    )


def run(args: argparse.Namespace, out: TextIO) -> None:
    """Trim as ``args`` say, printing one line of what went (or would go)."""
    from statetrail.repository import open as open_repository

    if args.keep_last is None and args.max_age is None:
        raise ValueError("say what to keep: --keep-last N and/or --max-age AGE")
    target = args.target
    if "://" not in target and not os.path.isfile(target):
        raise StatetrailError(f"{target}: no such history file")
    with open_repository(target) as repo:
        if args.name not in repo.timelines():
            raise StatetrailError(f"{target} has no timeline {args.name!r}")
        end = repo.backend.end(args.name)
        trim = repo.trim(
            args.name,
            keep_last=args.keep_last,
            older_than=args.max_age,
            reason=args.reason,
            author=args.author,
            dry_run=args.dry_run,
            reclaim=not args.dry_run,
        )
        if args.vacuum and not args.dry_run:
            vacuum = getattr(repo.backend, "vacuum", None)
            if vacuum is None:
                raise ValueError("--vacuum is for SQLite files")
            vacuum()
    newest = "?" if end is None else end.length - 1
    if trim is None:
        out.write(f"nothing to trim in {args.name!r} (revisions up to {newest})\n")
        return
    verb = "would remove" if args.dry_run else "removed"
    out.write(
        f"{verb} revisions {trim.first}..{trim.last} of {args.name!r} "
        f"({trim.count} revision(s); kept {trim.last + 1}..{newest}; "
        f"reason: {trim.reason})\n"
    )
