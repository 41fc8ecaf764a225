"""The mutator names frozen containers refuse, and the message they refuse with.

``store.get("orders").append(x)`` on a frozen list used to return a new list and
change nothing: a silent no-op to anyone who reads it as Python. So the names
Python uses for changing a container in place (``append``, ``update``, ``+=`` and
the rest) raise :class:`~statetrail.errors.FrozenError` on a frozen one, naming
the method that returns the new container and the ways to change recorded state.
Drafts (inside :func:`~statetrail.frozen.edit`) keep these names and mutate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from statetrail.errors import FrozenError

__all__ = ["refused"]

_HOW = (
    "a frozen value never changes; to change recorded state, write the new value "
    "back (store.set(path, value), var.set(value), set_in(tree, path, value)) or "
    "change it inside `with statetrail.edit(value) as draft:`"
)


def refused(name: str, instead: str) -> Callable[..., NoReturn]:
    """A method that raises :class:`FrozenError` suggesting ``instead``.

    ``name`` is a method's name (``"append"``) or an operator (``"+="``);
    ``instead`` reads after "use", as in ``"xs.appended(value)"``.
    """
    shown = f"{name}()" if name.isidentifier() else name

    def method(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise FrozenError(
            f"{type(self).__name__} has no in-place {shown}: {_HOW}; "
            f"for a new {type(self).__name__} use {instead}"
        )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Refused (:class:`FrozenError`): use {instead}."
    return method
