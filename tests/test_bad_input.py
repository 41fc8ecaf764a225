"""Values no front end may take: ones that contain themselves or nest too deeply,
and dicts keyed by NaN.

Issue 9 ("Bad input everywhere", defect 4): every front end refuses them at once,
with one error, :class:`~statetrail.NestingError` (a ``StatetrailError`` and a
``ValueError``), at one limit, :data:`~statetrail.frozen.MAX_NESTING`. Before,
``Store.set`` and ``Store(...)`` never returned on a self-referencing dict, the
immutable containers raised ``RecursionError``, and the limit was wherever
Python's recursion limit happened to fall.

The check runs every front end on every bad value in a worker thread with a time
limit, so a hang is counted rather than hanging the run; its teeth run it against
front ends that do not check, which it must catch.
"""

from __future__ import annotations

import asyncio
import copy
import decimal
import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest

from statetrail import (
    MAX_NESTING,
    AsyncStore,
    NestingError,
    StatetrailError,
    Store,
    Timeline,
    freeze,
    thaw,
    watch,
)
from statetrail.immutable import ImmutableDict, ImmutableList, ImmutableSet, update
from statetrail.storage import codec
from tests.reliability import record


def looped_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"n": 1}
    value["self"] = value
    return value


def looped_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def looped_deep() -> dict[str, Any]:
    """A cycle five levels down, through a list and a tuple."""
    top: dict[str, Any] = {}
    inner: list[Any] = []
    top["a"] = {"b": {"c": (inner,)}}
    inner.append(top)
    return top


def nested(levels: int) -> list[Any]:
    """A list ``levels`` levels deep (the innermost ``[]`` counts as one)."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_dicts(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


BAD: dict[str, Callable[[], Any]] = {
    "dict containing itself": looped_dict,
    "list containing itself": looped_list,
    "cycle five levels down": looped_deep,
    "MAX_NESTING + 1 lists": lambda: nested(MAX_NESTING + 1),
    "MAX_NESTING + 1 dicts": lambda: nested_dicts(MAX_NESTING + 1),
    "10,000 lists": lambda: nested(10_000),
}


def _async_store_dispatch(value: Any) -> None:
    async def main() -> None:
        store = AsyncStore()
        await store.dispatch({"type": "SET_STATE", "path": "x", "value": value})

    asyncio.run(main())


_names = itertools.count()


def _var_set(value: Any) -> None:
    watch(f"bad_input_var{next(_names)}", 0).set(value)


def _timeline_set(value: Any) -> None:
    Timeline(0).set(value)


def _store_set(value: Any) -> None:
    Store().set("x", value)


def _async_store_set(value: Any) -> None:
    AsyncStore().set("x", value)


def _update_dict(value: Any) -> None:
    with update(ImmutableDict({"a": 1})) as new:
        new["b"] = value


def _update_list(value: Any) -> None:
    with update(ImmutableList([1])) as new:
        new.append(value)


FRONT_ENDS: dict[str, Callable[[Any], object]] = {
    "watch": lambda v: watch(f"bad_input_watch{next(_names)}", v),
    "Var.set": _var_set,
    "Store(...)": lambda v: Store({"x": v}),
    "Store.set": _store_set,
    "AsyncStore(initial_state=...)": lambda v: AsyncStore(initial_state={"x": v}),
    "AsyncStore.set": _async_store_set,
    "AsyncStore.dispatch": _async_store_dispatch,
    "ImmutableDict": lambda v: ImmutableDict({"x": v}),
    "ImmutableList": lambda v: ImmutableList([v]),
    "ImmutableSet": lambda v: ImmutableSet([(v,)]),
    "update(ImmutableDict)": _update_dict,
    "update(ImmutableList)": _update_list,
    "Timeline(...)": Timeline,
    "Timeline.set": _timeline_set,
    "freeze": freeze,
    "codec.dumps": codec.dumps,
}


def outcome(call: Callable[[Any], object], value: Any, limit: float = 10.0) -> str:
    """What ``call(value)`` did: refused as it must, or how it went wrong."""
    result: list[str] = []

    def run() -> None:
        try:
            call(value)
        except NestingError:
            result.append("refused")
        except BaseException as exc:  # what this check exists to count
            result.append(f"raised {type(exc).__name__}")
        else:
            result.append("accepted")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    return result[0] if result else "hung"


def check(front_ends: dict[str, Callable[[Any], object]]) -> dict[str, str]:
    """Every front end on every bad value: what went wrong, by case (empty: all
    refused with NestingError)."""
    wrong = {}
    for end, call in front_ends.items():
        for case, make in BAD.items():
            result = outcome(call, make())
            if result != "refused":
                wrong[f"{end} / {case}"] = result
    return wrong


class TestNesting:
    def test_every_front_end_refuses_with_one_error(self) -> None:
        """Self-referencing and over-deep values: NestingError from each of 16
        front ends, at once (no hang, no RecursionError, nothing else)."""
        wrong = check(FRONT_ENDS)
        record(
            "S2-nesting",
            front_ends=len(FRONT_ENDS),
            values=len(BAD),
            not_refused=len(wrong),
        )
        assert wrong == {}

    def test_the_error_is_a_statetrail_error_and_a_value_error(self) -> None:
        """Users may catch it as either; the message says what to do."""
        with pytest.raises(NestingError) as info:
            Store().set("x", looped_dict())
        assert isinstance(info.value, StatetrailError)
        assert isinstance(info.value, ValueError)
        assert "contains itself" in str(info.value)
        with pytest.raises(NestingError, match="flatten it"):
            Store().set("x", nested(MAX_NESTING + 1))

    def test_values_at_the_limit_are_taken_and_stored(self, tmp_path: Any) -> None:
        """MAX_NESTING levels: accepted by every front end, and read back from
        SQLite and JSON files as written (the limit fits the codec's)."""
        import statetrail

        value = nested(MAX_NESTING - 2)  # the calls wrap it in up to two levels
        for end, call in FRONT_ENDS.items():
            assert outcome(call, value) == "accepted", end
        for target in (tmp_path / "h.db", tmp_path / "h.json"):
            with statetrail.open(target) as repo:
                repo.store("s", {}).set("deep", nested(MAX_NESTING - 1))
            with statetrail.open(target) as repo:
                assert repo.store("s", {}).get("deep") == nested(MAX_NESTING - 1)

    def test_nothing_is_recorded_on_refusal(self) -> None:
        """A refused write leaves the store as it was."""
        store = Store({"a": 1})
        with pytest.raises(NestingError):
            store.set("b", looped_list())
        assert store.head.number == 0
        assert store.get_state() == {"a": 1}

    def test_teeth_front_ends_that_do_not_check_are_caught(self) -> None:
        """Teeth: front ends that do not check are counted: deepcopy (its memo
        follows cycles) accepts, and a walk that does not know cycles hangs."""
        stop = threading.Event()

        def endless(value: Any) -> None:
            # Store.set's key check before the fix, stopped once counted.
            stack = [value]
            while stack and not stop.is_set():
                node = stack.pop()
                if isinstance(node, dict):
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
                del stack[:-1000]

        broken: dict[str, Callable[[Any], object]] = {
            "deepcopy": copy.deepcopy,
            "walk": endless,
        }
        try:
            found = {
                f"{name} / {case}": outcome(call, make(), limit=0.5)
                for name, call in broken.items()
                for case, make in BAD.items()
            }
        finally:
            stop.set()
        kinds = set(found.values())
        record("S2-nesting-teeth", outcomes=sorted(kinds))
        assert "refused" not in kinds
        assert {"accepted", "hung"} <= kinds


def nan_keyed() -> dict[str, Callable[[], Any]]:
    """Dicts with a key that is or holds NaN, each made anew (new NaN objects)."""
    return {
        "nan": lambda: {float("nan"): 1},
        "(nan,)": lambda: {(float("nan"),): 1},
        "frozenset({nan})": lambda: {frozenset({float("nan")}): 1},
        "Decimal('NaN')": lambda: {decimal.Decimal("NaN"): 1},
        "nested": lambda: {"a": [{"b": {(1, (float("nan"),)): 1}}]},
    }


class TestNaNKeys:
    """A dict key that is or holds NaN (issue 9, "bad input"): NaN is not equal to
    itself, so once a value is stored and read back (or pickled), a patch step
    naming such a key finds nothing, and the timeline could not be read. Every
    front end refuses it with ValueError, before anything is recorded."""

    def test_every_front_end_refuses_a_nan_key(self) -> None:
        """Each of the 16 front ends, on each NaN-keyed dict: ValueError (the
        codec's CodecError is one), never accepted."""
        wrong = {}
        for end, call in FRONT_ENDS.items():
            for case, make in nan_keyed().items():
                try:
                    call(make())
                except NestingError as exc:  # a ValueError, but not this one
                    wrong[f"{end} / {case}"] = repr(exc)
                except ValueError as exc:
                    if "is or holds NaN" not in str(exc):
                        wrong[f"{end} / {case}"] = repr(exc)
                else:
                    wrong[f"{end} / {case}"] = "accepted"
        assert wrong == {}

    def test_frozen_containers_and_path_writes_refuse_it_too(self) -> None:
        """FrozenDict itself, its set(), a draft and a path write name no NaN key;
        nothing is recorded."""
        from statetrail.frozen import FrozenDict

        nan = float("nan")
        with pytest.raises(ValueError, match="is or holds NaN"):
            FrozenDict({nan: 1})
        with pytest.raises(ValueError, match="is or holds NaN"):
            FrozenDict().set((nan,), 1)
        t = Timeline({"a": {}})
        with pytest.raises(ValueError, match="is or holds NaN"), t.edit() as draft:
            draft["a"][nan] = 1
        with pytest.raises(ValueError, match="is or holds NaN"):
            t.set_in(("a", nan), 1)
        assert t.head.number == 0

    def test_nan_values_and_set_members_are_still_taken(self) -> None:
        """NaN as a value, in a list or in a set stays storable: each revision's
        changes apply to a pickled copy of its parent (what reading a stored
        history does), so memory and storage agree."""
        import pickle

        from statetrail.diff import apply_changes

        t = Timeline({"v": 1, "l": [], "s": set()})
        for value in (
            {"v": float("nan"), "l": [float("nan")], "s": {float("nan"), 1}},
            {"v": 2, "l": [float("nan"), 1], "s": {1}},
            {"v": 2, "l": [], "s": {float("nan"), float("nan")}},
            {"k": {"nan": 1, None: 2}},
        ):
            t.set(value)
        for rev in t.revisions()[1:]:
            parent = pickle.loads(pickle.dumps(t.revision(rev.parent).value))
            got = apply_changes(parent, list(rev.changes))
            assert codec.dumps(got) == codec.dumps(rev.value)

    def test_teeth_a_freeze_without_the_key_check_takes_it(self) -> None:
        """Teeth: dicts made without the check (FrozenDict._of, what freeze
        used to call) take a NaN key, and the patch naming it does not apply to
        the parent as read back (a new NaN): the case the check exists for."""
        from statetrail.diff import apply_changes, diff
        from statetrail.frozen import FrozenDict

        nan = float("nan")
        a, b = FrozenDict._of({nan: 1}), FrozenDict._of({nan: 2})
        assert apply_changes(a, diff(a, b)) == b  # the very object: found
        read_back = FrozenDict._of({float("nan"): 1})
        with pytest.raises(LookupError, match="no key nan"):
            apply_changes(read_back, diff(a, b))

    def test_var_save_and_load_keep_nan_values(self, tmp_path: Any) -> None:
        """Var.save and Var.load (alma's too) read back NaN values and set
        members; a NaN key never reaches the file."""
        import math

        from statetrail import Var
        from statetrail.compat.alma import AlmaVar

        var = Var("v", {"x": 1})
        var.set({"x": float("nan"), "s": {float("nan")}})
        with pytest.raises(ValueError, match="is or holds NaN"):
            var.set({float("nan"): 1})
        var.set({"x": 2, "s": {1}})
        var.save(tmp_path / "v.json")
        for cls in (Var, AlmaVar):
            back = cls.load(tmp_path / "v.json")
            values = [r.value for r in back.timeline.revisions()]
            assert len(values) == 3
            assert math.isnan(values[1]["x"])
            assert values[2] == {"x": 2, "s": {1}}


class TestPathWritesCountThePath:
    """The depth limit is one limit (issue 9, "bad input"): a path write nests
    its value under as many levels as the path has steps, and the whole may not
    pass MAX_NESTING either. A store took a 60-level list at a 61-step path (121
    levels), a timeline a 20,000-step path (then thaw and to_json_patch raised
    NestingError), a repository up to the codec's 201 levels, and a store
    answered False to a 150-step path."""

    def test_every_path_write_refuses_past_the_limit(self) -> None:
        """Store.set, a transaction, AsyncStore.set, Timeline.set_in and
        Var.set_in: NestingError past the limit, nothing recorded; at the limit,
        taken."""
        path = ".".join(["a"] * 61)

        def in_transaction(store: Store, path: str, value: Any) -> object:
            with store.transaction() as tx:
                return tx.set(path, value)

        writers: dict[str, Callable[[str, Any], object]] = {}
        stores = {"Store": Store({}), "AsyncStore": AsyncStore(), "tx": Store({})}
        timeline = Timeline({})
        var = watch(f"bad_input_path{next(_names)}", {})
        writers = {
            "Store.set": lambda p, v: stores["Store"].set(p, v),
            "transaction": lambda p, v: in_transaction(stores["tx"], p, v),
            "AsyncStore.set": lambda p, v: stores["AsyncStore"].set(p, v),
            "Timeline.set_in": timeline.set_in,
            "Var.set_in": var.set_in,
        }
        too_deep = [
            (path, nested(40)),  # 61 + 40 levels
            (path, freeze(nested(40))),  # frozen already: walked
            (".".join(["a"] * 100), []),  # 100 + 1
            (".".join(["a"] * 101), 1),  # 101 path levels
            (".".join(["a"] * 20_000), 1),
        ]
        for name, write in writers.items():
            for where, value in too_deep:
                with pytest.raises(NestingError):
                    write(where, value)
            assert write(path, nested(39)), name  # 61 + 39 = 100 levels
            assert write(".".join(["b"] * 100), "leaf"), name
        assert [s.head.number for s in stores.values()] == [2, 2, 2]
        assert timeline.head.number == 2
        thaw(timeline.value)  # within the limit: it thaws

    def test_a_repository_keeps_the_same_limit(self, tmp_path: Any) -> None:
        """A stored timeline refuses what a memory one refuses (it took up to
        the codec's 201 levels), and what it took reads back."""
        import statetrail

        with statetrail.open(tmp_path / "h.db") as repo:
            t = repo.timeline("t", {})
            with pytest.raises(NestingError):
                t.set_in(".".join(["a"] * 150), 1)
            t.set_in(".".join(["a"] * 99), [1])
        with statetrail.open(tmp_path / "h.db") as repo:
            t = repo.timeline("t")
            assert t.head.number == 1
            assert t.value == freeze(t.revision(1).value)

    def test_teeth_the_freeze_alone_does_not_count_the_path(self) -> None:
        """Teeth: freezing the value alone (what path writes did) takes a value
        the path then carries past the limit."""
        from statetrail.frozen._freeze import freeze_value

        assert freeze_value(nested(60)) == nested(60)
        with pytest.raises(NestingError, match="levels of the path"):
            freeze_value(nested(60), 61)
