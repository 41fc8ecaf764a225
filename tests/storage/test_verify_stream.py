"""verify's checkpoint check against a JSON tree kept from the patches (issue 11:
verify streams without decoding every checkpoint)."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

import statetrail
from statetrail.errors import CorruptHistoryError
from statetrail.storage import _integrity as integrity


def _history(path: pathlib.Path) -> None:
    with statetrail.open(path, checkpoint_every=8) as repo:
        store = repo.store("s", {"cfg": {"a": 1, "b": [1, 2]}, "n": 0})
        for i in range(1, 30):
            store.set("n", i)
            if i % 7 == 0:
                store.set("cfg.b", [*store.get("cfg.b"), i])


def _rewrite_checkpoint(path: pathlib.Path, change: object) -> int:
    """Rewrite one checkpoint's value with ``change`` and re-seal its digest, as
    someone covering their tracks would; returns its number."""
    with sqlite3.connect(path) as conn:
        number, text = conn.execute(
            "SELECT number, value FROM checkpoints ORDER BY number LIMIT 1 OFFSET 1"
        ).fetchone()
        (chain,) = conn.execute(
            "SELECT chain FROM revisions WHERE number = ?", (number,)
        ).fetchone()
        value = json.loads(text)
        new = change(value) if callable(change) else change
        new_text = json.dumps(new, separators=(",", ":"))
        digest = integrity.checkpoint_digest(chain, new_text.encode())
        conn.execute(
            "UPDATE checkpoints SET value = ?, digest = ? WHERE number = ?",
            (new_text, digest, number),
        )
    return int(number)


class TestCheckpoints:
    def test_a_checkpoint_holding_another_value_is_found(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A checkpoint re-sealed with another value is a problem of its revision."""
        path = tmp_path / "h.db"
        _history(path)

        def altered(value: dict[str, object]) -> dict[str, object]:
            return {**value, "n": -1}

        number = _rewrite_checkpoint(path, altered)
        with (
            statetrail.open(path, read_only=True) as repo,
            pytest.raises(CorruptHistoryError) as caught,
        ):
            repo.verify()
        assert ("s", number) in [(t, n) for t, n, _ in caught.value.problems]
        assert "another value than its patches give" in str(caught.value)

    def test_the_same_value_in_another_key_order_verifies(
        self, tmp_path: pathlib.Path
    ) -> None:
        """A checkpoint with the same value whose keys are in another order (as
        files written before dicts kept their order have) still verifies."""
        path = tmp_path / "h.db"
        _history(path)

        def reordered(value: dict[str, object]) -> dict[str, object]:
            return dict(reversed(list(value.items())))

        _rewrite_checkpoint(path, reordered)
        with statetrail.open(path, read_only=True) as repo:
            assert repo.verify() == {"s": 34}

    def test_progress_reaches_the_total(self, tmp_path: pathlib.Path) -> None:
        """The progress callback ends at the number of rows."""
        path = tmp_path / "h.db"
        _history(path)
        calls: list[tuple[str, int, int]] = []
        with statetrail.open(path, read_only=True) as repo:
            repo.verify(progress=lambda *a: calls.append(a))
        assert calls[-1] == ("s", 34, 34)


class TestPayloads:
    @pytest.mark.parametrize(
        "patch",
        [
            [["=", ["n"], {"$t": "no such tag", "v": 1}]],
            [["?", ["n"], 5]],
            [["=", ["n"], 5, 6]],
        ],
        ids=["unknown tag", "unknown operation", "too long"],
    )
    def test_a_resealed_payload_that_does_not_decode_is_found(
        self, tmp_path: pathlib.Path, patch: list[object]
    ) -> None:
        """A row rewritten with a patch the codec refuses, and everything after it
        re-sealed, is reported as not decoding, though verify follows the rows on
        a JSON tree without decoding plain patches."""
        from tests.storage.tamper import sqlite_raw
        from tests.storage.test_anchor import rewrite

        path = tmp_path / "h.db"
        _history(path)
        with sqlite_raw(str(path)) as raw:
            rewrite(raw, "s", 12, payload=json.dumps({"patch": patch}))
        with (
            statetrail.open(path, read_only=True) as repo,
            pytest.raises(CorruptHistoryError) as caught,
        ):
            repo.verify()
        problems = [(n, what) for _, n, what in caught.value.problems]
        assert any(n == 12 and "does not decode" in what for n, what in problems)
