"""The live stream through a real socket: each revision once, in order, across
a reconnect; the follower closed when the client goes; heartbeats."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

import statetrail
from statetrail.cli.inspect import opened
from statetrail.web import create_app
from tests.storage.pg import PgSchema
from tests.web.conftest import record
from tests.web.server import Served, serve


def events(response: httpx.Response) -> Iterator[tuple[str, str, Any]]:
    """``(id, event, data)`` of each event of a stream; comments are skipped."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                data = orjson.loads(fields["data"])
                yield fields.get("id", ""), fields.get("event", "message"), data
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def take(response: httpx.Response, count: int) -> list[tuple[str, str, Any]]:
    got = []
    for event in events(response):
        got.append(event)
        if len(got) == count:
            break
    return got


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("statetrail-events")]


def wait_for(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture(params=["sqlite", "postgres"])
def history(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A recorded history of the test's own, to write more into."""
    if request.param == "sqlite":
        target = str(tmp_path / "h.db")
    else:
        pg: PgSchema = request.getfixturevalue("pg")
        target = f"{pg.url}?schema={pg.name}"
    record(target)
    return target


@pytest.fixture
def live(history: str) -> Iterator[Served]:
    with opened(history) as repo, serve(create_app(repo, interval=0.02)) as served:
        yield served


def write(target: str, values: range, pause: float = 0.0) -> None:
    """Set job's bins to each of ``values``, one revision each."""
    with statetrail.open(target) as repo:
        store = repo.store("job")
        with statetrail.context(author="writer"):
            for value in values:
                store.set("bins", value)
                if pause:
                    time.sleep(pause)


class TestStream:
    def test_order_and_no_loss_across_a_reconnect(
        self, live: Served, history: str
    ) -> None:
        """A client that goes away after five revisions and comes back with
        Last-Event-ID gets each of the twenty revisions once, in order, while
        a writer keeps writing."""
        url = live.url + "api/timelines/job/events"
        writer = threading.Thread(target=write, args=(history, range(20), 0.01))
        with httpx.Client(timeout=10) as client:
            with client.stream("GET", url) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                writer.start()
                first = take(response, 5)
            last = first[-1][0]
            with client.stream("GET", url, headers={"Last-Event-ID": last}) as response:
                rest = take(response, 15)
        writer.join()
        got = first + rest
        assert [int(i) for i, _, _ in got] == list(range(5, 25))
        assert {kind for _, kind, _ in got} == {"revision"}
        for number, _, data in got:
            assert data["number"] == int(number)
            assert data["timeline"] == "job"
            assert data["author"] == "writer"
            assert "value" not in data
        assert [d["changes"][0]["value"] for _, _, d in got] == list(range(20))

    def test_after_parameter(self, live: Served, history: str) -> None:
        """``?after=N`` starts with N+1, from what is stored already."""
        url = live.url + "api/timelines/job/events?after=1"
        with httpx.Client(timeout=10) as client, client.stream("GET", url) as response:
            got = take(response, 3)
        assert [int(i) for i, _, _ in got] == [2, 3, 4]

    def test_last_event_id_wins_over_after(self, live: Served) -> None:
        """A reconnecting EventSource keeps its URL's ``after``: the header,
        which says what it has seen, counts."""
        url = live.url + "api/timelines/job/events?after=0"
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", url, headers={"Last-Event-ID": "2"}) as response,
        ):
            got = take(response, 2)
        assert [int(i) for i, _, _ in got] == [3, 4]

    def test_bad_last_event_id(self, live: Served) -> None:
        """A Last-Event-ID that is not a revision number is 400."""
        url = live.url + "api/timelines/job/events"
        with httpx.Client(timeout=10) as client:
            response = client.get(url, headers={"Last-Event-ID": "x1"})
        assert response.status_code == 400
        assert "Last-Event-ID" in response.json()["error"]


class TestClosing:
    def test_the_follower_ends_with_its_client(self, live: Served) -> None:
        """When a client goes away, its follower is closed and its thread ends."""
        api = live.app.state.api
        url = live.url + "api/timelines/job/events"
        with httpx.Client(timeout=10) as client:
            for _ in range(3):
                with client.stream("GET", url) as response:
                    # Kept while the stream is looked at: dropping the iterator
                    # closes the connection.
                    lines = response.iter_lines()
                    assert next(lines).startswith(": ")  # the opening comment
                    assert len(api.streams) == 1
                    assert len(stream_threads()) >= 1
                    del lines
        assert wait_for(lambda: not api.streams), api.streams
        assert wait_for(lambda: not stream_threads()), stream_threads()

    def test_many_clients_at_once(self, live: Served, history: str) -> None:
        """Eight clients each get every revision; all their threads end."""
        url = live.url + "api/timelines/job/events"
        results: list[list[int]] = []

        def client() -> None:
            with httpx.Client(timeout=10) as http, http.stream("GET", url) as r:
                results.append([int(i) for i, _, _ in take(r, 5)])

        clients = [threading.Thread(target=client) for _ in range(8)]
        for thread in clients:
            thread.start()
        assert wait_for(lambda: len(live.app.state.api.streams) == 8)
        write(history, range(5))
        for thread in clients:
            thread.join(10)
        assert results == [[5, 6, 7, 8, 9]] * 8
        assert wait_for(lambda: not stream_threads()), stream_threads()


class TestHeartbeat:
    def test_a_quiet_stream_gets_comments(self, sqlite_target: str) -> None:
        """Silence is broken by a comment line every ``heartbeat`` seconds."""
        with (
            opened(sqlite_target) as repo,
            serve(create_app(repo, heartbeat=0.05)) as served,
            httpx.Client(timeout=10) as client,
            client.stream("GET", served.url + "api/timelines/job/events") as r,
        ):
            lines = r.iter_lines()
            seen = [next(lines) for _ in range(6)]
        assert seen.count(": heartbeat") >= 2
