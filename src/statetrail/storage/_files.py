"""Writing files so that a crash leaves the old file or the new one, never a torn one.

The recipe (ALICE, OSDI '14; fsync(2)): write a temporary file in the same
directory, fsync it, ``os.replace`` it over the target, then fsync the directory
so the rename itself is durable. Temporary files left by a process that died are
removed the next time the target is read.

Only regular files are read or replaced (issue 9, defect 6): a FIFO would block a
reader for ever, and a device node or socket must not be swapped for a file.
Reading opens with ``O_NONBLOCK`` and checks the descriptor, so nothing blocks
even if the path changes between a check and the open.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Any

from statetrail.errors import StorageError

__all__ = [
    "check_regular",
    "read_regular",
    "remove_stale_temporaries",
    "write_atomic",
]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: str, mode: int) -> StorageError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return StorageError(
        f"{path} is {kind}, not a regular file; statetrail reads and writes "
        "history and state only in regular files: give the path of one"
    )


def check_regular(path: str) -> None:
    """Refuse ``path`` if it exists and is not a regular file.

    Raises :class:`~statetrail.StorageError`; a symbolic link counts as what it
    points to.
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)


def read_regular(path: str, size: int = -1) -> bytes:
    """The content of the regular file ``path`` (its first ``size`` bytes).

    Raises:
        StorageError: ``path`` is not a regular file (a FIFO, a device, a
            directory); it was opened without blocking and is left alone.
        OSError: The file cannot be read (missing, no permission ...).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        return f.read(size)


_TMP_SUFFIX = ".tmp"


def _temporary_name(target: str) -> str:
    directory, name = os.path.split(target)
    token = os.urandom(4).hex()  # secrets.token_hex(4), without importing secrets
    return os.path.join(directory, f".{name}.{os.getpid()}.{token}{_TMP_SUFFIX}")


def remove_stale_temporaries(target: str) -> None:
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

    Raises:
        StorageError: ``target`` exists and is not a regular file (a FIFO, a
            device, a directory): it is left alone.
    """
    target = os.path.realpath(target)
    check_regular(target)
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
