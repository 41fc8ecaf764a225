"""A drop-in for ``alma`` (alma-framework 0.1.0), on statetrail's engine.

Change ``import alma`` to ``import statetrail.compat.alma as alma`` and the first
seed's documented examples run unchanged, with the documented results. Values go
in and come out as plain Python objects, as alma's do.

What differs, on purpose, because alma's own code loses or corrupts history:

- A listener that raises is logged (logger ``"statetrail"``), not silently
  swallowed; it still never breaks the caller or the other listeners.
- ``get()`` and the records' values are copies: changing them cannot alter
  recorded history (in alma, with ``deep_copy=True``, it can).
- A value that cannot be deep-copied raises ``TypeError`` instead of being kept by
  reference behind the caller's back; pass ``deep_copy=False`` for such values.
- History is statetrail's: every revision also carries its author, comment and
  origin. ``ChangeRecord`` keeps alma's four fields (so ``dataclasses.fields``,
  ``astuple`` and ``asdict`` give what alma's do); ``var.revision(record.index)``
  gives statetrail's full record of the same revision.
- ``watch()`` and ``AlmaRegistry.watch()`` also take statetrail's options
  (``schema=``, ``interceptors=``, ``origin=``, ``retention=``; see
  :class:`statetrail.Var`).
- ``AlmaNamespace``, from alma's roadmap, is :class:`statetrail.Namespace` with
  plain values and ``ChangeRecord`` histories.

Every value handed out (``get()``, records, ``diff()``, ``snapshot()``, namespace
items) is a plain, mutable copy: ``json.dumps``, ``copy`` and ``isinstance(x,
dict)`` take it as they take alma's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from statetrail import errors
from statetrail._origin import Info
from statetrail.frozen import thaw
from statetrail.revision import PLAIN, Revision, RevisionKind
from statetrail.timeline import Validator
from statetrail.var import Namespace, Registry, Var

__version__ = "0.1.0"
__all__ = [
    "AlmaError",
    "AlmaNamespace",
    "AlmaRegistry",
    "AlmaVar",
    "ChangeRecord",
    "FrozenError",
    "RollbackError",
    "get_registry",
    "watch",
]

T = TypeVar("T")


class AlmaError(errors.StatetrailError):
    """Base exception for all Alma errors."""


class RollbackError(AlmaError, errors.RollbackError):
    """Raised when a rollback cannot be completed."""


class FrozenError(AlmaError, errors.FrozenError):
    """Raised when a frozen variable is mutated."""


@dataclass(frozen=True)
class ChangeRecord:
    """An immutable snapshot of a single value change.

    ``index`` is the revision number (0 is the initial value), ``value`` a plain
    copy of the value, ``timestamp`` the UTC time and ``label`` the annotation.
    ``AlmaVar.revision(index)`` is statetrail's full record of it (author, comment,
    origin, changes).
    """

    index: int
    value: Any
    timestamp: datetime
    label: str | None = None

    def __repr__(self) -> str:
        ts = self.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
        tag = f" [{self.label}]" if self.label else ""
        return f"ChangeRecord(index={self.index}, value={self.value!r}, at={ts}{tag})"


AlmaListener = Callable[["AlmaVar[Any]", ChangeRecord], object]


def _change_record(rev: Revision) -> ChangeRecord:
    """A revision as alma's change record."""
    return ChangeRecord(rev.index, thaw(rev.value), rev.timestamp, rev.label)


class AlmaVar(Var[T]):
    """A watched variable with alma's interface (see :class:`statetrail.Var`)."""

    def __init__(
        self,
        name: str,
        initial_value: T,
        *,
        deep_copy: bool = True,
        validators: Iterable[Validator] | None = None,
        on_change: Iterable[AlmaListener] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            name,
            initial_value,
            deep_copy=deep_copy,
            validators=validators,
            on_change=None,
            **options,
        )
        for fn in on_change or ():
            self.add_listener(fn)

    def get(self) -> T:
        """Return the current value (a plain copy: changing it changes nothing)."""
        return thaw(self.timeline.value)  # type: ignore[no-any-return]

    def set(
        self,
        value: T,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> AlmaVar[T]:
        """Update the current value and append a record; returns self."""
        try:
            info: Info
            if label is None and author is None and comment is None:
                info = PLAIN
            else:
                info = (RevisionKind.SET, None, label, author, comment, None)
            self._timeline._commit(  # noqa: SLF001 - the commit seam
                value, info=info, depth=2
            )
        except errors.FrozenError:
            raise FrozenError(
                f"Variable '{self.name}' is frozen and cannot be mutated."
            ) from None
        return self

    def history(self) -> list[ChangeRecord]:  # type: ignore[override]
        """Return the full change history as ChangeRecords."""
        return [_change_record(rev) for rev in self.timeline.history()]

    def last_change(self) -> ChangeRecord:  # type: ignore[override]
        """Return the most recent ChangeRecord."""
        return _change_record(self.timeline.head)

    def revision(self, index: int) -> Revision:
        """The engine's record of revision ``index``: author, comment, origin ...

        ``var.revision(record.index)`` is the full record behind a ChangeRecord.
        """
        return self.timeline.revision(index)

    @property
    def value(self) -> T:
        """The current value, a plain copy (the same as :meth:`get`)."""
        return self.get()

    def at(self, index: int | None = None, *, time: datetime | None = None) -> T:
        """The value recorded at revision ``index`` (or at ``time``), a plain copy."""
        return thaw(super().at(index, time=time))  # type: ignore[no-any-return]

    def rollback(
        self,
        index: int,
        *,
        label: str | None = None,
        author: str | None = None,
        comment: str | None = None,
    ) -> AlmaVar[T]:
        """Restore the value at ``index``; appends a new record."""
        if self.is_frozen:
            raise FrozenError(
                f"Variable '{self.name}' is frozen and cannot be rolled back."
            )
        try:
            super().rollback(index, label=label, author=author, comment=comment)
        except errors.RollbackError as exc:
            count = len(self.timeline)
            raise RollbackError(
                f"Rollback index {index} is out of range [0, {count - 1}] for variable "
                f"'{self.name}'."
            ) from exc
        return self

    def reset(self) -> AlmaVar[T]:
        """Shorthand for ``rollback(0)``: restore the initial value."""
        return self.rollback(0, label="reset to initial")

    def diff(self, a: int | None = None, b: int | None = None) -> Any:
        """Consecutive-change diffs with ``elapsed_ms``; values are plain copies."""
        if a is not None:
            return super().diff(a, b)
        return [
            {
                **entry,
                "from_value": thaw(entry["from_value"]),
                "to_value": thaw(entry["to_value"]),
            }
            for entry in super().diff()
        ]

    def add_listener(self, fn: AlmaListener) -> AlmaVar[T]:  # type: ignore[override]
        """Register ``fn(alma_var, change_record)``, called after every set."""

        def deliver(var: Var[Any], rev: Revision) -> None:
            fn(self, _change_record(rev))

        deliver.__qualname__ = getattr(fn, "__qualname__", repr(fn))
        super().add_listener(deliver)
        return self

    def __repr__(self) -> str:
        frozen_tag = " [frozen]" if self.is_frozen else ""
        return (
            f"AlmaVar(name={self.name!r}, value={self.get()!r}, "
            f"history_len={len(self.timeline)}{frozen_tag})"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AlmaVar):
            return bool(self.get() == other.get())
        return bool(self.get() == other)

    __hash__ = None  # type: ignore[assignment]


class AlmaRegistry(Registry):
    """A thread-safe registry of AlmaVars, with alma's errors."""

    def watch(  # type: ignore[override]
        self,
        name: str,
        initial_value: T,
        *,
        deep_copy: bool = True,
        validators: Iterable[Validator] | None = None,
        on_change: Iterable[AlmaListener] | None = None,
        overwrite: bool = False,
        **options: Any,
    ) -> AlmaVar[T]:
        """Create and register a watched variable.

        Raises ``AlmaError`` if the name is taken and ``overwrite`` is false.
        """
        if name in self and not overwrite:
            raise AlmaError(
                f"Variable '{name}' is already registered. "
                "Use overwrite=True to replace it."
            )
        var: AlmaVar[T] = AlmaVar(
            name,
            initial_value,
            deep_copy=deep_copy,
            validators=validators,
            on_change=on_change,
            **options,
        )
        self.register(var, overwrite=True)
        return var

    def get_var(self, name: str) -> AlmaVar[Any]:
        """Retrieve a registered variable by name."""
        try:
            return super().get_var(name)  # type: ignore[return-value]
        except KeyError:
            raise AlmaError(f"No variable named '{name}' is registered.") from None

    def unregister(self, name: str) -> None:
        """Remove a variable from the registry."""
        try:
            super().unregister(name)
        except KeyError:
            raise AlmaError(f"No variable named '{name}' is registered.") from None

    def snapshot(self) -> dict[str, Any]:
        """Each variable's name and current value (plain copies)."""
        return {name: thaw(value) for name, value in super().snapshot().items()}

    def __repr__(self) -> str:
        return f"AlmaRegistry({list(self.all_vars())!r})"


_default_registry = AlmaRegistry()


def get_registry() -> AlmaRegistry:
    """Return the default global AlmaRegistry."""
    return _default_registry


def watch(
    name: str,
    initial_value: T,
    *,
    deep_copy: bool = True,
    validators: Iterable[Validator] | None = None,
    on_change: Iterable[AlmaListener] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> AlmaVar[T]:
    """Create a watched variable in the default global registry.

    ``options`` are statetrail's (``schema=``, ``interceptors=`` ...; see
    :class:`statetrail.Var`).
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


class AlmaNamespace(Namespace):
    """alma's roadmap ``AlmaNamespace``: a dict-like container watching each key.

    :class:`statetrail.Namespace` with alma's faces: items and ``snapshot()`` are
    plain copies, ``history(key)`` a list of ChangeRecords.

    >>> ns = AlmaNamespace({"debug": False})
    >>> ns["theme"] = "dark"
    >>> ns["theme"] = "light"
    >>> ns.snapshot()
    {'debug': False, 'theme': 'light'}
    >>> [r.value for r in ns.history("theme")]
    ['dark', 'light']
    """

    def __getitem__(self, key: str) -> Any:
        return thaw(super().__getitem__(key))

    def snapshot(self) -> dict[str, Any]:
        """Each key and its current value (plain copies)."""
        return {key: thaw(value) for key, value in super().snapshot().items()}

    def history(self, key: str) -> list[ChangeRecord]:  # type: ignore[override]
        """The history of one key, as ChangeRecords."""
        return [_change_record(rev) for rev in super().history(key)]

    def __repr__(self) -> str:
        return f"AlmaNamespace({self.snapshot()!r})"


def _reset() -> None:
    """Empty the default registry (for tests)."""
    global _default_registry
    _default_registry = AlmaRegistry()
