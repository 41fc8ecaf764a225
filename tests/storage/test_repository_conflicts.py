"""Several writers on one stored timeline: one rule for every front end.

Issue 9, defect 10. A write is *stale* when another process (here: another
repository on the same storage, which is what another process is to storage)
appended to the timeline since this one last saw it. Then:

- a path write (``Store.set``, ``Store.delete``, ``SET_STATE``, ``set_in`` and
  ``delete_in`` of a Var or a Timeline) takes the newer revisions in and applies
  itself on top: the last writer wins on its path, both revisions are kept;
- a whole-value write (``Var.set``, ``Timeline.set``, ``Store.load``), ``update``,
  ``edit``, a transaction and a reducer raise ``ConflictError``, recording
  nothing; the message names the revision that won and says to retry.

A write whose number was taken on another branch is not stale: it takes the next
number. The last tests race real processes on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import statetrail
from statetrail import ConflictError
from statetrail.repository import Repository
from statetrail.revision import Revision
from statetrail.storage._journal import StoreJournal
from statetrail.storage.memory import MemoryBackend
from statetrail.store import AsyncStore
from statetrail.timeline import REBASE_LIMIT, Handle, Timeline
from tests.conftest import scaled
from tests.reliability import record
from tests.storage.pg import fresh_schema
from tests.storage.test_repository import factory_of

ROOT = pathlib.Path(__file__).resolve().parents[2]
STALE = r"revision 1 \(by winner\) was recorded by another process after revision 0"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[Callable[[], Repository]]:
    """Repositories on one storage, each standing for a process of its own."""
    opened: list[Repository] = []
    with contextlib.ExitStack() as schemas:
        yield factory_of(request.param, tmp_path, opened, schemas)
        for repo in opened:
            repo.close()


def won(repo: Repository, name: str, path: str = "x") -> None:
    """Another process writes revision 1 of store ``name``, as ``winner``."""
    with statetrail.context(author="winner"):
        assert repo.store(name).set(path, "theirs")


class TestPathWritesRebase:
    def test_a_stale_store_set_lands_on_the_newer_state(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Store.set on another path keeps the newcomer's change; both revisions
        are in the history, in order."""
        mine = shared().store("s", {"x": 0, "y": 0})
        won(shared(), "s")
        assert mine.set("y", "mine") is True
        assert mine.get_state() == {"x": "theirs", "y": "mine"}
        assert [(r.number, r.parent, r.author) for r in mine.history()] == [
            (0, None, None),
            (1, 0, "winner"),
            (2, 1, None),
        ]
        assert shared().store("s").get_state() == {"x": "theirs", "y": "mine"}

    def test_on_the_same_path_the_last_writer_wins(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Both wrote x: the stale writer's value is the newest, the newcomer's
        stays readable at its revision."""
        mine = shared().store("s", {"x": 0})
        won(shared(), "s")
        assert mine.set("x", "mine") is True
        assert mine.get("x") == "mine"
        assert mine.at(1) == {"x": "theirs"}
        assert mine.blame("x").number == 2  # type: ignore[union-attr]

    def test_a_stale_delete_lands_on_the_newer_state(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Store.delete re-applies itself too."""
        mine = shared().store("s", {"x": 0, "y": 0})
        won(shared(), "s")
        assert mine.delete("y") is True
        assert mine.get_state() == {"x": "theirs"}
        assert mine.head.number == 2

    def test_var_and_timeline_path_writes(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Var.set_in, Var.delete_in, Timeline.set_in and delete_in re-apply."""
        mine = shared().watch("v", {"a": 0, "b": 0, "c": 0})
        other = shared().watch("v")
        other.set_in("a", 1)
        mine.set_in("b", 2)
        other.set_in("a", 3)
        mine.delete_in("c")
        assert mine.get() == {"a": 3, "b": 2}
        timeline = mine.timeline
        other.set_in("a", 4)
        timeline.set_in(("b",), 5)
        other.set_in("a", 6)
        timeline.delete_in("b")
        assert timeline.value == {"a": 6}
        assert [r.number for r in timeline.history()] == list(range(9))

    @pytest.mark.asyncio
    async def test_set_state_actions_land_on_the_newer_state(
        self, shared: Callable[[], Repository]
    ) -> None:
        """An AsyncStore's SET_STATE is a path write."""
        mine = shared().async_store("s", {"x": 0, "y": 0})
        won(shared(), "s")
        mine.start_processing()
        rev = await mine.dispatch_and_wait(
            {"type": "SET_STATE", "path": "y", "value": "mine"}
        )
        await mine.stop_processing()
        assert rev is not None
        assert rev.number == 2
        assert mine.get_current_state() == {"x": "theirs", "y": "mine"}


class TestWholeValueWritesRaise:
    def test_var_set(self, shared: Callable[[], Repository]) -> None:
        """A stale Var.set raises ConflictError naming the winner; nothing is
        recorded, the newcomer is taken in, and the retry appends after it."""
        mine = shared().watch("v", 0)
        with statetrail.context(author="winner"):
            shared().watch("v").set(1)
        with pytest.raises(ConflictError, match=STALE + r".*retry") as caught:
            mine.set(2)
        assert caught.value.winner == 1
        assert mine.get() == 1
        assert [r.value for r in mine.history()] == [0, 1]
        mine.set(2)
        assert [r.value for r in shared().watch("v").history()] == [0, 1, 2]

    def test_update_edit_set_and_a_root_set_in(
        self, shared: Callable[[], Repository]
    ) -> None:
        """Var.update, Timeline.set, Timeline.edit, set_in at the root and
        Var.set_async each raise, and record nothing."""
        mine = shared().watch("v", {"n": 0})
        other = shared().watch("v")
        writes: list[Callable[[], object]] = [
            lambda: mine.update(lambda v: {"n": v["n"] + 1}),
            lambda: mine.timeline.set({"n": -1}),
            lambda: mine.timeline.set_in((), {"n": -1}),
            lambda: mine.timeline.update(lambda v: {"n": -1}),
        ]
        for n, write in enumerate(writes, start=1):
            other.set({"n": n * 10})
            with pytest.raises(ConflictError, match="retry") as caught:
                write()
            assert caught.value.winner == mine.timeline.head.number
            assert mine.get() == {"n": n * 10}
        other.set({"n": 99})
        with pytest.raises(ConflictError, match="retry"), mine.edit() as draft:
            draft["n"] = -1
        assert mine.get() == {"n": 99}
        assert len(mine.history()) == len(writes) + 2

    @pytest.mark.asyncio
    async def test_set_async(self, shared: Callable[[], Repository]) -> None:
        """Var.set_async is a whole-value set."""
        mine = shared().watch("v", 0)
        shared().watch("v").set(1)
        with pytest.raises(ConflictError, match="retry"):
            await mine.set_async(2)

    def test_store_transaction_and_load(
        self, shared: Callable[[], Repository], tmp_path: pathlib.Path
    ) -> None:
        """A transaction and Store.load raise; the store holds the newcomer's
        state and nothing of the refused write."""
        mine = shared().store("s", {"x": 0, "y": 0})
        won(shared(), "s")
        with pytest.raises(ConflictError, match=STALE), mine.transaction():
            mine.set("y", 1)
        assert mine.get_state() == {"x": "theirs", "y": 0}
        won(shared(), "s", "y")
        saved = tmp_path / "state.json"
        saved.write_text(json.dumps({"x": "loaded"}))
        with pytest.raises(ConflictError, match="retry"):
            mine.load(saved)
        assert mine.get_state() == {"x": "theirs", "y": "theirs"}
        assert len(mine.history()) == 3

    @pytest.mark.asyncio
    async def test_a_reducer_raises(self, shared: Callable[[], Repository]) -> None:
        """A reducer's action is a transaction: dispatch_and_wait raises."""
        mine: AsyncStore = shared().async_store("s", {"x": 0})
        mine.reducer("BUMP", lambda tx, action: tx.set("x", 1))
        won(shared(), "s")
        mine.start_processing()
        with pytest.raises(ConflictError, match=STALE):
            await mine.dispatch_and_wait({"type": "BUMP"})
        await mine.stop_processing()
        assert mine.get("x") == "theirs"


class TestNotStale:
    def test_a_number_taken_on_another_branch_is_not_a_conflict(
        self, shared: Callable[[], Repository]
    ) -> None:
        """The other process wrote on a branch of its own: this write still stands
        on the newest state of its branch, so it takes the next number."""
        mine = shared().timeline("t", 0)
        other = shared().timeline("t")
        other.branch("experiment")
        other.set(1)
        rev = mine.set(2)
        assert (rev.number, rev.parent, rev.branch) == (2, 0, "main")
        assert mine.branches() == {"main": 2, "experiment": 1}

    def test_in_one_process_blind_writes_still_succeed(self) -> None:
        """Threads of one process share the timeline: a whole-value write that
        another thread's write overtook is recorded after it, as before."""
        with statetrail.open(":memory:") as repo:
            store = repo.store("s", {"x": 0})
            timeline = store.timeline
            head = timeline.head.number
            store.set("x", 1)
            with pytest.raises(ConflictError, match="expected revision"):
                timeline.set({"x": 2}, expect=head)
            assert store.get("x") == 1


class _Overtaken(StoreJournal):
    """A journal whose every append is overtaken: just before it, another
    process (``rival``) writes to the same timeline."""

    rival: Timeline[Any]

    def record(self, timeline: Handle, revision: Revision) -> None:
        if revision.number > 0:
            self.rival.sync()
            self.rival.set_in("rival", revision.number)
        super().record(timeline, revision)


class _Forgetful(StoreJournal):
    """A journal that reports conflicts but takes nothing in."""

    def refresh(self, timeline: Handle) -> None:
        pass


class TestLimits:
    def test_a_path_write_gives_up_after_rebase_limit_lost_races(self) -> None:
        """When other processes win every time, a path write tries REBASE_LIMIT
        times, then raises their ConflictError; nothing of it is recorded."""
        backend = MemoryBackend()
        journal = _Overtaken(backend, "t")
        mine = Timeline({"x": 0}, name="t", journal=journal)
        journal.rival = Repository(backend).timeline("t")
        with pytest.raises(ConflictError, match="retry") as caught:
            mine.set_in("x", 1)
        assert caught.value.winner == REBASE_LIMIT
        assert mine.value == {"x": 0, "rival": REBASE_LIMIT}
        assert len(mine.history()) == REBASE_LIMIT + 1

    def test_a_conflict_that_brings_nothing_new_is_raised(self) -> None:
        """A journal that reports a conflict but takes in no revision: the
        write raises its error instead of retrying without end."""
        backend = MemoryBackend()
        mine = Timeline(0, name="t", journal=_Forgetful(backend, "t"))
        Repository(backend).timeline("t").set(1)
        with pytest.raises(ConflictError, match="already stored") as caught:
            mine.set(2)
        assert caught.value.winner is None
        assert mine.value == 0


WRITER = r"""
import collections, json, sys
import statetrail
from statetrail import ConflictError

target, tag, count, broken = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
options = json.loads(sys.argv[5])

if broken == "broken":
    # The teeth check: a stale path write that puts back the whole state it worked
    # out before (on the state it last saw), over the newcomer's.
    from statetrail._store_core import StoreBase

    def _apply(self, change, extra, label, author, comment, origin, depth,
               with_changes=None, *, rebase=False):
        timeline = self._timeline
        new = change(timeline.value)
        while True:
            try:
                return timeline.set(new, extra=extra)
            except ConflictError:
                pass

    StoreBase._apply = _apply

repo = statetrail.open(target, **options)
store = repo.store("s")
var = repo.watch("v")
print("ready", flush=True)
sys.stdin.readline()  # go: every process starts together
exceptions = collections.Counter()
set_false = rebased = 0
var_commits, var_attempts, messages = [], 0, set()
for i in range(count):
    try:
        for path, value in ((f"{tag}.n", i), ("last", [tag, i])):
            before = store.head.number
            if not store.set(path, value):
                set_false += 1
            rebased += store.head.number != before + 1  # applied on a newcomer
    except Exception as exc:
        exceptions[type(exc).__name__] += 1
    var_attempts += 1
    try:
        with statetrail.context(author=tag):
            var_commits.append(var.set([tag, i]).last_change().number)
    except ConflictError as exc:
        messages.add("retry" in str(exc) and exc.winner is not None)
        exceptions["var ConflictError"] += 1
    except Exception as exc:
        exceptions["var " + type(exc).__name__] += 1
repo.close()
print(json.dumps({"tag": tag, "exceptions": exceptions, "set_false": set_false,
                  "rebased": rebased,
                  "var_commits": var_commits, "var_attempts": var_attempts,
                  "messages": sorted(messages)}))
"""


def race(
    target: str,
    processes: int,
    per_process: int,
    *,
    broken: bool = False,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Processes each setting its own path and a shared one of one stored Store,
    and setting one shared Var; what storage holds afterwards."""
    with statetrail.open(target, **(options or {})) as repo:
        repo.store("s", {})
        repo.watch("v", None)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                target,
                f"p{i}",
                str(per_process),
                "broken" if broken else "sound",
                json.dumps(options or {}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for i in range(processes)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    reports = []
    for writer in writers:
        out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0
        reports.append(json.loads(out.strip().splitlines()[-1]))
    with statetrail.open(target, **(options or {})) as repo:
        store = repo.store("s")
        history = store.history()
        state = store.get_state()
        var_revisions = {r.number: r for r in repo.watch("v").history()}
        repo.verify()
    store_exceptions = {
        name: n
        for report in reports
        for name, n in report["exceptions"].items()
        if not name.startswith("var ")
    }
    seen: dict[str, set[int]] = {}
    # A process's path set back to an older value of it, or gone: overwritten.
    went_back = 0
    before: dict[str, int] = {}
    for rev in history[1:]:
        now = {k: v["n"] for k, v in rev.value.items() if k != "last"}
        went_back += sum(k not in now or now[k] < n for k, n in before.items())
        for key, n in now.items():
            seen.setdefault(key, set()).add(n)
        before = now
    var_conflicts = sum(r["exceptions"].get("var ConflictError", 0) for r in reports)
    var_commits = sum(len(r["var_commits"]) for r in reports)
    return {
        "processes": processes,
        "store_writes": 2 * processes * per_process,
        "store_revisions": len(history) - 1,
        "store_exceptions": store_exceptions,
        "store_refused": sum(r["set_false"] for r in reports),
        "store_rebased": sum(r["rebased"] for r in reports),
        "paths_lost": sum(
            per_process - len(seen.get(r["tag"], set())) for r in reports
        ),
        "overwritten": went_back,
        "final_values_lost": sum(
            state.get(r["tag"], {}).get("n") != per_process - 1 for r in reports
        ),
        "var_attempts": sum(r["var_attempts"] for r in reports),
        "var_commits": var_commits,
        "var_conflicts": var_conflicts,
        "var_messages_ok": all(m == [True] for r in reports if (m := r["messages"])),
        "var_commits_missing": sum(
            1
            for r in reports
            for n in r["var_commits"]
            if n not in var_revisions or var_revisions[n].author != r["tag"]
        ),
        "var_stored": len(var_revisions) - 1,
    }


def check(figures: dict[str, Any]) -> list[str]:
    """What the checker finds wrong (empty when the rule held)."""
    wrong = []
    if figures["store_exceptions"] or figures["store_refused"]:
        wrong.append("a path write raised or was refused")
    if figures["store_revisions"] != figures["store_writes"]:
        wrong.append("store revisions != path writes")
    if figures["paths_lost"] or figures["overwritten"] or figures["final_values_lost"]:
        wrong.append("a path write of one process was lost")
    if figures["var_attempts"] != figures["var_commits"] + figures["var_conflicts"]:
        wrong.append("a Var.set was neither committed nor a ConflictError")
    if not figures["var_messages_ok"]:
        wrong.append("a ConflictError did not name the winner and say to retry")
    if (
        figures["var_commits_missing"]
        or figures["var_stored"] != figures["var_commits"]
    ):
        wrong.append("Var revisions stored != Var.set commits")
    return wrong


def test_processes_on_one_sqlite_file(tmp_path: pathlib.Path) -> None:
    """3 processes on one SQLite file: every path write is kept (those another
    process overtook are applied on its state), and stale Var.sets raise."""
    figures = race(str(tmp_path / "s.db"), 3, scaled(150))
    record("C7-rule-sqlite", **figures)
    assert check(figures) == []
    assert figures["store_rebased"] + figures["var_conflicts"] > 0, "no race"


def test_processes_on_one_postgresql_schema() -> None:
    """The same on PostgreSQL."""
    with fresh_schema() as schema:
        figures = race(schema.url, 3, scaled(60), options={"schema": schema.name})
    record("C7-rule-postgresql", **figures)
    assert check(figures) == []
    assert figures["store_rebased"] + figures["var_conflicts"] > 0, "no race"


def test_teeth_a_stale_path_write_that_overwrites(tmp_path: pathlib.Path) -> None:
    """Teeth: path writes that put back the state they saw, over a newcomer's,
    lose other processes' writes, and the same checks say so."""
    figures = race(str(tmp_path / "s.db"), 4, 200, broken=True)
    record("C7-rule-teeth", **figures)
    assert "a path write of one process was lost" in check(figures)
