"""The ``statetrail`` command.

``statetrail demo`` records a small live application and shows its history. The
inspector commands for history files and databases arrive with storage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="statetrail",
        description="State that remembers where it came from.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="record a small live application and show its history"
    )
    demo.add_argument("--cards", type=int, default=6, help="cards each sorter sorts")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from statetrail.cli.demo import run

        run(cards=args.cards, out=sys.stdout)
    return 0
