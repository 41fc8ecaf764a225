"""The inspector commands on a recorded history, and their one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

import statetrail
from statetrail.cli import inspect, main


@pytest.fixture(params=["job.json", "job.db"])
def history(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> pathlib.Path:
    """A history (JSON file, SQLite) with a store that changed a few times, and a
    branch."""
    path = tmp_path / request.param
    with statetrail.open(path) as repo:
        store = repo.store("job", {"job": {"bins": 10, "sorted": 0}})
        with statetrail.context(author="alice", comment="sorted one"):
            store.set("job.sorted", 1)
        with statetrail.context(author="bob", comment="new bin"):
            store.set("job.bins", 11)
        store.timeline.checkout(1)
        store.timeline.branch("idea")
        store.set("job.bins", 99)
        repo.watch("score", 0).set(5)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


class TestCommands:
    def test_timelines(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """timelines lists each timeline with its revisions and branches."""
        status, out, _ = run(capsys, "timelines", str(history))
        assert status == 0
        assert "job" in out
        assert "score" in out
        assert "idea, main" in out

    def test_log_and_filters(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """log shows who, why and what; filters narrow it."""
        status, out, _ = run(capsys, "log", str(history), "job", "--branch", "main")
        assert status == 0
        assert "alice" in out
        assert "new bin" in out
        assert "job.bins=11" in out
        status, out, _ = run(
            capsys, "log", str(history), "job", "--branch", "main", "--author", "bob"
        )
        assert "bob" in out
        assert "alice" not in out
        status, out, _ = run(
            capsys,
            "log",
            str(history),
            "job",
            "--path",
            "job.sorted",
            "--branch",
            "main",
        )
        assert "sorted one" in out
        assert "new bin" not in out

    def test_show(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show prints a revision's metadata and whole value."""
        status, out, _ = run(capsys, "show", str(history), "job@2")
        assert status == 0
        assert "author: bob" in out
        value = json.loads(out[out.index("{") :])
        assert value == {"job": {"bins": 11, "sorted": 1}}
        status, out, _ = run(capsys, "show", str(history), "job@idea")
        assert '"bins": 99' in out

    def test_show_and_export_keep_dict_order(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show and export print a dict's keys in insertion order, at any size
        (issue 10, defect 1: they were sorted)."""
        cfg = {f"k{i}": i for i in (11, 3, 7, 0, 9, 1, 10, 2, 8, 4, 6, 5)}
        path = tmp_path / "order.db"
        with statetrail.open(path) as repo:
            store = repo.store("s", {"cfg": cfg})
            store.set("cfg.new", 1)
        status, out, _ = run(capsys, "show", str(path), "s@1")
        assert status == 0
        shown = json.loads(out[out.index("{") :])
        assert list(shown["cfg"]) == [*cfg, "new"]
        status, out, _ = run(capsys, "export", str(path), "s", "--full")
        lines = [json.loads(line) for line in out.splitlines()]
        assert list(lines[0]["changes"][0]["value"]["cfg"]) == list(cfg)
        assert list(lines[0]["value"]["cfg"]) == list(cfg)
        assert list(lines[1]["value"]["cfg"]) == [*cfg, "new"]

    def test_diff(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """diff lists the changes between two revisions."""
        status, out, _ = run(capsys, "diff", str(history), "job", "0", "2")
        assert status == 0
        assert "2 change(s)" in out
        assert "~ job.bins: 10 -> 11" in out

    def test_brackets_in_comments_are_printed_as_written(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Text from the history is never read as rich markup."""
        path = tmp_path / "h.db"
        with (
            statetrail.open(path) as repo,
            statetrail.context(comment="[bold]not bold[/bold] [red"),
        ):
            repo.watch("v", 0).set(1)
        status, out, _ = run(capsys, "log", str(path), "v")
        assert status == 0
        assert "[bold]not bold[/bold] [red" in out
        status, out, _ = run(capsys, "blame", str(path), "v", "")
        assert "[thread MainThread]" in out

    def test_blame_shows_the_line_of_code(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """blame names the revision, the author and the source line."""
        status, out, _ = run(capsys, "blame", str(history), "job", "job.bins")
        assert status == 0
        assert "revision 3 on idea" in out
        assert "tests/cli/test_inspect.py:" in out
        assert 'store.set("job.bins", 99)' in out
        status, out, _ = run(capsys, "log", str(history), "job")
        assert "tests/cli/test_inspect.py:" in out

    def test_export(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """export writes revision objects with their changes (whole values with
        --full), or each revision's JSON Patch alone."""
        status, out, _ = run(capsys, "export", str(history), "job")
        lines = [json.loads(line) for line in out.splitlines()]
        assert status == 0
        assert [line["number"] for line in lines] == [0, 1, 2, 3]
        assert [line["parents"] for line in lines] == [[], [0], [1], [1]]
        assert lines[2]["changes"] == [
            {"op": "replace", "path": "/job/bins", "value": 11}
        ]
        assert lines[2]["author"] == "bob"
        assert lines[2]["time"].endswith("Z")
        assert "value" not in lines[2]
        status, out, _ = run(capsys, "export", str(history), "job", "--full")
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[2]["value"] == {"job": {"bins": 11, "sorted": 1}}
        assert lines[3]["value"] == {"job": {"bins": 99, "sorted": 1}}
        status, out, _ = run(
            capsys, "export", str(history), "job", "--format", "json-patch"
        )
        patches = [json.loads(line) for line in out.splitlines()]
        assert patches[2] == [{"op": "replace", "path": "/job/bins", "value": 11}]

    def test_verify(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """verify checks every revision and says how many."""
        status, out, _ = run(capsys, "verify", str(history))
        assert status == 0
        assert "ok: 6 revision(s) in 2 timeline(s)" in out
        status, out, _ = run(capsys, "verify", "--full", str(history))
        assert status == 0

    def test_verify_draws_a_progress_bar_on_a_terminal(
        self, history: pathlib.Path
    ) -> None:
        """On a terminal, verify draws its progress on the error stream; the
        report itself stays on the output."""

        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        out, err = io.StringIO(), Terminal()
        inspect.verify(str(history), out, err=err)
        assert "verify" in err.getvalue()
        assert "ok: 6 revision(s)" in out.getvalue()

    def test_anchor_then_verify_against_it(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """anchor prints one line per timeline; verify --anchor accepts it."""
        status, anchor, _ = run(capsys, "anchor", str(history))
        assert status == 0
        assert len(anchor.splitlines()) == 2
        status, out, _ = run(capsys, "verify", str(history), "--anchor", anchor)
        assert status == 0
        assert "(anchor matched)" in out


class TestErrors:
    def error(self, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
        status, out, err = run(capsys, *argv)
        assert status == 2
        assert out == ""
        assert "Traceback" not in err
        assert err.count("\n") == 1
        return err

    def test_missing_file(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file is named, and not created."""
        err = self.error(capsys, "log", str(tmp_path / "none.db"), "job")
        assert "no such file" in err
        assert not (tmp_path / "none.db").exists()

    def test_a_directory(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A directory is not a history."""
        assert "is a directory" in self.error(capsys, "timelines", str(tmp_path))

    def test_corrupt_file(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A truncated history is one clear line."""
        history.write_bytes(history.read_bytes()[:200])
        assert "error:" in self.error(capsys, "verify", str(history))

    def test_tampered_file(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A history altered on disk fails verify with a clear line, after the
        list of every problem found (one line each, on standard output)."""
        if history.suffix == ".json":
            text = history.read_text().replace('"bob"', '"mallory"')
            history.write_text(text)
        else:
            with contextlib.closing(sqlite3.connect(history)) as db, db:
                altered = db.execute(
                    "UPDATE revisions SET author = 'mallory' WHERE author = 'bob'"
                ).rowcount
            assert altered == 1
        status, out, err = run(capsys, "verify", str(history))
        assert status == 2
        assert out == "problem: job@2: does not match its digest (altered)\n"
        assert "Traceback" not in err
        assert err.count("\n") == 1
        assert "altered on disk" in err

    def test_pickle_file_never_runs(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A pickle crafted to run code is refused by name; the code never runs."""
        marker = tmp_path / "pwned"

        class Exploit:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return (pathlib.Path.touch, (str(marker),))

        for name in ("evil.pkl", "evil.db", "evil.json"):
            path = tmp_path / name
            path.write_bytes(pickle.dumps(Exploit()))
            err = self.error(capsys, "log", str(path), "job")
            assert "pickle" in err
            assert not marker.exists()

    def test_unknown_timeline_and_revision(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Unknown names and revisions are one line each."""
        assert "no timeline 'nope'" in self.error(capsys, "log", str(history), "nope")
        assert "no revision 42" in self.error(capsys, "show", str(history), "job@42")
        assert "neither a revision number nor a branch" in self.error(
            capsys, "show", str(history), "job@nowhere"
        )
        assert "no path" in self.error(capsys, "blame", str(history), "job", "zzz")

    def test_the_installed_command(self, history: pathlib.Path) -> None:
        """python -m statetrail exits 2 with one line on an unknown timeline."""
        done = subprocess.run(
            [sys.executable, "-m", "statetrail", "log", str(history), "nope"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 2
        assert done.stderr.startswith("statetrail log: error:")
        assert "Traceback" not in done.stderr


def _finishes(
    call: Callable[[], object], fifo: pathlib.Path, limit: float = 10.0
) -> bool:
    """Whether ``call()`` returns within ``limit`` seconds; if it hangs on the
    FIFO, a writer is opened and closed so that the thread can end."""
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(limit)
    if not worker.is_alive():
        return True
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    return False


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
class TestNotRegularFiles:
    @pytest.mark.parametrize("suffix", [".db", ".json"])
    @pytest.mark.parametrize(
        "argv",
        [
            ("log", "{}", "job"),
            ("verify", "{}"),
            ("timelines", "{}"),
            ("show", "{}", "job"),
        ],
    )
    def test_a_fifo_is_refused_at_once(
        self,
        tmp_path: pathlib.Path,
        capsys: pytest.CaptureFixture[str],
        argv: tuple[str, ...],
        suffix: str,
    ) -> None:
        """log, verify, timelines and show on a FIFO: one line, exit status 2, at
        once (issue 9, defect 6: they blocked for ever)."""
        fifo = tmp_path / f"pipe{suffix}"
        os.mkfifo(fifo)
        result: list[int] = []
        args = [a.format(fifo) for a in argv]
        assert _finishes(lambda: result.append(main(args)), fifo)
        err = capsys.readouterr().err
        assert result == [2]
        assert "is a FIFO, not a regular file" in err
        assert "Traceback" not in err

    def test_a_device_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """/dev/null, a character device, is not a history file."""
        if not os.path.exists(os.devnull):
            pytest.skip("no null device")
        status, _, err = run(capsys, "verify", os.devnull)
        assert status == 2
        assert "character device" in err


class TestRevisionSpecs:
    def test_a_negative_number_past_the_start_is_one_line(
        self, history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show job@-11 on a shorter history: one line, exit status 2 (issue 9,
        defect 5: an IndexError traceback)."""
        status, _, err = run(capsys, "show", str(history), "job@-11")
        assert status == 2
        assert "revision -11" in err
        assert "Traceback" not in err
        status, out, _ = run(capsys, "show", str(history), "job@-1")
        assert status == 0
        assert out.startswith("job@")


_READ_ONLY = ["timelines", "log", "verify", "anchor"]


def _state(path: pathlib.Path) -> tuple[bytes, list[str]]:
    """A file's bytes and the files beside it (what a command must not change)."""
    return path.read_bytes(), sorted(
        p.name for p in path.parent.iterdir() if not p.name.endswith(("-shm", "-wal"))
    )


class TestReadOnly:
    """QA gap 6: the inspector commands never create, migrate or write."""

    @pytest.mark.parametrize("command", _READ_ONLY)
    def test_an_empty_file(
        self, command: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "empty.db"
        path.touch()
        argv = [command, str(path)] + (["job"] if command == "log" else [])
        status, _, err = run(capsys, *argv)
        assert status == 2
        assert "not a statetrail database" in err
        assert err.count("\n") == 1
        assert path.stat().st_size == 0

    @pytest.mark.parametrize("command", _READ_ONLY)
    def test_another_applications_database(
        self, command: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "other.db"
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("CREATE TABLE t (x)")
        before = _state(path)
        argv = [command, str(path)] + (["job"] if command == "log" else [])
        status, _, err = run(capsys, *argv)
        assert status == 2
        assert "not a statetrail database" in err
        assert _state(path) == before

    @pytest.mark.parametrize("command", _READ_ONLY)
    def test_an_old_file_is_not_upgraded(
        self, command: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A schema-1 file: the message says to open it once with the library."""
        path = tmp_path / "old.db"
        data = pathlib.Path(__file__).parent.parent / "storage" / "data" / "main_v1.db"
        path.write_bytes(data.read_bytes())
        before = _state(path)
        argv = [command, str(path)] + (["job"] if command == "log" else [])
        status, _, err = run(capsys, *argv)
        assert status == 2
        assert "open it once with statetrail.open()" in err
        assert _state(path) == before
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (1,)

    def test_reading_while_another_connection_writes(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Opening takes no write lock when nothing needs migrating: log and
        statetrail.open do not wait for a writer's transaction."""
        path = tmp_path / "h.db"
        with statetrail.open(path) as repo:
            repo.watch("score", 0).set(5)
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO checkpoints VALUES ('other', 0, '0', 'x')")
            status, out, _ = run(capsys, "log", str(path), "score")
            assert status == 0
            assert "<all>=5" in out
            with statetrail.open(path, busy_timeout=0.5) as repo:
                assert repo.timeline("score").head.value == 5
            db.execute("ROLLBACK")

    @pytest.mark.parametrize("command", _READ_ONLY)
    def test_a_json_history_gets_no_lock_file(
        self, command: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "h.json"
        with statetrail.open(path) as repo:
            repo.watch("job", 0).set(1)
        (tmp_path / "h.json.lock").unlink()
        before = _state(path)
        argv = [command, str(path)] + (["job"] if command == "log" else [])
        status, _, _ = run(capsys, *argv)
        assert status == 0
        assert _state(path) == before
