"""As-of time (issue 11): ``at(time=...)`` on every front end, ``value_at`` on
the timeline and the repository, and what "at or before" means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import statetrail
from statetrail import RevisionNotFoundError, Store, Timeline
from statetrail.revision import time_ns_at


def _times(timeline: Timeline) -> list[datetime]:
    return [timeline.revision(n).timestamp for n in range(len(timeline.revisions()))]


class TestTimeline:
    def test_value_at_a_time_is_the_newest_revision_by_then(self) -> None:
        """Each revision's own time finds it (its microsecond counts as at it);
        a time between two finds the older; before the first, none."""
        timeline: Timeline[int] = Timeline(0)
        for n in range(1, 6):
            timeline.set(n * 10)
        times = _times(timeline)
        for n, when in enumerate(times):
            found = timeline.number_at(when)
            assert found is not None
            # revisions recorded within the same microsecond count as at it
            assert timeline.revision(found).timestamp == when
            assert found >= n
            assert timeline.value_at(time=when) == timeline.value_at(found)
        assert timeline.number_at(times[0] - timedelta(seconds=1)) is None
        assert timeline.number_at(times[-1] + timedelta(days=1)) == 5
        with pytest.raises(RevisionNotFoundError, match="at or before"):
            timeline.value_at(time=times[0] - timedelta(seconds=1))

    def test_any_branch_counts(self) -> None:
        """After going back and writing, the newest revision is on the branch."""
        timeline: Timeline[int] = Timeline(0)
        timeline.set(1)
        timeline.checkout(0)
        timeline.set(2)
        assert timeline.number_at(datetime.now(UTC) + timedelta(days=1)) == 2

    def test_a_naive_time_is_local(self) -> None:
        """A naive datetime is local time, as datetime.timestamp() reads it."""
        timeline: Timeline[int] = Timeline(0)
        local = timeline.revision(0).timestamp.astimezone().replace(tzinfo=None)
        assert timeline.number_at(local) == 0

    def test_bad_arguments(self) -> None:
        """Both, neither, or a time that is not a datetime: TypeError."""
        timeline: Timeline[int] = Timeline(0)
        with pytest.raises(TypeError, match="not both"):
            timeline.value_at(0, time=datetime.now(UTC))
        with pytest.raises(TypeError, match="needs"):
            timeline.value_at()
        with pytest.raises(TypeError, match="datetime"):
            timeline.number_at("2026-12-01")  # type: ignore[arg-type]

    def test_time_ns_at_covers_the_microsecond(self) -> None:
        """The bound is the microsecond's last nanosecond."""
        when = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
        assert time_ns_at(when) % 1000 == 999
        assert time_ns_at(when) // 1000 == int(when.timestamp()) * 10**6 + 123456


class TestFrontEnds:
    def test_var_and_store(self) -> None:
        """Var.at and Store.at take a time."""
        var = statetrail.watch("v", 1)
        var.set(2)
        var_times = _times(var.timeline)
        assert var.at(time=var_times[1]) == 2
        with pytest.raises(RevisionNotFoundError):
            var.at(time=var_times[0] - timedelta(seconds=1))
        store = Store({"n": 0})
        store.set("n", 1)
        store_times = _times(store.timeline)
        assert store.at(time=store_times[1]) == {"n": 1}
        assert store.at(time=store_times[1] + timedelta(seconds=1)) == {"n": 1}
        assert store.at(0) == {"n": 0}

    @pytest.mark.asyncio
    async def test_async_store(self) -> None:
        """AsyncStore.at takes a time."""
        store = statetrail.AsyncStore(initial_state={"n": 0})
        await store.load_initial_state()
        store.start_processing()
        await store.dispatch_and_wait({"type": "SET_STATE", "path": "n", "value": 5})
        await store.stop_processing()
        times = _times(store.timeline)
        assert store.at(time=times[-1]) == {"n": 5}
        with pytest.raises(RevisionNotFoundError):
            store.at(time=times[0] - timedelta(seconds=1))

    def test_repository_value_at_a_time(self, tmp_path: Path) -> None:
        """repo.value_at(name, time=...) asks the backend's time index."""
        with statetrail.open(tmp_path / "h.db") as repo:
            store = repo.store("s", {"n": 0})
            for n in range(1, 4):
                store.set("n", n)
            times = _times(repo.timeline("s"))
        with statetrail.open(tmp_path / "h.db") as repo:
            assert repo.value_at("s", time=times[-1] + timedelta(days=1)) == {"n": 3}
            found = repo.backend.number_at("s", time_ns_at(times[2]))
            assert found is not None
            assert found >= 2
            assert repo.value_at("s", time=times[2]) == repo.value_at("s", found)
            with pytest.raises(RevisionNotFoundError, match="at or before"):
                repo.value_at("s", time=times[0] - timedelta(seconds=1))
            with pytest.raises(TypeError):
                repo.value_at("s", 1, time=times[0])
