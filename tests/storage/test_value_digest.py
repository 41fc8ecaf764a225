"""The value commitment (``_value_digest``): a function of the value only,
kept up to date by a write's changes, the same in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import statetrail
from statetrail._change import UNSTORED, Change
from statetrail.errors import CorruptHistoryError
from statetrail.frozen import MISSING, freeze
from statetrail.storage import _integrity as integrity
from statetrail.storage import codec
from statetrail.storage._value_digest import (
    SMALL_DICT,
    SMALL_LIST,
    Tracker,
    plain_digest,
    value_digest,
)
from tests.storage.tamper import EVERY, build, sqlite_raw
from tests.storage.test_anchor import rewrite
from tests.strategies import json_trees, scalars, trees

_ROOT = Path(__file__).resolve().parents[2]


def exact(value: Any) -> bytes:
    """The value as stored: equal bytes for the same value in the same order."""
    return codec.canonical(codec.to_json(value))


sizes = st.integers(min_value=0, max_value=3 * SMALL_LIST)


class TestAFunctionOfTheValue:
    @given(json_trees)
    def test_plain_frozen_and_read_back_agree(self, tree: Any) -> None:
        """A plain value, its frozen form and what the codec reads back hash
        alike."""
        frozen = freeze(tree)
        back = codec.from_json(codec.parse(exact(frozen)))
        assert value_digest(tree) == value_digest(frozen) == value_digest(back)

    @given(json_trees, json_trees)
    def test_equal_exactly_when_the_values_are(self, a: Any, b: Any) -> None:
        """Digests are equal exactly when the stored bytes are (type, order)."""
        assert (value_digest(a) == value_digest(b)) == (exact(a) == exact(b))

    @given(sizes, st.randoms(use_true_random=False))
    def test_dict_order_is_part_of_the_value(self, n: int, rnd: Any) -> None:
        """The same items in another order are another value (canonical() keeps
        dict order); the same order built another way is the same value."""
        items = [(f"k{i}", i) for i in range(n)]
        shuffled = items[:]
        rnd.shuffle(shuffled)
        same = dict(items) == dict(shuffled) and items == shuffled
        assert (value_digest(dict(items)) == value_digest(dict(shuffled))) == same
        # Built by writes, with keys added and deleted on the way.
        built = freeze({"extra": 0})
        for k, v in items:
            built = built.set(k, v).set("x" + k, v).delete("x" + k)
        built = built.delete("extra")
        assert value_digest(built) == value_digest(dict(items))

    @given(st.lists(scalars, max_size=3 * SMALL_LIST), st.data())
    def test_a_list_built_by_inserts(self, items: list[Any], data: Any) -> None:
        """A list reached by inserts in any order hashes as one built at once."""
        order = data.draw(st.permutations(range(len(items))))
        placed: list[int] = []
        tracker = Tracker()
        tracker.reset([], 0)
        for i in order:
            at = sum(1 for j in placed if j < i)
            placed.insert(at, i)
            tracker.advance([Change((at,), MISSING, items[i])], None, 1)
        assert tracker.advance([], None, 1) == value_digest(items)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


class TestTracker:
    @settings(max_examples=20)
    @given(st.data())
    def test_steps_give_the_digest_of_the_result(self, data: Any) -> None:
        """Random replace, add and remove steps, on containers below and above
        the flat sizes: the tracker's digest is always the fresh one."""
        value: Any = {
            "big": {f"k{i}": i for i in range(SMALL_DICT + 3)},
            "list": list(range(SMALL_LIST + 3)),
            "small": {"a": [1, {"b": 2}]},
        }
        tracker = Tracker()
        tracker.reset(value, 0)
        for n in range(1, 20):
            inside = [p for p in _paths(value) if len(p) >= 2]
            if not inside:
                break
            path = data.draw(st.sampled_from(inside))
            parent = _at(value, path[:-1])
            key = path[-1]
            new = data.draw(st.one_of(scalars, trees(max_leaves=8)))
            kind = data.draw(st.sampled_from(["=", "+", "-"]))
            if kind == "=":
                parent[key] = new
                step = Change(path, UNSTORED, freeze(new))
            elif kind == "-":
                del parent[key]
                step = Change(path, UNSTORED, MISSING)
            elif isinstance(parent, list):
                parent.insert(key, new)
                step = Change(path, MISSING, freeze(new))
            else:
                fresh = f"new{n}"
                parent[fresh] = new
                step = Change((*path[:-1], fresh), MISSING, freeze(new))
            assert tracker.advance([step], freeze(value), n) == value_digest(value)
            assert tracker.number == n

    def test_a_step_it_cannot_follow_hashes_the_whole_value(self) -> None:
        """A step through a leaf (a tuple) or to a missing key starts over from
        the resulting value instead of going wrong."""
        tracker = Tracker()
        tracker.reset({"t": (1, 2), "a": 1}, 0)
        result = {"t": (1, 3), "a": 1}
        step = Change(("t", 1), UNSTORED, 3)
        assert tracker.advance([step], result, 1) == value_digest(result)
        result = {"t": (1, 3), "a": 2}
        step = Change(("zz",), UNSTORED, 2)
        assert tracker.advance([step], result, 2) == value_digest(result)

    def test_every_stored_row_commits_to_its_value(self, tmp_path: Path) -> None:
        """Through a repository: each row's value digest is its value's, across
        path writes, deletions, list inserts, a branch and a reopened file."""
        path = tmp_path / "h.db"
        with statetrail.open(path) as repo:
            store = repo.store("s", {"d": {f"k{i}": i for i in range(50)}, "l": []})
            for i in range(40):
                store.set(f"d.k{i}", {"v": i})
                store.set("l", [*store.get("l"), i])
            store.delete("d.k3")
            timeline = repo.timeline("s")
            timeline.checkout(20)
            store.set("d.k1", "branch")
        with statetrail.open(path) as repo:
            repo.store("s").set("d.k2", "after reopening")
            rows = repo.backend.read("s")
            assert len(rows) == 84
            for row in rows:
                committed = integrity.committed_value(row)
                assert committed == value_digest(repo.value_at("s", row.number))


_SCRIPT = """
import sys
from statetrail.storage._value_digest import value_digest
value = {
    "names": {f"user-{i}": {"n": i, "tags": {"x", "y", str(i)}} for i in range(80)},
    "list": [str(i) for i in range(100)],
    7: frozenset({"a", "b"}),
}
print(value_digest(value), hash("a"))
"""


def test_the_digest_does_not_depend_on_the_hash_seed() -> None:
    """Two processes with different string hashes give the same digest."""
    out = []
    for seed in ("1", "2"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": str(_ROOT / "src"),
        }
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(done.stdout.split())
    (first, hash_1), (second, hash_2) = out
    assert hash_1 != hash_2  # the seeds did differ
    assert first == second


def test_verify_checks_every_rows_value_digest(tmp_path: Path) -> None:
    """A row's value digest rewritten, with every digest and chain after it
    recomputed (a consistent rewrite, so the rows alone verify): verify finds
    that the patches give another value than the row commits to."""
    path = tmp_path / "h.db"
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        build(repo)
    with sqlite_raw(str(path)) as raw:
        payload = raw.row("job", 6)["payload"]
        rewrite(raw, "job", 6, payload=payload[:-66] + "0" * 64 + '"}')
    with statetrail.open(path) as repo, pytest.raises(CorruptHistoryError) as caught:
        repo.verify()
    assert caught.value.problems == [
        (
            "job",
            6,
            "its value digest does not match the value its patches give (altered)",
        )
    ]


def test_two_writers_follow_each_other_without_hashing_the_whole_value(
    tmp_path: Path,
) -> None:
    """Two repositories writing one SQLite timeline in turn: each write loses
    the race for its number, steps back and follows the other's rows, so the
    whole value is hashed once per writer, and every row still commits to its
    value (a dict deletion, which cannot be stepped back, hashes it again)."""
    path = tmp_path / "h.db"
    state = {"d": {f"k{i}": i for i in range(SMALL_DICT + 10)}, "l": [0, 1]}
    with statetrail.open(path) as one, statetrail.open(path) as two:
        first = one.store("s", state)
        second = two.store("s")
        for i in range(10):
            first.set(f"d.k{i}", i * 10)
            second.set(f"d.k{i + 20}", {"n": i})
        second.delete("d.k39")
        first.set("d.k1", "after the deletion")
        wholes = [
            repo.timeline("s")._journal._values.wholes  # type: ignore[union-attr]
            for repo in (one, two)
        ]
    assert wholes[0] <= 2, wholes
    assert wholes[1] <= 3, wholes
    with statetrail.open(path) as repo:
        assert repo.verify() == {"s": 23}
        for row in repo.backend.read("s"):
            committed = integrity.committed_value(row)
            assert committed == value_digest(repo.value_at("s", row.number))


@settings(max_examples=150, deadline=None)
@given(
    trees(
        st.one_of(
            scalars,
            st.tuples(scalars),  # tagged in JSON: left to the codec
            st.frozensets(st.integers(0, 5)),
        ),
        max_leaves=60,
    )
)
def test_plain_digest_is_the_decoded_values_digest(value: Any) -> None:
    """A JSON tree's digest worked out without decoding it is the digest of
    the value the codec decodes it to; a tree it cannot follow is ``None``."""
    tree = orjson.loads(orjson.dumps(codec.to_json(value)))
    found = plain_digest(tree)
    decoded = codec.from_json(tree)
    if found is not None:
        assert found.hex() == value_digest(decoded)


@pytest.mark.parametrize(
    ("tree", "plain"),
    [
        ({"n": 1, "name": "entry 1"}, True),
        ([1.5, -0.0, None, True, "é", 2**70], True),
        ({"a": {"b": [{"c": 1}]}}, True),
        ({"$t": "tuple", "v": [1]}, False),
        ({"a": [{"$t": "set", "v": [1]}]}, False),
        ({f"k{i}": i for i in range(SMALL_DICT + 1)}, False),
        (list(range(SMALL_LIST + 1)), False),
        ([[[[[[[[[1]]]]]]]]], False),  # deeper than it follows
    ],
)
def test_plain_digest_follows_only_plain_trees(tree: Any, plain: bool) -> None:
    found = plain_digest(tree)
    assert (found is not None) is plain
    if plain:
        assert found is not None
        assert found.hex() == value_digest(codec.from_json(tree))
