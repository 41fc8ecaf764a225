"""Encrypted values in Redis stream entries (issue 14).

A timeline written with ``interceptors=[Encrypt(key)]`` and ``publish=`` puts
the stored (sealed) payload in its stream entries: the secret is in none of
them, and a follower holding the key reads the values back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import statetrail
from statetrail.interceptors import Encrypt
from statetrail.storage import _sealed, _stream
from tests.live.redis_server import RedisServer


@pytest.fixture(autouse=True)
def _keyring() -> Iterator[None]:
    _sealed.reset_keyring()
    yield
    _sealed.reset_keyring()


def test_stream_entries_are_sealed(server: RedisServer, tmp_path: Path) -> None:
    """No secret in the raw stream entries; followed values equal the written."""
    enc = Encrypt(Encrypt.generate_key())
    with statetrail.open(tmp_path / "h.sqlite", publish=server.url) as repo:
        v = repo.watch("tok", {"s": "stream-secret-0"}, interceptors=[enc])
        v.set_in("s", "stream-secret-1")
        with v.edit() as draft:
            draft["t"] = "stream-secret-2"
        assert repo.publisher is not None
        assert repo.publisher.wait(timeout=30)
        entries = server.client().xrange(_stream.stream_key("tok"))
        assert len(entries) == 3
        raw = b"".join(b"".join(fields.values()) for _eid, fields in entries)
        assert b"stream-secret" not in raw
        assert b'"$t":"enc"' in raw
        with statetrail.follow(server.url, "tok") as following:
            got = [following.get(timeout=30) for _ in range(3)]
        assert [r.value for r in got if r is not None][-1] == {
            "s": "stream-secret-1",
            "t": "stream-secret-2",
        }
