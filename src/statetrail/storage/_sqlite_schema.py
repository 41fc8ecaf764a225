"""How the SQLite backend lays rows out: the schema, its migrations, the statements.

The schema is versioned with ``PRAGMA user_version``: :data:`MIGRATIONS` lists one
function per version, and :func:`migrate` applies the missing ones in order inside
the caller's transaction, so a file is either fully migrated or not at all. A file
written by a newer statetrail (a higher version than this code knows) is refused
rather than misread.

Version 2 is format 2 of the hash chain (see ``_integrity``): the ``heads`` row
of a timeline also holds its end record (``count``, ``chain``), which a trigger
on ``revisions`` moves in the INSERT's own statement (no query more per write),
and the heads' ``seal``. That costs each write one more page in its commit
(``heads`` is WITHOUT ROWID, so one B-tree, not a table and its index): about
15 us with ``synchronous=NORMAL``, nothing measurable beside a FULL fsync. The
same trigger refuses a number below the end record:
with a damaged primary-key index SQLite would otherwise store a second row with
a taken number. A new file goes through every step too, so new and migrated
files have the same schema, which :func:`schema_problems` compares.

Names (timelines, branches, authors) are data: every statement here binds them as
parameters, and no text from outside is ever formatted into SQL.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from statetrail.errors import ConflictError, CorruptHistoryError, StorageError
from statetrail.storage import _integrity as integrity
from statetrail.storage._sqlite_errors import PRIMARY_KEY, code, too_large
from statetrail.storage.base import End, Heads, Row

__all__ = [
    "APPLICATION_ID",
    "BELOW_END",
    "BUMP_NODE_EPOCH",
    "CHAINS",
    "CHECKPOINT",
    "CHECKPOINTS",
    "CHECKPOINT_BELOW",
    "CHECKPOINT_INTEGERS",
    "COUNTS",
    "CROSSING",
    "DELETE_NODE",
    "DELETE_TRIMMED",
    "END",
    "ERASE",
    "FORKS",
    "HEADS",
    "INDEX_COUNTS",
    "INDEX_EXTRA",
    "INDEX_MISSING",
    "INDEX_SUMS",
    "INDEX_SUMS_4",
    "INSERT",
    "INSERT_INTEGERS",
    "INSERT_JSON",
    "LATEST",
    "LINE_BREAKS",
    "MIGRATIONS",
    "MIGRATIONS_1",
    "MIGRATIONS_3",
    "NEWEST_TRIM",
    "NODE_DIGESTS",
    "NODE_EPOCH",
    "NODE_ROOTS",
    "NUMBER_AT",
    "PUT_CHECKPOINT",
    "PUT_CHECKPOINTS_JSON",
    "PUT_TRIM",
    "RANGE",
    "ROW",
    "ROWS",
    "SAVE_HEADS",
    "SCHEMA",
    "TIMELINES",
    "TOUCHING",
    "TRIMS",
    "TRIM_BATCH_END",
    "UNINDEXED",
    "UNINDEXED_ROWS",
    "Migration",
    "below_end",
    "end_from",
    "execute",
    "expected_schema",
    "has_json",
    "heads_from",
    "insert",
    "insert_many",
    "insert_with_heads",
    "migrate",
    "params",
    "row_from",
    "schema_problems",
    "tips_json",
]

#: Marks a file as a statetrail database ("STRL"), so a foreign SQLite file with
#: tables of its own is refused instead of being written into.
APPLICATION_ID = 0x5354524C

#: One schema step: it receives the connection inside an open transaction.
Migration = Callable[[sqlite3.Connection], None]


def _version_1(conn: sqlite3.Connection) -> None:
    """Revisions, heads and checkpoints."""
    conn.execute(
        """
        CREATE TABLE revisions (
            timeline TEXT NOT NULL,
            number INTEGER NOT NULL,
            parent INTEGER,
            branch TEXT NOT NULL,
            time_ns INTEGER NOT NULL,
            kind TEXT NOT NULL,
            target INTEGER,
            label TEXT,
            author TEXT,
            comment TEXT,
            extra TEXT,
            origin TEXT,
            payload TEXT,
            paths TEXT NOT NULL,
            digest TEXT NOT NULL,
            chain TEXT NOT NULL,
            erased TEXT,
            PRIMARY KEY (timeline, number)
        )
        """
    )
    # No secondary indexes: each would add a page to every commit's fsync, and
    # SQLite histories are filtered in memory once loaded.
    conn.execute(
        """
        CREATE TABLE heads (
            timeline TEXT PRIMARY KEY,
            branch TEXT NOT NULL,
            cursor INTEGER NOT NULL,
            tips TEXT NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE checkpoints (
            timeline TEXT NOT NULL,
            number INTEGER NOT NULL,
            value TEXT NOT NULL,
            digest TEXT NOT NULL,
            PRIMARY KEY (timeline, number)
        )
        """
    )


#: Raised by the trigger (spelled out in it): a number at or below the newest
#: is being inserted.
BELOW_END = "statetrail: revision number below the end record"


def _version_2(conn: sqlite3.Connection) -> None:
    """Format 2 of the chain: end records in ``heads``, sealed heads, the trigger."""
    conn.execute(
        """
        CREATE TABLE heads_2 (
            timeline TEXT PRIMARY KEY,
            branch TEXT,
            cursor INTEGER,
            tips TEXT,
            seal TEXT,
            count INTEGER,
            chain TEXT
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        "INSERT INTO heads_2 (timeline, branch, cursor, tips)"
        " SELECT timeline, branch, cursor, tips FROM heads"
    )
    conn.execute("DROP TABLE heads")
    conn.execute("ALTER TABLE heads_2 RENAME TO heads")
    # The end of each timeline stored so far, trusted as found.
    conn.execute(
        """
        INSERT INTO heads (timeline, count, chain)
        SELECT timeline, number + 1, chain FROM revisions AS r
        WHERE number = (SELECT max(number) FROM revisions WHERE timeline = r.timeline)
        ON CONFLICT (timeline) DO UPDATE SET
            count = excluded.count, chain = excluded.chain
        """
    )
    _seal_old_heads(conn)
    conn.execute(
        """
        CREATE TRIGGER revisions_end AFTER INSERT ON revisions BEGIN
            SELECT RAISE(ABORT, 'statetrail: revision number below the end record')
            FROM heads WHERE timeline = new.timeline AND count > new.number;
            INSERT INTO heads (timeline, count, chain)
            VALUES (new.timeline, new.number + 1, new.chain)
            ON CONFLICT (timeline) DO UPDATE SET
                count = excluded.count, chain = excluded.chain;
        END
        """
    )


def _seal_old_heads(conn: sqlite3.Connection) -> None:
    """Seal the heads of format-1 timelines (as found), saving the ones never saved.

    A format-1 timeline whose cursor never moved has no saved heads: its cursor
    is its newest revision and each branch's tip its newest there, what the
    loader worked out from the rows.
    """
    names = [n for (n,) in conn.execute("SELECT timeline FROM heads WHERE count > 0")]
    for name in names:
        record = conn.execute(
            "SELECT branch, cursor, tips FROM heads WHERE timeline = ?", (name,)
        ).fetchone()
        if record[0] is None:
            tips = dict(
                conn.execute(
                    "SELECT branch, max(number) FROM revisions WHERE timeline = ?"
                    " GROUP BY branch",
                    (name,),
                ).fetchall()
            )
            (cursor,) = conn.execute(
                "SELECT max(number) FROM revisions WHERE timeline = ?", (name,)
            ).fetchone()
            (branch,) = conn.execute(
                "SELECT branch FROM revisions WHERE timeline = ? AND number = ?",
                (name, cursor),
            ).fetchone()
            heads = Heads(branch, cursor, tips)
        else:
            try:
                heads = heads_from(record, name, "")
            except CorruptHistoryError:
                continue  # left unsealed: verify reports it
        chains = {}
        for number in (heads.cursor, *heads.tips.values()):
            found = conn.execute(ROW_CHAIN, (name, number)).fetchone()
            if found is not None:
                chains[number] = found[0]
        if all(n in chains for n in (heads.cursor, *heads.tips.values())):
            conn.execute(
                "UPDATE heads SET branch = ?, cursor = ?, tips = ?, seal = ?"
                " WHERE timeline = ?",
                (
                    heads.branch,
                    heads.cursor,
                    tips_json(heads),
                    integrity.heads_seal(name, heads, chains),
                    name,
                ),
            )


def _version_3_range_tombstones(conn: sqlite3.Connection) -> None:
    """Range tombstones: what each trim of a timeline removed (see ``_ranges``).

    One row per trim, keyed by its first revision (an extended trim replaces
    its row). WITHOUT ROWID: a timeline has a handful, read whole.
    """
    conn.execute(
        """
        CREATE TABLE trims (
            timeline TEXT NOT NULL,
            first INTEGER NOT NULL,
            last INTEGER NOT NULL,
            time_ns INTEGER NOT NULL,
            reason TEXT NOT NULL,
            author TEXT,
            chain TEXT NOT NULL,
            checkpoints TEXT NOT NULL,
            seal TEXT NOT NULL,
            PRIMARY KEY (timeline, first)
        ) WITHOUT ROWID
        """
    )


def _version_4_indexes(conn: sqlite3.Connection) -> None:
    """The path index and the time index (see ``_index``).

    ``paths`` holds one entry per path a row lists, keyed ``(timeline, path,
    number)``: WITHOUT ROWID, so the key is the only B-tree. Triggers keep it in
    step with ``revisions`` inside the statement that inserts or deletes a row,
    whatever the path taken (one insert, many, the batched group commit, a
    trim), so it is written in the row's own transaction. The time index is an
    ordinary index on ``revisions``: ``(timeline, time_ns, number)`` covers
    :data:`NUMBER_AT`, one seek. A partial index holds the rows whose parent
    is not the row below (:data:`LINE_BREAKS`): only those few pay for it.

    Existing rows are indexed in one ``INSERT ... SELECT``, which SQLite streams
    row by row (its memory is the page cache, not the table).

    SQLite's JSON functions end a string at a U+0000 character, so a row whose
    paths hold one (an escaped NUL in its JSON, or a false alarm) is indexed under
    :data:`UNINDEXED` instead, which is not a JSON Pointer: ``touching`` reads
    those few rows and checks their paths itself.
    """
    conn.execute(
        """
        CREATE TABLE paths (
            timeline TEXT NOT NULL,
            path TEXT NOT NULL,
            number INTEGER NOT NULL,
            PRIMARY KEY (timeline, path, number)
        ) WITHOUT ROWID
        """
    )
    conn.execute(
        "INSERT OR IGNORE INTO paths (timeline, path, number)"
        " SELECT r.timeline, j.value, r.number FROM revisions AS r, json_each(r.paths)"
        " AS j WHERE json_valid(r.paths) AND instr(r.paths, '\\u0000') = 0"
    )
    conn.execute(
        "INSERT OR IGNORE INTO paths (timeline, path, number)"
        " SELECT timeline, '~', number FROM revisions"
        " WHERE instr(paths, '\\u0000') > 0"
    )
    conn.execute(
        """
        CREATE TRIGGER revisions_paths AFTER INSERT ON revisions BEGIN
            INSERT OR IGNORE INTO paths (timeline, path, number)
            SELECT new.timeline, value, new.number FROM json_each(new.paths)
            WHERE instr(new.paths, '\\u0000') = 0;
            INSERT OR IGNORE INTO paths (timeline, path, number)
            SELECT new.timeline, '~', new.number
            WHERE instr(new.paths, '\\u0000') > 0;
        END
        """
    )
    conn.execute(
        """
        CREATE TRIGGER revisions_paths_gone AFTER DELETE ON revisions BEGIN
            DELETE FROM paths WHERE timeline = old.timeline AND number = old.number
            AND path IN (SELECT value FROM json_each(old.paths) UNION ALL SELECT '~');
        END
        """
    )
    conn.execute("CREATE INDEX revisions_time ON revisions (timeline, time_ns, number)")
    # The rows whose parent is not the row below (a line's runs start there):
    # a partial index, so only those rows pay a write, and the query reads
    # them without the rows between.
    conn.execute(
        "CREATE INDEX revisions_breaks ON revisions (timeline, number, parent)"
        " WHERE parent IS NULL OR parent <> number - 1"
    )


def _version_nodes(conn: sqlite3.Connection) -> None:
    """The node store: content-addressed checkpoints (see ``_nodes``).

    One row per node of the value commitment's tree, keyed by its SHA-256 (32
    bytes), shared by every timeline. WITHOUT ROWID: the key is the lookup.
    """
    conn.execute(
        """
        CREATE TABLE nodes (
            digest BLOB PRIMARY KEY,
            body BLOB NOT NULL
        ) WITHOUT ROWID
        """
    )


#: The schema's history: version ``n`` is reached by applying ``MIGRATIONS[:n]``.
#: Append to it; never edit a step that has shipped.
MIGRATIONS: tuple[Migration, ...] = (
    _version_1,
    _version_2,
    _version_3_range_tombstones,
    _version_4_indexes,
    _version_nodes,
)

#: Versions 1 to 3: what statetrail wrote before the indexes (for upgrade tests).
MIGRATIONS_3: tuple[Migration, ...] = MIGRATIONS[:3]

#: Version 1 alone: what statetrail wrote before format 2 (for tests of upgrades).
MIGRATIONS_1: tuple[Migration, ...] = (_version_1,)


@functools.lru_cache(maxsize=4)
def expected_schema(migrations: tuple[Migration, ...] = MIGRATIONS) -> tuple[Any, ...]:
    """The schema objects ``migrations`` make, as ``sqlite_schema`` lists them."""
    conn = sqlite3.connect(":memory:")
    try:
        for step in migrations:
            step(conn)
        return tuple(conn.execute(SCHEMA).fetchall())
    finally:
        conn.close()


#: A trigger's rootpage is 0; a table's depends on the file, so it is left out.
SCHEMA = """
    SELECT type, name, tbl_name, sql, type = 'trigger' AND rootpage <> 0
    FROM sqlite_master ORDER BY type, name
"""
ROW_CHAIN = "SELECT chain FROM revisions WHERE timeline = ? AND number = ?"


def schema_problems(
    found: Sequence[Any], migrations: tuple[Migration, ...]
) -> list[str]:
    """How the schema ``found`` differs from what ``migrations`` make."""
    expected = expected_schema(migrations)
    if tuple(map(tuple, found)) == expected:
        return []
    names = {r[1] for r in expected} ^ {r[1] for r in found}
    changed = sorted(
        {r[1] for r in found if tuple(r) not in expected}
        | {r[1] for r in expected if r not in set(map(tuple, found))}
    )
    return [
        f"the schema differs from statetrail's: {', '.join(changed or sorted(names))}"
    ]


def migrate(
    conn: sqlite3.Connection, path: str, migrations: Sequence[Migration]
) -> None:
    """Bring the open database up to ``len(migrations)``, in the caller's transaction.

    Args:
        conn: A connection inside a write transaction (``BEGIN IMMEDIATE``).
        path: The file's name, for messages.
        migrations: The steps, oldest first.

    Raises:
        StorageError: The file belongs to another application, or was written by a
            newer statetrail than this one.
    """
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if app_id not in (0, APPLICATION_ID):
        raise StorageError(
            f"{path} is an SQLite database of another application "
            f"(application_id {app_id:#x}); statetrail will not write into it"
        )
    if version > len(migrations):
        raise StorageError(
            f"{path} has schema version {version}, newer than this statetrail "
            f"knows ({len(migrations)}); upgrade statetrail to open it"
        )
    if 0 < version < 2 <= len(migrations):
        found = _format_2_in_version_1(conn)
        if found:
            what = (
                f"{path} is labelled schema version {version} but holds "
                f"{found}, which only version 2 writes: its version was set back "
                "by hand (altered); restore it from a backup"
            )
            raise CorruptHistoryError(what, [(None, None, what)])
    for step in migrations[version:]:
        step(conn)
    if version < len(migrations):
        # PRAGMA takes no parameters; both values are integers of our own.
        conn.execute(f"PRAGMA user_version = {len(migrations):d}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")


def _format_2_in_version_1(conn: sqlite3.Connection) -> str | None:
    """What of format 2 a file at schema version 1 holds, if anything.

    Its heads' columns of version 2, its end trigger, or a timeline's newest row
    written in format 2 (a timeline's rows switch to format 2 for good).
    """
    columns = {r[1] for r in conn.execute("PRAGMA table_info(heads)")}
    if not columns:
        return "no heads table (version 1 has one)"
    if columns & {"seal", "count", "chain"}:
        return "the heads' seal and end record columns"
    if conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'revisions_end'"
    ).fetchone():
        return "the end record's trigger"
    newest = conn.execute(
        """
        SELECT timeline, number, parent, branch, time_ns, kind, target, label,
            author, comment, extra, origin, payload, paths, digest, chain, erased
        FROM revisions AS r
        WHERE number = (SELECT max(number) FROM revisions WHERE timeline = r.timeline)
        """
    ).fetchall()
    for record in newest:
        try:
            row = row_from(record, "")
            newer = integrity.written_in_format_2(row)
        except (CorruptHistoryError, TypeError, ValueError):
            continue  # damaged: verify reports it
        if newer:
            return f"revision {row.number} of {row.timeline!r} in format 2"
    return None


# The statements are spelled out whole: nothing, not even a column list, is
# formatted into SQL.
INSERT = """
    INSERT INTO revisions (
        timeline, number, parent, branch, time_ns, kind, target, label, author,
        comment, extra, origin, payload, paths, digest, chain, erased
    ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# The usual row (no target, label, author, comment nor tombstone) with those
# columns as NULL in the text: sqlite3 binds a None parameter through its adapter
# lookup, about 0.2 us each.
INSERT_PLAIN = """
    INSERT INTO revisions (
        timeline, number, parent, branch, time_ns, kind, target, label, author,
        comment, extra, origin, payload, paths, digest, chain, erased
    ) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, NULL)
"""
RANGE = """
    SELECT
        timeline, number, parent, branch, time_ns, kind, target, label, author,
        comment, extra, origin, payload, paths, digest, chain, erased
    FROM revisions
    WHERE timeline = ? AND number > ? AND number <= ?
    ORDER BY number
"""
#: Backend.forks(): rows whose parent or branch is not the row before's (a row
#: whose predecessor is missing counts too); one probe of the primary key each.
FORKS = """
    SELECT r.number, r.parent, r.branch
    FROM revisions AS r
    LEFT JOIN revisions AS p ON p.timeline = r.timeline AND p.number = r.number - 1
    WHERE r.timeline = ? AND r.number > ?
      AND (r.parent IS NULL OR r.parent != r.number - 1
           OR p.branch IS NULL OR p.branch != r.branch)
    ORDER BY r.number
"""

ROW = """
    SELECT
        timeline, number, parent, branch, time_ns, kind, target, label, author,
        comment, extra, origin, payload, paths, digest, chain, erased
    FROM revisions
    WHERE timeline = ? AND number = ?
"""
#: Backend.rows(): scattered rows by number, the numbers as a JSON array.
ROWS = """
    SELECT
        timeline, number, parent, branch, time_ns, kind, target, label, author,
        comment, extra, origin, payload, paths, digest, chain, erased
    FROM revisions
    WHERE timeline = ? AND number IN (SELECT value FROM json_each(?))
    ORDER BY number
"""
#: Backend.chains(): the chains of scattered rows, the numbers as JSON.
CHAINS = """
    SELECT number, chain FROM revisions
    WHERE timeline = ? AND number IN (SELECT value FROM json_each(?))
"""
LATEST = "SELECT max(number) FROM revisions WHERE timeline = ?"
# A skip-scan over the primary key: one index probe per timeline, not one per row;
# with the timelines of the end records, so a timeline whose rows are gone is
# listed (and then refused when opened).
TIMELINES = """
    WITH RECURSIVE names(name) AS (
        SELECT min(timeline) FROM revisions
        UNION ALL
        SELECT (SELECT min(timeline) FROM revisions WHERE timeline > name)
        FROM names WHERE name IS NOT NULL
    )
    SELECT name FROM names WHERE name IS NOT NULL
    UNION SELECT timeline FROM heads WHERE count > 0
    ORDER BY 1
"""
ERASE = (
    "UPDATE revisions SET payload = NULL, erased = ? WHERE timeline = ? AND number = ?"
)
SAVE_HEADS = (
    "INSERT INTO heads (timeline, branch, cursor, tips, seal) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (timeline) DO UPDATE SET"
    " branch = excluded.branch, cursor = excluded.cursor, tips = excluded.tips,"
    " seal = excluded.seal"
)
HEADS = (
    "SELECT branch, cursor, tips, seal FROM heads"
    " WHERE timeline = ? AND branch IS NOT NULL"
)
END = "SELECT count, chain FROM heads WHERE timeline = ? AND count IS NOT NULL"
#: Timelines whose numbers add up differently in a table and in its primary-key
#: index: reads go through the index and take the key columns from it, so a
#: number or name changed in the table alone is seen by nothing else.
INDEX_SUMS = """
    SELECT 'revisions', timeline FROM (
        SELECT timeline, count(*) AS n, sum(number) AS s
        FROM revisions NOT INDEXED GROUP BY timeline
        EXCEPT
        SELECT timeline, count(*), sum(number)
        FROM revisions INDEXED BY sqlite_autoindex_revisions_1 GROUP BY timeline
    )
    UNION
    SELECT 'checkpoints', timeline FROM (
        SELECT timeline, count(*) AS n, sum(number) AS s, sum(length(value)) AS v
        FROM checkpoints NOT INDEXED GROUP BY timeline
        EXCEPT
        SELECT timeline, count(*), sum(number), sum(length(value))
        FROM checkpoints INDEXED BY sqlite_autoindex_checkpoints_1 GROUP BY timeline
    )
"""
#: The same for the indexes of migration 4 on ``revisions``: through each, the
#: count and sums of every column it holds (the row id too; the time in two
#: halves, whose sum fits in 64 bits) against the table's. The commands read
#: them without the table (covering), so an entry changed in the index alone
#: would mislead ``number_at`` or a line's runs unseen by ``quick_check``.
INDEX_SUMS_4 = """
    SELECT 'revisions_time', timeline FROM (
        SELECT timeline, count(*), sum(number), sum(time_ns >> 32),
            sum(time_ns & 4294967295), sum(rowid)
        FROM revisions NOT INDEXED GROUP BY timeline
        EXCEPT
        SELECT timeline, count(*), sum(number), sum(time_ns >> 32),
            sum(time_ns & 4294967295), sum(rowid)
        FROM revisions INDEXED BY revisions_time GROUP BY timeline
    )
    UNION
    SELECT 'revisions_breaks', timeline FROM (
        SELECT timeline, count(*), sum(number), sum(coalesce(parent, -1)), sum(rowid)
        FROM revisions NOT INDEXED
        WHERE parent IS NULL OR parent <> number - 1 GROUP BY timeline
        EXCEPT
        SELECT timeline, count(*), sum(number), sum(coalesce(parent, -1)), sum(rowid)
        FROM revisions INDEXED BY revisions_breaks
        WHERE parent IS NULL OR parent <> number - 1 GROUP BY timeline
    )
"""
#: Rows per timeline counted from the table itself and through its primary-key
#: index (a damaged index hides rows from every other query), beside the end
#: records.
#: Rows below a timeline's newest range tombstone are being removed (a trim in
#: progress) and count on neither side.
COUNTS = """
    SELECT timeline, sum(n), sum(i), sum(e) FROM (
        SELECT timeline, count(*) AS n, 0 AS i, 0 AS e
        FROM revisions AS r NOT INDEXED
        WHERE number > (SELECT coalesce(max(last), -1) FROM trims AS t
                        WHERE t.timeline = r.timeline)
        GROUP BY timeline
        UNION ALL
        SELECT timeline, 0, count(*), 0
        FROM revisions AS r INDEXED BY sqlite_autoindex_revisions_1
        WHERE number > (SELECT coalesce(max(last), -1) FROM trims AS t
                        WHERE t.timeline = r.timeline)
        GROUP BY timeline
        UNION ALL
        SELECT timeline, 0, 0, count - (SELECT coalesce(max(last), -1) + 1
                                        FROM trims AS t WHERE t.timeline = h.timeline)
        FROM heads AS h WHERE count IS NOT NULL
    ) GROUP BY timeline
"""
PUT_CHECKPOINT = (
    "INSERT OR REPLACE INTO checkpoints (timeline, number, value, digest)"
    " VALUES (?, ?, ?, ?)"
)
# Many rows in one statement: their parameters as one JSON array of arrays (see
# insert_many). SQLite runs it without the GIL, and a failing statement undoes
# itself, so a taken number leaves none of the rows stored.
INSERT_JSON = """
    INSERT INTO revisions (
        timeline, number, parent, branch, time_ns, kind, target, label, author,
        comment, extra, origin, payload, paths, digest, chain, erased
    )
    SELECT
        json_extract(value, '$[0]'), json_extract(value, '$[1]'),
        json_extract(value, '$[2]'), json_extract(value, '$[3]'),
        json_extract(value, '$[4]'), json_extract(value, '$[5]'),
        json_extract(value, '$[6]'), json_extract(value, '$[7]'),
        json_extract(value, '$[8]'), json_extract(value, '$[9]'),
        json_extract(value, '$[10]'), json_extract(value, '$[11]'),
        json_extract(value, '$[12]'), json_extract(value, '$[13]'),
        json_extract(value, '$[14]'), json_extract(value, '$[15]'),
        json_extract(value, '$[16]')
    FROM json_each(?)
"""
PUT_CHECKPOINTS_JSON = """
    INSERT OR REPLACE INTO checkpoints (timeline, number, value, digest)
    SELECT
        json_extract(value, '$[0]'), json_extract(value, '$[1]'),
        json_extract(value, '$[2]'), json_extract(value, '$[3]')
    FROM json_each(?)
"""
PUT_NODE = "INSERT OR IGNORE INTO nodes (digest, body) VALUES (?, ?)"
#: The sweep count (``_nodes.EPOCH``): the node store's one row that is not a node.
NODE_EPOCH = "SELECT body FROM nodes WHERE digest = ?"
BUMP_NODE_EPOCH = (
    "INSERT INTO nodes (digest, body) VALUES (?, '1') ON CONFLICT (digest) DO"
    " UPDATE SET body = CAST(CAST(body AS INTEGER) + 1 AS TEXT)"
)
#: The roots the checkpoints of every timeline name (``#nodes:<hex>``).
NODE_ROOTS = (
    "SELECT substr(value, 8) FROM checkpoints WHERE substr(value, 1, 7) = '#nodes:'"
)
NODE_DIGESTS = (
    "SELECT digest FROM nodes WHERE digest > ? AND length(digest) = 32"
    " ORDER BY digest LIMIT ?"
)
DELETE_NODE = "DELETE FROM nodes WHERE digest = ? AND length(digest) = 32"
#: How many digests one query of the node store names (SQLite allows 32,766
#: parameters).
NODES_PER_QUERY = 500


def nodes_query(count: int, bodies: bool) -> str:
    """A query of ``count`` nodes by digest: their bodies, or only the digests."""
    columns = "digest, body" if bodies else "digest"
    marks = ",".join("?" * count)
    return f"SELECT {columns} FROM nodes WHERE digest IN ({marks})"  # noqa: S608 - only ? marks


CHECKPOINT = "SELECT value, digest FROM checkpoints WHERE timeline = ? AND number = ?"
TRIMS = (
    "SELECT first, last, time_ns, reason, author, chain, checkpoints, seal"
    " FROM trims WHERE timeline = ? ORDER BY first"
)
NEWEST_TRIM = (
    "SELECT seal, last FROM trims WHERE timeline = ? ORDER BY first DESC LIMIT 1"
)
PUT_TRIM = (
    "INSERT OR REPLACE INTO trims (timeline, first, last, time_ns, reason, author,"
    " chain, checkpoints, seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: The number of the ``limit``-th oldest row at or below a number (the end of
#: one batch of a trim).
TRIM_BATCH_END = (
    "SELECT max(number) FROM (SELECT number FROM revisions"
    " WHERE timeline = ? AND number <= ? ORDER BY number LIMIT ?)"
)
#: What goes with trimmed revisions, each ``(timeline, upto)``: the rows first
#: (its count is the batch's). Their path index entries go with each row, by
#: the trigger ``revisions_paths_gone``.
DELETE_TRIMMED = (
    "DELETE FROM revisions WHERE timeline = ? AND number <= ?",
    "DELETE FROM checkpoints WHERE timeline = ? AND number <= ?",
)
CROSSING = (
    "SELECT number FROM revisions WHERE timeline = ? AND number >= ? AND parent < ?"
    " ORDER BY number"
)
CHECKPOINTS = "SELECT number FROM checkpoints WHERE timeline = ? ORDER BY number"
#: The nearest checkpoint at or below a number: one probe of the primary key.
CHECKPOINT_BELOW = (
    "SELECT max(number) FROM checkpoints WHERE timeline = ? AND number <= ?"
)

#: Backend.touching(): the exact path, its descendants (a range of the key)
#: and each ancestor (one exact lookup each, bound as a JSON array), newest
#: first. Parameters: timeline, path, low, high, ancestors, before, limit.
#: (DISTINCT: a revision that changed several paths under the one asked for
#: counts once towards the limit, or a page came back short and read as the end.)
TOUCHING = """
    SELECT number FROM (
        SELECT number FROM paths
        WHERE timeline = ?1 AND path = ?2 AND number < ?6
        ORDER BY number DESC LIMIT ?7
    )
    UNION
    SELECT number FROM (
        SELECT DISTINCT number FROM paths
        WHERE timeline = ?1 AND path >= ?3 AND path < ?4 AND number < ?6
        ORDER BY number DESC LIMIT ?7
    )
    UNION
    SELECT number FROM (
        SELECT DISTINCT number FROM paths
        WHERE timeline = ?1 AND path IN (SELECT value FROM json_each(?5))
            AND number < ?6
        ORDER BY number DESC LIMIT ?7
    )
    ORDER BY number DESC LIMIT ?7
"""
#: Backend.line_breaks(): from the partial index revisions_breaks (the WHERE
#: repeats its condition, so SQLite may use it).
LINE_BREAKS = """
    SELECT number, parent FROM revisions INDEXED BY revisions_breaks
    WHERE timeline = ? AND number > ? AND (parent IS NULL OR parent <> number - 1)
    ORDER BY number
"""
#: Backend.number_at(): the latest time at or before a time, one seek.
NUMBER_AT = """
    SELECT number FROM revisions INDEXED BY revisions_time
    WHERE timeline = ? AND time_ns <= ?
    ORDER BY time_ns DESC, number DESC LIMIT 1
"""
#: Rows' paths that have no index entry, then entries no row lists.
INDEX_MISSING = """
    SELECT r.number, j.value FROM revisions AS r, json_each(r.paths) AS j
    WHERE r.timeline = ?1 AND instr(r.paths, '\\u0000') = 0 AND NOT EXISTS (
        SELECT 1 FROM paths AS p
        WHERE p.timeline = r.timeline AND p.path = j.value AND p.number = r.number
    )
    UNION ALL
    SELECT r.number, '~' FROM revisions AS r
    WHERE r.timeline = ?1 AND instr(r.paths, '\\u0000') > 0 AND NOT EXISTS (
        SELECT 1 FROM paths AS p
        WHERE p.timeline = r.timeline AND p.path = '~' AND p.number = r.number
    )
    ORDER BY 1 LIMIT 100
"""
#: How many entries the rows call for (each row's distinct paths; a row with
#: U+0000 in them, one), and how many the index holds: with none missing,
#: equal counts mean no extra entry, and INDEX_EXTRA (slower) need not run.
INDEX_COUNTS = """
    SELECT
        (SELECT coalesce(sum(CASE
            WHEN instr(paths, '\\u0000') > 0 THEN 1
            WHEN json_array_length(paths) <= 1 THEN json_array_length(paths)
            ELSE (SELECT count(DISTINCT value) FROM json_each(r.paths))
        END), 0) FROM revisions AS r WHERE timeline = ?1),
        (SELECT count(*) FROM paths WHERE timeline = ?1)
"""
INDEX_EXTRA = """
    SELECT p.number, p.path FROM paths AS p
    WHERE p.timeline = ? AND NOT EXISTS (
        SELECT 1 FROM revisions AS r
        WHERE r.timeline = p.timeline AND r.number = p.number AND (
            CASE WHEN instr(r.paths, '\\u0000') > 0 THEN p.path = '~'
            ELSE p.path IN (SELECT value FROM json_each(r.paths)) END
        )
    )
    ORDER BY p.number LIMIT 100
"""
#: The rows indexed under UNINDEXED (paths SQLite's JSON cannot read whole).
UNINDEXED_ROWS = """
    SELECT number FROM paths WHERE timeline = ? AND path = '~' AND number < ?
    ORDER BY number DESC
"""
#: Where a row whose paths hold U+0000 is indexed (not a JSON Pointer).
UNINDEXED = "~"

_Params = tuple[object, ...]


def params(row: Row) -> _Params:
    """The parameters of :data:`INSERT` for ``row``."""
    return (
        row.timeline,
        row.number,
        row.parent,
        row.branch,
        row.time_ns,
        row.kind,
        row.target,
        row.label,
        row.author,
        row.comment,
        row.extra,
        row.origin,
        row.payload,
        _paths_json(row.paths),
        row.digest,
        row.chain,
        row.erased,
    )


def row_from(record: Sequence[Any], path: str) -> Row:
    """The :class:`Row` a ``SELECT`` of the revision columns returned.

    Raises:
        CorruptHistoryError: The stored paths are not a JSON list of strings.
    """
    try:
        if type(record[13]) is not str:  # a BLOB would decode all the same
            raise TypeError("not text")
        paths = _paths(record[13])
    except (TypeError, ValueError) as exc:
        raise CorruptHistoryError(
            f"{path}: the paths of revision {record[1]!r} of {record[0]!r} are not "
            "a JSON list of strings; the file is damaged, restore it from a backup"
        ) from exc
    fields = list(record)
    fields[13] = paths
    return Row(*fields)


@functools.lru_cache(maxsize=4096)
def _paths_json(paths: tuple[str, ...]) -> str:
    return orjson.dumps(paths).decode()  # 20 times json.dumps with separators


@functools.lru_cache(maxsize=4096)
def _paths(text: str) -> tuple[str, ...]:
    """Decoded paths; cached, as the same few paths change again and again."""
    paths = json.loads(text)
    if type(paths) is not list or not all(type(p) is str for p in paths):
        raise ValueError("not a list of strings")
    return tuple(paths)


def tips_json(heads: Heads) -> str:
    """The branch tips of ``heads`` as JSON text."""
    return json.dumps(heads.tips, separators=(",", ":"))


def end_from(record: Sequence[Any], timeline: str, path: str) -> End:
    """The :class:`End` a ``SELECT`` of :data:`END` returned.

    Raises:
        CorruptHistoryError: The record has the wrong types.
    """
    count, chain = record
    if type(count) is not int or type(chain) is not str:
        raise CorruptHistoryError(
            f"{path}: the end record of {timeline!r} is malformed; restore from a "
            "backup"
        )
    return End(count, chain)


def heads_from(record: Sequence[Any], timeline: str, path: str) -> Heads:
    """The :class:`Heads` a ``SELECT`` of :data:`HEADS` returned.

    Raises:
        CorruptHistoryError: The stored tips are not a JSON object of numbers.
    """
    branch, cursor, tips_text, *sealed = record
    seal = sealed[0] if sealed else None
    try:
        tips = json.loads(tips_text)
    except (TypeError, ValueError) as exc:
        raise CorruptHistoryError(
            f"{path}: the heads of {timeline!r} are not JSON; restore from a backup"
        ) from exc
    if (
        type(branch) is not str
        or type(cursor) is not int
        or type(tips) is not dict
        or not all(type(n) is int for n in tips.values())
        or not (seal is None or type(seal) is str)
    ):
        raise CorruptHistoryError(
            f"{path}: the heads of {timeline!r} are malformed; restore from a backup"
        )
    return Heads(branch, cursor, tips, seal)


def insert_one(row: Row, conn: sqlite3.Connection) -> None:
    """Run :data:`INSERT` (or :data:`INSERT_PLAIN`) for ``row``.

    Raises:
        ConflictError: The row's number is taken (the driver's error as cause).
        ValueError: An integer does not fit in 64 bits.
    """
    if (
        row.target is None
        and row.label is None
        and row.author is None
        and row.comment is None
        and row.erased is None
    ):
        statement = INSERT_PLAIN
        values: _Params = (
            row.timeline,
            row.number,
            row.parent,
            row.branch,
            row.time_ns,
            row.kind,
            row.extra,
            row.origin,
            row.payload,
            _paths_json(row.paths),
            row.digest,
            row.chain,
        )
    else:
        statement, values = INSERT, params(row)
    _insert(row, statement, values, conn)


def _insert(
    row: Row, statement: str, values: _Params, conn: sqlite3.Connection
) -> None:
    """Run one INSERT of ``row``, translating a taken number and a huge integer."""
    try:
        conn.execute(statement, values)
    except sqlite3.IntegrityError as exc:
        if code(exc) != PRIMARY_KEY:
            if BELOW_END in str(exc):
                raise below_end(row) from exc
            raise
        raise ConflictError(
            f"revision {row.number} of timeline {row.timeline!r} is already stored",
            [(row.timeline, row.number)],
        ) from exc
    except OverflowError as exc:
        raise too_large(exc) from exc


def below_end(row: Row) -> CorruptHistoryError:
    """The error for a row the trigger refused: its number is taken.

    The primary-key index did not find it, so the index is damaged.
    """
    return CorruptHistoryError(
        f"revision {row.number} of timeline {row.timeline!r} is already stored, "
        "but the primary-key index did not find it: the index is damaged; run "
        "statetrail verify --full, then REINDEX or restore from a backup"
    )


def insert(
    rows: Sequence[Row], parameters: Sequence[_Params], conn: sqlite3.Connection
) -> None:
    """Run :data:`INSERT` for each row, in the caller's transaction.

    Raises:
        ConflictError: A row's number is taken (the driver's error as cause).
        ValueError: An integer does not fit in 64 bits.
    """
    for row, values in zip(rows, parameters, strict=True):
        _insert(row, INSERT, values, conn)


def insert_with_heads(
    rows: Sequence[Row],
    parameters: Sequence[_Params],
    heads: _Params,
    conn: sqlite3.Connection,
) -> None:
    """:func:`insert`, then :data:`SAVE_HEADS` with ``heads``, in one operation."""
    insert(rows, parameters, conn)
    execute(SAVE_HEADS, heads, conn)


def has_json(conn: sqlite3.Connection) -> bool:
    """Whether the SQLite linked in has the JSON functions (built in since 3.38)."""
    try:
        conn.execute("SELECT json_extract('[1]', '$[0]')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


#: Where the integers are in the parameters of INSERT and of PUT_CHECKPOINT.
INSERT_INTEGERS = (1, 2, 4, 6)
CHECKPOINT_INTEGERS = (1,)
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1


def insert_many(
    statement: str,
    json_statement: str | None,
    parameters: Sequence[_Params],
    conn: sqlite3.Connection,
    integers: tuple[int, ...] = INSERT_INTEGERS,
) -> None:
    """Run ``statement`` for each of ``parameters``, all or nothing.

    With ``json_statement`` (:data:`INSERT_JSON`, :data:`PUT_CHECKPOINTS_JSON`)
    it is one statement whatever the number of rows: one call into SQLite, made
    without the GIL, where ``executemany`` makes one per row and waits for the
    GIL again after each while another thread runs Python. Without it
    (an SQLite without JSON) it is ``executemany`` in a savepoint.

    ``integers`` are the positions of the integer parameters: SQLite would read
    one beyond 64 bits from JSON as a float, so they are checked first. Text
    holding a NUL character, which SQLite's JSON functions would cut short, goes
    through ``executemany`` too.

    Raises:
        sqlite3.IntegrityError: A number is taken; none of the rows is stored.
        OverflowError: An integer does not fit in 64 bits; nothing is stored.
    """
    if json_statement is not None:
        for values in parameters:
            for i in integers:
                n = values[i]
                if n is not None and not _LOWEST <= n <= _HIGHEST:  # type: ignore[operator]
                    raise OverflowError(f"{n} does not fit in 64 bits")
        text = orjson.dumps(parameters)
        # SQLite's JSON functions end a string at a NUL character: text with one
        # (or a false alarm, a backslash followed by "u0000") goes the slow way.
        if b"\\u0000" not in text:
            conn.execute(json_statement, (text,))
            return
    conn.execute("SAVEPOINT many")
    try:
        conn.executemany(statement, parameters)
    except BaseException:
        conn.execute("ROLLBACK TO many")
        raise
    finally:
        conn.execute("RELEASE many")


def execute(statement: str, parameters: _Params, conn: sqlite3.Connection) -> None:
    """Run one write statement in the caller's transaction.

    Raises:
        ValueError: An integer does not fit in 64 bits.
    """
    try:
        conn.execute(statement, parameters)
    except OverflowError as exc:
        raise too_large(exc) from exc
