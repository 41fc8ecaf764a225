"""``statetrail demo`` and the command's entry points."""

from __future__ import annotations

import io
import pathlib
import re
import subprocess
import sys

import statetrail
from statetrail.cli import main
from statetrail.cli.demo import run


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

    def test_main_runs_the_demo(self, capsys: object) -> None:
        """main(["demo"]) returns 0."""
        assert main(["demo", "--cards", "1"]) == 0

    def test_python_dash_m(self) -> None:
        """python -m statetrail demo works as a command."""
        done = subprocess.run(
            [sys.executable, "-m", "statetrail", "demo", "--cards", "1"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "branched 'what-if'" in done.stdout
