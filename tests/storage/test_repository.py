"""statetrail.open and the Repository: durable front ends over any backend.

The scenarios run on every backend (memory, JSON file, SQLite, PostgreSQL);
each backend's own module tests the rest of its contract.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import errno
import json
import os
import pathlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import statetrail
from statetrail import (
    ConflictError,
    CorruptHistoryError,
    RevisionNotFoundError,
    UnknownTimelineError,
)
from statetrail.diff import same_value
from statetrail.immutable import RevisionedImmutable, update
from statetrail.repository import Repository
from statetrail.revision import Change
from statetrail.storage.base import Backend, Heads, Row
from statetrail.storage.codec import CodecError
from statetrail.storage.jsonfile import JsonFileBackend
from statetrail.storage.memory import MemoryBackend
from tests.conftest import scaled
from tests.storage.contract import BackendContract
from tests.storage.pg import fresh_schema


class Point(NamedTuple):
    x: int
    y: int


def factory_of(
    kind: str,
    tmp_path: pathlib.Path,
    opened: list[Repository],
    pg_schemas: contextlib.ExitStack,
) -> Callable[[], Repository]:
    """Repositories over one storage: each call is like a new process opening the
    same history."""
    if kind == "memory":
        backend = MemoryBackend()

        def memory() -> Repository:
            repo = Repository(backend, checkpoint_every=4)
            opened.append(repo)
            return repo

        return memory
    if kind == "json":
        path = tmp_path / "history.json"

        def json_file() -> Repository:
            for repo in opened:
                repo.close()  # one process at a time holds a JSON file
            repo = statetrail.open(path, checkpoint_every=4)
            opened.append(repo)
            return repo

        return json_file
    target: str | pathlib.Path = tmp_path / "history.db"
    options: dict[str, Any] = {}
    if kind == "postgresql":
        schema = pg_schemas.enter_context(fresh_schema())
        target, options = schema.url, {"schema": schema.name}

    def database() -> Repository:
        repo = statetrail.open(target, checkpoint_every=4, **options)
        opened.append(repo)
        return repo

    return database


@pytest.fixture(params=["memory", "json", "sqlite", "postgresql"])
def make(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[Callable[[], Repository]]:
    """A factory of repositories over one backend's storage."""
    opened: list[Repository] = []
    with contextlib.ExitStack() as schemas:
        yield factory_of(request.param, tmp_path, opened, schemas)
        for repo in opened:
            repo.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[Callable[[], Repository]]:
    """Repositories several processes may hold open at once on one storage."""
    opened: list[Repository] = []
    with contextlib.ExitStack() as schemas:
        yield factory_of(request.param, tmp_path, opened, schemas)
        for repo in opened:
            repo.close()


class TestReopening:
    def test_a_var_comes_back_with_its_whole_history(
        self, make: Callable[[], Repository]
    ) -> None:
        """Values, metadata, origins, branches and the cursor survive a reopen."""
        repo = make()
        score = repo.watch("score", 0)
        with statetrail.context(author="alice", comment="first"):
            score.set(10)
        score.set(20, label="twenty")
        score.checkout(1).set(11)
        before = [
            (r.number, r.value, r.author, r.comment, r.label, r.branch, r.origin)
            for r in score.timeline.revisions()
        ]
        again = make().watch("score")
        after = [
            (r.number, r.value, r.author, r.comment, r.label, r.branch, r.origin)
            for r in again.timeline.revisions()
        ]
        assert after == before
        assert again.get() == 11
        assert again.branches() == score.branches()
        assert again.timeline.current_branch == score.timeline.current_branch
        assert (
            again.history()[-1].origin.function
            == "test_a_var_comes_back_with_its_whole_history"
        )

    def test_a_store_comes_back(self, make: Callable[[], Repository]) -> None:
        """A store's state and history survive, and it keeps recording."""
        store = make().store("job", {"job": {"bins": 10}})
        store.set("job.bins", 9)
        store.set("machine.state", "READY")
        again = make().store("job")
        assert again.get_state() == {"job": {"bins": 9}, "machine": {"state": "READY"}}
        assert [r.number for r in again.history("job")] == [1]
        assert again.set("job.sorted", 1)
        assert make().store("job").get("job.sorted") == 1

    def test_a_moved_cursor_comes_back(self, make: Callable[[], Repository]) -> None:
        """A checkout and a named branch without commits are remembered."""
        repo = make()
        t = repo.timeline("t", "a")
        t.set("b")
        t.set("c")
        t.checkout(1)
        again = make().timeline("t")
        assert (again.value, again.head.number) == ("b", 1)
        again.branch("idea")
        third = make().timeline("t")
        assert third.current_branch == "idea"
        assert third.set("b2").branch == "idea"

    def test_values_round_trip_exactly(self, make: Callable[[], Repository]) -> None:
        """Every supported type comes back as itself."""
        value = {
            "when": datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC),
            "price": decimal.Decimal("9.99"),
            "point": Point(1, 2),
            "pair": (1, "x"),
            "tags": {"a", "b"},
            "blob": b"\x00\xff",
            "big": 2**70,
            "keys": {1: "int key", "1": "str key"},
        }
        make().watch("v", value)
        back = make().watch("v").get()
        assert back == statetrail.freeze(value)
        assert type(back["point"]) is Point
        assert type(back["pair"]) is tuple
        assert type(back["price"]) is decimal.Decimal
        assert back["keys"][1] == "int key"

    def test_unencodable_values_are_refused_before_anything_is_recorded(
        self, make: Callable[[], Repository]
    ) -> None:
        """A value the codec cannot store raises at write time; memory and storage
        stay as they were."""

        class Unknown:
            pass

        repo = make()
        v = repo.watch("v", 0)
        with pytest.raises(CodecError):
            v.set(Unknown())
        assert [r.value for r in v.history()] == [0]
        assert [r.value for r in make().watch("v").history()] == [0]

    def test_missing_timelines(self, make: Callable[[], Repository]) -> None:
        """create=False refuses a timeline that is not stored."""
        repo = make()
        with pytest.raises(RevisionNotFoundError, match="no timeline 'nope'"):
            repo.timeline("nope", create=False)
        repo.timeline("yes", 1)
        assert repo.timelines() == ["yes"]
        assert list(repo) == ["yes"]


class TestMetadataIsText:
    """Author, comment and label are text, or the history cannot be read back.

    An integer author used to be recorded, then fail its digest (SQLite,
    PostgreSQL) or parse as damaged (JSON) on reopening; a NUL was refused by
    PostgreSQL only, a lone surrogate raised UnicodeEncodeError. One rule now, on
    every backend and front end, checked before anything is recorded.
    """

    BAD_TYPES = (
        {"author": 5},
        {"author": True},
        {"comment": ["x"]},
        {"comment": 1.5},
        {"label": 3},
    )
    BAD_TEXT = (
        {"author": "a\x00b"},
        {"comment": "x\ud800"},
        {"label": "\x00"},
    )

    @staticmethod
    def writes(repo: Repository) -> dict[str, Callable[[dict[str, Any]], object]]:
        """Every front end's write, each given the metadata as arguments."""
        timeline = repo.timeline("t", 0)
        store = repo.store("s", {})
        var = repo.watch("v", 0)

        def in_context(meta: dict[str, Any]) -> None:
            with statetrail.context(**meta):
                var.set(2)

        def in_transaction(meta: dict[str, Any]) -> None:
            with store.transaction(**meta) as tx:
                tx.set("a", 2)

        return {
            "Timeline.set": lambda meta: timeline.set(1, **meta),
            "Timeline.set_in": lambda meta: timeline.set_in((), 1, **meta),
            "Store.set": lambda meta: store.set("a", 1, **meta),
            "Store.transaction": in_transaction,
            "Var.set": lambda meta: var.set(1, **meta),
            "context()": in_context,
        }

    def test_a_non_string_is_a_type_error_and_records_nothing(
        self, make: Callable[[], Repository]
    ) -> None:
        """Every front end refuses a non-string author, comment or label with a
        TypeError naming it; the history reopens with nothing more in it."""
        repo = make()
        for name, write in self.writes(repo).items():
            for meta in self.BAD_TYPES:
                (field,) = meta
                with pytest.raises(TypeError, match=rf"^{field} must be a string"):
                    write(meta)
                assert repo.timeline("t").head.number == 0, name
        again = make()
        for name in ("t", "s", "v"):
            assert again.timeline(name).head.number == 0
            assert again.verify(name) == {name: 1}

    def test_nul_and_lone_surrogates_are_refused_on_every_backend(
        self, make: Callable[[], Repository]
    ) -> None:
        """A NUL or a lone surrogate in metadata: ValueError naming the field,
        from every front end and backend alike (PostgreSQL used to refuse a NUL
        alone, SQLite and JSON to store it)."""
        repo = make()
        for write in self.writes(repo).values():
            for meta in self.BAD_TEXT:
                (field,) = meta
                with pytest.raises(ValueError, match=rf"^{field} holds a"):
                    write(meta)
        again = make()
        assert [again.timeline(name).head.number for name in "tsv"] == [0, 0, 0]

    @pytest.mark.parametrize("name", ["t\x00", "\x00", "t\ud800"])
    def test_timeline_names_follow_the_same_rule(
        self, make: Callable[[], Repository], name: str
    ) -> None:
        """A timeline name with a NUL or a lone surrogate is a ValueError naming
        it, on every backend, and no timeline is created."""
        repo = make()
        for open_it in (repo.timeline, repo.watch, repo.store):
            with pytest.raises(ValueError, match=r"^a timeline name holds a"):
                open_it(name)
        assert repo.timelines() == []
        assert make().timelines() == []

    def test_text_metadata_still_round_trips(
        self, make: Callable[[], Repository]
    ) -> None:
        """Any other text goes through, a str subclass as the plain string."""

        class Name(str):
            pass

        repo = make()
        t = repo.timeline("t", 0)
        t.set(1, author=Name("ann"), comment="é ✓ 😀", label="")
        head = make().timeline("t").head
        assert (head.author, head.comment, head.label) == ("ann", "é ✓ 😀", "")
        assert type(head.author) is str


class TestNaNKeys:
    """A dict keyed by NaN made a stored timeline unreadable (issue 9, defect 2):
    ``{nan: 1}`` then ``{nan: 2}`` stored a patch naming the key, which the value
    read back (a new NaN, not equal to it) did not hold. Such a key is refused
    before anything is recorded; NaN values and set members are still stored."""

    def test_a_nan_key_is_refused_and_the_history_reads_back(
        self, make: Callable[[], Repository]
    ) -> None:
        """Var, Store and Timeline writes of a NaN-keyed dict raise ValueError,
        record nothing, and the history reopens and verifies."""
        nan = float("nan")
        repo = make()
        var = repo.watch("w", {"k": 1})
        store = repo.store("s", {})
        timeline = repo.timeline("t", {"a": {}})
        writes: list[Callable[[], object]] = [
            lambda: repo.watch("new", {nan: 1}),
            lambda: var.set({nan: 2}),
            lambda: var.set({(nan,): 2}),
            lambda: var.set({"x": {frozenset({nan}): 2}}),
            lambda: store.set("a", {nan: 1}),
            lambda: timeline.set_in(("a", nan), 1),
            lambda: timeline.set_in(("a", (1, nan)), 1),
        ]
        for write in writes:
            with pytest.raises(ValueError, match="is or holds NaN"):
                write()
        var.set({"k": nan, "s": {nan, 1}, "l": [nan]})
        var.set({"k": 2, "s": {1}, "l": [nan, 1]})
        again = make()
        assert "new" not in again.timelines()
        values = [r.value for r in again.watch("w").history()]
        assert len(values) == 3
        assert values[2] == {"k": 2, "s": {1}, "l": [values[2]["l"][0], 1]}
        assert [again.timeline(name).head.number for name in "st"] == [0, 0]
        assert again.verify() == {"s": 1, "t": 1, "w": 3}


def here() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


class Answer(RevisionedImmutable):
    """The third seed's example object."""

    def __init__(self, question: str | None = None, answer: Any = None) -> None:
        self.question = question
        self.answer = answer

    def summary(self) -> str:
        return f"{self.question}: {self.answer}"


class TestRevisionedMappings:
    def test_a_mapping_comes_back_with_every_revision(
        self, make: Callable[[], Repository]
    ) -> None:
        """Keys, revisions, creators, comments, origins and the current revision
        survive a reopen, as objects of the class given."""
        data = make().revisioned("answers", Answer, {})
        data["life"] = first = Answer("life?")
        with update(first, "universe", "Provide Answer") as second:
            second.answer = 42
        line = here() - 2  # the update() block's own line
        data["tea"] = Answer("tea?", {"milk": True})
        again = make().revisioned("answers", Answer)
        assert sorted(again) == ["life", "tea"]
        current = again["life"]
        assert isinstance(current, Answer)
        assert current.summary() == "life?: 42"
        history = again.revision_manager("life").revision_history()
        assert [(r.__im_version__, r.answer, r.__im_creator__) for r in history] == [
            (0, None, None),
            (1, 42, "universe"),
        ]
        assert history[0].__im_end_on__ == history[1].__im_start_on__
        assert history[1].__im_end_on__ is None
        record = again.revision_manager("life").record_of(history[1])
        assert record.comment == "Provide Answer"
        assert record.origin is not None
        assert (record.origin.file, record.origin.line) == (__file__, line)
        assert again["tea"].answer == {"milk": True}

    def test_updates_rollbacks_and_branches_are_kept(
        self, make: Callable[[], Repository]
    ) -> None:
        """A reopened mapping keeps recording; a rollback is a cursor move that is
        remembered, and the next update branches from it."""
        data = make().revisioned("q", Answer, {})
        data["k"] = v0 = Answer("q", 0)
        with update(v0, "a", "one") as v1:
            v1.answer = 1
        with update(v1, "a", "two") as v2:
            v2.answer = 2
        again = make().revisioned("q", Answer)
        manager = again.revision_manager("k")
        manager.rollback_to(manager.revision(1))
        third = make().revisioned("q", Answer)
        current = third["k"]
        assert current is not None
        assert current.answer == 1
        with update(current, "b", "fork") as v3:
            v3.answer = 3
        fourth = make().revisioned("q", Answer).revision_manager("k")
        assert [r.answer for r in fourth.revision_history()] == [0, 1, 3]
        assert fourth.timeline is not None
        assert len(fourth.timeline.branches()) == 2
        assert fourth.diff(fourth.revision(1), fourth.revision(3)) == [
            Change(("answer",), 1, 3)
        ]

    def test_keys_are_strings_and_never_deleted(
        self, make: Callable[[], Repository]
    ) -> None:
        """A stored mapping refuses other keys, and deleting a key."""
        data = make().revisioned("m", Answer, {})
        with pytest.raises(TypeError, match="strings"):
            data[1] = Answer()  # type: ignore[index]
        data["x"] = Answer()
        with pytest.raises(TypeError, match="cannot be deleted"):
            del data["x"]
        assert list(make().revisioned("m", Answer)) == ["x"]


class TestUnknownNames:
    """Issue 11: a misspelt name fails at once, instead of starting an empty
    timeline; an initial value creates it."""

    def test_a_store_without_initial_state_must_be_stored(
        self, make: Callable[[], Repository]
    ) -> None:
        """store(), async_store() and watch() of a name not stored raise
        UnknownTimelineError, a KeyError too, naming the close stored names; the
        repository is left without the name."""
        repo = make()
        repo.store("jobs", {"n": 1})
        repo.watch("score", 0)
        for call in (
            lambda: repo.store("job"),
            lambda: repo.async_store("job"),
            lambda: repo.watch("job"),
        ):
            with pytest.raises(UnknownTimelineError) as caught:
                call()
            error = caught.value
            assert isinstance(error, KeyError)
            assert isinstance(error, statetrail.StatetrailError)
            assert isinstance(error, RevisionNotFoundError)
            assert error.name == "job"
            assert error.matches == ["jobs"]
            assert str(error) == (
                "there is no timeline 'job' (did you mean 'jobs'?); "
                "give an initial value to create it"
            )
        assert repo.timelines() == ["jobs", "score"]
        assert make().timelines() == ["jobs", "score"]

    def test_no_close_name(self, make: Callable[[], Repository]) -> None:
        """With nothing close, the message says so; an empty repository too."""
        repo = make()
        with pytest.raises(UnknownTimelineError, match="no stored name is close"):
            repo.store("settings")
        repo.watch("score", 0)
        with pytest.raises(UnknownTimelineError) as caught:
            repo.watch("settings")
        assert caught.value.matches == []
        assert repo.timelines() == ["score"]

    def test_an_initial_value_creates_the_timeline(
        self, make: Callable[[], Repository]
    ) -> None:
        """An empty state, or None for a Var, is an initial value; the next
        process opens what was created without one."""
        repo = make()
        repo.store("s", {}).set("a", 1)
        repo.async_store("a", {})
        repo.watch("v", None).set(2)
        again = make()
        assert again.store("s").get_state() == {"a": 1}
        assert again.async_store("a").get_state() == {}
        assert [r.value for r in again.watch("v").history()] == [None, 2]

    def test_a_name_open_in_this_process_needs_no_initial_value(
        self, make: Callable[[], Repository]
    ) -> None:
        """The same name asked for again through another front end is there."""
        repo = make()
        repo.store("job", {"n": 1})
        assert repo.async_store("job").get("n") == 1

    def test_a_revisioned_mapping_without_initial_must_be_stored(
        self, make: Callable[[], Repository]
    ) -> None:
        """revisioned() of a mapping with no key stored raises, naming the close
        mapping names; with an initial mapping it starts one holding its items."""
        repo = make()
        repo.revisioned("answers", Answer, {"life": Answer("life?")})
        with pytest.raises(UnknownTimelineError) as caught:
            repo.revisioned("answer", Answer)
        assert caught.value.matches == ["answers"]
        assert str(caught.value).startswith(
            "there is no revisioned mapping 'answer' (did you mean 'answers'?)"
        )
        assert repo.timelines() == ["answers/life"]
        again = make().revisioned("answers", Answer)
        assert again["life"] is not None
        assert again["life"].question == "life?"
        assert make().revisioned("answers", Answer, {"x": Answer()}).keys() == {"life"}

    def test_the_error_reads_well_and_survives_pickling(self) -> None:
        """str() is the sentence, not KeyError's quoted repr; a pickled copy
        (an error sent to another process) says the same."""
        import pickle

        error = UnknownTimelineError("scroe", ["score", "scores", "other"])
        assert str(error) == (
            "there is no timeline 'scroe' (did you mean 'score' or 'scores'?); "
            "give an initial value to create it"
        )
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is UnknownTimelineError
        assert (copy.name, copy.matches, str(copy)) == (
            error.name,
            error.matches,
            str(error),
        )

    def test_the_command_line_lookup_has_no_advice_to_create(
        self, make: Callable[[], Repository]
    ) -> None:
        """timeline(create=False), as the command uses it, raises the same error
        without telling to give an initial value."""
        repo = make()
        repo.watch("score", 0)
        with pytest.raises(UnknownTimelineError) as caught:
            repo.timeline("scor", create=False)
        assert str(caught.value) == (
            "there is no timeline 'scor' (did you mean 'score'?)"
        )


class TestOtherWriters:
    def test_a_stale_writer_conflicts_then_appends_after_the_newcomer(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Two repositories on one history (two processes): the second writer gets
        ConflictError, has taken in the first's revision, and its retry appends
        after it on the same branch (never a silent branch or overwrite)."""
        a = shared().watch("c", 0)
        b = shared().watch("c")
        a.set(1)
        with pytest.raises(ConflictError):
            b.set(2)
        assert b.get() == 1
        b.set(2)
        assert [r.value for r in b.history()] == [0, 1, 2]
        assert b.branches() == {"main": 2}
        assert a.timeline.sync() == 1
        assert a.get() == 2

    def test_expect_sees_the_newcomer(self, shared: Callable[[], Repository]) -> None:
        """An expected-head write after a conflict still checks the head."""
        a = shared().timeline("t", 0)
        b = shared().timeline("t")
        a.set(1)
        with pytest.raises(ConflictError):
            b.set(5, expect=0)
        with pytest.raises(ConflictError, match="expected revision 0"):
            b.set(5, expect=0)
        b.set(5, expect=1)
        assert shared().timeline("t").value == 5

    def test_two_creators_agree_on_one_first_revision(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Whoever creates a timeline second gets the first creator's history."""
        first = shared().timeline("t", "mine")
        second = shared()
        assert second.timeline("t", "theirs").value == "mine"
        assert first.value == "mine"


class TestIntegrity:
    def test_verify_counts_revisions(self, make: Callable[[], Repository]) -> None:
        """verify() checks every stored revision."""
        repo = make()
        v = repo.watch("v", 0)
        for i in range(10):
            v.set(i)
        assert make().verify() == {"v": 11}

    @pytest.mark.parametrize(
        "tamper",
        ["payload", "author", "chain", "digest"],
    )
    def test_altered_history_is_detected(self, tamper: str) -> None:
        """Changing any stored field of a revision is a CorruptHistoryError on open
        and on verify."""
        backend = MemoryBackend()
        v = Repository(backend).watch("v", {"n": 0})
        for i in range(1, 5):
            v.set_in("n", i)
        row = backend._rows["v"][2]
        altered = {
            "payload": row.payload.replace("2", "7") if row.payload else "",
            "author": "mallory",
            "chain": "0" * 64,
            "digest": "0" * 64,
        }[tamper]
        backend._rows["v"][2] = row._replace(**{tamper: altered})
        with pytest.raises(CorruptHistoryError, match="revision 2"):
            Repository(backend).verify()
        with pytest.raises(CorruptHistoryError):
            Repository(backend).watch("v")

    def test_verify_lists_every_problem(self) -> None:
        """Two rows altered, the heads moved and a checkpoint changed: one
        CorruptHistoryError lists each, as (timeline, number, what)."""
        backend = MemoryBackend()
        repo = Repository(backend, checkpoint_every=4)
        v = repo.watch("v", {"n": 0})
        for i in range(1, 12):
            v.set_in("n", i)
        repo.timeline("v").checkout(9)
        rows = backend._rows["v"]
        rows[2] = rows[2]._replace(author="mallory")
        rows[5] = rows[5]._replace(comment="nothing to see")
        heads = backend._heads["v"]
        backend._heads["v"] = Heads(heads.branch, 3, heads.tips, heads.seal)
        value, digest = backend._checkpoints["v"][8]
        backend._checkpoints["v"][8] = (value.replace("8", "0"), digest)
        with pytest.raises(CorruptHistoryError) as caught:
            Repository(backend).verify()
        found = {(t, n) for t, n, _ in caught.value.problems}
        assert {("v", 2), ("v", 5), ("v", 3), ("v", 8)} <= found

    def test_verify_reads_in_pages_and_reports_progress(self) -> None:
        """A long timeline is read a page at a time (memory stays bounded) and
        progress reaches the total."""

        class Counting(MemoryBackend):
            largest = 0

            def read(
                self, timeline: str, after: int = -1, upto: int | None = None
            ) -> list[Row]:
                rows = super().read(timeline, after, upto)
                Counting.largest = max(Counting.largest, len(rows))
                return rows

        backend = Counting()
        v = Repository(backend).watch("v", 0)
        for i in range(1, 1500):
            v.set(i)
        Counting.largest = 0
        seen: list[tuple[str, int, int]] = []
        assert Repository(backend).verify(progress=lambda *args: seen.append(args)) == {
            "v": 1500
        }
        assert 0 < Counting.largest <= 512
        assert seen[-1] == ("v", 1500, 1500)

    def test_an_anchor_proves_the_history_as_it_grows(
        self, make: Callable[[], Repository]
    ) -> None:
        """An anchor taken now verifies now and after more writes."""
        repo = make()
        v = repo.watch("v", 0)
        v.set(1)
        anchor = repo.anchor()
        v.set(2)
        assert make().verify(anchor=anchor) == {"v": 3}

    def test_erase_keeps_the_rest_verifiable(
        self, make: Callable[[], Repository]
    ) -> None:
        """An erased value becomes a tombstone; the chain still verifies and later
        revisions still read back."""
        repo = make()
        v = repo.watch("user", {"email": "a@example.com", "n": 0})
        v.set_in("email", "secret@example.com")
        v.set_in("n", 1)
        v.set_in("n", 2)
        v.timeline.erase(1, reason="GDPR request", author="dpo")
        erased = v.timeline.value_at(1)
        assert isinstance(erased, statetrail.Erased)
        assert (erased.author, erased.reason) == ("dpo", "GDPR request")
        again = make()
        assert again.verify() == {"user": 4}
        reopened = again.watch("user")
        assert reopened.get() == {"email": "secret@example.com", "n": 2}
        assert isinstance(reopened.timeline.value_at(1), statetrail.Erased)
        assert reopened.at(2) == {"email": "secret@example.com", "n": 1}
        with pytest.raises(ValueError, match="erased"):
            reopened.rollback(1)

    def test_the_parent_of_an_erased_revision_can_be_erased(
        self, make: Callable[[], Repository]
    ) -> None:
        """Erasing a revision whose child is already erased: the child has no
        value to keep (found by the model check, test_repository_model.py; it
        raised CodecError on the tombstone)."""
        repo = make()
        v = repo.watch("v", {"n": 0})
        for n in range(1, 4):
            v.set_in("n", n)
        v.timeline.erase(2, reason="first")
        v.timeline.erase(1, reason="then its parent")
        again = make()
        assert again.verify() == {"v": 4}
        reopened = again.watch("v")
        assert reopened.get() == {"n": 3}
        assert isinstance(reopened.timeline.value_at(1), statetrail.Erased)
        assert isinstance(again.value_at("v", 2), statetrail.Erased)

    def test_a_tombstone_sealing_children_past_nine_verifies(
        self, make: Callable[[], Repository]
    ) -> None:
        """Erasing a revision with children numbered 2 and 10: the tombstone's
        list of their checkpoints is stored with its keys sorted as text ("10"
        before "2"), and its seal must be worked out in that order (found by the
        model check at a larger scale: "a tombstone that does not match its
        seal" on reopen, on every backend)."""
        repo = make()
        t = repo.timeline("m", {})
        t.set({"a": 0})  # revision 1
        for n in range(1, 9):  # revisions 2 to 9, 2 a child of 1
            t.set({"a": n})
        t.checkout(1)
        t.set({"a": 10})  # revision 10, another child of 1
        t.erase(1, reason="gone")
        again = make()
        assert again.verify() == {"m": 11}
        assert again.timeline("m").value == {"a": 10}
        assert again.value_at("m", 2) == {"a": 1}

    @pytest.mark.parametrize("reopened", [False, True])
    def test_a_write_after_an_erased_parent_reads_back(
        self, make: Callable[[], Repository], reopened: bool
    ) -> None:
        """A revision written on top of an erased one, after the erasure, replaces
        the whole value: it is read back without a checkpoint, verifies, and cold
        reads stop at it (found by the model check once format 2 landed: on
        reopen "needs a checkpoint (its parent was erased) and has none", or a
        checkpoint its parent's tombstone did not seal)."""
        repo = make()
        t = repo.timeline("m", {})
        t.rollback(0)
        t.branch("exp")
        t.rollback(0)
        if reopened:  # the journal no longer knows the depth: revision 3, written
            # below, gets a checkpoint the erasure's tombstone did not seal
            t = make().timeline("m")
        t.erase(1, reason="gone")
        t.switch("main")
        t.rollback(0)  # revision 3, whose parent (1) is erased
        t.set({"a": 1})
        for _ in range(70):  # past a checkpoint, written after the erasure
            t.set_in("a", t.value["a"] + 1)
        again = make()
        assert again.verify() == {"m": 75}
        reopened = again.timeline("m")
        assert reopened.value == {"a": 71}
        assert again.value_at("m", 3) == {}
        assert again.value_at("m", 4) == {"a": 1}
        assert again.value_at("m", 74) == {"a": 71}

    def test_the_current_revision_cannot_be_erased(self) -> None:
        """Erasing needs a newer value first."""
        v = Repository(MemoryBackend()).watch("v", 0)
        with pytest.raises(ValueError, match="current"):
            v.timeline.erase(0, reason="x")

    def test_checkpoints_bound_the_patches_to_replay(self) -> None:
        """A whole value is kept every checkpoint_every revisions along a lineage."""
        backend = MemoryBackend()
        v = Repository(backend, checkpoint_every=4).watch("v", 0)
        for i in range(1, 13):
            v.set(i)
        assert backend.checkpoints("v") == [4, 8, 12]


class TestColdRead:
    def test_every_revision_reads_back_without_opening_the_timeline(
        self, make: Callable[[], Repository]
    ) -> None:
        """value_at reads any revision, on any branch, from storage alone."""
        repo = make()
        t = repo.timeline("t", {"n": 0, "log": []})
        for i in range(1, 30):
            t.set(t.value.set("n", i).set("log", (*t.value["log"], i)))
        t.checkout(7)
        for i in range(100, 112):
            t.set(t.value.set("n", i))
        expected = {r.number: r.value for r in t.revisions()}
        cold = make()
        for number, value in expected.items():
            assert cold.value_at("t", number) == value

    @given(
        writes=st.lists(
            st.tuples(
                st.sampled_from(["a", "a.x", "a.y", "b", "b.0", "c"]),
                st.one_of(
                    st.integers(-2, 2),
                    st.booleans(),
                    st.builds(lambda x: {"x": x, "y": [1]}, st.integers(-2, 2)),
                    st.just([7, 8]),
                    st.none(),
                ),
                st.booleans(),
            ),
            max_size=40,
        )
    )
    @example(
        writes=[
            ("a", [7, 8], False),
            ("a", {"x": 2, "y": [1]}, False),
            ("a.x", 1, False),
        ]
    )
    @example(writes=[("a", {"x": 5, "y": [1]}, False), ("a.x", 1, False)])
    @example(writes=[("a.x", 1, False), ("a", {"x": 2, "y": [1]}, False)])
    @example(writes=[("b.0", 1, False), ("b", True, False), ("c", 1, False)])
    @settings(max_examples=scaled(100), deadline=None)
    def test_cold_reads_equal_the_replayed_history(
        self, writes: list[tuple[str, Any, bool]]
    ) -> None:
        """Whatever mix of replacements, additions and removals: each revision
        read cold equals the revision held in memory (types included)."""
        backend = MemoryBackend()
        store = Repository(backend, checkpoint_every=5).store(
            "s", {"a": {"x": 0, "y": [1]}, "b": [1, 2], "c": 0}
        )
        for path, value, remove in writes:
            if remove:
                store.delete(path)
            else:
                store.set(path, value)
        cold = Repository(backend, checkpoint_every=5)
        for rev in store.timeline.revisions():
            back = cold.value_at("s", rev.number)
            assert back == rev.value
            assert same_value(back, rev.value)  # types too (dict order aside)

    def test_it_applies_at_most_checkpoint_every_patches(self) -> None:
        """The walk stops at the nearest checkpoint: the rows it reads are bounded
        by checkpoint_every, whatever the length of the history."""
        backend = MemoryBackend()
        t = Repository(backend, checkpoint_every=4).timeline("t", 0)
        for i in range(1, 200):
            t.set(i)
        asked: list[int] = []
        real_row = backend.read

        def counting(timeline: str, after: int = -1, upto: int | None = None) -> Any:
            rows = real_row(timeline, after, upto)
            asked.extend(r.number for r in rows)
            return rows

        backend.read = counting  # type: ignore[method-assign]
        assert Repository(backend, checkpoint_every=4).value_at("t", 198) == 198
        assert len(asked) <= 5

    def test_erased_and_missing_revisions(self, make: Callable[[], Repository]) -> None:
        """An erased revision reads as its tombstone, its children still read, and
        an unknown revision is RevisionNotFoundError."""
        repo = make()
        v = repo.watch("v", {"secret": "a", "n": 0})
        v.set_in("secret", "b")
        v.set_in("n", 1)
        v.set_in("n", 2)
        v.timeline.erase(1, reason="privacy", author="dpo")
        cold = make()
        assert isinstance(cold.value_at("v", 1), statetrail.Erased)
        assert cold.value_at("v", 3) == {"secret": "b", "n": 2}
        with pytest.raises(RevisionNotFoundError, match="no revision 9"):
            cold.value_at("v", 9)
        with pytest.raises(ValueError, match="revision number"):
            cold.value_at("v", -1)

    def test_an_altered_row_on_the_walk_is_detected(self) -> None:
        """A tampered patch between the checkpoint and the revision is reported."""
        backend = MemoryBackend()
        t = Repository(backend, checkpoint_every=8).timeline("t", {"n": 0})
        for i in range(1, 7):
            t.set(t.value.set("n", i))
        row = backend._rows["t"][3]
        assert row.payload is not None
        backend._rows["t"][3] = row._replace(payload=row.payload.replace("3", "4"))
        with pytest.raises(CorruptHistoryError, match="revision 3"):
            Repository(backend).value_at("t", 6)


class TestJsonFile:
    def test_one_process_at_a_time(self, tmp_path: pathlib.Path) -> None:
        """A second opener gets StorageError instead of overwriting."""
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            repo.watch("v", 1)
            with pytest.raises(statetrail.StorageError, match="another process"):
                statetrail.open(path)

    def test_the_file_is_readable_json(self, tmp_path: pathlib.Path) -> None:
        """The history file is plain JSON with the documented layout."""
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            repo.watch("v", {"a": 1}).set({"a": 2})
        data = json.loads(path.read_text())
        assert data["format"] == "statetrail-history"
        assert [row["number"] for row in data["timelines"]["v"]["rows"]] == [0, 1]

    @pytest.mark.parametrize(
        "content",
        [b"", b"{", b'{"format": "other"}', b"\x80\x04\x95", b'{"a": 1, "a": 2}'],
    )
    def test_malformed_files_are_refused(
        self, tmp_path: pathlib.Path, content: bytes
    ) -> None:
        """A truncated, foreign or pickle file is a CorruptHistoryError, not a crash
        and not an empty history."""
        path = tmp_path / "h.json"
        path.write_bytes(content)
        with pytest.raises(CorruptHistoryError):
            statetrail.open(path)
        assert path.read_bytes() == content

    def test_a_failed_write_records_nothing(self, tmp_path: pathlib.Path) -> None:
        """When the file cannot be written (a full disk), the change is undone in
        memory too, the old file is intact, and the next write works."""

        class FullDisk:
            full = False

            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            def replace(self, src: str, dst: str) -> None:
                if self.full:
                    raise OSError(errno.ENOSPC, "No space left on device")
                os.replace(src, dst)

        disk = FullDisk()
        path = tmp_path / "h.json"
        repo = Repository(JsonFileBackend(path, _os=disk))
        v = repo.watch("v", 0)
        disk.full = True
        with pytest.raises(
            statetrail.StorageError, match="nothing was recorded"
        ) as info:
            v.set(1)
        assert isinstance(info.value.__cause__, OSError)
        assert v.get() == 0
        assert [r.value for r in v.history()] == [0]
        disk.full = False
        v.set(2)
        repo.close()
        with statetrail.open(path) as again:
            assert [r.value for r in again.watch("v").history()] == [0, 2]
        assert list(tmp_path.glob("*.tmp")) == []


class TestJsonFileBackend(BackendContract):
    def make_backend(self) -> Iterator[Backend]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            backend = JsonFileBackend(pathlib.Path(tmp) / "b.json")
            yield backend
            backend.close()


class TestOpen:
    def test_targets_choose_backends(self, tmp_path: pathlib.Path) -> None:
        """:memory:, a .json path and any other path pick their backends."""
        with statetrail.open(":memory:") as repo:
            assert repo.backend.kind == "memory"
        with statetrail.open(tmp_path / "x.json") as repo:
            assert repo.backend.kind == "json"

    def test_bad_options(self) -> None:
        """Unknown durability modes and checkpoint intervals are refused."""
        with pytest.raises(ValueError, match="durability"):
            statetrail.open(":memory:", durability="sometimes")
        with pytest.raises(ValueError, match="checkpoint_every"):
            statetrail.open(":memory:", checkpoint_every=0)

    def test_a_closed_repository_refuses(self) -> None:
        """After close, opening timelines raises StorageError."""
        repo = statetrail.open(":memory:")
        repo.close()
        repo.close()
        with pytest.raises(statetrail.StorageError):
            repo.timeline("t", 0)


def plain_in_order(value: Any) -> Any:
    """Dicts as lists of pairs, recursively: equal only when in the same order."""
    value = statetrail.thaw(value)
    if isinstance(value, dict):
        return [(k, plain_in_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [plain_in_order(x) for x in value]
    return value


_ORDER_KEYS = [f"k{i}" for i in range(24)]

#: Store writes on a dict of 12 to 24 keys, as (op, key, other key, value).
_order_ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "set", "delete", "move", "nest", "replace"]),
        st.sampled_from(_ORDER_KEYS),
        st.sampled_from(_ORDER_KEYS),
        st.integers(0, 3),
    ),
    max_size=25,
)


def _store_writes(store: Any, ops: list[tuple[str, str, str, int]]) -> dict[str, Any]:
    """Run ``ops`` on ``store``'s "cfg" and on a plain dict; return the dict."""
    model: dict[str, Any] = {k: i for i, k in enumerate(reversed(_ORDER_KEYS[:12]))}
    for op, key, other, value in ops:
        if op == "set":
            assert store.set(f"cfg.{key}", value)
            model[key] = value
        elif op == "nest" and not isinstance(model.get(key, {}), int):
            assert store.set(f"cfg.{key}.{other}", value)
            model.setdefault(key, {})[other] = value
        elif op in ("delete", "move") and key in model:
            store.delete(f"cfg.{key}")
            old = model.pop(key)
            if op == "move":
                assert store.set(f"cfg.{key}", old)
                model[key] = old
        elif op == "replace":
            # The whole dict again, with one key moved to the front.
            model = {key: value, **{k: v for k, v in model.items() if k != key}}
            assert store.set("cfg", model)
    return model


class TestDictOrder:
    """Dicts keep their insertion order through every backend (issue 10, defect 1)."""

    @given(ops=_order_ops)
    @settings(max_examples=scaled(60), deadline=None)
    def test_every_revision_reads_back_in_order(
        self, ops: list[tuple[str, str, str, int]]
    ) -> None:
        """Sets, deletions, keys deleted and set again, nested dicts and whole
        dicts in a new order: each revision read cold, and the JSON Patch of its
        changes applied to a plain dict, is in the order a dict would have."""
        import jsonpatch

        backend = MemoryBackend()
        start = {k: i for i, k in enumerate(reversed(_ORDER_KEYS[:12]))}
        store = Repository(backend, checkpoint_every=5).store("s", {"cfg": start})
        model = _store_writes(store, ops)
        assert plain_in_order(store.get("cfg")) == plain_in_order(model)
        assert plain_in_order(store.get_state()) == plain_in_order({"cfg": model})
        cold = Repository(backend, checkpoint_every=5)
        previous: Any = None
        for rev in store.timeline.revisions():
            back = cold.value_at("s", rev.number)
            assert plain_in_order(back) == plain_in_order(rev.value)
            if previous is not None:
                patched = jsonpatch.apply_patch(
                    statetrail.thaw(previous), statetrail.to_json_patch(rev.changes)
                )
                assert plain_in_order(patched) == plain_in_order(rev.value)
            previous = rev.value

    @pytest.mark.parametrize("kind", ["memory", "json", "sqlite", "postgresql"])
    @given(ops=_order_ops)
    @settings(max_examples=scaled(12), deadline=None)
    def test_stores_and_vars_come_back_in_order(
        self, kind: str, ops: list[tuple[str, str, str, int]]
    ) -> None:
        """On memory, JSON file, SQLite and PostgreSQL: a store's state, a watched
        dict and every revision of each reopen in the order a dict would have,
        twenty keys and more."""
        import tempfile

        opened: list[Repository] = []
        with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as pgs:
            make = factory_of(kind, pathlib.Path(scratch), opened, pgs)
            try:
                repo = make()
                start = {k: i for i, k in enumerate(reversed(_ORDER_KEYS[:12]))}
                store = repo.store("s", {"cfg": start})
                model = _store_writes(store, ops)
                watched = {f"w{i}": i for i in range(20, 0, -1)}
                var = repo.watch("v", watched)
                var.set({**watched, "w5": "moved", "new": 1})
                expected = {
                    r.number: plain_in_order(r.value)
                    for r in store.timeline.revisions()
                }
                again = make()
                state = again.store("s").get_state()
                assert plain_in_order(state) == plain_in_order({"cfg": model})
                for number, value in expected.items():
                    assert plain_in_order(again.value_at("s", number)) == value
                assert list(again.watch("v").get()) == [*watched, "new"]
                assert list(again.value_at("v", 0)) == list(watched)
            finally:
                for each in opened:
                    each.close()

    def test_every_front_end_keeps_the_order(self) -> None:
        """Store, watch, the compat stores and variables, and ImmutableDict iterate
        a 20-key dict in the order given, also after a write (the defect as
        reported)."""
        from statetrail.compat import alma, roz_remembers
        from statetrail.immutable import ImmutableDict

        d = {f"key{i}": i for i in (7, 3, 19, 0, 12, 5, 18, 1, 9, 4)}
        d.update({f"z{i}": i for i in range(10)})
        order = list(d)
        assert list(statetrail.Store({"cfg": d}).get("cfg")) == order
        assert list(statetrail.Store({"cfg": d}).get_state()["cfg"]) == order
        assert list(statetrail.watch("order_x", d).get()) == order
        assert list(roz_remembers.Store({"cfg": d}).get_state()["cfg"]) == order
        assert list(alma.watch("order_y", d).get()) == order
        assert list(ImmutableDict(d)) == order
        with update(ImmutableDict(d)) as new:
            new["key3"] = -1
            del new["key7"]
            new["key7"] = 7
        assert list(new) == [k for k in order if k != "key7"] + ["key7"]

    def test_a_saved_store_file_keeps_the_order(self, tmp_path: pathlib.Path) -> None:
        """Store.save() writes the state's dicts in order, and load() reads them
        back in it."""
        d = {f"key{i}": i for i in (7, 3, 19, 0, 12, 5, 18, 1, 9, 4, 16, 2)}
        store = statetrail.Store({"cfg": d})
        store.set("cfg.new", 1)
        path = tmp_path / "state.json"
        store.save(path)
        assert list(json.loads(path.read_text())["cfg"]) == [*d, "new"]
        again = statetrail.Store({})
        again.load(path)
        assert list(again.get("cfg")) == [*d, "new"]

    def test_a_history_written_with_sorted_keys_still_verifies(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A JSON history written before dicts kept their order (its keys sorted,
        by the code of 2026-12-07) verifies: digests cover the stored bytes. It
        reads back as stored (sorted), takes new writes in insertion order, and a
        tampered byte is still caught."""
        source = pathlib.Path(__file__).parent / "data" / "history_sorted_keys.json"
        path = tmp_path / "old.json"
        path.write_bytes(source.read_bytes())
        repo = statetrail.open(path)
        assert repo.verify() == {"s": 5, "v": 2}
        state = repo.store("s").get_state()
        assert list(state["cfg"]) == sorted(state["cfg"])
        assert state["cfg"]["k3"] == "three"
        assert "k7" not in state["cfg"]
        assert repo.value_at("s", 1)["cfg"]["k3"] == "three"
        store = repo.store("s")
        assert store.set("cfg.a_new", 1)
        assert store.set("cfg", {"z": 1, **store.get("cfg")})
        repo.close()
        again = statetrail.open(path)
        assert again.verify() == {"s": 7, "v": 2}
        cfg = again.store("s").get("cfg")
        assert next(iter(cfg)) == "z"
        assert list(cfg)[-1] == "a_new"
        again.close()
        altered = source.read_bytes().replace(b'\\"k3\\":3,', b'\\"k3\\":4,')
        assert altered != source.read_bytes()
        path.write_bytes(altered)
        with pytest.raises(CorruptHistoryError):
            statetrail.open(path).verify()
