"""The JSON API through a real server, on SQLite, JSON file and PostgreSQL
histories: every route, every filter, and the revision objects of
docs/revision-json.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import jsonschema
import pytest

from statetrail.frozen import thaw
from statetrail.repository import Repository

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "docs" / "revision.schema.json").read_text()
)


def valid(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, checked against the revision schema (``value`` aside)."""
    jsonschema.validate({k: v for k, v in doc.items() if k != "value"}, SCHEMA)
    return doc


class TestTimelines:
    def test_lists_every_timeline_with_its_counts(self, client: httpx.Client) -> None:
        """Name, revisions, head, branches and last change of each timeline."""
        response = client.get("api/timelines")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        job, cart = response.json()
        assert job["name"] == "job"
        assert job["revisions"] == 5
        assert job["head"] == 4
        assert job["branches"] == ["main", "what-if"]
        assert job["last_change"].endswith("Z")
        assert cart["name"] == "shop/cart"
        assert (cart["revisions"], cart["head"], cart["branches"]) == (2, 1, ["main"])


class TestRevisions:
    def numbers(self, client: httpx.Client, query: str = "") -> list[int]:
        response = client.get(f"api/timelines/job/revisions{query}")
        assert response.status_code == 200, response.text
        return [valid(doc)["number"] for doc in response.json()]

    def test_newest_first_every_branch(self, client: httpx.Client) -> None:
        """Without a branch, every revision of the timeline, newest first."""
        docs = client.get("api/timelines/job/revisions").json()
        assert [d["number"] for d in docs] == [4, 3, 2, 1, 0]
        assert [d["branch"] for d in docs] == [
            "what-if",
            "main",
            "main",
            "main",
            "main",
        ]
        assert docs[0]["parents"] == [2]
        assert docs[0]["author"] == "planner"
        assert docs[0]["comment"] == "two more bins"
        assert docs[0]["changes"] == [{"op": "replace", "path": "/bins", "value": 12}]
        assert docs[0]["origin"]["function"] == "record"
        assert "value" not in docs[0]

    def test_pages_with_before_and_limit(self, client: httpx.Client) -> None:
        """``before`` is exclusive; paging by the last number seen covers all."""
        assert self.numbers(client, "?limit=2") == [4, 3]
        assert self.numbers(client, "?limit=2&before=3") == [2, 1]
        assert self.numbers(client, "?limit=2&before=1") == [0]
        assert self.numbers(client, "?before=0") == []
        assert self.numbers(client, "?before=999") == [4, 3, 2, 1, 0]

    def test_branch_is_its_line(self, client: httpx.Client) -> None:
        """``branch`` gives the line from its tip back to the first revision."""
        assert self.numbers(client, "?branch=what-if") == [4, 2, 1, 0]
        assert self.numbers(client, "?branch=main") == [3, 2, 1, 0]
        assert self.numbers(client, "?branch=what-if&before=4&limit=2") == [2, 1]

    def test_filters(self, client: httpx.Client) -> None:
        """author, label, path (JSON Pointer or dot-path), since and until."""
        assert self.numbers(client, "?author=alice") == [2, 0]
        assert self.numbers(client, "?label=v1") == [1]
        assert self.numbers(client, "?path=/bins") == [4, 1, 0]
        assert self.numbers(client, "?path=bins") == [4, 1, 0]
        # A change under the path and one above it count too.
        assert self.numbers(client, "?path=/rejects/0") == [2, 0]
        assert self.numbers(client, "?author=alice&path=/rejects") == [2, 0]
        docs = client.get("api/timelines/job/revisions").json()
        third = docs[2]["time"]  # revision 2
        assert self.numbers(client, f"?since={third}") == [
            n for n in (4, 3, 2) if docs[4 - n]["time"] >= third
        ]
        assert 2 not in self.numbers(client, f"?until={third}")
        assert self.numbers(client, "?since=2000-01-01&until=2000-01-02") == []
        assert self.numbers(client, "?author=nobody") == []

    def test_a_name_with_a_slash(self, client: httpx.Client) -> None:
        """Percent-encoded or not, ``shop/cart`` is one timeline."""
        for name in ("shop%2Fcart", "shop/cart"):
            docs = client.get(f"api/timelines/{name}/revisions").json()
            assert [d["number"] for d in docs] == [1, 0]
            assert docs[0]["timeline"] == "shop/cart"


class TestOneRevision:
    def test_with_its_value(self, client: httpx.Client, repo: Repository) -> None:
        """The revision object and its whole value, as storage holds it."""
        for number in range(5):
            doc = client.get(f"api/timelines/job/revisions/{number}").json()
            assert valid(doc)["number"] == number
            assert doc["value"] == thaw(repo.value_at("job", number))
        assert client.get("api/timelines/shop%2Fcart/revisions/1").json()["value"] == {
            "items": ["pen"]
        }


class TestDiff:
    def test_changes_turn_a_into_b(self, client: httpx.Client) -> None:
        """Applying the operations to a's value gives b's, for every pair."""
        values = [
            client.get(f"api/timelines/job/revisions/{n}").json()["value"]
            for n in range(5)
        ]
        for a in range(5):
            for b in range(5):
                doc = client.get(f"api/timelines/job/diff?a={a}&b={b}").json()
                assert (doc["a"], doc["b"]) == (a, b)
                patched = jsonpatch.apply_patch(values[a], doc["changes"])
                assert patched == values[b], (a, b)

    def test_a_defaults_to_the_parent(self, client: httpx.Client) -> None:
        """Without ``a``, the diff is against b's parent (none for the first)."""
        doc = client.get("api/timelines/job/diff?b=4").json()
        assert doc == {
            "a": 2,
            "b": 4,
            "changes": [{"op": "replace", "path": "/bins", "value": 12}],
        }
        first = client.get("api/timelines/job/diff?b=0").json()
        assert first["a"] is None
        assert first["changes"] == [
            {
                "op": "replace",
                "path": "",
                "value": {"bins": 10, "sorted": 0, "rejects": []},
            }
        ]


class TestBlame:
    def blame(self, client: httpx.Client, query: str) -> Any:
        response = client.get(f"api/timelines/job/blame?{query}")
        assert response.status_code == 200, response.text
        return response.json()

    def test_the_last_change_on_the_cursor_line(self, client: httpx.Client) -> None:
        """From the cursor (4, on what-if) back: bins was set by 4, rejects by 2,
        sorted never changed on this line (so: the first revision)."""
        doc = self.blame(client, "path=/bins")
        assert doc["path"] == "/bins"
        assert valid(doc["revision"])["number"] == 4
        assert self.blame(client, "path=/rejects/0")["revision"]["number"] == 2
        assert self.blame(client, "path=/sorted")["revision"]["number"] == 0

    def test_at_a_revision_or_branch(self, client: httpx.Client) -> None:
        """``at`` starts from that revision, ``branch`` from its tip."""
        assert self.blame(client, "path=/bins&at=3")["revision"]["number"] == 1
        assert self.blame(client, "path=/sorted&branch=main")["revision"]["number"] == 3

    def test_a_path_that_never_was(self, client: httpx.Client) -> None:
        """A path no revision on the line has: ``revision`` is null."""
        assert self.blame(client, "path=/nothing")["revision"] is None
        assert self.blame(client, "path=/rejects/5")["revision"] is None


class TestErrors:
    """Malformed parameters are 400, unknown names and numbers 404, each with a
    JSON ``error``; nothing is ever a 500."""

    @pytest.mark.parametrize(
        "url",
        [
            "api/timelines/job/revisions?limit=0",
            "api/timelines/job/revisions?limit=-1",
            "api/timelines/job/revisions?limit=1001",
            "api/timelines/job/revisions?limit=ten",
            "api/timelines/job/revisions?limit=99999999999999999999999",
            "api/timelines/job/revisions?before=-3",
            "api/timelines/job/revisions?before=1.5",
            "api/timelines/job/revisions?since=yesterday",
            "api/timelines/job/revisions?until=2026-13-01",
            "api/timelines/job/revisions?path=a..b",
            "api/timelines/job/revisions?path=/a~2b",
            "api/timelines/job/revisions?author=a%00b",
            "api/timelines/job/revisions?author=" + "x" * 5000,
            "api/timelines/job/revisions/-1",
            "api/timelines/job/revisions/1e3",
            "api/timelines/job/revisions/%00",
            "api/timelines/job/diff",
            "api/timelines/job/diff?b=x",
            "api/timelines/job/diff?a=-1&b=1",
            "api/timelines/job/blame",
            "api/timelines/job/blame?path=/a~9",
            "api/timelines/job/blame?path=/bins&at=-1",
            "api/timelines/job/events?after=x",
        ],
    )
    def test_bad_parameters(self, client: httpx.Client, url: str) -> None:
        response = client.get(url)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"error"}

    @pytest.mark.parametrize(
        "url",
        [
            "api/timelines/nope/revisions",
            "api/timelines/nope/revisions/0",
            "api/timelines/nope/diff?b=1",
            "api/timelines/nope/blame?path=/a",
            "api/timelines/nope/events",
            "api/timelines/job/revisions/5",
            "api/timelines/job/revisions/999999999999999999",
            "api/timelines/job/diff?b=9",
            "api/timelines/job/diff?a=9&b=1",
            "api/timelines/job/blame?path=/bins&at=9",
            "api/timelines/job/blame?path=/bins&branch=nope",
            "api/timelines/job/revisions?branch=nope",
            "api/timelines/job",
            "api/timelines/job/",
            "api/timelines/job/other",
            "api/timelines/job/revisions/1/more",
            "api/timelines/",
            "api/nothing",
            "static/nothing.js",
            # Hostile names: never a timeline, never a file.
            "api/timelines/..%2F..%2Fetc%2Fpasswd/revisions",
            "api/timelines/%2e%2e/revisions",
            "api/timelines/job%00/revisions",
            "api/timelines/%00/revisions/0",
            "api/timelines/%ff%fe/revisions",
            "api/timelines/" + "j" * 10_000 + "/revisions",
            "api/timelines/job%2Fx/revisions",
            "api/timelines/shop/revisions",
        ],
    )
    def test_unknown(self, client: httpx.Client, url: str) -> None:
        response = client.get(url)
        assert response.status_code == 404, response.text
        assert set(response.json()) == {"error"}

    def test_the_message_names_what_is_missing(self, client: httpx.Client) -> None:
        """The error says which timeline or revision, and what there is."""
        assert client.get("api/timelines/nope/revisions").json() == {
            "error": "there is no timeline 'nope'"
        }
        message = client.get("api/timelines/job/revisions/7").json()["error"]
        assert "no revision 7" in message
        assert "0 to 4" in message

    def test_only_get(self, client: httpx.Client) -> None:
        """The history is read-only: other methods are 405, in JSON."""
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            response = client.request(method, "api/timelines/job/revisions")
            assert response.status_code == 405
            assert "read-only" in response.json()["error"]
        assert client.head("api/timelines").status_code == 200
