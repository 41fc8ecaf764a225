"""The store's JSON file: read it forgivingly, write it atomically.

Writing follows the recipe that survives a crash at any point: a temporary file in
the same directory, written and fsynced, renamed over the target with
:func:`os.replace` (atomic on POSIX), then the directory fsynced so the rename
itself is durable. A reader therefore finds the old file or the new one, never a
mix.

Reading never raises for a missing or malformed file: the caller starts from a
default and a warning is logged. A malformed file is first copied aside (to
``<name>.corrupt``, or ``<name>.corrupt.1`` and so on), so the save that follows
cannot destroy what it held.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
from typing import Any

__all__ = ["dump_state", "read_state", "write_atomic"]

logger = logging.getLogger("statetrail.store")

_TMP_SUFFIX = ".tmp"


def dump_state(state: dict[str, Any]) -> bytes:
    """The state as the bytes of a JSON document.

    Values JSON has no type for are written as their ``str()``, as the seed does;
    NaN and infinities are refused with :class:`ValueError`, since they are not JSON.
    """
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
    """
    _remove_stale_temporaries(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        logger.warning("state file %s not found: starting from the default", path)
        return None
    try:
        state = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicates)
        if not isinstance(state, dict):
            raise ValueError(
                f"the top level is a {type(state).__name__}, not an object"
            )
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


def _temporary_name(target: str) -> str:
    directory, name = os.path.split(target)
    token = secrets.token_hex(4)
    return os.path.join(directory, f".{name}.{os.getpid()}.{token}{_TMP_SUFFIX}")


def _remove_stale_temporaries(target: str) -> None:
    """Remove temporary files of ``target`` left by processes that have died."""
    directory, name = os.path.split(os.path.abspath(target))
    prefix = f".{name}."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(_TMP_SUFFIX)):
            continue
        pid_text = entry[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours to signal
        return True
    return True


def write_atomic(target: str, data: bytes, *, _os: Any = os) -> None:
    """Replace ``target`` with ``data`` so a crash leaves the old file or the new one.

    A symbolic link is followed, so the file it points to is replaced. ``_os`` is
    the test seam through which every file operation goes.
    """
    target = os.path.realpath(target)
    directory = os.path.dirname(target)
    tmp = _temporary_name(target)
    fd = _os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[_os.write(fd, view) :]
            _os.fsync(fd)
        finally:
            _os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            _os.chmod(tmp, stat.S_IMODE(_os.stat(target).st_mode))
        _os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            _os.unlink(tmp)
        raise
    _fsync_directory(directory, _os)


def _fsync_directory(directory: str, _os: Any) -> None:
    try:
        fd = _os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open a directory
        return
    try:
        _os.fsync(fd)
    finally:
        _os.close(fd)
