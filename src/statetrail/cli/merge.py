"""``statetrail merge``: merge one branch of a stored timeline into another.

::

    statetrail merge FILE_OR_URL NAME BRANCH [--resolve ours|theirs]
                     [--author WHO] [--comment WHY] [--label TAG]

The offline twin of :meth:`statetrail.Timeline.merge` on a stored timeline: the
head of ``BRANCH`` is merged into the branch the timeline's cursor is on, and
one revision of kind ``merge`` is recorded. Conflicting changes fail with exit
status 2 and a line per conflict (nothing is recorded) unless ``--resolve``
says which side wins.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from statetrail.errors import MergeConflictError, StatetrailError

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    """Add ``merge`` to the command's subparsers."""
    p = commands.add_parser(
        "merge", help="merge a branch of a timeline into the cursor's branch"
    )
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("branch", metavar="BRANCH", help="the branch to merge in")
    p.add_argument(
        "--resolve",
        choices=("ours", "theirs"),
        help="where both sides changed one place differently, take this side's",
    )
    p.add_argument("--author", help="who merged, kept with the merge revision")
    p.add_argument("--comment", help="why, kept with the merge revision")
    p.add_argument("--label", help="a short tag for the merge revision")


def run(args: argparse.Namespace, out: TextIO) -> None:
    """Merge as ``args`` say, printing the merge revision (or the conflicts)."""
    from statetrail.repository import open as open_repository

    target = args.target
    if "://" not in target and not os.path.isfile(target):
        raise StatetrailError(f"{target}: no such history file")
    with open_repository(target) as repo:
        if args.name not in repo.timelines():
            raise StatetrailError(f"{target} has no timeline {args.name!r}")
        timeline = repo.timeline(args.name)
        into = timeline.current_branch
        try:
            merged = timeline.merge(
                args.branch,
                resolve=args.resolve,
                author=args.author,
                comment=args.comment,
                label=args.label,
            )
        except MergeConflictError as exc:
            for conflict in exc.conflicts:
                out.write(
                    f"conflict at {conflict.dotted or '<root>'}: base "
                    f"{conflict.base!r}, ours ({into}) {conflict.ours!r}, "
                    f"theirs ({args.branch}) {conflict.theirs!r}\n"
                )
            raise
    first, second = merged.parents
    out.write(
        f"merged {args.branch!r} (revision {second}) into {into!r} "
        f"(revision {first}): revision {merged.number}\n"
    )
