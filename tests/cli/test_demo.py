"""``statetrail demo`` and the command's entry points."""

from __future__ import annotations

import io
import subprocess
import sys

from statetrail.cli import main
from statetrail.cli.demo import run


class TestDemo:
    def test_the_demo_shows_log_diff_blame_rollback_and_branch(self) -> None:
        """The demo records a job and prints each part of its history."""
        out = io.StringIO()
        run(cards=3, out=out)
        text = out.getvalue()
        assert "start of shift" in text
        assert text.count("card sorted into a bin") == 6
        assert "diff 0 -> 9:" in text
        assert "sorted: 0 -> 6" in text
        assert "blame rejects: revision" in text
        assert "quality-bot" in text
        assert "task Task-1" in text
        assert "rollback to revision 1: sorted=0" in text
        assert "branch 'what-if'" in text
        assert "statetrail/cli/demo.py:" in text

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
        assert "branch 'what-if'" in done.stdout
