"""The 32-way persistent vector under FrozenList, against a plain list."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statetrail.frozen import _vector
from statetrail.frozen._vector import (
    EMPTY,
    Vec,
    append,
    build,
    changed_indices,
    get,
    iterate,
    pop,
    put,
    tail_offset,
)
from tests.conftest import scaled
from tests.counting import count_calls

#: Sizes on both sides of every boundary: the tail (32), a full root of leaves
#: (32 leaves + tail = 1,056), the second level (1,024 leaves), the third.
BOUNDARIES = [
    0, 1, 2, 31, 32, 33, 63, 64, 65, 96, 1023, 1024, 1025, 1055, 1056, 1057, 1088,
    32 * 1024, 32 * 1024 + 1, 32 * 1024 + 32, 32 * 1024 + 33, 32 * 1056, 32 * 1056 + 1,
]  # fmt: skip


def check_vec(v: Vec) -> None:
    """Assert the layout invariants of a vector."""
    assert v.size >= 0
    if v.size == 0:
        assert v == EMPTY
        return
    assert 1 <= len(v.tail) <= 32
    assert len(v.tail) == v.size - tail_offset(v.size)
    assert v.shift >= 5
    assert v.shift % 5 == 0
    leaves = list(_vector.leaves(v))[:-1]
    assert all(len(leaf) == 32 for leaf in leaves)
    assert 32 * len(leaves) == tail_offset(v.size)
    if not leaves:
        assert v.root == ()
        assert v.shift == 5
        return
    assert 1 <= len(v.root) <= 32
    if v.shift > 5:
        assert len(v.root) >= 2, "a root with one child must be collapsed"
    _check_depth(v.root, v.shift)


def _check_depth(node: tuple[Any, ...], level: int) -> None:
    assert 1 <= len(node) <= 32
    if level == 0:
        assert len(node) == 32
        return
    for child in node:
        assert isinstance(child, tuple)
        _check_depth(child, level - 5)


def same_items(v: Vec, model: list[Any]) -> None:
    assert v.size == len(model)
    assert list(iterate(v)) == model
    for i in {0, len(model) // 2, len(model) - 1} if model else ():
        assert get(v, i) == model[i]


class TestBuildAndIterate:
    @pytest.mark.parametrize("n", BOUNDARIES)
    def test_build_at_boundaries(self, n: int) -> None:
        """build() lays out any size correctly; get() reads every index."""
        items = list(range(n))
        v = build(items)
        check_vec(v)
        assert v.size == n
        assert list(iterate(v)) == items
        assert [get(v, i) for i in range(n)] == items

    def test_build_keeps_the_tuple_it_is_given(self) -> None:
        """A short tuple becomes the tail as it is, not copied."""
        items = (1, 2, 3)
        assert build(items).tail is items

    def test_build_takes_any_iterable(self) -> None:
        """A generator builds the same vector as a list."""
        assert build(x for x in range(100)) == build(list(range(100)))


class TestAppendAndPop:
    def test_append_through_every_boundary_matches_build(self) -> None:
        """Appending one by one gives build()'s layout at every boundary."""
        limit = BOUNDARIES[-1] + 2
        checkpoints = {n for n in BOUNDARIES if n <= limit}
        v = EMPTY
        for i in range(limit):
            if i in checkpoints:
                assert v == build(range(i))
                check_vec(v)
            v = append(v, i)
        assert list(iterate(v)) == list(range(limit))

    def test_pop_through_every_boundary_matches_build(self) -> None:
        """Popping one by one gives build()'s layout at every boundary."""
        top = BOUNDARIES[-1] + 2
        checkpoints = set(BOUNDARIES)
        v = build(range(top))
        for n in range(top, 0, -1):
            if n in checkpoints:
                assert v == build(range(n))
                check_vec(v)
            assert get(v, n - 1) == n - 1
            v = pop(v)
        assert v == EMPTY

    def test_pop_to_empty_returns_empty(self) -> None:
        """Popping the last item gives the shared EMPTY vector."""
        assert pop(build([1])) is EMPTY

    def test_appends_leave_the_older_vector_alone(self) -> None:
        """Every version keeps its items while later ones grow and shrink."""
        versions = [EMPTY]
        for i in range(1100):
            versions.append(append(versions[-1], i))
        for n in (0, 31, 32, 33, 1056, 1057, 1100):
            assert list(iterate(versions[n])) == list(range(n))
        shrunk = versions[-1]
        for _ in range(1000):
            shrunk = pop(shrunk)
        assert list(iterate(versions[1100])) == list(range(1100))


class TestPut:
    @pytest.mark.parametrize("n", [1, 32, 33, 1057, 32 * 1024 + 33])
    def test_put_each_region(self, n: int) -> None:
        """put() replaces one item in the trie or the tail; the rest is unchanged."""
        model = list(range(n))
        v = build(model)
        for i in sorted({0, 31, n // 2, tail_offset(n) - 1, tail_offset(n), n - 1}):
            if 0 <= i < n:
                v = put(v, i, -i - 1)
                model[i] = -i - 1
        check_vec(v)
        assert list(iterate(v)) == model

    @pytest.mark.parametrize("n", [1, 32, 33, 1057, 32 * 1024 + 33])
    def test_put_of_the_same_object_returns_the_vector(self, n: int) -> None:
        """Putting back the very item an index holds copies nothing."""
        items = [object() for _ in range(n)]
        v = build(items)
        for i in {0, n // 2, n - 1}:
            assert put(v, i, items[i]) is v

    def test_put_of_an_equal_but_distinct_object_is_a_change(self) -> None:
        """Identity, not equality, decides: 1.0 replaces 1."""
        v = build([1, 2])
        w = put(v, 0, 1.0)
        assert w is not v
        assert type(get(w, 0)) is float

    def test_put_shares_every_other_leaf(self) -> None:
        """A put copies the path to one leaf; every other leaf is shared."""
        v = build(range(scaled(40_000)))
        w = put(v, 12_345, "x")
        old, new = list(_vector.leaves(v)), list(_vector.leaves(w))
        assert sum(a is not b for a, b in zip(old, new, strict=True)) == 1


ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 5), st.integers()),
        st.tuples(st.just("pop"), st.just(0), st.just(0)),
        st.tuples(st.just("put"), st.integers(0, 10_000), st.integers()),
        st.tuples(st.just("extend"), st.integers(0, 70), st.integers()),
    ),
    max_size=40,
)


class TestAgainstList:
    @given(st.sampled_from([0, 5, 31, 32, 33, 64, 1024, 1056, 1057]), ops)
    def test_operations_match_a_list(
        self, start: int, steps: list[tuple[str, int, int]]
    ) -> None:
        """append, pop and put do what they do to a list; older versions stay."""
        model = list(range(start))
        v = build(model)
        history = [(v, list(model))]
        for op, n, value in steps:
            if op == "append":
                v = append(v, value)
                model.append(value)
            elif op == "extend":
                for k in range(n):
                    v = append(v, value + k)
                    model.append(value + k)
            elif op == "pop" and model:
                v = pop(v)
                model.pop()
            elif op == "put" and model:
                v = put(v, n % len(model), value)
                model[n % len(model)] = value
            check_vec(v)
            history.append((v, list(model)))
        same_items(v, model)
        for old, items in history:
            assert list(iterate(old)) == items


def brute_changed(a: list[Any], b: list[Any]) -> list[int]:
    return [k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x is not y]


class TestChangedIndices:
    @given(
        st.integers(0, 1100),
        st.lists(st.tuples(st.integers(0, 2000), st.booleans()), max_size=10),
        st.integers(-40, 40),
    )
    def test_matches_brute_force(
        self, n: int, edits: list[tuple[int, bool]], grow: int
    ) -> None:
        """The indices below the shorter length whose items differ by identity."""
        items = [object() for _ in range(n)]
        a = build(items)
        b = a
        model = list(items)
        for i, keep in edits:
            if model:
                obj = model[i % len(model)] if keep else object()
                b = put(b, i % len(model), obj)
                model[i % len(model)] = obj
        for _ in range(abs(grow)):
            if grow > 0:
                obj = object()
                b = append(b, obj)
                model.append(obj)
            elif model:
                b = pop(b)
                model.pop()
        assert list(changed_indices(a, b)) == brute_changed(items, model)
        assert list(changed_indices(b, a)) == brute_changed(model, items)

    def test_separately_built_vectors_of_the_same_items(self) -> None:
        """Vectors built apart from the same objects have no changed index."""
        items = [object() for _ in range(2000)]
        a = build(items)
        b = EMPTY
        for x in items:
            b = append(b, x)
        assert list(changed_indices(a, b)) == []

    def test_different_depths(self) -> None:
        """Vectors of different depth are compared item by item."""
        items = list(range(40_000))
        a, b = build(items), build(items[:100])
        assert a.shift != b.shift
        assert list(changed_indices(a, b)) == []
        c = put(b, 50, "x")
        assert list(changed_indices(a, c)) == [50]

    def test_cost_is_proportional_to_the_change(self) -> None:
        """One put in 100k items: one index, one leaf path descended."""
        a = build(range(scaled(100_000)))
        b = put(a, 54_321, "x")
        with count_calls(_vector._expand) as calls:
            assert list(changed_indices(a, b)) == [54_321]
        assert calls["_expand"] <= 2 * 4, "both sides, one node per level of the path"
