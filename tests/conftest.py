"""Shared test settings: hypothesis profiles and the scale factor.

``STATETRAIL_SCALE`` (default 1) multiplies the sizes of the load and reliability
tests; ``make soak`` runs them at 10. Hypothesis uses the ``ci`` profile, or
``soak`` when scaled up.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("STATETRAIL_SCALE", "1")))

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    max_examples=100 * SCALE,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("soak" if SCALE > 1 else "ci")


def scaled(n: int) -> int:
    """``n`` times the suite's scale factor."""
    return n * SCALE
