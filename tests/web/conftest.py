"""Fixtures of the web tests: a recorded history in each backend, served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import statetrail
from statetrail.cli.inspect import opened
from statetrail.repository import Repository
from statetrail.web import create_app
from tests.storage.pg import fresh_schema, pg
from tests.web.server import Served, serve

__all__ = ["pg"]


def record(target: str, **options: Any) -> None:
    """The history the API tests read.

    Timeline ``job``: 0 initial (alice), 1 bins=11 (bob, label "v1"), 2
    rejects added (alice), 3 sorted=1 (carol), then a branch "what-if" from 2:
    4 bins=12 (planner). Timeline ``shop/cart`` (a name with a slash): 0, 1.
    """
    with statetrail.open(target, **options) as repo:
        with statetrail.context(author="alice", comment="start"):
            store = repo.store("job", {"bins": 10, "sorted": 0, "rejects": []})
        with statetrail.context(author="bob", comment="one more bin", label="v1"):
            store.set("bins", 11)
        with statetrail.context(author="alice", comment="bent card"):
            store.set("rejects", ["card #3"])
        with statetrail.context(author="carol", comment="sorted one"):
            store.set("sorted", 1)
        timeline: Any = store.timeline
        timeline.checkout(2)
        timeline.branch("what-if")
        with statetrail.context(author="planner", comment="two more bins"):
            store.set("bins", 12)
        cart = repo.store("shop/cart", {"items": []})
        cart.set("items", ["pen"])


@pytest.fixture(scope="module", params=["sqlite", "json", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A recorded history: an SQLite file, a JSON file or a PostgreSQL schema.

    One per module: the API tests only read it.
    """
    if request.param == "postgres":
        with fresh_schema() as schema:
            url = f"{schema.url}?schema={schema.name}"
            record(url)
            yield url
        return
    folder = tmp_path_factory.mktemp("history")
    path = str(folder / ("h.db" if request.param == "sqlite" else "h.json"))
    record(path)
    yield path


@pytest.fixture
def sqlite_target(tmp_path: Path) -> str:
    """The recorded history in an SQLite file of the test's own."""
    path = str(tmp_path / "h.db")
    record(path)
    return path


@pytest.fixture(scope="module")
def repo(target: str) -> Iterator[Repository]:
    """The recorded history, opened read-only as ``statetrail serve`` opens it."""
    with opened(target) as repo:
        yield repo


@pytest.fixture(scope="module")
def served(repo: Repository) -> Iterator[Served]:
    """The app over ``repo`` on a real socket."""
    with serve(create_app(repo, interval=0.02)) as served:
        yield served


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[httpx.Client]:
    """An HTTP client of ``served``."""
    with httpx.Client(base_url=served.url, timeout=10) as client:
        yield client
