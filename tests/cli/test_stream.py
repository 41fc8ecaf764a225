"""The commands on a longer history, as whole processes and in the process
(issue 11): they read what they show, stream what is long, and write plain lines
off a terminal, tables and progress bars on one."""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import statetrail
from statetrail.cli import main
from statetrail.cli.export import export
from statetrail.frozen import thaw
from statetrail.storage import revision_json as schema
from tests.conftest import scaled

REVISIONS = scaled(2_000)


class Terminal(io.StringIO):
    """An output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One history for the module: a 200-entry state, one leaf per revision."""
    path = tmp_path_factory.mktemp("long") / "long.db"
    with statetrail.open(path, durability="batched") as repo:
        store = repo.store("big", {f"k{i}": {"n": i} for i in range(200)})
        for n in range(REVISIONS):
            with statetrail.context(author=f"user{n % 3}", label=f"L{n}"):
                store.set(f"k{n * 7 % 200}.n", n)
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m statetrail ARGV`` on this checkout's package."""
    return _python("-m", "statetrail", *argv)


def _python(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    src = str(pathlib.Path(statetrail.__file__).parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


class TestWholeProcesses:
    def test_log_limit_is_the_newest_as_plain_lines(
        self, long_history: pathlib.Path
    ) -> None:
        """log --limit 20 into a pipe: 20 tab-separated lines, newest first,
        with the label."""
        done = _run("log", str(long_history), "big", "--limit", "20")
        assert done.returncode == 0, done.stderr
        lines = [line.split("\t") for line in done.stdout.splitlines()]
        assert [int(f[0]) for f in lines] == list(range(REVISIONS, REVISIONS - 20, -1))
        assert lines[0][3] == f"L{REVISIONS - 1}"
        assert lines[0][2] == f"user{(REVISIONS - 1) % 3}"
        assert all(len(f) == 7 for f in lines)

    def test_export_is_what_the_engine_holds(self, long_history: pathlib.Path) -> None:
        """export's lines are the engine's revisions in the revision schema."""
        done = _run("export", str(long_history), "big")
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # no progress bar off a terminal
        lines = done.stdout.splitlines()
        assert len(lines) == REVISIONS + 1
        with statetrail.open(long_history, read_only=True) as repo:
            timeline = repo.timeline("big", create=False)
            for revision in timeline.revisions():
                if revision.number % 97 == 0 or revision.number == REVISIONS:
                    expected = schema.from_revision(revision, "big")
                    assert json.loads(lines[revision.number]) == expected

    def test_show_diff_blame(self, long_history: pathlib.Path) -> None:
        """show, diff and blame answer from checkpoints and the newest rows."""
        middle = REVISIONS // 2
        with statetrail.open(long_history, read_only=True) as repo:
            value = thaw(repo.value_at("big", middle))  # (lazily loaded: read now)
        done = _run("show", str(long_history), f"big@{middle}")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout[done.stdout.index("{") :]) == value
        done = _run("diff", str(long_history), "big", str(middle), str(middle + 2))
        assert f"{middle} -> {middle + 2}, 2 change(s)" in done.stdout
        last = REVISIONS - 1  # wrote k{last * 7 % 200}
        done = _run("blame", str(long_history), "big", f"k{last * 7 % 200}.n")
        assert f"revision {REVISIONS} on main" in done.stdout


class TestTerminal:
    def test_the_log_table_fits_80_columns(
        self, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On an 80-column terminal: a label column, the time whole, a long value
        shortened with … rather than cut or wrapped."""
        monkeypatch.setenv("COLUMNS", "80")
        path = tmp_path / "h.db"
        with statetrail.open(path) as repo:
            store = repo.store("s", {"text": ""})
            store.set("text", "a long value " * 10, label="v2", comment="why " * 12)
        out = Terminal()
        status = main(["log", str(path), "s"], out=out)
        text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # colours
        assert status == 0
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= 80
        assert "label" in lines[1].split()
        row = next(line for line in lines if line.lstrip().startswith("1 "))
        fields = row.split()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields[1])
        assert fields[3] == "v2"
        assert row.rstrip().endswith("…")  # the long value, shortened

    def test_export_draws_a_progress_bar_on_a_terminal(
        self, long_history: pathlib.Path
    ) -> None:
        """The bar goes to the error stream; the lines stay on the output."""
        out, err = io.StringIO(), Terminal()
        count = export(str(long_history), "big", out, err=err)
        assert count == REVISIONS + 1
        assert "export big" in err.getvalue()
        assert len(out.getvalue().splitlines()) == REVISIONS + 1


class TestArguments:
    def test_full_with_json_patch_is_one_line(
        self, long_history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--full applies to jsonl only: one line, status 2."""
        status = main(
            ["export", str(long_history), "big", "--format", "json-patch", "--full"]
        )
        err = capsys.readouterr().err
        assert status == 2
        assert "--full" in err
        assert err.count("\n") == 1

    def test_a_negative_limit_is_one_line(
        self, long_history: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """log --limit -1: one line, status 2."""
        status = main(["log", str(long_history), "big", "--limit", "-1"])
        assert status == 2
        assert "--limit" in capsys.readouterr().err


class TestPlain:
    def test_off_a_terminal_rich_is_not_imported(
        self, long_history: pathlib.Path
    ) -> None:
        """show, diff, blame and log --limit into a pipe write plain lines without
        importing rich's console (about 50 ms of each short command)."""
        code = (
            "import sys, io\n"
            "from statetrail.cli import main\n"
            f"path = {str(long_history)!r}\n"
            "for argv in (['show', path, 'big@3'], ['diff', path, 'big', '3', '5'],"
            " ['blame', path, 'big', 'k5.n'], ['log', path, 'big', '--limit', '3']):\n"
            "    assert main(argv, out=io.StringIO()) == 0\n"
            "print('rich.console' in sys.modules)\n"
        )
        done = _python("-c", code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "False"
