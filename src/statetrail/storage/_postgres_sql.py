"""The PostgreSQL backend's tables, their migration, and its SQL statements.

Plumbing for :mod:`statetrail.storage.postgres`. psycopg is imported inside the
functions, so this module imports without the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from statetrail.errors import StorageError

if TYPE_CHECKING:
    import psycopg

__all__ = ["COLUMNS", "SCHEMA_VERSION", "Statements", "migrate"]

#: The version of the tables this code writes; a schema at a newer version is
#: refused (an older one, once there is one, is upgraded in :func:`migrate`).
SCHEMA_VERSION: Final = 1

#: A :class:`~statetrail.storage.base.Row`'s fields, in order, as columns.
COLUMNS: Final = (
    "timeline, number, parent, branch, time_ns, kind, target, label, author, "
    "comment, extra, origin, payload, paths, digest, chain, erased"
)

# One transaction-scoped advisory lock serializes migrations (of every schema),
# so two processes starting at once do not both run CREATE TABLE.
_MIGRATION_LOCK: Final = 0x5354_4D49_4752  # "STMIGR"

# Text columns holding names are COLLATE "C": comparisons are plain byte
# comparisons (faster), and byte order of UTF-8 is code point order, Python's.
# JSON is kept as text, exactly as given: jsonb would reformat it and refuses
# \u0000. ``paths`` is bytea[] (UTF-8) because text cannot hold U+0000, which a
# dict key may. ``seq`` and ``txid`` serve PostgresBackend.tail().
_TABLES: Final = """
CREATE TABLE {s}.meta (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version integer NOT NULL
);
CREATE TABLE {s}.revisions (
    timeline text COLLATE "C" NOT NULL,
    number bigint NOT NULL,
    parent bigint,
    branch text NOT NULL,
    time_ns bigint NOT NULL,
    kind text NOT NULL,
    target bigint,
    label text,
    author text COLLATE "C",
    comment text,
    extra text,
    origin text,
    payload text,
    paths bytea[] NOT NULL,
    digest text NOT NULL,
    chain text NOT NULL,
    erased text,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (timeline, number)
);
CREATE INDEX revisions_tail ON {s}.revisions (txid, seq);
CREATE INDEX revisions_author ON {s}.revisions (timeline, author, number);
CREATE TABLE {s}.heads (
    timeline text COLLATE "C" PRIMARY KEY,
    branch text NOT NULL,
    cursor bigint NOT NULL,
    tips jsonb NOT NULL
);
CREATE TABLE {s}.checkpoints (
    timeline text COLLATE "C" NOT NULL,
    number bigint NOT NULL,
    value text NOT NULL,
    digest text NOT NULL,
    PRIMARY KEY (timeline, number)
);
"""


def migrate(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the schema's tables if absent; refuse a schema newer than this code.

    Raises:
        StorageError: The schema was written by a newer statetrail.
    """
    from psycopg import sql

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        found = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %s),"
            " to_regclass(format('%%I.meta', %s::text)) IS NOT NULL",
            [schema, schema],
        ).fetchone()
        assert found is not None
        has_schema, has_tables = found
        if not has_tables:
            ident = sql.Identifier(schema)
            if not has_schema:  # a schema made by an administrator is used as is
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
            conn.execute(sql.SQL(_TABLES).format(s=ident))
            conn.execute(
                sql.SQL("INSERT INTO {}.meta (version) VALUES ({})").format(
                    ident, sql.Literal(SCHEMA_VERSION)
                )
            )
            return
        meta = sql.SQL("SELECT version FROM {}.meta").format(sql.Identifier(schema))
        row = conn.execute(meta).fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"schema {schema!r} holds statetrail tables at version {version}, "
                f"newer than this statetrail understands ({SCHEMA_VERSION}); "
                "upgrade statetrail"
            )
        if version < SCHEMA_VERSION:  # pragma: no cover - no older version yet
            raise StorageError(f"schema {schema!r} is at unknown version {version}")


@dataclass(frozen=True)
class Statements:
    """Every statement the backend runs, with the schema name quoted in once."""

    insert: str
    notify: str
    taken: str
    latest: str
    read: str
    row: str
    timelines: str
    save_heads: str
    heads: str
    put_checkpoint: str
    checkpoint: str
    checkpoints: str
    erase: str
    query: str
    tail: str
    timeline_at: str

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        """The statements for tables in ``schema`` (quoted as an identifier)."""
        from psycopg import sql

        # Every statement runs with parameters, so psycopg reads "%" as the start
        # of a placeholder, even inside the quoted schema name: double it there.
        ident = sql.SQL(sql.Identifier(schema).as_string().replace("%", "%%"))
        cols = sql.SQL(COLUMNS)

        def q(template: str) -> str:
            return sql.SQL(template).format(s=ident, cols=cols).as_string()

        return cls(
            insert=q("INSERT INTO {s}.revisions ({cols}) VALUES "),
            # The append's NOTIFY goes in its statement, so it is sent if and only
            # if the append commits; the backend puts the INSERT in {insert}. The
            # payload is JSON built by the caller, or {"s": seq, "n": number}
            # for a name too long to send.
            notify=q(
                "WITH ins AS ({{insert}} RETURNING seq) SELECT pg_notify(%s, "
                "coalesce(%s, json_build_object('s', (SELECT min(seq) FROM ins),"
                " 'n', %s)::text))"
            ),
            taken=q(
                "SELECT number, digest FROM {s}.revisions"
                " WHERE timeline = %s AND number = ANY(%s)"
            ),
            latest=q(
                "SELECT coalesce(max(number), -1) FROM {s}.revisions"
                " WHERE timeline = %s"
            ),
            read=q(
                "SELECT {cols} FROM {s}.revisions WHERE timeline = %s"
                " AND number > %s AND number <= %s ORDER BY number"
            ),
            row=q(
                "SELECT {cols} FROM {s}.revisions WHERE timeline = %s AND number = %s"
            ),
            # A loose index scan: one probe of the primary key per timeline,
            # instead of reading every row as SELECT DISTINCT would.
            timelines=q(
                "WITH RECURSIVE t(name) AS ("
                " SELECT min(timeline) FROM {s}.revisions"
                " UNION ALL SELECT (SELECT min(timeline) FROM {s}.revisions"
                " WHERE timeline > t.name) FROM t WHERE t.name IS NOT NULL)"
                " SELECT name FROM t WHERE name IS NOT NULL"
            ),
            save_heads=q(
                "INSERT INTO {s}.heads (timeline, branch, cursor, tips)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (timeline) DO UPDATE SET"
                " branch = excluded.branch, cursor = excluded.cursor,"
                " tips = excluded.tips"
            ),
            heads=q("SELECT branch, cursor, tips FROM {s}.heads WHERE timeline = %s"),
            put_checkpoint=q(
                "INSERT INTO {s}.checkpoints (timeline, number, value, digest)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (timeline, number) DO UPDATE"
                " SET value = excluded.value, digest = excluded.digest"
            ),
            checkpoint=q(
                "SELECT value, digest FROM {s}.checkpoints"
                " WHERE timeline = %s AND number = %s"
            ),
            checkpoints=q(
                "SELECT number FROM {s}.checkpoints WHERE timeline = %s ORDER BY number"
            ),
            erase=q(
                "UPDATE {s}.revisions SET payload = NULL, erased = %s"
                " WHERE timeline = %s AND number = %s"
            ),
            query=q("SELECT number FROM {s}.revisions WHERE timeline = %s"),
            tail=q(
                "SELECT txid::text::bigint, seq, {cols} FROM {s}.revisions"
                " WHERE (txid, seq) > (%s::text::xid8, %s)"
                " AND txid < pg_snapshot_xmin(pg_current_snapshot())"
                " ORDER BY txid, seq LIMIT %s"
            ),
            timeline_at=q("SELECT timeline FROM {s}.revisions WHERE seq = %s"),
        )
