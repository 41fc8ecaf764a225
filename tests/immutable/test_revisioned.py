"""Revisioned immutables, their manager and RevisionedMapping, on the engine."""

from __future__ import annotations

import asyncio
import pickle
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from statetrail import (
    MISSING,
    Change,
    ConflictError,
    RevisionNotFoundError,
    set_origin_capture,
)
from statetrail.immutable import (
    RevisionedImmutable,
    RevisionedMapping,
    SimpleRevisionedImmutableManager,
    UnknownRevisionError,
    interfaces,
    revision_context,
    update,
)


class Answer(RevisionedImmutable):
    def __init__(self, question: str | None = None, answer: Any = None) -> None:
        self.question = question
        self.answer = answer


def _history(n: int, **first: Any) -> tuple[RevisionedMapping, list[Answer]]:
    """A mapping with key "a" holding ``n`` revisions: answer 0, 1, ... n-1."""
    data = RevisionedMapping()
    data["a"] = rev = Answer("q", 0, **first)
    revs = [rev]
    for i in range(1, n):
        with update(rev, f"creator{i % 2}", f"comment {i}") as rev:
            rev.answer = i
        revs.append(rev)
    return data, revs


def _after(moment: datetime) -> datetime:
    """A time strictly after ``moment``, with the clock already past it."""
    while datetime.now(UTC) <= moment:
        pass
    t = datetime.now(UTC)
    while datetime.now(UTC) <= t:
        pass
    return t


class TestRevisionedImmutable:
    """The revision attributes of one object."""

    def test_unmanaged_defaults(self) -> None:
        """Before any manager: version 0, no times, no creator or comment."""
        a = Answer("q")
        assert a.__im_version__ == 0
        assert a.__im_start_on__ is None
        assert a.__im_end_on__ is None
        assert a.__im_creator__ is None
        assert a.__im_comment__ is None
        assert a.__im_manager__ is None
        assert a.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_unmanaged_update(self) -> None:
        """Without a manager an update still notes creator, comment and version."""
        a = Answer("q")
        with update(a, creator="universe", comment="Get answer") as b:
            b.answer = 42
            assert b.__im_state__ == interfaces.IM_STATE_TRANSIENT
        assert b is not a
        assert (b.answer, b.__im_version__) == (42, 1)
        assert (b.__im_creator__, b.__im_comment__) == ("universe", "Get answer")
        assert b.__im_state__ == interfaces.IM_STATE_LOCKED
        assert b.__im_manager__ is None

    def test_managed_update_retires_the_old_revision(self) -> None:
        """The new revision is current; the old one ends when the new one starts."""
        _, (r0, r1) = _history(2)
        assert r1.__im_end_on__ is None
        assert r1.__im_state__ == interfaces.IM_STATE_LOCKED
        assert r0.__im_end_on__ == r1.__im_start_on__
        assert r0.__im_state__ == interfaces.IM_STATE_RETIRED
        assert r0.__im_start_on__ is not None
        assert r0.__im_start_on__ <= r1.__im_start_on__
        assert r1.__im_start_on__.tzinfo is UTC

    def test_failed_update_records_nothing(self) -> None:
        """An exception in the block adds no revision."""
        data, (r0,) = _history(1)

        def fail() -> None:
            with update(r0, "x") as r:
                r.answer = 1
                raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            fail()
        manager = data.revision_manager("a")
        assert manager.number_of_revisions() == 1
        assert manager.current_revision() is r0

    def test_retry_after_a_failed_update(self) -> None:
        """After a failed block rebinds the name, updating it again still works."""
        data, (rev,) = _history(1)
        first = rev

        def fail() -> None:
            nonlocal rev
            with update(rev, "x") as rev:
                rev.answer = "lost"
                raise ValueError("no")

        with pytest.raises(ValueError, match="no"):
            fail()
        assert rev is not first
        assert rev.answer == 0
        with update(rev, "y") as rev:
            rev.answer = 1
        manager = data.revision_manager("a")
        assert manager.revision_history() == [first, rev]
        assert manager.record_of(rev).number == 1
        manager.rollback_to(first)
        assert manager.current_revision() is first

    def test_pickle_drops_the_manager(self) -> None:
        """A pickled revision keeps its content and metadata, not its manager."""
        _, (_, r1) = _history(2)
        back = pickle.loads(pickle.dumps(r1))
        assert (back.question, back.answer) == ("q", 1)
        assert back.__im_version__ == 1
        assert back.__im_creator__ == "creator1"
        assert back.__im_start_on__ == r1.__im_start_on__
        assert back.__im_manager__ is None
        assert back.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_retired_revisions_stay_locked(self) -> None:
        """A retired revision still refuses writes."""
        _, (r0, _) = _history(2)
        with pytest.raises(AttributeError, match="locked"):
            r0.answer = 5


class TestManager:
    """SimpleRevisionedImmutableManager reading and recording."""

    def test_empty_manager(self) -> None:
        """A new manager has no revisions and no current one."""
        m = SimpleRevisionedImmutableManager()
        assert m.current_revision() is None
        assert m.number_of_revisions() == 0
        assert m.revision_history() == []
        assert m.timeline is None
        assert m.blame("answer") is None

    def test_add_revision(self) -> None:
        """add_revision makes the object current and the manager its own."""
        m = SimpleRevisionedImmutableManager("answers")
        a = Answer("q")
        m.add_revision(a)
        assert m.current_revision() is a
        assert a.__im_manager__ is m
        assert a.__im_start_on__ is not None
        b = Answer("other")
        m.addRevision(b, old=a)
        assert m.current_revision() is b
        assert a.__im_end_on__ == b.__im_start_on__
        assert [r.question for r in m.revision_history()] == ["q", "other"]

    def test_add_revision_refusals(self) -> None:
        """Transient objects, duplicates and other managers' revisions are refused."""
        m = SimpleRevisionedImmutableManager()
        a = Answer("q")
        m.add_revision(a)
        with pytest.raises(ValueError, match="already a revision of this"):
            m.add_revision(a)
        with pytest.raises(ValueError, match="another"):
            SimpleRevisionedImmutableManager().add_revision(a)
        with update(a) as b, pytest.raises(ValueError, match="update"):
            m.add_revision(b)
        with pytest.raises(TypeError, match="RevisionedImmutable"):
            m.add_revision(object())  # type: ignore[arg-type]

    def test_versions_are_revision_numbers(self) -> None:
        """__im_version__ is the timeline's revision number, in order."""
        data, revs = _history(4)
        manager = data.revision_manager("a")
        assert [r.__im_version__ for r in revs] == [0, 1, 2, 3]
        assert all(manager.revision(i) is revs[i] for i in range(4))
        with pytest.raises(UnknownRevisionError):
            manager.revision(9)

    def test_history_in_version_order(self) -> None:
        """Quick successive revisions (start times may be equal) list by version."""
        data, _revs = _history(30)
        history = data.revision_manager("a").revision_history()
        assert [r.__im_version__ for r in history] == list(range(30))

    def test_current_and_count(self) -> None:
        """getCurrentRevision is the newest; getNumberOfRevisions counts history."""
        data, revs = _history(3)
        m = data.getRevisionManager("a")
        assert m.getCurrentRevision(revs[0]) is revs[2]
        assert m.getNumberOfRevisions() == 3
        assert data["a"] is revs[2]

    def test_engine_records(self) -> None:
        """Each revision has the engine's record: changes, diff, blame, metadata."""
        data, (r0, r1, r2) = _history(3)
        m = data.revision_manager("a")
        record = m.record_of(r1)
        assert record.number == 1
        assert record.changes == (Change(("answer",), 0, 1),)
        assert (record.author, record.comment) == ("creator1", "comment 1")
        assert m.diff(r0) == [Change(("answer",), 0, 2)]
        assert m.diff(r2, r0) == [Change(("answer",), 2, 0)]
        assert m.blame("answer") is r2
        assert m.blame("question") is r0
        assert m.timeline is not None
        assert m.timeline.value == {"question": "q", "answer": 2}

    def test_nested_values_in_the_timeline(self) -> None:
        """Container attributes are kept frozen in the timeline; blame goes inside."""

        class Report(RevisionedImmutable):
            def __init__(self) -> None:
                self.items = {"a": [1]}
                self.answer = Answer("inner")

        data = RevisionedMapping()
        data["r"] = r0 = Report()
        with update(r0) as r1:
            r1.items["a"].append(2)
        m = data.revision_manager("r")
        assert m.record_of(r1).changes == (Change(("items", "a", 1), MISSING, 2),)
        assert m.blame(("items", "a")) is r1
        assert m.blame("answer.question") is r0
        assert r1.answer.question == "inner"

    def test_repr(self) -> None:
        """The repr names the class with its module, the count and the current one."""
        data, _ = _history(2)
        text = repr(data.revision_manager("a"))
        assert text.startswith(
            "<statetrail.immutable.revisioned.SimpleRevisionedImmutableManager 'a'"
        )
        assert text.endswith("(2 revisions, current revision 1)>")

    def test_threads_updating_one_current_revision(self) -> None:
        """Concurrent updates of one revision: one is recorded, the others are
        refused with ConflictError (none is recorded after a change it never saw)."""
        data, (r0,) = _history(1)
        barrier = threading.Barrier(6)
        outcomes: list[str] = []

        def work(i: int) -> None:
            try:
                with update(r0, f"t{i}") as r:
                    barrier.wait()
                    r.answer = i
            except ConflictError:
                outcomes.append("refused")
            else:
                outcomes.append("recorded")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["recorded"] + ["refused"] * 5
        m = data.revision_manager("a")
        assert m.timeline is not None
        assert len(m.timeline.revisions()) == 2
        current = m.current_revision()
        assert current is not None
        assert [r.__im_version__ for r in m.revision_history()] == [0, 1]


class TestRevisionHistory:
    """getRevisionHistory / revision_history: filters, ordering, batching."""

    def test_sized_and_reiterable(self) -> None:
        """The result has a length and can be iterated more than once."""
        data, revs = _history(3)
        history = data.revision_manager("a").getRevisionHistory()
        assert len(history) == 3
        assert list(history) == list(history) == revs

    def test_creator_filter(self) -> None:
        """creator matches exactly; revisions without a creator never match."""
        data, revs = _history(5)
        m = data.revision_manager("a")
        assert m.getRevisionHistory(creator="creator1") == [revs[1], revs[3]]
        assert m.revision_history(creator="creator") == []

    def test_comment_filter(self) -> None:
        """comment matches as a substring."""
        data, revs = _history(12)
        m = data.revision_manager("a")
        assert m.getRevisionHistory(comment="comment 1") == [
            revs[1],
            revs[10],
            revs[11],
        ]
        assert m.revision_history(comment="nothing") == []

    def test_start_before_and_after(self) -> None:
        """startBefore and startAfter are strict bounds on __im_start_on__."""
        data = RevisionedMapping()
        data["a"] = r0 = Answer("q", 0)
        assert r0.__im_start_on__ is not None
        t1 = _after(r0.__im_start_on__)
        with update(r0) as r1:
            r1.answer = 1
        assert r1.__im_start_on__ is not None
        t2 = _after(r1.__im_start_on__)
        with update(r1) as r2:
            r2.answer = 2
        m = data.revision_manager("a")
        assert m.getRevisionHistory(startBefore=t1) == [r0]
        assert m.getRevisionHistory(startAfter=t1) == [r1, r2]
        assert m.getRevisionHistory(startAfter=t1, startBefore=t2) == [r1]
        assert m.revision_history(start_before=r1.__im_start_on__) == [r0]
        assert m.revision_history(start_after=r1.__im_start_on__) == [r2]
        local_naive = t1.astimezone().replace(tzinfo=None)
        assert m.revision_history(start_after=local_naive) == [r1, r2]

    def test_reversed(self) -> None:
        """reversed lists the newest first."""
        data, revs = _history(3)
        m = data.revision_manager("a")
        assert m.getRevisionHistory(reversed=True) == revs[::-1]

    def test_batching(self) -> None:
        """batchStart skips matches, batchSize caps them, after filtering."""
        data, revs = _history(5)
        m = data.revision_manager("a")
        assert m.getRevisionHistory(batchSize=2) == revs[:2]
        assert m.getRevisionHistory(batchStart=2, batchSize=2) == revs[2:4]
        assert m.getRevisionHistory(batchStart=4, batchSize=2) == revs[4:]
        assert m.getRevisionHistory(batchStart=9) == []
        assert m.getRevisionHistory(batchSize=0) == []
        assert m.getRevisionHistory(creator="creator0", batchStart=1, batchSize=5) == [
            revs[4]
        ]
        assert m.getRevisionHistory(reversed=True, batchSize=2) == [revs[4], revs[3]]

    def test_batching_with_time_filters(self) -> None:
        """Batching applies to the time-filtered result too."""
        data, revs = _history(5)
        m = data.revision_manager("a")
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        assert m.revision_history(
            start_after=long_ago, batch_start=1, batch_size=2, reversed=True
        ) == [revs[3], revs[2]]

    def test_negative_batching_refused(self) -> None:
        """A negative batch start or size is a ValueError."""
        data, _ = _history(2)
        m = data.revision_manager("a")
        with pytest.raises(ValueError, match="negative"):
            m.revision_history(batch_start=-1)
        with pytest.raises(ValueError, match="negative"):
            m.revision_history(batch_size=-1, start_after=datetime.now(UTC))


class TestRollback:
    """rollbackToRevision / rollback_to: nothing is ever deleted."""

    @pytest.mark.parametrize("target", [0, 2, 4])
    def test_rollback_to_first_middle_last(self, target: int) -> None:
        """The target becomes current and newest; later revisions stay on a branch."""
        data, revs = _history(5)
        m = data.revision_manager("a")
        m.rollbackToRevision(revs[target])
        assert m.current_revision() is revs[target]
        assert data["a"] is revs[target]
        assert m.revision_history() == revs[: target + 1]
        assert m.number_of_revisions() == target + 1
        assert revs[target].__im_end_on__ is None
        assert revs[target].__im_state__ == interfaces.IM_STATE_LOCKED
        for later in revs[target + 1 :]:
            assert later.__im_state__ == interfaces.IM_STATE_RETIRED
        assert m.timeline is not None
        assert len(m.timeline.revisions()) == 5
        assert all(m.revision(i) is revs[i] for i in range(5))

    def test_update_after_rollback_branches(self) -> None:
        """Updating the rolled-back-to revision starts a branch; the old one stays."""
        data, revs = _history(3)
        m = data.revision_manager("a")
        m.rollback_to(revs[0])
        with update(revs[0], "me") as again:
            again.answer = 99
        assert again.__im_version__ == 3
        assert m.revision_history() == [revs[0], again]
        assert m.timeline is not None
        branches = m.timeline.branches()
        assert branches["main"] == 2
        assert len(branches) == 2
        m.rollback_to(revs[2])
        assert m.revision_history() == revs
        assert again.__im_state__ == interfaces.IM_STATE_RETIRED

    def test_update_of_a_retired_revision_is_refused(self) -> None:
        """An update of a revision that is no longer current is refused before its
        block runs; rolling back to it first branches from it."""
        data, revs = _history(3)
        m = data.revision_manager("a")
        ran = False
        with pytest.raises(ConflictError, match="no longer current"), update(revs[1]):
            ran = True
        assert not ran
        assert m.current_revision() is revs[2]
        assert len(m.timeline.revisions()) == 3  # type: ignore[union-attr]
        m.rollback_to(revs[1])
        with update(revs[1]) as side:
            side.answer = "side"
        assert m.current_revision() is side
        assert m.revision_history() == [revs[0], revs[1], side]
        assert m.record_of(side).parent == 1
        assert revs[2].__im_state__ == interfaces.IM_STATE_RETIRED

    def test_a_revision_superseded_during_the_block_is_refused_at_its_end(
        self,
    ) -> None:
        """If another update lands while a block runs, the block's revision is
        refused when it ends (optimistic concurrency), and nothing is recorded."""
        data, (r0,) = _history(1)
        m = data.revision_manager("a")
        landed: list[Answer] = []

        def race() -> None:
            with update(r0) as mine:
                mine.answer = "mine"
                with update(r0) as theirs:
                    theirs.answer = "theirs"
                landed.append(theirs)

        with pytest.raises(ConflictError):
            race()
        assert m.current_revision() is landed[0]
        assert [r.answer for r in m.revision_history()] == [0, "theirs"]

    def test_rollback_without_activation(self) -> None:
        """activate=False truncates the history but leaves no current revision."""
        data, revs = _history(3)
        m = data.revision_manager("a")
        m.rollbackToRevision(revs[1], activate=False)
        assert m.current_revision() is None
        assert data["a"] is None
        assert m.revision_history() == revs[:2]
        assert revs[1].__im_end_on__ is not None
        assert revs[1].__im_state__ == interfaces.IM_STATE_RETIRED
        assert revs[2].__im_state__ == interfaces.IM_STATE_RETIRED
        with update(revs[1]) as r:
            r.answer = "next"
        assert m.current_revision() is r
        assert m.revision_history() == [*revs[:2], r]

    def test_deactivating_the_current_revision(self) -> None:
        """Rolling back to the current revision without activation retires it."""
        data, revs = _history(2)
        m = data.revision_manager("a")
        m.rollback_to(revs[1], activate=False)
        assert m.current_revision() is None
        assert revs[1].__im_state__ == interfaces.IM_STATE_RETIRED
        m.rollback_to(revs[1])
        assert m.current_revision() is revs[1]
        assert revs[1].__im_state__ == interfaces.IM_STATE_LOCKED

    def test_unknown_revision(self) -> None:
        """A revision of another history is a KeyError (and RevisionNotFoundError)."""
        data, _ = _history(2)
        _other, (stranger,) = _history(1)
        m = data.revision_manager("a")
        with pytest.raises(KeyError):
            m.rollback_to(stranger)
        with pytest.raises(RevisionNotFoundError):
            m.rollback_to(Answer("loose"))
        assert m.number_of_revisions() == 2


class TestOrigins:
    """Each revision records the user's line that made it."""

    def test_update_origin_is_the_with_line(self) -> None:
        """The origin of an update is the line of the user's with statement."""
        data, (r0,) = _history(1)
        line = sys._getframe().f_lineno + 1
        with update(r0, "me") as r1:
            r1.answer = 1
        origin = data.revision_manager("a").record_of(r1).origin
        assert origin is not None
        assert (origin.file, origin.line) == (__file__, line)
        assert origin.function == "test_update_origin_is_the_with_line"

    def test_add_revision_and_mapping_origins(self) -> None:
        """add_revision and setting an existing key record the caller's line."""
        data, (_r0,) = _history(1)
        m = data.revision_manager("a")
        b = Answer("b")
        line = sys._getframe().f_lineno + 1
        m.add_revision(b)
        c = Answer("c")
        data["a"] = c
        origin_b = m.record_of(b).origin
        origin_c = m.record_of(c).origin
        assert origin_b is not None
        assert origin_c is not None
        assert (origin_b.file, origin_b.line) == (__file__, line)
        assert (origin_c.file, origin_c.line) == (__file__, line + 2)

    def test_capture_off(self) -> None:
        """With origin capture off, revisions have no origin."""
        data, (r0,) = _history(1)
        set_origin_capture(False)
        with update(r0) as r1:
            r1.answer = 1
        assert data.revision_manager("a").record_of(r1).origin is None


class TestRevisionContext:
    """revision_context: default creator and comment per thread and task."""

    def test_block_defaults(self) -> None:
        """Inside the block, updates get its creator and comment; arguments win."""
        data, (r0,) = _history(1)
        with revision_context(creator="ctx", comment="why"):
            with update(r0) as r1:
                r1.answer = 1
            with update(r1, comment="explicit") as r2:
                r2.answer = 2
            with revision_context(comment="inner"), update(r2) as r3:
                r3.answer = 3
        with update(r3) as r4:
            r4.answer = 4
        assert (r1.__im_creator__, r1.__im_comment__) == ("ctx", "why")
        assert (r2.__im_creator__, r2.__im_comment__) == ("ctx", "explicit")
        assert (r3.__im_creator__, r3.__im_comment__) == ("ctx", "inner")
        assert (r4.__im_creator__, r4.__im_comment__) == (None, None)
        assert data.revision_manager("a").revision_history(creator="ctx") == [
            r1,
            r2,
            r3,
        ]

    def test_first_revision_takes_the_context(self) -> None:
        """Adding a first revision inside a block records the block's creator."""
        data = RevisionedMapping()
        with revision_context(creator="ctx"):
            data["a"] = a = Answer("q")
        assert a.__im_creator__ == "ctx"

    def test_per_thread(self) -> None:
        """Each thread's block applies to that thread's updates only."""
        roots = {name: _history(1)[1][0] for name in ("t1", "t2")}
        out: dict[str, Answer] = {}
        barrier = threading.Barrier(2)

        def work(name: str) -> None:
            with revision_context(creator=name):
                barrier.wait()
                with update(roots[name]) as r:
                    r.answer = name
                out[name] = r

        threads = [threading.Thread(target=work, args=(n,)) for n in ("t1", "t2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert out["t1"].__im_creator__ == "t1"
        assert out["t2"].__im_creator__ == "t2"

    def test_per_task(self) -> None:
        """Each asyncio task's block applies to that task's updates only."""
        roots = {name: _history(1)[1][0] for name in ("a", "b")}

        async def work(name: str) -> Answer:
            with revision_context(creator=name, comment=f"by {name}"):
                await asyncio.sleep(0)
                with update(roots[name]) as r:
                    r.answer = name
                await asyncio.sleep(0)
                return r

        async def main() -> list[Answer]:
            return list(await asyncio.gather(work("a"), work("b")))

        a, b = asyncio.run(main())
        assert (a.__im_creator__, a.__im_comment__) == ("a", "by a")
        assert (b.__im_creator__, b.__im_comment__) == ("b", "by b")


class TestRevisionedMapping:
    """RevisionedMapping: one history per key."""

    def test_mapping_protocol(self) -> None:
        """Keys, len, in, iteration and deletion."""
        data = RevisionedMapping()
        data["a"] = a = Answer("a")
        data["b"] = Answer("b")
        assert len(data) == 2
        assert "a" in data
        assert "zz" not in data
        assert list(data) == ["a", "b"]
        assert data["a"] is a
        del data["b"]
        assert list(data) == ["a"]
        with pytest.raises(KeyError):
            data["b"]
        with pytest.raises(KeyError):
            data.getRevisionManager("b")
        assert repr(data) == "RevisionedMapping(['a'])"

    def test_setting_an_existing_key_adds_a_revision(self) -> None:
        """A new object for a key already there is its next revision."""
        data, (r0,) = _history(1)
        data["a"] = other = Answer("other")
        m = data.revision_manager("a")
        assert m.revision_history() == [r0, other]
        assert r0.__im_state__ == interfaces.IM_STATE_RETIRED
        data["a"] = other
        assert m.number_of_revisions() == 2

    def test_refused_values(self) -> None:
        """None, transient objects and other histories' revisions are refused."""
        data, (r0,) = _history(1)
        with pytest.raises(TypeError):
            data["x"] = None
        with pytest.raises(ValueError, match="another"):
            data["b"] = r0
        assert "b" not in data
