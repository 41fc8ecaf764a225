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
            assert asked == [192]
            history.revision("job", 100)  # far: the checkpoint below it
            history.revision("job", 101)
            assert asked == [192, 64]
            for number in range(0, 300, 7):
                shown = history.revision("job", number)["value"]
                assert shown == thaw(value_at("job", number)), number
