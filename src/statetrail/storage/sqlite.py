"""The SQLite backend: the embedded default, on the standard library's sqlite3.

>>> import tempfile, pathlib
>>> from statetrail.storage.sqlite import SQLiteBackend
>>> path = pathlib.Path(tempfile.mkdtemp()) / "history.db"
>>> with SQLiteBackend(path) as backend:
...     backend.latest("settings")
-1

**Durability.** The file is in WAL mode. ``durability`` chooses what a returned
``append()`` means:

- ``"full"`` (default): ``synchronous=FULL``; the transaction is on disk when
  ``append()`` returns, and survives a process crash and a power loss.
- ``"normal"``: ``synchronous=NORMAL``; survives a crash of the application, but
  the last transactions may roll back after a power loss or an operating-system
  crash (the database stays consistent). Several times faster per write.
- ``"batched"``: group commit. ``append()``, ``save_heads()`` and
  ``put_checkpoint()`` queue the write and return *before it is durable*; a
  background thread commits what is queued in one ``synchronous=FULL``
  transaction every ``batch_interval`` seconds or ``batch_size`` rows.
  :meth:`~SQLiteBackend.flush` waits until everything queued is on disk and
  raises the errors found meanwhile (a taken revision number is a
  :class:`~statetrail.ConflictError` there, and is logged when found). Reads see
  committed rows only: flush to read your own writes. ``close()`` flushes, and
  so does the interpreter's exit.

**Batched mode: one writer.** A queued revision's children are queued after it,
their parents and chain hashes worked out in memory, so nobody else may append
to the file meanwhile (issue 9: two batched processes left a file whose chain
broke at the first refused row). A batched backend therefore takes an exclusive
lock on ``<database>-lock`` when it opens and keeps it until it closes; other
backends take a shared lock before their first write. So a batched backend is
refused at open, with a :class:`~statetrail.StorageError` naming the batched
writer's process, while another backend of this process or another has written
the file and is open; and a backend that is not batched is refused at its first
write while a batched one is open (reading is always allowed). Batched backends
one after another are fine: the lock goes at ``close()``, and with the process
however it ends. Details in ``_sqlite_lock``. Should a writer get past the lock
anyway (a bare connection, a file system without flock), a queued row that
descends from a refused one is refused too, so the file never holds a child
without its parent: the chain stays whole and the file opens.

**Threads and processes.** Each process writes through one connection, behind a
lock, in ``BEGIN IMMEDIATE`` transactions (a read transaction is never upgraded,
which would fail at once with ``SQLITE_BUSY_SNAPSHOT``). Each thread reads
through its own connection, so reads go on while a write is in progress. Other
processes may open the same file. SQLite answers at once when another
connection holds the database (SQLite's own busy handler backs off to 100 ms
between tries, so the writer that has waited longest tries least often, and was
starved past its timeout while others wrote); the backend then retries the whole
attempt, outside the fork gate, after a random wait below a window that doubles
from 1 ms to 8 ms and stays there, for up to ``busy_timeout`` seconds (30 by
default), then raises :class:`~statetrail.StorageError` naming that bound.
Details in ``_sqlite_busy``.
``os.fork()`` first waits until no thread is inside SQLite and closes every
connection; parent and child reopen on next use, so the child shares nothing
with its parent (https://www.sqlite.org/howtocorrupt.html, section 2.6; details
in ``_sqlite_connections``). Writes the parent had queued in batched mode stay
the parent's.

**Errors.** A taken revision number raises :class:`~statetrail.ConflictError` and
stores nothing of the batch; a file that is not a database, or is damaged, raises
:class:`~statetrail.CorruptHistoryError`; every other driver error becomes
:class:`~statetrail.StorageError` with the driver's error as ``__cause__``.
Integers must fit SQLite's 64 bits (:class:`ValueError` otherwise).

The library never deletes the ``-wal`` and ``-shm`` files (SQLite manages them)
nor the ``-lock`` file,
copies the database only through the backup API (:meth:`~SQLiteBackend.backup`),
and logs a warning once per process when the SQLite linked in has the WAL-reset
bug (https://www.sqlite.org/wal.html#walresetbug).
"""

from __future__ import annotations

import atexit
import functools
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import orjson

from statetrail._log import get_logger
from statetrail.errors import (
    ConflictError,
    CorruptHistoryError,
    RevisionNotFoundError,
    StatetrailError,
    StorageError,
)
from statetrail.storage import _index
from statetrail.storage import _sqlite_errors as errors
from statetrail.storage import _sqlite_schema as sql
from statetrail.storage._driver_errors import Translated
from statetrail.storage._files import check_regular
from statetrail.storage._nodes import EPOCH, PREFIX, NodesSweptError, referenced
from statetrail.storage._row_checks import (
    check_checkpoint,
    check_row,
    is_int,
    json_type,
)
from statetrail.storage._sqlite_batch import (
    GroupCommit,
    Insert,
    Op,
    Params,
    PutCheckpoint,
    Queued,
    SaveHeads,
    rows_of,
)
from statetrail.storage._sqlite_busy import BusyRetry
from statetrail.storage._sqlite_connections import (
    GATE,
    Connections,
    has_wal_reset_bug,
    warn_wal_reset,
)
from statetrail.storage._sqlite_lock import WriterLock
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

__all__ = ["SQLiteBackend", "has_wal_reset_bug"]

#: Pages a reclaim frees per transaction (1 MB with 4 KB pages): writers wait
#: for one such step at most.
_RECLAIM_PAGES = 256

log = get_logger(__name__)

T = TypeVar("T")
Durability = Literal["full", "normal", "batched"]
Connection = sqlite3.Connection

_SYNCHRONOUS = {
    "full": "PRAGMA synchronous = FULL",
    "normal": "PRAGMA synchronous = NORMAL",
    # Each group is committed durably; the speed comes from one fsync per group.
    "batched": "PRAGMA synchronous = FULL",
}
_MAX_INT = 2**63 - 1
#: The schema version that has the path and time indexes.
_INDEXED = 4
_WAL_LIMIT = 64 * 1024 * 1024  # journal_size_limit: the WAL shrinks back to this

# Backends with a batch queue, flushed when the interpreter exits.
# (This process's connections, with their file's path: the queue is theirs.)
_batched: weakref.WeakKeyDictionary[Connections, str] = weakref.WeakKeyDictionary()

#: Refused revision numbers kept to drop their checkpoints (a checkpoint follows
#: its row, in the same group or the next) and the rows queued after them that
#: descend from them; the newest are kept.
_LOST_KEPT = 4096

#: Revisions a batched backend could not store, in the order found.
Lost = dict[tuple[str, int], None]
#: Told of each commit (see ``SQLiteBackend.on_commit``): the timelines that got
#: rows, and the rows stored (empty if which ones is unknown).
CommitHook = Callable[[set[str], Sequence[Row]], None]


def _bulk(
    ops: list[Queued],
) -> tuple[list[Params], list[PutCheckpoint], list[Queued]] | None:
    """A group's appends and checkpoints, to store in one statement each.

    Returns the rows' parameters, the checkpoints and the other operations
    (saved heads: another table, so their order against the rows does not
    matter), or ``None`` when the group holds anything else (rows queued with
    heads, which go one operation at a time).
    """
    rows: list[Params] = []
    checkpoints: list[PutCheckpoint] = []
    others: list[Queued] = []
    for queued in ops:
        op = queued[0]
        if type(op) is Insert and op.heads is None:
            rows += op.parameters
        elif type(op) is PutCheckpoint:
            checkpoints.append(op)
        elif type(op) is SaveHeads:
            others.append(queued)
        else:
            return None
    return rows, checkpoints, others


def _run(op: Op, conn: sqlite3.Connection) -> None:
    """Do ``op`` in the caller's transaction.

    Raises:
        ConflictError: A row's number is taken (the driver's error as cause).
        ValueError: An integer does not fit in 64 bits.
    """
    if type(op) is Insert:
        if op.heads is None:
            sql.insert(op.rows, op.parameters, conn)
        else:
            sql.insert_with_heads(op.rows, op.parameters, op.heads, conn)
    elif type(op) is PutCheckpoint:
        sql.execute(sql.PUT_CHECKPOINT, tuple(op), conn)
    else:
        assert type(op) is SaveHeads
        sql.execute(sql.SAVE_HEADS, op.parameters, conn)


def _kept(lost: Lost, checkpoint: PutCheckpoint) -> bool:
    """Whether ``checkpoint``'s revision was stored (its row was not refused)."""
    return (checkpoint.timeline, checkpoint.number) not in lost


def _fork(record: Sequence[Any], path: str) -> Fork:
    """A fork as read, its types checked (a damaged file may hold anything)."""
    number, parent, branch = record
    if (
        not (is_int(number) and (parent is None or is_int(parent)))
        or type(branch) is not str
    ):
        raise CorruptHistoryError(
            f"{path}: a revision's number, parent or branch is of the wrong type "
            f"({json_type(number)}, {json_type(parent)}, {json_type(branch)}); "
            "restore the file from a backup"
        )
    return Fork(int(number), None if parent is None else int(parent), branch)


def _orphans(rows: Sequence[Row], lost: Lost) -> ConflictError | None:
    """The error for ``rows`` when one descends from a revision not stored.

    Its parent and chain hash were worked out from a revision the file does not
    hold: stored where its number is free, it would break the chain (issue 9).
    """
    for row in rows:
        # The chain links each revision to the one numbered before it, whatever
        # its parent: a refused predecessor breaks it too.
        if (row.timeline, row.parent) in lost or (row.timeline, row.number - 1) in lost:
            return ConflictError(
                f"revision {row.number} of timeline {row.timeline!r} was not "
                f"stored: it descends from revision {row.parent}, which was refused",
                [(r.timeline, r.number) for r in rows],
            )
    return None


def _heads_params(timeline: str, heads: Heads) -> Params:
    """The parameters of :data:`_sqlite_schema.SAVE_HEADS`."""
    return (timeline, heads.branch, heads.cursor, sql.tips_json(heads), heads.seal)


class SQLiteBackend(Backend):
    """Revisions in an SQLite file, in WAL mode.

    Attributes:
        path: The database file, made absolute.
        durability: ``"full"``, ``"normal"`` or ``"batched"``.

    Args:
        path: The database file; created, with the schema, when missing.
        durability: ``"full"``, ``"normal"`` or ``"batched"`` (see the module).
        busy_timeout: Seconds to keep retrying a database other connections
            hold, with backoff and jitter, before a busy
            :class:`~statetrail.StorageError` (see the module).
        batch_interval: Batched mode: longest wait, in seconds, before a commit.
        batch_size: Batched mode: queued rows that trigger a commit at once.
        read_only: Open the file read-only (``mode=ro``): nothing is created,
            migrated or written (every write raises StorageError); an empty
            file, another application's database or an older schema is refused.

    Raises:
        ValueError: An unknown ``durability``, a bad number, or ``":memory:"``
            (use :class:`~statetrail.storage.memory.MemoryBackend`).
        CorruptHistoryError: The file is not an SQLite database.
        StorageError: The file cannot be opened, belongs to another application,
            or was written by a newer statetrail; with ``durability="batched"``,
            another backend writes it (a batched backend is its only writer).
    """

    kind = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "full",
        busy_timeout: float = 30.0,
        batch_interval: float = 0.005,
        batch_size: int = 1000,
        read_only: bool = False,
        _migrations: Sequence[sql.Migration] = sql.MIGRATIONS,
        _busy: BusyRetry | None = None,
        _writers: Callable[[str], WriterLock] = WriterLock,
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise ValueError(
                f"durability must be 'full', 'normal' or 'batched', not {durability!r}"
            )
        if busy_timeout < 0 or batch_interval <= 0 or batch_size < 1:
            raise ValueError(
                "busy_timeout must be >= 0, batch_interval > 0 and batch_size >= 1"
            )
        name = os.fspath(path)
        if name in ("", ":memory:") or name.startswith("file:"):
            raise ValueError(
                f"SQLiteBackend needs a file path, not {name!r}; for history "
                "in memory use statetrail.storage.memory.MemoryBackend"
            )
        # Absolute: connections opened later (new threads, after a fork) must
        # find the same file if the working directory changes.
        self.path = os.path.abspath(name)
        check_regular(self.path)  # a FIFO or device would block or be clobbered
        self.durability = durability
        self.read_only = read_only
        self._busy = BusyRetry(busy_timeout) if _busy is None else _busy
        self._writers = _writers(self.path)
        self._batch_interval = batch_interval
        self._batch_size = batch_size
        self._closed = False
        self._swap_lock = threading.Lock()
        self._lost: Lost = {}  # the batch thread's
        self._on_commit: CommitHook | None = None
        self._json = False  # SQLite has its JSON functions (set by _setup)
        self._migrations = _migrations
        self._process = Connections(self._connect)
        #: Driver errors leaving a block become statetrail's (_driver_errors).
        self._driver = Translated((sqlite3.Error, OverflowError), self._translate)
        warn_wal_reset(sqlite3.sqlite_version)
        try:
            if durability == "batched":
                self._claim(self._process)  # refused here, before any write
            self._setup(_migrations)
        except BaseException:
            self._process.close()
            self._writers.release()
            raise

    # -- connections -------------------------------------------------------

    def _connect(self, writer: bool) -> Connection:
        target = self.path
        if self.read_only:  # SQLite itself refuses every write, and creates nothing
            import urllib.parse  # with ipaddress: 3.6 ms of a first open otherwise

            target = f"file:{urllib.parse.quote(self.path)}?mode=ro"
        conn = sqlite3.connect(
            target,
            timeout=0,  # busy: answered at once, waited out by self._busy
            isolation_level=None,  # transactions are ours: BEGIN IMMEDIATE
            check_same_thread=False,  # close() may come from another thread
            uri=self.read_only,
        )
        try:
            if writer and not self.read_only:
                conn.execute(_SYNCHRONOUS[self.durability])
                conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT:d}")
            else:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # parses the schema
        except UnicodeDecodeError as exc:
            # A damaged schema: sqlite3 fails to decode SQLite's own message.
            conn.close()
            raise CorruptHistoryError(
                f"{self.path} has a damaged schema (not UTF-8); restore it from a "
                "backup"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _setup(self, migrations: Sequence[sql.Migration]) -> None:
        def wal(conn: Connection) -> None:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                raise StorageError(
                    f"{self.path} could not be switched to WAL mode (it is in "
                    f"{mode!r} mode); use a local file system"
                )

        def attempt() -> tuple[bool, tuple[int, int]]:
            with GATE:
                conn = state.writer()
                tables = conn.execute("SELECT count(*) FROM sqlite_master")
                if tables.fetchone() == (0,):
                    # Before the first table, or never: trimmed pages can then be
                    # given back to the file system (see reclaim()).
                    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                wal(conn)
                return sql.has_json(conn), _version(conn)

        if self.read_only:
            self._check_read_only(len(migrations))
            return
        state = self._live()
        with state.write_lock, self._driver:
            self._json, found = self._busy.run(attempt)
        # The version first: the write lock only to migrate, so opening a file
        # while another connection writes it does not wait for that writer.
        if found != (sql.APPLICATION_ID, len(migrations)):
            self._write(
                functools.partial(sql.migrate, path=self.path, migrations=migrations),
                claim=False,  # a backend that only reads does not claim the file
            )

    def _check_read_only(self, current: int) -> None:
        """Refuse what a read-only backend cannot read as it is.

        Raises:
            StorageError: The file is empty, not statetrail's, or at another
                schema version (an older one must be upgraded by a writer).
        """
        try:
            size = os.path.getsize(self.path)
        except OSError as exc:
            raise StorageError(f"cannot open {self.path}: {exc.strerror}") from exc
        if size == 0:
            raise StorageError(f"{self.path} is empty, not a statetrail database")
        with GATE, self._driver:
            app_id, version = _version(self._live().reader())
        if app_id != sql.APPLICATION_ID:
            if app_id == 0 and version == 0:
                raise StorageError(f"{self.path} is not a statetrail database")
            raise StorageError(
                f"{self.path} is an SQLite database of another application "
                f"(application_id {app_id:#x}), not a statetrail database"
            )
        if version > current:
            raise StorageError(
                f"{self.path} has schema version {version}, newer than this "
                f"statetrail knows ({current}); upgrade statetrail to open it"
            )
        if version < current:
            raise StorageError(
                f"{self.path} was written by an older statetrail (schema version "
                f"{version}); open it once with statetrail.open() to upgrade it, "
                "then run this again"
            )
        with GATE:
            self._json = sql.has_json(self._live().reader())

    def _refuse_write(self) -> None:
        if self.read_only:
            raise StorageError(f"{self.path} is open read-only: nothing is written")

    def _live(self) -> Connections:
        """This process's connections; raise if closed; renew them after fork."""
        if self._closed:
            raise StorageError(f"the SQLite backend for {self.path} is closed")
        state = self._process
        if state.pid != os.getpid():
            with self._swap_lock:
                state = self._process
                if state.pid != os.getpid():
                    state = self._process = state.renewed()
        return state

    def _claim(self, state: Connections) -> None:
        """Take the writers' lock before this process's first write.

        Batched: the file alone (at open, and in a forked child before it
        writes); otherwise beside other writers that are not batched.

        Raises:
            StorageError: The lock is refused (see ``_sqlite_lock``).
        """
        with self._swap_lock:
            if state.claimed:
                return
            if self.durability == "batched":
                self._writers.exclusive()
            else:
                self._writers.shared()
            state.claimed = True

    # -- transactions and errors -------------------------------------------

    def _read(self, statement: str, parameters: tuple[object, ...]) -> list[Any]:
        def attempt() -> list[Any]:
            with GATE:
                # fetchall(): a half-read cursor would hold its snapshot open.
                return state.reader().execute(statement, parameters).fetchall()

        state = self._live()
        with self._driver:
            return self._busy.run(attempt)

    def _write(
        self,
        work: Callable[[Connection], T],
        state: Connections | None = None,
        *,
        claim: bool = True,
    ) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction and commit it.

        ``state`` is given by the batch thread, which commits what was queued
        before a close even while the backend closes. A busy database is waited
        for between attempts at ``BEGIN``, outside the fork gate; once ``work``
        has run, an error is not retried.
        """
        self._refuse_write()
        state = state or self._live()
        if claim and not state.claimed:
            self._claim(state)

        def attempt() -> T:
            with GATE:
                conn = state.writer()
                conn.execute("BEGIN IMMEDIATE")  # busy: nothing done, try again
                # Translated here, once work has run: not to be retried.
                with self._driver:
                    try:
                        result = work(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.rollback()
                        raise
                return result

        with self._driver, state.write_lock:
            return self._busy.run(attempt)

    def _insert_one(self, row: Row) -> None:
        """One row as a transaction of its own: the INSERT in autocommit mode.

        The common write, one call into SQLite instead of three; a single
        statement cannot meet the read-then-write upgrade that ``BEGIN
        IMMEDIATE`` avoids elsewhere.
        """

        def attempt() -> None:
            with GATE:
                sql.insert_one(row, state.writer())

        self._refuse_write()
        state = self._live()
        if not state.claimed:
            self._claim(state)
        with self._driver, state.write_lock:
            self._busy.run(attempt)
        self._committed((row,))

    def _translate(self, exc: BaseException) -> Exception:
        """The error ``_driver`` raises for driver error ``exc`` (_sqlite_errors)."""
        if isinstance(exc, OverflowError):
            return errors.too_large(exc)
        assert isinstance(exc, sqlite3.Error)
        return errors.translate(exc, self.path, self._busy.bound)

    def _submit(self, op: Op, rows: int = 0) -> None:
        """Run a write now, or queue it in batched mode."""
        self._refuse_write()
        state = self._live()
        if self.durability != "batched":
            self._write(functools.partial(_run, op))
            return
        if state.batch is None:
            if not state.claimed:
                self._claim(state)  # a forked child: its own lock, or refused
            with self._swap_lock:
                if state.batch is None:
                    state.batch = GroupCommit(
                        functools.partial(self._commit_group, state),
                        interval=self._batch_interval,
                        size=self._batch_size,
                        name=f"statetrail-sqlite-commit {self.path}",
                    )
                    _batched[state] = self.path
        state.batch.submit(op, rows)

    def _commit_group(
        self, state: Connections, ops: list[Queued]
    ) -> list[StatetrailError]:
        """Batched mode: commit ``ops`` in one transaction.

        The usual group (appends, checkpoints, saved heads) takes one statement
        for all its rows and one for all its checkpoints. If a number is taken,
        that statement undoes itself and the group goes one operation at a time:
        an operation that fails is undone alone (a single statement undoes
        itself, several are wrapped in a savepoint), and the checkpoint of a
        revision whose row was refused is dropped, so it cannot stand for another
        process's revision of that number. So is every row queued after a
        refused one that descends from it (a ConflictError too), so the file
        never holds a child without its parent: the writers' lock keeps other
        writers out, and this keeps the chain whole if one got in anyway. A
        refused row whose number holds the same revision (the same digest and
        chain hash) lost nothing. A failure of the transaction itself fails the
        whole group.
        """
        failed: list[StatetrailError] = []
        plan = _bulk(ops)
        lost = self._lost
        json_insert = sql.INSERT_JSON if self._json else None
        json_checkpoints = sql.PUT_CHECKPOINTS_JSON if self._json else None

        def lose(rows: Sequence[Row], conn: Connection) -> None:
            for row in rows:
                record = conn.execute(sql.ROW, (row.timeline, row.number)).fetchone()
                stored = None if record is None else sql.row_from(record, self.path)
                if stored is None or (stored.digest, stored.chain) != (
                    row.digest,
                    row.chain,
                ):
                    lost[row.timeline, row.number] = None
            for key in list(lost)[: max(0, len(lost) - _LOST_KEPT)]:
                del lost[key]

        def work(conn: Connection) -> None:
            rest = ops
            # After a refusal, rows that may descend from it go one at a time.
            if plan is not None and not (
                lost and any(_orphans(rows_of(op), lost) for op, _ in ops)
            ):
                rows, checkpoints, rest = plan
                try:
                    if rows:
                        sql.insert_many(sql.INSERT, json_insert, rows, conn)
                except (sqlite3.IntegrityError, OverflowError):
                    rest = ops  # find which, one at a time
                else:
                    if lost:
                        checkpoints = [c for c in checkpoints if _kept(lost, c)]
                    if checkpoints:
                        sql.insert_many(
                            sql.PUT_CHECKPOINT,
                            json_checkpoints,
                            [tuple(c) for c in checkpoints],
                            conn,
                            sql.CHECKPOINT_INTEGERS,
                        )
            for op, rows_of_op in rest:
                if lost:
                    if type(op) is PutCheckpoint and not _kept(lost, op):
                        continue
                    orphans = _orphans(rows_of(op), lost)
                    if orphans is not None:
                        lose(rows_of(op), conn)
                        failed.append(orphans)
                        continue
                if rows_of_op > 1:
                    conn.execute("SAVEPOINT op")
                try:
                    _run(op, conn)
                except (ConflictError, ValueError) as exc:
                    if rows_of_op > 1:
                        conn.execute("ROLLBACK TO op")
                    lose(rows_of(op), conn)  # none of the operation's rows
                    if isinstance(exc, ConflictError):
                        failed.append(exc)
                    else:
                        failed.append(errors.refused(exc))
                if rows_of_op > 1:
                    conn.execute("RELEASE op")

        try:
            self._write(work, state)
        except StatetrailError as exc:
            gone = StorageError(f"{len(ops)} batched writes were lost: {exc}")
            gone.__cause__ = exc
            return [gone]
        if self._on_commit is not None:
            stored = [row for op, _ in ops for row in rows_of(op)]
            if failed:  # which rows were refused: whoever reads them will know
                self._committed(stored, whole=False)
            elif stored:
                self._committed(stored)
        return failed

    # -- the commit hook ---------------------------------------------------

    def on_commit(self, hook: CommitHook | None) -> None:
        """Call ``hook`` after each commit of this backend's rows (``None``: stop).

        ``hook(timelines, rows)`` runs once the rows are durable: in the writer's
        thread after a write that is not batched, in the batch thread after each
        group commit (so a publisher learns of a batched write at its flush, not
        before it). ``timelines`` names those that got rows; ``rows`` are the
        rows stored, in commit order, or empty when a refusal in the group left
        which ones unknown (read them back). Writes of other backends and other
        processes are not reported. The hook must be quick and must not raise (an
        error it raises is logged and dropped: the rows are stored anyway).
        """
        self._on_commit = hook

    def _committed(self, rows: Sequence[Row], *, whole: bool = True) -> None:
        """Tell the commit hook, if any, that ``rows`` are durable."""
        hook = self._on_commit
        if hook is None or not rows:
            return
        names = {row.timeline for row in rows}
        try:
            hook(names, rows if whole else ())
        except Exception:
            log.exception("the commit hook of %s failed", self.path)

    # -- the contract ------------------------------------------------------

    def timelines(self) -> list[str]:
        """The names of the timelines stored, sorted."""
        return [name for (name,) in self._read(sql.TIMELINES, ())]

    def append(
        self,
        rows: Sequence[Row],
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store ``rows``, ``checkpoints`` and ``heads`` in one transaction.

        In batched mode they are queued for the next group commit.

        Raises:
            ConflictError: A row's number is taken; none of ``rows`` is stored,
                nor any checkpoint. In batched mode this comes from :meth:`flush`
                instead.
        """
        rows = list(rows)
        timeline = timeline_of(rows, checkpoints)
        if not rows:
            return
        batched = self.durability == "batched"
        if len(rows) == 1 and not checkpoints and heads is None and not batched:
            self._insert_one(rows[0])
            return
        parameters = [sql.params(r) for r in rows]
        if batched:
            # A queued checkpoint follows its row and is dropped if the row is
            # refused (see _commit_group). Heads go in the rows' own operation
            # (the first revision's, once per timeline), undone with them.
            op = Insert(
                rows,
                parameters,
                None if heads is None else _heads_params(timeline, heads),
            )
            self._submit(op, len(rows) + (heads is not None))
            for checkpoint in checkpoints:
                self._queue_checkpoint(timeline, *checkpoint)
            return

        def work(conn: Connection) -> None:
            if heads is None:
                sql.insert(rows, parameters, conn)
            else:
                sql.insert_with_heads(
                    rows, parameters, _heads_params(timeline, heads), conn
                )
            for number, value, digest in checkpoints:
                sql.execute(sql.PUT_CHECKPOINT, (timeline, number, value, digest), conn)

        self._write(work)
        self._committed(rows)

    def read(
        self, timeline: str, after: int = -1, upto: int | None = None
    ) -> list[Row]:
        """The rows of ``timeline`` numbered above ``after`` and at most ``upto``."""
        top = _MAX_INT if upto is None else upto
        records = self._read(sql.RANGE, (timeline, after, top))
        return [check_row(sql.row_from(r, self.path), self.path) for r in records]

    def forks(self, timeline: str, after: int = -1) -> list[Fork]:
        """The rows above ``after`` that fork, found by the database in one query."""
        return [
            _fork(record, self.path)
            for record in self._read(sql.FORKS, (timeline, after))
        ]

    # -- the path and time indexes (migration 4) ------------------------------------

    def _indexed(self) -> bool:
        """Whether this schema has the indexes (a test may open an older one)."""
        return len(self._migrations) >= _INDEXED

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
        if not self._indexed():
            return super().touching(timeline, path, before=before, limit=limit)
        _index.check_pointer(path)
        _index.check_limit(limit)
        self.flush()
        low, high = _index.descendants(path)
        records = self._read(
            sql.TOUCHING,
            (
                timeline,
                path,
                low,
                high,
                orjson.dumps(_index.ancestors(path)).decode(),
                _MAX_INT if before is None else before,
                -1 if limit is None else limit,
            ),
        )
        found = [n for (n,) in records]
        # Rows whose paths SQLite's JSON cannot read whole: checked here.
        top = _MAX_INT if before is None else before
        odd = [n for (n,) in self._read(sql.UNINDEXED_ROWS, (timeline, top))]
        if odd:
            rows = (self.row(timeline, n) for n in odd)
            found += [
                r.number
                for r in rows
                if r is not None and any(_index.touches(c, path) for c in r.paths)
            ]
            found = sorted(set(found), reverse=True)[:limit]
        return found

    def number_at(self, timeline: str, time_ns: int) -> int | None:
        """The revision recorded last at or before ``time_ns``, from the time index."""
        if not self._indexed():
            return super().number_at(timeline, time_ns)
        self.flush()
        records = self._read(sql.NUMBER_AT, (timeline, time_ns))
        return records[0][0] if records else None

    def line_breaks(
        self, timeline: str, after: int = -1
    ) -> list[tuple[int, int | None]]:
        """The rows whose parent is not the row below, from a partial index."""
        if not self._indexed():
            return super().line_breaks(timeline, after)
        self.flush()
        return [
            (number, parent)
            for number, parent in self._read(sql.LINE_BREAKS, (timeline, after))
        ]

    def index_problems(self, timeline: str) -> list[Problem]:
        """Rows' paths missing from the path index, and entries no row lists."""
        if not self._indexed():
            return []
        self.flush()
        out: list[Problem] = [
            (timeline, number, f"lacks its path index entry {path!r}")
            for number, path in self._read(sql.INDEX_MISSING, (timeline,))
        ]
        ((wanted, held),) = self._read(sql.INDEX_COUNTS, (timeline,))
        if out or wanted != held:  # look for the extra entries only then
            out += [
                (timeline, number, f"has a path index entry {path!r} it does not list")
                for number, path in self._read(sql.INDEX_EXTRA, (timeline,))
            ]
        return out

    def row(self, timeline: str, number: int) -> Row | None:
        """One row, or ``None``."""
        records = self._read(sql.ROW, (timeline, number))
        if not records:
            return None
        return check_row(sql.row_from(records[0], self.path), self.path)

    def rows(self, timeline: str, numbers: Sequence[int]) -> list[Row]:
        """The rows with these numbers, in number order, in one query."""
        if not self._json:
            return super().rows(timeline, numbers)
        wanted = orjson.dumps(sorted({int(n) for n in numbers})).decode()
        records = self._read(sql.ROWS, (timeline, wanted))
        return [check_row(sql.row_from(r, self.path), self.path) for r in records]

    def chains(self, timeline: str, numbers: Sequence[int]) -> dict[int, str]:
        """The chains of these rows, in one query (no Row objects made)."""
        if not self._json:
            return super().chains(timeline, numbers)
        wanted = orjson.dumps(sorted({int(n) for n in numbers})).decode()
        found: dict[int, str] = {}
        for number, chain in self._read(sql.CHAINS, (timeline, wanted)):
            if type(number) is not int or type(chain) is not str:
                raise CorruptHistoryError(
                    f"{self.path}: the chain of revision {number!r} of "
                    f"{timeline!r} is malformed; restore from a backup"
                )
            found[number] = chain
        return found

    def latest(self, timeline: str) -> int:
        """The highest revision number of ``timeline`` (``-1`` if it has none)."""
        ((number,),) = self._read(sql.LATEST, (timeline,))
        if number is None:
            return -1
        if not is_int(number):
            raise CorruptHistoryError(
                f"{self.path}: a revision number of {timeline!r} is "
                f"{json_type(number)}; restore the file from a backup"
            )
        return int(number)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version`` on this thread's reading connection.

        It moves with every commit of another connection, this process's writer
        included, so with every append and erasure by anyone.
        """
        ((version,),) = self._read("PRAGMA data_version", ())
        return int(version)

    def end(self, timeline: str) -> End | None:
        """The end record of ``timeline`` (kept by a trigger on every INSERT)."""
        records = self._read(sql.END, (timeline,))
        return sql.end_from(records[0], timeline, self.path) if records else None

    def save_heads(self, timeline: str, heads: Heads) -> None:
        """Record where the cursor is and each branch's tip."""
        parameters = _heads_params(timeline, heads)
        self._submit(SaveHeads(parameters))

    def heads(self, timeline: str) -> Heads | None:
        """The heads last saved, or ``None``."""
        records = self._read(sql.HEADS, (timeline,))
        return sql.heads_from(records[0], timeline, self.path) if records else None

    def put_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        """Keep the whole value of revision ``number`` (JSON text) and its digest."""
        self._queue_checkpoint(timeline, number, value, digest)

    def _queue_checkpoint(
        self, timeline: str, number: int, value: str, digest: str
    ) -> None:
        # put_checkpoint's work, shared with append, which must not call a
        # subclass's put_checkpoint.
        self._submit(PutCheckpoint(timeline, number, value, digest))

    def checkpoint(self, timeline: str, number: int) -> tuple[str, str] | None:
        """The checkpoint of revision ``number`` as ``(value, digest)``, or ``None``."""
        records = self._read(sql.CHECKPOINT, (timeline, number))
        if not records:
            return None
        return check_checkpoint(records[0][:2], timeline, number, self.path)

    # -- the node store ----------------------------------------------------

    stores_nodes = True

    def put_nodes(self, nodes: Sequence[tuple[bytes, bytes]]) -> None:
        """Keep nodes (see :meth:`Backend.put_nodes`), at once in every mode.

        A transaction of its own, committed before the checkpoint that names
        them is appended (in batched mode too, where that is queued): the file
        never names a node it does not hold.
        """
        parameters = list(nodes)
        if not parameters:
            return

        def work(conn: Connection) -> None:
            conn.executemany(sql.PUT_NODE, parameters)

        self._write(work)

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

        In batched mode without ``epoch`` the nodes are committed at once and
        the rest queued; with it, the queue is flushed and this is one
        transaction too (a sweep must not fall between the check and the
        checkpoint: one in 64 writes, or fewer, waits for a commit). If a
        row's number is taken the whole transaction is undone, nodes too, and
        the writer forgets what it thought stored.

        Raises:
            NodesSweptError: ``epoch`` is not the sweep count (nothing written).
        """
        if not rows or (self.durability == "batched" and epoch is None):
            super().append_with_nodes(rows, checkpoints, nodes, heads)
            return
        if self.durability == "batched":
            self.flush()
        rows = list(rows)
        timeline = timeline_of(rows, checkpoints)
        parameters = [sql.params(r) for r in rows]
        kept = list(nodes)

        def work(conn: Connection) -> None:
            if epoch is not None and _epoch_of(conn) != epoch:
                raise NodesSweptError(
                    f"{self.path}: nodes were swept since they were asked for"
                )
            if kept:
                conn.executemany(sql.PUT_NODE, kept)
            if heads is None:
                sql.insert(rows, parameters, conn)
            else:
                sql.insert_with_heads(
                    rows, parameters, _heads_params(timeline, heads), conn
                )
            for number, value, digest in checkpoints:
                sql.execute(sql.PUT_CHECKPOINT, (timeline, number, value, digest), conn)

        self._write(work)
        self._committed(rows)

    def node_epoch(self) -> int:
        """How many sweep batches have deleted nodes (see Backend)."""
        found = self._read(sql.NODE_EPOCH, (EPOCH,))
        return int(found[0][0]) if found else 0

    def node_roots(self) -> set[bytes]:
        """The root digests the checkpoints of every timeline name."""
        return {
            r
            for (hexes,) in self._read(sql.NODE_ROOTS, ())
            if (r := referenced(PREFIX + hexes)) is not None
        }

    def node_digests(self, after: bytes, limit: int) -> list[bytes]:
        """Up to ``limit`` stored node digests above ``after``, in order."""
        return [bytes(d) for (d,) in self._read(sql.NODE_DIGESTS, (after, limit))]

    def sweep_nodes(self, digests: Sequence[bytes], roots: set[bytes]) -> set[bytes]:
        """Delete ``digests`` unless new roots are named: one transaction.

        ``BEGIN IMMEDIATE`` orders it with every writer's: a checkpoint
        committed before it is seen here, and an append naming nodes after it
        sees the sweep count moved (see Backend).
        """
        self._refuse_write()
        self.flush()  # a checkpoint still queued is seen too
        kept = [(d,) for d in digests]

        def work(conn: Connection) -> set[bytes]:
            named = {
                r
                for (hexes,) in conn.execute(sql.NODE_ROOTS)
                if (r := referenced(PREFIX + hexes)) is not None
            }
            new = named - roots
            if new:
                return new
            conn.executemany(sql.DELETE_NODE, kept)
            conn.execute(sql.BUMP_NODE_EPOCH, (EPOCH,))
            return set()

        return self._write(work)

    def nodes(self, digests: Sequence[bytes]) -> dict[bytes, bytes]:
        """The bodies of those of ``digests`` that are kept."""
        out: dict[bytes, bytes] = {}
        for part in _parts(digests):
            for digest, body in self._read(sql.nodes_query(len(part), True), part):
                out[bytes(digest)] = bytes(body)
        return out

    def has_nodes(self, digests: Sequence[bytes]) -> set[bytes]:
        """Those of ``digests`` that are kept."""
        out: set[bytes] = set()
        for part in _parts(digests):
            out.update(
                bytes(d) for (d,) in self._read(sql.nodes_query(len(part), False), part)
            )
        return out

    def checkpoint_below(self, timeline: str, number: int) -> int | None:
        """The greatest number ``<= number`` with a checkpoint (one index probe)."""
        ((found,),) = self._read(sql.CHECKPOINT_BELOW, (timeline, number))
        if found is not None and not is_int(found):
            raise CorruptHistoryError(
                f"{self.path}: a checkpoint of {timeline!r} has a damaged revision "
                "number; restore the file from a backup"
            )
        return found  # type: ignore[no-any-return]

    def checkpoints(self, timeline: str) -> list[int]:
        """The revision numbers that have checkpoints, ascending."""
        numbers = [n for (n,) in self._read(sql.CHECKPOINTS, (timeline,))]
        if not all(is_int(n) for n in numbers):
            raise CorruptHistoryError(
                f"{self.path}: a checkpoint of {timeline!r} has a damaged revision "
                "number; restore the file from a backup"
            )
        return numbers

    def erase(self, timeline: str, number: int, tombstone: str) -> None:
        """Drop revision ``number``'s payload and keep ``tombstone`` in its place.

        Runs at once in every mode (batched mode flushes first).

        Raises:
            RevisionNotFoundError: There is no such row.
        """
        self.flush()

        def work(conn: Connection) -> None:
            if conn.execute(sql.ERASE, (tombstone, timeline, number)).rowcount == 0:
                raise RevisionNotFoundError(
                    f"timeline {timeline!r} has no revision {number} to erase"
                )

        self._write(work)

    # -- trimming ----------------------------------------------------------

    def trims(self, timeline: str) -> list[RangeTombstone]:
        """The range tombstones of ``timeline``, oldest first."""
        return [RangeTombstone(*r) for r in self._read(sql.TRIMS, (timeline,))]

    def put_trim(
        self,
        timeline: str,
        tombstone: RangeTombstone,
        expect: str | None,
        checkpoints: Sequence[Checkpoint] = (),
        heads: Heads | None = None,
    ) -> None:
        """Store a tombstone and checkpoints in one transaction (see Backend)."""
        self.flush()

        def work(conn: Connection) -> None:
            newest = conn.execute(sql.NEWEST_TRIM, (timeline,)).fetchone()
            if (None if newest is None else newest[0]) != expect:
                raise ConflictError(
                    f"timeline {timeline!r} was trimmed by another writer meanwhile",
                    [(timeline, tombstone.first)],
                )
            conn.execute(sql.PUT_TRIM, (timeline, *tombstone))
            for number, value, digest in checkpoints:
                conn.execute(sql.PUT_CHECKPOINT, (timeline, number, value, digest))
            if heads is not None:
                conn.execute(sql.SAVE_HEADS, _heads_params(timeline, heads))

        self._write(work)

    def delete_trimmed(self, timeline: str, upto: int, limit: int) -> int:
        """Remove up to ``limit`` of the oldest trimmed rows, one transaction."""
        self.flush()

        def work(conn: Connection) -> int:
            newest = conn.execute(sql.NEWEST_TRIM, (timeline,)).fetchone()
            if newest is None:
                return 0
            (bound,) = conn.execute(
                sql.TRIM_BATCH_END, (timeline, min(upto, newest[1]), limit)
            ).fetchone()
            if bound is None:
                return 0
            gone = 0
            for statement in sql.DELETE_TRIMMED:
                count = conn.execute(statement, (timeline, bound)).rowcount
                gone = gone or count
            return gone

        return self._write(work)

    def crossing(self, timeline: str, cut: int) -> list[int]:
        """The numbers at or above ``cut`` whose parent is below it."""
        return [n for (n,) in self._read(sql.CROSSING, (timeline, cut, cut))]

    def reclaim(self) -> None:
        """Give freed pages back to the file system (``incremental_vacuum``).

        A file created by this version has ``auto_vacuum=INCREMENTAL``; an older
        one reuses the pages of removed rows for new ones (the file stops
        growing) but shrinks only after a full ``VACUUM`` (``statetrail trim
        --vacuum``). The WAL is then checkpointed (PASSIVE: it waits for no
        writer, and none waits for it), so the file shrinks now.
        """
        self._refuse_write()
        self.flush()

        def step() -> int:
            with GATE:
                conn = state.writer()
                if conn.execute("PRAGMA auto_vacuum").fetchone() != (2,):
                    return 0  # NONE: freed pages are reused, not given back
                # executescript steps the pragma to its end (execute() frees one
                # page); in autocommit mode, each call is its own transaction.
                conn.executescript(f"PRAGMA incremental_vacuum({_RECLAIM_PAGES:d});")
                (left,) = conn.execute("PRAGMA freelist_count").fetchone()
                return int(left)

        state = self._live()
        with self._driver:
            left = -1
            while True:
                with state.write_lock:  # a batch at a time: writers go in between
                    now = self._busy.run(step)
                if now == 0 or now == left:  # done, or another writer reuses them
                    break
                left = now
            with GATE:
                state.reader().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def vacuum(self) -> None:
        """Rebuild the file with ``VACUUM``, switching it to incremental vacuum.

        Needs as much free disk as the file, and holds the write lock throughout:
        for offline use (``statetrail trim --vacuum``).
        """
        self._refuse_write()
        self.flush()
        state = self._live()
        with self._driver, state.write_lock, GATE:
            conn = state.writer()
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def flush(self) -> None:
        """Wait until every write queued in batched mode is committed and durable.

        Raises:
            ConflictError: Queued appends found their numbers taken (logged too).
            StorageError: A queued write failed.
        """
        batch = self._live().batch
        if batch is not None:
            batch.flush()

    def close(self) -> None:
        """Flush, stop the batch thread and close every connection this opened.

        Every method raises :class:`~statetrail.StorageError` afterwards. Errors
        found by the final flush are raised after everything is closed.
        """
        with self._swap_lock:
            if self._closed:
                return
            state = self._process
            self._closed = True
        _batched.pop(state, None)
        if state.pid != os.getpid():
            self._writers.release()  # leaves the parent's lock alone
            return  # inherited through fork and never used here: the parent's
        try:
            if state.batch is not None:
                state.batch.stop()
        finally:
            try:
                state.close()
            finally:
                self._writers.release()

    # -- SQLite's own tools ------------------------------------------------

    def check(self, full: bool = False) -> list[Problem]:
        """SQLite's own checks, the schema, and rows against end records.

        ``quick_check`` (``integrity_check`` with ``full``); the schema against
        statetrail's; each table against its primary-key index (reads take the
        key columns from the index, so a table changed alone goes unseen, and a
        damaged index hides rows); each timeline's rows against its end record.
        """
        problems: list[Problem] = []

        def run(statement: str) -> list[Any]:
            try:
                return self._read(statement, ())
            except CorruptHistoryError as exc:
                problems.append((None, None, str(exc)))
                return []

        pragma = "PRAGMA integrity_check" if full else "PRAGMA quick_check"
        found = [str(r[0]) for r in run(pragma)]
        if found not in ([], ["ok"]):
            problems += [(None, None, f"SQLite: {line}") for line in found[:100]]
        for what in sql.schema_problems(run(sql.SCHEMA), tuple(self._migrations)):
            problems.append((None, None, what))
        for table, name in run(sql.INDEX_SUMS):
            problems.append(
                (
                    name,
                    None,
                    f"the {table} table and its primary-key index disagree: the "
                    "index is damaged (REINDEX, or restore from a backup)",
                )
            )
        for index, name in run(sql.INDEX_SUMS_4) if self._indexed() else []:
            problems.append(
                (
                    name,
                    None,
                    f"the index {index} disagrees with the revisions table: it is "
                    "damaged (REINDEX, or restore from a backup)",
                )
            )
        for name, rows, indexed, end in run(sql.COUNTS):
            if rows != indexed:
                problems.append(
                    (
                        name,
                        None,
                        f"the table holds {rows} revision(s), its primary-key index "
                        f"finds {indexed}: the index is damaged (REINDEX, or restore "
                        "from a backup)",
                    )
                )
            if rows != end:
                problems.append(
                    (
                        name,
                        None,
                        f"the table holds {rows} revision(s), the end record says "
                        f"{end} (rows deleted?)",
                    )
                )
        return problems

    def integrity_check(self) -> None:
        """Run ``PRAGMA integrity_check``.

        Raises:
            CorruptHistoryError: The database is damaged (the first problems
                SQLite found are in the message).
        """
        records = self._read("PRAGMA integrity_check", ())
        if records != [("ok",)]:
            found = "; ".join(str(r[0]) for r in records[:5])
            raise CorruptHistoryError(
                f"{self.path} fails SQLite's integrity check: {found}; restore it "
                "from a backup"
            )

    def backup(self, path: str | os.PathLike[str]) -> None:
        """Copy the database to ``path`` through SQLite's backup API.

        The copy is one consistent snapshot, taken while other connections go on
        writing (never a file copy, which could catch a transaction half-way).
        An existing database at ``path`` is replaced.

        Raises:
            ValueError: ``path`` is this database.
            StorageError: The copy failed.
        """
        target = os.fspath(path)
        if os.path.exists(target) and os.path.samefile(target, self.path):
            raise ValueError(f"cannot back {self.path} up onto itself")

        def copy() -> None:
            with GATE:
                destination = sqlite3.connect(target)
                try:
                    state.reader().backup(destination)
                finally:
                    destination.close()

        state = self._live()
        with self._driver:
            self._busy.run(copy)

    def __enter__(self) -> SQLiteBackend:
        return self


def _parts(digests: Sequence[bytes]) -> list[tuple[bytes, ...]]:
    """``digests`` (deduplicated) in groups of :data:`sql.NODES_PER_QUERY`."""
    unique = tuple(dict.fromkeys(digests))
    step = sql.NODES_PER_QUERY
    return [unique[i : i + step] for i in range(0, len(unique), step)]


def _epoch_of(conn: Connection) -> int:
    """The sweep count, read in ``conn``'s transaction."""
    found = conn.execute(sql.NODE_EPOCH, (EPOCH,)).fetchone()
    return 0 if found is None else int(found[0])


def _version(conn: Connection) -> tuple[int, int]:
    """The file's ``application_id`` and schema version."""
    ((app_id,),) = conn.execute("PRAGMA application_id").fetchall()
    ((version,),) = conn.execute("PRAGMA user_version").fetchall()
    return int(app_id), int(version)


@atexit.register
def _flush_at_exit() -> None:
    """Commit what batched backends still hold when the interpreter exits."""
    for state, path in list(_batched.items()):
        batch = state.batch
        if state.pid == os.getpid() and batch is not None:
            try:
                batch.flush()
            except StatetrailError as exc:
                log.error("batched writes to %s failed at exit: %s", path, exc)
