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
gained 5-10%; written against the C API, a lookup of a random key of 10,000
takes about 0.12 us of CPU against 1.0 us in Python (a loaded VM), and the
compiled freeze and path writes leave what they make untracked by the garbage
collector (see ``_speedups.c``): ``Store.set`` on a random path of 10,000
entries went from 13.4-14.3 to 7.0-8.4 us of CPU, ``Store(state)`` of 100,000
entries from 2.0 s to 0.36-0.44 s (immutables: 0.56-0.65 s).
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
