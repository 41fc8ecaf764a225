"""Count how often given functions run, to assert that work is proportional to a change.

The functions run unchanged: ``sys.setprofile`` only watches the calls. A generator
is counted once per generator, not once per resumption.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def count_calls(*functions: Callable[..., Any]) -> Iterator[Counter[str]]:
    """Count the calls to ``functions`` made inside the block, by ``__name__``."""
    codes = {f.__code__: f.__name__ for f in functions}
    counts: Counter[str] = Counter()
    seen: list[FrameType] = []  # keeps frames alive, so their ids stay unique
    seen_ids: set[int] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            name = codes.get(frame.f_code)
            if name is not None and id(frame) not in seen_ids:
                seen_ids.add(id(frame))
                seen.append(frame)
                counts[name] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(previous)
