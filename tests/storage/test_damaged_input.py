"""Bad values and damaged files at the storage boundary (issue 9, defects 2, 5, 6, 7).

What a history file or database holds is input like any other: whatever was
done to it, reading it gives the history or a
:class:`~statetrail.StatetrailError` (:class:`~statetrail.CorruptHistoryError`
for stored history), never another exception and never a hang.
"""

from __future__ import annotations

import math
import pathlib

import pytest

import statetrail


@pytest.fixture(params=["h.db", "h.json"])
def history_path(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> pathlib.Path:
    path: pathlib.Path = tmp_path / request.param
    return path


class TestTwoNaNs:
    def test_a_value_holding_two_nans_stays_readable(
        self, history_path: pathlib.Path
    ) -> None:
        """{nan, nan} and a dict with two NaN keys are recorded, and the timeline
        reads back after a restart with both (defect 2: 'a member appears twice'
        made the whole timeline unreadable on SQLite and JSON)."""
        with statetrail.open(history_path) as repo:
            var = repo.watch("v", 0)
            var.set({float("nan"), float("nan")})
            var.set({float("nan"): 1, float("nan"): 2, "x": [float("nan")]})
            var.set(3)
        with statetrail.open(history_path) as repo:
            var = repo.watch("v", 0)
            values = [rev.value for rev in var.history()]
            assert repo.verify() == {"v": 4}
        assert len(values[1]) == 2
        assert all(math.isnan(x) for x in values[1])
        assert sorted(v for k, v in values[2].items() if k != "x") == [1, 2]
        assert values[3] == 3
