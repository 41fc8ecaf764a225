"""Anchors: a consistent rewrite or a truncation is found against an anchor.

The rewrites here recompute every digest, chain, seal and end record with
statetrail's own functions, so verify without an anchor passes (the teeth: the
anchor-less check must miss them, or the rewrite was not consistent and the
test would prove nothing); with the anchor taken before, verify and
``statetrail verify --anchor`` fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail.cli import main
from statetrail.errors import CorruptHistoryError
from statetrail.storage import _integrity as integrity
from statetrail.storage import codec
from statetrail.storage._journal import row_value
from statetrail.storage._value_digest import value_digest
from statetrail.storage.base import Heads, Row
from tests.storage.tamper import EVERY, SqliteRaw, build, forge_erasure, sqlite_raw


def _row(raw: SqliteRaw, timeline: str, number: int) -> Row:
    fields = raw.row(timeline, number)
    fields["paths"] = tuple(json.loads(fields["paths"]))
    return Row(**fields)


def rewrite(raw: SqliteRaw, timeline: str, number: int, **changes: Any) -> None:
    """Change one revision and recompute everything after it, consistently."""
    (top,) = raw.conn.execute(
        "SELECT max(number) FROM revisions WHERE timeline = ?", (timeline,)
    ).fetchone()
    previous = _row(raw, timeline, number - 1).chain if number else ""
    checkpoints = raw.checkpoints(timeline)
    for n in range(number, top + 1):
        row = _row(raw, timeline, n)
        if n == number:
            row = row._replace(**changes)
        tomb = integrity.parse_tombstone(row.erased)
        payload = (
            tomb.payload
            if tomb is not None and tomb.payload is not None
            else integrity.payload_digest((row.payload or "").encode())
        )
        digest = integrity.row_digest(integrity.meta_bytes(row), payload)
        chain = integrity.chain_v2(previous, digest)
        erased = row.erased
        if tomb is not None:
            erased = integrity.tombstone(
                chain, tomb.author, tomb.reason, tomb.time_ns, tomb.payload
            )
        fields = {
            **(changes if n == number else {}),
            "digest": digest,
            "chain": chain,
            "erased": erased,
        }
        raw.set_row(timeline, n, **fields)
        if n in checkpoints:
            value = checkpoints[n][0]
            raw.set_checkpoint(
                timeline, n, value, integrity.checkpoint_digest(chain, value.encode())
            )
        previous = chain
    raw.set_end(timeline, top + 1, previous)
    reseal(raw, timeline)


def reseal(raw: SqliteRaw, timeline: str) -> None:
    """Seal the heads again with the chains stored now."""
    saved = raw.heads(timeline)
    heads = Heads(saved["branch"], saved["cursor"], saved["tips"])
    chains = {
        n: _row(raw, timeline, n).chain for n in (heads.cursor, *heads.tips.values())
    }
    raw.set_heads(timeline, seal=integrity.heads_seal(timeline, heads, chains))


def truncate(raw: SqliteRaw, timeline: str, keep: int) -> None:
    """Cut a linear timeline to its first ``keep`` revisions, consistently."""
    raw.conn.execute(
        "DELETE FROM revisions WHERE timeline = ? AND number >= ?", (timeline, keep)
    )
    raw.conn.execute(
        "DELETE FROM checkpoints WHERE timeline = ? AND number >= ?", (timeline, keep)
    )
    newest = _row(raw, timeline, keep - 1)
    raw.set_end(timeline, keep, newest.chain)
    raw.set_heads(timeline, cursor=keep - 1, tips={newest.branch: keep - 1})
    reseal(raw, timeline)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, str]:
    """A history and the anchor taken from it."""
    path = tmp_path / "h.db"
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        build(repo)
        anchor = repo.anchor()
    return path, anchor


def check(path: Path, anchor: str) -> None:
    """Verify passes without the anchor (the rewrite is consistent: the teeth),
    fails with it, and the CLI agrees."""
    with statetrail.open(path) as repo:
        repo.verify()
        with pytest.raises(CorruptHistoryError) as caught:
            repo.verify(anchor=anchor)
    assert any("anchor" in what for _, _, what in caught.value.problems)
    assert main(["verify", str(path)]) == 0
    assert main(["verify", str(path), "--anchor", anchor]) == 2


class TestAnchors:
    def test_an_anchor_of_an_untouched_history_verifies(
        self, history: tuple[Path, str]
    ) -> None:
        """The anchor is short: one line per timeline; later writes keep it
        valid, and the CLI accepts it."""
        path, anchor = history
        assert len(anchor.splitlines()) == 2
        assert all(len(line) < 60 for line in anchor.splitlines())
        with statetrail.open(path) as repo:
            repo.store("job").set("n", 7)
            assert repo.verify(anchor=anchor) == {"job": 16, "score": 6}
        assert main(["verify", str(path), "--anchor", anchor]) == 0

    @pytest.mark.parametrize("field", ["author", "payload", "time_ns", "erased_reason"])
    def test_a_consistent_rewrite_is_found(
        self, history: tuple[Path, str], field: str
    ) -> None:
        """One revision changed and everything after it recomputed."""
        path, anchor = history
        with sqlite_raw(str(path)) as raw:
            if field == "author":
                rewrite(raw, "job", 6, author="mallory")
            elif field == "payload":
                row = _row(raw, "job", 6)
                assert row.payload is not None
                rewrite(raw, "job", 6, payload=row.payload.replace("6", "60"))
            elif field == "time_ns":
                rewrite(raw, "score", 2, time_ns=_row(raw, "score", 2).time_ns + 1)
            else:
                tomb = json.loads(raw.row("job", 3)["erased"])
                tomb["reason"] = "routine"
                rewrite(raw, "job", 3, erased=json.dumps(tomb))
        if field == "erased_reason":
            # A tombstone comes after its chain: an anchor cannot pin it (the
            # module docstring of _integrity says so); its seal still must match.
            with statetrail.open(path) as repo:
                repo.verify(anchor=anchor)
            return
        check(path, anchor)

    def test_a_consistent_truncation_is_found(self, history: tuple[Path, str]) -> None:
        """The newest revisions cut off, end record and heads made to match."""
        path, anchor = history
        with sqlite_raw(str(path)) as raw:
            truncate(raw, "score", 4)
        check(path, anchor)

    def test_a_missing_timeline_is_found(self, history: tuple[Path, str]) -> None:
        """A timeline removed whole (rows, heads and end) is named by the anchor."""
        path, anchor = history
        with sqlite_raw(str(path)) as raw:
            raw.conn.execute("DELETE FROM revisions WHERE timeline = 'score'")
            raw.conn.execute("DELETE FROM heads WHERE timeline = 'score'")
        check(path, anchor)

    def test_a_consistent_forged_erasure_is_found(
        self, history: tuple[Path, str]
    ) -> None:
        """The forged erasure (tests.storage.tamper.forge_erasure) made
        consistent: the value digests of the child and of every revision built
        on it recomputed for the forged value, then every digest, chain, seal and
        end record after the erased revision. The child's value digest is in its
        chained row, so the anchor finds it (before format 3 nothing written at
        the child's time held its value)."""
        path, anchor = history
        with sqlite_raw(str(path)) as raw:
            child = forge_erasure(raw)
            parent = int(raw.row("job", child)["parent"])
            values = {
                child: codec.from_json(codec.parse(raw.checkpoints("job")[child][0]))
            }
            (top,) = raw.conn.execute(
                "SELECT max(number) FROM revisions WHERE timeline = 'job'"
            ).fetchone()
            for n in range(child, top + 1):
                row = _row(raw, "job", n)
                if n != child:
                    if row.parent not in values or row.payload is None:
                        continue
                    values[n] = row_value(row, values[row.parent])
                assert row.payload is not None
                assert integrity.committed_value(row) is not None
                committed = value_digest(values[n])
                raw.set_row("job", n, payload=row.payload[:-66] + committed + '"}')
            rewrite(raw, "job", parent, erased=raw.row("job", parent)["erased"])
        check(path, anchor)

    def test_a_malformed_anchor_is_a_value_error(
        self, history: tuple[Path, str]
    ) -> None:
        """Text that is not an anchor is refused with what an anchor looks like."""
        path, _ = history
        with statetrail.open(path) as repo, pytest.raises(ValueError, match="anchor"):
            repo.verify(anchor="not an anchor")
        assert main(["verify", str(path), "--anchor", "12 zz"]) == 2
