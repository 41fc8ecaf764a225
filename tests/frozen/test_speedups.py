"""The compiled hot paths (_speedups.c) against the pure-Python reference.

Each test here runs the same operation through both implementations side by
side: the pure functions stay importable as ``_hamt.pure_*`` whichever is in
use. The rest of ``tests/frozen`` runs against the implementation in use (the
compiled one when built) and once more, in a subprocess, with
``STATETRAIL_PURE=1`` (:class:`TestPureRun`). Without a compiled build the
compiled side skips, and fails under ``STATETRAIL_REQUIRE_SERVICES=1`` (CI
builds it through ``pip install -e``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statetrail.frozen import FrozenDict, _hamt, _native, freeze
from statetrail.frozen._freeze import PURE_DICT_METHODS
from statetrail.frozen._native import load
from tests.conftest import scaled
from tests.strategies import colliding_keys

ROOT = Path(__file__).resolve().parents[2]


def compiled() -> ModuleType:
    """The compiled module, or a skip (a failure in CI) when it is not built."""
    module = load({})
    if module is None:
        if os.environ.get("STATETRAIL_REQUIRE_SERVICES") == "1":
            pytest.fail("statetrail.frozen._speedups is not built (pip install -e .)")
        pytest.skip("statetrail.frozen._speedups is not built")
    return module


PURE = SimpleNamespace(
    lookup=_hamt.pure_lookup,
    locate=_hamt.pure_locate,
    replace_at=_hamt.pure_replace_at,
    assoc=_hamt.pure_assoc,
    build=_hamt.pure_build,
    build_mapping=_hamt.pure_build_mapping,
)


@pytest.fixture(params=["pure", "compiled"])
def impl(request: pytest.FixtureRequest) -> Any:
    """The trie functions of one implementation."""
    return PURE if request.param == "pure" else compiled()


def both() -> tuple[Any, Any]:
    return PURE, compiled()


class Counted:
    """A key that counts its __hash__ and __eq__ calls, and may refuse them."""

    def __init__(self, n: int, h: int, log: list[str], fail: str = "") -> None:
        self.n, self.h, self.log, self.fail = n, h, log, fail

    def __hash__(self) -> int:
        self.log.append(f"hash {self.n}")
        if self.fail == "hash":
            raise RuntimeError("no hash")
        return self.h

    def __eq__(self, other: object) -> bool:
        self.log.append(f"eq {self.n}")
        if self.fail == "eq":
            raise RuntimeError("no eq")
        return isinstance(other, Counted) and other.n == self.n

    def __repr__(self) -> str:
        return f"Counted({self.n})"


def pairs_of(keys: list[Any]) -> list[tuple[int, Any, Any]]:
    return [(hash(k), k, i) for i, k in enumerate(dict.fromkeys(keys))]


class TestSameTries:
    @given(st.lists(colliding_keys, max_size=60), colliding_keys)
    def test_every_operation_gives_the_same_tuples(
        self, keys: list[Any], probe: Any
    ) -> None:
        """build, lookup, locate, replace_at and assoc agree, tuple for tuple."""
        pure, native = both()
        pairs = pairs_of(keys)
        node = pure.build(pairs)
        assert native.build(pairs) == node
        assert native.build_mapping({k: v for _, k, v in pairs}) == node
        h = hash(probe)
        assert native.lookup(node, h, probe, "none") == pure.lookup(
            node, h, probe, "none"
        )
        place = pure.locate(node, h, probe)
        assert native.locate(node, h, probe) == place
        if place is not None:
            assert native.replace_at(place, "new") == pure.replace_at(place, "new")
        for value in ("x", 0):
            assert native.assoc(node, 0, h, probe, value) == pure.assoc(
                node, 0, h, probe, value
            )

    @given(st.lists(colliding_keys, min_size=1, max_size=40))
    def test_writes_keep_identity_when_nothing_changes(self, keys: list[Any]) -> None:
        """Binding a key to the value it holds returns the very same node."""
        _, native = both()
        pairs = pairs_of(keys)
        node = native.build(pairs)
        for h, k, v in pairs:
            same, added = native.assoc(node, 0, h, k, v)
            assert same is node
            assert not added
            place = native.locate(node, h, k)
            assert place[-2][place[-1]] is v

    def test_hashes_past_64_bits_are_read_as_python_reads_them(self) -> None:
        """A hash that is not a 64-bit int takes its fragments by Python's >> and &."""
        pure, native = both()
        big = 3 << 70 | 12345
        node, _ = pure.assoc(_hamt.EMPTY, 0, 7, "a", 1)
        for impl in (pure, native):
            assert impl.assoc(node, 0, big, "b", 2) == pure.assoc(node, 0, big, "b", 2)
            assert impl.lookup(node, big, "b", None) is None

    def test_bad_arguments_are_type_errors(self, impl: Any) -> None:
        """Not a node, not an int hash: a TypeError, never a crash."""
        with pytest.raises(TypeError):
            impl.lookup("not a node", 1, "k", None)
        with pytest.raises(TypeError):
            impl.lookup(_hamt.EMPTY, "h", "k", None)
        with pytest.raises(TypeError):
            impl.assoc(_hamt.EMPTY, 0, 1.5, "k", None)


class TestKeysRunAsInPython:
    def test_hash_and_eq_calls_are_the_same(self) -> None:
        """Each operation calls the keys' __hash__ and __eq__ as the pure code does."""
        pure, native = both()
        logs: dict[str, list[str]] = {}
        for name, impl in (("pure", pure), ("native", native)):
            log: list[str] = []
            a, b = Counted(1, 5, log), Counted(2, 5 + (1 << 40), log)
            node, _ = impl.assoc(_hamt.EMPTY, 0, hash(a), a, "a")
            node, _ = impl.assoc(node, 0, hash(b), b, "b")  # pushes a down: hash(a)
            probe = Counted(2, 5 + (1 << 40), log)
            impl.lookup(node, hash(probe), probe, None)
            impl.locate(node, hash(probe), probe)
            impl.assoc(node, 0, hash(probe), probe, "c")
            logs[name] = log
        assert logs["native"] == logs["pure"]
        assert "hash 1" in logs["pure"][2:]

    def test_a_key_whose_eq_raises_raises_through(self, impl: Any) -> None:
        """The stored key's __eq__ raising: the same exception from every walk."""
        log: list[str] = []
        stored = Counted(1, 9, log, fail="eq")
        node = impl.build([(9, stored, "v"), *[(i, i, i) for i in range(20)]])
        probe = Counted(2, 9, log)
        with pytest.raises(RuntimeError, match="no eq"):
            impl.lookup(node, 9, probe, None)
        with pytest.raises(RuntimeError, match="no eq"):
            impl.locate(node, 9, probe)
        with pytest.raises(RuntimeError, match="no eq"):
            impl.assoc(node, 0, 9, probe, "w")
        assert impl.lookup(node, 9, stored, None) == "v"  # identity: no __eq__

    def test_a_key_whose_hash_raises_raises_through(self, impl: Any) -> None:
        """Pushing a stored key down a level hashes it: its error comes out."""
        log: list[str] = []
        stored = Counted(1, 9, log, fail="hash")
        others = [(i, i, i) for i in range(20) if i != 9]  # none on fragment 9
        node = impl.build([(9, stored, "v"), *others])
        probe = Counted(2, 9 + (1 << 30), log)  # the same first fragment
        with pytest.raises(RuntimeError, match="no hash"):
            impl.assoc(node, 0, hash(probe), probe, "w")
        assert impl.lookup(node, 9, stored, None) == "v"

    @pytest.mark.parametrize("small", [True, False])
    def test_frozen_dict_reads_raise_as_a_dict_does(self, small: bool) -> None:
        """__getitem__ and _find: KeyError(key), TypeError for an unhashable key."""
        d = FrozenDict({f"k{i}": i for i in range(3 if small else 40)})
        with pytest.raises(KeyError) as caught:
            d[("a", "b")]
        assert caught.value.args == (("a", "b"),)
        with pytest.raises(TypeError, match="unhashable"):
            d[["a"]]
        with pytest.raises(TypeError, match="unhashable"):
            d._find(["a"])
        assert d._find("nope") == (_hamt.MISSING, None)
        log: list[str] = []
        with pytest.raises(RuntimeError, match="no hash"):
            d[Counted(1, 1, log, fail="hash")]

    def test_opaque_values_are_handed_out_as_copies(self) -> None:
        """A boxed object read by indexing is a copy, in both forms of the map."""
        for n in (2, 40):
            box = {"x": [1]}
            d = FrozenDict({f"k{i}": i for i in range(n)}).set("o", _Thing(box))
            first, second = d["o"], d["o"]
            assert first is not second
            assert first.value == box


class _Thing:
    """An object statetrail does not know: recorded as a deep copy."""

    def __init__(self, value: Any) -> None:
        self.value = value


class TestFrozenDictPaths:
    @pytest.mark.parametrize("n", [3, 40])
    def test_put_keeps_identity_and_type(self, n: int) -> None:
        """_put of the value already there is the map itself; else a new map."""
        compiled()

        class Sub(FrozenDict[str, Any]):
            pass

        for d in (FrozenDict({f"k{i}": i for i in range(n)}), Sub({"k1": 1})):
            value, place = d._find("k1")
            assert d._put(place, value) is d
            new = d._put(place, "changed")
            assert type(new) is type(d)
            assert new["k1"] == "changed"
            assert d["k1"] == 1
            assert list(new) == list(d)


class TestSameMaps:
    """FrozenDict's compiled reads and path writes against its Python ones."""

    @given(
        st.dictionaries(colliding_keys, st.integers(), max_size=30),
        colliding_keys,
        st.sampled_from([None, "v", 0]),
    )
    def test_reads_and_writes_agree(
        self, items: dict[Any, int], probe: Any, new: Any
    ) -> None:
        """__getitem__, _find and _put: the same results and the same errors."""
        compiled()
        d = FrozenDict(items)
        pure = PURE_DICT_METHODS

        def outcome(fn: Callable[..., Any], *args: Any) -> Any:
            try:
                return ("ok", fn(*args))
            except Exception as exc:  # the type and the args are compared
                return (type(exc), exc.args)

        assert outcome(pure["__getitem__"], d, probe) == outcome(d.__getitem__, probe)
        found = outcome(pure["_find"], d, probe)
        assert outcome(d._find, probe) == found
        if found[0] == "ok" and found[1][1] is not None:
            place = found[1][1]
            for value in (new, found[1][0]):
                a, b = pure["_put"](d, place, value), d._put(place, value)
                assert a == b
                assert list(a) == list(b)
                assert (a is d) == (b is d)

    @given(
        st.recursive(
            st.one_of(st.integers(), st.text(max_size=3), st.none()),
            lambda inner: st.one_of(
                st.lists(inner, max_size=40),
                st.dictionaries(st.text(max_size=3), inner, max_size=12),
            ),
            max_leaves=60,
        )
    )
    def test_freezing_agrees(self, value: Any) -> None:
        """The compiled freeze of plain dicts and lists equals the Python one."""
        from statetrail.frozen import _freeze

        compiled()
        if isinstance(value, dict):
            a, b = _freeze._freeze_dict(value, 1), _freeze._HANDLERS[dict](value, 1)
        elif isinstance(value, list):
            a, b = _freeze._freeze_list(value, 1), _freeze._HANDLERS[list](value, 1)
        else:
            return
        assert a == b
        assert repr(a) == repr(b)  # the same order and the same frozen types


class TestIndexingSlot:
    def test_subclasses_index_through_their_own_getitem(self) -> None:
        """FrozenDict's compiled slot is its own: a subclass's __getitem__ runs."""
        compiled()

        class Upper(FrozenDict[str, Any]):
            def __getitem__(self, key: str) -> Any:
                return super().__getitem__(key.lower())

        class Plain(FrozenDict[str, Any]):
            pass

        for n in (2, 40):
            items = {f"k{i}": i for i in range(n)}
            assert Upper(items)["K1"] == 1
            assert Plain(items)["k1"] == 1
            assert FrozenDict(items)["k1"] == 1
            with pytest.raises(KeyError):
                FrozenDict(items)["K1"]


class TestGarbageCollector:
    def test_a_plain_state_is_frozen_untracked(self) -> None:
        """Maps, lists and nodes of scalars are untracked: the collector skips them."""
        compiled()
        state = freeze({f"e{i}": {"id": i, "bins": [i, i + 1]} for i in range(100)})
        entry = state["e7"]
        assert not gc.is_tracked(entry)
        assert not gc.is_tracked(entry["bins"])
        assert not gc.is_tracked(state._root)
        # A path write (Store.set): each map on the path written at its place.
        new_entry = entry._put(entry._find("id")[1], -1)
        assert not gc.is_tracked(new_entry)
        written = state._put(state._find("e7")[1], new_entry)
        _, place = written._find("e7")
        assert not any(gc.is_tracked(node) for node in place[::2])

    def test_what_holds_an_object_stays_tracked(self) -> None:
        """A container reaching an arbitrary object stays tracked: cycles are found."""
        compiled()
        state = freeze({"a": {"x": [_Thing(1)]}, "b": {"y": 1}})
        assert gc.is_tracked(state["a"]["x"])
        assert gc.is_tracked(state["a"])
        assert gc.is_tracked(state)
        assert not gc.is_tracked(state["b"])

    def test_a_subclass_is_never_untracked(self) -> None:
        """A FrozenDict subclass may hold anything in its __dict__."""
        compiled()

        class Sub(FrozenDict[str, Any]):
            pass

        d = Sub({"a": 1})
        new = d._put(d._find("a")[1], 2)
        assert type(new) is Sub
        assert gc.is_tracked(new)

    def test_a_cycle_through_a_frozen_value_is_collected(self) -> None:
        """An object holding the frozen value that holds it is still collected."""
        compiled()
        import weakref

        class Holder:
            frozen: Any = None

        for n in (1, 40):
            holder = Holder()
            d = FrozenDict({f"k{i}": i for i in range(n)})
            # _put takes the value as it is (values come frozen): by reference
            holder.frozen = d._put(d._find("k0")[1], holder)
            assert gc.is_tracked(holder.frozen)
            ref = weakref.ref(holder)
            del holder
            gc.collect()
            assert ref() is None


class TestStringKeys:
    """The compiled check that a store's dict keys are strings, against Python's."""

    @pytest.mark.parametrize(
        "value",
        [
            {"a": {"b": 1}},
            {"a": {1: "x"}},
            {f"k{i}": {"v": [i, {"deep": {2: 0}}] if i == 7 else i} for i in range(40)},
            {f"k{i}": i for i in range(40)} | {(1, 2): 0},
            {"a": ({"t": 1}, {None: 1})},
            {"a": [{"x": 1}] * 40 + [{3: 1}]},  # a list past the tail: Python's walk
            {"a": {frozenset({1})}},  # a set: Python's walk
            {"a": [1, "b", b"c", None, 2.5, True]},
        ],
    )
    def test_the_same_verdict_as_the_python_walk(self, value: Any) -> None:
        """The same error (the one key that is not a string), or none, as Python's."""
        from statetrail._store_values import _check_walk, check_keys

        compiled()
        frozen = freeze(value)

        def verdict(check: Callable[[Any], None]) -> str | None:
            try:
                check(frozen)
            except TypeError as exc:
                return str(exc)
            return None

        assert verdict(check_keys) == verdict(_check_walk)


class TestNoLeaks:
    def test_a_million_operations_keep_memory_flat(self) -> None:
        """Reads, path writes and freezes in a loop: no memory left behind.

        20,000 rounds (scaled: STATETRAIL_SCALE=50 runs the 1,000,000 of the report).
        """
        compiled()
        state = freeze(
            {f"e{i}": {"id": i, "s": "x", "bins": [1, 2]} for i in range(500)}
        )
        keys = [f"e{i}" for i in range(500)]

        def rounds(n: int) -> None:
            for i in range(n):
                k = keys[i % 500]
                entry = state[k]
                entry["s"]
                _, place = state._find(k)
                state._put(place, entry._put(entry._find("s")[1], i))
                freeze({"a": [i, {"b": i}]})
                _hamt.assoc(state._root, 0, hash(k), k, i)
                with contextlib.suppress(KeyError):
                    state[k + "?"]

        rounds(1000)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        rounds(scaled(20_000))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert after - before < 64 * 1024


class TestChoice:
    def test_the_environment_turns_the_compiled_code_off(self) -> None:
        """STATETRAIL_PURE=1 gives no compiled module; 0 or unset gives it."""
        native = compiled()
        assert load({"STATETRAIL_PURE": "1"}) is None
        assert load({"STATETRAIL_PURE": "0"}) is native
        assert load({}) is native


class TestPureRun:
    def test_the_frozen_suite_passes_in_pure_python(self) -> None:
        """The frozen tests of the compiled parts, STATETRAIL_PURE=1, in a child."""
        compiled()
        env = {**os.environ, "STATETRAIL_PURE": "1"}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
        )
        files = [
            "tests/frozen/test_hamt.py",
            "tests/frozen/test_dict.py",
            "tests/frozen/test_freeze.py",
            # FrozenSet calls only the trie functions, which test_hamt covers.
            "tests/frozen/test_draft.py",
            "tests/frozen/test_speedups.py::TestPureRun::test_the_child_runs_pure",
        ]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:cov",
                *files,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert " passed" in done.stdout

    def test_the_child_runs_pure(self) -> None:
        """Under STATETRAIL_PURE=1 nothing compiled is in use."""
        if os.environ.get("STATETRAIL_PURE") != "1":
            pytest.skip("runs inside test_the_frozen_suite_passes_in_pure_python")
        assert _native.speedups is None
        assert _hamt.lookup is _hamt.pure_lookup
        assert FrozenDict.__getitem__.__module__ == "statetrail.frozen._dict"
        assert gc.is_tracked(freeze({"a": {"b": [1]}})["a"]["b"])
