"""shoobx.immutable's subclassing surface on the native immutables (issue 10)."""

from __future__ import annotations

import pickle
from datetime import datetime
from typing import Any

import pytest

from statetrail.errors import FrozenError
from statetrail.immutable import (
    Immutable,
    ImmutableDict,
    ImmutableList,
    ImmutableSet,
    RevisionedImmutable,
    RevisionedMapping,
    SimpleRevisionedImmutableManager,
    UnknownRevisionError,
    applyStateOnInit,
    failOnNonTransient,
    interfaces,
    update,
)

LOCKED = interfaces.IM_STATE_LOCKED
TRANSIENT = interfaces.IM_STATE_TRANSIENT
SLAVE = interfaces.IM_MODE_SLAVE
MASTER = interfaces.IM_MODE_MASTER


class Node(Immutable):
    def __init__(self, name: str = "", **attrs: Any) -> None:
        self.name = name
        for key, value in attrs.items():
            setattr(self, key, value)


class Decorated(Immutable):
    @applyStateOnInit
    def __init__(self, items: tuple[int, ...] = ()) -> None:
        self.items = list(items)

    @failOnNonTransient
    def add(self, item: int) -> None:
        self.items.append(item)


class Rev(RevisionedImmutable):
    def __init__(self, answer: Any = None) -> None:
        self.answer = answer


class TestConstructorKeywords:
    """im_finalize= and im_mode= on every immutable."""

    @pytest.mark.parametrize(
        ("cls", "content"),
        [(ImmutableDict, {"a": {"b": 1}}), (ImmutableList, [[1]]), (ImmutableSet, {1})],
    )
    def test_containers(self, cls: Any, content: Any) -> None:
        """A container made with im_finalize=False is a transient master until
        __im_finalize__(); im_mode="slave" makes it a slave update() refuses."""
        draft = cls(content, im_finalize=False)
        assert (draft.__im_state__, draft.__im_mode__) == (TRANSIENT, MASTER)
        draft.__im_finalize__()
        assert draft.__im_state__ == LOCKED
        assert draft == content
        with pytest.raises(RuntimeError, match="Cannot finalize"):
            draft.__im_finalize__()
        slave = cls(content, im_mode=SLAVE)
        assert (slave.__im_state__, slave.__im_mode__) == (LOCKED, SLAVE)
        with pytest.raises(AttributeError, match="master"):
            update(slave)

    def test_nested_values_lock_with_the_container(self) -> None:
        """Nested values of a transient container are transient slaves, locked
        with it by __im_set_state__("locked")."""
        d = ImmutableDict({"q": {"a": 42}}, im_finalize=False)
        assert (d["q"].__im_state__, d["q"].__im_mode__) == (TRANSIENT, SLAVE)
        d["q"]["a"] = 43
        d.__im_set_state__(LOCKED)
        assert d["q"].__im_state__ == LOCKED
        assert d == {"q": {"a": 43}}
        with pytest.raises(AttributeError):
            d["q"]["a"] = 44

    def test_custom_classes(self) -> None:
        """Immutable subclasses take both keywords, with or without __init__."""
        node = Node("n", im_finalize=False, im_mode=SLAVE)
        assert (node.__im_state__, node.__im_mode__) == (TRANSIENT, SLAVE)
        node.name = "m"
        node.__im_finalize__()
        assert node.__im_state__ == LOCKED
        with pytest.raises(ValueError, match="mode"):
            Node("n", im_mode="boss")

    def test_apply_state_on_init_and_fail_on_non_transient(self) -> None:
        """applyStateOnInit takes the keywords; failOnNonTransient guards a method."""
        d = Decorated((1,))
        assert d.__im_state__ == LOCKED
        with pytest.raises(FrozenError, match="locked immutable"):
            d.add(2)
        with update(d) as d2:
            d2.add(2)
        assert list(d2.items) == [1, 2]
        draft = Decorated(im_finalize=False, im_mode=SLAVE)
        assert (draft.__im_state__, draft.__im_mode__) == (TRANSIENT, SLAVE)
        draft.add(3)
        assert list(draft.items) == [3]


class TestStateAndClone:
    """__im_set_state__, the __im_state__ setter and __im_clone__."""

    def test_set_state(self) -> None:
        """Locking a transient object works; unlocking a locked one is refused."""
        node = Node("n", im_finalize=False)
        node.__im_state__ = LOCKED
        assert node.__im_state__ == LOCKED
        node.__im_set_state__(LOCKED)  # already locked: nothing to do
        with pytest.raises(FrozenError, match="update"):
            node.__im_state__ = TRANSIENT
        with pytest.raises(ValueError, match="state"):
            node.__im_set_state__("melted")
        d = ImmutableDict({"a": 1}, im_finalize=False)
        d.__im_state__ = LOCKED
        assert d.__im_state__ == LOCKED

    def test_clone_is_a_transient_copy(self) -> None:
        """__im_clone__() changes only the copy; nested values are its slaves."""
        node = Node("n", tags=["a"])
        clone = node.__im_clone__()
        assert (clone.__im_state__, clone.__im_mode__) == (TRANSIENT, MASTER)
        clone.tags.append("b")
        clone.name = "m"
        assert (node.name, list(node.tags)) == ("n", ["a"])
        assert clone.tags.__im_mode__ == SLAVE
        lst = ImmutableList([[1]]).__im_clone__()
        assert lst[0].__im_mode__ == SLAVE
        assert lst.__im_state__ == TRANSIENT


class TestConformAndPlacing:
    """__im_conform__, and what a tree keeps of an immutable placed in it."""

    def test_conform(self) -> None:
        """Scalars as they are, containers as transient slaves, locked objects as
        transient slave copies; mutable objects refused."""
        owner = Node()
        assert owner.__im_conform__(42) == 42
        d = owner.__im_conform__({"one": 1})
        assert isinstance(d, ImmutableDict)
        assert (d.__im_state__, d.__im_mode__) == (TRANSIENT, SLAVE)
        locked = Node("x")
        copy = owner.__im_conform__(locked)
        assert copy is not locked
        assert (copy.__im_state__, copy.__im_mode__) == (TRANSIENT, SLAVE)
        draft = Node("y", im_finalize=False)
        assert owner.__im_conform__(draft) is draft
        assert draft.__im_mode__ == SLAVE
        with pytest.raises(ValueError, match="conform"):
            owner.__im_conform__(object())

    def test_a_standalone_transient_object_joins_the_tree(self) -> None:
        """Placed in a tree, it is kept as itself, with everything it holds, and
        locked with the tree."""
        inner = Node("inner", im_finalize=False)
        item = Node("item", tags=["a"], meta={"k": [1]}, im_finalize=False)
        item.child = inner
        assert item.child is inner
        with update(ImmutableDict()) as d:
            d["x"] = item
            item.tags.append("b")  # a write through it lands in the tree
        assert d["x"] is item
        assert d["x"].child is inner
        for obj in (item, inner, item.tags, item.meta, item.meta["k"]):
            assert obj.__im_state__ == LOCKED
        assert list(d["x"].tags) == ["a", "b"]
        with pytest.raises(AttributeError):
            item.meta["k"].append(2)
        with pytest.raises(AttributeError):
            inner.name = "changed"

    def test_a_view_read_before_it_joined_is_locked(self) -> None:
        """A nested view read from it before it joined refuses writes after (they
        would land nowhere); its attributes and what they hold follow the tree."""
        item = Node("item", meta={"k": [1]}, im_finalize=False)
        stale = item.meta["k"]
        with update(ImmutableDict()) as d:
            d["x"] = item
            with pytest.raises(AttributeError):
                stale.append(2)
            item.meta["k"].append(3)
        assert d == {"x": item}
        assert list(item.meta["k"]) == [1, 3]
        assert list(stale) == [1]

    def test_a_constructor_keeps_and_locks_it(self) -> None:
        """A locked container made with it keeps it, locked."""
        item = Node("item", im_finalize=False)
        d = ImmutableDict({"x": item})
        assert d["x"] is item
        assert item.__im_state__ == LOCKED

    def test_the_draft_of_an_update_block_is_copied(self) -> None:
        """The transient version of an update() block is not standalone: placed in
        another tree it is copied, and its own block still locks it."""
        with update(Node("n")) as node:
            with update(ImmutableDict()) as d:
                d["x"] = node
            assert d["x"] is not node
            node.name = "still mine"
        assert node.__im_state__ == LOCKED
        assert d["x"].name == "n"

    def test_a_slave_is_not_placed_twice(self) -> None:
        """A slave custom immutable placed again is an AssertionError."""
        with update(Node()) as node:
            node.child = Node("c")
            with pytest.raises(AssertionError, match="slave"):
                node.other = node.child
            with pytest.raises(AssertionError):
                node.others = [node.child]
        with pytest.raises(AssertionError):
            ImmutableList([Node(im_mode=SLAVE)])

    def test_repeating_custom_immutables_in_place_is_refused(self) -> None:
        """lst *= n would put one custom immutable in n places."""
        with update(ImmutableList([1, Node()])) as lst:
            with pytest.raises(AssertionError, match="repeat"):
                lst *= 2
            lst *= 1
        assert len(lst) == 2
        with update(ImmutableList([1, 2])) as plain:
            plain *= 2
        assert plain == [1, 2, 1, 2]

    def test_pickling_keeps_nested_custom_immutables(self) -> None:
        """A pickled tree with nested custom immutables (slaves) loads back."""
        node = Node("n", child=Node("c"))
        back = pickle.loads(pickle.dumps(node))
        assert back.child.name == "c"
        assert back.child.__im_mode__ == SLAVE
        assert back.__im_state__ == LOCKED


class TestContainerExtras:
    """copy() of a transient container, internal names, pickle state."""

    def test_copy_of_a_transient_container_is_refused(self) -> None:
        """As shoobx refuses it; copy() of a locked one works."""
        lst = ImmutableList([1])
        assert lst.copy() == [1]
        with update(lst) as lst2, pytest.raises(AssertionError, match="copy"):
            lst2.copy()

    def test_internal_attribute_names(self) -> None:
        """data is internal for dicts and lists, as in shoobx; dunders for all."""
        assert ImmutableDict().__im_is_internal_attr__("data")
        assert ImmutableList().__im_is_internal_attr__("data")
        assert not ImmutableSet().__im_is_internal_attr__("data")
        assert Node().__im_is_internal_attr__("__x__")
        assert not Node().__im_is_internal_attr__("x")

    def test_dict_get_and_set_state(self) -> None:
        """__getstate__ is a plain dict of the items; __setstate__ loads one."""
        d = ImmutableDict(answer=42)
        assert d.__getstate__() == {"answer": 42}
        assert type(d.__getstate__()) is dict
        empty = ImmutableDict.__new__(ImmutableDict)
        empty.__setstate__({"answer": [42]})
        assert empty == {"answer": [42]}
        assert empty.__im_state__ == LOCKED


class Recorder:
    """A manager of another kind: shoobx's IRevisionedImmutableManager protocol."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def addRevision(self, new: Any, old: Any = None) -> None:
        self.calls.append((new, old))


class TestRevisionedSurface:
    """The manager protocol, the now hook and the retired state."""

    def test_a_foreign_manager_gets_add_revision(self) -> None:
        """update() hands the new revision to any manager via addRevision()."""
        r0 = Rev(1)
        r0.__im_manager__ = recorder = Recorder()  # type: ignore[assignment]
        with update(r0) as r1:
            r1.answer = 2
        assert recorder.calls == [(r1, r0)]

    def test_now_hook(self) -> None:
        """A manager's now, when set, dates the revisions; the filters use it."""
        manager = SimpleRevisionedImmutableManager()
        manager.now = lambda: datetime(2020, 1, 1)
        manager.add_revision(r0 := Rev())
        manager.now = lambda: datetime(2020, 1, 2)
        with update(r0) as r1:
            pass
        assert r0.__im_start_on__ == datetime(2020, 1, 1)
        assert r0.__im_end_on__ == r1.__im_start_on__ == datetime(2020, 1, 2)
        assert manager.revision_history(start_before=datetime(2020, 1, 2)) == [r0]
        assert manager.revision_history(start_after=datetime(2020, 1, 1)) == [r1]

    def test_a_current_revision_ended_by_hand_is_not_current(self) -> None:
        """Setting __im_end_on__ on the current revision ends it, as shoobx reads."""
        manager = SimpleRevisionedImmutableManager()
        manager.add_revision(r0 := Rev())
        r0.__im_end_on__ = r0.__im_start_on__
        assert manager.current_revision() is None

    def test_add_revision_retires_an_old_revision_it_never_held(self) -> None:
        """addRevision(new, old) starting a history retires old, as shoobx does."""
        manager = SimpleRevisionedImmutableManager()
        new = Rev()
        old = new.__im_clone__()
        manager.addRevision(new, old=old)
        assert manager.revision_history() == [new]
        assert old.__im_end_on__ == new.__im_start_on__
        assert old.__im_state__ == interfaces.IM_STATE_RETIRED

    def test_retired_state_can_be_set(self) -> None:
        """__im_state__ = "retired" locks and ends a revision."""
        r = Rev(im_finalize=False)
        r.__im_state__ = interfaces.IM_STATE_RETIRED
        assert r.__im_state__ == interfaces.IM_STATE_RETIRED
        assert r.__im_end_on__ is not None

    def test_unknown_revision_is_key_and_value_error(self) -> None:
        """shoobx documents KeyError and raises ValueError: both catch it."""
        manager = SimpleRevisionedImmutableManager()
        manager.add_revision(Rev())
        for kind in (KeyError, ValueError, UnknownRevisionError):
            with pytest.raises(kind):
                manager.rollback_to(Rev())

    def test_mapping_manager_class(self) -> None:
        """RevisionedMapping makes its managers of manager_class."""

        class Mine(SimpleRevisionedImmutableManager):
            pass

        class MyMapping(RevisionedMapping):
            manager_class = Mine

        data = MyMapping()
        data["a"] = Rev()
        assert type(data.revision_manager("a")) is Mine
