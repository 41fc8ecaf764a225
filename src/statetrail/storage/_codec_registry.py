"""The registry of classes the codec may store, by the name stored with them.

Global state department: the two tables below are the only process-wide state of
the codec, and :func:`_reset` restores them for tests. Stored data only ever looks
a name up here; it never names a module to import.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from statetrail.storage._codec_tags import RESERVED_TAGS, SCALAR_ENCODERS, late_scalar

__all__ = [
    "Entry",
    "auto_register",
    "entry_for",
    "entry_named",
    "is_namedtuple",
    "register",
    "registered",
]


class Entry(NamedTuple):
    """How one registered class is stored.

    ``encode`` gives the payload (any storable value); ``decode`` gets the payload
    back: frozen when ``frozen_payload`` (named tuples, which hold frozen items
    as tuples do), else thawed into plain dicts, lists and sets.
    """

    name: str
    cls: type
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    frozen_payload: bool = False
    automatic: bool = False


C = TypeVar("C", bound=type)

_by_name: dict[str, Entry] = {}
_by_type: dict[type, Entry] = {}
_lock = threading.Lock()

#: Types the codec encodes itself; registering one would make two encodings.
_BUILTIN = frozenset(SCALAR_ENCODERS) | {
    type(None),
    bool,
    int,
    float,
    str,
    dict,
    list,
    tuple,
    set,
    frozenset,
}


def is_namedtuple(cls: type) -> bool:
    """Whether ``cls`` is a named tuple class (``collections.namedtuple`` or typed)."""
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make")


def _pydantic_model(cls: type) -> bool:
    # A model class exists only once pydantic is imported, so never import it here.
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None)
    return isinstance(base, type) and issubclass(cls, base)


def _strategy(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any], bool]:
    """The encode and decode functions for a class registered without them."""
    if is_namedtuple(cls):
        make: Callable[[Any], Any] = cls._make  # type: ignore[attr-defined]
        return list, make, True
    if issubclass(cls, enum.Enum):
        return (lambda member: member.value), cls, False
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)

        def fields_of(obj: Any) -> dict[str, Any]:
            return {name: getattr(obj, name) for name in names}

        return fields_of, (lambda fields: cls(**fields)), False
    if _pydantic_model(cls):
        return (lambda model: model.model_dump()), cls.model_validate, False  # type: ignore[attr-defined]
    raise TypeError(
        f"{cls.__qualname__} is not a dataclass, enum, named tuple or Pydantic "
        "model: pass encode= and decode= functions to register it"
    )


def register(
    cls: C,
    *,
    name: str | None = None,
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
) -> C:
    """Let the codec store instances of ``cls``, under ``name``.

    Dataclasses (their init fields), enums (the member's value), named tuples
    (their items) and Pydantic models (``model_dump``/``model_validate``) need no
    functions; any other class needs ``encode``, which turns an instance into a
    storable value, and ``decode``, which turns that value (with plain dicts,
    lists and sets) back into an instance. Usable as a class decorator.

    Only instances of ``cls`` itself are covered, not of its subclasses. A process
    that loads history must register the same classes under the same names.

    Args:
        cls: The class.
        name: The name stored with each instance; by default
            ``"module.QualifiedName"``. Keep it stable once history holds it.
        encode: ``instance -> storable value``.
        decode: ``stored value -> instance``.

    Returns:
        ``cls`` itself.

    Raises:
        TypeError: ``cls`` is not a class, only one of ``encode``/``decode`` is
            given, or the class needs them.
        ValueError: ``cls`` has a built-in encoding, the name is reserved or taken
            by another class, or ``cls`` is registered under another name.

    >>> import dataclasses
    >>> @register
    ... @dataclasses.dataclass(frozen=True)
    ... class Point:
    ...     x: int
    ...     y: int
    >>> registered(f"{__name__}.Point") is Point
    True
    """
    if not isinstance(cls, type):
        raise TypeError(f"register() takes a class, not {cls!r}")
    if (
        cls in _BUILTIN
        or late_scalar(cls)
        or cls.__module__ == "statetrail.frozen._opaque"
    ):
        raise ValueError(f"{cls.__qualname__} has a built-in encoding")
    if name is None:
        name = f"{cls.__module__}.{cls.__qualname__}"
    elif type(name) is not str or not name:
        raise TypeError(f"name must be a non-empty string, not {name!r}")
    if name in RESERVED_TAGS:
        raise ValueError(
            f"{name!r} is a built-in tag of the codec; choose another name"
        )
    if (encode is None) != (decode is None):
        raise TypeError("pass both encode= and decode=, or neither")
    frozen_payload = False
    if encode is None or decode is None:
        encode, decode, frozen_payload = _strategy(cls)
    _add(Entry(name, cls, encode, decode, frozen_payload))
    return cls


def _add(entry: Entry) -> None:
    with _lock:
        taken = _by_name.get(entry.name)
        if taken is not None and taken.cls is not entry.cls:
            raise ValueError(
                f"the codec name {entry.name!r} is already registered for "
                f"{taken.cls.__module__}.{taken.cls.__qualname__}; pass another name="
            )
        previous = _by_type.get(entry.cls)
        if previous is not None and previous.name != entry.name:
            if not previous.automatic:
                raise ValueError(
                    f"{entry.cls.__qualname__} is already registered as "
                    f"{previous.name!r}; a class is stored under one name"
                )
            del _by_name[previous.name]
        _by_name[entry.name] = entry
        _by_type[entry.cls] = entry


def auto_register(cls: type) -> Entry:
    """Register a named tuple class met while encoding, under its default name.

    Raises:
        ValueError: another class already holds that name.
    """
    encode, decode, _ = _strategy(cls)
    entry = Entry(
        f"{cls.__module__}.{cls.__qualname__}", cls, encode, decode, True, True
    )
    _add(entry)
    return entry


def registered(name: str) -> type | None:
    """The class registered under ``name``, or ``None``.

    >>> registered("no.such.Class") is None
    True
    """
    entry = _by_name.get(name)
    return None if entry is None else entry.cls


def entry_named(name: str) -> Entry | None:
    """The registration stored under ``name``, or ``None``."""
    return _by_name.get(name)


def entry_for(cls: type) -> Entry | None:
    """The registration of exactly ``cls``, or ``None``."""
    return _by_type.get(cls)


def _reset() -> None:
    """Forget every registration (for tests)."""
    with _lock:
        _by_name.clear()
        _by_type.clear()
