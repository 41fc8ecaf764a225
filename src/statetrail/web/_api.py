"""The JSON API: ``/api/timelines`` and the routes under one timeline.

A timeline's name may contain ``/`` (a revisioned mapping's timelines are named
``name/key``) and arrives percent-encoded, so the routes under a timeline are
told apart on the raw path, by their known suffix (:func:`split`), never by
the decoded one: ``/api/timelines/a%2Fb/revisions`` is timeline ``a/b``. An
unencoded ``/`` in a name works too, as long as the name does not itself end in
one of the suffixes.

Every answer is JSON; an error is ``{"error": "..."}`` with 400 (a malformed
parameter), 404 (no such timeline, revision or branch), 410 (an erased value
asked for) or 500 (a history that does not verify, or a fault of the server,
whose details go to the log, never to the client).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from statetrail._log import get_logger
from statetrail.errors import CorruptHistoryError, RevisionNotFoundError
from statetrail.live import Following
from statetrail.web import _params as params
from statetrail.web._data import ErasedError, History, NoPathError
from statetrail.web._events import Pump, sse

__all__ = ["API", "JSONResponse", "Target", "error", "split"]

log = get_logger("statetrail.web")

#: The routes under a timeline; ``revisions/N`` is one revision.
_TAIL: Final = re.compile(
    r"(?P<name>.+)/(?:revisions/(?P<number>[^/]+)|(?P<what>revisions|diff|blame|events))"
)
#: The longest timeline name looked up (longer ones are no timeline).
MAX_NAME: Final = 4096
_PREFIX: Final = b"/api/timelines/"


class JSONResponse(Response):
    """A JSON answer, written by orjson, never cached."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200) -> None:
        super().__init__(content, status_code, headers={"cache-control": "no-store"})

    def render(self, content: Any) -> bytes:
        """``content`` as UTF-8 JSON."""
        return orjson.dumps(content)


def error(status: int, message: str) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status)


class Target(NamedTuple):
    """A route under one timeline: the name, what is asked, the number if any."""

    name: str
    what: str
    number: str | None


def split(raw: bytes) -> Target | None:
    """The timeline route of a raw (percent-encoded) request path, or ``None``.

    >>> split(b"/api/timelines/a%2Fb/revisions/3")
    Target(name='a/b', what='revision', number='3')
    >>> split(b"/api/timelines/job/diff")
    Target(name='job', what='diff', number=None)
    >>> split(b"/api/timelines/job/nothing") is None
    True
    """
    _, found, rest = raw.partition(_PREFIX)
    if not found:
        return None
    try:
        path = rest.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _TAIL.fullmatch(path)
    if match is None:
        return None
    try:
        name = urllib.parse.unquote(match["name"], errors="strict")
    except UnicodeDecodeError:
        return None
    number = match["number"]
    if number is not None:
        return Target(name, "revision", urllib.parse.unquote(number))
    return Target(name, match["what"], None)


def _message(exc: Exception) -> str:
    """The text of ``exc`` (a ``KeyError``'s without the quotes ``str`` adds)."""
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


def _query(request: Request) -> Mapping[str, str]:
    return request.query_params


class API:
    """The API's handlers over one :class:`~statetrail.web._data.History`.

    Args:
        history: What the handlers read.
        follower: Makes the follower of a timeline after a revision number for
            the live stream.
        heartbeat: Seconds of silence between heartbeat comments on a stream.
    """

    def __init__(
        self,
        history: History,
        follower: Callable[[str, int], Following],
        *,
        heartbeat: float,
    ) -> None:
        self.history = history
        self.follower = follower
        self.heartbeat = heartbeat
        #: The event streams open now (tests check none outlives its client).
        self.streams: set[Pump] = set()

    async def timelines(self, request: Request) -> Response:
        """``GET /api/timelines``."""
        return await self._answer(self.history.summaries)

    async def timeline(self, request: Request) -> Response:
        """``GET /api/timelines/{name}/...``: the routes under one timeline."""
        raw = request.scope.get("raw_path") or request.url.path.encode()
        target = split(raw)
        if target is None:
            return error(
                404,
                "no such route: the routes under a timeline are "
                "revisions, revisions/N, diff, blame and events",
            )
        if len(target.name) > MAX_NAME:
            return error(
                404, f"there is no timeline named that ({len(target.name)} characters)"
            )
        query = _query(request)
        try:
            if target.what == "events":
                return await self._events(request, target.name, query)
            call = self._call(target, query)
        except params.BadParameter as exc:
            return error(400, str(exc))
        return await self._answer(call)

    def _call(self, target: Target, query: Mapping[str, str]) -> Callable[[], Any]:
        """The read that answers ``target`` (parameters checked first)."""
        history, name = self.history, target.name
        if target.what == "revision":
            assert target.number is not None
            number = params.number(target.number, "revision")
            depth = params.depth(query)
            where = params.text(query, "path")
            if depth is None and where is None:
                return lambda: history.revision(name, number)
            part = "" if where is None else params.pointer(where, "path")
            return lambda: history.part(name, number, path=part, depth=depth)
        if target.what == "revisions":
            filters = params.filters(query)
            before = params.revision_number(query, "before")
            limit = params.limit(query)
            return lambda: history.revisions(name, filters, before=before, limit=limit)
        if target.what == "diff":
            a = params.revision_number(query, "a")
            b = params.revision_number(query, "b")
            if b is None:
                raise params.BadParameter("b: the revision to compare is required")
            return lambda: history.diff(name, a, b)
        path = params.text(query, "path")
        if path is None:
            raise params.BadParameter("path: a JSON Pointer (/a/b) is required")
        pointer = params.pointer(path, "path")
        at = params.revision_number(query, "at")
        branch = params.text(query, "branch")
        return lambda: history.blame(name, pointer, at=at, branch=branch)

    async def _answer(self, call: Callable[[], Any]) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(call))
        except params.BadParameter as exc:
            return error(400, str(exc))
        except RevisionNotFoundError as exc:
            return error(404, _message(exc))
        except NoPathError as exc:
            return error(404, str(exc))
        except ErasedError as exc:
            return error(410, str(exc))
        except CorruptHistoryError as exc:
            log.error("the history does not verify: %s", exc)
            return error(500, f"the history does not verify: {exc}")

    async def _events(
        self, request: Request, name: str, query: Mapping[str, str]
    ) -> Response:
        after = params.revision_number(query, "after")
        last = request.headers.get("last-event-id")
        if last is not None and last.strip():
            after = params.number(last.strip(), "Last-Event-ID")
        try:
            latest = await run_in_threadpool(self.history.latest, name)
        except RevisionNotFoundError as exc:
            return error(404, _message(exc))
        start = latest if after is None else min(after, latest)
        follower = self.follower

        def begin() -> Following:
            return follower(name, start)

        body = sse(
            begin,
            name,
            heartbeat=self.heartbeat,
            on_open=self.streams.add,
            on_close=self.streams.discard,
        )
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )
