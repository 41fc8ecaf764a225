"""``statetrail serve``: a history in the browser, and its JSON API.

:func:`create_app` makes the ASGI application (Starlette) over an open,
read-only repository: the timeline page (``web/static/``), the JSON API of
docs/web.md and the live stream of new revisions (server-sent events).
``statetrail serve FILE_OR_URL`` runs it with uvicorn. Needs the extra:
``pip install 'statetrail[web]'``.
"""

try:
    from statetrail.web._app import create_app
except ImportError as exc:  # pragma: no cover - the extra is not installed
    if exc.name not in ("starlette", "uvicorn", "anyio"):
        raise
    raise ImportError(
        "statetrail.web needs the web extra: pip install 'statetrail[web]'"
    ) from exc

__all__ = ["create_app"]
