"""statetrail.compat.shoobx_immutable: the third seed's README and changelog."""

from __future__ import annotations

import datetime
import doctest
import importlib.util
import pathlib
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

import statetrail.compat.shoobx_immutable as im
from statetrail.compat.shoobx_immutable import interfaces
from statetrail.errors import ConflictError, FrozenError

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

    def test_readme_differs_only_in_the_import(self) -> None:
        """The doctest file is the seed README with the import changed; the
        manager's repr names the compat revisioned module where the seed's names
        shoobx.immutable.revisioned."""
        text = README.read_text()
        assert ">>> import statetrail.compat.shoobx_immutable as im" in text
        assert (
            "<statetrail.compat.shoobx_immutable.revisioned."
            "SimpleRevisionedImmutableManager ...>"
        ) in text
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


UPSTREAM = pathlib.Path(__file__).with_name("upstream")


class TestRevisionedModule:
    """Issue 10, defect 5: the revisioned module and its interfaces."""

    def test_the_module_and_the_manager_repr(self) -> None:
        """shoobx's revisioned module is there; the manager's repr names it."""
        from statetrail.compat.shoobx_immutable import revisioned

        assert im.revisioned is revisioned
        assert revisioned.RevisionedImmutableBase is im.RevisionedImmutableBase
        data = revisioned.RevisionedMapping()
        data["a"] = answer = Answer("q")
        manager = answer.__im_manager__
        assert type(manager) is revisioned.SimpleRevisionedImmutableManager
        assert repr(manager).startswith(
            "<statetrail.compat.shoobx_immutable.revisioned."
            "SimpleRevisionedImmutableManager "
        )

    def test_revisioned_interfaces_are_zope_interfaces(self) -> None:
        """IRevisionedImmutable and IRevisionedImmutableManager verify as shoobx's."""
        from zope.interface import verify

        data = im.RevisionedMapping()
        data["a"] = answer = Answer("q")
        manager = data.getRevisionManager("a")
        assert verify.verifyObject(interfaces.IRevisionedImmutable, answer)
        assert verify.verifyObject(interfaces.IRevisionedImmutableManager, manager)
        assert interfaces.IImmutable.providedBy(answer)
        assert interfaces.IImmutable.providedBy(im.ImmutableList())
        assert interfaces.IRevisionedImmutable.extends(interfaces.IImmutable)

    def test_update_of_a_revision_no_longer_current_is_refused(self) -> None:
        """update() of a retired revision raises ConflictError before its block
        runs and records nothing; after a rollback to it, it branches from it."""
        data = im.RevisionedMapping()
        data["a"] = r0 = Answer("q")
        with im.update(r0) as r1:
            r1.answer = 1
        manager = data.getRevisionManager("a")
        entered = []
        with pytest.raises(ConflictError, match="no longer current"), im.update(r0):
            entered.append(True)
        assert entered == []
        assert manager.getNumberOfRevisions() == 2
        assert data["a"] is r1
        manager.rollbackToRevision(r0)
        with im.update(r0) as side:
            side.answer = "side"
        assert list(manager.getRevisionHistory()) == [r0, side]
        assert r1.__im_state__ == interfaces.IM_STATE_RETIRED


class TestInterfacesWithoutZope:
    """interfaces without zope.interface: constants work, interfaces say the extra."""

    def test_import_error_names_the_extra(self) -> None:
        """In a process without zope.interface, the interfaces raise ImportError
        naming statetrail[shoobx]; the rest of the module, and the README's
        objects, work."""
        script = textwrap.dedent(
            """
            import sys
            sys.modules["zope"] = None
            sys.modules["zope.interface"] = None
            import statetrail.compat.shoobx_immutable as im
            from statetrail.compat.shoobx_immutable import interfaces
            assert interfaces.IM_STATE_LOCKED == "locked"
            with im.update(im.ImmutableDict({"a": 1})) as d:
                d["a"] = 2
            assert d == {"a": 2}
            try:
                from statetrail.compat.shoobx_immutable.interfaces import IImmutable
            except ImportError as exc:
                print(exc)
            try:
                interfaces.IRevisionedImmutableManager
            except ImportError as exc:
                print(exc)
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        lines = done.stdout.splitlines()
        assert len(lines) == 2
        assert all("pip install 'statetrail[shoobx]'" in line for line in lines)
        assert lines[0].startswith("IImmutable is a zope interface")


class Question(im.ImmutableBase):
    """A subclass written for shoobx.immutable, as its users write them."""

    @im.applyStateOnInit
    def __init__(self, text: str, answers: tuple[int, ...] = ()) -> None:
        self.text = text
        self.answers = list(answers)

    @im.failOnNonTransient
    def add_answer(self, answer: int) -> None:
        self.answers.append(answer)


class TestSubclassingSurface:
    """Issue 10, defect 10: what people who subclass shoobx.immutable use."""

    def test_decorated_init_and_write_method(self) -> None:
        """applyStateOnInit locks after __init__ and takes im_finalize/im_mode;
        failOnNonTransient refuses the method outside update()."""
        q = Question("Why?", (1,))
        assert q.__im_state__ == interfaces.IM_STATE_LOCKED
        with pytest.raises(AttributeError, match="locked immutable"):
            q.add_answer(2)
        with im.update(q) as q2:
            q2.add_answer(42)
        assert list(q2.answers) == [1, 42]
        assert list(q.answers) == [1]
        draft = Question("How?", im_finalize=False, im_mode=interfaces.IM_MODE_SLAVE)
        assert draft.__im_state__ == interfaces.IM_STATE_TRANSIENT
        assert draft.__im_mode__ == interfaces.IM_MODE_SLAVE
        draft.add_answer(3)
        draft.__im_finalize__()
        assert draft.__im_state__ == interfaces.IM_STATE_LOCKED
        with pytest.raises(RuntimeError, match="Cannot finalize"):
            draft.__im_finalize__()

    def test_conform_clone_and_state(self) -> None:
        """__im_conform__, __im_clone__ and __im_set_state__ as shoobx's."""
        q = Question("Why?")
        conformed = q.__im_conform__({"a": [1]})
        assert isinstance(conformed, im.ImmutableDict)
        assert conformed.__im_state__ == interfaces.IM_STATE_TRANSIENT
        assert conformed.__im_mode__ == interfaces.IM_MODE_SLAVE
        clone = q.__im_clone__()
        assert clone.__im_state__ == interfaces.IM_STATE_TRANSIENT
        clone.text = "What?"
        assert q.text == "Why?"
        clone.__im_state__ = interfaces.IM_STATE_LOCKED
        with pytest.raises(AttributeError):
            clone.text = "Who?"
        with pytest.raises(FrozenError, match="update"):
            clone.__im_set_state__(interfaces.IM_STATE_TRANSIENT)

    def test_a_transient_object_joins_the_tree_a_slave_cannot_be_placed_twice(
        self,
    ) -> None:
        """A transient object placed in a tree is kept as itself and locked with
        the tree; placing a slave again is refused."""
        with im.update(im.ImmutableDict()) as d:
            d["q"] = q = Question("Why?", im_finalize=False)
            q.add_answer(1)  # writes through q land in the tree
            with pytest.raises(AssertionError):
                d["again"] = d["q"]
        assert d["q"] is q
        assert list(q.answers) == [1]
        assert q.__im_state__ == interfaces.IM_STATE_LOCKED
        assert q.answers.__im_state__ == interfaces.IM_STATE_LOCKED

    def test_interfaces_verify(self) -> None:
        """The classes provide shoobx's zope interfaces."""
        from zope.interface import verify

        for cls in (im.ImmutableBase, im.ImmutableDict, im.ImmutableList, Question):
            assert verify.verifyClass(interfaces.IImmutable, cls)
        assert verify.verifyObject(interfaces.IImmutable, Question("Why?"))
        assert verify.verifyClass(interfaces.IImmutableObject, im.Immutable)

    def test_containers_are_immutable_bases(self) -> None:
        """isinstance(x, ImmutableBase) holds for every immutable, as in shoobx."""
        for value in (im.ImmutableDict(), im.ImmutableList(), im.ImmutableSet()):
            assert isinstance(value, im.ImmutableBase)
        assert isinstance(Answer(), im.ImmutableBase)
        assert not isinstance({}, im.ImmutableBase)


def _upstream_conftest() -> Any:
    """tests/compat/upstream/conftest.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location(
        "_shoobx_upstream_conftest", UPSTREAM / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestUpstreamExemptionsTranslated:
    """What each upstream test run as an expected failure checks, read the
    statetrail way: what is kept, and what is refused instead."""

    def test_the_exemptions_are_listed_in_the_module_docstring(self) -> None:
        """Every upstream test the conftest marks is named in the docstring, and
        nothing is skipped any more."""
        conftest = _upstream_conftest()
        assert not hasattr(conftest, "READS_PRIVATE_STORAGE")
        marked = [name.split("::")[1:] for name in conftest.DIFFERS_ON_PURPOSE]
        assert sorted(marked) == [
            ["ImmutableDictTest", "test_attribute_setting"],
            ["ImmutableListTest", "test_attribute_setting"],
        ]
        doc = " ".join((im.__doc__ or "").split())
        for cls, test in marked:
            assert f"``{cls}``'s ``{test}``" in doc, (cls, test)

    @pytest.mark.parametrize(
        ("empty", "write", "replacement"),
        [
            (im.ImmutableDict, lambda data: data.__setitem__("answer", 42), {}),
            (im.ImmutableList, lambda data: data.append(42), []),
        ],
    )
    def test_attribute_setting(
        self, empty: Any, write: Callable[[Any], Any], replacement: Any
    ) -> None:
        """A locked container's .data refuses writes and cannot be replaced (shoobx
        let both change it in place); inside update() both land in the new version.
        New attributes are refused in both states (shoobx allowed them while
        transient)."""
        old = empty()
        with pytest.raises(AttributeError):
            old.somethingNew = 42
        with pytest.raises(FrozenError, match="locked immutable"):
            write(old.data)
        with pytest.raises(FrozenError, match="locked immutable"):
            old.data = replacement
        assert len(old) == 0
        with im.update(old) as new:
            write(new.data)
            assert len(new) == 1
            new.data = replacement
            write(new.data)
            with pytest.raises(AttributeError, match="has no attribute"):
                new.somethingNew = 42
        assert len(new) == 1
        assert len(old) == 0
        with pytest.raises(AttributeError):
            new.somethingNew = 41

    def test_im_set_state_withImmutableValue(self) -> None:
        """A transient set's container members show its state, as shoobx's slaves
        do, but cannot change in place: the set holds them by their hash. To change
        one, discard it and add the new one."""
        im_set = im.ImmutableSet([{42}], im_finalize=False)
        assert im_set.__im_state__ == interfaces.IM_STATE_TRANSIENT
        (member,) = im_set
        assert member.__im_mode__ == interfaces.IM_MODE_SLAVE
        assert member.__im_state__ == interfaces.IM_STATE_TRANSIENT
        with pytest.raises(FrozenError, match="by its hash"):
            member.add(41)
        with pytest.raises(FrozenError, match="by its hash"):
            member.__data__ = {41}
        assert set(im_set) == im_set.__data__ == {frozenset({42})}
        assert im_set <= {frozenset({42})}
        assert {member: 1}[frozenset({42})] == 1
        im_set.__im_set_state__(interfaces.IM_STATE_LOCKED)
        assert member.__im_state__ == interfaces.IM_STATE_LOCKED
        with pytest.raises(FrozenError, match="Cannot update locked"):
            member.add(41)
        with im.update(im_set) as new:
            (member,) = new
            assert member.__im_state__ == interfaces.IM_STATE_TRANSIENT
            new.discard(member)
            new.add({41})  # type: ignore[arg-type]
        assert new.__data__ == {frozenset({41})}
        assert im_set.__data__ == {frozenset({42})}
        (member,) = new
        assert member.__im_state__ == interfaces.IM_STATE_LOCKED


class TestUpstreamStorageReads:
    """The upstream tests that read ``.data`` or ``__data__`` run unchanged in
    tests/compat/upstream; here the same checks read through the public API too
    (``dict(x)``, ``list(x)``, ``set(x)``), and the storage agrees with it."""

    def test_dict(self) -> None:
        """init (dict, keywords), clone, attributes, clear and update."""
        assert dict(im.ImmutableDict({"one": 1})) == {"one": 1}
        dct = im.ImmutableDict(one=1)
        assert dict(dct) == dct.data == {"one": 1}
        clone = dct.__im_clone__()
        assert dict(clone) == clone.data == {"one": 1}
        assert clone.__im_mode__ == interfaces.IM_MODE_MASTER
        assert clone.__im_state__ == interfaces.IM_STATE_TRANSIENT
        with pytest.raises(AttributeError):
            dct.somethingNew = 42  # type: ignore[attr-defined]
        with im.update(im.ImmutableDict(answer=42)) as cleared:
            cleared.clear()
        assert dict(cleared) == cleared.data == {}
        with im.update(im.ImmutableDict()) as updated:
            updated.update({"answer": 42})
        assert dict(updated) == updated.data == {"answer": 42}
        with pytest.raises(AttributeError):
            updated.clear()
        with pytest.raises(AttributeError):
            updated.update({})

    def test_set(self) -> None:
        """init, clone, add, discard, remove, pop, clear and the in-place operators."""
        s = im.ImmutableSet({42})
        assert set(s) == s.__data__ == {42}
        clone = im.ImmutableSet([1]).__im_clone__()
        assert set(clone) == clone.__data__ == {1}
        assert clone.__im_state__ == interfaces.IM_STATE_TRANSIENT
        edits: list[tuple[Any, set[int]]] = [
            (lambda t: t.add(41), {41, 42}),
            (lambda t: t.discard(42), set()),
            (lambda t: t.remove(42), set()),
            (lambda t: t.pop(), set()),
            (lambda t: t.clear(), set()),
            (lambda t: t.__ior__({41}), {41, 42}),
            (lambda t: t.__iand__({41}), set()),
            (lambda t: t.__ixor__({41}), {41, 42}),
            (lambda t: t.__isub__({42}), set()),
        ]
        for edit, expected in edits:
            with im.update(s) as s2:
                edit(s2)
            assert set(s2) == s2.__data__ == expected
            assert set(s) == s.__data__ == {42}
            with pytest.raises(AttributeError):
                edit(s)

    def test_list(self) -> None:
        """init, clone, item and method writes, copy, + and the in-place operators."""
        lst = im.ImmutableList([41, 42])
        assert list(lst) == lst.data == [41, 42]
        clone = lst.__im_clone__()
        assert list(clone) == clone.data == [41, 42]
        assert clone.__im_state__ == interfaces.IM_STATE_TRANSIENT
        assert list(lst.copy()) == lst.copy().data == [41, 42]
        with pytest.raises(AttributeError):
            lst.somethingNew = 42  # type: ignore[attr-defined]
        edits: list[tuple[Any, list[int]]] = [
            (lambda t: t.__setitem__(0, 40), [40, 42]),
            (lambda t: t.__delitem__(0), [42]),
            (lambda t: t.append(43), [41, 42, 43]),
            (lambda t: t.extend([43, 44]), [41, 42, 43, 44]),
            (lambda t: t.__iadd__([43]), [41, 42, 43]),
            (lambda t: t.__imul__(2), [41, 42, 41, 42]),
            (lambda t: t.insert(0, 40), [40, 41, 42]),
            (lambda t: t.pop(), [41]),
            (lambda t: t.remove(42), [41]),
            (lambda t: t.clear(), []),
            (lambda t: t.reverse(), [42, 41]),
            (lambda t: t.sort(reverse=True), [42, 41]),
        ]
        for edit, expected in edits:
            with im.update(lst) as lst2:
                edit(lst2)
            assert list(lst2) == lst2.data == expected
            assert list(lst) == lst.data == [41, 42]
            with pytest.raises(AttributeError):
                edit(lst)

    def test_list_add_in_an_update(self) -> None:
        """ImmutableList + list assigned in a block is a transient slave."""

        class AnImmutable(im.ImmutableBase):
            pass

        with im.update(AnImmutable()) as obj:
            obj.list = im.ImmutableList([41, 42]) + [44, 43]  # noqa: RUF005
            assert obj.list.__im_state__ == interfaces.IM_STATE_TRANSIENT
        assert list(obj.list) == obj.list.data == [41, 42, 44, 43]
