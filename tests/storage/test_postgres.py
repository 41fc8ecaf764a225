"""The PostgreSQL backend keeps the contract, on the real server, in a fresh schema
per test; and what only it does: SQL queries, U+0000, hostile names, versions,
durability settings, and the translation of driver errors."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing

import psycopg
import pytest
from psycopg import sql

from statetrail.errors import ConflictError, StorageError
from statetrail.storage.base import Backend, Heads, Row
from statetrail.storage.postgres import SCHEMA_VERSION, PostgresBackend
from tests.storage.contract import BackendContract, row
from tests.storage.pg import URL, PgSchema, admin, fresh_schema, pg, terminate

__all__ = ["pg"]  # the fixture, imported for the tests below


class TestPostgresBackend(BackendContract):
    def make_backend(self) -> Iterator[Backend]:
        with fresh_schema() as schema:
            backend = schema.backend()
            yield backend
            backend.close()


#: The tables statetrail makes in a schema.
_TABLES = {"meta", "revisions", "heads", "checkpoints", "trims", "paths", "nodes"}


def _tables(schema: str) -> set[str]:
    with closing(admin()) as conn:
        found = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [schema],
        ).fetchall()
    return {name for (name,) in found}


class TestStorage:
    def test_synchronous_commit_is_on(self, pg: PgSchema) -> None:
        """Every pooled session commits synchronously unless asked not to."""
        for option, setting in ((True, "on"), (False, "off")):
            with (
                closing(pg.backend(synchronous_commit=option)) as backend,
                backend._pool.connection() as conn,
            ):
                shown = conn.execute("SHOW synchronous_commit").fetchone()
                assert shown == (setting,)

    def test_nul_round_trips_in_payloads_and_paths(self, pg: PgSchema) -> None:
        """JSON carrying U+0000 comes back byte for byte (jsonb would refuse it),
        and so do changed paths holding a raw U+0000 (from a dict key)."""
        payload = json.dumps({"value": "a\x00b", "\x00key": ["\x00"]})
        assert "\\u0000" in payload
        stored = row(0, payload=payload, paths=("/\x00key", "/a\x00/b"))
        with closing(pg.backend()) as backend:
            backend.append([stored])
            back = backend.row("t", 0)
        assert back == stored
        assert back is not None
        assert back.payload is not None
        assert json.loads(back.payload)["value"] == "a\x00b"

    def test_nul_in_a_name_is_a_value_error_and_stores_nothing(
        self, pg: PgSchema
    ) -> None:
        """Text columns cannot hold U+0000: ValueError with the driver's error as
        cause, nothing stored, and the backend keeps working."""
        with closing(pg.backend()) as backend:
            with pytest.raises(ValueError, match="cannot store") as info:
                backend.append([row(0, author="a\x00b")])
            assert isinstance(info.value.__cause__, psycopg.DataError)
            assert backend.latest("t") == -1
            backend.append([row(0)])
            assert backend.latest("t") == 0

    def test_hostile_timeline_names_are_data(self, pg: PgSchema) -> None:
        """64- and 65-byte names sharing a 63-byte prefix (where PostgreSQL would
        cut identifiers), SQL, quotes and a 10,000-character name: all distinct,
        and the schema holds exactly its four tables."""
        prefix = "p" * 63
        names = [
            prefix + "1",
            prefix + "12",
            prefix + "2",
            prefix,
            "x'); DROP SCHEMA public CASCADE; --",
            'q"uote',
            "$1 %s {s} \\",
            "ü" * 40,
            "n" * 10_000,
        ]
        with closing(pg.backend()) as backend:
            for number, name in enumerate(names):
                backend.append([row(0, timeline=name, author=name, comment=name)])
                backend.append([row(1, timeline=name, digest=str(number))])
            assert backend.timelines() == sorted(names)
            for number, name in enumerate(names):
                rows = backend.read(name)
                assert [r.author for r in rows] == [name, None]
                assert rows[1].digest == str(number)
                assert backend.query(name, author=name) == [0]
                assert backend.query(name, comment=name) == [0]
        assert _tables(pg.name) == _TABLES

    def test_hostile_schema_names_are_quoted(self) -> None:
        """A schema name with quotes and SQL is one identifier; longer than 63
        bytes is refused instead of cut."""
        admin().close()  # skip or fail here if there is no server
        name = f'st "{uuid.uuid4().hex[:8]}" {{s}} %s; DROP TABLE x; --'
        try:
            with closing(PostgresBackend(URL, schema=name)) as backend:
                backend.append([row(0)])
                assert backend.read("t") == [row(0)]
            assert _tables(name) == _TABLES
        finally:
            with closing(admin()) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(name)
                    )
                )
        with pytest.raises(ValueError, match="63 bytes"):
            PostgresBackend(URL, schema="s" * 64)
        with pytest.raises(ValueError, match="63 bytes"):
            PostgresBackend(URL, schema="")

    def test_a_batch_too_big_for_one_statement_is_one_transaction(
        self, pg: PgSchema
    ) -> None:
        """4,500 rows need 76,500 parameters, more than a statement takes: they go
        in one transaction, all or nothing, with one notification."""
        big = [row(n, paths=()) for n in range(4_500)]
        clash = [row(n, paths=()) for n in range(4_500, 9_000)] + [row(10)]
        with closing(pg.backend()) as backend, backend.listen() as feed:
            backend.append(big)
            assert feed.get(10) == ("t", 4_499)
            with pytest.raises(ConflictError) as info:
                backend.append(clash)
            assert info.value.conflicts == (("t", 10),)
            assert backend.latest("t") == 4_499
            assert backend.read("t", after=4_490) == big[4_491:]
            assert feed.get(0.2) is None

    def test_heads_tips_hold_unicode_branch_names(self, pg: PgSchema) -> None:
        """Tips (jsonb) keep branch names and numbers exactly."""
        heads = Heads("β/feature", 7, {"main": 5, "β/feature": 7, "'; --": 2**40})
        with closing(pg.backend()) as backend:
            backend.save_heads("ü", heads)
            assert backend.heads("ü") == heads


class TestSchemaVersion:
    def test_reopening_keeps_the_data(self, pg: PgSchema) -> None:
        """Opening an existing schema again migrates nothing and loses nothing."""
        with closing(pg.backend()) as backend:
            backend.append([row(0)])
        with closing(pg.backend()) as backend:
            assert backend.read("t") == [row(0)]

    def test_a_newer_schema_is_refused(self, pg: PgSchema) -> None:
        """A schema written by a newer statetrail raises StorageError saying so."""
        pg.backend().close()
        with closing(admin()) as conn:
            conn.execute(
                sql.SQL("UPDATE {}.meta SET version = %s").format(
                    sql.Identifier(pg.name)
                ),
                [SCHEMA_VERSION + 1],
            )
        with pytest.raises(StorageError, match="newer than this statetrail"):
            pg.backend()

    def test_concurrent_first_opens_create_the_tables_once(self, pg: PgSchema) -> None:
        """Six processes' worth of backends opening one new schema at once all
        succeed (migrations take an advisory lock)."""
        errors: list[BaseException] = []
        opened: list[PostgresBackend] = []
        barrier = threading.Barrier(6)

        def open_one() -> None:
            barrier.wait()
            try:
                opened.append(pg.backend())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(opened) == 6
        opened[0].append([row(0)])
        assert all(b.latest("t") == 0 for b in opened)
        for b in opened:
            b.close()


def _rows_for_query() -> list[Row]:
    return [
        row(0, author="ann", comment="start", paths=("",), kind="initial"),
        row(1, author="bob", comment="100% sure", paths=("/a/b",), label="v1"),
        row(2, author="ann", comment="a_b and c", paths=("/a",)),
        row(3, author="bob", comment="back\\slash", paths=("/a/b/c", "/x")),
        row(4, author="ann", comment="plain", paths=("/ab",), kind="rollback"),
        row(5, author="x' OR '1'='1", comment=None, paths=("/k\x00ey/z",)),
        row(6, author=None, comment="AB", paths=(), label="v1"),
    ]


class TestQuery:
    @pytest.fixture
    def backend(self, pg: PgSchema) -> Iterator[PostgresBackend]:
        with closing(pg.backend()) as backend:
            assert isinstance(backend, PostgresBackend)
            backend.append(_rows_for_query())
            backend.append([row(0, timeline="other", author="ann")])
            yield backend

    def test_no_filter_is_every_revision_of_the_timeline(
        self, backend: PostgresBackend
    ) -> None:
        """Without filters: every number of that timeline, ascending; none of
        another."""
        assert backend.query("t") == list(range(7))
        assert backend.query("missing") == []

    def test_author_label_kind_are_exact(self, backend: PostgresBackend) -> None:
        """author, label and kind match whole values only."""
        assert backend.query("t", author="ann") == [0, 2, 4]
        assert backend.query("t", author="an") == []
        assert backend.query("t", label="v1") == [1, 6]
        assert backend.query("t", kind="rollback") == [4]
        assert backend.query("t", kind="initial") == [0]

    def test_comment_is_a_case_sensitive_substring(
        self, backend: PostgresBackend
    ) -> None:
        """comment matches anywhere in the text, case-sensitively; "" matches every
        comment but no None."""
        assert backend.query("t", comment="a") == [0, 2, 3, 4]
        assert backend.query("t", comment="AB") == [6]
        assert backend.query("t", comment="") == [0, 1, 2, 3, 4, 6]

    def test_like_wildcards_in_a_comment_match_themselves(
        self, backend: PostgresBackend
    ) -> None:
        """%, _ and backslash are escaped: each matches only itself."""
        assert backend.query("t", comment="%") == [1]
        assert backend.query("t", comment="_") == [2]
        assert backend.query("t", comment="\\") == [3]
        assert backend.query("t", comment="a%b") == []
        assert backend.query("t", comment="st_rt") == []

    def test_hostile_strings_are_data(self, backend: PostgresBackend) -> None:
        """Quotes and SQL in filters and names are compared as data, never run."""
        assert backend.query("t", author="x' OR '1'='1") == [5]
        assert backend.query("t", author="' OR ''='") == []
        assert backend.query("t' OR '1'='1") == []
        assert backend.query("t", comment="'; DROP TABLE revisions; --") == []
        assert backend.latest("t") == 6

    def test_time_range_is_half_open(self, backend: PostgresBackend) -> None:
        """since_ns is inclusive, until_ns exclusive (row n has time base + n)."""
        base = 1_700_000_000_000_000_000
        assert backend.query("t", since_ns=base + 2) == [2, 3, 4, 5, 6]
        assert backend.query("t", until_ns=base + 2) == [0, 1]
        assert backend.query("t", since_ns=base + 2, until_ns=base + 4) == [2, 3]

    def test_path_matches_equal_under_and_above(self, backend: PostgresBackend) -> None:
        """A path matches rows that changed it, something under it or an ancestor of it,
        including the root ""; "/a" is not above "/ab"; a U+0000 in a key works."""
        assert backend.query("t", path="/a/b") == [0, 1, 2, 3]  # "", =, above, under
        assert backend.query("t", path="/a") == [0, 1, 2, 3]
        assert backend.query("t", path="/a/b/c/d") == [0, 1, 2, 3]
        assert backend.query("t", path="/ab") == [0, 4]  # "/a" is not above "/ab"
        assert backend.query("t", path="/x") == [0, 3]
        assert backend.query("t", path="/k\x00ey") == [0, 5]
        assert backend.query("t", path="") == [0, 1, 2, 3, 4, 5]

    def test_filters_combine(self, backend: PostgresBackend) -> None:
        """Several filters must all match."""
        assert backend.query("t", author="bob", path="/x") == [3]
        assert backend.query("t", author="ann", comment="a", path="/a") == [0, 2]
        assert backend.query("t", author="bob", label="v1", comment="%") == [1]
        assert backend.query("other", author="ann") == [0]

    def test_a_path_that_is_not_a_pointer_is_refused(
        self, backend: PostgresBackend
    ) -> None:
        """A dot-path is not a JSON Pointer: ValueError."""
        with pytest.raises(ValueError, match="JSON Pointer"):
            backend.query("t", path="a.b")


class TestErrors:
    def test_a_taken_number_is_a_conflict_caused_by_unique_violation(
        self, pg: PgSchema
    ) -> None:
        """ConflictError, caused by psycopg's UniqueViolation, names the number
        taken."""
        with closing(pg.backend()) as backend:
            backend.append([row(0), row(1)])
            with pytest.raises(ConflictError) as info:
                backend.append([row(2), row(1, digest="other")])
        assert isinstance(info.value.__cause__, psycopg.errors.UniqueViolation)
        assert info.value.conflicts == (("t", 1),)

    def test_a_repeated_number_in_one_batch_is_a_conflict(self, pg: PgSchema) -> None:
        """A batch that repeats a number conflicts with itself and stores nothing."""
        with closing(pg.backend()) as backend:
            with pytest.raises(ConflictError) as info:
                backend.append([row(0), row(0, digest="again")])
            assert info.value.conflicts == (("t", 0),)
            assert backend.latest("t") == -1

    def test_an_unreachable_server_is_a_storage_error(self) -> None:
        """Nothing listening on the port: StorageError from the constructor, the
        driver's OperationalError as cause."""
        with socket.create_server(("127.0.0.1", 0)) as unused:
            port = unused.getsockname()[1]
        url = f"postgresql://postgres@127.0.0.1:{port}/test"  # nothing listens
        with pytest.raises(StorageError, match="cannot connect to PostgreSQL") as info:
            PostgresBackend(url, timeout=2)
        assert isinstance(info.value.__cause__, psycopg.OperationalError)

    def test_a_lost_connection_is_retried(
        self, pg: PgSchema, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every session terminated by the server: the next call reconnects."""
        app = f"st-retry-{uuid.uuid4().hex[:8]}"
        backend = PostgresBackend(pg.url_for(app), schema=pg.name, min_size=2)
        with closing(backend), closing(admin()) as conn:
            backend.append([row(0)])
            assert terminate(conn, app) >= 1
            with caplog.at_level(logging.INFO, "statetrail.storage.postgres"):
                backend.append([row(1)])
            assert backend.latest("t") == 1
            assert "connection lost" in caplog.text

    def test_retries_are_bounded(self, pg: PgSchema) -> None:
        """With retries=0, one lost connection is already a StorageError saying
        so, with the driver's error as cause; the next call reconnects."""
        app = f"st-bound-{uuid.uuid4().hex[:8]}"
        backend = PostgresBackend(pg.url_for(app), schema=pg.name, retries=0)
        with closing(backend), closing(admin()) as conn:
            backend.append([row(0)])
            terminate(conn, app)
            with pytest.raises(StorageError, match="latest failed") as info:
                backend.latest("t")
            assert isinstance(info.value.__cause__, psycopg.OperationalError)
            assert backend.latest("t") == 0

    def test_a_connection_lost_for_good_is_a_storage_error(self, pg: PgSchema) -> None:
        """When reconnecting keeps failing (here the role may open no more
        sessions), the call gives up after its retries with StorageError, the
        driver's error as cause."""
        role = f"st_role_{uuid.uuid4().hex[:8]}"
        ident = sql.Identifier(role)
        pg.backend().close()  # the tables, made by their owner
        with closing(admin()) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
            conn.execute(
                sql.SQL(
                    "GRANT USAGE ON SCHEMA {0} TO {1};"
                    " GRANT ALL ON ALL TABLES IN SCHEMA {0} TO {1}"
                ).format(sql.Identifier(pg.name), ident)
            )
            try:
                url = psycopg.conninfo.make_conninfo(pg.url, user=role)
                backend = PostgresBackend(url, schema=pg.name, retries=2, timeout=1)
                backend.append([row(0)])
                conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(ident))
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE usename = %s",
                    [role],
                )
                with pytest.raises(
                    StorageError, match="too many connections for role"
                ) as info:
                    backend.latest("t")
                assert isinstance(info.value.__cause__, psycopg.OperationalError)
                backend.close()
            finally:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE usename = %s",
                    [role],
                )
                conn.execute(
                    sql.SQL("DROP OWNED BY {}; DROP ROLE {}").format(ident, ident)
                )

    def test_other_driver_errors_are_storage_errors(self, pg: PgSchema) -> None:
        """A table dropped behind the backend's back: StorageError, not a raw
        psycopg error."""
        with closing(pg.backend()) as backend:
            with closing(admin()) as conn:
                conn.execute(
                    sql.SQL("DROP TABLE {}.checkpoints").format(sql.Identifier(pg.name))
                )
            with pytest.raises(StorageError) as info:
                backend.checkpoints("t")
            assert isinstance(info.value.__cause__, psycopg.errors.UndefinedTable)

    def test_a_closed_backend_refuses_every_call(self, pg: PgSchema) -> None:
        """After close (twice is fine), every method raises StorageError."""
        backend = pg.backend()
        backend.close()
        backend.close()  # twice is fine
        calls = [
            lambda: backend.append([row(0)]),
            lambda: backend.read("t"),
            lambda: backend.row("t", 0),
            lambda: backend.latest("t"),
            backend.timelines,
            lambda: backend.save_heads("t", Heads("main", 0)),
            lambda: backend.heads("t"),
            lambda: backend.put_checkpoint("t", 0, "{}", "d"),
            lambda: backend.checkpoint("t", 0),
            lambda: backend.checkpoints("t"),
            lambda: backend.erase("t", 0, "{}"),
            lambda: backend.query("t"),
            backend.tail,
            backend.listen,
        ]
        for call in calls:
            with pytest.raises(StorageError, match="closed"):
                call()

    def test_a_missing_extra_names_it(self) -> None:
        """Without psycopg the module imports, and constructing says what to
        install."""
        code = (
            "import sys; sys.modules['psycopg'] = None\n"
            "from statetrail.storage.postgres import PostgresBackend\n"
            "try:\n"
            "    PostgresBackend('postgresql://x')\n"
            "except ImportError as e:\n"
            "    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert "pip install 'statetrail[postgres]'" in out.stdout


class TestNoServer:
    def test_the_fixture_fails_in_ci_and_skips_elsewhere(self) -> None:
        """With no server at the URL, a PostgreSQL test errors when
        STATETRAIL_REQUIRE_SERVICES=1 (CI) and is skipped otherwise, saying why."""
        with socket.create_server(("127.0.0.1", 0)) as unused:
            port = unused.getsockname()[1]
        test = (
            "tests/storage/test_postgres.py::TestStorage::test_synchronous_commit_is_on"
        )
        for required, outcome in (("1", "1 error"), ("0", "1 skipped")):
            env = os.environ | {
                "STATETRAIL_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{port}/x",
                "STATETRAIL_REQUIRE_SERVICES": required,
            }
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                cwd=pathlib.Path(__file__).resolve().parents[2],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert outcome in done.stdout
            assert "PostgreSQL is not reachable" in done.stdout
