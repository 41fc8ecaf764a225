"""statetrail: state that remembers where it came from.

Every change to a value is recorded with when, by whom, why and from which line
of code, in an append-only, branching history that can be read, compared,
restored or branched from.

``import statetrail`` loads the engine and the in-memory front ends only. What
needs more is imported when first used (PEP 562): :func:`open` and
:class:`Repository` with the storage backends, :class:`EventQueue` with
asyncio, :func:`follow` and :func:`mirror` with :mod:`statetrail.live`, so a
program that records in memory never pays for them (issue 11).
"""

import typing as _typing

from statetrail._version import __version__
from statetrail.context import (
    Metadata,
    context,
    current_context,
    origin_capture,
    set_origin_capture,
)
from statetrail.diff import (
    apply_changes,
    apply_json_patch,
    diff,
    invert,
    to_json_patch,
)
from statetrail.errors import (
    ConflictError,
    CorruptHistoryError,
    DecryptionError,
    FrozenError,
    NestingError,
    PatchError,
    PathError,
    ReentrancyError,
    RevisionNotFoundError,
    RollbackError,
    StatetrailError,
    StorageError,
    SyncError,
    UnknownTimelineError,
)
from statetrail.frozen import (
    MAX_NESTING,
    MISSING,
    FrozenDict,
    FrozenList,
    FrozenSet,
    edit,
    freeze,
    json_default,
    register_immutable,
    thaw,
)
from statetrail.revision import Change, Origin, Revision, RevisionKind, Trim
from statetrail.store import (
    AsyncStore,
    Store,
    Transaction,
    get_nested_value,
    set_nested_value,
)
from statetrail.timeline import MAX_LISTENER_DEPTH, Erased, Retention, Timeline
from statetrail.var import Namespace, Registry, Var, get_registry, reset_registry, watch

if _typing.TYPE_CHECKING:
    from statetrail._store_queue import EventQueue
    from statetrail.live import Following, Lag, Mirror, follow, follow_async, mirror
    from statetrail.replaying import ReplayResult, replay
    from statetrail.repository import Repository, open

__all__ = [
    "MAX_LISTENER_DEPTH",
    "MAX_NESTING",
    "MISSING",
    "AsyncStore",
    "Change",
    "ConflictError",
    "CorruptHistoryError",
    "DecryptionError",
    "Erased",
    "EventQueue",
    "Following",
    "FrozenDict",
    "FrozenError",
    "FrozenList",
    "FrozenSet",
    "Lag",
    "Metadata",
    "Mirror",
    "Namespace",
    "NestingError",
    "Origin",
    "PatchError",
    "PathError",
    "ReentrancyError",
    "Registry",
    "ReplayResult",
    "Repository",
    "Retention",
    "Revision",
    "RevisionKind",
    "RevisionNotFoundError",
    "RollbackError",
    "StatetrailError",
    "StorageError",
    "Store",
    "SyncError",
    "Timeline",
    "Transaction",
    "Trim",
    "UnknownTimelineError",
    "Var",
    "__version__",
    "apply_changes",
    "apply_json_patch",
    "context",
    "current_context",
    "diff",
    "edit",
    "follow",
    "follow_async",
    "freeze",
    "get_nested_value",
    "get_registry",
    "invert",
    "json_default",
    "mirror",
    "open",
    "origin_capture",
    "register_immutable",
    "replay",
    "reset_registry",
    "set_nested_value",
    "set_origin_capture",
    "thaw",
    "to_json_patch",
    "watch",
]

# The names imported on first use, and the module each comes from.
_LAZY = {
    "EventQueue": "statetrail._store_queue",
    "Following": "statetrail.live",
    "Lag": "statetrail.live",
    "Mirror": "statetrail.live",
    "follow": "statetrail.live",
    "follow_async": "statetrail.live",
    "mirror": "statetrail.live",
    "ReplayResult": "statetrail.replaying",
    "replay": "statetrail.replaying",
    "Repository": "statetrail.repository",
    "open": "statetrail.repository",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'statetrail' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups find it without this call
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
