"""The relaxed radix-balanced tree: insert, delete, take, drop and concat, against a
plain list, with the layout's invariants checked after every step."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from statetrail.frozen import _splice, _vector
from statetrail.frozen._splice import concat, delete, drop, insert, take
from statetrail.frozen._vector import (
    EMPTY,
    TABLE,
    Vec,
    append,
    build,
    get,
    iterate,
    kids,
    pop,
    put,
)
from tests.conftest import SCALE, scaled
from tests.counting import count_calls


def _check_node(node: tuple[Any, ...], level: int) -> int:
    """Assert a node's invariants; its item count."""
    if level == 0:
        assert 1 <= len(node) <= 32, "a leaf holds 1 to 32 items"
        return len(node)
    children = kids(node)
    assert 1 <= len(children) <= 32, "a node has 1 to 32 children"
    sizes = [_check_node(child, level - 5) for child in children]
    if node[-1][0] is TABLE:
        total = 0
        table = []
        for s in sizes:
            total += s
            table.append(total)
        assert list(node[-1][1:]) == table, "the size table counts the children"
    else:
        assert all(s == 1 << level for s in sizes[:-1]), "dense: complete children"
        if level == 5:
            assert all(len(leaf) == 32 for leaf in children), "dense: full leaves"
        else:
            assert all(c[-1][0] is not TABLE for c in children), "dense below"
    return sum(sizes)


def check_rrb(v: Vec) -> None:
    """Assert the invariants of a vector whose tree may be relaxed."""
    if v.size == 0:
        assert v == EMPTY
        return
    assert 1 <= len(v.tail) <= 32, "a non-empty vector has a tail"
    assert v.shift >= 5
    assert v.shift % 5 == 0
    if not v.root:
        assert v.size == len(v.tail)
        return
    assert _check_node(v.root, v.shift) + len(v.tail) == v.size
    if v.shift > 5:
        assert len(kids(v.root)) >= 2, "a root with one child is lifted"


def relaxed(n: int, seed: int = 0) -> tuple[Vec, list[Any]]:
    """A vector of ``n`` items with relaxed nodes (inserts and deletes), its model."""
    rnd = random.Random(seed)
    model = list(range(n))
    v = build(model)
    for k in range(min(n, 64)):
        i = rnd.randrange(len(model))
        item = -k - 1000  # one object, in the vector and the model
        v = insert(v, i, item)
        model.insert(i, item)
        j = rnd.randrange(len(model))
        v = delete(v, j)
        del model[j]
    return v, model


class TestInsertAndDelete:
    @pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 64, 1056, 1057, 32 * 1024 + 40])
    def test_every_position_near_the_edges(self, n: int) -> None:
        """Insert and delete at the first, last and boundary indices of any size."""
        base = build(range(n))
        for i in sorted({0, 1, 31, 32, 33, n // 2, n - 33, n - 32, n - 1, n}):
            if not 0 <= i <= n:
                continue
            v = insert(base, i, "x")
            check_rrb(v)
            model = list(range(n))
            model.insert(i, "x")
            assert v.size == n + 1
            assert get(v, i) == "x"
            if i < n:
                w = delete(base, i)
                check_rrb(w)
                assert list(iterate(w)) == [k for k in range(n) if k != i]
        assert list(iterate(base)) == list(range(n)), "the base is unchanged"

    def test_long_random_sequences_in_a_deep_tree(self) -> None:
        """Thousands of inserts and deletes at random in > 32**3 items stay a tree
        of bounded height whose items are the list's."""
        rnd = random.Random(11)
        n = scaled(34_000)
        model = list(range(n))
        v = build(model)
        dense_shift = v.shift
        for k in range(scaled(3_000)):
            if k % 3:
                i = rnd.randint(0, len(model))
                v = insert(v, i, -k)
                model.insert(i, -k)
            else:
                i = rnd.randrange(len(model))
                v = delete(v, i)
                del model[i]
            if k % 500 == 0:
                check_rrb(v)
        check_rrb(v)
        assert v.shift <= dense_shift + 5
        assert v.root[-1][0] is TABLE, "relaxed nodes were made"
        assert list(iterate(v)) == model
        for i in rnd.sample(range(len(model)), 200):
            assert get(v, i) == model[i]

    def test_shrinking_keeps_leaves_about_half_full(self) -> None:
        """Deleting most items merges small leaves with their neighbours."""
        rnd = random.Random(3)
        v = build(range(20_000))
        while v.size > 2_000:
            v = delete(v, rnd.randrange(v.size))
        check_rrb(v)
        leaves = list(_vector.leaves(v))
        assert v.size / len(leaves) >= 14

    def test_insert_copies_one_path(self) -> None:
        """An insert shares every leaf but the one it lands in (split in two)."""
        v = build(range(scaled(100_000)))
        w = insert(v, 54_321, "x")
        old = {id(leaf) for leaf in _vector.leaves(v)}
        new = [leaf for leaf in _vector.leaves(w) if id(leaf) not in old]
        assert len(new) == 2
        assert sum(map(len, new)) == 33


class TestCutAndJoin:
    @pytest.mark.parametrize("n", [0, 1, 32, 33, 100, 1056, 1100, 40_000])
    def test_take_and_drop_at_many_cuts(self, n: int) -> None:
        """take(n) and drop(n) of a dense and a relaxed vector match slicing."""
        for v, model in ((build(range(n)), list(range(n))), relaxed(n)):
            for cut in sorted({0, 1, 31, 32, 33, n // 3, n - 33, n - 1, n, n + 5}):
                if cut < 0:
                    continue
                left, right = take(v, cut), drop(v, cut)
                check_rrb(left)
                check_rrb(right)
                assert list(iterate(left)) == model[:cut]
                assert list(iterate(right)) == model[cut:]

    @pytest.mark.parametrize(
        ("m", "n"),
        [
            (0, 5),
            (5, 0),
            (10, 70),
            (70, 10),
            (100, 100),
            (100, 40_000),
            (1100, 40_000),
            (40_000, 90),
        ],
    )
    def test_concat_matches_list_addition(self, m: int, n: int) -> None:
        """concat of dense and relaxed vectors of any sizes is the items in order."""
        for a, xs in ((build(range(m)), list(range(m))), relaxed(m, 1)):
            for b, ys in ((build(range(n)), list(range(n))), relaxed(n, 2)):
                c = concat(a, b)
                check_rrb(c)
                assert list(iterate(c)) == xs + ys

    def test_many_concatenations_stay_shallow(self) -> None:
        """Joining 200 vectors of random sizes keeps a logarithmic height."""
        rnd = random.Random(5)
        v, model = EMPTY, []
        for _ in range(200):
            n = rnd.randint(1, 3000)
            v = concat(v, build(range(n)))
            model.extend(range(n))
        check_rrb(v)
        assert list(iterate(v)) == model
        assert v.shift <= 20


class TestIdentity:
    def test_writes_that_change_nothing_return_the_vector(self) -> None:
        """put of the same item, a cut at the ends, a join with nothing: ``v``."""
        v, _ = relaxed(5000)
        assert put(v, 123, get(v, 123)) is v
        assert take(v, v.size) is v
        assert drop(v, 0) is v
        assert concat(v, EMPTY) is v
        assert concat(EMPTY, v) is v

    def test_the_dense_read_path_stays(self) -> None:
        """A vector only built, appended to and popped has no size table."""
        v = build(range(5000))
        for i in range(100):
            v = append(v, i)
        v = pop(v)
        assert all(node[-1][0] is not TABLE for node in _inner(v.root, v.shift))


def _inner(node: tuple[Any, ...], level: int) -> list[tuple[Any, ...]]:
    if level == 0:
        return []
    out = [node]
    for child in kids(node):
        out += _inner(child, level - 5)
    return out


class TestRegions:
    def test_an_insert_near_the_front_is_one_small_stretch(self) -> None:
        """Shared subtrees after the insert are skipped although their indices moved."""
        a = build(range(scaled(100_000)))
        b = insert(a, 3, "x")
        with count_calls(_vector._expand) as calls:
            stretches = list(_vector.regions(a, b))
        assert len(stretches) == 1
        _, xs, start, ys = stretches[0]
        assert start == 0
        assert len(xs) + len(ys) <= 2 * 33
        assert calls["_expand"] <= 2 * 32

    def test_stretches_rebuild_the_other_list(self) -> None:
        """Between the stretches, both lists hold the same items."""
        rnd = random.Random(8)
        a, _ = relaxed(3000)
        b = a
        for _ in range(20):
            b = insert(b, rnd.randint(0, b.size), object())
            b = delete(b, rnd.randrange(b.size))
        xs_all, ys_all = list(iterate(a)), list(iterate(b))
        pa = pb = 0
        for i, xs, j, ys in _vector.regions(a, b):
            assert xs_all[pa:i] == ys_all[pb:j]
            assert xs_all[i : i + len(xs)] == xs
            assert ys_all[j : j + len(ys)] == ys
            pa, pb = i + len(xs), j + len(ys)
        assert xs_all[pa:] == ys_all[pb:]

    @pytest.mark.parametrize("burst", [1, 40, 600])
    def test_bursts_that_split_leaves_and_nodes(self, burst: int) -> None:
        """Many inserts at one place split leaves, then nodes: the stretches still
        lie between shared subtrees, both ways round."""
        rnd = random.Random(burst)
        a = build(range(40_000))
        b = a
        for spot in (100, 20_000, 39_000):
            for _ in range(burst):
                b = insert(b, spot + rnd.randrange(8), object())
            b = delete(b, spot + 500)
        for x, y in ((a, b), (b, a)):
            xs_all, ys_all = list(iterate(x)), list(iterate(y))
            pa = pb = 0
            for i, xs, j, ys in _vector.regions(x, y):
                assert xs_all[pa:i] == ys_all[pb:j]
                assert xs_all[i : i + len(xs)] == xs
                assert ys_all[j : j + len(ys)] == ys
                pa, pb = i + len(xs), j + len(ys)
            assert xs_all[pa:] == ys_all[pb:]

    def test_changed_indices_on_relaxed_vectors(self) -> None:
        """Indices whose items differ, whatever the two shapes."""
        v, model = relaxed(3000)
        w = build(model)
        assert list(_vector.changed_indices(v, w)) == []
        w2 = put(w, 2999, "x")
        assert list(_vector.changed_indices(v, w2)) == [2999]


values = st.integers(-3, 3) | st.text(max_size=2)


class VectorMachine(RuleBasedStateMachine):
    """Every operation on a vector and on a plain list; old versions never change."""

    @initialize(n=st.sampled_from([0, 3, 33, 100, 1100, scaled(2_000)]))
    def start(self, n: int) -> None:
        self.v = build(range(n))
        self.model: list[Any] = list(range(n))
        self.versions: list[tuple[Vec, list[Any]]] = []
        self.rnd = random.Random(n)

    def _keep(self) -> None:
        if len(self.versions) < 5:
            self.versions.append((self.v, list(self.model)))

    @rule(data=st.data(), value=values)
    def insert(self, data: st.DataObject, value: Any) -> None:
        i = data.draw(st.integers(0, len(self.model)))
        self._keep()
        self.v = _splice.insert(self.v, i, value)
        self.model.insert(i, value)

    @rule(data=st.data(), many=st.integers(1, 40))
    def insert_many_at_random(self, data: st.DataObject, many: int) -> None:
        """Long runs at random positions, which split and relax nodes."""
        for k in range(many):
            i = self.rnd.randint(0, len(self.model))
            self.v = _splice.insert(self.v, i, k)
            self.model.insert(i, k)

    @precondition(lambda self: self.model)
    @rule(many=st.integers(1, 40))
    def delete_many_at_random(self, many: int) -> None:
        for _ in range(min(many, len(self.model))):
            i = self.rnd.randrange(len(self.model))
            self.v = _splice.delete(self.v, i)
            del self.model[i]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.model) - 1))
        self._keep()
        self.v = _splice.delete(self.v, i)
        del self.model[i]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), value=values)
    def put(self, data: st.DataObject, value: Any) -> None:
        i = data.draw(st.integers(0, len(self.model) - 1))
        self.v = put(self.v, i, value)
        self.model[i] = value

    @rule(value=values, times=st.integers(1, 70))
    def append(self, value: Any, times: int) -> None:
        for _ in range(times):
            self.v = append(self.v, value)
            self.model.append(value)

    @precondition(lambda self: self.model)
    @rule(times=st.integers(1, 70))
    def pop(self, times: int) -> None:
        for _ in range(min(times, len(self.model))):
            self.v = pop(self.v)
            self.model.pop()

    @rule(data=st.data())
    def slice(self, data: st.DataObject) -> None:
        n = len(self.model)
        start = data.draw(st.integers(0, n))
        stop = data.draw(st.integers(start, n))
        self._keep()
        self.v = drop(take(self.v, stop), start)
        self.model = self.model[start:stop]

    @rule(n=st.sampled_from([0, 5, 64, 65, 300, 1500]), front=st.booleans())
    def concat(self, n: int, front: bool) -> None:
        other, items = relaxed(n, 4) if n % 2 else (build(range(n)), list(range(n)))
        if front:
            self.v = concat(other, self.v)
            self.model = items + self.model
        else:
            self.v = concat(self.v, other)
            self.model = self.model + items

    @rule()
    def concat_with_itself(self) -> None:
        self.v = concat(self.v, self.v)
        self.model = self.model + self.model
        if len(self.model) > scaled(20_000):
            self.v = take(self.v, scaled(20_000))
            del self.model[scaled(20_000) :]

    @invariant()
    def same_items(self) -> None:
        check_rrb(self.v)
        assert self.v.size == len(self.model)
        for i in {0, len(self.model) // 2, len(self.model) - 1}:
            if 0 <= i < len(self.model):
                assert get(self.v, i) == self.model[i]

    def teardown(self) -> None:
        assert list(iterate(self.v)) == self.model
        for v, model in self.versions:
            assert list(iterate(v)) == model, "an older version changed"


VectorMachine.TestCase.settings = settings(
    max_examples=60 * SCALE, stateful_step_count=30, deadline=None
)
TestVectorModel = VectorMachine.TestCase
