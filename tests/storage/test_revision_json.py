"""The one revision JSON (issue 11): what ``export``, the web API and ``follow
--json`` write, checked against docs/revision.schema.json and against the
history it came from."""

from __future__ import annotations

import datetime
import io
import json
import pathlib
import re
from typing import Any

import jsonpatch
import pytest

import statetrail
from statetrail.cli.export import export
from statetrail.errors import CorruptHistoryError
from statetrail.storage import codec
from statetrail.storage import revision_json as schema

SCHEMA_FILE = pathlib.Path(__file__).parents[2] / "docs" / "revision.schema.json"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _history(path: pathlib.Path) -> None:
    """A timeline with adds, removals, list inserts, a branch, a rollback, a
    non-JSON value, a tuple key and an erased revision."""
    with statetrail.open(path) as repo:
        store = repo.store("s", {"items": [1, 2], "cfg": {"a": 1}})
        with statetrail.context(author="ann", comment="why"):
            store.set("cfg.b", "two/~slash")
        store.set("items", [0, 1, 2, 3])
        store.delete("cfg.a")
        store.set("when", datetime.date(2026, 12, 7))
        timeline = store.timeline
        timeline.checkout(2)
        timeline.branch("idea")
        store.set("cfg.b", "idea")
        timeline.rollback(1)
        repo.watch("keys", {(1, 2): "tuple key"}).set({(1, 2): "changed"})
        erased = repo.watch("gone", 0)
        erased.set(1)
        erased.set(2)
        erased.timeline.erase(1, reason="GDPR request", author="dpo")


def _export(path: pathlib.Path, name: str, *extra: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    export(str(path), name, out, full="--full" in extra)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(params=["h.db", "h.json"])
def history(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / request.param
    _history(path)
    return path


class TestSchema:
    def test_every_line_validates_against_the_documented_schema(
        self, history: pathlib.Path
    ) -> None:
        """Every object export writes, with and without values, is valid under
        docs/revision.schema.json."""
        jsonschema = pytest.importorskip("jsonschema", reason="the dev extra")
        validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
        validator.check_schema(validator.schema)
        seen = 0
        for name in ("s", "keys", "gone"):
            for full in ((), ("--full",)):
                for doc in _export(history, name, *full):
                    validator.validate(doc)
                    seen += 1
        assert seen == 2 * (7 + 2 + 3)

    def test_the_fields_and_their_forms(self, history: pathlib.Path) -> None:
        """The fields in order, parents as lists, times in UTC ending in Z, the
        origin as an object, values only when asked for."""
        docs = _export(history, "s")
        assert [list(d) for d in docs] == [list(schema.FIELDS)] * len(docs)
        assert [d["parents"] for d in docs] == [[], [0], [1], [2], [3], [2], [5]]
        assert all(TIME.match(d["time"]) for d in docs)
        assert docs[1]["author"] == "ann"
        assert docs[1]["comment"] == "why"
        assert docs[0]["label"] == "initial"
        assert docs[5]["branch"] == "idea"
        assert docs[6]["kind"] == "rollback"
        origin = docs[1]["origin"]
        assert origin["file"].endswith("test_revision_json.py")
        assert origin["function"] == "_history"
        assert origin["thread"] == "MainThread"
        assert origin["task"] is None
        assert "value" not in docs[1]

    def test_changes_are_rfc6902_with_tagged_values(
        self, history: pathlib.Path
    ) -> None:
        """Adds, replaces and removes as RFC 6902, escaped pointers, a date in
        the codec's tagged form, a tuple key as its canonical text."""
        docs = _export(history, "s")
        assert docs[1]["changes"] == [
            {"op": "add", "path": "/cfg/b", "value": "two/~slash"}
        ]
        assert docs[3]["changes"] == [{"op": "remove", "path": "/cfg/a"}]
        assert docs[4]["changes"] == [
            {"op": "add", "path": "/when", "value": {"$t": "date", "v": "2026-12-07"}}
        ]
        assert codec.from_json(docs[4]["changes"][0]["value"]) == datetime.date(
            2026, 12, 7
        )
        keys = _export(history, "keys")
        assert keys[1]["changes"] == [
            {
                "op": "replace",
                "path": '/{"$t":"tuple","v":[1,2]}',
                "value": "changed",
            }
        ]

    def test_applying_the_changes_gives_the_values(self, history: pathlib.Path) -> None:
        """Each revision's changes, applied by an RFC 6902 library to its
        parent's value, give its own value (as --full writes it)."""
        full = {d["number"]: d for d in _export(history, "s", "--full")}
        for doc in full.values():
            parents = doc["parents"]
            base = full[parents[0]]["value"] if parents else None
            assert jsonpatch.apply_patch(base, doc["changes"]) == doc["value"]

    def test_an_erased_revision(self, history: pathlib.Path) -> None:
        """An erased revision has no changes and says who erased it and why."""
        docs = _export(history, "gone", "--full")
        assert docs[1]["changes"] is None
        assert docs[1]["value"] is None
        assert docs[1]["erased"]["author"] == "dpo"
        assert docs[1]["erased"]["reason"] == "GDPR request"
        assert TIME.match(docs[1]["erased"]["time"])
        assert docs[2]["value"] == 2

    def test_from_revision_is_from_row(self, history: pathlib.Path) -> None:
        """A revision in memory and the same revision read from its row give the
        same object (follow --json and the web API use the first)."""
        with statetrail.open(history) as repo:
            for name in ("s", "keys", "gone"):
                timeline = repo.timeline(name, create=False)
                stored = _export(history, name, "--full")
                for revision in timeline.revisions():
                    doc = schema.from_revision(revision, name, with_value=True)
                    assert json.loads(schema.dumps(doc)) == stored[revision.number]


class TestBadRows:
    @pytest.mark.parametrize(
        "patch",
        [
            {"op": "replace"},
            [["?", ["a"], 1]],
            [["-", ["a"], 1]],
            [["=", "a", 1]],
            [["+", ["a"]]],
        ],
    )
    def test_a_malformed_patch_is_corrupt(self, patch: Any) -> None:
        """A stored patch that is not one is CorruptHistoryError, never a
        KeyError or a half-written object."""
        with pytest.raises(CorruptHistoryError):
            schema.changes_from_patch(patch)


class TestThreads:
    def test_times_formatted_from_many_threads_are_right(self) -> None:
        """format_time keeps the last second it formatted; threads formatting
        different seconds at once (the web server's) each get their own."""
        import threading
        from datetime import UTC, datetime

        wrong: list[tuple[int, str]] = []

        def work(offset: int) -> None:
            for i in range(20_000):
                ns = (1_700_000_000 + offset + i % 2) * 1_000_000_000 + 5_000
                text = schema.format_time(ns)
                when = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
                if text != f"{when:%Y-%m-%dT%H:%M:%S}.000005Z":
                    wrong.append((ns, text))

        threads = [threading.Thread(target=work, args=(10 * n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert wrong == []
