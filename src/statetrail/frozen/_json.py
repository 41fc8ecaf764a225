"""json_default(): frozen values written by the standard json module as plain JSON."""

from __future__ import annotations

from typing import Any

from statetrail.frozen._dict import FrozenDict
from statetrail.frozen._list import FrozenList
from statetrail.frozen._set import FrozenSet

__all__ = ["json_default"]


def json_default(obj: Any) -> Any:
    """The ``default=`` for :func:`json.dumps` that writes frozen values as plain JSON.

    A :class:`FrozenDict` becomes an object, in its order; a :class:`FrozenList`,
    a :class:`FrozenSet` and a plain ``frozenset`` (which freezing keeps as it is)
    become arrays. Anything else is refused with the
    :class:`TypeError` json raises itself. (For JSON that reads back as exactly
    what went in, sets and datetimes included, use the type-tagged
    ``statetrail.storage.codec.to_json``.)

    >>> import json
    >>> from statetrail import freeze, json_default
    >>> cfg = freeze({"name": "app", "ports": [80, 443], "tags": {"web"}})
    >>> json.dumps(cfg, default=json_default)
    '{"name": "app", "ports": [80, 443], "tags": ["web"]}'

    Raises:
        TypeError: ``obj`` is not a frozen container.
    """
    t = type(obj)
    if t is FrozenDict or isinstance(obj, FrozenDict):
        # One level: json calls back for frozen values inside.
        return dict(obj.items())
    if t is FrozenList or t is FrozenSet or isinstance(obj, (FrozenList, FrozenSet)):
        return list(obj)
    if isinstance(obj, frozenset):  # kept as it is by freeze(), as a set member too
        return list(obj)
    raise TypeError(f"Object of type {t.__name__} is not JSON serializable")
