"""Drafts: mutable views of frozen values, against plain dicts, lists and sets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statetrail import Change
from statetrail.diff import apply_changes
from statetrail.frozen import (
    DictDraft,
    FrozenDict,
    FrozenList,
    FrozenSet,
    ListDraft,
    SetDraft,
    edit,
    freeze,
    thaw,
)
from tests.strategies import Collide, json_keys, scalars, trees


class Box:
    """A mutable object of a type statetrail does not know."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items

    __hash__ = None  # type: ignore[assignment]


# -- a random edit applied to a draft and to a plain model --------------------------

new_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(json_keys, scalars, max_size=3),
)
positions = st.integers(-8, 8)
small_trees = trees(scalars, json_keys, max_leaves=12)


def descend(data: st.DataObject, draft: Any, model: Any) -> tuple[Any, Any]:
    """Step through the draft and the model alike into a random nested container."""
    while True:
        keys = range(len(model)) if isinstance(model, list) else list(model)
        nested = [k for k in keys if isinstance(model[k], (dict, list))]
        if not nested or not data.draw(st.booleans()):
            return draft, model
        key = data.draw(st.sampled_from(nested))
        draft, model = draft[key], model[key]


def outcome(action: Any) -> tuple[str, Any]:
    try:
        return ("ok", action())
    except (KeyError, IndexError, ValueError) as exc:
        return (type(exc).__name__, None)


def edit_dict(data: st.DataObject, draft: Any, model: dict[Any, Any]) -> None:
    keys = st.sampled_from(sorted(model)) if model else json_keys
    key = data.draw(st.one_of(keys, json_keys))
    op = data.draw(
        st.sampled_from(
            ["set", "del", "pop", "popitem", "setdefault", "update", "get", "clear"]
        )
    )
    value = data.draw(new_values) if op in ("set", "setdefault", "update") else None
    if op == "set":
        draft[key] = value
        model[key] = copy.deepcopy(value)
    elif op == "del":

        def delete(m: Any) -> Any:
            del m[key]

        assert outcome(lambda: delete(draft)) == outcome(lambda: delete(model))
    elif op == "pop":
        got = outcome(lambda: draft.pop(key))
        assert got[0] == outcome(lambda: model.pop(key))[0]
    elif op == "popitem" and len(model) == 1:
        draft.popitem()
        model.popitem()
    elif op == "setdefault":
        draft.setdefault(key, value)
        model.setdefault(key, copy.deepcopy(value))
    elif op == "update":
        draft.update({key: value}, extra=1)
        model.update({key: copy.deepcopy(value)}, extra=1)
    elif op == "get":
        assert (key in draft) == (key in model)
        assert (draft.get(key, "absent") == "absent") == (key not in model)
    elif op == "clear" and data.draw(st.integers(0, 5)) == 0:
        draft.clear()
        model.clear()


def edit_list(data: st.DataObject, draft: Any, model: list[Any]) -> None:
    op = data.draw(
        st.sampled_from(
            [
                "set", "append", "insert", "del", "pop", "extend", "slice_set",
                "slice_del", "remove", "reverse", "iadd", "read", "read_slice",
            ]
        )
    )  # fmt: skip
    i = data.draw(positions)
    value = data.draw(new_values) if op in ("set", "append", "insert") else None
    if op == "set":
        assert (
            outcome(lambda: draft.__setitem__(i, value))[0]
            == outcome(lambda: model.__setitem__(i, copy.deepcopy(value)))[0]
        )
    elif op == "append":
        draft.append(value)
        model.append(copy.deepcopy(value))
    elif op == "insert":
        draft.insert(i, value)
        model.insert(i, copy.deepcopy(value))
    elif op == "del":
        assert outcome(lambda: draft.__delitem__(i)) == outcome(
            lambda: model.__delitem__(i)
        )
    elif op == "pop":
        assert outcome(lambda: draft.pop(i))[0] == outcome(lambda: model.pop(i))[0]
    elif op == "extend":
        values = data.draw(st.lists(new_values, max_size=3))
        draft.extend(values)
        model.extend(copy.deepcopy(values))
    elif op == "slice_set":
        s = slice(data.draw(positions), data.draw(positions))
        values = data.draw(st.lists(scalars, max_size=3))
        draft[s] = values
        model[s] = list(values)
    elif op == "slice_del":
        s = slice(
            data.draw(positions),
            data.draw(positions),
            data.draw(st.sampled_from([None, 2, -1])),
        )
        del draft[s]
        del model[s]
    elif op == "remove" and model:
        target = model[i % len(model)]
        draft.remove(target)
        model.remove(target)
    elif op == "reverse":
        draft.reverse()
        model.reverse()
    elif op == "iadd":
        values = data.draw(st.lists(scalars, max_size=3))
        draft += values
        model += values
    elif op == "read":
        assert outcome(lambda: draft[i] == model[i]) in (
            ("ok", True),
            ("IndexError", None),
        )
    elif op == "read_slice":
        s = slice(data.draw(positions), data.draw(positions))
        assert draft[s] == model[s]


def random_edits(data: st.DataObject, draft: Any, model: Any, count: int) -> None:
    for _ in range(count):
        target, sub = descend(data, draft, model)
        if isinstance(sub, dict):
            edit_dict(data, target, sub)
        else:
            edit_list(data, target, sub)
        assert len(target) == len(sub)


# -- tests -------------------------------------------------------------------------


class TestDraftsAgainstPlainContainers:
    @given(st.dictionaries(json_keys, small_trees, max_size=6), st.data())
    def test_dict_draft_edits_match_a_dict(
        self, plain: dict[str, Any], data: st.DataObject
    ) -> None:
        """Any edits, at any depth, finish to what the same edits do to a dict."""
        base = freeze(plain)
        model = copy.deepcopy(plain)
        draft = base.draft()
        random_edits(data, draft, model, data.draw(st.integers(1, 8)))
        edits = draft.edits()
        assert draft == model
        result = draft.finish()
        assert type(result) is FrozenDict
        assert result == model
        assert base == plain, "the base changed"
        if edits is not None:
            replayed = apply_changes(base, [Change(*edit) for edit in edits])
            assert replayed == result, "the draft's edits rebuild the result"
            assert list(thaw(replayed)) == list(model), "in the same order"

    @given(st.lists(small_trees, max_size=8), st.data())
    def test_list_draft_edits_match_a_list(
        self, plain: list[Any], data: st.DataObject
    ) -> None:
        """Any edits, at any depth, finish to what the same edits do to a list."""
        base = freeze(plain)
        model = copy.deepcopy(plain)
        draft = base.draft()
        random_edits(data, draft, model, data.draw(st.integers(1, 8)))
        edits = draft.edits()
        assert draft == model
        result = draft.finish()
        assert type(result) is FrozenList
        assert result == model
        assert base == plain, "the base changed"
        if edits is not None:
            replayed = apply_changes(base, [Change(*edit) for edit in edits])
            assert replayed == result, "the draft's edits rebuild the result"
            assert list(thaw(replayed)) == list(model), "in the same order"

    @given(
        st.sets(st.integers(0, 20), max_size=12),
        st.lists(
            st.tuples(
                st.sampled_from(
                    ["add", "discard", "remove", "pop", "ior", "iand", "isub", "ixor"]
                ),
                st.integers(0, 20),
                st.sets(st.integers(0, 20), max_size=4),
            ),
            max_size=15,
        ),
    )
    def test_set_draft_edits_match_a_set(
        self, plain: set[int], steps: list[tuple[str, int, set[int]]]
    ) -> None:
        """add, discard, remove, pop and the in-place operators act as on a set."""
        base = freeze(plain)
        model = set(plain)
        draft = base.draft()
        for op, item, others in steps:
            if op == "add":
                draft.add(item)
                model.add(item)
            elif op == "discard":
                draft.discard(item)
                model.discard(item)
            elif op == "remove":
                if item in model:
                    draft.remove(item)
                    model.remove(item)
                else:
                    with pytest.raises(KeyError):
                        draft.remove(item)
            elif op == "pop" and model:
                model.remove(draft.pop())
            elif op == "ior":
                draft |= others
                model |= others
            elif op == "iand":
                draft &= others
                model &= others
            elif op == "isub":
                draft -= others
                model -= others
            else:
                draft ^= others
                model ^= others
            assert draft == model
            assert len(draft) == len(model)
            assert all(x in draft for x in model)
        assert draft.finish() == model
        assert base == plain


class TestDictDraft:
    def test_nested_assignment(self) -> None:
        """draft["a"]["b"] = 1 writes into the nested dict, as on plain dicts."""
        base = freeze({"a": {"b": 0, "c": [1]}, "x": {"y": 1}})
        draft = base.draft()
        draft["a"]["b"] = 1
        draft["a"]["c"].append(2)
        draft["new"] = {"k": [1]}
        draft["new"]["k"].append(2)
        result = draft.finish()
        assert result == {
            "a": {"b": 1, "c": [1, 2]},
            "x": {"y": 1},
            "new": {"k": [1, 2]},
        }
        assert result["x"] is base["x"], "an untouched subtree is shared"
        assert base == {"a": {"b": 0, "c": [1]}, "x": {"y": 1}}

    def test_untouched_draft_finishes_as_the_same_object(self) -> None:
        """No change, even after reads of nested containers: the base itself."""
        base = freeze(
            {"a": {"b": [1, {"c": 2}]}, "s": {1}, **{f"k{i}": i for i in range(20)}}
        )
        draft = base.draft()
        assert draft.finish() is base
        draft["a"]["b"][1]["c"]
        list(draft.items())
        draft["s"]
        assert draft == base
        assert draft.finish() is base

    def test_writing_back_the_same_values_keeps_identity(self) -> None:
        """Setting keys to the values they hold changes nothing."""
        base = freeze({"a": 1, "b": [1]})
        draft = base.draft()
        draft["a"] = 1
        draft["b"] = base["b"]
        assert draft.finish() is base

    def test_unchanged_subtrees_are_shared(self) -> None:
        """After an edit deep in one branch, every other branch is the base's."""
        base = freeze(
            {f"b{i}": {"items": [i, [i]], "meta": {"n": i}} for i in range(30)}
        )
        draft = base.draft()
        draft["b7"]["items"][1].append("x")
        result = draft.finish()
        assert result["b7"] == {"items": [7, [7, "x"]], "meta": {"n": 7}}
        assert result["b7"]["meta"] is base["b7"]["meta"]
        for i in range(30):
            if i != 7:
                assert result[f"b{i}"] is base[f"b{i}"]

    def test_delete_then_read_and_missing_keys(self) -> None:
        """A deleted key is gone; deleting a missing key raises KeyError."""
        draft = freeze({"a": 1}).draft()
        del draft["a"]
        assert "a" not in draft
        with pytest.raises(KeyError):
            draft["a"]
        with pytest.raises(KeyError):
            del draft["a"]
        with pytest.raises(KeyError):
            del draft["zzz"]
        draft["a"] = 2
        assert draft.finish() == {"a": 2}

    def test_opaque_values_read_through_a_draft_can_be_changed(self) -> None:
        """A draft hands out a private copy of an unknown object; edits to it stick."""
        base = freeze({"box": Box([1])})
        draft = base.draft()
        draft["box"].items.append(2)
        assert draft["box"] == Box([1, 2])
        assert draft.finish() == {"box": Box([1, 2])}
        assert base["box"] == Box([1])

    def test_repr_shows_the_current_items(self) -> None:
        """repr() shows the draft's current contents."""
        draft = freeze({"a": 1}).draft()
        draft["b"] = 2
        assert repr(draft) == "DictDraft({'a': 1, 'b': 2})"

    def test_values_put_in_are_frozen_at_finish(self) -> None:
        """Plain values assigned into a draft become frozen in the result."""
        draft = FrozenDict().draft()
        inner = [1]
        draft["l"] = inner
        inner.append(2)  # like a dict, the draft holds the object until finish
        result = draft.finish()
        inner.append(3)
        assert result == {"l": [1, 2]}
        assert type(result["l"]) is FrozenList


class TestListDraft:
    def test_item_writes_and_appends_stay_an_overlay(self) -> None:
        """Sets, reads and appends copy one path each; finish shares the rest."""
        base = FrozenList([[i] for i in range(2000)])
        draft = base.draft()
        draft[5] = "x"
        draft[-1] = "last"
        draft.append("a")
        draft[-1] = "A"
        draft[10].append(0)
        assert draft[-3] == [1998]
        assert draft[2000] == "A"
        result = draft.finish()
        assert result[5] == "x"
        assert result[1999] == "last"
        assert result[2000] == "A"
        assert result[10] == [10, 0]
        assert result[11] is base[11]
        assert len(result) == 2001

    def test_insertions_and_deletions_in_the_middle(self) -> None:
        """Inserting or deleting mid-list edits the draft's own vector, as a list."""
        plain = list(range(100))
        base = FrozenList(plain)
        draft = base.draft()
        draft[3] = "before"
        draft.append("tail")
        draft.insert(50, "mid")
        assert any(leaf is base._vec.root[2] for leaf in draft._vec.root), "shared"
        del draft[0]
        draft.insert(-1, "penultimate")
        draft[10:12] = ["s1", "s2", "s3"]
        del draft[::10]
        model = list(plain)
        model[3] = "before"
        model.append("tail")
        model.insert(50, "mid")
        del model[0]
        model.insert(-1, "penultimate")
        model[10:12] = ["s1", "s2", "s3"]
        del model[::10]
        assert draft == model
        assert draft.finish() == model
        assert base == plain

    def test_draft_without_net_change_is_the_base(self) -> None:
        """Insert then delete the same item: finish returns the base itself."""
        base = FrozenList([[1], [2], [3]])
        draft = base.draft()
        draft.insert(1, "x")
        del draft[1]
        draft[0].append  # a read hands out a nested draft, which stays unchanged
        assert draft.finish() is base

    def test_untouched_draft_finishes_as_the_same_object(self) -> None:
        """No change, even after reading every item: the base itself."""
        base = FrozenList([{"a": [1]}, [2], 3])
        draft = base.draft()
        assert list(draft) == base
        draft[1]
        assert draft.finish() is base

    def test_negative_indices_and_errors_follow_list(self) -> None:
        """Negative indices read from the end; out of range raises IndexError."""
        draft = FrozenList([1, 2, 3]).draft()
        draft.append(4)
        assert draft[-1] == 4
        assert draft[-4] == 1
        for bad in (4, -5):
            with pytest.raises(IndexError):
                draft[bad]
            with pytest.raises(IndexError):
                draft[bad] = 0
        with pytest.raises(TypeError):
            draft["0"]  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            draft.insert("0", 1)  # type: ignore[arg-type]
        draft.insert(100, "end")
        assert draft == [1, 2, 3, 4, "end"]

    def test_nested_edits_through_indices(self) -> None:
        """draft[0]["k"] = v and draft[-1].append(v) reach nested containers."""
        base = freeze([{"k": 0}, [1]])
        draft = base.draft()
        draft[0]["k"] = 1
        draft[-1].append(2)
        assert draft.finish() == [{"k": 1}, [1, 2]]
        assert base == [{"k": 0}, [1]]

    def test_equality_with_lists(self) -> None:
        """A list draft equals a list with the same items, nested drafts too."""
        draft = freeze([[1, 2], {"a": [3]}]).draft()
        assert draft == [[1, 2], {"a": [3]}]
        assert [[1, 2], {"a": [3]}] == draft  # noqa: SIM300 (the reflected ==)
        assert draft != [[1, 2]]
        assert [1, 2] in draft
        assert draft.index({"a": [3]}) == 1
        assert draft.count([1, 2]) == 1

    def test_repr_shows_the_current_items(self) -> None:
        """repr() shows the draft's current contents."""
        draft = FrozenList([1]).draft()
        draft.append(2)
        assert repr(draft) == "ListDraft([1, 2])"


class TestSetDraft:
    def test_untouched_and_noop_drafts_finish_as_the_base(self) -> None:
        """Adding present members or discarding absent ones changes nothing."""
        base = FrozenSet(range(20))
        draft = base.draft()
        assert draft.finish() is base
        draft.add(3)
        draft.discard(100)
        assert draft.finish() is base

    def test_members_are_frozen(self) -> None:
        """A list added to a set draft is frozen, as FrozenSet.add freezes it."""
        draft = FrozenSet().draft()
        draft.add([1, 2])
        assert FrozenList([1, 2]) in draft
        assert draft.finish() == {FrozenList([1, 2])}

    def test_members_are_removed_as_they_were_added(self) -> None:
        """discard() takes what add() takes; unknown objects come out as themselves."""
        draft = FrozenSet({Collide(1), 2}).draft()
        draft.discard(Collide(1))
        assert Collide(1) not in draft
        draft.add(Collide(1))
        draft.add([1])
        draft.add(Collide(2))
        assert Collide(1) in draft
        draft.discard([1])
        assert draft == {Collide(1), Collide(2), 2}
        assert {type(m) for m in draft} == {Collide, int}
        assert draft.finish() == {Collide(1), Collide(2), 2}

    def test_binary_operators_give_plain_sets(self) -> None:
        """draft - s, draft | s, ... give plain sets; the draft is unchanged."""
        draft = FrozenSet({1, 2, 3}).draft()
        for got, expected in (
            (draft - {1}, {2, 3}),
            (draft | {4}, {1, 2, 3, 4}),
            (draft & {2, 9}, {2}),
            (draft ^ {3, 4}, {1, 2, 4}),
        ):
            assert type(got) is set
            assert got == expected
            assert len(got) == len(expected)
        assert draft == {1, 2, 3}
        assert draft.finish() == {1, 2, 3}

    def test_repr_shows_the_current_members(self) -> None:
        """repr() shows the draft's current members."""
        draft = FrozenSet({1}).draft()
        draft.discard(1)
        assert repr(draft) == "SetDraft(set())"


class TestEdit:
    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ({"a": 1}, DictDraft),
            (freeze({"a": 1}), DictDraft),
            ([1], ListDraft),
            (FrozenList([1]), ListDraft),
            ({1}, SetDraft),
            (FrozenSet({1}), SetDraft),
        ],
    )
    def test_edit_yields_a_draft(self, value: Any, kind: type) -> None:
        """edit() of a dict, list or set, frozen or plain, yields its draft."""
        with edit(value) as draft:
            assert isinstance(draft, kind)
        assert draft.finish() == value

    def test_edit_leaves_a_plain_input_alone(self) -> None:
        """Editing a plain dict through edit() does not modify it."""
        plain = {"a": [1]}
        with edit(plain) as draft:
            draft["a"].append(2)
        assert draft.finish() == {"a": [1, 2]}
        assert plain == {"a": [1]}

    @pytest.mark.parametrize("value", [1, "text", (1, 2), None, Box([1]), 1.5])
    def test_edit_of_a_non_container_raises_type_error(self, value: Any) -> None:
        """Only dicts, lists and sets can be edited."""
        with (
            pytest.raises(TypeError, match="edit\\(\\) takes a dict, list or set"),
            edit(value),
        ):
            pass  # pragma: no cover

    def test_an_exception_in_the_block_propagates(self) -> None:
        """An error inside the block is not swallowed."""
        base = freeze({"a": 1})

        def change_then_fail() -> None:
            with edit(base) as draft:
                draft["a"] = 2
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            change_then_fail()
        assert base == {"a": 1}
