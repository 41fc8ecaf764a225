"""Following a trail live, from other processes and machines.

- :func:`follow` and :func:`follow_async` yield a timeline's revisions in order,
  each once, as they are committed, from a Redis stream (published by
  ``statetrail.open(target, publish="redis://...")``) or from the storage itself
  (a file or a PostgreSQL URL);
- :func:`mirror` keeps a read-only copy of a timeline's state current.

See ``docs/live.md``.
"""

from statetrail.live._follow import Following, Lag, follow, follow_async
from statetrail.live._mirror import Mirror, mirror

__all__ = ["Following", "Lag", "Mirror", "follow", "follow_async", "mirror"]
