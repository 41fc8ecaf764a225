"""The programs in examples/ run and print what they promise."""

from __future__ import annotations

import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def test_thermostat(capsys: pytest.CaptureFixture[str]) -> None:
    """The thermostat example records, rejects and blames."""
    runpy.run_path(str(EXAMPLES / "thermostat.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "rejected: target 80.0 is out of range" in out
    assert "#1 alice  target=22.5" in out
    assert "who set the target: alice" in out
