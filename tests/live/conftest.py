"""Fixtures of the live tests: a Redis server of each test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.redis_server import RedisServer, redis_server
from tests.storage.pg import pg

__all__ = ["pg", "server"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port, its append-only file in tmp_path."""
    folder = tmp_path / "redis"
    folder.mkdir()
    yield from redis_server(folder)
