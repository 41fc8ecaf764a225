"""statetrail.json_default: frozen values through the json module (issue 10,
defect 8)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given

import statetrail
from statetrail.frozen import FrozenDict, FrozenList, FrozenSet, freeze, json_default
from tests.strategies import json_trees


class TestJsonDefault:
    def test_frozen_containers_become_plain_json_in_order(self) -> None:
        """Dicts in insertion order (any size), lists and sets as arrays."""
        plain = {f"k{i}": i for i in range(20, 0, -1)}
        value = freeze({"cfg": plain, "ports": [80, 443], "tags": {"web"}})
        text = json.dumps(value, default=statetrail.json_default)
        back = json.loads(text)
        assert back == {"cfg": plain, "ports": [80, 443], "tags": ["web"]}
        assert list(back["cfg"]) == list(plain)

    def test_a_store_value(self) -> None:
        """The defect as reported: json.dumps(store.get("cfg")) with the default."""
        store = statetrail.Store({"cfg": {"b": 1, "a": [1, {"c": None}]}})
        with pytest.raises(TypeError):
            json.dumps(store.get("cfg"))
        assert (
            json.dumps(store.get("cfg"), default=statetrail.json_default)
            == '{"b": 1, "a": [1, {"c": null}]}'
        )

    def test_a_plain_frozenset_inside_is_an_array_too(self) -> None:
        """freeze() keeps a frozenset as it is (a value, or a set member): it is
        an array, as a FrozenSet is, not a TypeError."""
        value = freeze({"ids": frozenset({3}), "groups": {frozenset({1, 2})}})
        assert type(value["ids"]) is frozenset
        back = json.loads(json.dumps(value, default=json_default))
        assert back["ids"] == [3]
        assert [sorted(g) for g in back["groups"]] == [[1, 2]]

    def test_other_objects_are_refused_as_json_refuses_them(self) -> None:
        """Anything else is the TypeError json itself raises."""
        with pytest.raises(TypeError, match="datetime is not JSON serializable"):
            json.dumps(
                freeze({"when": datetime.datetime(2026, 1, 1)}), default=json_default
            )

    def test_empty_containers(self) -> None:
        """Empty frozen containers are an empty object and empty arrays."""
        assert (
            json.dumps([FrozenDict(), FrozenList(), FrozenSet()], default=json_default)
            == "[{}, [], []]"
        )

    @given(json_trees)
    def test_same_text_as_the_plain_value(self, tree: Any) -> None:
        """Any JSON-like tree gives the text json gives for the plain tree."""
        assert json.dumps(freeze(tree), default=json_default) == json.dumps(tree)
