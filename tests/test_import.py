"""``import statetrail`` stays light; what it leaves out comes when first used.

Issue 11: ``import statetrail`` imported asyncio, every storage module and the
codec registry, 110-270 ms before a program did anything. Each check runs a fresh
interpreter (this one has imported everything already) and counts modules, never
time: the time is measured in ``benchmarks/bench_import.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import statetrail
from statetrail._log import get_logger

#: What a program that records in memory must not pay for at import.
HEAVY = frozenset(
    {
        "asyncio",
        "concurrent.futures",
        "dataclasses",
        "decimal",
        "fractions",
        "hashlib",
        "inspect",
        "json",
        "logging",
        "orjson",
        "pathlib",
        "pickle",
        "psycopg",
        "psycopg_pool",
        "pydantic",
        "rich",
        "click",
        "secrets",
        "socket",
        "sqlite3",
        "ssl",
        "uuid",
        "zoneinfo",
        "statetrail.immutable",
        "statetrail.repository",
        "statetrail.storage.codec",
        "statetrail.storage.jsonfile",
        "statetrail.storage.memory",
        "statetrail.storage.sqlite",
        "statetrail.storage.postgres",
        "statetrail._store_queue",
    }
)

SRC = str(Path(statetrail.__file__).resolve().parents[1])


def run(code: str) -> str:
    """Run ``code`` in a fresh interpreter importing this statetrail; its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def imported_by(statement: str) -> list[str]:
    """The modules of HEAVY that ``statement`` imports in a fresh interpreter."""
    out = run(
        "import sys, json\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        f"heavy = {sorted(HEAVY)!r}\n"
        "print(json.dumps(sorted(m for m in heavy\n"
        "      if m in sys.modules and m not in before)))\n"
    )
    names: list[str] = json.loads(out.splitlines()[-1])
    return names


class TestImportIsLight:
    def test_import_statetrail_imports_none_of_the_heavy_modules(self) -> None:
        """No asyncio, logging, storage, codec, driver or tool at import."""
        assert imported_by("import statetrail") == []

    def test_recording_in_memory_stays_light(self) -> None:
        """A Var, a Store and their histories need none of them either."""
        statement = (
            "import statetrail\n"
            "v = statetrail.watch('v', 1)\n"
            "v.set(2)\n"
            "s = statetrail.Store({'a': {'b': 1}})\n"
            "s.set('a.b', 2)\n"
            "assert [r.number for r in s.history('a.b')] == [1]\n"
            "assert v.history()[-1].value == 2"
        )
        assert imported_by(statement) == []

    def test_the_command_help_is_light(self) -> None:
        """``statetrail --help`` does not load storage, asyncio or rich."""
        statement = (
            "from statetrail.cli import main\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass"
        )
        assert imported_by(statement) == []

    def test_the_lazy_names_are_there_when_first_used(self) -> None:
        """open, Repository and EventQueue import what they need when touched."""
        out = run(
            "import sys, statetrail\n"
            "assert 'asyncio' not in sys.modules\n"
            "with statetrail.open(':memory:') as repo:\n"
            "    repo.watch('n', 1).set(2)\n"
            "    print(repo.value_at('n', 1))\n"
            "print(isinstance(repo, statetrail.Repository))\n"
            "from statetrail import EventQueue\n"
            "print(EventQueue is statetrail.EventQueue, 'asyncio' in sys.modules)\n"
            "from statetrail.store import EventQueue as Q\n"
            "print(Q is EventQueue)"
        )
        assert out.split() == ["2", "True", "True", "True", "True"]

    def test_an_async_store_works_in_a_fresh_process(self) -> None:
        """AsyncStore and its event queues, first touched after the import."""
        out = run(
            "import statetrail, asyncio\n"
            "async def main():\n"
            "    store = statetrail.AsyncStore()\n"
            "    store.start_processing()\n"
            "    events = store.subscribe_events()\n"
            "    await store.dispatch({'type': 'SET_STATE', 'path': 'a', 'value': 1})\n"
            "    event = await events.get()\n"
            "    await store.stop_processing()\n"
            "    return event['path'], event['new_value'], type(events).__name__\n"
            "print(*asyncio.run(main()))"
        )
        assert out.split() == ["a", "1", "EventQueue"]

    def test_origin_names_the_task_when_asyncio_comes_later(self) -> None:
        """asyncio imported after statetrail: revisions still name their task."""
        out = run(
            "import statetrail\n"
            "import asyncio\n"
            "v = statetrail.watch('v', 0)\n"
            "async def write():\n"
            "    v.set(1)\n"
            "async def main():\n"
            "    await asyncio.create_task(write(), name='writer')\n"
            "asyncio.run(main())\n"
            "print(v.history()[-1].origin.task)"
        )
        assert out.split() == ["writer"]

    @pytest.mark.parametrize(
        ("setup", "value"),
        [
            ("from decimal import Decimal", "Decimal('1.5')"),
            ("from fractions import Fraction", "Fraction(1, 3)"),
            ("import uuid", "uuid.UUID(int=7)"),
            ("import pathlib", "pathlib.PurePosixPath('/a/b')"),
        ],
    )
    def test_immutable_types_imported_later_are_kept_as_they_are(
        self, setup: str, value: str
    ) -> None:
        """Decimal, Fraction, UUID and paths imported after statetrail are scalars.

        They are kept by reference, not deep-copied into a box, as when their
        module came first.
        """
        out = run(
            "import statetrail\n"
            "from statetrail.frozen import freeze, is_frozen\n"
            f"{setup}\n"
            f"x = {value}\n"
            "print(freeze(x) is x, is_frozen(x), freeze([x])[0] is x)\n"
            "v = statetrail.watch('v', x)\n"
            "print(v.get() is x)"
        )
        assert out.split() == ["True", "True", "True", "True"]


#: What opening a SQLite file, writing to it and reading its head back must not
#: import: other backends and their drivers, the live, web and command layers,
#: and the standard modules the open path imports only when they are needed.
NOT_FOR_SQLITE = frozenset(
    {
        "asyncio",
        "click",
        "difflib",
        "fractions",
        "logging",
        "pathlib",
        "psycopg",
        "psycopg_pool",
        "random",
        "redis",
        "rich",
        "starlette",
        "urllib.parse",
        "uvicorn",
        "zoneinfo",
        "statetrail.cli",
        "statetrail.immutable",
        "statetrail.live",
        "statetrail.storage._publisher",
        "statetrail.storage._trim",
        "statetrail.storage.jsonfile",
        "statetrail.storage.memory",
        "statetrail.storage.postgres",
        "statetrail.web",
    }
)


class TestOpeningSQLiteIsLight:
    """Issue 11: the first ``statetrail.open`` of a SQLite file imported 42-51 ms
    of modules it did not use (the figure is in ``benchmarks/bench_open.py``)."""

    def test_opening_a_sqlite_file_imports_none_of_the_others(
        self, tmp_path: Path
    ) -> None:
        """Create, write, close, reopen and read the head: none of them come."""
        db = str(tmp_path / "light.db")
        out = run(
            "import json, sys\n"
            "import statetrail\n"
            "before = set(sys.modules)\n"
            f"with statetrail.open({db!r}) as repo:\n"
            "    repo.store('s', {'a': {'n': 1}}).set('a.n', 2)\n"
            f"repo = statetrail.open({db!r})\n"
            "store = repo.store('s')\n"
            "assert store.timeline.head.value['a']['n'] == 2\n"
            "print(len(store.timeline.log()))\n"
            "repo.close()\n"
            f"banned = {sorted(NOT_FOR_SQLITE)!r}\n"
            "print(json.dumps(sorted(m for m in banned\n"
            "      if m in sys.modules and m not in before)))\n"
        )
        count, found = out.splitlines()[-2:]
        assert count == "2"
        assert json.loads(found) == []

    def test_the_wal_reset_warning_waits_for_logging(self, tmp_path: Path) -> None:
        """Logged once logging is imported: no handler could receive it before."""
        db = str(tmp_path / "warned.db")
        out = run(
            "import sqlite3, sys\n"
            "import statetrail\n"
            "from statetrail.storage._sqlite_connections import has_wal_reset_bug\n"
            f"statetrail.open({db!r}).close()\n"
            "print('logging' in sys.modules)\n"
            "import logging, io\n"
            "seen = io.StringIO()\n"
            "logging.basicConfig(stream=seen, level=logging.WARNING)\n"
            f"statetrail.open({db!r}).close()\n"
            "print(('WAL-reset' in seen.getvalue())\n"
            "      == has_wal_reset_bug(sqlite3.sqlite_version))\n"
        )
        assert out.split() == ["False", "True"]

    def test_opening_costs_the_same_queries_at_any_length(self, tmp_path: Path) -> None:
        """Statements sent to SQLite and rows read to open a file and read a
        timeline's head: the same for 300 and 3,000 revisions (measured: 7 to
        open, 21 for the timeline and its head, one newest page of rows)."""
        import random
        import sqlite3

        from statetrail.storage._paged import PAGE

        def opened(db: str, head: int) -> tuple[int, int, int]:
            sent: list[str] = []
            connect = sqlite3.connect

            def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
                conn = connect(*args, **kwargs)
                conn.set_trace_callback(sent.append)
                return conn

            sqlite3.connect = traced  # type: ignore[assignment]
            try:
                repo = statetrail.open(db)
                on_open = len(sent)
                timeline = repo.store("s").timeline
                assert timeline.head.value["k5"]["n"] == head
                rows = timeline._records.rows_read  # type: ignore[attr-defined]
                repo.close()
            finally:
                sqlite3.connect = connect  # type: ignore[assignment]
            return on_open, len(sent) - on_open, rows

        counts = []
        for revisions in (300, 3_000):
            db = str(tmp_path / f"{revisions}.db")
            draw = random.Random(revisions)
            with statetrail.open(db, durability="batched") as repo:
                store = repo.store("s", {f"k{i}": {"n": i} for i in range(100)})
                for n in range(revisions):
                    store.set(f"k{draw.randrange(100)}.n", n)
                store.set("k5.n", -revisions)
            counts.append(opened(db, -revisions))
        (small_open, small_head, small_rows), (big_open, big_head, big_rows) = counts
        assert (small_open, small_head) == (big_open, big_head)
        assert small_open <= 7
        assert small_head <= 21
        assert max(small_rows, big_rows) <= 2 * PAGE

    @pytest.mark.parametrize(
        ("setup", "value", "tag"),
        [
            ("from decimal import Decimal", "Decimal('1.5')", "decimal"),
            ("from fractions import Fraction", "Fraction(1, 3)", "fraction"),
            ("import pathlib", "pathlib.PurePosixPath('/a/b')", "pureposixpath"),
            ("import pathlib", "pathlib.PosixPath('/a/b')", "posixpath"),
        ],
    )
    def test_scalar_types_imported_after_the_codec_keep_their_tags(
        self, setup: str, value: str, tag: str
    ) -> None:
        """The codec does not import decimal, fractions or pathlib; a value of one
        made later is stored under its tag, read back equal, and its class still
        cannot be registered (it has a built-in encoding)."""
        out = run(
            "import sys\n"
            "from statetrail.storage import codec\n"
            f"print({setup.split()[1]!r} in sys.modules)\n"
            f"{setup}\n"
            f"x = {value}\n"
            "tree = codec.to_json({'x': x})\n"
            "print(tree['x']['$t'], codec.from_json(tree)['x'] == x)\n"
            "try:\n"
            "    codec.register(type(x))\n"
            "except ValueError as exc:\n"
            "    print('refused' if 'built-in' in str(exc) else exc)\n"
        )
        assert out.split() == ["False", tag, "True", "refused"]


class TestPackageNames:
    def test_dir_lists_every_name_of_all(self) -> None:
        """dir(statetrail) shows the lazy names before they are first used."""
        assert set(statetrail.__all__) <= set(dir(statetrail))

    def test_an_unknown_name_is_an_attribute_error(self) -> None:
        """The lazy lookup does not hide a typo."""
        with pytest.raises(AttributeError, match="no_such_name"):
            statetrail.no_such_name

    def test_from_import_of_a_lazy_name(self) -> None:
        """``from statetrail import open`` gives the function itself."""
        from statetrail import open as opened
        from statetrail.repository import open as defined

        assert opened is defined


class TestLoggers:
    def test_a_record_names_the_caller(self, caplog: pytest.LogCaptureFixture) -> None:
        """The stand-in hands out the real logger's methods: the record names the
        line that logged, not the stand-in."""
        logger = get_logger("statetrail.test")
        with caplog.at_level("WARNING", logger="statetrail.test"):
            logger.warning("told %s", "here")
        (record,) = caplog.records
        assert record.getMessage() == "told here"
        assert record.pathname == __file__
        assert record.name == "statetrail.test"

    def test_statetrail_has_a_null_handler_once_used(self) -> None:
        """Without a logging set-up, statetrail's warnings stay off stderr."""
        import logging

        get_logger("statetrail.test").debug("make it real")
        handlers = logging.getLogger("statetrail").handlers
        assert sum(isinstance(h, logging.NullHandler) for h in handlers) == 1

    def test_every_logger_is_made_through_get_logger(self) -> None:
        """No module asks logging for a logger itself: it would be made at import
        (importing logging), and could log before "statetrail" has its
        NullHandler, when Python's last-resort handler prints to stderr."""
        package = Path(statetrail.__file__).parent
        direct = [
            str(path.relative_to(package))
            for path in sorted(package.rglob("*.py"))
            if path.name != "_log.py"
            and (
                "logging.getLogger(" in (text := path.read_text("utf-8"))
                or "import logging\n" in text
            )
        ]
        assert direct == []
