"""``statetrail serve``: the command, in a process of its own, and what it
refuses before it serves."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from statetrail.cli import main
from statetrail.cli.serve import url_of
from tests.storage.pg import PgSchema
from tests.web.conftest import record

ROOT = Path(__file__).parents[2]


@contextmanager
def serving(*argv: str) -> Iterator[str]:
    """Run ``statetrail serve ARGV --port 0``; yields the URL it prints."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen(
        [sys.executable, "-m", "statetrail", "serve", *argv, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("statetrail serve: "), line + (
            process.stderr.read() if process.stderr else ""
        )
        yield line.rsplit(" at ", 1)[1].strip()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def state(path: str) -> tuple[str, list[str]]:
    """A file's digest and the files beside it (SQLite's -shm and -wal aside,
    which a reader of a WAL file opens)."""
    folder = Path(path).parent
    return hashlib.sha256(Path(path).read_bytes()).hexdigest(), sorted(
        p.name for p in folder.iterdir() if not p.name.endswith(("-shm", "-wal"))
    )


class TestServing:
    def test_serves_an_sqlite_file_read_only(self, sqlite_target: str) -> None:
        """It prints the URL, answers the API there, and writes nothing: the
        file and its folder are as they were."""
        before = state(sqlite_target)
        with serving(sqlite_target) as url:
            assert url.startswith("http://127.0.0.1:")
            with httpx.Client(base_url=url, timeout=10) as client:
                names = [t["name"] for t in client.get("api/timelines").json()]
                assert names == ["job", "shop/cart"]
                assert client.get("api/timelines/job/revisions/2").status_code == 200
        assert state(sqlite_target) == before

    def test_serves_postgresql_with_a_token(self, pg: PgSchema) -> None:
        """A PostgreSQL schema, and a token: the printed URL carries it."""
        url = f"{pg.url}?schema={pg.name}"
        record(url)
        with serving(url, "--token", "abc-123") as printed:
            assert printed.endswith("/?token=abc-123")
            with httpx.Client(timeout=10) as client:
                assert (
                    client.get(printed.replace("/?", "/api/timelines?")).json()[0][
                        "name"
                    ]
                    == "job"
                )
                assert client.get(printed.split("?")[0]).status_code in (200, 404)
                bare = printed.split("?")[0] + "api/timelines"
                assert httpx.get(bare, timeout=10).status_code == 401


class TestRefusals:
    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
        status = main(["serve", *argv])
        return status, capsys.readouterr().err

    def test_another_host_needs_a_token(
        self, sqlite_target: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, err = self.run(capsys, sqlite_target, "--host", "0.0.0.0")
        assert status == 2
        assert "--token" in err
        status, err = self.run(capsys, sqlite_target, "--host", "192.168.1.5")
        assert status == 2

    def test_a_token_is_url_safe(
        self, sqlite_target: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for token in ("a b", "a;b", "é", "", "x" * 300):
            status, err = self.run(capsys, sqlite_target, "--token", token)
            assert status == 2, token
            assert "--token" in err

    def test_what_is_not_a_history(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file, a folder, a file of another kind: one line, status 2,
        and nothing created."""
        status, err = self.run(capsys, str(tmp_path / "missing.db"))
        assert (status, "no such file" in err) == (2, True)
        assert not (tmp_path / "missing.db").exists()
        status, err = self.run(capsys, str(tmp_path))
        assert status == 2
        other = tmp_path / "notes.db"
        other.write_text("not a database")
        status, err = self.run(capsys, str(other))
        assert status == 2
        assert other.read_text() == "not a database"

    def test_a_bad_port(
        self, sqlite_target: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, err = self.run(capsys, sqlite_target, "--port", "70000")
        assert status == 2
        assert "--port" in err


def test_url_of() -> None:
    assert url_of("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert url_of("::1", 80, "t") == "http://[::1]:80/?token=t"


class TestEncrypted:
    def test_sealed_values_show_as_encrypted_unless_given_the_key(
        self, tmp_path: Path
    ) -> None:
        """Values written through ``Encrypt`` are ``<encrypted>`` in every answer
        (never a 500, never the secret), and plain with ``--key-file``."""
        from statetrail.interceptors import Encrypt
        from statetrail.repository import open as open_repository
        from statetrail.storage import _sealed

        key = Encrypt.generate_key()
        path = str(tmp_path / "secret.db")
        try:
            with open_repository(path) as repo:
                v = repo.watch("tok", {"s": "hush-0"}, interceptors=[Encrypt(key)])
                v.set_in("s", "hush-1")
        finally:
            _sealed.reset_keyring()
        keys = tmp_path / "keys"
        keys.write_bytes(key + b"\n")
        with serving(path) as url, httpx.Client(base_url=url, timeout=10) as client:
            answers = [
                client.get(f"api/timelines/tok/{what}")
                for what in ("revisions", "revisions/1", "diff?a=0&b=1")
            ]
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert all("hush" not in a.text for a in answers)
            assert answers[1].json()["value"] == "<encrypted>"
        with serving(path, "--key-file", str(keys)) as url:
            got = httpx.get(url + "api/timelines/tok/revisions/1", timeout=10).json()
            assert got["value"] == {"s": "hush-1"}
