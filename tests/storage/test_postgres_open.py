"""Opening a PostgreSQL history: the schema from the URL, read-only opening that
creates nothing, an unreachable server in one line, and unknown URL schemes."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

import statetrail
from statetrail.errors import StorageError
from statetrail.storage._postgres_connect import Server, schema_from_url
from statetrail.storage.postgres import PostgresBackend
from tests.storage.contract import row
from tests.storage.pg import URL, PgSchema, admin, pg

__all__ = ["pg"]  # the fixture, imported for the tests below


def catalog(schema: str) -> tuple[bool, list[tuple[str, str]]]:
    """Whether ``schema`` exists, and every relation and function in it."""
    with closing(admin()) as conn:
        found = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %s)", [schema]
        ).fetchone()
        objects = conn.execute(
            "SELECT 'relation', c.relname FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s"
            " UNION ALL SELECT 'function', p.proname FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s"
            " ORDER BY 1, 2",
            [schema, schema],
        ).fetchall()
    assert found is not None
    return bool(found[0]), [(str(k), str(n)) for k, n in objects]


def unused_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port whose socket accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])  # held open, never read
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for sock in accepted:
            sock.close()


class TestSchemaInTheURL:
    def test_query_parameter_names_the_schema(self, pg: PgSchema) -> None:
        """?schema=NAME opens that schema; libpq never sees the parameter, and
        the other parameters are kept."""
        url = f"{URL}?application_name=st-schema&schema={pg.name}"
        with statetrail.open(url) as repo:
            repo.watch("score", 0).set(3)
            assert repo.backend.schema == pg.name  # type: ignore[attr-defined]
        with statetrail.open(URL, schema=pg.name) as repo:
            assert repo.value_at("score", 1) == 3
        assert ("relation", "revisions") in catalog(pg.name)[1]

    def test_percent_encoded_names_are_decoded(self) -> None:
        """A schema name with spaces or quotes travels percent-encoded."""
        url, schema = schema_from_url(f"{URL}?schema=a%20%22b%22&sslmode=prefer", None)
        assert schema == 'a "b"'
        assert url == f"{URL}?sslmode=prefer"

    @pytest.mark.parametrize(
        ("url", "without"),
        [
            ("postgresql:///db?host=/run/pg&schema=s", "postgresql:///db?host=/run/pg"),
            (
                "postgresql://u:p%40ss@h1:5432,h2:5433/db?schema=s&sslmode=require",
                "postgresql://u:p%40ss@h1:5432,h2:5433/db?sslmode=require",
            ),
            ("postgresql://[::1]:5432/db?schema=s", "postgresql://[::1]:5432/db"),
        ],
    )
    def test_the_rest_of_the_url_is_kept_as_written(
        self, url: str, without: str
    ) -> None:
        """An empty host, several hosts, an escaped password, an IPv6 address:
        only the schema parameter is taken out."""
        assert schema_from_url(url, None) == (without, "s")

    def test_messages_name_each_host_and_port(self) -> None:
        """host:port for messages, IPv6 in brackets, one port for every host."""
        assert Server.of("postgresql://[::1]:6000/db").place == "[::1]:6000"
        assert Server.of("postgresql://a,b:7/db").place == "a:5432, b:7"
        assert Server.of("postgresql://a,b/db").place == "a:5432, b:5432"
        assert Server.of("postgresql://a:1,b:2/db").place == "a:1, b:2"

    def test_without_the_parameter_the_url_is_untouched(self) -> None:
        """No ?schema=: the URL is passed on as written; the keyword or the
        default names the schema."""
        assert schema_from_url(URL, None) == (URL, "statetrail")
        assert schema_from_url(URL, "mine") == (URL, "mine")
        assert schema_from_url("host=db dbname=app", "x") == ("host=db dbname=app", "x")

    def test_the_same_schema_twice_is_one(self) -> None:
        """The keyword and the URL naming the same schema do not conflict."""
        assert schema_from_url(f"{URL}?schema=s", "s")[1] == "s"
        assert schema_from_url(f"{URL}?schema=s&schema=s", None)[1] == "s"

    def test_two_schemas_are_a_value_error(self) -> None:
        """?schema= and schema= naming different schemas: refused before any
        connection, naming both."""
        with pytest.raises(ValueError, match="two schemas are named, 'a' and 'b'"):
            statetrail.open(f"{URL}?schema=a", schema="b")
        with pytest.raises(ValueError, match="'a' and 'b'"):
            PostgresBackend(f"{URL}?schema=a&schema=b")

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("", "1 to 63 bytes"),
            ("s" * 64, "1 to 63 bytes"),
            ("ü" * 32, "1 to 63 bytes"),  # 64 bytes in UTF-8
            ("a\nb", "control character"),
            ("a\x00b", "control character"),
            ("pg_mine", "reserved by PostgreSQL"),
        ],
    )
    def test_bad_schema_names_are_value_errors(self, name: str, message: str) -> None:
        """Names PostgreSQL would cut, reject or that would split a message:
        ValueError, whether given as keyword or in the URL."""
        with pytest.raises(ValueError, match=message):
            PostgresBackend(URL, schema=name)
        encoded = "".join(f"%{b:02X}" for b in name.encode())
        with pytest.raises(ValueError, match=message):
            statetrail.open(f"{URL}?schema={encoded}")

    def test_a_schema_name_that_is_not_text_is_a_type_error(self) -> None:
        """schema=3: TypeError."""
        with pytest.raises(TypeError, match="a schema name is a string"):
            PostgresBackend(URL, schema=3)  # type: ignore[arg-type]

    def test_a_url_libpq_cannot_read_is_a_value_error(self) -> None:
        """An unknown URL parameter: ValueError naming it, before connecting."""
        with pytest.raises(ValueError, match='invalid URI query parameter: "nope"'):
            statetrail.open(f"{URL}?nope=1")


class TestReadOnly:
    def test_a_missing_schema_is_one_line_and_not_created(self) -> None:
        """read_only on a schema that does not exist: StorageError naming the
        schema and the database, and the schema is still absent after."""
        admin().close()  # skip or fail here if there is no server
        name = f"st_absent_{uuid.uuid4().hex[:12]}"
        with pytest.raises(StorageError) as info:
            statetrail.open(URL, schema=name, read_only=True)
        message = str(info.value)
        assert "\n" not in message
        assert f"has no schema {name!r}" in message
        assert "database 'test' at 127.0.0.1:5432" in message
        assert "nothing was created" in message
        assert catalog(name) == (False, [])

    def test_an_empty_schema_stays_empty(self, pg: PgSchema) -> None:
        """A schema without statetrail's tables: refused, nothing created in it."""
        assert catalog(pg.name) == (True, [])
        with pytest.raises(StorageError, match="holds no statetrail history"):
            statetrail.open(pg.url, schema=pg.name, read_only=True)
        assert catalog(pg.name) == (True, [])

    def test_another_applications_tables_are_not_a_history(self, pg: PgSchema) -> None:
        """A schema holding other tables (even one named meta) is refused, and
        left as it was."""
        with closing(admin()) as conn:
            conn.execute(
                sql.SQL("CREATE TABLE {}.meta (x int)").format(sql.Identifier(pg.name))
            )
        before = catalog(pg.name)
        with pytest.raises(StorageError, match="holds no statetrail history"):
            statetrail.open(pg.url, schema=pg.name, read_only=True)
        assert catalog(pg.name) == before

    def test_reads_work_and_writes_are_refused(self, pg: PgSchema) -> None:
        """A history opened read-only reads as a writer sees it; every write
        raises StorageError and the server refuses writes on its sessions too."""
        with statetrail.open(pg.url, schema=pg.name) as repo:
            repo.store("job", {"n": 0}).set("n", 1)
        before = catalog(pg.name)
        with statetrail.open(pg.url, schema=pg.name, read_only=True) as repo:
            assert repo.timelines() == ["job"]
            assert repo.timeline("job", create=False).value == {"n": 1}
            assert repo.value_at("job", 0) == {"n": 0}
            assert repo.verify() == {"job": 2}
            backend: Any = repo.backend
            for write in (
                lambda: backend.append([row(5, timeline="other")]),
                lambda: backend.put_checkpoint("job", 1, "{}", "d"),
                lambda: backend.erase("job", 0, "{}"),
            ):
                with pytest.raises(StorageError, match="open read-only"):
                    write()
            with (
                backend._pool.connection() as conn,  # the server's own refusal
                pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
            ):
                conn.execute(
                    sql.SQL("DELETE FROM {}.revisions").format(sql.Identifier(pg.name))
                )
        assert catalog(pg.name) == before
        with statetrail.open(pg.url, schema=pg.name) as repo:
            assert repo.verify() == {"job": 2}

    def test_an_older_schema_is_not_upgraded(self, pg: PgSchema) -> None:
        """A schema at version 1 is refused read-only with what to do, and stays
        at version 1."""
        pg.backend(_version_1_only=True).close()
        with pytest.raises(StorageError, match=r"older statetrail.*statetrail\.open"):
            statetrail.open(pg.url, schema=pg.name, read_only=True)
        with closing(admin()) as conn:
            version = conn.execute(
                sql.SQL("SELECT version FROM {}.meta").format(sql.Identifier(pg.name))
            ).fetchone()
        assert version == (1,)


class TestUnreachable:
    """A server that cannot be reached fails fast, in one line, without the
    pool's retries or log noise. The bounds are generous: they check that a
    timeout applies at all (a wait of minutes, or forever), not speed."""

    def test_nothing_listening_fails_at_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Connection refused: one line naming host:port, within a second, and
        nothing logged by the pool."""
        port = unused_port()
        started = time.monotonic()
        with (
            caplog.at_level(logging.DEBUG, "psycopg"),
            pytest.raises(StorageError) as info,
        ):
            statetrail.open(f"postgresql://postgres@127.0.0.1:{port}/test")
        elapsed = time.monotonic() - started
        assert elapsed < 10
        message = str(info.value)
        assert message == (
            f"cannot connect to PostgreSQL at 127.0.0.1:{port}: Connection refused"
        )
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        assert not [r for r in caplog.records if r.name.startswith("psycopg.pool")]

    def test_a_server_that_never_answers_times_out(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A socket that accepts and never replies: the connect timeout (2 s by
        default) ends the wait, in one line naming host:port."""
        with silent_server() as port, caplog.at_level(logging.DEBUG, "psycopg"):
            started = time.monotonic()
            with pytest.raises(StorageError) as info:
                statetrail.open(f"postgresql://postgres@127.0.0.1:{port}/test")
            elapsed = time.monotonic() - started
        assert 1.5 < elapsed < 10
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(
            f"PostgreSQL at 127.0.0.1:{port} did not answer within 2 s"
        )
        assert isinstance(info.value.__cause__, psycopg.errors.ConnectionTimeout)
        assert not [r for r in caplog.records if r.name.startswith("psycopg.pool")]

    def test_the_connect_timeout_can_be_set(self) -> None:
        """connect_timeout= (or the URL's) sets the bound; below 1 s is refused."""
        with silent_server() as port:
            url = f"postgresql://postgres@127.0.0.1:{port}/test"
            started = time.monotonic()
            with pytest.raises(StorageError, match="within 3 s"):
                PostgresBackend(url, connect_timeout=3)
            assert 2.5 < time.monotonic() - started < 15
            started = time.monotonic()
            with pytest.raises(StorageError, match="within connect_timeout"):
                PostgresBackend(url + "?connect_timeout=2")
            assert time.monotonic() - started < 10
        with pytest.raises(ValueError, match="connect_timeout"):
            PostgresBackend(URL, connect_timeout=0.5)

    def test_a_missing_database_is_one_line(self) -> None:
        """The server's refusal, without libpq's preamble."""
        admin().close()  # skip or fail here if there is no server
        with pytest.raises(StorageError) as info:
            statetrail.open("postgresql://postgres@127.0.0.1:5432/st_no_such_db")
        assert str(info.value) == (
            "cannot connect to PostgreSQL at 127.0.0.1:5432: "
            'database "st_no_such_db" does not exist'
        )


class TestUnknownScheme:
    @pytest.mark.parametrize(
        ("target", "scheme", "guess"),
        [
            ("mysql://app@db/app", "mysql://", None),
            ("redis://127.0.0.1:6379/0", "redis://", None),
            ("postgress://app@db/app", "postgress://", "postgres://"),
            ("postgresq://app@db/app", "postgresq://", "postgresql://"),
            ("sqlite:///tmp/app.db", "sqlite://", None),
        ],
    )
    def test_is_a_value_error_naming_it_and_the_supported(
        self, target: str, scheme: str, guess: str | None
    ) -> None:
        """The scheme, the schemes and paths open() takes, and a close match."""
        with pytest.raises(ValueError, match="does not know the URL scheme") as info:
            statetrail.open(target)
        message = str(info.value)
        assert f"does not know the URL scheme {scheme!r}" in message
        assert "postgresql://" in message
        assert "':memory:'" in message
        assert "app@db" not in message  # the URL (and any password) is not echoed
        assert ("did you mean" in message) == (guess is not None)
        if guess is not None:
            assert f"did you mean {guess}?" in message

    def test_the_scheme_is_read_in_any_case(self, pg: PgSchema) -> None:
        """POSTGRESQL:// is PostgreSQL (libpq reads only lower case)."""
        with statetrail.open(
            "POSTGRESQL://" + pg.url.split("://", 1)[1], schema=pg.name
        ) as repo:
            assert repo.backend.kind == "postgresql"

    def test_paths_with_colons_are_paths(self, tmp_path: Any) -> None:
        """'://' further in a path, or after a drive letter, is not a scheme."""
        with statetrail.open(tmp_path / "a:b.db") as repo:
            assert repo.backend.kind == "sqlite"
