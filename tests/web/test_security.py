"""What the server refuses, through a real socket: requests without the token,
requests addressed to another name, files outside web/static, and faults that
would show a traceback."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from statetrail.cli.inspect import opened
from statetrail.repository import Repository
from statetrail.storage.memory import MemoryBackend
from statetrail.web import create_app
from statetrail.web._app import COOKIE, static_files
from tests.web.server import Served, serve

TOKEN = "s3cret-Token_1"


def raw_get(served: Served, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of a GET of ``path`` exactly as written (no URL cleaning)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def guarded(sqlite_target: str) -> Iterator[Served]:
    with opened(sqlite_target) as repo, serve(create_app(repo, token=TOKEN)) as s:
        yield s


class TestToken:
    @pytest.mark.parametrize(
        "path",
        [
            "",
            "api/timelines",
            "api/timelines/job/revisions",
            "api/timelines/job/events",
            "static/app.js",
            "api/timelines/nope/revisions",
        ],
    )
    def test_refused_without_it(self, guarded: Served, path: str) -> None:
        """Every route, known or not, is 401 without the token."""
        with httpx.Client(base_url=guarded.url, timeout=10) as client:
            for query in ("", "?token=wrong", "?token=", f"?token={TOKEN}x"):
                response = client.get(path + query)
                assert response.status_code == 401, (path, query)
                assert "token" in response.json()["error"]
                assert "set-cookie" not in response.headers

    def test_a_wrong_cookie_is_refused(self, guarded: Served) -> None:
        with httpx.Client(
            base_url=guarded.url, timeout=10, cookies={COOKIE: TOKEN[:-1]}
        ) as client:
            assert client.get("api/timelines").status_code == 401

    def test_the_query_sets_the_cookie(self, guarded: Served) -> None:
        """``?token=`` lets the request in and sets the cookie, which then
        carries the page's own requests (and EventSource's)."""
        with httpx.Client(base_url=guarded.url, timeout=10) as client:
            response = client.get(f"api/timelines?token={TOKEN}")
            assert response.status_code == 200
            cookie = response.headers["set-cookie"]
            assert cookie.startswith(f"{COOKIE}={TOKEN};")
            assert "HttpOnly" in cookie
            assert "SameSite=Strict" in cookie
            assert client.get("api/timelines").status_code == 200
            with client.stream("GET", "api/timelines/job/events") as events:
                assert events.status_code == 200
                assert events.headers["content-type"].startswith("text/event-stream")

    def test_any_host_name_with_the_token(self, guarded: Served) -> None:
        """A server with a token is meant to be reached by other names."""
        status = raw_get(guarded, f"/api/timelines?token={TOKEN}", {"Host": "a.b"})
        assert status == 200


class TestLoopbackOnly:
    @pytest.mark.parametrize(
        "host", ["evil.example", "evil.example:80", "10.0.0.1", "localhost.evil"]
    )
    def test_other_names_are_refused(self, served: Served, host: str) -> None:
        """Without a token, a request addressed to another name (DNS rebinding)
        is 403."""
        assert raw_get(served, "/api/timelines", {"Host": host}) == 403

    @pytest.mark.parametrize(
        "host", ["localhost", "localhost:8765", "127.0.0.1:1", "[::1]:8765", "[::1]"]
    )
    def test_loopback_names_are_served(self, served: Served, host: str) -> None:
        assert raw_get(served, "/api/timelines", {"Host": host}) == 200


@pytest.fixture
def page(tmp_path: Path, sqlite_target: str) -> Iterator[Served]:
    """A server whose static folder holds a page, a module, a style sheet, a
    nested file, a hidden file and a link to a file outside."""
    folder = tmp_path / "static"
    (folder / "lib").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html><title>t</title>")
    (folder / "app.js").write_text("export const a = 1;")
    (folder / "app.css").write_text("body {}")
    (folder / "lib" / "tree.js").write_text("export const b = 2;")
    (folder / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", folder / "link.txt")
    with (
        opened(sqlite_target) as repo,
        serve(create_app(repo, static=folder)) as served,
    ):
        yield served


class TestStatic:
    def test_the_page_and_its_files(self, page: Served) -> None:
        """Each file with its content type; the page with its content policy."""
        with httpx.Client(base_url=page.url, timeout=10) as client:
            index = client.get("")
            assert index.status_code == 200
            assert index.headers["content-type"] == "text/html; charset=utf-8"
            assert "default-src 'self'" in index.headers["content-security-policy"]
            assert index.text.startswith("<!doctype html>")
            for path, kind in [
                ("static/app.js", "text/javascript; charset=utf-8"),
                ("static/lib/tree.js", "text/javascript; charset=utf-8"),
                ("static/app.css", "text/css; charset=utf-8"),
                ("static/index.html", "text/html; charset=utf-8"),
            ]:
                response = client.get(path)
                assert response.status_code == 200, path
                assert response.headers["content-type"] == kind
                assert response.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize(
        "path",
        [
            "/static/",
            "/static/lib",
            "/static/lib/",
            "/static/.secret",
            "/static/link.txt",
            "/static/../outside.txt",
            "/static/%2e%2e/outside.txt",
            "/static/..%2Foutside.txt",
            "/static/lib/../../outside.txt",
            "/static//etc/passwd",
            "/static/%2Fetc%2Fpasswd",
            "/static/app.js%00.html",
            "/static/APP.JS",
            "/../pyproject.toml",
            "/static/" + "a" * 5000,
        ],
    )
    def test_nothing_else(self, page: Served, path: str) -> None:
        """No listing, no hidden file, no link out, no way up."""
        assert raw_get(page, path) == 404

    def test_only_the_files_there_when_made(self, tmp_path: Path) -> None:
        """The list of files is taken once: hidden files and links left out."""
        (tmp_path / "a.js").write_text("")
        (tmp_path / ".b").write_text("")
        os.symlink(tmp_path / "a.js", tmp_path / "c.js")
        assert sorted(static_files(tmp_path)) == ["a.js"]
        assert static_files(tmp_path / "missing") == {}


class _Failing(MemoryBackend):
    """A memory backend whose reads fail, once told to, as a driver bug would."""

    failing = False

    def read(self, timeline: str, after: int = -1, upto: int | None = None) -> Any:
        if self.failing:
            raise RuntimeError("secret detail of a fault")
        return super().read(timeline, after, upto)


class TestFaults:
    def test_a_fault_is_a_json_500_without_details(self) -> None:
        """An unexpected exception is logged; the client gets a plain 500."""
        backend = _Failing()
        repo = Repository(backend)
        repo.store("job", {"a": 1}).set("a", 2)
        backend.failing = True
        with serve(create_app(repo)) as served, httpx.Client(timeout=10) as client:
            response = client.get(served.url + "api/timelines/job/revisions")
        assert response.status_code == 500
        assert response.json() == {
            "error": "the server failed to answer; its log says why"
        }
        assert "secret" not in response.text
        assert "Traceback" not in response.text
