"""Instructions per Store path operation, for callgrind (not a timed benchmark).

1,000 operations on a 2,000-entry state (random non-repeating entries, gc on,
history kept), one loop per operation, each between two ``os.getpid()`` calls
so that callgrind dumps the loop alone::

    PYTHONHASHSEED=0 PYTHONPATH=src valgrind --tool=callgrind \\
        --dump-before=os_getpid --callgrind-out-file=cg.out \\
        python benchmarks/callgrind_store_paths.py
    grep -m1 summary: cg.out.2   # get; .4 set; .6 set of a list item; .8 delete

The summary divided by 1,000 is the figure in docs/engine.md ("the path module's
cost").
"""

from __future__ import annotations

import os
import random

from statetrail.store import Store

N = 2000
OPS = 1000


def main() -> None:
    """Run the four loops: get, set of a leaf, set of a list item, delete."""
    rng = random.Random(7)
    state = {f"e{i}": {"id": i, "status": "idle", "bins": [i, i + 1]} for i in range(N)}
    keys = [f"e{i}" for i in range(N)]
    rng.shuffle(keys)
    keys = keys[:OPS]
    for kind in ("get", "set", "set_list", "delete"):
        store = Store(state)
        store.set("warm.up", 1)
        store.get("warm.up")
        store.delete("warm.up")
        os.getpid()
        if kind == "get":
            for k in keys:
                store.get(k + ".bins.1")
        elif kind == "set":
            for i, k in enumerate(keys):
                store.set(k + ".status", i)
        elif kind == "set_list":
            for i, k in enumerate(keys):
                store.set(k + ".bins.0", -i)
        else:
            for k in keys:
                store.delete(k + ".id")
        os.getpid()


if __name__ == "__main__":
    main()
