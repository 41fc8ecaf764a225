"""A Redis server of the test's own: a free loopback port, an append-only file in a
temporary folder, stopped and restarted at will, killed afterwards.

Without ``redis-server`` on the PATH a test skips, saying why, or fails when
``STATETRAIL_REQUIRE_SERVICES=1`` (CI sets it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, with its data in ``folder``."""

    def __init__(self, folder: Path, password: str | None = None) -> None:
        self.folder = folder
        self.port = _free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL of the server (with the password, if any)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (its append-only file brings back what it held)."""
        args = [
            "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.folder),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError("redis-server exited at start") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        """Stop the server, as an outage does (its data stays on disk)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def client(self) -> redis.Redis:
        """A client of this server."""
        return redis.Redis.from_url(self.url)


def redis_server(folder: Path, password: str | None = None) -> Iterator[RedisServer]:
    """A started server, stopped afterwards (the body of a fixture)."""
    if shutil.which("redis-server") is None:
        reason = "redis-server is not on the PATH (Debian's redis-server package)"
        if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(folder, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
