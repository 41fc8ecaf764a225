"""Watched variables: Var, Registry, Namespace and watch().

A :class:`Var` is a named value with a :class:`~statetrail.Timeline` behind it: every
``set`` is a revision with its time, author, comment, label and line of code, and
any earlier value can be read, compared, rolled back to or branched from.

>>> import statetrail
>>> score = statetrail.watch("score", 0)
>>> score.set(10).set(20).set(30).get()
30
>>> score.rollback(1).get()
10
>>> [r.value for r in score.history()]
[0, 10, 20, 30, 10]
>>> score.last_change().kind
'rollback'

This module also holds the process-wide default :class:`Registry` that
:func:`watch` uses; :func:`reset_registry` gives tests a clean one.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from statetrail._intercept import Interceptor, interceptors_of
from statetrail._merge import Resolver
from statetrail._origin import Info
from statetrail.errors import RevisionNotFoundError, RollbackError
from statetrail.paths import PathLike
from statetrail.revision import PLAIN, Change, Revision, RevisionKind, _short
from statetrail.timeline import Retention, Timeline, Validator

if TYPE_CHECKING:
    import asyncio

__all__ = ["Namespace", "Registry", "Var", "get_registry", "reset_registry", "watch"]

T = TypeVar("T")
R = TypeVar("R")

VarListener = Callable[["Var[Any]", Revision], object]


class Var(Generic[T]):
    """A watched variable: a value that records every change made to it.

    Args:
        name: The variable's name.
        initial_value: Its first value (revision 0, labelled ``"initial"``).
        deep_copy: Freeze every stored value (default). With ``False`` values are
            kept by reference, for objects that cannot be copied; the caller must
            then not change them.
        validators: Callables given each new value before it is recorded; raising
            (``ValueError`` by convention) rejects it and leaves no trace.
        on_change: Listeners called ``fn(var, revision)`` after every change.
        interceptors: Callables that transform each value before it is validated
            and stored (middleware: normalising, redacting, converting). They
            run on every write, ``set_in``, ``update`` and ``edit`` too, and get
            the value frozen.
        schema: A type (a pydantic model, a dataclass, ``list[int]`` ...) every
            value is validated and converted against, with pydantic, on every
            write (it runs before the other interceptors).
        origin: Record the caller's line of code (``None`` follows the default).
        retention: Keep only some revisions (see :class:`~statetrail.Retention`).
    """

    def __init__(
        self,
        name: str,
        initial_value: T,
        *,
        deep_copy: bool = True,
        validators: Iterable[Validator] | None = None,
        on_change: Iterable[VarListener] | None = None,
        interceptors: Iterable[Interceptor] | None = None,
        schema: Any = None,
        origin: bool | None = None,
        retention: Retention | None = None,
        _timeline: Timeline[T] | None = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"a Var name is a string, not {type(name).__name__}")
        self._name = name
        fns = interceptors_of(interceptors, schema)
        self._listeners: dict[VarListener, Callable[[], None]] = {}
        self._async_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        if _timeline is None:
            _timeline = Timeline(
                initial_value,
                name=name,
                deep_copy=deep_copy,
                origin=origin,
                validators=validators or (),
                interceptors=fns,
                retention=retention,
                label="initial",
            )
        else:
            # A timeline kept elsewhere (a repository's): the variable works on it.
            for intercept in fns:
                _timeline.add_interceptor(intercept)
            for validate in validators or ():
                _timeline.add_validator(validate)
        self._timeline: Timeline[T] = _timeline
        for fn in on_change or ():
            self.add_listener(fn)

    # -- reading -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The name this variable was created with."""
        return self._name

    @property
    def timeline(self) -> Timeline[T]:
        """The engine underneath, for everything a Var does not wrap."""
        return self._timeline

    @property
    def value(self) -> T:
        """The current value (the same as :meth:`get`)."""
        return self._timeline.value

    def get(self) -> T:
        """The current value. Dicts, lists and sets come back frozen."""
        return self._timeline.value

    def history(self) -> list[Revision]:
        """Every revision that led to the current value, oldest first.

        Each has the fields of the first seed's ``ChangeRecord`` (``index``,
        ``value``, ``timestamp``, ``label``) and the engine's metadata.
        """
        return self._timeline.history()

    def last_change(self) -> Revision:
        """The revision of the current value (revision 0 before any ``set``)."""
        return self._timeline.head

    def at(self, index: int | None = None, *, time: datetime | None = None) -> T:
        """The value recorded at revision ``index``, or as it was at ``time``.

        With ``time``, the revision recorded last at or before it (see
        :meth:`Timeline.number_at <statetrail.Timeline.number_at>`).
        """
        return self._timeline.value_at(index, time=time)  # type: ignore[no-any-return]

    def log(self, **filters: Any) -> list[Revision]:
        """Filtered revisions; see :meth:`Timeline.log <statetrail.Timeline.log>`."""
        return self._timeline.log(**filters)

    def blame(self, path: PathLike = ()) -> Revision | None:
        """The newest revision that changed ``path`` (the whole value by default)."""
        return self._timeline.blame(path)

    def path_history(self, path: PathLike) -> list[Revision]:
        """The revisions that changed ``path``, oldest first."""
        return self._timeline.path_history(path)

    def branches(self) -> dict[str, int]:
        """Each branch name and its newest revision number."""
        return self._timeline.branches()

    @property
    def is_frozen(self) -> bool:
        """Whether writes are refused."""
        return self._timeline.frozen

    @overload
    def diff(self) -> list[dict[str, Any]]: ...
    @overload
    def diff(self, a: int, b: int | None = None) -> list[Change]: ...

    def diff(self, a: int | None = None, b: int | None = None) -> Any:
        """Differences between revisions.

        With no arguments, the first seed's diffs between consecutive revisions
        (dicts of ``from_index``, ``to_index``, ``from_value``, ``to_value`` and
        ``elapsed_ms``). With revision numbers, the structural changes from ``a``
        to ``b`` (default: the current revision).
        """
        if a is not None:
            return self._timeline.diff(a, b)
        records = self._timeline.history()
        return [
            {
                "from_index": prev.index,
                "to_index": curr.index,
                "from_value": prev.value,
                "to_value": curr.value,
                "elapsed_ms": round((curr.time_ns - prev.time_ns) / 1e6, 3),
            }
            for prev, curr in itertools.pairwise(records)
        ]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this variable's whole history to a JSON file, atomically.

        Every revision goes in, with its metadata, origin and branches, and a hash
        chain that :meth:`load` checks. After a crash the file holds the previous
        save or this one, never a torn mix.
        """
        from statetrail.storage.jsonfile import save_history

        save_history(path, self._name, self._timeline)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], name: str | None = None, **options: Any
    ) -> Var[Any]:
        """A variable with the history saved in ``path`` by :meth:`save`.

        A file holding a plain JSON value instead (the first seed's state files)
        gives a new variable starting from that value. A damaged history raises
        :class:`~statetrail.CorruptHistoryError`; a pickle is never read; a path
        that is not a regular file (a FIFO, a device) raises
        :class:`~statetrail.StorageError` at once.
        """
        from statetrail.storage import codec
        from statetrail.storage._files import read_regular
        from statetrail.storage.jsonfile import FORMAT, timeline_from_tree

        where = os.fspath(path)
        data = codec.parse(read_regular(where))  # a FIFO: StorageError, no wait
        default = os.path.splitext(os.path.basename(where))[0]
        if isinstance(data, dict) and data.get("format") == FORMAT:
            saved, timeline = timeline_from_tree(data, where, name)
            return cls(name or saved, timeline.value, _timeline=timeline, **options)
        return cls(name or default, codec.from_json(data), **options)

    def replay(self, fn: Callable[[T], R]) -> list[R]:
        """Call ``fn`` with each value of :meth:`history` in order; return the results.

        For deterministic tests: feed a recorded history to the code under test.
        """
        return [fn(rev.value) for rev in self._timeline.history()]

    # -- writing -------------------------------------------------------------------

    def set(
        self,
        value: T,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Var[T]:
        """Record a new value; returns the Var, so calls chain: ``v.set(1).set(2)``.

        Raises :class:`~statetrail.FrozenError` when frozen, and whatever a
        validator raises when it rejects the value.
        """
        # The timeline's write core runs the interceptors and validators.
        # Through the attribute each time: a method of the class specializes,
        # a bound method kept on the instance does not (3.11).
        info: Info
        if label is None and author is None and comment is None:
            info = PLAIN
        else:
            info = (RevisionKind.SET, None, label, author, comment, None)
        self._timeline._commit(value, info=info, depth=2)  # noqa: SLF001 - the commit seam
        return self

    async def set_async(
        self,
        value: T,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Var[T]:
        """:meth:`set` for asyncio code.

        Writers on one event loop take turns on an ``asyncio.Lock``, and async
        interceptors (coroutine functions) are awaited.
        """
        import asyncio  # here, not at the top: import statetrail stays light

        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            lock = self._async_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            for fn in self._timeline.interceptors:
                value = fn(value)
                if asyncio.iscoroutine(value):
                    value = await value
            info: Info
            if label is None and author is None and comment is None:
                info = PLAIN
            else:
                info = (RevisionKind.SET, None, label, author, comment, None)
            # Interceptors run (and awaited) here: the write core must not again.
            self._timeline._commit(  # noqa: SLF001 - the commit seam
                value, info=info, depth=2, intercepted=True
            )
        return self

    def set_in(
        self,
        path: PathLike,
        value: Any,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Var[T]:
        """Record a new value that differs at ``path`` only.

        Only that path is copied, so changing a leaf of a large state costs
        O(depth).
        """
        self._timeline.set_in(
            path, value, label=label, author=author, comment=comment, _depth=2
        )
        return self

    def delete_in(
        self,
        path: PathLike,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Var[T]:
        """Record a new value without the key or item at ``path``."""
        self._timeline.delete_in(
            path, label=label, author=author, comment=comment, _depth=2
        )
        return self

    def update(
        self,
        fn: Callable[[T], T],
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Var[T]:
        """Atomically record ``fn(current value)``.

        Concurrent ``update`` calls never lose one another's changes (a get
        followed by a set can).
        """
        self._timeline.update(fn, label=label, author=author, comment=comment, _depth=2)
        return self

    def edit(
        self,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> AbstractContextManager[Any]:
        """A block in which the value is a mutable draft.

        It is recorded as one revision on exit (nothing on an exception).
        """
        return self._timeline.edit(label=label, author=author, comment=comment)

    def rollback(
        self,
        index: int,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> Var[T]:
        """Record a new revision equal to revision ``index``; nothing is removed.

        Raises :class:`~statetrail.RollbackError` when there is no such revision.
        """
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a revision index is an int, not {type(index).__name__}")
        if index < 0:
            raise RollbackError(
                f"rollback index {index} is negative for variable {self._name!r}"
            )
        try:
            self._timeline.rollback(
                index,
                label=label or f"rollback to index {index}",
                author=author,
                comment=comment,
                _depth=2,
            )
        except RollbackError:
            raise
        except RevisionNotFoundError as exc:
            raise RollbackError(f"{exc} (variable {self._name!r})") from None
        return self

    def reset(self) -> Var[T]:
        """Roll back to the initial value (the oldest held revision)."""
        oldest = self._timeline.history()[0].index
        return self.rollback(oldest, label="reset to initial")

    def revert(self, index: int, **meta: str | None) -> Var[T]:
        """Undo only revision ``index``'s changes.

        See :meth:`Timeline.revert <statetrail.Timeline.revert>`.
        """
        self._timeline.revert(index, **meta, _depth=2)
        return self

    def undo(self) -> Var[T]:
        """Undo the latest change (recorded as a revision)."""
        self._timeline.undo(_depth=2)
        return self

    def redo(self) -> Var[T]:
        """Redo the latest undone change (recorded as a revision)."""
        self._timeline.redo(_depth=2)
        return self

    def checkout(self, target: int | str) -> Var[T]:
        """Move to a revision or branch; the next set starts a branch if needed."""
        self._timeline.checkout(target)
        return self

    def branch(self, name: str, at: int | None = None) -> Var[T]:
        """Create branch ``name`` at revision ``at`` (default: current) and switch."""
        self._timeline.branch(name, at)
        return self

    def switch(self, name: str) -> Var[T]:
        """Switch to the newest revision of branch ``name``."""
        self._timeline.switch(name)
        return self

    def merge(
        self,
        branch: str,
        *,
        resolve: str | Resolver | None = None,
        author: str | None = None,
        comment: str | None = None,
        label: str | None = None,
    ) -> Revision:
        """Merge the newest revision of ``branch`` into the current branch.

        One new revision of kind ``"merge"`` with two parents; ``branch`` is
        left as it was, and validators see the merged value first. Conflicting
        changes raise :class:`~statetrail.MergeConflictError` (nothing is
        recorded) unless ``resolve`` is ``"ours"``, ``"theirs"`` or a callable
        given each conflict. See :meth:`Timeline.merge
        <statetrail.Timeline.merge>` and docs/merge.md.

        >>> import statetrail
        >>> tags = statetrail.watch("tags", ["a", "b"])
        >>> _ = tags.branch("more").set(["a", "b", "c"])
        >>> _ = tags.switch("main").set(["z", "a", "b"])
        >>> tags.merge("more").parents, tags.get()
        ((2, 1), FrozenList(['z', 'a', 'b', 'c']))
        """
        return self._timeline.merge(
            branch,
            resolve=resolve,
            author=author,
            comment=comment,
            label=label,
            _depth=2,
        )

    def trim(self, **options: Any) -> Var[T]:
        """Remove old revisions now; a tombstone records it.

        See :meth:`Timeline.trim <statetrail.Timeline.trim>`.
        """
        self._timeline.trim(**options)
        return self

    def freeze(self) -> Var[T]:
        """Refuse every change with :class:`~statetrail.FrozenError` until thawed."""
        self._timeline.freeze()
        return self

    def thaw(self) -> Var[T]:
        """Accept changes again."""
        self._timeline.thaw()
        return self

    # -- observation ---------------------------------------------------------------

    def add_validator(self, fn: Validator) -> Var[T]:
        """Check each new value with ``fn`` before it is recorded (raise to reject)."""
        self._timeline.add_validator(fn)
        return self

    def add_interceptor(self, fn: Interceptor) -> Var[T]:
        """Transform each new value with ``fn`` before it is validated and stored."""
        self._timeline.add_interceptor(fn)
        return self

    def add_listener(self, fn: VarListener) -> Var[T]:
        """Call ``fn(var, revision)`` after every change, in commit order.

        A listener that raises is logged and does not disturb the others.
        """
        if not callable(fn):
            raise TypeError(f"a listener must be callable, not {fn!r}")

        def deliver(rev: Revision) -> None:
            fn(self, rev)

        deliver.__qualname__ = getattr(fn, "__qualname__", repr(fn))
        self._listeners[fn] = self._timeline.add_listener(deliver)
        return self

    def remove_listener(self, fn: VarListener) -> Var[T]:
        """Stop calling ``fn``."""
        remove = self._listeners.pop(fn, None)
        if remove is not None:
            remove()
        return self

    def __repr__(self) -> str:
        frozen = ", frozen" if self.is_frozen else ""
        return (
            f"Var({self._name!r}, value={_short(self._timeline.head.value)}, "
            f"revision={self._timeline.head.number}{frozen})"
        )


class Registry:
    """A thread-safe set of named variables.

    >>> reg = Registry()
    >>> x = reg.watch("x", 0)
    >>> y = reg.watch("y", 100)
    >>> reg.snapshot()
    {'x': 0, 'y': 100}
    """

    def __init__(self) -> None:
        self._vars: dict[str, Var[Any]] = {}
        self._lock = threading.Lock()

    def watch(
        self,
        name: str,
        initial_value: T,
        *,
        deep_copy: bool = True,
        validators: Iterable[Validator] | None = None,
        on_change: Iterable[VarListener] | None = None,
        overwrite: bool = False,
        **options: Any,
    ) -> Var[T]:
        """Create a :class:`Var` and register it under ``name``.

        A name already registered raises :class:`ValueError` unless ``overwrite``
        is true, which replaces it with a new variable (a new history). Other
        keyword options go to :class:`Var`.
        """
        var: Var[T] = Var(
            name,
            initial_value,
            deep_copy=deep_copy,
            validators=validators,
            on_change=on_change,
            **options,
        )
        return self.register(var, overwrite=overwrite)

    def register(self, var: Var[T], *, overwrite: bool = False) -> Var[T]:
        """Register an existing variable under its name."""
        with self._lock:
            if var.name in self._vars and not overwrite:
                raise ValueError(
                    f"variable {var.name!r} is already registered; "
                    "pass overwrite=True to replace it"
                )
            self._vars[var.name] = var
        return var

    def get_var(self, name: str) -> Var[Any]:
        """The variable registered as ``name``; :class:`KeyError` if there is none."""
        with self._lock:
            try:
                return self._vars[name]
            except KeyError:
                raise KeyError(f"no variable named {name!r} is registered") from None

    def all_vars(self) -> dict[str, Var[Any]]:
        """A copy of the name-to-variable mapping."""
        with self._lock:
            return dict(self._vars)

    def unregister(self, name: str) -> None:
        """Remove ``name``; :class:`KeyError` if it is not registered."""
        with self._lock:
            if name not in self._vars:
                raise KeyError(f"no variable named {name!r} is registered")
            del self._vars[name]

    def snapshot(self) -> dict[str, Any]:
        """Each variable's name and current value."""
        with self._lock:
            return {name: var.get() for name, var in self._vars.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._vars

    def __len__(self) -> int:
        return len(self._vars)

    def __iter__(self) -> Iterator[str]:
        return iter(self.all_vars())

    def __repr__(self) -> str:
        return f"Registry({list(self.all_vars())!r})"


# Global state department: the default registry used by watch(). Tests reset it.
_default_registry = Registry()


def get_registry() -> Registry:
    """The process-wide default :class:`Registry` that :func:`watch` uses."""
    return _default_registry


def reset_registry() -> Registry:
    """Replace the default registry with an empty one and return it (for tests)."""
    global _default_registry
    _default_registry = Registry()
    return _default_registry


def watch(
    name: str,
    initial_value: T,
    *,
    deep_copy: bool = True,
    validators: Iterable[Validator] | None = None,
    on_change: Iterable[VarListener] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Var[T]:
    """Create a watched variable in the default registry.

    >>> import statetrail
    >>> price = statetrail.watch("price", 9.99)
    >>> price.set(12.49).get()
    12.49

    See :class:`Var` for the options.
    """
    return _default_registry.watch(
        name,
        initial_value,
        deep_copy=deep_copy,
        validators=validators,
        on_change=on_change,
        overwrite=overwrite,
        **options,
    )


class Namespace(MutableMapping[str, Any]):
    """A dict-like set of variables: every key is watched on its own.

    Setting a new key creates its :class:`Var`; setting an existing key records a
    revision of that variable only. :meth:`var` gives the variable itself.
    Deleting a key records the deletion (a revision of kind ``"delete"``, whose
    value is ``None``) and keeps the key's history: :meth:`history` still reads
    it, and setting the key again goes on from there.

    >>> ns = Namespace({"debug": False})
    >>> ns["theme"] = "dark"
    >>> ns["theme"] = "light"
    >>> ns.snapshot()
    {'debug': False, 'theme': 'light'}
    >>> [r.value for r in ns.var("theme").history()]
    ['dark', 'light']
    >>> del ns["theme"]
    >>> "theme" in ns, [(r.kind, r.value) for r in ns.history("theme")]
    (False, [('initial', 'dark'), ('set', 'light'), ('delete', None)])
    """

    def __init__(
        self,
        initial: Mapping[str, Any] | None = None,
        *,
        name: str = "",
        **options: Any,
    ) -> None:
        given: object = initial  # callers without type checking pass anything
        if given is not None and not isinstance(given, Mapping):
            hint = f"; to name it, pass name={given!r}" if type(given) is str else ""
            raise TypeError(
                f"{type(self).__name__}() takes a mapping of keys to initial values "
                f"(or None) as initial, not {type(given).__name__}{hint}"
            )
        self.name = name
        self._options = options
        self._vars: dict[str, Var[Any]] = {}
        # Deleted keys' variables: their history stays readable, and goes on if
        # the key is set again.
        self._deleted: dict[str, Var[Any]] = {}
        # Re-entrant: a listener run by a write made under it may write back.
        self._lock = threading.RLock()
        for key, value in (initial or {}).items():
            self[key] = value

    def var(self, key: str) -> Var[Any]:
        """The variable behind ``key``; :class:`KeyError` if there is none."""
        return self._vars[key]

    def __getitem__(self, key: str) -> Any:
        return self._vars[key].get()

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            var = self._vars.get(key)
            if var is None:
                var = self._deleted.get(key)
                if var is None:
                    full = f"{self.name}.{key}" if self.name else key
                    self._vars[key] = Var(full, value, **self._options)
                    return
                # Back after a deletion: the value is recorded after it, under the
                # lock, so a concurrent delete cannot come between.
                var.set(value)
                self._vars[key] = self._deleted.pop(key)
                return
        var.set(value)

    def __delitem__(self, key: str) -> None:
        """Remove ``key``, recording its deletion; :class:`KeyError` if absent.

        The key's variable records a revision of kind ``"delete"`` (value
        ``None``); its history stays readable through :meth:`history`.
        """
        with self._lock:
            var = self._vars[key]
            var.timeline.mark_deleted(_depth=2)
            self._deleted[key] = self._vars.pop(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._vars))

    def __len__(self) -> int:
        return len(self._vars)

    def snapshot(self) -> dict[str, Any]:
        """Each key and its current value."""
        return {key: var.get() for key, var in list(self._vars.items())}

    def history(self, key: str) -> list[Revision]:
        """The history of one key, a deleted one too; :class:`KeyError` if none."""
        var = self._vars.get(key) or self._deleted.get(key)
        if var is None:
            raise KeyError(key)
        return var.history()

    def deleted(self) -> list[str]:
        """The keys deleted and not set again, whose history :meth:`history` reads."""
        return list(self._deleted)

    def __repr__(self) -> str:
        return f"Namespace({self.snapshot()!r})"
