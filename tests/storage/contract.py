"""The backend contract, as tests: every backend's test module subclasses
:class:`BackendContract` and provides ``make_backend`` (eventsourcing's recorder
test cases, immutables' shared map tests)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator

import pytest

from statetrail.errors import ConflictError, RevisionNotFoundError, StorageError
from statetrail.storage.base import (
    Backend,
    Checkpoint,
    End,
    Fork,
    Heads,
    RangeTombstone,
    Row,
)


def row(
    number: int, *, timeline: str = "t", parent: int | None = -1, **fields: object
) -> Row:
    """A row with plausible content; ``parent`` defaults to ``number - 1``."""
    values: dict[str, object] = {
        "timeline": timeline,
        "number": number,
        "parent": (number - 1 if number else None) if parent == -1 else parent,
        "branch": "main",
        "time_ns": 1_700_000_000_000_000_000 + number,
        "kind": "initial" if number == 0 else "set",
        "target": None,
        "label": None,
        "author": None,
        "comment": None,
        "extra": None,
        "origin": '["app.py", 3, "main", "MainThread", null]',
        "payload": f'{{"value": {number}}}',
        "paths": ("/n",),
        "digest": f"d{number}",
        "chain": f"c{number}",
        "erased": None,
    }
    values.update(fields)
    return Row(**values)  # type: ignore[arg-type]


class BackendContract(ABC):
    """What every backend must do, whatever it stores in."""

    @abstractmethod
    def make_backend(self) -> Iterator[Backend]:
        """Yield a fresh, empty backend, and clean up after."""

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        yield from self.make_backend()

    def test_append_and_read_back(self, backend: Backend) -> None:
        """Rows come back equal, in number order, filtered by ``after``."""
        rows = [row(0), row(1, author="alice", comment="why", label="v1"), row(2)]
        backend.append(rows[:1])
        backend.append(rows[1:])
        assert backend.read("t") == rows
        assert backend.read("t", after=0) == rows[1:]
        assert backend.read("t", after=2) == []
        assert backend.read("t", after=0, upto=1) == rows[1:2]
        assert backend.read("t", upto=0) == rows[:1]
        assert backend.row("t", 1) == rows[1]
        assert backend.row("t", 9) is None
        assert backend.latest("t") == 2
        assert backend.latest("nothing") == -1

    def test_pages_read_the_same_rows(self, backend: Backend) -> None:
        """Reading page by page (after, upto), either way, gives every row once:
        the paged read the commands stream with (issue 11)."""
        rows = [row(n) for n in range(23)]
        backend.append(rows[:1])
        backend.append(rows[1:])
        forward = []
        for after in range(-1, 23, 5):
            forward += backend.read("t", after=after, upto=after + 5)
        assert forward == rows
        backward: list[Row] = []
        for upto in range(22, -1, -5):
            backward = backend.read("t", after=upto - 5, upto=upto) + backward
        assert backward == rows

    def test_forks(self, backend: Backend) -> None:
        """forks() lists the rows that do not continue the row before them: the
        first, a row whose parent is further back, a row on another branch than
        the row before (issue 11: where the cursor is, without every row)."""
        rows = [
            row(0),
            row(1),
            row(2),
            row(3, parent=1, branch="idea"),
            row(4, branch="idea"),
            row(5, parent=2),
            row(6),
            row(7, branch="other"),
        ]
        backend.append(rows[:1])
        backend.append(rows[1:])
        assert backend.forks("t") == [
            Fork(0, None, "main"),
            Fork(3, 1, "idea"),
            Fork(5, 2, "main"),
            Fork(7, 6, "other"),
        ]
        assert backend.forks("t", 3) == [Fork(5, 2, "main"), Fork(7, 6, "other")]
        assert backend.forks("t", 5) == [Fork(7, 6, "other")]
        assert backend.forks("t", 7) == []
        assert backend.forks("nothing") == []

    def test_every_field_round_trips(self, backend: Backend) -> None:
        """Unicode, None, large numbers and empty strings survive storage."""
        odd = row(
            0,
            timeline="ünïcode ☃",
            branch="feature/β",
            time_ns=2**62,
            label="",
            author="O'Brien",
            comment='quote " and newline\n and tab\t',
            extra='{"path": "a.b"}',
            origin=None,
            payload='{"value": "\\u0000 nul"}',
            paths=(),
            erased=None,
        )
        backend.append([odd])
        assert backend.read("ünïcode ☃") == [odd]

    def test_a_taken_number_is_a_conflict_and_stores_nothing(
        self, backend: Backend
    ) -> None:
        """Appending a number already stored raises ConflictError; a batch with one
        taken number stores none of its rows."""
        backend.append([row(0), row(1)])
        with pytest.raises(ConflictError):
            backend.append([row(1, author="someone else")])
        with pytest.raises(ConflictError):
            backend.append([row(2), row(1)])
        assert [r.number for r in backend.read("t")] == [0, 1]
        assert backend.row("t", 1) == row(1)

    def test_timelines_are_separate(self, backend: Backend) -> None:
        """The same numbers in two timelines do not collide."""
        backend.append([row(0, timeline="a")])
        backend.append([row(0, timeline="b")])
        assert backend.timelines() == ["a", "b"]
        assert backend.read("a") == [row(0, timeline="a")]

    def test_hostile_names_are_data(self, backend: Backend) -> None:
        """Names with quotes, SQL, NUL-free control characters and long shared
        prefixes are stored as data and stay distinct."""
        names = [
            "x'); DROP TABLE revisions; --",
            'a"b',
            "*?[",
            "a" * 63 + "1",
            "a" * 63 + "2",
            "tab\tnewline\n",
        ]
        for name in names:
            backend.append([row(0, timeline=name)])
        assert backend.timelines() == sorted(names)
        for name in names:
            assert backend.read(name) == [row(0, timeline=name)]

    def test_heads(self, backend: Backend) -> None:
        """The cursor and branch tips saved are what comes back."""
        assert backend.heads("t") is None
        backend.save_heads("t", Heads("main", 3, {"main": 5, "exp": 4}, "seal"))
        assert backend.heads("t") == Heads("main", 3, {"main": 5, "exp": 4}, "seal")
        backend.save_heads("t", Heads("exp", 4, {"main": 5, "exp": 4}))
        assert backend.heads("t") == Heads("exp", 4, {"main": 5, "exp": 4})

    def test_the_end_record_follows_appends(self, backend: Backend) -> None:
        """Each append moves the end record to its newest row; a refused append,
        an erase and saved heads leave it where it was."""
        assert backend.end("t") is None
        backend.append([row(0), row(1)])
        assert backend.end("t") == End(2, "c1")
        backend.append([row(2)], [Checkpoint(2, "{}", "h2")])
        assert backend.end("t") == End(3, "c2")
        with pytest.raises(ConflictError):
            backend.append([row(3), row(2)])
        backend.erase("t", 1, "{}")
        backend.save_heads("t", Heads("main", 1, {"main": 2}, "seal"))
        backend.flush()
        assert backend.end("t") == End(3, "c2")
        assert backend.end("other") is None

    def test_heads_appended_with_their_rows(self, backend: Backend) -> None:
        """Heads given to append are saved with the rows, seal included; a
        refused append saves none."""
        heads = Heads("main", 0, {"main": 0}, "s0")
        backend.append([row(0)], (), heads)
        backend.flush()
        assert backend.heads("t") == heads
        with pytest.raises(ConflictError):
            backend.append([row(0)], (), Heads("main", 0, {"main": 0}, "other"))
        backend.flush()
        assert backend.heads("t") == heads

    def test_checkpoints(self, backend: Backend) -> None:
        """Whole values kept by revision number, with their digests."""
        backend.append([row(0)])
        assert backend.checkpoint("t", 0) is None
        backend.put_checkpoint("t", 0, '{"n": 0}', "h0")
        backend.put_checkpoint("t", 64, '{"n": 64}', "h64")
        assert backend.checkpoint("t", 64) == ('{"n": 64}', "h64")
        assert backend.checkpoints("t") == [0, 64]
        assert backend.checkpoints("other") == []

    def test_checkpoint_below(self, backend: Backend) -> None:
        """The nearest checkpoint at or below a number, per timeline."""
        backend.append([row(n) for n in range(3)])
        assert backend.checkpoint_below("t", 1_000) is None
        backend.put_checkpoint("t", 0, '{"n": 0}', "h0")
        backend.put_checkpoint("t", 2, '{"n": 2}', "h2")
        backend.append([row(0, timeline="u")])
        backend.put_checkpoint("u", 0, '{"n": 0}', "u0")
        backend.put_checkpoint("t", 1, '{"n": 1}', "h1")
        assert [backend.checkpoint_below("t", n) for n in (0, 1, 2, 3, 2**62)] == [
            0,
            1,
            2,
            2,
            2,
        ]
        assert backend.checkpoint_below("other", 5) is None
        assert backend.checkpoint_below("u", 7) == 0

    def test_checkpoints_appended_with_their_rows(self, backend: Backend) -> None:
        """A checkpoint appended with its row is kept with it, and only with it:
        a refused append keeps neither, and a checkpoint without its row is an
        error that stores nothing."""
        backend.append([row(0), row(1)], [Checkpoint(1, '{"n": 1}', "h1")])
        assert backend.checkpoint("t", 1) == ('{"n": 1}', "h1")
        assert backend.checkpoints("t") == [1]
        backend.append([row(2)], [Checkpoint(2, '{"n": 2}', "h2")])
        assert backend.checkpoint("t", 2) == ('{"n": 2}', "h2")
        with pytest.raises(ConflictError):
            backend.append([row(2, digest="other")], [Checkpoint(2, "{}", "theirs")])
        with pytest.raises(ValueError, match="without its row"):
            backend.append([row(3)], [Checkpoint(4, "{}", "h4")])
        with pytest.raises(ValueError, match="with its row"):
            backend.append([], [Checkpoint(5, "{}", "h5")])
        backend.flush()
        assert backend.checkpoint("t", 2) == ('{"n": 2}', "h2")
        assert backend.checkpoints("t") == [1, 2]
        assert [r.number for r in backend.read("t")] == [0, 1, 2]

    def test_erase_keeps_the_tombstone_and_the_chain(self, backend: Backend) -> None:
        """Erasing drops the payload only; digest and chain stay."""
        backend.append([row(0), row(1)])
        backend.erase("t", 1, '{"by": "dpo", "why": "request"}')
        erased = backend.row("t", 1)
        assert erased is not None
        assert erased.payload is None
        assert erased.erased == '{"by": "dpo", "why": "request"}'
        assert (erased.digest, erased.chain) == ("d1", "c1")
        with pytest.raises(RevisionNotFoundError):
            backend.erase("t", 7, "{}")

    def test_data_version_moves_with_appends_and_erasures(
        self, backend: Backend
    ) -> None:
        """A backend with the signal moves it on each append and erasure, and
        only then; one without it says ``None`` every time."""
        first = backend.data_version()
        if first is None:
            backend.append([row(0)])
            assert backend.data_version() is None
            return
        assert backend.data_version() == first
        seen = [first]
        for write in (
            lambda: backend.append([row(0), row(1)]),
            lambda: backend.append([row(2)]),
            lambda: backend.erase("t", 1, "{}"),
        ):
            write()
            backend.flush()
            seen.append(backend.data_version())
            assert backend.data_version() == seen[-1], "it moves only on a write"
        assert len(set(seen)) == len(seen), seen

    def test_concurrent_appends_never_duplicate(self, backend: Backend) -> None:
        """Threads racing for the same numbers: each number is stored once, every
        append either succeeds or raises ConflictError."""
        backend.append([row(0)])
        outcomes: list[str] = []

        def writer(tid: int) -> None:
            for n in range(1, 41):
                try:
                    backend.append([row(n, author=f"w{tid}")])
                    outcomes.append("ok")
                except ConflictError:
                    outcomes.append("conflict")

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        numbers = [r.number for r in backend.read("t")]
        assert numbers == list(range(41))
        assert outcomes.count("ok") == 40
        assert len(outcomes) == 160

    def test_trims_store_tombstones_and_remove_rows_in_batches(
        self, backend: Backend
    ) -> None:
        """put_trim keeps a tombstone (one with the same first replaces it),
        its checkpoints and heads in one go; delete_trimmed removes at most
        ``limit`` of the oldest rows, never one no tombstone covers, and their
        checkpoints with them; crossing lists the rows whose parent is below."""
        backend.append([row(n) for n in range(10)] + [row(10, parent=2)])
        backend.put_checkpoint("t", 1, "1", "d")
        assert backend.trims("t") == []
        assert backend.delete_trimmed("t", 5, 100) == 0  # no tombstone: nothing
        assert backend.crossing("t", 4) == [4, 10]
        first = RangeTombstone(0, 3, 1, "r", None, "c3", '{"4": "k"}', "s1")
        heads = Heads("main", 9, {"main": 9}, "seal")
        backend.put_trim("t", first, None, [Checkpoint(4, "4", "k")], heads)
        assert backend.trims("t") == [first]
        assert backend.checkpoint("t", 4) == ("4", "k")
        assert backend.heads("t") == heads
        assert backend.delete_trimmed("t", 9, 2) == 2  # capped at 3, 2 at a time
        assert [r.number for r in backend.read("t")][:2] == [2, 3]
        assert backend.checkpoint("t", 1) is None
        assert backend.delete_trimmed("t", 9, 2) == 2
        assert backend.delete_trimmed("t", 9, 2) == 0
        assert backend.read("t")[0].number == 4
        extended = first._replace(last=5, seal="s2")
        with pytest.raises(ConflictError):
            backend.put_trim("t", extended, "not the newest")
        backend.put_trim("t", extended, "s1")
        second = RangeTombstone(6, 7, 2, "q", "ops", "c7", "{}", "s3")
        backend.put_trim("t", second, "s2")
        assert backend.trims("t") == [extended, second]
        with pytest.raises(ConflictError):
            backend.put_trim("t", second, None)
        assert backend.delete_trimmed("t", 100, 100) == 4
        assert [r.number for r in backend.read("t")] == [8, 9, 10]

    # -- the path and time indexes (issue 11) ---------------------------------------

    #: Each row's changed paths: exact, under, above, a sibling sharing a prefix
    #: ("/ab", "/a/b0": "0" sorts right after "/"), escaped keys, none at all.
    INDEXED = (
        ("",),
        ("/a/b",),
        ("/a/c",),
        ("/a",),
        ("/ab",),
        ("/a~1b",),
        ("/a/b/c", "/x"),
        ("/a/b0",),
        (),
        ("/\u00e9/~0",),
        ("/a.b",),
    )

    def _indexed(self, backend: Backend) -> None:
        backend.append([row(n, paths=p) for n, p in enumerate(self.INDEXED)])

    def test_touching_the_path_under_it_and_above_it(self, backend: Backend) -> None:
        """touching() lists, newest first, the revisions that changed the path,
        something under it or an ancestor, and nothing that merely shares a
        prefix of its text."""
        self._indexed(backend)
        assert backend.touching("t", "/a/b") == [6, 3, 1, 0]
        assert backend.touching("t", "/a") == [7, 6, 3, 2, 1, 0]
        assert backend.touching("t", "/a/b/c") == [6, 3, 1, 0]
        assert backend.touching("t", "/a/b/c/d") == [6, 3, 1, 0]
        assert backend.touching("t", "/a~1b") == [5, 0]
        assert backend.touching("t", "/ab") == [4, 0]
        assert backend.touching("t", "/a.b") == [10, 0]
        assert backend.touching("t", "/\u00e9") == [9, 0]
        assert backend.touching("t", "/\u00e9/~0") == [9, 0]
        assert backend.touching("t", "/x") == [6, 0]
        assert backend.touching("t", "/nowhere") == [0]
        assert backend.touching("t", "") == [10, 9, 7, 6, 5, 4, 3, 2, 1, 0]
        assert backend.touching("other", "/a") == []

    def test_touching_pages_with_before_and_limit(self, backend: Backend) -> None:
        """``before`` and ``limit`` page through the answer, newest first."""
        self._indexed(backend)
        assert backend.touching("t", "/a", limit=2) == [7, 6]
        assert backend.touching("t", "/a", before=6, limit=2) == [3, 2]
        assert backend.touching("t", "/a", before=2) == [1, 0]
        assert backend.touching("t", "/a", before=0) == []
        assert backend.touching("t", "/a", limit=0) == []
        with pytest.raises(ValueError, match="JSON Pointer"):
            backend.touching("t", "a/b")
        with pytest.raises(ValueError, match="negative"):
            backend.touching("t", "/a", limit=-1)

    def test_touching_counts_a_revision_once_towards_the_limit(
        self, backend: Backend
    ) -> None:
        """A revision that changed several paths under (or above) the one asked
        for is one of ``limit``: a page never comes back short while more
        revisions match, since a short page reads as the end."""
        paths = [("",), ("/a/b",), ("/a/b", "/a/c", "/a/d"), ("/a/c", "/a/d")]
        backend.append([row(n, paths=p) for n, p in enumerate(paths)])
        assert backend.touching("t", "/a", limit=2) == [3, 2]
        assert backend.touching("t", "/a", limit=3) == [3, 2, 1]
        assert backend.touching("t", "", limit=3) == [3, 2, 1]
        assert backend.touching("t", "/a/b", before=3, limit=2) == [2, 1]

    def test_the_index_follows_erasure_and_trims(self, backend: Backend) -> None:
        """An erased revision keeps its entries (its paths are kept); trimmed
        rows take theirs with them."""
        self._indexed(backend)
        backend.erase("t", 1, '{"by": "dpo"}')
        assert backend.touching("t", "/a/b") == [6, 3, 1, 0]
        tomb = RangeTombstone(0, 3, 1, "r", None, "c3", "{}", "s1")
        backend.put_trim("t", tomb, None)
        assert backend.delete_trimmed("t", 3, 100) == 4
        assert backend.touching("t", "/a/b") == [6]
        assert backend.touching("t", "") == [10, 9, 7, 6, 5, 4]
        assert backend.index_problems("t") == []

    def test_the_index_of_a_branching_history(self, backend: Backend) -> None:
        """Every branch's revisions are listed: the caller keeps its line's."""
        backend.append([row(0, paths=("",)), row(1, paths=("/a",))])
        backend.append([row(2, parent=0, branch="b", paths=("/a",))])
        assert backend.touching("t", "/a") == [2, 1, 0]
        assert backend.index_problems("t") == []

    def test_touching_a_key_holding_nul(self, backend: Backend) -> None:
        """A key with U+0000 (which SQLite's JSON functions cut short) is
        indexed whole: it neither hides nor stands for the key before the NUL."""
        backend.append(
            [
                row(0, paths=("",)),
                row(1, paths=("/k\x00ey",)),
                row(2, paths=("/k\x00ey/x", "/q")),
                row(3, paths=("/k",)),
            ]
        )
        assert backend.touching("t", "/k\x00ey") == [2, 1, 0]
        assert backend.touching("t", "/k") == [3, 0]
        assert backend.touching("t", "/q", limit=1) == [2]
        assert backend.touching("t", "/k\x00ey", before=2, limit=1) == [1]
        assert backend.index_problems("t") == []

    def test_rows_by_number_and_line_breaks(self, backend: Backend) -> None:
        """rows() reads scattered rows (missing ones left out); line_breaks()
        lists the rows whose parent is not the row below."""
        backend.append([row(n) for n in range(5)])
        backend.append([row(5, parent=2, branch="b"), row(6, branch="b")])
        got = backend.rows("t", [6, 0, 3, 3, 9])
        assert [r.number for r in got] == [0, 3, 6]
        assert got[1] == backend.row("t", 3)
        assert backend.rows("t", []) == []
        assert backend.chains("t", [6, 1, 9]) == {1: "c1", 6: "c6"}
        assert backend.line_breaks("t") == [(0, None), (5, 2)]
        assert backend.line_breaks("t", after=0) == [(5, 2)]

    def test_number_at(self, backend: Backend) -> None:
        """number_at(): the revision whose recorded time is the latest at or
        before the time given (the highest number among equal times)."""
        base = 1_700_000_000_000_000_000
        backend.append([row(n) for n in range(3)])  # times base + n
        backend.append([row(3, time_ns=base + 1)])  # a clock set back
        assert backend.number_at("t", base - 1) is None
        assert backend.number_at("t", base) == 0
        assert backend.number_at("t", base + 1) == 3
        assert backend.number_at("t", base + 2) == 2
        assert backend.number_at("t", base + 10**12) == 2
        assert backend.number_at("other", base) is None

    def test_closed_backends_refuse(self, backend: Backend) -> None:
        """After close, every method raises StorageError."""
        backend.close()
        with pytest.raises(StorageError):
            backend.read("t")
