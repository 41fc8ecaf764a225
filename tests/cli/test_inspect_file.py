"""statetrail inspect FILE: files saved by Var.save and Store.save (issue 14)."""

from __future__ import annotations

import io
import pathlib
import pickle

from statetrail import Store, Var
from statetrail.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


class TestInspectFile:
    """Saved histories, saved states, pickles."""

    def test_var_history(self, tmp_path: pathlib.Path) -> None:
        """A Var.save file: verified, every revision listed with its value."""
        v = Var("score", 0)
        v.set(10, author="ann", comment="first").set(20, label="two")
        path = tmp_path / "score.json"
        v.save(path)
        code, out, _ = _run("inspect", str(path))
        assert code == 0
        assert "history of 'score'" in out
        assert "3 revision(s), verified" in out
        lines = out.splitlines()[1:]
        assert [line.split("\t")[0] for line in lines] == ["0", "1", "2"]
        assert lines[1].split("\t")[2:] == ["set", "ann", "-", "first", "10"]
        assert lines[2].endswith("\ttwo\t-\t20")

    def test_tampered_history(self, tmp_path: pathlib.Path) -> None:
        """A saved history altered on disk is reported, not shown."""
        path = tmp_path / "v.json"
        Var("v", "alpha").set("bravo").save(path)
        path.write_bytes(path.read_bytes().replace(b"bravo", b"bravX"))
        code, out, err = _run("inspect", str(path))
        assert code == 2
        assert "bravX" not in out
        assert "error" in err

    def test_store_state(self, tmp_path: pathlib.Path) -> None:
        """A Store.save file is a value without history."""
        store = Store({"job": {"bins": 10}})
        path = tmp_path / "state.json"
        store.save(path)
        code, out, _ = _run("inspect", str(path))
        assert code == 0
        assert "no history" in out
        assert '"bins": 10' in out

    def test_pickle_refused_unless_allowed(self, tmp_path: pathlib.Path) -> None:
        """A pickle is refused; --allow-pickle warns, then reads it."""
        path = tmp_path / "old.pkl"
        path.write_bytes(pickle.dumps({"x": [1, 2]}))
        code, out, err = _run("inspect", str(path))
        assert code == 2
        assert "--allow-pickle" in err
        assert out == ""
        code, out, err = _run("inspect", str(path), "--allow-pickle")
        assert code == 0
        assert "runs whatever code" in err
        assert "{'x': [1, 2]}" in out

    def test_encrypted_values(self, tmp_path: pathlib.Path) -> None:
        """Encrypted values show as <encrypted> without the key."""
        from statetrail.interceptors import Encrypt
        from statetrail.storage import _sealed

        key = Encrypt.generate_key()
        (tmp_path / "key").write_bytes(key)
        path = tmp_path / "v.json"
        Var("v", "hush-hush", interceptors=[Encrypt(key)]).save(path)
        _sealed.reset_keyring()
        try:
            code, out, _ = _run("inspect", str(path))
            assert code == 0
            assert "<encrypted>" in out
            assert "hush-hush" not in out
            code, out, _ = _run(
                "inspect", str(path), "--key-file", str(tmp_path / "key")
            )
            assert "hush-hush" in out
        finally:
            _sealed.reset_keyring()

    def test_missing(self, tmp_path: pathlib.Path) -> None:
        """A missing file or a directory: a one-line error."""
        assert _run("inspect", str(tmp_path / "nope"))[0] == 2
        assert _run("inspect", str(tmp_path))[0] == 2
