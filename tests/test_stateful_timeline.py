"""A model check of the Timeline: random operations on the engine and on a plain
model (deep copies of every value, parent links, branch tips and a cursor), with
every observable compared after each step."""

from __future__ import annotations

import copy
from dataclasses import dataclass
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

from statetrail import Timeline, apply_changes, thaw
from tests.conftest import scaled

small_values = st.recursive(
    st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none()),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.text(max_size=2), kids, max_size=4),
    ),
    max_leaves=8,
)
keys = st.sampled_from(["a", "b", "c", "d"])
branch_names = st.sampled_from(["exp", "fix", "alt"])


@dataclass
class ModelRevision:
    value: Any
    parent: int | None
    branch: str


class TimelineMachine(RuleBasedStateMachine):
    """Each rule acts on the Timeline and the model alike."""

    timeline_class: type[Timeline[Any]] = Timeline

    @initialize(value=st.dictionaries(keys, small_values, max_size=3))
    def start(self, value: dict[str, Any]) -> None:
        self.timeline: Timeline[Any] = self.timeline_class(copy.deepcopy(value))
        self.revs: dict[int, ModelRevision] = {0: ModelRevision(value, None, "main")}
        self.tips: dict[str, int] = {"main": 0}
        self.cursor = 0
        self.branch = "main"
        self.next = 1

    # -- model helpers ---------------------------------------------------------

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

    def lineage(self, number: int) -> list[int]:
        out = []
        rev: int | None = number
        while rev is not None and rev in self.revs:
            out.append(rev)
            rev = self.revs[rev].parent
        return out[::-1]

    # -- rules -----------------------------------------------------------------

    @rule(value=st.dictionaries(keys, small_values, max_size=3))
    def set_value(self, value: dict[str, Any]) -> None:
        self.timeline.set(copy.deepcopy(value))
        self.commit(value)

    @rule(key=keys, value=small_values)
    def set_in(self, key: str, value: Any) -> None:
        self.timeline.set_in((key,), copy.deepcopy(value))
        new = dict(self.current())
        new[key] = value
        self.commit(new)

    @rule(key=keys)
    def update(self, key: str) -> None:
        self.timeline.update(lambda v: v.set(key, [v.get(key)]))
        new = dict(self.current())
        new[key] = [new.get(key)]
        self.commit(new)

    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.revs)))
        rev = self.timeline.rollback(target)
        assert (rev.kind, rev.target) == ("rollback", target)
        self.commit(self.revs[target].value)

    @rule(data=st.data())
    def checkout(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.revs)))
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

    @precondition(lambda self: len(self.revs) > 3)
    @rule(keep=st.integers(1, 4))
    def trim(self, keep: int) -> None:
        self.timeline.trim(keep_last=keep)
        cutoff = self.next - keep
        protected = set(self.tips.values()) | {self.cursor, self.next - 1}
        for n in [n for n in self.revs if n < cutoff and n not in protected]:
            del self.revs[n]

    @rule(data=st.data())
    def diff_applies(self, data: st.DataObject) -> None:
        a = data.draw(st.sampled_from(sorted(self.revs)))
        b = data.draw(st.sampled_from(sorted(self.revs)))
        changes = self.timeline.diff(a, b)
        assert apply_changes(self.timeline.value_at(a), changes) == self.revs[b].value

    # -- invariants ------------------------------------------------------------

    @invariant()
    def every_held_revision_matches(self) -> None:
        assert len(self.timeline) == len(self.revs)
        for number, model in self.revs.items():
            rev = self.timeline.revision(number)
            assert thaw(rev.value) == model.value
            assert rev.branch == model.branch
            if model.parent is not None:
                assert rev.parent == model.parent

    @invariant()
    def cursor_and_branches_match(self) -> None:
        assert self.timeline.head.number == self.cursor
        assert self.timeline.current_branch == self.branch
        assert thaw(self.timeline.value) == self.current()
        assert self.timeline.branches() == self.tips

    @invariant()
    def history_is_the_lineage(self) -> None:
        assert [r.number for r in self.timeline.history()] == self.lineage(self.cursor)


# RELIABILITY C8: 100 examples x 50 steps in make test (under coverage 300 took
# 97 s, the second slowest test), 300 x SCALE in make soak.
TimelineMachine.TestCase.settings = settings(
    max_examples=scaled(300, ci=100), stateful_step_count=50, deadline=None
)
TestTimelineModel = TimelineMachine.TestCase


class _NeverBranches(Timeline[Any]):
    """A deliberately broken engine: writing after a checkout overwrites the
    branch's forward path instead of starting a branch."""

    def _record(self, *args: Any, **kwargs: Any) -> Any:
        self._cursor.tip = self._cursor.head
        return super()._record(*args, **kwargs)


class TestTheModelCheckHasTeeth:
    def test_it_catches_an_engine_that_loses_the_forward_path(self) -> None:
        """The same machine run against a broken engine finds a failure."""

        class Broken(TimelineMachine):
            timeline_class = _NeverBranches

        with pytest.raises(AssertionError):
            run_state_machine_as_test(
                Broken,
                settings=settings(
                    max_examples=200, deadline=None, phases=[Phase.generate]
                ),
            )
