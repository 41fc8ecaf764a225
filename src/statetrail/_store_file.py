"""The store's JSON file: read it forgivingly, write it atomically.

Writing follows the recipe that survives a crash at any point: a temporary file in
the same directory, written and fsynced, renamed over the target with
:func:`os.replace` (atomic on POSIX), then the directory fsynced so the rename
itself is durable. A reader therefore finds the old file or the new one, never a
mix.

The file is plain JSON, the state and nothing else (issue 10, defect 2). A file
written by an earlier statetrail may hold its history under ``"$statetrail"``:
recognised only by that block's format marker, it is dropped with a warning and
the state loads; a user's own ``"$statetrail"`` key stays state.

Reading never raises for a missing or malformed file: the caller starts from a
default and a warning is logged. A path that is not a regular file (a FIFO, a
device) is refused at once with :class:`~statetrail.StorageError`, for reading
and for writing. A malformed file is first copied aside (to
``<name>.corrupt``, or ``<name>.corrupt.1`` and so on), so the save that follows
cannot destroy what it held.
"""

from __future__ import annotations

import os
from typing import Any

from statetrail._log import get_logger
from statetrail.frozen._freeze import check_nesting
from statetrail.storage._files import (
    read_regular,
    remove_stale_temporaries,
    write_atomic,
)

__all__ = ["HISTORY_KEY", "dump_state", "read_state", "write_atomic"]

logger = get_logger("statetrail.store")


def dump_state(state: dict[str, Any]) -> bytes:
    """The state as the bytes of a JSON document.

    Values JSON has no type for are written as their ``str()``, as the seed does;
    NaN and infinities are refused with :class:`ValueError`, since they are not JSON.
    """
    import json  # here: a Store that is never saved or loaded does not need it

    try:
        text = json.dumps(state, indent=2, default=str, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"cannot save the state as JSON: {exc}") from None
    return text.encode("utf-8")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of repeated keys without a word; refuse instead.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} repeated in one object")
        out[key] = value
    return out


def read_state(path: str) -> dict[str, Any] | None:
    """The JSON object in ``path``, or ``None`` if it is missing or malformed.

    Malformed means not UTF-8, not JSON, not an object at the top, a key repeated
    within one object, or too deeply nested to parse. Each case logs a warning; a
    malformed file is copied aside first. Temporary files that an interrupted save
    left next to ``path`` are removed.

    Raises:
        StorageError: ``path`` is not a regular file (a FIFO, a device, a
            directory): refused at once, never waited on.
        OSError: ``path`` cannot be read (no permission).
    """
    import json

    remove_stale_temporaries(path)
    try:
        data = read_regular(path)
    except FileNotFoundError:
        logger.warning("state file %s not found: starting from the default", path)
        return None
    try:
        state = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
        if not isinstance(state, dict):
            raise ValueError(
                f"the top level is a {type(state).__name__}, not an object"
            )
        check_nesting(state)  # NestingError, a ValueError: deeper than a state may be
    except (ValueError, RecursionError) as exc:
        aside = _keep_aside(path, data)
        logger.warning(
            "malformed JSON in state file %s (%s): starting from the default; "
            "its content is kept in %s",
            path,
            exc,
            aside,
        )
        return None
    return _without_history(state, path)


#: The key under which statetrail 0.x's ``save()`` wrote the history into the file.
HISTORY_KEY = "$statetrail"


def _without_history(state: dict[str, Any], path: str) -> dict[str, Any]:
    """``state`` without the history block an earlier ``save()`` put in it.

    Only a block with the history format's own marker is taken out (with a
    warning); any other ``"$statetrail"`` key is the user's and stays state.
    """
    block = state.get(HISTORY_KEY)
    if not isinstance(block, dict):
        return state
    # Imported here, for this rare old file: the backend is no part of a Store.
    from statetrail.storage.jsonfile import FORMAT as HISTORY_FORMAT

    if block.get("format") == HISTORY_FORMAT:
        del state[HISTORY_KEY]
        logger.warning(
            "state file %s holds a history block under %r, written by an earlier "
            "statetrail: only its state is loaded, and the next save() writes plain "
            "JSON; to keep history across restarts use statetrail.open()",
            path,
            HISTORY_KEY,
        )
    return state


def _keep_aside(path: str, data: bytes) -> str:
    """Copy ``data`` to the first free ``<path>.corrupt[.n]`` and return its name."""
    n = 0
    while True:
        aside = f"{path}.corrupt" + (f".{n}" if n else "")
        try:
            with open(aside, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except FileExistsError:
            with open(aside, "rb") as f:
                if f.read() == data:
                    return aside  # kept already, by an earlier load
            n += 1
            continue
        return aside
