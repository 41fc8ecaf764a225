"""Erased revisions and a history altered on disk, through the API: an erased
value is null (410 to compare), an altered row is a 500 that says so, never a
traceback, and the rest of the history is still served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import statetrail
from statetrail.cli.inspect import opened
from statetrail.web import create_app
from tests.storage.tamper import ERASED, EVERY, build, sqlite_raw
from tests.web.server import serve


@pytest.fixture
def damaged(tmp_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    path = str(tmp_path / "h.db")
    with statetrail.open(path, checkpoint_every=EVERY) as repo:
        build(repo)
    with (
        opened(path) as repo,
        serve(create_app(repo)) as served,
        httpx.Client(base_url=served.url, timeout=10) as client,
    ):
        yield path, client


class TestErased:
    def test_an_erased_value_is_null(self, damaged: tuple[str, httpx.Client]) -> None:
        _, client = damaged
        doc = client.get(f"api/timelines/job/revisions/{ERASED}").json()
        assert doc["value"] is None
        assert doc["changes"] is None
        assert doc["erased"]["reason"] == "privacy"
        listed = client.get(f"api/timelines/job/revisions?before={ERASED + 1}")
        assert listed.json()[0]["erased"]["author"] == "dpo"

    def test_an_erased_value_cannot_be_compared(
        self, damaged: tuple[str, httpx.Client]
    ) -> None:
        _, client = damaged
        response = client.get(f"api/timelines/job/diff?a=1&b={ERASED}")
        assert response.status_code == 410
        assert "erased" in response.json()["error"]
        # Its neighbours still compare: their values come from checkpoints.
        after = client.get(f"api/timelines/job/diff?a=1&b={ERASED + 2}")
        assert after.status_code == 200


class TestAltered:
    def test_an_altered_row_is_a_500_saying_so(
        self, damaged: tuple[str, httpx.Client]
    ) -> None:
        path, client = damaged
        with sqlite_raw(path) as raw:
            raw.set_row("job", 6, author="mallory")
        response = client.get("api/timelines/job/revisions/6")
        assert response.status_code == 500
        error = response.json()["error"]
        assert error.startswith("the history does not verify")
        assert "revision 6" in error
        assert "Traceback" not in response.text
        listed = client.get("api/timelines/job/revisions?before=6&limit=3")
        assert listed.status_code == 200
        assert [d["number"] for d in listed.json()] == [5, 4, 3]
        assert client.get("api/timelines/score/revisions").status_code == 200
