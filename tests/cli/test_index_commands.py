"""The commands that read the path and time indexes (issue 11): ``log --path``,
``blame``, ``log --since/--until`` and ``show NAME@TIME``, on every file
backend, with branches and escaped keys."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta

import pytest

import statetrail
from statetrail.cli import main
from statetrail.revision import time_ns_of
from statetrail.storage._reader import StoredTimeline


@pytest.fixture(params=["h.json", "h.db"])
def history(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> pathlib.Path:
    """``s``: revisions 0..6 with a branch (``idea``, from 2) and a key with a
    slash; every revision's time is kept beside the file."""
    path = tmp_path / request.param
    with statetrail.open(path) as repo:
        store = repo.store("s", {"a": {"b": 0, "c": 0}, "x/y": 0, "ab": 0})
        store.set("a.b", 1)  # 1
        store.set("a.c", 2)  # 2
        store.set("ab", 3)  # 3
        store.timeline.checkout(2)
        store.timeline.branch("idea")
        store.set("a.b", 40)  # 4, on idea
        store.timeline.switch("main")
        store.set("x/y", 5)  # 5
        store.set("a", {"b": 6})  # 6: replaces a.b and a.c
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _numbers(out: str) -> list[int]:
    return [int(line.split("\t", 1)[0]) for line in out.splitlines() if line]


def _times(path: pathlib.Path) -> list[datetime]:
    with statetrail.open(path) as repo:
        timeline = repo.timeline("s")
        return [timeline.revision(n).timestamp for n in range(7)]


class TestPath:
    def test_log_path_follows_the_line_and_its_ancestors(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """log --path lists the revisions of the cursor's line (or a branch's)
        that changed the path, under it or above it, newest first."""
        status, out, _ = run(capsys, "log", str(history), "s", "--path", "a.b")
        assert status == 0
        assert _numbers(out) == [6, 1, 0]
        _, out, _ = run(capsys, "log", str(history), "s", "--path", "a")
        assert _numbers(out) == [6, 2, 1, 0]
        _, out, _ = run(
            capsys, "log", str(history), "s", "--path", "a.b", "--branch", "idea"
        )
        assert _numbers(out) == [4, 1, 0]
        _, out, _ = run(capsys, "log", str(history), "s", "--path", "ab")
        assert _numbers(out) == [3, 0]  # not "a", "a.b": a prefix of text only
        _, out, _ = run(
            capsys, "log", str(history), "s", "--path", "a.b", "--limit", "1"
        )
        assert _numbers(out) == [6]

    def test_blame_from_the_index(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """blame names the newest revision on the line that changed the path."""
        status, out, _ = run(capsys, "blame", str(history), "s", "a.c")
        assert status == 0
        assert "revision 6 on main" in out
        _, out, _ = run(capsys, "blame", str(history), "s", "ab")
        assert "revision 3 on main" in out
        _, out, _ = run(capsys, "blame", str(history), "s", "a.b", "--branch", "idea")
        assert "revision 4 on idea" in out
        status, _, err = run(capsys, "blame", str(history), "s", "nothing")
        assert status != 0
        assert "no path" in err

    def test_a_key_with_a_slash(self, history: pathlib.Path) -> None:
        """The reader finds a key holding "/" by its escaped pointer."""
        with statetrail.open(history) as repo:
            stored = StoredTimeline(repo.backend, "s")
            rows = stored.touching("/x~1y", stored.heads.cursor)
            assert [r.number for r in rows] == [5, 0]


class TestTime:
    def test_since_and_until(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """log --since/--until keep the revisions of the line recorded in the
        window (since inclusive, until exclusive), to the nanosecond."""
        times = _times(history)
        with statetrail.open(history) as repo:
            timeline = repo.timeline("s")
            ns = [timeline.revision(n).time_ns for n in range(7)]
        line = [6, 5, 3, 2, 1, 0]  # 4 is on the branch
        since_ns = time_ns_of(times[2])
        until_ns = time_ns_of(times[5]) + 1000
        since = times[2].isoformat()
        until = (times[5] + timedelta(microseconds=1)).isoformat()
        _, out, _ = run(capsys, "log", str(history), "s", "--since", since)
        assert _numbers(out) == [n for n in line if ns[n] >= since_ns]
        _, out, _ = run(capsys, "log", str(history), "s", "--until", until)
        assert _numbers(out) == [n for n in line if ns[n] < until_ns]
        _, out, _ = run(
            capsys, "log", str(history), "s", "--since", since, "--until", until
        )
        assert _numbers(out) == [n for n in line if since_ns <= ns[n] < until_ns]
        assert 2 in _numbers(out)
        assert 5 in _numbers(out)
        early = (times[0] - timedelta(days=1)).isoformat()
        _, out, _ = run(capsys, "log", str(history), "s", "--until", early)
        assert out == ""

    def test_show_at_a_time(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show NAME@TIME: the revision recorded last at or before the time,
        with Z or an offset."""
        times = _times(history)
        later = (times[6] + timedelta(days=1)).astimezone(UTC)
        spec = later.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        status, out, _ = run(capsys, "show", str(history), f"s@{spec}")
        assert status == 0
        assert out.startswith("s@6 ")
        east = times[3].astimezone(datetime.now(UTC).astimezone().tzinfo)
        _, out, _ = run(capsys, "show", str(history), f"s@{east.isoformat()}")
        assert out.split()[0] in {"s@3", "s@4", "s@5", "s@6"}
        status, _, err = run(capsys, "show", str(history), "s@2000-01-01T00:00Z")
        assert status != 0
        assert "at or before" in err
