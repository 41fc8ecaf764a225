"""Who may write one SQLite file: a batched writer alone, or any others together.

Batched mode queues a revision and returns before it is stored; the revisions
queued after it are its children, their parents and chain hashes worked out in
memory. If another writer took one of the queued numbers, everything queued after
it would describe a history the file does not hold (issue 9, defect 1: two
batched processes left a file whose hash chain broke at the first refused row).
So a batched backend is the only writer of its file while it is open:

- it takes an exclusive lock on ``<database>-lock`` when it opens, and refuses to
  open when another backend (in this process or another) writes the file;
- any other backend takes a shared lock before its first write, and keeps it
  until it closes; its write is refused while a batched backend holds the file.
  Backends that only read take no lock.

The lock is :func:`fcntl.flock` on a file beside the database, never on the
database itself: closing any descriptor of the database would drop the POSIX
locks SQLite holds on it (https://www.sqlite.org/howtocorrupt.html, section 2.2).
A flock belongs to an open file description: two backends in one process exclude
each other as two processes do, and the kernel releases the lock when the
process dies, however it dies. A forked child closes its copies of its parent's
descriptors at once (without unlocking, which would unlock the parent's too), and
the owner unlocks before it closes (a child forked below Python, or not yet
through its fork hook, still shares the locked description), so a child that
lives on never keeps its parent's lock alive; it takes its own lock when it
writes. The lock file stays in place (deleting it would race with a
process about to lock it); a batched writer leaves its process id in it, for the
message another writer gets.

On a system without flock (Windows) no lock is taken: keeping a batched backend
the only writer of its file is then up to the application.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import weakref
from collections.abc import Callable
from typing import Literal

from statetrail.errors import StorageError

__all__ = ["WriterLock"]

Mode = Literal["exclusive", "shared"]

_BUSY_ERRNOS = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)

_system_flock: Callable[[int, int], None] | None
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, no lock taken
    _system_flock = None
    _EXCLUSIVE = _SHARED = _UNLOCK = 0
else:
    _system_flock = fcntl.flock
    _EXCLUSIVE = fcntl.LOCK_EX | fcntl.LOCK_NB
    _SHARED = fcntl.LOCK_SH | fcntl.LOCK_NB
    _UNLOCK = fcntl.LOCK_UN

# The locks holding a descriptor, for the fork hook below.
_held: weakref.WeakSet[WriterLock] = weakref.WeakSet()


class WriterLock:
    """The writers' lock of one database file, as one backend holds it.

    Args:
        database: The database file (absolute); the lock is ``database + "-lock"``.
        _flock: The seam through which tests replace :func:`fcntl.flock`;
            ``None`` where the system has none (then no lock is taken).
    """

    def __init__(
        self,
        database: str,
        *,
        _flock: Callable[[int, int], None] | None = _system_flock,
    ) -> None:
        self.database = database
        self.path = database + "-lock"
        self._flock = _flock
        self._mutex = threading.Lock()
        self._fd = -1
        self._pid = 0
        self.mode: Mode | None = None

    def exclusive(self) -> None:
        """Become the only writer of the file (a batched backend, at open).

        Raises:
            StorageError: Another backend writes the file; it names the batched
                writer's process when there is one.
        """
        self._take("exclusive")

    def shared(self) -> None:
        """Write beside other non-batched writers (before a first write).

        Raises:
            StorageError: A batched backend holds the file.
        """
        self._take("shared")

    def _take(self, mode: Mode) -> None:
        if self._flock is None:
            return  # no flock on this system: see the module docstring
        with self._mutex:
            if self._fd >= 0:
                if self._pid == os.getpid():
                    return  # held by this backend in this process already
                self._forget()  # inherited through a fork made below Python
            fd = self._open()
            try:
                self._flock(fd, _EXCLUSIVE if mode == "exclusive" else _SHARED)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in _BUSY_ERRNOS:
                    raise StorageError(
                        f"cannot lock {self.path}: {exc.strerror}"
                    ) from exc
                raise self._refusal(mode) from exc
            if mode == "exclusive":
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._fd, self._pid, self.mode = fd, os.getpid(), mode
            _held.add(self)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise StorageError(
                f"cannot open {self.path}, the writers' lock of {self.database}: "
                f"{exc.strerror}"
            ) from exc

    def _refusal(self, mode: Mode) -> StorageError:
        holder = self._batched_holder()
        if mode == "shared":
            return StorageError(
                f"{self.database} is held by a batched writer ({holder}): with "
                "durability='batched' a backend is the only writer of its file "
                "until it closes; write after it closes, or open every writer "
                "with durability 'full' or 'normal'"
            )
        return StorageError(
            f"{self.database} is already being written "
            f"({holder or 'by a backend that is not batched'}): "
            "durability='batched' needs to be the only writer of its file, "
            "because its queued writes assume nobody else appends; close the other "
            "writer first, or open this one with durability 'full' or 'normal'"
        )

    def _batched_holder(self) -> str:
        """Which process the lock file names as its batched writer, if any."""
        try:
            with open(self.path, "rb") as f:
                text = f.read(32).decode("ascii", "replace").strip()
        except OSError:
            return ""
        if not text.isdigit():
            return ""
        pid = int(text)
        return f"process {pid}{' (this one)' if pid == os.getpid() else ''}"

    def release(self) -> None:
        """Give the lock up (at close); a batched writer clears its process id."""
        with self._mutex:
            if self._pid != os.getpid():
                self._forget()
                return
            fd, self._fd = self._fd, -1
            if fd < 0:
                return
            if self.mode == "exclusive":
                # The id is only for messages; the lock goes with the descriptor.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            if self._flock is not None:
                # Unlock before closing: a child may still hold a copy of the
                # descriptor (forked below Python, or not yet through its fork
                # hook), and the lock lives as long as any copy does.
                with contextlib.suppress(OSError):
                    self._flock(fd, _UNLOCK)
            os.close(fd)
            self.mode = None
            _held.discard(self)

    def after_fork(self) -> None:
        """In a forked child: a fresh mutex, and the parent's descriptor closed."""
        self._mutex = threading.Lock()  # another thread may have held it
        self._forget()

    def _forget(self) -> None:
        """In a forked child: close the parent's descriptor, leaving its lock."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = -1
        self.mode = None


def _after_fork_in_child() -> None:
    for lock in list(_held):
        lock.after_fork()
    _held.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
