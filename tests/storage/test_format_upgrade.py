"""Histories written before format 2 still open, verify, and take new writes.

``data/main_v1.db`` and ``data/main_v1.json`` were written by statetrail as it
was on main before issue 9 (format 1: digests over the payload, chains along
parent links, no end records, no seals), with a side branch, an erased revision,
checkpoints and a cursor moved back; ``data/main_v1_export.json`` is what that
statetrail read back from them. The PostgreSQL case loads the same rows into a
schema left at version 1.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

import statetrail
from statetrail.repository import Repository
from statetrail.storage.base import Heads, Row
from tests.storage.pg import PgSchema, admin, pg

__all__ = ["pg"]  # the fixture, imported for the tests below

DATA = Path(__file__).parent / "data"


def seen(repo: Repository) -> dict[str, Any]:
    """What the export in data/main_v1_export.json holds, read now."""
    out = {}
    for name in repo.timelines():
        timeline = repo.timeline(name, create=False)
        out[name] = {
            "cursor": timeline.head.number,
            "branches": timeline.branches(),
            "revisions": [
                [r.number, r.parent, r.branch, r.author, r.comment, repr(r.value)]
                for r in timeline.revisions()
            ],
        }
    return out


def expected(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "main_v1_export.json").read_text())
    return data[kind]  # type: ignore[no-any-return]


def upgraded(repo: Repository, kind: str) -> None:
    """The history reads as before, verifies, takes writes and verifies again."""
    assert seen(repo) == expected(kind)
    assert repo.verify() == {"job": 14, "score": 6}
    anchor = repo.anchor()
    store = repo.store("job")
    store.set("n", -1)
    timeline = repo.timeline("job")
    timeline.erase(9, reason="later", author="dpo")
    timeline.checkout(2)
    assert repo.verify(anchor=anchor) == {"job": 15, "score": 6}


class TestFormatOne:
    @pytest.mark.parametrize("name", ["main_v1.db", "main_v1.json"])
    def test_a_file_from_main_opens_verifies_and_grows(
        self, tmp_path: Path, name: str
    ) -> None:
        """Migrated on open (SQLite schema 2, JSON version 2), read back as
        main read it, verified; new revisions in format 2 follow the old ones,
        and the file reopens and verifies."""
        path = tmp_path / name
        shutil.copy(DATA / name, path)
        kind = "db" if name.endswith(".db") else "json"
        with statetrail.open(path) as repo:
            upgraded(repo, kind)
        with statetrail.open(path) as repo:
            assert repo.verify() == {"job": 15, "score": 6}
            assert repo.timeline("job").head.number == 2

    def test_a_postgres_schema_at_version_1_is_migrated(self, pg: PgSchema) -> None:
        """Format-1 rows in a version-1 schema: migrated to version 2 when
        opened, read back as main read them, verified, and writable."""
        with closing(sqlite3.connect(DATA / "main_v1.db")) as conn:
            columns = ", ".join(Row._fields)
            rows = [
                Row(*r[:13], tuple(json.loads(r[13])), *r[14:])
                for r in conn.execute(
                    f"SELECT {columns} FROM revisions ORDER BY timeline, number"
                )
            ]
            heads = conn.execute("SELECT timeline, branch, cursor, tips FROM heads")
            saved = [(t, Heads(b, c, json.loads(tips))) for t, b, c, tips in heads]
            checkpoints = conn.execute(
                "SELECT timeline, number, value, digest FROM checkpoints"
            ).fetchall()
        with pg.backend(_version_1_only=True) as old:
            for row in rows:
                old.append([row])
            for timeline, number, value, digest in checkpoints:
                old.put_checkpoint(timeline, number, value, digest)
        with closing(admin()) as conn:
            for timeline, heads_saved in saved:  # the version-1 columns
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.heads (timeline, branch, cursor, tips)"
                        " VALUES (%s, %s, %s, %s)"
                    ).format(sql.Identifier(pg.name)),
                    [
                        timeline,
                        heads_saved.branch,
                        heads_saved.cursor,
                        Jsonb(heads_saved.tips),
                    ],
                )
        with statetrail.open(pg.url, schema=pg.name) as repo:
            upgraded(repo, "db")
