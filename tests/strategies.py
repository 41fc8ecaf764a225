"""Hypothesis strategies shared by the tests: plain JSON-like trees and keys."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: Keys that exercise the trie: short strings, ints, and values whose hashes
#: collide in Python (-1 and -2 hash alike).
keys = st.one_of(
    st.text(min_size=0, max_size=6),
    st.integers(min_value=-3, max_value=300),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)

json_keys = st.text(max_size=6)


def trees(
    leaves: st.SearchStrategy[Any] = scalars, key_strategy: Any = json_keys
) -> Any:
    """Nested dicts and lists of ``leaves``."""
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=12),
            st.dictionaries(key_strategy, children, max_size=12),
        ),
        max_leaves=40,
    )


json_trees = trees()
