"""statetrail.compat.shoobx_immutable: the third seed's README and changelog."""

from __future__ import annotations

import datetime
import doctest
import pathlib
import re
from typing import Any

import pytest

import statetrail.compat.shoobx_immutable as im
from statetrail.compat.shoobx_immutable import interfaces
from statetrail.errors import FrozenError

README = pathlib.Path(__file__).with_name("shoobx_README.rst")


class _Checker(doctest.OutputChecker):
    """Reads ``statetrail.errors.FrozenError: ...`` as ``AttributeError: ...``.

    FrozenError *is* an AttributeError, raised with shoobx's exact message; doctest
    only prints the class of the exception by its own name.
    """

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        got = re.sub(r"^statetrail\.errors\.FrozenError: ", "AttributeError: ", got)
        return super().check_output(want, got, optionflags)


class Answer(im.RevisionedImmutable):
    def __init__(self, question: str | None = None, answer: Any = None) -> None:
        self.question = question
        self.answer = answer


class TestReadme:
    """The seed's README runs unchanged but for the import line."""

    def test_readme_differs_only_in_the_import_and_the_manager_path(self) -> None:
        """The doctest file is the seed README with those two lines changed."""
        text = README.read_text()
        assert ">>> import statetrail.compat.shoobx_immutable as im" in text
        assert "<statetrail...SimpleRevisionedImmutableManager ...>" in text
        assert "shoobx.immutable as im" not in text

    def test_readme_doctest(self) -> None:
        """Every example of the README gives the documented output."""
        parser = doctest.DocTestParser()
        test = parser.get_doctest(README.read_text(), {}, README.name, str(README), 0)
        runner = doctest.DocTestRunner(checker=_Checker(), optionflags=doctest.ELLIPSIS)
        runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.attempted >= 50
        assert result.failed == 0

    def test_locked_error_is_attribute_error_with_the_message(self) -> None:
        """The README's AttributeError is statetrail's FrozenError, same message."""
        answer = im.ImmutableDict({"answer": 0})
        with pytest.raises(AttributeError) as info:
            answer["answer"] = 42
        assert type(info.value) is FrozenError
        assert str(info.value) == "Cannot update locked immutable object."


class TestNames:
    """The compat module exposes the seed's names."""

    def test_public_names(self) -> None:
        """Every name the seed's package exports is there."""
        for name in (
            "ImmutableBase",
            "Immutable",
            "update",
            "ImmutableList",
            "ImmutableSet",
            "ImmutableDict",
            "RevisionedImmutableBase",
            "RevisionedImmutable",
            "SimpleRevisionedImmutableManager",
            "RevisionedMapping",
            "interfaces",
        ):
            assert hasattr(im, name), name
        assert im.__version__ == "1.2.0"

    def test_interface_constants(self) -> None:
        """The mode and state constants have shoobx's values."""
        assert interfaces.IM_MODE_MASTER == "master"
        assert interfaces.IM_MODE_SLAVE == "slave"
        assert interfaces.IM_MODE_DEFAULT == "master"
        assert interfaces.IM_STATE_LOCKED == "locked"
        assert interfaces.IM_STATE_TRANSIENT == "transient"
        assert interfaces.IM_STATE_RETIRED == "retired"
        assert interfaces.IM_STATES == ("locked", "transient")
        assert interfaces.IM_STATES_REVISIONED == ("locked", "transient", "retired")
        assert im.interfaces is interfaces


class TestChangelog:
    """Each item of the seed's changelog, 1.0.0 to 1.2.0."""

    def test_get_number_of_revisions(self) -> None:
        """1.2.0: getNumberOfRevisions(obj) counts the revisions."""
        data = im.RevisionedMapping()
        data["a"] = a = Answer("q")
        with im.update(a) as b:
            b.answer = 1
        assert data.getRevisionManager("a").getNumberOfRevisions(b) == 2

    def test_get_revision_history_arguments(self) -> None:
        """1.2.0: filtering, ordering and batching arguments."""
        data = im.RevisionedMapping()
        data["a"] = rev = Answer("q")
        revs = [rev]
        for i in range(4):
            with im.update(rev, "someone", f"Some important update {i}") as rev:
                pass
            revs.append(rev)
        m = data.getRevisionManager("a")
        assert list(m.getRevisionHistory(creator="someone")) == revs[1:]
        assert list(m.getRevisionHistory(comment="important update 2")) == [revs[3]]
        assert next(iter(m.getRevisionHistory(reversed=True))) is revs[-1]
        assert list(m.getRevisionHistory(batchStart=2, batchSize=2)) == revs[2:4]
        far_future = datetime.datetime(3000, 1, 1)
        assert len(m.getRevisionHistory(startBefore=far_future)) == 5
        assert m.getRevisionHistory(startAfter=far_future) == []

    def test_datetime_values(self) -> None:
        """1.1.1: datetime classes are immutable values."""
        moments = [
            datetime.date(2019, 6, 11),
            datetime.time(11, 3),
            datetime.datetime(2019, 6, 11, 11, 3),
            datetime.timedelta(days=42),
            datetime.tzinfo(),
        ]
        lst = im.ImmutableList(moments)
        assert all(a is b for a, b in zip(lst, moments, strict=True))

    def test_version_orders_revisions(self) -> None:
        """1.1.0: __im_version__ gives the order of revisions."""
        data = im.RevisionedMapping()
        data["a"] = rev = Answer("q")
        for _ in range(3):
            with im.update(rev) as rev:
                pass
        versions = [
            r.__im_version__ for r in data.getRevisionManager("a").getRevisionHistory()
        ]
        assert versions == sorted(versions) == [0, 1, 2, 3]

    def test_before_and_after_update_hooks(self) -> None:
        """1.1.0: __im_before_update__ and __im_after_update__ are the update hooks."""
        calls: list[tuple[str, Any]] = []

        class Logged(im.Immutable):
            def __init__(self) -> None:
                self.n = 0

            def __im_before_update__(self, clone: Any, *args: Any) -> None:
                calls.append(("before", clone.__im_state__))

            def __im_after_update__(self, clone: Any, *args: Any, **kw: Any) -> None:
                calls.append(("after", clone.__im_state__))

        with im.update(Logged()) as new:
            new.n = 1
        assert calls == [
            ("before", interfaces.IM_STATE_TRANSIENT),
            ("after", interfaces.IM_STATE_LOCKED),
        ]

    def test_copy_and_fromkeys(self) -> None:
        """1.1.0 and 1.0.5: copy() of locked dicts and lists, a real fromkeys()."""
        d = im.ImmutableDict(answer=42)
        assert dict(d.copy()) == {"answer": 42}
        assert list(im.ImmutableList([41, 42]).copy()) == [41, 42]
        assert dict(im.ImmutableDict.fromkeys([41, 42], "answer")) == {
            41: "answer",
            42: "answer",
        }
        with pytest.raises(AttributeError):
            d.copy()["fishes"] = 43

    def test_update_helper_and_set_repr(self) -> None:
        """1.0.2: the update() helper, and ImmutableSet's repr."""
        s = im.ImmutableSet({42})
        assert repr(s) == "{42}"
        with im.update(s) as s2:
            s2.add(43)
        assert s2 == {42, 43}

    def test_rollback_keeps_every_revision(self) -> None:
        """Unlike the seed's code, a rollback deletes no revision."""
        data = im.RevisionedMapping()
        data["a"] = r0 = Answer("q")
        with im.update(r0) as r1:
            r1.answer = 1
        with im.update(r1) as r2:
            r2.answer = 2
        m = data.getRevisionManager("a")
        m.rollbackToRevision(r1)
        assert list(m.getRevisionHistory()) == [r0, r1]
        timeline = m.timeline
        assert timeline is not None
        assert [r.value["answer"] for r in timeline.revisions()] == [None, 1, 2]
