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

__all__ = [
    "BELOW_END",
    "COLUMNS",
    "DELETE_TRIMMED",
    "NODE_STATEMENTS",
    "SCHEMA_VERSION",
    "TRIM_STATEMENTS",
    "VACUUMED",
    "Statements",
    "check_readable",
    "migrate",
    "schema_problems",
]

#: The version of the tables this code writes; a schema at a newer version is
#: refused (an older one, once there is one, is upgraded in :func:`migrate`).
SCHEMA_VERSION: Final = 5

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
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    _version_1_only: bool = False,
    _version_3_only: bool = False,
) -> None:
    """Create the schema's tables if absent and bring them to the current version.

    A schema newer than this code is refused.

    ``_version_1_only`` stops at version 1, as statetrail wrote it before format
    2, ``_version_3_only`` at version 3, before the indexes (for tests of the
    upgrades).

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
        if version < 3 and not _version_1_only:
            _to_version_3_range_tombstones(conn, schema)
        if version < 4 and not _version_1_only and not _version_3_only:
            _to_version_4_indexes(conn, schema)
        if version < 5 and not _version_1_only and not _version_3_only:
            _to_version_nodes(conn, schema)


_VERSION_3: Final = """
CREATE TABLE {s}.trims (
    timeline text COLLATE "C" NOT NULL,
    first bigint NOT NULL,
    last bigint NOT NULL,
    time_ns bigint NOT NULL,
    reason text NOT NULL,
    author text,
    chain text NOT NULL,
    checkpoints text NOT NULL,
    seal text NOT NULL,
    PRIMARY KEY (timeline, first)
);
"""


def _to_version_3_range_tombstones(conn: psycopg.Connection[Any], schema: str) -> None:
    """Range tombstones: what each trim of a timeline removed (see ``_ranges``)."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    conn.execute(sql.SQL(_VERSION_3).format(s=ident))
    conn.execute(sql.SQL("UPDATE {}.meta SET version = 3").format(ident))


# The path index (see ``_index``): one entry per path a row lists, kept by two
# statement-level triggers in the statement that inserts or deletes the rows
# (their transition tables: one INSERT ... SELECT per statement, not a call per
# row). ``path`` is bytea, as ``revisions.paths`` is: it compares as bytes, so
# a pointer's descendants are one range of the key. The time index is an
# ordinary index on ``revisions``, covering ``number_at``.
_VERSION_4: Final = """
CREATE TABLE {s}.paths (
    timeline text COLLATE "C" NOT NULL,
    path bytea NOT NULL,
    number bigint NOT NULL,
    PRIMARY KEY (timeline, path, number)
);
INSERT INTO {s}.paths (timeline, path, number)
    SELECT DISTINCT timeline, unnest(paths), number FROM {s}.revisions;
CREATE INDEX revisions_time ON {s}.revisions (timeline, time_ns, number);
CREATE INDEX revisions_breaks ON {s}.revisions (timeline, number, parent)
    WHERE parent IS NULL OR parent <> number - 1;
CREATE FUNCTION {s}.revisions_paths() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {s}.paths (timeline, path, number)
        SELECT DISTINCT timeline, unnest(paths), number FROM added
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER revisions_paths AFTER INSERT ON {s}.revisions
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.revisions_paths();
CREATE FUNCTION {s}.revisions_paths_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {s}.paths AS p
        USING (SELECT timeline, unnest(paths) AS path, number FROM removed) AS r
        WHERE p.timeline = r.timeline AND p.path = r.path AND p.number = r.number;
    RETURN NULL;
END
$$;
CREATE TRIGGER revisions_paths_gone AFTER DELETE ON {s}.revisions
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.revisions_paths_gone();
"""


def _to_version_4_indexes(conn: psycopg.Connection[Any], schema: str) -> None:
    """The path and time indexes; existing rows indexed in one statement."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    conn.execute(sql.SQL(_VERSION_4).format(s=ident))
    conn.execute(sql.SQL("UPDATE {}.meta SET version = 4").format(ident))


#: The statements of the indexes, ``{s}`` for the schema, ``{cols}`` for
#: :data:`COLUMNS`: ``touching``
#: (timeline, path, low, high, ancestors, before, limit; DISTINCT so that a
#: revision with several paths under the one asked for counts once towards
#: the limit) and ``number_at``.
INDEX_STATEMENTS: Final = {
    "touching": "SELECT number FROM ("
    " (SELECT number FROM {s}.paths WHERE timeline = %(t)s AND path = %(p)s"
    " AND number < %(b)s ORDER BY number DESC LIMIT %(n)s)"
    " UNION (SELECT DISTINCT number FROM {s}.paths WHERE timeline = %(t)s"
    " AND path >= %(lo)s AND path < %(hi)s AND number < %(b)s"
    " ORDER BY number DESC LIMIT %(n)s)"
    " UNION (SELECT DISTINCT number FROM {s}.paths WHERE timeline = %(t)s"
    " AND path = ANY(%(up)s) AND number < %(b)s ORDER BY number DESC LIMIT %(n)s)"
    ") AS u ORDER BY number DESC LIMIT %(n)s",
    "rows": "SELECT {cols} FROM {s}.revisions WHERE timeline = %s"
    " AND number = ANY(%s) ORDER BY number",
    "chains": "SELECT number, chain FROM {s}.revisions WHERE timeline = %s"
    " AND number = ANY(%s)",
    "line_breaks": "SELECT number, parent FROM {s}.revisions WHERE timeline = %s"
    " AND number > %s AND (parent IS NULL OR parent <> number - 1) ORDER BY number",
    "number_at": "SELECT number FROM {s}.revisions WHERE timeline = %s"
    " AND time_ns <= %s ORDER BY time_ns DESC, number DESC LIMIT 1",
    "missing": "SELECT r.number, r.path FROM (SELECT number, unnest(paths) AS path"
    " FROM {s}.revisions WHERE timeline = %(t)s) AS r WHERE NOT EXISTS"
    " (SELECT FROM {s}.paths AS p WHERE p.timeline = %(t)s AND p.path = r.path"
    " AND p.number = r.number) ORDER BY r.number LIMIT 100",
    "extra": "SELECT p.number, p.path FROM {s}.paths AS p WHERE p.timeline = %(t)s"
    " AND NOT EXISTS (SELECT FROM {s}.revisions AS r WHERE r.timeline = %(t)s"
    " AND r.number = p.number AND p.path = ANY(r.paths))"
    " ORDER BY p.number LIMIT 100",
}


_VERSION_NODES: Final = """
CREATE TABLE {s}.nodes (
    digest bytea PRIMARY KEY,
    body bytea NOT NULL
);
"""


def _to_version_nodes(conn: psycopg.Connection[Any], schema: str) -> None:
    """The node store: content-addressed checkpoints (see ``_nodes``)."""
    from psycopg import sql

    ident = sql.Identifier(schema)
    conn.execute(sql.SQL(_VERSION_NODES).format(s=ident))
    conn.execute(sql.SQL("UPDATE {}.meta SET version = 5").format(ident))


#: The statements of the node store, ``{s}`` for the schema.
NODE_STATEMENTS: Final = {
    "put": "INSERT INTO {s}.nodes (digest, body) VALUES (%s, %s)"
    " ON CONFLICT (digest) DO NOTHING",
    "put_many": "INSERT INTO {s}.nodes (digest, body)"
    " SELECT * FROM unnest(%s::bytea[], %s::bytea[]) ON CONFLICT (digest) DO NOTHING",
    "bodies": "SELECT digest, body FROM {s}.nodes WHERE digest = ANY(%s)",
    "present": "SELECT digest FROM {s}.nodes WHERE digest = ANY(%s)",
    # The sweep count (``_nodes.EPOCH``): the store's one row that is not a node.
    "epoch": "SELECT convert_from(body, 'UTF8')::bigint FROM {s}.nodes"
    " WHERE digest = %s",
    "bump_epoch": "INSERT INTO {s}.nodes (digest, body) VALUES (%s, '1'::bytea)"
    " ON CONFLICT (digest) DO UPDATE SET body = convert_to("
    "(convert_from({s}.nodes.body, 'UTF8')::bigint + 1)::text, 'UTF8')",
    # Taken shared by an append naming nodes, alone by a sweep batch: the two
    # are ordered (READ COMMITTED: each then sees what the other committed).
    "shared": "SELECT pg_advisory_xact_lock_shared(hashtext(%s))",
    "alone": "SELECT pg_advisory_xact_lock(hashtext(%s))",
    "roots": "SELECT substr(value, 8) FROM {s}.checkpoints"
    " WHERE left(value, 7) = '#nodes:'",
    "digests": "SELECT digest FROM {s}.nodes WHERE digest > %s"
    " AND length(digest) = 32 ORDER BY digest LIMIT %s",
    "delete": "DELETE FROM {s}.nodes WHERE digest = ANY(%s) AND length(digest) = 32",
}

#: The statements of trimming, ``{s}`` for the schema (see ``PostgresBackend``).
TRIM_STATEMENTS: Final = {
    "trims": "SELECT first, last, time_ns, reason, author, chain, checkpoints, seal"
    " FROM {s}.trims WHERE timeline = %s ORDER BY first",
    "newest": "SELECT seal, last FROM {s}.trims WHERE timeline = %s"
    " ORDER BY first DESC LIMIT 1 FOR UPDATE",
    "lock": "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
    "put": "INSERT INTO {s}.trims (timeline, first, last, time_ns, reason, author,"
    " chain, checkpoints, seal) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (timeline, first) DO UPDATE SET last = excluded.last,"
    " time_ns = excluded.time_ns, reason = excluded.reason,"
    " author = excluded.author, chain = excluded.chain,"
    " checkpoints = excluded.checkpoints, seal = excluded.seal",
    "batch_end": "SELECT max(number) FROM (SELECT number FROM {s}.revisions"
    " WHERE timeline = %s AND number <= %s ORDER BY number LIMIT %s) AS b",
    "crossing": "SELECT number FROM {s}.revisions WHERE timeline = %s"
    " AND number >= %s AND parent < %s ORDER BY number",
}
#: What goes with trimmed revisions, each ``(timeline, upto)``: the rows first
#: (its count is the batch's). Their path index entries go with them, by the
#: trigger ``revisions_paths_gone``.
DELETE_TRIMMED: Final = (
    "DELETE FROM {s}.revisions WHERE timeline = %s AND number <= %s",
    "DELETE FROM {s}.checkpoints WHERE timeline = %s AND number <= %s",
)
#: The tables a reclaim vacuums.
VACUUMED: Final = ("revisions", "checkpoints", "trims", "paths")


def check_readable(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """Refuse a schema a read-only backend cannot read as it is; change nothing.

    A schema whose ``revisions`` table is there but whose ``meta`` table is
    gone or damaged is read (``verify`` then lists what is wrong with it).

    Args:
        conn: A connection to the server.
        schema: The schema to read.
        where: The database, for messages (``PostgreSQL database 'x' at h:p``).

    Raises:
        StorageError: There is no such schema, it holds no statetrail history, or
            its tables are at another version (an older one must be upgraded by
            a writer).
    """
    import psycopg
    from psycopg import sql

    found = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %s),"
        " to_regclass(format('%%I.revisions', %s::text)) IS NOT NULL,"
        " to_regclass(format('%%I.meta', %s::text)) IS NOT NULL",
        [schema, schema, schema],
    ).fetchone()
    assert found is not None
    has_schema, has_revisions, has_meta = found
    choose = "nothing was created; name the schema with ?schema= or --schema"
    if not has_schema:
        raise StorageError(f"{where} has no schema {schema!r} ({choose})")
    if not has_revisions:
        raise StorageError(
            f"schema {schema!r} of {where} holds no statetrail history ({choose})"
        )
    version = None
    if has_meta:
        meta = sql.SQL("SELECT version FROM {}.meta").format(sql.Identifier(schema))
        try:
            record = conn.execute(meta).fetchone()
        except psycopg.Error:  # not statetrail's meta table: verify says so
            record = None
        version = None if record is None else record[0]
    if not isinstance(version, int):
        return
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"schema {schema!r} of {where} holds statetrail tables at version "
            f"{version}, newer than this statetrail knows ({SCHEMA_VERSION}); "
            "upgrade statetrail to read it"
        )
    if version < SCHEMA_VERSION:
        raise StorageError(
            f"schema {schema!r} of {where} was written by an older statetrail "
            f"(schema version {version}); open it once with statetrail.open() "
            "to upgrade it, then run this again"
        )


# -- the schema as statetrail makes it, for verify ---------------------------------

# What a schema at version 2 holds, as :func:`_schema_objects` describes it
# (``{s}`` for the schema): its columns, constraints, indexes, trigger and the
# trigger's function. A trigger dropped or disabled, a function emptied, a
# constraint dropped is found by comparing the two; without them the end
# record would not move, or two rows could share a number.
_EXPECTED: Final = frozenset(
    {
        *(
            f"column {line}"
            for line in (
                "checkpoints.timeline text not null",
                "checkpoints.number bigint not null",
                "checkpoints.value text not null",
                "checkpoints.digest text not null",
                "heads.timeline text not null",
                "heads.branch text",
                "heads.cursor bigint",
                "heads.tips jsonb",
                "heads.seal text",
                "heads.count bigint",
                "heads.chain text",
                "meta.id boolean not null default true",
                "meta.version integer not null",
                "revisions.timeline text not null",
                "revisions.number bigint not null",
                "revisions.parent bigint",
                "revisions.branch text not null",
                "revisions.time_ns bigint not null",
                "revisions.kind text not null",
                "revisions.target bigint",
                "revisions.label text",
                "revisions.author text",
                "revisions.comment text",
                "revisions.extra text",
                "revisions.origin text",
                "revisions.payload text",
                "revisions.paths bytea[] not null",
                "revisions.digest text not null",
                "revisions.chain text not null",
                "revisions.erased text",
                "revisions.seq bigint not null identity a",
                "revisions.txid xid8 not null default pg_current_xact_id()",
                "trims.timeline text not null",
                "trims.first bigint not null",
                "trims.last bigint not null",
                "trims.time_ns bigint not null",
                "trims.reason text not null",
                "trims.author text",
                "trims.chain text not null",
                "trims.checkpoints text not null",
                "trims.seal text not null",
                "paths.timeline text not null",
                "paths.path bytea not null",
                "paths.number bigint not null",
                "nodes.digest bytea not null",
                "nodes.body bytea not null",
            )
        ),
        "constraint nodes.nodes_pkey PRIMARY KEY (digest)",
        "index CREATE UNIQUE INDEX nodes_pkey ON {s}.nodes USING btree (digest)",
        "constraint paths.paths_pkey PRIMARY KEY (timeline, path, number)",
        "index CREATE UNIQUE INDEX paths_pkey ON {s}.paths USING btree"
        " (timeline, path, number)",
        "index CREATE INDEX revisions_time ON {s}.revisions USING btree"
        " (timeline, time_ns, number)",
        "index CREATE INDEX revisions_breaks ON {s}.revisions USING btree"
        " (timeline, number, parent) WHERE ((parent IS NULL) OR"
        " (parent <> (number - 1)))",
        "trigger revisions.revisions_paths (enabled O) CREATE TRIGGER"
        " revisions_paths AFTER INSERT ON {s}.revisions REFERENCING NEW TABLE AS"
        " added FOR EACH STATEMENT EXECUTE FUNCTION {s}.revisions_paths()",
        "trigger revisions.revisions_paths_gone (enabled O) CREATE TRIGGER"
        " revisions_paths_gone AFTER DELETE ON {s}.revisions REFERENCING OLD TABLE"
        " AS removed FOR EACH STATEMENT EXECUTE FUNCTION"
        " {s}.revisions_paths_gone()",
        "function revisions_paths() plpgsql, body as statetrail writes it",
        "function revisions_paths_gone() plpgsql, body as statetrail writes it",
        "constraint trims.trims_pkey PRIMARY KEY (timeline, first)",
        "index CREATE UNIQUE INDEX trims_pkey ON {s}.trims USING btree"
        " (timeline, first)",
        "constraint checkpoints.checkpoints_pkey PRIMARY KEY (timeline, number)",
        "constraint heads.heads_pkey PRIMARY KEY (timeline)",
        "constraint meta.meta_id_check CHECK (id)",
        "constraint meta.meta_pkey PRIMARY KEY (id)",
        "constraint revisions.revisions_pkey PRIMARY KEY (timeline, number)",
        "constraint revisions.revisions_seq_key UNIQUE (seq)",
        "index CREATE UNIQUE INDEX checkpoints_pkey ON {s}.checkpoints USING btree"
        " (timeline, number)",
        "index CREATE UNIQUE INDEX heads_pkey ON {s}.heads USING btree (timeline)",
        "index CREATE UNIQUE INDEX meta_pkey ON {s}.meta USING btree (id)",
        "index CREATE INDEX revisions_author ON {s}.revisions USING btree"
        " (timeline, author, number)",
        "index CREATE UNIQUE INDEX revisions_pkey ON {s}.revisions USING btree"
        " (timeline, number)",
        "index CREATE UNIQUE INDEX revisions_seq_key ON {s}.revisions USING btree"
        " (seq)",
        "index CREATE INDEX revisions_tail ON {s}.revisions USING btree (txid, seq)",
        "trigger revisions.revisions_end (enabled O) CREATE TRIGGER revisions_end"
        " AFTER INSERT ON {s}.revisions FOR EACH ROW EXECUTE FUNCTION"
        " {s}.revisions_end()",
        "function revisions_end() plpgsql, body as statetrail writes it",
    }
)

# The functions' bodies as created (prosrc), ``{s}`` for the schema.
_END_BODY: Final = _VERSION_2.split("AS $$", 1)[1].split("$$;", 1)[0]
_BODIES: Final = {
    "revisions_end": _END_BODY,
    "revisions_paths": _VERSION_4.split("AS $$", 1)[1].split("$$;", 1)[0],
    "revisions_paths_gone": _VERSION_4.split("AS $$", 2)[2].split("$$;", 1)[0],
}

# Objects on other tables of the schema (an administrator's) are not compared.
_TABLE_NAMES: Final = [
    "meta",
    "revisions",
    "heads",
    "checkpoints",
    "trims",
    "paths",
    "nodes",
]
_DESCRIBE: Final = (
    (
        "column",
        "SELECT c.relname || '.' || a.attname || ' '"
        " || format_type(a.atttypid, a.atttypmod)"
        " || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END"
        " || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text"
        " ELSE '' END"
        " || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END"
        " || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE n.nspname = %s AND a.attnum > 0"
        " AND c.relname = ANY(%s)"
        " AND NOT a.attisdropped",
    ),
    (
        "constraint",
        "SELECT r.relname || '.' || c.conname || ' ' || pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid"
        " JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s"
        " AND c.contype <> 'n'"  # NOT NULL (PostgreSQL 18): the columns say it
        " AND r.relname = ANY(%s)",
    ),
    (
        "index",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s)",
    ),
    (
        "trigger",
        "SELECT r.relname || '.' || t.tgname || ' (enabled '"
        " || t.tgenabled::text || ') ' || pg_get_triggerdef(t.oid)"
        " FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = r.relnamespace"
        " WHERE n.nspname = %s AND NOT t.tgisinternal"
        " AND r.relname = ANY(%s)",
    ),
)


def _schema_objects(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    """What the schema holds, one line per object, ``{s}`` for its name."""
    from psycopg import sql

    quoted = sql.Identifier(schema).as_string(conn)
    (plain,) = conn.execute("SELECT quote_ident(%s)", [schema]).fetchone() or ("",)

    def general(text: str) -> str:
        return text.replace(f"{quoted}.", "{s}.").replace(f"{plain}.", "{s}.")

    found = set()
    for kind, query in _DESCRIBE:
        for (line,) in conn.execute(query, [schema, _TABLE_NAMES]).fetchall():
            found.add(f"{kind} {general(str(line))}")
    functions = conn.execute(
        "SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') '"
        " || l.lanname, p.prosrc, p.prosecdef, p.proconfig IS NOT NULL"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = %s"
        " AND p.proname = ANY(%s)",
        [schema, list(_BODIES)],
    ).fetchall()
    for head, source, definer, configured in functions:
        same = (
            source.replace(quoted, "{s}") == _BODIES[head.split("(", 1)[0]]
            and not definer
            and not configured
        )
        body = "body as statetrail writes it" if same else "body changed"
        found.add(f"function {head}, {body}")
    return found


def schema_problems(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """How the schema differs from what statetrail makes (at version 2).

    A schema at an older version (kept by a test) is not compared.
    """
    from psycopg import sql

    found = conn.execute(
        "SELECT to_regclass(format('%%I.meta', %s::text)) IS NOT NULL", [schema]
    ).fetchone()
    if not found or not found[0]:
        return [f"schema {schema!r} has no meta table (removed?)"]
    meta = sql.SQL("SELECT version FROM {}.meta").format(sql.Identifier(schema))
    record = conn.execute(meta).fetchone()
    if record is None or record[0] != SCHEMA_VERSION:
        return (
            []
            if record is not None and record[0] < SCHEMA_VERSION
            else [f"schema {schema!r} has no valid version in its meta table"]
        )
    found = _schema_objects(conn, schema)
    missing = {_object_name(line): line for line in _EXPECTED - found}
    added = {_object_name(line): line for line in found - _EXPECTED}
    problems = []
    for name in sorted(missing.keys() | added.keys()):
        if name not in added:
            what = f"removed: {missing[name]}"
        elif name not in missing:
            what = f"added: {added[name]}"
        else:
            what = f"altered: {added[name]}; statetrail made {missing[name]}"
        problems.append(f"the schema is not as statetrail made it, {what}")
    return problems


def _object_name(line: str) -> str:
    """The kind and name of an object described by :func:`_schema_objects`."""
    words = line.split()
    if words[0] == "index":
        return " ".join(words[:1] + [w for w in words if not w.isupper()][1:2])
    return " ".join(words[:2])


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
    ends: str
    forks: str

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
            # Rows at or below a timeline's newest range tombstone (a trim in
            # progress) count on neither side.
            counts=q(
                "WITH t AS (SELECT timeline, max(last) AS last FROM {s}.trims"
                " GROUP BY timeline)"
                " SELECT coalesce(r.timeline, h.timeline), coalesce(r.n, 0),"
                " coalesce(h.count, 0) FROM (SELECT v.timeline, count(*) AS n"
                " FROM {s}.revisions AS v LEFT JOIN t ON t.timeline = v.timeline"
                " WHERE v.number > coalesce(t.last, -1) GROUP BY v.timeline) AS r"
                " FULL JOIN (SELECT h.timeline, h.count - coalesce(t.last + 1, 0)"
                " AS count FROM {s}.heads AS h LEFT JOIN t ON t.timeline = h.timeline"
                " WHERE h.count IS NOT NULL) AS h ON r.timeline = h.timeline"
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
            # Every timeline's newest number, from its end record.
            ends=q(
                "SELECT timeline, count - 1 FROM {s}.heads WHERE count > 0"
                " ORDER BY timeline"
            ),
            # Backend.forks(): rows whose parent or branch is not the previous
            # row's (or whose previous row is missing).
            forks=q(
                "SELECT r.number, r.parent, r.branch FROM {s}.revisions AS r"
                " LEFT JOIN {s}.revisions AS p ON p.timeline = r.timeline"
                " AND p.number = r.number - 1 WHERE r.timeline = %s AND r.number > %s"
                " AND (r.parent IS NULL OR r.parent <> r.number - 1"
                " OR p.branch IS NULL OR p.branch <> r.branch) ORDER BY r.number"
            ),
        )
