"""Histories to damage, and the edits an attacker or a bad disk makes to them.

:func:`build` records one history through a repository (two timelines, a side
branch, an erased revision, checkpoints every 4 revisions, a cursor moved
back), the same on every backend. :func:`export` is everything a reader can
get from it: every revision's value and metadata, branches, the cursor, and
blame of every path; "silently altered" means it differs while verify passes.

Each :data:`TAMPERS` entry edits stored rows directly, through a :class:`Raw`
view of one backend's tables (SQLite, a JSON document, PostgreSQL), as someone
with the file and no interest in our digests would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any, Protocol

import statetrail
from statetrail.frozen import thaw
from statetrail.repository import Repository
from statetrail.storage import _integrity as integrity
from statetrail.storage import codec
from statetrail.storage.base import Row
from statetrail.timeline import Erased

#: The revision erased in "job", and the checkpoint interval.
ERASED = 3
EVERY = 4


def build(repo: Repository) -> None:
    """The reference history (see the module)."""
    store = repo.store("job", {"n": 0, "tags": ["a"]})
    with statetrail.context(author="ann", comment="counting"):
        for i in range(1, 12):
            store.set("n", i)
    timeline = repo.timeline("job")
    timeline.checkout(5)
    store.set("side", True)
    timeline.switch("main")
    store.set("n", 100)
    store.set("tags", ["a", "b"])
    timeline.erase(ERASED, reason="privacy", author="dpo")
    timeline.checkout(8)
    score = repo.watch("score", 0)
    for i in range(1, 6):
        score.set(i * 10)


def _plain(value: Any) -> Any:
    if isinstance(value, Erased):
        return ["erased", value.author, value.reason, value.time_ns]
    return thaw(value)


def export(repo: Repository) -> dict[str, Any]:
    """Everything a reader sees: revisions, branches, cursor, blame of each path."""
    out: dict[str, Any] = {}
    for name in repo.timelines():
        timeline = repo.timeline(name, create=False)
        revisions = [
            [
                r.number,
                r.parent,
                r.branch,
                r.time_ns,
                r.kind,
                r.author,
                r.comment,
                r.label,
                repr(r.origin),
                r.target,
                repr(_plain(r.value)),
            ]
            for r in timeline.revisions()
        ]
        value = timeline.head.value
        blame = {}
        if isinstance(value, dict) or hasattr(value, "keys"):
            for key in sorted(value):
                found = timeline.blame(str(key))
                blame[key] = None if found is None else found.number
        out[name] = {
            "revisions": revisions,
            "branches": timeline.branches(),
            "cursor": [timeline.head.number, timeline.current_branch],
            "value": repr(_plain(value)),
            "blame": blame,
        }
    return out


class Raw(Protocol):
    """One backend's stored rows, edited directly."""

    def row(self, timeline: str, number: int) -> dict[str, Any]:
        """The stored fields of one row."""

    def set_row(self, timeline: str, number: int, **fields: Any) -> None:
        """Overwrite fields of a row."""

    def delete_rows(self, timeline: str, numbers: list[int]) -> None:
        """Delete rows."""

    def heads(self, timeline: str) -> dict[str, Any]:
        """branch, cursor, tips (a dict), seal."""

    def set_heads(self, timeline: str, **fields: Any) -> None:
        """Overwrite fields of the heads."""

    def drop_heads(self, timeline: str) -> None:
        """Remove the saved heads."""

    def checkpoints(self, timeline: str) -> dict[int, tuple[str, str]]:
        """The checkpoints, by number."""

    def set_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        """Overwrite a checkpoint."""

    def set_end(self, timeline: str, length: int, chain: str) -> None:
        """Overwrite the end record."""


_COLUMNS = list(Row._fields)


class SqliteRaw:
    """:class:`Raw` over an SQLite file."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def close(self) -> None:
        self.conn.close()

    def row(self, timeline: str, number: int) -> dict[str, Any]:
        record = self.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM revisions NOT INDEXED"
            " WHERE timeline = ? AND number = ?",
            (timeline, number),
        ).fetchone()
        return dict(zip(_COLUMNS, record, strict=True))

    def set_row(self, timeline: str, number: int, **fields: Any) -> None:
        for column, value in fields.items():
            assert column in _COLUMNS
            self.conn.execute(
                f"UPDATE revisions SET {column} = ? WHERE timeline = ? AND number = ?",
                (value, timeline, number),
            )

    def delete_rows(self, timeline: str, numbers: list[int]) -> None:
        for number in numbers:
            self.conn.execute(
                "DELETE FROM revisions WHERE timeline = ? AND number = ?",
                (timeline, number),
            )

    def heads(self, timeline: str) -> dict[str, Any]:
        branch, cursor, tips, seal = self.conn.execute(
            "SELECT branch, cursor, tips, seal FROM heads WHERE timeline = ?",
            (timeline,),
        ).fetchone()
        tips = json.loads(tips)
        return {"branch": branch, "cursor": cursor, "tips": tips, "seal": seal}

    def set_heads(self, timeline: str, **fields: Any) -> None:
        for column, value in fields.items():
            assert column in ("branch", "cursor", "tips", "seal")
            if column == "tips":
                value = json.dumps(value)
            self.conn.execute(
                f"UPDATE heads SET {column} = ? WHERE timeline = ?",
                (value, timeline),
            )

    def drop_heads(self, timeline: str) -> None:
        self.conn.execute("DELETE FROM heads WHERE timeline = ?", (timeline,))

    def checkpoints(self, timeline: str) -> dict[int, tuple[str, str]]:
        return {
            n: (v, d)
            for n, v, d in self.conn.execute(
                "SELECT number, value, digest FROM checkpoints WHERE timeline = ?",
                (timeline,),
            )
        }

    def set_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        self.conn.execute(
            "UPDATE checkpoints SET value = ?, digest = ?"
            " WHERE timeline = ? AND number = ?",
            (value, digest, timeline, number),
        )

    def set_end(self, timeline: str, length: int, chain: str) -> None:
        self.conn.execute(
            "UPDATE heads SET count = ?, chain = ? WHERE timeline = ?",
            (length, chain, timeline),
        )


class JsonRaw:
    """:class:`Raw` over a JSON history file (written back by :meth:`close`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)

    def close(self) -> None:
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.doc, f)

    def _entry(self, timeline: str) -> dict[str, Any]:
        entry: dict[str, Any] = self.doc["timelines"][timeline]
        return entry

    def _row(self, timeline: str, number: int) -> dict[str, Any]:
        return next(r for r in self._entry(timeline)["rows"] if r["number"] == number)

    def row(self, timeline: str, number: int) -> dict[str, Any]:
        return {"timeline": timeline, **self._row(timeline, number)}

    def set_row(self, timeline: str, number: int, **fields: Any) -> None:
        row = self._row(timeline, number)
        for key, value in fields.items():
            row[key] = json.loads(value) if key == "paths" else value

    def delete_rows(self, timeline: str, numbers: list[int]) -> None:
        entry = self._entry(timeline)
        entry["rows"] = [r for r in entry["rows"] if r["number"] not in numbers]

    def heads(self, timeline: str) -> dict[str, Any]:
        return dict(self._entry(timeline)["heads"])

    def set_heads(self, timeline: str, **fields: Any) -> None:
        self._entry(timeline)["heads"].update(fields)

    def drop_heads(self, timeline: str) -> None:
        self._entry(timeline)["heads"] = None

    def checkpoints(self, timeline: str) -> dict[int, tuple[str, str]]:
        kept = self._entry(timeline)["checkpoints"]
        return {int(k): (v[0], v[1]) for k, v in kept.items()}

    def set_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        self._entry(timeline)["checkpoints"][str(number)] = [value, digest]

    def set_end(self, timeline: str, length: int, chain: str) -> None:
        self._entry(timeline)["end"] = [length, chain]


class PostgresRaw:
    """:class:`Raw` over a PostgreSQL schema."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self.sql = sql
        self.conn = psycopg.connect(url, autocommit=True)
        self.schema = sql.Identifier(schema)

    def close(self) -> None:
        self.conn.close()

    def _q(self, text: str) -> Any:
        return self.sql.SQL(text).format(s=self.schema)

    def row(self, timeline: str, number: int) -> dict[str, Any]:
        record = self.conn.execute(
            self._q(
                f"SELECT {', '.join(_COLUMNS)} FROM {{s}}.revisions"
                " WHERE timeline = %s AND number = %s"
            ),
            [timeline, number],
        ).fetchone()
        assert record is not None
        out = dict(zip(_COLUMNS, record, strict=True))
        out["paths"] = json.dumps([p.decode() for p in out["paths"]])
        return out

    def set_row(self, timeline: str, number: int, **fields: Any) -> None:
        for column, value in fields.items():
            assert column in _COLUMNS
            if column == "paths":
                value = [p.encode() for p in json.loads(value)]
            self.conn.execute(
                self.sql.SQL(
                    "UPDATE {s}.revisions SET {c} = %s"
                    " WHERE timeline = %s AND number = %s"
                ).format(s=self.schema, c=self.sql.Identifier(column)),
                [value, timeline, number],
            )

    def delete_rows(self, timeline: str, numbers: list[int]) -> None:
        self.conn.execute(
            self._q(
                "DELETE FROM {s}.revisions WHERE timeline = %s AND number = ANY(%s)"
            ),
            [timeline, numbers],
        )

    def heads(self, timeline: str) -> dict[str, Any]:
        record = self.conn.execute(
            self._q(
                "SELECT branch, cursor, tips, seal FROM {s}.heads WHERE timeline = %s"
            ),
            [timeline],
        ).fetchone()
        assert record is not None
        branch, cursor, tips, seal = record
        return {"branch": branch, "cursor": cursor, "tips": tips, "seal": seal}

    def set_heads(self, timeline: str, **fields: Any) -> None:
        from psycopg.types.json import Jsonb

        for column, value in fields.items():
            self.conn.execute(
                self.sql.SQL(
                    "UPDATE {s}.heads SET {c} = %s WHERE timeline = %s"
                ).format(s=self.schema, c=self.sql.Identifier(column)),
                [Jsonb(value) if column == "tips" else value, timeline],
            )

    def drop_heads(self, timeline: str) -> None:
        self.conn.execute(
            self._q("DELETE FROM {s}.heads WHERE timeline = %s"), [timeline]
        )

    def checkpoints(self, timeline: str) -> dict[int, tuple[str, str]]:
        return {
            n: (v, d)
            for n, v, d in self.conn.execute(
                self._q(
                    "SELECT number, value, digest FROM {s}.checkpoints"
                    " WHERE timeline = %s"
                ),
                [timeline],
            ).fetchall()
        }

    def set_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        self.conn.execute(
            self._q(
                "UPDATE {s}.checkpoints SET value = %s, digest = %s"
                " WHERE timeline = %s AND number = %s"
            ),
            [value, digest, timeline, number],
        )

    def set_end(self, timeline: str, length: int, chain: str) -> None:
        self.conn.execute(
            self._q("UPDATE {s}.heads SET count = %s, chain = %s WHERE timeline = %s"),
            [length, chain, timeline],
        )


# -- the edits -------------------------------------------------------------------------


def _newest(raw: Raw) -> int:
    return max(raw.heads("job")["tips"].values())


def rebuildable_checkpoint(raw: Raw) -> int:
    """A checkpoint whose value can be rebuilt from patches (none erased below)."""
    return max(n for n in raw.checkpoints("job") if n != ERASED + 1)


def edit_checkpoint(raw: Raw, how: str) -> None:
    number = rebuildable_checkpoint(raw)
    value, digest = raw.checkpoints("job")[number]
    altered = value.replace('"n":', '"m":') if '"n":' in value else value + " "
    if how == "plain":  # as statetrail wrote it before format 2
        new_digest = codec.digest(altered.encode())
    elif how == "bound":
        new_digest = integrity.checkpoint_digest(
            raw.row("job", number)["chain"], altered.encode()
        )
    else:
        new_digest = digest
    raw.set_checkpoint("job", number, altered, new_digest)


def _edit_erased_child_checkpoint(raw: Raw) -> None:
    """The checkpoint that alone holds the erased revision's child's value,
    edited with its digest recomputed bound to its chain."""
    number = ERASED + 1
    value, _ = raw.checkpoints("job")[number]
    altered = value.replace('"n":', '"m":')
    chain = raw.row("job", number)["chain"]
    digest = integrity.checkpoint_digest(chain, altered.encode())
    raw.set_checkpoint("job", number, altered, digest)


def forge_erasure(raw: Raw) -> int:
    """A forged erasure (issue 9's last gap): a revision's payload dropped, a
    tombstone written with its seal recomputed, its child's checkpoint given
    another value (the patches after it still apply) and listed in the forged
    tombstone with its digest recomputed. Returns the child's number.

    Every digest an attacker without the chain's history can recompute is
    recomputed; only the child's own row, chained when it was written, still
    says what its value was (its value digest, format 3).
    """
    child = rebuildable_checkpoint(raw)
    parent = int(raw.row("job", child)["parent"])
    row = raw.row("job", parent)
    value, _ = raw.checkpoints("job")[child]
    forged = value.replace('"a"', '"z"')
    assert forged != value
    digest = integrity.checkpoint_digest(
        raw.row("job", child)["chain"], forged.encode()
    )
    raw.set_checkpoint("job", child, forged, digest)
    raw.set_row(
        "job",
        parent,
        payload=None,
        erased=integrity.tombstone(
            row["chain"],
            "dpo",
            "privacy",
            row["time_ns"] + 1,
            integrity.payload_digest(row["payload"].encode()),
            {child: digest},
        ),
    )
    return child


def _forge_tombstone(raw: Raw, number: int) -> None:
    raw.set_row("job", number, payload=None, erased=raw.row("job", ERASED)["erased"])


def _child_with_checkpoint(raw: Raw) -> int:
    """The parent of a checkpointed revision (not the erased one)."""
    number = rebuildable_checkpoint(raw)
    parent = raw.row("job", number)["parent"]
    assert parent is not None
    return int(parent)


def _tombstone_with(raw: Raw, **changes: Any) -> str:
    tomb = json.loads(raw.row("job", ERASED)["erased"])
    tomb.update(changes)
    return json.dumps(tomb, sort_keys=True)


Tamper = Callable[[Raw], None]

#: Defect 3 of issue 9, then other single edits. Each must be detected.
TAMPERS: dict[str, Tamper] = {
    "newest revisions deleted": lambda raw: raw.delete_rows(
        "job", [_newest(raw) - 2, _newest(raw) - 1, _newest(raw)]
    ),
    "heads.cursor moved back": lambda raw: raw.set_heads(
        "job", cursor=raw.heads("job")["cursor"] - 3
    ),
    "NULL payload at the cursor": lambda raw: raw.set_row(
        "job", raw.heads("job")["cursor"], payload=None
    ),
    "NULL payload at the newest revision": lambda raw: raw.set_row(
        "job", _newest(raw), payload=None
    ),
    "NULL payload on a revision whose child has a checkpoint": lambda raw: raw.set_row(
        "job", _child_with_checkpoint(raw), payload=None
    ),
    "NULL payload with a tombstone copied from the erased revision": lambda raw: (
        _forge_tombstone(raw, _child_with_checkpoint(raw))
    ),
    "erased revision: author edited": lambda raw: raw.set_row(
        "job", ERASED, author="mallory"
    ),
    "erased revision: comment edited": lambda raw: raw.set_row(
        "job", ERASED, comment="nothing to see"
    ),
    "erased revision: time edited": lambda raw: raw.set_row(
        "job", ERASED, time_ns=raw.row("job", ERASED)["time_ns"] + 1
    ),
    "erased revision: tombstone reason edited": lambda raw: raw.set_row(
        "job", ERASED, erased=_tombstone_with(raw, reason="routine")
    ),
    "erased revision: tombstone author edited": lambda raw: raw.set_row(
        "job", ERASED, erased=_tombstone_with(raw, author="nobody")
    ),
    "erased revision: tombstone removed": lambda raw: raw.set_row(
        "job", ERASED, erased=None
    ),
    "checkpoint value edited": lambda raw: edit_checkpoint(raw, "value"),
    "checkpoint value edited, its digest recomputed": lambda raw: edit_checkpoint(
        raw, "plain"
    ),
    "checkpoint value edited, digest recomputed bound to its chain": lambda raw: (
        edit_checkpoint(raw, "bound")
    ),
    "checkpoint after the erased revision edited, digest recomputed bound to its "
    "chain": _edit_erased_child_checkpoint,
    "a forged erasure: payload dropped, tombstone sealed, the child's checkpoint "
    "forged and listed": forge_erasure,
    "a payload edited": lambda raw: raw.set_row(
        "job", 6, payload=raw.row("job", 6)["payload"].replace("6", "7")
    ),
    "an author edited": lambda raw: raw.set_row("job", 6, author="mallory"),
    "a middle revision deleted": lambda raw: raw.delete_rows("job", [6]),
    "the first revision deleted": lambda raw: raw.delete_rows("score", [0]),
    "a branch tip moved": lambda raw: raw.set_heads(
        "job", tips={**raw.heads("job")["tips"], "main": 7}
    ),
    "heads removed": lambda raw: raw.drop_heads("job"),
    "end record moved back": lambda raw: raw.set_end(
        "job", _newest(raw), raw.row("job", _newest(raw) - 1)["chain"]
    ),
    "a whole timeline deleted": lambda raw: raw.delete_rows("score", list(range(6))),
}


@contextmanager
def sqlite_raw(path: str) -> Iterator[SqliteRaw]:
    """An SQLite file's rows, edited directly."""
    with closing(SqliteRaw(path)) as raw:
        yield raw
