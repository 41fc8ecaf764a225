"""Reaching a PostgreSQL server: the URL, the schema named in it, and one-line errors.

Plumbing for :mod:`statetrail.storage.postgres` and its change feed. psycopg is
imported inside the functions, so this module imports without the driver.

A connection attempt is bounded by libpq's ``connect_timeout`` (whole seconds,
at least 2; :data:`CONNECT_TIMEOUT` unless the URL or the caller sets one). It
bounds each host of the URL, so a server that accepts TCP connections but never
answers fails in that time, not after the pool's retries. The errors it gives are
one line naming ``host:port``: a command line prints them as they are.
"""

from __future__ import annotations

import os
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from statetrail.errors import StorageError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_SCHEMA",
    "Server",
    "checked_schema",
    "schema_from_url",
]

#: Seconds to wait for a server to answer when connecting (libpq's minimum).
CONNECT_TIMEOUT: Final = 2

#: The schema a repository uses when none is named.
DEFAULT_SCHEMA: Final = "statetrail"


def checked_schema(name: object) -> str:
    """``name`` if PostgreSQL can hold it as a schema name, unchanged.

    Quoted, a schema name may hold any character but U+0000; statetrail also
    refuses control characters (a newline in a name would split every message
    naming it) and the ``pg_`` prefix, which PostgreSQL reserves for itself.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: It is empty, longer than 63 bytes (PostgreSQL would cut it
            silently), holds a control character or starts with ``pg_``.
    """
    if not isinstance(name, str):
        raise TypeError(f"a schema name is a string, not {type(name).__name__}")
    if not name or len(name.encode("utf-8", "surrogatepass")) > 63:
        raise ValueError(
            "a schema name is 1 to 63 bytes (PostgreSQL cuts longer names), "
            f"not {name!r}"
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise ValueError(
            f"a schema name holds no control character or lone surrogate: {name!r}"
        )
    if name.startswith("pg_"):
        raise ValueError(
            f"schema names starting with 'pg_' are reserved by PostgreSQL: {name!r}"
        )
    return name


def schema_from_url(url: str, schema: str | None) -> tuple[str, str]:
    """The URL without its ``?schema=`` parameter, and the schema to use.

    ``schema`` (the keyword) and ``?schema=`` (even given twice) may name the
    same schema; naming two is an error. With neither, the schema is
    :data:`DEFAULT_SCHEMA`.

    Raises:
        ValueError: Two different schemas, or a bad schema name (see
            :func:`checked_schema`).
    """
    named: list[str] = []
    base, _, rest = url.partition("?")
    query, hash_sign, fragment = rest.partition("#")
    if "://" in base and query:
        # Rebuilt by hand: urlunsplit would drop the empty host of
        # "postgresql:///db?host=/run/postgresql".
        kept = []
        for item in query.split("&"):
            key, _, value = item.partition("=")
            if urllib.parse.unquote(key) == "schema":
                named.append(urllib.parse.unquote(value, errors="strict"))
            else:
                kept.append(item)
        if named:
            url = base + ("?" + "&".join(kept) if kept else "") + hash_sign + fragment
    names = list(dict.fromkeys([*named, *([] if schema is None else [schema])]))
    if len(names) > 1:
        raise ValueError(
            f"two schemas are named, {names[0]!r} and {names[1]!r} (?schema= in "
            "the URL, schema= or --schema); name one"
        )
    chosen = named[0] if named else DEFAULT_SCHEMA if schema is None else schema
    return url, checked_schema(chosen)


@dataclass(frozen=True)
class Server:
    """Where a URL leads, and how to connect there within a bounded time."""

    url: str
    #: ``host:port`` (each host of a multi-host URL), for messages.
    place: str
    #: The database's name, for messages.
    database: str
    #: Keyword arguments for ``psycopg.connect`` beside the URL.
    options: dict[str, Any]

    @classmethod
    def of(cls, url: str, connect_timeout: float | None = None) -> Server:
        """Parse ``url``; ``connect_timeout`` wins over the URL's, if given.

        Raises:
            ValueError: libpq cannot read the URL, or the timeout is below 1.
        """
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(url)
        except ProgrammingError as exc:
            reason = str(exc).strip().splitlines()[0]
            raise ValueError(f"not a PostgreSQL URL libpq can read: {reason}") from None
        options: dict[str, Any] = {}
        if connect_timeout is not None:
            if connect_timeout < 1:
                raise ValueError(f"connect_timeout is >= 1 s, not {connect_timeout!r}")
            options["connect_timeout"] = max(2, round(connect_timeout))
        elif "connect_timeout" not in params and not os.environ.get(
            "PGCONNECT_TIMEOUT"
        ):
            options["connect_timeout"] = CONNECT_TIMEOUT
        hosts = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
        default_port = os.environ.get("PGPORT") or "5432"
        host_list = hosts.split(",")
        # An empty port in a list ("a,b:7" gives ",7") is the default one.
        port_list = [p or default_port for p in str(params.get("port", "")).split(",")]
        if len(port_list) != len(host_list):  # one port for every host
            port_list = port_list[:1] * len(host_list)
        place = ", ".join(
            f"[{h}]:{p}" if ":" in h else f"{h}:{p}"  # an IPv6 address
            for h, p in zip(host_list, port_list, strict=True)
        )
        database = str(
            params.get("dbname")
            or os.environ.get("PGDATABASE")
            or params.get("user")
            or os.environ.get("PGUSER")
            or "postgres"
        )
        return cls(url, place, database, options)

    @property
    def timeout(self) -> float | None:
        """The connect timeout set here, in seconds (``None``: the URL's)."""
        value = self.options.get("connect_timeout")
        return None if value is None else float(value)

    def describe(self) -> str:
        """``PostgreSQL database 'app' at host:port``, for messages."""
        return f"PostgreSQL database {self.database!r} at {self.place}"

    def connect(self, **options: Any) -> psycopg.Connection[Any]:
        """An autocommit connection, or a one-line :class:`StorageError`.

        Raises:
            StorageError: The server cannot be reached, did not answer within
                the connect timeout, or refused the connection; the driver's
                error is ``__cause__``.
        """
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, **self.options, **options)
        except psycopg.Error as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, exc: Exception) -> StorageError:
        """The one-line error for a failed connection attempt."""
        from psycopg import errors

        if isinstance(exc, errors.ConnectionTimeout):
            limit = self.timeout
            within = f"within {limit:g} s" if limit else "within connect_timeout"
            return StorageError(
                f"PostgreSQL at {self.place} did not answer {within}; is it a "
                "PostgreSQL server, and reachable?"
            )
        reason = _reason(exc)
        return StorageError(f"cannot connect to PostgreSQL at {self.place}: {reason}")


def _reason(exc: Exception) -> str:
    """The driver's reason, on one line, without its repeated preamble."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # "Multiple connection attempts failed. All failures were: - host: ...": the
    # last attempt's reason.
    reason = lines[-1] if lines[0].startswith("Multiple") else lines[0]
    reason = reason.rsplit(" failed: ", 1)[-1]
    for prefix in ("FATAL:", "ERROR:", "- "):
        reason = reason.removeprefix(prefix).strip()
    return reason
