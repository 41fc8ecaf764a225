"""FrozenSet against set and frozenset: the Set API, persistence and isolation."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Hashable, MutableSet, Set
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from statetrail.errors import FrozenError
from statetrail.frozen import FrozenList, FrozenSet, SetDraft, freeze
from statetrail.frozen._dict import SMALL
from tests.conftest import scaled
from tests.strategies import Collide, colliding_keys

both = pytest.mark.parametrize("n", [3, 20], ids=["small", "trie"])


@dataclass(unsafe_hash=True)
class Point:
    """A hashable but mutable object of a type statetrail does not know."""

    x: int


class TestConstruction:
    def test_from_any_iterable(self) -> None:
        """Built from a set, a list with repeats, a generator or nothing."""
        assert FrozenSet({1, 2}) == {1, 2}
        assert FrozenSet([1, 1, 2]) == {1, 2}
        assert FrozenSet(x for x in range(3)) == {0, 1, 2}
        assert FrozenSet() == set()
        assert len(FrozenSet([1, 1.0, True])) == 1

    def test_members_are_frozen(self) -> None:
        """Lists and dicts given as members are frozen (and so hashable)."""
        s = FrozenSet([[1, 2], (3, [4])])
        assert FrozenList([1, 2]) in s
        assert (3, FrozenList([4])) in s

    def test_unhashable_member_raises_type_error(self) -> None:
        """A member that cannot be hashed even when frozen is refused."""
        with pytest.raises(TypeError):
            FrozenSet([bytearray(b"x")])

    def test_is_a_set_but_not_mutable(self) -> None:
        """A collections.abc.Set and Hashable, not a MutableSet."""
        s = FrozenSet({1})
        assert isinstance(s, Set)
        assert isinstance(s, Hashable)
        assert not isinstance(s, MutableSet)


class TestReading:
    @both
    def test_membership_and_iteration(self, n: int) -> None:
        """in, len and iteration agree with frozenset."""
        model = frozenset(range(n))
        s = FrozenSet(model)
        assert len(s) == n
        assert set(s) == model
        assert len(list(s)) == n
        assert all(x in s for x in model)
        assert n not in s
        assert "0" not in s
        assert 1.0 in s

    @both
    def test_unhashable_membership_raises_type_error(self, n: int) -> None:
        """`[] in s` raises TypeError in both forms, as for frozenset."""
        s = FrozenSet(range(n))
        with pytest.raises(TypeError):
            [] in frozenset(range(n))  # noqa: B015
        with pytest.raises(TypeError):
            [] in s  # noqa: B015


class TestWrites:
    @both
    def test_writes_return_new_sets_and_leave_the_old_one(self, n: int) -> None:
        """add, discard, remove and update return new sets; the original stays."""
        model = set(range(n))
        s = FrozenSet(model)
        assert s.added("a") == model | {"a"}
        assert s.discarded(0) == model - {0}
        assert s.removed(1) == model - {1}
        assert s.updated([100, 101], {102}) == model | {100, 101, 102}
        assert s == model

    @both
    def test_remove_of_a_missing_member_raises_key_error(self, n: int) -> None:
        """remove() raises KeyError like set.remove; discard() returns self."""
        s = FrozenSet(range(n))
        with pytest.raises(KeyError):
            s.removed("nope")
        assert s.discarded("nope") is s

    @both
    def test_noop_writes_return_the_same_set(self, n: int) -> None:
        """Adding a member, or an empty update, returns self."""
        s = FrozenSet(range(n))
        assert s.added(1) is s
        assert s.added(1.0) is s
        assert s.updated([]) is s
        assert s.updated([0, 1]) is s

    @both
    def test_members_are_removed_as_they_were_added(self, n: int) -> None:
        """What add() accepts (a list, an unknown object), discard/remove take too."""
        s = FrozenSet(range(n)).added([1, 2]).added(Collide(1))
        assert s.discarded([1, 2]) == set(range(n)) | {Collide(1)}
        assert s.removed(Collide(1)).removed([1, 2]) == set(range(n))
        with pytest.raises(KeyError):
            s.removed([3])

    def test_draft_returns_a_set_draft(self) -> None:
        """draft() hands out a SetDraft of this set."""
        s = FrozenSet({1})
        draft = s.draft()
        assert isinstance(draft, SetDraft)
        draft.add(2)
        assert draft.finish() == {1, 2}
        assert s == {1}

    def test_attributes_are_refused(self) -> None:
        """No instance __dict__; the in-place operators raise instead of rebinding
        to a new set (issue 10, defect 7)."""
        s = FrozenSet({1})
        with pytest.raises(AttributeError):
            s.extra = 1  # type: ignore[attr-defined]
        t = s
        with pytest.raises(FrozenError, match=r"s \| other"):
            t |= {2}
        with pytest.raises(FrozenError):
            t -= {1}
        with pytest.raises(FrozenError):
            t &= {1}
        with pytest.raises(FrozenError):
            t ^= {1}
        assert s == {1}
        assert t is s


class TestSmallTrieBoundary:
    def test_growing_and_shrinking_across_eight_members(self) -> None:
        """The ninth member moves into the trie; going back to eight leaves it."""
        s = FrozenSet(range(SMALL))
        assert s._small is not None
        t = s.added(SMALL)
        assert t._small is None
        assert t == set(range(SMALL + 1))
        u = t.discarded(3)
        assert u._small is not None
        assert u == set(range(SMALL + 1)) - {3}
        assert hash(u) == hash(frozenset(u))

    @pytest.mark.parametrize("n", range(SMALL - 2, SMALL + 4))
    def test_every_size_near_the_boundary(self, n: int) -> None:
        """Sizes around the boundary read, grow and shrink correctly."""
        model = set(range(n))
        s = FrozenSet(model)
        assert (s._small is not None) == (n <= SMALL)
        assert s.added(-1) == model | {-1}
        assert s.added(-1).discarded(-1) == s
        if n:
            assert s.removed(0) == model - {0}

    def test_colliding_members(self) -> None:
        """Members with equal hashes are kept apart in both forms."""
        members = [Collide(i) for i in range(12)] + [-1, -2]
        s = FrozenSet()
        for m in members:
            s = s.added(m)
        assert s == set(members)
        for m in members[:10]:
            s = s.removed(m)
        assert s == set(members[10:])


class TestEqualityAndHash:
    @both
    def test_equal_to_set_and_frozenset_both_ways(self, n: int) -> None:
        """FrozenSet == set/frozenset both ways; != its negation."""
        model = set(range(n))
        s = FrozenSet(model)
        for other in (model, frozenset(model), FrozenSet(reversed(list(model)))):
            assert s == other
            assert other == s
            assert not s != other  # noqa: SIM202
        assert s != model | {"x"}
        assert model | {"x"} != s
        assert s != list(model)
        assert s.__eq__(5) is NotImplemented

    @both
    def test_hash_equals_frozenset_hash(self, n: int) -> None:
        """Equal to a frozenset, so hashing alike (usable as the same dict key)."""
        model = frozenset(range(n))
        s = FrozenSet(model)
        assert hash(s) == hash(model)
        assert {model: "v"}[s] == "v"
        assert hash(FrozenSet(range(30)).discarded(29)) == hash(frozenset(range(29)))

    def test_comparisons_are_subset_tests(self) -> None:
        """<, <=, >, >= are subset and superset tests, against plain sets too."""
        s = FrozenSet({1, 2})
        assert s <= {1, 2}
        assert s < {1, 2, 3}
        assert {1, 2, 3} > s
        assert not s > {1, 2}
        assert s >= FrozenSet({1})
        assert frozenset({1}) <= s
        assert s.isdisjoint({3})
        assert not s.isdisjoint([2])


class TestOperators:
    @both
    def test_set_algebra_matches_frozenset(self, n: int) -> None:
        """|, &, -, ^ give FrozenSets equal to frozenset's results, either side."""
        a, b = frozenset(range(n)), frozenset(range(n // 2, n + 5))
        s = FrozenSet(a)
        for got, expected in (
            (s | b, a | b),
            (s & b, a & b),
            (s - b, a - b),
            (s ^ b, a ^ b),
            (b | s, b | a),
            (b & s, b & a),
            (b - s, b - a),
            (b ^ s, b ^ a),
            (s | FrozenSet(b), a | b),
        ):
            assert type(got) is FrozenSet
            assert got == expected

    def test_operators_with_non_sets(self) -> None:
        """Non-iterables are refused with TypeError."""
        with pytest.raises(TypeError):
            FrozenSet({1}) | 1  # type: ignore[operator]
        with pytest.raises(TypeError):
            1 & FrozenSet({1})  # type: ignore[operator]


class TestProtocols:
    @both
    def test_repr_round_trips(self, n: int) -> None:
        """repr() evaluates back to an equal set; the empty set shows as FrozenSet()."""
        s = FrozenSet(range(n))
        assert eval(repr(s), {"FrozenSet": FrozenSet}) == s
        assert repr(FrozenSet()) == "FrozenSet()"
        assert repr(FrozenSet({1})) == "FrozenSet({1})"

    @both
    def test_pickle_round_trip(self, n: int) -> None:
        """Pickling gives back an equal FrozenSet."""
        s = FrozenSet([*range(n), (1, [2])])
        back = pickle.loads(pickle.dumps(s))
        assert type(back) is FrozenSet
        assert back == s
        assert hash(back) == hash(s)

    def test_copy_and_deepcopy_return_self(self) -> None:
        """A frozen set needs no copying."""
        s = FrozenSet({1})
        assert copy.copy(s) is s
        assert copy.deepcopy(s) is s


class TestIsolation:
    @both
    def test_members_of_unknown_types_are_copies(self, n: int) -> None:
        """A member of an unknown type is read back as a copy of that type."""
        p = Point(1)
        s = FrozenSet([p, *range(n)])
        p.x = 5
        members = [m for m in s if not isinstance(m, int)]
        assert members == [Point(1)]
        assert type(members[0]) is Point
        members[0].x = 7
        assert Point(1) in s
        assert [m for m in s if not isinstance(m, int)] == [Point(1)]

    def test_input_is_not_modified(self) -> None:
        """Building a set leaves the input collection as it was."""
        source = [[1], [1], {"a": 1}]
        FrozenSet(source)
        assert source == [[1], [1], {"a": 1}]


# -- stateful model ----------------------------------------------------------------

members = st.one_of(colliding_keys, st.lists(st.integers(0, 2), max_size=2).map(tuple))


class FrozenSetMachine(RuleBasedStateMachine):
    """Each write on a FrozenSet and on a plain set; no older version ever changes."""

    def __init__(self) -> None:
        super().__init__()
        self.current: FrozenSet[Any] = FrozenSet()
        self.model: set[Any] = set()
        self.versions: list[tuple[FrozenSet[Any], set[Any]]] = []

    def _record(self, new: FrozenSet[Any]) -> None:
        self.current = new
        self.versions.append((new, set(self.model)))

    @rule(m=members)
    def add(self, m: Any) -> None:
        self.model.add(m)
        self._record(self.current.added(m))

    @rule(m=members)
    def discard(self, m: Any) -> None:
        self.model.discard(m)
        self._record(self.current.discarded(m))

    @rule(m=members)
    def remove(self, m: Any) -> None:
        if m in self.model:
            self.model.remove(m)
            self._record(self.current.removed(m))
        else:
            with pytest.raises(KeyError):
                self.current.removed(m)

    @rule(ms=st.sets(members, max_size=12))
    def update(self, ms: set[Any]) -> None:
        before = set(ms)
        new = self.current.updated(ms)
        assert ms == before
        self.model.update(ms)
        self._record(new)

    @rule(
        op=st.sampled_from(["|", "&", "-", "^"]),
        ms=st.sets(members, max_size=12),
        reflected=st.booleans(),
    )
    def algebra(self, op: str, ms: set[Any], reflected: bool) -> None:
        a, b = (ms, self.current) if reflected else (self.current, ms)
        ma, mb = (ms, self.model) if reflected else (self.model, ms)
        result = {"|": a | b, "&": a & b, "-": a - b, "^": a ^ b}[op]
        self.model = {"|": ma | mb, "&": ma & mb, "-": ma - mb, "^": ma ^ mb}[op]
        assert type(result) is FrozenSet
        self._record(result)

    @invariant()
    def matches_the_model(self) -> None:
        s, model = self.current, self.model
        assert len(s) == len(model)
        assert s == model
        assert model == s
        assert hash(s) == hash(frozenset(model))
        assert all(m in s for m in model)

    @invariant()
    def no_older_version_changed(self) -> None:
        for version, snapshot in self.versions:
            assert version == snapshot


TestFrozenSetStateful = FrozenSetMachine.TestCase
# Every step compares every older version: keep the runs short, scale them in soak.
TestFrozenSetStateful.settings = settings(
    max_examples=scaled(50), stateful_step_count=30
)


@given(st.sets(members, max_size=40))
def test_freeze_of_any_set_equals_it(model: set[Any]) -> None:
    """freeze() of a set is a FrozenSet equal to it, hashing as its frozenset."""
    frozen = freeze(model)
    assert type(frozen) is FrozenSet
    assert frozen == model
    assert hash(frozen) == hash(frozenset(model))
