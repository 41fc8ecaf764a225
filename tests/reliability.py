"""Reliability figures: tests record what they measured in reports/reliability.json.

RELIABILITY.md asks for figures, not adjectives; each test adds its own under its
test ID (C1, S6 ...), with the scale it ran at, so a closing note can quote them.
"""

from __future__ import annotations

import json
import os
import pathlib
import threading
from typing import Any

REPORT = pathlib.Path(__file__).resolve().parent.parent / "reports" / "reliability.json"
_lock = threading.Lock()


def record(test_id: str, **figures: Any) -> None:
    """Merge ``figures`` into the report under ``test_id``."""
    figures["scale"] = int(os.environ.get("STATETRAIL_SCALE", "1"))
    with _lock:
        REPORT.parent.mkdir(exist_ok=True)
        try:
            report = json.loads(REPORT.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            report = {}
        report[test_id] = figures
        tmp = REPORT.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
        os.replace(tmp, REPORT)
