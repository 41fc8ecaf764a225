r"""The PostgreSQL backend: one durable history shared by many processes and machines.

Needs the ``postgres`` extra (psycopg 3 and psycopg-pool)::

    pip install 'statetrail[postgres]'

>>> backend = PostgresBackend("postgresql://app@db.example/app")  # doctest: +SKIP

**Tables.** One schema (``statetrail`` unless told otherwise) holds ``revisions``
(``PRIMARY KEY (timeline, number)``), ``heads``, ``checkpoints`` and ``meta`` (the
schema version: an older statetrail refuses a newer schema). Timeline, branch and
author names are data in ``text`` columns, never identifiers, so no name can collide
with another or break a statement. Payloads and other JSON are kept as ``text``,
exactly as given: ``jsonb`` would reformat them and refuses ``\u0000``. Text
cannot hold U+0000 itself either, so a name containing it raises
:class:`ValueError`; JSON text carries it escaped, and the changed paths (which
come from dict keys) are kept as UTF-8 ``bytea``.

**Opening.** ``?schema=NAME`` in the URL (or ``schema=``) picks the schema.
The backend first makes one connection of its own, bounded by
``connect_timeout`` (2 s unless the URL or the caller says otherwise), and
creates or upgrades the tables there, or with ``read_only=True`` only checks
them; a server that refuses, cannot be found or never answers is one line
naming ``host:port``, before any pool exists to retry in the background.

**Writes.** Every call is one statement on an autocommit connection from a
:class:`psycopg_pool.ConnectionPool`: atomic, and with no BEGIN/COMMIT round
trips. With ``synchronous_commit=True`` (the default) each session sets
``synchronous_commit = on``, so an append that returned is on disk. Concurrency is
optimistic: the primary key turns a lost race into
:class:`~statetrail.ConflictError`, storing nothing.

**Retries and idempotent appends.** A lost connection (``OperationalError`` or
``InterfaceError``, say the server restarted or ``pg_terminate_backend``) is
retried a bounded number of times on a fresh connection, then raised as
:class:`~statetrail.StorageError` with the driver's error as ``__cause__``. An
append whose connection was lost may have committed without the reply reaching us.
Its retry then conflicts with itself, so on a retry a conflict whose stored rows
all carry the digests being written is this write, and the append reports
success: the digest covers a row's whole content (time, author, payload ...), so
it identifies the write. On a first attempt a conflict is always a conflict.

**Change feed.** An append sends ``NOTIFY`` on :attr:`PostgresBackend.channel` in
its own statement, so a notification goes out only when the append commits. The
payload is ``{"t": timeline, "n": number}`` with the highest number stored; when
the timeline's name would make it longer than 4,000 bytes (NOTIFY allows fewer
than 8,000) it is ``{"s": seq, "n": number}`` instead, and the
:class:`ChangeFeed` looks the name up by ``seq``. Notifications are lost while
no one listens, so a feed whose connection was lost reconnects by itself and
then delivers every timeline whose end record moved meanwhile (see
:meth:`PostgresBackend.listen`); :meth:`ChangeFeed.next_rows` turns that into
every row once, in order. :meth:`PostgresBackend.tail` is the complete record
of every timeline together. NOTIFY serializes the commits of notifying
transactions in PostgreSQL, which bounds the total append rate of all writers
together at about one commit per WAL flush.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from statetrail._log import get_logger
from statetrail.errors import ConflictError, RevisionNotFoundError, StorageError
from statetrail.storage import _index
from statetrail.storage._driver_errors import Translated
from statetrail.storage._nodes import EPOCH, PREFIX, NodesSweptError, referenced
from statetrail.storage._postgres_connect import Server, schema_from_url
from statetrail.storage._postgres_feed import RECONNECT_FOR, ChangeFeed
from statetrail.storage._postgres_sql import (
    COLUMNS,
    DELETE_TRIMMED,
    INDEX_STATEMENTS,
    NODE_STATEMENTS,
    SCHEMA_VERSION,
    TRIM_STATEMENTS,
    VACUUMED,
    Statements,
    check_readable,
    migrate,
    schema_problems,
)
from statetrail.storage.base import (
    Backend,
    Checkpoint,
    End,
    Fork,
    Heads,
    Problem,
    RangeTombstone,
    Row,
    timeline_of,
)

try:  # The extra is optional: this module imports, construction says what is missing.
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    _MISSING: ImportError | None = exc
else:
    _MISSING = None

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["SCHEMA_VERSION", "ChangeFeed", "Cursor", "PostgresBackend"]

log = get_logger(__name__)

#: A position in :meth:`PostgresBackend.tail`: ``(transaction id, seq)``.
Cursor: TypeAlias = tuple[int, int]

_T = TypeVar("_T")
_NO_LIMIT: Final = 2**63 - 1
_INLINE_NOTIFY_BYTES: Final = 4000
_KEEPALIVES: Final = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
}
_CHUNK: Final = 1000  # rows per INSERT: 17 parameters each, of PostgreSQL's 65,535


class PostgresBackend(Backend):
    """Revisions in PostgreSQL, shared by every process that opens the same schema.

    Args:
        url: A libpq connection string or URL. A ``?schema=NAME`` parameter in
            a URL names the schema (libpq itself does not know it).
        schema: The schema holding the tables (default ``statetrail``); created
            if absent unless ``read_only``. The same as the URL's ``?schema=``,
            if both are given.
        read_only: Create, migrate and write nothing: a schema without
            statetrail's tables (or an older version of them) is refused, every
            write raises :class:`~statetrail.StorageError`, and the sessions run
            with ``default_transaction_read_only`` so the server refuses writes
            too.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most.
        synchronous_commit: Wait for the WAL flush on every commit (``on``); with
            ``False`` (``off``) a server crash may lose the last fraction of a
            second of appends, though never consistency.
        retries: How many times a call whose connection was lost is retried.
        timeout: Seconds to wait for a free connection from the pool.
        connect_timeout: Seconds to wait for the server to answer when
            connecting (whole seconds, at least 2, per host of the URL). By
            default the URL's ``connect_timeout``, else 2.

    Raises:
        ImportError: psycopg or psycopg-pool is not installed.
        ValueError: libpq cannot read the URL; the schema name is empty, longer
            than 63 bytes, holds a control character or starts with ``pg_``; or
            the URL's ``?schema=`` and ``schema`` name different schemas.
        StorageError: The server cannot be reached or did not answer within
            ``connect_timeout`` (one line naming ``host:port``), the schema is
            newer than this statetrail, or (``read_only``) holds no history.
    """

    kind = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        read_only: bool = False,
        min_size: int = 1,
        max_size: int = 8,
        synchronous_commit: bool = True,
        retries: int = 5,
        timeout: float = 10.0,
        connect_timeout: float | None = None,
        _version_1_only: bool = False,
        _version_3_only: bool = False,
    ) -> None:
        if _MISSING is not None:
            raise ImportError(
                "the PostgreSQL backend needs psycopg 3 and psycopg-pool: "
                "pip install 'statetrail[postgres]'"
            ) from _MISSING
        url, schema = schema_from_url(url, schema)
        self.schema = schema
        self.read_only = read_only
        #: The NOTIFY channel of this schema's appends.
        self.channel = "statetrail_" + sha256(schema.encode()).hexdigest()[:24]
        self._server = Server.of(url, connect_timeout)
        self._retries = retries
        self._closed = False
        self._sql = Statements.for_schema(schema)
        ident = sql.Identifier(schema).as_string().replace("%", "%%")
        self._trim_sql = {
            k: v.replace("{s}", ident) for k, v in TRIM_STATEMENTS.items()
        }
        self._delete_trimmed = [v.replace("{s}", ident) for v in DELETE_TRIMMED]
        self._index_sql = {
            k: v.replace("{s}", ident).replace("{cols}", COLUMNS)
            for k, v in INDEX_STATEMENTS.items()
        }
        # A schema kept at an older version by a test has no indexes.
        self._indexed = not (_version_1_only or _version_3_only)
        self._checkpoint_below = (
            "SELECT max(number) FROM {s}.checkpoints"
            " WHERE timeline = %s AND number <= %s"
        ).replace("{s}", ident)
        self._node_sql = {
            k: v.replace("{s}", ident) for k, v in NODE_STATEMENTS.items()
        }
        self._inserts: dict[int, str] = {}
        self._lock = threading.Lock()
        settings = [("synchronous_commit", "on" if synchronous_commit else "off")]
        if read_only:  # the server refuses every write too, whatever the code does
            settings.append(("default_transaction_read_only", "on"))

        def configure(conn: Connection[Any]) -> None:
            for name, value in settings:
                conn.execute(
                    sql.SQL("SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )

        # One connection first, bounded by the connect timeout: an unreachable
        # server is one line at once, not a pool retrying in the background. A
        # connection lost after it was made is retried, as every call is.
        with _translated(f"opening schema {schema!r}"):
            for attempt in itertools.count():
                with self._server.connect() as conn:
                    try:
                        if read_only:
                            check_readable(conn, schema, self._server.describe())
                        else:
                            migrate(
                                conn,
                                schema,
                                _version_1_only=_version_1_only,
                                _version_3_only=_version_3_only,
                            )
                        break
                    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                        if attempt >= retries:
                            what = f"opening schema {schema!r}"
                            raise _storage_error(what, exc, attempt + 1) from exc
                        log.info("opening: connection lost (%s); retrying", exc)
                time.sleep(_backoff(attempt))
        self._pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, **self._server.options},
            configure=configure,
            timeout=timeout,
            name=f"statetrail:{schema}",
            open=True,
        )

    # -- plumbing ----------------------------------------------------------------

    def _refuse_write(self) -> None:
        if self.read_only:
            raise StorageError(
                f"schema {self.schema!r} of {self._server.describe()} is open "
                "read-only: nothing is written"
            )

    def _run(self, what: str, op: Callable[[Connection[Any], int], _T]) -> _T:
        """Run ``op(connection, attempt)``, retrying when the connection is lost."""
        with _translated(what):  # what the retries below leave
            for attempt in itertools.count():
                if self._closed:
                    raise StorageError("the PostgreSQL backend is closed")
                try:
                    with self._pool.connection() as conn:
                        return op(conn, attempt)
                except PoolTimeout as exc:
                    error, cause = self._no_connection(what, exc)
                    raise error from cause
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if self._closed:
                        raise StorageError("the PostgreSQL backend is closed") from exc
                    # Drop the pool's other connections if they died too (a server
                    # restart kills them all), so a retry or the next call gets a
                    # live one.
                    self._pool.check()
                    if attempt >= self._retries:
                        raise _storage_error(what, exc, tries=attempt + 1) from exc
                    log.info("%s: connection lost (%s); retrying", what, exc)
                    time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _no_connection(
        self, what: str, timeout: PoolTimeout
    ) -> tuple[StorageError, BaseException]:
        """Why the pool had no connection, and the error to chain.

        The server's refusal if it refuses, else all connections were busy.
        """
        try:
            self._server.connect().close()
        except StorageError as down:
            cause = down.__cause__ if down.__cause__ is not None else down
            return StorageError(f"PostgreSQL {what} failed: {down}"), cause
        busy = StorageError(
            f"PostgreSQL {what} failed: no pooled connection came free within "
            f"{self._pool.timeout:g} s; raise max_size or timeout"
        )
        return busy, timeout

    def _insert(self, count: int, *, notify: bool) -> str:
        """INSERT of ``count`` rows, with the NOTIFY in the same statement."""
        key = count if notify else -count
        statement = self._inserts.get(key)
        if statement is None:
            values = ", ".join(["(" + ", ".join(["%s"] * 17) + ")"] * count)
            statement = self._sql.insert + values
            if notify:
                statement = self._sql.notify.format(insert=statement)
            if count <= 16:  # batches are mostly small; big ones are built afresh
                self._inserts[key] = statement
        return statement

    # -- the Backend contract -------------------------------------------------------

    def append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store ``rows`` of one timeline in one transaction, and notify followers.

        ``checkpoints`` and ``heads`` are stored in the same transaction.

        Raises:
            ConflictError: A number is taken (or repeated in ``rows``); nothing is
                stored. A retry after a lost connection that finds exactly these
                rows stored (same digests) is success, not a conflict.
            ValueError: The rows span several timelines, or a name holds U+0000.
            StorageError: The server failed, or the connection stayed lost.
        """
        self._append(rows, checkpoints, heads, ())

    def append_with_nodes(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint],
        nodes: Sequence[tuple[bytes, bytes]],
        heads: Heads | None = None,
        *,
        epoch: int | None = None,
    ) -> None:
        """Nodes, rows, checkpoints and heads in one transaction (see Backend).

        Raises:
            NodesSweptError: ``epoch`` is not the sweep count (nothing written).
        """
        self._append(rows, checkpoints, heads, nodes, epoch)

    def _append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint],
        heads: Heads | None,
        nodes: Sequence[tuple[bytes, bytes]],
        epoch: int | None = None,
    ) -> None:
        self._refuse_write()
        timeline = timeline_of(rows, checkpoints)
        if not rows:
            return
        if any(r.timeline != timeline for r in rows):
            raise ValueError("an append stores rows of one timeline")
        top = max(r.number for r in rows)
        note = json.dumps({"t": timeline, "n": top})
        notify = [
            self.channel,
            note if len(note) <= _INLINE_NOTIFY_BYTES else None,
            top,
        ]
        # One statement, or one transaction when the batch needs several.
        chunks = [rows[i : i + _CHUNK] for i in range(0, len(rows), _CHUNK)]
        steps = [(self._insert(len(c), notify=False), _values(c)) for c in chunks[:-1]]
        last = chunks[-1]
        steps.append((self._insert(len(last), notify=True), _values(last) + notify))
        steps += [
            (self._sql.put_checkpoint, [timeline, number, value, digest])
            for number, value, digest in checkpoints
        ]
        if heads is not None:
            steps.append((self._sql.save_heads, _heads_params(timeline, heads)))
        if nodes:  # first: a checkpoint names them (one statement for all)
            digests, bodies = zip(*nodes, strict=True)
            steps.insert(0, (self._node_sql["put_many"], [list(digests), list(bodies)]))

        def insert(conn: Connection[Any], attempt: int) -> None:
            try:
                if len(steps) == 1 and epoch is None:
                    conn.execute(*steps[0])
                else:
                    with conn.transaction():
                        for statement, params in steps:
                            conn.execute(statement, params)
                        # After the rows: a retry of a write whose commit reply
                        # was lost meets its own rows first (_was_this_write).
                        if epoch is not None:
                            self._check_epoch(conn, epoch)
            except psycopg.errors.UniqueViolation as exc:
                numbers = [r.number for r in rows]
                if attempt == 0 and len(rows) == 1:  # the common race: no need to ask
                    stored = {rows[0].number: ""}
                else:
                    found = conn.execute(self._sql.taken, [timeline, numbers])
                    stored = dict(found.fetchall())
                if self._was_this_write(rows, stored, attempt):
                    log.info(
                        "append to %r: the commit reply was lost, but revisions %s "
                        "are stored with this write's digests: it was this write",
                        timeline, numbers,
                    )  # fmt: skip
                    return
                taken = sorted(stored) or sorted(
                    n for n, c in Counter(numbers).items() if c > 1
                )
                raise ConflictError(
                    f"{'revision' if len(taken) == 1 else 'revisions'} "
                    f"{', '.join(map(str, taken))} of timeline {timeline!r} "
                    "already stored; catch up and retry",
                    [(timeline, n) for n in taken],
                ) from exc

        self._run("append", insert)

    def _was_this_write(
        self, rows: Sequence[Row], stored: dict[int, str], attempt: int
    ) -> bool:
        """Whether a conflict is this append itself, committed on an earlier try.

        Only after a lost connection (``attempt > 0``), and only if every row is
        stored with the digest being written.
        """
        return attempt > 0 and all(stored.get(r.number) == r.digest for r in rows)

    def read(
        self, timeline: str, after: int = -1, upto: int | None = None
    ) -> list[Row]:
        """Rows numbered above ``after`` and at most ``upto``, in number order."""
        top = _NO_LIMIT if upto is None else upto
        records = self._run(
            "read",
            lambda c, _: c.execute(self._sql.read, [timeline, after, top]).fetchall(),
        )
        return [_row(r) for r in records]

    def forks(self, timeline: str, after: int = -1) -> list[Fork]:
        """The rows above ``after`` that fork, found by the server in one query."""
        records = self._run(
            "forks",
            lambda c, _: c.execute(self._sql.forks, [timeline, after]).fetchall(),
        )
        return [_fork(r) for r in records]

    # -- the path and time indexes (schema 4) ---------------------------------------

    def touching(
        self,
        timeline: str,
        path: str,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[int]:
        """Revisions that changed ``path``, under or above it, newest first.

        From the path index: one range scan and one lookup per ancestor (see
        :meth:`Backend.touching <statetrail.storage.base.Backend.touching>`).
        """
        if not self._indexed:
            return super().touching(timeline, path, before=before, limit=limit)
        _index.check_pointer(path)
        _index.check_limit(limit)
        low, high = _index.descendants(path)
        params = {
            "t": timeline,
            "p": path.encode(),
            "lo": low.encode(),
            "hi": high.encode(),
            "up": [a.encode() for a in _index.ancestors(path)],
            "b": _NO_LIMIT if before is None else before,
            "n": limit,
        }
        statement = self._index_sql["touching"]
        records = self._run(
            "touching", lambda c, _: c.execute(statement, params).fetchall()
        )
        return [int(n) for (n,) in records]

    def number_at(self, timeline: str, time_ns: int) -> int | None:
        """The revision recorded last at or before ``time_ns``, from the time index."""
        if not self._indexed:
            return super().number_at(timeline, time_ns)
        statement = self._index_sql["number_at"]
        record = self._run(
            "number_at",
            lambda c, _: c.execute(statement, [timeline, time_ns]).fetchone(),
        )
        return None if record is None else int(record[0])

    def line_breaks(
        self, timeline: str, after: int = -1
    ) -> list[tuple[int, int | None]]:
        """The rows whose parent is not the row below, from a partial index."""
        if not self._indexed:
            return super().line_breaks(timeline, after)
        statement = self._index_sql["line_breaks"]
        records = self._run(
            "line_breaks",
            lambda c, _: c.execute(statement, [timeline, after]).fetchall(),
        )
        return [(int(n), None if p is None else int(p)) for n, p in records]

    def index_problems(self, timeline: str) -> list[Problem]:
        """Rows' paths missing from the path index, and entries no row lists."""
        if not self._indexed:
            return []
        missing, extra = self._index_sql["missing"], self._index_sql["extra"]
        params = {"t": timeline}
        lacking = self._run(
            "index_problems", lambda c, _: c.execute(missing, params).fetchall()
        )
        added = self._run(
            "index_problems", lambda c, _: c.execute(extra, params).fetchall()
        )
        out: list[Problem] = [
            (timeline, int(n), f"lacks its path index entry {bytes(p).decode()!r}")
            for n, p in lacking
        ]
        out += [
            (
                timeline,
                int(n),
                f"has a path index entry {bytes(p).decode(errors='replace')!r} "
                "it does not list",
            )
            for n, p in added
        ]
        return out

    def row(self, timeline: str, number: int) -> Row | None:
        """One row, or ``None``."""
        record = self._run(
            "row", lambda c, _: c.execute(self._sql.row, [timeline, number]).fetchone()
        )
        return None if record is None else _row(record)

    def rows(self, timeline: str, numbers: Sequence[int]) -> list[Row]:
        """The rows with these numbers, in number order, in one query."""
        statement = self._index_sql["rows"]
        wanted = sorted({int(n) for n in numbers})
        records = self._run(
            "rows", lambda c, _: c.execute(statement, [timeline, wanted]).fetchall()
        )
        return [_row(r) for r in records]

    def chains(self, timeline: str, numbers: Sequence[int]) -> dict[int, str]:
        """The chains of these rows, in one query."""
        statement = self._index_sql["chains"]
        wanted = sorted({int(n) for n in numbers})
        records = self._run(
            "chains", lambda c, _: c.execute(statement, [timeline, wanted]).fetchall()
        )
        return {int(n): str(c) for n, c in records}

    def latest(self, timeline: str) -> int:
        """The highest revision number of ``timeline``, or -1."""
        return int(self._one("latest", self._sql.latest, [timeline]))

    def timelines(self) -> list[str]:
        """The names of the timelines stored, sorted by code point."""
        records = self._run(
            "timelines", lambda c, _: c.execute(self._sql.timelines, []).fetchall()
        )
        return [name for (name,) in records]

    def save_heads(self, timeline: str, heads: Heads) -> None:
        """Record the cursor and the branch tips (replacing the previous ones)."""
        self._refuse_write()
        params = _heads_params(timeline, heads)
        self._run("save_heads", lambda c, _: c.execute(self._sql.save_heads, params))

    def end(self, timeline: str) -> End | None:
        """The end record of ``timeline`` (kept by a trigger on every INSERT)."""
        record = self._run(
            "end", lambda c, _: c.execute(self._sql.end, [timeline]).fetchone()
        )
        return None if record is None else End(int(record[0]), record[1])

    def check(self, full: bool = False) -> list[Problem]:
        """The schema against statetrail's, each timeline's rows against its end.

        The schema's columns, constraints, indexes, trigger and the trigger's
        function are compared with what statetrail creates: a trigger dropped or
        disabled, a function emptied or a primary key dropped is a problem.
        PostgreSQL checks its own pages (data checksums, when enabled); there is
        no quick check to run from a client.
        """
        schema = self._run("check", lambda c, _: schema_problems(c, self.schema))
        try:
            records = self._run(
                "check", lambda c, _: c.execute(self._sql.counts, []).fetchall()
            )
        except StorageError as exc:
            gone = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn)
            if not isinstance(exc.__cause__, gone):
                raise
            records = []  # a table or column gone: the schema's problems say so
        return [(None, None, what) for what in schema] + [
            (
                name,
                None,
                f"the table holds {rows} revision(s), the end record says {end} "
                "(rows deleted?)",
            )
            for name, rows, end in records
        ]

    def heads(self, timeline: str) -> Heads | None:
        """The heads last saved, or ``None``."""
        record = self._run(
            "heads", lambda c, _: c.execute(self._sql.heads, [timeline]).fetchone()
        )
        if record is None:
            return None
        branch, cursor, tips, seal = record
        return Heads(branch, cursor, {str(k): int(v) for k, v in tips.items()}, seal)

    def put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        """Keep revision ``number``'s whole value (replacing an earlier one)."""
        self._refuse_write()
        params = [timeline, number, value, digest]
        self._run(
            "put_checkpoint", lambda c, _: c.execute(self._sql.put_checkpoint, params)
        )

    # -- the node store ---------------------------------------------------------------

    stores_nodes = True

    def put_nodes(self, nodes: Sequence[tuple[bytes, bytes]]) -> None:
        """Keep nodes (see :meth:`Backend.put_nodes`), in one transaction."""
        self._refuse_write()
        params = list(nodes)
        if not params:
            return

        def put(conn: Connection[Any], _: int) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(self._node_sql["put"], params)

        self._run("put_nodes", put)

    def _check_epoch(self, conn: Connection[Any], epoch: int) -> None:
        """In an append's transaction: no sweep batch since ``epoch`` was read."""
        statements = self._node_sql
        conn.execute(statements["shared"], [self._sweep_key])
        found = conn.execute(statements["epoch"], [EPOCH]).fetchone()
        if (0 if found is None else int(found[0])) != epoch:
            raise NodesSweptError(
                f"schema {self.schema!r}: nodes were swept since they were asked for"
            )

    @property
    def _sweep_key(self) -> str:
        return f"statetrail.nodes:{self.schema}"

    def node_epoch(self) -> int:
        """How many sweep batches have deleted nodes (see Backend)."""
        statement = self._node_sql["epoch"]
        found = self._run(
            "node_epoch", lambda c, _: c.execute(statement, [EPOCH]).fetchone()
        )
        return 0 if found is None else int(found[0])

    def node_roots(self) -> set[bytes]:
        """The root digests the checkpoints of every timeline name."""
        statement = self._node_sql["roots"]
        found = self._run("node_roots", lambda c, _: c.execute(statement).fetchall())
        return {r for (h,) in found if (r := referenced(PREFIX + h)) is not None}

    def node_digests(self, after: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` stored node digests above ``after``, in order."""
        statement = self._node_sql["digests"]
        found = self._run(
            "node_digests",
            lambda c, _: c.execute(statement, [after, limit]).fetchall(),
        )
        return [bytes(d) for (d,) in found]

    def sweep_nodes(self, digests: Sequence[bytes], roots: set[bytes]) -> set[bytes]:
        """Delete ``digests`` unless new roots are named: one transaction.

        An advisory lock, taken alone here and shared by every append naming
        nodes, orders the two (see Backend and ``_nodes.sweep``).
        """
        self._refuse_write()
        statements = self._node_sql
        wanted = list(digests)

        def work(conn: Connection[Any], _: int) -> set[bytes]:
            with conn.transaction():
                conn.execute(statements["alone"], [self._sweep_key])
                named = {
                    r
                    for (h,) in conn.execute(statements["roots"]).fetchall()
                    if (r := referenced(PREFIX + h)) is not None
                }
                new = named - roots
                if new:
                    return new
                conn.execute(statements["delete"], [wanted])
                conn.execute(statements["bump_epoch"], [EPOCH])
                return set()

        return self._run("sweep_nodes", work)

    def nodes(self, digests: Sequence[bytes]) -> dict[bytes, bytes]:
        """The bodies of those of ``digests`` that are kept."""
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return {}
        records = self._run(
            "nodes",
            lambda c, _: c.execute(self._node_sql["bodies"], [wanted]).fetchall(),
        )
        return {bytes(d): bytes(b) for d, b in records}

    def has_nodes(self, digests: Sequence[bytes]) -> set[bytes]:
        """Those of ``digests`` that are kept."""
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return set()
        records = self._run(
            "has_nodes",
            lambda c, _: c.execute(self._node_sql["present"], [wanted]).fetchall(),
        )
        return {bytes(d) for (d,) in records}

    def checkpoint(self, timeline: str, number: int) -> tuple[str, str] | None:
        """The checkpoint of revision ``number`` as ``(value, digest)``, or ``None``."""
        record = self._run(
            "checkpoint",
            lambda c, _: c.execute(self._sql.checkpoint, [timeline, number]).fetchone(),
        )
        return None if record is None else (record[0], record[1])

    def checkpoint_below(self, timeline: str, number: int) -> int | None:
        """The greatest number ``<= number`` with a checkpoint (one index probe)."""
        statement = self._checkpoint_below
        record = self._run(
            "checkpoint_below",
            lambda c, _: c.execute(statement, [timeline, number]).fetchone(),
        )
        return None if record is None else record[0]

    def checkpoints(self, timeline: str) -> list[int]:
        """The revision numbers that have checkpoints, ascending."""
        records = self._run(
            "checkpoints",
            lambda c, _: c.execute(self._sql.checkpoints, [timeline]).fetchall(),
        )
        return [n for (n,) in records]

    def erase(self, timeline: str, number: int, tombstone: str) -> None:
        """Drop revision ``number``'s payload and keep ``tombstone`` in its place.

        Raises:
            RevisionNotFoundError: There is no such revision.
        """
        self._refuse_write()
        params = [tombstone, timeline, number]
        updated = self._run(
            "erase", lambda c, _: c.execute(self._sql.erase, params).rowcount
        )
        if not updated:
            raise RevisionNotFoundError(
                f"timeline {timeline!r} has no revision {number} to erase"
            )
        self._bump_version()

    def data_version(self) -> int:
        """The last value of the rows' ``seq`` identity sequence: one cheap read.

        Every append draws from it (a rolled-back one too: a spurious move only
        costs a reader one read that finds nothing), and :meth:`erase` draws one
        more once its update is committed, so whoever sees the new number sees
        the erasure. Unlike SQLite's, it is the same on every connection.
        """
        return int(
            self._one(
                "data version",
                "SELECT coalesce(pg_sequence_last_value(%s::regclass), 0)",
                [self._sequence()],
            )
        )

    def _bump_version(self) -> None:
        """Move :meth:`data_version` (an erasure: no row is added)."""
        self._one("data version", "SELECT nextval(%s::regclass)", [self._sequence()])

    def _sequence(self) -> str:
        """The name of the rows' ``seq`` sequence, as PostgreSQL quotes it."""
        name: str | None = getattr(self, "_sequence_name", None)
        if name is None:
            table = sql.Identifier(self.schema, "revisions").as_string()
            name = str(
                self._one(
                    "data version", "SELECT pg_get_serial_sequence(%s, 'seq')", [table]
                )
            )
            self._sequence_name = name
        return name

    # -- trimming -------------------------------------------------------------------

    def trims(self, timeline: str) -> list[RangeTombstone]:
        """The range tombstones of ``timeline``, oldest first."""
        statement = self._trim_sql["trims"]
        records = self._run(
            "trims", lambda c, _: c.execute(statement, [timeline]).fetchall()
        )
        return [RangeTombstone(*r) for r in records]

    def put_trim(
        self,
        timeline: str,
        tombstone: RangeTombstone,
        expect: str | None,
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store a tombstone and checkpoints in one transaction (see Backend)."""
        self._refuse_write()
        statements = self._trim_sql

        def put(conn: Connection[Any], _: int) -> None:
            with conn.transaction():
                # Two trims of one timeline at once: the second waits, then
                # finds the newest tombstone changed.
                conn.execute(statements["lock"], [f"{self.schema}/trim/{timeline}"])
                newest = conn.execute(statements["newest"], [timeline]).fetchone()
                if (None if newest is None else newest[0]) != expect:
                    raise ConflictError(
                        f"timeline {timeline!r} was trimmed by another writer "
                        "meanwhile",
                        [(timeline, tombstone.first)],
                    )
                conn.execute(statements["put"], [timeline, *tombstone])
                for number, value, digest in checkpoints:
                    conn.execute(
                        self._sql.put_checkpoint, [timeline, number, value, digest]
                    )
                if heads is not None:
                    conn.execute(self._sql.save_heads, _heads_params(timeline, heads))

        self._run("put_trim", put)

    def delete_trimmed(self, timeline: str, upto: int, limit: int) -> int:
        """Remove up to ``limit`` of the oldest trimmed rows, one transaction."""
        self._refuse_write()
        statements = self._trim_sql

        def delete(conn: Connection[Any], _: int) -> int:
            with conn.transaction():
                newest = conn.execute(statements["newest"], [timeline]).fetchone()
                if newest is None:
                    return 0
                found = conn.execute(
                    statements["batch_end"], [timeline, min(upto, newest[1]), limit]
                ).fetchone()
                if found is None or found[0] is None:
                    return 0
                gone = 0
                for statement in self._delete_trimmed:
                    count = conn.execute(statement, [timeline, found[0]]).rowcount
                    gone = gone or count
                return gone

        return self._run("delete_trimmed", delete)

    def crossing(self, timeline: str, cut: int) -> list[int]:
        """The numbers at or above ``cut`` whose parent is below it."""
        statement = self._trim_sql["crossing"]
        records = self._run(
            "crossing",
            lambda c, _: c.execute(statement, [timeline, cut, cut]).fetchall(),
        )
        return [int(n) for (n,) in records]

    def reclaim(self) -> None:
        """Plain ``VACUUM`` of the tables: the space of removed rows is reused.

        It does not give the file back to the system (``VACUUM FULL`` would,
        locking the tables out); new rows fill the freed space instead.
        """
        self._refuse_write()
        tables = sql.SQL(", ").join(
            sql.Identifier(self.schema, table) for table in VACUUMED
        )
        statement = sql.SQL("VACUUM {}").format(tables)
        self._run("reclaim", lambda c, _: c.execute(statement))

    def close(self) -> None:
        """Close the pool's connections; every later call raises StorageError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.close()

    # -- PostgreSQL's own -----------------------------------------------------------

    def query(
        self,
        timeline: str,
        *,
        author: str | None = None,
        comment: str | None = None,
        label: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        path: str | None = None,
        kind: str | None = None,
    ) -> list[int]:
        r"""The numbers of the revisions matching every filter given, ascending.

        Run in SQL, so only the numbers cross the network.

        Args:
            timeline: The timeline searched.
            author: Exactly this author.
            comment: Comments containing this text (case-sensitive; ``%``, ``_``
                and ``\`` match themselves).
            label: Exactly this label.
            since_ns: Recorded at or after this time (ns since the epoch, UTC).
            until_ns: Recorded before this time.
            path: A JSON Pointer: revisions that changed it, something under it or
                an ancestor of it (``""`` is the whole value).
            kind: Exactly this revision kind.

        Raises:
            ValueError: ``path`` is not a JSON Pointer.
        """
        where = [self._sql.query]
        params: list[Any] = [timeline]
        for column, value in (("author", author), ("label", label), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if comment is not None:
            where.append("comment LIKE %s ESCAPE '\\'")
            escaped = (
                comment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            )
            params.append(f"%{escaped}%")
        if since_ns is not None:
            where.append("time_ns >= %s")
            params.append(since_ns)
        if until_ns is not None:
            where.append("time_ns < %s")
            params.append(until_ns)
        if path is not None:
            if path and not path.startswith("/"):
                raise ValueError(
                    f"path must be a JSON Pointer ('' or '/...'), not {path!r}"
                )
            pointer = path.encode()
            # Equal or above: the pointer and its ancestors, a short list. Under:
            # a byte prefix ending in "/" ("/" never occurs inside a UTF-8 character).
            above = [pointer[:i] for i in range(len(pointer)) if pointer[i] == 0x2F]
            where.append(
                "EXISTS (SELECT FROM unnest(paths) AS p"
                " WHERE p = ANY(%s) OR substr(p, 1, %s) = %s)"
            )
            params += ([*above, pointer], len(pointer) + 1, pointer + b"/")
        statement = " AND ".join(where) + " ORDER BY number"
        records = self._run(
            "query", lambda c, _: c.execute(statement, params).fetchall()
        )
        return [n for (n,) in records]

    def tail(
        self, cursor: Cursor = (0, 0), *, limit: int = 1000
    ) -> tuple[list[Row], Cursor]:
        """Rows of every timeline stored after ``cursor``, and the next cursor.

        Start from ``(0, 0)`` and pass back the cursor returned; nothing is
        skipped and nothing returned twice. An append's rows come together, and
        appends that each follow their timeline's latest come in number order.

        Polling ``seq > last`` alone would skip rows: ``seq`` is drawn when a row
        is inserted, not when it commits, so a row with a lower ``seq`` can become
        visible after the reader has moved past it. The tail orders rows by their
        transaction id and returns only rows of transactions older than the
        oldest still running (``pg_snapshot_xmin``): every transaction that could
        still commit has a larger id. The price: a long transaction anywhere on
        the server holds the tail back until it ends.
        """
        txid, seq = cursor
        records = self._run(
            "tail",
            lambda c, _: c.execute(self._sql.tail, [txid, seq, limit]).fetchall(),
        )
        if not records:
            return [], cursor
        return [_row(r[2:]) for r in records], (records[-1][0], records[-1][1])

    def listen(
        self,
        *,
        after: Mapping[str, int] | None = None,
        reconnect_for: float = RECONNECT_FOR,
    ) -> ChangeFeed:
        """Start listening for appends, on a dedicated connection.

        Appends committed from now on are delivered; see :class:`ChangeFeed`.
        The feed reconnects by itself after a lost connection and delivers what
        was committed meanwhile.

        >>> with backend.listen(after={"job": 41}) as feed:  # doctest: +SKIP
        ...     while True:
        ...         for row in feed.next_rows():  # 42, 43 ... each once, in order
        ...             apply(row)

        Args:
            after: Per timeline, the number a follower has: ``next_rows`` starts
                after it (and ``get`` delivers the timeline's newest at once if
                it is beyond). Timelines not named start at their newest.
            reconnect_for: Seconds the feed keeps reconnecting after a loss
                before it raises :class:`~statetrail.StorageError`.

        Raises:
            StorageError: The server cannot be reached.
        """
        if self._closed:
            raise StorageError("the PostgreSQL backend is closed")
        listen = sql.SQL("LISTEN {}").format(sql.Identifier(self.channel))

        def connect() -> Connection[Any]:
            # Keepalives: a peer gone without a word (a cable pulled) is noticed
            # in about 20 s instead of never.
            conn = self._server.connect(**_KEEPALIVES)
            try:
                conn.execute(listen)
            except BaseException:
                conn.close()
                raise
            return conn

        with _translated("listening"):
            return ChangeFeed(
                connect,
                ends=self._sql.ends,
                timeline_at=self._timeline_at,
                read=lambda name, after, upto: self.read(name, after, upto),
                place=self._server.place,
                after=after,
                reconnect_for=reconnect_for,
            )

    def _one(self, what: str, statement: str, params: Sequence[Any]) -> Any:
        record = self._run(what, lambda c, _: c.execute(statement, params).fetchone())
        assert record is not None
        return record[0]

    def _timeline_at(self, seq: int) -> str:
        """The timeline of the row ``seq`` (a long name's notification).

        Raises:
            KeyError: No row has that seq.
        """
        record = self._run(
            "change feed lookup",
            lambda c, _: c.execute(self._sql.timeline_at, [seq]).fetchone(),
        )
        if record is None:
            raise KeyError(seq)
        return str(record[0])


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt + 1``: none before the first."""
    return min(1.0, 0.05 * float(2**attempt - 1))


def _heads_params(timeline: str, heads: Heads) -> list[Any]:
    """The parameters of the ``save_heads`` statement."""
    return [timeline, heads.branch, heads.cursor, Jsonb(dict(heads.tips)), heads.seal]


def _values(rows: Sequence[Row]) -> list[Any]:
    """The INSERT parameters of ``rows``, in column order."""
    values: list[Any] = []
    for r in rows:
        values += (
            r.timeline, r.number, r.parent, r.branch, r.time_ns, r.kind, r.target,
            r.label, r.author, r.comment, r.extra, r.origin, r.payload,
            [p.encode() for p in r.paths], r.digest, r.chain, r.erased,
        )  # fmt: skip
    return values


def _fork(record: Sequence[Any]) -> Fork:
    number, parent, branch = record
    return Fork(number, parent, branch)


def _row(record: Sequence[Any]) -> Row:
    values = list(record)
    values[13] = tuple(p.decode() for p in values[13])  # paths: bytea[] of UTF-8
    return Row(*values)


def _translated(what: str) -> Translated:
    """Driver errors leaving a block become statetrail's (:func:`_storage_error`)."""
    return Translated((psycopg.Error,), lambda exc: _storage_error(what, exc))


def _storage_error(what: str, exc: BaseException, tries: int = 1) -> Exception:
    """The statetrail error for a driver error (the caller chains ``exc``).

    The message is one line: the driver's first (a command prints it as it is).
    """
    reason = next((line for line in str(exc).splitlines() if line.strip()), "")
    reason = reason.strip() or type(exc).__name__
    if isinstance(exc, psycopg.DataError):
        # A value PostgreSQL cannot hold (U+0000 in text, a number out of range):
        # a bad argument, not a failing store.
        return ValueError(f"PostgreSQL cannot store this value ({what}): {reason}")
    after = f" after {tries} tries" if tries > 1 else ""
    return StorageError(f"PostgreSQL {what} failed{after}: {reason}")
