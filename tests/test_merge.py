"""Three-way merge: the rules of ``_merge.merge3`` against simple models, and
``merge`` on every front end (Timeline, Var, Store, AsyncStore): two parents,
conflicts, each ``resolve`` form, validators, log, diff and blame."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import statetrail
from statetrail import (
    MISSING,
    AsyncStore,
    FrozenDict,
    FrozenList,
    MergeConflict,
    MergeConflictError,
    RevisionNotFoundError,
    Store,
    Timeline,
    freeze,
)
from statetrail._merge import merge3, resolver
from statetrail.diff import same_value
from statetrail.storage.revision_json import from_revision
from tests.strategies import trees

# -- the rules, against models ---------------------------------------------------------

#: What one side does to a base item: nothing, delete it, or replace it.
_FATES = st.sampled_from(["keep", "delete", "replace"])
_SIDES = st.sampled_from(["ours", "theirs"])


@st.composite
def list_edits(draw: st.DrawFn) -> tuple[list[int], dict[str, Any], bool]:
    """A base list of distinct items and edits that never touch one place twice.

    Each item is left, deleted or replaced by one side; each gap (before item
    ``g``, or at the end) gets insertions from at most one side. Items are
    distinct, so each side's edits are found exactly.
    """
    n = draw(st.integers(0, 40))
    base = list(range(n))
    fresh = iter(range(1000, 10_000))
    items: dict[int, tuple[str, str, int]] = {}
    for i in range(n):
        fate = draw(_FATES)
        if fate != "keep":
            items[i] = (draw(_SIDES), fate, next(fresh))
    gaps: dict[int, tuple[str, list[int]]] = {}
    for g in range(n + 1):
        if draw(st.integers(0, 3)) == 0:
            count = draw(st.integers(1, 3))
            gaps[g] = (draw(_SIDES), [next(fresh) for _ in range(count)])
    shared = draw(st.booleans())  # build the sides from the base (sharing) or apart
    return base, {"items": items, "gaps": gaps}, shared


def _apply_model(base: list[int], edits: dict[str, Any], sides: set[str]) -> list[int]:
    out: list[int] = []
    for g in range(len(base) + 1):
        side, inserted = edits["gaps"].get(g, (None, []))
        if side in sides:
            out.extend(inserted)
        if g == len(base):
            break
        side, fate, new = edits["items"].get(g, (None, "keep", None))
        if side not in sides or fate == "keep":
            out.append(base[g])
        elif fate == "replace":
            out.append(new)
    return out


def _side(base: FrozenList[int], wanted: list[int], shared: bool) -> FrozenList[int]:
    """``wanted`` as a frozen list: edited from ``base`` (sharing its subtrees) or
    built apart."""
    if not shared:
        return FrozenList(wanted)
    # Edit base into wanted by a minimal script over distinct items: drop the
    # items wanted lacks, then insert the new ones in place.
    keep = set(wanted)
    out = base
    for i in reversed(range(len(base))):
        if base[i] not in keep:
            out = out.delete(i)
    have = set(out)
    for j, item in enumerate(wanted):
        if item not in have:
            out = out.inserted(j, item)
    assert list(out) == wanted
    return out


def _ambiguous(n: int, edits: dict[str, Any]) -> bool:
    """Whether one side inserted inside a run the other side replaced.

    A side's run is its edited items between two items it kept, with its
    insertions at the gaps around and inside them; a run that only deletes
    counts item by item. Another side's insertion strictly inside a run with
    new items has no place of its own: docs/merge.md's rule 4 makes it a
    conflict.
    """
    items, gaps = edits["items"], edits["gaps"]
    for side in ("ours", "theirs"):
        start = 0
        while start < n:
            if items.get(start, (None,))[0] != side:
                start += 1
                continue
            end = start
            while end < n and items.get(end, (None,))[0] == side:
                end += 1
            replaced = any(items[k][1] == "replace" for k in range(start, end))
            inserted = any(
                gaps.get(g, (None,))[0] == side for g in range(start, end + 1)
            )
            if (replaced or inserted) and any(
                gaps.get(g, (side,))[0] != side for g in range(start + 1, end)
            ):
                return True
            start = end
    return False


class TestListRules:
    @given(list_edits())
    def test_edits_at_different_places_combine_as_the_model_says(
        self, case: tuple[list[int], dict[str, Any], bool]
    ) -> None:
        """Edits of different items, and insertions into different gaps, combine;
        an insertion next to an edited item is not a conflict; built with or
        without shared subtrees, the result is the model's, either way round.
        Only an insertion inside a run the other side replaced conflicts."""
        plain, edits, shared = case
        base = FrozenList(plain)
        ours = _side(base, _apply_model(plain, edits, {"ours"}), shared)
        theirs = _side(base, _apply_model(plain, edits, {"theirs"}), shared)
        expected = _apply_model(plain, edits, {"ours", "theirs"})
        ambiguous = _ambiguous(len(plain), edits)
        for a, b in ((ours, theirs), (theirs, ours)):
            merged, conflicts = merge3(base, a, b)
            if ambiguous:
                assert conflicts
                assert all(c.span for c in conflicts)
            else:
                assert conflicts == []
                assert list(merged) == expected
        assert list(base) == plain  # the inputs are not changed

    def test_an_insertion_between_deleted_items_combines(self) -> None:
        """A run of deletions counts item by item: the other side may insert in it."""
        merged, conflicts = merge3(freeze([0, 1, 2]), freeze([2]), freeze([0, 9, 1, 2]))
        assert (merged, conflicts) == ([9, 2], [])

    def test_an_insertion_inside_a_replaced_run_conflicts(self) -> None:
        """Inside a run replaced by new items, an insertion has no place."""
        _, conflicts = merge3(
            freeze([0, 1, 2]), freeze([7, 8, 2]), freeze([0, 9, 1, 2])
        )
        assert conflicts == [MergeConflict((0,), [0, 1], [7, 8], [0, 9, 1], span=True)]

    def test_one_item_changed_on_both_sides_differently_conflicts(self) -> None:
        """Two different values for one item: a conflict at its index."""
        merged, conflicts = merge3(
            freeze([1, 2, 3]), freeze([1, 5, 3]), freeze([1, 6, 3])
        )
        assert conflicts == [MergeConflict((1,), 2, 5, 6)]
        assert merged == [1, 5, 3]  # ours where unresolved

    def test_the_same_change_on_both_sides_is_taken_once(self) -> None:
        """The same insertion (or edit) on both sides appears once."""
        merged, conflicts = merge3(freeze([1, 2]), freeze([1, 9, 2]), freeze([1, 9, 2]))
        assert (merged, conflicts) == ([1, 9, 2], [])
        merged, conflicts = merge3(
            freeze([1, 2, 3]), freeze([0, 1, 9, 3]), freeze([1, 9, 3, 4])
        )
        assert (merged, conflicts) == ([0, 1, 9, 3, 4], [])

    def test_two_insertions_at_one_place_conflict_as_a_span(self) -> None:
        """Which goes first is not known: a span conflict at the gap."""
        merged, conflicts = merge3(freeze([1, 2]), freeze([1, 7, 2]), freeze([1, 8, 2]))
        assert conflicts == [MergeConflict((1,), [], [7], [8], span=True)]
        assert conflicts[0].span
        assert merged == [1, 7, 2]

    def test_a_delete_against_an_edit_of_the_same_item_conflicts(self) -> None:
        """Deleting an item the other side changed is a span conflict."""
        _, conflicts = merge3(freeze([1, 2, 3]), freeze([1, 3]), freeze([1, 6, 3]))
        assert conflicts == [MergeConflict((1,), [2], [], [6], span=True)]

    def test_a_span_resolution_is_a_list_of_items(self) -> None:
        """The resolver's list replaces the run; anything else is a TypeError."""
        merged, _ = merge3(
            freeze([1, 2]),
            freeze([1, 7, 2]),
            freeze([1, 8, 2]),
            lambda c: [*c.ours, *c.theirs],
        )
        assert merged == [1, 7, 8, 2]
        with pytest.raises(TypeError, match="list of items"):
            merge3(freeze([1, 2]), freeze([1, 7, 2]), freeze([1, 8, 2]), lambda c: 5)

    def test_items_changed_inside_on_both_sides_merge_recursively(self) -> None:
        """One dict item edited in place on both sides, at different keys."""
        base = freeze([{"a": 1, "b": 1}, {"c": 1}])
        ours = freeze([{"a": 2, "b": 1}, {"c": 1}])
        theirs = freeze([{"a": 1, "b": 3}, {"c": 1}])
        merged, conflicts = merge3(base, ours, theirs)
        assert (merged, conflicts) == ([{"a": 2, "b": 3}, {"c": 1}], [])


@st.composite
def dict_edits(
    draw: st.DrawFn,
) -> tuple[dict[str, int], dict[str, Any], dict[str, Any]]:
    """A base dict and each side's writes: a new value, a deletion, or an addition."""
    n = draw(st.integers(0, 30))
    base = {f"k{i}": i for i in range(n)}
    sides: list[dict[str, Any]] = [{}, {}]
    for side in sides:
        for key in base:
            what = draw(st.integers(0, 5))
            if what == 0:
                side[key] = MISSING
            elif what == 1:
                side[key] = draw(st.integers(100, 103))  # often the same on both
        for extra in range(draw(st.integers(0, 3))):
            side[f"new{draw(st.integers(0, 4))}"] = draw(st.integers(100, 103))
            del extra
    return base, sides[0], sides[1]


def _written(base: dict[str, int], writes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in writes.items():
        if value is MISSING:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class TestDictRules:
    @given(dict_edits())
    def test_keys_merge_as_the_model_says(
        self, case: tuple[dict[str, int], dict[str, Any], dict[str, Any]]
    ) -> None:
        """Keys changed on one side take that side's value, the same change on
        both is taken once, and two different changes (a deletion against a
        write, two different additions) are exactly the conflicts."""
        plain, mine, other = case
        base = freeze(plain)
        ours, theirs = freeze(_written(plain, mine)), freeze(_written(plain, other))
        expected: dict[str, Any] = {}
        conflicting = set()
        for key in sorted(set(plain) | set(mine) | set(other)):
            b = plain.get(key, MISSING)
            o = mine.get(key, b)
            t = other.get(key, b)
            if o == t or t == b:
                value = o
            elif o == b:
                value = t
            else:
                conflicting.add(key)
                value = o
            if value is not MISSING:
                expected[key] = value
        merged, conflicts = merge3(base, ours, theirs)
        assert merged == expected
        assert {c.path for c in conflicts} == {(k,) for k in conflicting}
        for conflict in conflicts:
            (key,) = conflict.path
            assert conflict.base == plain.get(key, MISSING)
            assert conflict.ours == ours.get(key, MISSING)
            assert conflict.theirs == theirs.get(key, MISSING)
        theirs_won, _ = merge3(base, ours, theirs, resolver("theirs"))
        for key in conflicting:
            assert theirs_won.get(key, MISSING) == theirs.get(key, MISSING)

    def test_nested_dicts_merge_key_by_key(self) -> None:
        """Different keys deep in one subtree combine; the order is ours', then
        the keys theirs added."""
        base = freeze({"job": {"bins": 10, "sorted": 0}, "x": 1})
        ours = freeze({"job": {"bins": 9, "sorted": 0}, "x": 1, "mine": 1})
        theirs = freeze({"job": {"bins": 10, "sorted": 1, "by": "b"}, "x": 1})
        merged, conflicts = merge3(base, ours, theirs)
        assert conflicts == []
        assert list(merged.items()) == [
            ("job", {"bins": 9, "sorted": 1, "by": "b"}),
            ("x", 1),
            ("mine", 1),
        ]

    def test_large_dicts_share_what_neither_side_changed(self) -> None:
        """A merge of two versions of a large state writes only the changed keys:
        the untouched values are the very objects of the base."""
        base = freeze({f"k{i}": {"n": i} for i in range(2000)})
        ours = base.set("k1", {"n": -1})
        theirs = base.set("k2", {"n": -2}).set("k1999", {"n": 0})
        merged, conflicts = merge3(base, ours, theirs)
        assert conflicts == []
        assert merged["k1"] == {"n": -1}
        assert merged["k2"] == {"n": -2}
        assert merged["k5"] is base["k5"]
        assert merged == {**base, "k1": {"n": -1}, "k2": {"n": -2}, "k1999": {"n": 0}}


class TestValueRules:
    @given(trees(max_leaves=12), trees(max_leaves=12))
    def test_a_side_that_changed_nothing_takes_the_other(self, a: Any, b: Any) -> None:
        """merge3(base, x, base) is x, merge3(base, base, x) is x, and
        merge3(base, x, x) is x: no conflicts."""
        base, other = freeze(a), freeze(b)
        for merged, conflicts in (
            merge3(base, other, base),
            merge3(base, base, other),
            merge3(base, other, other),
        ):
            assert conflicts == []
            assert same_value(merged, other)

    def test_sets_take_both_sides_additions_and_removals(self) -> None:
        """Sets never conflict: members added or removed on either side."""
        merged, conflicts = merge3(
            freeze({1, 2, 3}), freeze({1, 2, 3, 4}), freeze({2, 3, 5})
        )
        assert (merged, conflicts) == ({2, 3, 4, 5}, [])

    def test_different_scalars_and_types_conflict(self) -> None:
        """Two different values, or a change of type, conflict where they are."""
        _, conflicts = merge3(freeze({"a": 1}), freeze({"a": 2}), freeze({"a": "2"}))
        assert conflicts == [MergeConflict(("a",), 1, 2, "2")]
        _, conflicts = merge3(1, 1.0, True)
        assert [c.path for c in conflicts] == [()]

    def test_resolve_forms(self) -> None:
        """ "ours", "theirs", a callable (MISSING deletes); anything else refused."""
        base, ours, theirs = (
            freeze({"a": 1, "b": 1}),
            freeze({"a": 2}),
            freeze({"a": 3, "b": 2}),
        )
        assert merge3(base, ours, theirs, resolver("ours"))[0] == {"a": 2}
        assert merge3(base, ours, theirs, resolver("theirs"))[0] == {"a": 3, "b": 2}
        merged, conflicts = merge3(
            base, ours, theirs, lambda c: MISSING if c.path == ("a",) else [c.theirs]
        )
        assert merged == {"b": [2]}
        assert [c.dotted for c in conflicts] == ["a", "b"]
        with pytest.raises(ValueError, match="ours"):
            resolver("mine")
        with pytest.raises(TypeError, match="callable"):
            resolver(3)  # type: ignore[arg-type]


# -- the front ends --------------------------------------------------------------------


def _forked() -> Timeline[Any]:
    """main and feature, each with a change of its own since revision 0."""
    t: Timeline[Any] = Timeline({"bins": 10, "sorted": 0, "log": ["start"]})
    t.branch("feature")
    t.set_in("sorted", 1, author="bob")
    t.switch("main")
    t.set_in("bins", 12, author="ann")
    return t


class TestTimelineMerge:
    def test_a_merge_records_one_revision_with_two_parents(self) -> None:
        """Kind merge, parents (ours, theirs), metadata kept; the source branch
        is untouched and the cursor stays on its branch."""
        t = _forked()
        before = t.branches()
        merged = t.merge("feature", author="cy", comment="bring sorted in", label="m1")
        assert merged.kind == "merge"
        assert merged.parents == (2, 1)
        assert (merged.parent, merged.target) == (2, 1)
        assert (merged.author, merged.comment, merged.label) == (
            "cy",
            "bring sorted in",
            "m1",
        )
        assert merged.origin is not None
        assert merged.origin.function == (
            "test_a_merge_records_one_revision_with_two_parents"
        )
        assert t.value == {"bins": 12, "sorted": 1, "log": ["start"]}
        assert t.current_branch == "main"
        assert t.branches() == {**before, "main": 3}
        assert t.value_at(1) == {"bins": 10, "sorted": 1, "log": ["start"]}
        assert t.revision(2).parents == (0,)
        assert t.revision(0).parents == ()

    def test_no_fast_forward(self) -> None:
        """Merging a branch whose changes ours already holds still records."""
        t: Timeline[Any] = Timeline({"a": 1})
        t.branch("b")
        t.switch("main")
        t.set_in("a", 2)
        merged = t.merge("b")
        assert (merged.number, merged.kind, t.value) == (2, "merge", {"a": 2})

    def test_merging_again_uses_the_newest_common_ancestor(self) -> None:
        """After a merge, the next merge of the same branch starts from the revision
        merged, so earlier changes are not seen twice (no false conflict)."""
        t = _forked()
        t.merge("feature")
        t.switch("feature")
        t.set_in("log", ["start", "feature"])
        t.switch("main")
        t.set_in("bins", 13)
        again = t.merge("feature")
        assert again.parents == (5, 4)
        assert t.value == {"bins": 13, "sorted": 1, "log": ["start", "feature"]}

    def test_a_conflict_raises_and_records_nothing(self) -> None:
        """MergeConflictError (a StatetrailError, not a ConflictError) lists each
        place with its three values; nothing is recorded."""
        t = _forked()
        t.switch("feature")
        t.set_in("bins", 11)
        t.switch("main")
        count = len(t)
        with pytest.raises(MergeConflictError) as caught:
            t.merge("feature")
        assert not isinstance(caught.value, statetrail.ConflictError)
        assert isinstance(caught.value, statetrail.StatetrailError)
        (conflict,) = caught.value.conflicts
        assert (conflict.path, conflict.base, conflict.ours, conflict.theirs) == (
            ("bins",),
            10,
            12,
            11,
        )
        assert "bins" in str(caught.value)
        assert "resolve=" in str(caught.value)
        assert len(t) == count
        assert t.value["bins"] == 12

    @pytest.mark.parametrize(
        ("resolve", "bins"),
        [("ours", 12), ("theirs", 11), (lambda c: c.ours + c.theirs, 23)],
    )
    def test_each_resolve_form(self, resolve: Any, bins: int) -> None:
        """resolve="ours", "theirs" or a callable decides each conflict."""
        t = _forked()
        t.switch("feature")
        t.set_in("bins", 11)
        t.switch("main")
        t.merge("feature", resolve=resolve)
        assert t.value == {"bins": bins, "sorted": 1, "log": ["start"]}

    def test_validators_see_the_merged_value_first(self) -> None:
        """A validator that refuses the merged value leaves no trace."""
        t = _forked()
        seen: list[Any] = []

        def check(value: Any) -> None:
            seen.append(value)
            if value["sorted"] and value["bins"] > 11:
                raise ValueError("too many bins for a sorted job")

        t.add_validator(check)
        count = len(t)
        with pytest.raises(ValueError, match="too many bins"):
            t.merge("feature")
        assert seen == [{"bins": 12, "sorted": 1, "log": ["start"]}]
        assert len(t) == count

    def test_bad_branches(self) -> None:
        """No such branch, or the branch itself: clear errors, nothing recorded."""
        t = _forked()
        with pytest.raises(RevisionNotFoundError, match="no branch 'nope'"):
            t.merge("nope")
        with pytest.raises(ValueError, match="into itself"):
            t.merge("main")
        assert len(t) == 3

    def test_a_frozen_timeline_refuses(self) -> None:
        """A frozen timeline refuses a merge as any write."""
        t = _forked()
        t.freeze()
        with pytest.raises(statetrail.FrozenError):
            t.merge("feature")

    def test_listeners_get_the_merge(self) -> None:
        """Listeners are called with the merge revision, after it is recorded."""
        t = _forked()
        got: list[Any] = []
        t.add_listener(lambda rev: got.append((rev.kind, rev.parents)))
        t.merge("feature")
        assert got == [("merge", (2, 1))]


class TestHistoryWithMerges:
    def test_log_and_history_hold_both_sides(self) -> None:
        """The log of the merged branch lists the revisions of both sides, in
        number order; the source branch's log is unchanged."""
        t = _forked()
        t.merge("feature")
        assert [r.number for r in t.log()] == [0, 1, 2, 3]
        assert [r.number for r in t.history()] == [0, 1, 2, 3]
        assert [r.number for r in t.log(reverse=True, limit=2)] == [3, 2]
        assert [r.number for r in t.log(branch="feature")] == [0, 1]
        assert [r.number for r in t.log(kind="merge")] == [3]

    def test_diff_and_changes_are_against_the_first_parent(self) -> None:
        """A merge's changes are what it brought into its branch."""
        t = _forked()
        merged = t.merge("feature")
        assert [(c.dotted, c.old, c.new) for c in merged.changes] == [("sorted", 0, 1)]
        assert t.diff(2, 3) == list(merged.changes)

    def test_blame_follows_the_side_each_value_came_from(self) -> None:
        """A value merged in from the other branch is blamed on the revision that
        wrote it there; ours on ours; a value chosen by a resolver, on the merge."""
        t = _forked()
        t.switch("feature")
        t.set_in("log", ["start", "x"], author="dee")
        t.switch("main")
        t.set_in("log", ["start", "y"])
        t.merge("feature", resolve=lambda c: [*c.ours, *c.theirs], author="cy")
        sorted_by = t.blame("sorted")
        bins_by = t.blame("bins")
        log_by = t.blame("log")
        assert sorted_by is not None
        assert (sorted_by.number, sorted_by.author) == (
            1,
            "bob",
        )
        assert bins_by is not None
        assert (bins_by.number, bins_by.author) == (2, "ann")
        assert log_by is not None
        assert (log_by.kind, log_by.author) == ("merge", "cy")

    def test_undo_and_revert_of_a_merge_take_back_what_it_brought(self) -> None:
        """Undo restores the first parent's value; revert of the merge undoes the
        changes it brought into the branch (git's revert -m 1)."""
        t = _forked()
        t.merge("feature")
        t.undo()
        assert t.value == {"bins": 12, "sorted": 0, "log": ["start"]}
        t.redo()
        assert t.value == {"bins": 12, "sorted": 1, "log": ["start"]}
        t = _forked()
        merged = t.merge("feature")
        t.set_in("log", ["start", "later"])
        t.revert(merged.number)
        assert t.value == {"bins": 12, "sorted": 0, "log": ["start", "later"]}

    def test_the_revision_json_lists_both_parents(self) -> None:
        """Issue 8's revision object carries both parents of a merge."""
        t = _forked()
        merged = t.merge("feature")
        assert from_revision(merged, "t")["parents"] == [2, 1]
        assert from_revision(t.revision(2), "t")["parents"] == [0]


class TestVarAndStores:
    def test_var_merge(self) -> None:
        """Var.merge returns the merge Revision; the value is merged."""
        tags = statetrail.watch("tags", {"a": 1})
        tags.branch("more").set({"a": 1, "b": 2})
        tags.switch("main").set({"a": 3})
        merged = tags.merge("more", comment="more tags")
        assert (merged.kind, merged.parents, merged.comment) == (
            "merge",
            (2, 1),
            "more tags",
        )
        assert tags.get() == {"a": 3, "b": 2}
        assert merged.origin is not None
        assert merged.origin.function == "test_var_merge"

    def test_store_branches_and_merge(self) -> None:
        """A Store branches, switches, checks out and merges without reaching for
        its timeline; subscribers get the merge's event."""
        store = Store({"job": {"bins": 10, "sorted": 0}})
        events: list[Any] = []
        store.subscribe(events.append)
        start = store.branch("sorter")
        assert (start.number, store.current_branch) == (0, "sorter")
        store.set("job.sorted", 1)
        assert store.switch("main").number == 0
        assert store.get("job.sorted") == 0
        store.set("job.bins", 9)
        assert store.branches() == {"main": 2, "sorter": 1}
        merged = store.merge("sorter", author="ann")
        assert (merged.kind, merged.parents, merged.author) == ("merge", (2, 1), "ann")
        assert store.get_state() == {"job": {"bins": 9, "sorted": 1}}
        assert events[-1]["revision"] == 3
        assert store.checkout(1).number == 1
        assert store.get("job.bins") == 10
        assert store.checkout("main").number == 3

    def test_store_merge_conflict(self) -> None:
        """A conflicting store merge raises and records nothing."""
        store = Store({"n": 0})
        store.branch("b")
        store.set("n", 1)
        store.switch("main")
        store.set("n", 2)
        with pytest.raises(MergeConflictError):
            store.merge("b")
        assert store.head.number == 2
        assert store.merge("b", resolve="theirs").value == {"n": 1}

    def test_a_merge_inside_a_transaction_is_refused(self) -> None:
        """Merging while a transaction of this thread is open would interleave."""
        store = Store({"n": 0})
        store.branch("b")
        store.switch("main")
        with store.transaction():
            store.set("n", 1)
            with pytest.raises(statetrail.ReentrancyError):
                store.merge("b")
        assert store.head.kind == "set"

    def test_async_store_merge_comes_after_the_actions_dispatched_before(self) -> None:
        """AsyncStore.merge is awaited; the actions dispatched before it are
        applied first, so the merge includes them."""

        async def main() -> tuple[Any, Any, list[Any]]:
            store = AsyncStore(initial_state={"job": {"bins": 10, "sorted": 0}})
            store.start_processing()
            events = store.subscribe_events()
            store.branch("sorter")
            await store.dispatch_and_wait(
                {"type": "SET_STATE", "path": "job.sorted", "value": 1}
            )
            store.switch("main")
            await store.dispatch({"type": "SET_STATE", "path": "job.bins", "value": 9})
            merged = await store.merge("sorter", comment="sorted in")
            await store.stop_processing()
            got = []
            while not events.empty():
                got.append((await events.get())["revision"])
            return merged, store.get_state(), got

        merged, state, got = asyncio.run(main())
        assert (merged.kind, merged.parents, merged.comment) == (
            "merge",
            (2, 1),
            "sorted in",
        )
        assert state == {"job": {"bins": 9, "sorted": 1}}
        assert got == [1, 2, 3]

    def test_async_middleware_may_merge(self) -> None:
        """A merge awaited from middleware (inside the processor) does not wait
        for the processor itself."""

        async def main() -> Any:
            store = AsyncStore(initial_state={"n": 0, "m": 0})
            store.branch("b")
            store.set("m", 1)
            store.switch("main")
            store.set("n", 1)

            async def merging(action: Any) -> Any:
                if action["type"] == "MERGE":
                    await store.merge("b")
                    return None
                return action

            store.middleware(merging)
            store.start_processing()
            await asyncio.wait_for(store.dispatch_and_wait({"type": "MERGE"}), 10)
            await store.stop_processing()
            return store.head

        head = asyncio.run(main())
        assert (head.kind, head.value) == ("merge", {"n": 1, "m": 1})

    def test_frozen_dict_results_share_structure(self) -> None:
        """The merged state is a FrozenDict built from ours."""
        store = Store({"a": {"x": 1}, "b": {"y": 1}})
        ours_a = store.snapshot()["a"]
        store.branch("f")
        store.set("b.y", 2)
        store.switch("main")
        store.set("c", 1)
        store.merge("f")
        state = store.snapshot()
        assert isinstance(state, FrozenDict)
        assert state["a"] is ours_a


def test_the_merge_document_runs() -> None:
    """docs/merge.md's examples run as written."""
    import doctest
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "docs" / "merge.md"
    result = doctest.testfile(str(path), module_relative=False, verbose=False)
    assert result.attempted > 10
    assert result.failed == 0
