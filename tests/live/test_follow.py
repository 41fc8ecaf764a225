"""Following a trail live (issue 12): published to Redis Streams, or read from
storage, every revision reaches a follower once and in order.

Every test runs against its own redis-server (tests/live/redis_server.py). The
reliability tests also run against a deliberately broken variant, which must fail:
a follower that does not resume where it was (pub/sub's semantics), a publisher
whose outbox is not the history, a publisher that lets Redis choose entry ids,
an applier that does not check what it applies.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

import pytest

import statetrail
from statetrail.errors import SyncError
from statetrail.live import _core, _follow
from statetrail.live._follow import Following
from statetrail.revision import Revision
from statetrail.storage import _publisher, _stream
from statetrail.storage.base import Row
from tests.conftest import scaled
from tests.live.redis_server import RedisServer
from tests.storage.pg import PgSchema


def _write(repo: statetrail.Repository, name: str, count: int, rate: float) -> None:
    """``count`` sets of random, non-repeating paths, at about ``rate`` per second."""
    store = repo.store(name, {})
    rng = random.Random(7)
    for i in range(count):
        store.set(f"k{rng.randrange(10**9)}", {"i": i})
        if rate:
            time.sleep(1 / rate)


def _collect(following: Following, until: int, deadline: float) -> list[Revision]:
    """What ``following`` yields up to revision ``until``, or until ``deadline``."""
    got: list[Revision] = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        rev = following.get(timeout=end - time.monotonic())
        if rev is None:
            break
        got.append(rev)
        if rev.number >= until:
            break
    return got


def _check(
    got: list[Revision], repo: statetrail.Repository, name: str, last: int
) -> None:
    numbers = [r.number for r in got]
    missing = sorted(set(range(last + 1)) - set(numbers))
    twice = len(numbers) - len(set(numbers))
    assert (missing, twice) == ([], 0), (
        f"{len(missing)} missing ({missing[:3]}..{missing[-3:]}), {twice} twice"
    )
    assert numbers == sorted(numbers)
    for rev in got[:: max(1, len(got) // 20)] + got[-1:]:
        assert rev.value == repo.value_at(name, rev.number)


class TestPublishAndFollow:
    def test_every_revision_reaches_a_follower_in_order(
        self, server: RedisServer, tmp_path: Path
    ) -> None:
        """Revisions written with publish= are followed with their values, their
        metadata and their changes; the follower's lag ends at 0."""
        path = tmp_path / "h.sqlite"
        with statetrail.open(path, publish=server.url) as repo:
            _write(repo, "job", 200, rate=0)
            store = repo.store("job")
            store.set("done", True, author="ada", comment="finished")
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            with statetrail.follow(server.url, "job") as following:
                got = _collect(following, 201, deadline=30)
                assert following.lag.revisions == 0
            _check(got, repo, "job", 201)
            last = got[-1]
            assert (last.author, last.comment) == ("ada", "finished")
            assert [c.dotted for c in last.changes] == ["done"]
            assert last.origin is not None
            assert last.origin.file.endswith("test_follow.py")

    @pytest.mark.parametrize("broken", [False, True], ids=["handed", "broken-read"])
    def test_a_write_published_alone_is_handed_over_not_read(
        self,
        server: RedisServer,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        broken: bool,
    ) -> None:
        """Each durable write hands its committed row to the publisher, which
        adds it without reading it back (the last stop's publisher read each
        one: ~250 us a write published alone). The broken variant's commits
        wake the publisher but hand no rows, so it reads each of them."""
        from statetrail.storage.sqlite import SQLiteBackend

        if broken:
            told = SQLiteBackend._committed

            def unhanded(self: SQLiteBackend, rows: Any, *, whole: bool = True) -> None:
                told(self, rows, whole=False)

            monkeypatch.setattr(SQLiteBackend, "_committed", unhanded)
        with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
            store = repo.store("job", {"n": 0})
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            reads: list[int] = []
            original = SQLiteBackend.read

            def counted(self: SQLiteBackend, *args: Any, **kwargs: Any) -> list[Row]:
                rows = original(self, *args, **kwargs)
                if self is repo.backend:
                    reads.append(len(rows))
                return rows

            monkeypatch.setattr(SQLiteBackend, "read", counted)
            for i in range(1, 21):
                store.set("n", i)
                deadline = time.monotonic() + 30  # published, without a poke
                while repo.publisher.published("job") < i:
                    assert time.monotonic() < deadline
                    time.sleep(0.001)
            seen = list(reads)
            entries = server.client().xrange(_stream.stream_key("job"))
            stored = repo.backend.read("job")
        if broken:
            assert [n for n in seen if n] == [1] * 20, seen
            return
        assert seen == []
        # What was handed over is what the history holds, byte for byte.
        assert [fields[b"row"] for _, fields in entries] == [
            _stream.encode_entry(row)["row"] for row in stored
        ]

    @pytest.mark.parametrize("broken", [False, True], ids=["hooked", "broken-no-hook"])
    def test_a_batched_write_wakes_the_publisher_at_its_flush(
        self,
        server: RedisServer,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        broken: bool,
    ) -> None:
        """With ``durability="batched"`` the group commit wakes the publisher
        once the rows are durable: they reach a follower without a look at the
        data version (the publisher here looks once, at its start; by default
        every 0.1 s, which was the lag of a batched write). The broken variant
        has no hook: its writes wait for a look that does not come."""
        from statetrail.repository import Repository
        from statetrail.storage._publisher import Publisher
        from statetrail.storage.sqlite import SQLiteBackend

        if broken:
            monkeypatch.setattr(SQLiteBackend, "_committed", lambda *a, **k: None)
        backend = SQLiteBackend(tmp_path / "h.sqlite", durability="batched")
        publisher = Publisher(backend, server.url, poll=3600)
        count = scaled(200)
        with Repository(backend, publisher=publisher) as repo:
            with statetrail.follow(server.url, "job") as following:
                _write(repo, "job", count, rate=2000)  # no flush: the batch's own
                got = _collect(following, count, deadline=3 if broken else 30)
            looks = publisher.looks
        assert looks == 1  # the first, at the start: none found these writes
        if broken:
            assert len(got) < count + 1
            return
        assert [r.number for r in got] == list(range(count + 1))

    def test_position_is_what_was_handed_out(
        self, server: RedisServer, tmp_path: Path
    ) -> None:
        """Revisions read in one batch but not yet handed out are not counted in
        the position, so a follower restarted after it misses none of them."""
        with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
            _write(repo, "job", 9, rate=0)
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            with statetrail.follow(server.url, "job") as following:
                assert following.position == -1
                first = following.get(timeout=30)
                assert first is not None
                assert following.position == 0
                assert following.lag.revisions == 9
            with statetrail.follow(server.url, "job", after=0) as following:
                assert following.position == 0
                assert [r.number for r in _collect(following, 9, 30)] == list(
                    range(1, 10)
                )

    def test_follow_async(self, server: RedisServer, tmp_path: Path) -> None:
        """follow_async yields the same revisions without blocking the loop."""
        import asyncio

        with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
            _write(repo, "job", 30, rate=0)
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)

            async def main() -> list[int]:
                ticks = 0

                async def tick() -> None:
                    nonlocal ticks
                    while True:
                        await asyncio.sleep(0.001)
                        ticks += 1

                ticker = asyncio.create_task(tick())
                numbers = []
                # Revision 31 is written a while after the follower has the rest:
                # the loop must keep running (the ticker ticking) while it waits.
                # (The first 31 may all be read ahead before the ticker runs.)
                late = threading.Timer(0.2, lambda: repo.store("job").set("late", 1))
                async for rev in statetrail.follow_async(server.url, "job"):
                    numbers.append(rev.number)
                    if rev.number == 30:
                        ticks = 0
                        late.start()
                    if rev.number == 31:
                        break
                ticker.cancel()
                assert ticks > 0
                return numbers

            assert asyncio.run(main()) == list(range(32))

    def test_follow_storage_without_redis(self, tmp_path: Path) -> None:
        """The same core follows an SQLite file written by another thread."""
        path = tmp_path / "h.sqlite"
        with statetrail.open(path) as repo:
            repo.store("job", {})
            writer = threading.Thread(target=_write, args=(repo, "job", 150, 2000))
            with statetrail.follow(path, "job") as following:
                writer.start()
                got = _collect(following, 150, deadline=60)
            writer.join()
            _check(got, repo, "job", 150)

    def test_follow_postgresql_through_its_change_feed(self, pg: PgSchema) -> None:
        """A follower of a PostgreSQL URL waits on its change feed (LISTEN/NOTIFY,
        which reconnects by itself: tests/storage/test_postgres_feed.py) and gets
        every revision written by another connection."""
        url = f"{pg.url}?schema={pg.name}"
        with statetrail.open(url) as repo:
            repo.store("job", {})
            with statetrail.follow(url, "job", interval=0.5) as following:
                first = following.get(timeout=30)
                assert first is not None
                assert first.number == 0
                _write(repo, "job", 40, rate=0)
                got = [first, *_collect(following, 40, deadline=60)]
            _check(got, repo, "job", 40)

    def test_following_a_file_reads_only_when_its_data_version_moves(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A follower of an SQLite file looks at its data version every interval
        and reads rows only after a commit moved it."""
        from statetrail.storage.sqlite import SQLiteBackend

        path = tmp_path / "h.sqlite"
        with statetrail.open(path) as repo:
            store = repo.store("job", {"n": 0})
            reads: list[int] = []
            original = SQLiteBackend.read

            def counted(self: SQLiteBackend, *args: Any, **kwargs: Any) -> list[Row]:
                if self is not repo.backend:
                    reads.append(1)
                return original(self, *args, **kwargs)

            monkeypatch.setattr(SQLiteBackend, "read", counted)
            with statetrail.follow(path, "job", interval=0.01) as following:
                assert _collect(following, 0, deadline=10)[-1].number == 0
                assert following.get(timeout=0.5) is None  # fifty looks
                idle = len(reads)
                assert idle <= 2
                store.set("n", 1)
                got = _collect(following, 1, deadline=10)
                assert [r.number for r in got] == [1]
                assert len(reads) <= idle + 2

    @pytest.mark.parametrize("where", ["redis", "sqlite", "postgresql"])
    def test_close_from_another_thread_ends_a_wait_at_once(
        self, where: str, server: RedisServer, tmp_path: Path, pg: PgSchema
    ) -> None:
        """A follower waiting for news (a long interval: a Redis read blocked for
        a second, a wait of five on storage) ends within a fraction of it when
        another thread closes it, as a web server closes the follower of a
        browser that left; it hands out nothing more."""
        path = tmp_path / "h.sqlite"
        url = f"{pg.url}?schema={pg.name}" if where == "postgresql" else str(path)
        with statetrail.open(url, publish=server.url) as repo:
            repo.store("job", {})
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            target = server.url if where == "redis" else url
            following = statetrail.follow(target, "job", interval=5)
            assert following.get(timeout=30) is not None
            ended: list[float] = []

            def wait() -> None:
                assert following.get() is None
                ended.append(time.monotonic())

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.3)
            closed_at = time.monotonic()
            following.close()
            waiter.join(timeout=10)
            assert ended, "the wait did not end"
            assert ended[0] - closed_at < 0.5
            repo.store("job").set("x", 1)
            assert following.get(timeout=0.5) is None
            with pytest.raises(StopIteration):
                next(following)

    def test_an_async_follower_cancelled_stops_its_thread(self, tmp_path: Path) -> None:
        """Cancelling the task of an ``async for`` over follow_async closes the
        follower and ends its thread at once; the loop's default executor is
        never held by a waiting follower."""
        import asyncio

        path = tmp_path / "h.sqlite"
        with statetrail.open(path) as repo:
            repo.store("job", {})

            async def main() -> tuple[list[int], float]:
                numbers: list[int] = []

                async def consume() -> None:
                    async for rev in statetrail.follow_async(path, "job", interval=5):
                        numbers.append(rev.number)

                task = asyncio.create_task(consume())
                while not numbers:
                    await asyncio.sleep(0.01)
                # Thirty waiting followers would fill the default executor.
                extra = [asyncio.create_task(consume()) for _ in range(30)]
                deadline = time.monotonic() + 30
                while len(numbers) < 31 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)  # all of them waiting for revision 1
                assert await asyncio.wait_for(asyncio.to_thread(lambda: 7), 5) == 7
                start = time.monotonic()
                for t in [task, *extra]:
                    t.cancel()
                await asyncio.gather(task, *extra, return_exceptions=True)
                return numbers, start

            numbers, start = asyncio.run(main())
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and any(
                t.name.startswith("statetrail-follow-") for t in threading.enumerate()
            ):
                time.sleep(0.01)
            assert numbers == [0] * 31
            left = [
                t.name
                for t in threading.enumerate()
                if t.name.startswith("statetrail-follow-")
            ]
            assert left == []
            assert time.monotonic() - start < 1.5

    def test_mirror_stays_current(self, server: RedisServer, tmp_path: Path) -> None:
        """A mirror shows the newest state, delivers path events and reports lag."""
        with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
            store = repo.store("job", {"bins": 1, "user": {"name": "a"}})
            with statetrail.mirror(server.url, "job") as copy:
                events: list[dict[str, Any]] = []
                copy.subscribe(events.append, path="user")
                store.set("bins", 2)
                store.set("user.name", "ada")
                assert copy.wait_for(2, timeout=30)
                assert copy.get("user.name") == "ada"
                assert copy.get_state() == {"bins": 2, "user": {"name": "ada"}}
                assert [e["new_value"] for e in events] == ["ada"]
                assert copy.lag.revisions == 0
                assert copy.revision is not None
                assert copy.revision.number == 2

    def test_credentials_are_never_printed(self, tmp_path: Path) -> None:
        """A password in the URL does not appear in errors, logs or reprs."""
        from tests.live.redis_server import redis_server

        folder = tmp_path / "r"
        folder.mkdir()
        for server in redis_server(folder, password="s3cret-pw"):
            with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
                assert repo.publisher is not None
                assert "s3cret-pw" not in repo.publisher.url
                following = statetrail.follow(server.url, "nothing")
                assert "s3cret-pw" not in repr(following)
                following.close()
            wrong = server.url.replace("s3cret-pw", "wrong-pw")
            with pytest.raises(SyncError, match="AuthenticationError") as info:
                next(iter(statetrail.follow(wrong, "job")))
            assert "wrong-pw" not in str(info.value)


#: A follower process: it applies each revision by appending a line to its log
#: (number, and the size of the value), and after a restart (kill -9 included)
#: resumes after the last whole line, dropping a line cut by the kill: the
#: idempotent apply that makes at-least-once delivery exactly-once.
_FOLLOWER = """
import os, sys
import statetrail
from statetrail.live._follow import Following
log, url, last, broken = sys.argv[1:5]
if broken == "1":
    from tests.live.test_follow import _broken_resume
    Following._read_stream = _broken_resume
after = None
if os.path.exists(log):
    with open(log, "rb+") as f:
        whole = f.read()
        whole = whole[: whole.rfind(b"\\n") + 1]  # a line cut by the kill goes
        f.truncate(len(whole))
    if whole:
        after = int(whole.splitlines()[-1].split()[0])
with statetrail.follow(url, "job", after=after) as following:
    with open(log, "a") as out:
        print("ready", flush=True)
        for rev in following:
            out.write(f"{rev.number} {len(rev.value)}\\n")
            out.flush()
            if rev.number >= int(last):
                break
"""


def _follower_process(
    log: Path, url: str, last: int, broken: bool
) -> subprocess.Popen[str]:
    """A follower in a process of its own, following once this returns."""
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _FOLLOWER, str(log), url, str(last), str(int(broken))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def _applied(log: Path) -> list[tuple[int, int]]:
    """The (number, value size) lines a follower process applied."""
    if not log.exists():
        return []
    text = log.read_text()
    return [(int(a), int(b)) for a, b in (ln.split() for ln in text.splitlines())]


def _follow_through_kills(
    server: RedisServer,
    repo: statetrail.Repository,
    log: Path,
    total: int,
    outages: int,
    patience: float,
    broken: bool,
) -> None:
    """Follow up to revision ``total`` in a process that is killed (kill -9) and
    started again twice, while Redis is restarted ``outages`` times as the
    writer goes on."""
    every = total // (outages + 1)
    restarts = kills = 0
    child = _follower_process(log, server.url, total, broken)
    try:
        end = time.monotonic() + patience
        while time.monotonic() < end and child.poll() is None:
            if (
                restarts < outages
                and repo.backend.latest("job") >= (restarts + 1) * every
            ):
                server.stop()
                time.sleep(0.2)
                server.start()
                restarts += 1
            if kills < 2 and len(_applied(log)) >= (kills + 1) * total // 3:
                _end(child)  # kill -9, wherever it is
                kills += 1
                child = _follower_process(log, server.url, total, broken)
            time.sleep(0.005)
        assert (restarts, kills) == (outages, 2) or broken, (restarts, kills)
    finally:
        _end(child)


def _end(child: subprocess.Popen[str]) -> None:
    """Kill ``child`` with SIGKILL (if it still runs) and reap it."""
    if child.poll() is None:
        child.kill()
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


def _broken_resume(following: Following) -> None:
    """A follower that reads only what arrives from now on after a reconnect, as
    pub/sub delivers: no history."""
    reply = following._client.xread({following._key: "$"}, count=500, block=200)
    for _key, entries in reply or ():
        for eid, fields in entries:
            following._entry(eid, fields)


class TestOutages:
    @pytest.mark.parametrize("broken", [False, True], ids=["streams", "broken-pubsub"])
    def test_redis_and_follower_restarts_lose_and_repeat_nothing(
        self, server: RedisServer, tmp_path: Path, broken: bool
    ) -> None:
        """Revisions written at about 1,000/s while Redis is stopped and restarted
        5 times and the follower's process is killed (kill -9) and started again
        twice: 0 missing, 0 applied twice, in order, each with its value."""
        # Each outage lasts about 0.25 s: at 1,000/s, 2,000 revisions leave
        # room for 5 of them while the writer writes.
        total = scaled(600 if broken else 2000) // 2 * 2
        outages = 5
        path = tmp_path / "h.sqlite"
        log = tmp_path / "applied.log"
        with statetrail.open(path, publish=server.url) as repo:
            repo.store("job", {})
            writer = threading.Thread(
                target=_write, args=(repo, "job", total, 1000), daemon=True
            )
            writer.start()
            try:
                patience = 8 if broken else 120
                _follow_through_kills(
                    server, repo, log, total, outages, patience, broken
                )
            finally:
                writer.join()
            applied = _applied(log)
            numbers = [n for n, _ in applied]
            if broken:
                assert numbers != list(range(total + 1))
                return
            assert numbers == list(range(total + 1)), (
                f"missing {sorted(set(range(total + 1)) - set(numbers))[:5]}, "
                f"{len(numbers) - len(set(numbers))} twice"
            )
            for number, size in applied[:: max(1, total // 20)]:
                assert size == len(repo.value_at("job", number))

    @pytest.mark.parametrize("broken", [False, True], ids=["history", "broken-memory"])
    def test_a_publisher_killed_mid_stream(
        self,
        server: RedisServer,
        tmp_path: Path,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Revisions committed but not yet published when the publishing process
        dies (kill -9) are published by the next publisher of the history."""
        import multiprocessing

        path = tmp_path / "h.sqlite"
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_publish_forever, args=(str(path), server.url))
        proc.start()
        client = server.client()
        key = _stream.stream_key("job")
        deadline = time.monotonic() + 60
        while client.xlen(key) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        # Stop Redis, so that what is committed from now on is not published...
        server.stop()
        time.sleep(0.3)
        proc.kill()  # ...then kill -9 the writer
        proc.join()
        server.start()
        with statetrail.open(path) as check:
            committed = check.backend.latest("job")
        if broken:
            # A publisher whose outbox is in memory: it publishes only what is
            # committed after it starts.
            original = _publisher.Publisher._publish

            def from_now(self: _publisher.Publisher, name: str) -> None:
                published = self._published
                if name not in published:
                    published[name] = self._backend.latest(name)
                original(self, name)

            monkeypatch.setattr(_publisher.Publisher, "_publish", from_now)
        with statetrail.open(path, publish=server.url) as repo:
            repo.store("job")
            assert repo.publisher is not None
            repo.publisher.wait(timeout=30)
            with statetrail.follow(server.url, "job") as following:
                got = _collect(following, committed, deadline=10 if broken else 60)
            if broken:
                with pytest.raises(AssertionError, match="missing"):
                    _check(got, repo, "job", committed)
                return
            _check(got, repo, "job", committed)
        assert committed > 50

    @pytest.mark.parametrize(
        "broken", [False, True], ids=["data-version", "broken-still-version"]
    )
    def test_writes_made_elsewhere_are_published_when_the_data_version_moves(
        self,
        server: RedisServer,
        tmp_path: Path,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A publisher that is told of no write (they are made through another
        connection to the file, as another process makes them) publishes them
        once the file's data version moves, and reads nothing while it stays."""
        from statetrail.storage.sqlite import SQLiteBackend

        if broken:  # a signal that never moves
            monkeypatch.setattr(SQLiteBackend, "data_version", lambda self: 1)
        path = tmp_path / "h.sqlite"
        with statetrail.open(path, publish=server.url) as publishing:
            publishing.store("job", {"n": 0})
            assert publishing.publisher is not None
            assert publishing.publisher.wait(timeout=30)
            reads: list[int] = []
            backend = publishing.backend
            original = SQLiteBackend.read

            def counted(self: SQLiteBackend, *args: Any, **kwargs: Any) -> list[Row]:
                if self is backend:
                    reads.append(1)
                return original(self, *args, **kwargs)

            monkeypatch.setattr(SQLiteBackend, "read", counted)
            time.sleep(0.5)  # five looks of the publisher, at a still version
            assert reads == []
            with statetrail.open(path) as elsewhere:
                store = elsewhere.store("job")
                for i in range(1, 31):
                    store.set("n", i)
            with statetrail.follow(server.url, "job") as following:
                got = _collect(following, 30, deadline=3 if broken else 30)
        if broken:
            assert [r.number for r in got] == [0]
            return
        _check(got, statetrail.open(path), "job", 30)

    @pytest.mark.parametrize("broken", [False, True], ids=["notify", "broken-deaf"])
    def test_a_postgresql_publisher_is_woken_by_notify_and_reads_nothing_else(
        self,
        server: RedisServer,
        pg: PgSchema,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Writes through another connection (as another process makes them)
        are published when their NOTIFY arrives: the publisher reads no newest
        numbers and no data version while nothing is written, and then only the
        rows after those published."""
        from statetrail.storage.postgres import PostgresBackend

        if broken:  # a publisher that does not listen to the change feed
            monkeypatch.setattr(_publisher.Publisher, "_watch", lambda *a: None)
        url = f"{pg.url}?schema={pg.name}"
        with statetrail.open(url, publish=server.url) as publishing:
            publishing.store("job", {"n": 0})
            assert publishing.publisher is not None
            assert publishing.publisher.wait(timeout=30)
            backend = publishing.backend
            looks: list[str] = []
            for method in ("latest", "timelines", "data_version", "read"):
                original = getattr(PostgresBackend, method)

                def counted(
                    self: Any,
                    *args: Any,
                    _o: Any = original,
                    _m: str = method,
                    **kwargs: Any,
                ) -> Any:
                    if self is backend:
                        looks.append(_m)
                    return _o(self, *args, **kwargs)

                monkeypatch.setattr(PostgresBackend, method, counted)
            time.sleep(1.5)  # what a poller would have looked at
            assert looks == []
            with statetrail.open(url) as elsewhere:
                store = elsewhere.store("job")
                for i in range(1, 6):
                    store.set("n", i)
            client = server.client()
            key = _stream.stream_key("job")
            deadline = time.monotonic() + (3 if broken else 30)
            while len(client.xrange(key)) < 6 and time.monotonic() < deadline:
                time.sleep(0.02)
            numbers = [_stream.number_of(e) for e, _ in client.xrange(key)]
            if broken:
                assert numbers == [0]
                return
            assert numbers == list(range(6))
            assert set(looks) == {"read"}, looks

    @pytest.mark.parametrize("broken", [False, True], ids=["ids", "broken-auto-ids"])
    def test_two_publishers_of_one_history(
        self,
        server: RedisServer,
        tmp_path: Path,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Two processes writing one SQLite file, each publishing: the stream holds
        each revision once, in number order."""
        import multiprocessing

        if broken:
            monkeypatch.setattr(_stream, "entry_id", lambda number: "*")
        path = tmp_path / "h.sqlite"
        with statetrail.open(path) as repo:
            repo.store("job", {})
        ctx = multiprocessing.get_context("spawn")
        count = scaled(100)
        procs = [
            ctx.Process(
                target=_write_and_publish,
                args=(str(path), server.url, count, w, broken),
            )
            for w in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
        entries = server.client().xrange(_stream.stream_key("job"))
        numbers = [json.loads(fields[b"row"])["number"] for _eid, fields in entries]
        each_once_in_order = numbers == list(range(2 * count + 1))
        assert each_once_in_order is not broken


def _hostile_entry(row: Row, hostile: dict[str, Any]) -> dict[str, Any]:
    """``row``'s entry with ``hostile``'s keys in its row (``format`` and a
    ``row`` of text replace the fields themselves)."""
    fields = _stream.encode_entry(row)
    data = json.loads(fields["row"])
    for key, value in hostile.items():
        if key == "format" or (key == "row" and isinstance(value, str)):
            fields[key] = value
        else:
            data[key] = value
    if "row" not in hostile:
        fields["row"] = json.dumps(data).encode()
    return fields


def _naive_decode(
    eid: bytes, fields: dict[bytes, bytes], number: int | None = None
) -> Row:
    """The broken decoder: it takes the row as it comes, checking nothing."""
    try:
        data = json.loads(fields[b"row"])
    except ValueError:
        data = {}
    parents = data.get("parents") or []
    return Row(
        timeline=data.get("timeline", ""),
        number=int(eid.decode().partition("-")[0]),
        parent=parents[0] if isinstance(parents, list) and parents else None,
        branch=data.get("branch", ""),
        time_ns=data.get("time_ns", 0),
        kind=data.get("kind", ""),
        target=None,
        label=data.get("label"),
        author=data.get("author"),
        comment=data.get("comment"),
        extra=data.get("extra"),
        origin=data.get("origin"),
        payload=data.get("payload"),
        paths=tuple(data.get("paths") or ()),
        digest=data.get("digest", ""),
        chain=data.get("chain", ""),
    )


def _publish_forever(path: str, url: str) -> None:
    repo = statetrail.open(path, publish=url, durability="normal")
    store = repo.store("job", {})
    i = 0
    while True:
        store.set(f"k{i}", i)
        i += 1
        time.sleep(0.002)


def _write_and_publish(
    path: str, url: str, count: int, seed: int, broken: bool
) -> None:
    if broken:
        _stream.entry_id = lambda number: "*"  # type: ignore[assignment]
        _publisher.entry_id = _stream.entry_id  # type: ignore[attr-defined]
        # Its ids say no number: a publisher starts from the history's start.
        _publisher.number_of = lambda entry: -1  # type: ignore[attr-defined]
    with statetrail.open(path, publish=url) as repo:
        store = repo.store("job")
        rng = random.Random(seed)
        for _ in range(count):
            store.set(f"w{seed}.{rng.randrange(10**9)}", seed)


class TestBehindAndHostile:
    def test_a_follower_beyond_the_stream_backfills_or_says_where_to_restart(
        self, server: RedisServer, tmp_path: Path
    ) -> None:
        """A stream bounded to about 50 entries: a follower from the start reads
        the rest from the source, or, without one, is told to restart."""
        path = tmp_path / "h.sqlite"
        with statetrail.open(path, publish=server.url + "?maxlen=50") as repo:
            _write(repo, "job", 400, rate=0)
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            assert server.client().xlen(_stream.stream_key("job")) < 400
            with statetrail.follow(server.url, "job", source=path) as following:
                got = _collect(following, 400, deadline=60)
            _check(got, repo, "job", 400)
            following = statetrail.follow(server.url, "job")
            with pytest.raises(
                SyncError,
                match=r"revisions 0\.\.\d+ of 'job' are no longer in the stream"
                r".*source=.*restart after",
            ):
                next(following)
            following.close()

    @pytest.mark.parametrize(
        "broken", [False, True], ids=["backfilled", "broken-skips-ahead"]
    )
    def test_a_slow_follower_holds_nobody_back(
        self,
        server: RedisServer,
        tmp_path: Path,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Three followers of one stream bounded to about 100 entries, one taking
        20 ms per revision: the two fast ones get everything in less than half
        its time, and the slow one still gets every revision once, in order
        (what the stream no longer holds is read from the source; the test
        above covers a follower that starts behind the stream)."""
        if broken:
            # A follower that skips what it missed, as pub/sub drops messages
            # for a subscriber that cannot keep up.
            def skip(self: Following, first: int, last: int, why: str) -> None:
                self._applier.next = last + 1

            monkeypatch.setattr(Following, "_backfill", skip)
        path = tmp_path / "h.sqlite"
        count = 300
        finished: dict[str, float] = {}
        got: dict[str, list[int]] = {}
        # The slow one waits after its first revision until the fast ones have
        # everything: it is then behind by more than the stream holds, however
        # slowly a loaded machine writes (else it could keep up, and the broken
        # variant pass).
        caught_up = threading.Event()

        def follower(name: str, pause: float) -> None:
            numbers: list[int] = []
            with statetrail.follow(server.url, "job", source=path) as following:
                while len(numbers) <= count:
                    rev = following.get(timeout=60)
                    if rev is None:
                        break
                    numbers.append(rev.number)
                    if rev.number >= count:
                        break
                    if pause and len(numbers) == 1:
                        caught_up.wait(timeout=60)
                    time.sleep(pause)
            got[name] = numbers
            finished[name] = time.monotonic()

        with statetrail.open(path, publish=server.url + "?maxlen=100") as repo:
            repo.store("job", {})
            threads = [
                threading.Thread(target=follower, args=(name, pause))
                for name, pause in (("fast1", 0.0), ("fast2", 0.0), ("slow", 0.02))
            ]
            for t in threads:
                t.start()
            start = time.monotonic()
            _write(repo, "job", count, rate=0)
            for t in threads[:2]:
                t.join(timeout=120)
            caught_up.set()
            threads[2].join(timeout=120)
        assert all(got[n] == list(range(count + 1)) for n in ("fast1", "fast2"))
        if broken:
            assert got["slow"] != list(range(count + 1))
            return
        assert got["slow"] == list(range(count + 1))
        assert server.client().xlen(_stream.stream_key("job")) < count
        slow_took = finished["slow"] - start
        assert max(finished["fast1"], finished["fast2"]) - start < slow_took / 2

    @pytest.mark.parametrize("broken", [False, True], ids=["xdel", "broken-kept"])
    def test_an_erasure_strips_the_published_entry(
        self,
        server: RedisServer,
        tmp_path: Path,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A revision erased after it was published leaves the stream: Redis no
        longer holds its value. A follower with a source reads its tombstone
        there and goes on; one without is told where to restart."""
        if broken:  # a publisher that never hears of erasures
            monkeypatch.setattr(_publisher.Publisher, "erased", lambda *args: None)
        path = tmp_path / "h.sqlite"
        secret = "jane.doe@example.org"
        with statetrail.open(path, publish=server.url) as repo:
            store = repo.store("job", {"email": None, "n": 0})
            store.set("email", secret)
            for i in range(1, 6):
                store.set("n", i)
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            client = server.client()
            key = _stream.stream_key("job")
            assert any(secret.encode() in f[b"row"] for _, f in client.xrange(key))
            store.timeline.erase(1, reason="erasure request", author="dpo")
            assert repo.publisher.wait(timeout=30)
            entries = client.xrange(key)
            held = [e for e, f in entries if secret.encode() in f[b"row"]]
            if broken:
                assert held == [b"1-1"]
                return
            assert held == []
            assert [_stream.number_of(e) for e, _ in entries] == [0, 2, 3, 4, 5, 6]
            with statetrail.follow(server.url, "job", source=path) as following:
                got = _collect(following, 6, deadline=30)
            assert [r.number for r in got] == list(range(7))
            assert isinstance(got[1].value, statetrail.Erased)
            assert [r.value["n"] for r in got[2:]] == [1, 2, 3, 4, 5]
            with (
                statetrail.follow(server.url, "job") as following,
                pytest.raises(SyncError, match=r"revisions 1\.\.1 of 'job'"),
            ):
                _collect(following, 6, deadline=30)

    @pytest.mark.parametrize(
        ("hostile", "why"),
        [
            ({"number": "two"}, "its number says 'two'"),
            ({"format": "9"}, "unknown format"),
            ({"row": "[1, 2"}, "not JSON"),
            ({"parents": [99]}, "parents"),
            ({"parents": "[0]"}, "parents"),
            ({"time_ns": "now"}, "time_ns is text"),
            ({"branch": None}, "branch is null"),
            ({"digest": 7}, "digest is an integer"),
            ({"author": "mallory"}, "digest"),
            ({"bogus": "1"}, "unknown keys"),
            ({"paths": None}, "paths are not a list"),
            ({"chain": None, "digest": None}, "is null"),
            ({"payload": '{"patch":[["=",["x"],{"$t":"nope","v":1}]]}'}, "digest"),
        ],
    )
    @pytest.mark.parametrize(
        "broken", [False, True], ids=["checked", "broken-unchecked"]
    )
    def test_hostile_entries_are_refused_never_applied(
        self,
        server: RedisServer,
        tmp_path: Path,
        hostile: dict[str, Any],
        why: str,
        broken: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An entry written by hand with a wrong type, a missing or unknown field,
        an unknown codec tag or a forged value is refused with SyncError and never
        applied; with a source, the true revision is read from it instead."""
        if broken:
            monkeypatch.setattr(_core, "row_check", lambda row, prev, parent: (2, None))
            monkeypatch.setattr(_follow, "decode_entry", _naive_decode)
        path = tmp_path / "h.sqlite"
        with statetrail.open(path, publish=server.url) as repo:
            store = repo.store("job", {"x": 0})
            assert repo.publisher is not None
            assert repo.publisher.wait(timeout=30)
            # The true revision 1 is stored, but a hostile one takes its place in
            # the stream (the publisher is closed first, so it cannot add the
            # true one).
            repo.publisher.close()
            repo._publisher = None
            store.set("x", 1)
            row = repo.backend.row("job", 1)
            assert row is not None
            fields = _hostile_entry(row, hostile)
            server.client().xadd(_stream.stream_key("job"), fields, id="1-1")
            got: list[Revision] = []
            failure: BaseException | None = None
            try:
                with statetrail.follow(server.url, "job") as following:
                    got = _collect(following, 1, deadline=5)
            except Exception as exc:
                failure = exc
            applied = [r for r in got if r.number == 1]
            refused = isinstance(failure, SyncError) and why in str(failure)
            if broken:
                # The check under test is off: the entry is applied, or refused
                # later for another reason (the codec, a value not known here).
                assert not (refused and not applied)
                return
            assert refused, failure
            assert applied == []
            with statetrail.follow(server.url, "job", source=path) as following:
                got = _collect(following, 1, deadline=30)
            assert [(r.number, r.value["x"]) for r in got] == [(0, 0), (1, 1)]


def test_handed_rows_are_used_only_where_they_follow_the_published() -> None:
    """The publisher adds handed rows only from the number after the last one
    published, without a gap; behind a gap it reads the history instead."""
    from statetrail.storage._publisher import PAGE, _following

    def rows(*numbers: int) -> list[Row]:
        fields = dict.fromkeys(Row._fields)
        return [
            Row(**{**fields, "timeline": "t", "number": n, "paths": ()})
            for n in numbers
        ]

    def numbers(pair: tuple[list[Row], list[Row]]) -> tuple[list[int], list[int]]:
        return [r.number for r in pair[0]], [r.number for r in pair[1]]

    assert numbers(_following(rows(4, 5, 6), 3)) == ([4, 5, 6], [])
    assert numbers(_following(rows(2, 3, 4, 5), 3)) == ([4, 5], [])  # published
    assert numbers(_following(rows(5, 6), 3)) == ([], [])  # 4 is not handed
    assert numbers(_following(rows(4, 5, 7, 8), 3)) == ([4, 5], [7, 8])
    assert numbers(_following([], 3)) == ([], [])
    many = rows(*range(1, PAGE + 3))
    assert numbers(_following(many, 0)) == (
        list(range(1, PAGE + 1)),
        [PAGE + 1, PAGE + 2],
    )


@pytest.mark.parametrize("durability", ["full", "batched"])
def test_the_commit_hook_is_told_of_durable_rows_and_cannot_lose_them(
    tmp_path: Path,
    durability: Literal["full", "batched"],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLite's commit hook gets each committed row once, in commit order, after
    the commit (batched: at the group commit, not when queued); a hook that
    raises is logged, and the write stands."""
    from statetrail.storage.sqlite import SQLiteBackend

    told: list[tuple[set[str], list[int], int]] = []
    with statetrail.open(tmp_path / "h.sqlite", durability=durability) as repo:
        backend = repo.backend
        assert isinstance(backend, SQLiteBackend)
        store = repo.store("job", {"n": 0})
        repo.flush()

        def hook(names: set[str], rows: Any) -> None:
            told.append((names, [r.number for r in rows], backend.latest("job")))

        backend.on_commit(hook)
        for i in range(1, 6):
            store.set("n", i)
        repo.flush()
        assert [n for _, rows, _ in told for n in rows] == [1, 2, 3, 4, 5]
        # Each told after its rows were stored (readable by another connection).
        assert all(names == {"job"} for names, _, _ in told)
        assert all(latest >= rows[-1] for _, rows, latest in told), told

        def failing(names: set[str], rows: Any) -> None:
            raise RuntimeError("the hook broke")

        backend.on_commit(failing)
        store.set("n", 6)
        repo.flush()
        backend.on_commit(None)
        store.set("n", 7)
        repo.flush()
        assert [r.number for r in backend.read("job", after=5)] == [6, 7]
    assert "the commit hook" in caplog.text
