"""update(): the transient version, what it shares, and what happens on errors."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from statetrail.immutable import (
    Immutable,
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    interfaces,
    update,
)

MASTER_ONLY = "update() is only available for master immutables."


class Question(Immutable):
    def __init__(self, text: str = "", answers: list[int] | None = None) -> None:
        self.text = text
        self.answers = answers or []


class Quiz(Immutable):
    def __init__(self, question: Question | None = None) -> None:
        self.question = question
        self.meta = {"level": 1}


def _big(n: int = 2_000) -> ImmutableDict[str, Any]:
    return ImmutableDict({f"k{i}": {"n": i, "tags": [i]} for i in range(n)})


class TestUpdate:
    """The update() block on dicts, lists and sets."""

    def test_new_object_original_unchanged(self) -> None:
        """The block yields a new object; the original keeps its content and lock."""
        d = ImmutableDict({"answer": 0})
        with update(d) as new:
            assert new.__im_state__ == interfaces.IM_STATE_TRANSIENT
            new["answer"] = 42
            assert d["answer"] == 0
        assert new is not d
        assert (new["answer"], d["answer"]) == (42, 0)
        assert new.__im_state__ == d.__im_state__ == interfaces.IM_STATE_LOCKED
        assert new.__im_mode__ == interfaces.IM_MODE_MASTER

    def test_original_refuses_writes_during_the_block(self) -> None:
        """While its update block is open the original stays locked."""
        d = ImmutableDict({"a": 1})
        with update(d) as new, pytest.raises(AttributeError):
            d["a"] = 2
        assert new == {"a": 1}

    def test_slave_cannot_be_updated(self) -> None:
        """update() on a nested immutable raises, naming the master rule."""
        d = ImmutableDict({"witnesses": ["Arthur"], "q": Question("q")})
        for slave in (d["witnesses"], d["q"]):
            with pytest.raises(AttributeError, match=f"^{re.escape(MASTER_ONLY)}$"):
                update(slave)

    def test_slave_handed_out_in_a_block_cannot_be_updated(self) -> None:
        """A nested view read inside an update block is a slave too."""
        with update(ImmutableDict({"a": {"b": 1}})) as new:
            inner = new["a"]
            with pytest.raises(AttributeError, match=f"^{re.escape(MASTER_ONLY)}$"):
                update(inner)

    def test_nested_update_of_a_transient_object_reuses_it(self) -> None:
        """update() of an object already in its block yields that same object."""
        d = ImmutableDict({"a": 1})
        with update(d) as new:
            with update(new) as again:
                again["a"] = 2
            assert again is new
            assert new.__im_state__ == interfaces.IM_STATE_TRANSIENT
        assert new == {"a": 2}
        assert new.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_writes_at_any_depth(self) -> None:
        """Writes through nested views land in the one new version."""
        d = ImmutableDict({"a": {"b": [1, {"c": {2}}]}})
        with update(d) as new:
            new["a"]["b"][1]["c"].add(3)
            new["a"]["b"].append("x")
            new["a"]["z"] = {"deep": [1]}
            new["a"]["z"]["deep"].append(2)
        assert new == {"a": {"b": [1, {"c": {2, 3}}, "x"], "z": {"deep": [1, 2]}}}
        assert d == {"a": {"b": [1, {"c": {2}}]}}

    def test_read_back_inside_the_block(self) -> None:
        """Reads inside the block see the block's own writes."""
        with update(ImmutableDict({"a": 1})) as new:
            new["b"] = [1]
            new["b"].append(2)
            assert new["b"] == [1, 2]
            assert len(new) == 2
            assert sorted(new) == ["a", "b"]
            assert new == {"a": 1, "b": [1, 2]}
            assert repr(new) == "{'a': 1, 'b': [1, 2]}"

    def test_assigning_a_subtree_copies_it(self) -> None:
        """d['x'] = d['y'] copies y's content: later writes to one miss the other."""
        with update(ImmutableDict({"y": {"v": 1}})) as new:
            new["x"] = new["y"]
            new["x"]["v"] = 2
        assert new == {"x": {"v": 2}, "y": {"v": 1}}

    def test_assigning_a_locked_immutable_from_elsewhere(self) -> None:
        """An immutable from another tree is stored by its content."""
        other = ImmutableDict({"list": [1, 2]})
        with update(ImmutableDict()) as new:
            new["copy"] = other["list"]
            new["copy"].append(3)
        assert new == {"copy": [1, 2, 3]}
        assert other == {"list": [1, 2]}

    def test_unchanged_parts_are_shared(self) -> None:
        """Only the changed path is new: every untouched subtree is the same object."""
        d = _big()
        before = d._snapshot()
        with update(d) as new:
            new["k5"]["n"] = -1
        after = new._snapshot()
        assert after["k5"] is not before["k5"]
        assert after["k5"]["tags"] is before["k5"]["tags"]
        assert all(after[f"k{i}"] is before[f"k{i}"] for i in range(2_000) if i != 5)
        assert d["k5"]["n"] == 5

    def test_an_empty_block_shares_everything(self) -> None:
        """A block that writes nothing gives a new object with the very same data."""
        d = _big(50)
        with update(d) as new:
            assert new["k1"]["n"] == 1
        assert new is not d
        assert new._snapshot() is d._snapshot()

    def test_exception_drops_the_changes(self) -> None:
        """An exception leaves the yielded object equal to the original, locked."""
        d = ImmutableDict({"a": {"b": 1}})
        kept: list[Any] = []

        def fail() -> None:
            with update(d) as new:
                kept.append(new)
                new["a"]["b"] = 2
                new["c"] = 3
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail()
        (new,) = kept
        assert new == d == {"a": {"b": 1}}
        assert new.__im_state__ == interfaces.IM_STATE_LOCKED
        with pytest.raises(AttributeError):
            new["a"] = 0

    @pytest.mark.parametrize(
        "obj", [ImmutableList([1]), ImmutableSet({1}), ImmutableDict({"a": 1})]
    )
    def test_creator_and_comment_need_a_revisioned_immutable(self, obj: Any) -> None:
        """A creator or comment given for a plain immutable is a TypeError."""
        with pytest.raises(TypeError, match="revisioned"), update(obj, "me"):
            pass
        with pytest.raises(TypeError, match="revisioned"), update(obj, comment="c"):
            pass

    def test_im_update_is_the_same_block(self) -> None:
        """obj.__im_update__() is what update(obj) returns (shoobx's spelling)."""
        d = ImmutableDict({"a": 1})
        with d.__im_update__() as new:
            new["a"] = 2
        assert new == {"a": 2}

    def test_threads_update_independently(self) -> None:
        """Blocks on one object in several threads each make their own version."""
        d = ImmutableDict({"n": 0})
        results: list[Any] = [None] * 8
        barrier = threading.Barrier(8)

        def work(i: int) -> None:
            with update(d) as new:
                barrier.wait()
                new["n"] = i
            results[i] = new

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r["n"] for r in results] == list(range(8))
        assert d == {"n": 0}


class TestUpdateCustom:
    """The update() block on custom immutables."""

    def test_nested_custom_immutable_is_writable_in_the_block(self) -> None:
        """A nested custom immutable can be changed in place inside the block."""
        quiz = Quiz(Question("q", [1]))
        with update(quiz) as new:
            new.question.text = "changed"
            new.question.answers.append(2)
            new.meta["level"] = 2
        assert (new.question.text, new.question.answers) == ("changed", [1, 2])
        assert new.meta == {"level": 2}
        assert (quiz.question.text, quiz.question.answers) == ("q", [1])
        assert quiz.meta == {"level": 1}
        assert new.question is not quiz.question
        with pytest.raises(AttributeError):
            new.question.text = "again"

    def test_assigned_custom_immutable_becomes_a_slave_copy(self) -> None:
        """A locked master assigned inside a block is copied in as a slave."""
        question = Question("q")
        with update(Quiz()) as quiz:
            quiz.question = question
            quiz.question.text = "edited"
        assert quiz.question is not question
        assert quiz.question.__im_mode__ == interfaces.IM_MODE_SLAVE
        assert question.text == "q"
        assert question.__im_mode__ == interfaces.IM_MODE_MASTER

    def test_custom_immutables_inside_containers(self) -> None:
        """A custom immutable read from a dict or list in a block can be changed."""
        d = ImmutableDict({"q": Question("a"), "qs": [Question("b")]})
        with update(d) as new:
            new["q"].text = "A"
            new["qs"][0].text = "B"
            assert new["q"] is new["q"]
        assert (new["q"].text, new["qs"][0].text) == ("A", "B")
        assert (d["q"].text, d["qs"][0].text) == ("a", "b")
        with pytest.raises(AttributeError):
            new["q"].text = "again"

    def test_exception_restores_a_custom_immutable(self) -> None:
        """A failed block leaves the custom immutable as it was."""
        quiz = Quiz(Question("q"))
        kept: list[Any] = []

        def fail() -> None:
            with update(quiz) as new:
                kept.append(new)
                new.question.text = "lost"
                new.extra = 1
                raise KeyError("x")

        with pytest.raises(KeyError):
            fail()
        (new,) = kept
        assert new.question.text == "q"
        assert not hasattr(new, "extra")
        assert new.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_copy_of_a_transient_custom_immutable(self) -> None:
        """copy.copy() inside a block gives a locked snapshot."""
        import copy

        with update(Question("q")) as new:
            snap = copy.copy(new)
            new.text = "later"
        assert snap.text == "q"
        assert snap.__im_state__ == interfaces.IM_STATE_LOCKED
