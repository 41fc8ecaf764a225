"""``statetrail serve``: look at a history in the browser.

Opens the history read-only (nothing is created or written), binds the address
(loopback by default: any other needs ``--token``), prints the URL to open, and
serves until interrupted. The page, its API and the live stream are
:func:`statetrail.web.create_app`'s; uvicorn runs them.
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import socket

__all__ = ["add_parser", "check_address", "run", "url_of"]

#: A token is typed into URLs and cookies: letters, digits and ``._~-`` only.
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,256}")


def add_parser(commands: Any) -> None:
    """Add ``serve`` to the ``statetrail`` command's subparsers."""
    p = commands.add_parser(
        "serve", help="look at a history in the browser (needs statetrail[web])"
    )
    p.add_argument("target", metavar="FILE_OR_URL")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to bind (default 127.0.0.1; any other needs --token)",
    )
    p.add_argument(
        "--port", type=int, default=8765, help="default 8765; 0 picks a free one"
    )
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument(
        "--token",
        help="every request must carry it (?token= or the cookie the page sets); "
        "letters, digits and ._~- only",
    )
    p.add_argument(
        "--follow",
        metavar="REDIS_URL",
        help="take live revisions from this Redis stream (as published with "
        "statetrail.open(..., publish=URL)) instead of the history itself",
    )


def check_address(host: str, token: str | None) -> None:
    """Refuse a non-loopback ``host`` without a ``token``, and a malformed token.

    Needs the web extra.

    Raises:
        ValueError: Either.
    """
    if token is not None and not _TOKEN.fullmatch(token):
        raise ValueError(
            "--token may hold letters, digits and ._~- only (at most 256 of them)"
        )
    from statetrail.web._app import is_loopback

    if token is None and not is_loopback(host.strip("[]")):
        raise ValueError(
            f"--host {host} is reachable from other machines: give --token T too, "
            "so that only those who know it can read the history"
        )


def url_of(host: str, port: int, token: str | None) -> str:
    """The URL to open in a browser."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    query = "" if token is None else "?token=" + urllib.parse.quote(token)
    return f"http://{host}:{port}/{query}"


def _bind(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it (Linux): an answer's head and body go out
    # at once, not 40 ms apart behind a delayed ACK on a kept-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace, out: TextIO) -> None:
    """Serve ``args.target`` until interrupted."""
    try:
        import uvicorn

        from statetrail.web import create_app
    except ImportError as exc:
        raise ValueError(
            "statetrail serve needs the web extra: pip install 'statetrail[web]'"
        ) from exc
    check_address(args.host, args.token)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port is 0 to 65535, not {args.port}")
    from statetrail.cli.inspect import opened

    with opened(args.target) as repo:
        repo.timelines()  # a history that cannot be read fails here, not later
        app = create_app(repo, token=args.token, follow_from=args.follow)
        sock = _bind(args.host, args.port)
        try:
            port = sock.getsockname()[1]
            url = url_of(args.host, port, args.token)
            out.write(f"statetrail serve: {args.target} at {url}\n")
            out.flush()
            if args.open:
                import webbrowser

                webbrowser.open(url)
            config = uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off"
            )
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
