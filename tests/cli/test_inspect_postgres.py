"""The inspector commands on a PostgreSQL history: they only read, ``--schema``
and ``?schema=`` pick the schema, and problems are one line."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

import statetrail
from statetrail.cli import main
from tests.storage.pg import URL, PgSchema, admin, pg
from tests.storage.test_postgres_open import catalog, silent_server, unused_port

__all__ = ["pg"]  # the fixture, imported for the tests below

#: Every command that reads a history, with the arguments after FILE_OR_URL.
READERS = [
    ("timelines",),
    ("log", "job"),
    ("show", "job@1"),
    ("diff", "job", "0", "1"),
    ("blame", "job", "n"),
    ("export", "job"),
    ("verify",),
    ("anchor",),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def recorded(pg: PgSchema) -> PgSchema:
    """A schema holding a store "job" with two revisions."""
    with (
        statetrail.open(pg.url, schema=pg.name) as repo,
        statetrail.context(author="alice"),
    ):
        repo.store("job", {"n": 0}).set("n", 1)
    return pg


class TestReading:
    @pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
    def test_schema_option_and_url_parameter(
        self,
        recorded: PgSchema,
        command: tuple[str, ...],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """--schema and ?schema= read the same history, and change nothing in
        it (tables, functions, rows)."""
        before = catalog(recorded.name)
        name, *rest = command
        by_option = run(capsys, name, URL, *rest, "--schema", recorded.name)
        by_url = run(capsys, name, f"{URL}?schema={recorded.name}", *rest)
        assert by_option[0] == 0, by_option[2]
        assert by_option[2] == ""
        if name != "verify":  # its progress line may differ in timing
            assert by_option == by_url
        assert catalog(recorded.name) == before
        with statetrail.open(URL, schema=recorded.name, read_only=True) as repo:
            assert repo.verify() == {"job": 2}

    def test_log_shows_the_history(
        self, recorded: PgSchema, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """What the commands print is the history's."""
        status, out, _ = run(capsys, "log", URL, "job", "--schema", recorded.name)
        assert status == 0
        assert "alice" in out


class TestNothingCreated:
    @pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
    def test_a_missing_schema_is_one_line(
        self, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No such schema: status 2, one line naming it, and still no schema."""
        admin().close()  # skip or fail here if there is no server
        schema = f"st_absent_{uuid.uuid4().hex[:12]}"
        name, *rest = command
        status, out, err = run(capsys, name, URL, *rest, "--schema", schema)
        assert status == 2
        assert out == ""
        assert err.count("\n") == 1
        assert err.startswith(f"statetrail {name}: error: ")
        assert f"has no schema {schema!r}" in err
        assert catalog(schema) == (False, [])

    @pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
    def test_an_empty_schema_stays_empty(
        self, pg: PgSchema, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A schema without statetrail's tables: one line, nothing created."""
        name, *rest = command
        status, _, err = run(capsys, name, f"{URL}?schema={pg.name}", *rest)
        assert status == 2
        assert err.count("\n") == 1
        assert "holds no statetrail history" in err
        assert catalog(pg.name) == (True, [])


class TestErrors:
    def test_schema_needs_a_url(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--schema on a file: one line saying it needs a postgresql:// URL."""
        status, _, err = run(capsys, "timelines", "app.db", "--schema", "s")
        assert status == 2
        assert err == (
            "statetrail timelines: error: --schema names a PostgreSQL schema; "
            "it needs a postgresql:// URL\n"
        )

    def test_two_schemas_are_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """?schema=a with --schema b: status 2, naming both."""
        status, _, err = run(capsys, "timelines", f"{URL}?schema=a", "--schema", "b")
        assert status == 2
        assert "two schemas are named, 'a' and 'b'" in err

    def test_an_unknown_scheme_is_one_line(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """mysql://: status 2, naming the scheme."""
        status, _, err = run(capsys, "log", "mysql://app@db/app", "job")
        assert status == 2
        assert "does not know the URL scheme 'mysql://'" in err

    def test_an_unreachable_server_is_one_line_from_the_installed_command(
        self,
    ) -> None:
        """As a whole process: nothing listening, and a server that never
        answers, each end with status 2 and exactly one line on stderr (no pool
        warnings, no traceback), within a generous bound of the 2 s timeout."""
        refused = unused_port()
        with silent_server() as silent:
            for port, expected in (
                (refused, "Connection refused"),
                (silent, "did not answer within 2 s"),
            ):
                started = time.monotonic()
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "statetrail",
                        "log",
                        f"postgresql://postgres@127.0.0.1:{port}/test",
                        "job",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert time.monotonic() - started < 15
                assert done.returncode == 2
                assert done.stdout == ""
                assert done.stderr.count("\n") == 1, done.stderr
                assert f"127.0.0.1:{port}" in done.stderr
                assert expected in done.stderr
