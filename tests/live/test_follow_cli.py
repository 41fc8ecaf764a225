"""``statetrail follow``: revisions printed as they are committed, as whole
processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import statetrail
from tests.live.redis_server import RedisServer, redis_server


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statetrail", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_follow_a_stream_as_json_lines(server: RedisServer, tmp_path: Path) -> None:
    """--json prints one revision object per line, in the revision schema."""
    with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
        store = repo.store("job", {"bins": 10})
        store.set("bins", 12, author="ada", comment="more")
        assert repo.publisher is not None
        assert repo.publisher.wait(timeout=30)
    done = _run("follow", server.url, "job", "--json", "--count", "2")
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["number"] for d in docs] == [0, 1]
    assert docs[1]["parents"] == [0]
    assert docs[1]["author"] == "ada"
    assert docs[1]["changes"] == [{"op": "replace", "path": "/bins", "value": 12}]
    assert docs[1]["time"].endswith("Z")


def test_follow_a_file_after_a_revision(tmp_path: Path) -> None:
    """Plain lines from the history itself, starting after --after."""
    path = tmp_path / "h.sqlite"
    with statetrail.open(path) as repo:
        store = repo.store("job", {"bins": 10})
        for n in range(3):
            store.set("bins", n, comment=f"set {n}")
    done = _run("follow", str(path), "job", "--after", "1", "--count", "2")
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert [(f[0], f[4], f[5]) for f in lines] == [
        ("2", "set 1", "bins"),
        ("3", "set 2", "bins"),
    ]


def test_a_refused_password_is_one_line_without_it(tmp_path: Path) -> None:
    """Exit status 2 and one line, which does not print the password."""
    folder = tmp_path / "r"
    folder.mkdir()
    for server in redis_server(folder, password="s3cret-pw"):
        wrong = server.url.replace("s3cret-pw", "wrong-pw")
        done = _run("follow", wrong, "job")
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1
        assert "wrong-pw" not in done.stderr
        assert "statetrail follow: error:" in done.stderr
