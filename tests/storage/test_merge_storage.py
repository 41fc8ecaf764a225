"""Merges in storage: recorded by every backend (memory, JSON, SQLite,
PostgreSQL), read back equal after reopening, verified by the hash chain, and
a forged second parent found."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from statetrail import (
    ConflictError,
    CorruptHistoryError,
    RevisionNotFoundError,
    Timeline,
)
from statetrail.repository import Repository
from statetrail.storage._stream import decode_entry, encode_entry
from statetrail.storage.revision_json import from_row
from tests.storage.pg import fresh_schema
from tests.storage.tamper import JsonRaw, PostgresRaw, Raw, SqliteRaw
from tests.storage.test_repository import make, shared

__all__ = ["make", "shared"]  # the fixtures: factories of repositories per backend


def _merged(repo: Repository) -> Timeline[Any]:
    """A stored timeline with two branches merged: revision 4 has parents 3, 2."""
    t = repo.timeline("job", {"bins": 10, "sorted": 0, "log": ["start"]})
    t.branch("sorter")
    t.set_in("sorted", 1, author="bob")
    t.set_in("log", ["start", "sorted"], author="bob")
    t.switch("main")
    t.set_in("bins", 9, author="ann")
    merged = t.merge("sorter", author="cy", comment="sorted in", label="m")
    assert merged.number == 4
    return t


def _seen(t: Timeline[Any]) -> list[tuple[Any, ...]]:
    return [
        (r.number, r.parents, r.kind, r.branch, r.author, r.comment, r.label, r.value)
        for r in t.revisions()
    ]


class TestRoundTrip:
    def test_a_merge_reads_back_equal(self, make: Callable[[], Repository]) -> None:
        """Both parents, kind, metadata and value survive a reopen; the log walks
        both sides; blame follows the side; verify passes."""
        t = _merged(make())
        before = _seen(t)
        again = make().timeline("job")
        assert _seen(again) == before
        assert again.revision(4).parents == (3, 2)
        assert [r.number for r in again.log()] == [0, 1, 2, 3, 4]
        blamed = again.blame("log")
        assert blamed is not None
        assert blamed.number == 2
        assert make().verify("job") == {"job": 5}

    def test_merging_again_after_reopening(
        self, make: Callable[[], Repository]
    ) -> None:
        """The common ancestor is found from what storage holds."""
        _merged(make())
        t = make().timeline("job")
        t.switch("sorter")
        t.set_in("log", ["start", "sorted", "again"])
        t.switch("main")
        t.set_in("bins", 8)
        merged = t.merge("sorter")
        assert merged.parents == (6, 5)
        assert make().timeline("job").value == {
            "bins": 8,
            "sorted": 1,
            "log": ["start", "sorted", "again"],
        }
        assert make().verify("job") == {"job": 8}

    def test_rows_carry_the_second_parent(self, make: Callable[[], Repository]) -> None:
        """The stored row keeps it in ``target`` (covered by the row's digest),
        and the revision JSON and a stream entry list both parents."""
        repo = make()
        _merged(repo)
        row = repo.backend.row("job", 4)
        assert row is not None
        assert (row.kind, row.parent, row.target) == ("merge", 3, 2)
        assert from_row(row)["parents"] == [3, 2]
        entry = encode_entry(row)
        assert orjson.loads(entry["row"])["parents"] == [3, 2]
        assert decode_entry("4-1", entry) == row


class TestOtherProcesses:
    def test_another_process_takes_the_merge_in(
        self, shared: Callable[[], Repository]
    ) -> None:
        """A second repository on the same storage sees the merge with both
        parents, and its own next merge starts from it."""
        first, second = shared(), shared()
        t = _merged(first)
        other = second.timeline("job")
        assert other.revision(4).parents == (3, 2)
        assert other.value == t.value
        other.switch("sorter")
        other.set_in("sorted", 2)
        t.sync()
        t.switch("sorter")
        t.switch("main")
        merged = t.merge("sorter")
        assert merged.parents == (4, 5)
        assert t.value["sorted"] == 2

    def test_a_merge_refused_by_a_newer_write_records_nothing(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Another process wrote to the branch first: the merge raises
        ConflictError (retry), and nothing of it is stored."""
        first, second = shared(), shared()
        t = _merged(first)
        t.switch("sorter")
        t.set_in("log", ["again"])
        t.switch("main")
        second.timeline("job").set_in("bins", 1)
        with pytest.raises(ConflictError):
            t.merge("sorter")
        assert [r.kind for r in shared().timeline("job").revisions()][-1] == "set"
        assert shared().verify("job") == {"job": 7}


class TestRetention:
    def test_a_trimmed_common_ancestor_is_an_error(self) -> None:
        """With the common ancestor trimmed away, a merge refuses clearly."""
        t: Timeline[Any] = Timeline({"a": 0})
        t.branch("b")
        t.set_in("a", 1)
        t.switch("main")
        for i in range(5):
            t.set_in("c", i)
        t.trim(keep_last=3)
        with pytest.raises(RevisionNotFoundError, match="no common ancestor"):
            t.merge("b")


@contextlib.contextmanager
def _site(kind: str, tmp_path: pathlib.Path) -> Iterator[tuple[Any, Callable[[], Raw]]]:
    """A history with a merge in one backend, and its raw tables."""
    import statetrail

    if kind == "postgresql":
        with fresh_schema() as schema:
            options = {"schema": schema.name}
            with statetrail.open(schema.url, **options) as repo:
                _merged(repo)
            yield (
                lambda: statetrail.open(schema.url, **options),
                lambda: PostgresRaw(schema.url, schema.name),
            )
        return
    path = tmp_path / ("h.db" if kind == "sqlite" else "h.json")
    with statetrail.open(path) as repo:
        _merged(repo)
    raw = SqliteRaw if kind == "sqlite" else JsonRaw
    yield (lambda: statetrail.open(path), lambda: raw(str(path)))


class TestTamper:
    @pytest.mark.parametrize("kind", ["sqlite", "json", "postgresql"])
    @pytest.mark.parametrize("forged", [0, 1, None])
    def test_a_forged_second_parent_is_found(
        self, kind: str, forged: int | None, tmp_path: pathlib.Path
    ) -> None:
        """Pointing a merge at another revision (or at none) changes what the
        history says it merged; the row's digest covers it, so verify finds it
        at that revision."""
        with _site(kind, tmp_path) as (opened, raw):
            with opened() as repo:
                assert repo.verify() == {"job": 5}
            edit = raw()
            try:
                edit.set_row("job", 4, target=forged)
            finally:
                edit.close()  # type: ignore[attr-defined]
            with opened() as repo, pytest.raises(CorruptHistoryError) as caught:
                repo.verify()
            assert ("job", 4) in [(t, n) for t, n, _ in caught.value.problems]

    def test_the_forgery_matters(self, tmp_path: pathlib.Path) -> None:
        """Teeth: read without the checks, the forged row merges another revision
        (so a verify that skipped the digest would let a lie through)."""
        with _site("sqlite", tmp_path) as (opened, raw):
            edit = raw()
            try:
                edit.set_row("job", 4, target=1)
            finally:
                edit.close()  # type: ignore[attr-defined]
            with opened() as repo:
                rows = repo.backend.read("job")
            assert [r.target for r in rows if r.kind == "merge"] == [1]
