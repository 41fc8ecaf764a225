"""``statetrail demo`` and the command's entry points."""

from __future__ import annotations

import io
import pathlib
import re
import subprocess
import sys

import pytest

import statetrail
from statetrail.cli import main
from statetrail.cli.demo import run


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo keeps demo.db in the current folder: a test's own."""
    monkeypatch.chdir(tmp_path)


class TestDemo:
    def test_the_demo_shows_log_diff_blame_rollback_and_branch(self) -> None:
        """The demo records a job and prints each part of its history."""
        out = io.StringIO()
        run(cards=3, out=out)
        text = out.getvalue()
        assert "recorded into demo.db" in text
        assert "start of shift" in text
        # two sorters x 3 cards, each a revision of its own
        assert text.count("card sorted into a bin") == 6
        assert "~ job.sorted: 0 -> 6" in text
        assert '+ job.rejects.0: "card #3"' in text
        # blame names the author, the line of code, the thread and the task
        assert "by quality-bot (bent card found)" in text
        # (asyncio numbers its tasks per process: Task-1 when run alone)
        assert re.search(r"in _controller \[thread MainThread, task Task-\d+\]", text)
        assert "await store.dispatch_and_wait(" in text
        assert "[rollback] re-run the shift" in text
        assert "main, what-if" in text
        assert "author: planner" in text
        assert '"bins": 12' in text
        assert "statetrail/cli/demo.py:" in text
        assert "ok: 13 revision(s) in 1 timeline(s)" in text

    def test_the_demo_file_is_a_history_the_commands_read(
        self, tmp_path: pathlib.Path
    ) -> None:
        """--file keeps the SQLite file; it reopens with every revision."""
        path = tmp_path / "shift.db"
        assert main(["demo", "--cards", "2", "--file", str(path)]) == 0
        with statetrail.open(path) as repo:
            store = repo.store("job")
            assert store.get("job.sorted") == 4
            assert store.timeline.branches() == {"main": 9, "what-if": 10}
            assert repo.verify() == {"job": 11}
            authors = {r.author for r in store.timeline.revisions()}
        assert authors == {
            None,
            "operator",
            "controller",
            "quality-bot",
            "sorter-A",
            "sorter-B",
            "planner",
        }

    def test_the_file_is_kept_and_a_rerun_replaces_it(
        self, tmp_path: pathlib.Path
    ) -> None:
        """demo.db stays in the current folder, the last lines say how to serve
        it, and running the demo again records it afresh (issue 13)."""
        for _ in range(2):
            out = io.StringIO()
            run(cards=1, out=out)
            assert out.getvalue().rstrip().endswith("$ statetrail serve demo.db")
            assert str(tmp_path / "demo.db") in out.getvalue()
            with statetrail.open(tmp_path / "demo.db", read_only=True) as repo:
                assert repo.verify() == {"job": 9}  # not 18: replaced

    def test_another_file_of_that_name_is_left_alone(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A demo.db the demo did not record is refused, never overwritten."""
        (tmp_path / "demo.db").write_text("my notes")
        assert main(["demo", "--cards", "1"]) == 2
        assert "not a history the demo recorded" in capsys.readouterr().err
        assert (tmp_path / "demo.db").read_text() == "my notes"
        with statetrail.open(tmp_path / "other.db") as repo:
            repo.store("other", {"a": 1})
        assert main(["demo", "--cards", "1", "--file", "other.db"]) == 2
        with statetrail.open(tmp_path / "other.db", read_only=True) as repo:
            assert repo.timelines() == ["other"]

    def test_main_runs_the_demo(self, capsys: object) -> None:
        """main(["demo"]) returns 0."""
        assert main(["demo", "--cards", "1"]) == 0

    def test_python_dash_m(self, tmp_path: pathlib.Path) -> None:
        """python -m statetrail demo works as a command."""
        done = subprocess.run(
            [sys.executable, "-m", "statetrail", "demo", "--cards", "1"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "branched 'what-if'" in done.stdout
