"""A model check of stored timelines (issue 9; RELIABILITY C8), on every backend.

Random writes, path writes, branches (a write after a checkout, or a named
branch), switches, rollbacks, erasures, and closing and reopening the repository,
done through the public API (``statetrail.open``, ``repo.timeline``) and on a
plain model: deep copies of every value, parent links, branch tips, the cursor.
After every step the cursor, branch and value are compared; after every reopen,
every revision (value, branch, parent), every value read straight from storage
(``repo.value_at``), the branches and the cursor, and ``repo.verify()``.

Memory, JSON file, SQLite and PostgreSQL each run 30 examples of 20 steps (300
of 50 at ``STATETRAIL_SCALE=10``). The broken variant, a backend that does not
keep the saved heads, must be caught.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import statetrail
from statetrail import Erased, Repository, thaw
from statetrail.storage.base import Heads
from statetrail.storage.memory import MemoryBackend
from statetrail.storage.sqlite import SQLiteBackend
from tests.conftest import SCALE
from tests.reliability import record
from tests.storage.pg import fresh_schema
from tests.strategies import model_keys, model_values

EXAMPLES = 30 * SCALE if SCALE == 1 else max(300, 30 * SCALE)
STEPS = 20 if SCALE == 1 else 50

branch_names = st.sampled_from(["exp", "fix", "alt"])
states = st.dictionaries(model_keys, model_values, max_size=3)


@dataclass
class Place:
    """Where the examples' histories live: each example opens its own timeline.

    ``reopen_closes``: reopening closes the repository first (not for memory,
    whose history goes with its backend: a new repository over it stands for a
    restart).
    """

    open: Callable[[], Repository]
    reopen_closes: bool = True
    #: What the examples did, summed: the figures for the report.
    tally: Counter[str] = field(default_factory=Counter)
    names: Iterator[str] = field(
        default_factory=lambda: (f"m{n}" for n in itertools.count())
    )


@dataclass
class ModelRevision:
    value: Any
    parent: int | None
    branch: str


class RepositoryMachine(RuleBasedStateMachine):
    """Each rule acts on a stored timeline and on the model alike."""

    def __init__(self, place: Place) -> None:
        super().__init__()
        self.place = place
        self.reopens = 0

    @initialize(value=states)
    def start(self, value: dict[str, Any]) -> None:
        self.name = next(self.place.names)
        self.repo = self.place.open()
        self.timeline = self.repo.timeline(self.name, copy.deepcopy(value))
        self.revs: dict[int, ModelRevision] = {0: ModelRevision(value, None, "main")}
        self.erased: set[int] = set()
        self.tips: dict[str, int] = {"main": 0}
        self.cursor = 0
        self.branch = "main"
        self.next = 1

    def teardown(self) -> None:
        if hasattr(self, "revs"):
            tally = self.place.tally
            tally["examples"] += 1
            tally["revisions"] += len(self.revs)
            tally["reopens"] += self.reopens
            tally["erased"] += len(self.erased)
            tally["branches"] += len(self.tips) - 1
        repo = getattr(self, "repo", None)
        if repo is not None and self.place.reopen_closes:
            repo.close()

    # -- the model -------------------------------------------------------------

    def commit(self, value: Any) -> None:
        branch = self.branch
        if self.tips[branch] != self.cursor:
            branch = f"branch-{self.next}"
        self.revs[self.next] = ModelRevision(copy.deepcopy(value), self.cursor, branch)
        self.tips[branch] = self.next
        self.cursor = self.next
        self.branch = branch
        self.next += 1

    def current(self) -> Any:
        return self.revs[self.cursor].value

    def live(self) -> list[int]:
        """Revisions whose value is still there."""
        return sorted(n for n in self.revs if n not in self.erased)

    # -- rules -----------------------------------------------------------------

    @precondition(lambda self: self.cursor not in self.erased)
    @rule(value=states)
    def write(self, value: dict[str, Any]) -> None:
        self.timeline.set(copy.deepcopy(value))
        self.commit(value)

    @precondition(lambda self: self.cursor not in self.erased)
    @rule(key=model_keys, value=model_values)
    def write_path(self, key: str, value: Any) -> None:
        self.timeline.set_in((key,), copy.deepcopy(value))
        new = dict(self.current())
        new[key] = value
        self.commit(new)

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def checkout(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.live()))
        self.timeline.checkout(target)
        self.cursor = target
        self.branch = self.revs[target].branch

    @rule(name=branch_names)
    def branch_here(self, name: str) -> None:
        if name in self.tips:
            return
        self.timeline.branch(name)
        self.tips[name] = self.cursor
        self.branch = name

    @rule(data=st.data())
    def switch(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.tips)))
        self.timeline.switch(name)
        self.cursor = self.tips[name]
        self.branch = name

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.live()))
        revision = self.timeline.rollback(target)
        assert (revision.kind, revision.target) == ("rollback", target)
        self.commit(self.revs[target].value)

    @precondition(lambda self: len(self.revs) > 2)
    @rule(data=st.data())
    def erase(self, data: st.DataObject) -> None:
        current = {self.cursor, self.tips[self.branch]}
        candidates = [n for n in self.live() if n not in current]
        if not candidates:
            return
        target = data.draw(st.sampled_from(candidates))
        self.timeline.erase(target, reason="asked to", author="model")
        self.erased.add(target)

    @rule()
    def reopen(self) -> None:
        if self.place.reopen_closes:
            self.repo.close()
        self.repo = self.place.open()
        self.timeline = self.repo.timeline(self.name)
        self.reopens += 1
        self.everything_matches()

    # -- checks ------------------------------------------------------------------

    @invariant()
    def cursor_and_branches_match(self) -> None:
        if not hasattr(self, "timeline"):
            return
        assert self.timeline.head.number == self.cursor
        assert self.timeline.current_branch == self.branch
        assert self.timeline.branches() == self.tips
        if self.cursor not in self.erased:
            assert thaw(self.timeline.value) == self.current()

    def everything_matches(self) -> None:
        """Every revision, as held and as stored, and the verified history."""
        assert len(self.timeline) == len(self.revs)
        for number, model in self.revs.items():
            revision = self.timeline.revision(number)
            assert revision.branch == model.branch
            assert revision.parent == model.parent
            if number in self.erased:
                assert isinstance(revision.value, Erased)
                assert revision.value.reason == "asked to"
            else:
                assert thaw(revision.value) == model.value
                assert thaw(self.repo.value_at(self.name, number)) == model.value
        assert self.repo.verify(self.name) == {self.name: len(self.revs)}


def run(place: Place, backend: str) -> None:
    """Run the machine on ``place`` at the suite's sizes; record the figures."""
    run_state_machine_as_test(
        lambda: RepositoryMachine(place),
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None
        ),
    )
    record(
        f"C8-{backend}",
        max_examples=EXAMPLES,
        steps=STEPS,
        falsifying_examples=0,
        **place.tally,
    )


def file_place(tmp_path: Path, suffix: str, **options: Any) -> Place:
    """A new file per example (``.db``: SQLite, ``.json``: a JSON file)."""
    files = (tmp_path / f"{uuid.uuid4().hex}{suffix}" for _ in itertools.count())
    current: list[Path] = []

    def open_repo() -> Repository:
        return statetrail.open(current[-1], **options)

    def names() -> Iterator[str]:
        for n in itertools.count():
            current.append(next(files))
            yield f"m{n}"

    return Place(open_repo, names=names())


class TestTheModel:
    def test_memory(self) -> None:
        """A new repository over the same memory backend stands for a restart."""
        backends: list[MemoryBackend] = []

        def names() -> Iterator[str]:
            for n in itertools.count():
                backends.append(MemoryBackend())
                yield f"m{n}"

        run(
            Place(lambda: Repository(backends[-1]), reopen_closes=False, names=names()),
            "memory",
        )

    def test_json_file(self, tmp_path: Path) -> None:
        run(file_place(tmp_path, ".json"), "json")

    def test_sqlite(self, tmp_path: Path) -> None:
        run(file_place(tmp_path, ".db"), "sqlite")

    def test_postgresql(self) -> None:
        """One schema, a new timeline per example."""
        with fresh_schema() as schema:
            run(
                Place(lambda: statetrail.open(schema.url, schema=schema.name)),
                "postgresql",
            )


class _Forgetful(MemoryBackend):
    """A deliberately broken backend: the heads it is given are not kept, so a
    reopened timeline loses its cursor and its branches."""

    def save_heads(self, timeline: str, heads: Heads) -> None:
        pass


class _ForgetfulSQLite(SQLiteBackend):
    """The same flaw on SQLite."""

    def save_heads(self, timeline: str, heads: Heads) -> None:
        pass


class TestTheModelCheckHasTeeth:
    def test_it_catches_lost_heads_in_memory(self) -> None:
        """The same machine run over a backend that drops saved heads fails."""
        backends: list[MemoryBackend] = []

        def names() -> Iterator[str]:
            for n in itertools.count():
                backends.append(_Forgetful())
                yield f"m{n}"

        place = Place(
            lambda: Repository(backends[-1]), reopen_closes=False, names=names()
        )
        with pytest.raises(AssertionError):
            run_state_machine_as_test(
                lambda: RepositoryMachine(place),
                settings=settings(
                    max_examples=200, deadline=None, phases=[Phase.generate]
                ),
            )

    def test_it_catches_lost_heads_in_sqlite(self, tmp_path: Path) -> None:
        """And over SQLite."""
        paths: list[Path] = []

        def names() -> Iterator[str]:
            for n in itertools.count():
                paths.append(tmp_path / f"{n}.db")
                yield f"m{n}"

        place = Place(lambda: Repository(_ForgetfulSQLite(paths[-1])), names=names())
        with pytest.raises(AssertionError):
            run_state_machine_as_test(
                lambda: RepositoryMachine(place),
                settings=settings(
                    max_examples=200, deadline=None, phases=[Phase.generate]
                ),
            )
