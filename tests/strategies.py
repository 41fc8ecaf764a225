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
    leaves: st.SearchStrategy[Any] = scalars,
    key_strategy: Any = json_keys,
    max_leaves: int = 40,
) -> Any:
    """Nested dicts and lists of ``leaves``."""
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=12),
            st.dictionaries(key_strategy, children, max_size=12),
        ),
        max_leaves=max_leaves,
    )


json_trees = trees()


class Collide:
    """A key whose hash is constant, so any two of them collide in a hash trie."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return 42

    def __eq__(self, other: object) -> bool:
        return type(other) is Collide and other.n == self.n

    def __repr__(self) -> str:
        return f"Collide({self.n})"


#: ``hash(i + j * MODULUS) == hash(i)`` for small ``i``: distinct ints, equal hashes.
MODULUS = 2**61 - 1

#: Keys chosen to collide in a hash trie: whole-hash collisions (Collide, -1 and -2,
#: ints a multiple of the hash modulus apart) and ints sharing every 5-bit fragment
#: below the last levels (``i << 55``), mixed with ordinary ints and short strings.
colliding_keys = st.one_of(
    st.integers(min_value=-3, max_value=40),
    st.builds(
        lambda i, j: i + j * MODULUS,
        st.integers(min_value=-2, max_value=3),
        st.integers(min_value=1, max_value=2),
    ),
    st.integers(min_value=0, max_value=31).map(lambda i: i << 55),
    st.builds(Collide, st.integers(min_value=0, max_value=4)),
    st.text(max_size=2),
)

#: Values that are equal across types (1, 1.0, True), which a diff must tell apart.
tricky_values = st.sampled_from([0, 1, True, False, 1.0, 0.0, "1", None, ()])


def _edit(draw: st.DrawFn, node: Any) -> Any:
    """A version of ``node`` with random keys and items changed, dropped or added."""
    new = st.one_of(scalars, st.lists(scalars, max_size=3))
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            action = draw(st.sampled_from(["keep", "keep", "edit", "drop"]))
            if action == "keep":
                out[k] = v
            elif action == "edit":
                out[k] = _edit(draw, v)
        for k in draw(st.lists(json_keys, max_size=2)):
            out[k] = draw(new)
        return out
    if isinstance(node, list):
        items: list[Any] = []
        for v in node:
            if draw(st.integers(min_value=0, max_value=5)) == 0:
                items.append(draw(new))
            action = draw(st.sampled_from(["keep", "keep", "keep", "edit", "drop"]))
            if action == "keep":
                items.append(v)
            elif action == "edit":
                items.append(_edit(draw, v))
        items.extend(draw(st.lists(new, max_size=2)))
        return items
    if draw(st.booleans()):
        return node
    return draw(new)


@st.composite
def edited(draw: st.DrawFn, base: Any) -> Any:
    """``base`` (a plain tree) with random edits at any depth."""
    return _edit(draw, base)


#: Pairs of JSON-like trees: mostly a tree and an edited version of it (insertions and
#: removals in the middle of lists included), sometimes two unrelated trees.
_pair_trees = trees(max_leaves=25)
tree_pairs = st.one_of(
    _pair_trees.flatmap(lambda a: st.tuples(st.just(a), edited(a))),
    _pair_trees.flatmap(lambda a: st.tuples(st.just(a), edited(a))),
    st.tuples(_pair_trees, _pair_trees),
)


#: Keys of the model checks' states: few, so writes meet earlier ones.
model_keys = st.sampled_from(["a", "b", "c", "d"])

#: Small values for the model checks: every backend stores them as they are.
model_values = st.recursive(
    st.one_of(
        st.integers(-5, 5),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.text(max_size=2), kids, max_size=4),
    ),
    max_leaves=8,
)
