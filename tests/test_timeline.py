"""The engine: Timeline writes, reads, metadata, origins, branches, undo, diff,
blame, log filters, validators, listeners and retention."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import statetrail
from statetrail import (
    MAX_LISTENER_DEPTH,
    Change,
    ConflictError,
    FrozenDict,
    FrozenError,
    FrozenList,
    PathError,
    ReentrancyError,
    Retention,
    Revision,
    RevisionNotFoundError,
    Timeline,
)
from statetrail.context import capture_origin
from statetrail.diff import diff_values
from statetrail.frozen import MISSING
from statetrail.timeline import Handle
from tests.conftest import scaled
from tests.counting import count_calls


def line_of(marker: str) -> int:
    """The line number in this file of the line that ends with ``# <marker>``."""
    with open(__file__, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


class TestWriting:
    def test_set_appends_numbered_revisions(self) -> None:
        """Each set is a new revision numbered from 0, its parent the previous one."""
        t = Timeline(0)
        r1 = t.set(1)
        r2 = t.set(2)
        assert (r1.number, r1.parent, r1.kind) == (1, 0, "set")
        assert (r2.number, r2.parent) == (2, 1)
        assert t.value == 2
        assert t.head == r2
        assert t.head is not r2  # views: equal, made on each read
        assert len(t) == 3
        assert t.revision(0).kind == "initial"

    def test_values_are_frozen_and_equal_to_plain(self) -> None:
        """A dict goes in, a FrozenDict equal to it comes out."""
        t = Timeline({"a": [1, {"b": 2}]})
        assert isinstance(t.value, FrozenDict)
        assert isinstance(t.value["a"], FrozenList)
        assert t.value == {"a": [1, {"b": 2}]}
        with pytest.raises(TypeError):
            t.value["a"] = 3  # type: ignore[index]

    def test_set_in_changes_one_path_and_shares_the_rest(self) -> None:
        """set_in copies only the touched path; untouched subtrees are shared."""
        t = Timeline({"job": {"bins": 10}, "other": {"big": list(range(100))}})
        before = t.value
        t.set_in("job.bins", 12)
        assert t.value["job"]["bins"] == 12
        assert t.value["other"] is before["other"]
        t.set_in(("new", "deep"), 1)
        assert t.value["new"] == {"deep": 1}

    def test_set_in_on_a_scalar_raises_path_error_and_records_nothing(self) -> None:
        """A path through a scalar is refused; no revision is recorded."""
        t = Timeline({"a": 1})
        with pytest.raises(PathError):
            t.set_in("a.b", 2)
        assert len(t) == 1

    def test_delete_in(self) -> None:
        """delete_in removes a key or list item; a missing one raises PathError."""
        t = Timeline({"a": 1, "b": [1, 2, 3]})
        t.delete_in("a")
        t.delete_in("b.0")
        assert t.value == {"b": [2, 3]}
        with pytest.raises(PathError):
            t.delete_in("zzz")
        assert len(t) == 3

    def test_update_is_atomic(self) -> None:
        """update(fn) records fn(current value)."""
        t = Timeline(1)
        t.update(lambda n: n * 10)
        assert t.value == 10

    def test_edit_records_one_revision_from_a_draft(self) -> None:
        """Changes made to the draft become one revision on exit."""
        t = Timeline({"job": {"bins": 10, "sorted": 0}, "log": []})
        with t.edit(comment="card sorted") as state:
            state["job"]["sorted"] += 1
            state["job"]["bins"] -= 1
            state["log"].append("sorted one")
        assert t.value == {"job": {"bins": 9, "sorted": 1}, "log": ["sorted one"]}
        assert len(t) == 2
        assert t.head.comment == "card sorted"

    def test_edit_that_raises_records_nothing(self) -> None:
        """An exception inside edit() leaves no trace."""
        t = Timeline({"n": 1})

        def abort() -> None:
            with t.edit() as state:
                state["n"] = 2
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError, match="abort"):
            abort()
        assert t.value == {"n": 1}
        assert len(t) == 1

    def test_edit_that_changes_nothing_records_nothing(self) -> None:
        """A draft left untouched (or read only) records no revision."""
        t = Timeline({"n": {"m": 1}})
        with t.edit() as state:
            _ = state["n"]["m"]
        assert len(t) == 1

    def test_edit_of_a_scalar_is_a_type_error(self) -> None:
        """edit() needs a container value."""
        t = Timeline(1)
        with pytest.raises(TypeError, match="dict, list or set"), t.edit():
            pass

    def test_expect_refuses_a_stale_write(self) -> None:
        """A write expecting an old head raises ConflictError and records nothing."""
        t = Timeline(0)
        t.set(1, expect=0)
        with pytest.raises(ConflictError, match="expected revision 0"):
            t.set(2, expect=0)
        assert t.value == 1
        assert len(t) == 2

    def test_freeze_refuses_writes(self) -> None:
        """A frozen timeline raises FrozenError (an AttributeError) until thawed."""
        t = Timeline(0)
        t.freeze()
        assert t.frozen
        with pytest.raises(FrozenError):
            t.set(1)
        with pytest.raises(AttributeError):
            t.set_in((), 1)
        t.thaw()
        t.set(1)
        assert t.value == 1

    def test_caller_objects_cannot_alter_history(self) -> None:
        """Mutating what was passed in, or an object of unknown type read back,
        leaves recorded history unchanged."""

        class Box:
            def __init__(self) -> None:
                self.items = [1]

        box = Box()
        data = {"box": box, "items": [1]}
        t = Timeline(data)
        data["items"].append(2)  # type: ignore[attr-defined]
        box.items.append(2)
        t.value["box"].items.append(3)
        t.revision(0).value["box"].items.append(4)
        assert t.value["items"] == [1]
        assert t.value["box"].items == [1]

    def test_deep_copy_false_keeps_references(self) -> None:
        """deep_copy=False stores values as given."""
        lock = threading.Lock()
        t = Timeline(lock, deep_copy=False)
        assert t.value is lock
        marker: list[int] = []
        t.set(marker)
        assert t.value is marker

    def test_unfreezable_objects_are_a_type_error(self) -> None:
        """An object that can neither be frozen nor copied is refused up front."""
        t = Timeline(0)
        with pytest.raises(TypeError, match="deep_copy=False"):
            t.set(threading.Lock())
        assert len(t) == 1

    def test_too_deep_values_are_a_value_error(self) -> None:
        """Nesting deeper than Python can recurse is a ValueError, never a
        RecursionError."""
        deep: Any = []
        for _ in range(sys.getrecursionlimit() * 2):
            deep = [deep]
        t = Timeline(0)
        with pytest.raises(ValueError, match="nested too deeply"):
            t.set(deep)
        assert len(t) == 1


class TestReading:
    def test_value_at_and_revision(self) -> None:
        """Any revision's value can be read back."""
        t = Timeline("a")
        t.set("b")
        t.set("c")
        assert [t.value_at(n) for n in range(3)] == ["a", "b", "c"]
        assert t.revision(1).value == "b"

    def test_missing_revisions_raise_lookup_errors(self) -> None:
        """An unknown revision is a RevisionNotFoundError (a LookupError)."""
        t = Timeline(0)
        with pytest.raises(RevisionNotFoundError, match="no revision 5"):
            t.revision(5)
        with pytest.raises(LookupError):
            t.value_at(-1)
        with pytest.raises(TypeError):
            t.revision("1")  # type: ignore[arg-type]

    def test_timestamps_are_aware_utc_and_ordered(self) -> None:
        """Revision times are timezone-aware UTC datetimes, non-decreasing."""
        t = Timeline(0)
        before = datetime.now(UTC)
        t.set(1)
        stamp = t.head.timestamp
        assert stamp.tzinfo is UTC
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
        assert t.revision(0).time_ns <= t.head.time_ns

    def test_repr_is_short_for_large_values(self) -> None:
        """Reprs of revisions and timelines stay readable for large states."""
        t = Timeline({f"k{i}": i for i in range(10_000)}, name="big")
        assert len(repr(t.head)) < 200
        assert repr(t).startswith("Timeline('big', ")

    def test_revision_is_read_only(self) -> None:
        """Revisions cannot be changed."""
        t = Timeline(0)
        rev = t.set(1)
        with pytest.raises(AttributeError):
            rev.label = "x"  # type: ignore[misc]
        assert rev.index == rev.number == 1


class TestMetadata:
    def test_context_sets_author_comment_label(self) -> None:
        """Everything recorded inside context() carries its metadata."""
        t = Timeline(0)
        with statetrail.context(author="alice", comment="why", label="v1"):
            rev = t.set(1)
        assert (rev.author, rev.comment, rev.label) == ("alice", "why", "v1")
        assert t.set(2).author is None

    def test_nested_contexts_override_only_what_they_name(self) -> None:
        """An inner context keeps the outer one's other fields."""
        t = Timeline(0)
        with statetrail.context(author="alice", comment="outer"):
            with statetrail.context(comment="inner"):
                rev = t.set(1)
            assert statetrail.current_context().comment == "outer"
        assert (rev.author, rev.comment) == ("alice", "inner")

    def test_arguments_win_over_the_context(self) -> None:
        """A write's own author/comment/label beat the enclosing context."""
        t = Timeline(0)
        with statetrail.context(author="alice"):
            rev = t.set(1, author="bob", label="l")
        assert (rev.author, rev.label) == ("bob", "l")

    def test_context_is_per_thread(self) -> None:
        """Another thread does not see this thread's context."""
        t = Timeline(0)
        authors: list[str | None] = []
        with statetrail.context(author="main"):
            worker = threading.Thread(target=lambda: authors.append(t.set(1).author))
            worker.start()
            worker.join()
        assert authors == [None]

    def test_context_is_per_task(self) -> None:
        """Concurrent asyncio tasks keep their own contexts."""
        t = Timeline(0)

        async def write(name: str) -> str | None:
            with statetrail.context(author=name):
                await asyncio.sleep(0)
                return t.set(name).author

        async def main() -> list[str | None]:
            return list(await asyncio.gather(write("a"), write("b"), write("c")))

        assert asyncio.run(main()) == ["a", "b", "c"]

    def test_extra_is_kept(self) -> None:
        """Front ends can attach extra data to a revision."""
        t = Timeline({})
        rev = t.set_in("a", 1, extra={"path": "a"})
        assert rev.extra == {"path": "a"}
        assert t.set({}).extra is None

    def test_context_checks_types(self) -> None:
        """Metadata are strings (or None)."""
        with pytest.raises(TypeError), statetrail.context(author=1):  # type: ignore[arg-type]
            pass

    def test_every_write_checks_its_metadata_before_recording(self) -> None:
        """A non-string author, comment or label is a TypeError, a NUL or a lone
        surrogate a ValueError naming the field, from every kind of write and
        from context(); nothing is recorded (issue 9, bad input)."""
        t = Timeline({"a": 0})
        t.set({"a": 1})

        def edit(**meta: Any) -> None:
            with t.edit(**meta) as draft:
                draft["a"] = 5

        writes: list[Callable[..., object]] = [
            lambda **meta: t.set({"a": 2}, **meta),
            lambda **meta: t.set_in("a", 2, **meta),
            lambda **meta: t.delete_in("a", **meta),
            lambda **meta: t.update(lambda v: v, **meta),
            lambda **meta: t.rollback(0, **meta),
            edit,
            lambda **meta: Timeline(0, **meta),
        ]
        for write in writes:
            for field, bad, error in (
                ("author", 7, TypeError),
                ("label", b"x", TypeError),
                ("comment", "a\x00", ValueError),
                ("author", "\udfff", ValueError),
            ):
                with pytest.raises(error, match=rf"^{field} "):
                    write(**{field: bad})
                with (
                    pytest.raises(error, match=rf"^{field} "),
                    statetrail.context(**{field: bad}),
                ):
                    pass
        assert t.head.number == 1

    def test_erase_and_branch_names_follow_the_same_rule(self) -> None:
        """An erasure's author and reason, and branch names, are text without a
        NUL or a lone surrogate, as metadata are."""
        t = Timeline(0)
        t.set(1)
        t.set(2)
        with pytest.raises(TypeError, match=r"^author must be a string"):
            t.erase(1, reason="gdpr", author=5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^reason holds a NUL"):
            t.erase(1, reason="gdpr\x00")
        assert t.revision(1).value == 1
        with pytest.raises(ValueError, match=r"^a branch name holds a NUL"):
            t.branch("b\x00")
        with pytest.raises(ValueError, match=r"^a branch name holds a lone surrogate"):
            Timeline(0, branch="\ud800")
        assert t.branches() == {"main": 2}


class TestOrigin:
    def test_every_write_records_the_callers_line(self) -> None:
        """Each write API records this file, this function and the calling line."""
        t = Timeline({"a": 1, "l": [1]})
        revs = [
            t.set({"a": 2, "l": [1]}),  # origin-set
            t.set_in("a", 3),  # origin-set-in
            t.delete_in("l.0"),  # origin-delete-in
            t.update(lambda v: v.set("a", 4)),  # origin-update
            t.rollback(1),  # origin-rollback
            t.undo(),  # origin-undo
            t.redo(),  # origin-redo
        ]
        markers = [
            "origin-set",
            "origin-set-in",
            "origin-delete-in",
            "origin-update",
            "origin-rollback",
            "origin-undo",
            "origin-redo",
        ]
        for rev, marker in zip(revs, markers, strict=True):
            origin = rev.origin
            assert origin is not None
            assert (origin.file, origin.line) == (__file__, line_of(marker)), marker
            assert origin.function == "test_every_write_records_the_callers_line"
            assert origin.thread == threading.current_thread().name
            assert origin.task is None

    def test_edit_records_the_with_line(self) -> None:
        """edit() records the line of the with statement."""
        t = Timeline({"a": 1})
        with t.edit() as state:  # origin-edit
            state["a"] = 2
        origin = t.head.origin
        assert origin is not None
        assert origin.line == line_of("origin-edit")

    def test_revert_records_the_callers_line(self) -> None:
        """revert() records the caller."""
        t = Timeline({"a": 1})
        rev = t.set_in("b", 2)
        reverted = t.revert(rev.number)  # origin-revert
        assert reverted.origin is not None
        assert reverted.origin.line == line_of("origin-revert")

    def test_initial_revision_has_an_origin(self) -> None:
        """Revision 0 records where the timeline was made."""
        t = Timeline(0)  # origin-init
        assert t.revision(0).origin is not None
        assert t.revision(0).origin.line == line_of("origin-init")

    def test_thread_and_task_names(self) -> None:
        """The origin names the thread and the asyncio task."""
        t = Timeline(0)
        worker = threading.Thread(target=lambda: t.set(1), name="writer-7")
        worker.start()
        worker.join()
        assert t.head.origin is not None
        assert t.head.origin.thread == "writer-7"

        async def main() -> None:
            await asyncio.create_task(asyncio.sleep(0))
            task = asyncio.create_task(_set_later(t), name="task-3")
            await task

        asyncio.run(main())
        assert t.head.origin is not None
        assert t.head.origin.task == "task-3"

    def test_capture_can_be_switched_off(self) -> None:
        """Globally or per timeline, origin capture can be turned off."""
        statetrail.set_origin_capture(False)
        assert not statetrail.origin_capture()
        assert Timeline(0).set(1).origin is None
        statetrail.set_origin_capture(True)
        assert Timeline(0, origin=False).set(1).origin is None
        assert Timeline(0, origin=True).set(1).origin is not None

    def test_capture_origin_walks_past_statetrail_frames(self) -> None:
        """capture_origin() skips frames from statetrail's own files; frames are
        handed in through the _getframe seam."""

        class Code:
            def __init__(self, filename: str, name: str) -> None:
                self.co_filename = filename
                self.co_name = name

        class Frame:
            def __init__(self, code: Code, line: int, back: Any) -> None:
                self.f_code = code
                self.f_lineno = line
                self.f_back = back

        user = Frame(Code("/app/user.py", "handler"), 42, None)
        inner = Frame(Code(statetrail.__file__, "set"), 7, user)
        origin = capture_origin(_getframe=lambda depth: inner)  # type: ignore[arg-type,return-value]
        assert origin is not None
        assert (origin.file, origin.line, origin.function) == (
            "/app/user.py",
            42,
            "handler",
        )
        assert capture_origin(_getframe=lambda depth: None) is None  # type: ignore[arg-type,return-value]

    def test_origins_compare_and_hash(self) -> None:
        """Origins are values: equal when all their fields are equal."""
        t = Timeline(0)
        origin = t.set(1).origin
        assert origin is not None
        twin = statetrail.Origin(
            origin.file, origin.line, origin.function, origin.thread, origin.task
        )
        assert origin == twin
        assert hash(origin) == hash(twin)
        assert "test_timeline.py" in repr(origin)


async def _set_later(t: Timeline[Any]) -> None:
    t.set(2)


class TestBranches:
    def test_checkout_then_write_starts_a_branch(self) -> None:
        """Writing after checking out an older revision keeps the forward path."""
        t = Timeline("v0")
        t.set("v1")
        t.set("v2")
        t.checkout(1)
        assert t.value == "v1"
        rev = t.set("v1b")
        assert rev.parent == 1
        assert rev.branch != "main"
        assert t.branches() == {"main": 2, rev.branch: 3}
        assert [r.value for r in t.history()] == ["v0", "v1", "v1b"]
        assert [r.value for r in t.history("main")] == ["v0", "v1", "v2"]
        assert t.value_at(2) == "v2"

    def test_named_branches_and_switching(self) -> None:
        """branch() creates and switches; switch() returns to a branch's tip."""
        t = Timeline(0)
        t.set(1)
        t.branch("experiment")
        t.set(100)
        t.set(101)
        assert t.current_branch == "experiment"
        t.switch("main")
        assert t.value == 1
        t.set(2)
        assert t.branches() == {"main": 4, "experiment": 3}
        t.checkout("experiment")
        assert t.value == 101
        assert [r.number for r in t.history()] == [0, 1, 2, 3]
        assert [r.number for r in t.log(all_branches=True)] == [0, 1, 2, 3, 4]

    def test_branch_at_an_older_revision(self) -> None:
        """branch(name, at=n) forks at revision n."""
        t = Timeline(0)
        t.set(1)
        t.set(2)
        t.branch("fix", at=1)
        rev = t.set(10)
        assert (rev.parent, rev.branch) == (1, "fix")
        assert [r.value for r in t.history()] == [0, 1, 10]

    def test_branch_names_are_checked(self) -> None:
        """Duplicate or empty branch names and unknown branches are refused."""
        t = Timeline(0)
        with pytest.raises(ValueError, match="already has a branch"):
            t.branch("main")
        with pytest.raises(ValueError, match="non-empty"):
            t.branch("")
        with pytest.raises(RevisionNotFoundError, match="no branch"):
            t.switch("nope")

    def test_checkout_of_the_head_keeps_appending(self) -> None:
        """Checking out the newest revision does not start a branch."""
        t = Timeline(0)
        t.set(1)
        t.checkout(1)
        assert t.set(2).branch == "main"


class TestRollbackRevertUndo:
    def test_rollback_appends_a_copy_of_an_old_revision(self) -> None:
        """rollback(n) appends a revision equal to n, kind rollback, target n."""
        t = Timeline({"a": 1})
        t.set_in("a", 2)
        rev = t.rollback(0)
        assert t.value == {"a": 1}
        assert (rev.kind, rev.target, rev.number) == ("rollback", 0, 2)
        assert len(t) == 3

    def test_revert_undoes_only_that_revision(self) -> None:
        """revert(n) undoes n's changes and keeps later, unrelated ones."""
        t = Timeline({"a": 1, "b": 1})
        mistake = t.set_in("a", 99)
        t.set_in("b", 2)
        rev = t.revert(mistake.number)
        assert t.value == {"a": 1, "b": 2}
        assert (rev.kind, rev.target) == ("revert", mistake.number)

    def test_revert_refuses_when_later_revisions_changed_the_same_path(self) -> None:
        """A revert that would undo later work raises ConflictError with a report."""
        t = Timeline({"a": {"x": 1}})
        first = t.set_in("a.x", 2)
        later = t.set_in("a", {"x": 3})
        with pytest.raises(ConflictError, match="later revisions") as info:
            t.revert(first.number)
        assert info.value.conflicts == (("a.x", later.number),)
        assert t.value == {"a": {"x": 3}}

    def test_revert_of_a_revision_off_the_lineage(self) -> None:
        """Only revisions on the cursor's lineage can be reverted."""
        t = Timeline(0)
        t.set(1)
        t.checkout(0)
        t.set(2)
        with pytest.raises(ValueError, match="not on the current lineage"):
            t.revert(1)

    def test_undo_and_redo_walk_the_edits(self) -> None:
        """undo() steps back through edits, redo() forward; both are recorded."""
        t = Timeline("a")
        t.set("b")
        t.set("c")
        assert t.undo().value == "b"
        assert t.undo().value == "a"
        with pytest.raises(RevisionNotFoundError, match="nothing to undo"):
            t.undo()
        assert t.redo().value == "b"
        assert t.redo().value == "c"
        with pytest.raises(RevisionNotFoundError, match="nothing to redo"):
            t.redo()
        assert [r.kind for r in t.history()] == [
            "initial", "set", "set", "undo", "undo", "redo", "redo",
        ]  # fmt: skip

    def test_a_new_write_clears_redo(self) -> None:
        """After an undo, a new edit means there is nothing to redo."""
        t = Timeline(0)
        t.set(1)
        t.undo()
        t.set(5)
        with pytest.raises(RevisionNotFoundError):
            t.redo()
        assert t.undo().value == 0

    def test_undo_after_a_rollback_restores_the_pre_rollback_value(self) -> None:
        """A rollback is an edit like any other for undo."""
        t = Timeline(0)
        t.set(1)
        t.rollback(0)
        assert t.undo().value == 1


class _KeepChanges:
    """A journal that keeps the changes each revision arrives with."""

    def __init__(self) -> None:
        self.changes: list[tuple[Any, ...]] = []

    def record(self, timeline: Handle, revision: Revision) -> None:
        self.changes.append(revision.changes)

    def moved(self, timeline: Handle) -> None:
        pass

    def refresh(self, timeline: Handle) -> None:
        pass

    def erase(self, timeline: Handle, number: int, tombstone: Any) -> None:
        pass

    def trimmed(
        self,
        timeline: Handle,
        below: int,
        reason: str,
        author: str | None,
        explicit: bool,
    ) -> None:
        pass


class TestListEdits:
    def test_an_insert_or_removal_records_its_change_without_a_diff(self) -> None:
        """edit() of a list hands the draft's own edits to the journal: one add,
        one remove, and the engine diffs nothing."""
        journal = _KeepChanges()
        t = Timeline(list(range(scaled(100_000))), journal=journal)
        with count_calls(diff_values) as calls:
            with t.edit() as items:
                items.insert(500, "x")
            with t.edit() as items:
                del items[3]
            with t.edit() as items:
                assert items.pop() == scaled(100_000) - 1
        assert calls["diff_values"] == 0
        assert journal.changes[1:] == [
            (Change((500,), MISSING, "x"),),
            (Change((3,), 3, MISSING),),
            (Change((scaled(100_000) - 1,), scaled(100_000) - 1, MISSING),),
        ]
        assert len(t.value) == scaled(100_000) - 1
        assert t.value[499] == "x"

    def test_a_list_inside_a_dict_state_records_its_change_too(self) -> None:
        """A dict draft gathers its nested drafts' edits under their keys; a whole
        list put in place of another is left to a diff, which looks inside."""
        journal = _KeepChanges()
        t = Timeline({"job": {"items": list(range(1000)), "n": 1}}, journal=journal)
        with count_calls(diff_values) as calls, t.edit() as state:
            state["job"]["items"].insert(5, "x")
            state["job"]["n"] = 2
        assert calls["diff_values"] == 0
        assert journal.changes[-1] == (
            Change(("job", "items", 5), MISSING, "x"),
            Change(("job", "n"), 1, 2),
        )
        items = t.value["job"]["items"]
        with t.edit() as state:
            state["job"]["items"] = items.delete(7)
        assert journal.changes[-1] == (Change(("job", "items", 7), 6, MISSING),)

    def test_edits_not_known_exactly_are_diffed(self) -> None:
        """A nested item handed out and changed: the revision's changes come from a
        diff, and are still exact."""
        journal = _KeepChanges()
        t = Timeline([[1], [2], [3]], journal=journal)
        with t.edit() as items:
            items.insert(0, "x")
            items[2].append(9)
        assert journal.changes[1:] == [
            (Change((0,), MISSING, "x"), Change((2, 1), MISSING, 9))
        ]
        assert t.value == ["x", [1], [2, 9], [3]]


class TestDiffAndBlame:
    def test_diff_between_any_revisions(self) -> None:
        """diff(a, b) lists the changes from a to b."""
        t = Timeline({"job": {"bins": 10, "state": "idle"}})
        t.set_in("job.bins", 9)
        t.set_in("job.state", "busy")
        assert [tuple(c) for c in t.diff(0, 2)] == [
            (("job", "bins"), 10, 9),
            (("job", "state"), "idle", "busy"),
        ] or [tuple(c) for c in t.diff(0, 2)] == [
            (("job", "state"), "idle", "busy"),
            (("job", "bins"), 10, 9),
        ]
        assert t.diff(2) == []
        assert [tuple(c) for c in t.diff(2, 1)] == [(("job", "state"), "busy", "idle")]

    def test_revision_changes(self) -> None:
        """Each revision knows its changes from its parent."""
        t = Timeline({"a": 1})
        assert t.revision(0).changes == ()
        rev = t.set_in("b", 2)
        assert [tuple(c) for c in rev.changes] == [(("b",), statetrail.MISSING, 2)]
        assert rev.changes[0].kind == "add"

    def test_blame_finds_the_last_change_to_a_path(self) -> None:
        """blame(path) is the newest revision that changed the path, under it,
        or an ancestor of it; the first revision when none did since."""
        t = Timeline({"a": {"x": 1}, "b": 1})
        r1 = t.set_in("a.x", 2)
        r2 = t.set_in("b", 2)
        assert t.blame("a.x") == r1
        assert t.blame("a") == r1
        assert t.blame("b") == r2
        r3 = t.set({"a": {"x": 5}, "b": 2})
        assert t.blame("a.x") == r3
        assert t.blame(()) == r3
        t2 = Timeline({"only": 1})
        assert t2.blame("only") == t2.revision(0)
        assert t2.blame("missing") is None

    def test_blame_follows_the_branch(self) -> None:
        """Blame only counts revisions on the cursor's lineage."""
        t = Timeline({"a": 1})
        r1 = t.set_in("a", 2)
        t.checkout(0)
        t.set_in("b", 1)
        assert t.blame("a") == t.revision(0)
        t.switch("main")
        assert t.blame("a") == r1

    def test_path_history(self) -> None:
        """path_history lists every revision that changed the path, in order."""
        t = Timeline({"a": {"x": 1}, "items": [1, 2, 3]})
        r1 = t.set_in("a.x", 2)
        t.set_in("z", 1)
        r3 = t.set_in("a", {"x": 3, "y": 1})
        r4 = t.update(lambda v: v.set("items", v["items"].inserted(0, 0)))
        assert t.path_history("a.x") == [r1, r3]
        assert t.path_history("a") == [r1, r3]
        # An insertion at the front shifts every item: it counts for each.
        assert t.path_history("items.2") == [r4]

    def test_blame_stays_proportional_to_the_path(self) -> None:
        """The path index answers without scanning unrelated revisions."""
        t = Timeline({"hot": 0, "cold": 0})
        cold = t.set_in("cold", 1)
        for i in range(2000):
            t.set_in("hot", i)
        index = t._index()
        assert len(list(index.touching(("cold",)))) == 1
        assert t.blame("cold") == cold


class TestLog:
    def make(self) -> Timeline[Any]:
        t = Timeline({"a": 0}, author="system")
        with statetrail.context(author="alice", comment="first fix"):
            t.set_in("a", 1, label="v1")
        with statetrail.context(author="bob", comment="second"):
            t.set_in("b", 1)
        with statetrail.context(author="alice", comment="another fix"):
            t.set_in("a", 2)
        return t

    def test_filters(self) -> None:
        """Author, comment substring, label, kind and path filters."""
        t = self.make()
        assert [r.number for r in t.log(author="alice")] == [1, 3]
        assert [r.number for r in t.log(comment="fix")] == [1, 3]
        assert [r.number for r in t.log(label="v1")] == [1]
        assert [r.number for r in t.log(kind="initial")] == [0]
        assert [r.number for r in t.log(path="a")] == [1, 3]
        assert [r.number for r in t.log(path="b", author="bob")] == [2]

    def test_order_and_batching(self) -> None:
        """reverse, start and limit page through the log."""
        t = self.make()
        assert [r.number for r in t.log(reverse=True)] == [3, 2, 1, 0]
        assert [r.number for r in t.log(start=1, limit=2)] == [1, 2]
        assert [r.number for r in t.log(reverse=True, limit=1)] == [3]
        assert t.log(start=10) == []
        assert t.log(limit=0) == []
        with pytest.raises(ValueError, match="negative"):
            t.log(limit=-1)

    def test_time_range(self) -> None:
        """since is inclusive, until exclusive."""
        t = Timeline(0)
        t.set(1)
        time.sleep(0.002)
        middle = datetime.now(UTC)
        time.sleep(0.002)
        t.set(2)
        assert [r.value for r in t.log(since=middle)] == [2]
        assert [r.value for r in t.log(until=middle)] == [0, 1]


class TestValidators:
    def test_a_rejected_value_leaves_no_trace(self) -> None:
        """A validator that raises rejects the write; nothing is recorded."""

        def positive(value: Any) -> None:
            if value < 0:
                raise ValueError("negative")

        t = Timeline(1, validators=[positive])
        with pytest.raises(ValueError, match="negative"):
            t.set(-1)
        assert (t.value, len(t)) == (1, 1)

    def test_validators_see_the_whole_new_value(self) -> None:
        """A validator sees the frozen value being recorded, for rules across fields."""
        seen: list[Any] = []
        t = Timeline({"min": 0, "max": 10})
        t.add_validator(seen.append)
        t.set_in("max", 5)
        assert seen == [{"min": 0, "max": 5}]
        assert isinstance(seen[0], FrozenDict)

    def test_validators_can_be_removed(self) -> None:
        """add_validator returns a remover."""
        t = Timeline(0)

        def never(value: Any) -> None:
            raise ValueError("never")

        remove = t.add_validator(never)
        with pytest.raises(ValueError, match="never"):
            t.set(1)
        remove()
        t.set(1)
        assert t.value == 1

    def test_a_validator_that_writes_raises_reentrancy(self) -> None:
        """Writing to the timeline from its own validator is refused clearly."""
        t: Timeline[int] = Timeline(0)
        t.add_validator(lambda value: t.set(value + 1))
        with pytest.raises(ReentrancyError):
            t.set(1)
        assert len(t) == 1

    def test_a_write_from_update_raises_reentrancy(self) -> None:
        """update(fn) must not write to the same timeline from fn."""
        t: Timeline[int] = Timeline(0)

        def sneaky(value: int) -> int:
            t.set(100)
            return value + 1

        with pytest.raises(ReentrancyError):
            t.update(sneaky)
        assert (t.value, len(t)) == (0, 1)

    def test_callables_only(self) -> None:
        """Validators and listeners must be callable."""
        t = Timeline(0)
        with pytest.raises(TypeError):
            t.add_validator(1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            t.add_listener(1)  # type: ignore[arg-type]


class TestListeners:
    def test_listeners_run_after_commit_in_order(self) -> None:
        """Each listener gets every revision, in commit order."""
        t = Timeline(0)
        got: list[int] = []
        t.add_listener(lambda rev: got.append(rev.value))
        for i in range(1, 6):
            t.set(i)
        assert got == [1, 2, 3, 4, 5]

    def test_a_raising_listener_is_logged_and_isolated(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """One listener raising does not stop the write or the other listeners."""
        t = Timeline(0)
        got: list[int] = []

        def broken(rev: Revision) -> None:
            raise RuntimeError("listener bug")

        t.add_listener(broken)
        t.add_listener(lambda rev: got.append(rev.value))
        with caplog.at_level(logging.ERROR, logger="statetrail"):
            t.set(1)
        assert got == [1]
        assert t.value == 1
        assert "listener bug" in caplog.text

    def test_a_listener_writing_back_is_queued_not_recursed(self) -> None:
        """A listener's write is delivered after the current one, in order."""
        t = Timeline(0)
        got: list[int] = []

        def bump(rev: Revision) -> None:
            got.append(rev.value)
            if rev.value < 3:
                t.set(rev.value + 1)

        t.add_listener(bump)
        t.set(1)
        assert got == [1, 2, 3]
        assert t.value == 3

    def test_endless_write_back_raises_reentrancy(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A listener that always writes back stops at MAX_LISTENER_DEPTH with a
        logged ReentrancyError, never a RecursionError or a hang."""
        t = Timeline(0)
        t.add_listener(lambda rev: t.set(rev.value + 1))
        with caplog.at_level(logging.ERROR, logger="statetrail"):
            t.set(1)
        assert t.value == MAX_LISTENER_DEPTH
        assert "ReentrancyError" in caplog.text
        assert "RecursionError" not in caplog.text

    def test_ping_pong_between_timelines_is_bounded(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Two timelines whose listeners write to each other stop too."""
        a = Timeline(0)
        b = Timeline(0)
        a.add_listener(lambda rev: b.set(rev.value + 1))
        b.add_listener(lambda rev: a.set(rev.value + 1))
        with caplog.at_level(logging.ERROR, logger="statetrail"):
            a.set(1)
        assert a.value + b.value <= 2 * MAX_LISTENER_DEPTH + 2
        assert "ReentrancyError" in caplog.text

    def test_removing_and_adding_during_dispatch(self) -> None:
        """Listeners added or removed during a dispatch apply from the next one."""
        t = Timeline(0)
        got: list[str] = []

        def late(rev: Revision) -> None:
            got.append(f"late{rev.value}")

        def first(rev: Revision) -> None:
            got.append(f"first{rev.value}")
            t.add_listener(late)
            t.remove_listener(first)

        t.add_listener(first)
        t.set(1)
        t.set(2)
        assert got == ["first1", "late2"]

    def test_remover(self) -> None:
        """add_listener returns a remover; removing twice is harmless."""
        t = Timeline(0)
        got: list[int] = []
        remove = t.add_listener(lambda rev: got.append(rev.value))
        t.set(1)
        remove()
        remove()
        t.set(2)
        assert got == [1]


class TestRetention:
    def test_keep_last(self) -> None:
        """Only the newest N revisions are kept; a tombstone says what went."""
        t = Timeline(0, retention=Retention(keep_last=5))
        for i in range(1, 21):
            t.set(i)
        assert len(t) == 5
        assert [r.number for r in t.revisions()] == [16, 17, 18, 19, 20]
        (tomb,) = t.tombstones
        assert (tomb.first, tomb.last, tomb.count) == (0, 15, 16)
        assert tomb.reason == "keep_last=5"
        with pytest.raises(RevisionNotFoundError, match="trimmed"):
            t.value_at(3)
        assert t.value == 20

    def test_trimmed_count_equals_written_minus_kept(self) -> None:
        """Nothing is trimmed silently: the tombstones account for every revision."""
        t = Timeline(0, retention=Retention(keep_last=100))
        for i in range(1000):
            t.set(i)
        assert len(t) + sum(tomb.count for tomb in t.tombstones) == 1001

    def test_max_age(self) -> None:
        """Revisions older than max_age go after the next write."""
        t = Timeline(0)
        t.set(1)
        time.sleep(0.05)
        t.retention = Retention(max_age=timedelta(seconds=0.02))
        t.set(2)
        assert [r.value for r in t.revisions()] == [2]

    def test_explicit_trim_keeps_tips_and_the_cursor(self) -> None:
        """trim() never removes a branch tip or the current revision."""
        t = Timeline(0)
        t.set(1)
        t.branch("side")
        t.set(10)
        t.switch("main")
        for i in range(2, 10):
            t.set(i)
        t.checkout(3)
        tomb = t.trim(keep_last=2, reason="cleanup", author="ops")
        assert tomb is not None
        assert (tomb.reason, tomb.author) == ("cleanup", "ops")
        held = {r.number for r in t.revisions()}
        assert {2, 3, t.branches()["main"]} <= held
        assert t.value == 2
        assert t.trim(keep_last=100) is None

    def test_history_queries_work_after_trims(self) -> None:
        """Blame, path history, undo and diff cope with trimmed parents."""
        t = Timeline({"a": 0}, retention=Retention(keep_last=3))
        for i in range(1, 10):
            t.set_in("a", i)
        assert t.blame("a") == t.head
        assert [r.value["a"] for r in t.history()] == [7, 8, 9]
        assert [tuple(c) for c in t.head.changes] == [(("a",), 8, 9)]
        assert t.undo().value == {"a": 8}

    def test_trim_arguments_are_checked(self) -> None:
        """trim needs a rule; keep_last is a positive int."""
        t = Timeline(0)
        with pytest.raises(ValueError, match="needs keep_last"):
            t.trim()
        with pytest.raises(ValueError, match="positive"):
            t.trim(keep_last=0)
        with pytest.raises(TypeError):
            Timeline(0, retention=(5, None))  # type: ignore[arg-type]
