"""How the commands write: rich on a terminal, plain lines elsewhere, progress bars.

Output sent to a file or a pipe is written as plain lines, one per revision, as
soon as each is read: the commands stream, whatever the length of the history.
A terminal gets rich tables, printed a page at a time; a long operation draws a
progress bar on standard error when that is a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Printer", "cell", "console", "progress"]

_CONTROL = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def cell(text: str) -> str:
    r"""``text`` on one line: tabs and line breaks spelled as escapes.

    >>> print(cell("two\nlines\tand a tab"))
    two\nlines\tand a tab
    """
    return text.translate(_CONTROL)


def console(out: TextIO) -> Console:
    """A rich console on ``out`` that never reads history text as markup."""
    from rich.console import Console

    # Piped or redirected output gets room for whole paths instead of 80 columns.
    width = None if out.isatty() else 160
    return Console(file=out, markup=False, highlight=False, soft_wrap=True, width=width)


class Printer:
    """Lines of text, styled on a terminal and plain elsewhere.

    Off a terminal nothing of rich is imported: the short commands end sooner
    (rich's console costs about 50 ms to import), and a console there wrote
    the same plain text.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.screen = console(out) if out.isatty() else None

    def __call__(self, text: str, style: str | None = None) -> None:
        """Write ``text`` as one line (``style`` on a terminal: "green" ...)."""
        if self.screen is None:
            self.out.write(text + "\n")
            return
        from rich.text import Text

        self.screen.print(Text(text, style=style or ""))


@contextmanager
def progress(
    err: TextIO | None, what: str
) -> Iterator[Callable[[str, int, int], None] | None]:
    """``update(name, done, total)`` drawing a bar on ``err``, if it is a terminal.

    ``None`` otherwise: the caller then skips the calls altogether.
    """
    if err is None or not err.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=err), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(name: str, done: int, total: int) -> None:
            if done % 256 and done != total:
                return  # the bar costs more than a row
            task = tasks.get(name)
            if task is None:
                task = tasks[name] = bar.add_task(f"{what} {name}", total=total)
            bar.update(task, completed=done, total=total)

        yield update
