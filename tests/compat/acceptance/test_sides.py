"""The acceptance suite's own machinery: both sides load, a missing original is
loud in CI."""

from __future__ import annotations

import pytest

from tests.compat.acceptance.sides import SIDES, is_original, load


@pytest.mark.parametrize("fixture", sorted(SIDES))
def test_both_sides_load(fixture: str) -> None:
    """Each seed package and its compat module are importable side by side."""
    original, compat = load(fixture, "original"), load(fixture, "statetrail")
    assert is_original(original)
    assert not is_original(compat)
    assert original.__name__ == SIDES[fixture][0]
    assert compat.__name__ == SIDES[fixture][2]


def test_a_missing_original_skips_or_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing original skips, saying why, on a user's machine, and fails when
    STATETRAIL_REQUIRE_SERVICES=1, as CI sets it."""
    monkeypatch.setitem(
        SIDES,
        "alma",
        (
            "statetrail_no_such_package",
            "alma-framework==0.1.0",
            "statetrail.compat.alma",
        ),
    )
    monkeypatch.delenv("STATETRAIL_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"alma-framework==0\.1\.0"):
        load("alma", "original")
    monkeypatch.setenv("STATETRAIL_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="cannot be imported"):
        load("alma", "original")
    assert load("alma", "statetrail").__name__ == "statetrail.compat.alma"
