"""``statetrail merge``, and log, show, blame and export on a merged history."""

from __future__ import annotations

import json
import pathlib

import pytest

import statetrail
from statetrail.cli import main


@pytest.fixture(params=["job.json", "job.db"])
def forked(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> pathlib.Path:
    """A store whose branches main and sorter each changed ``job.bins``, and
    sorter ``job.sorted`` too."""
    path = tmp_path / request.param
    with statetrail.open(path) as repo:
        store = repo.store("job", {"job": {"bins": 10, "sorted": 0}})
        store.branch("sorter")
        with statetrail.context(author="bob"):
            store.set("job.sorted", 1)
            store.set("job.bins", 11)
        store.switch("main")
        with statetrail.context(author="ann"):
            store.set("job.bins", 9)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


class TestMergeCommand:
    def test_a_conflict_fails_and_records_nothing(
        self, forked: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit status 2, a line per conflict and the error; nothing recorded."""
        status, out, err = run(capsys, "merge", str(forked), "job", "sorter")
        assert status == 2
        assert "conflict at job.bins: base 10, ours (main) 9, theirs (sorter) 11" in out
        assert "statetrail merge: error:" in err
        assert "nothing was recorded" in err
        with statetrail.open(forked) as repo:
            assert len(repo.timeline("job")) == 4

    @pytest.mark.parametrize(("side", "bins"), [("ours", 9), ("theirs", 11)])
    def test_resolve_records_the_merge(
        self,
        forked: pathlib.Path,
        capsys: pytest.CaptureFixture[str],
        side: str,
        bins: int,
    ) -> None:
        """--resolve picks a side; the merge has both parents and the metadata."""
        status, out, _ = run(
            capsys,
            "merge",
            str(forked),
            "job",
            "sorter",
            "--resolve",
            side,
            "--author",
            "cy",
            "--comment",
            "sorted in",
        )
        assert status == 0
        assert (
            out == "merged 'sorter' (revision 2) into 'main' (revision 3): revision 4\n"
        )
        with statetrail.open(forked) as repo:
            merged = repo.timeline("job").head
            assert (merged.kind, merged.parents) == ("merge", (3, 2))
            assert (merged.author, merged.comment) == ("cy", "sorted in")
            assert merged.value == {"job": {"bins": bins, "sorted": 1}}
            assert repo.verify() == {"job": 5}

    def test_log_show_blame_and_export_understand_two_parents(
        self, forked: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """log lists both sides and tags the merge; show gives both parents;
        blame follows the value to the branch it came from; export lists both."""
        assert main(["merge", str(forked), "job", "sorter", "--resolve", "theirs"]) == 0
        capsys.readouterr()
        _, out, _ = run(capsys, "log", str(forked), "job")
        lines = out.splitlines()
        assert [line.split("\t")[0] for line in lines] == ["4", "3", "2", "1", "0"]
        assert "[merge of 2]" in lines[0]
        _, out, _ = run(capsys, "show", str(forked), "job@4")
        assert "parents: 3, 2 (merged in)" in out
        _, out, _ = run(capsys, "blame", str(forked), "job", "job.bins")
        assert out.startswith("job.bins: revision 2 on sorter")
        assert "by bob" in out
        _, out, _ = run(capsys, "export", str(forked), "job")
        docs = [json.loads(line) for line in out.splitlines()]
        assert [d["parents"] for d in docs] == [[], [0], [1], [0], [3, 2]]

    def test_bad_arguments(
        self, forked: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file, timeline or branch: one line, status 2."""
        status, _, err = run(capsys, "merge", str(forked) + ".nope", "job", "sorter")
        assert (status, "no such history file" in err) == (2, True)
        status, _, err = run(capsys, "merge", str(forked), "nojob", "sorter")
        assert (status, "no timeline 'nojob'" in err) == (2, True)
        status, _, err = run(capsys, "merge", str(forked), "job", "nope")
        assert (status, "no branch 'nope'" in err) == (2, True)
