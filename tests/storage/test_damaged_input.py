"""Bad values and damaged files at the storage boundary (issue 9, defects 2, 5, 6, 7).

What a history file or database holds is input like any other: whatever was
done to it, reading it gives the history or a
:class:`~statetrail.StatetrailError` (:class:`~statetrail.CorruptHistoryError`
for stored history), never another exception and never a hang.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import stat
import threading
from collections.abc import Callable

import pytest

import statetrail
from statetrail.errors import StorageError
from statetrail.storage.jsonfile import JsonFileBackend, load_history
from statetrail.storage.sqlite import SQLiteBackend
from tests.storage.contract import row


@pytest.fixture(params=["h.db", "h.json"])
def history_path(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> pathlib.Path:
    path: pathlib.Path = tmp_path / request.param
    return path


class TestTwoNaNs:
    def test_a_value_holding_two_nans_stays_readable(
        self, history_path: pathlib.Path
    ) -> None:
        """{nan, nan} and a dict with two NaN keys are recorded, and the timeline
        reads back after a restart with both (defect 2: 'a member appears twice'
        made the whole timeline unreadable on SQLite and JSON)."""
        with statetrail.open(history_path) as repo:
            var = repo.watch("v", 0)
            var.set({float("nan"), float("nan")})
            var.set({float("nan"): 1, float("nan"): 2, "x": [float("nan")]})
            var.set(3)
        with statetrail.open(history_path) as repo:
            var = repo.watch("v", 0)
            values = [rev.value for rev in var.history()]
            assert repo.verify() == {"v": 4}
        assert len(values[1]) == 2
        assert all(math.isnan(x) for x in values[1])
        assert sorted(v for k, v in values[2].items() if k != "x") == [1, 2]
        assert values[3] == 3


def finishes(
    call: Callable[[], object], fifo: pathlib.Path, limit: float = 10.0
) -> str:
    """What ``call()`` did within ``limit`` seconds: its error's type name,
    "returned", or "hung" (then a writer opens and closes the FIFO so the thread
    can end)."""
    result: list[str] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported, for the assertion to show
            result.append(type(exc).__name__)
        else:
            result.append("returned")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return "hung"
    return result[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
class TestNotRegularFiles:
    @pytest.mark.parametrize("name", ["x.json", "x.db"])
    def test_open_refuses_a_fifo_at_once(
        self, tmp_path: pathlib.Path, name: str
    ) -> None:
        """statetrail.open() of a FIFO: StorageError at once (defect 6: it blocked
        for ever)."""
        fifo = tmp_path / name
        os.mkfifo(fifo)
        assert finishes(lambda: statetrail.open(fifo).close(), fifo) == "StorageError"
        with pytest.raises(StorageError, match="is a FIFO, not a regular file"):
            statetrail.open(fifo)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)

    def test_open_refuses_a_device(self) -> None:
        """A character device is refused by both file backends, and left alone."""
        if not os.path.exists(os.devnull):
            pytest.skip("no null device")
        for backend in (JsonFileBackend, SQLiteBackend):
            with pytest.raises(StorageError, match="character device"):
                backend(os.devnull)
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)

    def test_load_history_refuses_a_fifo(self, tmp_path: pathlib.Path) -> None:
        """jsonfile.load_history() of a FIFO: StorageError at once."""
        fifo = tmp_path / "h.json"
        os.mkfifo(fifo)
        assert finishes(lambda: load_history(fifo), fifo) == "StorageError"

    def test_a_file_swapped_for_a_fifo_is_not_replaced(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A JSON history whose file became a FIFO refuses the write, leaves the
        FIFO, and keeps nothing of the refused change in memory."""
        path = tmp_path / "h.json"
        backend = JsonFileBackend(path)
        try:
            backend.append([row(0)])
            path.unlink()
            os.mkfifo(path)
            with pytest.raises(StorageError, match="FIFO"):
                backend.append([row(1)])
            assert stat.S_ISFIFO(os.stat(path).st_mode)
            assert [r.number for r in backend.read("t")] == [0]
        finally:
            backend.close()
