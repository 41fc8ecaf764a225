"""The PostgreSQL backend's tables, their migration, and its SQL statements.

Plumbing for :mod:`statetrail.storage.postgres`. psycopg is imported inside the
functions, so this module imports without the driver.

Version 2 is format 2 of the hash chain (see ``_integrity``): ``heads`` also
holds each timeline's end record, moved by a trigger on ``revisions`` inside the
INSERT itself, and the heads' seal. A new schema is made at version 1 and
migrated, so new and upgraded schemas are alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from statetrail.errors import StorageError
from statetrail.storage import _integrity as integrity
from statetrail.storage.base import Heads

if TYPE_CHECKING:
    import psycopg

__all__ = ["BELOW_END", "COLUMNS", "SCHEMA_VERSION", "Statements", "migrate"]

#: The version of the tables this code writes; a schema at a newer version is
#: refused (an older one, once there is one, is upgraded in :func:`migrate`).
SCHEMA_VERSION: Final = 2

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


#: Raised by the trigger for a number below the end record (as a unique
#: violation: the number is taken).
BELOW_END: Final = "statetrail: revision number below the end record"

_VERSION_2: Final = """
ALTER TABLE {s}.heads
    ALTER COLUMN branch DROP NOT NULL,
    ALTER COLUMN cursor DROP NOT NULL,
    ALTER COLUMN tips DROP NOT NULL,
    ADD COLUMN seal text,
    ADD COLUMN count bigint,
    ADD COLUMN chain text;
INSERT INTO {s}.heads (timeline, count, chain)
    SELECT DISTINCT ON (timeline) timeline, number + 1, chain FROM {s}.revisions
    ORDER BY timeline, number DESC
    ON CONFLICT (timeline) DO UPDATE SET
        count = excluded.count, chain = excluded.chain;
CREATE FUNCTION {s}.revisions_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM {s}.heads
               WHERE timeline = NEW.timeline AND count > NEW.number) THEN
        RAISE EXCEPTION 'statetrail: revision number below the end record'
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO {s}.heads (timeline, count, chain)
        VALUES (NEW.timeline, NEW.number + 1, NEW.chain)
        ON CONFLICT (timeline) DO UPDATE SET
            count = excluded.count, chain = excluded.chain;
    RETURN NULL;
END
$$;
CREATE TRIGGER revisions_end AFTER INSERT ON {s}.revisions
    FOR EACH ROW EXECUTE FUNCTION {s}.revisions_end();
"""


def _to_version_2(conn: psycopg.Connection[Any], schema: str) -> None:
    """Format 2 of the chain: end records, sealed heads (as found), the trigger."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    conn.execute(sql.SQL(_VERSION_2).format(s=ident))
    heads = sql.SQL(
        "SELECT timeline, branch, cursor, tips FROM {}.heads WHERE count > 0"
    ).format(ident)
    chain = sql.SQL(
        "SELECT chain FROM {}.revisions WHERE timeline = %s AND number = %s"
    ).format(ident)
    for name, branch, cursor, tips in conn.execute(heads).fetchall():
        if branch is None:
            # Never saved: the cursor is the newest revision, each tip the
            # newest of its branch (what the loader worked out from the rows).
            found = conn.execute(
                sql.SQL(
                    "SELECT branch, max(number) FROM {}.revisions WHERE timeline = %s"
                    " GROUP BY branch"
                ).format(ident),
                [name],
            ).fetchall()
            tips = {b: int(n) for b, n in found}
            cursor = max(tips.values())
            branch = next(b for b, n in tips.items() if n == cursor)
        saved = Heads(branch, int(cursor), {str(k): int(v) for k, v in tips.items()})
        chains = {}
        for number in (saved.cursor, *saved.tips.values()):
            record = conn.execute(chain, [name, number]).fetchone()
            if record is not None:
                chains[number] = record[0]
        if len(chains) == len({saved.cursor, *saved.tips.values()}):
            from psycopg.types.json import Jsonb

            conn.execute(
                sql.SQL(
                    "UPDATE {}.heads SET branch = %s, cursor = %s, tips = %s,"
                    " seal = %s WHERE timeline = %s"
                ).format(ident),
                [
                    saved.branch,
                    saved.cursor,
                    Jsonb(saved.tips),
                    integrity.heads_seal(name, saved, chains),
                    name,
                ],
            )
    conn.execute(sql.SQL("UPDATE {}.meta SET version = 2").format(ident))


def migrate(
    conn: psycopg.Connection[Any], schema: str, *, _version_1_only: bool = False
) -> None:
    """Create the schema's tables if absent and bring them to the current version.

    A schema newer than this code is refused.

    ``_version_1_only`` stops at version 1, as statetrail wrote it before format
    2 (for tests of the upgrade).

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
                sql.SQL("INSERT INTO {}.meta (version) VALUES (1)").format(ident)
            )
        meta = sql.SQL("SELECT version FROM {}.meta").format(sql.Identifier(schema))
        row = conn.execute(meta).fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"schema {schema!r} holds statetrail tables at version {version}, "
                f"newer than this statetrail understands ({SCHEMA_VERSION}); "
                "upgrade statetrail"
            )
        if version < 1:
            raise StorageError(f"schema {schema!r} is at unknown version {version}")
        if version < 2 and not _version_1_only:
            _to_version_2(conn, schema)


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
    end: str
    counts: str
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
                " UNION SELECT timeline FROM {s}.heads WHERE count > 0 ORDER BY 1"
            ),
            save_heads=q(
                "INSERT INTO {s}.heads (timeline, branch, cursor, tips, seal)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (timeline) DO UPDATE SET"
                " branch = excluded.branch, cursor = excluded.cursor,"
                " tips = excluded.tips, seal = excluded.seal"
            ),
            heads=q(
                "SELECT branch, cursor, tips, seal FROM {s}.heads"
                " WHERE timeline = %s AND branch IS NOT NULL"
            ),
            end=q(
                "SELECT count, chain FROM {s}.heads"
                " WHERE timeline = %s AND count IS NOT NULL"
            ),
            counts=q(
                "SELECT coalesce(r.timeline, h.timeline), coalesce(r.n, 0),"
                " coalesce(h.count, 0) FROM (SELECT timeline, count(*) AS n"
                " FROM {s}.revisions GROUP BY timeline) AS r FULL JOIN"
                " (SELECT timeline, count FROM {s}.heads WHERE count IS NOT NULL)"
                " AS h ON r.timeline = h.timeline"
                " WHERE coalesce(r.n, 0) <> coalesce(h.count, 0)"
            ),
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
