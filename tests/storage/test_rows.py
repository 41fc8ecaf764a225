"""Rows and digests (storage/_rows.py): a stored patch read back and applied."""

from __future__ import annotations

from statetrail._change import UNSTORED, Change
from statetrail.frozen import MISSING, freeze
from statetrail.storage import codec
from statetrail.storage._rows import apply_stored
from statetrail.storage._sealed import ENCRYPTED


class TestApplyStored:
    def test_a_stored_patch_applies_as_the_diff_did(self) -> None:
        """Written by changes_to_json and read back (old values not stored), the
        changes turn the old value into the new one."""
        old = freeze({"a": 1, "gone": 2, "l": [1, 2]})
        changes = [
            Change(("a",), 1, 5),
            Change(("gone",), 2, MISSING),
            Change(("l", 1), MISSING, 9),
            Change(("new",), MISSING, {"x": 1}),
        ]
        back = codec.changes_from_json(
            codec.parse(codec.canonical(codec.changes_to_json(changes)))
        )
        assert [c.old for c in back] == [UNSTORED, UNSTORED, MISSING, MISSING]
        assert apply_stored(old, back) == {"a": 5, "l": [1, 9, 2], "new": {"x": 1}}

    def test_an_encrypted_value_stays_until_replaced_whole(self) -> None:
        """Read without its key, a value is <encrypted>: path changes leave it
        so, a change at the root makes it readable, and later ones apply."""
        inside = [Change(("a",), UNSTORED, 1)]
        assert apply_stored(ENCRYPTED, inside) is ENCRYPTED
        whole = [
            Change(("a",), UNSTORED, 1),
            Change((), UNSTORED, freeze({"a": 2})),
            Change(("b",), MISSING, 3),
        ]
        assert apply_stored(ENCRYPTED, whole) == {"a": 2, "b": 3}
