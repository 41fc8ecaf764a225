"""The web API's reads (statetrail.web._data.History): a timeline opened once
stays true to storage as it grows, branches, moves its cursor or is trimmed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail.cli.inspect import opened
from statetrail.frozen import thaw
from statetrail.storage._reader import StoredTimeline
from statetrail.web._data import ErasedError, Filters, History, UnknownError
from tests.storage.pg import fresh_schema


def same_as_fresh(history: History, name: str) -> None:
    """What History answers is what a timeline opened afresh says."""
    kept = history.stored(name)
    fresh = StoredTimeline(history.repo.backend, name)
    assert (kept.latest, kept.first, kept.heads) == (
        fresh.latest,
        fresh.first,
        fresh.heads,
    )


class TestKeptOpen:
    def test_follows_writes_branches_and_checkouts(self, tmp_path: Path) -> None:
        """Writes on the cursor's branch, a new branch, a checkout (saved heads)
        and writes after it: each time the kept timeline matches a fresh one."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path) as writer, opened(path) as reader:
            store = writer.store("job", {"n": 0})
            timeline: Any = store.timeline
            history = History(reader)
            same_as_fresh(history, "job")
            opened_once = history.stored("job")
            assert history.stored("job") is opened_once  # nothing new: kept
            for n in range(1, 4):
                store.set("n", n)
            same_as_fresh(history, "job")
            timeline.checkout(1)
            same_as_fresh(history, "job")
            timeline.branch("b")
            store.set("n", 10)
            store.set("n", 11)
            same_as_fresh(history, "job")
            assert history.stored("job").heads.tips == {"main": 3, "b": 5}
            timeline.checkout(3)
            store.set("n", 12)
            same_as_fresh(history, "job")
            numbers = [
                r["number"]
                for r in history.revisions("job", Filters(), before=None, limit=50)
            ]
            assert numbers == [6, 5, 4, 3, 2, 1, 0]
            line = history.revisions(
                "job", Filters(branch="main"), before=None, limit=50
            )
            assert [r["number"] for r in line] == [6, 3, 2, 1, 0]

    def test_follows_a_trim(self, tmp_path: Path) -> None:
        """After a trim the list starts at the first revision kept."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path) as writer, opened(path) as reader:
            store = writer.store("job", {"n": 0})
            for n in range(1, 10):
                store.set("n", n)
            history = History(reader)
            same_as_fresh(history, "job")
            writer.trim("job", keep_last=3)
            same_as_fresh(history, "job")
            docs = history.revisions("job", Filters(), before=None, limit=50)
            assert [d["number"] for d in docs] == [9, 8, 7]
            with pytest.raises(UnknownError):
                history.revision("job", 2)

    def test_pages_of_any_size(self, tmp_path: Path) -> None:
        """Pages read newest first, doubling, give each revision once."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path) as writer, opened(path) as reader:
            store = writer.store("job", {"n": 0})
            for n in range(1, 1200):
                store.set("n", n)
            history = History(reader)
            for limit in (1, 7, 50, 1000):
                seen: list[int] = []
                before = None
                while True:
                    page = history.revisions(
                        "job", Filters(), before=before, limit=limit
                    )
                    if not page:
                        break
                    seen += [d["number"] for d in page]
                    before = page[-1]["number"]
                assert seen == list(range(1199, -1, -1)), limit
            odd = history.revisions("job", Filters(path="/n"), before=None, limit=1000)
            assert len(odd) == 1000


class TestValues:
    def test_a_slider_moving_forward(self, tmp_path: Path) -> None:
        """Values built from the one before (a slider moving forward, across
        checkpoints and branches) are the values storage holds."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path, checkpoint_every=4) as writer:
            store = writer.store("job", {"n": 0, "log": []})
            timeline: Any = store.timeline
            for n in range(1, 12):
                store.set("n", n)
                store.set("log", [*store.get("log"), n])
            timeline.checkout(5)
            timeline.branch("b")
            for n in range(3):
                store.set("n", -n)
        with opened(path) as reader:
            history = History(reader)
            latest = history.latest("job")
            for order in (range(latest + 1), range(latest, -1, -1)):
                for number in order:
                    value = history.revision("job", number)["value"]
                    assert value == thaw(reader.value_at("job", number)), number

    def test_an_erasure_shows_at_once(self, tmp_path: Path) -> None:
        """A value read before its revision was erased is not shown after."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path) as writer, opened(path) as reader:
            store = writer.store("job", {"secret": "a"})
            store.set("secret", "b")
            store.set("secret", "c")
            history = History(reader)
            assert history.revision("job", 1)["value"] == {"secret": "b"}
            assert history.diff("job", 0, 1)["changes"][0]["value"] == "b"
            writer.timeline("job").erase(1, reason="privacy")
            assert history.revision("job", 1)["value"] is None
            with pytest.raises(ErasedError):
                history.diff("job", 0, 1)
            with pytest.raises(ErasedError):
                history.blame("job", "/secret", at=1, branch=None)
            assert history.revision("job", 2)["value"] == {"secret": "c"}

    def test_values_in_any_order(self, tmp_path: Path) -> None:
        """Jumps in a random order (forward, back, across branches, near values
        held and far from them) give the values storage holds, also after a
        revision in the middle of a held line is erased."""
        path = str(tmp_path / "h.db")
        draw = random.Random(13)
        with statetrail.open(path, checkpoint_every=8) as writer:
            store = writer.store("job", {"n": 0, "log": []})
            timeline: Any = store.timeline
            for n in range(1, 40):
                store.set(f"k{draw.randrange(9)}", n)
                if n % 5 == 0:
                    store.set("log", [*store.get("log"), n])
            timeline.checkout(17)
            timeline.branch("b")
            for n in range(12):
                store.set("n", -n)
            timeline.checkout(30)
            timeline.branch("c")
            store.set("n", None)
        with opened(path) as reader:
            history = History(reader)
            latest = history.latest("job")
            numbers = list(range(latest + 1)) * 2
            draw.shuffle(numbers)
            for number in numbers:
                value = history.revision("job", number)["value"]
                assert value == thaw(reader.value_at("job", number)), number
        with statetrail.open(path) as writer:
            writer.timeline("job").erase(20, reason="privacy")
        with opened(path) as reader:
            history = History(reader)
            for number in (25, 19, 21, 20, 23, 22):
                shown = history.revision("job", number)["value"]
                stored = reader.value_at("job", number)
                assert shown == (None if number == 20 else thaw(stored)), number

    def test_a_step_back_reads_no_checkpoint(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Steps back and jumps near a value held cost patches: storage is asked
        for a value (a checkpoint) only when a jump lands far from any."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path, checkpoint_every=64) as writer:
            store = writer.store("job", {"n": 0})
            for n in range(1, 300):
                store.set(f"k{n % 50}", n)
        with opened(path) as reader:
            asked: list[int] = []
            value_at = reader.value_at

            def counted(name: str, number: int | None = None, **kw: Any) -> Any:
                asked.append(-1 if number is None else number)
                return value_at(name, number, **kw)

            monkeypatch.setattr(reader, "value_at", counted)
            history = History(reader)
            history.revision("job", 250)
            assert asked == [192]  # its checkpoint, then 58 patches
            for number in range(249, 191, -1):  # steps back to the checkpoint
                history.revision("job", number)
            history.revision("job", 255)  # a jump near a value held
            history.diff("job", 200, 240)
            for number in range(251, 262):  # steps forward across checkpoint 256
                history.revision("job", number)
            assert asked == [192]
            history.revision("job", 100)  # far: the checkpoint below it
            history.revision("job", 101)
            assert asked == [192, 64]
            # A jump 79 patches on, past checkpoint 128: none read where a
            # checkpoint costs as much as 100 patches (measured as it goes;
            # fixed here), checkpoint 128 where it costs less than 79.
            for reach, read in ((100, []), (78, [128])):
                fresh = History(reader)
                monkeypatch.setattr(fresh, "_reach", lambda name, r=reach: r)
                fresh.revision("job", 101)
                del asked[:]
                fresh.revision("job", 180)
                assert asked == read, reach
                assert fresh.revision("job", 180)["value"] == thaw(value_at("job", 180))
            # A jump from a value held further back than the checkpoint it
            # passes holds that checkpoint's value: the steps back from there
            # read the rows since the checkpoint, not since the far value.
            fresh = History(reader)
            monkeypatch.setattr(fresh, "_reach", lambda name: 200)
            fresh.revision("job", 101)
            read = reader.backend.read
            rows: list[int] = []

            def counted_read(*args: Any, **kw: Any) -> Any:
                found = read(*args, **kw)
                rows.append(len(found))
                return found

            monkeypatch.setattr(reader.backend, "read", counted_read)
            del asked[:]
            fresh.revision("job", 250)  # 149 patches on, past checkpoint 192
            del rows[:]
            for number in range(249, 192, -1):
                assert fresh.revision("job", number)["value"] == thaw(
                    value_at("job", number)
                )
            assert asked == []
            assert max(rows) <= 64, rows
            for number in range(0, 300, 7):
                shown = history.revision("job", number)["value"]
                assert shown == thaw(value_at("job", number)), number


def scanned(
    history: History, name: str, filters: Filters, before: int | None, limit: int
) -> list[int]:
    """What the list holds, by reading every row: the reference the index reads
    must match."""
    stored = history.stored(name)
    rows = history.repo.backend.read(name)
    if filters.branch is not None:
        line = {r.number for r in stored.lineage(stored.heads.tips[filters.branch])}
        rows = [r for r in rows if r.number in line]
    kept = [
        r.number
        for r in reversed(rows)
        if (before is None or r.number < before) and filters.keeps(r)
    ]
    return kept[:limit]


@pytest.mark.parametrize("suffix", [".db", ".json", "postgres"])
class TestFiltersFromTheIndexes:
    def record(self, path: str) -> list[int]:
        """Branches, authors, labels and paths drawn at random; the times of
        a few revisions (to filter by)."""
        draw = random.Random(7)
        with statetrail.open(path) as writer:
            store = writer.store("job", {"a": {"x": 0}, "b": [], "c": 0})
            timeline: Any = store.timeline
            for n in range(1, 120):
                if n in (40, 80):
                    timeline.checkout(n // 2)
                    timeline.branch(f"b{n}")
                where = draw.choice(["a.x", "a.y", "c", "b", "a"])
                value: Any = n
                if where == "b":
                    value = [*store.get("b"), n]
                elif where == "a":
                    value = {"x": n, "z": -n}
                with statetrail.context(
                    author=draw.choice(["ann", "bob", "cy"]),
                    label=draw.choice([None, None, "v1"]),
                ):
                    store.set(where, value)
            writer.store("other", {"a": 1}).set("a", 2)
        with opened(path) as reader:
            return sorted({r.time_ns for r in reader.backend.read("job")})

    def test_the_same_as_a_scan(self, tmp_path: Path, suffix: str) -> None:
        """Every filter alone and together, each branch, pages of several
        sizes and starts: the indexes find what a scan of every row finds."""
        if suffix == "postgres":
            with fresh_schema() as schema:
                url = f"{schema.url}?schema={schema.name}"
                self.compare(url, self.record(url))
            return
        path = str(tmp_path / f"h{suffix}")
        self.compare(path, self.record(path))

    def compare(self, path: str, times: list[int]) -> None:
        draw = random.Random(8)
        with opened(path) as reader:
            history = History(reader)
            latest = history.latest("job")
            for _ in range(250):
                since = draw.choice([None, *times[::7]])
                until = draw.choice([None, *times[::5]])
                filters = Filters(
                    author=draw.choice([None, None, "ann", "nobody"]),
                    label=draw.choice([None, None, "v1"]),
                    path=draw.choice(
                        [None, None, "", "/a", "/a/x", "/a/z", "/b", "/b/3", "/q"]
                    ),
                    since_ns=since,
                    until_ns=until,
                    branch=draw.choice([None, None, "main", "b40", "b80"]),
                )
                before = draw.choice([None, draw.randrange(latest + 2)])
                limit = draw.choice([1, 3, 50, 1000])
                got = [
                    d["number"]
                    for d in history.revisions(
                        "job", filters, before=before, limit=limit
                    )
                ]
                want = scanned(history, "job", filters, before, limit)
                assert got == want, (filters, before, limit)


class TestFiltersReadWhatTheyShow:
    """SQLite's reads, counted: JSON reads its rows, and PostgreSQL's filters are
    compared with a scan in TestFiltersFromTheIndexes."""

    def test_reads_what_it_shows(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A path changed by few revisions, a short time window, a page deep in
        the history: the rows read are about those shown, not the history."""
        path = str(tmp_path / "h.db")
        with statetrail.open(path, durability="batched") as writer:
            store = writer.store("job", {"n": 0, "rare": 0})
            for n in range(1, 3000):
                store.set("rare" if n % 500 == 0 else "n", n)
        with opened(path) as reader:
            backend = reader.backend
            read = {"rows": 0}
            for method in ("read", "rows"):
                real = getattr(backend, method)

                def counted(*args: Any, _real: Any = real, **kw: Any) -> Any:
                    got = _real(*args, **kw)
                    read["rows"] += len(got)
                    return got

                monkeypatch.setattr(backend, method, counted)
            history = History(reader)
            history.stored("job")
            times = [r.time_ns for r in backend.read("job", after=1499, upto=1510)]
            read["rows"] = 0
            found = history.revisions(
                "job", Filters(path="/rare"), before=None, limit=50
            )
            assert [d["number"] for d in found] == [2500, 2000, 1500, 1000, 500, 0]
            assert read["rows"] <= 12, read
            read["rows"] = 0
            window = Filters(since_ns=times[0], until_ns=times[-1])
            found = history.revisions("job", window, before=None, limit=50)
            assert [d["number"] for d in found] == list(range(1509, 1499, -1))
            assert read["rows"] <= 20, read
            read["rows"] = 0
            found = history.revisions("job", Filters(), before=1000, limit=20)
            assert [d["number"] for d in found] == list(range(999, 979, -1))
            assert read["rows"] <= 21, read
