"""FrozenList against a plain list: the Sequence API, persistence and isolation."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Hashable, MutableSequence, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from statetrail import Change
from statetrail.diff import apply_changes
from statetrail.frozen import MISSING, FrozenDict, FrozenList, ListDraft, freeze
from tests.conftest import scaled

SIZES = [0, 1, 5, 32, 33, 100, 1057]
sizes = pytest.mark.parametrize("n", SIZES)


class Box:
    """A mutable object of a type statetrail does not know."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items

    __hash__ = None  # type: ignore[assignment]


class TestConstruction:
    def test_from_any_iterable(self) -> None:
        """Built from a list, a tuple, a generator or nothing."""
        assert FrozenList([1, 2]) == [1, 2]
        assert FrozenList((1, 2)) == [1, 2]
        assert FrozenList(x for x in range(3)) == [0, 1, 2]
        assert FrozenList() == []

    def test_items_are_frozen_deeply_and_the_input_is_not_kept(self) -> None:
        """Nested lists and dicts are frozen copies; the input is left as it was."""
        inner = [1]
        source = [inner, {"a": [2]}]
        xs = FrozenList(source)
        assert type(xs[0]) is FrozenList
        assert type(xs[1]) is FrozenDict
        inner.append(99)
        source.append(3)
        assert xs == [[1], {"a": [2]}]
        assert source == [[1, 99], {"a": [2]}, 3]

    def test_is_a_sequence_but_not_mutable(self) -> None:
        """A collections.abc.Sequence and Hashable, not a MutableSequence."""
        xs = FrozenList([1])
        assert isinstance(xs, Sequence)
        assert isinstance(xs, Hashable)
        assert not isinstance(xs, MutableSequence)


class TestReading:
    @sizes
    def test_indexing_matches_list(self, n: int) -> None:
        """Every index, positive and negative, reads what a list reads."""
        model = list(range(n))
        xs = FrozenList(model)
        assert len(xs) == n
        for i in range(-n, n):
            assert xs[i] == model[i]
        assert list(xs) == model
        assert list(reversed(xs)) == model[::-1]

    @sizes
    def test_out_of_range_raises_index_error(self, n: int) -> None:
        """Indices outside [-n, n) raise IndexError, as for a list."""
        xs = FrozenList(range(n))
        for i in (n, n + 1, -n - 1, 10**20, -(10**20)):
            with pytest.raises(IndexError):
                xs[i]
            with pytest.raises(IndexError):
                xs.set(i, 0)
            with pytest.raises(IndexError):
                xs.delete(i)

    def test_bad_index_types_raise_type_error(self) -> None:
        """A float or string index raises TypeError, as for a list."""
        xs = FrozenList([1, 2])
        for bad in (1.0, "0", None):
            with pytest.raises(TypeError):
                xs[bad]  # type: ignore[call-overload]
            with pytest.raises(TypeError):
                xs.set(bad, 1)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                xs.delete(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                [1, 2][bad]  # type: ignore[call-overload]
        assert xs[True] == 2  # bool is an int, as for list

    @sizes
    @pytest.mark.parametrize(
        "s",
        [
            slice(None),
            slice(1, None),
            slice(None, -1),
            slice(None, None, -1),
            slice(2, 40, 3),
            slice(-5, None),
            slice(100, 0, -7),
            slice(50, 10),
        ],
    )
    def test_slices_match_list(self, n: int, s: slice) -> None:
        """Slicing gives a FrozenList equal to the list slice."""
        model = list(range(n))
        got = FrozenList(model)[s]
        assert type(got) is FrozenList
        assert got == model[s]

    def test_zero_slice_step_raises_value_error(self) -> None:
        """A zero step is refused, as for a list."""
        with pytest.raises(ValueError, match="zero"):
            FrozenList([1])[::0]

    def test_index_count_and_contains(self) -> None:
        """index, count and `in` follow list semantics, start and stop included."""
        model = [3, 1, 3, [2], 1.0, True]
        xs = FrozenList(model)
        assert xs.index(3) == 0
        assert xs.index(3, 1) == 2
        assert xs.index(3, -4) == model.index(3, -4)
        assert xs.index(1) == model.index(1)
        assert xs.index([2]) == 3
        assert xs.count(1) == model.count(1)
        assert xs.count(3) == 2
        assert [2] in xs
        assert 9 not in xs
        with pytest.raises(ValueError, match="not in"):
            xs.index(9)
        with pytest.raises(ValueError, match="not in"):
            xs.index(3, 3, 5)

    def test_nan_is_found_by_identity(self) -> None:
        """As in a list, the very NaN object is found though NaN != NaN."""
        nan = float("nan")
        xs = FrozenList([nan])
        assert nan in xs
        assert xs.index(nan) == 0
        assert xs.count(nan) == 1
        assert xs == [nan]


class TestWrites:
    @sizes
    def test_writes_match_list_and_leave_the_original(self, n: int) -> None:
        """set, append, extend, insert, delete and remove act as on a copied list."""
        model = list(range(n))
        xs = FrozenList(model)
        cases: list[tuple[FrozenList[Any], list[Any]]] = [
            (xs.appended("a"), [*model, "a"]),
            (xs.extended(["a", "b"]), [*model, "a", "b"]),
            (xs.inserted(0, "a"), ["a", *model]),
            (xs.inserted(n // 2, "a"), [*model[: n // 2], "a", *model[n // 2 :]]),
            (xs.inserted(10**9, "a"), [*model, "a"]),
            (xs.inserted(-1, "a"), [*model[:-1], "a", *model[-1:]]),
            (xs.inserted(-(10**9), "a"), ["a", *model]),
            (xs.delete(slice(1, None, 2)), model[::2]),
        ]
        if n:
            cases += [
                (xs.set(0, "a"), ["a", *model[1:]]),
                (xs.set(-1, "a"), [*model[:-1], "a"]),
                (xs.delete(0), model[1:]),
                (xs.delete(-1), model[:-1]),
                (xs.delete(n // 2), model[: n // 2] + model[n // 2 + 1 :]),
                (xs.removed(n - 1), model[:-1]),
            ]
        for got, expected in cases:
            assert type(got) is FrozenList
            assert got == expected
        assert xs == model

    def test_remove_of_a_missing_value_raises_value_error(self) -> None:
        """remove() raises ValueError, as list.remove does."""
        with pytest.raises(ValueError, match="not in"):
            FrozenList([1]).removed(2)

    @sizes
    def test_noop_writes_return_the_same_list(self, n: int) -> None:
        """Setting an item to its very value, or extending by nothing, returns self."""
        xs = FrozenList([[i] for i in range(n)])
        for i in {0, n // 2, n - 1} if n else ():
            assert xs.set(i, xs._raw(i)) is xs
        assert xs.extended([]) is xs

    def test_equal_but_distinct_item_is_a_write(self) -> None:
        """Identity, not equality, decides: 1.0 replaces 1."""
        xs = FrozenList([1])
        ys = xs.set(0, 1.0)
        assert ys is not xs
        assert type(ys[0]) is float

    def test_writes_share_untouched_items(self) -> None:
        """Items not written are shared with the original, not copied."""
        xs = FrozenList([[i] for i in range(100)])
        for ys in (xs.set(5, 0), xs.appended(0), xs.inserted(50, 0), xs.delete(3)):
            shared = {id(x) for x in ys} & {id(x) for x in xs}
            assert len(shared) >= 99

    def test_item_assignment_is_refused(self) -> None:
        """There is no __setitem__ or __delitem__."""
        xs = FrozenList([1])
        with pytest.raises(TypeError):
            xs[0] = 2  # type: ignore[index]
        with pytest.raises(TypeError):
            del xs[0]  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            xs.extra = 1  # type: ignore[attr-defined]
        assert xs == [1]

    def test_draft_returns_a_list_draft(self) -> None:
        """draft() hands out a ListDraft of this list."""
        xs = FrozenList([1])
        draft = xs.draft()
        assert isinstance(draft, ListDraft)
        draft.append(2)
        assert draft.finish() == [1, 2]
        assert xs == [1]


class TestEqualityAndOrder:
    @sizes
    def test_equal_to_a_plain_list_both_ways(self, n: int) -> None:
        """FrozenList == list both ways, != its negation; never equal to a tuple."""
        model = list(range(n))
        xs = FrozenList(model)
        assert xs == model
        assert model == xs
        assert not xs != model  # noqa: SIM202
        assert xs != [*model, 0]
        assert [*model, 0] != xs
        assert xs != tuple(model)
        assert tuple(model) != xs
        assert xs == FrozenList(model)
        if n:
            assert xs != xs.set(n - 1, -1)

    def test_equality_compares_values_like_list(self) -> None:
        """1 == 1.0 == True inside, as in a list."""
        assert FrozenList([1, [2]]) == [1.0, [2]]
        assert FrozenList([1]) == FrozenList([True])

    @pytest.mark.parametrize(
        ("a", "b"),
        [([], []), ([1], []), ([1, 2], [1, 3]), ([1, 2], [1]), ([2], [1, 5])],
    )
    def test_ordering_matches_list(self, a: list[int], b: list[int]) -> None:
        """<, <=, >, >= order lexicographically, against lists too."""
        fa, fb = FrozenList(a), FrozenList(b)
        for x, y in ((fa, fb), (fa, b), (a, fb)):
            assert (x < y) == (a < b)  # type: ignore[operator]
            assert (x <= y) == (a <= b)  # type: ignore[operator]
            assert (x > y) == (a > b)  # type: ignore[operator]
            assert (x >= y) == (a >= b)  # type: ignore[operator]

    def test_ordering_against_other_types_raises_type_error(self) -> None:
        """Comparing with a tuple or an int is a TypeError, as for list."""
        with pytest.raises(TypeError):
            FrozenList([1]) < (1,)  # type: ignore[operator]  # noqa: B015
        with pytest.raises(TypeError):
            FrozenList([1]) >= 1  # type: ignore[operator]  # noqa: B015


class TestHash:
    @sizes
    def test_equal_lists_hash_alike(self, n: int) -> None:
        """Equal FrozenLists have equal hashes, however they were made."""
        a = FrozenList(range(n))
        b = FrozenList().extended(range(n))
        assert hash(a) == hash(b)
        assert hash(FrozenList([1])) == hash(FrozenList([True]))

    def test_unhashable_item_raises_type_error(self) -> None:
        """A list holding an unhashable object cannot be hashed."""
        with pytest.raises(TypeError):
            hash(FrozenList([Box([1])]))

    def test_nested_lists_hash(self) -> None:
        """Nested lists are frozen, so the whole list hashes."""
        assert hash(FrozenList([[1], {"a": [2]}])) == hash(freeze([[1], {"a": [2]}]))


class TestOperators:
    @sizes
    def test_concatenation(self, n: int) -> None:
        """+ with lists, tuples and FrozenLists, either side, gives a FrozenList."""
        model = list(range(n))
        xs = FrozenList(model)
        for got, expected in (
            (xs + [1], [*model, 1]),  # noqa: RUF005
            (xs + (1,), [*model, 1]),  # noqa: RUF005
            (xs + xs, model + model),
            ([1] + xs, [1, *model]),  # noqa: RUF005
            ((1,) + xs, [1, *model]),  # noqa: RUF005
        ):
            assert type(got) is FrozenList
            assert got == expected
        with pytest.raises(TypeError):
            xs + 1  # type: ignore[operator]
        with pytest.raises(TypeError):
            xs + "ab"  # type: ignore[operator]
        with pytest.raises(TypeError):
            "ab" + xs  # type: ignore[operator]

    @sizes
    def test_repetition(self, n: int) -> None:
        """* by an int, from either side, repeats as for a list."""
        model = list(range(n))
        xs = FrozenList(model)
        for k in (0, 1, 3, -1):
            assert xs * k == model * k
            assert k * xs == k * model
            assert type(xs * k) is FrozenList

    def test_repetition_by_a_non_int_raises_type_error(self) -> None:
        """Multiplying by a float or a string is a TypeError, as for list."""
        xs = FrozenList([1])
        for bad in (1.5, "a", None):
            with pytest.raises(TypeError):
                xs * bad  # type: ignore[operator]
            with pytest.raises(TypeError):
                bad * xs  # type: ignore[operator]


class TestProtocols:
    @sizes
    def test_repr_round_trips(self, n: int) -> None:
        """repr() shows the items and evaluates back to an equal list."""
        xs = FrozenList([*range(n), [1], {"a": 1}])
        text = repr(xs)
        assert text.startswith("FrozenList([")
        names = {"FrozenList": FrozenList, "FrozenDict": FrozenDict}
        assert eval(text, names) == xs
        assert repr(FrozenList()) == "FrozenList([])"

    @sizes
    def test_pickle_round_trip(self, n: int) -> None:
        """Pickling gives back an equal FrozenList of frozen items."""
        xs = FrozenList([*range(n), [1, 2], Box([3])])
        back = pickle.loads(pickle.dumps(xs))
        assert type(back) is FrozenList
        assert back == xs
        assert type(back[n]) is FrozenList

    def test_copy_and_deepcopy_return_self(self) -> None:
        """A frozen list needs no copying."""
        xs = FrozenList([[1]])
        assert copy.copy(xs) is xs
        assert copy.deepcopy(xs) is xs


class TestIsolation:
    def test_opaque_items_are_copied_in_and_out(self) -> None:
        """Objects of unknown types are copies, whichever way they are read."""
        box = Box([1])
        xs = FrozenList([box, *range(40)])
        box.items.append(2)
        assert xs[0] == Box([1])
        xs[0].items.append(3)
        next(iter(xs)).items.append(3)
        list(reversed(xs))[-1].items.append(3)
        xs[0:1][0].items.append(3)
        assert xs[0] == Box([1])
        assert xs[0] is not xs[0]
        assert xs.index(Box([1])) == 0
        assert Box([1]) in xs


# -- stateful model ----------------------------------------------------------------

items = st.one_of(
    st.integers(-3, 3), st.none(), st.lists(st.integers(0, 3), max_size=3)
)
indices = st.integers(-40, 40)


class FrozenListMachine(RuleBasedStateMachine):
    """Each write on a FrozenList and on a plain list; no older version ever changes."""

    def __init__(self) -> None:
        super().__init__()
        self.current: FrozenList[Any] = FrozenList()
        self.model: list[Any] = []
        self.versions: list[tuple[FrozenList[Any], list[Any]]] = []

    def _record(self, new: FrozenList[Any]) -> None:
        self.current = new
        self.versions.append((new, copy.deepcopy(self.model)))

    def _expect(self, error: type[Exception], action: Any) -> None:
        with pytest.raises(error):
            action()

    @rule(value=items)
    def append(self, value: Any) -> None:
        before = copy.deepcopy(value)
        new = self.current.appended(value)
        assert value == before
        self.model.append(value)
        self._record(new)

    @rule(values=st.lists(items, max_size=40))
    def extend(self, values: list[Any]) -> None:
        before = copy.deepcopy(values)
        new = self.current.extended(values)
        assert values == before
        self.model.extend(values)
        self._record(new)

    @rule(i=indices, value=items)
    def insert(self, i: int, value: Any) -> None:
        self.model.insert(i, value)
        self._record(self.current.inserted(i, value))

    @rule(i=indices, value=items)
    def set(self, i: int, value: Any) -> None:
        if -len(self.model) <= i < len(self.model):
            self.model[i] = value
            self._record(self.current.set(i, value))
        else:
            self._expect(IndexError, lambda: self.current.set(i, value))

    @rule(i=indices)
    def delete(self, i: int) -> None:
        if -len(self.model) <= i < len(self.model):
            del self.model[i]
            self._record(self.current.delete(i))
        else:
            self._expect(IndexError, lambda: self.current.delete(i))

    @rule(
        start=st.none() | indices,
        stop=st.none() | indices,
        step=st.sampled_from([None, 1, 2, -1, -3]),
    )
    def delete_slice(
        self, start: int | None, stop: int | None, step: int | None
    ) -> None:
        s = slice(start, stop, step)
        assert self.current[s] == self.model[s]
        del self.model[s]
        self._record(self.current.delete(s))

    @rule(value=items)
    def remove(self, value: Any) -> None:
        if value in self.model:
            self.model.remove(value)
            self._record(self.current.removed(value))
        else:
            self._expect(ValueError, lambda: self.current.removed(value))

    @rule(values=st.lists(items, max_size=3), k=st.integers(0, 2))
    def concatenate_and_repeat(self, values: list[Any], k: int) -> None:
        if len(self.model) < 200:
            self.model = (self.model + values) * k
            self._record((self.current + values) * k)

    @invariant()
    def matches_the_model(self) -> None:
        xs, model = self.current, self.model
        assert len(xs) == len(model)
        assert xs == model
        assert model == xs
        if model:
            assert xs[-1] == model[-1]
            assert xs[len(model) // 2] == model[len(model) // 2]

    @invariant()
    def no_older_version_changed(self) -> None:
        for version, snapshot in self.versions:
            assert version == snapshot


TestFrozenListStateful = FrozenListMachine.TestCase
# Every step compares every older version: keep the runs short, scale them in soak.
TestFrozenListStateful.settings = settings(
    max_examples=scaled(50), stateful_step_count=30
)


@given(st.lists(items, max_size=100))
def test_freeze_of_any_list_equals_it(model: list[Any]) -> None:
    """freeze() of a list equals it, hashes, and iterates the same items."""
    frozen = freeze(model)
    assert frozen == model
    assert list(frozen) == model
    assert hash(frozen) == hash(FrozenList(model))


def _replay(base: FrozenList[Any], edits: list[tuple[Any, Any, Any]]) -> list[Any]:
    """A draft's logged edits applied to a plain copy of ``base``, in order."""
    out = list(base)
    for (i,), old, new in edits:
        if old is MISSING:
            out.insert(i, new)
        elif new is MISSING:
            assert out.pop(i) == old
        else:
            assert out[i] == old
            out[i] = new
    return out


class LongListMachine(RuleBasedStateMachine):
    """Long lists, edited in the middle through FrozenList and drafts, against a
    plain list: the relaxed tree under them, past 32**2 items."""

    @initialize(n=st.sampled_from([0, 40, 1100, scaled(3_000)]))
    def start(self, n: int) -> None:
        self.current: FrozenList[Any] = FrozenList(range(n))
        self.model: list[Any] = list(range(n))
        self.rnd = random.Random(n)
        self.oldest = (self.current, list(self.model))

    def _pos(self, end: bool = False) -> int:
        return self.rnd.randint(0, len(self.model) - (0 if end else 1))

    @rule(many=st.integers(1, 60))
    def inserts_at_random(self, many: int) -> None:
        for k in range(many):
            i = self._pos(end=True)
            self.current = self.current.inserted(i, k)
            self.model.insert(i, k)

    @precondition(lambda self: self.model)
    @rule(many=st.integers(1, 60))
    def deletes_at_random(self, many: int) -> None:
        for _ in range(min(many, len(self.model))):
            i = self._pos()
            self.current = self.current.delete(i)
            del self.model[i]

    @rule(data=st.data())
    def slice_and_delete_slice(self, data: st.DataObject) -> None:
        n = len(self.model)
        start = data.draw(st.integers(-n - 2, n + 2))
        stop = data.draw(st.integers(-n - 2, n + 2))
        assert self.current[start:stop] == self.model[start:stop]
        self.current = self.current.delete(slice(start, stop))
        del self.model[start:stop]

    @rule(k=st.sampled_from([1, 70, 1500]))
    def concatenate(self, k: int) -> None:
        other = FrozenList(range(k)).inserted(k // 2, "mid")
        plain = list(range(k))
        plain.insert(k // 2, "mid")
        self.current, self.model = other + self.current, plain + self.model
        if len(self.model) > scaled(8_000):
            self.current = self.current[: scaled(4_000)]
            del self.model[scaled(4_000) :]

    @rule(data=st.data())
    def edit_through_a_draft(self, data: st.DataObject) -> None:
        base = self.current
        draft = base.draft()
        model = self.model
        for _ in range(data.draw(st.integers(1, 12))):
            n = len(model)
            op = data.draw(
                st.sampled_from(["insert", "pop", "del", "set", "append", "slice"])
            )
            if op == "insert":
                i = data.draw(st.integers(-n - 1, n + 1))
                draft.insert(i, "d")
                model.insert(i, "d")
            elif op == "append":
                draft.append([n])  # a mutable value: frozen at finish
                model.append([n])
            elif not n:
                continue
            elif op == "pop":
                i = data.draw(st.integers(-n, n - 1))
                assert draft.pop(i) == model.pop(i)
            elif op == "del":
                i = data.draw(st.integers(-n, n - 1))
                del draft[i]
                del model[i]
            elif op == "set":
                i = data.draw(st.integers(-n, n - 1))
                draft[i] = "s"
                model[i] = "s"
            else:
                a = data.draw(st.integers(0, n))
                b = data.draw(st.integers(a, min(n, a + 40)))
                step = data.draw(st.sampled_from([1, 1, 2, -1]))
                if step == 1:
                    new = data.draw(st.lists(st.integers(0, 3), max_size=5))
                else:
                    new = [7] * len(range(n)[a:b:step])
                draft[a:b:step] = new
                model[a:b:step] = new
        assert len(draft) == len(model)
        edits = draft.edits()
        result = draft.finish()
        assert result == model
        assert base == self.oldest[1] if base is self.oldest[0] else True
        if edits is not None:
            assert _replay(base, edits) == model, "the edits rebuild the result"
            changes = [Change(*edit) for edit in edits]
            assert apply_changes(base, changes) == model, "and so do their Changes"
        self.current = result

    @precondition(lambda self: self.model)
    @rule()
    def identity_when_nothing_changes(self) -> None:
        xs = self.current
        i = self._pos()
        assert xs[:] is xs
        assert xs.set(i, xs._raw(i)) is xs
        assert xs.delete(slice(3, 3)) is xs
        draft = xs.draft()
        draft.insert(i, "x")
        del draft[i]
        assert draft.finish() is xs
        assert draft.edits() == [((i,), MISSING, "x"), ((i,), "x", MISSING)]

    @invariant()
    def matches_the_model(self) -> None:
        xs, model = self.current, self.model
        assert len(xs) == len(model)
        for i in {0, len(model) // 3, len(model) - 1}:
            if 0 <= i < len(model):
                assert xs[i] == model[i]

    def teardown(self) -> None:
        assert list(self.current) == self.model
        assert self.oldest[0] == self.oldest[1], "the first version changed"


TestLongListStateful = LongListMachine.TestCase
TestLongListStateful.settings = settings(
    max_examples=scaled(40), stateful_step_count=25, deadline=None
)
