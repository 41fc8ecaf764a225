"""A merge followed live: published to Redis Streams with both parents, and
taken in by a mirror on its own branch (issue 14)."""

from __future__ import annotations

from pathlib import Path

import statetrail
from tests.live.redis_server import RedisServer


def test_a_merge_reaches_a_follower_with_both_parents(
    server: RedisServer, tmp_path: Path
) -> None:
    """The follower gets the merge revision, its two parents and its value; a
    mirror's state is the merged one."""
    with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
        store = repo.store("job", {"bins": 10, "sorted": 0})
        store.branch("sorter")
        store.set("sorted", 1)
        store.switch("main")
        store.set("bins", 9)
        merged = store.merge("sorter", author="cy")
        assert repo.publisher is not None
        assert repo.publisher.wait(timeout=30)
        with statetrail.follow(server.url, "job") as following:
            got = []
            while len(got) < 4:
                rev = following.get(timeout=30)
                assert rev is not None
                got.append(rev)
        last = got[-1]
        assert (last.number, last.kind, last.parents) == (3, "merge", (2, 1))
        assert (last.author, last.value) == ("cy", {"bins": 9, "sorted": 1})
        assert last.value == merged.value
        with statetrail.mirror(server.url, "job") as copy:
            assert copy.wait_for(3, timeout=30)
            assert copy.get_state() == {"bins": 9, "sorted": 1}
