"""The ASGI application of ``statetrail serve``: the page, its files and the API.

Routes (everything is ``GET``; docs/web.md documents the API):

- ``/``: the page, ``web/static/index.html``;
- ``/static/{file}``: the files of ``web/static/`` as they were when the app
  was made, each with its content type; a path that is not one of them (a
  directory, ``..``, a file added later) is 404, so nothing outside is reachable;
- ``/api/timelines`` and the routes under one timeline (:mod:`._api`).

With a token, every request carries it (``?token=`` or the cookie
``statetrail_token``, compared in constant time) or is refused with 401; a
request that brings it as ``?token=`` gets the cookie set, so the page's own
requests (and EventSource, which cannot send headers) carry it. Without a token
the server answers only requests addressed to a loopback name (``localhost``,
``127.0.0.1``, ``[::1]``), so a web page elsewhere cannot read the history
through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from statetrail._log import get_logger
from statetrail.live import Following, follow
from statetrail.repository import Repository
from statetrail.web._api import API, error
from statetrail.web._data import History

__all__ = [
    "COOKIE",
    "STATIC",
    "LoopbackOnly",
    "TokenGate",
    "create_app",
    "host_name",
    "is_loopback",
    "static_files",
]

log = get_logger("statetrail.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The folder of the page's files, inside the package.
STATIC: Final = Path(__file__).parent / "static"
#: The cookie that carries the token.
COOKIE: Final = "statetrail_token"

_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
#: The page may load and fetch from this server only.
_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS: Final = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def static_files(folder: Path = STATIC) -> dict[str, Path]:
    """The regular files under ``folder`` by their relative path (``a/b.js``).

    Symbolic links and hidden files are left out.
    """
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            path = Path(root) / file
            if file.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            found[path.relative_to(folder).as_posix()] = path
    return found


def _file_response(path: Path) -> Response:
    content_type = _TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = dict(_HEADERS)
    headers["cache-control"] = "no-cache"
    if path.suffix.lower() == ".html":
        headers["content-security-policy"] = _POLICY
    return Response(path.read_bytes(), headers=headers, media_type=content_type)


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without the port.

    >>> host_name("[::1]:8765"), host_name("localhost:80"), host_name("a.b")
    ('::1', 'localhost', 'a.b')
    """
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def is_loopback(name: str) -> bool:
    """Whether ``name`` is ``localhost`` or a loopback address."""
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoopbackOnly:
    """ASGI middleware: answer only requests addressed to a loopback name.

    A page on another site cannot read the history by pointing its own name at
    127.0.0.1 (DNS rebinding): its requests carry that name in ``Host``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Request(scope).headers.get("host", "")
            if not is_loopback(host_name(host)):
                response = error(
                    403,
                    "this server answers requests to localhost only; serve with "
                    "--host and --token to reach it by another name",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TokenGate:
    """ASGI middleware: every HTTP request must carry the token (see the module)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        by_query = self._matches(query.get("token", [None])[-1])
        if not by_query and not self._matches(Request(scope).cookies.get(COOKIE)):
            response = error(
                401,
                "this server needs its token: open the URL "
                "`statetrail serve` printed (it ends in ?token=...)",
            )
            await response(scope, receive, send)
            return
        if not by_query:
            await self.app(scope, receive, send)
            return
        cookie = (
            f"{COOKIE}={self.token.decode()}; Path=/; HttpOnly; SameSite=Strict"
        ).encode()

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, with_cookie)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error(405, "only GET is served: the history is read-only here")
    return error(exc.status_code, exc.detail or "not found")


async def _fault(request: Request, exc: Exception) -> Response:
    # The details stay in the server's log: a client learns nothing of the code.
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error(500, "the server failed to answer; its log says why")


def create_app(
    repo: Repository,
    *,
    token: str | None = None,
    follow_from: str | None = None,
    interval: float = 0.05,
    heartbeat: float = 15.0,
    static: Path = STATIC,
) -> Starlette:
    """The web app over ``repo`` (opened read-only by the caller).

    Args:
        repo: The history to serve.
        token: When given, every request must carry it.
        follow_from: A ``redis://`` URL to take live revisions from (published
            with ``statetrail.open(..., publish=URL)``); by default the live
            stream follows ``repo`` itself.
        interval: Seconds between looks for news when following storage.
        heartbeat: Seconds of silence between comment lines on a live stream.
        static: The folder of the page's files.
    """
    history = History(repo)

    def follower(name: str, after: int) -> Following:
        if follow_from is None:
            return follow(repo, name, after=after, interval=interval)
        return follow(follow_from, name, after=after, source=repo, interval=interval)

    api = API(history, follower, heartbeat=heartbeat)
    files = static_files(static)

    async def page(request: Request) -> Response:
        index = files.get("index.html")
        if index is None:
            return error(404, "the page is not installed (web/static/index.html)")
        return _file_response(index)

    async def asset(request: Request) -> Response:
        path = files.get(request.path_params["file"])
        if path is None:
            return error(404, "no such file")
        return _file_response(path)

    if token is None:
        middleware = [Middleware(LoopbackOnly)]
    else:
        middleware = [Middleware(TokenGate, token=token)]
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/static/{file:path}", asset),
            Route("/api/timelines", api.timelines),
            Route("/api/timelines/{rest:path}", api.timeline),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _not_found, Exception: _fault},
    )
    app.state.api = api
    return app
