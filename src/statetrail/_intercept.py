"""Interceptors: the value transforms every write passes before it is recorded.

An interceptor is a callable given the new value (frozen) that returns the value
to record: normalising, converting, redacting. A timeline runs its interceptors
in its write core, once per write, before its validators, whatever front end or
method made the write (``set``, ``set_in``, ``update``, ``edit``, a store's
``set`` or transaction, an asyncio store's action, a revisioned object, a merge):
there is one place all writes pass, so none can skip them (issue 14).

:func:`schema_interceptor` makes the one behind ``schema=``: a type or a
pydantic model every value is validated and converted against.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from statetrail.frozen import thaw

__all__ = [
    "Interceptor",
    "add_hook",
    "intercept",
    "interceptors_of",
    "schema_interceptor",
]

Interceptor = Callable[[Any], Any]


def intercept(interceptors: Sequence[Interceptor], value: Any) -> Any:
    """``value`` passed through each of ``interceptors`` in order.

    An interceptor returning a coroutine (an ``async def``) raises
    :class:`TypeError`: only ``set_async`` awaits them.
    """
    for fn in interceptors:
        value = fn(value)
        if hasattr(value, "__await__") and hasattr(value, "send"):
            value.close()
            raise TypeError(
                f"interceptor {getattr(fn, '__qualname__', fn)!r} is async: "
                "write with set_async(), which awaits it"
            )
    return value


def add_hook(
    hooks: list[Any],
    fn: Any,
    lock: threading.RLock,
    changed: Callable[[], None],
    what: str,
) -> Callable[[], None]:
    """Add ``fn`` to a timeline's ``hooks`` (validators, interceptors).

    Under ``lock``, then ``changed()`` (the timeline takes note: a write is no
    longer a plain append). Returns a function that removes it again; removing
    twice does nothing. A ``fn`` that is not callable raises :class:`TypeError`
    naming ``what`` it was to be.
    """
    if not callable(fn):
        raise TypeError(f"{what} must be callable, not {fn!r}")
    with lock:
        hooks.append(fn)
        changed()

    def remove() -> None:
        with lock:
            if fn in hooks:
                hooks.remove(fn)
                changed()

    return remove


def interceptors_of(
    interceptors: Iterable[Interceptor] | None, schema: Any, *, plain: bool = False
) -> list[Interceptor]:
    """A front end's ``interceptors=`` and ``schema=`` as one list, schema first."""
    fns = list(interceptors or ())
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"an interceptor must be callable, not {fn!r}")
    if schema is not None:
        fns.insert(0, schema_interceptor(schema, plain=plain))
    return fns


def schema_interceptor(schema: Any, *, plain: bool = False) -> Interceptor:
    """An interceptor validating and converting each value against ``schema``.

    ``schema`` is anything :class:`pydantic.TypeAdapter` takes: a type
    (``list[int]``), a dataclass, a pydantic model. A value that does not
    conform raises :class:`ValueError` with pydantic's message, so the write
    records nothing. ``plain``: hand back plain data (a model becomes its dict),
    for a front end whose value must stay a mapping (a store's state).
    """
    try:
        import pydantic
    except ImportError as exc:  # pragma: no cover - pydantic is in the dev extra
        raise ImportError(
            "schema= validation needs pydantic: pip install 'statetrail[pydantic]'"
        ) from exc
    adapter = pydantic.TypeAdapter(schema)

    def validate(value: Any) -> Any:
        try:
            # Plain data in: pydantic takes a list for list[int], not a FrozenList.
            result = adapter.validate_python(thaw(value))
        except pydantic.ValidationError as exc:
            raise ValueError(str(exc)) from exc
        return adapter.dump_python(result) if plain else result

    validate.__qualname__ = f"schema({getattr(schema, '__name__', schema)!s})"
    return validate
