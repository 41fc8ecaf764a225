"""Which implementation of the hot paths runs: compiled, or pure Python.

``statetrail.frozen._speedups`` (``_speedups.c``, compiled when the package is
installed) holds the trie reads and writes of ``_hamt``, the reads and path
writes of :class:`~statetrail.frozen.FrozenDict` and the freezing of plain dicts
and lists, over the very same tuples and classes as the pure-Python code. It is
used when it was built, unless the environment sets ``STATETRAIL_PURE=1``; the
pure-Python modules are the reference and the fallback (no compiler, another
interpreter), and the tests run the frozen values against both.

Why compiled, with figures (benchmarks/README.md): the trie works on untyped
tuples and boxed ints, so mypyc calls the same C API the interpreter does and
gained 5-10%; a lookup of a random key of 10,000 takes 0.7-0.8 us in Python and
well under 0.1 us in C, and the compiled freeze leaves the values it makes
untracked by the garbage collector (see ``_speedups.c``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import import_module
from types import ModuleType

__all__ = ["PURE_ENV", "load", "speedups"]

#: The environment variable that forces the pure-Python code when set to 1.
PURE_ENV = "STATETRAIL_PURE"


def load(environ: Mapping[str, str] | None = None) -> ModuleType | None:
    """The compiled module, or ``None`` when it is not built or is turned off."""
    env = os.environ if environ is None else environ
    if env.get(PURE_ENV, "") not in ("", "0"):
        return None
    try:
        return import_module("statetrail.frozen._speedups")
    except ImportError:
        return None


#: The compiled module in use, or ``None``: pure Python.
speedups: ModuleType | None = load()
