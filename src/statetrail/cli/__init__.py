"""The ``statetrail`` command: look at a history from the terminal.

::

    statetrail timelines FILE_OR_URL [--schema NAME]
    statetrail log FILE NAME [--author A] [--since T] [--until T] [--path P]
                             [--label L] [--branch B] [--limit N]
    statetrail show FILE NAME[@REV|@TIME]
    statetrail diff FILE NAME REV_A REV_B
    statetrail blame FILE NAME PATH [--branch B]
    statetrail export FILE NAME [--format jsonl|json-patch] [--full]
    statetrail verify FILE [--anchor TEXT] [--full]
    statetrail anchor FILE
    statetrail follow URL NAME [--after N] [--source FILE_OR_URL] [--json]
                               [--count N]
    statetrail trim FILE NAME --keep-last N | --max-age 30d [--dry-run]
    statetrail serve FILE_OR_URL [--host H] [--port P] [--open] [--token T]
                                 [--follow REDIS_URL]
    statetrail demo [--file FILE]

Every command but ``demo`` takes ``--schema NAME``: the PostgreSQL schema to
read (the same as ``?schema=NAME`` in the URL).

A problem (a missing or corrupt file, a pickle, an unknown timeline or revision)
is one line on standard error and exit status 2, never a traceback; ``verify``
lists every problem it found on standard output first.

The commands read only what they show, straight from storage (``log --limit``
the newest rows, ``show`` and ``diff`` a checkpoint and its patches, ``blame``
and ``log --path`` the path index, ``--since``/``--until`` and ``NAME@TIME`` the
time index), and stream
what is long (``log``, ``export``, ``verify``): plain lines when standard output
is not a terminal, a progress bar on standard error when that is one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO

from statetrail.errors import StatetrailError

__all__ = ["main"]


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


#: The terminal's width for help texts, asked once (see :class:`_Formatter`).
_width: int | None = None


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, with the terminal's width asked once.

    argparse makes a formatter at each ``add_argument`` (to check its metavar),
    and each asks the terminal its size: about 100 calls and 30 ms of a command
    that otherwise takes 120 ms of CPU (issue 11).
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        global _width
        if width is None:
            if _width is None:
                import shutil

                _width = shutil.get_terminal_size().columns - 2
            width = _width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """An argument parser laid out by :class:`_Formatter` (its subcommands too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="statetrail", description="State that remembers where it came from."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    p = commands.add_parser("timelines", help="list the timelines of a history")
    p.add_argument("target", metavar="FILE_OR_URL")

    p = commands.add_parser("log", help="the revisions of a timeline, newest first")
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--author")
    p.add_argument("--since", type=_time, help="ISO 8601 time, inclusive")
    p.add_argument("--until", type=_time, help="ISO 8601 time, exclusive")
    p.add_argument(
        "--path",
        help="only revisions that changed this dot-path, under it or above it "
        "(from the path index)",
    )
    p.add_argument("--label", help="only revisions with exactly this label")
    p.add_argument("--branch", help="follow this branch instead of the cursor")
    p.add_argument("--limit", type=int, help="at most this many revisions")

    p = commands.add_parser("show", help="one revision: metadata and value")
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument(
        "spec",
        metavar="NAME[@REV]",
        help="REV: a number, -1, a branch, or an ISO 8601 time "
        "(2026-12-01T10:00Z: the revision recorded last by then)",
    )

    p = commands.add_parser("diff", help="the changes between two revisions")
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("a", metavar="REV_A")
    p.add_argument("b", metavar="REV_B")

    p = commands.add_parser("blame", help="who last changed a path, and where")
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--branch", help="follow this branch instead of the cursor")

    p = commands.add_parser("export", help="every revision, for other tools")
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--format",
        choices=("jsonl", "json-patch"),
        default="jsonl",
        help="jsonl: one revision object per line (docs/revision-json.md); "
        "json-patch: each revision's RFC 6902 patch alone",
    )
    p.add_argument(
        "--full", action="store_true", help="jsonl: add each revision's whole value"
    )

    p = commands.add_parser(
        "verify", help="check every stored part of a history against its hash chain"
    )
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument(
        "--anchor",
        metavar="TEXT",
        help="what `statetrail anchor` printed earlier: detect any rewrite or "
        "truncation since",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="SQLite: run integrity_check instead of quick_check",
    )

    p = commands.add_parser(
        "inspect", help="show a file saved by Var.save or Store.save"
    )
    p.add_argument("target", metavar="FILE")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read a Python pickle (the first seed's files): unpickling runs code "
        "the file names, so only for a file you made yourself",
    )

    p = commands.add_parser(
        "anchor", help="print a short text that proves the history as it is now"
    )
    p.add_argument("target", metavar="FILE_OR_URL")

    from statetrail.cli import trim

    trim.add_parser(commands)

    from statetrail.cli import merge

    merge.add_parser(commands)

    from statetrail.cli import serve

    serve.add_parser(commands)

    p = commands.add_parser(
        "follow", help="print a timeline's revisions as they are committed"
    )
    p.add_argument(
        "target",
        metavar="URL",
        help="redis:// or rediss:// (a published stream), a file or postgresql://",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--after", type=int, help="start after this revision number")
    p.add_argument(
        "--source",
        metavar="FILE_OR_URL",
        help="where the history is stored: revisions the stream no longer holds "
        "are read from it",
    )
    p.add_argument("--json", action="store_true", help="one revision object per line")
    p.add_argument("--count", type=int, help="stop after this many revisions")

    p = commands.add_parser(
        "demo", help="record a small live application into SQLite and look at it"
    )
    p.add_argument(
        "--file", help="the SQLite file to record into (default: a temporary one)"
    )
    p.add_argument("--cards", type=int, default=6, help="cards each sorter sorts")
    for name, command in commands.choices.items():
        if name != "demo":  # every command that reads a FILE_OR_URL
            command.add_argument(
                "--schema",
                help="PostgreSQL: the schema holding the history (default "
                "statetrail; the same as ?schema= in the URL)",
            )
            command.add_argument(
                "--key-file",
                help="a file of Fernet keys, one a line, that open values "
                "written with statetrail.interceptors.Encrypt (without it they "
                "show as <encrypted>)",
            )
    return parser


@contextlib.contextmanager
def _keys(key_file: str | None) -> Iterator[None]:
    """With ``--key-file``, its keys open encrypted values; without, placeholders."""
    from statetrail.storage._sealed import placeholders

    if key_file is None:
        with placeholders():
            yield
        return
    from statetrail.interceptors import Encrypt

    with open(key_file, "rb") as f:
        keys = [line.strip() for line in f if line.strip()]
    if not keys:
        raise ValueError(f"--key-file {key_file}: no key in it")
    Encrypt(keys)
    yield


def _with_schema(target: str, schema: str | None) -> str:
    """``target`` with ``--schema`` put in as the URL's ``?schema=``."""
    if schema is None:
        return target
    if not target.lower().startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "--schema names a PostgreSQL schema; it needs a postgresql:// URL"
        )
    separator = "&" if "?" in target else "?"
    return f"{target}{separator}schema={urllib.parse.quote(schema, safe='')}"


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit status.

    ``out`` and ``err`` stand for standard output and error (tests pass a
    terminal of their own).
    """
    args = _parser().parse_args(argv)
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        with contextlib.ExitStack() as stack:
            if args.command != "demo":
                args.target = _with_schema(args.target, args.schema)
                stack.enter_context(_keys(args.key_file))
            _run(args, out, err)
    except BrokenPipeError:
        # The reader went away (`statetrail log FILE NAME | head`): end quietly,
        # with the status a process killed by SIGPIPE has. Standard output goes to
        # devnull first, so the interpreter's last flush does not fail again
        # (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout is not a file
            pass
        return 128 + 13  # SIGPIPE
    except (StatetrailError, OSError, ValueError, KeyError) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError):
            message = message.strip("'\"")
        print(f"statetrail {args.command}: error: {message}", file=err)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return 130
    return 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Run the parsed command."""
    from statetrail.cli import inspect

    if args.command == "timelines":
        inspect.timelines(args.target, out)
    elif args.command == "log":
        inspect.log(
            args.target,
            args.name,
            out,
            author=args.author,
            since=args.since,
            until=args.until,
            path=args.path,
            branch=args.branch,
            label=args.label,
            limit=args.limit,
        )
    elif args.command == "show":
        inspect.show(args.target, args.spec, out)
    elif args.command == "diff":
        inspect.diff(args.target, args.name, args.a, args.b, out)
    elif args.command == "blame":
        inspect.blame(args.target, args.name, args.path, out, branch=args.branch)
    elif args.command == "export":
        from statetrail.cli.export import export

        export(
            args.target,
            args.name,
            out,
            fmt=args.format,
            full=args.full,
            err=err,
        )
    elif args.command == "verify":
        inspect.verify(args.target, out, anchor=args.anchor, full=args.full, err=err)
    elif args.command == "inspect":
        from statetrail.cli.saved import inspect_file

        inspect_file(args.target, out, err, allow_pickle=args.allow_pickle)
    elif args.command == "anchor":
        inspect.anchor(args.target, out)
    elif args.command == "follow":
        from statetrail.cli.follow import follow

        follow(
            args.target,
            args.name,
            out,
            after=args.after,
            source=args.source,
            as_json=args.json,
            count=args.count,
        )
    elif args.command == "trim":
        from statetrail.cli import trim

        trim.run(args, out)
    elif args.command == "merge":
        from statetrail.cli import merge

        merge.run(args, out)
    elif args.command == "serve":
        from statetrail.cli import serve

        serve.run(args, out)
    else:
        from statetrail.cli.demo import run

        run(cards=args.cards, out=out, file=args.file)
