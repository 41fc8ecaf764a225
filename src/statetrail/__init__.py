"""statetrail: state that remembers where it came from.

Every change to a value is recorded with when, by whom, why and from which line
of code, in an append-only, branching history that can be read, compared,
restored or branched from.
"""

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
from statetrail.repository import Repository, open
from statetrail.revision import Change, Origin, Revision, RevisionKind, Trim
from statetrail.store import (
    AsyncStore,
    EventQueue,
    Store,
    Transaction,
    get_nested_value,
    set_nested_value,
)
from statetrail.timeline import MAX_LISTENER_DEPTH, Erased, Retention, Timeline
from statetrail.var import Namespace, Registry, Var, get_registry, reset_registry, watch

__all__ = [
    "MAX_LISTENER_DEPTH",
    "MAX_NESTING",
    "MISSING",
    "AsyncStore",
    "Change",
    "ConflictError",
    "CorruptHistoryError",
    "Erased",
    "EventQueue",
    "FrozenDict",
    "FrozenError",
    "FrozenList",
    "FrozenSet",
    "Metadata",
    "Namespace",
    "NestingError",
    "Origin",
    "PatchError",
    "PathError",
    "ReentrancyError",
    "Registry",
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
    "Var",
    "__version__",
    "apply_changes",
    "apply_json_patch",
    "context",
    "current_context",
    "diff",
    "edit",
    "freeze",
    "get_nested_value",
    "get_registry",
    "invert",
    "json_default",
    "open",
    "origin_capture",
    "register_immutable",
    "reset_registry",
    "set_nested_value",
    "set_origin_capture",
    "thaw",
    "to_json_patch",
    "watch",
]
