"""Frozen values: immutable dicts, lists and sets that share their unchanged parts.

Every value statetrail records is frozen once, so keeping a revision costs a
pointer, not a copy, and nothing a caller does can alter recorded history.
"""

from statetrail.frozen._dict import FrozenDict
from statetrail.frozen._draft import DictDraft, Draft, ListDraft, SetDraft, edit
from statetrail.frozen._freeze import (
    MAX_NESTING,
    freeze,
    is_frozen,
    register_immutable,
    thaw,
)
from statetrail.frozen._hamt import MISSING
from statetrail.frozen._json import json_default
from statetrail.frozen._list import FrozenList
from statetrail.frozen._set import FrozenSet

__all__ = [
    "MAX_NESTING",
    "MISSING",
    "DictDraft",
    "Draft",
    "FrozenDict",
    "FrozenList",
    "FrozenSet",
    "ListDraft",
    "SetDraft",
    "edit",
    "freeze",
    "is_frozen",
    "json_default",
    "register_immutable",
    "thaw",
]
