"""The memory backend keeps the whole contract."""

from __future__ import annotations

from collections.abc import Iterator

from statetrail.storage.base import Backend
from statetrail.storage.memory import MemoryBackend
from tests.storage.contract import BackendContract


class TestMemoryBackend(BackendContract):
    def make_backend(self) -> Iterator[Backend]:
        backend = MemoryBackend()
        yield backend
        backend.close()
