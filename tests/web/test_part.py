"""``revisions/N?depth=&path=``: part of a value, deeper containers as stubs,
read from a lazy value without reading it whole (nodes counted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import statetrail
from statetrail.cli.inspect import opened
from statetrail.frozen import thaw
from statetrail.repository import Repository
from statetrail.storage import codec
from statetrail.web import create_app
from tests.web.server import serve

ENTRIES = 2_000
#: The revision read: a checkpoint stored as nodes (4) and one patch.
LAST = 5


def stub(path: str, size: int) -> dict[str, Any]:
    return {"$t": "more", "v": {"path": path, "size": size}}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A state with one large dict, small parts and user keys like a stub's."""
    path = str(tmp_path_factory.mktemp("part") / "h.db")
    with statetrail.open(path, checkpoint_every=4) as repo:
        store = repo.store(
            "nest",
            {
                "big": {f"k{i}": {"n": i, "tags": [i, "x"]} for i in range(ENTRIES)},
                "small": {"a": 1, "b": [1, 2]},
                "odd": {"$t": "more", "v": {"path": "/big", "size": 1}},
                "a/b": 7,
            },
        )
        store.set("big.k5.n", -5)
        store.set("small.a", 2)
        store.set("a/b", 8)
        store.set("big.k6.n", -6)
        store.set("big.k8.n", -8)
    return path


@pytest.fixture
def repo(history: str) -> Iterator[Repository]:
    """The history opened afresh (its node cache empty), as ``serve`` opens it."""
    with opened(history) as repo:
        yield repo


@pytest.fixture
def client(repo: Repository) -> Iterator[httpx.Client]:
    """A client of the app over ``repo`` on a real socket."""
    with (
        serve(create_app(repo, interval=0.02)) as served,
        httpx.Client(base_url=served.url, timeout=10) as client,
    ):
        yield client


def value(client: httpx.Client, query: str, number: int = LAST) -> Any:
    answer = client.get(f"api/timelines/nest/revisions/{number}?{query}")
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def test_depth_sends_stubs_below_it(client: httpx.Client, repo: Repository) -> None:
    cache = repo._node_cache("nest")
    assert value(client, "depth=1") == {
        "big": stub("/big", ENTRIES),
        "small": stub("/small", 2),
        "odd": stub("/odd", 2),
        "a/b": 8,
    }
    # The root's node and the patched entry's path, never the 2,000 entries'.
    assert cache.fetched <= 8
    assert value(client, "depth=0") == stub("", 4)
    assert value(client, "depth=2")["small"] == {"a": 2, "b": stub("/small/b", 2)}


def test_a_subtree_reads_the_nodes_on_its_path(
    client: httpx.Client, repo: Repository
) -> None:
    cache = repo._node_cache("nest")
    assert value(client, "path=/big/k5&depth=1") == {
        "n": -5,
        "tags": stub("/big/k5/tags", 2),
    }
    assert value(client, "path=/big/k7") == {"n": 7, "tags": [7, "x"]}
    assert value(client, "path=big.k9.tags") == [9, "x"]
    assert value(client, "path=/a~1b") == 8
    assert value(client, "path=/small/b/1&depth=0") == 2
    assert cache.fetched <= 16  # a leaf of a large dict: 6-7 nodes, twice
    assert value(client, "path=/big&depth=0") == stub("/big", ENTRIES)
    assert value(client, "path=/big/k8/n") == -8
    assert cache.fetched <= 24
    # The whole value, for contrast: every node of the 2,000 entries.
    value(client, "depth=2")
    assert cache.fetched > 1_000


def test_user_data_shaped_like_a_stub_stays_data(client: httpx.Client) -> None:
    sent = value(client, "path=/odd&depth=5")
    assert sent["$t"] == "dict"  # the codec's escaped form, not a stub
    assert codec.from_json(sent) == {"$t": "more", "v": {"path": "/big", "size": 1}}


def test_without_depth_the_whole_value(client: httpx.Client, repo: Repository) -> None:
    whole = codec.to_json(thaw(repo.value_at("nest", LAST)))
    assert value(client, "") == whole
    assert value(client, "depth=64") == whole
    assert value(client, "depth=1", number=0)["a/b"] == 7
    # A value the server holds (just shown whole) answers the same.
    assert value(client, "path=/big/k5&depth=1")["n"] == -5


@pytest.mark.parametrize(
    "query",
    ["depth=-1", "depth=x", "depth=65", "depth=1e3", "path=/a~9", "path=/b&depth=%00"],
)
def test_bad_parameters(client: httpx.Client, query: str) -> None:
    answer = client.get(f"api/timelines/nest/revisions/1?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


@pytest.mark.parametrize(
    "url",
    [
        "api/timelines/nest/revisions/1?path=/nope",
        "api/timelines/nest/revisions/1?path=/big/k99999&depth=1",
        "api/timelines/nest/revisions/1?path=/a~1b/c",
        "api/timelines/nest/revisions/1?path=/small/b/9",
        "api/timelines/nest/revisions/99?depth=1",
        "api/timelines/none/revisions/0?depth=1",
    ],
)
def test_unknown(client: httpx.Client, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]


def test_a_stub_path_fetches_its_subtree(client: httpx.Client) -> None:
    top = value(client, "depth=1")
    small = value(client, f"path={top['small']['v']['path']}&depth=1")
    assert small == {"a": 2, "b": stub("/small/b", 2)}
